//! The queries of [`Storage`], written once for both backends, in the
//! backend's [`Dialect`]; each backend brings its connections and its own
//! write path for qualifications ([`Backend`]).

use std::collections::HashMap;

use async_trait::async_trait;
use jiff::Timestamp;
use sqlx::Connection;
use tokio::sync::broadcast;

use super::codec::{self, LeadViewRow, VerdictRow, decode, decode_doc};
use super::dialect::{Backend, Dialect, Statement, StoredRow};
use super::notices::{Notice, NoticesDown};
use super::{
    AuditFilter, LeadFactsRow, LeadFilter, NewQualification, PoolUsage, SignalStatsRows,
    StatsFilter, Storage, StorageError, StorageResult,
};
use crate::domain::{Criterion, Outcome};
use crate::records::{
    ApiKeyRecord, AuditEvent, OverrideRecord, ProfileVersion, StoredLead, StoredLeadView,
    VerdictRecord, roles_to_text,
};

/// [`Storage`] on a backend.
pub struct SqlStorage<B> {
    backend: B,
    columns: Columns,
}

/// The select lists of the queries, rendered once for the backend's dialect.
struct Columns {
    /// A lead as one JSON document.
    lead: String,
    /// A lead, then its latest verdict, that verdict's signals and its newest
    /// override as JSON (`codec::LeadViewRow`), for `FROM leads`.
    lead_view: String,
    /// A verdict of `verdicts AS v` as one JSON document beside its signals
    /// (`codec::VerdictRow`).
    verdict: String,
    /// Overrides (`overrides AS o`), profile versions, keys and audit events
    /// as one JSON document each.
    overrides: String,
    profile: String,
    key: String,
    audit: String,
}

/// `'column', column, …` of `columns` (comma-separated) for a JSON document
/// of a row; a column named `…_at` is a timestamp.
fn pairs<DB: Dialect>(prefix: &str, columns: &str) -> String {
    let value = |column: &str| match column.ends_with("_at") {
        true => DB::timestamp(&format!("{prefix}{column}")),
        false => format!("{prefix}{column}"),
    };
    let pairs: Vec<String> = columns
        .split(", ")
        .map(|c| format!("'{c}', {}", value(c)))
        .collect();
    pairs.join(", ")
}

/// The fields of a verdict document but its facts. A lead's facts are stored
/// with its latest verdict, so a lead view takes them from the lead rather
/// than copy and parse them twice.
fn verdict_fields<DB: Dialect>() -> String {
    let fields = "verdict_id, tenant, lead_id, seq, stage, outcome, score, profile_version, \
                  facts_hash, request_id, evaluated_at";
    let date = DB::text("v.evaluation_date");
    let account = DB::text("v.account_json");
    format!(
        "{}, 'evaluation_date', {date}, 'account', {account}",
        pairs::<DB>("v.", fields)
    )
}

