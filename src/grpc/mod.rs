//! The gRPC transport: the guard every call passes, thin handlers over
//! [`crate::qualification`], proto conversions, pagination tokens and the one
//! place errors become statuses.

mod admin;
mod bulk;
pub mod codec;
mod convert;
pub mod guard;
pub mod limits;
mod pagination;
mod service;
mod status;

pub use admin::AdminApi;
pub use guard::GuardLayer;
pub use limits::{Admission, Limits, RateLimit};
pub use service::LeadQualificationApi;
