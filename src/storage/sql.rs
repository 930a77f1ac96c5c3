//! The queries of [`Storage`], written once for both backends. What truly
//! differs between SQLite and PostgreSQL is a [`Dialect`] (how timestamps and
//! JSON are read and bound, how a write transaction begins); how a backend
//! lends its connections and commits a qualification is its [`Backend`].

use std::ops::DerefMut;

use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::error::BoxDynError;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Arguments, Connection, Database, Encode, FromRow, Postgres, Sqlite, Type};

use super::codec::{self, ApiKeyRow, AuditRow, ContextRow, LeadRow, LeadViewRow, ProfileRow};
use super::codec::{VerdictRow, decode, decode_all};
use super::{
    ApiKeyRecord, AuditEvent, AuditFilter, LeadFilter, NewQualification, OverrideRecord,
    ProfileVersion, Storage, StorageError, StorageResult, StoredLead, StoredLeadView,
    VerdictRecord,
};

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
    /// A JSON object of `'key', value, …` pairs, as text.
    fn json_object(pairs: &str) -> String;
    /// Follows a bound timestamp (RFC 3339 text) that a column stores.
    const TIMESTAMP: &'static str;
    /// Follows a bound JSON text that a column stores.
    const JSON: &'static str;
    /// Starts a transaction that writes.
    const BEGIN_WRITE: &'static str;

    /// Adds `value` to `args`.
    fn bind<'q>(args: &mut Self::Arguments<'q>, value: impl Bind<'q>) -> Result<(), BoxDynError>;

    /// Runs `sql` and reads every row.
    fn fetch_all<'a, 'q: 'a, O: StoredRow>(
        conn: &'a mut Self::Connection,
        sql: &'a str,
        args: Self::Arguments<'q>,
    ) -> impl Future<Output = sqlx::Result<Vec<O>>> + Send;

    /// Runs `sql` and reads its row, if any.
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

    pub async fn fetch_all<O: StoredRow>(
        mut self,
        conn: &mut DB::Connection,
    ) -> sqlx::Result<Vec<O>> {
        self.checked()?;
        DB::fetch_all(conn, &self.sql, self.args).await
    }

    pub async fn fetch_one<O: StoredRow>(self, conn: &mut DB::Connection) -> sqlx::Result<O> {
        self.fetch_optional(conn)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }

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
}

/// [`Storage`] on a backend.
pub struct SqlStorage<B> {
    backend: B,
    columns: Columns,
}

/// The select lists of the queries, rendered once for the backend's dialect.
struct Columns {
    lead: String,
    /// A lead, then its latest verdict, that verdict's signals and its newest
    /// override as JSON (`codec::LeadViewRow`), for `FROM leads`.
    lead_view: String,
    /// A verdict of `verdicts AS v` as one JSON document beside its signals
    /// (`codec::VerdictRow`).
    verdict: String,
    profile: String,
    key: String,
    audit: String,
}

/// The fields of a verdict document but its facts. A lead's facts are stored
/// with its latest verdict, so a lead view takes them from the lead rather
/// than copy and parse them twice.
fn verdict_fields<DB: Dialect>() -> String {
    format!(
        "'verdict_id', v.verdict_id, 'tenant', v.tenant, 'lead_id', v.lead_id, \
         'seq', v.seq, 'stage', v.stage, 'outcome', v.outcome, 'score', v.score, \
         'profile_version', v.profile_version, 'facts_hash', v.facts_hash, \
         'request_id', v.request_id, 'evaluated_at', {}, 'evaluation_date', {}",
        DB::timestamp("v.evaluated_at"),
        DB::text("v.evaluation_date"),
    )
}

