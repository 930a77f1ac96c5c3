//! The single place where application errors become gRPC statuses, following
//! the rich error model (`google.rpc.BadRequest` for invalid arguments).

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

use crate::domain::Violation;
use crate::error::AppError;
use crate::storage::StorageError;

/// Most field violations an error carries (a QualifyLead with every fact
/// wrong has 27); the rest are counted in one more. An error's size must not
/// grow with the request's: at most 32 × 260 bytes of details, under the
/// 16 KiB of trailers a default gRPC client accepts once base64-encoded
/// (and the message, percent-encoded, beside them).
const MAX_VIOLATIONS: usize = 32;

/// Longest field name carried, in bytes (whole characters).
const MAX_FIELD_BYTES: usize = 100;

/// Longest description carried, in bytes (whole characters). Bytes, not
/// characters: a description may quote what the caller sent, and a
/// character can take four bytes.
const MAX_DESCRIPTION_BYTES: usize = 160;

/// Violations named in the status message; the details carry the rest.
const VIOLATIONS_IN_MESSAGE: usize = 3;

/// `INVALID_ARGUMENT` naming the bad fields: the first [`MAX_VIOLATIONS`]
/// of them, each bounded, and how many more there were.
pub fn invalid_argument(violations: &[Violation]) -> Status {
    let bounded = |text: &str, limit: usize| {
        if text.len() <= limit {
            return text.to_owned();
        }
        let end = (0..=limit)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        format!("{}…", &text[..end])
    };
    let mut carried: Vec<(String, String)> = violations
        .iter()
        .take(MAX_VIOLATIONS)
        .map(|v| {
            (
                bounded(&v.field, MAX_FIELD_BYTES),
                bounded(&v.description, MAX_DESCRIPTION_BYTES),
            )
        })
        .collect();
    let more = violations.len().saturating_sub(MAX_VIOLATIONS);
    if more > 0 {
        carried.push((
            "request".to_owned(),
            format!("{more} more violations not listed; fix the ones above and retry"),
        ));
    }
    let mut summary = carried
        .iter()
        .take(VIOLATIONS_IN_MESSAGE)
        .map(|(field, description)| format!("{field}: {description}"))
        .collect::<Vec<_>>()
        .join("; ");
    if violations.len() > VIOLATIONS_IN_MESSAGE {
        summary.push_str(&format!(
            " (and {} more)",
            violations.len() - VIOLATIONS_IN_MESSAGE
        ));
    }
    let details = ErrorDetails::with_bad_request(
        carried
            .into_iter()
            .map(|(field, description)| FieldViolation::new(field, description))
            .collect::<Vec<_>>(),
    );
    Status::with_error_details(
        Code::InvalidArgument,
        format!("invalid request: {summary}"),
        details,
    )
}

/// The canonical name of a gRPC code (`NOT_FOUND`), as grpcurl prints it,
/// the metrics label it and traces record it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

impl From<AppError> for Status {
    fn from(err: AppError) -> Self {
        match err {
            AppError::InvalidArgument(violations) => invalid_argument(&violations),
            AppError::NotFound(message) => Status::not_found(message),
            AppError::FailedPrecondition(message) => Status::failed_precondition(message),
            AppError::Aborted(message) => Status::aborted(message),
            AppError::Unauthenticated(message) => Status::unauthenticated(message),
            AppError::PermissionDenied(message) => Status::permission_denied(message),
            AppError::ResourceExhausted(message) => Status::resource_exhausted(message),
            AppError::Unavailable(message) => Status::unavailable(message),
            AppError::Internal(message) => {
                tracing::error!(error = %message, "internal error");
                Status::internal("internal error")
            }
            AppError::Storage(StorageError::Unavailable(cause)) => {
                tracing::error!(error = %format!("{cause:#}"), "storage failed");
                Status::unavailable("storage is unavailable; nothing was stored, retry the call")
            }
            // Logged once by the probe when the database went away.
            AppError::Storage(StorageError::Down) => Status::unavailable(
                "the database is unreachable; nothing was stored, retry the call",
            ),
            AppError::Storage(StorageError::Corrupt(cause)) => {
                tracing::error!(error = %format!("{cause:#}"), "stored record unreadable");
                Status::internal("a stored record is unreadable")
            }
            AppError::Storage(other) => {
                tracing::error!(error = %other, "unexpected storage conflict");
                Status::aborted(format!("{other}; retry the call"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tonic_types::StatusExt;

    use super::*;

    #[test]
    fn an_error_carries_a_bounded_number_of_bounded_violations() {
        let many: Vec<Violation> = (0..100_000)
            .map(|i| Violation::new(format!("profile.weights[{i}].criterion"), "x".repeat(5_000)))
            .collect();
        let status = invalid_argument(&many);
        let details = status.get_details_bad_request().expect("a BadRequest");
        assert_eq!(details.field_violations.len(), MAX_VIOLATIONS + 1);
        assert!(
            details.field_violations[MAX_VIOLATIONS]
                .description
                .starts_with("99968 more violations")
        );
        assert!(
            details.field_violations[..MAX_VIOLATIONS].iter().all(|v| v
                .description
                .chars()
                .count()
                == MAX_DESCRIPTION_BYTES + 1)
        );
        // Under a default client's 16 KiB of trailers once base64-encoded.
        assert!(
            status.details().len() < 12_000,
            "{}",
            status.details().len()
        );
        assert!(status.message().len() < 1_200, "{}", status.message().len());
        assert!(status.message().ends_with("(and 99997 more)"));
    }

    /// Bytes of trailers the status makes, counted as HTTP/2 counts a
    /// header list (name, value and 32 per field).
    fn trailer_bytes(status: &Status) -> usize {
        let mut trailers = http::HeaderMap::new();
        status.add_header(&mut trailers).expect("valid trailers");
        trailers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 32)
            .sum()
    }

    #[test]
    fn an_error_fits_a_default_clients_trailers_whatever_the_caller_wrote() {
        // Descriptions quote what the caller sent (a country, a time zone);
        // a four-byte character is one character but four bytes, and twelve
        // once percent-encoded in the message.
        let many: Vec<Violation> = (0..300)
            .map(|i| {
                Violation::new(
                    format!("profile.countries[{i}]"),
                    format!(
                        "\"{}\" is not an ISO 3166-1 alpha-2 country code (e.g. \"DE\")",
                        "\u{1F600}".repeat(300)
                    ),
                )
            })
            .collect();
        let size = trailer_bytes(&invalid_argument(&many));
        assert!(size <= 16 * 1024, "{size} bytes of trailers");
        let few = trailer_bytes(&invalid_argument(&many[..1]));
        assert!(few <= 2 * 1024, "{few} bytes of trailers for one violation");
    }

    #[test]
    fn a_few_violations_are_all_carried_as_they_are() {
        let status = invalid_argument(&[
            Violation::new("lead_id", "must not be empty"),
            Violation::new("stage", "required on a lead's first qualification"),
        ]);
        assert_eq!(
            status.message(),
            "invalid request: lead_id: must not be empty; stage: required on a lead's first \
             qualification"
        );
        let details = status.get_details_bad_request().expect("a BadRequest");
        assert_eq!(details.field_violations.len(), 2);
        assert_eq!(details.field_violations[1].field, "stage");
    }
}
