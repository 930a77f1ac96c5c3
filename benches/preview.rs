//! PreviewProfile and GetSignalStats over many stored leads:
//! `cargo bench --bench preview -- [--quick] [--leads N]` (`scripts/bench`
//! runs it in the suite).
//!
//! For each backend (SQLite in a temp dir; PostgreSQL in a database of its
//! own, dropped afterwards, skipped with a note when unreachable unless
//! `--require-postgres` or CI=true), it starts leadqual on a real port,
//! publishes a current profile, seeds `--leads` varied leads (every stage,
//! facts inside and outside the profile, some unknown, verdicts spread over
//! 30 days) through the storage's own write path, and then over real gRPC:
//!
//! - PreviewProfile of a stricter candidate, once to warm up and then
//!   `--runs` times, checking that every lead was evaluated;
//! - GetSignalStats over every lead, as often, checking the count;
//! - the console's lead page for leads across the range and its review
//!   queue, signed in as a reader.
//!
//! The engine's share: the same facts decoded from their stored JSON and
//! evaluated under both profiles in this process on one core, alone, in the
//! same run, as a fraction of PreviewProfile's wall time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::Parser;
use futures::StreamExt;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use leadqual::auth::{Authenticator, CLI_ACTOR, Role};
use leadqual::domain::{EngagementPattern, Facts, Priority, Profile, Stage, evaluate};
use leadqual::proto::v1 as pb;
use leadqual::records::VerdictRecord;
use leadqual::startup::{Application, Settings};
use leadqual::storage::{NewQualification, Storage};
use pb::lead_qualification_service_client::LeadQualificationServiceClient;
use tonic::Request;
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::Channel;

/// The speed target of PreviewProfile over 100,000 leads.
const TARGET: Duration = Duration::from_secs(2);
const TENANT: &str = "bench";

#[derive(Clone, Debug, Parser)]
#[command(name = "preview")]
struct Args {
    /// A smoke run: a few thousand leads, one measured call each.
    #[arg(long)]
    quick: bool,
    /// Leads to seed (default 100,000; 9,000 with --quick: three pages).
    #[arg(long)]
    leads: Option<usize>,
    /// Measured calls of each RPC (after one to warm up).
    #[arg(long)]
    runs: Option<usize>,
    /// Fail instead of skipping PostgreSQL when it is unreachable.
    #[arg(long)]
    require_postgres: bool,
    /// Where the PostgreSQL database is created (and dropped).
    #[arg(
        long,
        env = "LEADQUAL_TEST_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres_url: String,
    /// Only this backend: sqlite or postgres.
    #[arg(long)]
    backend: Option<String>,
    // `cargo bench` passes --bench to every harness.
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
        .unwrap_or(if args.quick { 9_000 } else { 100_000 });
    let runs = args.runs.unwrap_or(if args.quick { 1 } else { 3 }).max(1);
    let require_postgres = args.require_postgres || std::env::var("CI").as_deref() == Ok("true");
    let wanted = |name: &str| args.backend.as_deref().is_none_or(|b| b == name);
    if wanted("sqlite") {
        let dir = tempfile::Builder::new()
            .prefix("leadqual-preview")
            .tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("leadqual.db").display());
        measure("sqlite", &url, leads, runs).await?;
    }
    if wanted("postgres") {
        match PostgresDatabase::create(&args.postgres_url).await? {
            Some(db) => {
                let measured = measure("postgres", &db.url, leads, runs).await;
                db.drop_database().await?;
                measured?;
            }
            None if require_postgres => {
                bail!("PostgreSQL is unreachable at {}", args.postgres_url)
            }
            None => println!(
                "=== postgres: skipped, PostgreSQL is unreachable at {}",
                args.postgres_url
            ),
        }
    }
    Ok(())
}

/// The profile in force while the leads are seeded.
fn current_profile() -> pb::Profile {
    pb::Profile {
        min_employees: Some(10),
        max_employees: Some(2_000),
        target_verticals: vec!["saas".into(), "fintech".into(), "healthtech".into()],
        countries: vec!["DE".into(), "FR".into(), "AT".into(), "US".into()],
        seller_timezone: "Europe/Berlin".into(),
        min_budget_usd: Some(5_000),
        ..Default::default()
    }
}

