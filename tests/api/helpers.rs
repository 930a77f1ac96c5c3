//! Test harness: every test gets its own server on a real port over its own
//! fresh database (a SQLite file in a temp dir, or a new PostgreSQL
//! database), and talks to it over real gRPC.

use std::path::PathBuf;
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use leadqual::auth::{IssuedKey, Role};
use leadqual::proto::v1 as pb;
use leadqual::proto::v1::admin_service_client::AdminServiceClient;
use leadqual::proto::v1::lead_qualification_service_client::LeadQualificationServiceClient;
use leadqual::startup::{Application, Settings, TlsFiles};
use leadqual::storage::Storage;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
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

impl TestDatabase {
    /// Applies the migrations up to and including `version` only, leaving the
    /// schema as a release of that version left it.
    pub async fn migrate_to(&self, version: i64) {
        use sqlx::Connection;
        let keep = |mut migrator: sqlx::migrate::Migrator| {
            migrator.migrations = migrator
                .migrations
                .iter()
                .filter(|m| m.version <= version)
                .cloned()
                .collect::<Vec<_>>()
                .into();
            migrator
        };
        let done = if self.postgres_name.is_some() {
            let mut conn = sqlx::PgConnection::connect(&self.url)
                .await
                .expect("connect to the test database");
            keep(sqlx::migrate!("migrations/postgres"))
                .run_direct(&mut conn)
                .await
        } else {
            let options =
                <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&self.url)
                    .expect("a SQLite URL")
                    .create_if_missing(true);
            let mut conn = sqlx::SqliteConnection::connect_with(&options)
                .await
                .expect("create the test database");
            keep(sqlx::migrate!("migrations/sqlite"))
                .run_direct(&mut conn)
                .await
        };
        done.unwrap_or_else(|e| panic!("migrations up to {version}: {e}"));
    }

    /// Runs `sql` (one or more statements) on the database from a connection
    /// of its own, beside the server.
    pub async fn execute(&self, sql: &str) {
        use sqlx::Connection;
        let done = if self.postgres_name.is_some() {
            let mut conn = sqlx::PgConnection::connect(&self.url)
                .await
                .expect("connect to the test database");
            sqlx::raw_sql(sql).execute(&mut conn).await.map(drop)
        } else {
            let mut conn = sqlx::SqliteConnection::connect(&self.url)
                .await
                .expect("open the test database");
            sqlx::raw_sql(sql).execute(&mut conn).await.map(drop)
        };
        done.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// The first column of every row `sql` returns, as text (the query casts
    /// it), read from a connection of its own, as an analyst would.
    pub async fn query_texts(&self, sql: &str) -> Vec<String> {
        use sqlx::Connection;
        let rows = if self.postgres_name.is_some() {
            let mut conn = sqlx::PgConnection::connect(&self.url)
                .await
                .expect("connect to the test database");
            sqlx::query_scalar(sql).fetch_all(&mut conn).await
        } else {
            let mut conn = sqlx::SqliteConnection::connect(&self.url)
                .await
                .expect("open the test database");
            sqlx::query_scalar(sql).fetch_all(&mut conn).await
        };
        rows.unwrap_or_else(|e| panic!("{sql}: {e}"))
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

/// Sets the `authorization` metadata of every call, when it has a value.
#[derive(Clone, Debug, Default)]
pub struct Auth(Option<MetadataValue<Ascii>>);

impl Auth {
    /// No `authorization` metadata at all.
    pub fn none() -> Auth {
        Auth(None)
    }

    /// `authorization: Bearer <secret>`.
    pub fn bearer(secret: &str) -> Auth {
        Auth::header(&format!("Bearer {secret}"))
    }

    /// `authorization: <value>`, verbatim.
    pub fn header(value: &str) -> Auth {
        Auth(Some(value.parse().expect("an ASCII header value")))
    }
}

impl Interceptor for Auth {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

pub type AuthChannel = InterceptedService<Channel, Auth>;
pub type QualificationClient = LeadQualificationServiceClient<AuthChannel>;
pub type AdminClient = AdminServiceClient<AuthChannel>;

/// Clients of both services sending one identity.
#[derive(Clone)]
pub struct Clients {
    pub client: QualificationClient,
    pub admin: AdminClient,
}

impl Clients {
    pub fn new(channel: &Channel, auth: Auth) -> Clients {
        Clients {
            client: LeadQualificationServiceClient::with_interceptor(channel.clone(), auth.clone()),
            admin: AdminServiceClient::with_interceptor(channel.clone(), auth),
        }
    }
}

/// A self-signed certificate for "localhost" in PEM files of a temp dir.
#[derive(Clone)]
pub struct TestTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The certificate, which is its own CA: what clients trust.
    pub ca_pem: String,
    _dir: Arc<tempfile::TempDir>,
}

impl TestTls {
    pub fn generate() -> TestTls {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .expect("a self-signed certificate");
        let cert_pem = certified.cert.pem();
        let key_pem = certified.key_pair.serialize_pem();
        let dir = tempfile::tempdir().expect("temp dir");
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, &cert_pem).expect("write the certificate");
        std::fs::write(&key, &key_pem).expect("write the key");
        TestTls {
            cert,
            key,
            ca_pem: cert_pem,
            _dir: Arc::new(dir),
        }
    }

    /// The server's setting.
    pub fn files(&self) -> TlsFiles {
        TlsFiles {
            cert: self.cert.clone(),
            key: self.key.clone(),
        }
    }

    /// Client settings trusting this certificate for "localhost".
    pub fn client_config(&self) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca_pem))
            .domain_name("localhost")
    }
}

