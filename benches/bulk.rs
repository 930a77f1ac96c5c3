//! Bulk benchmark: `cargo bench --bench bulk -- [--quick] [--leads N]`.
//!
//! For each backend (SQLite in a temp dir; PostgreSQL in a throwaway
//! database, skipped with a note when unreachable unless
//! `--require-postgres`), in the same run:
//! - `QualifyLeads`: a server in this process, one stream of `--leads`
//!   new leads with varied facts and request ids, from the first item sent
//!   to the last result read (every result checked);
//! - the storage floor: the very rows that stream stored (leads, verdicts,
//!   signals), read back and written into a fresh database of the same
//!   backend by a bare sqlx loop, in transactions of the stream's batch size
//!   with multi-row inserts and nothing else: no gRPC, no validation, no
//!   engine, no conflict checks.
//!
//! It prints leads per second for both and their ratio, and, to weigh
//! storing fewer signal rows, the floor again writing only the fired and
//! unknown signal rows (the rest derivable from the verdict's stage).

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::Parser;
use futures::StreamExt;
use leadqual::proto::v1 as pb;
use leadqual::startup::{Application, Settings};
use pb::lead_qualification_service_client::LeadQualificationServiceClient;
use pb::qualify_leads_response::Result as ItemResult;
use sqlx::{Connection, PgConnection, QueryBuilder, SqliteConnection};
use tokio::sync::oneshot;

/// Transaction size of the floor: the stream's batch size.
const BATCH: usize = 256;

#[derive(Debug, Parser)]
#[command(name = "bulk")]
struct Args {
    /// A smoke run: a few thousand leads; its numbers mean little.
    #[arg(long)]
    quick: bool,

    /// Leads per stream (default 50,000; 2,000 with --quick).
    #[arg(long)]
    leads: Option<usize>,

    /// Fail instead of skipping PostgreSQL when it is unreachable.
    #[arg(long)]
    require_postgres: bool,

    #[arg(
        long,
        env = "LEADQUAL_TEST_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres_url: String,

    /// Ignored (cargo bench passes it).
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let leads = args
        .leads
        .unwrap_or(if args.quick { 2_000 } else { 50_000 });
    println!("QualifyLeads against the storage floor, {leads} new leads per stream");
    println!(
        "{:<10} {:>14} {:>14} {:>8} {:>10} {:>20}",
        "backend", "stream leads/s", "floor leads/s", "ratio", "stream s", "sparse floor leads/s"
    );
    let dir = tempfile::Builder::new().prefix("leadqual-bulk").tempdir()?;
    let sqlite = |name: &str| format!("sqlite://{}", dir.path().join(name).display());
    let measured = measure("sqlite", &sqlite("stream.db"), &sqlite("floor.db"), leads).await?;
    print_row("sqlite", &measured);

    match Postgres::create(&args.postgres_url).await? {
        Some((stream_db, floor_db)) => {
            let measured = measure("postgres", &stream_db.url, &floor_db.url, leads).await;
            stream_db.drop_database().await?;
            floor_db.drop_database().await?;
            print_row("postgres", &measured?);
        }
        None if args.require_postgres || std::env::var("CI").as_deref() == Ok("true") => {
            bail!("PostgreSQL is unreachable at {}", args.postgres_url)
        }
        None => println!(
            "postgres: skipped, PostgreSQL is unreachable at {}",
            args.postgres_url
        ),
    }
    Ok(())
}

struct Measured {
    stream: Duration,
    floor: Duration,
    /// The floor writing only the fired and unknown signal rows.
    sparse: Duration,
    /// Their share of all signal rows.
    kept_share: f64,
    leads: usize,
}

/// Removes the leads `lead_filter` selects (SQL on `lead_id`), with their
/// verdicts and signals; then reclaims the space.
async fn delete_leads(url: &str, lead_filter: &str) -> anyhow::Result<()> {
    let statements = ["signals", "verdicts", "leads"]
        .map(|table| format!("DELETE FROM {table} WHERE {lead_filter}"));
    if url.starts_with("postgres") {
        let mut conn = PgConnection::connect(url).await?;
        for sql in &statements {
            sqlx::query(sql).execute(&mut conn).await?;
        }
        sqlx::query("VACUUM ANALYZE").execute(&mut conn).await?;
    } else {
        let mut conn = SqliteConnection::connect(url).await?;
        for sql in &statements {
            sqlx::query(sql).execute(&mut conn).await?;
        }
        sqlx::query("VACUUM").execute(&mut conn).await?;
    }
    Ok(())
}