/// A stricter candidate: narrower markets, tighter rules, lower thresholds
/// and a knockout.
fn candidate_profile() -> pb::Profile {
    pb::Profile {
        min_employees: Some(50),
        max_employees: Some(1_000),
        target_verticals: vec!["saas".into(), "fintech".into()],
        target_business_models: vec!["b2b".into()],
        countries: vec!["DE".into(), "FR".into(), "AT".into()],
        seller_timezone: "Europe/Berlin".into(),
        min_budget_usd: Some(20_000),
        max_meeting_disruptions: Some(2),
        knockouts: vec![pb::Criterion::Disrespectful as i32],
        review_threshold: Some(25),
        disqualify_threshold: Some(50),
        ..Default::default()
    }
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

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Some value, or unknown one time in `unknown_in`.
    fn some<T>(&mut self, unknown_in: u64, value: impl FnOnce(&mut Self) -> T) -> Option<T> {
        (self.below(unknown_in) != 0).then(|| value(self))
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize].clone()
    }
}

/// Lead `n`: its stage and facts, varied but the same on every run.
fn lead(n: u64) -> (Stage, Facts) {
    let mut r = SplitMix(n.wrapping_mul(0x2545_f491_4f6c_dd1d));
    let stage = r.pick(&Stage::ALL);
    let small = |r: &mut SplitMix, max: u64| r.below(max + 1) as i32;
    let (country, timezone) = r.pick(&[
        ("DE", "Europe/Berlin"),
        ("FR", "Europe/Paris"),
        ("AT", "Europe/Vienna"),
        ("US", "America/New_York"),
        ("US", "America/Los_Angeles"),
        ("JP", "Asia/Tokyo"),
    ]);
    let asked = small(&mut r, 12);
    let agreed = small(&mut r, 6);
    let given = small(&mut r, 8);
    let facts = Facts {
        employee_count: r.some(10, |r| r.below(3_000) as i64),
        annual_revenue_usd: r.some(10, |r| r.below(100_000_000) as i64),
        vertical: r.some(8, |r| {
            r.pick(&["saas", "fintech", "healthtech", "retail"]).into()
        }),
        business_model: r.some(8, |r| r.pick(&["b2b", "b2c", "b2g"]).into()),
        territory: r.some(4, |r| r.pick(&["emea", "dach", "na"]).into()),
        country: r.some(8, |_| country.into()),
        timezone: r.some(4, |_| timezone.into()),
        disrespectful_incidents: r.some(6, |r| small(r, 2)),
        emotional_only_responses: r.some(6, |r| r.below(6) == 0),
        engagement_pattern: r.some(6, |r| {
            r.pick(&[
                EngagementPattern::Steady,
                EngagementPattern::Steady,
                EngagementPattern::Impulsive,
                EngagementPattern::Lethargic,
                EngagementPattern::Swinging,
            ])
        }),
        questions_asked: r.some(6, |_| asked),
        questions_answered: r.some(6, |r| small(r, asked as u64)),
        insists_on_own_process: r.some(6, |r| r.below(5) == 0),
        contradictory_statements: r.some(5, |r| small(r, 4)),
        plan_steps_agreed: r.some(5, |_| agreed),
        plan_steps_completed: r.some(5, |r| small(r, agreed as u64)),
        budget_usd: r.some(5, |r| r.below(80_000) as i64),
        staff_available: r.some(5, |r| small(r, 5)),
        missed_sessions: r.some(5, |r| small(r, 4)),
        priority: r.some(5, |r| {
            r.pick(&[
                Priority::High,
                Priority::Normal,
                Priority::Low,
                Priority::NotNow,
            ])
        }),
        expects_magic_wand: r.some(4, |r| r.below(6) == 0),
        assignments_given: r.some(4, |_| given),
        assignments_completed: r.some(4, |r| small(r, given as u64)),
        meetings_cancelled: r.some(4, |r| small(r, 4)),
        meetings_rescheduled: r.some(4, |r| small(r, 4)),
        agreed_actions_not_done: r.some(4, |r| small(r, 4)),
        max_material_repeats: r.some(4, |r| small(r, 6)),
        // Some leads are clients already.
        orders_count: r.some(3, |r| small(r, 8)),
        gross_profit_usd: r.some(3, |r| r.below(150_000) as i64),
        referrals_count: r.some(3, |r| small(r, 5)),
        overdue_receivables_usd: r.some(3, |r| r.below(15_000) as i64),
        out_of_scope_changes: r.some(3, |r| small(r, 4)),
        ..Facts::default()
    };
    (stage, facts)
}

