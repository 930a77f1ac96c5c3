//! What was acknowledged against what is stored: read back through the API
//! as a client would, and retried with the same request ids.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures::StreamExt;
use leadqual::proto::v1 as pb;
use tonic::Code;

use super::load::{BulkLoad, Call, Client, Outcome, qualify};

/// Every verdict of `lead`, newest first.
pub async fn all_verdicts(client: &mut Client, lead: &str) -> Vec<pb::Verdict> {
    let mut verdicts = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_verdicts(pb::ListVerdictsRequest {
                lead_id: lead.to_owned(),
                page_size: 1000,
                page_token,
            })
            .await
            .unwrap_or_else(|s| panic!("ListVerdicts {lead}: {s:?}"))
            .into_inner();
        verdicts.extend(page.verdicts);
        if page.next_page_token.is_empty() {
            return verdicts;
        }
        page_token = page.next_page_token;
    }
}

/// What [`assert_stored_once`] found.
#[derive(Debug, Default)]
pub struct Stored {
    /// Verdicts stored for the calls' leads.
    pub verdicts: usize,
    /// Calls acknowledged, each found exactly once.
    pub acked: usize,
    /// Calls not acknowledged (failed, cut off) whose verdict was stored
    /// anyway: committed, but the answer was lost.
    pub unacked_stored: usize,
    /// Calls not acknowledged and not stored.
    pub unacked_missing: usize,
}

/// Reads back every verdict of the calls' leads and checks that every
/// acknowledged call's verdict is stored exactly once (by ListVerdicts and
/// GetVerdict), that no request id is stored twice, and that nothing was
/// stored that no call asked for. With `all_acked`, every call must have
/// been acknowledged.
pub async fn assert_stored_once(client: &Client, calls: &[Call], all_acked: bool) -> Stored {
    let mut by_lead: BTreeMap<&str, HashMap<&str, &Call>> = BTreeMap::new();
    for call in calls {
        let previous = by_lead
            .entry(call.request.lead_id.as_str())
            .or_default()
            .insert(call.request.request_id.as_str(), call);
        assert!(
            previous.is_none(),
            "the test sent request id {} twice",
            call.request.request_id
        );
        if all_acked {
            assert!(
                call.outcome.verdict_id().is_some(),
                "request {} was not acknowledged: {:?}",
                call.request.request_id,
                call.outcome
            );
        }
    }
    let leads: Vec<&str> = by_lead.keys().copied().collect();
    let listed: Vec<(&str, Vec<pb::Verdict>)> = futures::stream::iter(leads)
        .map(|lead| {
            let mut client = client.clone();
            async move { (lead, all_verdicts(&mut client, lead).await) }
        })
        .buffer_unordered(8)
        .collect()
        .await;

    let mut stored = Stored::default();
    for (lead, verdicts) in &listed {
        let sent = &by_lead[lead];
        let mut found: HashMap<&str, &str> = HashMap::new();
        for verdict in verdicts {
            stored.verdicts += 1;
            let request_id = verdict.request_id.as_str();
            assert!(
                sent.contains_key(request_id),
                "lead {lead} has verdict {} of request id {request_id:?}, which was never sent",
                verdict.verdict_id
            );
            if let Some(first) = found.insert(request_id, &verdict.verdict_id) {
                panic!(
                    "request id {request_id} of lead {lead} is stored twice: verdicts {first} \
                     and {}",
                    verdict.verdict_id
                );
            }
        }
        for (request_id, call) in sent {
            match (call.outcome.verdict_id(), found.get(request_id)) {
                (Some(acked), Some(stored_id)) => {
                    assert_eq!(
                        acked, *stored_id,
                        "request {request_id} was acknowledged with verdict {acked}, but \
                         verdict {stored_id} is stored for it"
                    );
                    stored.acked += 1;
                }
                (Some(acked), None) => panic!(
                    "request {request_id} of lead {lead} was acknowledged with verdict \
                     {acked}, which is not stored (ListVerdicts)"
                ),
                (None, Some(_)) => stored.unacked_stored += 1,
                (None, None) => stored.unacked_missing += 1,
            }
        }
    }

    let acked: Vec<&Call> = calls
        .iter()
        .filter(|c| c.outcome.verdict_id().is_some())
        .collect();
    futures::stream::iter(acked)
        .for_each_concurrent(16, |call| {
            let mut client = client.clone();
            async move {
                let id = call.outcome.verdict_id().expect("acknowledged");
                let verdict = client
                    .get_verdict(pb::GetVerdictRequest {
                        verdict_id: id.to_owned(),
                    })
                    .await
                    .unwrap_or_else(|s| {
                        panic!(
                            "GetVerdict {id} (acknowledged for {}): {s:?}",
                            call.request.request_id
                        )
                    })
                    .into_inner()
                    .verdict
                    .expect("a verdict");
                assert_eq!(verdict.lead_id, call.request.lead_id);
                assert_eq!(verdict.request_id, call.request.request_id);
            }
        })
        .await;
    stored
}

