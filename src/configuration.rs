//! Command line and environment configuration.

use std::net::SocketAddr;

use clap::{Parser, Subcommand, ValueEnum};

/// leadqual: qualifies B2B sales leads against 21 disqualification criteria.
#[derive(Debug, Parser)]
#[command(name = "leadqual", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gRPC service.
    Serve(ServeArgs),
}

/// How log lines are written to standard error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Settings of `leadqual serve`.
#[derive(Clone, Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (use port 0 for any free port).
    #[arg(long, env = "LEADQUAL_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,

    /// Database: sqlite://PATH (created if missing), a plain file path, or
    /// postgres://USER@HOST:PORT/DB.
    #[arg(
        long,
        env = "LEADQUAL_DATABASE_URL",
        default_value = "sqlite://leadqual.db"
    )]
    pub database_url: String,

    /// Log format.
    #[arg(long, env = "LEADQUAL_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Log filter, e.g. "info" or "leadqual=debug,sqlx=warn".
    #[arg(long, env = "LEADQUAL_LOG", default_value = "info")]
    pub log_filter: String,
}
