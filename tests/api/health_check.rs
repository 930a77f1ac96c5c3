//! `leadqual health`: the container health check. Exit status 0 only while
//! the server's health service answers SERVING.

use leadqual::auth::Role;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;

use crate::backend_tests;
use crate::helpers::{Backend, run_cli, spawn_app};

backend_tests!(a_serving_server_passes_without_a_key);

async fn a_serving_server_passes_without_a_key(backend: Backend) {
    let app = spawn_app(backend).await;
    // Once a key exists every other call needs one; health never does.
    app.issue_key("acme", &[Role::Admin]).await;
    let server = format!("http://127.0.0.1:{}", app.port);
    for service in ["", "leadqual.v1.LeadQualificationService"] {
        let output = run_cli(&["health", "--server", &server, "--service", service]).await;
        assert!(
            output.status.success(),
            "service {service:?}: {output:?}, stderr {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&output.stdout), "SERVING\n");
    }

    // A service the server does not know is a failure, with the reason.
    let output = run_cli(&["health", "--server", &server, "--service", "no.Such"]).await;
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("NOT_FOUND"), "{stderr}");
}

/// A health service alone, answering what the test sets.
async fn health_server() -> (tonic_health::server::HealthReporter, String) {
    let (reporter, service) = tonic_health::server::health_reporter();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let address = format!("http://{}", listener.local_addr().expect("its address"));
    tokio::spawn(
        Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    (reporter, address)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_serving_fails_and_serving_again_passes() {
    let (reporter, server) = health_server().await;
    reporter
        .set_service_status("", ServingStatus::NotServing)
        .await;
    let output = run_cli(&["health", "--server", &server]).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "NOT_SERVING\n");

    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    let output = run_cli(&["health", "--server", &server]).await;
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "SERVING\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_server_fails_with_the_reason() {
    // Bound, then closed: nothing listens on that port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let server = format!("http://127.0.0.1:{port}");
    let output = run_cli(&["health", "--server", &server]).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot reach the server at {server}")),
        "{stderr}"
    );
}
