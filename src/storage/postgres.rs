//! PostgreSQL backend, for production and for several replicas sharing one
//! database. Concurrent qualifications of one lead are serialised by the
//! lead's revision (optimistic concurrency), so no row locks are held while
//! the engine runs.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool, Postgres};
use tokio::sync::watch;

use super::codec::Prepared;
use super::dialect::{Backend, Dialect, run_with_sqlx};
use super::notices::{self, NoticeBus};
use super::{NewQualification, PoolUsage, StorageError, StorageResult};
use crate::observability;
use crate::records::VerdictRecord;

impl Dialect for Postgres {
    fn timestamp(column: &str) -> String {
        format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
    }

    fn text(column: &str) -> String {
        format!("{column}::text")
    }

    fn json(column: &str) -> String {
        column.to_owned()
    }

    fn json_object(pairs: &str) -> String {
        format!("json_build_object({pairs})::text")
    }

    fn json_array(items: &str) -> String {
        format!("json_build_array({items})")
    }

    fn json_array_texts(column: &str, alias: &str) -> String {
        format!("jsonb_array_elements_text({column}) AS {alias}(value)")
    }

    const TIMESTAMP: &'static str = "::timestamptz";
    const JSON: &'static str = "::jsonb";
    const BEGIN_WRITE: &'static str = "BEGIN";
    const BEGIN_SNAPSHOT: &'static str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
    const JSON_TEXTS_OPEN: &'static str = "SELECT jsonb_array_elements_text(";
    const JSON_TEXTS_CLOSE: &'static str = "::jsonb)";

    run_with_sqlx!();
}

/// The schema's migrations. sqlx's migrator holds a session advisory lock
/// (`pg_advisory_lock`, keyed by the database's name) while it reads and
/// applies them, so replicas starting at once apply each migration once:
/// the first applies, the others wait and then find nothing left to do.
pub static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// Applies the migrations over one connection of its own, then closes it.
pub async fn migrate(url: &str) -> anyhow::Result<()> {
    let mut connection = PgConnection::connect(url)
        .await
        .context("cannot connect to PostgreSQL")?;
    MIGRATOR
        .run_direct(&mut connection)
        .await
        .context("cannot migrate the PostgreSQL database")?;
    connection
        .close()
        .await
        .context("cannot close the PostgreSQL connection")
}

/// A pool of connections to one PostgreSQL database, and a connection of
/// its own listening for the verdicts every replica stores.
pub struct PostgresBackend {
    pool: PgPool,
    notices: Arc<NoticeBus>,
    reachability: Arc<Reachability>,
    /// Dropped with the storage, which ends the listener and the probe.
    _stop: watch::Sender<()>,
}

/// Longest wait for a pooled connection before a call fails with
/// `UNAVAILABLE`: a call must not hang on a database that does not answer.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// How often the database is probed, and how long a probe may take.
const PROBE_EVERY: Duration = Duration::from_secs(1);
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// A pooled connection idle this long is pinged before it is lent out: an
/// idle service must not fail its next calls on connections that died with
/// a restart of the database.
const PING_WHEN_IDLE: Duration = Duration::from_secs(5);

/// Longest pause between two start-up attempts to reach the database.
const STARTUP_BACKOFF_MAX: Duration = Duration::from_secs(5);

impl PostgresBackend {
    /// Connects (waiting up to `wait` for the database to answer, see
    /// [`wait_for_database`]), migrates, and starts listening for verdicts
    /// and probing the database.
    pub async fn connect(url: &str, wait: Duration) -> anyhow::Result<Self> {
        let options: PgConnectOptions = url.parse().context("invalid PostgreSQL database URL")?;
        wait_for_database(&options, wait).await?;
        let reachability = Arc::new(Reachability::new());
        let fresh = reachability.clone();
        let pool = PgPoolOptions::new()
            // A ping per checkout doubled the round trips of every query;
            // only connections idle for a while are pinged.
            .test_before_acquire(false)
            .before_acquire(move |connection, meta| {
                let fresh = fresh.clone();
                Box::pin(async move {
                    // Opened before the database last went away or came
                    // back: most likely dead, so not worth a round trip.
                    if fresh.predates_last_change(meta.age) {
                        return Ok(false);
                    }
                    if meta.idle_for >= PING_WHEN_IDLE {
                        connection.ping().await?;
                    }
                    Ok(true)
                })
            })
            .max_connections(16)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await
            .with_context(|| format!("cannot connect to PostgreSQL at {}", describe(&options)))?;
        MIGRATOR
            .run(&pool)
            .await
            .context("cannot migrate the PostgreSQL database")?;
        let listener = notices::postgres_listener(url)
            .await
            .context("cannot listen for verdict notifications")?;
        let notices = NoticeBus::new();
        let (stop, stopped) = watch::channel(());
        tokio::spawn(notices::run_postgres_listener(
            url.to_owned(),
            listener,
            notices.clone(),
            stopped.clone(),
        ));
        tokio::spawn(probe(options, reachability.clone(), stopped));
        Ok(Self {
            pool,
            notices,
            reachability,
            _stop: stop,
        })
    }

