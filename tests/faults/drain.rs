//! SIGTERM under load: the calls in flight finish, new calls are refused,
//! and the process exits with status 0 within the drain timeout.

use std::time::{Duration, Instant};

use tonic::Code;

use crate::support::database::{Backend, Database};
use crate::support::ledger::assert_stored_once;
use crate::support::load::{
    self, BulkLoad, Call, Client, Outcome, Pacing, UnaryLoad, connect, qualify,
};
use crate::support::server::Server;
use crate::support::{Checks, scratch, secs};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_calls_and_exits_0() {
    let dir = scratch("drain");
    let database = Database::create(Backend::Sqlite, dir.path()).await;
    let drain = Duration::from_secs(10);
    let mut server = Server::start(
        dir.path(),
        "server",
        &database.url,
        &["--drain-timeout", "10s"],
    )
    .await;
    let addr = server.addr();

    // A bulk stream the client feeds for 3 s (3,000 items, 10 every 10 ms),
    // and 64 unary callers.
    let stream_channel = connect(addr).await;
    let bulk = BulkLoad::start(
        &stream_channel,
        (0..3000).map(|n: usize| {
            load::request(&format!("bulk-{}", n % 200), &format!("bulk-{n}"), n / 200)
        }),
        Some((10, Duration::from_millis(10))),
    );
    let channels = load::connections(addr, 2).await;
    let unary = UnaryLoad::start(
        &channels,
        64,
        Pacing {
            after_ok: Duration::ZERO,
            after_error: Duration::from_millis(5),
            patience: Duration::from_secs(30),
        },
        |caller, n| {
            let lead = format!("lead-{caller}-{}", n % 2);
            load::request(&lead, &format!("unary-{caller}-{n}"), n)
        },
    );
    let start = Instant::now();
    while bulk.answered() < 200 || unary.acked() < 200 {
        assert!(start.elapsed() < Duration::from_secs(30), "the load runs");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // The signal. Unary callers finish the call they are in.
    unary.stop();
    let signal_at = Instant::now();
    server.sigterm();

    // New calls, once the server has had time to see the signal, while the
    // stream is still being fed: refused, at once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let draining = !bulk.is_finished() && server.is_running();
    let mut refused = Vec::new();
    for (n, channel) in [channels[0].clone(), load::lazy(addr)]
        .into_iter()
        .enumerate()
    {
        let mut client = Client::new(channel);
        let call = qualify(
            &mut client,
            load::request("late-lead", &format!("late-{n}"), 0),
            Duration::from_secs(5),
        )
        .await;
        let took = call.took();
        refused.push((call.outcome, took));
    }

    let (items, ended) = bulk.finish(drain + Duration::from_secs(5)).await;
    let calls = unary.finish().await;
    let status = server.wait_exit(drain + Duration::from_secs(5)).await;
    let exited_after = signal_at.elapsed();

    // A call sent before the signal either finished OK or never reached
    // the service: refused by the protocol (a GOAWAY below its stream, a
    // refused connection, a connection closed before it was sent) or
    // turned away at the door with UNAVAILABLE before touching storage.
    // Anything else is an in-flight call cut off.
    let refused_at_door = |c: &&Call| {
        c.outcome == Outcome::Refused
            || (c.outcome == Outcome::Failed(Code::Unavailable) && !c.detail.contains("storage"))
    };
    let before: Vec<&Call> = calls.iter().filter(|c| c.started < signal_at).collect();
    let in_flight_ok = before
        .iter()
        .filter(|c| c.ended > signal_at && c.outcome.verdict_id().is_some())
        .count();
    let at_the_door: Vec<&Call> = before.iter().copied().filter(refused_at_door).collect();
    let cut: Vec<String> = before
        .iter()
        .filter(|c| c.outcome.verdict_id().is_none() && !refused_at_door(c))
        .map(|c| format!("{} {:?} {}", c.request.request_id, c.outcome, c.detail))
        .collect();
    let door_messages: std::collections::BTreeSet<String> = at_the_door
        .iter()
        .map(|c| format!("{:?} {}", c.outcome, c.detail))
        .collect();
    let items_ok = items
        .iter()
        .filter(|c| c.outcome.verdict_id().is_some())
        .count();
    let after_signal = items.iter().filter(|c| c.started > signal_at).count();
    println!(
        "faults: sigterm: {in_flight_ok} unary calls in flight at the signal finished OK, {} \
         sent around it were refused at the door ({door_messages:?}), {} cut off; the bulk \
         stream got {after_signal} of its {} items after the signal and answered {items_ok} \
         OK; new calls after it: {:?}; exited {:?} after {} (drain timeout {})",
        at_the_door.len(),
        cut.len(),
        items.len(),
        refused
            .iter()
            .map(|(outcome, took)| format!("{outcome:?} in {took:?}"))
            .collect::<Vec<_>>(),
        status,
        secs(exited_after),
        secs(drain),
    );
    let mut checks = Checks::default();
    checks.expect(draining, || {
        "300 ms after the signal the server should still be draining the stream".into()
    });
    checks.expect(ended.is_ok(), || {
        format!("the stream in flight should finish: {ended:?}")
    });
    checks.expect(items.len() == 3000 && items_ok == 3000, || {
        format!(
            "every item of the stream in flight should be answered OK: {items_ok} of {}",
            items.len()
        )
    });
    checks.expect(after_signal > 1000, || {
        format!("the stream should have been fed well after the signal: {after_signal} items")
    });
    checks.expect(in_flight_ok > 0, || {
        "unary calls should have been in flight at the signal".into()
    });
    checks.expect(cut.is_empty(), || {
        format!("calls in flight at the signal must finish OK: {cut:?}")
    });
    for (outcome, took) in &refused {
        checks.expect(
            matches!(
                outcome,
                Outcome::Refused | Outcome::Failed(Code::Unavailable)
            ) && *took < Duration::from_secs(1),
            || {
                format!(
                    "a call after the signal must be refused at once (UNAVAILABLE): \
                     {outcome:?} after {took:?}"
                )
            },
        );
    }
    checks.expect(status.is_some_and(|s| s.success()), || {
        format!("exit status after SIGTERM: {status:?}")
    });
    checks.expect(exited_after <= drain, || {
        format!(
            "it should exit within the drain timeout: {}",
            secs(exited_after)
        )
    });
    server.assert_no_panic();
    server.kill9();

    // What was acknowledged was stored.
    let server = Server::start(dir.path(), "after", &database.url, &[]).await;
    let client = Client::new(connect(server.addr()).await);
    let mut everything = calls;
    everything.extend(items);
    let stored = assert_stored_once(&client, &everything, false).await;
    println!(
        "faults: sigterm: after a restart, all {} acknowledged calls stored once",
        stored.acked
    );
    checks.finish("sigterm");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_0_at_the_drain_timeout_when_a_call_outlasts_it() {
    let dir = scratch("drain-timeout");
    let database = Database::create(Backend::Sqlite, dir.path()).await;
    let mut server = Server::start(
        dir.path(),
        "server",
        &database.url,
        &["--drain-timeout", "2s"],
    )
    .await;
    // A stream the client would feed for 30 s.
    let channel = connect(server.addr()).await;
    let bulk = BulkLoad::start(
        &channel,
        (0..3000).map(|n: usize| load::request(&format!("slow-{n}"), &format!("slow-{n}"), 0)),
        Some((1, Duration::from_millis(10))),
    );
    while bulk.answered() < 20 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let signal_at = Instant::now();
    server.sigterm();
    let status = server.wait_exit(Duration::from_secs(10)).await;
    let exited_after = signal_at.elapsed();
    let (items, ended) = bulk.finish(Duration::from_secs(5)).await;
    println!(
        "faults: sigterm: a stream outlasting --drain-timeout 2s: exited {status:?} after {}; \
         the stream ended with {:?} after {} items",
        secs(exited_after),
        ended.as_ref().map_err(|s| s.code()),
        items
            .iter()
            .filter(|c| c.outcome.verdict_id().is_some())
            .count()
    );
    let mut checks = Checks::default();
    checks.expect(status.is_some_and(|s| s.success()), || {
        format!("exit status after SIGTERM: {status:?}")
    });
    checks.expect(
        exited_after >= Duration::from_secs(2) && exited_after <= Duration::from_millis(3500),
        || {
            format!(
                "it should wait for the call, but no longer than the drain timeout (2 s): {}",
                secs(exited_after)
            )
        },
    );
    server.assert_no_panic();
    checks.finish("sigterm at the drain timeout");
}
