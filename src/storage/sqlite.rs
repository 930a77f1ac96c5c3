//! SQLite backend: one file in WAL mode. Writes go through a single
//! connection, so qualifications never fight over SQLite's write lock;
//! reads use a pool of their own.

use std::collections::{HashMap, HashSet};
use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, FromRow, QueryBuilder, Row, Sqlite, SqliteConnection, Transaction};
use tokio::sync::{Semaphore, SemaphorePermit, mpsc, oneshot, watch};

use super::codec::{self, ApiKeyRow, AuditRow, LeadRow, LeadViewRow, ProfileRow, SignalRow};
use super::{
    AccessStorage, ApiKeyRecord, AuditEvent, AuditFilter, LeadFilter, NewQualification,
    OverrideRecord, ProfileVersion, Storage, StorageError, StorageResult, StoredLead,
    StoredLeadView, VerdictRecord,
};
use crate::domain::Stage;

/// Storage on one SQLite file.
pub struct SqliteStorage {
    reader: Arc<Connections>,
    writer: Arc<Connections>,
    commits: mpsc::Sender<CommitJob>,
    /// Dropped with the storage, which ends the checkpointer.
    _stop_checkpoints: watch::Sender<()>,
}

const LEAD_COLUMNS: &str = "tenant, lead_id, stage, facts, revision, latest_verdict_id, \
    latest_outcome, created_at, updated_at";
const VERDICT_COLUMNS: &str = "verdict_id, tenant, lead_id, seq, stage, outcome, score, \
    profile_version, facts, facts_hash, request_id, evaluated_at, evaluation_date";
/// A verdict of `verdicts AS v` as one JSON document; its signals come
/// beside it from its `signals_json` column (see `codec::verdict_from_json`).
macro_rules! verdict_json {
    () => {
        concat!("json_object(", verdict_fields!(), ", 'facts', v.facts)")
    };
}

/// The fields of a verdict document but its facts. A lead's facts are
/// stored with its latest verdict, so a lead view takes them from the lead
/// rather than copy and parse them twice.
macro_rules! verdict_fields {
    () => {
        "'verdict_id', v.verdict_id, 'tenant', v.tenant, 'lead_id', v.lead_id, \
         'seq', v.seq, 'stage', v.stage, 'outcome', v.outcome, 'score', v.score, \
         'profile_version', v.profile_version, 'facts_hash', v.facts_hash, \
         'request_id', v.request_id, 'evaluated_at', v.evaluated_at, \
         'evaluation_date', v.evaluation_date"
    };
}

/// The lead's columns, then its latest verdict, that verdict's signals and
/// its newest override as JSON (`codec::LeadViewRow`), for `FROM leads`.
macro_rules! lead_view_columns {
    () => {
        concat!(
            "tenant, lead_id, stage, facts, revision, latest_verdict_id, latest_outcome, \
             created_at, updated_at, \
             (SELECT json_object(",
            verdict_fields!(),
            ")",
            " FROM verdicts AS v WHERE v.verdict_id = leads.latest_verdict_id) \
                 AS latest_verdict, ",
            "(SELECT v.signals_json FROM verdicts AS v \
                  WHERE v.verdict_id = leads.latest_verdict_id) AS latest_signals, \
             (SELECT json_object('override_id', o.override_id, 'tenant', o.tenant, \
                     'lead_id', o.lead_id, 'outcome', o.outcome, 'reason', o.reason, \
                     'author', o.author, 'actor', o.actor, 'verdict_id', o.verdict_id, \
                     'created_at', o.created_at, 'expires_at', o.expires_at) \
              FROM overrides AS o WHERE o.tenant = leads.tenant AND o.lead_id = leads.lead_id \
              ORDER BY o.created_at DESC, o.override_id DESC LIMIT 1) AS latest_override"
        )
    };
}

