//! The client commands' arguments.

use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};

use super::rows::{
    parse_churn_status, parse_lifecycle_class, parse_outcome, parse_stage, parse_value_tier,
};
use crate::proto::v1 as pb;

/// Where the server is and who calls it: on every client command.
#[derive(Clone, Debug, clap::Args)]
pub struct ServerArgs {
    /// The server: http://HOST:PORT, or https://HOST:PORT for TLS.
    #[arg(
        long,
        env = "LEADQUAL_SERVER",
        default_value = "http://127.0.0.1:50051"
    )]
    pub server: String,

    /// PEM certificate(s) to trust for an https:// server, besides the
    /// system's roots.
    #[arg(long, env = "LEADQUAL_CA_CERT")]
    pub ca_cert: Option<PathBuf>,

    /// API key, sent as `authorization: Bearer KEY`; never printed.
    #[arg(long, env = "LEADQUAL_KEY", hide_env_values = true)]
    pub key: Option<String>,
}

/// The client commands, next to `serve` and `keys`.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Qualify every row of a CSV or JSON Lines file through the server.
    Qualify(QualifyArgs),
    /// Show a lead's latest verdict: every criterion, its evidence and remedy.
    Explain(ExplainArgs),
    /// List the review queue: leads by outcome, effective outcome and stage.
    Leads(LeadsArgs),
    /// List the 21 criteria.
    Criteria(CriteriaArgs),
    /// Read or replace the ideal customer profile.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Show what a candidate profile would change, without storing it.
    Preview(PreviewArgs),
    /// How often each criterion fired or was unknown, and outcomes per stage.
    Stats(StatsArgs),
    /// Set a lead's outcome by hand, or withdraw the override with --clear.
    Override(OverrideArgs),
    /// Ask the server's gRPC health service; the exit status is 0 only for
    /// SERVING (a container health check).
    Health(HealthArgs),
}

/// `leadqual health`
#[derive(Debug, clap::Args)]
pub struct HealthArgs {
    #[command(flatten)]
    pub server: ServerArgs,

    /// The service to ask about; the empty name is the server as a whole.
    #[arg(long, default_value = "")]
    pub service: String,
}

/// A file format of `qualify`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FileFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

const QUALIFY_HELP: &str = "\
Columns (CSV header) or fields (JSON Lines): lead_id (required), stage,
request_id, and the facts by their API names: employee_count,
annual_revenue_usd, vertical, business_model, territory, country, timezone,
disrespectful_incidents, emotional_only_responses, engagement_pattern,
questions_asked, questions_answered, insists_on_own_process,
contradictory_statements, plan_steps_agreed, plan_steps_completed,
budget_usd, staff_available, missed_sessions, priority, expects_magic_wand,
assignments_given, assignments_completed, meetings_cancelled,
meetings_rescheduled, agreed_actions_not_done, max_material_repeats;
account: orders_count, gross_profit_usd, referrals_count,
first_purchase_date, cost_to_serve_usd, share_of_wallet,
overdue_receivables_usd, strategic_account, last_contact_date; handling:
progress_requests_per_week, has_written_spec, decision_postponements,
rush_requests, median_reply_days, out_of_scope_changes,
discount_requested_pct. Any subset of them, in any order.

CSV cells are trimmed. An empty cell is a fact not sent (the stored value is
kept). Numbers are whole decimal numbers, except share_of_wallet,
progress_requests_per_week, median_reply_days and discount_requested_pct,
which may have decimals; dates are YYYY-MM-DD; booleans true/false (or
yes/no, 1/0); stage (identification, contact, study, recommendation), priority (high,
normal, low, not_now) and engagement_pattern (steady, impulsive, lethargic,
swinging) by name, case-insensitive, the proto's names (STAGE_CONTACT) too.
In JSON Lines an absent or null field is not sent; numbers and booleans are
JSON numbers and booleans, other values strings read like CSV cells.

Rows are sent as they are read, through one QualifyLeads stream; each
result (line, lead_id, outcome, score, fired criteria, or the error) is
written in input order. A row that cannot be read (bad cell, unknown column)
is reported with its line and never sent; a row the server refuses is
reported with its line, code and field violations; the other rows go
through either way. The exit status is 1 when any row failed.

Re-running a file stores nothing twice: a row without a request_id is sent
with a stable one derived from it, `row-` and the hex SHA-256 of its lead id,
stage and facts (however spelt) and of its ordinal among identical rows
before it, so two identical rows stay two requests. The server answers a
row it has already stored with the first verdict, marked replayed.";

/// `leadqual qualify`
#[derive(Debug, clap::Args)]
#[command(after_long_help = QUALIFY_HELP)]
pub struct QualifyArgs {
    #[command(flatten)]
    pub server: ServerArgs,

    /// The rows: a .csv or .jsonl file, or - for standard input.
    #[arg(long, short)]
    pub input: PathBuf,

    /// Where to write one result per row, or - for standard output.
    #[arg(long, short)]
    pub output: PathBuf,

