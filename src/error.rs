//! The error the application layer returns, whatever the transport.

use crate::domain::Violation;
use crate::storage::StorageError;

/// What the application can fail with; mapped to gRPC codes in one place
/// (`grpc::status`).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("invalid request")]
    InvalidArgument(Vec<Violation>),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    Aborted(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    ResourceExhausted(String),
    /// Temporarily unable to serve; the call can be retried.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}
