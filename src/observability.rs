//! Prometheus metrics: the names and labels the service records, the
//! process-wide recorder, and the HTTP listener that serves them in the
//! Prometheus text format at `GET /metrics`.
//!
//! Metrics are recorded through the `metrics` facade; until the recorder is
//! installed (only when a metrics listener is configured) every recording is
//! a no-op.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::domain::SignalStatus;
use crate::records::VerdictRecord;
use crate::storage::{PoolUsage, Storage};

pub const RPC_REQUESTS: &str = "leadqual_rpc_requests_total";
pub const RPC_DURATION: &str = "leadqual_rpc_duration_seconds";
pub const RPC_IN_FLIGHT: &str = "leadqual_rpc_in_flight";
pub const RPC_SHED: &str = "leadqual_rpc_shed_total";
pub const VERDICTS: &str = "leadqual_verdicts_total";
pub const CRITERIA_FIRED: &str = "leadqual_criteria_fired_total";
pub const STORAGE_DURATION: &str = "leadqual_storage_duration_seconds";
pub const STORAGE_ERRORS: &str = "leadqual_storage_errors_total";
pub const POOL_CONNECTIONS: &str = "leadqual_db_pool_connections";
pub const POOL_MAX_CONNECTIONS: &str = "leadqual_db_pool_max_connections";
pub const GROUP_COMMIT_SIZE: &str = "leadqual_group_commit_size";
pub const DATABASE_UP: &str = "leadqual_database_up";
pub const BUILD_INFO: &str = "leadqual_build_info";

/// Upper bounds of the latency histograms, in seconds: from a cached read
/// (about a millisecond) to a call that waited on a slow database.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Upper bounds of the group commit histogram: qualifications per
/// transaction, up to a bulk stream's large groups.
const GROUP_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// How often histogram samples are folded into their buckets when no one
/// scrapes, so that they never pile up.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The recorder is global to the process: installed once, however many
/// servers the process starts (tests start many).
static RECORDER: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// Installs the Prometheus recorder, once per process, and returns the
/// handle that renders what it recorded.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(GROUP_COMMIT_SIZE.into()), GROUP_BUCKETS)
                })
                .and_then(|b| b.install_recorder())
                .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
            describe();
            gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("leadqual-metrics".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_INTERVAL);
                        upkeep.run_upkeep();
                    }
                })
                .map_err(|e| format!("cannot start the metrics upkeep thread: {e}"))?;
            Ok(handle)
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

fn describe() {
    describe_counter!(
        RPC_REQUESTS,
        "Calls ended, by RPC method and gRPC status code name."
    );
    describe_histogram!(
        RPC_DURATION,
        "Time from a call's arrival to its status, in seconds, by RPC method and gRPC status code name."
    );
    describe_gauge!(RPC_IN_FLIGHT, "Calls being served now.");
    describe_counter!(
        RPC_SHED,
        "Calls refused at once to protect the service, by RPC method and reason \
         (concurrency, rate_limit, lead_queue, draining)."
    );
    describe_counter!(
        VERDICTS,
        "Verdicts newly stored, by outcome; replayed requests are not counted."
    );
    describe_counter!(
        CRITERIA_FIRED,
        "Criteria that fired in newly stored verdicts, by criterion code."
    );
    describe_histogram!(
        STORAGE_DURATION,
        "Time of a storage operation, waiting for a connection included, in seconds."
    );
    describe_counter!(
        STORAGE_ERRORS,
        "Storage operations that failed because the database was unavailable or a stored \
         record was unreadable (not conflicts such as a lead changed concurrently)."
    );
    describe_gauge!(
        POOL_CONNECTIONS,
        "Database connections held by the service, by state (idle, in_use)."
    );
    describe_gauge!(
        POOL_MAX_CONNECTIONS,
        "Most database connections the service holds."
    );
    describe_histogram!(
        GROUP_COMMIT_SIZE,
        "Qualifications written per SQLite transaction by the group committer."
    );
    describe_gauge!(
        DATABASE_UP,
        "1 while the database is reachable, 0 when not."
    );
    describe_gauge!(
        BUILD_INFO,
        "Always 1; the version label is the running build."
    );
}

