//! leadqual: a gRPC service that qualifies B2B sales leads against 21
//! disqualification criteria, stores immutable verdicts and explains them.

pub mod auth;
pub mod configuration;
pub mod domain;
pub mod grpc;
pub mod proto;
pub mod qualification;
pub mod startup;
pub mod storage;
pub mod telemetry;
