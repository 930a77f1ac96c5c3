//! Metrics and traces, against the `leadqual` binary run as a process of its
//! own (the metrics recorder and the trace exporter are global to a
//! process): what `GET /metrics` shows after calls, and the span an OTLP
//! collector receives for a call that carried a W3C `traceparent`.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use leadqual::domain;
use leadqual::proto::v1 as pb;
use leadqual::proto::v1::lead_qualification_service_client::LeadQualificationServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span as OtlpSpan;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use pb::{Outcome, Stage};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Mutex;
use tonic::Code;

use crate::backend_tests;
use crate::helpers::{Backend, TestDatabase, assert_code, qualify_request};
use crate::process::{Server, WAIT, free_port};

backend_tests!(calls_verdicts_and_storage_show_in_the_metrics);

/// `GET path` over HTTP/1.1: the status code and the body.
async fn http_get(port: u16, path: &str) -> (u16, String) {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        std::io::Result::Ok(response)
    };
    let response = tokio::time::timeout(WAIT, exchange)
        .await
        .expect("the metrics listener answers in time")
        .expect("an HTTP exchange");
    let response = String::from_utf8(response).expect("a UTF-8 response");
    let (head, body) = response.split_once("\r\n\r\n").expect("headers and a body");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    (status, body.to_owned())
}

/// The samples of a Prometheus text exposition: name and labels → value.
fn samples(text: &str) -> BTreeMap<(String, BTreeMap<String, String>), f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample line");
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => {
                let labels = labels.strip_suffix('}').expect("labels end with }");
                let labels = labels
                    .split(',')
                    .filter(|pair| !pair.is_empty())
                    .map(|pair| {
                        let (key, value) = pair.split_once('=').expect("label=value");
                        (key.to_owned(), value.trim_matches('"').to_owned())
                    })
                    .collect();
                (name, labels)
            }
            None => (series, BTreeMap::new()),
        };
        let value = value.parse().expect("a numeric value");
        out.insert((name.to_owned(), labels), value);
    }
    out
}