impl SqliteStorage {
    /// Opens (creating if needed) the database at `url` — `sqlite://PATH`,
    /// `sqlite::memory:` or a plain path — and runs the migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let options = if url.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(url)
                .with_context(|| format!("invalid SQLite database URL {url:?}"))?
        } else {
            SqliteConnectOptions::new().filename(url)
        };
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // Statement journals (every multi-row write keeps one, to undo
            // itself should it fail half way) in memory, not in temp files.
            .pragma("temp_store", "memory");
        let open = |what| format!("cannot open SQLite database {url:?} ({what})");
        // Checkpoints run in the background (below); the automatic one is
        // only the backstop should the WAL still grow large.
        let writer = Connections::open(&options.clone().pragma("wal_autocheckpoint", "16000"), 1)
            .await
            .with_context(|| open("writer"))?;
        sqlx::migrate!("migrations/sqlite")
            .run_direct(&mut *writer.get().await?)
            .await
            .context("cannot migrate the SQLite database")?;
        // An in-memory database exists per connection: share the writer.
        let reader = if in_memory {
            writer.clone()
        } else {
            Connections::open(&options.clone().read_only(true), READERS)
                .await
                .with_context(|| open("readers"))?
        };
        let (commits, jobs) = mpsc::channel(4 * MAX_GROUP);
        // The committer waits on the writer's worker thread several times
        // per group; on a thread of its own it resumes at once instead of
        // queueing behind request tasks on the shared runtime.
        let committer = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the SQLite committer's runtime")?;
        let group_writer = writer.clone();
        std::thread::Builder::new()
            .name("leadqual-commit".into())
            .spawn(move || committer.block_on(group_committer(group_writer, jobs)))
            .context("cannot start the SQLite committer thread")?;
        let (stop_checkpoints, stopped) = watch::channel(());
        if !in_memory {
            let connection = SqliteConnection::connect_with(&options)
                .await
                .with_context(|| open("checkpointer"))?;
            tokio::spawn(checkpointer(connection, stopped));
        }
        Ok(Self {
            reader,
            writer,
            commits,
            _stop_checkpoints: stop_checkpoints,
        })
    }

    /// The verdict whose `column` (`verdict_id` or `request_id`) is `value`.
    async fn verdict_where(
        &self,
        tenant: &str,
        column: &'static str,
        value: &str,
    ) -> StorageResult<Option<VerdictRecord>> {
        let row: Option<(String, String)> = sqlx::query_as(&format!(
            "SELECT {}, v.signals_json FROM verdicts AS v WHERE v.tenant = ? AND v.{column} = ?",
            verdict_json!()
        ))
        .bind(tenant)
        .bind(value)
        .fetch_optional(&mut *self.reader.get().await?)
        .await?;
        Ok(row
            .map(|(verdict, signals)| codec::verdict_from_json(&verdict, &signals))
            .transpose()?)
    }
}

#[async_trait]
impl Storage for SqliteStorage {
    async fn get_lead(&self, tenant: &str, lead_id: &str) -> StorageResult<Option<StoredLead>> {
        let row: Option<LeadRow> = sqlx::query_as(&format!(
            "SELECT {LEAD_COLUMNS} FROM leads WHERE tenant = ? AND lead_id = ?"
        ))
        .bind(tenant)
        .bind(lead_id)
        .fetch_optional(&mut *self.reader.get().await?)
        .await?;
        Ok(row.map(StoredLead::try_from).transpose()?)
    }

