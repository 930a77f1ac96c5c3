//! `leadqual migrate`: the schema up to date, then exit, also when several
//! replicas of a deployment run it at the same moment.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use leadqual::proto::v1 as pb;

use crate::backend_tests;
use crate::helpers::{Backend, TestDatabase, qualify_request, run_cli, spawn_app_on};

backend_tests!(replicas_migrating_at_once_all_succeed_and_apply_each_migration_once);

/// How many `leadqual migrate` run at once: a rollout of several replicas.
const REPLICAS: usize = 4;

/// Longer than any migration of an empty database takes, even with all the
/// replicas queued behind one another.
const MIGRATE_DEADLINE: Duration = Duration::from_secs(60);

/// `leadqual migrate --database-url URL`, started and left running.
fn start_migrate(database_url: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_leadqual"))
        .args(["migrate", "--database-url", database_url])
        .env_remove("LEADQUAL_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the leadqual binary starts")
}

/// Waits for `child` to exit by itself (it starts no server), killing it and
/// failing the test past the deadline.
fn finish(mut child: Child, started: Instant) -> Output {
    loop {
        match child.try_wait().expect("the process can be waited for") {
            Some(_) => return child.wait_with_output().expect("its output"),
            None if started.elapsed() > MIGRATE_DEADLINE => {
                let _ = child.kill();
                let output = child.wait_with_output().expect("its output");
                panic!(
                    "leadqual migrate still runs after {MIGRATE_DEADLINE:?}; stderr: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn assert_succeeded(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} fails: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The versions of the migrations this build carries, as text.
fn expected_versions(backend: Backend) -> Vec<String> {
    let migrator = match backend {
        Backend::Sqlite => sqlx::migrate!("migrations/sqlite"),
        Backend::Postgres => sqlx::migrate!("migrations/postgres"),
    };
    migrator.iter().map(|m| m.version.to_string()).collect()
}

/// Every row of the migrations table: version, whether it succeeded and
/// when it was applied.
async fn applied_migrations(database: &TestDatabase) -> Vec<String> {
    database
        .query_texts(
            "SELECT CAST(version AS TEXT) || ' ' || CAST(success AS TEXT) || ' ' \
                 || CAST(installed_on AS TEXT) \
             FROM _sqlx_migrations ORDER BY version",
        )
        .await
}

async fn replicas_migrating_at_once_all_succeed_and_apply_each_migration_once(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let url = database.url.clone();
    let outputs = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        // All started before any is waited for, so that they race.
        let children: Vec<Child> = (0..REPLICAS).map(|_| start_migrate(&url)).collect();
        children
            .into_iter()
            .map(|child| finish(child, started))
            .collect::<Vec<_>>()
    })
    .await
    .expect("the migrations complete");
    for (i, output) in outputs.iter().enumerate() {
        assert_succeeded(output, &format!("leadqual migrate #{i}"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        let newest = expected_versions(backend).pop().expect("a migration");
        assert!(
            stderr.contains(&format!("schema version {newest}")),
            "#{i} tells the schema version: {stderr}"
        );
    }

    // Each migration applied exactly once, and successfully.
    let applied = applied_migrations(&database).await;
    let versions: Vec<String> = applied
        .iter()
        .map(|row| row.split(' ').next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(versions, expected_versions(backend), "{applied:?}");
    let success = match backend {
        Backend::Sqlite => "1",
        Backend::Postgres => "true",
    };
    assert!(
        applied
            .iter()
            .all(|row| row.split(' ').nth(1) == Some(success)),
        "{applied:?}"
    );

    // Once more on a current schema: nothing to do, nothing touched.
    let again = run_cli(&["migrate", "--database-url", &database.url]).await;
    assert_succeeded(&again, "leadqual migrate on a current schema");
    assert_eq!(applied_migrations(&database).await, applied);

    // The schema is whole: a server on it qualifies and stores a lead.
    let mut app = spawn_app_on(database).await;
    let verdict = app
        .qualify(qualify_request(
            "migrated-lead",
            pb::Stage::Identification,
            pb::LeadFacts {
                employee_count: Some(50),
                ..Default::default()
            },
        ))
        .await
        .verdict
        .expect("a verdict");
    assert_eq!(
        app.stored_verdict(&verdict.verdict_id)
            .await
            .expect("the stored verdict")
            .lead_id,
        "migrated-lead"
    );
}

mod advisory_lock {
    // PostgreSQL only: SQLite has no advisory locks (see the test above).
    mod postgres {
        use std::time::{Duration, Instant};

        use super::super::{assert_succeeded, finish, start_migrate};
        use crate::helpers::{Backend, TestDatabase, run_cli};

        /// On PostgreSQL the migrator takes an advisory lock before it reads which
        /// migrations are applied: while one `leadqual migrate` holds it, a second
        /// waits for it, and both succeed once the first is through.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_second_migrator_waits_for_the_first_ones_advisory_lock() {
            use sqlx::{Connection, Executor};

            let database = TestDatabase::create(Backend::Postgres).await;
            assert_succeeded(
                &run_cli(&["migrate", "--database-url", &database.url]).await,
                "the first leadqual migrate",
            );

            // Hold the first migrator inside its lock: it reads the migrations
            // table, which this connection keeps locked.
            let mut blocker = sqlx::PgConnection::connect(&database.url)
                .await
                .expect("connect to the test database");
            blocker
                .execute("BEGIN; LOCK TABLE _sqlx_migrations IN ACCESS EXCLUSIVE MODE")
                .await
                .expect("lock the migrations table");
            let advisory_locks = || async {
                database
                    .query_texts(
                        "SELECT CAST(granted AS TEXT) FROM pg_locks \
                         WHERE locktype = 'advisory' \
                             AND database = (SELECT oid FROM pg_database \
                                             WHERE datname = current_database()) \
                         ORDER BY granted DESC",
                    )
                    .await
            };
            let wait_for = |want: Vec<&'static str>| async move {
                let deadline = Instant::now() + Duration::from_secs(20);
                loop {
                    let locks = advisory_locks().await;
                    if locks == want {
                        return;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "advisory locks {locks:?}, expected {want:?}"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            };

            let started = Instant::now();
            let first = start_migrate(&database.url);
            wait_for(vec!["true"]).await;
            let second = start_migrate(&database.url);
            // The second asks for the same lock and is not granted it.
            wait_for(vec!["true", "false"]).await;

            let (mut first, mut second) = (first, second);
            assert!(first.try_wait().expect("wait").is_none(), "the first waits");
            assert!(
                second.try_wait().expect("wait").is_none(),
                "the second waits"
            );

            blocker.execute("ROLLBACK").await.expect("unlock");
            let (first, second) = tokio::task::spawn_blocking(move || {
                (finish(first, started), finish(second, started))
            })
            .await
            .expect("both complete");
            assert_succeeded(&first, "the first leadqual migrate");
            assert_succeeded(&second, "the second leadqual migrate");
            wait_for(vec![]).await;
        }
    }
}

/// A database that cannot be reached is a failure with the reason, not a
/// server left waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_fails_with_the_reason_when_the_database_is_unreachable() {
    // Port 1 on loopback: nothing listens there.
    let output = run_cli(&[
        "migrate",
        "--database-url",
        "postgres://postgres@127.0.0.1:1/leadqual",
    ])
    .await;
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot connect to PostgreSQL"),
        "the reason: {stderr}"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let missing = format!("sqlite://{}", dir.path().join("no/such/dir/x.db").display());
    let output = run_cli(&["migrate", "--database-url", &missing]).await;
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot open SQLite database"),
        "the reason: {stderr}"
    );
}
