//! Test harness: every test gets its own server on a real port over its own
//! fresh database (a SQLite file in a temp dir, or a new PostgreSQL
//! database), and talks to it over real gRPC.

use std::time::Duration;

use leadqual::proto::v1 as pb;
use leadqual::proto::v1::lead_qualification_service_client::LeadQualificationServiceClient;
use leadqual::startup::{Application, Settings};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// Where the PostgreSQL tests create their databases.
pub fn postgres_admin_url() -> String {
    std::env::var("LEADQUAL_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh database, removed when dropped.
pub struct TestDatabase {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    postgres_name: Option<String>,
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> TestDatabase {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("leadqual.db").display());
                TestDatabase {
                    url,
                    _dir: Some(dir),
                    postgres_name: None,
                }
            }
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let name = format!("leadqual_test_{}", uuid::Uuid::now_v7().simple());
                let mut conn = connect_admin(&admin).await;
                sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
                    .await
                    .expect("create the test database");
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
                TestDatabase {
                    url: format!("{base}/{name}"),
                    _dir: None,
                    postgres_name: Some(name),
                }
            }
        }
    }
}

async fn connect_admin(admin: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(admin)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {admin} ({e}). Start it, set \
             LEADQUAL_TEST_POSTGRES_URL, or run the suite through scripts/test, \
             which skips the PostgreSQL tests when no server is running."
            )
        })
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else {
            return;
        };
        let admin = postgres_admin_url();
        // Drop runs inside the test's runtime: clean up on a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let mut conn = connect_admin(&admin).await;
                let _ = sqlx::Executor::execute(
                    &mut conn,
                    format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
                )
                .await;
            });
        })
        .join();
    }
}

/// A running server and a client connected to it.
pub struct TestApp {
    pub client: LeadQualificationServiceClient<Channel>,
    pub channel: Channel,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    pub database: TestDatabase,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    let database = TestDatabase::create(backend).await;
    start(database).await
}

async fn start(database: TestDatabase) -> TestApp {
    let settings = Settings {
        listen: "127.0.0.1:0".parse().expect("address"),
        database_url: database.url.clone(),
    };
    let app = Application::build(&settings)
        .await
        .expect("the application starts");
    let port = app.port();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    let channel = connect(port).await;
    TestApp {
        client: LeadQualificationServiceClient::new(channel.clone()),
        channel,
        shutdown: Some(tx),
        server: Some(server),
        database,
    }
}

/// Connects, retrying while the server comes up.
pub async fn connect(port: u16) -> Channel {
    let endpoint = Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("endpoint")
        .connect_timeout(Duration::from_secs(5));
    for _ in 0..50 {
        if let Ok(channel) = endpoint.connect().await {
            return channel;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot connect to the server on port {port}");
}

impl TestApp {
    /// Stops the server gracefully and starts a new one on the same database.
    pub async fn restart(mut self) -> TestApp {
        self.stop().await;
        let database = std::mem::replace(
            &mut self.database,
            TestDatabase {
                url: String::new(),
                _dir: None,
                postgres_name: None,
            },
        );
        start(database).await
    }

    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("the server task completes")
                .expect("the server stops cleanly");
        }
    }

    pub async fn qualify(&mut self, request: pb::QualifyLeadRequest) -> pb::QualifyLeadResponse {
        self.client
            .qualify_lead(request)
            .await
            .expect("QualifyLead succeeds")
            .into_inner()
    }

    /// Every lead, walking all pages of ListLeads.
    pub async fn all_leads(&mut self) -> Vec<pb::Lead> {
        let mut leads = Vec::new();
        let mut token = String::new();
        loop {
            let page = self
                .client
                .list_leads(pb::ListLeadsRequest {
                    page_size: 100,
                    page_token: token,
                    ..Default::default()
                })
                .await
                .expect("ListLeads succeeds")
                .into_inner();
            leads.extend(page.leads);
            if page.next_page_token.is_empty() {
                return leads;
            }
            token = page.next_page_token;
        }
    }

    /// Every verdict of a lead, newest first.
    pub async fn all_verdicts(&mut self, lead_id: &str) -> Vec<pb::Verdict> {
        let mut verdicts = Vec::new();
        let mut token = String::new();
        loop {
            let page = self
                .client
                .list_verdicts(pb::ListVerdictsRequest {
                    lead_id: lead_id.to_owned(),
                    page_size: 100,
                    page_token: token,
                })
                .await
                .expect("ListVerdicts succeeds")
                .into_inner();
            verdicts.extend(page.verdicts);
            if page.next_page_token.is_empty() {
                return verdicts;
            }
            token = page.next_page_token;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A QualifyLeadRequest for `lead_id` at `stage` with `facts`.
pub fn qualify_request(
    lead_id: &str,
    stage: pb::Stage,
    facts: pb::LeadFacts,
) -> pb::QualifyLeadRequest {
    pb::QualifyLeadRequest {
        lead_id: lead_id.to_owned(),
        stage: stage as i32,
        facts: Some(facts),
        ..Default::default()
    }
}

/// The signal of `criterion` in a verdict.
pub fn signal(verdict: &pb::Verdict, criterion: pb::Criterion) -> &pb::Signal {
    verdict
        .signals
        .iter()
        .find(|s| s.criterion == criterion as i32)
        .unwrap_or_else(|| panic!("verdict has no signal for {criterion:?}"))
}

/// Asserts INVALID_ARGUMENT whose BadRequest names exactly `fields`.
pub fn assert_bad_fields(status: &Status, fields: &[&str]) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let bad_request = status
        .get_details_bad_request()
        .unwrap_or_else(|| panic!("no BadRequest details in {status:?}"));
    let mut named: Vec<&str> = bad_request
        .field_violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    named.sort_unstable();
    named.dedup();
    let mut expected = fields.to_vec();
    expected.sort_unstable();
    assert_eq!(
        named, expected,
        "violations: {:?}",
        bad_request.field_violations
    );
    assert!(
        bad_request
            .field_violations
            .iter()
            .all(|v| !v.description.is_empty()),
        "every violation explains itself"
    );
}

/// Declares each scenario once per backend: `sqlite::NAME` and
/// `postgres::NAME`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await;
                }
            )+
        }
    };
}