    async fn qualification_context(
        &self,
        tenant: &str,
        lead_id: &str,
        request_id: Option<&str>,
    ) -> StorageResult<(Option<StoredLead>, Option<VerdictRecord>)> {
        // One round trip on the common path: the lead (if any) next to the
        // id of the verdict stored under the request id (if any).
        let row = sqlx::query(&format!(
            "SELECT (SELECT verdict_id FROM verdicts \
                     WHERE tenant = ?1 AND request_id = ?3) AS replay_id, {LEAD_COLUMNS} \
             FROM (SELECT 1) AS one LEFT JOIN leads ON tenant = ?1 AND lead_id = ?2"
        ))
        .bind(tenant)
        .bind(lead_id)
        .bind(request_id)
        .fetch_one(&mut *self.reader.get().await?)
        .await?;
        let lead = match row.try_get::<Option<String>, _>("lead_id")? {
            Some(_) => Some(StoredLead::try_from(LeadRow::from_row(&row)?)?),
            None => None,
        };
        let replay = match row.try_get::<Option<String>, _>("replay_id")? {
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
        let row: Option<LeadViewRow> = sqlx::query_as(concat!(
            "SELECT ",
            lead_view_columns!(),
            " FROM leads WHERE tenant = ? AND lead_id = ?"
        ))
        .bind(tenant)
        .bind(lead_id)
        .fetch_optional(&mut *self.reader.get().await?)
        .await?;
        Ok(row.map(StoredLeadView::try_from).transpose()?)
    }

    async fn list_leads(
        &self,
        tenant: &str,
        filter: LeadFilter,
        after: Option<&str>,
        limit: i64,
    ) -> StorageResult<Vec<StoredLeadView>> {
        let mut query = QueryBuilder::<Sqlite>::new(concat!(
            "SELECT ",
            lead_view_columns!(),
            " FROM leads WHERE tenant = "
        ));
        super::push_lead_page(&mut query, tenant, filter, after, limit);
        let rows: Vec<LeadViewRow> = query
            .build_query_as()
            .fetch_all(&mut *self.reader.get().await?)
            .await?;
        Ok(rows
            .into_iter()
            .map(StoredLeadView::try_from)
            .collect::<anyhow::Result<_>>()?)
    }

    async fn commit_qualification(&self, q: NewQualification) -> StorageResult<VerdictRecord> {
        let (done, outcome) = oneshot::channel();
        self.commits
            .send(CommitJob {
                qualification: q,
                done,
            })
            .await
            .map_err(|_| StorageError::Unavailable(anyhow::anyhow!("the SQLite writer stopped")))?;
        outcome.await.map_err(|_| {
            StorageError::Unavailable(anyhow::anyhow!("the SQLite writer stopped mid-commit"))
        })?
    }

    async fn get_verdict(
        &self,
        tenant: &str,
        verdict_id: &str,
    ) -> StorageResult<Option<VerdictRecord>> {
        self.verdict_where(tenant, "verdict_id", verdict_id).await
    }

    async fn find_verdict_by_request(
        &self,
        tenant: &str,
        request_id: &str,
    ) -> StorageResult<Option<VerdictRecord>> {
        self.verdict_where(tenant, "request_id", request_id).await
    }

    async fn list_verdicts(
        &self,
        tenant: &str,
        lead_id: &str,
        before: Option<i64>,
        limit: i64,
    ) -> StorageResult<Vec<VerdictRecord>> {
        let rows: Vec<(String, String)> = sqlx::query_as(concat!(
            "SELECT ",
            verdict_json!(),
            ", v.signals_json FROM verdicts AS v \
             WHERE v.tenant = ? AND v.lead_id = ? AND v.seq < ? ORDER BY v.seq DESC LIMIT ?"
        ))
        .bind(tenant)
        .bind(lead_id)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&mut *self.reader.get().await?)
        .await?;
        Ok(rows
            .iter()
            .map(|(verdict, signals)| codec::verdict_from_json(verdict, signals))
            .collect::<anyhow::Result<_>>()?)
    }

    async fn current_profile(&self, tenant: &str) -> StorageResult<Option<ProfileVersion>> {
        let row: Option<ProfileRow> = sqlx::query_as(
            "SELECT tenant, version, body, created_at FROM profiles \
             WHERE tenant = ? ORDER BY version DESC LIMIT 1",
        )
        .bind(tenant)
        .fetch_optional(&mut *self.reader.get().await?)
        .await?;
        Ok(row.map(ProfileVersion::try_from).transpose()?)
    }

