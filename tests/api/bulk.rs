//! QualifyLeads: the bulk stream. Results in order with their correlation
//! ids, per-item errors as the unary call gives them, idempotency per item,
//! a batch seeing what the items before it stored, and back-pressure.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use leadqual::auth::Role;
use leadqual::proto::v1 as pb;
use pb::qualify_leads_response::Result as ItemResult;
use pb::{Outcome, Stage};
use prost::Message;
use tonic::Code;
use tonic_types::StatusExt;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, assert_bad_fields, qualify_request, spawn_app};

backend_tests!(
    ten_thousand_items_with_invalid_ones_store_each_valid_one_once,
    a_resent_stream_stores_nothing_new,
    items_of_one_lead_build_on_each_other_in_order,
    many_items_of_a_few_leads_keep_every_update,
    an_item_error_is_the_error_of_the_unary_call,
    a_slow_reader_stops_the_sender,
    the_stream_runs_in_the_tenant_of_its_key,
    a_caller_waiting_for_each_result_gets_it_before_sending_more,
);

/// The item at `i`: valid, except one in ten that is invalid in one of
/// several ways.
fn item(i: usize) -> pb::QualifyLeadsRequest {
    let lead_id = format!("bulk-{}", i % 3_000);
    let mut request = qualify_request(
        &lead_id,
        Stage::Contact,
        pb::LeadFacts {
            employee_count: Some(10 + (i as i64 % 500)),
            disrespectful_incidents: Some((i % 3) as i32),
            ..Default::default()
        },
    );
    request.request_id = format!("bulk-req-{i}");
    match i % 40 {
        7 => request.lead_id = String::new(),
        17 => {
            request.facts = Some(pb::LeadFacts {
                employee_count: Some(-1),
                ..Default::default()
            })
        }
        27 => request.stage = 99,
        37 => {
            return pb::QualifyLeadsRequest {
                correlation_id: format!("item-{i}"),
                request: None,
            };
        }
        _ => {}
    }
    pb::QualifyLeadsRequest {
        correlation_id: format!("item-{i}"),
        request: Some(request),
    }
}

/// The field an invalid `item(i)` names, if it is invalid.
fn bad_field(i: usize) -> Option<&'static str> {
    match i % 40 {
        7 => Some("lead_id"),
        17 => Some("facts.employee_count"),
        27 => Some("stage"),
        37 => Some("request"),
        _ => None,
    }
}

/// Every result of a stream of `items`, read to its end.
async fn stream(
    app: &TestApp,
    items: Vec<pb::QualifyLeadsRequest>,
) -> Vec<pb::QualifyLeadsResponse> {
    let mut client = app.client.clone();
    let mut results = client
        .qualify_leads(futures::stream::iter(items))
        .await
        .expect("QualifyLeads opens")
        .into_inner();
    let mut all = Vec::new();
    while let Some(result) = results.message().await.expect("the stream goes on") {
        all.push(result);
    }
    all
}

fn qualified(result: &pb::QualifyLeadsResponse) -> &pb::QualifyLeadResponse {
    match &result.result {
        Some(ItemResult::Qualified(q)) => q,
        other => panic!(
            "{}: expected a verdict, got {other:?}",
            result.correlation_id
        ),
    }
}

fn item_error(result: &pb::QualifyLeadsResponse) -> tonic::Status {
    match &result.result {
        Some(ItemResult::Error(e)) => {
            // Rebuilt as the unary call's status, details and all.
            tonic::Status::with_details(
                Code::from_i32(e.code),
                e.message.clone(),
                e.encode_to_vec().into(),
            )
        }
        other => panic!(
            "{}: expected an error, got {other:?}",
            result.correlation_id
        ),
    }
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    let texts = app.database.query_texts(sql).await;
    texts[0].parse().expect("a count")
}