fn print_row(backend: &str, m: &Measured) {
    let rate = |d: Duration| m.leads as f64 / d.as_secs_f64();
    println!(
        "{backend:<10} {:>14.0} {:>14.0} {:>7.0}% {:>10.2} {:>8.0} ({:.0}% rows)",
        rate(m.stream),
        rate(m.floor),
        100.0 * m.floor.as_secs_f64() / m.stream.as_secs_f64(),
        m.stream.as_secs_f64(),
        rate(m.sparse),
        100.0 * m.kept_share
    );
}

async fn measure(
    backend: &str,
    stream_url: &str,
    floor_url: &str,
    leads: usize,
) -> anyhow::Result<Measured> {
    let stream = stream_leads(stream_url, leads).await?;
    let rows = Rows::read(stream_url).await?;
    ensure!(rows.leads.len() == leads, "{backend}: every lead stored");
    // The floor's schema is leadqual's, migrated as the server does.
    drop(leadqual::storage::connect(floor_url).await?);
    let floor = rows.write(floor_url, |_| true).await?;
    // The same without the CLEAR and NOT_APPLICABLE signal rows: what
    // storing only the fired and unknown ones would save.
    delete_leads(floor_url, "true").await?;
    let sparse_rows = |r: &SignalRow| r.5 == "FIRED" || r.5 == "UNKNOWN";
    let sparse = rows.write(floor_url, sparse_rows).await?;
    let kept = rows
        .signals
        .iter()
        .flatten()
        .filter(|r| sparse_rows(r))
        .count();
    Ok(Measured {
        stream,
        floor,
        sparse,
        kept_share: kept as f64 / (21 * leads) as f64,
        leads,
    })
}

/// Starts a server on `url`, streams `leads` new leads through
/// QualifyLeads and returns how long the stream took.
async fn stream_leads(url: &str, leads: usize) -> anyhow::Result<Duration> {
    let settings = Settings::new("127.0.0.1:0".parse()?, url);
    let app = Application::build(&settings).await?;
    let port = app.port();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let mut client = LeadQualificationServiceClient::connect(format!("http://127.0.0.1:{port}"))
        .await?
        .max_decoding_message_size(64 << 20);
    // Warm-up: connections, statements and the profile cache.
    let warm = run_stream(&mut client, "warm", 1_000).await?;
    ensure!(warm > Duration::ZERO);
    let measured = run_stream(&mut client, "lead", leads).await?;
    // The warm-up leads are not part of the rows compared.
    let _ = stop.send(());
    server.await?.context("the server failed")?;
    let db = url.to_owned();
    delete_leads(&db, "lead_id LIKE 'warm-%'").await?;
    Ok(measured)
}

async fn run_stream(
    client: &mut LeadQualificationServiceClient<tonic::transport::Channel>,
    prefix: &'static str,
    leads: usize,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let items = futures::stream::iter(0..leads).map(move |i| item(prefix, i));
    let mut results = client.qualify_leads(items).await?.into_inner();
    let mut n = 0;
    while let Some(result) = results.message().await? {
        match result.result {
            Some(ItemResult::Qualified(_)) => n += 1,
            other => bail!("item {} failed: {other:?}", result.correlation_id),
        }
    }
    ensure!(n == leads, "{n} results for {leads} items");
    Ok(started.elapsed())
}

/// A new lead with varied facts at a varied stage.
fn item(prefix: &str, i: usize) -> pb::QualifyLeadsRequest {
    let stages = [
        pb::Stage::Identification,
        pb::Stage::Contact,
        pb::Stage::Study,
        pb::Stage::Recommendation,
    ];
    let n = i as i64;
    let facts = pb::LeadFacts {
        employee_count: Some(5 + (n * 37) % 5_000),
        annual_revenue_usd: Some(100_000 + (n * 7_919) % 90_000_000),
        vertical: Some(["saas", "retail", "logistics", "finance"][i % 4].into()),
        country: Some(["US", "DE", "FR", "BR", "JP"][i % 5].into()),
        disrespectful_incidents: Some((i % 4) as i32),
        questions_asked: Some(10),
        questions_answered: Some((i % 11) as i32),
        meetings_cancelled: Some((i % 3) as i32),
        meetings_rescheduled: Some((i % 2) as i32),
        ..Default::default()
    };
    pb::QualifyLeadsRequest {
        correlation_id: i.to_string(),
        request: Some(pb::QualifyLeadRequest {
            lead_id: format!("{prefix}-{i:07}"),
            stage: stages[i % 4] as i32,
            facts: Some(facts),
            request_id: format!("{prefix}-request-{i}"),
            validate_only: false,
        }),
    }
}