/// Records a call that ended with `code` (a gRPC code name) after `elapsed`.
pub fn record_call(rpc: &'static str, code: &'static str, elapsed: Duration) {
    counter!(RPC_REQUESTS, "code" => code, "rpc" => rpc).increment(1);
    histogram!(RPC_DURATION, "code" => code, "rpc" => rpc).record(elapsed.as_secs_f64());
}

/// Counts a call refused at once to protect the service; `reason` is one of
/// those [`RPC_SHED`] describes.
pub fn record_shed(rpc: &'static str, reason: &'static str) {
    counter!(RPC_SHED, "rpc" => rpc, "reason" => reason).increment(1);
}

/// Counts a call that started (`+1`) or ended (`-1`).
pub fn calls_in_flight(change: f64) {
    gauge!(RPC_IN_FLIGHT).increment(change);
}

/// Counts a verdict that was just stored: its outcome and the criteria that
/// fired. Never call it for a replayed one.
pub fn record_verdict(verdict: &VerdictRecord) {
    counter!(VERDICTS, "outcome" => verdict.evaluation.outcome.code()).increment(1);
    for signal in &verdict.evaluation.signals {
        if signal.status == SignalStatus::Fired {
            counter!(CRITERIA_FIRED, "code" => signal.criterion.code()).increment(1);
        }
    }
}

/// Records one storage operation.
pub fn record_storage(operation: &'static str, elapsed: Duration, failed: bool) {
    histogram!(STORAGE_DURATION, "operation" => operation).record(elapsed.as_secs_f64());
    if failed {
        counter!(STORAGE_ERRORS, "operation" => operation).increment(1);
    }
}

/// Records how many qualifications one group commit wrote.
pub fn record_group_commit(size: usize) {
    histogram!(GROUP_COMMIT_SIZE).record(size as f64);
}

/// Sets whether the database is reachable.
pub fn database_up(up: bool) {
    gauge!(DATABASE_UP).set(if up { 1.0 } else { 0.0 });
}

fn record_pool(usage: PoolUsage) {
    gauge!(POOL_CONNECTIONS, "state" => "idle").set(usage.idle as f64);
    gauge!(POOL_CONNECTIONS, "state" => "in_use").set(usage.in_use as f64);
    gauge!(POOL_MAX_CONNECTIONS).set(usage.max as f64);
}

/// The bound metrics listener, ready to serve.
pub struct MetricsListener {
    listener: TcpListener,
    handle: PrometheusHandle,
    local_addr: SocketAddr,
}

impl MetricsListener {
    /// Installs the recorder and binds `address`.
    pub async fn bind(address: SocketAddr) -> anyhow::Result<Self> {
        let handle = install()?;
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen for metrics on {address}"))?;
        let local_addr = listener.local_addr()?;
        Ok(Self {
            listener,
            handle,
            local_addr,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves `GET /metrics` (anything else is 404) until `stop` resolves;
    /// the pool gauges of `storage` are read at each scrape.
    pub async fn serve(
        self,
        storage: Arc<dyn Storage>,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let scraper = Scraper {
            handle: self.handle,
            storage,
        };
        let app = Router::new()
            .route("/metrics", get(scrape))
            .with_state(Arc::new(scraper));
        tracing::info!(address = %self.local_addr, "metrics listening");
        axum::serve(self.listener, app)
            .with_graceful_shutdown(stop)
            .await
            .context("the metrics listener failed")
    }
}

struct Scraper {
    handle: PrometheusHandle,
    storage: Arc<dyn Storage>,
}

async fn scrape(State(scraper): State<Arc<Scraper>>) -> impl IntoResponse {
    record_pool(scraper.storage.pool_usage());
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        scraper.handle.render(),
    )
}
