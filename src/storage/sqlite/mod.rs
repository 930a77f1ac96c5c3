//! SQLite backend: one file in WAL mode. Writes go through a single
//! connection, so qualifications never fight over SQLite's write lock, and
//! qualifications are committed in groups; reads use connections of their
//! own.

mod checkpointer;
mod connections;
mod group_commit;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, Sqlite, SqliteConnection};
use tokio::sync::{mpsc, oneshot, watch};

use self::connections::{Connections, Lease};
use self::group_commit::CommitJob;
use super::dialect::{Backend, Dialect, run_with_sqlx};
use super::notices::NoticeBus;
use super::{NewQualification, PoolUsage, StorageError, StorageResult};
use crate::records::VerdictRecord;

/// Read connections of a file database.
pub const READERS: usize = 4;

impl Dialect for Sqlite {
    // Timestamps and JSON are stored as text already.
    fn timestamp(column: &str) -> String {
        column.to_owned()
    }

    fn text(column: &str) -> String {
        column.to_owned()
    }

    fn json(column: &str) -> String {
        format!("json({column})")
    }

    fn json_object(pairs: &str) -> String {
        format!("json_object({pairs})")
    }

    fn json_array(items: &str) -> String {
        format!("json_array({items})")
    }

    fn json_array_texts(column: &str, alias: &str) -> String {
        format!("json_each({column}) AS {alias}")
    }

    const TIMESTAMP: &'static str = "";
    const JSON: &'static str = "";
    // Takes the write lock up front, so that what the transaction read stays
    // true until it commits.
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    // A read transaction in WAL mode reads one snapshot throughout.
    const BEGIN_SNAPSHOT: &'static str = "BEGIN";
    const JSON_TEXTS_OPEN: &'static str = "SELECT value FROM json_each(";
    const JSON_TEXTS_CLOSE: &'static str = ")";

    run_with_sqlx!();
}

/// Connections to one SQLite file and its group committer.
pub struct SqliteBackend {
    reader: Arc<Connections>,
    writer: Arc<Connections>,
    commits: mpsc::Sender<CommitJob>,
    /// Fed by the group committer: one process writes the file.
    notices: Arc<NoticeBus>,
    /// Dropped with the storage, which ends the checkpointer.
    _stop_checkpoints: watch::Sender<()>,
    /// Always up: see [`Backend::reachability`].
    reachable: watch::Sender<bool>,
}

impl SqliteBackend {
    /// Opens (creating if needed) the database at `url` — `sqlite://PATH`,
    /// `sqlite::memory:` or a plain path — and runs the migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let options = connect_options(url)?;
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let open = |what| format!("cannot open SQLite database {url:?} ({what})");
        // Checkpoints run in the background (below); the automatic one is
        // only the backstop should the WAL still grow large.
        let writer = Connections::open(&options.clone().pragma("wal_autocheckpoint", "16000"), 1)
            .await
            .with_context(|| open("writer"))?;
        run_migrations(&mut *writer.get().await?).await?;
        // An in-memory database exists per connection: share the writer.
        let reader = if in_memory {
            writer.clone()
        } else {
            Connections::open(&options.clone().read_only(true), READERS)
                .await
                .with_context(|| open("readers"))?
        };
        let notices = NoticeBus::new();
        let commits = group_commit::start(writer.clone(), notices.clone())?;
        let (stop_checkpoints, stopped) = watch::channel(());
        if !in_memory {
            let connection = SqliteConnection::connect_with(&options)
                .await
                .with_context(|| open("checkpointer"))?;
            tokio::spawn(checkpointer::run(connection, stopped));
        }
        Ok(Self {
            reader,
            writer,
            commits,
            notices,
            _stop_checkpoints: stop_checkpoints,
            reachable: watch::Sender::new(true),
        })
    }
}

/// The schema's migrations.
pub static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// How every connection to the database at `url` is opened: `sqlite://PATH`,
/// `sqlite::memory:` or a plain path.
fn connect_options(url: &str) -> anyhow::Result<SqliteConnectOptions> {
    let options = if url.starts_with("sqlite:") {
        SqliteConnectOptions::from_str(url)
            .with_context(|| format!("invalid SQLite database URL {url:?}"))?
    } else {
        SqliteConnectOptions::new().filename(url)
    };
    Ok(options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10))
        // Statement journals (every multi-row write keeps one, to undo
        // itself should it fail half way) in memory, not in temp files.
        .pragma("temp_store", "memory"))
}

/// Applies the migrations over one connection of its own (creating the file
/// if needed), then closes it.
pub async fn migrate(url: &str) -> anyhow::Result<()> {
    let mut connection = SqliteConnection::connect_with(&connect_options(url)?)
        .await
        .with_context(|| format!("cannot open SQLite database {url:?}"))?;
    run_migrations(&mut connection).await?;
    connection
        .close()
        .await
        .context("cannot close the SQLite database")
}

/// sqlx's migrator takes no lock on SQLite, and two processes migrating one
/// file at once would both apply the same migration. So it runs inside one
/// transaction that takes the write lock up front: from reading which
/// migrations are applied to the last one applied, a second migrator waits
/// (up to the busy timeout), then finds nothing left to do.
async fn run_migrations(connection: &mut SqliteConnection) -> anyhow::Result<()> {
    let mut transaction = connection
        .begin_with("BEGIN IMMEDIATE")
        .await
        .context("cannot lock the SQLite database to migrate it")?;
    MIGRATOR
        .run_direct(&mut *transaction)
        .await
        .context("cannot migrate the SQLite database")?;
    transaction
        .commit()
        .await
        .context("cannot commit the SQLite database's migrations")
}

impl Backend for SqliteBackend {
    type Db = Sqlite;
    type Conn<'a> = Lease<'a>;

    async fn reader(&self) -> StorageResult<Lease<'_>> {
        self.reader.get().await
    }

    async fn writer(&self) -> StorageResult<Lease<'_>> {
        self.writer.get().await
    }

    async fn commit_qualification(&self, q: NewQualification) -> StorageResult<VerdictRecord> {
        let mut results = self.commit_qualifications(vec![q]).await?;
        results.pop().unwrap_or_else(|| {
            Err(StorageError::Unavailable(anyhow::anyhow!(
                "the SQLite writer answered no result"
            )))
        })
    }

    async fn commit_qualifications(
        &self,
        batch: Vec<NewQualification>,
    ) -> StorageResult<Vec<StorageResult<VerdictRecord>>> {
        let stopped = |what| StorageError::Unavailable(anyhow::anyhow!("the SQLite writer {what}"));
        let (done, outcome) = oneshot::channel();
        self.commits
            .send(CommitJob {
                qualifications: batch,
                done,
            })
            .await
            .map_err(|_| stopped("stopped"))?;
        outcome.await.map_err(|_| stopped("stopped mid-commit"))?
    }

    fn notices(&self) -> &NoticeBus {
        &self.notices
    }

    /// The readers and the writer together; once when an in-memory
    /// database shares one connection between them.
    fn pool_usage(&self) -> PoolUsage {
        if Arc::ptr_eq(&self.reader, &self.writer) {
            self.writer.usage()
        } else {
            self.reader.usage() + self.writer.usage()
        }
    }

    fn reachability(&self) -> watch::Receiver<bool> {
        // A database file: it is there or the service would not have
        // started; a failing disk shows in the calls' errors.
        self.reachable.subscribe()
    }
}
