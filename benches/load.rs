//! Load generator for leadqual: `cargo bench --bench load -- [OPTIONS]`
//! (`--help` lists them; `scripts/bench` runs the whole suite).
//!
//! Every scenario starts its own server in this process, on a real TCP port
//! on 127.0.0.1, and drives it over gRPC from `--connections` HTTP/2
//! connections with `--in-flight` requests outstanding on each, for
//! `--duration-secs` (or `--requests` calls) after a warm-up. Every response
//! is checked (status OK and the expected content); any failure is counted,
//! reported and makes the run exit non-zero. Latency goes into an
//! HdrHistogram (microsecond resolution, 3 significant digits).
//!
//! The scenarios, measured in the same run so that the ratios compare like
//! with like:
//! - `echo`: a bare tonic server in this binary whose QualifyLead echoes a
//!   response built from the request (no engine, no storage): the ceiling of
//!   the stack on this machine;
//! - `read_floor`: the echo plus one indexed SQLite point read through
//!   sqlx per call, the floor of any handler that must read SQLite (as
//!   `validate_only` and GetLead must);
//! - `validate_only`: leadqual on SQLite, QualifyLead with validate_only;
//! - `sqlite`: QualifyLead persisted on SQLite (a file in a temp dir);
//! - `postgres`: QualifyLead persisted on PostgreSQL (a throwaway database,
//!   dropped at the end; skipped with a note when PostgreSQL is unreachable,
//!   unless `--require-postgres`);
//! - `get_lead`: GetLead of random existing leads on a SQLite store seeded
//!   with `--seed-leads` leads.
//!
//! Calls to leadqual carry `authorization: Bearer <key>` of API keys created
//! for the run (tenant `bench`), so authentication is on the measured path;
//! `--no-auth` measures keyless mode instead.
//!
//! A scenario is one entry of [`scenarios`]: a name and a function that
//! starts its server and returns the call to repeat. A new one (a streaming
//! RPC, say) is a new entry whose call drives one stream per "request".
//!
//! Client and server share the process and its Tokio runtime (sized to the
//! machine unless `--worker-threads`): the numbers include the load
//! generator's own CPU use, as they would on a one-box test. The peak
//! resident memory reported is the whole process's (VmHWM, reset before each
//! scenario's load through /proc/self/clear_refs).

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use leadqual::auth::{Authenticator, CLI_ACTOR, Role};
use leadqual::proto::v1 as pb;
use leadqual::startup::{Application, Settings};
use pb::lead_qualification_service_client::LeadQualificationServiceClient;
use pb::lead_qualification_service_server::{
    LeadQualificationService, LeadQualificationServiceServer,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Response, Status};

/// Load generator for leadqual: echo ceiling, validate_only, SQLite,
/// PostgreSQL and GetLead, measured in one run.
#[derive(Clone, Debug, Parser)]
#[command(name = "load")]
struct Args {
    /// HTTP/2 connections to each server.
    #[arg(long, default_value_t = 4)]
    connections: usize,

    /// Requests outstanding on each connection.
    #[arg(long, default_value_t = 16)]
    in_flight: usize,

    /// Measured time per scenario, after the warm-up.
    #[arg(long, default_value_t = 10.0)]
    duration_secs: f64,

    /// Measure this many calls per scenario instead of a duration.
    #[arg(long)]
    requests: Option<u64>,

    /// Unmeasured load before each measurement (responses still checked).
    #[arg(long, default_value_t = 2.0)]
    warmup_secs: f64,

    /// Smoke run of a few seconds: short phases and a small seeded store.
    /// Checks that every response succeeds; its numbers mean little.
    #[arg(long)]
    quick: bool,

    /// Run only the scenarios whose name contains one of these (repeatable).
    #[arg(long)]
    scenario: Vec<String>,

    /// Fail instead of skipping the postgres scenario when PostgreSQL is
    /// unreachable.
    #[arg(long)]
    require_postgres: bool,

    /// Where the postgres scenario creates (and drops) its database.
    #[arg(
        long,
        env = "LEADQUAL_TEST_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres_url: String,

    /// Leads in the store GetLead reads (default 100,000; 1,000 with
    /// --quick).
    #[arg(long)]
    seed_leads: Option<u64>,

    /// Distinct lead ids the QualifyLead scenarios write to, at random.
    #[arg(long, default_value_t = 100_000)]
    lead_ids: u64,

    /// Send no request_id with QualifyLead (skips the idempotency lookup).
    #[arg(long)]
    no_request_ids: bool,

    /// Create no API key and call without one (leadqual then serves the
    /// default tenant, keyless, on loopback). By default every call carries
    /// `authorization: Bearer <key>` of a key created for the run.
    #[arg(long)]
    no_auth: bool,

    /// leadqual's logging: `null` logs at info, as `leadqual serve` does by
    /// default, into /dev/null (formatting and one write per line included);
    /// `off` installs no subscriber.
    #[arg(long, value_enum, default_value = "null")]
    server_log: ServerLog,

    /// Where the SQLite scenarios put their database files (default: the
    /// system temp dir). /dev/shm, say, takes the disk out of the picture.
    #[arg(long)]
    sqlite_dir: Option<PathBuf>,

    /// Tokio worker threads shared by the servers and the load generator
    /// (default: the number of CPUs).
    #[arg(long)]
    worker_threads: Option<usize>,

    /// Passed by `cargo bench`; without it (`cargo test --benches`) the run
    /// is a --quick smoke run.
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ServerLog {
    Null,
    Off,
}

/// Settings after --quick and the defaults are applied.
#[derive(Clone, Debug)]
struct Plan {
    args: Args,
    duration: Duration,
    warmup: Duration,
    seed_leads: u64,
}

impl Plan {
    fn new(mut args: Args) -> Self {
        if !args.bench && !args.quick {
            println!("(not run by `cargo bench`: running as a --quick smoke test)");
            args.quick = true;
        }
        let (duration, warmup, seed) = if args.quick {
            (
                args.duration_secs.min(0.5),
                args.warmup_secs.min(0.2),
                1_000,
            )
        } else {
            (args.duration_secs, args.warmup_secs, 100_000)
        };
        Plan {
            duration: Duration::from_secs_f64(duration),
            warmup: Duration::from_secs_f64(warmup),
            seed_leads: args.seed_leads.unwrap_or(seed).max(1),
            args,
        }
    }

