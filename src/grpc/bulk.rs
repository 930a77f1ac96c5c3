//! `QualifyLeads`: a stream of qualifications in, a stream of results out,
//! in the same order. Items are taken in batches of whatever has arrived (up
//! to [`BATCH`]); a batch is validated, read, evaluated and committed
//! together, and its results are sent only once committed.
//!
//! Back-pressure: the outgoing channel holds at most [`RESULTS_BUFFERED`]
//! results; while it is full no further item is read, so HTTP/2 flow control
//! stops the sender. A stream holds at most a batch of items and that many
//! results in memory, whatever its length.

use futures::StreamExt;
use futures::stream::BoxStream;
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};
use tracing::Instrument;

use super::convert;
use super::status::invalid_argument;
use crate::domain::Violation;
use crate::error::AppError;
use crate::proto::v1 as pb;
use crate::qualification::{Qualified, Qualifier, QualifyLead};

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
type Item = (String, Result<QualifyLead, Status>);

async fn run(
    qualifier: Qualifier,
    tenant: String,
    items: Streaming<pb::QualifyLeadsRequest>,
    results: mpsc::Sender<Result<pb::QualifyLeadsResponse, Status>>,
) {
    let (mut qualified, mut failed) = (0u64, 0u64);
    let mut batches = items.ready_chunks(BATCH);
    let ended = loop {
        let Some(batch) = batches.next().await else {
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
        let answers = qualify(&qualifier, &tenant, validated).await;
        for answer in answers {
            match &answer.result {
                Some(pb::qualify_leads_response::Result::Qualified(_)) => qualified += 1,
                _ => failed += 1,
            }
            if results.send(Ok(answer)).await.is_err() {
                tracing::info!(qualified, failed, "bulk qualification ended by the caller");
                return;
            }
        }
        if let Some(Err(status)) = broken.into_iter().next() {
            break Some(status);
        }
    };
    tracing::info!(qualified, failed, "bulk qualification finished");
    if let Some(status) = ended {
        let _ = results.send(Err(status)).await;
    }
}

/// Checks an item as QualifyLead checks its request.
fn validate(item: pb::QualifyLeadsRequest) -> Item {
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

/// Qualifies a batch's valid items together and answers every item, in
/// order.
async fn qualify(
    qualifier: &Qualifier,
    tenant: &str,
    items: Vec<Item>,
) -> Vec<pb::QualifyLeadsResponse> {
    let mut commands = Vec::new();
    let items: Vec<(String, Option<Status>)> = items
        .into_iter()
        .map(|(correlation_id, command)| match command {
            Ok(command) => {
                commands.push(command);
                (correlation_id, None)
            }
            Err(status) => (correlation_id, Some(status)),
        })
        .collect();
    let mut outcomes = match qualifier.qualify_batch(tenant, commands).await {
        Ok(outcomes) => outcomes.into_iter().map(Ok).collect::<Vec<_>>().into_iter(),
        // Nothing of the batch was stored: each of its items gets the error.
        Err(err) => {
            let status = Status::from(err);
            let n = items.iter().filter(|(_, s)| s.is_none()).count();
            (0..n)
                .map(|_| Err(status.clone()))
                .collect::<Vec<_>>()
                .into_iter()
        }
    };
    items
        .into_iter()
        .map(|(correlation_id, invalid)| {
            let result = match invalid {
                Some(status) => error(&status),
                None => match outcomes.next() {
                    Some(Ok(Ok(qualified))) => answer(qualified),
                    Some(Ok(Err(err))) => error(&Status::from(err)),
                    Some(Err(status)) => error(&status),
                    None => error(&Status::from(AppError::Internal(
                        "a batch answered fewer results than items".into(),
                    ))),
                },
            };
            pb::QualifyLeadsResponse {
                correlation_id,
                result: Some(result),
            }
        })
        .collect()
}

fn answer(qualified: Qualified) -> pb::qualify_leads_response::Result {
    pb::qualify_leads_response::Result::Qualified(pb::QualifyLeadResponse {
        merged_facts: Some(convert::facts_to_wire(&qualified.verdict.facts)),
        verdict: Some(convert::verdict_to_wire(&qualified.verdict)),
        replayed: qualified.replayed,
    })
}

/// The status a unary call would have ended with, as a message: its code,
/// message and details (e.g. the BadRequest of INVALID_ARGUMENT).
fn error(status: &Status) -> pb::qualify_leads_response::Result {
    let rich = tonic_types::pb::Status::decode(status.details())
        .ok()
        .filter(|s| s.code == status.code() as i32);
    pb::qualify_leads_response::Result::Error(rich.unwrap_or_else(|| tonic_types::pb::Status {
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