    async fn get_profile(
        &self,
        tenant: &str,
        version: i64,
    ) -> StorageResult<Option<ProfileVersion>> {
        let row: Option<ProfileRow> = sqlx::query_as(
            "SELECT tenant, version, body, created_at FROM profiles \
             WHERE tenant = ? AND version = ?",
        )
        .bind(tenant)
        .bind(version)
        .fetch_optional(&mut *self.reader.get().await?)
        .await?;
        Ok(row.map(ProfileVersion::try_from).transpose()?)
    }

    async fn insert_profile(
        &self,
        profile: &ProfileVersion,
        audit: Option<&AuditEvent>,
    ) -> StorageResult<()> {
        let mut conn = self.writer.get().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let inserted = sqlx::query(
            "INSERT INTO profiles (tenant, version, body, created_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&profile.tenant)
        .bind(profile.version)
        .bind(codec::profile_body(&profile.profile))
        .bind(codec::ts_to_text(profile.created_at))
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StorageError::ProfileVersionTaken);
        }
        if let Some(event) = audit {
            insert_audit(&mut tx, event).await?;
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
        let rows: Vec<ProfileRow> = sqlx::query_as(
            "SELECT tenant, version, body, created_at FROM profiles \
             WHERE tenant = ? AND version < ? ORDER BY version DESC LIMIT ?",
        )
        .bind(tenant)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&mut *self.reader.get().await?)
        .await?;
        Ok(rows
            .into_iter()
            .map(ProfileVersion::try_from)
            .collect::<anyhow::Result<_>>()?)
    }
}

const KEY_COLUMNS: &str = "key_id, tenant, secret_hash, roles, description, created_at, \
    last_used_at, revoked_at";
const OVERRIDE_COLUMNS: &str = "override_id, tenant, lead_id, outcome, reason, author, actor, \
    verdict_id, created_at, expires_at";
const AUDIT_COLUMNS: &str = "seq, event_id, tenant, kind, actor, lead_id, subject, before_json, \
    after_json, created_at";