    /// A pooled connection; fails at once while the probe finds the
    /// database unreachable.
    async fn connection(&self) -> StorageResult<PoolConnection<Postgres>> {
        if !self.reachability.is_up() {
            return Err(StorageError::Down);
        }
        Ok(self.pool.acquire().await?)
    }
}

/// Where a database is, for log lines and errors: never its credentials.
fn describe(options: &PgConnectOptions) -> String {
    format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("postgres")
    )
}

/// A connection of its own to the database, or why there is none within
/// `within`.
async fn open(options: &PgConnectOptions, within: Duration) -> Result<PgConnection, String> {
    match tokio::time::timeout(within, PgConnection::connect_with(options)).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {within:?}")),
    }
}

/// Tries to connect until the database answers or `wait` has passed,
/// logging each failed attempt with its cause and backing off; the error
/// names the last cause rather than a pool timeout.
async fn wait_for_database(options: &PgConnectOptions, wait: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut backoff = Duration::from_millis(200);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let cause = match open(options, STARTUP_BACKOFF_MAX).await {
            Ok(connection) => {
                if attempt > 1 {
                    tracing::info!(database = %describe(options), "the database answers");
                }
                let _ = connection.close().await;
                return Ok(());
            }
            Err(cause) => cause,
        };
        // The last attempt comes when the wait is over, not a backoff
        // before it: a database back within the wait is found.
        let remaining = wait.saturating_sub(started.elapsed());
        if remaining.is_zero() {
            anyhow::bail!(
                "cannot connect to PostgreSQL at {} after {attempt} attempts over {:.1?}: {cause}",
                describe(options),
                started.elapsed()
            );
        }
        let pause = backoff.min(remaining);
        tracing::warn!(
            database = %describe(options),
            error = %cause,
            attempt,
            retry_in = ?pause,
            "the database is not reachable yet; waiting for it"
        );
        tokio::time::sleep(pause).await;
        backoff = (backoff * 2).min(STARTUP_BACKOFF_MAX);
    }
}

/// Whether the database answers, as the probe last found, and since when.
struct Reachability {
    born: Instant,
    /// Nanoseconds after `born` of the last change between up and down.
    changed_at: AtomicU64,
    up: watch::Sender<bool>,
}

impl Reachability {
    fn new() -> Self {
        Self {
            born: Instant::now(),
            changed_at: AtomicU64::new(0),
            up: watch::Sender::new(true),
        }
    }

    fn is_up(&self) -> bool {
        *self.up.borrow()
    }

    /// Records what a probe found; true when that is a change.
    fn set(&self, up: bool) -> bool {
        let changed = self.up.send_if_modified(|was| {
            let changed = *was != up;
            *was = up;
            changed
        });
        if changed {
            self.connections_lost();
            observability::database_up(up);
        }
        changed
    }

