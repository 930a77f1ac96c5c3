//! `QualifyLeads`: a stream of qualifications in, a stream of results out,
//! in the same order. Items are taken in batches of whatever has arrived (up
//! to [`BATCH`]); a batch is validated, read, evaluated and committed
//! together, and its results are sent only once committed.
//!
//! Back-pressure: the outgoing channel holds at most [`RESULTS_BUFFERED`]
//! results; while it is full no further item is read, so HTTP/2 flow control
//! stops the sender. A stream holds at most a batch of items and that many
//! results in memory, whatever its length.

use std::collections::HashSet;

use futures::StreamExt;
use futures::stream::BoxStream;
use prost::Message;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};
use tracing::Instrument;

use super::convert;
use super::status::invalid_argument;
use crate::domain::Violation;
use crate::error::AppError;
use crate::proto::v1 as pb;
use crate::qualification::{Qualified, Qualifier, QualifyLead, round_length};
use pb::qualify_leads_response::Result as ItemResult;

/// Most items qualified in one batch (one read, one transaction).
pub const BATCH: usize = 256;

/// Results waiting for the caller to read them.
const RESULTS_BUFFERED: usize = BATCH;

/// Longest correlation id, in characters.
const MAX_CORRELATION_ID_CHARS: usize = 128;

pub type ResultStream = BoxStream<'static, Result<pb::QualifyLeadsResponse, Status>>;

/// Starts qualifying `items` in `tenant`; the results stream back.
pub fn qualify_leads(
    qualifier: Qualifier,
    tenant: String,
    items: Streaming<pb::QualifyLeadsRequest>,
) -> ResultStream {
    let (results, out) = mpsc::channel(RESULTS_BUFFERED);
    tokio::spawn(run(qualifier, tenant, items, results).instrument(tracing::Span::current()));
    ReceiverStream::new(out).boxed()
}

/// An item, validated: its correlation id and its command, or the error to
/// answer it with.
pub(crate) type Item = (String, Result<QualifyLead, Status>);

/// The answers of a batch of items, in item order, as they are filled in.
struct Answers {
    /// Correlation id and result of each item; `None` while being qualified.
    items: Vec<(String, Option<ItemResult>)>,
    /// Which items the rounds being qualified answer, in order.
    waiting: std::vec::IntoIter<usize>,
}

impl Answers {
    /// Fills in the answers of the next valid items, one per result.
    fn fill(&mut self, results: Vec<Result<Qualified, AppError>>) {
        // The results first: zip takes from its first iterator before it
        // learns that the second has ended, and no slot may be skipped.
        for (result, slot) in results.into_iter().zip(self.waiting.by_ref()) {
            self.items[slot].1 = Some(match result {
                Ok(qualified) => answer(qualified),
                Err(err) => error(&Status::from(err)),
            });
        }
    }

    /// Answers the next `n` valid items with the same error.
    fn fail(&mut self, n: usize, status: &Status) {
        for slot in self.waiting.by_ref().take(n) {
            self.items[slot].1 = Some(error(status));
        }
    }
}

/// The last round of a batch, being committed while the next batch is read
/// and evaluated; the batch's answers go out once it is done.
struct InFlight {
    /// Its leads and request ids: a round that shares one waits for this
    /// commit before it reads.
    keys: HashSet<Key>,
    commit: Commit,
    /// How many answers the commit fills in.
    size: usize,
    answers: Answers,
}

type Committed = Result<Vec<Result<Qualified, AppError>>, AppError>;

/// A round's commit: running, or done before its answers went out.
enum Commit {
    Running(JoinHandle<Committed>),
    Done(Result<Committed, tokio::task::JoinError>),
}

#[derive(Hash, PartialEq, Eq)]
enum Key {
    Lead(String),
    Request(String),
}

fn keys(round: &[QualifyLead]) -> HashSet<Key> {
    round
        .iter()
        .flat_map(|c| {
            let request = c
                .request_id
                .as_ref()
                .map(|r| Key::Request(r.as_str().into()));
            std::iter::once(Key::Lead(c.lead_id.as_str().into())).chain(request)
        })
        .collect()
}

/// Sends a finished batch's answers, in order; false when the caller is gone.
async fn send(answers: Answers, results: &Results, tally: &mut Tally) -> bool {
    for (correlation_id, result) in answers.items {
        let result = result.unwrap_or_else(|| {
            error(&Status::from(AppError::Internal(
                "an item of a batch got no answer".into(),
            )))
        });
        tally.count(&result);
        let answer = pb::QualifyLeadsResponse {
            correlation_id,
            result: Some(result),
        };
        if results.send(Ok(answer)).await.is_err() {
            return false;
        }
    }
    true
}

