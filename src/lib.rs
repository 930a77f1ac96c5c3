//! leadqual: a gRPC service that qualifies B2B sales leads against 21
//! disqualification criteria, stores immutable verdicts and explains them.

pub mod auth;
pub mod cli;
pub mod configuration;
pub mod console;
pub mod domain;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod grpc;
pub mod observability;
pub mod proto;
pub mod qualification;
pub mod records;
pub mod startup;
pub mod storage;
pub mod telemetry;
pub mod watch;

/// A call allocates many small strings and buffers (evidence, JSON, HTTP/2
/// frames); mimalloc serves them with far less locking than glibc's malloc.
/// Declared here, so that the service, its CLI, the tests and the benchmarks
/// all allocate alike.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
