use std::process::ExitCode;

use clap::Parser;
use leadqual::auth::{Authenticator, CLI_ACTOR};
use leadqual::configuration::{Cli, Command, KeysArgs, KeysCommand, MigrateArgs};
use leadqual::grpc::{Limits, RateLimit};
use leadqual::startup::{Application, Settings, TlsFiles, shutdown_signal};
use leadqual::{storage, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let telemetry = telemetry::init(
                args.log_format,
                &args.log_filter,
                args.otlp_endpoint.as_deref(),
            )?;
            let settings = Settings {
                listen: args.listen,
                database_url: args.database_url,
                allow_unauthenticated: args.allow_unauthenticated,
                tls: match (args.tls_cert, args.tls_key) {
                    (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
                    _ => None,
                },
                metrics_listen: args.metrics_listen,
                console_listen: args.console_listen,
                limits: Limits {
                    max_concurrent_calls: args.max_concurrent_calls as usize,
                    max_watches: args.max_watches as usize,
                    rate_limit: RateLimit::new(args.rate_limit, args.rate_limit_burst),
                    default_deadline: args.default_deadline,
                    max_message_bytes: args.max_message_bytes as usize,
                },
                database_wait: args.database_wait,
                drain_timeout: args.drain_timeout,
            };
            let served = serve(&settings).await;
            // The spans of the last calls go out before the process ends.
            telemetry.shutdown().await;
            served.map(|()| ExitCode::SUCCESS)
        }
        Command::Keys(args) => keys(args).await.map(|()| ExitCode::SUCCESS),
        Command::Migrate(args) => migrate(args).await.map(|()| ExitCode::SUCCESS),
        Command::Client(command) => Ok(leadqual::cli::run(command).await),
    }
}

async fn serve(settings: &Settings) -> anyhow::Result<()> {
    let app = Application::build(settings).await.inspect_err(|e| {
        tracing::error!(error = %format!("{e:#}"), "cannot start");
    })?;
    app.run_until_stopped(shutdown_signal()).await
}

/// `leadqual migrate`: the schema up to date, then exit (a deployment's
/// step before the replicas start; `serve` migrates too).
async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    storage::migrate(&args.database_url).await?;
    eprintln!(
        "the database is at schema version {}",
        storage::schema_version(&args.database_url)
    );
    Ok(())
}

/// `leadqual keys`: straight to the database, so it works before any key
/// exists and while the service runs.
async fn keys(args: KeysArgs) -> anyhow::Result<()> {
    let storage = storage::connect(&args.database_url).await?;
    // Keys are managed here, never used to call: no keyless access to open.
    let keys = Authenticator::new(storage, false);
    match args.command {
        KeysCommand::Create {
            tenant,
            roles,
            description,
        } => {
            let issued = keys
                .issue(&tenant, &roles, &description, CLI_ACTOR)
                .await
                .map_err(|e| anyhow::anyhow!("{}", describe(e)))?;
            let roles: Vec<&str> = issued.record.roles.iter().map(|r| r.code()).collect();
            eprintln!(
                "created key {} for tenant {} with roles {}; it is shown only once:",
                issued.key_id,
                issued.record.tenant,
                roles.join(",")
            );
            println!("{}", issued.secret);
        }
        KeysCommand::List { tenant, all } => {
            let or_dash = |t: Option<jiff::Timestamp>| t.map_or("-".to_owned(), |t| t.to_string());
            let mut after = None;
            loop {
                let (page, more) = keys
                    .list(&tenant, all, after, 1000)
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", describe(e)))?;
                for k in &page {
                    let roles: Vec<&str> = k.roles.iter().map(|r| r.code()).collect();
                    println!(
                        "{}\t{}\tcreated {}\tlast used {}\trevoked {}\t{}",
                        k.key_id,
                        roles.join(","),
                        k.created_at,
                        or_dash(k.last_used_at),
                        or_dash(k.revoked_at),
                        k.description
                    );
                }
                match page.last() {
                    Some(last) if more => after = Some((last.created_at, last.key_id.clone())),
                    _ => break,
                }
            }
        }
        KeysCommand::Revoke { tenant, key_id } => {
            let key = keys
                .revoke(&tenant, &key_id, CLI_ACTOR)
                .await
                .map_err(|e| anyhow::anyhow!("{}", describe(e)))?;
            eprintln!("revoked key {} of tenant {}", key.key_id, key.tenant);
        }
    }
    Ok(())
}

fn describe(err: leadqual::error::AppError) -> String {
    match err {
        leadqual::error::AppError::InvalidArgument(violations) => violations
            .iter()
            .map(|v| format!("{}: {}", v.field, v.description))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}