async fn ten_thousand_items_with_invalid_ones_store_each_valid_one_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let n = 10_000;
    let results = stream(&app, (0..n).map(item).collect()).await;
    assert_eq!(results.len(), n, "one result per item");
    let mut valid = 0;
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result.correlation_id, format!("item-{i}"), "in order");
        match bad_field(i) {
            Some(field) => assert_bad_fields(&item_error(result), &[field]),
            None => {
                valid += 1;
                let q = qualified(result);
                let verdict = q.verdict.as_ref().expect("a verdict");
                assert_eq!(verdict.lead_id, format!("bulk-{}", i % 3_000));
                assert_eq!(verdict.request_id, format!("bulk-req-{i}"));
                assert_eq!(verdict.tenant, "default");
                assert!(!q.replayed);
            }
        }
    }
    assert_eq!(valid, n - n / 10);
    // Each valid item stored once, with its 21 signals; no invalid one.
    assert_eq!(
        count(&app, "SELECT CAST(count(*) AS TEXT) FROM verdicts").await,
        valid as i64
    );
    assert_eq!(
        count(
            &app,
            "SELECT CAST(count(DISTINCT request_id) AS TEXT) FROM verdicts"
        )
        .await,
        valid as i64
    );
    assert_eq!(
        count(&app, "SELECT CAST(count(*) AS TEXT) FROM signals").await,
        21 * valid as i64
    );
    let leads: std::collections::HashSet<usize> = (0..n)
        .filter(|&i| bad_field(i).is_none())
        .map(|i| i % 3_000)
        .collect();
    assert_eq!(
        count(&app, "SELECT CAST(count(*) AS TEXT) FROM leads").await,
        leads.len() as i64
    );
    // A lead points at its last verdict, whose seq counts its verdicts.
    assert_eq!(
        count(
            &app,
            "SELECT CAST(count(*) AS TEXT) FROM leads AS l \
             JOIN (SELECT tenant, lead_id, count(*) AS n, max(seq) AS last FROM verdicts \
                 GROUP BY tenant, lead_id) AS c \
                 ON c.tenant = l.tenant AND c.lead_id = l.lead_id \
             JOIN verdicts AS v ON v.verdict_id = l.latest_verdict_id \
             WHERE v.seq = c.last AND c.n = c.last AND l.revision = c.last"
        )
        .await,
        leads.len() as i64
    );
    // The last result of lead bulk-0 is what the lead reads back.
    let last = results
        .iter()
        .enumerate()
        .rev()
        .find(|(i, _)| i % 3_000 == 0 && bad_field(*i).is_none())
        .map(|(_, r)| qualified(r).verdict.clone().expect("a verdict"))
        .expect("bulk-0 was qualified");
    let lead = app.lead("bulk-0").await.expect("GetLead");
    assert_eq!(lead.latest_verdict, Some(last));
}

async fn a_resent_stream_stores_nothing_new(backend: Backend) {
    let app = spawn_app(backend).await;
    let items: Vec<_> = (0..600).map(item).collect();
    let first = stream(&app, items.clone()).await;
    let stored = count(&app, "SELECT CAST(count(*) AS TEXT) FROM verdicts").await;
    let again = stream(&app, items).await;
    assert_eq!(
        count(&app, "SELECT CAST(count(*) AS TEXT) FROM verdicts").await,
        stored,
        "nothing stored twice"
    );
    assert_eq!(first.len(), again.len());
    for (i, (a, b)) in first.iter().zip(&again).enumerate() {
        assert_eq!(a.correlation_id, b.correlation_id);
        if bad_field(i).is_some() {
            assert_eq!(item_error(a).code(), item_error(b).code());
            continue;
        }
        let (a, b) = (qualified(a), qualified(b));
        assert!(b.replayed, "item {i} is a replay");
        assert_eq!(a.verdict, b.verdict, "item {i}: the first verdict again");
    }
    // Items without a request id are new calls each time.
    let plain = |i: usize| pb::QualifyLeadsRequest {
        correlation_id: String::new(),
        request: Some(qualify_request(
            &format!("plain-{i}"),
            Stage::Identification,
            pb::LeadFacts::default(),
        )),
    };
    stream(&app, (0..5).map(plain).collect()).await;
    stream(&app, (0..5).map(plain).collect()).await;
    assert_eq!(
        count(
            &app,
            "SELECT CAST(count(*) AS TEXT) FROM verdicts WHERE lead_id LIKE 'plain-%'"
        )
        .await,
        10
    );
}

