//! What differs between the backends' SQL, and how a statement is built and
//! run whatever the backend: a [`Dialect`] spells timestamps and JSON and runs
//! statements; a [`Statement`] is text with the dialect's placeholders and
//! its bound values; a [`Backend`] lends connections and commits
//! qualifications its own way.

use std::ops::DerefMut;

use sqlx::error::BoxDynError;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Arguments, Database, Encode, FromRow, Postgres, Sqlite, Type};

use super::notices::NoticeBus;
use super::{NewQualification, PoolUsage, StorageResult};
use crate::records::VerdictRecord;

/// A value that both backends can bind.
pub trait Bind<'q>:
    'q + Send + Encode<'q, Sqlite> + Type<Sqlite> + Encode<'q, Postgres> + Type<Postgres>
{
}

impl<'q, T> Bind<'q> for T where
    T: 'q + Send + Encode<'q, Sqlite> + Type<Sqlite> + Encode<'q, Postgres> + Type<Postgres>
{
}

/// A row that both backends can read.
pub trait StoredRow:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin + 'static
{
}

impl<T> StoredRow for T where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin + 'static
{
}

/// How one database spells what the shared queries need, and runs them.
pub trait Dialect: Database {
    /// A timestamp column as the fixed-width RFC 3339 text the codec reads.
    fn timestamp(column: &str) -> String;
    /// A JSON or date column as text.
    fn text(column: &str) -> String;
    /// A JSON column as JSON, to nest in a JSON object.
    fn json(column: &str) -> String;
    /// A JSON object of `'key', value, …` pairs, as text.
    fn json_object(pairs: &str) -> String;
    /// A JSON array of `value, …`, to nest in a JSON object.
    fn json_array(items: &str) -> String;
    /// A FROM item of the elements of the JSON array of strings in `column`,
    /// one row each, as text in column `value` of `alias`.
    fn json_array_texts(column: &str, alias: &str) -> String;
    /// Follows a bound timestamp (RFC 3339 text) that a column stores.
    const TIMESTAMP: &'static str;
    /// Follows a bound JSON text that a column stores.
    const JSON: &'static str;
    /// Starts a transaction that writes.
    const BEGIN_WRITE: &'static str;
    /// Starts a transaction that only reads, every statement of it from the
    /// same snapshot.
    const BEGIN_SNAPSHOT: &'static str;
    /// Around a bound JSON array of texts, a subquery of its elements:
    /// `x IN (OPEN ? CLOSE)`. One value however many texts, and a plan that
    /// probes the index per element, where a long `IN (?, ?, …)` list was
    /// planned on PostgreSQL as a scan of the whole table.
    const JSON_TEXTS_OPEN: &'static str;
    const JSON_TEXTS_CLOSE: &'static str;

    /// Adds `value` to `args`.
    fn bind<'q>(args: &mut Self::Arguments<'q>, value: impl Bind<'q>) -> Result<(), BoxDynError>;

    /// Runs `sql` and reads every row.
    fn fetch_all<'a, 'q: 'a, O: StoredRow>(
        conn: &'a mut Self::Connection,
        sql: &'a str,
        args: Self::Arguments<'q>,
    ) -> impl Future<Output = sqlx::Result<Vec<O>>> + Send;

    /// Runs `sql` and reads its first row, if any, without waiting for the
    /// end of the result: on SQLite that is one hand-off fewer between the
    /// connection's worker thread and the caller.
    fn fetch_optional<'a, 'q: 'a, O: StoredRow>(
        conn: &'a mut Self::Connection,
        sql: &'a str,
        args: Self::Arguments<'q>,
    ) -> impl Future<Output = sqlx::Result<Option<O>>> + Send;

    /// Runs `sql`; how many rows it changed.
    fn execute<'a, 'q: 'a>(
        conn: &'a mut Self::Connection,
        sql: &'a str,
        args: Self::Arguments<'q>,
    ) -> impl Future<Output = sqlx::Result<u64>> + Send;
}

/// A statement being built: its text, with the dialect's placeholders, and
/// the values bound so far.
pub struct Statement<'q, DB: Database> {
    sql: String,
    args: DB::Arguments<'q>,
    /// The first value that could not be bound, reported when run.
    error: Option<BoxDynError>,
}

impl<'q, DB: Dialect> Statement<'q, DB> {
    pub fn new(sql: &str) -> Self {
        Self {
            sql: sql.to_owned(),
            args: Default::default(),
            error: None,
        }
    }

