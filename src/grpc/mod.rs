//! The gRPC transport: thin handlers over [`crate::qualification`], proto
//! conversions, pagination tokens and the one place errors become statuses.

mod admin;
mod convert;
mod pagination;
mod service;
mod status;

pub use admin::AdminApi;
pub use service::LeadQualificationApi;