async fn insert_audit(tx: &mut Transaction<'_, Sqlite>, e: &AuditEvent) -> StorageResult<()> {
    sqlx::query(
        "INSERT INTO audit_events (event_id, tenant, kind, actor, lead_id, subject, before_json, \
         after_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&e.event_id)
    .bind(&e.tenant)
    .bind(e.kind.code())
    .bind(&e.actor)
    .bind(&e.lead_id)
    .bind(&e.subject)
    .bind(&e.before_json)
    .bind(&e.after_json)
    .bind(codec::ts_to_text(e.created_at))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[async_trait]
impl AccessStorage for SqliteStorage {
    async fn find_api_key(&self, key_id: &str) -> StorageResult<Option<ApiKeyRecord>> {
        let row: Option<ApiKeyRow> = sqlx::query_as(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE key_id = ?"
        ))
        .bind(key_id)
        .fetch_optional(&mut *self.reader.get().await?)
        .await?;
        Ok(row.map(ApiKeyRecord::try_from).transpose()?)
    }

    async fn any_active_api_key(&self) -> StorageResult<bool> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1")
                .fetch_optional(&mut *self.reader.get().await?)
                .await?;
        Ok(found.is_some())
    }

    async fn api_key_changes(&self) -> StorageResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT count(*) + count(revoked_at) FROM api_keys")
                .fetch_one(&mut *self.reader.get().await?)
                .await?,
        )
    }

    async fn insert_api_key(&self, key: &ApiKeyRecord, audit: &AuditEvent) -> StorageResult<()> {
        let mut conn = self.writer.get().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(&format!(
            "INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)"
        ))
        .bind(&key.key_id)
        .bind(&key.tenant)
        .bind(&key.secret_hash)
        .bind(codec::roles_to_text(&key.roles))
        .bind(&key.description)
        .bind(codec::ts_to_text(key.created_at))
        .execute(&mut *tx)
        .await?;
        insert_audit(&mut tx, audit).await?;
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
        let mut conn = self.writer.get().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = ? \
             WHERE tenant = ? AND key_id = ? AND revoked_at IS NULL",
        )
        .bind(codec::ts_to_text(at))
        .bind(tenant)
        .bind(key_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn touch_api_key(&self, key_id: &str, at: Timestamp) -> StorageResult<()> {
        sqlx::query("UPDATE api_keys SET last_used_at = ? WHERE key_id = ?")
            .bind(codec::ts_to_text(at))
            .bind(key_id)
            .execute(&mut *self.writer.get().await?)
            .await?;
        Ok(())
    }

    async fn list_api_keys(
        &self,
        tenant: &str,
        show_revoked: bool,
        after: Option<(Timestamp, String)>,
        limit: i64,
    ) -> StorageResult<Vec<ApiKeyRecord>> {
        let mut query = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE tenant = "
        ));
        query.push_bind(tenant);
        if !show_revoked {
            query.push(" AND revoked_at IS NULL");
        }
        if let Some((created_at, key_id)) = after {
            let created_at = codec::ts_to_text(created_at);
            query
                .push(" AND (created_at < ")
                .push_bind(created_at.clone())
                .push(" OR (created_at = ")
                .push_bind(created_at)
                .push(" AND key_id < ")
                .push_bind(key_id)
                .push("))");
        }
        query
            .push(" ORDER BY created_at DESC, key_id DESC LIMIT ")
            .push_bind(limit);
        let rows: Vec<ApiKeyRow> = query
            .build_query_as()
            .fetch_all(&mut *self.reader.get().await?)
            .await?;
        Ok(rows
            .into_iter()
            .map(ApiKeyRecord::try_from)
            .collect::<anyhow::Result<_>>()?)
    }

    async fn insert_override(
        &self,
        record: &OverrideRecord,
        audit: &AuditEvent,
    ) -> StorageResult<()> {
        let mut conn = self.writer.get().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(&format!(
            "INSERT INTO overrides ({OVERRIDE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(&record.override_id)
        .bind(&record.tenant)
        .bind(&record.lead_id)
        .bind(record.outcome.code())
        .bind(&record.reason)
        .bind(&record.author)
        .bind(&record.actor)
        .bind(&record.verdict_id)
        .bind(codec::ts_to_text(record.created_at))
        .bind(record.expires_at.map(codec::ts_to_text))
        .execute(&mut *tx)
        .await?;
        insert_audit(&mut tx, audit).await?;
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
        let mut query = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE tenant = "
        ));
        super::push_audit_page(&mut query, tenant, filter, before, limit);
        let rows: Vec<AuditRow> = query
            .build_query_as()
            .fetch_all(&mut *self.reader.get().await?)
            .await?;
        Ok(rows
            .into_iter()
            .map(AuditEvent::try_from)
            .collect::<anyhow::Result<_>>()?)
    }
}

/// A qualification waiting for the group commit, and who to tell.
struct CommitJob {
    qualification: NewQualification,
    done: oneshot::Sender<StorageResult<VerdictRecord>>,
}

/// Most qualifications committed in one transaction.
const MAX_GROUP: usize = 128;

/// Group commit: qualifications queued while the previous transaction was
/// being synced are written together in one transaction (one fsync). Every
/// caller is answered only after the commit; if the commit fails, all of the
/// group fail and nothing of it is stored.
async fn group_committer(writer: Arc<Connections>, mut jobs: mpsc::Receiver<CommitJob>) {
    let mut batch = Vec::with_capacity(MAX_GROUP);
    while jobs.recv_many(&mut batch, MAX_GROUP).await > 0 {
        match commit_group(&writer, &batch).await {
            Ok(results) => {
                for (job, result) in batch.drain(..).zip(results) {
                    let _ = job.done.send(result.map(|()| job.qualification.verdict));
                }
            }
            Err(err) => {
                let message = format!("{err:#}");
                tracing::error!(error = %message, size = batch.len(), "group commit failed");
                for job in batch.drain(..) {
                    let _ = job.done.send(Err(StorageError::Unavailable(anyhow::anyhow!(
                        "commit failed: {message}"
                    ))));
                }
            }
        }
    }
}

