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
    /// Manage API keys directly in the database (works while the service runs).
    Keys(KeysArgs),
    /// Bring the database's schema up to date, then exit; safe to run from
    /// several replicas at once.
    Migrate(MigrateArgs),
    #[command(flatten)]
    Client(crate::cli::ClientCommand),
}

/// `leadqual migrate`
#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// The database the service uses.
    #[arg(
        long,
        env = "LEADQUAL_DATABASE_URL",
        default_value = "sqlite://leadqual.db"
    )]
    pub database_url: String,
}

/// `leadqual keys ...`
#[derive(Debug, clap::Args)]
pub struct KeysArgs {
    /// The database the service uses.
    #[arg(
        long,
        env = "LEADQUAL_DATABASE_URL",
        default_value = "sqlite://leadqual.db",
        global = true
    )]
    pub database_url: String,

    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it (once) on standard output.
    Create {
        /// The tenant the key belongs to, e.g. acme.
        #[arg(long)]
        tenant: String,
        /// reader, scorer or admin; repeat for several.
        #[arg(long = "role", required = true, value_parser = parse_role)]
        roles: Vec<crate::auth::Role>,
        /// What the key is for.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List a tenant's keys: key id, roles, created, last used, revoked.
    List {
        #[arg(long)]
        tenant: String,
        /// Include revoked keys.
        #[arg(long)]
        all: bool,
    },
    /// Revoke a key by its key id.
    Revoke {
        #[arg(long)]
        tenant: String,
        key_id: String,
    },
}

fn parse_role(value: &str) -> Result<crate::auth::Role, String> {
    crate::auth::Role::from_code(value)
        .ok_or_else(|| format!("unknown role {value:?}: use reader, scorer or admin"))
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

    /// Accept calls without an API key while none exists, even when listening
    /// on a non-loopback address.
    #[arg(long, env = "LEADQUAL_ALLOW_UNAUTHENTICATED")]
    pub allow_unauthenticated: bool,

    /// PEM certificate (chain) to serve TLS with; needs --tls-key.
    #[arg(long, env = "LEADQUAL_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(long, env = "LEADQUAL_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,

    /// Log filter, e.g. "info" or "leadqual=debug,sqlx=warn".
    #[arg(long, env = "LEADQUAL_LOG", default_value = "info")]
    pub log_filter: String,

    /// Calls served at once; more are refused at once with
    /// RESOURCE_EXHAUSTED rather than queued (watches are counted apart,
    /// see --max-watches).
    #[arg(long, env = "LEADQUAL_MAX_CONCURRENT_CALLS", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_concurrent_calls: u32,

    /// WatchVerdicts streams open at once; more are refused with
    /// RESOURCE_EXHAUSTED.
    #[arg(long, env = "LEADQUAL_MAX_WATCHES", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_watches: u32,

    /// Calls per second each tenant may make (0: no limit); beyond it,
    /// RESOURCE_EXHAUSTED with a RetryInfo saying when to retry.
    #[arg(long, env = "LEADQUAL_RATE_LIMIT", default_value_t = 0)]
    pub rate_limit: u32,

    /// Calls a tenant may make in a burst above --rate-limit (default: one
    /// second's worth).
    #[arg(long, env = "LEADQUAL_RATE_LIMIT_BURST")]
    pub rate_limit_burst: Option<u32>,

    /// Deadline of a call whose caller sets none or a later one (grpc-timeout
    /// is honoured when shorter); streams have only the caller's.
    #[arg(long, env = "LEADQUAL_DEFAULT_DEADLINE", default_value = "30s",
          value_parser = humantime::parse_duration)]
    pub default_deadline: std::time::Duration,

    /// Largest request message accepted, in bytes.
    #[arg(long, env = "LEADQUAL_MAX_MESSAGE_BYTES", default_value_t = 4 * 1024 * 1024,
          value_parser = clap::value_parser!(u32).range(1024..=64 * 1024 * 1024))]
    pub max_message_bytes: u32,

    /// How long start-up waits for the database server to answer, retrying
    /// with backoff.
    #[arg(long, env = "LEADQUAL_DATABASE_WAIT", default_value = "60s",
          value_parser = humantime::parse_duration)]
    pub database_wait: std::time::Duration,

    /// On SIGTERM or Ctrl-C: how long calls in flight may take to finish
    /// before the process exits anyway.
    #[arg(long, env = "LEADQUAL_DRAIN_TIMEOUT", default_value = "20s",
          value_parser = humantime::parse_duration)]
    pub drain_timeout: std::time::Duration,

    /// Serve Prometheus metrics at GET /metrics on this address, e.g.
    /// 0.0.0.0:9090 (off when unset).
    #[arg(long, env = "LEADQUAL_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Serve the sales-ops console (HTML pages; sign in with an API key) on
    /// this address, e.g. 127.0.0.1:8080 (off when unset). With
    /// --tls-cert/--tls-key it is served over TLS too.
    #[arg(long, env = "LEADQUAL_CONSOLE_LISTEN")]
    pub console_listen: Option<SocketAddr>,

    /// Export each call's span over OTLP/gRPC to this collector, e.g.
    /// http://127.0.0.1:4317 (off when unset). A caller's W3C traceparent
    /// metadata makes the call part of its trace.
    #[arg(long, env = "LEADQUAL_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
}