impl Columns {
    fn of<DB: Dialect>() -> Columns {
        let doc = |json: &str| format!("{json} AS doc");
        let lead = DB::json_object(&format!(
            "{}, 'facts', {}",
            pairs::<DB>(
                "leads.",
                "tenant, lead_id, stage, revision, latest_verdict_id, latest_outcome, \
                 created_at, updated_at"
            ),
            DB::json("leads.facts")
        ));
        let latest_override = DB::json_object(&pairs::<DB>(
            "o.",
            "override_id, tenant, lead_id, outcome, reason, author, actor, verdict_id, \
             created_at, expires_at, cleared_at",
        ));
        let lead_view = format!(
            "{lead} AS lead, \
             (SELECT {} FROM verdicts AS v WHERE v.verdict_id = leads.latest_verdict_id) \
                 AS latest_verdict, \
             (SELECT v.signals_json FROM verdicts AS v \
                 WHERE v.verdict_id = leads.latest_verdict_id) AS latest_signals, \
             (SELECT {latest_override} FROM overrides AS o \
                 WHERE o.tenant = leads.tenant AND o.lead_id = leads.lead_id \
                 ORDER BY o.created_at DESC, o.override_id DESC LIMIT 1) AS latest_override",
            DB::json_object(&verdict_fields::<DB>()),
        );
        let verdict_doc = format!(
            "{}, 'facts', {}",
            verdict_fields::<DB>(),
            DB::text("v.facts")
        );
        Columns {
            lead: doc(&lead),
            lead_view,
            overrides: doc(&latest_override),
            verdict: format!(
                "{} AS verdict, v.signals_json AS signals",
                DB::json_object(&verdict_doc)
            ),
            profile: doc(&DB::json_object(&format!(
                "{}, 'profile', {}",
                pairs::<DB>("", "tenant, version, created_at"),
                DB::json("body")
            ))),
            key: doc(&DB::json_object(&pairs::<DB>(
                "",
                "key_id, tenant, secret_hash, roles, description, created_at, last_used_at, \
                 revoked_at",
            ))),
            audit: doc(&DB::json_object(&pairs::<DB>(
                "",
                "seq, event_id, tenant, kind, actor, lead_id, subject, before_json, after_json, \
                 created_at",
            ))),
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

    /// `SELECT columns FROM table WHERE tenant = ` with the tenant bound.
    fn select<'q>(columns: &str, table: &str, tenant: &'q str) -> Statement<'q, B::Db> {
        let mut query = Statement::new("SELECT ");
        query.push(columns).push(" FROM ").push(table);
        query.push(" WHERE tenant = ").bind(tenant);
        query
    }

    /// The record read by `query`, if any, decoded from its row.
    async fn read_one<R: StoredRow, T>(
        &self,
        query: Statement<'_, B::Db>,
        decode: fn(R) -> StorageResult<T>,
    ) -> StorageResult<Option<T>> {
        let row: Option<R> = query
            .fetch_optional(&mut *self.backend.reader().await?)
            .await?;
        row.map(decode).transpose()
    }

    /// The records read by `query`, decoded from their rows.
    async fn read_all<R: StoredRow, T>(
        &self,
        query: Statement<'_, B::Db>,
        decode: fn(R) -> StorageResult<T>,
    ) -> StorageResult<Vec<T>> {
        let rows: Vec<R> = query.fetch_all(&mut *self.backend.reader().await?).await?;
        rows.into_iter().map(decode).collect()
    }

    /// Runs `change` and records `audit` in one transaction; false, and
    /// nothing written, when `change` changed no row.
    async fn write(
        &self,
        change: Statement<'_, B::Db>,
        audit: Option<&AuditEvent>,
    ) -> StorageResult<bool> {
        let mut conn = self.backend.writer().await?;
        let mut tx = conn.begin_with(<B::Db as Dialect>::BEGIN_WRITE).await?;
        if change.execute(&mut *tx).await? == 0 {
            return Ok(false);
        }
        if let Some(event) = audit {
            insert_audit::<B::Db>(event).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Orders `query` newest first by the timestamp `column` and then `id`,
    /// after the `(column, id)` of the last row of the previous page.
    fn newest_first<'q>(
        query: &mut Statement<'q, B::Db>,
        column: &str,
        id: &str,
        after: Option<(Timestamp, String)>,
        limit: i64,
    ) {
        if let Some((at, last_id)) = after {
            let at = codec::ts_to_text(at);
            let ts = <B::Db as Dialect>::TIMESTAMP;
            query
                .push(" AND (")
                .push(column)
                .push(" < ")
                .bind(at.clone());
            query
                .push(ts)
                .push(" OR (")
                .push(column)
                .push(" = ")
                .bind(at);
            query.push(ts).push(" AND ").push(id).push(" < ");
            query.bind(last_id).push("))");
        }
        query.push(" ORDER BY ").push(column).push(" DESC, ");
        query.push(id).push(" DESC LIMIT ");
        query.bind(limit);
    }

    /// The verdict whose `column` (`verdict_id` or `request_id`) is `value`.
    async fn verdict_where(
        &self,
        tenant: &str,
        column: &str,
        value: &str,
    ) -> StorageResult<Option<VerdictRecord>> {
        let mut query = Self::select(&self.columns.verdict, "verdicts AS v", tenant);
        query.push(" AND v.").push(column).push(" = ").bind(value);
        self.read_one(query, decode::<VerdictRow, _>).await
    }
}

/// `FROM leads AS l JOIN verdicts AS v … WHERE …` for statistics over the
/// latest verdict `v` of each lead `l` that `filter` selects, restricted by
/// that verdict's evaluation time; `also` joins more FROM items (or is
/// empty), such as the verdict's signals `s`, read by `signals_by_verdict`.
fn latest_verdicts<'q, DB: Dialect>(
    query: &mut Statement<'q, DB>,
    also: &str,
    tenant: &'q str,
    filter: &StatsFilter,
) {
    query.push(" FROM leads AS l JOIN verdicts AS v ON v.verdict_id = l.latest_verdict_id");
    query.push(also);
    query.push(" WHERE l.tenant = ").bind(tenant);
    if let Some(start) = filter.start {
        query.push(" AND v.evaluated_at >= ");
        query.bind(codec::ts_to_text(start)).push(DB::TIMESTAMP);
    }
    query.push(" AND v.evaluated_at < ");
    query
        .bind(codec::ts_to_text(filter.end))
        .push(DB::TIMESTAMP);
    if let Some(stage) = filter.stage {
        query.push(" AND l.stage = ").bind(stage.code());
    }
}

