//! `leadqual health`: `grpc.health.v1.Health/Check`, for container health
//! checks that have no gRPC probe of their own (Docker, Compose).

use std::process::ExitCode;
use std::time::Duration;

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::args::HealthArgs;
use super::channel;

/// The whole check, connection included, gives up after this long: a health
/// check that hangs tells nothing.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// Prints the serving status; the exit status is 0 only for SERVING.
pub async fn check(args: HealthArgs) -> anyhow::Result<ExitCode> {
    let ask = async {
        let channel = channel(&args.server).await?;
        let response = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: args.service.clone(),
            })
            .await?;
        anyhow::Ok(response.into_inner().status)
    };
    let status = tokio::time::timeout(HEALTH_TIMEOUT, ask)
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "no answer from {} within {HEALTH_TIMEOUT:?}",
                args.server.server
            )
        })??;
    let status = ServingStatus::try_from(status).unwrap_or(ServingStatus::Unknown);
    println!("{}", status.as_str_name());
    Ok(if status == ServingStatus::Serving {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
