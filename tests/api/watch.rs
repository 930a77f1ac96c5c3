//! WatchVerdicts end to end: live verdicts of the caller's tenant and
//! outcome, resuming without gaps, slow watchers, shutdown and, on
//! PostgreSQL, verdicts stored by another replica.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use futures::StreamExt;
use leadqual::auth::Role;
use leadqual::proto::v1 as pb;
use leadqual::watch::{REPLAY_LOOKBACK, STALL_LIMIT};
use pb::{Outcome, Stage};
use tonic::transport::Channel;
use tonic::{Code, Status, Streaming};

use crate::backend_tests;
use crate::helpers::{
    Auth, Backend, Clients, QualificationClient, assert_bad_fields, qualify_request, spawn_app,
};

backend_tests!(
    a_watcher_gets_its_tenants_new_verdicts_of_its_outcome,
    a_watcher_gets_the_verdicts_of_a_bulk_stream,
    invalid_watches_are_refused,
    a_resumed_watch_sends_what_was_missed_then_goes_on_live,
    a_watcher_that_reads_nothing_is_ended_and_never_slows_writers,
    shutting_down_ends_open_watches,
);

/// How long a test waits for what it expects to arrive.
const PATIENCE: Duration = Duration::from_secs(20);

type Watch = Streaming<pb::WatchVerdictsResponse>;

async fn watch(client: &QualificationClient, request: pb::WatchVerdictsRequest) -> Watch {
    client
        .clone()
        .watch_verdicts(request)
        .await
        .expect("WatchVerdicts starts")
        .into_inner()
}

fn watch_all() -> pb::WatchVerdictsRequest {
    pb::WatchVerdictsRequest::default()
}

fn watch_outcome(outcome: Outcome) -> pb::WatchVerdictsRequest {
    pb::WatchVerdictsRequest {
        outcome: outcome as i32,
        ..Default::default()
    }
}

fn watch_since(verdict_id: &str) -> pb::WatchVerdictsRequest {
    pb::WatchVerdictsRequest {
        since_verdict_id: verdict_id.to_owned(),
        ..Default::default()
    }
}

/// The next verdict of a watch, or how it ended.
async fn next(watch: &mut Watch) -> Result<pb::Verdict, Status> {
    match tokio::time::timeout(PATIENCE, watch.message()).await {
        Err(_) => panic!("no verdict within {PATIENCE:?}"),
        Ok(Ok(Some(message))) => Ok(message.verdict.expect("a verdict in every message")),
        Ok(Ok(None)) => panic!("the watch ended without a status"),
        Ok(Err(status)) => Err(status),
    }
}

/// Verdicts of a watch up to and including the one with id `last`.
async fn until(watch: &mut Watch, last: &str) -> Vec<pb::Verdict> {
    let mut got = Vec::new();
    loop {
        let verdict = next(watch).await.expect("the watch goes on");
        let done = verdict.verdict_id == last;
        got.push(verdict);
        if done {
            return got;
        }
    }
}

/// The next `n` verdicts of a watch.
async fn take(watch: &mut Watch, n: usize) -> Vec<pb::Verdict> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        got.push(next(watch).await.expect("the watch goes on"));
    }
    got
}

fn ids(verdicts: &[pb::Verdict]) -> Vec<String> {
    verdicts.iter().map(|v| v.verdict_id.clone()).collect()
}

/// A lead at identification without facts: QUALIFIED.
fn qualified(lead_id: &str) -> pb::QualifyLeadRequest {
    qualify_request(lead_id, Stage::Identification, pb::LeadFacts::default())
}

/// Material re-explained and meetings disrupted: NEEDS_REVIEW.
fn needs_review(lead_id: &str) -> pb::QualifyLeadRequest {
    qualify_request(
        lead_id,
        Stage::Recommendation,
        pb::LeadFacts {
            max_material_repeats: Some(4),
            meetings_cancelled: Some(2),
            meetings_rescheduled: Some(1),
            ..Default::default()
        },
    )
}

async fn qualify(clients: &Clients, request: pb::QualifyLeadRequest) -> pb::QualifyLeadResponse {
    clients
        .client
        .clone()
        .qualify_lead(request)
        .await
        .expect("QualifyLead succeeds")
        .into_inner()
}

