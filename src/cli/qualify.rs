//! `leadqual qualify`: a CSV or JSON Lines file through one QualifyLeads
//! stream. The input is read on a thread of its own and the results written
//! as they come; at most a bounded window of rows is in flight (the channels
//! below and the stream's own flow control), so memory does not grow with
//! the file.

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, BufRead, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc;
use tonic::Status;

use super::args::{FileFormat, QualifyArgs};
use super::rows::{self, Cell, RequestIds, RowError};
use super::{code_name, connect, create_output, field_violations, open_input, render};
use crate::proto::v1 as pb;

/// Rows read ahead of the results written: requests queued for the stream
/// and rows waiting for their result.
const WINDOW: usize = 512;

/// Longest row read (a CSV record or a JSON line), in bytes.
pub const MAX_ROW_BYTES: u64 = 1024 * 1024;

/// Failed rows reported one by one on standard error; the rest are counted
/// (every one is in the output).
const MAX_FAILURES_SHOWN: u64 = 20;

/// What the reader hands on, in input order.
enum Pending {
    /// Sent on the stream; its result comes back in order.
    Sent {
        line: u64,
        lead_id: String,
        request_id: String,
        end: u64,
    },
    /// Not sent: the row cannot be read.
    Bad {
        line: u64,
        lead_id: String,
        error: RowError,
        end: u64,
    },
    /// The input cannot be read further.
    Fatal { line: u64, message: String },
}

/// One row's result, as written to the output.
struct RowResult {
    line: u64,
    lead_id: String,
    request_id: String,
    result: Result<Verdict, Failure>,
}

struct Verdict {
    outcome: i32,
    score: i32,
    fired: Vec<i32>,
    replayed: bool,
    verdict_id: String,
}

struct Failure {
    /// A gRPC code name, or `BAD_ROW` for a row never sent.
    code: String,
    message: String,
    violations: Vec<(String, String)>,
}

const BAD_ROW: &str = "BAD_ROW";

impl Failure {
    fn bad_row(error: &RowError) -> Failure {
        Failure {
            code: BAD_ROW.to_owned(),
            message: error.to_string(),
            violations: error
                .problems
                .iter()
                .map(|p| (p.column.clone(), p.reason.clone()))
                .collect(),
        }
    }

    fn status(status: &Status) -> Failure {
        Failure {
            code: code_name(status.code()).to_owned(),
            message: status.message().to_owned(),
            violations: field_violations(status),
        }
    }
}

fn format_of(path: &Path) -> Option<FileFormat> {
    if path.as_os_str() == "-" {
        return None;
    }
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "csv" => Some(FileFormat::Csv),
        "jsonl" | "ndjson" => Some(FileFormat::Jsonl),
        _ => None,
    }
}

