//! PostgreSQL backend, for production and for several replicas sharing one
//! database. Concurrent qualifications of one lead are serialised by the
//! lead's revision (optimistic concurrency), so no row locks are held while
//! the engine runs.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::postgres::PgPoolOptions;
use sqlx::{FromRow, PgPool, Postgres, QueryBuilder, Row, Transaction};

use super::codec::{self, ApiKeyRow, AuditRow, LeadRow, LeadViewRow, ProfileRow};
use super::{
    AccessStorage, ApiKeyRecord, AuditEvent, AuditFilter, LeadFilter, NewQualification,
    OverrideRecord, ProfileVersion, Storage, StorageError, StorageResult, StoredLead,
    StoredLeadView, VerdictRecord,
};

/// Storage on a PostgreSQL database.
pub struct PostgresStorage {
    pool: PgPool,
}

/// Selects a TIMESTAMPTZ column as the fixed-width text the codec reads.
macro_rules! ts {
    ($column:literal) => {
        concat!(
            "to_char(",
            $column,
            " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS ",
            $column
        )
    };
}

const LEAD_COLUMNS: &str = concat!(
    "tenant, lead_id, stage, facts::text AS facts, revision, latest_verdict_id, latest_outcome, ",
    ts!("created_at"),
    ", ",
    ts!("updated_at")
);
/// A verdict of `verdicts AS v` as one JSON document; its signals come
/// beside it from its `signals_json` column (see `codec::verdict_from_json`).
macro_rules! verdict_json {
    () => {
        concat!(
            "json_build_object(",
            verdict_fields!(),
            ", 'facts', v.facts::text)::text"
        )
    };
}

/// The fields of a verdict document but its facts. A lead's facts are
/// stored with its latest verdict, so a lead view takes them from the lead
/// rather than copy and parse them twice.
macro_rules! verdict_fields {
    () => {
        "'verdict_id', v.verdict_id, 'tenant', v.tenant, \
         'lead_id', v.lead_id, 'seq', v.seq, 'stage', v.stage, 'outcome', v.outcome, \
         'score', v.score, 'profile_version', v.profile_version, \
         'facts_hash', v.facts_hash, 'request_id', v.request_id, \
         'evaluated_at', to_char(v.evaluated_at AT TIME ZONE 'UTC', \
             'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), \
         'evaluation_date', v.evaluation_date::text"
    };
}

/// The lead's columns, then its latest verdict, that verdict's signals and
/// its newest override as JSON (`codec::LeadViewRow`), for `FROM leads`.
macro_rules! lead_view_columns {
    () => {
        concat!(
            "tenant, lead_id, stage, facts::text AS facts, revision, latest_verdict_id, \
             latest_outcome, \
             to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') \
                 AS created_at, \
             to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') \
                 AS updated_at, \
             (SELECT json_build_object(",
            verdict_fields!(),
            ")::text",
            " FROM verdicts AS v WHERE v.verdict_id = leads.latest_verdict_id) \
                 AS latest_verdict, ",
            "(SELECT v.signals_json FROM verdicts AS v \
                  WHERE v.verdict_id = leads.latest_verdict_id) AS latest_signals, \
             (SELECT json_build_object('override_id', o.override_id, 'tenant', o.tenant, \
                     'lead_id', o.lead_id, 'outcome', o.outcome, 'reason', o.reason, \
                     'author', o.author, 'actor', o.actor, 'verdict_id', o.verdict_id, \
                     'created_at', to_char(o.created_at AT TIME ZONE 'UTC', \
                         'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), \
                     'expires_at', to_char(o.expires_at AT TIME ZONE 'UTC', \
                         'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'))::text \
              FROM overrides AS o WHERE o.tenant = leads.tenant AND o.lead_id = leads.lead_id \
              ORDER BY o.created_at DESC, o.override_id DESC LIMIT 1) AS latest_override"
        )
    };
}

const PROFILE_COLUMNS: &str = concat!("tenant, version, body::text AS body, ", ts!("created_at"));