async fn items_of_one_lead_build_on_each_other_in_order(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let facts = [
        pb::LeadFacts {
            questions_asked: Some(10),
            ..Default::default()
        },
        pb::LeadFacts {
            questions_answered: Some(4),
            ..Default::default()
        },
        // Invalid only with the facts merged before it: 11 > 10.
        pb::LeadFacts {
            questions_answered: Some(11),
            ..Default::default()
        },
        pb::LeadFacts {
            disrespectful_incidents: Some(2),
            ..Default::default()
        },
    ];
    let mut items: Vec<_> = facts
        .iter()
        .enumerate()
        .map(|(i, f)| pb::QualifyLeadsRequest {
            correlation_id: format!("step-{i}"),
            request: Some(qualify_request(
                "one-lead",
                if i == 0 {
                    Stage::Contact
                } else {
                    Stage::Unspecified
                },
                f.clone(),
            )),
        })
        .collect();
    // A validate_only item is answered and not stored.
    let mut check = qualify_request("one-lead", Stage::Unspecified, pb::LeadFacts::default());
    check.validate_only = true;
    items.push(pb::QualifyLeadsRequest {
        correlation_id: "check".into(),
        request: Some(check),
    });
    let results = stream(&app, items).await;
    assert_eq!(results.len(), 5);
    assert_bad_fields(&item_error(&results[2]), &["facts.questions_answered"]);
    let merged = qualified(&results[3]).merged_facts.clone().expect("facts");
    assert_eq!(merged.questions_asked, Some(10));
    assert_eq!(merged.questions_answered, Some(4));
    assert_eq!(merged.disrespectful_incidents, Some(2));
    let check = qualified(&results[4]).verdict.clone().expect("a verdict");
    assert!(check.verdict_id.is_empty(), "validate_only stores nothing");
    // Newest first: the three stored items, in the order they came.
    let stored = app.all_verdicts("one-lead").await;
    let expected: Vec<pb::Verdict> = [3, 1, 0]
        .iter()
        .map(|&i| qualified(&results[i]).verdict.clone().expect("a verdict"))
        .collect();
    assert_eq!(stored, expected);
    assert_eq!(check.outcome, stored[0].outcome);
    assert_eq!(check.facts_hash, stored[0].facts_hash);
}

async fn many_items_of_a_few_leads_keep_every_update(backend: Backend) {
    let mut app = spawn_app(backend).await;
    // Every batch holds each lead many times (rounds of five), and the
    // next batch's leads are those of the round being committed.
    let n = 2_000;
    let items = (0..n)
        .map(|i| pb::QualifyLeadsRequest {
            correlation_id: i.to_string(),
            request: Some(pb::QualifyLeadRequest {
                lead_id: format!("few-{}", i % 5),
                stage: Stage::Recommendation as i32,
                facts: Some(pb::LeadFacts {
                    meetings_cancelled: Some(i as i32),
                    ..Default::default()
                }),
                request_id: format!("few-{i}"),
                validate_only: false,
            }),
        })
        .collect();
    let results = stream(&app, items).await;
    assert_eq!(results.len(), n);
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result.correlation_id, i.to_string());
        let q = qualified(result);
        let merged = q.merged_facts.as_ref().expect("facts");
        assert_eq!(merged.meetings_cancelled, Some(i as i32), "item {i}");
        assert_eq!(
            q.verdict.as_ref().expect("v").lead_id,
            format!("few-{}", i % 5)
        );
    }
    for lead in 0..5 {
        let id = format!("few-{lead}");
        let stored = app.lead(&id).await.expect("GetLead");
        let last = n - 5 + lead;
        assert_eq!(
            stored.facts.and_then(|f| f.meetings_cancelled),
            Some(last as i32),
            "{id} holds its last item's facts"
        );
        let history = app.all_verdicts(&id).await;
        assert_eq!(history.len(), n / 5, "{id}: one verdict per item");
        let requests: Vec<String> = history.iter().map(|v| v.request_id.clone()).collect();
        let expected: Vec<String> = (0..n / 5)
            .rev()
            .map(|k| format!("few-{}", k * 5 + lead))
            .collect();
        assert_eq!(requests, expected, "{id}: in item order");
    }
}

