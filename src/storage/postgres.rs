//! PostgreSQL backend, for production and for several replicas sharing one
//! database. Concurrent qualifications of one lead are serialised by the
//! lead's revision (optimistic concurrency), so no row locks are held while
//! the engine runs.

use std::time::Duration;

use anyhow::Context;
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres};

use super::codec::Prepared;
use super::dialect::{Backend, Dialect, run_with_sqlx};
use super::{NewQualification, StorageError, StorageResult};
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

    fn json_array_texts(column: &str, alias: &str) -> String {
        format!("jsonb_array_elements_text({column}) AS {alias}(value)")
    }

    const TIMESTAMP: &'static str = "::timestamptz";
    const JSON: &'static str = "::jsonb";
    const BEGIN_WRITE: &'static str = "BEGIN";
    const BEGIN_SNAPSHOT: &'static str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

    run_with_sqlx!();
}

/// A pool of connections to one PostgreSQL database.
pub struct PostgresBackend {
    pool: PgPool,
}

impl PostgresBackend {
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
}

impl Backend for PostgresBackend {
    type Db = Postgres;
    type Conn<'a> = PoolConnection<Postgres>;

    async fn reader(&self) -> StorageResult<PoolConnection<Postgres>> {
        Ok(self.pool.acquire().await?)
    }

    async fn writer(&self) -> StorageResult<PoolConnection<Postgres>> {
        Ok(self.pool.acquire().await?)
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
}
