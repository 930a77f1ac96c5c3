//! The gate every gRPC call passes: which role each RPC needs, and one tower
//! layer that authenticates the caller, checks that role, opens the call's
//! span and logs and counts how the call ended. Handlers read the
//! authenticated [`Caller`] with [`authenticated`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::HeaderValue;
use http_body::{Body, Frame, SizeHint};
use tonic::{Code, Request, Status};
use tower::{Layer, Service};
use tracing::{Instrument, Span};

use tokio::sync::OwnedSemaphorePermit;

use super::limits::{Admission, CallKind, Shed};
use crate::auth::{Authenticator, Caller, Role};
use crate::observability;
use crate::proto::v1::admin_service_server::SERVICE_NAME as ADMIN;
use crate::proto::v1::lead_qualification_service_server::SERVICE_NAME as LEAD_QUALIFICATION;
use crate::telemetry;

/// The role each RPC needs, by service and method as its gRPC path
/// `/service/method` names them. A method missing here is refused without
/// reaching its handler; a unit test checks that every method of the protos
/// has exactly one entry.
pub const RPC_ROLES: &[(&str, &str, Role)] = &[
    (LEAD_QUALIFICATION, "QualifyLead", Role::Scorer),
    (LEAD_QUALIFICATION, "GetLead", Role::Reader),
    (LEAD_QUALIFICATION, "ListLeads", Role::Reader),
    (LEAD_QUALIFICATION, "GetVerdict", Role::Reader),
    (LEAD_QUALIFICATION, "ListVerdicts", Role::Reader),
    (LEAD_QUALIFICATION, "ListCriteria", Role::Reader),
    (LEAD_QUALIFICATION, "GetProfile", Role::Reader),
    (LEAD_QUALIFICATION, "UpdateProfile", Role::Admin),
    (LEAD_QUALIFICATION, "ListProfileVersions", Role::Reader),
    (LEAD_QUALIFICATION, "OverrideVerdict", Role::Scorer),
    (LEAD_QUALIFICATION, "ClearOverride", Role::Scorer),
    (LEAD_QUALIFICATION, "ListOverrides", Role::Reader),
    (LEAD_QUALIFICATION, "QualifyLeads", Role::Scorer),
    (LEAD_QUALIFICATION, "PreviewProfile", Role::Reader),
    (LEAD_QUALIFICATION, "GetSignalStats", Role::Reader),
    (LEAD_QUALIFICATION, "WatchVerdicts", Role::Reader),
    (ADMIN, "CreateApiKey", Role::Admin),
    (ADMIN, "ListApiKeys", Role::Admin),
    (ADMIN, "RevokeApiKey", Role::Admin),
    (ADMIN, "ListAuditEvents", Role::Admin),
];