/// Waits for the round in flight, if any, and sends its batch's answers;
/// false when the caller is gone.
async fn land(in_flight: &mut Option<InFlight>, results: &Results, tally: &mut Tally) -> bool {
    let Some(InFlight {
        commit,
        size,
        mut answers,
        ..
    }) = in_flight.take()
    else {
        return true;
    };
    let done = match commit {
        Commit::Running(handle) => handle.await,
        Commit::Done(done) => done,
    };
    match done {
        Ok(Ok(committed)) => answers.fill(committed),
        Ok(Err(err)) => answers.fail(size, &Status::from(err)),
        Err(e) => answers.fail(
            size,
            &Status::from(AppError::Internal(format!("a batch commit failed: {e}"))),
        ),
    }
    send(answers, results, tally).await
}

type Results = mpsc::Sender<Result<pb::QualifyLeadsResponse, Status>>;

#[derive(Default)]
struct Tally {
    qualified: u64,
    failed: u64,
}

impl Tally {
    fn count(&mut self, result: &ItemResult) {
        match result {
            ItemResult::Qualified(_) => self.qualified += 1,
            ItemResult::Error(_) => self.failed += 1,
        }
    }
}

/// Qualifies the items in batches, each batch in rounds of distinct leads
/// and request ids (see [`round_length`]); a batch's last round is
/// committed while the next batch is validated, read and evaluated, unless
/// that one touches the same leads or request ids.
async fn run(
    qualifier: Qualifier,
    tenant: String,
    items: Streaming<pb::QualifyLeadsRequest>,
    results: Results,
) {
    let mut tally = Tally::default();
    let mut in_flight: Option<InFlight> = None;
    let mut batches = items.ready_chunks(BATCH);
    let ended = 'stream: loop {
        // While the next items are awaited, the round in flight is
        // answered as soon as it is committed: a caller may wait for a
        // result before it sends more.
        let next = loop {
            let running = match in_flight.as_mut().map(|f| &mut f.commit) {
                Some(Commit::Running(handle)) => handle,
                _ => break batches.next().await,
            };
            let done = tokio::select! {
                batch = batches.next() => break batch,
                done = running => done,
            };
            if let Some(flight) = in_flight.as_mut() {
                flight.commit = Commit::Done(done);
            }
            if !land(&mut in_flight, &results, &mut tally).await {
                break 'stream None;
            }
        };
        let Some(batch) = next else {
            break None;
        };
        // A transport error (e.g. an undecodable message) ends the stream
        // after the items before it.
        let (messages, broken): (Vec<_>, Vec<_>) = batch.into_iter().partition(Result::is_ok);
        let messages: Vec<pb::QualifyLeadsRequest> =
            messages.into_iter().filter_map(Result::ok).collect();
        let validated = match tokio::task::spawn_blocking(move || {
            messages.into_iter().map(validate).collect::<Vec<Item>>()
        })
        .await
        {
            Ok(validated) => validated,
            Err(e) => break Some(Status::internal(format!("validation failed: {e}"))),
        };
        let mut commands = Vec::new();
        let mut waiting = Vec::new();
        let items = validated
            .into_iter()
            .enumerate()
            .map(|(slot, (correlation_id, command))| match command {
                Ok(command) => {
                    commands.push(command);
                    waiting.push(slot);
                    (correlation_id, None)
                }
                Err(status) => (correlation_id, Some(error(&status))),
            })
            .collect();
        // Taken by the last round when it goes in flight.
        let mut answers = Some(Answers {
            items,
            waiting: waiting.into_iter(),
        });
        let mut rest = commands;
        while !rest.is_empty() {
            let round: Vec<QualifyLead> = rest.drain(..round_length(&rest)).collect();
            let (size, round_keys) = (round.len(), keys(&round));
            if in_flight
                .as_ref()
                .is_some_and(|f| !f.keys.is_disjoint(&round_keys))
                && !land(&mut in_flight, &results, &mut tally).await
            {
                break 'stream None;
            }
            let prepared = qualifier.prepare_round(&tenant, round).await;
            // The batch before goes out first, in order.
            if !land(&mut in_flight, &results, &mut tally).await {
                break 'stream None;
            }
            match (prepared, answers.take()) {
                (Err(err), Some(mut batch)) => {
                    batch.fail(size, &Status::from(err));
                    answers = Some(batch);
                }
                (Ok(prepared), Some(batch)) if rest.is_empty() => {
                    let (qualifier, tenant) = (qualifier.clone(), tenant.clone());
                    in_flight = Some(InFlight {
                        keys: round_keys,
                        commit: Commit::Running(tokio::spawn(
                            async move { qualifier.commit_round(&tenant, prepared).await }
                                .in_current_span(),
                        )),
                        size,
                        answers: batch,
                    });
                }
                (Ok(prepared), Some(mut batch)) => {
                    match qualifier.commit_round(&tenant, prepared).await {
                        Ok(committed) => batch.fill(committed),
                        Err(err) => batch.fail(size, &Status::from(err)),
                    }
                    answers = Some(batch);
                }
                (_, None) => break,
            }
        }
        // Unless its last round is in flight, the batch is answered.
        if let Some(answers) = answers
            && !send(answers, &results, &mut tally).await
        {
            break None;
        }
        if let Some(Err(status)) = broken.into_iter().next() {
            break Some(status);
        }
    };
    let delivered = land(&mut in_flight, &results, &mut tally).await;
    tracing::info!(
        qualified = tally.qualified,
        failed = tally.failed,
        "bulk qualification finished"
    );
    if let (true, Some(status)) = (delivered, ended) {
        let _ = results.send(Err(status)).await;
    }
}