pub async fn run(args: QualifyArgs) -> anyhow::Result<ExitCode> {
    let stdin = args.input.as_os_str() == "-";
    let in_format = match (args.format, format_of(&args.input)) {
        (Some(f), _) | (None, Some(f)) => f,
        (None, None) if stdin => FileFormat::Csv,
        (None, None) => anyhow::bail!(
            "cannot tell the format of {} from its extension: use --format csv or --format jsonl",
            args.input.display()
        ),
    };
    let out_format = match (args.output_format, format_of(&args.output)) {
        (Some(f), _) | (None, Some(f)) => f,
        (None, None) if args.output.as_os_str() == "-" => FileFormat::Jsonl,
        (None, None) => anyhow::bail!(
            "cannot tell the format of {} from its extension: use --output-format csv or --output-format jsonl",
            args.output.display()
        ),
    };
    let total_bytes = if stdin {
        None
    } else {
        std::fs::metadata(&args.input).ok().map(|m| m.len())
    };
    let source = Source::open(open_input(&args.input)?, in_format)?;
    let mut client = connect(&args.server).await?;
    let mut output = ResultWriter::new(create_output(&args.output)?, out_format)?;

    let (request_tx, mut request_rx) = mpsc::channel::<pb::QualifyLeadsRequest>(WINDOW);
    let (pending_tx, mut pending_rx) = mpsc::channel::<Pending>(WINDOW);
    // A thread of its own, not the runtime's blocking pool: a read blocked on
    // standard input must not keep the process from exiting.
    std::thread::spawn(move || source.read_all(&request_tx, &pending_tx));
    let requests = futures::stream::poll_fn(move |cx| request_rx.poll_recv(cx));
    let mut responses = client.qualify_leads(requests).await?.into_inner();

    let progress = Progress::new(total_bytes);
    let mut summary = Summary::default();
    let mut stream_error: Option<Status> = None;
    let mut fatal: Option<(u64, String)> = None;
    while let Some(pending) = pending_rx.recv().await {
        let (row, end) = match pending {
            Pending::Fatal { line, message } => {
                fatal = Some((line, message));
                break;
            }
            Pending::Bad {
                line,
                lead_id,
                error,
                end,
            } => (
                RowResult {
                    line,
                    lead_id,
                    request_id: String::new(),
                    result: Err(Failure::bad_row(&error)),
                },
                end,
            ),
            Pending::Sent {
                line,
                lead_id,
                request_id,
                end,
            } => {
                let result = match &stream_error {
                    Some(status) => Err(Failure::status(status)),
                    None => match next_result(&mut responses, line).await {
                        Ok(result) => result,
                        Err(status) => {
                            let failure = Failure::status(&status);
                            stream_error = Some(status);
                            // Stop the reader; what it already read still
                            // gets a result below.
                            pending_rx.close();
                            Err(failure)
                        }
                    },
                };
                (
                    RowResult {
                        line,
                        lead_id,
                        request_id,
                        result,
                    },
                    end,
                )
            }
        };
        output.write(&row)?;
        if let Err(failure) = &row.result
            && summary.failed() < MAX_FAILURES_SHOWN
        {
            progress.report(&describe_failure(&row, failure));
        }
        summary.add(&row);
        progress.advance(&summary, end);
    }
    output.finish()?;
    progress.finish();
    drop(responses);

    if summary.failed() > MAX_FAILURES_SHOWN {
        eprintln!(
            "... and {} more failed rows (each is in {})",
            summary.failed() - MAX_FAILURES_SHOWN,
            args.output.display()
        );
    }
    eprint!("{}", summary.render());
    let mut ok = summary.failed() == 0;
    if let Some(status) = &stream_error {
        ok = false;
        eprintln!(
            "error: the stream failed at line {}: {}",
            summary.last_line,
            super::describe_status(status)
        );
        eprintln!(
            "The rest of the input was not read. Run the same file again to go on: \
             rows already stored are not stored twice."
        );
    }
    if let Some((line, message)) = fatal {
        ok = false;
        eprintln!("error: {} line {line}: {message}", args.input.display());
        eprintln!("The rest of the input was not read.");
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The result for the row sent as `line`: the stream answers in order.
async fn next_result(
    responses: &mut tonic::Streaming<pb::QualifyLeadsResponse>,
    line: u64,
) -> Result<Result<Verdict, Failure>, Status> {
    let Some(answer) = responses.message().await? else {
        return Err(Status::unavailable(
            "the server ended the stream before answering every row",
        ));
    };
    if answer.correlation_id != line.to_string() {
        return Err(Status::internal(format!(
            "the server answered for {:?} where line {line} was expected",
            answer.correlation_id
        )));
    }
    match answer.result {
        Some(pb::qualify_leads_response::Result::Qualified(q)) => {
            let verdict = q.verdict.unwrap_or_default();
            Ok(Ok(Verdict {
                outcome: verdict.outcome,
                score: verdict.score,
                fired: verdict
                    .signals
                    .iter()
                    .filter(|s| s.status == pb::SignalStatus::Fired as i32)
                    .map(|s| s.criterion)
                    .collect(),
                replayed: q.replayed,
                verdict_id: verdict.verdict_id,
            }))
        }
        Some(pb::qualify_leads_response::Result::Error(e)) => {
            Ok(Err(Failure::status(&super::status_from_rpc(&e))))
        }
        None => Err(Status::internal(format!(
            "the server answered line {line} with neither a verdict nor an error"
        ))),
    }
}

fn describe_failure(row: &RowResult, failure: &Failure) -> String {
    let lead = if row.lead_id.is_empty() {
        String::new()
    } else {
        format!(" (lead {})", row.lead_id)
    };
    if failure.code == BAD_ROW {
        return format!(
            "line {}{lead}: bad row, not sent: {}",
            row.line, failure.message
        );
    }
    let mut text = format!(
        "line {}{lead}: {}: {}",
        row.line, failure.code, failure.message
    );
    for (field, description) in &failure.violations {
        text.push_str(&format!("\n  - {field}: {description}"));
    }
    text
}

/// Counts kept for the summary.
#[derive(Default)]
struct Summary {
    rows: u64,
    qualified: u64,
    replayed: u64,
    bad_rows: u64,
    refused: u64,
    last_line: u64,
    outcomes: BTreeMap<i32, u64>,
    fired: BTreeMap<i32, u64>,
}

impl Summary {
    fn failed(&self) -> u64 {
        self.bad_rows + self.refused
    }

    fn add(&mut self, row: &RowResult) {
        self.rows += 1;
        self.last_line = row.line;
        match &row.result {
            Ok(v) => {
                self.qualified += 1;
                self.replayed += u64::from(v.replayed);
                *self.outcomes.entry(v.outcome).or_default() += 1;
                for c in &v.fired {
                    *self.fired.entry(*c).or_default() += 1;
                }
            }
            Err(f) if f.code == BAD_ROW => self.bad_rows += 1,
            Err(_) => self.refused += 1,
        }
    }

    fn render(&self) -> String {
        let mut out = format!("rows read   {}\n", self.rows);
        out.push_str(&format!("qualified   {}", self.qualified));
        if self.replayed > 0 {
            out.push_str(&format!(
                " ({} replayed: stored by an earlier run, not stored again)",
                self.replayed
            ));
        }
        out.push('\n');
        out.push_str(&format!("failed      {}", self.failed()));
        if self.failed() > 0 {
            out.push_str(&format!(
                " (bad rows not sent: {}, refused by the server: {})",
                self.bad_rows, self.refused
            ));
        }
        out.push('\n');
        let outcomes = [
            pb::Outcome::Qualified,
            pb::Outcome::NeedsReview,
            pb::Outcome::Disqualified,
        ]
        .iter()
        .map(|o| {
            let n = self.outcomes.get(&(*o as i32)).copied().unwrap_or(0);
            format!("{} {n}", render::outcome(*o as i32))
        })
        .collect::<Vec<_>>();
        out.push_str(&format!("outcomes    {}\n", outcomes.join(", ")));
        let mut fired: Vec<(i32, u64)> = self.fired.iter().map(|(c, n)| (*c, *n)).collect();
        fired.sort_by_key(|(c, n)| (std::cmp::Reverse(*n), *c));
        let top = fired
            .iter()
            .take(5)
            .map(|(c, n)| format!("{} {n}", render::criterion(*c)))
            .collect::<Vec<_>>();
        out.push_str(&format!(
            "top fired   {}\n",
            if top.is_empty() {
                "none".to_owned()
            } else {
                top.join(", ")
            }
        ));
        out
    }
}

/// A progress bar on standard error when it is a terminal; nothing
/// otherwise.
struct Progress {
    bar: ProgressBar,
    by_bytes: bool,
}

impl Progress {
    fn new(total_bytes: Option<u64>) -> Progress {
        let visible = io::stderr().is_terminal();
        let (bar, by_bytes) = match total_bytes {
            Some(total) if total > 0 => (ProgressBar::new(total), true),
            _ => (ProgressBar::no_length(), false),
        };
        if !visible {
            bar.set_draw_target(ProgressDrawTarget::hidden());
            return Progress { bar, by_bytes };
        }
        let style = if by_bytes {
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% {msg}, ETA {eta}",
            )
        } else {
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
        };
        if let Ok(style) = style {
            bar.set_style(style);
        }
        bar.set_message("0 rows");
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar, by_bytes }
    }

    fn advance(&self, summary: &Summary, end: u64) {
        if self.by_bytes {
            self.bar.set_position(end);
        }
        if summary.rows % 64 == 1 {
            self.set_message(summary);
        }
    }

    fn set_message(&self, summary: &Summary) {
        let secs = self.bar.elapsed().as_secs_f64().max(1e-3);
        self.bar.set_message(format!(
            "{} rows ({} failed), {:.0} rows/s",
            summary.rows,
            summary.failed(),
            summary.rows as f64 / secs
        ));
    }

    /// A line above the bar.
    fn report(&self, text: &str) {
        self.bar.suspend(|| eprintln!("{text}"));
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Writes results as CSV or JSON Lines.
enum ResultWriter {
    Csv(Box<csv::Writer<Box<dyn Write + Send>>>),
    Jsonl(BufWriter<Box<dyn Write + Send>>),
}

const OUTPUT_COLUMNS: [&str; 11] = [
    "line",
    "lead_id",
    "request_id",
    "outcome",
    "score",
    "fired",
    "replayed",
    "verdict_id",
    "error_code",
    "error_message",
    "field_violations",
];

impl ResultWriter {
    fn new(out: Box<dyn Write + Send>, format: FileFormat) -> anyhow::Result<ResultWriter> {
        Ok(match format {
            FileFormat::Csv => {
                let mut w = csv::Writer::from_writer(out);
                w.write_record(OUTPUT_COLUMNS)?;
                ResultWriter::Csv(Box::new(w))
            }
            FileFormat::Jsonl => ResultWriter::Jsonl(BufWriter::new(out)),
        })
    }

    fn write(&mut self, row: &RowResult) -> anyhow::Result<()> {
        match self {
            ResultWriter::Csv(w) => w.write_record(csv_record(row))?,
            ResultWriter::Jsonl(w) => {
                serde_json::to_writer(&mut *w, &json_record(row))?;
                w.write_all(b"\n")?;
            }
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        match self {
            ResultWriter::Csv(mut w) => w.flush()?,
            ResultWriter::Jsonl(mut w) => w.flush()?,
        }
        Ok(())
    }
}

fn csv_record(row: &RowResult) -> [String; 11] {
    let mut r: [String; 11] = Default::default();
    r[0] = row.line.to_string();
    r[1] = row.lead_id.clone();
    r[2] = row.request_id.clone();
    match &row.result {
        Ok(v) => {
            r[3] = render::outcome(v.outcome).to_owned();
            r[4] = v.score.to_string();
            r[5] = v
                .fired
                .iter()
                .map(|c| render::criterion(*c))
                .collect::<Vec<_>>()
                .join(";");
            r[6] = v.replayed.to_string();
            r[7] = v.verdict_id.clone();
        }
        Err(f) => {
            r[8] = f.code.clone();
            r[9] = f.message.clone();
            r[10] = f
                .violations
                .iter()
                .map(|(field, d)| format!("{field}: {d}"))
                .collect::<Vec<_>>()
                .join("; ");
        }
    }
    r
}

/// A result line of JSON Lines output, fields in this order.
#[derive(serde::Serialize)]
struct JsonResult<'a> {
    line: u64,
    lead_id: &'a str,
    request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fired: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replayed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verdict_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<JsonError<'a>>,
}

#[derive(serde::Serialize)]
struct JsonError<'a> {
    code: &'a str,
    message: &'a str,
    field_violations: Vec<JsonViolation<'a>>,
}

#[derive(serde::Serialize)]
struct JsonViolation<'a> {
    field: &'a str,
    description: &'a str,
}