/// Services that anyone may call without a key, and that the guard neither
/// checks nor logs: probes and tooling.
pub const KEYLESS_SERVICES: &[&str] = &[
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// The role that `method` of `service` needs, if it declares one.
pub fn required_role(service: &str, method: &str) -> Option<Role> {
    declared(RPC_ROLES, service, method).map(|(_, role)| role)
}

/// The entry of `method` of `service` in `roles`: the table's own `'static`
/// method name, and the role.
fn declared(
    roles: &'static [(&'static str, &'static str, Role)],
    service: &str,
    method: &str,
) -> Option<(&'static str, Role)> {
    roles
        .iter()
        .find(|(s, m, _)| *s == service && *m == method)
        .map(|&(_, method, role)| (method, role))
}

/// How a method answers, which decides the room it takes and its deadline;
/// a unit test checks this against the protos' streaming flags.
fn call_kind(method: &str) -> CallKind {
    match method {
        "QualifyLeads" => CallKind::Stream,
        "WatchVerdicts" => CallKind::Watch,
        _ => CallKind::Unary,
    }
}

/// The service and method a gRPC path `/service/method` names.
fn service_and_method(path: &str) -> Option<(&str, &str)> {
    path.strip_prefix('/')?.split_once('/')
}

/// Takes the [`Caller`] the guard authenticated out of a request, with the
/// message. `INTERNAL` when the call did not pass the guard, so that a
/// handler never serves an unchecked call.
pub fn authenticated<T>(request: Request<T>) -> Result<(Caller, T), Status> {
    let (_, mut extensions, message) = request.into_parts();
    match extensions.remove::<Caller>() {
        Some(caller) => Ok((caller, message)),
        None => {
            tracing::error!("a call reached its handler without passing the guard");
            Err(Status::internal("internal error"))
        }
    }
}

/// Records the call's lead id on its span; only once the id is valid, so
/// that nothing unchecked from the wire reaches the logs.
pub fn record_lead_id(lead_id: &str) {
    Span::current().record("lead_id", lead_id);
}

/// The span of one call. The guard records `tenant` and `actor` once the
/// caller is known, and `code` once the call ended; handlers record the
/// `lead_id` once it is valid, and a qualification its `outcome`, `score`
/// and `replayed`. The `otel.*` fields are for trace export
/// ([`telemetry::continue_trace`]).
fn rpc_span(rpc: &'static str) -> Span {
    tracing::info_span!(
        "rpc",
        rpc,
        lead_id = tracing::field::Empty,
        tenant = tracing::field::Empty,
        actor = tracing::field::Empty,
        outcome = tracing::field::Empty,
        score = tracing::field::Empty,
        replayed = tracing::field::Empty,
        code = tracing::field::Empty,
        otel.name = tracing::field::Empty,
        otel.kind = tracing::field::Empty,
        otel.status_code = tracing::field::Empty
    )
}

/// Puts a [`Guard`] in front of the gRPC services.
#[derive(Clone)]
pub struct GuardLayer {
    auth: Arc<Authenticator>,
    admission: Arc<Admission>,
    roles: &'static [(&'static str, &'static str, Role)],
}

impl GuardLayer {
    /// Guards every call with the roles of [`RPC_ROLES`], admitting calls
    /// under `admission`.
    pub fn new(auth: Arc<Authenticator>, admission: Arc<Admission>) -> Self {
        Self {
            auth,
            admission,
            roles: RPC_ROLES,
        }
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            inner,
            auth: self.auth.clone(),
            admission: self.admission.clone(),
            roles: self.roles,
        }
    }
}

