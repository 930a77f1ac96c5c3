//! leadqual: a gRPC service that qualifies B2B sales leads against 21
//! disqualification criteria, stores immutable verdicts and explains them.

pub mod domain;
