//! The sales-ops console: server-rendered HTML on a listener of its own,
//! over the same application layer as the gRPC API. A user signs in with an
//! API key of their tenant; its role applies to every page and form exactly
//! as to the RPCs behind them.
//!
//! URLs are stable, to paste into a CRM note: `/sign-in`, `/leads` (the
//! review queue; filters as query parameters), `/leads/{lead_id}`,
//! `/funnel`, `/profile`, `/import` (and `/import/{job}` for one upload),
//! `/audit`.

mod audit;
mod funnel;
mod import;
mod pages;
mod profile;
mod profile_pages;
pub mod session;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Form, FromRequestParts, Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::CookieJar;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use tokio::net::TcpListener;

use self::session::{SESSION_COOKIE, SIGN_IN_COOKIE, Sessions, same_token};
use crate::auth::{Authenticator, Caller, Role};
use crate::domain::{LeadId, Outcome, Stage};
use crate::error::AppError;
use crate::grpc::convert;
use crate::proto::v1 as pb;
use crate::qualification::Qualifier;
use crate::startup::TlsFiles;
use crate::storage::LeadFilter;

/// How long a session lasts after sign-in.
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);

/// Leads per page of the review queue.
pub const QUEUE_PAGE: i64 = 50;

/// Verdicts shown in a lead's history.
pub const HISTORY: i64 = 50;

/// Longest form field accepted, in bytes: more is a bad request.
const MAX_FIELD_BYTES: usize = 4096;

const CSS: &str = include_str!("console.css");

/// What every handler shares.
#[derive(Clone)]
pub struct ConsoleState {
    qualifier: Qualifier,
    auth: Arc<Authenticator>,
    sessions: Arc<Sessions>,
    imports: Arc<import::Imports>,
    /// Served over TLS: cookies are Secure.
    secure: bool,
}

impl ConsoleState {
    pub fn new(qualifier: Qualifier, auth: Arc<Authenticator>, secure: bool) -> Self {
        Self {
            qualifier,
            auth,
            sessions: Arc::new(Sessions::new(SESSION_TTL)),
            imports: Arc::default(),
            secure,
        }
    }
}

/// The console's routes.
pub fn router(state: ConsoleState) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/leads") }))
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-out", post(sign_out))
        .route("/leads", get(queue))
        .route("/leads/{lead_id}", get(lead))
        .route("/leads/{lead_id}/override", post(override_lead))
        .route("/leads/{lead_id}/override/clear", post(clear_override))
        .route(
            "/import",
            get(import::page)
                .post(import::upload)
                .layer(DefaultBodyLimit::max(import::MAX_UPLOAD_BYTES + 64 * 1024)),
        )
        .route("/import/{id}", get(import::status))
        .route("/import/{id}/results.csv", get(import::results))
        .route("/funnel", get(funnel::funnel))
        .route("/audit", get(audit::audit))
        .route("/profile", get(profile::show).post(profile::publish))
        .route("/profile/preview", post(profile::preview))
        .route("/static/console.css", get(css))
        .fallback(|| async { page_error(StatusCode::NOT_FOUND, "No such page.") })
        .with_state(state)
}

/// The console's listener, bound, with its TLS settings when the service
/// has them.
pub struct ConsoleListener {
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl ConsoleListener {
    /// Binds `address`; with `tls` (the gRPC listener's certificate and
    /// key) the console is served over TLS too.
    pub async fn bind(address: SocketAddr, tls: Option<&TlsFiles>) -> anyhow::Result<Self> {
        let tls = tls.map(tls::acceptor).transpose()?;
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address} for the console"))?;
        Ok(Self { listener, tls })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Whether pages go over TLS (and cookies are Secure).
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Serves until `shutdown` resolves.
    pub async fn serve(
        self,
        state: ConsoleState,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let address = self.local_addr();
        tracing::info!(%address, tls = self.tls.is_some(), "console listening");
        let app = router(state);
        match self.tls {
            None => axum::serve(self.listener, app)
                .with_graceful_shutdown(shutdown)
                .await
                .context("the console server failed"),
            Some(acceptor) => axum::serve(tls::Listener::new(self.listener, acceptor), app)
                .with_graceful_shutdown(shutdown)
                .await
                .context("the console server failed"),
        }
    }
}

async fn css() -> Response {
    (
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (CACHE_CONTROL, HeaderValue::from_static("max-age=3600")),
        ],
        CSS,
    )
        .into_response()
}

/// A page as the response, never cached (it shows a tenant's data).
fn html(status: StatusCode, markup: maud::Markup) -> Response {
    (
        status,
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        markup.into_string(),
    )
        .into_response()
}