/// ` AND …` of a lead listing's filters on `leads`; an effective outcome is
/// judged at `at`.
fn lead_filter<'q, DB: Dialect>(query: &mut Statement<'q, DB>, filter: LeadFilter, at: Timestamp) {
    if let Some(stage) = filter.stage {
        query.push(" AND stage = ").bind(stage.code());
    }
    if let Some(outcome) = filter.outcome {
        query.push(" AND latest_outcome = ").bind(outcome.code());
    }
    if let Some(class) = filter.lifecycle_class {
        query
            .push(" AND latest_lifecycle_class = ")
            .bind(class.code());
    }
    if let Some(tier) = filter.value_tier {
        query.push(" AND latest_value_tier = ").bind(tier.code());
    }
    if let Some(churn) = filter.churn_status {
        query.push(" AND latest_churn_status = ").bind(churn.code());
    }
    if let Some(outcome) = filter.effective_outcome {
        // The newest override decides while it applies; then the verdict.
        query.push(
            " AND COALESCE((SELECT CASE WHEN o.cleared_at IS NULL \
             AND (o.expires_at IS NULL OR o.expires_at > ",
        );
        query.bind(codec::ts_to_text(at)).push(DB::TIMESTAMP);
        query.push(
            ") THEN o.outcome END FROM overrides AS o \
             WHERE o.tenant = leads.tenant AND o.lead_id = leads.lead_id \
             ORDER BY o.created_at DESC, o.override_id DESC LIMIT 1), latest_outcome) = ",
        );
        query.bind(outcome.code());
    }
}

