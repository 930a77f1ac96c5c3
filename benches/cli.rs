//! CLI import benchmark: `cargo bench --bench cli -- [--quick] [--rows N]`.
//!
//! A generated CSV of `--rows` new leads (varied stages and facts) goes
//! through the `leadqual qualify` binary, end to end, against `leadqual
//! serve` on SQLite in a temp dir, both built in the profile of the run (the
//! optimized `bench` profile by default). The client runs twice: first every
//! row is stored, then the same file again, where every row is answered as
//! a replay and nothing is stored. Each run's output is checked (one result
//! per row, no failure) and its wall time, rows per second, the CPU time of
//! the client and of the server, and the client's peak resident memory are
//! printed.

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "cli")]
struct Args {
    /// A smoke run of 2,000 rows; its numbers mean little.
    #[arg(long)]
    quick: bool,

    /// Rows in the CSV (default 100,000; 2,000 with --quick).
    #[arg(long)]
    rows: Option<u64>,

    /// Ignored: `cargo bench` passes it to every bench target.
    #[arg(long, hide = true)]
    bench: bool,
}

const LEADQUAL: &str = env!("CARGO_BIN_EXE_leadqual");

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rows = args
        .rows
        .unwrap_or(if args.quick { 2_000 } else { 100_000 });
    let dir = tempfile::tempdir()?;
    let csv = dir.path().join("leads.csv");
    write_csv(&csv, rows)?;
    let database_url = format!("sqlite://{}", dir.path().join("bench.db").display());

    let key = Command::new(LEADQUAL)
        .args(["keys", "create", "--tenant", "bench", "--role", "scorer"])
        .args(["--database-url", &database_url])
        .stderr(Stdio::null())
        .output()
        .context("leadqual keys create")?;
    ensure!(key.status.success(), "leadqual keys create failed");
    let key = String::from_utf8(key.stdout)?.trim().to_owned();

    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let server_log = std::fs::File::create(dir.path().join("server.log"))?;
    let server = Command::new(LEADQUAL)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--database-url", &database_url, "--log-filter", "warn"])
        .stdout(Stdio::null())
        .stderr(server_log)
        .spawn()
        .context("leadqual serve")?;
    let server = KillOnDrop(server);
    wait_for_port(port)?;

    println!(
        "=== CLI import: leadqual qualify, a {rows}-row CSV ({:.1} MiB), server on SQLite, one client",
        std::fs::metadata(&csv)?.len() as f64 / 1_048_576.0
    );
    let run = Run {
        csv: &csv,
        port,
        key: &key,
        rows,
        server_pid: server.0.id(),
    };
    let first = run.client(&dir.path().join("first.jsonl"), false)?;
    first.print("first run (every row stored)");
    let again = run.client(&dir.path().join("again.jsonl"), true)?;
    again.print("same file again (every row replayed)");
    drop(server);
    Ok(())
}

/// Deterministic rows: every stage, most facts, some left empty.
fn write_csv(path: &Path, rows: u64) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(
        out,
        "lead_id,stage,employee_count,annual_revenue_usd,vertical,country,timezone,\
         disrespectful_incidents,emotional_only_responses,engagement_pattern,questions_asked,\
         questions_answered,contradictory_statements,plan_steps_agreed,plan_steps_completed,\
         budget_usd,missed_sessions,priority,expects_magic_wand,assignments_given,\
         assignments_completed,meetings_cancelled,meetings_rescheduled,max_material_repeats"
    )?;
    let stages = ["identification", "contact", "study", "recommendation"];
    let patterns = ["steady", "impulsive", "lethargic", "swinging", ""];
    let priorities = ["high", "normal", "low", "not_now", ""];
    let countries = ["DE", "FR", "US", "GB", "NL"];
    let zones = [
        "Europe/Berlin",
        "Europe/Paris",
        "America/New_York",
        "Europe/London",
        "",
    ];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    for i in 0..rows {
        let pick = |n: u64| n as usize;
        let asked = 10 + next(10);
        let answered = next(asked + 1);
        let agreed = 1 + next(5);
        let completed = next(agreed + 1);
        let given = 1 + next(5);
        let done = next(given + 1);
        writeln!(
            out,
            "bench-{i:07},{},{},{},saas,{},{},{},{},{},{asked},{answered},{},{agreed},{completed},\
             {},{},{},{},{given},{done},{},{},{}",
            stages[pick(next(4))],
            10 + next(5_000),
            100_000 + next(50_000_000),
            countries[pick(next(5))],
            zones[pick(next(5))],
            next(3),
            next(2) == 0,
            patterns[pick(next(5))],
            next(3),
            next(200_000),
            next(4),
            priorities[pick(next(5))],
            next(4) == 0,
            next(3),
            next(3),
            next(6),
        )?;
    }
    out.flush()?;
    Ok(())
}

