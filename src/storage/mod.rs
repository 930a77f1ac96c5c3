//! Persistence of leads and of the records in [`crate::records`]: one trait,
//! [`Storage`], which the rest of the program sees. Its queries are written
//! once (`sql`), for a small dialect per backend (`dialect`); each backend
//! (SQLite, PostgreSQL) brings its own connections, migrations and tuned
//! write path for qualifications.

mod codec;
mod dialect;
pub mod metered;
pub mod notices;
pub mod postgres;
mod sql;
pub mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use tokio::sync::broadcast;

use self::notices::{Notice, NoticesDown};
use crate::domain::account::{ChurnStatus, LifecycleClass, Tier};
use crate::domain::{Facts, Outcome, Stage};
use crate::records::{
    ApiKeyRecord, AuditEvent, AuditKind, OverrideRecord, ProfileVersion, StoredLead,
    StoredLeadView, VerdictRecord,
};

/// Filters of the audit listing; `None` means any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub kind: Option<AuditKind>,
    pub lead_id: Option<String>,
}

/// What a qualification writes, all or nothing: the verdict, its signals and
/// the lead's merged facts.
#[derive(Clone, Debug)]
pub struct NewQualification {
    /// `None` when the lead did not exist when it was read.
    pub expected_revision: Option<i64>,
    pub verdict: VerdictRecord,
    pub stage: Stage,
}

/// Filters of a lead listing; `None` means any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeadFilter {
    pub stage: Option<Stage>,
    /// The latest verdict's outcome.
    pub outcome: Option<Outcome>,
    /// The outcome in force: the newest override's while it applies, else
    /// the latest verdict's.
    pub effective_outcome: Option<Outcome>,
    /// The latest verdict's lifecycle class, value tier and churn status.
    pub lifecycle_class: Option<LifecycleClass>,
    pub value_tier: Option<Tier>,
    pub churn_status: Option<ChurnStatus>,
}

/// A lead's stage and merged facts as stored, read in pages to re-evaluate
/// many leads; decoded by [`LeadFactsRow::decode`], which is CPU work best
/// done off the async runtime.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct LeadFactsRow {
    pub lead_id: String,
    pub stage: String,
    /// The facts as their stored JSON text.
    pub facts: String,
}

impl LeadFactsRow {
    pub fn decode(&self) -> StorageResult<(Stage, Facts)> {
        let stage = Stage::from_code(&self.stage).ok_or_else(|| {
            StorageError::Corrupt(anyhow::anyhow!(
                "lead {} has an unknown stored stage {:?}",
                self.lead_id,
                self.stage
            ))
        })?;
        let facts = Facts::from_json(&self.facts).map_err(|e| {
            StorageError::Corrupt(anyhow::anyhow!(
                "the stored facts of lead {} are unreadable: {e}",
                self.lead_id
            ))
        })?;
        Ok((stage, facts))
    }
}

/// Which leads signal statistics count: those whose latest verdict was
/// evaluated in `[start, end)` (from the start when `start` is `None`), at
/// `stage` when given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatsFilter {
    pub start: Option<Timestamp>,
    pub end: Timestamp,
    pub stage: Option<Stage>,
    /// Count the facts missing per criterion too: the costly part, which
    /// reads every unknown signal's row.
    pub missing_facts: bool,
}

/// Signal statistics as the database grouped them, by stored code.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignalStatsRows {
    /// Per criterion and status: leads, and of those the leads whose latest
    /// outcome is DISQUALIFIED and how many of these with the criterion a
    /// knockout.
    pub signals: Vec<(String, String, i64, i64, i64)>,
    /// Per criterion and fact: leads on which the criterion was unknown for
    /// want of the fact.
    pub missing_facts: Vec<(String, String, i64)>,
    /// Per stage and outcome: leads.
    pub outcomes: Vec<(String, String, i64)>,
}

/// What storage can fail with. The expected failures are variants; a stored
/// row that cannot be read is `Corrupt`; anything else is `Unavailable` with
/// its cause.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The lead changed since it was read (another qualification won).
    #[error("the lead was changed concurrently")]
    LeadChanged,
    /// The request id was already used by a stored verdict.
    #[error("the request id was already used")]
    DuplicateRequest,
    /// The profile version already exists (another update won).
    #[error("the profile version already exists")]
    ProfileVersionTaken,
    /// A stored row cannot be read back: retrying will not help.
    #[error("a stored record is unreadable: {0:#}")]
    Corrupt(anyhow::Error),
    #[error("storage failed: {0:#}")]
    Unavailable(#[from] anyhow::Error),
    /// The database does not answer its probe: failed without trying.
    #[error("the database is unreachable")]
    Down,
}

impl From<sqlx::Error> for StorageError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                StorageError::Corrupt(err.into())
            }
            other => StorageError::Unavailable(other.into()),
        }
    }
}

pub type StorageResult<T> = Result<T, StorageError>;

/// Connections a storage holds: idle, in use, and the most it will hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolUsage {
    pub idle: usize,
    pub in_use: usize,
    pub max: usize,
}