/// What a retry of every call found.
#[derive(Debug, Default)]
pub struct Retried {
    /// Answered from an earlier commit (`replayed`).
    pub replayed: usize,
    /// Stored now, for a call whose first attempt stored nothing.
    pub stored_now: usize,
    /// Attempts the retry needed beyond one, on ABORTED or UNAVAILABLE.
    pub extra_attempts: usize,
}

/// Sends every call again with its request id, as a client retries: a
/// lead's calls in their order, several leads at once, each call until it
/// is answered (on ABORTED or UNAVAILABLE, up to 20 attempts). An
/// acknowledged call must be replayed with its verdict id. Returns the calls
/// with the retry's outcome.
pub async fn retry_unary(client: &Client, calls: &[Call]) -> (Vec<Call>, Retried) {
    let mut by_lead: BTreeMap<&str, Vec<&Call>> = BTreeMap::new();
    for call in calls {
        by_lead
            .entry(call.request.lead_id.as_str())
            .or_default()
            .push(call);
    }
    let results: Vec<(Vec<Call>, usize)> = futures::stream::iter(by_lead.into_values())
        .map(|lead_calls| {
            let mut client = client.clone();
            async move {
                let mut retried = Vec::with_capacity(lead_calls.len());
                let mut extra = 0;
                for call in lead_calls {
                    let mut attempt = 0;
                    let again = loop {
                        let again =
                            qualify(&mut client, call.request.clone(), Duration::from_secs(30))
                                .await;
                        attempt += 1;
                        let transient = matches!(
                            again.outcome,
                            Outcome::Failed(Code::Aborted | Code::Unavailable)
                                | Outcome::Refused
                                | Outcome::Broken(_)
                        );
                        if !transient || attempt == 20 {
                            break again;
                        }
                        extra += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    };
                    retried.push(check_retry(call, again));
                }
                (retried, extra)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let mut summary = Retried::default();
    let mut all = Vec::with_capacity(calls.len());
    for (retried, extra) in results {
        summary.extra_attempts += extra;
        for call in retried {
            match call.outcome {
                Outcome::Acked { replayed: true, .. } => summary.replayed += 1,
                _ => summary.stored_now += 1,
            }
            all.push(call);
        }
    }
    (all, summary)
}

/// Sends every call again as the items of one `QualifyLeads` stream, as a
/// bulk client retries; an acknowledged item must be replayed with its
/// verdict id.
pub async fn retry_bulk(
    channel: &tonic::transport::Channel,
    calls: &[Call],
) -> (Vec<Call>, Retried) {
    let items: Vec<pb::QualifyLeadRequest> = calls.iter().map(|c| c.request.clone()).collect();
    let stream = BulkLoad::start(channel, items.into_iter(), None);
    let (answers, ended) = stream.finish(Duration::from_secs(120)).await;
    if let Err(status) = ended {
        panic!("the retried bulk stream failed: {status:?}");
    }
    assert_eq!(answers.len(), calls.len(), "every retried item answered");
    let mut summary = Retried::default();
    let retried = calls
        .iter()
        .zip(answers)
        .map(|(call, again)| {
            let again = check_retry(call, again);
            match again.outcome {
                Outcome::Acked { replayed: true, .. } => summary.replayed += 1,
                _ => summary.stored_now += 1,
            }
            again
        })
        .collect();
    (retried, summary)
}

fn check_retry(first: &Call, again: Call) -> Call {
    let Outcome::Acked {
        verdict_id,
        replayed,
    } = &again.outcome
    else {
        panic!(
            "the retry of request {} failed: {:?}",
            first.request.request_id, again.outcome
        );
    };
    if let Some(acked) = first.outcome.verdict_id() {
        assert!(
            *replayed && verdict_id == acked,
            "the retry of acknowledged request {} must replay verdict {acked}, got {verdict_id} \
             (replayed: {replayed})",
            first.request.request_id
        );
    }
    again
}