/// Lets a call through to its handler only with room for it, a key that has
/// the role its RPC declares and within its tenant's rate, inside the call's
/// span and under its deadline, and logs one line when it ends. Keyless
/// services pass untouched.
#[derive(Clone)]
pub struct Guard<S> {
    inner: S,
    auth: Arc<Authenticator>,
    admission: Arc<Admission>,
    roles: &'static [(&'static str, &'static str, Role)],
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for Guard<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = http::Response<CallBody<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        // The clone that was polled ready serves this call.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let (service, method) = service_and_method(request.uri().path()).unwrap_or_default();
        if KEYLESS_SERVICES.contains(&service) {
            let response = inner.call(request);
            return Box::pin(async move { Ok(response.await?.map(CallBody::unlogged)) });
        }
        let Some((method, role)) = declared(self.roles, service, method) else {
            // Fail closed: an RPC without a declared role is not served.
            let log = CallLog::new("undeclared", rpc_span("undeclared"));
            let status = Status::unimplemented("this method declares no role and is not served");
            log.end(&status);
            return Box::pin(std::future::ready(Ok(status
                .into_http::<ResBody>()
                .map(CallBody::unlogged))));
        };
        let span = rpc_span(method);
        telemetry::continue_trace(&span, service, method, request.headers());
        let log = CallLog::new(method, span.clone());
        let refuse = move |log: CallLog, status: Status| {
            log.end(&status);
            Ok(status.into_http::<ResBody>().map(CallBody::unlogged))
        };
        let shed = move |log: CallLog, (why, status): (Shed, Status)| {
            count_shed(method, why);
            refuse(log, status)
        };
        // Room first: refusing costs nothing, authenticating may not.
        let kind = call_kind(method);
        let permit = match self.admission.admit(kind) {
            Ok(permit) => permit,
            Err(refused) => return Box::pin(std::future::ready(shed(log, refused))),
        };
        // A moment before the transport's own timer, which would answer
        // CANCELLED, so that the caller learns its deadline passed.
        let deadline = self
            .admission
            .deadline(kind, request.headers())
            .map(|after| {
                (
                    after,
                    tokio::time::Instant::now() + after.saturating_sub(EARLY),
                )
            });
        if let Some((after, at)) = deadline
            && at <= tokio::time::Instant::now()
        {
            // Over before it began: not worth starting.
            let status = deadline_exceeded(after);
            return Box::pin(std::future::ready(refuse(log, status)));
        }
        let auth = self.auth.clone();
        let admission = self.admission.clone();
        let call = async move {
            let authorization = request.headers().get(http::header::AUTHORIZATION);
            let caller = match authenticate(&auth, authorization, role).await {
                Ok(caller) => caller,
                Err(status) => return Err(status),
            };
            if let Err((why, status)) = admission.check_rate(&caller.tenant) {
                count_shed(method, why);
                return Err(status);
            }
            request.extensions_mut().insert(caller);
            Ok(inner.call(request).await)
        };
        let call = async move {
            let called = match deadline {
                None => call.await,
                Some((after, at)) => match tokio::time::timeout_at(at, call).await {
                    Ok(called) => called,
                    // The handler is dropped: what it stored is kept, and a
                    // retry with the same request id replays it.
                    Err(_) => Err(deadline_exceeded(after)),
                },
            };
            let response = match called {
                Ok(response) => response?,
                Err(status) => return refuse(log, status),
            };
            // A failed unary call answers with its status in the headers;
            // otherwise the status comes in the trailers after the messages.
            match status_in(response.headers()) {
                Some(status) => {
                    log.end(&status);
                    Ok(response.map(CallBody::unlogged))
                }
                None => Ok(response.map(|body| CallBody::logged(body, log, Some(permit)))),
            }
        };
        Box::pin(call.instrument(span))
    }
}

/// How much earlier than the caller's deadline a call is ended.
const EARLY: Duration = Duration::from_millis(2);

fn deadline_exceeded(after: Duration) -> Status {
    Status::deadline_exceeded(format!(
        "the call's deadline of {after:?} passed before it completed"
    ))
}

fn count_shed(rpc: &'static str, why: Shed) {
    observability::record_shed(rpc, why.reason());
}

/// The caller behind the `authorization` header, if it has `needed`; its
/// tenant and key id are recorded on the call's span.
async fn authenticate(
    auth: &Authenticator,
    authorization: Option<&HeaderValue>,
    needed: Role,
) -> Result<Caller, Status> {
    let authorization = authorization
        .map(|value| {
            value
                .to_str()
                .map_err(|_| Status::unauthenticated("authorization metadata must be text"))
        })
        .transpose()?;
    let caller = auth.authenticate(authorization).await?;
    let span = Span::current();
    span.record("tenant", caller.tenant.as_str());
    span.record("actor", caller.actor.as_str());
    caller.require(needed)?;
    Ok(caller)
}

/// The call's status in response headers or trailers, if they carry one.
/// OK, every successful call's, is read without copying the headers.
fn status_in(headers: &http::HeaderMap) -> Option<Status> {
    if headers.get("grpc-status")? == "0" {
        Some(Status::ok(""))
    } else {
        Status::from_header_map(headers)
    }
}

/// Most characters of a status message that a log line carries.
const MAX_LOGGED_MESSAGE_CHARS: usize = 300;