impl std::ops::Add for PoolUsage {
    type Output = PoolUsage;

    fn add(self, other: PoolUsage) -> PoolUsage {
        PoolUsage {
            idle: self.idle + other.idle,
            in_use: self.in_use + other.in_use,
            max: self.max + other.max,
        }
    }
}

/// The storage the application runs on: leads, verdicts and profiles; keys,
/// overrides and the audit trail.
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// The lead with its merged facts, if it was ever qualified.
    async fn get_lead(&self, tenant: &str, lead_id: &str) -> StorageResult<Option<StoredLead>>;

    /// What a qualification starts from, read together: the lead, if it
    /// was ever qualified, and the verdict already stored under
    /// `request_id`, if any (whichever lead it belongs to).
    async fn qualification_context(
        &self,
        tenant: &str,
        lead_id: &str,
        request_id: Option<&str>,
    ) -> StorageResult<(Option<StoredLead>, Option<VerdictRecord>)>;

    /// [`Storage::qualification_context`] of several leads of a tenant at
    /// once, in the order of `items` (lead id, request id).
    async fn qualification_contexts(
        &self,
        tenant: &str,
        items: &[(&str, Option<&str>)],
    ) -> StorageResult<Vec<(Option<StoredLead>, Option<VerdictRecord>)>>;

    /// The lead with its latest verdict and newest override, in one read.
    async fn get_lead_view(
        &self,
        tenant: &str,
        lead_id: &str,
    ) -> StorageResult<Option<StoredLeadView>>;

    /// Leads ordered by lead id, after `after` (exclusive), each with its
    /// latest verdict and newest override; an effective outcome is judged
    /// at `at`.
    async fn list_leads(
        &self,
        tenant: &str,
        filter: LeadFilter,
        at: Timestamp,
        after: Option<&str>,
        limit: i64,
    ) -> StorageResult<Vec<StoredLeadView>>;

    /// Leads as `list_leads` finds them, most recently qualified first, after
    /// the `(updated_at, lead_id)` of the previous page's last lead.
    async fn recent_leads(
        &self,
        tenant: &str,
        filter: LeadFilter,
        at: Timestamp,
        after: Option<(Timestamp, String)>,
        limit: i64,
    ) -> StorageResult<Vec<StoredLeadView>>;

    /// The stage and merged facts of up to `limit` leads of the tenant, by
    /// lead id, after `after` (exclusive): one page of a walk through every
    /// stored lead.
    async fn lead_facts_page(
        &self,
        tenant: &str,
        after: Option<&str>,
        limit: i64,
    ) -> StorageResult<Vec<LeadFactsRow>>;

    /// Counts over the signals and outcomes of the latest verdict of each
    /// lead that `filter` selects, grouped in the database, read from one
    /// snapshot.
    async fn signal_stats(
        &self,
        tenant: &str,
        filter: StatsFilter,
    ) -> StorageResult<SignalStatsRows>;

    /// Stores a verdict with its signals and the lead's merged facts in one
    /// transaction. Fails with `LeadChanged` when the lead's revision is not
    /// `expected_revision`, and `DuplicateRequest` when the request id is
    /// taken; nothing is stored then. Returns the stored verdict.
    async fn commit_qualification(
        &self,
        qualification: NewQualification,
    ) -> StorageResult<VerdictRecord>;

    /// Stores several qualifications, of distinct leads and request ids, in
    /// one transaction: each is stored or refused on its own (the refusals of
    /// [`Storage::commit_qualification`]), in the order given. An `Err` of
    /// the whole means nothing of the batch was stored.
    async fn commit_qualifications(
        &self,
        batch: Vec<NewQualification>,
    ) -> StorageResult<Vec<StorageResult<VerdictRecord>>>;

    async fn get_verdict(
        &self,
        tenant: &str,
        verdict_id: &str,
    ) -> StorageResult<Option<VerdictRecord>>;

    async fn find_verdict_by_request(
        &self,
        tenant: &str,
        request_id: &str,
    ) -> StorageResult<Option<VerdictRecord>>;

    /// The tenant's verdicts whose id sorts after `after` (exclusive), in id
    /// order (verdict ids are UUIDv7: time order), of `outcome` only when
    /// given.
    async fn verdicts_after(
        &self,
        tenant: &str,
        outcome: Option<Outcome>,
        after: &str,
        limit: i64,
    ) -> StorageResult<Vec<VerdictRecord>>;

    /// A notice of every verdict stored from now on, by this process or, on
    /// PostgreSQL, by any other sharing the database; refused while such
    /// notices may be lost.
    fn verdict_notices(&self) -> Result<broadcast::Receiver<Notice>, NoticesDown>;

    /// Whether the database answers, kept current by a probe: `false` while
    /// it is unreachable, when calls needing it fail at once.
    fn reachability(&self) -> tokio::sync::watch::Receiver<bool>;

    /// A lead's verdicts, newest first, with `seq` below `before` (exclusive).
    async fn list_verdicts(
        &self,
        tenant: &str,
        lead_id: &str,
        before: Option<i64>,
        limit: i64,
    ) -> StorageResult<Vec<VerdictRecord>>;

    /// The tenant's newest profile version.
    async fn current_profile(&self, tenant: &str) -> StorageResult<Option<ProfileVersion>>;

    async fn get_profile(
        &self,
        tenant: &str,
        version: i64,
    ) -> StorageResult<Option<ProfileVersion>>;

    /// Stores a new version, and its audit event in the same transaction;
    /// `ProfileVersionTaken` when the version exists already.
    async fn insert_profile(
        &self,
        profile: &ProfileVersion,
        audit: Option<&AuditEvent>,
    ) -> StorageResult<()>;

    /// Profile versions, newest first, below `before` (exclusive).
    async fn list_profiles(
        &self,
        tenant: &str,
        before: Option<i64>,
        limit: i64,
    ) -> StorageResult<Vec<ProfileVersion>>;

    /// A key by its public id, in any tenant (ids are unique).
    async fn find_api_key(&self, key_id: &str) -> StorageResult<Option<ApiKeyRecord>>;

    /// Whether any tenant has a key that is not revoked.
    async fn any_active_api_key(&self) -> StorageResult<bool>;

    /// How many keys were ever created plus how many were revoked: keys are
    /// never deleted nor un-revoked, so this grows with every change to the
    /// set of active keys, whoever made it.
    async fn api_key_changes(&self) -> StorageResult<i64>;

    async fn insert_api_key(&self, key: &ApiKeyRecord, audit: &AuditEvent) -> StorageResult<()>;

    /// Marks the key revoked at `at`; false when it was not active.
    async fn revoke_api_key(
        &self,
        tenant: &str,
        key_id: &str,
        at: Timestamp,
        audit: &AuditEvent,
    ) -> StorageResult<bool>;

    async fn touch_api_key(&self, key_id: &str, at: Timestamp) -> StorageResult<()>;

    /// A tenant's keys, newest first, after the (created_at, key_id) cursor.
    async fn list_api_keys(
        &self,
        tenant: &str,
        show_revoked: bool,
        after: Option<(Timestamp, String)>,
        limit: i64,
    ) -> StorageResult<Vec<ApiKeyRecord>>;

    async fn insert_override(
        &self,
        record: &OverrideRecord,
        audit: &AuditEvent,
    ) -> StorageResult<()>;

    /// Withdraws the override `override_id` at `at`, with its audit event;
    /// false when it was withdrawn already.
    async fn clear_override(
        &self,
        tenant: &str,
        override_id: &str,
        at: Timestamp,
        audit: &AuditEvent,
    ) -> StorageResult<bool>;

    /// Overrides, newest first, after the (created_at, override_id) cursor;
    /// those of `lead_id` only when given.
    async fn list_overrides(
        &self,
        tenant: &str,
        lead_id: Option<&str>,
        after: Option<(Timestamp, String)>,
        limit: i64,
    ) -> StorageResult<Vec<OverrideRecord>>;

    /// Audit events, newest first, with `seq` below `before`.
    async fn list_audit_events(
        &self,
        tenant: &str,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: i64,
    ) -> StorageResult<Vec<AuditEvent>>;

    /// The database connections held now, for the pool gauges.
    fn pool_usage(&self) -> PoolUsage;
}