    fn wants(&self, name: &str) -> bool {
        self.args.scenario.is_empty() || self.args.scenario.iter().any(|s| name.contains(s))
    }
}

type Client = LeadQualificationServiceClient<Channel>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// One call of a scenario, on a client of one of the connections, varied by
/// a random number. `Ok` only when the response is what the scenario expects.
type Call = Arc<dyn Fn(Client, u64) -> BoxFuture<Result<(), Status>> + Send + Sync>;

/// A named load: how to start its server and what to call.
struct Scenario {
    name: &'static str,
    about: &'static str,
    start: fn(Arc<Plan>) -> BoxFuture<anyhow::Result<Started>>,
}

enum Started {
    Ready(Target),
    Skipped(String),
}

/// A running server and the call to repeat against it.
struct Target {
    server: RunningServer,
    call: Call,
}

/// The scenarios, in the order they run; `echo` first, as the ceiling.
fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "echo",
            about: "bare tonic server, QualifyLead echoes the request (ceiling)",
            start: |plan| Box::pin(start_echo(plan)),
        },
        Scenario {
            name: "read_floor",
            about: "the echo, plus one indexed SQLite point read through sqlx per call (floor of any handler that reads SQLite)",
            start: |plan| Box::pin(start_read_floor(plan)),
        },
        Scenario {
            name: "validate_only",
            about: "QualifyLead validate_only=true (leadqual on SQLite, nothing stored)",
            start: |plan| Box::pin(start_qualify(plan, Backend::Sqlite, true)),
        },
        Scenario {
            name: "sqlite",
            about: "QualifyLead persisted on SQLite",
            start: |plan| Box::pin(start_qualify(plan, Backend::Sqlite, false)),
        },
        Scenario {
            name: "postgres",
            about: "QualifyLead persisted on PostgreSQL",
            start: |plan| Box::pin(start_qualify(plan, Backend::Postgres, false)),
        },
        Scenario {
            name: "get_lead",
            about: "GetLead of random existing leads (SQLite store)",
            start: |plan| Box::pin(start_get_lead(plan)),
        },
    ]
}

