//! Wiring: storage, application, gRPC services and the middleware stack.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower::ServiceBuilder;
use tower_http::trace::TraceLayer;

use crate::auth::Authenticator;
use crate::console::{ConsoleListener, ConsoleState};
use crate::grpc::{AdminApi, Admission, GuardLayer, LeadQualificationApi, Limits};
use crate::observability::{self, MetricsListener};
use crate::proto;
use crate::proto::v1::admin_service_server::AdminServiceServer;
use crate::proto::v1::lead_qualification_service_server::LeadQualificationServiceServer;
use crate::qualification::Qualifier;
use crate::storage::metered::MeteredStorage;
use crate::storage::{self, Storage};
use crate::watch::Watchers;

/// What the service needs to start.
#[derive(Clone, Debug)]
pub struct Settings {
    pub listen: SocketAddr,
    pub database_url: String,
    /// Start on a non-loopback address even though no API key exists.
    pub allow_unauthenticated: bool,
    /// Serve TLS with this certificate and key instead of plaintext.
    pub tls: Option<TlsFiles>,
    /// Serve Prometheus metrics at `GET /metrics` on this address (port 0
    /// picks a free port; see [`Application::metrics_port`]).
    pub metrics_listen: Option<SocketAddr>,
    /// What calls are admitted under.
    pub limits: Limits,
    /// How long start-up waits for a database server to answer.
    pub database_wait: Duration,
    /// How long calls in flight may take to finish once shutdown begins.
    pub drain_timeout: Duration,
    /// Serve the sales-ops console on this address (off when unset; port 0
    /// picks a free port, see [`Application::console_port`]).
    pub console_listen: Option<SocketAddr>,
}

impl Settings {
    /// Listening on `listen` over `database_url`, in plaintext, keyless
    /// calls only on loopback while no key exists, with the default limits,
    /// a 60 s wait for the database, a 20 s drain and no metrics listener.
    pub fn new(listen: SocketAddr, database_url: impl Into<String>) -> Self {
        Self {
            listen,
            database_url: database_url.into(),
            allow_unauthenticated: false,
            tls: None,
            limits: Limits::default(),
            database_wait: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(20),
            metrics_listen: None,
            console_listen: None,
        }
    }
}

/// PEM files of the server's certificate (chain) and private key.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// How long a request in progress may hold the metrics or the console
/// listener open at shutdown.
const LISTENER_STOP_TIMEOUT: Duration = Duration::from_secs(2);

/// A bound, migrated, ready-to-run service.
pub struct Application {
    listener: TcpListener,
    storage: Arc<dyn Storage>,
    local_addr: SocketAddr,
    open_when_keyless: bool,
    tls: Option<ServerTlsConfig>,
    metrics: Option<MetricsListener>,
    limits: Limits,
    drain_timeout: Duration,
    console: Option<ConsoleListener>,
}