impl PostgresStorage {
    /// Connects to `url` and runs the migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            // A ping per checkout doubled the round trips of every query.
            .test_before_acquire(false)
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .context("cannot connect to PostgreSQL")?;
        sqlx::migrate!("migrations/postgres")
            .run(&pool)
            .await
            .context("cannot migrate the PostgreSQL database")?;
        Ok(Self { pool })
    }

    /// The verdict whose `column` (`verdict_id` or `request_id`) is `value`.
    async fn verdict_where(
        &self,
        tenant: &str,
        column: &'static str,
        value: &str,
    ) -> StorageResult<Option<VerdictRecord>> {
        let row: Option<(String, String)> = sqlx::query_as(&format!(
            "SELECT {}, v.signals_json FROM verdicts AS v WHERE v.tenant = $1 AND v.{column} = $2",
            verdict_json!()
        ))
        .bind(tenant)
        .bind(value)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|(verdict, signals)| codec::verdict_from_json(&verdict, &signals))
            .transpose()?)
    }
}

#[async_trait]
impl Storage for PostgresStorage {
    async fn get_lead(&self, tenant: &str, lead_id: &str) -> StorageResult<Option<StoredLead>> {
        let row: Option<LeadRow> = sqlx::query_as(&format!(
            "SELECT {LEAD_COLUMNS} FROM leads WHERE tenant = $1 AND lead_id = $2"
        ))
        .bind(tenant)
        .bind(lead_id)
        .fetch_optional(&self.pool)
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
                     WHERE tenant = $1 AND request_id = $3) AS replay_id, {LEAD_COLUMNS} \
             FROM (SELECT 1) AS one LEFT JOIN leads ON tenant = $1 AND lead_id = $2"
        ))
        .bind(tenant)
        .bind(lead_id)
        .bind(request_id)
        .fetch_one(&self.pool)
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
            " FROM leads WHERE tenant = $1 AND lead_id = $2"
        ))
        .bind(tenant)
        .bind(lead_id)
        .fetch_optional(&self.pool)
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
        let mut query = QueryBuilder::<Postgres>::new(concat!(
            "SELECT ",
            lead_view_columns!(),
            " FROM leads WHERE tenant = "
        ));
        super::push_lead_page(&mut query, tenant, filter, after, limit);
        let rows: Vec<LeadViewRow> = query.build_query_as().fetch_all(&self.pool).await?;
        Ok(rows
            .into_iter()
            .map(StoredLeadView::try_from)
            .collect::<anyhow::Result<_>>()?)
    }

    async fn commit_qualification(&self, q: NewQualification) -> StorageResult<VerdictRecord> {
        let v = &q.verdict;
        let evaluated_at = codec::ts_to_text(v.evaluated_at);
        let facts = v.facts.to_json();
        let rows = codec::signal_rows(v);
        let stages: Vec<&str> = v
            .evaluation
            .signals
            .iter()
            .map(|s| s.stage().code())
            .collect();
        // One statement, so one round trip and atomic without BEGIN/COMMIT.
        // The verdict goes in only while the lead is still at the revision
        // it was read at; its seq (revision + 1) is unique per lead, so of
        // two concurrent qualifications of a lead one inserts and the other
        // inserts nothing (ON CONFLICT DO NOTHING also covers a request id
        // already taken). The lead and the signals are written only from
        // the inserted verdict. Should the lead nevertheless not follow, the
        // last line fails the whole statement (a text cast to bigint, in a
        // subquery so that the planner cannot fold it into a constant)
        // rather than keep a verdict the lead does not point to.
        let (stored,): (i64,) = sqlx::query_as(
            "WITH v AS ( \
                 INSERT INTO verdicts (verdict_id, tenant, lead_id, seq, stage, outcome, score, \
                     profile_version, facts, facts_hash, request_id, evaluated_at, \
                     evaluation_date, signals_json) \
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, \
                     $12::timestamptz, $13::date, $24 \
                 WHERE (SELECT revision FROM leads WHERE tenant = $2 AND lead_id = $3) \
                     IS NOT DISTINCT FROM $14::bigint \
                 ON CONFLICT DO NOTHING \
                 RETURNING verdict_id), \
             l AS ( \
                 INSERT INTO leads (tenant, lead_id, stage, facts, revision, latest_verdict_id, \
                     latest_outcome, created_at, updated_at) \
                 SELECT $2, $3, $15, $9::jsonb, $4, $1, $6, $12::timestamptz, \
                     $12::timestamptz FROM v \
                 ON CONFLICT (tenant, lead_id) DO UPDATE SET stage = EXCLUDED.stage, \
                     facts = EXCLUDED.facts, revision = EXCLUDED.revision, \
                     latest_verdict_id = EXCLUDED.latest_verdict_id, \
                     latest_outcome = EXCLUDED.latest_outcome, updated_at = EXCLUDED.updated_at \
                     WHERE leads.revision = $14::bigint \
                 RETURNING 1), \
             s AS ( \
                 INSERT INTO signals (verdict_id, tenant, lead_id, criterion, stage, status, \
                     weight, knockout, evidence, remedy, missing_facts, evaluated_at) \
                 SELECT v.verdict_id, $2, $3, c, st, ss, w, k, e, r, m::jsonb, \
                     $12::timestamptz \
                 FROM v, UNNEST($16::text[], $17::text[], $18::text[], $19::int4[], \
                     $20::bool[], $21::text[], $22::text[], $23::text[]) \
                     AS t(c, st, ss, w, k, e, r, m)) \
             SELECT CASE WHEN (SELECT count(*) FROM v) = (SELECT count(*) FROM l) \
                 THEN (SELECT count(*) FROM v) \
                 ELSE (SELECT ('lead ' || $3 || ' did not take verdict ' || verdict_id)::bigint \
                     FROM v) END",
        )
        .bind(&v.verdict_id)
        .bind(&v.tenant)
        .bind(&v.lead_id)
        .bind(v.seq)
        .bind(v.evaluation.stage.code())
        .bind(v.evaluation.outcome.code())
        .bind(v.evaluation.score)
        .bind(v.profile_version)
        .bind(&facts)
        .bind(&v.facts_hash)
        .bind(&v.request_id)
        .bind(&evaluated_at)
        .bind(v.evaluation_date.to_string())
        .bind(q.expected_revision)
        .bind(q.stage.code())
        .bind(
            rows.iter()
                .map(|r| r.criterion.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(&stages)
        .bind(rows.iter().map(|r| r.status.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.weight).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.knockout).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.evidence.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.remedy.as_str()).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|r| r.missing_facts.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(codec::signals_json(&rows))
        .fetch_one(&self.pool)
        .await?;
        if stored == 1 {
            return Ok(q.verdict);
        }
        // Nothing was written: tell a taken request id from a moved lead.
        let taken =
            match &v.request_id {
                Some(request_id) => sqlx::query_scalar::<_, bool>(
                    "SELECT EXISTS (SELECT 1 FROM verdicts WHERE tenant = $1 AND request_id = $2)",
                )
                .bind(&v.tenant)
                .bind(request_id)
                .fetch_one(&self.pool)
                .await?,
                None => false,
            };
        Err(if taken {
            StorageError::DuplicateRequest
        } else {
            StorageError::LeadChanged
        })
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
             WHERE v.tenant = $1 AND v.lead_id = $2 AND v.seq < $3 ORDER BY v.seq DESC LIMIT $4"
        ))
        .bind(tenant)
        .bind(lead_id)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|(verdict, signals)| codec::verdict_from_json(verdict, signals))
            .collect::<anyhow::Result<_>>()?)
    }

    async fn current_profile(&self, tenant: &str) -> StorageResult<Option<ProfileVersion>> {
        let row: Option<ProfileRow> = sqlx::query_as(&format!(
            "SELECT {PROFILE_COLUMNS} FROM profiles WHERE tenant = $1 \
             ORDER BY version DESC LIMIT 1"
        ))
        .bind(tenant)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(ProfileVersion::try_from).transpose()?)
    }

    async fn get_profile(
        &self,
        tenant: &str,
        version: i64,
    ) -> StorageResult<Option<ProfileVersion>> {
        let row: Option<ProfileRow> = sqlx::query_as(&format!(
            "SELECT {PROFILE_COLUMNS} FROM profiles WHERE tenant = $1 AND version = $2"
        ))
        .bind(tenant)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(ProfileVersion::try_from).transpose()?)
    }

    async fn insert_profile(
        &self,
        profile: &ProfileVersion,
        audit: Option<&AuditEvent>,
    ) -> StorageResult<()> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO profiles (tenant, version, body, created_at) \
             VALUES ($1, $2, $3::jsonb, $4::timestamptz) ON CONFLICT DO NOTHING",
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
        let rows: Vec<ProfileRow> = sqlx::query_as(&format!(
            "SELECT {PROFILE_COLUMNS} FROM profiles WHERE tenant = $1 AND version < $2 \
             ORDER BY version DESC LIMIT $3"
        ))
        .bind(tenant)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(ProfileVersion::try_from)
            .collect::<anyhow::Result<_>>()?)
    }
}