async fn stored(clients: &Clients, request: pb::QualifyLeadRequest) -> pb::Verdict {
    qualify(clients, request).await.verdict.expect("a verdict")
}

async fn a_watcher_gets_its_tenants_new_verdicts_of_its_outcome(backend: Backend) {
    let app = spawn_app(backend).await;
    let acme = app.as_key(&app.issue_key("acme", &[Role::Scorer]).await.secret);
    let acme_reader = app.as_key(&app.issue_key("acme", &[Role::Reader]).await.secret);
    let globex = app.as_key(&app.issue_key("globex", &[Role::Scorer]).await.secret);

    // Stored before the watches start, and its notice heard before they do
    // (PostgreSQL delivers notices a moment after the commit), so that no
    // watch below may see it.
    let mut primer = watch(&acme_reader.client, watch_all()).await;
    let before = stored(&acme, qualified("before")).await;
    until(&mut primer, &before.verdict_id).await;
    let mut all = watch(&acme_reader.client, watch_all()).await;
    let mut review = watch(&acme_reader.client, watch_outcome(Outcome::NeedsReview)).await;
    let mut qualified_only = watch(&acme.client, watch_outcome(Outcome::Qualified)).await;
    let mut globex_all = watch(&globex.client, watch_all()).await;

    let q1 = stored(&acme, qualified("q1")).await;
    let r1 = stored(&acme, needs_review("r1")).await;
    let g1 = stored(&globex, qualified("g1")).await;
    let checked = qualify(
        &acme,
        pb::QualifyLeadRequest {
            validate_only: true,
            ..qualified("checked")
        },
    )
    .await;
    assert!(checked.verdict.expect("a verdict").verdict_id.is_empty());
    let r2 = stored(
        &acme,
        pb::QualifyLeadRequest {
            request_id: "crm-1".into(),
            ..needs_review("r2")
        },
    )
    .await;
    let retried = qualify(
        &acme,
        pb::QualifyLeadRequest {
            request_id: "crm-1".into(),
            ..needs_review("r2")
        },
    )
    .await;
    assert!(retried.replayed);
    let q2 = stored(&acme, qualified("q2")).await;
    let r3 = stored(&acme, needs_review("r3")).await;
    let g2 = stored(&globex, needs_review("g2")).await;

    // Each sees what was stored after it started, of its tenant and outcome,
    // in the order stored, exactly as QualifyLead answered; the validated
    // and the replayed qualification stored nothing, so nobody hears of them.
    let got = until(&mut all, &r3.verdict_id).await;
    assert_eq!(
        got,
        vec![q1.clone(), r1.clone(), r2.clone(), q2.clone(), r3.clone()]
    );
    assert!(!ids(&got).contains(&before.verdict_id));
    let got = until(&mut review, &r3.verdict_id).await;
    assert_eq!(got, vec![r1, r2, r3]);
    let got = until(&mut qualified_only, &q2.verdict_id).await;
    assert_eq!(got, vec![q1, q2]);
    let got = until(&mut globex_all, &g2.verdict_id).await;
    assert_eq!(got, vec![g1, g2]);

    // And nothing more: the next verdict heard is the next one stored.
    let last = stored(&acme, qualified("last")).await;
    assert_eq!(next(&mut all).await.expect("live"), last);
    assert_eq!(next(&mut qualified_only).await.expect("live"), last);
}