fn page_error(status: StatusCode, message: &str) -> Response {
    html(status, pages::error(None, status, message, &[]))
}

/// An application error as a page, with the status it stands for.
fn app_error(user: Option<&SignedIn>, e: AppError) -> Response {
    let (status, message, fields) = match e {
        AppError::NotFound(m) => (StatusCode::NOT_FOUND, m, Vec::new()),
        AppError::PermissionDenied(m) => (StatusCode::FORBIDDEN, m, Vec::new()),
        AppError::InvalidArgument(v) => (
            StatusCode::BAD_REQUEST,
            "The form has errors.".to_owned(),
            v.into_iter()
                .map(|v| format!("{}: {}", v.field, v.description))
                .collect(),
        ),
        AppError::FailedPrecondition(m) => (StatusCode::CONFLICT, m, Vec::new()),
        other => {
            tracing::error!(error = %other, "console request failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "The service cannot answer now; try again shortly.".to_owned(),
                Vec::new(),
            )
        }
    };
    html(status, pages::error(user, status, &message, &fields))
}

/// A signed-in user: who they act as, and their session's CSRF token.
pub struct SignedIn {
    pub caller: Caller,
    pub csrf: String,
}

/// Why a request has no signed-in user: sent to sign in.
pub struct SignInFirst {
    next: String,
}

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        let next = query_value(&self.next);
        Redirect::to(&format!("/sign-in?next={next}")).into_response()
    }
}

/// What a query value keeps as it is: RFC 3986's unreserved characters and
/// `/`; every other byte is percent-encoded (`&`, `#`, `+`, `%`, spaces, …).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// What a path segment keeps as it is: the unreserved characters only, so a
/// `/` or `?` in a lead id stays inside its segment.
const PATH_SEGMENT: &AsciiSet = &QUERY_VALUE.add(b'/');

/// `value` as a query parameter's value.
pub(crate) fn query_value(value: &str) -> String {
    utf8_percent_encode(value, QUERY_VALUE).to_string()
}

/// The page of the lead `lead_id`, whatever characters its id has.
pub(crate) fn lead_href(lead_id: &str) -> String {
    format!("/leads/{}", utf8_percent_encode(lead_id, PATH_SEGMENT))
}

impl FromRequestParts<ConsoleState> for SignedIn {
    type Rejection = SignInFirst;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ConsoleState,
    ) -> Result<Self, Self::Rejection> {
        let next = parts
            .uri
            .path_and_query()
            .map_or("/leads", |p| p.as_str())
            .to_owned();
        let jar = CookieJar::from_headers(&parts.headers);
        let session_id = jar.get(SESSION_COOKIE).map(|c| c.value().to_owned());
        let Some((id, session)) =
            session_id.and_then(|id| state.sessions.get(&id).map(|s| (id, s)))
        else {
            return Err(SignInFirst { next });
        };
        let authorization = session.secret.as_ref().map(|s| format!("Bearer {s}"));
        match state.auth.authenticate(authorization.as_deref()).await {
            Ok(caller) => Ok(SignedIn {
                caller,
                csrf: session.csrf,
            }),
            Err(_) => {
                // Revoked, or keys now exist for a keyless session.
                state.sessions.remove(&id);
                Err(SignInFirst { next })
            }
        }
    }
}

impl SignedIn {
    /// The refusal page unless the role includes `needed`.
    fn refused_without(&self, needed: Role) -> Option<Response> {
        self.caller
            .require(needed)
            .err()
            .map(|e| app_error(Some(self), e))
    }

    /// 403 unless `token` is this session's CSRF token.
    fn refused_csrf(&self, token: &str) -> Option<Response> {
        if same_token(token, &self.csrf) {
            None
        } else {
            Some(html(
                StatusCode::FORBIDDEN,
                pages::error(
                    Some(self),
                    StatusCode::FORBIDDEN,
                    "The form was not sent from this console's page (its CSRF token is missing \
                     or stale). Reload the page and send it again.",
                    &[],
                ),
            ))
        }
    }
}