/// Every stored row of the three tables, as text (and numbers), in the
/// order of the leads.
#[derive(Default)]
struct Rows {
    leads: Vec<LeadRow>,
    verdicts: Vec<VerdictRow>,
    /// Each lead's 21 signal rows.
    signals: Vec<Vec<SignalRow>>,
}

type LeadRow = (
    String,
    String,
    String,
    String,
    i64,
    String,
    String,
    String,
    String,
);
type VerdictRow = (
    String,
    String,
    String,
    i64,
    String,
    String,
    i32,
    i64,
    String,
    String,
    Option<String>,
    String,
    String,
    String,
);
type SignalRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    i32,
    bool,
    String,
    String,
    String,
    String,
);

const LEADS: &str = "SELECT tenant, lead_id, stage, CAST(facts AS TEXT), revision, \
     latest_verdict_id, latest_outcome, CAST(created_at AS TEXT), CAST(updated_at AS TEXT) \
     FROM leads ORDER BY lead_id";
const VERDICTS: &str = "SELECT verdict_id, tenant, lead_id, seq, stage, outcome, score, \
     profile_version, CAST(facts AS TEXT), facts_hash, request_id, \
     CAST(evaluated_at AS TEXT), CAST(evaluation_date AS TEXT), signals_json \
     FROM verdicts ORDER BY lead_id";
const SIGNALS: &str = "SELECT verdict_id, tenant, lead_id, criterion, stage, status, weight, \
     knockout, evidence, remedy, CAST(missing_facts AS TEXT), CAST(evaluated_at AS TEXT) \
     FROM signals ORDER BY lead_id, criterion";