/// Writes a group in a handful of statements whatever its size: every
/// statement is a round trip to sqlx's worker thread, which cost more than
/// SQLite's own work when each qualification had statements of its own.
///
/// The transaction takes the write lock first (`BEGIN IMMEDIATE`), so the
/// leads' revisions and the request ids read inside it stay true until the
/// commit; the conflicts (`LeadChanged`, `DuplicateRequest`) are decided from
/// them in queue order, and only the accepted qualifications are written.
async fn commit_group(
    writer: &Connections,
    batch: &[CommitJob],
) -> anyhow::Result<Vec<StorageResult<()>>> {
    let mut conn = writer.get().await?;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;

    let lead_keys: Vec<[&str; 2]> = batch
        .iter()
        .map(|job| {
            let v = &job.qualification.verdict;
            [v.tenant.as_str(), v.lead_id.as_str()]
        })
        .collect();
    let revisions: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT l.tenant, l.lead_id, l.revision FROM json_each(?) AS j \
         JOIN leads AS l ON l.tenant = j.value ->> 0 AND l.lead_id = j.value ->> 1",
    )
    .bind(serde_json::to_string(&lead_keys)?)
    .fetch_all(&mut *tx)
    .await?;
    let request_keys: Vec<[&str; 2]> = batch
        .iter()
        .filter_map(|job| {
            let v = &job.qualification.verdict;
            Some([v.tenant.as_str(), v.request_id.as_deref()?])
        })
        .collect();
    let taken: Vec<(String, String)> = if request_keys.is_empty() {
        Vec::new()
    } else {
        sqlx::query_as(
            "SELECT v.tenant, v.request_id FROM json_each(?) AS j \
             JOIN verdicts AS v ON v.tenant = j.value ->> 0 AND v.request_id = j.value ->> 1",
        )
        .bind(serde_json::to_string(&request_keys)?)
        .fetch_all(&mut *tx)
        .await?
    };

    let mut current: HashMap<(&str, &str), i64> = revisions
        .iter()
        .map(|(tenant, lead_id, revision)| ((tenant.as_str(), lead_id.as_str()), *revision))
        .collect();
    let mut taken: HashSet<(&str, &str)> = taken
        .iter()
        .map(|(tenant, request_id)| (tenant.as_str(), request_id.as_str()))
        .collect();
    let mut results = Vec::with_capacity(batch.len());
    let mut accepted = Vec::with_capacity(batch.len());
    for job in batch {
        let q = &job.qualification;
        let v = &q.verdict;
        let lead = (v.tenant.as_str(), v.lead_id.as_str());
        let request = v.request_id.as_deref().map(|r| (v.tenant.as_str(), r));
        if current.get(&lead).copied() != q.expected_revision {
            results.push(Err(StorageError::LeadChanged));
        } else if request.is_some_and(|r| taken.contains(&r)) {
            results.push(Err(StorageError::DuplicateRequest));
        } else {
            current.insert(lead, v.seq);
            taken.extend(request);
            accepted.push(q);
            results.push(Ok(()));
        }
    }
    if !accepted.is_empty() {
        write_qualifications(&mut tx, &accepted).await?;
    }
    tx.commit().await?;
    Ok(results)
}

/// What one accepted qualification writes, prepared once for its lead, its
/// verdict and its signal rows.
struct Prepared<'a> {
    q: &'a NewQualification,
    /// The merged facts as stored, for the lead and the verdict alike.
    facts: String,
    at: String,
    signals: Vec<SignalRow>,
    signals_json: String,
}