/// Brings the schema of the database named by `database_url` (as for
/// [`connect`]) up to date and closes it again; nothing else is started.
/// Safe to run from several processes at once: each migration is applied
/// once, the others wait for it and then find nothing left to do.
pub async fn migrate(database_url: &str) -> anyhow::Result<()> {
    if is_postgres(database_url) {
        postgres::migrate(database_url).await
    } else {
        sqlite::migrate(database_url).await
    }
}

/// The newest schema version of the backend of `database_url`.
pub fn schema_version(database_url: &str) -> i64 {
    let migrator = if is_postgres(database_url) {
        &postgres::MIGRATOR
    } else {
        &sqlite::MIGRATOR
    };
    migrator.iter().map(|m| m.version).max().unwrap_or(0)
}

fn is_postgres(database_url: &str) -> bool {
    database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")
}

/// Opens the storage named by `database_url` and runs its migrations:
/// `postgres://…` / `postgresql://…` for PostgreSQL, `sqlite://PATH`,
/// `sqlite::memory:` or a plain file path for SQLite.
pub async fn connect(database_url: &str) -> anyhow::Result<Arc<dyn Storage>> {
    connect_waiting(database_url, Duration::ZERO).await
}

/// [`connect`], waiting up to `wait` for a database server to answer.
pub async fn connect_waiting(
    database_url: &str,
    wait: Duration,
) -> anyhow::Result<Arc<dyn Storage>> {
    if is_postgres(database_url) {
        Ok(Arc::new(sql::SqlStorage::new(
            postgres::PostgresBackend::connect(database_url, wait).await?,
        )))
    } else {
        Ok(Arc::new(sql::SqlStorage::new(
            sqlite::SqliteBackend::connect(database_url).await?,
        )))
    }
}
