//! `/import`: a CSV or JSON Lines file of leads, uploaded from the browser,
//! read exactly as `leadqual qualify` reads it (same columns, same request
//! ids derived from each row's content, so uploading a file again stores
//! nothing twice) and qualified row by row through the same validation as
//! QualifyLead. The job runs in the server; its page shows a progress bar
//! that refreshes itself, then the counts, the bad rows with their line
//! numbers and a result file to download.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Cursor;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Multipart, Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::{ConsoleState, SignedIn, app_error, html, pages};
use crate::auth::Role;
use crate::cli::args::FileFormat;
use crate::cli::qualify::read_rows;
use crate::cli::rows::RequestIds;
use crate::domain::{SignalStatus, Violation};
use crate::error::AppError;
use crate::grpc::convert;
use crate::proto::v1 as pb;

/// Largest file accepted, in bytes.
pub const MAX_UPLOAD_BYTES: usize = 32 * 1024 * 1024;
/// Most rows of one file.
pub const MAX_ROWS: usize = 200_000;
/// Jobs kept per tenant (the oldest finished ones go first).
const JOBS_PER_TENANT: usize = 20;
/// Bad rows listed on the page (all are in the result file).
const BAD_ROWS_SHOWN: usize = 200;
/// Rows qualified at once (rows of one lead never together).
const IN_FLIGHT: usize = 16;

/// One row's result.
#[derive(Clone)]
enum RowOutcome {
    Stored {
        outcome: &'static str,
        score: i32,
        fired: String,
        replayed: bool,
    },
    /// Refused: by the reader (bad cell) or by validation or the service.
    Refused { reason: String },
}

#[derive(Clone)]
struct RowResult {
    line: u64,
    lead_id: String,
    outcome: RowOutcome,
}

/// An import as it goes.
struct Job {
    file_name: String,
    total: usize,
    results: Vec<RowResult>,
    /// Why the file as a whole was refused (a bad CSV header, an unreadable
    /// line), if it was.
    fatal: Option<String>,
    done: bool,
}