impl Columns {
    fn of<DB: Dialect>() -> Columns {
        let ts = |column: &str| format!("{} AS {column}", DB::timestamp(column));
        let lead = format!(
            "tenant, lead_id, stage, {} AS facts, revision, latest_verdict_id, latest_outcome, \
             {}, {}",
            DB::text("facts"),
            ts("created_at"),
            ts("updated_at")
        );
        let latest_override = DB::json_object(&format!(
            "'override_id', o.override_id, 'tenant', o.tenant, 'lead_id', o.lead_id, \
             'outcome', o.outcome, 'reason', o.reason, 'author', o.author, 'actor', o.actor, \
             'verdict_id', o.verdict_id, 'created_at', {}, 'expires_at', {}",
            DB::timestamp("o.created_at"),
            DB::timestamp("o.expires_at")
        ));
        let lead_view = format!(
            "{lead}, \
             (SELECT {} FROM verdicts AS v WHERE v.verdict_id = leads.latest_verdict_id) \
                 AS latest_verdict, \
             (SELECT v.signals_json FROM verdicts AS v \
                 WHERE v.verdict_id = leads.latest_verdict_id) AS latest_signals, \
             (SELECT {latest_override} FROM overrides AS o \
                 WHERE o.tenant = leads.tenant AND o.lead_id = leads.lead_id \
                 ORDER BY o.created_at DESC, o.override_id DESC LIMIT 1) AS latest_override",
            DB::json_object(&verdict_fields::<DB>()),
        );
        let verdict = format!(
            "{} AS verdict, v.signals_json AS signals",
            DB::json_object(&format!(
                "{}, 'facts', {}",
                verdict_fields::<DB>(),
                DB::text("v.facts")
            ))
        );
        Columns {
            lead,
            lead_view,
            verdict,
            profile: format!(
                "tenant, version, {} AS body, {}",
                DB::text("body"),
                ts("created_at")
            ),
            key: format!(
                "key_id, tenant, secret_hash, roles, description, {}, {}, {}",
                ts("created_at"),
                ts("last_used_at"),
                ts("revoked_at")
            ),
            audit: format!(
                "seq, event_id, tenant, kind, actor, lead_id, subject, before_json, after_json, {}",
                ts("created_at")
            ),
        }
    }
}

impl<B: Backend> SqlStorage<B> {
    pub fn new(backend: B) -> Self {
        Self {
            backend,
            columns: Columns::of::<B::Db>(),
        }
    }
}

/// `SELECT columns FROM table WHERE tenant = ` with the tenant bound.
fn select_in_tenant<'a, DB: Dialect>(
    columns: &str,
    table: &str,
    tenant: &'a str,
) -> Statement<'a, DB> {
    let mut query = Statement::new("SELECT ");
    query.push(columns).push(" FROM ").push(table);
    query.push(" WHERE tenant = ").bind(tenant);
    query
}

/// The insert of an audit event, for the transaction of what it records.
fn insert_audit<'a, DB: Dialect>(e: &'a AuditEvent) -> Statement<'a, DB> {
    let mut query = Statement::new(
        "INSERT INTO audit_events (event_id, tenant, kind, actor, lead_id, subject, \
         before_json, after_json, created_at) VALUES (",
    );
    query
        .bind(e.event_id.as_str())
        .bind_next(e.tenant.as_str())
        .bind_next(e.kind.code())
        .bind_next(e.actor.as_str())
        .bind_next(e.lead_id.as_deref())
        .bind_next(e.subject.as_str())
        .bind_next(e.before_json.as_str())
        .bind_next(e.after_json.as_str())
        .bind_next(codec::ts_to_text(e.created_at));
    query.push(DB::TIMESTAMP).push(")");
    query
}

#[async_trait]
impl<B: Backend> Storage for SqlStorage<B> {
    async fn get_lead(&self, tenant: &str, lead_id: &str) -> StorageResult<Option<StoredLead>> {
        let mut query = select_in_tenant::<B::Db>(&self.columns.lead, "leads", tenant);
        query.push(" AND lead_id = ").bind(lead_id);
        let row: Option<LeadRow> = query
            .fetch_optional(&mut *self.backend.reader().await?)
            .await?;
        row.map(decode).transpose()
    }

    async fn qualification_context(
        &self,
        tenant: &str,
        lead_id: &str,
        request_id: Option<&str>,
    ) -> StorageResult<(Option<StoredLead>, Option<VerdictRecord>)> {
        // One round trip on the common path: the lead (if any) next to the
        // id of the verdict stored under the request id (if any).
        let mut query =
            Statement::<B::Db>::new("SELECT (SELECT verdict_id FROM verdicts WHERE tenant = ");
        query.bind(tenant);
        query.push(" AND request_id = ").bind(request_id);
        query.push(") AS replay_id, ").push(&self.columns.lead);
        query.push(" FROM (SELECT 1) AS one LEFT JOIN leads ON tenant = ");
        query.bind(tenant);
        query.push(" AND lead_id = ").bind(lead_id);
        let row: ContextRow = query.fetch_one(&mut *self.backend.reader().await?).await?;
        let lead = row.lead.map(decode).transpose()?;
        let replay = match row.replay_id {
            Some(verdict_id) => self.get_verdict(tenant, &verdict_id).await?,
            None => None,
        };
        Ok((lead, replay))
    }