async fn an_item_error_is_the_error_of_the_unary_call(backend: Backend) {
    let app = spawn_app(backend).await;
    let bad = pb::QualifyLeadRequest {
        lead_id: "x".repeat(200),
        stage: Stage::Contact as i32,
        facts: Some(pb::LeadFacts {
            employee_count: Some(-5),
            annual_revenue_usd: Some(-1),
            ..Default::default()
        }),
        request_id: "bad id\n".into(),
        validate_only: false,
    };
    let unary = app
        .client
        .clone()
        .qualify_lead(bad.clone())
        .await
        .expect_err("invalid");
    let results = stream(
        &app,
        vec![
            pb::QualifyLeadsRequest {
                correlation_id: "bad".into(),
                request: Some(bad),
            },
            pb::QualifyLeadsRequest {
                correlation_id: "c".repeat(129),
                request: Some(qualify_request(
                    "fine",
                    Stage::Contact,
                    pb::LeadFacts::default(),
                )),
            },
            pb::QualifyLeadsRequest {
                correlation_id: "good".into(),
                request: Some(qualify_request(
                    "fine",
                    Stage::Contact,
                    pb::LeadFacts::default(),
                )),
            },
        ],
    )
    .await;
    let streamed = item_error(&results[0]);
    assert_eq!(results[0].correlation_id, "bad");
    assert_eq!(streamed.code(), unary.code());
    assert_eq!(streamed.message(), unary.message());
    let violations = |s: &tonic::Status| {
        s.get_details_bad_request()
            .map(|b| {
                b.field_violations
                    .iter()
                    .map(|v| (v.field.clone(), v.description.clone()))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    assert!(!violations(&unary).is_empty());
    assert_eq!(
        violations(&streamed),
        violations(&unary),
        "the same field violations"
    );
    assert_eq!(results[1].correlation_id, "", "an invalid id is not echoed");
    assert_bad_fields(&item_error(&results[1]), &["correlation_id"]);
    assert_eq!(results[2].correlation_id, "good");
    assert_eq!(
        qualified(&results[2]).verdict.as_ref().expect("v").outcome,
        Outcome::Qualified as i32
    );
}

async fn a_slow_reader_stops_the_sender(backend: Backend) {
    let app = spawn_app(backend).await;
    let produced = Arc::new(AtomicUsize::new(0));
    let counter = produced.clone();
    let item = |i: usize| pb::QualifyLeadsRequest {
        correlation_id: format!("slow-{i}"),
        request: Some(qualify_request(
            &format!("slow-{}", i % 1_000),
            Stage::Identification,
            pb::LeadFacts::default(),
        )),
    };
    let item_bytes = item(99_999).encoded_len();
    // Endless: only back-pressure stops it.
    let items = futures::stream::iter(0..).map(move |i| {
        counter.fetch_add(1, Ordering::SeqCst);
        item(i)
    });
    let mut client = app.client.clone();
    let mut results = client
        .qualify_leads(items)
        .await
        .expect("QualifyLeads opens")
        .into_inner();
    // Nothing is read: the sender must come to a stop once the HTTP/2
    // windows are full (1 MiB each way by default) and the server holds a
    // batch of items and a buffer of results: a few MiB of items at most,
    // however long the stream.
    let stalled_at = wait_for_stall(&produced).await;
    assert!(
        stalled_at * item_bytes < 4 << 20,
        "the server took {stalled_at} items ({item_bytes} bytes each) without any result \
         being read"
    );
    // Reading lets it go on, in order.
    for i in 0..2_000 {
        let result = results
            .message()
            .await
            .expect("the stream goes on")
            .expect("more results");
        assert_eq!(result.correlation_id, format!("slow-{i}"));
        qualified(&result);
    }
    assert!(produced.load(Ordering::SeqCst) > stalled_at);
    // And it stops again when reading stops.
    let again = wait_for_stall(&produced).await;
    assert!((again - stalled_at) * item_bytes < (4 << 20) + 2_000 * item_bytes);
}

/// Waits until `produced` stops growing; its value then.
async fn wait_for_stall(produced: &AtomicUsize) -> usize {
    let started = Instant::now();
    let mut last = usize::MAX;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = produced.load(Ordering::SeqCst);
        if now == last {
            return now;
        }
        last = now;
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the sender never stopped: {now} items taken"
        );
    }
}

async fn the_stream_runs_in_the_tenant_of_its_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let acme = app.issue_key("acme", &[Role::Scorer]).await;
    let globex = app.issue_key("globex", &[Role::Reader]).await;
    let mut acme = app.as_key(&acme.secret);
    let item = pb::QualifyLeadsRequest {
        correlation_id: "1".into(),
        request: Some(qualify_request(
            "shared-name",
            Stage::Contact,
            pb::LeadFacts::default(),
        )),
    };
    let mut results = acme
        .client
        .qualify_leads(futures::stream::iter([item]))
        .await
        .expect("a scorer may stream")
        .into_inner();
    let first = results.message().await.expect("a result").expect("one");
    assert_eq!(
        qualified(&first).verdict.as_ref().expect("v").tenant,
        "acme"
    );
    assert!(
        acme.client
            .get_lead(pb::GetLeadRequest {
                lead_id: "shared-name".into()
            })
            .await
            .is_ok()
    );
    let mut globex = app.as_key(&globex.secret);
    assert_eq!(
        globex
            .client
            .get_lead(pb::GetLeadRequest {
                lead_id: "shared-name".into()
            })
            .await
            .expect_err("another tenant's lead")
            .code(),
        Code::NotFound
    );
}