/// Leads or verdicts per statement, largest first (9 and 14 values a row).
const ROW_CHUNKS: [usize; 3] = [16, 4, 1];

/// Signal rows per statement, largest first (12 values a row; SQLite takes
/// up to 32,766 per statement): 16 qualifications, 4, 1.
const SIGNAL_CHUNKS: [usize; 3] = [16 * 21, 4 * 21, 21];

/// `rows` cut into pieces of the given sizes, largest first (the last may be
/// smaller than all), so that every statement written for a piece has one of
/// a few shapes and stays prepared whatever the group's size.
fn fixed_chunks<T>(mut rows: &[T], sizes: [usize; 3]) -> Vec<&[T]> {
    let mut chunks = Vec::new();
    while !rows.is_empty() {
        let n = sizes
            .into_iter()
            .find(|&n| n <= rows.len())
            .unwrap_or(rows.len());
        let (chunk, rest) = rows.split_at(n);
        chunks.push(chunk);
        rows = rest;
    }
    chunks
}

/// Writes accepted qualifications: leads, verdicts and signals, each in a few
/// multi-row statements. Rows are bound as plain values: passing them as a
/// JSON array would make SQLite parse each row once per column.
async fn write_qualifications(
    tx: &mut Transaction<'_, Sqlite>,
    accepted: &[&NewQualification],
) -> anyhow::Result<()> {
    let prepared: Vec<Prepared> = accepted
        .iter()
        .map(|q| {
            let signals = codec::signal_rows(&q.verdict);
            Prepared {
                q,
                facts: q.verdict.facts.to_json(),
                at: codec::ts_to_text(q.verdict.evaluated_at),
                signals_json: codec::signals_json(&signals),
                signals,
            }
        })
        .collect();

    for chunk in fixed_chunks(&prepared, ROW_CHUNKS) {
        let mut upsert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO leads (tenant, lead_id, stage, facts, revision, latest_verdict_id, \
             latest_outcome, created_at, updated_at) ",
        );
        upsert.push_values(chunk, |mut b, p| {
            let v = &p.q.verdict;
            b.push_bind(v.tenant.as_str())
                .push_bind(v.lead_id.as_str())
                .push_bind(p.q.stage.code())
                .push_bind(p.facts.as_str())
                .push_bind(v.seq)
                .push_bind(v.verdict_id.as_str())
                .push_bind(v.evaluation.outcome.code())
                .push_bind(p.at.as_str())
                .push_bind(p.at.as_str());
        });
        upsert.push(
            " ON CONFLICT (tenant, lead_id) DO UPDATE SET stage = excluded.stage, \
             facts = excluded.facts, revision = excluded.revision, \
             latest_verdict_id = excluded.latest_verdict_id, \
             latest_outcome = excluded.latest_outcome, updated_at = excluded.updated_at",
        );
        upsert.build().execute(&mut **tx).await?;
    }
    for chunk in fixed_chunks(&prepared, ROW_CHUNKS) {
        let mut insert = QueryBuilder::<Sqlite>::new(format!(
            "INSERT INTO verdicts ({VERDICT_COLUMNS}, signals_json) "
        ));
        insert.push_values(chunk, |mut b, p| {
            let v = &p.q.verdict;
            b.push_bind(v.verdict_id.as_str())
                .push_bind(v.tenant.as_str())
                .push_bind(v.lead_id.as_str())
                .push_bind(v.seq)
                .push_bind(v.evaluation.stage.code())
                .push_bind(v.evaluation.outcome.code())
                .push_bind(v.evaluation.score)
                .push_bind(v.profile_version)
                .push_bind(p.facts.as_str())
                .push_bind(v.facts_hash.as_str())
                .push_bind(v.request_id.as_deref())
                .push_bind(p.at.as_str())
                .push_bind(v.evaluation_date.to_string())
                .push_bind(p.signals_json.as_str());
        });
        insert.build().execute(&mut **tx).await?;
    }
    let signals: Vec<(&Prepared, Stage, &SignalRow)> = prepared
        .iter()
        .flat_map(|p| {
            let stages = p.q.verdict.evaluation.signals.iter().map(|s| s.stage());
            stages
                .zip(&p.signals)
                .map(move |(stage, row)| (p, stage, row))
        })
        .collect();
    for chunk in fixed_chunks(&signals, SIGNAL_CHUNKS) {
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO signals (verdict_id, tenant, lead_id, criterion, stage, status, \
             weight, knockout, evidence, remedy, missing_facts, evaluated_at) ",
        );
        insert.push_values(chunk, |mut b, (p, stage, row)| {
            let v = &p.q.verdict;
            b.push_bind(v.verdict_id.as_str())
                .push_bind(v.tenant.as_str())
                .push_bind(v.lead_id.as_str())
                .push_bind(row.criterion.as_str())
                .push_bind(stage.code())
                .push_bind(row.status.as_str())
                .push_bind(row.weight)
                .push_bind(row.knockout)
                .push_bind(row.evidence.as_str())
                .push_bind(row.remedy.as_str())
                .push_bind(row.missing_facts.as_str())
                .push_bind(p.at.as_str());
        });
        insert.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// Read connections of a file database.