    async fn get_lead_view(
        &self,
        tenant: &str,
        lead_id: &str,
    ) -> StorageResult<Option<StoredLeadView>> {
        let mut query = select_in_tenant::<B::Db>(&self.columns.lead_view, "leads", tenant);
        query.push(" AND lead_id = ").bind(lead_id);
        let row: Option<LeadViewRow> = query
            .fetch_optional(&mut *self.backend.reader().await?)
            .await?;
        row.map(decode).transpose()
    }

    async fn list_leads(
        &self,
        tenant: &str,
        filter: LeadFilter,
        after: Option<&str>,
        limit: i64,
    ) -> StorageResult<Vec<StoredLeadView>> {
        let mut query = select_in_tenant::<B::Db>(&self.columns.lead_view, "leads", tenant);
        if let Some(stage) = filter.stage {
            query.push(" AND stage = ").bind(stage.code());
        }
        if let Some(outcome) = filter.outcome {
            query.push(" AND latest_outcome = ").bind(outcome.code());
        }
        if let Some(after) = after {
            query.push(" AND lead_id > ").bind(after);
        }
        query.push(" ORDER BY lead_id LIMIT ").bind(limit);
        let rows: Vec<LeadViewRow> = query.fetch_all(&mut *self.backend.reader().await?).await?;
        decode_all(rows)
    }

    async fn commit_qualification(&self, q: NewQualification) -> StorageResult<VerdictRecord> {
        self.backend.commit_qualification(q).await
    }

    async fn get_verdict(
        &self,
        tenant: &str,
        verdict_id: &str,
    ) -> StorageResult<Option<VerdictRecord>> {
        let mut query = select_in_tenant::<B::Db>(&self.columns.verdict, "verdicts AS v", tenant);
        query.push(" AND v.verdict_id = ").bind(verdict_id);
        let row: Option<VerdictRow> = query
            .fetch_optional(&mut *self.backend.reader().await?)
            .await?;
        row.map(decode).transpose()
    }

    async fn find_verdict_by_request(
        &self,
        tenant: &str,
        request_id: &str,
    ) -> StorageResult<Option<VerdictRecord>> {
        let mut query = select_in_tenant::<B::Db>(&self.columns.verdict, "verdicts AS v", tenant);
        query.push(" AND v.request_id = ").bind(request_id);
        let row: Option<VerdictRow> = query
            .fetch_optional(&mut *self.backend.reader().await?)
            .await?;
        row.map(decode).transpose()
    }

    async fn list_verdicts(
        &self,
        tenant: &str,
        lead_id: &str,
        before: Option<i64>,
        limit: i64,
    ) -> StorageResult<Vec<VerdictRecord>> {
        let mut query = select_in_tenant::<B::Db>(&self.columns.verdict, "verdicts AS v", tenant);
        query.push(" AND v.lead_id = ").bind(lead_id);
        query.push(" AND v.seq < ").bind(before.unwrap_or(i64::MAX));
        query.push(" ORDER BY v.seq DESC LIMIT ").bind(limit);
        let rows: Vec<VerdictRow> = query.fetch_all(&mut *self.backend.reader().await?).await?;
        decode_all(rows)
    }

    async fn current_profile(&self, tenant: &str) -> StorageResult<Option<ProfileVersion>> {
        let mut query = select_in_tenant::<B::Db>(&self.columns.profile, "profiles", tenant);
        query.push(" ORDER BY version DESC LIMIT 1");
        let row: Option<ProfileRow> = query
            .fetch_optional(&mut *self.backend.reader().await?)
            .await?;
        row.map(decode).transpose()
    }