fn json_record(row: &RowResult) -> JsonResult<'_> {
    let mut out = JsonResult {
        line: row.line,
        lead_id: &row.lead_id,
        request_id: &row.request_id,
        outcome: None,
        score: None,
        fired: None,
        replayed: None,
        verdict_id: None,
        error: None,
    };
    match &row.result {
        Ok(v) => {
            out.outcome = Some(render::outcome(v.outcome));
            out.score = Some(v.score);
            out.fired = Some(v.fired.iter().map(|c| render::criterion(*c)).collect());
            out.replayed = Some(v.replayed);
            out.verdict_id = Some(&v.verdict_id);
        }
        Err(f) => {
            out.error = Some(JsonError {
                code: &f.code,
                message: &f.message,
                field_violations: f
                    .violations
                    .iter()
                    .map(|(field, description)| JsonViolation { field, description })
                    .collect(),
            });
        }
    }
    out
}

/// Counts the bytes and line ends read, and refuses to read more than
/// [`MAX_ROW_BYTES`] (plus what the CSV reader buffers ahead) past the end of
/// the last row: a runaway row (a quote never closed) stops the reading
/// instead of filling memory.
struct Bounded<R> {
    inner: R,
    read: u64,
    row_start: u64,
    /// Offsets of the `\r` and `\n` bytes read but not yet behind a row,
    /// and whether each ends a line: a `\n`, or a `\r` not followed by one
    /// (the CSV reader ends a row at either).
    breaks: VecDeque<(u64, bool)>,
    /// The last byte read was a `\r` (the last of `breaks`): a line end
    /// unless a `\n` follows.
    carriage_return: bool,
    /// Line ends behind the rows handed on.
    lines_before: u64,
}