/// Where to go after signing in: a path of this console only.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && n.len() <= 2048
                && n.chars().all(|c| !c.is_control()) =>
        {
            n.to_owned()
        }
        _ => "/leads".to_owned(),
    }
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn sign_in_page(
    State(state): State<ConsoleState>,
    Query(q): Query<NextQuery>,
    jar: CookieJar,
) -> Response {
    let token = session::token();
    let jar = jar.add(session::cookie(
        SIGN_IN_COOKIE,
        token.clone(),
        Duration::from_secs(3600),
        state.secure,
    ));
    let next = safe_next(q.next.as_deref());
    (
        jar,
        html(StatusCode::OK, pages::sign_in(&token, &next, None)),
    )
        .into_response()
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

async fn sign_in(
    State(state): State<ConsoleState>,
    jar: CookieJar,
    Form(form): Form<SignInForm>,
) -> Response {
    let next = safe_next(Some(&form.next));
    let paired = jar
        .get(SIGN_IN_COOKIE)
        .is_some_and(|c| same_token(c.value(), &form.csrf));
    if !paired {
        return page_error(
            StatusCode::FORBIDDEN,
            "The sign-in form was not sent from this console's sign-in page. Open /sign-in and \
             try again.",
        );
    }
    let again = |message: &str| {
        html(
            StatusCode::UNAUTHORIZED,
            pages::sign_in(&form.csrf, &next, Some(message)),
        )
    };
    let key = form.key.trim();
    if key.len() > MAX_FIELD_BYTES {
        return again("That is not an API key.");
    }
    let secret = (!key.is_empty()).then(|| key.to_owned());
    let authorization = secret.as_ref().map(|s| format!("Bearer {s}"));
    if let Err(e) = state.auth.authenticate(authorization.as_deref()).await {
        return match e {
            AppError::Unauthenticated(_) if secret.is_none() => again("An API key is required."),
            AppError::Unauthenticated(_) => again("The API key is invalid or revoked."),
            other => app_error(None, other),
        };
    }
    let Some((id, _)) = state.sessions.create(secret) else {
        return page_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many open sessions; try again later.",
        );
    };
    let jar = jar
        .add(session::cookie(
            SESSION_COOKIE,
            id,
            state.sessions.ttl(),
            state.secure,
        ))
        .add(session::expired(SIGN_IN_COOKIE, state.secure));
    (jar, Redirect::to(&next)).into_response()
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn sign_out(
    State(state): State<ConsoleState>,
    user: SignedIn,
    jar: CookieJar,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(refused) = user.refused_csrf(&form.csrf) {
        return refused;
    }
    if let Some(c) = jar.get(SESSION_COOKIE) {
        state.sessions.remove(c.value());
    }
    let jar = jar.add(session::expired(SESSION_COOKIE, state.secure));
    (jar, Redirect::to("/sign-in")).into_response()
}

/// The review queue's filters, as query parameters.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct QueueQuery {
    /// Effective outcome: qualified, needs_review, disqualified.
    pub outcome: Option<String>,
    pub stage: Option<String>,
    /// A lead id to go to.
    pub lead_id: Option<String>,
    /// Where the page starts: after the lead of this cursor.
    pub after: Option<String>,
}

fn parse_outcome(text: &str) -> Option<Outcome> {
    Outcome::from_code(&text.to_ascii_uppercase())
}

fn parse_stage(text: &str) -> Option<Stage> {
    Stage::from_code(&text.to_ascii_uppercase())
}

/// The cursor of a queue page: the last lead's update time (microseconds)
/// and id.
fn parse_cursor(text: &str) -> Option<(jiff::Timestamp, String)> {
    let (micros, lead_id) = text.split_once(':')?;
    let at = jiff::Timestamp::from_microsecond(micros.parse().ok()?).ok()?;
    let lead_id = LeadId::parse(lead_id).ok()?;
    Some((at, lead_id.as_str().to_owned()))
}

pub fn cursor_of(at: jiff::Timestamp, lead_id: &str) -> String {
    format!("{}:{lead_id}", at.as_microsecond())
}

async fn queue(
    State(state): State<ConsoleState>,
    user: SignedIn,
    Query(q): Query<QueueQuery>,
) -> Response {
    if let Some(refused) = user.refused_without(Role::Reader) {
        return refused;
    }
    if let Some(lead_id) = q
        .lead_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        return match LeadId::parse(lead_id) {
            Ok(id) => Redirect::to(&lead_href(id.as_str())).into_response(),
            Err(e) => app_error(
                Some(&user),
                AppError::InvalidArgument(vec![crate::domain::Violation::new("lead_id", e)]),
            ),
        };
    }
    let mut bad = Vec::new();
    let outcome = match q.outcome.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => parse_outcome(text).or_else(|| {
            bad.push(crate::domain::Violation::new(
                "outcome",
                "use qualified, needs_review or disqualified",
            ));
            None
        }),
    };
    let stage = match q.stage.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => parse_stage(text).or_else(|| {
            bad.push(crate::domain::Violation::new(
                "stage",
                "use identification, contact, study or recommendation",
            ));
            None
        }),
    };
    let after = match q.after.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => parse_cursor(text).or_else(|| {
            bad.push(crate::domain::Violation::new(
                "after",
                "not a page of this queue",
            ));
            None
        }),
    };
    if !bad.is_empty() {
        return app_error(Some(&user), AppError::InvalidArgument(bad));
    }
    let filter = LeadFilter {
        stage,
        effective_outcome: outcome,
        ..LeadFilter::default()
    };
    match state
        .qualifier
        .recent_leads(&user.caller.tenant, filter, after, QUEUE_PAGE)
        .await
    {
        Ok((leads, more)) => {
            let next = more.then(|| {
                leads
                    .last()
                    .map(|l| cursor_of(l.lead.updated_at, &l.lead.lead_id))
            });
            html(
                StatusCode::OK,
                pages::queue(&user, &leads, outcome, stage, next.flatten().as_deref()),
            )
        }
        Err(e) => app_error(Some(&user), e),
    }
}