    async fn get_profile(
        &self,
        tenant: &str,
        version: i64,
    ) -> StorageResult<Option<ProfileVersion>> {
        let mut query = select_in_tenant::<B::Db>(&self.columns.profile, "profiles", tenant);
        query.push(" AND version = ").bind(version);
        let row: Option<ProfileRow> = query
            .fetch_optional(&mut *self.backend.reader().await?)
            .await?;
        row.map(decode).transpose()
    }

    async fn insert_profile(
        &self,
        profile: &ProfileVersion,
        audit: Option<&AuditEvent>,
    ) -> StorageResult<()> {
        let mut insert = Statement::<B::Db>::new(
            "INSERT INTO profiles (tenant, version, body, created_at) VALUES (",
        );
        insert
            .bind(profile.tenant.as_str())
            .bind_next(profile.version)
            .bind_next(codec::profile_body(&profile.profile));
        insert.push(<B::Db as Dialect>::JSON);
        insert.bind_next(codec::ts_to_text(profile.created_at));
        insert
            .push(<B::Db as Dialect>::TIMESTAMP)
            .push(") ON CONFLICT DO NOTHING");
        let mut conn = self.backend.writer().await?;
        let mut tx = conn.begin_with(<B::Db as Dialect>::BEGIN_WRITE).await?;
        if insert.execute(&mut *tx).await? == 0 {
            return Err(StorageError::ProfileVersionTaken);
        }
        if let Some(event) = audit {
            insert_audit::<B::Db>(event).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn list_profiles(
        &self,
        tenant: &str,
        before: Option<i64>,
        limit: i64,
    ) -> StorageResult<Vec<ProfileVersion>> {
        let mut query = select_in_tenant::<B::Db>(&self.columns.profile, "profiles", tenant);
        query
            .push(" AND version < ")
            .bind(before.unwrap_or(i64::MAX));
        query.push(" ORDER BY version DESC LIMIT ").bind(limit);
        let rows: Vec<ProfileRow> = query.fetch_all(&mut *self.backend.reader().await?).await?;
        decode_all(rows)
    }

    async fn find_api_key(&self, key_id: &str) -> StorageResult<Option<ApiKeyRecord>> {
        let mut query = Statement::<B::Db>::new("SELECT ");
        query.push(&self.columns.key);
        query.push(" FROM api_keys WHERE key_id = ").bind(key_id);
        let row: Option<ApiKeyRow> = query
            .fetch_optional(&mut *self.backend.reader().await?)
            .await?;
        row.map(decode).transpose()
    }

    async fn any_active_api_key(&self) -> StorageResult<bool> {
        let (found,): (i64,) = Statement::<B::Db>::new(
            "SELECT count(*) FROM \
             (SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1) AS active",
        )
        .fetch_one(&mut *self.backend.reader().await?)
        .await?;
        Ok(found > 0)
    }

    async fn api_key_changes(&self) -> StorageResult<i64> {
        let (changes,): (i64,) =
            Statement::<B::Db>::new("SELECT count(*) + count(revoked_at) FROM api_keys")
                .fetch_one(&mut *self.backend.reader().await?)
                .await?;
        Ok(changes)
    }

    async fn insert_api_key(&self, key: &ApiKeyRecord, audit: &AuditEvent) -> StorageResult<()> {
        let mut insert = Statement::<B::Db>::new(
            "INSERT INTO api_keys (key_id, tenant, secret_hash, roles, description, created_at) \
             VALUES (",
        );
        insert
            .bind(key.key_id.as_str())
            .bind_next(key.tenant.as_str())
            .bind_next(key.secret_hash.as_str())
            .bind_next(codec::roles_to_text(&key.roles))
            .bind_next(key.description.as_str())
            .bind_next(codec::ts_to_text(key.created_at));
        insert.push(<B::Db as Dialect>::TIMESTAMP).push(")");
        let mut conn = self.backend.writer().await?;
        let mut tx = conn.begin_with(<B::Db as Dialect>::BEGIN_WRITE).await?;
        insert.execute(&mut *tx).await?;
        insert_audit::<B::Db>(audit).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn revoke_api_key(
        &self,
        tenant: &str,
        key_id: &str,
        at: Timestamp,
        audit: &AuditEvent,
    ) -> StorageResult<bool> {
        let mut update = Statement::<B::Db>::new("UPDATE api_keys SET revoked_at = ");
        update.bind(codec::ts_to_text(at));
        update.push(<B::Db as Dialect>::TIMESTAMP);
        update.push(" WHERE tenant = ").bind(tenant);
        update.push(" AND key_id = ").bind(key_id);
        update.push(" AND revoked_at IS NULL");
        let mut conn = self.backend.writer().await?;
        let mut tx = conn.begin_with(<B::Db as Dialect>::BEGIN_WRITE).await?;
        if update.execute(&mut *tx).await? == 0 {
            return Ok(false);
        }
        insert_audit::<B::Db>(audit).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn touch_api_key(&self, key_id: &str, at: Timestamp) -> StorageResult<()> {
        let mut update = Statement::<B::Db>::new("UPDATE api_keys SET last_used_at = ");
        update.bind(codec::ts_to_text(at));
        update.push(<B::Db as Dialect>::TIMESTAMP);
        update.push(" WHERE key_id = ").bind(key_id);
        update.execute(&mut *self.backend.writer().await?).await?;
        Ok(())
    }

    async fn list_api_keys(
        &self,
        tenant: &str,
        show_revoked: bool,
        after: Option<(Timestamp, String)>,
        limit: i64,
    ) -> StorageResult<Vec<ApiKeyRecord>> {
        let mut query = select_in_tenant::<B::Db>(&self.columns.key, "api_keys", tenant);
        if !show_revoked {
            query.push(" AND revoked_at IS NULL");
        }
        if let Some((created_at, key_id)) = after {
            let created_at = codec::ts_to_text(created_at);
            query.push(" AND (created_at < ").bind(created_at.clone());
            query.push(<B::Db as Dialect>::TIMESTAMP);
            query.push(" OR (created_at = ").bind(created_at);
            query.push(<B::Db as Dialect>::TIMESTAMP);
            query.push(" AND key_id < ").bind(key_id).push("))");
        }
        query
            .push(" ORDER BY created_at DESC, key_id DESC LIMIT ")
            .bind(limit);
        let rows: Vec<ApiKeyRow> = query.fetch_all(&mut *self.backend.reader().await?).await?;
        decode_all(rows)
    }

    async fn insert_override(
        &self,
        record: &OverrideRecord,
        audit: &AuditEvent,
    ) -> StorageResult<()> {
        let mut insert = Statement::<B::Db>::new(
            "INSERT INTO overrides (override_id, tenant, lead_id, outcome, reason, author, \
             actor, verdict_id, created_at, expires_at) VALUES (",
        );
        insert
            .bind(record.override_id.as_str())
            .bind_next(record.tenant.as_str())
            .bind_next(record.lead_id.as_str())
            .bind_next(record.outcome.code())
            .bind_next(record.reason.as_str())
            .bind_next(record.author.as_str())
            .bind_next(record.actor.as_str())
            .bind_next(record.verdict_id.as_deref())
            .bind_next(codec::ts_to_text(record.created_at));
        insert.push(<B::Db as Dialect>::TIMESTAMP).push(", ");
        insert.bind(record.expires_at.map(codec::ts_to_text));
        insert.push(<B::Db as Dialect>::TIMESTAMP).push(")");
        let mut conn = self.backend.writer().await?;
        let mut tx = conn.begin_with(<B::Db as Dialect>::BEGIN_WRITE).await?;
        insert.execute(&mut *tx).await?;
        insert_audit::<B::Db>(audit).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_audit_events(
        &self,
        tenant: &str,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: i64,
    ) -> StorageResult<Vec<AuditEvent>> {
        let mut query = select_in_tenant::<B::Db>(&self.columns.audit, "audit_events", tenant);
        if let Some(kind) = filter.kind {
            query.push(" AND kind = ").bind(kind.code());
        }
        if let Some(lead_id) = &filter.lead_id {
            query.push(" AND lead_id = ").bind(lead_id.as_str());
        }
        if let Some(before) = before {
            query.push(" AND seq < ").bind(before);
        }
        query.push(" ORDER BY seq DESC LIMIT ").bind(limit);
        let rows: Vec<AuditRow> = query.fetch_all(&mut *self.backend.reader().await?).await?;
        decode_all(rows)
    }
}