    /// Appends SQL text.
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn bind(&mut self, value: impl Bind<'q>) -> &mut Self {
        match DB::bind(&mut self.args, value) {
            Ok(()) => {
                // Writing to a String cannot fail.
                let _ = self.args.format_placeholder(&mut self.sql);
            }
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }

    /// Appends `, ` and a placeholder bound to `value`.
    pub fn bind_next(&mut self, value: impl Bind<'q>) -> &mut Self {
        self.push(", ").bind(value)
    }

    fn checked(&mut self) -> sqlx::Result<()> {
        match self.error.take() {
            Some(e) => Err(sqlx::Error::Encode(e)),
            None => Ok(()),
        }
    }

    /// Runs a query and reads every row.
    pub async fn fetch_all<O: StoredRow>(
        mut self,
        conn: &mut DB::Connection,
    ) -> sqlx::Result<Vec<O>> {
        self.checked()?;
        DB::fetch_all(conn, &self.sql, self.args).await
    }

    /// Runs a query and reads its first row, if any.
    pub async fn fetch_optional<O: StoredRow>(
        mut self,
        conn: &mut DB::Connection,
    ) -> sqlx::Result<Option<O>> {
        self.checked()?;
        DB::fetch_optional(conn, &self.sql, self.args).await
    }

    /// Runs the statement; how many rows it changed.
    pub async fn execute(mut self, conn: &mut DB::Connection) -> sqlx::Result<u64> {
        self.checked()?;
        DB::execute(conn, &self.sql, self.args).await
    }
}

/// A backend's connections and its own write path for qualifications.
pub trait Backend: Send + Sync + 'static {
    type Db: Dialect;
    /// A connection on loan, returned when dropped.
    type Conn<'a>: DerefMut<Target = <Self::Db as Database>::Connection> + Send
    where
        Self: 'a;

    /// A connection for reads.
    fn reader(&self) -> impl Future<Output = StorageResult<Self::Conn<'_>>> + Send;

    /// A connection for writes.
    fn writer(&self) -> impl Future<Output = StorageResult<Self::Conn<'_>>> + Send;

    /// See [`Storage::commit_qualification`].
    fn commit_qualification(
        &self,
        qualification: NewQualification,
    ) -> impl Future<Output = StorageResult<VerdictRecord>> + Send;

    /// Where the backend announces the verdicts it hears of.
    fn notices(&self) -> &NoticeBus;

    /// See [`Storage::pool_usage`](super::Storage::pool_usage).
    fn pool_usage(&self) -> PoolUsage;

    /// See [`Storage::reachability`].
    fn reachability(&self) -> tokio::sync::watch::Receiver<bool>;
    /// See [`Storage::commit_qualifications`].
    fn commit_qualifications(
        &self,
        batch: Vec<NewQualification>,
    ) -> impl Future<Output = StorageResult<Vec<StorageResult<VerdictRecord>>>> + Send;
}

/// The ways a statement runs, the same text for each concrete database.
macro_rules! run_with_sqlx {
    () => {
        fn bind<'q>(
            args: &mut <Self as sqlx::Database>::Arguments<'q>,
            value: impl $crate::storage::dialect::Bind<'q>,
        ) -> Result<(), sqlx::error::BoxDynError> {
            sqlx::Arguments::add(args, value)
        }

        async fn fetch_all<'a, 'q: 'a, O: $crate::storage::dialect::StoredRow>(
            conn: &'a mut <Self as sqlx::Database>::Connection,
            sql: &'a str,
            args: <Self as sqlx::Database>::Arguments<'q>,
        ) -> sqlx::Result<Vec<O>> {
            sqlx::query_as_with(sql, args).fetch_all(conn).await
        }

        async fn fetch_optional<'a, 'q: 'a, O: $crate::storage::dialect::StoredRow>(
            conn: &'a mut <Self as sqlx::Database>::Connection,
            sql: &'a str,
            args: <Self as sqlx::Database>::Arguments<'q>,
        ) -> sqlx::Result<Option<O>> {
            sqlx::query_as_with(sql, args).fetch_optional(conn).await
        }

        async fn execute<'a, 'q: 'a>(
            conn: &'a mut <Self as sqlx::Database>::Connection,
            sql: &'a str,
            args: <Self as sqlx::Database>::Arguments<'q>,
        ) -> sqlx::Result<u64> {
            Ok(sqlx::query_with(sql, args)
                .execute(conn)
                .await?
                .rows_affected())
        }
    };
}
pub(crate) use run_with_sqlx;
