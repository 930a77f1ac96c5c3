//! What hostile callers can do to the log of a real server process: nothing
//! from the wire is written unvalidated, and what is written is escaped and
//! bounded, so that a caller can neither forge lines nor flood the log.

use leadqual::proto::v1 as pb;
use pb::Stage;
use tonic::Code;

use crate::helpers::{Auth, Backend, Clients, TestDatabase, connect, qualify_request};
use crate::process::Server;

/// A `leadqual serve` process on SQLite in a temp dir, logging in `format`.
async fn start(format: &str, extra: &[&str]) -> (Server, TestDatabase) {
    let database = TestDatabase::create(Backend::Sqlite).await;
    let args = [&["--log-format", format][..], extra].concat();
    let (server, _) = Server::start(&database.url, &args, &[]).await;
    (server, database)
}

/// Stops the server and returns its whole log.
async fn log_of(mut server: Server) -> String {
    server.terminate().await;
    server.log()
}

async fn hostile_calls(port: u16) {
    let channel = connect(port).await;
    let mut keyless = Clients::new(&channel, Auth::none());
    // A lead id that would end the line and forge another.
    let forged = "x\nFORGED level=INFO msg=\"admin key created\" tenant=acme";
    let status = keyless
        .client
        .qualify_lead(qualify_request(forged, Stage::Contact, Default::default()))
        .await
        .expect_err("an invalid lead id");
    assert_eq!(status.code(), Code::InvalidArgument);
    // A bad key carrying the same.
    let mut bad_key = Clients::new(&channel, Auth::header("Bearer lq_x_y\tFORGED"));
    let _ = bad_key
        .client
        .get_lead(pb::GetLeadRequest {
            lead_id: forged.into(),
        })
        .await;
    // Three ids of 4 MB each.
    for _ in 0..3 {
        let status = keyless
            .client
            .get_lead(pb::GetLeadRequest {
                lead_id: "y".repeat(4_000_000),
            })
            .await
            .expect_err("too long an id");
        assert_eq!(status.code(), Code::InvalidArgument);
    }
    // A time zone echoed back in the error, with a newline inside.
    let _ = keyless
        .client
        .update_profile(pb::UpdateProfileRequest {
            profile: Some(pb::Profile {
                seller_timezone: format!("Europe/Berlin\nFORGED {}", "z".repeat(100_000)),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect_err("an invalid time zone");
}

fn assert_not_forged_and_bounded(log: &str) {
    assert!(
        !log.lines()
            .any(|line| line.starts_with("FORGED") || line.contains("\tFORGED")),
        "a caller forged a log line:\n{log}"
    );
    assert!(log.len() < 64 * 1024, "the log grew to {} bytes", log.len());
    assert!(
        log.contains("InvalidArgument"),
        "the failures are logged:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_caller_can_neither_forge_nor_flood_the_text_log() {
    let (server, _database) = start("text", &[]).await;
    hostile_calls(server.port).await;
    let log = log_of(server).await;
    assert_not_forged_and_bounded(&log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_caller_can_neither_forge_nor_flood_the_json_log() {
    let (server, _database) = start("json", &[]).await;
    hostile_calls(server.port).await;
    let log = log_of(server).await;
    assert_not_forged_and_bounded(&log);
    for line in log.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_deadline_is_logged_as_such() {
    let (server, _database) = start("text", &["--default-deadline", "1ns"]).await;
    let channel = connect(server.port).await;
    let status = Clients::new(&channel, Auth::none())
        .client
        .list_criteria(pb::ListCriteriaRequest {})
        .await
        .expect_err("over before it began");
    assert_eq!(status.code(), Code::DeadlineExceeded);
    let log = log_of(server).await;
    assert!(
        log.lines()
            .any(|l| l.contains("ListCriteria") && l.contains("DeadlineExceeded")),
        "{log}"
    );
}