fn main() -> anyhow::Result<()> {
    let plan = Arc::new(Plan::new(Args::parse()));
    let threads = plan.args.worker_threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    if plan.args.server_log == ServerLog::Null {
        install_null_logging()?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    let failed = runtime.block_on(run(plan, threads))?;
    if failed {
        std::process::exit(1);
    }
    Ok(())
}

/// leadqual's default logging (text lines at info), written to /dev/null.
fn install_null_logging() -> anyhow::Result<()> {
    let null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .context("cannot open /dev/null")?;
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(Arc::new(null))
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot install the log subscriber: {e}"))
}

/// Runs every selected scenario; true when any failed.
async fn run(plan: Arc<Plan>, threads: usize) -> anyhow::Result<bool> {
    let a = &plan.args;
    println!(
        "leadqual load: {} connections x {} in flight = {} concurrent calls; {}; \
         warm-up {:.1} s; build {}; {} Tokio worker threads on {} CPUs shared by servers \
         and load generator; server logging: {}; {}{}",
        a.connections,
        a.in_flight,
        a.connections * a.in_flight,
        match a.requests {
            Some(n) => format!("{n} calls per scenario"),
            None => format!("{:.1} s per scenario", plan.duration.as_secs_f64()),
        },
        plan.warmup.as_secs_f64(),
        if cfg!(debug_assertions) {
            "debug (numbers not meaningful)"
        } else {
            "optimized"
        },
        threads,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        match a.server_log {
            ServerLog::Null => "info to /dev/null",
            ServerLog::Off => "off",
        },
        if a.no_auth {
            "no API key (keyless mode)"
        } else {
            "API key on every call"
        },
        if a.quick { "; QUICK smoke run" } else { "" },
    );
    let mut results: Vec<Named> = Vec::new();
    let mut failed = false;
    for scenario in scenarios() {
        if !plan.wants(scenario.name) {
            continue;
        }
        println!("\n== {}: {}", scenario.name, scenario.about);
        let outcome = match (scenario.start)(plan.clone()).await {
            Ok(Started::Ready(target)) => measure(&plan, target).await,
            Ok(Started::Skipped(note)) => {
                println!("   SKIPPED: {note}");
                Outcome::Skipped(note)
            }
            Err(e) => Outcome::Failed(format!("{e:#}")),
        };
        match &outcome {
            Outcome::Measured(m) => {
                println!("   {}", m.line());
                if m.errors_total() > 0 {
                    failed = true;
                    println!("   FAILED CALLS: {}", m.error_summary());
                }
                if m.ok == 0 {
                    failed = true;
                    println!("   FAILED: no call completed");
                }
            }
            Outcome::Failed(e) => {
                failed = true;
                println!("   FAILED: {e}");
            }
            Outcome::Skipped(_) => {}
        }
        results.push(outcome.named(scenario.name));
    }
    print_table(&results);
    if failed {
        println!("\nRESULT: FAILED (see above)");
    } else {
        println!("\nRESULT: every response succeeded");
    }
    Ok(failed)
}

// ---------------------------------------------------------------------------
// Measurement

enum Outcome {
    Measured(Box<Measurement>),
    Skipped(String),
    Failed(String),
}

struct Named {
    name: &'static str,
    outcome: Outcome,
}

impl Outcome {
    fn named(self, name: &'static str) -> Named {
        Named {
            name,
            outcome: self,
        }
    }
}

struct Measurement {
    ok: u64,
    elapsed: Duration,
    histogram: Histogram<u64>,
    errors: BTreeMap<String, u64>,
    first_error: Option<String>,
    peak_rss_kib: Option<u64>,
    /// CPU time of the whole process over the phase, in seconds.
    cpu_secs: Option<f64>,
    /// Bytes the process sent to the storage layer (file writes, WAL and
    /// checkpoints included) over the phase.
    disk_bytes: Option<u64>,
    /// Busy CPU time of the whole machine over the phase (PostgreSQL's own
    /// processes included), in seconds.
    machine_cpu_secs: Option<f64>,
}

impl Measurement {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    fn ms(&self, quantile: f64) -> f64 {
        self.histogram.value_at_quantile(quantile) as f64 / 1000.0
    }

    fn errors_total(&self) -> u64 {
        self.errors.values().sum()
    }

    fn error_summary(&self) -> String {
        let counts: Vec<String> = self
            .errors
            .iter()
            .map(|(k, v)| format!("{k} x{v}"))
            .collect();
        format!(
            "{}; first: {}",
            counts.join(", "),
            self.first_error.as_deref().unwrap_or("-")
        )
    }

    fn line(&self) -> String {
        format!(
            "{} ok in {:.2} s = {:.0} req/s; p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, \
             p99.9 {:.3} ms, max {:.3} ms; {} errors; peak RSS {}; this process: {} cores \
             busy, {} us CPU per call; whole machine: {} cores busy; {} KiB written to \
             storage per call",
            self.ok,
            self.elapsed.as_secs_f64(),
            self.rate(),
            self.ms(0.5),
            self.ms(0.9),
            self.ms(0.99),
            self.ms(0.999),
            self.histogram.max() as f64 / 1000.0,
            self.errors_total(),
            self.peak_rss_kib.map_or("n/a".to_owned(), |k| format!(
                "{:.1} MiB",
                k as f64 / 1024.0
            )),
            self.cpu_secs.map_or("n/a".to_owned(), |c| format!(
                "{:.2}",
                c / self.elapsed.as_secs_f64()
            )),
            self.cpu_per_call_us()
                .map_or("n/a".to_owned(), |us| format!("{us:.0}")),
            self.machine_cpu_secs.map_or("n/a".to_owned(), |c| format!(
                "{:.2}",
                c / self.elapsed.as_secs_f64()
            )),
            self.disk_per_call_kib()
                .map_or("n/a".to_owned(), |k| format!("{k:.1}")),
        )
    }

    /// Busy CPU time of the whole machine per successful call.
    fn machine_cpu_per_call_us(&self) -> Option<f64> {
        let calls = self.ok.max(1) as f64;
        self.machine_cpu_secs.map(|c| c * 1e6 / calls)
    }

    /// Process CPU time (servers and load generator) per successful call.
    fn cpu_per_call_us(&self) -> Option<f64> {
        let calls = self.ok.max(1) as f64;
        self.cpu_secs.map(|c| c * 1e6 / calls)
    }

    fn disk_per_call_kib(&self) -> Option<f64> {
        let calls = self.ok.max(1) as f64;
        self.disk_bytes.map(|b| b as f64 / 1024.0 / calls)
    }
}

/// Warms up, measures, stops the server and cleans up its database.
async fn measure(plan: &Plan, target: Target) -> Outcome {
    let result = drive(plan, &target).await;
    let stopped = target.server.stop().await;
    match (result, stopped) {
        (Ok(m), Ok(())) => Outcome::Measured(Box::new(m)),
        (Err(e), _) | (Ok(_), Err(e)) => Outcome::Failed(format!("{e:#}")),
    }
}

async fn drive(plan: &Plan, target: &Target) -> anyhow::Result<Measurement> {
    let clients = connect_all(target.server.port, plan.args.connections).await?;
    let per_connection = plan.args.in_flight.max(1);
    let warm = run_phase(
        &clients,
        per_connection,
        &target.call,
        Until::Deadline(plan.warmup),
        0x5eed,
    )
    .await;
    let rss_reset = reset_peak_rss();
    let (cpu_before, disk_before) = (cpu_secs(), disk_write_bytes());
    let machine_before = machine_busy_secs();
    let until = match plan.args.requests {
        Some(n) => Until::Count(n),
        None => Until::Deadline(plan.duration),
    };
    let mut m = run_phase(&clients, per_connection, &target.call, until, 0xbe4c).await;
    m.peak_rss_kib = if rss_reset { peak_rss_kib() } else { None };
    m.cpu_secs = cpu_secs()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    m.disk_bytes = disk_write_bytes()
        .zip(disk_before)
        .map(|(after, before)| after.saturating_sub(before));
    m.machine_cpu_secs = machine_busy_secs()
        .zip(machine_before)
        .map(|(after, before)| after - before);
    // The warm-up's responses count as checked responses too.
    for (code, n) in warm.errors {
        *m.errors.entry(format!("{code} (warm-up)")).or_default() += n;
    }
    if m.first_error.is_none() {
        m.first_error = warm.first_error;
    }
    Ok(m)
}

async fn connect_all(port: u16, connections: usize) -> anyhow::Result<Vec<Client>> {
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections.max(1) {
        // One Endpoint::connect is one HTTP/2 connection.
        let channel = Endpoint::from_shared(format!("http://127.0.0.1:{port}"))?
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await
            .with_context(|| format!("cannot connect to 127.0.0.1:{port}"))?;
        clients
            .push(LeadQualificationServiceClient::new(channel).max_decoding_message_size(64 << 20));
    }
    Ok(clients)
}

enum Until {
    Deadline(Duration),
    Count(u64),
}

#[derive(Default)]
struct WorkerTally {
    ok: u64,
    errors: BTreeMap<String, u64>,
    first_error: Option<String>,
}

/// `clients.len() * per_connection` workers, each with one call in flight at a
/// time, until the deadline passes or the calls are used up.
async fn run_phase(
    clients: &[Client],
    per_connection: usize,
    call: &Call,
    until: Until,
    salt: u64,
) -> Measurement {
    let start = Instant::now();
    let (deadline, budget) = match until {
        Until::Deadline(d) => (Some(start + d), None),
        Until::Count(n) => (None, Some(Arc::new(AtomicU64::new(n)))),
    };
    let mut workers = Vec::new();
    for (c, client) in clients.iter().enumerate() {
        for w in 0..per_connection {
            let client = client.clone();
            let call = call.clone();
            let budget = budget.clone();
            let mut rng = SplitMix(salt ^ (((c * per_connection + w) as u64) << 20));
            workers.push(tokio::spawn(async move {
                let mut histogram = new_histogram();
                let mut tally = WorkerTally::default();
                loop {
                    if let Some(deadline) = deadline
                        && Instant::now() >= deadline
                    {
                        break;
                    }
                    if let Some(budget) = &budget
                        && budget
                            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                                n.checked_sub(1)
                            })
                            .is_err()
                    {
                        break;
                    }
                    let r = rng.next();
                    let sent = Instant::now();
                    let result = call(client.clone(), r).await;
                    let micros = sent.elapsed().as_micros() as u64;
                    match result {
                        Ok(()) => {
                            tally.ok += 1;
                            histogram.saturating_record(micros.max(1));
                        }
                        Err(status) => {
                            *tally
                                .errors
                                .entry(format!("{:?}", status.code()))
                                .or_default() += 1;
                            tally.first_error.get_or_insert_with(|| {
                                format!("{:?}: {}", status.code(), status.message())
                            });
                        }
                    }
                }
                (histogram, tally)
            }));
        }
    }
    let mut m = Measurement {
        ok: 0,
        elapsed: Duration::ZERO,
        histogram: new_histogram(),
        errors: BTreeMap::new(),
        first_error: None,
        peak_rss_kib: None,
        cpu_secs: None,
        disk_bytes: None,
        machine_cpu_secs: None,
    };
    for worker in workers {
        match worker.await {
            Ok((histogram, tally)) => {
                m.ok += tally.ok;
                m.histogram
                    .add(&histogram)
                    .expect("histograms of equal bounds add up");
                for (code, n) in tally.errors {
                    *m.errors.entry(code).or_default() += n;
                }
                if m.first_error.is_none() {
                    m.first_error = tally.first_error;
                }
            }
            Err(e) => {
                *m.errors.entry("worker panicked".into()).or_default() += 1;
                m.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    m.elapsed = start.elapsed();
    m
}

/// Microseconds from 1 µs to 60 s, 3 significant digits.
fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// A small, fast, seedable random number generator (SplitMix64).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Resets the process's peak resident set size (Linux ≥ 4.0).
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// User plus system CPU time of the whole process so far, in seconds
/// (/proc/self/stat counts in clock ticks, 100 per second on Linux).
fn cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses: utime and
    // stime are the 12th and 13th.
    let mut after = stat.rsplit_once(')')?.1.split_whitespace();
    let utime: u64 = after.nth(11)?.parse().ok()?;
    let stime: u64 = after.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// Busy (not idle, not waiting for I/O) CPU time of the whole machine so far,
/// in seconds (/proc/stat, in clock ticks of 100 per second).
fn machine_busy_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = stat.lines().next()?.strip_prefix("cpu ")?;
    let ticks: Vec<u64> = cpu
        .split_whitespace()
        .map(|t| t.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let busy: u64 = ticks
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .take(8)
        .map(|(_, t)| t)
        .sum();
    Some(busy as f64 / 100.0)
}

/// Bytes this process caused to be written to storage (/proc/self/io).
fn disk_write_bytes() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    let line = io.lines().find(|l| l.starts_with("write_bytes:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// VmHWM: the process's peak resident set size, in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn print_table(results: &[Named]) {
    let echo = results.iter().find_map(|r| match (&r.outcome, r.name) {
        (Outcome::Measured(m), "echo") => Some(m.rate()),
        _ => None,
    });
    println!();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    println!(
        "| scenario | req/s | vs echo | p50 ms | p90 ms | p99 ms | p99.9 ms | errors \
         | peak RSS MiB | CPU us/call | machine CPU us/call | CPU limit req/s | disk KiB/call |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in results {
        match &r.outcome {
            Outcome::Measured(m) => {
                let machine_us = m.machine_cpu_per_call_us();
                println!(
                    "| {} | {:.0} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {} | {} | {} | {} | {} | {} |",
                    r.name,
                    m.rate(),
                    echo.map_or("n/a".to_owned(), |e| format!(
                        "{:.0}%",
                        100.0 * m.rate() / e
                    )),
                    m.ms(0.5),
                    m.ms(0.9),
                    m.ms(0.99),
                    m.ms(0.999),
                    m.errors_total(),
                    m.peak_rss_kib
                        .map_or("n/a".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0)),
                    m.cpu_per_call_us()
                        .map_or("n/a".to_owned(), |us| format!("{us:.0}")),
                    machine_us.map_or("n/a".to_owned(), |us| format!("{us:.0}")),
                    machine_us.map_or("n/a".to_owned(), |us| format!("{:.0}", cpus * 1e6 / us)),
                    m.disk_per_call_kib()
                        .map_or("n/a".to_owned(), |k| format!("{k:.1}")),
                )
            }
            Outcome::Skipped(note) => {
                println!("| {} | skipped: {note} | | | | | | | | | | | |", r.name)
            }
            Outcome::Failed(e) => println!("| {} | FAILED: {e} | | | | | | | | | | | |", r.name),
        }
    }
    println!(
        "\npeak RSS: VmHWM of this whole process (servers in-process plus the load \
         generator), reset before each scenario's measured phase; the seeded store's \
         seeding is not included. CPU us/call: user+system CPU time of the whole process \
         (load generator included) per successful call. machine CPU us/call: busy CPU \
         time of the whole machine (PostgreSQL's processes included) per successful call; \
         CPU limit req/s: CPUs / machine CPU per call, the most the scenario can do on \
         this machine at its measured cost per call. disk KiB/call: bytes written to \
         storage by this process (/proc/self/io write_bytes; SQLite's WAL and checkpoints; \
         PostgreSQL writes in its own processes and is not counted) per call."
    );
}

// ---------------------------------------------------------------------------
// Servers

enum Backend {
    Sqlite,
    Postgres,
}

/// A server running on this process's runtime, and the database to remove
/// once it stopped.
struct RunningServer {
    port: u16,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
    database: Database,
    keys: Keys,
}

/// The `authorization` metadata of calls; `None` sends none.
#[derive(Clone, Default)]
struct Keys {
    /// For the load: a key with the scorer role.
    scorer: Option<AsciiMetadataValue>,
    /// For setting the profile.
    admin: Option<AsciiMetadataValue>,
}

/// API keys of tenant `bench`, created straight in the database (as
/// `leadqual keys create` does).
async fn create_keys(database_url: &str) -> anyhow::Result<Keys> {
    let keys = Authenticator::new(leadqual::storage::connect(database_url).await?, false);
    let bearer = async |role: Role| -> anyhow::Result<AsciiMetadataValue> {
        let key = keys
            .issue("bench", &[role], "load bench", CLI_ACTOR)
            .await
            .map_err(|e| anyhow::anyhow!("cannot create an API key: {e}"))?;
        Ok(format!("Bearer {}", key.secret).parse()?)
    };
    Ok(Keys {
        scorer: Some(bearer(Role::Scorer).await?),
        admin: Some(bearer(Role::Admin).await?),
    })
}

enum Database {
    None,
    Sqlite(tempfile::TempDir),
    Postgres(PostgresDatabase),
}

impl RunningServer {
    async fn stop(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(());
        let served = self.task.await.context("the server task panicked")?;
        let cleaned = match self.database {
            Database::Postgres(db) => db.drop_database().await,
            Database::Sqlite(dir) => dir.close().context("cannot remove the SQLite temp dir"),
            Database::None => Ok(()),
        };
        served.context("the server failed")?;
        cleaned
    }
}

/// Starts leadqual itself on `database_url` (as `leadqual serve` would,
/// listening on a free port), with API keys unless `--no-auth`.
async fn start_leadqual(
    plan: &Plan,
    database_url: &str,
    database: Database,
) -> anyhow::Result<RunningServer> {
    let settings = Settings::new("127.0.0.1:0".parse()?, database_url);
    let built = async {
        let keys = if plan.args.no_auth {
            Keys::default()
        } else {
            create_keys(database_url).await?
        };
        anyhow::Ok((Application::build(&settings).await?, keys))
    }
    .await;
    let (app, keys) = match built {
        Ok(built) => built,
        Err(e) => {
            if let Database::Postgres(db) = database {
                let _ = db.drop_database().await;
            }
            return Err(e.context("leadqual does not start"));
        }
    };
    let port = app.port();
    let (shutdown, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    Ok(RunningServer {
        port,
        shutdown,
        task,
        database,
        keys,
    })
}

/// A SQLite database in a fresh temp dir under `parent` (the system temp
/// dir when `None`).
fn sqlite_database(parent: Option<&Path>) -> anyhow::Result<(String, tempfile::TempDir)> {
    let dir = match parent {
        Some(p) => tempfile::Builder::new()
            .prefix("leadqual-bench")
            .tempdir_in(p),
        None => tempfile::Builder::new().prefix("leadqual-bench").tempdir(),
    }
    .context("cannot create a temp dir")?;
    let url = format!("sqlite://{}", dir.path().join("leadqual.db").display());
    Ok((url, dir))
}

/// A throwaway PostgreSQL database.
struct PostgresDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PostgresDatabase {
    /// `Ok(None)` when PostgreSQL is unreachable at `admin_url`.
    async fn create(admin_url: &str) -> anyhow::Result<Option<PostgresDatabase>> {
        let Some(mut conn) = connect_admin(admin_url).await else {
            return Ok(None);
        };
        let name = format!("leadqual_bench_{}", uuid::Uuid::now_v7().simple());
        sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
            .await
            .with_context(|| format!("cannot create database {name}"))?;
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url, |(base, _)| base);
        Ok(Some(PostgresDatabase {
            url: format!("{base}/{name}"),
            admin_url: admin_url.to_owned(),
            name,
        }))
    }

    async fn drop_database(self) -> anyhow::Result<()> {
        let mut conn = connect_admin(&self.admin_url)
            .await
            .context("PostgreSQL went away before the bench database could be dropped")?;
        sqlx::Executor::execute(
            &mut conn,
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str(),
        )
        .await
        .with_context(|| format!("cannot drop database {}", self.name))?;
        Ok(())
    }
}

async fn connect_admin(admin_url: &str) -> Option<sqlx::PgConnection> {
    use sqlx::Connection;
    tokio::time::timeout(
        Duration::from_secs(5),
        sqlx::PgConnection::connect(admin_url),
    )
    .await
    .ok()?
    .ok()
}

/// Applies the benchmark's profile: every restriction set, seller in
/// Europe/Berlin (so criterion 6 computes the business-hours overlap).
async fn set_profile(server: &RunningServer) -> anyhow::Result<()> {
    let mut client = connect_all(server.port, 1).await?.remove(0);
    client
        .update_profile(request(
            pb::UpdateProfileRequest {
                profile: Some(bench_profile()),
                expected_version: None,
            },
            server.keys.admin.as_ref(),
        ))
        .await
        .context("UpdateProfile failed")?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Scenarios

async fn start_echo(plan: Arc<Plan>) -> anyhow::Result<Started> {
    serve_echo(plan, Echo { reads: None }, Database::None).await
}

/// The echo with one point read per call from a SQLite table of one row per
/// lead id the calls use (`--lead-ids`), through sqlx on as many connections
/// as leadqual reads with, each lent to one call at a time as leadqual lends them.
/// Every query of leadqual's SQLite backend pays at least this: the
/// hand-off to and from the connection's worker thread, and one B-tree walk.
async fn start_read_floor(plan: Arc<Plan>) -> anyhow::Result<Started> {
    use sqlx::ConnectOptions;
    use std::str::FromStr;
    let (url, dir) = sqlite_database(plan.args.sqlite_dir.as_deref())?;
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)?
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
    let mut setup = options
        .connect()
        .await
        .context("cannot create the read table")?;
    sqlx::query("CREATE TABLE leads (lead_id TEXT PRIMARY KEY, facts TEXT NOT NULL)")
        .execute(&mut setup)
        .await?;
    // The facts of a lead as leadqual stores them (about 700 bytes of JSON).
    let facts = format!("{{\"facts\": \"{}\"}}", "x".repeat(680));
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?1) \
         INSERT INTO leads SELECT printf('lead-%06d', i), ?2 FROM n",
    )
    .bind(plan.args.lead_ids.max(1) as i64)
    .bind(facts)
    .execute(&mut setup)
    .await?;
    drop(setup);
    let mut connections = Vec::new();
    for _ in 0..leadqual::storage::sqlite::READERS {
        connections.push(tokio::sync::Mutex::new(
            options.clone().read_only(true).connect().await?,
        ));
    }
    let reads = PointReads {
        connections,
        next: AtomicU64::new(0),
    };
    serve_echo(
        plan,
        Echo {
            reads: Some(Arc::new(reads)),
        },
        Database::Sqlite(dir),
    )
    .await
}