/// How [`spawn_app_with`] starts the server.
#[derive(Clone, Default)]
pub struct AppOptions {
    pub allow_unauthenticated: bool,
    /// Serve TLS with this certificate (and connect the clients over TLS).
    pub tls: Option<TestTls>,
    pub limits: leadqual::grpc::Limits,
    /// Serve the console on a free port too (see [`TestApp::console_port`]).
    pub console: bool,
}

/// A running server and clients connected to it.
pub struct TestApp {
    /// Sends the identity set by [`TestApp::use_auth`] (none at first).
    pub client: QualificationClient,
    pub admin: AdminClient,
    pub channel: Channel,
    pub port: u16,
    /// The console's port, when [`AppOptions::console`] asked for it.
    pub console_port: Option<u16>,
    auth: Auth,
    options: AppOptions,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    pub database: TestDatabase,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, AppOptions::default()).await
}

/// A server on a database prepared beforehand.
pub async fn spawn_app_on(database: TestDatabase) -> TestApp {
    start(database, AppOptions::default(), Auth::none()).await
}

pub async fn spawn_app_with(backend: Backend, options: AppOptions) -> TestApp {
    let database = TestDatabase::create(backend).await;
    start(database, options, Auth::none()).await
}

/// The settings [`spawn_app_with`] starts the server with.
pub fn settings(database_url: &str, options: &AppOptions) -> Settings {
    Settings {
        listen: "127.0.0.1:0".parse().expect("address"),
        database_url: database_url.to_owned(),
        allow_unauthenticated: options.allow_unauthenticated,
        tls: options.tls.as_ref().map(TestTls::files),
        metrics_listen: None,
        console_listen: options
            .console
            .then(|| "127.0.0.1:0".parse().expect("address")),
        limits: options.limits.clone(),
        database_wait: Duration::ZERO,
        drain_timeout: Duration::from_secs(10),
    }
}