async fn a_watcher_gets_the_verdicts_of_a_bulk_stream(backend: Backend) {
    let app = spawn_app(backend).await;
    let acme = app.as_key(&app.issue_key("acme", &[Role::Scorer]).await.secret);
    let mut all = watch(&acme.client, watch_all()).await;
    let mut review = watch(&acme.client, watch_outcome(Outcome::NeedsReview)).await;

    let items: Vec<pb::QualifyLeadsRequest> = (0..60)
        .map(|i| pb::QualifyLeadsRequest {
            correlation_id: format!("row-{i}"),
            request: Some(match i % 3 {
                0 => qualified(&format!("bulk-{i}")),
                1 => needs_review(&format!("bulk-{i}")),
                // Invalid: stores nothing.
                _ => qualified(""),
            }),
        })
        .collect();
    let results: Vec<pb::QualifyLeadsResponse> = acme
        .client
        .clone()
        .qualify_leads(futures::stream::iter(items))
        .await
        .expect("QualifyLeads starts")
        .into_inner()
        .map(|r| r.expect("a result"))
        .collect()
        .await;
    let committed: Vec<pb::Verdict> = results
        .into_iter()
        .filter_map(|r| match r.result {
            Some(pb::qualify_leads_response::Result::Qualified(q)) => q.verdict,
            _ => None,
        })
        .collect();
    assert_eq!(committed.len(), 40);
    // Verdicts committed together may be heard in any order: compare sets.
    let by_id = |mut verdicts: Vec<pb::Verdict>| {
        verdicts.sort_by(|a, b| a.verdict_id.cmp(&b.verdict_id));
        verdicts
    };
    let heard = by_id(take(&mut all, committed.len()).await);
    assert_eq!(heard, by_id(committed.clone()));
    let reviews: Vec<pb::Verdict> = committed
        .into_iter()
        .filter(|v| v.outcome == Outcome::NeedsReview as i32)
        .collect();
    assert_eq!(reviews.len(), 20);
    let heard = by_id(take(&mut review, reviews.len()).await);
    assert_eq!(heard, by_id(reviews));

    // Nothing else was heard: the next verdict is the next one stored.
    let after = stored(&acme, needs_review("after")).await;
    assert_eq!(next(&mut all).await.expect("live"), after);
    assert_eq!(next(&mut review).await.expect("live"), after);
}

async fn invalid_watches_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let acme = app.as_key(&app.issue_key("acme", &[Role::Scorer]).await.secret);
    let globex = app.as_key(&app.issue_key("globex", &[Role::Reader]).await.secret);
    let verdict = stored(&acme, qualified("a")).await;

    let refused = |request: pb::WatchVerdictsRequest, client: &QualificationClient| {
        let mut client = client.clone();
        async move {
            client
                .watch_verdicts(request)
                .await
                .map(drop)
                .expect_err("the watch is refused")
        }
    };
    let status = refused(
        pb::WatchVerdictsRequest {
            outcome: 99,
            since_verdict_id: "not a verdict id".into(),
        },
        &acme.client,
    )
    .await;
    assert_bad_fields(&status, &["outcome", "since_verdict_id"]);
    let status = refused(watch_since(&"x".repeat(10_000)), &acme.client).await;
    assert_bad_fields(&status, &["since_verdict_id"]);
    // Another tenant's verdict, or none at all: NOT_FOUND alike.
    for id in [verdict.verdict_id.clone(), uuid::Uuid::now_v7().to_string()] {
        let status = refused(watch_since(&id), &globex.client).await;
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
    }
    // The owner resumes from it.
    watch(&acme.client, watch_since(&verdict.verdict_id)).await;
}

async fn a_resumed_watch_sends_what_was_missed_then_goes_on_live(backend: Backend) {
    let app = spawn_app(backend).await;
    let acme = app.as_key(&app.issue_key("acme", &[Role::Scorer]).await.secret);
    let globex = app.as_key(&app.issue_key("globex", &[Role::Scorer]).await.secret);

    let mut first = watch(&acme.client, watch_all()).await;
    let v1 = stored(&acme, qualified("v1")).await;
    let v2 = stored(&acme, needs_review("v2")).await;
    assert_eq!(
        until(&mut first, &v2.verdict_id).await,
        vec![v1.clone(), v2.clone()]
    );
    drop(first);

    // Missed while away, some of another tenant.
    let mut missed = Vec::new();
    for i in 0..5 {
        missed.push(stored(&acme, needs_review(&format!("m{i}"))).await);
        missed.push(stored(&acme, qualified(&format!("m{i}"))).await);
        stored(&globex, qualified(&format!("m{i}"))).await;
    }

    let mut resumed = watch(&acme.client, watch_since(&v2.verdict_id)).await;
    let live = stored(&acme, qualified("live")).await;
    let got = until(&mut resumed, &live.verdict_id).await;
    // What was stored before v2 within the replay's lookback may come again;
    // v2 itself never; then exactly what was missed, and the live one.
    assert!(REPLAY_LOOKBACK >= Duration::from_secs(1));
    let (repeated, rest): (Vec<_>, Vec<_>) = got.into_iter().partition(|v| *v == v1);
    assert!(repeated.len() <= 1, "v1 comes again at most once");
    let mut expected = missed.clone();
    expected.push(live.clone());
    assert_eq!(ids(&rest), ids(&expected));
    assert_eq!(rest, expected);

    // Resuming with a filter replays only that outcome.
    let mut reviews = watch(
        &acme.client,
        pb::WatchVerdictsRequest {
            outcome: Outcome::NeedsReview as i32,
            since_verdict_id: v2.verdict_id.clone(),
        },
    )
    .await;
    let last = stored(&acme, needs_review("last")).await;
    let got = until(&mut reviews, &last.verdict_id).await;
    let expected: Vec<String> = missed
        .iter()
        .filter(|v| v.outcome == Outcome::NeedsReview as i32)
        .map(|v| v.verdict_id.clone())
        .chain([last.verdict_id.clone()])
        .collect();
    assert_eq!(ids(&got), expected);
}