const KEY_COLUMNS: &str = concat!(
    "key_id, tenant, secret_hash, roles, description, ",
    ts!("created_at"),
    ", ",
    ts!("last_used_at"),
    ", ",
    ts!("revoked_at")
);
const AUDIT_COLUMNS: &str = concat!(
    "seq, event_id, tenant, kind, actor, lead_id, subject, before_json, after_json, ",
    ts!("created_at")
);

async fn insert_audit(tx: &mut Transaction<'_, Postgres>, e: &AuditEvent) -> StorageResult<()> {
    sqlx::query(
        "INSERT INTO audit_events (event_id, tenant, kind, actor, lead_id, subject, before_json, \
         after_json, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::timestamptz)",
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
impl AccessStorage for PostgresStorage {
    async fn find_api_key(&self, key_id: &str) -> StorageResult<Option<ApiKeyRecord>> {
        let row: Option<ApiKeyRow> = sqlx::query_as(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE key_id = $1"
        ))
        .bind(key_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(ApiKeyRecord::try_from).transpose()?)
    }

    async fn any_active_api_key(&self) -> StorageResult<bool> {
        let found: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1")
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }

    async fn api_key_changes(&self) -> StorageResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT count(*) + count(revoked_at) FROM api_keys")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn insert_api_key(&self, key: &ApiKeyRecord, audit: &AuditEvent) -> StorageResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO api_keys (key_id, tenant, secret_hash, roles, description, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6::timestamptz)",
        )
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
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1::timestamptz \
             WHERE tenant = $2 AND key_id = $3 AND revoked_at IS NULL",
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
        sqlx::query("UPDATE api_keys SET last_used_at = $1::timestamptz WHERE key_id = $2")
            .bind(codec::ts_to_text(at))
            .bind(key_id)
            .execute(&self.pool)
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
        let mut query = QueryBuilder::<Postgres>::new(format!(
            "SELECT {KEY_COLUMNS} FROM api_keys AS k WHERE tenant = "
        ));
        query.push_bind(tenant);
        if !show_revoked {
            query.push(" AND k.revoked_at IS NULL");
        }
        if let Some((created_at, key_id)) = after {
            query
                .push(" AND (k.created_at, k.key_id) < (")
                .push_bind(codec::ts_to_text(created_at))
                .push("::timestamptz, ")
                .push_bind(key_id)
                .push(")");
        }
        query
            .push(" ORDER BY k.created_at DESC, k.key_id DESC LIMIT ")
            .push_bind(limit);
        let rows: Vec<ApiKeyRow> = query.build_query_as().fetch_all(&self.pool).await?;
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
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO overrides (override_id, tenant, lead_id, outcome, reason, author, actor, \
             verdict_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::timestamptz, $10::timestamptz)",
        )
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
        let mut query = QueryBuilder::<Postgres>::new(format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE tenant = "
        ));
        super::push_audit_page(&mut query, tenant, filter, before, limit);
        let rows: Vec<AuditRow> = query.build_query_as().fetch_all(&self.pool).await?;
        Ok(rows
            .into_iter()
            .map(AuditEvent::try_from)
            .collect::<anyhow::Result<_>>()?)
    }
}