async fn start(database: TestDatabase, options: AppOptions, auth: Auth) -> TestApp {
    let app = Application::build(&settings(&database.url, &options))
        .await
        .expect("the application starts");
    let port = app.port();
    let console_port = app.console_port();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    let channel = match &options.tls {
        Some(tls) => connect_tls(port, tls.client_config()).await,
        None => connect(port).await,
    };
    let clients = Clients::new(&channel, auth.clone());
    TestApp {
        client: clients.client,
        admin: clients.admin,
        channel,
        port,
        console_port,
        auth,
        options,
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
    connect_endpoint(endpoint, port).await
}

/// Connects over TLS, retrying while the server comes up.
pub async fn connect_tls(port: u16, tls: ClientTlsConfig) -> Channel {
    let endpoint = Channel::from_shared(format!("https://127.0.0.1:{port}"))
        .expect("endpoint")
        .connect_timeout(Duration::from_secs(5))
        .tls_config(tls)
        .expect("TLS settings");
    connect_endpoint(endpoint, port).await
}

async fn connect_endpoint(endpoint: Endpoint, port: u16) -> Channel {
    for _ in 0..50 {
        if let Ok(channel) = endpoint.connect().await {
            return channel;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot connect to the server on port {port}");
}

impl TestApp {
    /// Stops the server gracefully and starts a new one on the same database,
    /// with the same options and identity.
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
        start(database, self.options.clone(), self.auth.clone()).await
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

    /// Clients sending `auth`.
    pub fn clients(&self, auth: Auth) -> Clients {
        Clients::new(&self.channel, auth)
    }

    /// Clients sending `authorization: Bearer <secret>`.
    pub fn as_key(&self, secret: &str) -> Clients {
        self.clients(Auth::bearer(secret))
    }

    /// Makes `client`, `admin` and the helper methods send `auth`.
    pub fn use_auth(&mut self, auth: Auth) {
        let clients = Clients::new(&self.channel, auth.clone());
        self.client = clients.client;
        self.admin = clients.admin;
        self.auth = auth;
    }

    /// Makes `client`, `admin` and the helper methods send this key.
    pub fn use_key(&mut self, secret: &str) {
        self.use_auth(Auth::bearer(secret));
    }

    /// The server's database, opened like the server opens it.
    pub async fn storage(&self) -> Arc<dyn Storage> {
        leadqual::storage::connect(&self.database.url)
            .await
            .expect("the test database opens")
    }

    /// Issues a key straight into the database, as the CLI does.
    pub async fn issue_key(&self, tenant: &str, roles: &[Role]) -> IssuedKey {
        leadqual::auth::Authenticator::new(self.storage().await, false)
            .issue(tenant, roles, "test key", "cli")
            .await
            .expect("issue_key succeeds")
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

    /// A lead read with GetLead.
    pub async fn lead(&self, lead_id: &str) -> Result<pb::Lead, Status> {
        read_lead(&self.client, lead_id).await
    }

    /// A stored verdict read back with GetVerdict.
    pub async fn stored_verdict(&mut self, verdict_id: &str) -> Option<pb::Verdict> {
        self.client
            .get_verdict(pb::GetVerdictRequest {
                verdict_id: verdict_id.to_owned(),
            })
            .await
            .expect("GetVerdict")
            .into_inner()
            .verdict
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

/// Runs the `leadqual` binary with `args` (off the async runtime).
pub async fn run_cli(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_leadqual"))
            .args(&args)
            .env_remove("LEADQUAL_DATABASE_URL")
            .env_remove("LEADQUAL_LISTEN")
            .output()
            .expect("the leadqual binary runs")
    })
    .await
    .expect("the CLI thread completes")
}

/// Stdout of a CLI run that must succeed.
pub fn cli_stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "the CLI fails: {}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8 stdout")
}

/// `leadqual keys create --tenant TENANT --role R... --database-url URL`:
/// the printed secret.
pub async fn cli_create_key(database_url: &str, tenant: &str, roles: &[&str]) -> String {
    let mut args = vec!["keys", "create", "--tenant", tenant];
    for role in roles {
        args.extend(["--role", role]);
    }
    args.extend(["--database-url", database_url]);
    let stdout = cli_stdout(&run_cli(&args).await);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "only the secret on stdout: {stdout:?}");
    let secret = lines[0].trim().to_owned();
    assert!(secret.starts_with("lq_"), "a secret: {secret:?}");
    secret
}

/// `leadqual keys revoke --tenant TENANT KEY_ID --database-url URL`.
pub async fn cli_revoke_key(database_url: &str, tenant: &str, key_id: &str) -> Output {
    run_cli(&[
        "keys",
        "revoke",
        "--tenant",
        tenant,
        key_id,
        "--database-url",
        database_url,
    ])
    .await
}

/// `leadqual keys list --tenant TENANT --database-url URL`: the non-blank lines.
pub async fn cli_list_keys(database_url: &str, tenant: &str) -> Vec<String> {
    let stdout = cli_stdout(
        &run_cli(&[
            "keys",
            "list",
            "--tenant",
            tenant,
            "--database-url",
            database_url,
        ])
        .await,
    );
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// The key_id of a secret ("lq_<key_id>_<secret part>") among `key_ids`.
pub fn key_id_of<'a>(secret: &str, key_ids: impl IntoIterator<Item = &'a str>) -> String {
    let matching: Vec<&str> = key_ids
        .into_iter()
        .filter(|id| secret.starts_with(&format!("lq_{id}_")))
        .collect();
    assert_eq!(matching.len(), 1, "one key_id prefixes the secret");
    matching[0].to_owned()
}

/// The part of a secret after "lq_<key_id>_".
pub fn secret_part<'a>(secret: &'a str, key_id: &str) -> &'a str {
    secret
        .strip_prefix(&format!("lq_{key_id}_"))
        .unwrap_or_else(|| panic!("the secret starts with lq_{key_id}_"))
}

/// A lead read with GetLead over `client`.
pub async fn read_lead(client: &QualificationClient, lead_id: &str) -> Result<pb::Lead, Status> {
    client
        .clone()
        .get_lead(pb::GetLeadRequest {
            lead_id: lead_id.to_owned(),
        })
        .await
        .map(|r| r.into_inner().lead.expect("GetLead answers with a lead"))
}

/// Asserts that a key revoked outside the server (by the CLI) stops working
/// within the server's key refresh interval; calls succeed until then.
pub async fn assert_key_stops_working(clients: &mut Clients, what: &str) {
    let deadline =
        std::time::Instant::now() + leadqual::auth::KEY_REFRESH_INTERVAL + Duration::from_secs(2);
    loop {
        match clients
            .client
            .list_criteria(pb::ListCriteriaRequest {})
            .await
        {
            Err(status) if status.code() == Code::Unauthenticated => return,
            Err(status) => panic!("{what}: expected Unauthenticated, got {status:?}"),
            Ok(_) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(_) => panic!("{what}: still accepted well after the key refresh interval"),
        }
    }
}

/// Asserts that a call failed with `code`.
pub fn assert_code<T: std::fmt::Debug>(result: Result<T, Status>, code: Code, what: &str) {
    match result {
        Ok(value) => panic!("{what}: expected {code:?}, got OK: {value:?}"),
        Err(status) => assert_eq!(status.code(), code, "{what}: {status:?}"),
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