fn wait_for_port(port: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("the server did not listen on port {port} within 30 s")
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Measured {
    rows: u64,
    elapsed: Duration,
    peak_rss_kib: u64,
    client_cpu: f64,
    server_cpu: f64,
}

impl Measured {
    fn print(&self, what: &str) {
        println!(
            "{what:<38} {:>8} rows in {:>6.2} s = {:>8.0} rows/s; CPU: client {:.1} s, \
             server {:.1} s; client peak RSS {:.1} MiB",
            self.rows,
            self.elapsed.as_secs_f64(),
            self.rows as f64 / self.elapsed.as_secs_f64(),
            self.client_cpu,
            self.server_cpu,
            self.peak_rss_kib as f64 / 1024.0
        );
    }
}

/// User + system CPU seconds of a running process, from /proc (clock ticks
/// of 1/100 s, as on every common Linux build).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the whole line.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// One server and its input.
struct Run<'a> {
    csv: &'a Path,
    port: u16,
    key: &'a str,
    rows: u64,
    server_pid: u32,
}

impl Run<'_> {
    /// Runs `leadqual qualify` over the CSV into `output` and checks its
    /// results (all replayed, or none).
    fn client(&self, output: &Path, replayed: bool) -> anyhow::Result<Measured> {
        let Run {
            csv,
            port,
            key,
            rows,
            server_pid,
        } = *self;
        let server_cpu_before = cpu_seconds(server_pid).unwrap_or(0.0);
        let start = Instant::now();
        let mut child = Command::new(LEADQUAL)
            .args(["qualify", "--input"])
            .arg(csv)
            .arg("--output")
            .arg(output)
            .args(["--server", &format!("http://127.0.0.1:{port}")])
            .env("LEADQUAL_KEY", key)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("leadqual qualify")?;
        // The high-water mark of the client's memory, read while it runs.
        let status_file = format!("/proc/{}/status", child.id());
        let mut peak_rss_kib = 0;
        let mut client_cpu: f64 = 0.0;
        let status = loop {
            if let Some(hwm) = std::fs::read_to_string(&status_file)
                .ok()
                .and_then(|s| vm_hwm_kib(&s))
            {
                peak_rss_kib = peak_rss_kib.max(hwm);
            }
            if let Some(cpu) = cpu_seconds(child.id()) {
                client_cpu = client_cpu.max(cpu);
            }
            if let Some(status) = child.try_wait()? {
                break status;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let elapsed = start.elapsed();
        let server_cpu = cpu_seconds(server_pid).unwrap_or(0.0) - server_cpu_before;
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr.take() {
            std::io::Read::read_to_string(&mut e, &mut stderr)?;
        }
        ensure!(status.success(), "leadqual qualify failed: {stderr}");
        ensure!(
            stderr.contains(&format!("rows read   {rows}\n")) && stderr.contains("failed      0\n"),
            "unexpected summary: {stderr}"
        );
        let results = std::fs::read_to_string(output)?;
        let mut count = 0;
        for line in results.lines() {
            let result: serde_json::Value = serde_json::from_str(line)?;
            ensure!(result.get("outcome").is_some(), "a failed row: {line}");
            ensure!(
                result["replayed"] == replayed,
                "replayed should be {replayed}: {line}"
            );
            count += 1;
        }
        ensure!(count == rows, "{count} results for {rows} rows");
        Ok(Measured {
            rows,
            elapsed,
            peak_rss_kib,
            client_cpu,
            server_cpu,
        })
    }
}

fn vm_hwm_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
