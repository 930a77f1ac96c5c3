//! The gRPC transport: thin handlers over [`crate::qualification`], proto
//! conversions, pagination tokens and the one place errors become statuses.

mod convert;
mod pagination;
mod service;
mod status;

pub use service::LeadQualificationApi;