/// The bare loop: per transaction, one multi-row INSERT of the leads, one
/// of their verdicts and a few of their signals (at most `$signals` rows a
/// statement, under both backends' limits on bound values).
macro_rules! floor {
    ($conn:ident, $rows:ident, $keep:ident, $db:ty, $signals:expr, $json:literal, $ts:literal, $date:literal) => {
        for (n, leads) in $rows.leads.chunks(BATCH).enumerate() {
            let verdicts = &$rows.verdicts[n * BATCH..n * BATCH + leads.len()];
            let signals: Vec<&SignalRow> = $rows.signals[n * BATCH..n * BATCH + leads.len()]
                .iter()
                .flatten()
                .filter(|r| $keep(r))
                .collect();
            let mut tx = $conn.begin().await?;
            let mut q = QueryBuilder::<$db>::new(
                "INSERT INTO leads (tenant, lead_id, stage, facts, revision, latest_verdict_id, \
                 latest_outcome, created_at, updated_at) ",
            );
            q.push_values(leads, |mut b, r| {
                b.push_bind(&r.0)
                    .push_bind(&r.1)
                    .push_bind(&r.2)
                    .push_bind(&r.3)
                    .push_unseparated($json)
                    .push_bind(r.4)
                    .push_bind(&r.5)
                    .push_bind(&r.6)
                    .push_bind(&r.7)
                    .push_unseparated($ts)
                    .push_bind(&r.8)
                    .push_unseparated($ts);
            });
            q.build().execute(&mut *tx).await?;
            let mut q = QueryBuilder::<$db>::new(
                "INSERT INTO verdicts (verdict_id, tenant, lead_id, seq, stage, outcome, score, \
                 profile_version, facts, facts_hash, request_id, evaluated_at, evaluation_date, \
                 signals_json) ",
            );
            q.push_values(verdicts, |mut b, r| {
                b.push_bind(&r.0)
                    .push_bind(&r.1)
                    .push_bind(&r.2)
                    .push_bind(r.3)
                    .push_bind(&r.4)
                    .push_bind(&r.5)
                    .push_bind(r.6)
                    .push_bind(r.7)
                    .push_bind(&r.8)
                    .push_unseparated($json)
                    .push_bind(&r.9)
                    .push_bind(&r.10)
                    .push_bind(&r.11)
                    .push_unseparated($ts)
                    .push_bind(&r.12)
                    .push_unseparated($date)
                    .push_bind(&r.13);
            });
            q.build().execute(&mut *tx).await?;
            for chunk in signals.chunks($signals) {
                let mut q = QueryBuilder::<$db>::new(
                    "INSERT INTO signals (verdict_id, tenant, lead_id, criterion, stage, status, \
                     weight, knockout, evidence, remedy, missing_facts, evaluated_at) ",
                );
                q.push_values(chunk, |mut b, &r| {
                    b.push_bind(&r.0)
                        .push_bind(&r.1)
                        .push_bind(&r.2)
                        .push_bind(&r.3)
                        .push_bind(&r.4)
                        .push_bind(&r.5)
                        .push_bind(r.6)
                        .push_bind(r.7)
                        .push_bind(&r.8)
                        .push_bind(&r.9)
                        .push_bind(&r.10)
                        .push_unseparated($json)
                        .push_bind(&r.11)
                        .push_unseparated($ts);
                });
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
        }
    };
}

impl Rows {
    async fn read(url: &str) -> anyhow::Result<Rows> {
        let (leads, verdicts, signals): (_, _, Vec<SignalRow>) = if url.starts_with("postgres") {
            let mut c = PgConnection::connect(url).await?;
            (
                sqlx::query_as(LEADS).fetch_all(&mut c).await?,
                sqlx::query_as(VERDICTS).fetch_all(&mut c).await?,
                sqlx::query_as(SIGNALS).fetch_all(&mut c).await?,
            )
        } else {
            let mut c = SqliteConnection::connect(url).await?;
            (
                sqlx::query_as(LEADS).fetch_all(&mut c).await?,
                sqlx::query_as(VERDICTS).fetch_all(&mut c).await?,
                sqlx::query_as(SIGNALS).fetch_all(&mut c).await?,
            )
        };
        ensure!(
            signals.len() == 21 * verdicts.len(),
            "21 signal rows per verdict"
        );
        Ok(Rows {
            leads,
            verdicts,
            signals: signals.chunks(21).map(<[SignalRow]>::to_vec).collect(),
        })
    }

    /// Writes the rows, [`BATCH`] leads per transaction, with the signal
    /// rows `keep` keeps; how long it took.
    async fn write(&self, url: &str, keep: fn(&SignalRow) -> bool) -> anyhow::Result<Duration> {
        ensure!(self.verdicts.len() == self.leads.len());
        ensure!(self.signals.len() == self.leads.len());
        if url.starts_with("postgres") {
            let mut c = PgConnection::connect(url).await?;
            let started = Instant::now();
            floor!(
                c,
                self,
                keep,
                sqlx::Postgres,
                2_700,
                "::jsonb",
                "::timestamptz",
                "::date"
            );
            Ok(started.elapsed())
        } else {
            let mut c = SqliteConnection::connect(url).await?;
            sqlx::query("PRAGMA synchronous = FULL")
                .execute(&mut c)
                .await?;
            let started = Instant::now();
            floor!(c, self, keep, sqlx::Sqlite, 2_700, "", "", "");
            Ok(started.elapsed())
        }
    }
}

/// Two throwaway PostgreSQL databases.
struct Postgres {
    admin_url: String,
    name: String,
    url: String,
}

impl Postgres {
    async fn create(admin_url: &str) -> anyhow::Result<Option<(Postgres, Postgres)>> {
        let Ok(Ok(mut conn)) =
            tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(admin_url)).await
        else {
            return Ok(None);
        };
        let base = admin_url.rsplit_once('/').map_or(admin_url, |(b, _)| b);
        let mut made = Vec::new();
        for _ in 0..2 {
            let name = format!("leadqual_bulk_{}", uuid::Uuid::now_v7().simple());
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await?;
            made.push(Postgres {
                admin_url: admin_url.to_owned(),
                url: format!("{base}/{name}"),
                name,
            });
        }
        let floor = made.pop().context("two databases")?;
        let stream = made.pop().context("two databases")?;
        Ok(Some((stream, floor)))
    }

    async fn drop_database(self) -> anyhow::Result<()> {
        let mut conn = PgConnection::connect(&self.admin_url).await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn)
        .await?;
        Ok(())
    }
}