async fn serve_echo(plan: Arc<Plan>, echo: Echo, database: Database) -> anyhow::Result<Started> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let (shutdown, rx) = oneshot::channel::<()>();
    // As tonic's own `serve` would: TCP_NODELAY on accepted connections.
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let task = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(LeadQualificationServiceServer::new(echo))
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = rx.await;
            })
            .await
            .context("the echo server failed")
    });
    // The echo ignores it, but sends a key of the real size over the wire.
    let key = (!plan.args.no_auth).then(|| {
        format!("Bearer lq_000000000000_{}", "x".repeat(43))
            .parse()
            .expect("ASCII metadata")
    });
    Ok(Started::Ready(Target {
        call: qualify_call(&plan, key.clone(), false, Expect::Echo),
        server: RunningServer {
            port,
            shutdown,
            task,
            database,
            keys: Keys {
                scorer: key.clone(),
                admin: key,
            },
        },
    }))
}

async fn start_qualify(
    plan: Arc<Plan>,
    backend: Backend,
    validate_only: bool,
) -> anyhow::Result<Started> {
    let server = match backend {
        Backend::Sqlite => {
            let (url, dir) = sqlite_database(plan.args.sqlite_dir.as_deref())?;
            start_leadqual(&plan, &url, Database::Sqlite(dir)).await?
        }
        Backend::Postgres => {
            let Some(db) = PostgresDatabase::create(&plan.args.postgres_url).await? else {
                let why = format!(
                    "PostgreSQL is not reachable at {} (start it or set \
                     LEADQUAL_TEST_POSTGRES_URL)",
                    plan.args.postgres_url
                );
                if plan.args.require_postgres {
                    bail!("{why}, and --require-postgres was given");
                }
                return Ok(Started::Skipped(why));
            };
            let url = db.url.clone();
            start_leadqual(&plan, &url, Database::Postgres(db)).await?
        }
    };
    if let Err(e) = set_profile(&server).await {
        let _ = server.stop().await;
        return Err(e);
    }
    let expect = if validate_only {
        Expect::NotStored
    } else {
        Expect::Stored
    };
    Ok(Started::Ready(Target {
        call: qualify_call(&plan, server.keys.scorer.clone(), validate_only, expect),
        server,
    }))
}

