//! The single place where application errors become gRPC statuses, following
//! the rich error model (`google.rpc.BadRequest` for invalid arguments).

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

use crate::domain::Violation;
use crate::error::AppError;
use crate::storage::StorageError;

/// `INVALID_ARGUMENT` naming every bad field.
pub fn invalid_argument(violations: &[Violation]) -> Status {
    let summary = violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ");
    let details = ErrorDetails::with_bad_request(
        violations
            .iter()
            .map(|v| FieldViolation::new(v.field.clone(), v.description.clone()))
            .collect::<Vec<_>>(),
    );
    Status::with_error_details(
        Code::InvalidArgument,
        format!("invalid request: {summary}"),
        details,
    )
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