/// Texts as a JSON array, to bind as one value.
fn json_array(texts: &[&str]) -> StorageResult<String> {
    serde_json::to_string(texts).map_err(|e| StorageError::Unavailable(e.into()))
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
        let mut query = Self::select(&self.columns.lead, "leads", tenant);
        query.push(" AND lead_id = ").bind(lead_id);
        self.read_one(query, decode_doc).await
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
        query
            .bind(tenant)
            .push(" AND request_id = ")
            .bind(request_id);
        query
            .push(") AS replay_id, (SELECT ")
            .push(&self.columns.lead);
        query.push(" FROM leads WHERE tenant = ").bind(tenant);
        query.push(" AND lead_id = ").bind(lead_id).push(")");
        let row: Option<(Option<String>, Option<String>)> = query
            .fetch_optional(&mut *self.backend.reader().await?)
            .await?;
        let (replay_id, lead) = row.ok_or(sqlx::Error::RowNotFound)?;
        let replay = match replay_id {
            Some(verdict_id) => self.get_verdict(tenant, &verdict_id).await?,
            None => None,
        };
        Ok((lead.map(|doc| decode_doc((doc,))).transpose()?, replay))
    }

    async fn qualification_contexts(
        &self,
        tenant: &str,
        items: &[(&str, Option<&str>)],
    ) -> StorageResult<Vec<(Option<StoredLead>, Option<VerdictRecord>)>> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        // Two reads whatever the number of items: the leads, and the
        // verdicts already stored under the request ids.
        let (open, close) = (
            <B::Db as Dialect>::JSON_TEXTS_OPEN,
            <B::Db as Dialect>::JSON_TEXTS_CLOSE,
        );
        let lead_ids: Vec<&str> = items.iter().map(|(lead_id, _)| *lead_id).collect();
        let mut query = Self::select(&self.columns.lead, "leads", tenant);
        query.push(" AND lead_id IN (").push(open);
        query.bind(json_array(&lead_ids)?).push(close).push(")");
        let leads: Vec<StoredLead> = self.read_all(query, decode_doc).await?;
        let request_ids: Vec<&str> = items.iter().filter_map(|(_, r)| *r).collect();
        let replays: Vec<VerdictRecord> = if request_ids.is_empty() {
            Vec::new()
        } else {
            let mut query = Self::select(&self.columns.verdict, "verdicts AS v", tenant);
            query.push(" AND v.request_id IN (").push(open);
            query.bind(json_array(&request_ids)?).push(close).push(")");
            self.read_all(query, decode::<VerdictRow, _>).await?
        };
        let leads: HashMap<String, StoredLead> = leads
            .into_iter()
            .map(|lead| (lead.lead_id.clone(), lead))
            .collect();
        let replays: HashMap<String, VerdictRecord> = replays
            .into_iter()
            .filter_map(|v| Some((v.request_id.clone()?, v)))
            .collect();
        Ok(items
            .iter()
            .map(|(lead_id, request_id)| {
                let lead = leads.get(*lead_id).cloned();
                let replay = request_id.and_then(|r| replays.get(r).cloned());
                (lead, replay)
            })
            .collect())
    }

    async fn get_lead_view(
        &self,
        tenant: &str,
        lead_id: &str,
    ) -> StorageResult<Option<StoredLeadView>> {
        let mut query = Self::select(&self.columns.lead_view, "leads", tenant);
        query.push(" AND lead_id = ").bind(lead_id);
        self.read_one(query, decode::<LeadViewRow, _>).await
    }

    async fn list_leads(
        &self,
        tenant: &str,
        filter: LeadFilter,
        at: Timestamp,
        after: Option<&str>,
        limit: i64,
    ) -> StorageResult<Vec<StoredLeadView>> {
        let mut query = Self::select(&self.columns.lead_view, "leads", tenant);
        lead_filter::<B::Db>(&mut query, filter, at);
        if let Some(after) = after {
            query.push(" AND lead_id > ").bind(after);
        }
        query.push(" ORDER BY lead_id LIMIT ").bind(limit);
        self.read_all(query, decode::<LeadViewRow, _>).await
    }

    async fn recent_leads(
        &self,
        tenant: &str,
        filter: LeadFilter,
        at: Timestamp,
        after: Option<(Timestamp, String)>,
        limit: i64,
    ) -> StorageResult<Vec<StoredLeadView>> {
        let mut query = Self::select(&self.columns.lead_view, "leads", tenant);
        lead_filter::<B::Db>(&mut query, filter, at);
        Self::newest_first(&mut query, "updated_at", "lead_id", after, limit);
        self.read_all(query, decode::<LeadViewRow, _>).await
    }

    async fn lead_facts_page(
        &self,
        tenant: &str,
        after: Option<&str>,
        limit: i64,
    ) -> StorageResult<Vec<LeadFactsRow>> {
        // The page's last lead id from the keys alone, then the rows up to
        // it. A planner that misjudges the tenant's size (no statistics yet
        // after a bulk load) may sort rather than walk the primary key; it
        // then sorts keys only, and renders the facts of one page only.
        fn leads_after<'q, DB: Dialect>(
            query: &mut Statement<'q, DB>,
            tenant: &'q str,
            after: Option<&'q str>,
        ) {
            query.push(" WHERE tenant = ").bind(tenant);
            if let Some(after) = after {
                query.push(" AND lead_id > ").bind(after);
            }
        }
        let mut query = Statement::<B::Db>::new("SELECT lead_id, stage, ");
        query.push(&<B::Db as Dialect>::text("facts"));
        query.push(" AS facts FROM leads");
        leads_after(&mut query, tenant, after);
        query.push(" AND lead_id <= (SELECT max(lead_id) FROM (SELECT lead_id FROM leads");
        leads_after(&mut query, tenant, after);
        query.push(" ORDER BY lead_id LIMIT ").bind(limit);
        query.push(") AS page) ORDER BY lead_id");
        Ok(query.fetch_all(&mut *self.backend.reader().await?).await?)
    }

    async fn signal_stats(
        &self,
        tenant: &str,
        filter: StatsFilter,
    ) -> StorageResult<SignalStatsRows> {
        // Per stage and outcome: the leads, and per criterion how many of
        // them fired it, found it unknown and fired it as a knockout, from
        // the masks each lead keeps of its latest verdict.
        let sums = |column: &str| {
            let items: Vec<String> = (0..Criterion::COUNT)
                .map(|i| format!("sum((l.{column} >> {i}) & 1)"))
                .collect();
            <B::Db as Dialect>::json_array(&items.join(", "))
        };
        let mut counts = Statement::<B::Db>::new("SELECT ");
        counts.push(&<B::Db as Dialect>::json_object(&format!(
            "'stage', l.stage, 'outcome', l.latest_outcome, 'leads', count(*), 'fired', {}, \
             'unknown', {}, 'knockout', {}",
            sums("latest_fired_mask"),
            sums("latest_unknown_mask"),
            sums("latest_knockout_mask")
        )));
        counts
            .push(" FROM leads AS l WHERE l.tenant = ")
            .bind(tenant);
        counts.push(" AND l.latest_verdict_id IS NOT NULL");
        let ts = <B::Db as Dialect>::TIMESTAMP;
        if let Some(start) = filter.start {
            counts.push(" AND l.updated_at >= ");
            counts.bind(codec::ts_to_text(start)).push(ts);
        }
        counts.push(" AND l.updated_at < ");
        counts.bind(codec::ts_to_text(filter.end)).push(ts);
        if let Some(stage) = filter.stage {
            counts.push(" AND l.stage = ").bind(stage.code());
        }
        counts.push(" GROUP BY l.stage, l.latest_outcome");

        let mut conn = self.backend.reader().await?;
        let mut tx = conn.begin_with(<B::Db as Dialect>::BEGIN_SNAPSHOT).await?;
        let groups: Vec<(String,)> = counts.fetch_all(&mut *tx).await?;
        let missing_facts = if filter.missing_facts {
            // Per criterion and fact, from every unknown signal's row.
            let mut missing = Statement::<B::Db>::new("SELECT s.criterion, m.value, count(*)");
            let facts = format!(
                " JOIN signals AS s ON s.verdict_id = v.verdict_id CROSS JOIN {}",
                <B::Db as Dialect>::json_array_texts("s.missing_facts", "m")
            );
            latest_verdicts(&mut missing, &facts, tenant, &filter);
            missing.push(" AND s.status = 'UNKNOWN' GROUP BY s.criterion, m.value");
            missing.fetch_all(&mut *tx).await?
        } else {
            Vec::new()
        };
        tx.commit().await?;
        let groups = groups
            .into_iter()
            .map(decode_doc::<codec::StatsGroup>)
            .collect::<StorageResult<Vec<_>>>()?;
        let mut rows = codec::stats_rows(&groups).map_err(StorageError::Corrupt)?;
        rows.missing_facts = missing_facts;
        Ok(rows)
    }

    async fn commit_qualification(&self, q: NewQualification) -> StorageResult<VerdictRecord> {
        self.backend.commit_qualification(q).await
    }

    async fn commit_qualifications(
        &self,
        batch: Vec<NewQualification>,
    ) -> StorageResult<Vec<StorageResult<VerdictRecord>>> {
        self.backend.commit_qualifications(batch).await
    }

    async fn get_verdict(&self, tenant: &str, id: &str) -> StorageResult<Option<VerdictRecord>> {
        self.verdict_where(tenant, "verdict_id", id).await
    }

    async fn find_verdict_by_request(
        &self,
        tenant: &str,
        request_id: &str,
    ) -> StorageResult<Option<VerdictRecord>> {
        self.verdict_where(tenant, "request_id", request_id).await
    }

    async fn verdicts_after(
        &self,
        tenant: &str,
        outcome: Option<Outcome>,
        after: &str,
        limit: i64,
    ) -> StorageResult<Vec<VerdictRecord>> {
        // A range of the primary key: the verdicts of every tenant stored in
        // the time since `after` are read, only this tenant's kept.
        let mut query = Self::select(&self.columns.verdict, "verdicts AS v", tenant);
        query.push(" AND v.verdict_id > ").bind(after);
        if let Some(outcome) = outcome {
            query.push(" AND v.outcome = ").bind(outcome.code());
        }
        query.push(" ORDER BY v.verdict_id LIMIT ").bind(limit);
        self.read_all(query, decode::<VerdictRow, _>).await
    }

    fn verdict_notices(&self) -> Result<broadcast::Receiver<Notice>, NoticesDown> {
        self.backend.notices().subscribe()
    }

    fn pool_usage(&self) -> PoolUsage {
        self.backend.pool_usage()
    }

    fn reachability(&self) -> tokio::sync::watch::Receiver<bool> {
        self.backend.reachability()
    }

    async fn list_verdicts(
        &self,
        tenant: &str,
        lead_id: &str,
        before: Option<i64>,
        limit: i64,
    ) -> StorageResult<Vec<VerdictRecord>> {
        let mut query = Self::select(&self.columns.verdict, "verdicts AS v", tenant);
        query.push(" AND v.lead_id = ").bind(lead_id);
        query.push(" AND v.seq < ").bind(before.unwrap_or(i64::MAX));
        query.push(" ORDER BY v.seq DESC LIMIT ").bind(limit);
        self.read_all(query, decode::<VerdictRow, _>).await
    }

    async fn current_profile(&self, tenant: &str) -> StorageResult<Option<ProfileVersion>> {
        let mut query = Self::select(&self.columns.profile, "profiles", tenant);
        query.push(" ORDER BY version DESC LIMIT 1");
        self.read_one(query, decode_doc).await
    }

    async fn get_profile(
        &self,
        tenant: &str,
        version: i64,
    ) -> StorageResult<Option<ProfileVersion>> {
        let mut query = Self::select(&self.columns.profile, "profiles", tenant);
        query.push(" AND version = ").bind(version);
        self.read_one(query, decode_doc).await
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
            .bind_next(codec::profile_body(&profile.profile))
            .push(<B::Db as Dialect>::JSON)
            .bind_next(codec::ts_to_text(profile.created_at))
            .push(<B::Db as Dialect>::TIMESTAMP)
            .push(") ON CONFLICT DO NOTHING");
        match self.write(insert, audit).await? {
            true => Ok(()),
            false => Err(StorageError::ProfileVersionTaken),
        }
    }

    async fn list_profiles(
        &self,
        tenant: &str,
        before: Option<i64>,
        limit: i64,
    ) -> StorageResult<Vec<ProfileVersion>> {
        let mut query = Self::select(&self.columns.profile, "profiles", tenant);
        query
            .push(" AND version < ")
            .bind(before.unwrap_or(i64::MAX));
        query.push(" ORDER BY version DESC LIMIT ").bind(limit);
        self.read_all(query, decode_doc).await
    }

    async fn find_api_key(&self, key_id: &str) -> StorageResult<Option<ApiKeyRecord>> {
        let mut query = Statement::<B::Db>::new("SELECT ");
        query.push(&self.columns.key);
        query.push(" FROM api_keys WHERE key_id = ").bind(key_id);
        self.read_one(query, decode_doc).await
    }

    async fn any_active_api_key(&self) -> StorageResult<bool> {
        let found: Option<(i64,)> = Statement::<B::Db>::new(
            "SELECT count(*) FROM \
             (SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1) AS active",
        )
        .fetch_optional(&mut *self.backend.reader().await?)
        .await?;
        Ok(found.is_some_and(|(n,)| n > 0))
    }

    async fn api_key_changes(&self) -> StorageResult<i64> {
        let changes: Option<(i64,)> =
            Statement::<B::Db>::new("SELECT count(*) + count(revoked_at) FROM api_keys")
                .fetch_optional(&mut *self.backend.reader().await?)
                .await?;
        Ok(changes.map_or(0, |(n,)| n))
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
            .bind_next(roles_to_text(&key.roles))
            .bind_next(key.description.as_str())
            .bind_next(codec::ts_to_text(key.created_at))
            .push(<B::Db as Dialect>::TIMESTAMP)
            .push(")");
        self.write(insert, Some(audit)).await.map(drop)
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
        self.write(update, Some(audit)).await
    }

    async fn touch_api_key(&self, key_id: &str, at: Timestamp) -> StorageResult<()> {
        let mut update = Statement::<B::Db>::new("UPDATE api_keys SET last_used_at = ");
        update.bind(codec::ts_to_text(at));
        update.push(<B::Db as Dialect>::TIMESTAMP);
        update.push(" WHERE key_id = ").bind(key_id);
        self.write(update, None).await.map(drop)
    }

    async fn list_api_keys(
        &self,
        tenant: &str,
        show_revoked: bool,
        after: Option<(Timestamp, String)>,
        limit: i64,
    ) -> StorageResult<Vec<ApiKeyRecord>> {
        let mut query = Self::select(&self.columns.key, "api_keys", tenant);
        if !show_revoked {
            query.push(" AND revoked_at IS NULL");
        }
        Self::newest_first(&mut query, "created_at", "key_id", after, limit);
        self.read_all(query, decode_doc).await
    }

    async fn insert_override(
        &self,
        record: &OverrideRecord,
        audit: &AuditEvent,
    ) -> StorageResult<()> {
        let ts = <B::Db as Dialect>::TIMESTAMP;
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
            .bind_next(codec::ts_to_text(record.created_at))
            .push(ts)
            .bind_next(record.expires_at.map(codec::ts_to_text))
            .push(ts)
            .push(")");
        self.write(insert, Some(audit)).await.map(drop)
    }

    async fn clear_override(
        &self,
        tenant: &str,
        override_id: &str,
        at: Timestamp,
        audit: &AuditEvent,
    ) -> StorageResult<bool> {
        let mut update = Statement::<B::Db>::new("UPDATE overrides SET cleared_at = ");
        update
            .bind(codec::ts_to_text(at))
            .push(<B::Db as Dialect>::TIMESTAMP);
        update.push(" WHERE tenant = ").bind(tenant);
        update.push(" AND override_id = ").bind(override_id);
        update.push(" AND cleared_at IS NULL");
        self.write(update, Some(audit)).await
    }

    async fn list_overrides(
        &self,
        tenant: &str,
        lead_id: Option<&str>,
        after: Option<(Timestamp, String)>,
        limit: i64,
    ) -> StorageResult<Vec<OverrideRecord>> {
        let mut query = Self::select(&self.columns.overrides, "overrides AS o", tenant);
        if let Some(lead_id) = lead_id {
            query.push(" AND lead_id = ").bind(lead_id);
        }
        Self::newest_first(&mut query, "created_at", "override_id", after, limit);
        self.read_all(query, decode_doc).await
    }

    async fn list_audit_events(
        &self,
        tenant: &str,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: i64,
    ) -> StorageResult<Vec<AuditEvent>> {
        let mut query = Self::select(&self.columns.audit, "audit_events", tenant);
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
        self.read_all(query, decode_doc).await
    }
}