/// The imports of this process, per tenant.
#[derive(Default)]
pub struct Imports {
    jobs: Mutex<HashMap<String, Arc<Mutex<Job>>>>,
    by_tenant: Mutex<HashMap<String, VecDeque<String>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Imports {
    /// Job ids carry the tenant, so a job is found only by its own tenant.
    fn key(tenant: &str, id: &str) -> String {
        format!("{tenant}/{id}")
    }

    fn start(&self, tenant: &str, job: Job) -> (String, Arc<Mutex<Job>>) {
        let id = super::session::token()[..24].to_owned();
        let job = Arc::new(Mutex::new(job));
        lock(&self.jobs).insert(Self::key(tenant, &id), job.clone());
        let mut by_tenant = lock(&self.by_tenant);
        let ids = by_tenant.entry(tenant.to_owned()).or_default();
        ids.push_back(id.clone());
        while ids.len() > JOBS_PER_TENANT {
            if let Some(old) = ids.pop_front() {
                lock(&self.jobs).remove(&Self::key(tenant, &old));
            }
        }
        (id, job)
    }

    fn get(&self, tenant: &str, id: &str) -> Option<Arc<Mutex<Job>>> {
        lock(&self.jobs).get(&Self::key(tenant, id)).cloned()
    }

    fn recent(&self, tenant: &str) -> Vec<(String, String, bool)> {
        let ids: Vec<String> = lock(&self.by_tenant)
            .get(tenant)
            .map(|ids| ids.iter().rev().cloned().collect())
            .unwrap_or_default();
        ids.into_iter()
            .filter_map(|id| {
                let job = self.get(tenant, &id)?;
                let job = lock(&job);
                Some((id, job.file_name.clone(), job.done))
            })
            .collect()
    }
}

pub async fn page(State(state): State<ConsoleState>, user: SignedIn) -> Response {
    if let Some(refused) = user.refused_without(Role::Scorer) {
        return refused;
    }
    let recent = state.imports.recent(&user.caller.tenant);
    html(StatusCode::OK, form_page(&user, &recent))
}

fn form_page(user: &SignedIn, recent: &[(String, String, bool)]) -> Markup {
    pages::layout(
        Some(user),
        "Import",
        html! {
            h1 { "Import leads" }
            p { "A CSV file with a header row, or JSON Lines (one object per line), with the columns of "
                code { "leadqual qualify" } ": " code { "lead_id" } " (required), " code { "stage" } ", "
                code { "request_id" } " and any LeadFacts field by its API name. Empty cells are facts not sent. "
                "Uploading the same file again stores nothing twice." }
            form method="post" action="/import" enctype="multipart/form-data" class="stack" {
                input type="hidden" name="csrf" value=(user.csrf);
                label for="file" { "File (.csv or .jsonl, at most 32 MiB)" }
                input type="file" id="file" name="file" accept=".csv,.jsonl,.ndjson,text/csv" required;
                button type="submit" { "Import" }
            }
            @if !recent.is_empty() {
                h2 { "Recent imports" }
                ul {
                    @for (id, name, done) in recent {
                        li { a href={ "/import/" (id) } { (name) } " — " (if *done { "finished" } else { "running" }) }
                    }
                }
            }
        },
    )
}

/// A form field's value, bounded.
async fn small_text(field: axum::extract::multipart::Field<'_>) -> Option<String> {
    let bytes = field.bytes().await.ok()?;
    (bytes.len() <= 4096).then(|| String::from_utf8_lossy(&bytes).into_owned())
}

pub async fn upload(
    State(state): State<ConsoleState>,
    user: SignedIn,
    mut multipart: Multipart,
) -> Response {
    // The role is known before the body is read; the token comes in it.
    if let Some(refused) = user.refused_without(Role::Scorer) {
        return refused;
    }
    let mut csrf = None;
    let mut file: Option<(String, Vec<u8>)> = None;
    let mut too_large = false;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => {
                too_large = e.status() == StatusCode::PAYLOAD_TOO_LARGE;
                break;
            }
        };
        match field.name() {
            Some("csrf") => csrf = small_text(field).await,
            Some("file") => {
                let name: String = field
                    .file_name()
                    .unwrap_or("upload")
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(200)
                    .collect();
                match field.bytes().await {
                    Ok(bytes) => file = Some((name, bytes.to_vec())),
                    Err(e) => {
                        too_large = e.status() == StatusCode::PAYLOAD_TOO_LARGE;
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(refused) = user.refused_csrf(csrf.as_deref().unwrap_or("")) {
        return refused;
    }
    let invalid = |description: String| {
        app_error(
            Some(&user),
            AppError::InvalidArgument(vec![Violation::new("file", description)]),
        )
    };
    if too_large {
        return invalid(format!("must be at most {} MiB", MAX_UPLOAD_BYTES >> 20));
    }
    let Some((name, bytes)) = file else {
        return invalid("choose a file to import".to_owned());
    };
    let lower = name.to_ascii_lowercase();
    let format = if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
        FileFormat::Jsonl
    } else {
        FileFormat::Csv
    };
    // Reading is CPU work: off the runtime's threads.
    let read = tokio::task::spawn_blocking(move || read_file(bytes, format)).await;
    let (rows, fatal) = match read {
        Ok(Ok(read)) => read,
        Ok(Err(message)) => return invalid(message),
        Err(_) => return invalid("the file could not be read".to_owned()),
    };
    let job = Job {
        file_name: name,
        total: rows.len(),
        results: Vec::with_capacity(rows.len()),
        fatal,
        done: false,
    };
    let (id, job) = state.imports.start(&user.caller.tenant, job);
    let tenant = user.caller.tenant.clone();
    let qualifier = state.qualifier.clone();
    tokio::spawn(run(qualifier, tenant, rows, job));
    Redirect::to(&format!("/import/{id}")).into_response()
}

/// A row as read: its line and lead id, and the request or why not.
type ReadRow = (u64, String, Result<pb::QualifyLeadRequest, String>);

/// Every row of the file; the reason the file stops being readable, if it
/// does. `Err` when the file is refused as a whole.
fn read_file(bytes: Vec<u8>, format: FileFormat) -> Result<(Vec<ReadRow>, Option<String>), String> {
    let mut rows: Vec<ReadRow> = Vec::new();
    let mut ids = RequestIds::default();
    let mut too_many = false;
    let mut hand_on = |line: u64,
                       _end: u64,
                       lead_id: String,
                       parsed: Result<crate::cli::rows::ParsedRow, crate::cli::rows::RowError>|
     -> bool {
        if rows.len() >= MAX_ROWS {
            too_many = true;
            return false;
        }
        let lead_id: String = lead_id.chars().take(128).collect();
        rows.push(match parsed {
            Ok(crate::cli::rows::ParsedRow { mut request }) => {
                ids.assign(&mut request);
                (line, lead_id, Ok(request))
            }
            Err(e) => (line, lead_id, Err(e.to_string())),
        });
        true
    };
    let fatal = read_rows(Box::new(Cursor::new(bytes)), format, &mut hand_on)
        .map_err(|e| format!("{e:#}"))?
        .map(|(line, message)| format!("line {line}: {message}"));
    let fatal = fatal.or_else(|| {
        too_many.then(|| format!("the file has more than {MAX_ROWS} rows; the rest was not read"))
    });
    Ok((rows, fatal))
}

/// Qualifies the rows in order, a few at once (never two of one lead).
async fn run(
    qualifier: crate::qualification::Qualifier,
    tenant: String,
    rows: Vec<ReadRow>,
    job: Arc<Mutex<Job>>,
) {
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let mut batch = Vec::new();
        let mut leads = HashSet::new();
        while batch.len() < IN_FLIGHT {
            match rows.peek() {
                Some((_, lead_id, _)) if leads.insert(lead_id.clone()) => {
                    batch.extend(rows.next());
                }
                _ => break,
            }
        }
        let results =
            futures::future::join_all(batch.into_iter().map(|(line, lead_id, read)| {
                qualify_row(&qualifier, &tenant, line, lead_id, read)
            }))
            .await;
        lock(&job).results.extend(results);
    }
    lock(&job).done = true;
}

async fn qualify_row(
    qualifier: &crate::qualification::Qualifier,
    tenant: &str,
    line: u64,
    lead_id: String,
    read: Result<pb::QualifyLeadRequest, String>,
) -> RowResult {
    let refused = |reason: String| RowOutcome::Refused { reason };
    let outcome = match read.map_err(|e| vec![e]).and_then(|request| {
        convert::qualify_command(request).map_err(|v| {
            v.into_iter()
                .map(|v| format!("{}: {}", v.field, v.description))
                .collect()
        })
    }) {
        Err(reasons) => refused(reasons.join("; ")),
        Ok(command) => match qualifier.qualify(tenant, command).await {
            Ok(q) => stored(&q),
            Err(AppError::InvalidArgument(v)) => refused(
                v.iter()
                    .map(|v| format!("{}: {}", v.field, v.description))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            Err(e) => refused(e.to_string()),
        },
    };
    RowResult {
        line,
        lead_id,
        outcome,
    }
}

fn stored(q: &crate::qualification::Qualified) -> RowOutcome {
    let e = &q.verdict.evaluation;
    let fired: Vec<&str> = e
        .signals
        .iter()
        .filter(|s| s.status == SignalStatus::Fired)
        .map(|s| s.criterion.code())
        .collect();
    RowOutcome::Stored {
        outcome: e.outcome.code(),
        score: e.score,
        fired: fired.join(" "),
        replayed: q.replayed,
    }
}

pub async fn status(
    State(state): State<ConsoleState>,
    user: SignedIn,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = user.refused_without(Role::Scorer) {
        return refused;
    }
    let Some(job) = state.imports.get(&user.caller.tenant, &id) else {
        return app_error(Some(&user), AppError::NotFound("no such import".into()));
    };
    let job = lock(&job);
    html(StatusCode::OK, status_page(&user, &id, &job))
}

fn status_page(user: &SignedIn, id: &str, job: &Job) -> Markup {
    let done = job.results.len();
    let stored = job
        .results
        .iter()
        .filter(|r| {
            matches!(
                r.outcome,
                RowOutcome::Stored {
                    replayed: false,
                    ..
                }
            )
        })
        .count();
    let replayed = job
        .results
        .iter()
        .filter(|r| matches!(r.outcome, RowOutcome::Stored { replayed: true, .. }))
        .count();
    let bad: Vec<&RowResult> = job
        .results
        .iter()
        .filter(|r| matches!(r.outcome, RowOutcome::Refused { .. }))
        .collect();
    pages::layout_refreshing(
        Some(user),
        "Import",
        !job.done,
        html! {
            h1 { "Import of " (job.file_name) }
            @if job.done { p { "Finished." } } @else { p { "Running: this page refreshes itself." } }
            label for="progress" { (done) " of " (job.total) " rows" }
            progress id="progress" max=(job.total.max(1)) value=(done) { (done) " of " (job.total) }
            ul {
                li { (stored) " stored" }
                li { (replayed) " already stored (same request id)" }
                li { (bad.len()) " refused" }
            }
            @if let Some(fatal) = &job.fatal { p role="alert" { "The file stops being readable at " (fatal) } }
            @if job.done {
                p { a href={ "/import/" (id) "/results.csv" } download { "Download the results (CSV)" } }
            }
            @if !bad.is_empty() {
                h2 { "Refused rows" }
                table {
                    thead { tr { th scope="col" class="num" { "Line" } th scope="col" { "Lead" } th scope="col" { "Why" } } }
                    tbody {
                        @for r in bad.iter().take(BAD_ROWS_SHOWN) {
                            tr {
                                td class="num" { (r.line) }
                                td { (r.lead_id) }
                                td { @if let RowOutcome::Refused { reason } = &r.outcome { (reason) } }
                            }
                        }
                    }
                }
                @if bad.len() > BAD_ROWS_SHOWN { p class="note" { "The first " (BAD_ROWS_SHOWN) " are shown; the result file has all of them." } }
            }
        },
    )
}

/// A cell a spreadsheet will not run as a formula: a leading =, +, - or @
/// gets a ' before it.
fn spreadsheet_safe(value: &str) -> std::borrow::Cow<'_, str> {
    if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}").into()
    } else {
        value.into()
    }
}