    /// Connections opened until now are presumed dead.
    fn connections_lost(&self) {
        let nanos = u64::try_from(self.born.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.changed_at.store(nanos, Ordering::Release);
    }

    /// Whether a connection `age` old was opened before the database last
    /// went away, came back, or dropped the probe's connection.
    fn predates_last_change(&self, age: Duration) -> bool {
        let changed_at = Duration::from_nanos(self.changed_at.load(Ordering::Acquire));
        changed_at > Duration::ZERO && age > self.born.elapsed().saturating_sub(changed_at)
    }

    fn subscribe(&self) -> watch::Receiver<bool> {
        self.up.subscribe()
    }
}

/// Pings the database every [`PROBE_EVERY`] on a connection of its own
/// (reopened once at once when the ping fails) and records whether it
/// answers, logging each change.
async fn probe(
    options: PgConnectOptions,
    reachability: Arc<Reachability>,
    mut stop: watch::Receiver<()>,
) {
    let mut connection: Option<PgConnection> = None;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(PROBE_EVERY) => {}
        }
        let mut cause = None;
        if let Some(open) = connection.as_mut() {
            match tokio::time::timeout(PROBE_TIMEOUT, open.ping()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => cause = Some(e.to_string()),
                Err(_) => cause = Some(format!("no answer within {PROBE_TIMEOUT:?}")),
            }
            if cause.is_some() {
                // Whatever ended this connection (a restart, say) likely
                // ended the pooled ones too, even if the database is back
                // by the time it is reopened below.
                connection = None;
                reachability.connections_lost();
            }
        }
        if connection.is_none() {
            match open(&options, PROBE_TIMEOUT).await {
                Ok(opened) => {
                    connection = Some(opened);
                    cause = None;
                }
                Err(e) => cause = Some(e),
            }
        }
        let up = cause.is_none();
        if reachability.set(up) {
            match cause {
                None => {
                    tracing::info!(database = %describe(&options), "the database is reachable again")
                }
                Some(cause) => tracing::error!(
                    database = %describe(&options),
                    error = %cause,
                    "the database is unreachable: calls fail with UNAVAILABLE until it answers again"
                ),
            }
        }
    }
}

impl Backend for PostgresBackend {
    type Db = Postgres;
    type Conn<'a> = PoolConnection<Postgres>;

    async fn reader(&self) -> StorageResult<PoolConnection<Postgres>> {
        self.connection().await
    }

    async fn writer(&self) -> StorageResult<PoolConnection<Postgres>> {
        self.connection().await
    }

    fn reachability(&self) -> watch::Receiver<bool> {
        self.reachability.subscribe()
    }

    fn notices(&self) -> &NoticeBus {
        &self.notices
    }

    fn pool_usage(&self) -> PoolUsage {
        let open = self.pool.size() as usize;
        let idle = self.pool.num_idle().min(open);
        PoolUsage {
            idle,
            in_use: open - idle,
            max: self.pool.options().get_max_connections() as usize,
        }
    }