impl Application {
    /// Opens and migrates the database and binds the listeners (port 0 picks
    /// a free port; see [`Application::port`]).
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let metrics = match settings.metrics_listen {
            Some(address) => Some(MetricsListener::bind(address).await?),
            None => None,
        };
        let mut storage =
            storage::connect_waiting(&settings.database_url, settings.database_wait).await?;
        // A SQLite file is there once open; PostgreSQL's probe keeps the
        // gauge current from here on.
        observability::database_up(true);
        if metrics.is_some() {
            storage = Arc::new(MeteredStorage::new(storage));
        }
        let loopback = settings.listen.ip().is_loopback();
        let has_keys = storage.any_active_api_key().await?;
        if !has_keys {
            if !loopback && !settings.allow_unauthenticated {
                bail!(
                    "refusing to serve on {} without API keys: create one with \
                     `leadqual keys create --tenant NAME --role admin`, listen on a loopback \
                     address, or pass --allow-unauthenticated",
                    settings.listen
                );
            }
            tracing::warn!(
                "no API keys exist: calls without a key are accepted as tenant \"default\" \
                 until the first key is created"
            );
        }
        let tls = match &settings.tls {
            None => None,
            Some(files) => {
                let cert = std::fs::read(&files.cert).with_context(|| {
                    format!("cannot read the TLS certificate {}", files.cert.display())
                })?;
                let key = std::fs::read(&files.key)
                    .with_context(|| format!("cannot read the TLS key {}", files.key.display()))?;
                Some(ServerTlsConfig::new().identity(Identity::from_pem(cert, key)))
            }
        };
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let console = match settings.console_listen {
            Some(address) => Some(ConsoleListener::bind(address, settings.tls.as_ref()).await?),
            None => None,
        };
        let local_addr = listener.local_addr()?;
        Ok(Self {
            listener,
            storage,
            local_addr,
            open_when_keyless: loopback || settings.allow_unauthenticated,
            tls,
            metrics,
            limits: settings.limits.clone(),
            drain_timeout: settings.drain_timeout,
            console,
        })
    }

    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    /// The port of the console's listener, when there is one.
    pub fn console_port(&self) -> Option<u16> {
        self.console.as_ref().map(|c| c.local_addr().port())
    }

    /// The port of the metrics listener, when there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|m| m.local_addr().port())
    }

    /// Serves until `shutdown` resolves, then drains in-flight calls.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let metrics_storage = self.storage.clone();
        let qualifier = Qualifier::new(self.storage.clone());
        let admission = Arc::new(Admission::new(&self.limits));
        let (watchers, close_watches) = Watchers::new(self.storage.clone());
        let reachability = self.storage.reachability();
        let auth = Arc::new(Authenticator::new(self.storage, self.open_when_keyless));
        let api = LeadQualificationApi::new(qualifier.clone(), watchers);
        let console_tls = self.console.as_ref().is_some_and(ConsoleListener::is_tls);
        let console_state = ConsoleState::new(qualifier.clone(), auth.clone(), console_tls);
        let admin = AdminApi::new(qualifier, auth.clone());
        let (health, health_service) = tonic_health::server::health_reporter();
        set_health(&health, ServingStatus::Serving).await;
        let (stop_reporting, stopped) = tokio::sync::watch::channel(());
        let reporting = tokio::spawn(report_reachability(reachability, health.clone(), stopped));

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
            // The guard logs each call's outcome in its span; this adds
            // method and latency at debug level.
            .layer(TraceLayer::new_for_grpc().on_failure(()))
            // Key, role, span and log line of every call but health and
            // reflection, by the table of `grpc::guard::RPC_ROLES`.
            .layer(GuardLayer::new(auth, admission.clone()));

        // Small unary calls must not wait for Nagle's algorithm.
        let incoming = TcpIncoming::from(self.listener).with_nodelay(Some(true));
        tracing::info!(address = %self.local_addr, tls = self.tls.is_some(), "leadqual listening");
        let health_on_shutdown = health.clone();
        let (draining, drain_started) = tokio::sync::oneshot::channel();
        let drain = async move {
            shutdown.await;
            tracing::info!("shutting down: draining in-flight calls");
            // New calls are refused from now on, also on open connections.
            admission.start_draining();
            // Stopped and ended first, so that it cannot report the
            // database reachable after the line below.
            drop(stop_reporting);
            let _ = reporting.await;
            // Watches would never drain: they end, and their clients resume
            // on another replica or after the restart.
            close_watches.close();
            set_health(&health_on_shutdown, ServingStatus::NotServing).await;
            let _ = draining.send(());
        };
        let mut server = Server::builder();
        if let Some(tls) = self.tls {
            server = server
                .tls_config(tls)
                .context("invalid TLS configuration")?;
        }
        let (stop_metrics, metrics_stopped) = oneshot::channel::<()>();
        let metrics = self.metrics.map(|listener| {
            tokio::spawn(listener.serve(metrics_storage, async move {
                let _ = metrics_stopped.await;
            }))
        });
        let (stop_console, console_stopped) = oneshot::channel::<()>();
        let console = self.console.map(|listener| {
            tokio::spawn(listener.serve(console_state, async move {
                let _ = console_stopped.await;
            }))
        });
        let max_message = self.limits.max_message_bytes;
        let serve = server
            // Headers carry a key and a trace context: 16 KiB is plenty.
            .http2_max_header_list_size(Some(16 * 1024))
            .layer(middleware)
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(
                LeadQualificationServiceServer::new(api).max_decoding_message_size(max_message),
            )
            .add_service(AdminServiceServer::new(admin).max_decoding_message_size(max_message))
            .serve_with_incoming_shutdown(incoming, drain);
        let drain_timeout = self.drain_timeout;
        let cut_off = async move {
            match drain_started.await {
                Ok(()) => tokio::time::sleep(drain_timeout).await,
                Err(_) => std::future::pending().await,
            }
        };
        let served = tokio::select! {
            served = serve => served.context("the gRPC server failed"),
            () = cut_off => {
                tracing::warn!(
                    drain_timeout = ?drain_timeout,
                    "calls were still in flight when the drain timeout passed; stopping anyway"
                );
                Ok(())
            }
        };
        // The console stops with the server.
        stop_listener("console", stop_console, console).await;
        // Metrics stay up while calls drain, and stop with the server.
        stop_listener("metrics", stop_metrics, metrics).await;
        served?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Tells a listener served beside the gRPC one to stop, and waits a little
/// for a request in progress before cutting it off.
async fn stop_listener(
    name: &str,
    stop: oneshot::Sender<()>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
) {
    let _ = stop.send(());
    let Some(mut task) = task else {
        return;
    };
    match tokio::time::timeout(LISTENER_STOP_TIMEOUT, &mut task).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::error!(error = %format!("{e:#}"), "{name} listener"),
        Ok(Err(e)) => tracing::error!(error = %e, "the {name} listener panicked"),
        Err(_) => task.abort(),
    }
}

/// Reports `status` for the server as a whole (service `""`) and for the
/// qualification service.
async fn set_health(health: &HealthReporter, status: ServingStatus) {
    health.set_service_status("", status).await;
    health
        .set_service_status(
            <LeadQualificationServiceServer<LeadQualificationApi> as tonic::server::NamedService>::NAME,
            status,
        )
        .await;
}

/// Keeps the health service in step with the database: `NOT_SERVING` while
/// it is unreachable, `SERVING` again when it answers, until `stop` fires.
async fn report_reachability(
    mut reachable: tokio::sync::watch::Receiver<bool>,
    health: HealthReporter,
    mut stop: tokio::sync::watch::Receiver<()>,
) {
    loop {
        let status = if *reachable.borrow_and_update() {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        set_health(&health, status).await;
        tokio::select! {
            _ = stop.changed() => return,
            changed = reachable.changed() => if changed.is_err() { return },
        }
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
