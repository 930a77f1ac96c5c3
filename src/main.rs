use clap::Parser;
use leadqual::configuration::{Cli, Command};
use leadqual::startup::{Application, Settings, shutdown_signal};
use leadqual::telemetry;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            telemetry::init(args.log_format, &args.log_filter)?;
            let settings = Settings {
                listen: args.listen,
                database_url: args.database_url,
            };
            let app = Application::build(&settings).await.inspect_err(|e| {
                tracing::error!(error = %format!("{e:#}"), "cannot start");
            })?;
            app.run_until_stopped(shutdown_signal()).await
        }
    }
}