    async fn commit_qualification(&self, q: NewQualification) -> StorageResult<VerdictRecord> {
        let p = Prepared::new(&q);
        let (v, rows) = (&q.verdict, &p.signals);
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
        // The last part, `n`, tells the watchers of every replica of the
        // verdict, once committed (see `storage::notices`); the final SELECT
        // reads it because PostgreSQL skips a SELECT no one reads.
        let (stored,): (i64,) = sqlx::query_as(
            "WITH v AS ( \
                 INSERT INTO verdicts (verdict_id, tenant, lead_id, seq, stage, outcome, score, \
                     profile_version, facts, facts_hash, request_id, evaluated_at, \
                     evaluation_date, signals_json, account_json) \
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, \
                     $12::timestamptz, $13::date, $24, $25 \
                 WHERE (SELECT revision FROM leads WHERE tenant = $2 AND lead_id = $3) \
                     IS NOT DISTINCT FROM $14::bigint \
                 ON CONFLICT DO NOTHING \
                 RETURNING verdict_id), \
             l AS ( \
                 INSERT INTO leads (tenant, lead_id, stage, facts, revision, latest_verdict_id, \
                     latest_outcome, latest_lifecycle_class, latest_value_tier, \
                     latest_churn_status, latest_fired_mask, latest_unknown_mask, \
                     latest_knockout_mask, created_at, updated_at) \
                 SELECT $2, $3, $15, $9::jsonb, $4, $1, $6, $26, $27, $28, $29, $30, $31, \
                     $12::timestamptz, $12::timestamptz FROM v \
                 ON CONFLICT (tenant, lead_id) DO UPDATE SET stage = EXCLUDED.stage, \
                     facts = EXCLUDED.facts, revision = EXCLUDED.revision, \
                     latest_verdict_id = EXCLUDED.latest_verdict_id, \
                     latest_outcome = EXCLUDED.latest_outcome, \
                     latest_lifecycle_class = EXCLUDED.latest_lifecycle_class, \
                     latest_value_tier = EXCLUDED.latest_value_tier, \
                     latest_churn_status = EXCLUDED.latest_churn_status, \
                     latest_fired_mask = EXCLUDED.latest_fired_mask, \
                     latest_unknown_mask = EXCLUDED.latest_unknown_mask, \
                     latest_knockout_mask = EXCLUDED.latest_knockout_mask, \
                     updated_at = EXCLUDED.updated_at \
                     WHERE leads.revision = $14::bigint \
                 RETURNING 1), \
             s AS ( \
                 INSERT INTO signals (verdict_id, tenant, lead_id, criterion, stage, status, \
                     weight, knockout, evidence, remedy, missing_facts, evaluated_at) \
                 SELECT v.verdict_id, $2, $3, c, st, ss, w, k, e, r, m::jsonb, \
                     $12::timestamptz \
                 FROM v, UNNEST($16::text[], $17::text[], $18::text[], $19::int4[], \
                     $20::bool[], $21::text[], $22::text[], $23::text[]) \
                     AS t(c, st, ss, w, k, e, r, m)), \
             n AS (SELECT pg_notify('leadqual_verdicts', \
                 verdict_id || E'\\t' || $6 || E'\\t' || $2) FROM v) \
             SELECT CASE WHEN (SELECT count(*) FROM v) = (SELECT count(*) FROM l) \
                 THEN (SELECT count(*) FROM v) \
                 ELSE (SELECT ('lead ' || $3 || ' did not take verdict ' || verdict_id)::bigint \
                     FROM v) END \
             FROM (SELECT count(*) FROM n) AS notified",
        )
        .bind(&v.verdict_id)
        .bind(&v.tenant)
        .bind(&v.lead_id)
        .bind(v.seq)
        .bind(v.evaluation.stage.code())
        .bind(v.evaluation.outcome.code())
        .bind(v.evaluation.score)
        .bind(v.profile_version)
        .bind(&p.facts)
        .bind(&v.facts_hash)
        .bind(&v.request_id)
        .bind(&p.at)
        .bind(v.evaluation_date.to_string())
        .bind(q.expected_revision)
        .bind(q.stage.code())
        .bind(
            rows.iter()
                .map(|r| r.criterion.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|r| r.stage).collect::<Vec<_>>())
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
        .bind(&p.signals_json)
        .bind(&p.account_json)
        .bind(p.lifecycle_class)
        .bind(p.value_tier)
        .bind(p.churn_status)
        .bind(p.fired_mask)
        .bind(p.unknown_mask)
        .bind(p.knockout_mask)
        .fetch_one(&mut *self.writer().await?)
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
                .fetch_one(&mut *self.writer().await?)
                .await?,
                None => false,
            };
        Err(if taken {
            StorageError::DuplicateRequest
        } else {
            StorageError::LeadChanged
        })
    }

    async fn commit_qualifications(
        &self,
        batch: Vec<NewQualification>,
    ) -> StorageResult<Vec<StorageResult<VerdictRecord>>> {
        let Some(tenant) = batch.first().map(|q| q.verdict.tenant.clone()) else {
            return Ok(Vec::new());
        };
        if batch.iter().any(|q| q.verdict.tenant != tenant) {
            return Err(StorageError::Unavailable(anyhow::anyhow!(
                "a batch of qualifications belongs to one tenant"
            )));
        }
        let prepared: Vec<Prepared> = batch.iter().map(Prepared::new).collect();
        let verdicts = || prepared.iter().map(|p| &p.q.verdict);
        let signals = || {
            prepared
                .iter()
                .flat_map(|p| p.signals.iter().map(move |row| (p, row)))
        };
        // One statement for the whole batch, as for one qualification
        // above: each verdict goes in only while its lead is still at the
        // revision it was read at (its seq is that revision + 1) and its
        // request id is free; the leads and signals follow the verdicts that
        // went in (`IN` a hashed set of them: a join of the CTE was planned
        // as a nested loop). The leads of a batch are distinct, so no row is
        // written twice by the statement.
        // `n` tells the watchers of every replica of each verdict, once
        // committed, as for one qualification; the first SELECT reads it.
        let inserted: Vec<(String,)> = sqlx::query_as(
            "WITH i AS ( \
                 SELECT * FROM UNNEST($2::text[], $3::text[], $4::int8[], $5::text[], \
                     $6::text[], $7::int4[], $8::int8[], $9::text[], $10::text[], $11::text[], \
                     $12::text[], $13::text[], $14::text[], $15::text[], $27::int8[], \
                     $28::text[], $29::text[], $30::text[], $31::text[], $32::int8[], \
                     $33::int8[], $34::int8[]) \
                 AS t(verdict_id, lead_id, seq, stage, outcome, score, profile_version, facts, \
                     facts_hash, request_id, evaluated_at, evaluation_date, lead_stage, \
                     signals_json, expected_revision, account_json, lifecycle_class, \
                     value_tier, churn_status, fired_mask, unknown_mask, knockout_mask)), \
             v AS ( \
                 INSERT INTO verdicts (verdict_id, tenant, lead_id, seq, stage, outcome, score, \
                     profile_version, facts, facts_hash, request_id, evaluated_at, \
                     evaluation_date, signals_json, account_json) \
                 SELECT i.verdict_id, $1, i.lead_id, i.seq, i.stage, i.outcome, i.score, \
                     i.profile_version, i.facts::jsonb, i.facts_hash, i.request_id, \
                     i.evaluated_at::timestamptz, i.evaluation_date::date, i.signals_json, \
                     i.account_json \
                 FROM i \
                 WHERE (SELECT revision FROM leads WHERE tenant = $1 AND lead_id = i.lead_id) \
                     IS NOT DISTINCT FROM i.expected_revision \
                 ON CONFLICT DO NOTHING \
                 RETURNING verdict_id, lead_id), \
             l AS ( \
                 INSERT INTO leads (tenant, lead_id, stage, facts, revision, latest_verdict_id, \
                     latest_outcome, latest_lifecycle_class, latest_value_tier, \
                     latest_churn_status, latest_fired_mask, latest_unknown_mask, \
                     latest_knockout_mask, created_at, updated_at) \
                 SELECT $1, i.lead_id, i.lead_stage, i.facts::jsonb, i.seq, i.verdict_id, \
                     i.outcome, i.lifecycle_class, i.value_tier, i.churn_status, i.fired_mask, \
                     i.unknown_mask, i.knockout_mask, i.evaluated_at::timestamptz, \
                     i.evaluated_at::timestamptz \
                 FROM i WHERE i.verdict_id IN (SELECT verdict_id FROM v) \
                 ON CONFLICT (tenant, lead_id) DO UPDATE SET stage = EXCLUDED.stage, \
                     facts = EXCLUDED.facts, revision = EXCLUDED.revision, \
                     latest_verdict_id = EXCLUDED.latest_verdict_id, \
                     latest_outcome = EXCLUDED.latest_outcome, \
                     latest_lifecycle_class = EXCLUDED.latest_lifecycle_class, \
                     latest_value_tier = EXCLUDED.latest_value_tier, \
                     latest_churn_status = EXCLUDED.latest_churn_status, \
                     latest_fired_mask = EXCLUDED.latest_fired_mask, \
                     latest_unknown_mask = EXCLUDED.latest_unknown_mask, \
                     latest_knockout_mask = EXCLUDED.latest_knockout_mask, \
                     updated_at = EXCLUDED.updated_at \
                     WHERE leads.revision = EXCLUDED.revision - 1 \
                 RETURNING 1), \
             s AS ( \
                 INSERT INTO signals (verdict_id, tenant, lead_id, criterion, stage, status, \
                     weight, knockout, evidence, remedy, missing_facts, evaluated_at) \
                 SELECT t.verdict_id, $1, t.lead_id, c, st, ss, w, k, e, r, m::jsonb, \
                     t.evaluated_at::timestamptz \
                 FROM UNNEST($16::text[], $17::text[], $18::text[], $19::text[], $20::text[], \
                     $21::text[], $22::int4[], $23::bool[], $24::text[], $25::text[], \
                     $26::text[]) AS t(verdict_id, lead_id, evaluated_at, c, st, ss, w, k, e, r, m) \
                 WHERE t.verdict_id IN (SELECT verdict_id FROM v)), \
             n AS (SELECT pg_notify('leadqual_verdicts', \
                 i.verdict_id || E'\\t' || i.outcome || E'\\t' || $1) \
                 FROM i WHERE i.verdict_id IN (SELECT verdict_id FROM v)) \
             SELECT verdict_id FROM v, (SELECT count(*) FROM n) AS notified \
             WHERE (SELECT count(*) FROM v) = (SELECT count(*) FROM l) \
             UNION ALL \
             SELECT (('lead ' || lead_id || ' did not take verdict ' || verdict_id)::bigint)::text \
             FROM v WHERE (SELECT count(*) FROM v) <> (SELECT count(*) FROM l)",
        )
        .bind(&tenant)
        .bind(verdicts().map(|v| v.verdict_id.as_str()).collect::<Vec<_>>())
        .bind(verdicts().map(|v| v.lead_id.as_str()).collect::<Vec<_>>())
        .bind(verdicts().map(|v| v.seq).collect::<Vec<_>>())
        .bind(verdicts().map(|v| v.evaluation.stage.code()).collect::<Vec<_>>())
        .bind(verdicts().map(|v| v.evaluation.outcome.code()).collect::<Vec<_>>())
        .bind(verdicts().map(|v| v.evaluation.score).collect::<Vec<_>>())
        .bind(verdicts().map(|v| v.profile_version).collect::<Vec<_>>())
        .bind(prepared.iter().map(|p| p.facts.as_str()).collect::<Vec<_>>())
        .bind(verdicts().map(|v| v.facts_hash.as_str()).collect::<Vec<_>>())
        .bind(verdicts().map(|v| v.request_id.as_deref()).collect::<Vec<_>>())
        .bind(prepared.iter().map(|p| p.at.as_str()).collect::<Vec<_>>())
        .bind(verdicts().map(|v| v.evaluation_date.to_string()).collect::<Vec<_>>())
        .bind(prepared.iter().map(|p| p.q.stage.code()).collect::<Vec<_>>())
        .bind(prepared.iter().map(|p| p.signals_json.as_str()).collect::<Vec<_>>())
        .bind(signals().map(|(p, _)| p.q.verdict.verdict_id.as_str()).collect::<Vec<_>>())
        .bind(signals().map(|(p, _)| p.q.verdict.lead_id.as_str()).collect::<Vec<_>>())
        .bind(signals().map(|(p, _)| p.at.as_str()).collect::<Vec<_>>())
        .bind(signals().map(|(_, r)| r.criterion.as_str()).collect::<Vec<_>>())
        .bind(signals().map(|(_, r)| r.stage).collect::<Vec<_>>())
        .bind(signals().map(|(_, r)| r.status.as_str()).collect::<Vec<_>>())
        .bind(signals().map(|(_, r)| r.weight).collect::<Vec<_>>())
        .bind(signals().map(|(_, r)| r.knockout).collect::<Vec<_>>())
        .bind(signals().map(|(_, r)| r.evidence.as_str()).collect::<Vec<_>>())
        .bind(signals().map(|(_, r)| r.remedy.as_str()).collect::<Vec<_>>())
        .bind(signals().map(|(_, r)| r.missing_facts.as_str()).collect::<Vec<_>>())
        .bind(prepared.iter().map(|p| p.q.expected_revision).collect::<Vec<_>>())
        .bind(prepared.iter().map(|p| p.account_json.as_deref()).collect::<Vec<_>>())
        .bind(prepared.iter().map(|p| p.lifecycle_class).collect::<Vec<_>>())
        .bind(prepared.iter().map(|p| p.value_tier).collect::<Vec<_>>())
        .bind(prepared.iter().map(|p| p.churn_status).collect::<Vec<_>>())
        .bind(prepared.iter().map(|p| p.fired_mask).collect::<Vec<_>>())
        .bind(prepared.iter().map(|p| p.unknown_mask).collect::<Vec<_>>())
        .bind(prepared.iter().map(|p| p.knockout_mask).collect::<Vec<_>>())
        .fetch_all(&mut *self.writer().await?)
        .await?;
        let inserted: HashSet<String> = inserted.into_iter().map(|(id,)| id).collect();
        // Of those refused, the ones whose request id was taken.
        let refused: Vec<&str> = verdicts()
            .filter(|v| !inserted.contains(&v.verdict_id))
            .filter_map(|v| v.request_id.as_deref())
            .collect();
        let taken: HashSet<String> = if refused.is_empty() {
            HashSet::new()
        } else {
            sqlx::query_scalar(
                "SELECT request_id FROM verdicts WHERE tenant = $1 AND request_id = ANY($2)",
            )
            .bind(&tenant)
            .bind(&refused)
            .fetch_all(&mut *self.writer().await?)
            .await?
            .into_iter()
            .collect()
        };
        drop(prepared);
        Ok(batch
            .into_iter()
            .map(|q| {
                let v = &q.verdict;
                if inserted.contains(&v.verdict_id) {
                    Ok(q.verdict)
                } else if v.request_id.as_ref().is_some_and(|r| taken.contains(r)) {
                    Err(StorageError::DuplicateRequest)
                } else {
                    Err(StorageError::LeadChanged)
                }
            })
            .collect())
    }
}
