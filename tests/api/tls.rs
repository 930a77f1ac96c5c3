//! TLS: with a certificate configured the server speaks only TLS (SQLite is
//! enough: the transport does not depend on the backend).

use std::time::Duration;

use leadqual::auth::Role;
use leadqual::domain;
use leadqual::proto::v1 as pb;
use leadqual::proto::v1::lead_qualification_service_client::LeadQualificationServiceClient;
use pb::Stage;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::helpers::{AppOptions, Backend, TestTls, qualify_request, spawn_app_with};

async fn tls_app() -> crate::helpers::TestApp {
    spawn_app_with(
        Backend::Sqlite,
        AppOptions {
            tls: Some(TestTls::generate()),
            ..Default::default()
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_over_tls_work_with_a_key() {
    let mut app = tls_app().await;
    let key = app.issue_key("acme", &[Role::Scorer]).await;
    app.use_key(&key.secret);
    let verdict = app
        .qualify(qualify_request(
            "tls-lead",
            Stage::Identification,
            pb::LeadFacts::default(),
        ))
        .await
        .verdict
        .expect("verdict");
    assert_eq!(verdict.tenant, "acme");
    let criteria = app
        .client
        .list_criteria(pb::ListCriteriaRequest {})
        .await
        .expect("ListCriteria over TLS")
        .into_inner()
        .criteria;
    assert_eq!(criteria.len(), domain::Criterion::COUNT);
    let status = HealthClient::new(app.channel.clone())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health over TLS")
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::Serving as i32);
    // And again after a restart with the same certificate.
    let mut app = app.restart().await;
    app.client
        .get_lead(pb::GetLeadRequest {
            lead_id: "tls-lead".into(),
        })
        .await
        .expect("GetLead over TLS after a restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_is_refused_when_tls_is_on() {
    let app = tls_app().await;
    let channel = Channel::from_shared(format!("http://127.0.0.1:{}", app.port))
        .expect("endpoint")
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5))
        .connect_lazy();
    let mut plain = LeadQualificationServiceClient::new(channel);
    let result = tokio::time::timeout(
        Duration::from_secs(15),
        plain.list_criteria(pb::ListCriteriaRequest {}),
    )
    .await
    .expect("the plaintext call ends");
    assert!(
        result.is_err(),
        "a plaintext call to a TLS server must fail: {result:?}"
    );
    // The TLS client of the same server works (open mode: no key yet).
    app.clients(crate::helpers::Auth::none())
        .client
        .list_criteria(pb::ListCriteriaRequest {})
        .await
        .expect("TLS call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_trust_the_certificate_is_refused() {
    let app = tls_app().await;
    let stranger = TestTls::generate();
    let endpoint = Channel::from_shared(format!("https://127.0.0.1:{}", app.port))
        .expect("endpoint")
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5))
        .tls_config(stranger.client_config())
        .expect("TLS settings");
    let mut client = LeadQualificationServiceClient::new(endpoint.connect_lazy());
    let result = client.list_criteria(pb::ListCriteriaRequest {}).await;
    assert!(result.is_err(), "an untrusted certificate: {result:?}");
}

/// With a certificate configured, the console is served over TLS with the
/// same certificate, and its cookies are Secure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_served_over_tls_with_secure_cookies() {
    use rustls_pki_types::ServerName;
    use rustls_pki_types::pem::PemObject;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls::{ClientConfig, RootCertStore};

    let tls = TestTls::generate();
    let app = spawn_app_with(
        Backend::Sqlite,
        AppOptions {
            tls: Some(tls.clone()),
            console: true,
            ..Default::default()
        },
    )
    .await;
    let port = app.console_port.expect("the console is on");
    let mut roots = RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from_pem_slice(tls.ca_pem.as_bytes()).expect("PEM"))
        .expect("the test CA");
    let provider = std::sync::Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let name = ServerName::try_from("localhost").expect("a name");
    let mut stream = connector.connect(name, tcp).await.expect("a TLS handshake");
    stream
        .write_all(b"GET /sign-in HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("a request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("a response");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let cookie = response
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie: lq_sign_in=")
        })
        .unwrap_or_else(|| panic!("a sign-in cookie in:\n{response}"));
    for attribute in ["Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }

    // Plaintext HTTP gets no page.
    let mut plain = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    plain
        .write_all(b"GET /sign-in HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("a request");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut answer)).await;
    assert!(
        !String::from_utf8_lossy(&answer).contains("HTTP/1.1 200"),
        "no page over plaintext"
    );
}