pub const READERS: usize = 4;

/// A fixed set of open connections, each lent to one caller at a time.
/// sqlx's own pool pings every connection handed back, one more round trip
/// to the connection's worker thread per query; this needs none: a
/// connection's worker runs its commands in order, and a transaction dropped
/// half way queues its own rollback.
struct Connections {
    idle: Mutex<Vec<SqliteConnection>>,
    available: Semaphore,
}

impl Connections {
    async fn open(options: &SqliteConnectOptions, count: usize) -> sqlx::Result<Arc<Self>> {
        let mut idle = Vec::with_capacity(count);
        for _ in 0..count {
            idle.push(SqliteConnection::connect_with(options).await?);
        }
        Ok(Arc::new(Connections {
            idle: Mutex::new(idle),
            available: Semaphore::new(count),
        }))
    }

    fn idle(&self) -> MutexGuard<'_, Vec<SqliteConnection>> {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits for a free connection.
    async fn get(&self) -> StorageResult<Lease<'_>> {
        let unavailable =
            || StorageError::Unavailable(anyhow::anyhow!("SQLite connections closed"));
        let permit = self.available.acquire().await.map_err(|_| unavailable())?;
        let connection = self.idle().pop().ok_or_else(unavailable)?;
        Ok(Lease {
            connections: self,
            connection: Some(connection),
            _permit: permit,
        })
    }
}

/// A connection on loan; it goes back when dropped.
struct Lease<'a> {
    connections: &'a Connections,
    /// Taken out only by `drop`.
    connection: Option<SqliteConnection>,
    _permit: SemaphorePermit<'a>,
}

impl Deref for Lease<'_> {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        self.connection
            .as_ref()
            .expect("a lease holds its connection until dropped")
    }
}

impl DerefMut for Lease<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.connection
            .as_mut()
            .expect("a lease holds its connection until dropped")
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        // Back before the permit is released (fields drop after this).
        if let Some(connection) = self.connection.take() {
            self.connections.idle().push(connection);
        }
    }
}

/// How often the WAL is copied back into the database file.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(250);

/// Checkpoints the WAL from a connection of its own, so that commits never
/// wait for a checkpoint (SQLite's automatic checkpoint runs inside the
/// commit that crosses the threshold). PASSIVE never blocks the writer or
/// readers.
async fn checkpointer(mut connection: SqliteConnection, mut stop: watch::Receiver<()>) {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            () = tokio::time::sleep(CHECKPOINT_INTERVAL) => {}
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&mut connection)
            .await
        {
            tracing::warn!(error = %e, "background WAL checkpoint failed");
        }
    }
    let _ = connection.close().await;
}
