//! Structured logging with tracing, and, when an OTLP endpoint is set, the
//! export of each call's span to OpenTelemetry as a trace continuing the
//! caller's (W3C `traceparent`).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TracerProvider;
use opentelemetry_otlp::{WithExportConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tonic::Code;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::configuration::LogFormat;

/// Whether spans are exported; set once by [`init`].
static TRACES_EXPORTED: AtomicBool = AtomicBool::new(false);

/// Longest an export of spans may take before it is given up.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest the last spans may hold up the end of the process.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// What [`init`] started: [`Telemetry::shutdown`] flushes the spans not
/// yet exported.
#[must_use = "call shutdown() so that the last spans are exported"]
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still queued and stops the exporter.
    pub async fn shutdown(self) {
        let Some(provider) = self.traces else { return };
        // Blocks until the exporter's thread has sent its last batch.
        let done =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(FLUSH_TIMEOUT))
                .await;
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "the last spans may not have been exported"),
            Err(e) => tracing::warn!(error = %e, "the span exporter did not stop cleanly"),
        }
    }
}

/// Installs the global subscriber: text or JSON lines on standard error, and
/// when `otlp_endpoint` is given, spans exported there over OTLP/gRPC in
/// batches (service name `leadqual`).
pub fn init(
    format: LogFormat,
    filter: &str,
    otlp_endpoint: Option<&str>,
) -> anyhow::Result<Telemetry> {
    let filter = EnvFilter::try_new(filter)
        .map_err(|e| anyhow::anyhow!("invalid log filter {filter:?}: {e}"))?;
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        // Colours only for a terminal, not in files or log collectors.
        .with_ansi(std::io::stderr().is_terminal());
    let lines = match format {
        LogFormat::Text => lines.boxed(),
        LogFormat::Json => lines
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed(),
    };
    let traces = otlp_endpoint.map(tracer_provider).transpose()?;
    let spans = traces
        .as_ref()
        .map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer("leadqual")));
    tracing_subscriber::registry()
        .with(lines)
        .with(spans)
        .with(filter)
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot install the log subscriber: {e}"))?;
    if let (Some(endpoint), Some(_)) = (otlp_endpoint, &traces) {
        TRACES_EXPORTED.store(true, Ordering::Release);
        tracing::info!(endpoint, "exporting traces over OTLP");
    }
    Ok(Telemetry { traces })
}

/// The provider exporting spans to `endpoint` in batches, from a thread of
/// its own; the gRPC connection runs on the Tokio runtime, so this must be
/// called inside it.
fn tracer_provider(endpoint: &str) -> anyhow::Result<SdkTracerProvider> {
    let uri: http::Uri = endpoint
        .parse()
        .with_context(|| format!("invalid OTLP endpoint {endpoint:?}"))?;
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .with_timeout(EXPORT_TIMEOUT);
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            exporter = exporter
                .with_tls_config(tonic::transport::ClientTlsConfig::new().with_native_roots());
        }
        _ => anyhow::bail!(
            "invalid OTLP endpoint {endpoint:?}: expected http://HOST:PORT or https://HOST:PORT"
        ),
    }
    let exporter = exporter
        .build()
        .with_context(|| format!("cannot export traces to {endpoint}"))?;
    let resource = Resource::builder()
        .with_service_name("leadqual")
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// Whether call spans are exported over OTLP.
pub fn traces_exported() -> bool {
    TRACES_EXPORTED.load(Ordering::Acquire)
}

/// Makes a call's span, before it is first entered, the server span of
/// `service/method` in the trace its caller propagated in the `traceparent`
/// (and `tracestate`) metadata; a new trace when there is none. Nothing
/// happens unless spans are exported.
pub fn continue_trace(span: &Span, service: &str, method: &str, metadata: &http::HeaderMap) {
    if !traces_exported() {
        return;
    }
    span.record("otel.name", format!("{service}/{method}"));
    span.record("otel.kind", "server");
    let parent = TraceContextPropagator::new().extract(&Metadata(metadata));
    if let Err(e) = span.set_parent(parent) {
        tracing::debug!(error = %e, "the call's span cannot continue the caller's trace");
    }
}

/// Records on a call's span the code it ended with (its name, e.g.
/// `NOT_FOUND`), and marks the span failed when the server is at fault
/// (OpenTelemetry's rule for gRPC servers): a caller's mistake such as
/// INVALID_ARGUMENT is not an error of the service.
pub fn record_status(span: &Span, code: Code) {
    span.record("code", crate::grpc::status::code_name(code));
    let server_fault = matches!(
        code,
        Code::Unknown
            | Code::DeadlineExceeded
            | Code::Unimplemented
            | Code::Internal
            | Code::Unavailable
            | Code::DataLoss
    );
    if server_fault {
        span.record("otel.status_code", "error");
    }
}

/// gRPC metadata as the propagator reads it.
struct Metadata<'a>(&'a http::HeaderMap);

impl Extractor for Metadata<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}
