//! Integration tests: real gRPC to a real server over a real database, each
//! scenario on SQLite and on PostgreSQL.

mod helpers;

mod accounts;
mod audit;
mod auth;
mod bulk;
mod cli;
mod console;
mod console_funnel;
mod console_import;
mod console_profile;
mod criteria_and_health;
mod failures;
mod health_check;
mod leads;
mod limits;
mod logs;
mod metrics;
mod migrate;
mod outage;
mod overrides;
mod preview;
mod process;
mod profile;
mod qualify;
mod stats;
mod tls;
mod upgrade;
mod validation;
mod watch;