/// Stores leads `0..count` through `storage`'s own write path, as
/// qualifications under `profile` (version `version`) spread over the last
/// 30 days, many at once.
async fn seed(
    storage: &Arc<dyn Storage>,
    profile: &Profile,
    version: i64,
    count: usize,
) -> anyhow::Result<()> {
    let now = Timestamp::now();
    let qualification = |n: u64| {
        let (stage, facts) = lead(n);
        let at = Timestamp::from_microsecond(
            (now - SignedDuration::from_secs((n * 7_919 % (30 * 86_400)) as i64)).as_microsecond(),
        )
        .expect("a recent time");
        let date = at.to_zoned(TimeZone::UTC).date();
        NewQualification {
            expected_revision: None,
            stage,
            verdict: VerdictRecord {
                verdict_id: uuid::Uuid::now_v7().to_string(),
                tenant: TENANT.to_owned(),
                lead_id: format!("lead-{n:07}"),
                seq: 1,
                evaluation: evaluate(&facts, profile, stage, date),
                profile_version: version,
                facts_hash: facts.hash(),
                facts,
                request_id: None,
                evaluated_at: at,
                evaluation_date: date,
            },
        }
    };
    let mut commits = futures::stream::iter(0..count as u64)
        .map(|n| {
            let storage = storage.clone();
            let q = qualification(n);
            async move { storage.commit_qualification(q).await }
        })
        // Enough at once to fill SQLite's commit groups, few enough that none
        // waits out the PostgreSQL pool's acquire timeout on a busy machine.
        .buffer_unordered(128);
    while let Some(done) = commits.next().await {
        done.context("seeding a lead failed")?;
    }
    Ok(())
}

fn bearer(secret: &str) -> anyhow::Result<AsciiMetadataValue> {
    Ok(format!("Bearer {secret}").parse()?)
}

fn call<T>(message: T, key: &AsciiMetadataValue) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert("authorization", key.clone());
    request
}

/// Best and median of some durations.
fn best_median(mut times: Vec<Duration>) -> (Duration, Duration) {
    times.sort();
    (times[0], times[times.len() / 2])
}