/// What the CSV reader may have buffered beyond the row it is on.
const READ_AHEAD: u64 = 64 * 1024;

impl<R> Bounded<R> {
    fn new(inner: R) -> Bounded<R> {
        Bounded {
            inner,
            read: 0,
            row_start: 0,
            breaks: VecDeque::new(),
            carriage_return: false,
            lines_before: 0,
        }
    }

    /// The line (from 1) on which the row read from offset `start` begins:
    /// the first byte there that is not a line end, since the CSV reader
    /// skips blank lines (and counts a CRLF's `\n` with the row after).
    /// Counted from where a row starts, not where it ends, so that a quoted
    /// cell over several lines, closed or not, does not shift it.
    fn row_starts_on(&mut self, start: u64) -> u64 {
        let mut first = start;
        while let Some(&(at, ends_line)) = self.breaks.front() {
            if at > first {
                break;
            }
            if at == first {
                first += 1;
            }
            self.breaks.pop_front();
            self.lines_before += u64::from(ends_line);
        }
        self.lines_before + 1
    }

    /// The row before `end` is handed on: the next may be as long again.
    fn row_ends_at(&mut self, end: u64) {
        self.row_start = end;
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.read.saturating_sub(self.row_start) > MAX_ROW_BYTES + READ_AHEAD {
            return Err(io::Error::other(format!(
                "a row longer than {} KiB (an unclosed quote?)",
                MAX_ROW_BYTES / 1024
            )));
        }
        let n = self.inner.read(buf)?;
        for (i, &b) in buf[..n].iter().enumerate() {
            if std::mem::take(&mut self.carriage_return)
                && b != b'\n'
                && let Some(cr) = self.breaks.back_mut()
            {
                cr.1 = true;
            }
            match b {
                b'\n' => self.breaks.push_back((self.read + i as u64, true)),
                b'\r' => {
                    self.breaks.push_back((self.read + i as u64, false));
                    self.carriage_return = true;
                }
                _ => {}
            }
        }
        if n == 0
            && std::mem::take(&mut self.carriage_return)
            && let Some(cr) = self.breaks.back_mut()
        {
            cr.1 = true;
        }
        self.read += n as u64;
        Ok(n)
    }
}

