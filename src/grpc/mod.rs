//! The gRPC transport: the guard every call passes, thin handlers over
//! [`crate::qualification`], proto conversions, pagination tokens and the one
//! place errors become statuses.

pub(crate) mod account;
mod admin;
pub(crate) mod bulk;
pub mod codec;
pub(crate) mod convert;
pub mod guard;
pub mod limits;
mod pagination;
pub(crate) mod requests;
mod service;
pub(crate) mod status;

pub use admin::AdminApi;
pub use guard::GuardLayer;
pub use limits::{Admission, Limits, RateLimit};
pub use service::LeadQualificationApi;