    /// The input's format; by default from its extension (.csv, .jsonl,
    /// .ndjson), CSV for standard input.
    #[arg(long, value_enum)]
    pub format: Option<FileFormat>,

    /// The output's format; by default from its extension, JSON Lines for
    /// standard output.
    #[arg(long, value_enum)]
    pub output_format: Option<FileFormat>,
}

/// `leadqual explain`
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub server: ServerArgs,

    /// The lead.
    pub lead_id: String,

    /// Print the lead as JSON (proto field names) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `leadqual leads`
#[derive(Debug, clap::Args)]
pub struct LeadsArgs {
    #[command(flatten)]
    pub server: ServerArgs,

    /// Only leads whose latest verdict has this outcome.
    #[arg(long, value_parser = parse_outcome)]
    pub outcome: Option<pb::Outcome>,

    /// Only leads at this stage.
    #[arg(long, value_parser = parse_stage)]
    pub stage: Option<pb::Stage>,

    /// Only leads whose effective outcome (the override in force, else the
    /// latest verdict's) is this.
    #[arg(long, value_parser = parse_outcome)]
    pub effective_outcome: Option<pb::Outcome>,

    /// Only leads whose latest verdict puts them in this lifecycle class
    /// (newbie, prospect, buyer, loyal, adept, vip, black_list, unknown).
    #[arg(long = "class", value_parser = parse_lifecycle_class)]
    pub lifecycle_class: Option<pb::LifecycleClass>,

    /// Only leads of this value tier (a, b, c).
    #[arg(long = "tier", value_parser = parse_value_tier)]
    pub value_tier: Option<pb::ValueTier>,

    /// Only leads of this churn status (ok, at_risk, unknown, not_applicable).
    #[arg(long = "churn", value_parser = parse_churn_status)]
    pub churn_status: Option<pb::ChurnStatus>,

    /// At most this many leads; 0 for all of them.
    #[arg(long, default_value_t = 100)]
    pub limit: u64,

    /// Print one JSON object per lead (JSON Lines) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `leadqual criteria`
#[derive(Debug, clap::Args)]
pub struct CriteriaArgs {
    #[command(flatten)]
    pub server: ServerArgs,

    /// Print the catalogue as a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `leadqual profile ...`
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Print the current profile, or one version of it.
    Get(ProfileGetArgs),
    /// Store a new profile version from a JSON file (the shape `get --json`
    /// prints); prints the new version.
    Set(ProfileSetArgs),
}

/// `leadqual profile get`
#[derive(Debug, clap::Args)]
pub struct ProfileGetArgs {
    #[command(flatten)]
    pub server: ServerArgs,

    /// The version to read; the current one by default.
    #[arg(long)]
    pub version: Option<i64>,

    /// Print the profile as JSON (the shape `profile set` reads).
    #[arg(long)]
    pub json: bool,
}

/// `leadqual profile set`
#[derive(Debug, clap::Args)]
pub struct ProfileSetArgs {
    #[command(flatten)]
    pub server: ServerArgs,

    /// The profile as JSON (proto field names; version and create_time are
    /// ignored), or - for standard input.
    pub file: PathBuf,

    /// Refuse the update unless this is still the current version.
    #[arg(long)]
    pub expected_version: Option<i64>,
}

/// `leadqual preview`
#[derive(Debug, clap::Args)]
pub struct PreviewArgs {
    #[command(flatten)]
    pub server: ServerArgs,

    /// The candidate profile as JSON (the shape `profile get --json`
    /// prints), or - for standard input.
    pub file: PathBuf,

    /// How many changed leads to show (1 to 100).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i32).range(1..=100))]
    pub sample: i32,

    /// Print the server's answer as JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// `leadqual stats`
#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub server: ServerArgs,

    /// Only leads whose latest verdict was evaluated at or after this time:
    /// RFC 3339, or an age such as 7d, 24h, 30m.
    #[arg(long)]
    pub since: Option<String>,

    /// Only leads whose latest verdict was evaluated before this time.
    #[arg(long)]
    pub until: Option<String>,

    /// Only leads at this stage.
    #[arg(long, value_parser = parse_stage)]
    pub stage: Option<pb::Stage>,

    /// Print the server's answer as JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// `leadqual override`
#[derive(Debug, clap::Args)]
pub struct OverrideArgs {
    #[command(flatten)]
    pub server: ServerArgs,

    /// The lead.
    pub lead_id: String,

    /// The outcome to apply.
    #[arg(long, value_parser = parse_outcome, required_unless_present = "clear", conflicts_with = "clear")]
    pub outcome: Option<pb::Outcome>,

    /// Withdraw the override in force instead; the latest verdict's outcome
    /// applies again.
    #[arg(long)]
    pub clear: bool,

    /// Why (kept with the override and in the audit trail).
    #[arg(long)]
    pub reason: String,

    /// Who decided; defaults to $USER, else the API key's id.
    #[arg(long, conflicts_with = "clear")]
    pub author: Option<String>,

    /// When the override stops applying: RFC 3339, or from now, e.g. 7d.
    #[arg(long, conflicts_with = "clear")]
    pub expire: Option<String>,
}