async fn lead(
    State(state): State<ConsoleState>,
    user: SignedIn,
    Path(lead_id): Path<String>,
) -> Response {
    if let Some(refused) = user.refused_without(Role::Reader) {
        return refused;
    }
    let lead_id = match LeadId::parse(&lead_id) {
        Ok(id) => id,
        Err(_) => return page_error(StatusCode::NOT_FOUND, "No such lead."),
    };
    let tenant = &user.caller.tenant;
    let view = match state.qualifier.get_lead(tenant, &lead_id).await {
        Ok(view) => view,
        Err(e) => return app_error(Some(&user), e),
    };
    let history = match state
        .qualifier
        .list_verdicts(tenant, &lead_id, None, HISTORY)
        .await
    {
        Ok((verdicts, _)) => verdicts,
        Err(e) => return app_error(Some(&user), e),
    };
    let can_override = user.caller.role.includes(Role::Scorer);
    html(
        StatusCode::OK,
        pages::lead(&user, &view, &history, can_override),
    )
}

#[derive(Deserialize)]
struct OverrideForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    author: String,
    /// YYYY-MM-DD: the override applies until the end of that day (UTC).
    #[serde(default)]
    expires: String,
}

async fn override_lead(
    State(state): State<ConsoleState>,
    user: SignedIn,
    Path(lead_id): Path<String>,
    Form(form): Form<OverrideForm>,
) -> Response {
    if let Some(refused) = user
        .refused_csrf(&form.csrf)
        .or_else(|| user.refused_without(Role::Scorer))
    {
        return refused;
    }
    let mut violations = Vec::new();
    let expire_time = match form.expires.trim() {
        "" => None,
        text => match text.parse::<jiff::civil::Date>() {
            Ok(day) => day
                .tomorrow()
                .ok()
                .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
                .map(|z| convert::timestamp(z.timestamp())),
            Err(_) => {
                violations.push(crate::domain::Violation::new(
                    "expires",
                    "must be a date as YYYY-MM-DD",
                ));
                None
            }
        },
    };
    let request = pb::OverrideVerdictRequest {
        lead_id: lead_id.clone(),
        outcome: parse_outcome(&form.outcome).map_or(0, |o| o as i32),
        reason: form.reason,
        author: form.author,
        expire_time,
    };
    let command = match convert::override_command(request) {
        Ok(command) if violations.is_empty() => command,
        Ok(_) => return app_error(Some(&user), AppError::InvalidArgument(violations)),
        Err(mut v) => {
            v.extend(violations);
            return app_error(Some(&user), AppError::InvalidArgument(v));
        }
    };
    match state
        .qualifier
        .override_verdict(&user.caller.tenant, &user.caller.actor, command)
        .await
    {
        Ok(_) => Redirect::to(&lead_href(&lead_id)).into_response(),
        Err(e) => app_error(Some(&user), e),
    }
}

#[derive(Deserialize)]
struct ClearForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

async fn clear_override(
    State(state): State<ConsoleState>,
    user: SignedIn,
    Path(lead_id): Path<String>,
    Form(form): Form<ClearForm>,
) -> Response {
    if let Some(refused) = user
        .refused_csrf(&form.csrf)
        .or_else(|| user.refused_without(Role::Scorer))
    {
        return refused;
    }
    let request = pb::ClearOverrideRequest {
        lead_id: lead_id.clone(),
        reason: form.reason,
    };
    let (id, reason) = match convert::clear_override_command(&request) {
        Ok(command) => command,
        Err(v) => return app_error(Some(&user), AppError::InvalidArgument(v)),
    };
    match state
        .qualifier
        .clear_override(&user.caller.tenant, &user.caller.actor, &id, reason)
        .await
    {
        Ok(_) => Redirect::to(&lead_href(&lead_id)).into_response(),
        Err(e) => app_error(Some(&user), e),
    }
}