async fn a_watcher_that_reads_nothing_is_ended_and_never_slows_writers(backend: Backend) {
    const WRITERS: usize = 16;
    const EACH: usize = 90;
    let app = spawn_app(backend).await;
    let key = app.issue_key("acme", &[Role::Scorer]).await;
    let acme = app.as_key(&key.secret);
    // A client of its own that buffers 64 KiB (a couple of hundred verdicts)
    // and reads none.
    let small_window = 64 * 1024;
    let connection = Channel::from_shared(format!("http://127.0.0.1:{}", app.port))
        .expect("endpoint")
        .initial_stream_window_size(small_window)
        .initial_connection_window_size(small_window)
        .connect()
        .await
        .expect("connect");
    let reader = Clients::new(&connection, Auth::bearer(&key.secret));
    let mut stalled = watch(&reader.client, watch_all()).await;

    let started = Instant::now();
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let acme = acme.clone();
        writers.push(tokio::spawn(async move {
            let mut written = Vec::new();
            let mut slowest = Duration::ZERO;
            for i in 0..EACH {
                let call = Instant::now();
                let verdict = stored(&acme, qualified(&format!("w{w}-{i}"))).await;
                slowest = slowest.max(call.elapsed());
                written.push(verdict.verdict_id);
            }
            (written, slowest)
        }));
    }
    let mut written = BTreeSet::new();
    let mut slowest = Duration::ZERO;
    for writer in writers {
        let (ids, longest) = writer.await.expect("the writer completes");
        written.extend(ids);
        slowest = slowest.max(longest);
    }
    let took = started.elapsed();
    assert_eq!(written.len(), WRITERS * EACH);
    // Not one write waited on the watcher, which stalled within a few
    // dozen verdicts.
    assert!(
        slowest < STALL_LIMIT,
        "the slowest write took {slowest:?} ({took:?} for all)"
    );

    // Its client still reads nothing for as long as the server waits on a
    // client; then it gets what it was sent before it was ended, and why.
    tokio::time::sleep(STALL_LIMIT + Duration::from_secs(1)).await;
    let mut received = Vec::new();
    let status = loop {
        match next(&mut stalled).await {
            Ok(verdict) => received.push(verdict.verdict_id),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        received.len() < written.len() / 4,
        "the stalled watcher was ended early, after {} verdicts",
        received.len()
    );
    let last = received.last().expect("some verdicts were sent first");
    assert!(
        status
            .message()
            .contains(&format!("since_verdict_id = \"{last}\"")),
        "the status says how to resume: {status:?}"
    );

    // Resuming there delivers every verdict it had not received.
    let mut resumed = watch(&acme.client, watch_since(last)).await;
    let mut missing: BTreeSet<String> = written
        .iter()
        .filter(|id| !received.contains(id))
        .cloned()
        .collect();
    while !missing.is_empty() {
        let verdict = next(&mut resumed).await.expect("the resumed watch goes on");
        assert!(
            written.contains(&verdict.verdict_id),
            "only verdicts that were stored"
        );
        missing.remove(&verdict.verdict_id);
    }
}

