//! Integration tests: real gRPC to a real server over a real database, each
//! scenario on SQLite and on PostgreSQL.

mod helpers;

mod criteria_and_health;
mod leads;
mod profile;
mod qualify;
mod validation;