/// The input, once its header (for CSV) is checked.
enum Source {
    Csv {
        reader: csv::Reader<Bounded<Box<dyn Read + Send>>>,
        columns: Vec<String>,
    },
    Jsonl(BufReader<Box<dyn Read + Send>>),
}

impl Source {
    fn open(input: Box<dyn Read + Send>, format: FileFormat) -> anyhow::Result<Source> {
        match format {
            FileFormat::Jsonl => Ok(Source::Jsonl(BufReader::new(input))),
            FileFormat::Csv => {
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(true)
                    .flexible(false)
                    .from_reader(Bounded::new(input));
                let header = reader
                    .headers()
                    .map_err(|e| anyhow::anyhow!("line 1: cannot read the header: {e}"))?;
                let columns: Vec<String> = header
                    .iter()
                    .map(|c| c.trim().trim_start_matches('\u{feff}').to_owned())
                    .collect();
                check_header(&columns).map_err(|e| anyhow::anyhow!("line 1: {e}"))?;
                let end = reader.position().byte();
                reader.get_mut().row_ends_at(end);
                Ok(Source::Csv { reader, columns })
            }
        }
    }

    /// Reads every row, sending each good one on `requests` before handing
    /// it on in `pending`; stops when either channel is closed.
    fn read_all(
        self,
        requests: &mpsc::Sender<pb::QualifyLeadsRequest>,
        pending: &mpsc::Sender<Pending>,
    ) {
        let mut ids = RequestIds::default();
        let mut hand_on = |line: u64,
                           end: u64,
                           lead_id: String,
                           parsed: Result<rows::ParsedRow, RowError>|
         -> bool {
            let entry = match parsed {
                Ok(rows::ParsedRow { mut request }) => {
                    ids.assign(&mut request);
                    let request_id = request.request_id.clone();
                    let item = pb::QualifyLeadsRequest {
                        correlation_id: line.to_string(),
                        request: Some(request),
                    };
                    if requests.blocking_send(item).is_err() {
                        return false;
                    }
                    Pending::Sent {
                        line,
                        lead_id,
                        request_id,
                        end,
                    }
                }
                Err(error) => Pending::Bad {
                    line,
                    lead_id,
                    error,
                    end,
                },
            };
            pending.blocking_send(entry).is_ok()
        };
        if let Some((line, message)) = self.read_rows(&mut hand_on) {
            let _ = pending.blocking_send(Pending::Fatal { line, message });
        }
    }

    /// Hands on every row in input order (its line, the byte offset where
    /// it ends, its lead id as written, and the row parsed or why not) until
    /// `hand_on` returns false; the line and reason when the input cannot be
    /// read further.
    fn read_rows(self, hand_on: &mut HandOn<'_>) -> Option<(u64, String)> {
        match self {
            Source::Csv {
                mut reader,
                columns,
            } => read_csv(&mut reader, &columns, hand_on),
            Source::Jsonl(mut reader) => read_jsonl(&mut reader, hand_on),
        }
    }
}

/// Reads `input` as `format` the way `leadqual qualify` does, handing on
/// every row (see [`Source::read_rows`]); an error when the input is
/// refused as a whole (a bad CSV header).
pub(crate) fn read_rows(
    input: Box<dyn Read + Send>,
    format: FileFormat,
    hand_on: &mut HandOn<'_>,
) -> anyhow::Result<Option<(u64, String)>> {
    Ok(Source::open(input, format)?.read_rows(hand_on))
}