/// The result file: one line per row read, in file order.
fn results_csv(rows: &[RowResult]) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record([
        "line", "lead_id", "status", "outcome", "score", "fired", "reason",
    ])?;
    for r in rows {
        let line = r.line.to_string();
        let record = match &r.outcome {
            RowOutcome::Stored {
                outcome,
                score,
                fired,
                replayed,
            } => [
                line,
                r.lead_id.clone(),
                if *replayed { "REPLAYED" } else { "STORED" }.to_owned(),
                (*outcome).to_owned(),
                score.to_string(),
                fired.clone(),
                String::new(),
            ],
            RowOutcome::Refused { reason } => [
                line,
                r.lead_id.clone(),
                "REFUSED".to_owned(),
                String::new(),
                String::new(),
                String::new(),
                reason.clone(),
            ],
        };
        out.write_record(record.iter().map(|f| spreadsheet_safe(f).into_owned()))?;
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

pub async fn results(
    State(state): State<ConsoleState>,
    user: SignedIn,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = user.refused_without(Role::Scorer) {
        return refused;
    }
    let Some(job) = state.imports.get(&user.caller.tenant, &id) else {
        return app_error(Some(&user), AppError::NotFound("no such import".into()));
    };
    // Up to 200,000 rows: written off the runtime's threads.
    let written = tokio::task::spawn_blocking(move || {
        let rows = lock(&job).results.clone();
        results_csv(&rows)
    })
    .await;
    let Ok(Ok(body)) = written else {
        return app_error(
            Some(&user),
            AppError::Internal("the result file could not be written".into()),
        );
    };
    (
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"import-results.csv\""),
            ),
        ],
        body,
    )
        .into_response()
}
