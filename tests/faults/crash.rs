//! `kill -9` in the middle of a unary load and of a bulk stream: every
//! acknowledged verdict is stored exactly once after the restart, and a
//! retry of every request with its request id stores nothing twice.

use std::time::{Duration, Instant};

use crate::support::database::{Backend, Database};
use crate::support::ledger::{assert_stored_once, retry_bulk, retry_unary};
use crate::support::load::{self, BulkLoad, Call, Client, Pacing, UnaryLoad, connect};
use crate::support::server::Server;
use crate::support::{scratch, secs};

/// Concurrent unary callers.
const CALLERS: usize = 8;
/// Leads of each caller of its own; a caller also writes the shared leads.
const OWN_LEADS: usize = 4;
/// Leads every caller writes, concurrently.
const SHARED_LEADS: usize = 2;
/// Items of the bulk stream; it is killed after a third are answered.
const BULK_ITEMS: usize = 3000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_verdict_on_sqlite() {
    kill_9_loses_no_acknowledged_verdict(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_verdict_on_postgres() {
    kill_9_loses_no_acknowledged_verdict(Backend::Postgres).await;
}

async fn kill_9_loses_no_acknowledged_verdict(backend: Backend) {
    let name = format!("kill-9 {backend:?}");
    let dir = scratch("crash");
    let database = Database::create(backend, dir.path()).await;
    let mut server = Server::start(dir.path(), "first", &database.url, &[]).await;

    // 1. A unary load: each caller qualifies leads of its own and shared
    //    ones, every call with a request id of its own and facts that change
    //    from call to call.
    let channels = load::connections(server.addr(), 2).await;
    let unary = UnaryLoad::start(
        &channels,
        CALLERS,
        Pacing {
            after_ok: Duration::ZERO,
            after_error: Duration::from_millis(5),
            patience: Duration::from_secs(30),
        },
        |caller, n| {
            let lead = if n % 5 == 4 {
                format!("shared-{}", n % SHARED_LEADS)
            } else {
                format!("lead-{caller}-{}", n % OWN_LEADS)
            };
            load::request(&lead, &format!("unary-{caller}-{n}"), n / 5)
        },
    );
    wait_for_load(|| unary.acked(), 300, Duration::from_secs(1), &name).await;
    // Callers stop after the call they are in, which the kill cuts.
    unary.stop();
    let killed_at = Instant::now();
    server.kill9();
    let unary_calls = unary.finish().await;
    let unary_acked = count_acked(&unary_calls);
    let unary_failed: Vec<&Call> = unary_calls
        .iter()
        .filter(|c| c.outcome.verdict_id().is_none() && c.ended >= killed_at)
        .collect();
    assert!(
        !unary_failed.is_empty(),
        "{name}: the kill should have cut calls in flight"
    );

    // 2. Restarted on the same database: what was acknowledged is there once.
    let mut server = Server::start(dir.path(), "second", &database.url, &[]).await;
    let channel = connect(server.addr()).await;
    let client = Client::new(channel.clone());
    let after_unary = assert_stored_once(&client, &unary_calls, false).await;

    // 3. A bulk stream, killed while items are still coming.
    let bulk = BulkLoad::start(
        &channel,
        (0..BULK_ITEMS).map(|n: usize| {
            load::request(&format!("bulk-{}", n % 150), &format!("bulk-{n}"), n / 150)
        }),
        None,
    );
    wait_for_load(|| bulk.answered(), BULK_ITEMS / 3, Duration::ZERO, &name).await;
    server.kill9();
    let (sent_at_kill, answered_at_kill) = (bulk.sent(), bulk.answered());
    let (bulk_items, ended) = bulk.finish(Duration::from_secs(10)).await;
    assert!(
        ended.is_err(),
        "{name}: the stream should have been cut by the kill"
    );
    assert!(
        sent_at_kill > answered_at_kill,
        "{name}: items should have been in flight at the kill"
    );
    let bulk_acked = count_acked(&bulk_items);

    // 4. Restarted again: both loads' acknowledged verdicts are there, once;
    //    then every request is retried with its request id.
    let mut server = Server::start(dir.path(), "third", &database.url, &[]).await;
    let channel = connect(server.addr()).await;
    let client = Client::new(channel.clone());
    let after_bulk = assert_stored_once(&client, &bulk_items, false).await;
    assert_stored_once(&client, &unary_calls, false).await;

    let started = Instant::now();
    let (unary_retried, unary_retry) = retry_unary(&client, &unary_calls).await;
    let (bulk_retried, bulk_retry) = retry_bulk(&channel, &bulk_items).await;
    let retry_took = started.elapsed();
    let mut everything = unary_retried;
    everything.extend(bulk_retried);
    let finally = assert_stored_once(&client, &everything, true).await;
    assert_eq!(
        finally.verdicts,
        everything.len(),
        "{name}: one verdict per request, no more"
    );

    server.assert_no_panic();
    server.sigterm();
    let status = server.wait_exit(Duration::from_secs(30)).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "{name}: the last server should stop cleanly: {status:?}"
    );

    println!(
        "faults: {name}: unary: {} calls by {CALLERS} callers, {unary_acked} acknowledged and \
         all stored once; of {} cut off by the kill, {} had been committed, {} not",
        unary_calls.len(),
        unary_failed.len(),
        after_unary.unacked_stored,
        after_unary.unacked_missing,
    );
    println!(
        "faults: {name}: bulk: {} items sent, {bulk_acked} acknowledged before the kill and all \
         stored once; of {} unanswered, {} had been committed, {} not",
        bulk_items.len(),
        bulk_items.len() - bulk_acked,
        after_bulk.unacked_stored,
        after_bulk.unacked_missing,
    );
    println!(
        "faults: {name}: retry of all {} requests in {}: {} replayed (every acknowledged one with \
         its verdict id), {} stored now, {} extra attempts; {} verdicts stored, one per request",
        everything.len(),
        secs(retry_took),
        unary_retry.replayed + bulk_retry.replayed,
        unary_retry.stored_now + bulk_retry.stored_now,
        unary_retry.extra_attempts + bulk_retry.extra_attempts,
        finally.verdicts,
    );
}

/// Waits until at least `acked` calls were acknowledged and `steady` has
/// passed, so that the kill comes in the middle of a steady load.
async fn wait_for_load(count: impl Fn() -> usize, acked: usize, steady: Duration, name: &str) {
    let start = Instant::now();
    while count() < acked || start.elapsed() < steady {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{name}: only {} calls acknowledged in 30 s",
            count()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn count_acked(calls: &[Call]) -> usize {
    calls
        .iter()
        .filter(|c| c.outcome.verdict_id().is_some())
        .count()
}
