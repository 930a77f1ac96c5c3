//! Fault tests: the release binary (`LEADQUAL_BIN`) runs as a separate
//! process on loopback, and each test breaks something under load (kills it,
//! stops its database, signals it, overloads it) and checks what a client
//! relies on: nothing acknowledged lost or stored twice, fast failures
//! instead of hangs, recovery without a restart, a clean drain, bounded
//! shedding. Each prints what it measured.
//!
//! Run them with `scripts/faults` (which builds the binary); they are not
//! part of `cargo test` because they need the release binary and take about
//! a minute: `LEADQUAL_BIN=$PWD/target/release/leadqual cargo test --test
//! faults -- --test-threads=1 --nocapture`.

mod support;

mod crash;
mod drain;
mod outage;
mod overload;