/// Every column known, none twice, lead_id present.
fn check_header(columns: &[String]) -> Result<(), String> {
    let mut problems = Vec::new();
    for (i, c) in columns.iter().enumerate() {
        if !rows::is_known_column(c) {
            problems.push(format!("column {:?} {}", c, rows::UNKNOWN_COLUMN));
        } else if columns[..i].contains(c) {
            problems.push(format!("column {c:?} appears twice"));
        }
    }
    if !columns.iter().any(|c| c == rows::LEAD_ID) {
        problems.push("the header has no lead_id column".to_owned());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

pub(crate) type HandOn<'a> =
    dyn FnMut(u64, u64, String, Result<rows::ParsedRow, RowError>) -> bool + 'a;

fn read_csv<R: Read>(
    reader: &mut csv::Reader<Bounded<R>>,
    columns: &[String],
    hand_on: &mut HandOn<'_>,
) -> Option<(u64, String)> {
    let lead_column = columns.iter().position(|c| c == rows::LEAD_ID);
    let mut record = csv::StringRecord::new();
    loop {
        let start = reader.position().byte();
        let read = reader.read_record(&mut record);
        let end = reader.position().byte();
        let parsed = match read {
            Ok(false) => return None,
            Ok(true) => rows::parse_row(
                columns
                    .iter()
                    .map(String::as_str)
                    .zip(record.iter().map(Cell::Text)),
            ),
            Err(e) => match e.kind() {
                csv::ErrorKind::UnequalLengths { len, .. } => Err(RowError::whole_row(format!(
                    "has {len} cells where the header has {}",
                    columns.len()
                ))),
                csv::ErrorKind::Utf8 { .. } => Err(RowError::whole_row("is not valid UTF-8")),
                _ => return Some((reader.get_mut().row_starts_on(start), e.to_string())),
            },
        };
        let line = reader.get_mut().row_starts_on(start);
        reader.get_mut().row_ends_at(end);
        let lead_id = lead_column
            .and_then(|i| record.get(i))
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        if !hand_on(line, end, lead_id, parsed) {
            return None;
        }
    }
}

fn read_jsonl<R: BufRead>(reader: &mut R, hand_on: &mut HandOn<'_>) -> Option<(u64, String)> {
    let mut buf = Vec::new();
    let mut line = 0u64;
    let mut end = 0u64;
    loop {
        buf.clear();
        let n = match reader
            .by_ref()
            .take(MAX_ROW_BYTES + 1)
            .read_until(b'\n', &mut buf)
        {
            Ok(0) => return None,
            Ok(n) => n,
            Err(e) => return Some((line + 1, e.to_string())),
        };
        line += 1;
        end += n as u64;
        let parsed = if buf.len() as u64 > MAX_ROW_BYTES && buf.last() != Some(&b'\n') {
            // Skip the rest of the over-long line.
            loop {
                let mut rest = Vec::new();
                match reader.by_ref().take(64 * 1024).read_until(b'\n', &mut rest) {
                    Ok(0) => break,
                    Ok(m) => {
                        end += m as u64;
                        if rest.last() == Some(&b'\n') {
                            break;
                        }
                    }
                    Err(e) => return Some((line, e.to_string())),
                }
            }
            Err(RowError::whole_row(format!(
                "is longer than {} KiB",
                MAX_ROW_BYTES / 1024
            )))
        } else if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        } else {
            match serde_json::from_slice::<serde_json::Value>(&buf) {
                Err(e) => Err(RowError::whole_row(format!("is not JSON: {e}"))),
                Ok(serde_json::Value::Object(object)) => {
                    let lead_id = object
                        .get(rows::LEAD_ID)
                        .and_then(|v| v.as_str())
                        .map(|s| s.trim().to_owned())
                        .unwrap_or_default();
                    let parsed =
                        rows::parse_row(object.iter().map(|(k, v)| (k.as_str(), Cell::Json(v))));
                    if !hand_on(line, end, lead_id, parsed) {
                        return None;
                    }
                    continue;
                }
                Ok(_) => Err(RowError::whole_row("is not a JSON object")),
            }
        };
        if !hand_on(line, end, String::new(), parsed) {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the reader over `input` and collects what it hands on.
    /// (line, lead id, the lead id parsed or the row's error) per row.
    type Seen = Vec<(u64, String, Result<String, String>)>;

    fn read(input: &str, format: FileFormat) -> (Seen, Option<(u64, String)>) {
        let source = Source::open(Box::new(io::Cursor::new(input.as_bytes().to_vec())), format)
            .expect("the source opens");
        let mut seen = Vec::new();
        let mut hand_on =
            |line: u64, _end: u64, lead: String, parsed: Result<rows::ParsedRow, RowError>| {
                seen.push((
                    line,
                    lead,
                    parsed.map(|p| p.request.lead_id).map_err(|e| e.to_string()),
                ));
                true
            };
        let fatal = source.read_rows(&mut hand_on);
        (seen, fatal)
    }

    #[test]
    fn csv_rows_carry_their_line_numbers_and_bad_rows_their_reasons() {
        let input = "lead_id,stage,employee_count\n\
                     A,contact,10\n\
                     B,contact,ten\n\
                     \n\
                     \"C\nD\",study,3\n\
                     E,study\n\
                     F,study,4\n";
        let (seen, fatal) = read(input, FileFormat::Csv);
        assert!(fatal.is_none());
        let lines: Vec<u64> = seen.iter().map(|s| s.0).collect();
        assert_eq!(lines, [2, 3, 5, 7, 8]);
        assert_eq!(seen[0].2, Ok("A".into()));
        assert_eq!(seen[1].1, "B");
        assert_eq!(
            seen[1].2,
            Err("employee_count: \"ten\" is not a whole number".into())
        );
        assert_eq!(seen[2].2, Ok("C\nD".into()));
        assert_eq!(seen[3].2, Err("has 2 cells where the header has 3".into()));
        assert_eq!(seen[4].2, Ok("F".into()));
    }

    #[test]
    fn line_numbers_hold_with_crlf_blank_lines_and_no_final_newline() {
        let input = "lead_id,vertical\r\nA,x\r\n\r\n\"B\r\nB\",y\r\nC,z\r\n\r\n\r\nD,w";
        let (seen, fatal) = read(input, FileFormat::Csv);
        assert!(fatal.is_none());
        let lines: Vec<(u64, &str)> = seen.iter().map(|s| (s.0, s.1.as_str())).collect();
        assert_eq!(lines, [(2, "A"), (4, "B\r\nB"), (6, "C"), (9, "D")]);
    }

    #[test]
    fn a_carriage_return_alone_ends_a_line_as_it_ends_a_row() {
        // Line ends of old Mac files, and one stray \r in a CRLF file.
        let input = "lead_id,vertical\rA,x\r\"B\rB\",y\rC,z\r\nD,w\r\0\nE,v";
        let (seen, fatal) = read(input, FileFormat::Csv);
        assert!(fatal.is_none());
        let lines: Vec<(u64, &str)> = seen.iter().map(|s| (s.0, s.1.as_str())).collect();
        assert_eq!(
            lines,
            [
                (2, "A"),
                (3, "B\rB"),
                (5, "C"),
                (6, "D"),
                (7, "\0"),
                (8, "E")
            ]
        );
    }

    #[test]
    fn a_quote_left_open_to_the_end_keeps_its_row_on_the_line_it_starts() {
        // The open quote takes in the file's last line ends, up to the very
        // last byte.
        for input in [
            "lead_id,vertical\nA,x\n\"B\nb\n\nC,y\n",
            "lead_id,vertical\nA,x\n\"B\nb\n\nC,y\r",
            "lead_id,vertical\nA,x\n\"B\nb\n\nC,y",
        ] {
            let (seen, fatal) = read(input, FileFormat::Csv);
            assert!(fatal.is_none());
            let lines: Vec<u64> = seen.iter().map(|s| s.0).collect();
            assert_eq!(lines, [2, 3], "{input:?}");
        }
    }

    #[test]
    fn an_unknown_or_repeated_header_column_refuses_the_whole_file() {
        let err = Source::open(
            Box::new(io::Cursor::new(
                b"lead_id,employees,stage,stage\nA,1,contact,contact\n".to_vec(),
            )),
            FileFormat::Csv,
        )
        .err()
        .expect("refused");
        let text = err.to_string();
        assert!(
            text.starts_with("line 1: column \"employees\" is not a column"),
            "{text}"
        );
        assert!(text.contains("column \"stage\" appears twice"), "{text}");
        let err = Source::open(
            Box::new(io::Cursor::new(b"stage\ncontact\n".to_vec())),
            FileFormat::Csv,
        )
        .err()
        .expect("refused");
        assert!(err.to_string().contains("no lead_id column"));
    }

    #[test]
    fn a_runaway_csv_row_stops_the_reading() {
        let mut input = String::from("lead_id,vertical\nA,x\nB,\"");
        input.push_str(&"y".repeat((MAX_ROW_BYTES + 2 * READ_AHEAD) as usize));
        let (seen, fatal) = read(&input, FileFormat::Csv);
        assert_eq!(seen.len(), 1);
        let (line, message) = fatal.expect("fatal");
        assert_eq!(line, 3);
        assert!(message.contains("a row longer than"), "{message}");
    }

    #[test]
    fn jsonl_rows_are_objects_one_per_line() {
        let long = format!(
            "{{\"lead_id\":\"X\",\"vertical\":\"{}\"}}",
            "v".repeat(MAX_ROW_BYTES as usize)
        );
        let input = format!(
            "{{\"lead_id\":\"A\",\"stage\":\"contact\"}}\n\
             \n\
             [1,2]\n\
             {{\"lead_id\":\"B\",\"employee_count\":\"ten\"}}\n\
             {{not json\n\
             {long}\n\
             {{\"lead_id\":\"C\"}}"
        );
        let (seen, fatal) = read(&input, FileFormat::Jsonl);
        assert!(fatal.is_none());
        let lines: Vec<u64> = seen.iter().map(|s| s.0).collect();
        assert_eq!(lines, [1, 3, 4, 5, 6, 7]);
        assert_eq!(seen[0].2, Ok("A".into()));
        assert_eq!(seen[1].2, Err("is not a JSON object".into()));
        assert_eq!(seen[2].1, "B");
        assert!(
            seen[3]
                .2
                .as_ref()
                .is_err_and(|e| e.starts_with("is not JSON"))
        );
        assert_eq!(seen[4].2, Err("is longer than 1024 KiB".into()));
        assert_eq!(
            seen[5].2,
            Ok("C".into()),
            "the line after a long one is read"
        );
    }

    #[test]
    fn results_are_written_one_per_row_in_both_formats() {
        let rows = [
            RowResult {
                line: 2,
                lead_id: "A".into(),
                request_id: "row-1".into(),
                result: Ok(Verdict {
                    outcome: pb::Outcome::NeedsReview as i32,
                    score: 35,
                    fired: vec![
                        pb::Criterion::MagicWand as i32,
                        pb::Criterion::Disorganized as i32,
                    ],
                    replayed: true,
                    verdict_id: "v1".into(),
                }),
            },
            RowResult {
                line: 3,
                lead_id: "B".into(),
                request_id: "row-2".into(),
                result: Err(Failure {
                    code: "INVALID_ARGUMENT".into(),
                    message: "invalid request".into(),
                    violations: vec![("facts.country".into(), "not a code".into())],
                }),
            },
        ];
        assert_eq!(
            csv_record(&rows[0]).join(","),
            "2,A,row-1,NEEDS_REVIEW,35,MAGIC_WAND;DISORGANIZED,true,v1,,,"
        );
        assert_eq!(
            csv_record(&rows[1]).join(","),
            "3,B,row-2,,,,,,INVALID_ARGUMENT,invalid request,facts.country: not a code"
        );
        let json = |row: &RowResult| serde_json::to_value(json_record(row)).expect("JSON");
        assert!(
            serde_json::to_string(&json_record(&rows[0]))
                .expect("JSON")
                .starts_with("{\"line\":2,\"lead_id\":\"A\","),
            "the line comes first"
        );
        assert_eq!(
            json(&rows[0]),
            serde_json::json!({"line": 2, "lead_id": "A", "request_id": "row-1",
                "outcome": "NEEDS_REVIEW", "score": 35, "fired": ["MAGIC_WAND", "DISORGANIZED"],
                "replayed": true, "verdict_id": "v1"})
        );
        assert_eq!(
            json(&rows[1])["error"],
            serde_json::json!({"code": "INVALID_ARGUMENT", "message": "invalid request",
                "field_violations": [{"field": "facts.country", "description": "not a code"}]})
        );

        let mut summary = Summary::default();
        for r in &rows {
            summary.add(r);
        }
        let text = summary.render();
        assert!(text.contains("rows read   2\n"), "{text}");
        assert!(text.contains("qualified   1 (1 replayed"), "{text}");
        assert!(
            text.contains("failed      1 (bad rows not sent: 0, refused by the server: 1)"),
            "{text}"
        );
        assert!(
            text.contains("outcomes    QUALIFIED 0, NEEDS_REVIEW 1, DISQUALIFIED 0"),
            "{text}"
        );
        assert!(
            text.contains("top fired   DISORGANIZED 1, MAGIC_WAND 1"),
            "{text}"
        );
    }
}