/// Checks an item as QualifyLead checks its request.
pub(crate) fn validate(item: pb::QualifyLeadsRequest) -> Item {
    let mut violations = Vec::new();
    let correlation_id = match correlation_id_problem(&item.correlation_id) {
        None => item.correlation_id,
        Some(problem) => {
            violations.push(Violation::new("correlation_id", problem));
            // Not echoed: results are in item order anyway.
            String::new()
        }
    };
    let command = match item.request {
        None => {
            violations.push(Violation::new("request", "is required"));
            Err(violations)
        }
        Some(request) => match convert::qualify_command(request) {
            Ok(command) if violations.is_empty() => Ok(command),
            Ok(_) => Err(violations),
            Err(mut more) => {
                violations.append(&mut more);
                Err(violations)
            }
        },
    };
    (correlation_id, command.map_err(|v| invalid_argument(&v)))
}

fn correlation_id_problem(id: &str) -> Option<String> {
    let chars = id.chars().count();
    if chars > MAX_CORRELATION_ID_CHARS {
        Some(format!(
            "must be at most {MAX_CORRELATION_ID_CHARS} characters, got {chars}"
        ))
    } else if id.chars().any(char::is_control) {
        Some("must contain only printable characters".into())
    } else {
        None
    }
}

fn answer(qualified: Qualified) -> ItemResult {
    ItemResult::Qualified(convert::qualified_to_wire(&qualified))
}

/// The status a unary call would have ended with, as a message: its code,
/// message and details (e.g. the BadRequest of INVALID_ARGUMENT).
pub(crate) fn error(status: &Status) -> ItemResult {
    let rich = tonic_types::pb::Status::decode(status.details())
        .ok()
        .filter(|s| s.code == status.code() as i32);
    ItemResult::Error(rich.unwrap_or_else(|| tonic_types::pb::Status {
        code: status.code() as i32,
        message: status.message().to_owned(),
        details: Vec::new(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_keeps_the_code_message_and_violations_of_the_unary_call() {
        let status = invalid_argument(&[Violation::new("lead_id", "must not be empty")]);
        let pb::qualify_leads_response::Result::Error(e) = error(&status) else {
            panic!("an error");
        };
        assert_eq!(e.code, tonic::Code::InvalidArgument as i32);
        assert_eq!(e.message, status.message());
        assert_eq!(e.details.len(), 1, "{e:?}");
        assert!(e.details[0].type_url.ends_with("google.rpc.BadRequest"));

        let plain = Status::unavailable("storage is unavailable");
        let pb::qualify_leads_response::Result::Error(e) = error(&plain) else {
            panic!("an error");
        };
        assert_eq!(e.code, tonic::Code::Unavailable as i32);
        assert_eq!(e.message, "storage is unavailable");
        assert!(e.details.is_empty());
    }

    #[test]
    fn correlation_ids_are_bounded_and_printable() {
        assert_eq!(correlation_id_problem(""), None);
        assert_eq!(correlation_id_problem(&"x".repeat(128)), None);
        assert!(correlation_id_problem(&"x".repeat(129)).is_some());
        assert!(correlation_id_problem("a\nb").is_some());
    }
}
