//! PostgreSQL stops under load (a private cluster, never the shared
//! server): calls fail fast with UNAVAILABLE instead of hanging, health says
//! NOT_SERVING, and once PostgreSQL is back the service recovers by itself
//! with nothing acknowledged lost. Started while PostgreSQL is down, it
//! waits for it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::support::database::Cluster;
use crate::support::ledger::{assert_stored_once, retry_unary};
use crate::support::load::{
    self, Call, Client, Outcome, Pacing, UnaryLoad, connect, health, qualify, wait_health,
};
use crate::support::server::Server;
use crate::support::{Checks, scratch, secs};

/// The longest a call may take, from the moment PostgreSQL stops (or from
/// its start, if later), to fail.
const FAIL_FAST: Duration = Duration::from_secs(5);
/// Health probes the database every second: NOT_SERVING must show by then,
/// with a margin.
const HEALTH_FLIP: Duration = Duration::from_secs(3);
/// From PostgreSQL accepting connections again to health SERVING.
const RECOVERY: Duration = Duration::from_secs(10);
/// How long PostgreSQL stays down: longer than `FAIL_FAST`, so that a call
/// hanging on the pool shows as such rather than being rescued.
const OUTAGE: Duration = Duration::from_secs(7);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_fails_fast_and_recovers_by_itself() {
    let dir = scratch("outage");
    let cluster = Cluster::init();
    cluster.start();
    let mut server = Server::start(dir.path(), "server", &cluster.url(), &[]).await;
    let channel = connect(server.addr()).await;
    assert!(
        wait_health(&channel, ServingStatus::Serving, Duration::from_secs(10))
            .await
            .is_some(),
        "health should be SERVING with PostgreSQL up"
    );
    let probes = HealthProbes::start(channel.clone());

    let channels = load::connections(server.addr(), 2).await;
    let load = UnaryLoad::start(
        &channels,
        8,
        Pacing {
            after_ok: Duration::from_millis(20),
            after_error: Duration::from_millis(50),
            patience: Duration::from_secs(30),
        },
        |caller, n| {
            let lead = format!("lead-{caller}-{}", n % 3);
            load::request(&lead, &format!("outage-{caller}-{n}"), n)
        },
    );
    let start = Instant::now();
    while load.acked() < 100 || start.elapsed() < Duration::from_secs(1) {
        assert!(start.elapsed() < Duration::from_secs(30), "the load runs");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // PostgreSQL crashes.
    let stop_at = Instant::now();
    cluster.stop("immediate");
    let stopped_at = Instant::now();
    let not_serving = wait_health(&channel, ServingStatus::NotServing, Duration::from_secs(10))
        .await
        .map(|_| stop_at.elapsed());
    tokio::time::sleep_until((stop_at + OUTAGE).into()).await;
    assert!(
        server.is_running(),
        "the server must outlive the database: {:?}",
        server.exit_status()
    );

    // PostgreSQL comes back.
    let restart_at = Instant::now();
    cluster.start();
    let up_at = Instant::now();
    let serving = wait_health(&channel, ServingStatus::Serving, Duration::from_secs(30))
        .await
        .map(|_| up_at.elapsed());
    let serving_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let calls = load.finish().await;
    let probes = probes.finish().await;

    // During the outage: UNAVAILABLE, fast, never a hang or another code.
    let outage_calls: Vec<&Call> = calls
        .iter()
        .filter(|c| c.ended >= stop_at && c.started < restart_at)
        .collect();
    // Each call's time from the stop (or from its start, if later) to its
    // end, failed or not: one that waits the outage out and then succeeds
    // has hung as surely as one that fails late.
    let after_stop = |c: &Call| c.ended - c.started.max(stop_at);
    let slowest = outage_calls
        .iter()
        .map(|c| after_stop(c))
        .max()
        .unwrap_or_default();
    let slowest_failure = outage_calls
        .iter()
        .filter(|c| c.outcome.verdict_id().is_none())
        .map(|c| after_stop(c))
        .max()
        .unwrap_or_default();
    let first_unavailable = outage_calls
        .iter()
        .filter(|c| c.outcome == Outcome::Failed(Code::Unavailable))
        .map(|c| c.ended - stop_at)
        .min();
    let wrong: Vec<String> = outage_calls
        .iter()
        .filter(|c| {
            !matches!(
                c.outcome,
                Outcome::Acked { .. } | Outcome::Failed(Code::Unavailable)
            )
        })
        .map(|c| format!("{} {:?}", c.request.request_id, c.outcome))
        .collect();
    let acked_while_down: Vec<String> = outage_calls
        .iter()
        .filter(|c| c.started >= stopped_at && c.ended < restart_at)
        .filter(|c| c.outcome.verdict_id().is_some())
        .map(|c| c.request.request_id.clone())
        .collect();
    let unavailable = outage_calls
        .iter()
        .filter(|c| c.outcome == Outcome::Failed(Code::Unavailable))
        .count();

    // After it: health SERVING, calls succeed again without a restart.
    let after_recovery: Vec<&Call> = calls.iter().filter(|c| c.started >= serving_at).collect();
    let failed_after_recovery: Vec<String> = after_recovery
        .iter()
        .filter(|c| c.outcome.verdict_id().is_none())
        .map(|c| format!("{} {:?}", c.request.request_id, c.outcome))
        .collect();
    let first_ok_after = calls
        .iter()
        .filter(|c| c.ended >= up_at && c.outcome.verdict_id().is_some())
        .map(|c| c.ended - up_at)
        .min();
    let last_failure_after = calls
        .iter()
        .filter(|c| c.ended >= up_at && c.outcome.verdict_id().is_none())
        .map(|c| c.ended - up_at)
        .max();
    let unanswered_probes = probes
        .iter()
        .filter(|(at, status)| *at >= stop_at && status.is_err())
        .count();

    server.assert_no_panic();
    assert!(
        server.is_running(),
        "the server must keep running: {:?}",
        server.exit_status()
    );
    println!(
        "faults: outage: {} calls during the outage: {unavailable} UNAVAILABLE; time to fail \
         after the stop: first UNAVAILABLE {}, slowest failure {}, slowest call {} (bound {})",
        outage_calls.len(),
        first_unavailable.map_or("none".into(), secs),
        secs(slowest_failure),
        secs(slowest),
        secs(FAIL_FAST)
    );
    println!(
        "faults: outage: health NOT_SERVING {} after the stop; SERVING {} after PostgreSQL was \
         back; first OK call {} after, last failure {} after; {} calls after SERVING, {} failed; \
         {unanswered_probes} health probes unanswered",
        not_serving.map_or("never".into(), secs),
        serving.map_or("never".into(), secs),
        first_ok_after.map_or("never".into(), secs),
        last_failure_after.map_or("none".into(), secs),
        after_recovery.len(),
        failed_after_recovery.len(),
    );
    let mut checks = Checks::default();
    checks.expect(!calls.iter().any(|c| c.outcome == Outcome::Hung), || {
        "calls hung during the outage".into()
    });
    checks.expect(wrong.is_empty(), || {
        format!("during the outage calls must succeed or fail with UNAVAILABLE: {wrong:?}")
    });
    checks.expect(acked_while_down.is_empty(), || {
        format!("calls made while PostgreSQL was down were acknowledged: {acked_while_down:?}")
    });
    checks.expect(unavailable >= 10, || {
        format!("the load should have met the outage: {unavailable} UNAVAILABLE")
    });
    checks.expect(slowest <= FAIL_FAST, || {
        format!(
            "a call took {} after the stop to end (bound {})",
            secs(slowest),
            secs(FAIL_FAST)
        )
    });
    checks.expect(not_serving.is_some_and(|t| t <= HEALTH_FLIP), || {
        format!(
            "health should say NOT_SERVING within {} of the stop: {not_serving:?}",
            secs(HEALTH_FLIP)
        )
    });
    checks.expect(unanswered_probes == 0, || {
        format!("health must answer during the outage: {unanswered_probes} probes unanswered")
    });
    checks.expect(serving.is_some_and(|t| t <= RECOVERY), || {
        format!(
            "health should say SERVING within {} of PostgreSQL's return: {serving:?}",
            secs(RECOVERY)
        )
    });
    checks.expect(
        after_recovery.len() >= 10 && failed_after_recovery.is_empty(),
        || {
            format!(
                "once SERVING, calls must succeed: {} made, failed: {failed_after_recovery:?}",
                after_recovery.len()
            )
        },
    );

    // Nothing acknowledged lost: each acknowledged request replays its
    // verdict, and nothing is stored twice.
    let client = Client::new(channel.clone());
    let acked: Vec<Call> = calls
        .iter()
        .filter(|c| c.outcome.verdict_id().is_some())
        .cloned()
        .collect();
    let (_, replays) = retry_unary(&client, &acked).await;
    checks.expect(replays.replayed == acked.len(), || {
        format!(
            "{} of {} acknowledged calls replayed",
            replays.replayed,
            acked.len()
        )
    });
    let stored = assert_stored_once(&client, &calls, false).await;
    println!(
        "faults: outage: {} calls acknowledged before, around and after the outage: all \
         replayed with their verdict ids; {} verdicts stored, none twice",
        acked.len(),
        stored.verdicts
    );

    // An idle service and a PostgreSQL restart: the pooled connections are
    // dead, yet the next calls succeed.
    cluster.stop("fast");
    cluster.start();
    let up_at = Instant::now();
    let serving = wait_health(&channel, ServingStatus::Serving, Duration::from_secs(30)).await;
    let mut client = Client::new(channel.clone());
    let mut failed = Vec::new();
    for n in 0..20 {
        let call = qualify(
            &mut client,
            load::request("idle-lead", &format!("idle-{n}"), n),
            Duration::from_secs(10),
        )
        .await;
        if call.outcome.verdict_id().is_none() {
            failed.push(format!("idle-{n} {:?}", call.outcome));
        }
    }
    println!(
        "faults: outage: idle restart of PostgreSQL: SERVING {} after it was back; 20 calls \
         then, {} failed",
        serving.map_or("never".into(), secs),
        failed.len()
    );
    checks.expect(serving.is_some_and(|t| t <= RECOVERY), || {
        format!(
            "health after an idle restart: {serving:?} after {}",
            secs(up_at.elapsed())
        )
    });
    checks.expect(failed.is_empty(), || {
        format!("after an idle restart of PostgreSQL calls must succeed: {failed:?}")
    });
    server.assert_no_panic();
    checks.finish("outage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_waits_for_postgres() {
    let dir = scratch("startup");
    let cluster = Cluster::init();

    // With PostgreSQL down for longer than --database-wait: it gives up,
    // saying why.
    let mut impatient = Server::spawn(
        dir.path(),
        "gives-up",
        &cluster.url(),
        &["--database-wait", "2s"],
    );
    let spawned = Instant::now();
    let status = impatient.wait_exit(Duration::from_secs(20)).await;
    let gave_up_after = spawned.elapsed();
    let log = impatient.log_text();
    let mut checks = Checks::default();
    checks.expect(status.is_some_and(|s| !s.success()), || {
        format!(
            "with the database down past --database-wait it should exit with an error: \
             {status:?}\n{log}"
        )
    });
    let address = format!("127.0.0.1:{}", cluster.port);
    let gave_up_saying = impatient
        .log_lines()
        .iter()
        .filter(|l| l["level"] == "ERROR")
        .filter_map(|l| l["error"].as_str().map(str::to_owned))
        .find(|e| e.contains(&address));
    checks.expect(
        gave_up_after >= Duration::from_secs(2) && gave_up_after < Duration::from_secs(10),
        || {
            format!(
                "it should wait the whole --database-wait 2s, and not much longer: it gave up \
                 after {}",
                secs(gave_up_after)
            )
        },
    );
    checks.expect(
        gave_up_saying
            .as_ref()
            .is_some_and(|e| e.to_lowercase().contains("refused")),
        || format!("it should give up naming the database and the cause:\n{log}"),
    );

    // With PostgreSQL up within --database-wait: it waits, then serves.
    let mut server = Server::spawn(
        dir.path(),
        "waits",
        &cluster.url(),
        &["--database-wait", "60s"],
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        server.is_running(),
        "it should wait for the database: {:?}\n{}",
        server.exit_status(),
        server.log_text()
    );
    let waiting: Vec<String> = server
        .log_lines()
        .iter()
        .filter(|l| {
            l.get("message")
                .and_then(|m| m.as_str())
                .is_some_and(|m| m.to_lowercase().contains("database"))
        })
        .map(ToString::to_string)
        .collect();
    assert!(
        !waiting.is_empty(),
        "while waiting it should say so:\n{}",
        server.log_text()
    );
    if let Some(addr) = server.listening() {
        let status = health(&connect(addr).await).await;
        assert!(
            status != Ok(ServingStatus::Serving),
            "no SERVING without a database: {status:?}"
        );
    }
    cluster.start();
    let up_at = Instant::now();
    let addr = server.wait_listening(Duration::from_secs(30)).await;
    let channel = connect(addr).await;
    let serving = wait_health(&channel, ServingStatus::Serving, Duration::from_secs(30))
        .await
        .map(|_| up_at.elapsed());
    let mut client = Client::new(channel);
    let call = qualify(
        &mut client,
        load::request("first-lead", "first-request", 0),
        Duration::from_secs(10),
    )
    .await;
    println!(
        "faults: start-up: with --database-wait 2s and no database it exited after {} ({}) \
         saying {:?}; with 60s it waited, logging {} lines such as {}, and served {} after \
         PostgreSQL came up",
        secs(gave_up_after),
        status.map_or("?".into(), |s| s.to_string()),
        gave_up_saying.as_deref().unwrap_or("nothing"),
        waiting.len(),
        waiting.first().map_or("", String::as_str),
        serving.map_or("never".into(), secs),
    );
    checks.expect(serving.is_some_and(|t| t <= RECOVERY), || {
        format!(
            "it should serve within {} of PostgreSQL coming up: {serving:?}",
            secs(RECOVERY)
        )
    });
    checks.expect(call.outcome.verdict_id().is_some(), || {
        format!("the first call: {:?}", call.outcome)
    });
    server.assert_no_panic();
    checks.finish("start-up");
}

/// A health check: when, and what it said.
type Probe = (Instant, Result<ServingStatus, String>);

/// Health checks every 100 ms, recorded.
struct HealthProbes {
    stop: Arc<AtomicBool>,
    probes: Arc<Mutex<Vec<Probe>>>,
    task: tokio::task::JoinHandle<()>,
}

impl HealthProbes {
    fn start(channel: tonic::transport::Channel) -> HealthProbes {
        let stop = Arc::new(AtomicBool::new(false));
        let probes = Arc::new(Mutex::new(Vec::new()));
        let task = {
            let (stop, probes) = (stop.clone(), probes.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let at = Instant::now();
                    let status = health(&channel).await;
                    probes.lock().expect("probes").push((at, status));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        HealthProbes { stop, probes, task }
    }

    async fn finish(self) -> Vec<Probe> {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.expect("the health prober does not panic");
        std::mem::take(&mut *self.probes.lock().expect("probes"))
    }
}
