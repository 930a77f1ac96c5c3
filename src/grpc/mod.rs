//! The gRPC transport: the guard every call passes, thin handlers over
//! [`crate::qualification`], proto conversions, pagination tokens and the one
//! place errors become statuses.

mod admin;
pub(crate) mod bulk;
pub(crate) mod convert;
pub mod guard;
mod pagination;
pub(crate) mod requests;
mod service;
pub(crate) mod status;

pub use admin::AdminApi;
pub use guard::GuardLayer;
pub use service::LeadQualificationApi;