/// A status message as the log carries it: at most
/// [`MAX_LOGGED_MESSAGE_CHARS`] characters with control characters escaped,
/// since a message may echo what a caller sent (a bad country code, say) and
/// must neither forge log lines nor flood the log.
fn loggable(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_LOGGED_MESSAGE_CHARS));
    for (i, c) in message.chars().enumerate() {
        if i == MAX_LOGGED_MESSAGE_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Writes the one line that says how a call ended, and counts the call in
/// the metrics, exactly once: when its status is known, or, if it never is,
/// when the call is dropped.
struct CallLog {
    rpc: &'static str,
    started: Instant,
    span: Span,
    written: bool,
}

impl CallLog {
    fn new(rpc: &'static str, span: Span) -> Self {
        observability::calls_in_flight(1.0);
        Self {
            rpc,
            started: Instant::now(),
            span,
            written: false,
        }
    }

    fn end(mut self, status: &Status) {
        self.write(status);
    }

    fn write(&mut self, status: &Status) {
        self.written = true;
        let code = crate::grpc::status::code_name(status.code());
        observability::record_call(self.rpc, code, self.started.elapsed());
        observability::calls_in_flight(-1.0);
        {
            let _entered = self.span.enter();
            if status.code() == Code::Ok {
                tracing::info!(code = "OK", "call completed");
            } else {
                let message = loggable(status.message());
                tracing::warn!(code = ?status.code(), message = %message, "call failed");
            }
        }
        telemetry::record_status(&self.span, status.code());
    }
}

impl Drop for CallLog {
    fn drop(&mut self) {
        if !self.written {
            // The client went away or the deadline passed mid-call.
            self.write(&Status::cancelled(
                "the call ended before its response was complete",
            ));
        }
    }
}

/// A response body that, for a call whose status comes in the trailers,
/// streams inside the call's span and logs the call's end from them.
pub struct CallBody<B> {
    inner: B,
    log: Option<CallLog>,
    /// The call's room among those in flight, given back when the body is
    /// dropped.
    _permit: Option<OwnedSemaphorePermit>,
}

impl<B> CallBody<B> {
    fn logged(inner: B, log: CallLog, permit: Option<OwnedSemaphorePermit>) -> Self {
        Self {
            inner,
            log: Some(log),
            _permit: permit,
        }
    }

    fn unlogged(inner: B) -> Self {
        Self {
            inner,
            log: None,
            _permit: None,
        }
    }
}

impl<B> Body for CallBody<B>
where
    B: Body + Unpin,
    B::Error: fmt::Display,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = &mut *self;
        let Some(log) = &this.log else {
            return Pin::new(&mut this.inner).poll_frame(cx);
        };
        let polled = {
            let _entered = log.span.enter();
            Pin::new(&mut this.inner).poll_frame(cx)
        };
        let status = match &polled {
            Poll::Pending => return polled,
            Poll::Ready(Some(Ok(frame))) => match frame.trailers_ref() {
                None => return polled,
                Some(trailers) => status_in(trailers)
                    .unwrap_or_else(|| Status::unknown("the trailers carry no grpc-status")),
            },
            Poll::Ready(Some(Err(error))) => Status::unknown(error.to_string()),
            Poll::Ready(None) => Status::unknown("the response ended without a grpc-status"),
        };
        if let Some(log) = this.log.take() {
            log.end(&status);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        // Polled once more while the end is not logged, to log it.
        self.log.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::atomic::{AtomicBool, Ordering};

    use prost::Message;

    use super::*;
    use crate::grpc::limits::Limits;

    /// Every method of every service in the compiled protos, as
    /// `(service, method)`.
    fn proto_methods() -> Vec<(String, String)> {
        let set = prost_types::FileDescriptorSet::decode(crate::proto::FILE_DESCRIPTOR_SET)
            .expect("the compiled descriptor set decodes");
        let mut methods = Vec::new();
        for file in &set.file {
            for service in &file.service {
                for method in &service.method {
                    let service = format!("{}.{}", file.package(), service.name());
                    methods.push((service, method.name().to_owned()));
                }
            }
        }
        methods
    }

    #[test]
    fn every_rpc_of_the_protos_declares_exactly_one_role() {
        let methods = proto_methods();
        let served: BTreeSet<(&str, &str)> = methods
            .iter()
            .map(|(service, method)| (service.as_str(), method.as_str()))
            .collect();
        assert!(
            served.contains(&(LEAD_QUALIFICATION, "QualifyLead")),
            "the descriptor set holds the services: {served:?}"
        );
        assert_eq!(served.len(), methods.len(), "no method is listed twice");
        let declared: BTreeSet<(&str, &str)> = RPC_ROLES
            .iter()
            .map(|&(service, method, _)| (service, method))
            .collect();
        assert_eq!(declared.len(), RPC_ROLES.len(), "one role per RPC");
        assert_eq!(
            declared, served,
            "RPC_ROLES and the protos name the same RPCs"
        );
    }

    #[test]
    fn streaming_rpcs_are_admitted_as_streams() {
        let set = prost_types::FileDescriptorSet::decode(crate::proto::FILE_DESCRIPTOR_SET)
            .expect("the compiled descriptor set decodes");
        let mut streams = 0;
        for method in set
            .file
            .iter()
            .flat_map(|f| &f.service)
            .flat_map(|s| &s.method)
        {
            let streaming = method.client_streaming() || method.server_streaming();
            let kind = call_kind(method.name());
            assert_eq!(kind != CallKind::Unary, streaming, "{}", method.name());
            streams += usize::from(streaming);
        }
        assert_eq!(streams, 2, "QualifyLeads and WatchVerdicts");
    }

    #[test]
    fn roles_follow_the_readme() {
        // reader: read leads, verdicts, profiles, overrides, the criteria
        // and the analytics, preview profiles and watch verdicts; scorer:
        // also qualify leads (one or a stream), override verdicts and
        // withdraw overrides; admin: everything else.
        for &(service, method, role) in RPC_ROLES {
            let reads = ["Get", "List", "Preview", "Watch"]
                .iter()
                .any(|verb| method.starts_with(verb));
            let expected = if service == ADMIN {
                Role::Admin
            } else if reads {
                Role::Reader
            } else if [
                "QualifyLead",
                "QualifyLeads",
                "OverrideVerdict",
                "ClearOverride",
            ]
            .contains(&method)
            {
                Role::Scorer
            } else {
                Role::Admin
            };
            assert_eq!(role, expected, "{service}/{method}");
        }
    }

    #[test]
    fn paths_name_a_service_and_a_method() {
        assert_eq!(
            service_and_method("/grpc.health.v1.Health/Check"),
            Some(("grpc.health.v1.Health", "Check"))
        );
        assert_eq!(service_and_method("grpc.health.v1.Health/Check"), None);
        assert_eq!(service_and_method("/grpc.health.v1.Health"), None);
        for &(service, _, _) in RPC_ROLES {
            assert!(
                !KEYLESS_SERVICES.contains(&service),
                "{service} needs a key"
            );
        }
    }

    #[test]
    fn roles_are_read_by_service_and_method() {
        assert_eq!(
            required_role(LEAD_QUALIFICATION, "QualifyLead"),
            Some(Role::Scorer)
        );
        assert_eq!(required_role(ADMIN, "ListAuditEvents"), Some(Role::Admin));
        assert_eq!(required_role(ADMIN, "DropTables"), None);
        assert_eq!(required_role(LEAD_QUALIFICATION, "ListAuditEvents"), None);
    }

    #[test]
    fn logged_messages_are_escaped_and_bounded() {
        assert_eq!(loggable("lead_id: is required"), "lead_id: is required");
        assert_eq!(
            loggable("\"DE\nforged line\" is not a country"),
            "\"DE\\nforged line\" is not a country"
        );
        let long = loggable(&"x".repeat(1_000_000));
        assert_eq!(long.chars().count(), MAX_LOGGED_MESSAGE_CHARS + 1);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn the_status_is_read_from_headers_or_trailers() {
        let mut headers = http::HeaderMap::new();
        assert!(status_in(&headers).is_none(), "a reply still to stream");
        headers.insert("grpc-status", HeaderValue::from_static("0"));
        assert_eq!(status_in(&headers).map(|s| s.code()), Some(Code::Ok));
        headers.insert("grpc-status", HeaderValue::from_static("7"));
        headers.insert("grpc-message", HeaderValue::from_static("no%20role"));
        let denied = status_in(&headers).expect("a status");
        assert_eq!(denied.code(), Code::PermissionDenied);
        assert_eq!(denied.message(), "no role");
    }

    /// A response body that yields the frames it was given.
    struct Frames(std::collections::VecDeque<Frame<tonic::codegen::Bytes>>);

    impl Body for Frames {
        type Data = tonic::codegen::Bytes;
        type Error = Status;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Self::Data>, Status>>> {
            Poll::Ready(self.0.pop_front().map(Ok))
        }

        fn is_end_stream(&self) -> bool {
            self.0.is_empty()
        }
    }

    #[test]
    fn a_streamed_reply_is_logged_when_its_trailers_pass() {
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from_static("13"));
        let frames = Frames(
            [
                Frame::data(tonic::codegen::Bytes::from_static(b"message")),
                Frame::trailers(trailers),
            ]
            .into(),
        );
        let mut body = CallBody::logged(frames, CallLog::new("Test", Span::none()), None);
        let mut cx = Context::from_waker(std::task::Waker::noop());

        let data = Pin::new(&mut body).poll_frame(&mut cx);
        assert!(matches!(data, Poll::Ready(Some(Ok(ref f))) if f.is_data()));
        assert!(body.log.is_some(), "not ended by a message");
        let trailers = Pin::new(&mut body).poll_frame(&mut cx);
        assert!(matches!(trailers, Poll::Ready(Some(Ok(ref f))) if f.is_trailers()));
        assert!(body.log.is_none(), "ended by the trailers");
        assert!(body.is_end_stream());
    }

    #[test]
    fn a_body_is_not_over_until_its_end_is_logged() {
        let mut body = CallBody::logged(
            Frames(std::collections::VecDeque::new()),
            CallLog::new("Test", Span::none()),
            None,
        );
        assert!(!body.is_end_stream());
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(matches!(
            Pin::new(&mut body).poll_frame(&mut cx),
            Poll::Ready(None)
        ));
        assert!(body.log.is_none());
        assert!(body.is_end_stream());
    }

    /// A handler that remembers whether any call reached it.
    #[derive(Clone, Default)]
    struct Handler {
        reached: Arc<AtomicBool>,
    }

    impl Service<http::Request<tonic::body::Body>> for Handler {
        type Response = http::Response<tonic::body::Body>;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: http::Request<tonic::body::Body>) -> Self::Future {
            self.reached.store(true, Ordering::SeqCst);
            std::future::ready(Ok(http::Response::new(tonic::body::Body::default())))
        }
    }

    async fn call(guard: &mut Guard<Handler>, path: &str) -> Status {
        let request = http::Request::post(path)
            .body(tonic::body::Body::default())
            .expect("a request");
        let response = guard.call(request).await.expect("infallible");
        Status::from_header_map(response.headers()).unwrap_or_else(|| Status::ok(""))
    }

    #[tokio::test]
    async fn an_rpc_without_a_role_never_reaches_its_handler() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("guard.db").display());
        let storage = crate::storage::connect(&url).await.expect("storage");
        // Open as when no key exists: only the table stands in the way.
        let auth = Arc::new(Authenticator::new(storage, true));
        let handler = Handler::default();
        // The table without its first entry, QualifyLead.
        assert_eq!(RPC_ROLES[0].1, "QualifyLead");
        let layer = GuardLayer {
            auth,
            admission: Arc::new(Admission::new(&Limits::default())),
            roles: &RPC_ROLES[1..],
        };
        let mut guard = layer.layer(handler.clone());

        let refused = call(
            &mut guard,
            "/leadqual.v1.LeadQualificationService/QualifyLead",
        )
        .await;
        assert_eq!(refused.code(), Code::Unimplemented, "{refused:?}");
        assert!(!handler.reached.load(Ordering::SeqCst));

        let unknown = call(&mut guard, "/leadqual.v1.AdminService/DropTables").await;
        assert_eq!(unknown.code(), Code::Unimplemented, "{unknown:?}");
        assert!(!handler.reached.load(Ordering::SeqCst));

        let declared = call(&mut guard, "/leadqual.v1.LeadQualificationService/GetLead").await;
        assert_eq!(declared.code(), Code::Ok, "{declared:?}");
        assert!(handler.reached.load(Ordering::SeqCst));
    }
}