async fn measure(backend: &str, url: &str, leads: usize, runs: usize) -> anyhow::Result<()> {
    println!("=== {backend}: {leads} leads");
    let storage = leadqual::storage::connect(url).await?;
    let keys = Authenticator::new(storage.clone(), false);
    let issue = async |role: Role| -> anyhow::Result<(String, AsciiMetadataValue)> {
        let key = keys
            .issue(TENANT, &[role], "preview bench", CLI_ACTOR)
            .await
            .map_err(|e| anyhow::anyhow!("cannot create an API key: {e}"))?;
        Ok((key.secret.clone(), bearer(&key.secret)?))
    };
    let (_, admin) = issue(Role::Admin).await?;
    let (reader_secret, reader) = issue(Role::Reader).await?;
    let mut settings = Settings::new("127.0.0.1:0".parse()?, url);
    settings.console_listen = Some("127.0.0.1:0".parse()?);
    let app = Application::build(&settings).await?;
    let port = app.port();
    let console_port = app.console_port().context("the console listens")?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let measured = async {
        let channel = Channel::from_shared(format!("http://127.0.0.1:{port}"))?
            .connect()
            .await?;
        let mut client = LeadQualificationServiceClient::new(channel)
            .max_decoding_message_size(64 * 1024 * 1024);
        client
            .update_profile(call(
                pb::UpdateProfileRequest {
                    profile: Some(current_profile()),
                    expected_version: None,
                },
                &admin,
            ))
            .await
            .context("UpdateProfile (current)")?;
        let current = storage
            .current_profile(TENANT)
            .await?
            .context("the current profile")?;

        let started = Instant::now();
        seed(&storage, &current.profile, current.version, leads).await?;
        println!(
            "seeded {leads} leads in {:.1} s (through the storage's write path)",
            started.elapsed().as_secs_f64()
        );

        let mut preview_times = Vec::new();
        let mut changed = 0;
        for run in 0..=runs {
            let started = Instant::now();
            let response = client
                .preview_profile(call(
                    pb::PreviewProfileRequest {
                        profile: Some(candidate_profile()),
                        sample_size: 20,
                    },
                    &reader,
                ))
                .await
                .context("PreviewProfile")?
                .into_inner();
            let took = started.elapsed();
            ensure!(
                response.leads_evaluated == leads as i64,
                "PreviewProfile evaluated {} leads, not {leads}",
                response.leads_evaluated
            );
            ensure!(response.current_profile_version == current.version);
            changed = response.leads_changed;
            if run > 0 {
                preview_times.push(took);
            }
        }
        let (best, median) = best_median(preview_times);
        println!(
            "PreviewProfile: best {:.3} s, median {:.3} s of {runs}; {:.0} leads/s; \
             {changed} changed; {:.0}% of the {} s target{}",
            best.as_secs_f64(),
            median.as_secs_f64(),
            leads as f64 / median.as_secs_f64(),
            100.0 * median.as_secs_f64() / TARGET.as_secs_f64(),
            TARGET.as_secs(),
            if leads == 100_000 {
                ""
            } else {
                " (target is for 100,000 leads)"
            },
        );

        let mut stats_times = Vec::new();
        for run in 0..=runs {
            let started = Instant::now();
            let response = client
                .get_signal_stats(call(pb::GetSignalStatsRequest::default(), &reader))
                .await
                .context("GetSignalStats")?
                .into_inner();
            let took = started.elapsed();
            ensure!(
                response.leads == leads as i64,
                "GetSignalStats counted {} leads, not {leads}",
                response.leads
            );
            if run > 0 {
                stats_times.push(took);
            }
        }
        let (stats_best, stats_median) = best_median(stats_times);
        println!(
            "GetSignalStats (every lead): best {:.3} s, median {:.3} s of {runs}",
            stats_best.as_secs_f64(),
            stats_median.as_secs_f64()
        );

        console(console_port, &reader_secret, leads, runs).await?;

        // The engine alone over the same facts: publish the candidate to
        // read it back as the service parsed it.
        client
            .update_profile(call(
                pb::UpdateProfileRequest {
                    profile: Some(candidate_profile()),
                    expected_version: None,
                },
                &admin,
            ))
            .await
            .context("UpdateProfile (candidate)")?;
        let candidate = storage
            .current_profile(TENANT)
            .await?
            .context("the candidate profile")?;
        let stored: Vec<(Stage, String)> = (0..leads as u64)
            .map(|n| {
                let (stage, facts) = lead(n);
                (stage, facts.to_json())
            })
            .collect();
        let date = Timestamp::now().to_zoned(TimeZone::UTC).date();
        let started = Instant::now();
        let decoded: Vec<(Stage, Facts)> = stored
            .iter()
            .map(|(stage, json)| Ok((*stage, Facts::from_json(json)?)))
            .collect::<anyhow::Result<_>>()?;
        let decode = started.elapsed();
        let started = Instant::now();
        let mut differ = 0;
        for (stage, facts) in &decoded {
            let before = evaluate(facts, &current.profile, *stage, date);
            let after = evaluate(facts, &candidate.profile, *stage, date);
            differ += i64::from(before.outcome != after.outcome);
        }
        let engine = started.elapsed();
        ensure!(
            differ == changed,
            "the engine alone changes {differ} outcomes, PreviewProfile said {changed}"
        );
        println!(
            "engine alone, one core: decode {:.3} s + evaluate twice {:.3} s = {:.3} s, \
             {:.0}% of PreviewProfile's median",
            decode.as_secs_f64(),
            engine.as_secs_f64(),
            (decode + engine).as_secs_f64(),
            100.0 * (decode + engine).as_secs_f64() / median.as_secs_f64()
        );

        // Reading alone: the same pages PreviewProfile reads, nothing done
        // with them.
        let started = Instant::now();
        let (mut read, mut after) = (0, None::<String>);
        loop {
            let page = storage
                .lead_facts_page(TENANT, after.as_deref(), 4_000)
                .await?;
            read += page.len();
            match page.last() {
                Some(last) if page.len() == 4_000 => after = Some(last.lead_id.clone()),
                _ => break,
            }
        }
        ensure!(read == leads, "read {read} leads, not {leads}");
        let reading = started.elapsed();
        println!(
            "reading alone (pages of 4,000 by lead id): {:.3} s, {:.0}% of PreviewProfile's median",
            reading.as_secs_f64(),
            100.0 * reading.as_secs_f64() / median.as_secs_f64()
        );
        anyhow::Ok(())
    }
    .await;
    let _ = stop.send(());
    let served = server.await.context("the server task panicked")?;
    measured?;
    served.context("the server failed")
}