async fn a_caller_waiting_for_each_result_gets_it_before_sending_more(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let (sender, items) = tokio::sync::mpsc::channel(1);
    let mut results = app
        .client
        .clone()
        .qualify_leads(tokio_stream::wrappers::ReceiverStream::new(items))
        .await
        .expect("QualifyLeads opens")
        .into_inner();
    // One item at a time, each sent only once the one before is answered;
    // the same lead, so each builds on the one before.
    for i in 0..5 {
        sender
            .send(pb::QualifyLeadsRequest {
                correlation_id: format!("turn-{i}"),
                request: Some(qualify_request(
                    "one-by-one",
                    Stage::Contact,
                    pb::LeadFacts {
                        employee_count: Some(10 + i),
                        ..Default::default()
                    },
                )),
            })
            .await
            .expect("send");
        let result = tokio::time::timeout(Duration::from_secs(10), results.message())
            .await
            .unwrap_or_else(|_| panic!("item {i} is answered without more items"))
            .expect("the stream goes on")
            .expect("a result");
        assert_eq!(result.correlation_id, format!("turn-{i}"));
        assert!(qualified(&result).verdict.is_some());
    }
    drop(sender);
    assert!(results.message().await.expect("ends cleanly").is_none());
    assert_eq!(app.all_verdicts("one-by-one").await.len(), 5);
}