/// The metrics scraped from `port`.
async fn scrape(port: u16) -> (String, BTreeMap<(String, BTreeMap<String, String>), f64>) {
    let (status, body) = http_get(port, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    let parsed = samples(&body);
    (body, parsed)
}

/// The value of the sample `name{labels}`, if present.
fn value(
    samples: &BTreeMap<(String, BTreeMap<String, String>), f64>,
    name: &str,
    labels: &[(&str, &str)],
) -> Option<f64> {
    let labels = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    samples.get(&(name.to_owned(), labels)).copied()
}

/// Facts on which two criteria fire at the recommendation stage: NEEDS_REVIEW.
fn review_facts() -> pb::LeadFacts {
    pb::LeadFacts {
        max_material_repeats: Some(4),
        meetings_cancelled: Some(2),
        meetings_rescheduled: Some(1),
        expects_magic_wand: Some(false),
        ..Default::default()
    }
}

async fn calls_verdicts_and_storage_show_in_the_metrics(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let metrics_port = free_port();
    let listen = format!("127.0.0.1:{metrics_port}");
    let (server, channel) = Server::start(&database.url, &["--metrics-listen", &listen], &[]).await;
    let mut client = LeadQualificationServiceClient::new(channel.clone());

    let mut request = qualify_request("metrics-1", Stage::Recommendation, review_facts());
    request.request_id = "metrics-request-1".to_owned();
    let verdict = client
        .qualify_lead(request.clone())
        .await
        .expect("QualifyLead succeeds")
        .into_inner()
        .verdict
        .expect("a verdict");
    assert_eq!(verdict.outcome, Outcome::NeedsReview as i32);
    assert_code(
        client
            .qualify_lead(qualify_request(
                "",
                Stage::Contact,
                pb::LeadFacts::default(),
            ))
            .await,
        Code::InvalidArgument,
        "a lead without an id",
    );
    assert_code(
        client
            .get_lead(pb::GetLeadRequest {
                lead_id: "nobody".to_owned(),
            })
            .await,
        Code::NotFound,
        "an unknown lead",
    );
    let health = tonic_health::pb::health_client::HealthClient::new(channel.clone())
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .expect("health answers");
    assert_eq!(health.into_inner().status, 1, "SERVING");

    let (text, metrics) = scrape(metrics_port).await;
    // As an operator greps it: labels in name order, the value after a space.
    assert!(
        text.lines()
            .any(|l| l == "leadqual_rpc_requests_total{code=\"OK\",rpc=\"QualifyLead\"} 1"),
        "{text}"
    );
    let requests = "leadqual_rpc_requests_total";
    for (code, rpc) in [
        ("OK", "QualifyLead"),
        ("INVALID_ARGUMENT", "QualifyLead"),
        ("NOT_FOUND", "GetLead"),
    ] {
        assert_eq!(
            value(&metrics, requests, &[("code", code), ("rpc", rpc)]),
            Some(1.0),
            "{rpc} {code}:\n{text}"
        );
    }
    assert!(
        !text.contains("rpc=\"Check\""),
        "health checks are not counted:\n{text}"
    );
    let qualified = [("code", "OK"), ("rpc", "QualifyLead")];
    assert_eq!(
        value(&metrics, "leadqual_rpc_duration_seconds_count", &qualified),
        Some(1.0),
        "{text}"
    );
    let within = |le: &str| {
        let labels = [("code", "OK"), ("le", le), ("rpc", "QualifyLead")];
        value(&metrics, "leadqual_rpc_duration_seconds_bucket", &labels)
    };
    assert_eq!(within("+Inf"), Some(1.0), "{text}");
    assert_eq!(within("30"), Some(1.0), "a call takes less than 30 s");
    assert_eq!(within("0.0005"), Some(0.0), "nor does it take no time");
    assert_eq!(
        value(&metrics, "leadqual_rpc_in_flight", &[]),
        Some(0.0),
        "{text}"
    );
    let review = [("outcome", "NEEDS_REVIEW")];
    assert_eq!(
        value(&metrics, "leadqual_verdicts_total", &review),
        Some(1.0),
        "{text}"
    );
    for criterion in [
        domain::Criterion::RepeatedExplanations,
        domain::Criterion::MeetingDisruptions,
    ] {
        let fired = verdict
            .signals
            .iter()
            .find(|s| s.criterion == criterion.number())
            .expect("a signal of each criterion");
        assert_eq!(fired.status, pb::SignalStatus::Fired as i32);
        assert_eq!(
            value(
                &metrics,
                "leadqual_criteria_fired_total",
                &[("code", criterion.code())]
            ),
            Some(1.0),
            "{text}"
        );
    }
    assert!(
        !text.contains(&format!("code=\"{}\"", domain::Criterion::MagicWand.code())),
        "a criterion that did not fire is not counted:\n{text}"
    );
    let commits = [("operation", "commit_qualification")];
    assert!(
        value(
            &metrics,
            "leadqual_storage_duration_seconds_count",
            &commits
        ) >= Some(1.0),
        "{text}"
    );
    assert!(
        value(
            &metrics,
            "leadqual_storage_duration_seconds_count",
            &[("operation", "get_lead_view")]
        ) >= Some(1.0),
        "{text}"
    );
    let max = value(&metrics, "leadqual_db_pool_max_connections", &[]).expect("pool size");
    let idle = value(
        &metrics,
        "leadqual_db_pool_connections",
        &[("state", "idle")],
    )
    .expect("idle connections");
    let in_use = value(
        &metrics,
        "leadqual_db_pool_connections",
        &[("state", "in_use")],
    )
    .expect("connections in use");
    match backend {
        // Four readers and the writer.
        Backend::Sqlite => assert_eq!(max, 5.0),
        Backend::Postgres => assert_eq!(max, 16.0),
    }
    assert!(idle >= 1.0 && idle + in_use <= max, "{text}");
    if backend == Backend::Sqlite {
        assert!(
            value(&metrics, "leadqual_group_commit_size_count", &[]) >= Some(1.0),
            "{text}"
        );
    }
    assert_eq!(
        value(
            &metrics,
            "leadqual_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&metrics, "leadqual_database_up", &[]),
        Some(1.0),
        "{text}"
    );
    assert!(text.contains("# TYPE leadqual_rpc_duration_seconds histogram"));
    assert!(text.contains("# HELP leadqual_verdicts_total "));

    // A retry of the request is answered with the stored verdict: a call,
    // not a new verdict.
    let replayed = client
        .qualify_lead(request)
        .await
        .expect("the retry succeeds")
        .into_inner()
        .verdict
        .expect("a verdict");
    assert_eq!(replayed.verdict_id, verdict.verdict_id);
    let (text, metrics) = scrape(metrics_port).await;
    assert_eq!(value(&metrics, requests, &qualified), Some(2.0), "{text}");
    assert_eq!(
        value(&metrics, "leadqual_verdicts_total", &review),
        Some(1.0),
        "a replay is not a new verdict:\n{text}"
    );
    assert_eq!(
        value(
            &metrics,
            "leadqual_criteria_fired_total",
            &[("code", domain::Criterion::RepeatedExplanations.code())]
        ),
        Some(1.0),
        "{text}"
    );

    let (status, _) = http_get(metrics_port, "/").await;
    assert_eq!(status, 404);
    let (status, _) = http_get(metrics_port, "/metrics/extra").await;
    assert_eq!(status, 404);
    assert_eq!(
        server.listening_ports(),
        HashSet::from([server.port, metrics_port]),
        "gRPC and metrics"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_off_unless_configured() {
    let database = TestDatabase::create(Backend::Sqlite).await;
    let (server, channel) = Server::start(&database.url, &[], &[]).await;
    LeadQualificationServiceClient::new(channel)
        .list_criteria(pb::ListCriteriaRequest {})
        .await
        .expect("ListCriteria succeeds");
    assert_eq!(
        server.listening_ports(),
        HashSet::from([server.port]),
        "only the gRPC port"
    );
    assert!(
        !server.log().contains("metrics listening"),
        "{}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_metrics_address_stops_start_up() {
    let database = TestDatabase::create(Backend::Sqlite).await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = taken.local_addr().expect("its address").to_string();
    let mut server = Server::spawn(
        &database.url,
        &[],
        &[("LEADQUAL_METRICS_LISTEN", address.as_str())],
    );
    let status = server.exit().await;
    let log = server.log();
    assert!(!status.success(), "{log}");
    assert!(
        log.contains(&format!("cannot listen for metrics on {address}")),
        "{log}"
    );
    drop(taken);
}

/// An OTLP/gRPC trace collector that keeps every span it receives, with the
/// resource's service name.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<(String, OtlpSpan)>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().await;
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref()?.value.clone())
                .map(|v| match v {
                    Value::StringValue(s) => s,
                    other => format!("{other:?}"),
                })
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    spans.push((service.clone(), span));
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Collector {
    /// Starts the collector on a free port of its own.
    async fn start(&self) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for the collector");
        let port = listener.local_addr().expect("its address").port();
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming),
        );
        port
    }
}

/// A string attribute of a span.
fn attribute(span: &OtlpSpan, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.clone()),
            _ => None,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_continues_the_callers_trace_in_the_exported_span() {
    let collector = Collector::default();
    let collector_port = collector.start().await;
    let database = TestDatabase::create(Backend::Sqlite).await;
    let endpoint = format!("http://127.0.0.1:{collector_port}");
    let (mut server, channel) = Server::start(
        &database.url,
        &[],
        &[("LEADQUAL_OTLP_ENDPOINT", endpoint.as_str())],
    )
    .await;
    let mut client = LeadQualificationServiceClient::new(channel);

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent_id = "00f067aa0ba902b7";
    let mut traced = tonic::Request::new(qualify_request(
        "traced-1",
        Stage::Recommendation,
        review_facts(),
    ));
    traced.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-{parent_id}-01")
            .parse()
            .expect("ASCII metadata"),
    );
    client
        .qualify_lead(traced)
        .await
        .expect("QualifyLead succeeds");
    assert_code(
        client
            .get_lead(pb::GetLeadRequest {
                lead_id: "nobody".to_owned(),
            })
            .await,
        Code::NotFound,
        "an untraced call for an unknown lead",
    );

    // Shutting down flushes the spans not yet exported.
    let status = server.terminate().await;
    assert!(status.success(), "{status}:\n{}", server.log());
    let deadline = Instant::now() + WAIT;
    let spans = loop {
        let spans = collector.spans.lock().await.clone();
        let rpcs = spans
            .iter()
            .filter(|(_, s)| attribute(s, "rpc").is_some())
            .count();
        if rpcs >= 2 {
            break spans;
        }
        assert!(
            Instant::now() < deadline,
            "no spans of both calls reached the collector: {spans:?}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let named = |name: &str| {
        spans
            .iter()
            .find(|(_, s)| s.name == name)
            .unwrap_or_else(|| panic!("no span {name} among {spans:?}"))
    };
    let (service, qualify) = named("leadqual.v1.LeadQualificationService/QualifyLead");
    assert_eq!(service, "leadqual");
    assert_eq!(
        hex::encode(&qualify.trace_id),
        trace_id,
        "the caller's trace"
    );
    assert_eq!(
        hex::encode(&qualify.parent_span_id),
        parent_id,
        "the caller's span is the parent"
    );
    assert_eq!(qualify.kind, SpanKind::Server as i32);
    assert_eq!(attribute(qualify, "rpc").as_deref(), Some("QualifyLead"));
    assert_eq!(attribute(qualify, "code").as_deref(), Some("OK"));
    assert_eq!(
        attribute(qualify, "outcome").as_deref(),
        Some("NEEDS_REVIEW")
    );

    let (_, lookup) = named("leadqual.v1.LeadQualificationService/GetLead");
    assert_eq!(attribute(lookup, "code").as_deref(), Some("NOT_FOUND"));
    assert!(
        lookup.parent_span_id.is_empty(),
        "a call without a trace starts one"
    );
    assert_ne!(hex::encode(&lookup.trace_id), trace_id);
}
