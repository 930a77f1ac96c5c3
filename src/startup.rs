//! Wiring: storage, application, gRPC services and the middleware stack.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tower::ServiceBuilder;
use tower_http::trace::TraceLayer;

use crate::grpc::LeadQualificationApi;
use crate::proto;
use crate::proto::v1::lead_qualification_service_server::LeadQualificationServiceServer;
use crate::qualification::Qualifier;
use crate::storage::{self, Storage};

/// What the service needs to start.
#[derive(Clone, Debug)]
pub struct Settings {
    pub listen: SocketAddr,
    pub database_url: String,
}

/// A bound, migrated, ready-to-run service.
pub struct Application {
    listener: TcpListener,
    storage: std::sync::Arc<dyn Storage>,
    local_addr: SocketAddr,
}

impl Application {
    /// Opens and migrates the database and binds the listener (port 0 picks a
    /// free port; see [`Application::port`]).
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let storage = storage::connect(&settings.database_url).await?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let local_addr = listener.local_addr()?;
        Ok(Self {
            listener,
            storage,
            local_addr,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    /// Serves until `shutdown` resolves, then drains in-flight calls.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let api = LeadQualificationApi::new(Qualifier::new(self.storage));
        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_serving::<LeadQualificationServiceServer<LeadQualificationApi>>()
            .await;

        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .context("cannot build reflection v1")?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()
            .context("cannot build reflection v1alpha")?;

        let middleware = ServiceBuilder::new()
            // Handlers log each call's outcome in their own span; this adds
            // method and latency at debug level.
            .layer(TraceLayer::new_for_grpc().on_failure(()));

        // Small unary calls must not wait for Nagle's algorithm.
        let incoming = TcpIncoming::from(self.listener).with_nodelay(Some(true));
        tracing::info!(address = %self.local_addr, "leadqual listening");
        let health_on_shutdown = health.clone();
        let drain = async move {
            shutdown.await;
            tracing::info!("shutting down: draining in-flight calls");
            health_on_shutdown
                .set_not_serving::<LeadQualificationServiceServer<LeadQualificationApi>>()
                .await;
        };
        Server::builder()
            .timeout(Duration::from_secs(30))
            .layer(middleware)
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(LeadQualificationServiceServer::new(api))
            .serve_with_incoming_shutdown(incoming, drain)
            .await
            .context("the gRPC server failed")?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
