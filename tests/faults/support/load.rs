//! Clients and load: unary callers and bulk streams that record every call
//! (what was sent, when, and whether it was acknowledged).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use leadqual::proto::v1 as pb;
use leadqual::proto::v1::lead_qualification_service_client::LeadQualificationServiceClient;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

pub type Client = LeadQualificationServiceClient<Channel>;

fn endpoint(addr: SocketAddr) -> Endpoint {
    Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect_timeout(Duration::from_secs(2))
        .tcp_nodelay(true)
}

/// A connection, retrying for a few seconds while the server comes up.
pub async fn connect(addr: SocketAddr) -> Channel {
    let endpoint = endpoint(addr);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match endpoint.connect().await {
            Ok(channel) => return channel,
            Err(e) => assert!(
                Instant::now() < deadline,
                "cannot connect to the server at {addr}: {e}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `n` connections of their own: HTTP/2 allows a connection only so many
/// concurrent streams, and a real crowd of callers comes over many.
pub async fn connections(addr: SocketAddr, n: usize) -> Vec<Channel> {
    let mut channels = Vec::with_capacity(n);
    for _ in 0..n {
        channels.push(connect(addr).await);
    }
    channels
}

/// A channel that connects on its first call (and fails that call when it
/// cannot).
pub fn lazy(addr: SocketAddr) -> Channel {
    endpoint(addr).connect_lazy()
}

/// `grpc.health.v1.Health/Check` of service "": the status, or why there is
/// none (including no answer within 2 s).
pub async fn health(channel: &Channel) -> Result<ServingStatus, String> {
    let mut client = HealthClient::new(channel.clone());
    let call = client.check(HealthCheckRequest {
        service: String::new(),
    });
    match tokio::time::timeout(Duration::from_secs(2), call).await {
        Err(_) => Err("no answer within 2 s".into()),
        Ok(Err(status)) => Err(format!("{:?}: {}", status.code(), status.message())),
        Ok(Ok(response)) => Ok(response.into_inner().status()),
    }
}

/// Polls health every 50 ms until it reports `want` or `timeout` passes;
/// how long it took.
pub async fn wait_health(
    channel: &Channel,
    want: ServingStatus,
    timeout: Duration,
) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if health(channel).await == Ok(want) {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// A qualification of `lead` at step `step` of its life: the first step
/// sets its firmographics, each later one a few facts that change.
pub fn request(lead: &str, request_id: &str, step: usize) -> pb::QualifyLeadRequest {
    let small = |n: usize| i32::try_from(n % 7).expect("small");
    let facts = if step == 0 {
        pb::LeadFacts {
            employee_count: Some(120),
            annual_revenue_usd: Some(8_000_000),
            questions_asked: Some(10),
            questions_answered: Some(6),
            ..Default::default()
        }
    } else {
        pb::LeadFacts {
            meetings_cancelled: Some(small(step)),
            max_material_repeats: Some(small(step + 3)),
            employee_count: Some(100 + i64::try_from(step % 1000).expect("small")),
            ..Default::default()
        }
    };
    pb::QualifyLeadRequest {
        lead_id: lead.to_owned(),
        stage: pb::Stage::Recommendation as i32,
        facts: Some(facts),
        request_id: request_id.to_owned(),
        validate_only: false,
    }
}

/// How a call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// OK, with this verdict id.
    Acked { verdict_id: String, replayed: bool },
    /// The server answered with this code.
    Failed(Code),
    /// It never reached the service, by the protocol's own account: the
    /// connection was refused, HTTP/2 refused the stream (a GOAWAY from the
    /// server whose last stream id is below it, or REFUSED_STREAM), or the
    /// connection closed before the request was sent on it.
    Refused,
    /// The connection broke during the call (tonic's code for it): the
    /// server may or may not have processed it.
    Broken(Code),
    /// No answer within the client's patience.
    Hung,
    /// Sent on a stream that ended before its answer came.
    Unanswered,
}

impl Outcome {
    /// What a failed call tells: the server's answer, a refusal, or a
    /// broken connection.
    pub fn of(status: &tonic::Status) -> Outcome {
        let mut source = std::error::Error::source(status);
        if source.is_none() {
            return Outcome::Failed(status.code());
        }
        while let Some(error) = source {
            if let Some(h2) = error.downcast_ref::<h2::Error>() {
                let refused = (h2.is_go_away() && h2.is_remote())
                    || h2.reason() == Some(h2::Reason::REFUSED_STREAM);
                if refused {
                    return Outcome::Refused;
                }
            }
            if error
                .downcast_ref::<hyper::Error>()
                .is_some_and(hyper::Error::is_canceled)
            {
                return Outcome::Refused;
            }
            if let Some(io) = error.downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::ConnectionRefused
            {
                return Outcome::Refused;
            }
            source = error.source();
        }
        Outcome::Broken(status.code())
    }
}

impl Outcome {
    pub fn verdict_id(&self) -> Option<&str> {
        match self {
            Outcome::Acked { verdict_id, .. } => Some(verdict_id),
            _ => None,
        }
    }
}

/// One qualification sent, and what came of it.
#[derive(Clone, Debug)]
pub struct Call {
    pub request: pb::QualifyLeadRequest,
    pub started: Instant,
    pub ended: Instant,
    pub outcome: Outcome,
    /// The status message of a failure.
    pub detail: String,
}

impl Call {
    pub fn took(&self) -> Duration {
        self.ended - self.started
    }
}

/// Sends one qualification; a call without an answer within `patience` is
/// `Hung`.
pub async fn qualify(
    client: &mut Client,
    request: pb::QualifyLeadRequest,
    patience: Duration,
) -> Call {
    let started = Instant::now();
    let mut detail = String::new();
    let outcome = match tokio::time::timeout(patience, client.qualify_lead(request.clone())).await {
        Err(_) => Outcome::Hung,
        Ok(Err(status)) => {
            detail = status.message().to_owned();
            Outcome::of(&status)
        }
        Ok(Ok(response)) => {
            let response = response.into_inner();
            let verdict = response.verdict.expect("a verdict");
            assert_eq!(
                verdict.request_id, request.request_id,
                "the verdict's request id"
            );
            Outcome::Acked {
                verdict_id: verdict.verdict_id,
                replayed: response.replayed,
            }
        }
    };
    Call {
        request,
        started,
        ended: Instant::now(),
        outcome,
        detail,
    }
}

/// How unary callers behave.
#[derive(Clone, Copy)]
pub struct Pacing {
    /// Pause after a successful call.
    pub after_ok: Duration,
    /// Pause after a failed one.
    pub after_error: Duration,
    /// How long a caller waits for an answer before calling it a hang.
    pub patience: Duration,
}

/// Unary callers, each sending the requests `make(caller, n)` for n = 0, 1,
/// ... in turn until stopped; every call is recorded.
pub struct UnaryLoad {
    pub calls: Arc<Mutex<Vec<Call>>>,
    pub acked: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    callers: Vec<JoinHandle<()>>,
}

impl UnaryLoad {
    pub fn start(
        channels: &[Channel],
        callers: usize,
        pacing: Pacing,
        make: impl Fn(usize, usize) -> pb::QualifyLeadRequest + Send + Sync + 'static,
    ) -> UnaryLoad {
        let make = Arc::new(make);
        let calls = Arc::new(Mutex::new(Vec::new()));
        let acked = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let callers = (0..callers)
            .map(|caller| {
                let mut client = Client::new(channels[caller % channels.len()].clone());
                let (make, calls, acked, stop) =
                    (make.clone(), calls.clone(), acked.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut n = 0;
                    while !stop.load(Ordering::SeqCst) {
                        let call = qualify(&mut client, make(caller, n), pacing.patience).await;
                        n += 1;
                        let ok = matches!(call.outcome, Outcome::Acked { .. });
                        if ok {
                            acked.fetch_add(1, Ordering::SeqCst);
                        }
                        calls.lock().expect("calls").push(call);
                        let pause = if ok {
                            pacing.after_ok
                        } else {
                            pacing.after_error
                        };
                        if !pause.is_zero() {
                            tokio::time::sleep(pause).await;
                        }
                    }
                })
            })
            .collect();
        UnaryLoad {
            calls,
            acked,
            stop,
            callers,
        }
    }

    pub fn acked(&self) -> usize {
        self.acked.load(Ordering::SeqCst)
    }

    /// Asks the callers to stop after their current call.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Stops the callers and returns every call, in the order they ended.
    pub async fn finish(self) -> Vec<Call> {
        self.stop();
        for caller in self.callers {
            tokio::time::timeout(Duration::from_secs(60), caller)
                .await
                .expect("a caller ends")
                .expect("a caller does not panic");
        }
        std::mem::take(&mut *self.calls.lock().expect("calls"))
    }
}

/// A `QualifyLeads` stream fed from an iterator of items, optionally at a
/// pace, recording each item's outcome (items answer in order).
pub struct BulkLoad {
    pub calls: Arc<Mutex<Vec<Call>>>,
    pub answered: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    feeder: JoinHandle<()>,
    reader: JoinHandle<Result<(), tonic::Status>>,
}

impl BulkLoad {
    /// Streams `items`; with `pace` = (n, every), n items at a time every
    /// `every`, otherwise as fast as the server reads them. The stream is
    /// closed after the last item, or when stopped.
    pub fn start(
        channel: &Channel,
        items: impl Iterator<Item = pb::QualifyLeadRequest> + Send + 'static,
        pace: Option<(usize, Duration)>,
    ) -> BulkLoad {
        let calls: Arc<Mutex<Vec<Call>>> = Arc::new(Mutex::new(Vec::new()));
        let answered = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel::<pb::QualifyLeadsRequest>(16);
        let feeder = {
            let (calls, stop) = (calls.clone(), stop.clone());
            tokio::spawn(async move {
                let mut ticker = pace.map(|(_, every)| tokio::time::interval(every));
                let per_tick = pace.map_or(usize::MAX, |(n, _)| n);
                let mut items = items.enumerate().peekable();
                while items.peek().is_some() && !stop.load(Ordering::SeqCst) {
                    if let Some(ticker) = ticker.as_mut() {
                        ticker.tick().await;
                    }
                    for (n, request) in items.by_ref().take(per_tick) {
                        let item = pb::QualifyLeadsRequest {
                            correlation_id: format!("item-{n}"),
                            request: Some(request.clone()),
                        };
                        let now = Instant::now();
                        calls.lock().expect("calls").push(Call {
                            request,
                            started: now,
                            ended: now,
                            outcome: Outcome::Unanswered,
                            detail: String::new(),
                        });
                        if tx.send(item).await.is_err() || stop.load(Ordering::SeqCst) {
                            return;
                        }
                    }
                }
            })
        };
        let reader = {
            let mut client = Client::new(channel.clone());
            let (calls, answered) = (calls.clone(), answered.clone());
            tokio::spawn(async move {
                let mut results = client
                    .qualify_leads(ReceiverStream::new(rx))
                    .await?
                    .into_inner();
                let mut n = 0;
                while let Some(result) = results.next().await {
                    let result = result?;
                    assert_eq!(
                        result.correlation_id,
                        format!("item-{n}"),
                        "results in order"
                    );
                    let outcome = match result.result {
                        Some(pb::qualify_leads_response::Result::Qualified(q)) => Outcome::Acked {
                            verdict_id: q.verdict.expect("a verdict").verdict_id,
                            replayed: q.replayed,
                        },
                        Some(pb::qualify_leads_response::Result::Error(e)) => {
                            Outcome::Failed(Code::from(e.code))
                        }
                        None => panic!("a result without a result"),
                    };
                    let mut calls = calls.lock().expect("calls");
                    let call = calls.get_mut(n).expect("an answer to an item sent");
                    call.ended = Instant::now();
                    call.outcome = outcome;
                    drop(calls);
                    answered.fetch_add(1, Ordering::SeqCst);
                    n += 1;
                }
                Ok(())
            })
        };
        BulkLoad {
            calls,
            answered,
            stop,
            feeder,
            reader,
        }
    }

    /// Items answered so far.
    pub fn answered(&self) -> usize {
        self.answered.load(Ordering::SeqCst)
    }

    /// Items sent so far.
    pub fn sent(&self) -> usize {
        self.calls.lock().expect("calls").len()
    }

    pub fn is_finished(&self) -> bool {
        self.reader.is_finished()
    }

    /// Waits up to `timeout` for the stream to end; every item and how the
    /// stream ended.
    pub async fn finish(mut self, timeout: Duration) -> (Vec<Call>, Result<(), tonic::Status>) {
        let ended = match tokio::time::timeout(timeout, &mut self.reader).await {
            Ok(joined) => joined.expect("the stream reader does not panic"),
            Err(_) => {
                self.reader.abort();
                Err(tonic::Status::deadline_exceeded(format!(
                    "the stream did not end within {timeout:?}"
                )))
            }
        };
        self.stop.store(true, Ordering::SeqCst);
        self.feeder.abort();
        let calls = std::mem::take(&mut *self.calls.lock().expect("calls"));
        (calls, ended)
    }
}

/// Latencies in microseconds, for percentiles.
pub struct Latencies(hdrhistogram::Histogram<u64>);

impl Latencies {
    pub fn new() -> Latencies {
        Latencies(hdrhistogram::Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram"))
    }

    pub fn record(&mut self, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.0.saturating_record(micros.max(1));
    }

    pub fn add(&mut self, other: &Latencies) {
        self.0.add(&other.0).expect("histograms of the same bounds");
    }

    pub fn quantile(&self, q: f64) -> Duration {
        Duration::from_micros(self.0.value_at_quantile(q))
    }

    pub fn max(&self) -> Duration {
        Duration::from_micros(self.0.max())
    }

    /// "p50 .. p99 .. max .." in milliseconds.
    pub fn summary(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        format!(
            "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            ms(self.quantile(0.5)),
            ms(self.quantile(0.99)),
            ms(self.max())
        )
    }
}