/// The console's pages over the stored leads, as a browser asks for them:
/// a lead's page (its latest verdict, account section and history) for
/// leads spread over the whole range, and the first page of the review
/// queue. Times are to the last byte of the page.
async fn console(port: u16, secret: &str, leads: usize, runs: usize) -> anyhow::Result<()> {
    const LEAD_TARGET: Duration = Duration::from_millis(50);
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let base = format!("http://127.0.0.1:{port}");
    let form = http
        .get(format!("{base}/sign-in"))
        .send()
        .await?
        .text()
        .await?;
    let marker = "name=\"csrf\" value=\"";
    let at = form.find(marker).context("the sign-in form's token")? + marker.len();
    let csrf = form[at..at + 64].to_owned();
    let signed_in = http
        .post(format!("{base}/sign-in"))
        .form(&[("key", secret), ("csrf", &csrf), ("next", "/leads")])
        .send()
        .await?;
    ensure!(
        signed_in.status() == 303,
        "sign-in answered {}",
        signed_in.status()
    );
    let get = async |path: String| -> anyhow::Result<Duration> {
        let started = Instant::now();
        let response = http.get(format!("{base}{path}")).send().await?;
        ensure!(
            response.status() == 200,
            "GET {path}: {}",
            response.status()
        );
        let page = response.text().await?;
        ensure!(page.contains("</html>"), "GET {path}: a whole page");
        Ok(started.elapsed())
    };
    let samples = (runs * 40).max(20);
    let mut lead_times = Vec::new();
    for i in 0..=samples {
        let n = (i as u64 * 7_919) % leads as u64;
        let took = get(format!("/leads/lead-{n:07}")).await?;
        if i > 0 {
            lead_times.push(took);
        }
    }
    lead_times.sort();
    let p99 = lead_times[(lead_times.len() * 99 / 100).min(lead_times.len() - 1)];
    let (best, median) = best_median(lead_times);
    println!(
        "console lead page: best {:.1} ms, median {:.1} ms, p99 {:.1} ms of {samples}; \
         {:.0}% of the {} ms target",
        best.as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        100.0 * median.as_secs_f64() / LEAD_TARGET.as_secs_f64(),
        LEAD_TARGET.as_millis(),
    );
    let mut queue_times = Vec::new();
    for run in 0..=runs {
        let took = get("/leads".to_owned()).await?;
        if run > 0 {
            queue_times.push(took);
        }
    }
    let (best, median) = best_median(queue_times);
    println!(
        "console review queue (first page of 50, newest first): best {:.1} ms, median {:.1} ms",
        best.as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e3,
    );
    // The funnel over the last 31 days: every seeded lead.
    const FUNNEL_TARGET: Duration = Duration::from_millis(500);
    let today = Timestamp::now().to_zoned(TimeZone::UTC).date();
    let from = today
        .checked_sub(jiff::Span::new().days(31))
        .context("a month ago")?;
    let path = format!("/funnel?from={from}&to={today}");
    let page = http
        .get(format!("{base}{path}"))
        .send()
        .await?
        .text()
        .await?;
    ensure!(
        page.contains(&format!("<strong>{leads}</strong> leads")),
        "the funnel counts every lead"
    );
    let mut funnel_times = Vec::new();
    for run in 0..=runs {
        let took = get(path.clone()).await?;
        if run > 0 {
            funnel_times.push(took);
        }
    }
    let (best, median) = best_median(funnel_times);
    println!(
        "console funnel (every lead, 31 days): best {:.1} ms, median {:.1} ms; {:.0}% of the {} ms \
         target",
        best.as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e3,
        100.0 * median.as_secs_f64() / FUNNEL_TARGET.as_secs_f64(),
        FUNNEL_TARGET.as_millis(),
    );
    Ok(())
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
        let name = format!("leadqual_preview_{}", uuid::Uuid::now_v7().simple());
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