async fn shutting_down_ends_open_watches(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let acme = app.as_key(&app.issue_key("acme", &[Role::Scorer]).await.secret);
    let mut open = watch(&acme.client, watch_all()).await;
    let verdict = stored(&acme, qualified("a")).await;
    assert_eq!(next(&mut open).await.expect("live"), verdict);

    tokio::time::timeout(PATIENCE, app.stop())
        .await
        .expect("the server stops although a watch is open");
    let status = next(&mut open).await.expect_err("the watch ended");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status
            .message()
            .contains(&format!("since_verdict_id = \"{}\"", verdict.verdict_id)),
        "{status:?}"
    );
}

/// Scenarios of several replicas on one database, which SQLite does not serve.
mod replicas {
    mod postgres {
        use std::time::Duration;

        use leadqual::auth::Role;
        use leadqual::startup::Application;
        use tokio::sync::oneshot;
        use tonic::Code;

        use super::super::{next, qualified, stored, until, watch, watch_all, watch_since};
        use crate::helpers::{self, AppOptions, Backend, spawn_app};

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_watcher_hears_verdicts_stored_by_another_replica() {
            let app = spawn_app(Backend::Postgres).await;
            let key = app.issue_key("acme", &[Role::Scorer]).await;
            let other = Application::build(&helpers::settings(
                &app.database.url,
                &AppOptions::default(),
            ))
            .await
            .expect("a second replica starts");
            let port = other.port();
            let (stop, stopped) = oneshot::channel::<()>();
            let replica = tokio::spawn(other.run_until_stopped(async move {
                let _ = stopped.await;
            }));
            let on_a = app.as_key(&key.secret);
            let on_b = helpers::Clients::new(
                &helpers::connect(port).await,
                helpers::Auth::bearer(&key.secret),
            );

            let mut on_a_watch = watch(&on_a.client, watch_all()).await;
            let mut on_b_watch = watch(&on_b.client, watch_all()).await;
            let from_b = stored(&on_b, qualified("from-b")).await;
            let from_a = stored(&on_a, qualified("from-a")).await;
            assert_eq!(
                until(&mut on_a_watch, &from_a.verdict_id).await,
                vec![from_b.clone(), from_a.clone()]
            );
            assert_eq!(
                until(&mut on_b_watch, &from_a.verdict_id).await,
                vec![from_b.clone(), from_a.clone()]
            );

            let _ = stop.send(());
            replica
                .await
                .expect("the replica's task completes")
                .expect("the replica stops cleanly");
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_lost_listener_connection_ends_watches_which_resume_without_gaps() {
            let app = spawn_app(Backend::Postgres).await;
            let acme = app.as_key(&app.issue_key("acme", &[Role::Scorer]).await.secret);
            let mut open = watch(&acme.client, watch_all()).await;
            let before = stored(&acme, qualified("before")).await;
            assert_eq!(next(&mut open).await.expect("live"), before);

            let name = app
                .database
                .url
                .rsplit('/')
                .next()
                .expect("a database name");
            let terminated = app
                .database
                .query_texts(&format!(
                    "SELECT pg_terminate_backend(pid)::text FROM pg_stat_activity \
                     WHERE datname = '{name}' AND query ILIKE 'LISTEN%'"
                ))
                .await;
            assert_eq!(terminated, vec!["true"], "the server's listener");
            let status = next(&mut open).await.expect_err("the watch ended");
            assert_eq!(status.code(), Code::Unavailable, "{status:?}");
            assert!(status.message().contains(&before.verdict_id), "{status:?}");

            // Stored while nobody listens, then heard by the resumed watch.
            let during = stored(&acme, qualified("during")).await;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            let mut resumed = loop {
                match acme
                    .client
                    .clone()
                    .watch_verdicts(watch_since(&before.verdict_id))
                    .await
                {
                    Ok(response) => break response.into_inner(),
                    Err(status) if status.code() == Code::Unavailable => {
                        assert!(
                            tokio::time::Instant::now() < deadline,
                            "the listener did not come back: {status:?}"
                        );
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(status) => panic!("unexpected {status:?}"),
                }
            };
            let after = stored(&acme, qualified("after")).await;
            assert_eq!(
                until(&mut resumed, &after.verdict_id).await,
                vec![during, after]
            );
        }
    }
}