/// Seeds a store of `--seed-leads` leads through leadqual itself, then serves
/// it from disk. Seeding runs on a copy in /dev/shm (no fsync, so 100,000
/// leads take seconds, not minutes); `VACUUM INTO` then writes the seeded
/// store to a file in the system temp dir (or `--sqlite-dir`), which the
/// measured server opens.
async fn start_get_lead(plan: Arc<Plan>) -> anyhow::Result<Started> {
    let leads = plan.seed_leads;
    let shm = Path::new("/dev/shm");
    let (seed_url, seed_dir) = sqlite_database(shm.is_dir().then_some(shm))?;
    let seeder = start_leadqual(&plan, &seed_url, Database::Sqlite(seed_dir)).await?;
    let seeded = async {
        set_profile(&seeder).await?;
        let started = Instant::now();
        seed(&seeder, leads).await?;
        println!(
            "   seeded {leads} leads in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let (url, dir) = sqlite_database(plan.args.sqlite_dir.as_deref())?;
        let target = PathBuf::from(url.trim_start_matches("sqlite://"));
        vacuum_into(&seed_url, &target).await?;
        anyhow::Ok((url, dir))
    }
    .await;
    let stopped = seeder.stop().await;
    let (url, dir) = seeded?;
    stopped?;
    let server = start_leadqual(&plan, &url, Database::Sqlite(dir)).await?;
    let key = server.keys.scorer.clone();
    Ok(Started::Ready(Target {
        server,
        call: Arc::new(move |mut client, r| {
            let lead_id = lead_name(r % leads);
            let get = request(
                pb::GetLeadRequest {
                    lead_id: lead_id.clone(),
                },
                key.as_ref(),
            );
            Box::pin(async move {
                let response = client.get_lead(get).await?.into_inner();
                match response.lead {
                    Some(lead) if lead.lead_id == lead_id && lead.latest_verdict.is_some() => {
                        Ok(())
                    }
                    _ => Err(Status::internal(format!(
                        "GetLead({lead_id}) answered without the lead and its verdict"
                    ))),
                }
            })
        }),
    }))
}

/// Qualifies leads `0..leads` over 64 concurrent calls.
async fn seed(server: &RunningServer, leads: u64) -> anyhow::Result<()> {
    let clients = connect_all(server.port, 4).await?;
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for i in 0..64 {
        let mut client = clients[i % clients.len()].clone();
        let next = next.clone();
        let key = server.keys.scorer.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let lead = next.fetch_add(1, Ordering::Relaxed);
                if lead >= leads {
                    return anyhow::Ok(());
                }
                let mut req = qualify_request(lead, lead.wrapping_mul(0x9e37_79b9), false);
                req.request_id.clear();
                client
                    .qualify_lead(request(req, key.as_ref()))
                    .await
                    .with_context(|| format!("seeding {} failed", lead_name(lead)))?;
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// Writes a consistent, compact copy of the SQLite database at `url` to
/// `target`.
async fn vacuum_into(url: &str, target: &Path) -> anyhow::Result<()> {
    use sqlx::ConnectOptions;
    use std::str::FromStr;
    let mut conn = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
        .connect()
        .await
        .context("cannot open the seeded store")?;
    let path = target.to_str().context("temp path is not UTF-8")?;
    sqlx::Executor::execute(
        &mut conn,
        format!("VACUUM INTO '{}'", path.replace('\'', "''")).as_str(),
    )
    .await
    .context("cannot copy the seeded store")?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Requests

/// What a QualifyLead response must look like.
#[derive(Clone, Copy)]
enum Expect {
    Echo,
    NotStored,
    Stored,
}

/// A request with `authorization` metadata when there is a key.
fn request<T>(message: T, key: Option<&AsciiMetadataValue>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(key) = key {
        request.metadata_mut().insert("authorization", key.clone());
    }
    request
}

fn lead_name(n: u64) -> String {
    format!("lead-{n:06}")
}

fn qualify_call(
    plan: &Plan,
    key: Option<AsciiMetadataValue>,
    validate_only: bool,
    expect: Expect,
) -> Call {
    let lead_ids = plan.args.lead_ids.max(1);
    let request_ids = !plan.args.no_request_ids;
    Arc::new(move |mut client, r| {
        let mut req = qualify_request(r % lead_ids, r, validate_only);
        if !request_ids {
            req.request_id.clear();
        }
        let lead_id = req.lead_id.clone();
        let req = request(req, key.as_ref());
        Box::pin(async move {
            let response = client.qualify_lead(req).await?.into_inner();
            let verdict = response.verdict.as_ref();
            let good = verdict.is_some_and(|v| {
                v.lead_id == lead_id
                    && v.signals.len() == leadqual::domain::Criterion::COUNT
                    && match expect {
                        Expect::Echo => true,
                        Expect::NotStored => v.verdict_id.is_empty(),
                        Expect::Stored => !v.verdict_id.is_empty(),
                    }
            }) && response.merged_facts.is_some();
            if good {
                Ok(())
            } else {
                Err(Status::new(
                    Code::Internal,
                    format!("unexpected QualifyLead response for {lead_id}"),
                ))
            }
        })
    })
}

/// A full update of a lead at RECOMMENDATION: every fact set, values varied
/// by `r`, so that 0 to about 6 criteria fire.
fn qualify_request(lead: u64, r: u64, validate_only: bool) -> pb::QualifyLeadRequest {
    let bits = |shift: u32, modulo: u64| ((r >> shift) % modulo) as i32;
    let (country, timezone) = match bits(0, 4) {
        0 => ("DE", "Europe/Berlin"),
        1 => ("FR", "Europe/Paris"),
        2 => ("AT", "Europe/Vienna"),
        _ => ("US", "America/New_York"),
    };
    let facts = pb::LeadFacts {
        employee_count: Some(5 + i64::from(bits(2, 700))),
        annual_revenue_usd: Some(500_000 + 100_000 * i64::from(bits(12, 600))),
        vertical: Some(["saas", "fintech", "retail"][bits(22, 3) as usize].to_owned()),
        business_model: Some(["b2b", "b2g", "b2c"][bits(24, 3) as usize].to_owned()),
        territory: Some(["emea", "dach"][bits(26, 2) as usize].to_owned()),
        country: Some(country.to_owned()),
        timezone: Some(timezone.to_owned()),
        disrespectful_incidents: Some(bits(27, 2)),
        emotional_only_responses: Some(bits(28, 8) == 0),
        engagement_pattern: Some(1 + bits(31, 4)),
        questions_asked: Some(10),
        questions_answered: Some(3 + bits(33, 8)),
        insists_on_own_process: Some(bits(36, 8) == 0),
        contradictory_statements: Some(bits(39, 3)),
        plan_steps_agreed: Some(5),
        plan_steps_completed: Some(bits(41, 6)),
        budget_usd: Some(5_000 + 1_000 * i64::from(bits(44, 100))),
        staff_available: Some(1 + bits(51, 5)),
        missed_sessions: Some(bits(54, 3)),
        priority: Some(1 + bits(56, 4)),
        expects_magic_wand: Some(bits(58, 10) == 0),
        assignments_given: Some(4),
        assignments_completed: Some(bits(60, 5)),
        meetings_cancelled: Some(bits(61, 2)),
        meetings_rescheduled: Some(bits(62, 3)),
        agreed_actions_not_done: Some(bits(1, 3)),
        max_material_repeats: Some(1 + bits(3, 5)),
        // A client: the account section is computed and stored too.
        orders_count: Some(bits(5, 6)),
        gross_profit_usd: Some(1_000 * i64::from(bits(7, 120))),
        referrals_count: Some(bits(9, 4)),
        first_purchase_date: Some("2024-03-31".to_owned()),
        cost_to_serve_usd: Some(500 * i64::from(bits(13, 20))),
        overdue_receivables_usd: Some(1_000 * i64::from(bits(17, 12))),
        last_contact_date: Some("2026-06-15".to_owned()),
        has_written_spec: Some(bits(19, 2) == 0),
        out_of_scope_changes: Some(bits(20, 4)),
        ..Default::default()
    };
    pb::QualifyLeadRequest {
        lead_id: lead_name(lead),
        stage: pb::Stage::Recommendation as i32,
        facts: Some(facts),
        request_id: format!("bench-{r:016x}"),
        validate_only,
    }
}

fn bench_profile() -> pb::Profile {
    pb::Profile {
        min_employees: Some(10),
        max_employees: Some(500),
        min_annual_revenue_usd: Some(1_000_000),
        max_annual_revenue_usd: Some(50_000_000),
        target_verticals: vec!["saas".into(), "fintech".into()],
        target_business_models: vec!["b2b".into(), "b2g".into()],
        territories: vec!["emea".into(), "dach".into()],
        countries: vec!["DE".into(), "FR".into(), "AT".into(), "CH".into()],
        seller_timezone: "Europe/Berlin".into(),
        min_budget_usd: Some(10_000),
        min_staff: Some(2),
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------
// The echo server: the same service definition, no engine, no storage.

struct Echo {
    /// Where `read_floor` reads one row per call.
    reads: Option<Arc<PointReads>>,
}

/// The read connections of `read_floor`: leadqual's number of
/// SQLite readers, each behind a lock.
struct PointReads {
    connections: Vec<tokio::sync::Mutex<sqlx::SqliteConnection>>,
    next: AtomicU64,
}

impl PointReads {
    /// The stored facts of `lead_id`, read by primary key.
    async fn read(&self, lead_id: &str) -> Result<Option<String>, Status> {
        let n = self.next.fetch_add(1, Ordering::Relaxed) as usize % self.connections.len();
        let mut connection = self.connections[n].lock().await;
        sqlx::query_scalar("SELECT facts FROM leads WHERE lead_id = ?1")
            .bind(lead_id)
            .fetch_optional(&mut *connection)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))
    }
}

#[tonic::async_trait]
impl LeadQualificationService for Echo {
    async fn qualify_lead(
        &self,
        request: Request<pb::QualifyLeadRequest>,
    ) -> Result<Response<pb::QualifyLeadResponse>, Status> {
        let request = request.into_inner();
        if let Some(reads) = &self.reads {
            reads.read(&request.lead_id).await?.ok_or_else(|| {
                Status::not_found(format!("{} is not in the read table", request.lead_id))
            })?;
        }
        // A response of the real one's shape: a verdict with one signal per
        // criterion (without text) and the facts sent back as merged facts.
        let signals = leadqual::domain::CATALOGUE
            .iter()
            .map(|def| def.criterion.number())
            .map(|criterion| pb::Signal {
                criterion,
                stage: request.stage,
                status: pb::SignalStatus::Clear as i32,
                ..Default::default()
            })
            .collect();
        Ok(Response::new(pb::QualifyLeadResponse {
            verdict: Some(pb::Verdict {
                tenant: "default".into(),
                lead_id: request.lead_id,
                stage: request.stage,
                outcome: pb::Outcome::Qualified as i32,
                signals,
                request_id: request.request_id,
                ..Default::default()
            }),
            merged_facts: request.facts,
            replayed: false,
        }))
    }

    async fn get_lead(
        &self,
        _: Request<pb::GetLeadRequest>,
    ) -> Result<Response<pb::GetLeadResponse>, Status> {
        Err(Status::unimplemented("echo serves QualifyLead only"))
    }

    async fn list_leads(
        &self,
        _: Request<pb::ListLeadsRequest>,
    ) -> Result<Response<pb::ListLeadsResponse>, Status> {
        Err(Status::unimplemented("echo serves QualifyLead only"))
    }

    async fn get_verdict(
        &self,
        _: Request<pb::GetVerdictRequest>,
    ) -> Result<Response<pb::GetVerdictResponse>, Status> {
        Err(Status::unimplemented("echo serves QualifyLead only"))
    }

    async fn list_verdicts(
        &self,
        _: Request<pb::ListVerdictsRequest>,
    ) -> Result<Response<pb::ListVerdictsResponse>, Status> {
        Err(Status::unimplemented("echo serves QualifyLead only"))
    }

    async fn list_criteria(
        &self,
        _: Request<pb::ListCriteriaRequest>,
    ) -> Result<Response<pb::ListCriteriaResponse>, Status> {
        Err(Status::unimplemented("echo serves QualifyLead only"))
    }

    async fn get_profile(
        &self,
        _: Request<pb::GetProfileRequest>,
    ) -> Result<Response<pb::GetProfileResponse>, Status> {
        Err(Status::unimplemented("echo serves QualifyLead only"))
    }

    async fn update_profile(
        &self,
        _: Request<pb::UpdateProfileRequest>,
    ) -> Result<Response<pb::UpdateProfileResponse>, Status> {
        Err(Status::unimplemented("echo serves QualifyLead only"))
    }

    async fn list_profile_versions(
        &self,
        _: Request<pb::ListProfileVersionsRequest>,
    ) -> Result<Response<pb::ListProfileVersionsResponse>, Status> {
        Err(Status::unimplemented("echo serves QualifyLead only"))
    }

    async fn override_verdict(
        &self,
        _: Request<pb::OverrideVerdictRequest>,
    ) -> Result<Response<pb::OverrideVerdictResponse>, Status> {
        Err(Status::unimplemented("echo serves QualifyLead only"))
    }
    async fn clear_override(
        &self,
        _: Request<pb::ClearOverrideRequest>,
    ) -> Result<Response<pb::ClearOverrideResponse>, Status> {
        Err(Status::unimplemented("echo serves QualifyLead only"))
    }

    async fn list_overrides(
        &self,
        _: Request<pb::ListOverridesRequest>,
    ) -> Result<Response<pb::ListOverridesResponse>, Status> {
        Err(Status::unimplemented("echo serves QualifyLead only"))
    }

    type QualifyLeadsStream =
        futures::stream::BoxStream<'static, Result<pb::QualifyLeadsResponse, Status>>;

    async fn qualify_leads(
        &self,
        _: Request<tonic::Streaming<pb::QualifyLeadsRequest>>,
    ) -> Result<Response<Self::QualifyLeadsStream>, Status> {
        Err(Status::unimplemented("echo serves QualifyLead only"))
    }

    async fn preview_profile(
        &self,
        _: Request<pb::PreviewProfileRequest>,
    ) -> Result<Response<pb::PreviewProfileResponse>, Status> {
        Err(Status::unimplemented("echo serves QualifyLead only"))
    }

    async fn get_signal_stats(
        &self,
        _: Request<pb::GetSignalStatsRequest>,
    ) -> Result<Response<pb::GetSignalStatsResponse>, Status> {
        Err(Status::unimplemented("echo serves QualifyLead only"))
    }

    type WatchVerdictsStream =
        futures::stream::BoxStream<'static, Result<pb::WatchVerdictsResponse, Status>>;

    async fn watch_verdicts(
        &self,
        _: Request<pb::WatchVerdictsRequest>,
    ) -> Result<Response<Self::WatchVerdictsStream>, Status> {
        Err(Status::unimplemented("echo serves QualifyLead only"))
    }
}
