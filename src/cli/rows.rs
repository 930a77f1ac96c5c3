//! One input row (a CSV record or a JSON Lines object) to a
//! `QualifyLeadRequest`: a pure function, so that every cell syntax is
//! tested here and nothing malformed reaches the server.
//!
//! Columns are the `LeadFacts` field names plus `lead_id`, `stage` and
//! `request_id`. In CSV every cell is text, trimmed: an empty cell means
//! "not sent"; numbers are decimal integers; booleans are `true`/`false`
//! (also `yes`/`no`, `1`/`0`), case-insensitive; stages and enums are their
//! names (`contact`, `not_now`, or the proto's `STAGE_CONTACT`),
//! case-insensitive. In JSON Lines a field that is absent or `null` is not
//! sent; numbers are JSON integers, booleans JSON booleans, everything else a
//! JSON string read like a CSV cell.

use std::collections::HashMap;
use std::fmt;

use prost::Message;
use sha2::{Digest, Sha256};

use crate::proto::v1 as pb;

/// The columns besides the facts.
pub const LEAD_ID: &str = "lead_id";
pub const STAGE: &str = "stage";
pub const REQUEST_ID: &str = "request_id";

/// Longest cell accepted, in bytes (the server's longest text is 200
/// characters; this leaves room for multi-byte ones and is still small).
pub const MAX_CELL_BYTES: usize = 1024;

/// Why a column name is refused.
pub const UNKNOWN_COLUMN: &str = "is not a column: use lead_id, stage, request_id or a LeadFacts \
     field name (see leadqual qualify --help)";

/// The type of a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// int64 fact (amounts).
    Int64,
    /// int32 fact (counts).
    Int32,
    /// double fact (shares, rates, percentages).
    Double,
    Text,
    Bool,
    Engagement,
    Priority,
}

/// Every `LeadFacts` field, in proto order, with its type.
const FACTS: [(&str, Kind); 43] = [
    ("employee_count", Kind::Int64),
    ("annual_revenue_usd", Kind::Int64),
    ("vertical", Kind::Text),
    ("business_model", Kind::Text),
    ("territory", Kind::Text),
    ("country", Kind::Text),
    ("timezone", Kind::Text),
    ("disrespectful_incidents", Kind::Int32),
    ("emotional_only_responses", Kind::Bool),
    ("engagement_pattern", Kind::Engagement),
    ("questions_asked", Kind::Int32),
    ("questions_answered", Kind::Int32),
    ("insists_on_own_process", Kind::Bool),
    ("contradictory_statements", Kind::Int32),
    ("plan_steps_agreed", Kind::Int32),
    ("plan_steps_completed", Kind::Int32),
    ("budget_usd", Kind::Int64),
    ("staff_available", Kind::Int32),
    ("missed_sessions", Kind::Int32),
    ("priority", Kind::Priority),
    ("expects_magic_wand", Kind::Bool),
    ("assignments_given", Kind::Int32),
    ("assignments_completed", Kind::Int32),
    ("meetings_cancelled", Kind::Int32),
    ("meetings_rescheduled", Kind::Int32),
    ("agreed_actions_not_done", Kind::Int32),
    ("max_material_repeats", Kind::Int32),
    ("orders_count", Kind::Int32),
    ("gross_profit_usd", Kind::Int64),
    ("referrals_count", Kind::Int32),
    ("first_purchase_date", Kind::Text),
    ("cost_to_serve_usd", Kind::Int64),
    ("share_of_wallet", Kind::Double),
    ("overdue_receivables_usd", Kind::Int64),
    ("strategic_account", Kind::Bool),
    ("last_contact_date", Kind::Text),
    ("progress_requests_per_week", Kind::Double),
    ("has_written_spec", Kind::Bool),
    ("decision_postponements", Kind::Int32),
    ("rush_requests", Kind::Int32),
    ("median_reply_days", Kind::Double),
    ("out_of_scope_changes", Kind::Int32),
    ("discount_requested_pct", Kind::Double),
];

/// The fact columns, in proto order.
pub fn fact_columns() -> impl Iterator<Item = &'static str> {
    FACTS.iter().map(|(name, _)| *name)
}

/// Whether `name` is a column the input may have.
pub fn is_known_column(name: &str) -> bool {
    name == LEAD_ID || name == STAGE || name == REQUEST_ID || fact_kind(name).is_some()
}

fn fact_kind(name: &str) -> Option<Kind> {
    FACTS.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
}

/// A cell as the input format gives it.
#[derive(Clone, Copy, Debug)]
pub enum Cell<'a> {
    /// A CSV cell.
    Text(&'a str),
    /// A JSON Lines field's value.
    Json(&'a serde_json::Value),
}

/// What is wrong with one cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CellProblem {
    pub column: String,
    pub reason: String,
}

/// Why a row is not sent: every bad cell of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    pub problems: Vec<CellProblem>,
}

impl RowError {
    /// A problem with the row as a whole (not one cell).
    pub fn whole_row(reason: impl Into<String>) -> RowError {
        RowError {
            problems: vec![CellProblem {
                column: String::new(),
                reason: reason.into(),
            }],
        }
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            if p.column.is_empty() {
                f.write_str(&p.reason)?;
            } else {
                write!(f, "{}: {}", p.column, p.reason)?;
            }
        }
        Ok(())
    }
}

/// A row ready to send.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedRow {
    pub request: pb::QualifyLeadRequest,
}

/// Parses one row from its (column, cell) pairs. Collects every bad cell
/// rather than stopping at the first.
pub fn parse_row<'a>(
    cells: impl IntoIterator<Item = (&'a str, Cell<'a>)>,
) -> Result<ParsedRow, RowError> {
    let mut problems = Vec::new();
    let mut request = pb::QualifyLeadRequest::default();
    let mut facts = pb::LeadFacts::default();
    let mut lead_id = None;
    let mut seen: Vec<&str> = Vec::new();
    for (column, cell) in cells {
        let mut problem = |reason: String| {
            problems.push(CellProblem {
                column: column.to_owned(),
                reason,
            });
        };
        if seen.contains(&column) {
            problem("appears twice".to_owned());
            continue;
        }
        seen.push(column);
        let text = match read_cell(cell) {
            Ok(Some(Value::Text(t))) if t.len() > MAX_CELL_BYTES => {
                problem(format!("longer than {MAX_CELL_BYTES} bytes"));
                continue;
            }
            Ok(value) => value,
            Err(reason) => {
                problem(reason);
                continue;
            }
        };
        let Some(value) = text else { continue };
        let result = match column {
            LEAD_ID => value.text(column).map(|t| lead_id = Some(t)),
            REQUEST_ID => value.text(column).map(|t| request.request_id = t),
            STAGE => value
                .text(column)
                .and_then(|t| parse_stage(&t).map(|s| request.stage = s as i32)),
            name => match fact_kind(name) {
                Some(kind) => set_fact(&mut facts, name, kind, value),
                None => Err(UNKNOWN_COLUMN.to_owned()),
            },
        };
        if let Err(reason) = result {
            problem(reason);
        }
    }
    match lead_id {
        Some(id) => request.lead_id = id,
        None if !problems.iter().any(|p| p.column == LEAD_ID) => problems.push(CellProblem {
            column: LEAD_ID.to_owned(),
            reason: "is required".to_owned(),
        }),
        None => {}
    }
    if !problems.is_empty() {
        return Err(RowError { problems });
    }
    request.facts = Some(facts);
    Ok(ParsedRow { request })
}

/// A cell's value once empty cells are set aside.
#[derive(Debug)]
enum Value {
    Text(String),
    Int(i64),
    /// A JSON number that is not a whole number in range.
    Number(f64),
    Bool(bool),
}

impl Value {
    fn text(self, column: &str) -> Result<String, String> {
        match self {
            Value::Text(t) => Ok(t),
            other => Err(format!("{column} must be text, got {}", other.describe())),
        }
    }

    fn describe(&self) -> String {
        match self {
            Value::Text(t) => format!("{t:?}"),
            Value::Int(n) => format!("the number {n}"),
            Value::Number(x) => format!("the number {x}"),
            Value::Bool(b) => format!("the boolean {b}"),
        }
    }
}

/// `None` for an empty CSV cell, an absent/null JSON value, or a JSON
/// string that is empty as a CSV cell would be.
fn read_cell(cell: Cell<'_>) -> Result<Option<Value>, String> {
    let text = |t: &str| {
        let t = t.trim();
        (!t.is_empty()).then(|| Value::Text(t.to_owned()))
    };
    match cell {
        Cell::Text(t) => Ok(text(t)),
        Cell::Json(serde_json::Value::Null) => Ok(None),
        Cell::Json(serde_json::Value::String(s)) => Ok(text(s)),
        Cell::Json(serde_json::Value::Bool(b)) => Ok(Some(Value::Bool(*b))),
        Cell::Json(serde_json::Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Ok(Some(Value::Int(i))),
            (None, Some(x)) => Ok(Some(Value::Number(x))),
            (None, None) => Err(format!("{n} is not a number in range")),
        },
        Cell::Json(serde_json::Value::Array(_)) => Err("must not be a list".to_owned()),
        Cell::Json(serde_json::Value::Object(_)) => Err("must not be an object".to_owned()),
    }
}

fn set_fact(facts: &mut pb::LeadFacts, name: &str, kind: Kind, value: Value) -> Result<(), String> {
    match kind {
        Kind::Int64 => {
            let n = integer(value)?;
            let slot = match name {
                "employee_count" => &mut facts.employee_count,
                "annual_revenue_usd" => &mut facts.annual_revenue_usd,
                "budget_usd" => &mut facts.budget_usd,
                "gross_profit_usd" => &mut facts.gross_profit_usd,
                "cost_to_serve_usd" => &mut facts.cost_to_serve_usd,
                "overdue_receivables_usd" => &mut facts.overdue_receivables_usd,
                _ => return Err("is not an int64 fact".to_owned()),
            };
            *slot = Some(n);
        }
        Kind::Int32 => {
            let n = integer(value)?;
            let n = i32::try_from(n)
                .map_err(|_| format!("{n} is out of range (at most {})", i32::MAX))?;
            let slot = match name {
                "disrespectful_incidents" => &mut facts.disrespectful_incidents,
                "questions_asked" => &mut facts.questions_asked,
                "questions_answered" => &mut facts.questions_answered,
                "contradictory_statements" => &mut facts.contradictory_statements,
                "plan_steps_agreed" => &mut facts.plan_steps_agreed,
                "plan_steps_completed" => &mut facts.plan_steps_completed,
                "staff_available" => &mut facts.staff_available,
                "missed_sessions" => &mut facts.missed_sessions,
                "assignments_given" => &mut facts.assignments_given,
                "assignments_completed" => &mut facts.assignments_completed,
                "meetings_cancelled" => &mut facts.meetings_cancelled,
                "meetings_rescheduled" => &mut facts.meetings_rescheduled,
                "agreed_actions_not_done" => &mut facts.agreed_actions_not_done,
                "max_material_repeats" => &mut facts.max_material_repeats,
                "orders_count" => &mut facts.orders_count,
                "referrals_count" => &mut facts.referrals_count,
                "decision_postponements" => &mut facts.decision_postponements,
                "rush_requests" => &mut facts.rush_requests,
                "out_of_scope_changes" => &mut facts.out_of_scope_changes,
                _ => return Err("is not an int32 fact".to_owned()),
            };
            *slot = Some(n);
        }
        Kind::Double => {
            let x = number(value)?;
            let slot = match name {
                "share_of_wallet" => &mut facts.share_of_wallet,
                "progress_requests_per_week" => &mut facts.progress_requests_per_week,
                "median_reply_days" => &mut facts.median_reply_days,
                "discount_requested_pct" => &mut facts.discount_requested_pct,
                _ => return Err("is not a number fact".to_owned()),
            };
            *slot = Some(x);
        }
        Kind::Text => {
            let t = value.text(name)?;
            let slot = match name {
                "vertical" => &mut facts.vertical,
                "business_model" => &mut facts.business_model,
                "territory" => &mut facts.territory,
                "country" => &mut facts.country,
                "timezone" => &mut facts.timezone,
                "first_purchase_date" => &mut facts.first_purchase_date,
                "last_contact_date" => &mut facts.last_contact_date,
                _ => return Err("is not a text fact".to_owned()),
            };
            *slot = Some(t);
        }
        Kind::Bool => {
            let b = boolean(value)?;
            let slot = match name {
                "emotional_only_responses" => &mut facts.emotional_only_responses,
                "insists_on_own_process" => &mut facts.insists_on_own_process,
                "expects_magic_wand" => &mut facts.expects_magic_wand,
                "strategic_account" => &mut facts.strategic_account,
                "has_written_spec" => &mut facts.has_written_spec,
                _ => return Err("is not a boolean fact".to_owned()),
            };
            *slot = Some(b);
        }
        Kind::Engagement => {
            let t = value.text(name)?;
            let pattern = enum_value(&t, "ENGAGEMENT_PATTERN_", pb::EngagementPattern::from_str_name)
                .ok_or_else(|| {
                    format!("{t:?} is not an engagement pattern: use steady, impulsive, lethargic or swinging")
                })?;
            facts.engagement_pattern = Some(pattern as i32);
        }
        Kind::Priority => {
            let t = value.text(name)?;
            let priority =
                enum_value(&t, "PRIORITY_", pb::Priority::from_str_name).ok_or_else(|| {
                    format!("{t:?} is not a priority: use high, normal, low or not_now")
                })?;
            facts.priority = Some(priority as i32);
        }
    }
    Ok(())
}

fn integer(value: Value) -> Result<i64, String> {
    match value {
        Value::Int(n) => Ok(n),
        Value::Text(t) => {
            let digits = t.strip_prefix('+').unwrap_or(&t);
            digits
                .parse::<i64>()
                .map_err(|_| format!("{t:?} is not a whole number"))
        }
        Value::Number(x) => Err(format!("{x} is not a whole number in range")),
        Value::Bool(b) => Err(format!("must be a whole number, got the boolean {b}")),
    }
}

/// A finite number, whole or not: `0.9`, `12`, `2.5e1`.
fn number(value: Value) -> Result<f64, String> {
    match value {
        Value::Int(n) => Ok(n as f64),
        Value::Number(x) => Ok(x),
        Value::Text(t) => t
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| format!("{t:?} is not a number")),
        Value::Bool(b) => Err(format!("must be a number, got the boolean {b}")),
    }
}

fn boolean(value: Value) -> Result<bool, String> {
    match value {
        Value::Bool(b) => Ok(b),
        Value::Text(t) => match t.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok(true),
            "false" | "no" | "0" => Ok(false),
            _ => Err(format!("{t:?} is not a boolean: use true or false")),
        },
        Value::Int(n) => Err(format!("must be true or false, got the number {n}")),
        Value::Number(x) => Err(format!("must be true or false, got the number {x}")),
    }
}

/// An enum by its short name (`not_now`, `not-now`, `NOT NOW`) or its
/// proto name (`PRIORITY_NOT_NOW`), case-insensitive; never the
/// unspecified value.
fn enum_value<T>(text: &str, prefix: &str, from_name: fn(&str) -> Option<T>) -> Option<T> {
    let upper: String = text
        .trim()
        .chars()
        .map(|c| match c {
            '-' | ' ' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect();
    if upper.ends_with("UNSPECIFIED") {
        return None;
    }
    let full = if upper.starts_with(prefix) {
        upper
    } else {
        format!("{prefix}{upper}")
    };
    from_name(&full)
}

/// A stage by name, as in CSV cells and on the command line.
pub fn parse_stage(text: &str) -> Result<pb::Stage, String> {
    enum_value(text, "STAGE_", pb::Stage::from_str_name).ok_or_else(|| {
        format!("{text:?} is not a stage: use identification, contact, study or recommendation")
    })
}

/// An outcome by name, as on the command line.
pub fn parse_outcome(text: &str) -> Result<pb::Outcome, String> {
    enum_value(text, "OUTCOME_", pb::Outcome::from_str_name).ok_or_else(|| {
        format!("{text:?} is not an outcome: use qualified, needs_review or disqualified")
    })
}

/// A lifecycle class by name (`loyal`, `black_list`), as on the command line.
pub fn parse_lifecycle_class(text: &str) -> Result<pb::LifecycleClass, String> {
    enum_value(text, "LIFECYCLE_CLASS_", pb::LifecycleClass::from_str_name).ok_or_else(|| {
        format!(
            "{text:?} is not a lifecycle class: use newbie, prospect, buyer, loyal, adept, vip, \
             black_list or unknown"
        )
    })
}

/// A value tier by name (`a`, `b`, `c`), as on the command line.
pub fn parse_value_tier(text: &str) -> Result<pb::ValueTier, String> {
    enum_value(text, "VALUE_TIER_", pb::ValueTier::from_str_name)
        .ok_or_else(|| format!("{text:?} is not a value tier: use a, b or c"))
}

/// A churn status by name (`at_risk`), as on the command line.
pub fn parse_churn_status(text: &str) -> Result<pb::ChurnStatus, String> {
    enum_value(text, "CHURN_STATUS_", pb::ChurnStatus::from_str_name).ok_or_else(|| {
        format!("{text:?} is not a churn status: use ok, at_risk, unknown or not_applicable")
    })
}

/// Gives rows without a `request_id` a stable one, so that sending the same
/// file again stores nothing twice: `row-` and the hex SHA-256 of the row's
/// normalised content (lead id, stage, facts) and of its ordinal among the
/// identical rows before it, so that two identical rows stay two requests.
///
/// Remembers 16 bytes and a counter per distinct row without a request_id;
/// rows that carry their own request_id cost nothing.
#[derive(Debug, Default)]
pub struct RequestIds {
    seen: HashMap<[u8; 16], u32>,
}

impl RequestIds {
    /// Sets `request.request_id` when it is empty.
    pub fn assign(&mut self, request: &mut pb::QualifyLeadRequest) {
        if !request.request_id.is_empty() {
            return;
        }
        let content = content_digest(request);
        let mut key = [0u8; 16];
        key.copy_from_slice(&content[..16]);
        let ordinal = self.seen.entry(key).or_insert(0);
        request.request_id = derived_request_id(&content, *ordinal);
        *ordinal = ordinal.saturating_add(1);
    }
}

/// SHA-256 over the request's canonical encoding without its request id:
/// the same lead, stage and facts give the same digest however the cells
/// were spelt or the columns ordered.
fn content_digest(request: &pb::QualifyLeadRequest) -> [u8; 32] {
    let normalised = pb::QualifyLeadRequest {
        request_id: String::new(),
        ..request.clone()
    };
    let mut hasher = Sha256::new();
    hasher.update(b"leadqual-row-v1\0");
    hasher.update(normalised.encode_to_vec());
    hasher.finalize().into()
}

/// `row-` + hex SHA-256 of the content digest and the ordinal.
pub fn derived_request_id(content: &[u8; 32], ordinal: u32) -> String {
    let mut hasher = Sha256::new();
    hasher.update(content);
    hasher.update(ordinal.to_be_bytes());
    format!("row-{}", hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv<'a>(cells: &'a [(&'a str, &'a str)]) -> Result<ParsedRow, RowError> {
        parse_row(cells.iter().map(|(c, v)| (*c, Cell::Text(v))))
    }

    fn facts_of(row: &ParsedRow) -> &pb::LeadFacts {
        row.request.facts.as_ref().expect("facts")
    }

    fn problem_columns(err: &RowError) -> Vec<&str> {
        err.problems.iter().map(|p| p.column.as_str()).collect()
    }

    #[test]
    fn every_fact_type_parses_from_csv_text() {
        let row = csv(&[
            ("lead_id", "L-1"),
            ("stage", "Contact"),
            ("employee_count", "250"),
            ("annual_revenue_usd", "+12000000"),
            ("vertical", "  saas "),
            ("country", "DE"),
            ("timezone", "Europe/Berlin"),
            ("disrespectful_incidents", "0"),
            ("emotional_only_responses", "TRUE"),
            ("insists_on_own_process", "no"),
            ("expects_magic_wand", "1"),
            ("engagement_pattern", "swinging"),
            ("priority", "not now"),
            ("max_material_repeats", "4"),
        ])
        .expect("a good row");
        assert_eq!(row.request.lead_id, "L-1");
        assert_eq!(row.request.stage, pb::Stage::Contact as i32);
        assert!(row.request.request_id.is_empty());
        let f = facts_of(&row);
        assert_eq!(f.employee_count, Some(250));
        assert_eq!(f.annual_revenue_usd, Some(12_000_000));
        assert_eq!(f.vertical.as_deref(), Some("saas"));
        assert_eq!(f.country.as_deref(), Some("DE"));
        assert_eq!(f.timezone.as_deref(), Some("Europe/Berlin"));
        assert_eq!(
            f.disrespectful_incidents,
            Some(0),
            "zero is a value, not unknown"
        );
        assert_eq!(f.emotional_only_responses, Some(true));
        assert_eq!(f.insists_on_own_process, Some(false));
        assert_eq!(f.expects_magic_wand, Some(true));
        assert_eq!(
            f.engagement_pattern,
            Some(pb::EngagementPattern::Swinging as i32)
        );
        assert_eq!(f.priority, Some(pb::Priority::NotNow as i32));
        assert_eq!(f.max_material_repeats, Some(4));
        assert_eq!(f.budget_usd, None, "a column not present is not sent");
    }

    #[test]
    fn every_fact_column_is_a_lead_facts_field_and_round_trips() {
        // Each fact column, set to a value of its type, lands in the field of
        // the same name: checked through the proto's own JSON field names.
        let pool = crate::cli::json::pool();
        let desc = pool
            .get_message_by_name("leadqual.v1.LeadFacts")
            .expect("LeadFacts");
        let proto_names: Vec<String> = desc.fields().map(|f| f.name().to_owned()).collect();
        let columns: Vec<&str> = fact_columns().collect();
        assert_eq!(columns, proto_names);
        for column in columns {
            let value = match fact_kind(column).expect("a fact") {
                Kind::Int64 | Kind::Int32 => "7",
                Kind::Double => "0.5",
                Kind::Text => "x",
                Kind::Bool => "true",
                Kind::Engagement => "steady",
                Kind::Priority => "high",
            };
            let row = csv(&[("lead_id", "L"), (column, value)]).expect("a good row");
            let json = crate::cli::json::to_json(facts_of(&row));
            let set: Vec<&String> = json.as_object().expect("object").keys().collect();
            assert_eq!(set, vec![column], "{column} sets exactly its field");
        }
    }

    #[test]
    fn empty_cells_are_facts_not_sent() {
        let row = csv(&[
            ("lead_id", "L"),
            ("stage", ""),
            ("employee_count", ""),
            ("expects_magic_wand", "   "),
            ("priority", ""),
            ("request_id", ""),
        ])
        .expect("a good row");
        assert_eq!(row.request.stage, pb::Stage::Unspecified as i32);
        assert_eq!(facts_of(&row), &pb::LeadFacts::default());
        assert!(row.request.request_id.is_empty());
    }

    #[test]
    fn bad_cells_are_each_named_with_a_reason() {
        let err = csv(&[
            ("lead_id", "L"),
            ("stage", "closing"),
            ("employee_count", "ten"),
            ("questions_asked", "3000000000"),
            ("expects_magic_wand", "maybe"),
            ("engagement_pattern", "moody"),
            ("priority", "unspecified"),
            ("budget_usd", "1.5"),
        ])
        .expect_err("a bad row");
        assert_eq!(
            problem_columns(&err),
            [
                "stage",
                "employee_count",
                "questions_asked",
                "expects_magic_wand",
                "engagement_pattern",
                "priority",
                "budget_usd"
            ]
        );
        let text = err.to_string();
        assert!(text.contains("stage: \"closing\" is not a stage"), "{text}");
        assert!(
            text.contains("employee_count: \"ten\" is not a whole number"),
            "{text}"
        );
        assert!(
            text.contains("questions_asked: 3000000000 is out of range"),
            "{text}"
        );
        assert!(
            text.contains("expects_magic_wand: \"maybe\" is not a boolean"),
            "{text}"
        );
        assert!(
            text.contains("\"moody\" is not an engagement pattern"),
            "{text}"
        );
        assert!(
            text.contains("budget_usd: \"1.5\" is not a whole number"),
            "{text}"
        );
    }

    #[test]
    fn unknown_and_repeated_columns_and_a_missing_lead_id_are_bad_rows() {
        let err = csv(&[("employee_count", "3"), ("employees", "3")]).expect_err("bad");
        assert_eq!(problem_columns(&err), ["employees", "lead_id"]);
        assert_eq!(err.problems[0].reason, UNKNOWN_COLUMN);
        assert_eq!(err.problems[1].reason, "is required");

        let err = csv(&[("lead_id", "L"), ("vertical", "a"), ("vertical", "b")]).expect_err("bad");
        assert_eq!(problem_columns(&err), ["vertical"]);
        assert_eq!(err.problems[0].reason, "appears twice");

        let err = csv(&[("lead_id", ""), ("stage", "study")]).expect_err("bad");
        assert_eq!(problem_columns(&err), ["lead_id"]);
    }

    #[test]
    fn over_long_cells_are_refused() {
        let long = "x".repeat(MAX_CELL_BYTES + 1);
        let err = csv(&[("lead_id", "L"), ("vertical", &long)]).expect_err("bad");
        assert_eq!(problem_columns(&err), ["vertical"]);
    }

    #[test]
    fn json_values_must_have_the_facts_types() {
        let good: serde_json::Value = serde_json::json!({
            "lead_id": "J-1",
            "stage": "STAGE_RECOMMENDATION",
            "employee_count": 40,
            "expects_magic_wand": false,
            "priority": "PRIORITY_LOW",
            "vertical": null,
            "questions_asked": "12",
        });
        let obj = good.as_object().expect("object");
        let row = parse_row(obj.iter().map(|(k, v)| (k.as_str(), Cell::Json(v)))).expect("good");
        let f = facts_of(&row);
        assert_eq!(row.request.stage, pb::Stage::Recommendation as i32);
        assert_eq!(f.employee_count, Some(40));
        assert_eq!(f.expects_magic_wand, Some(false));
        assert_eq!(f.priority, Some(pb::Priority::Low as i32));
        assert_eq!(f.vertical, None, "null is not sent");
        assert_eq!(
            f.questions_asked,
            Some(12),
            "a number in a string is read as in CSV"
        );

        let bad = serde_json::json!({
            "lead_id": 7,
            "employee_count": 2.5,
            "expects_magic_wand": "perhaps",
            "vertical": ["a"],
            "country": true,
            "missed_sessions": false,
        });
        let obj = bad.as_object().expect("object");
        let err = parse_row(obj.iter().map(|(k, v)| (k.as_str(), Cell::Json(v)))).expect_err("bad");
        let mut columns = problem_columns(&err);
        columns.sort_unstable();
        assert_eq!(
            columns,
            [
                "country",
                "employee_count",
                "expects_magic_wand",
                "lead_id",
                "missed_sessions",
                "vertical"
            ]
        );
    }

    #[test]
    fn an_empty_json_string_is_not_sent_as_an_empty_csv_cell_is_not() {
        let row = serde_json::json!({"lead_id": "J-2", "vertical": " ", "stage": ""});
        let obj = row.as_object().expect("object");
        let row = parse_row(obj.iter().map(|(k, v)| (k.as_str(), Cell::Json(v)))).expect("good");
        assert_eq!(facts_of(&row).vertical, None);
        assert_eq!(row.request.stage, 0);

        let row = serde_json::json!({"lead_id": "", "vertical": "saas"});
        let obj = row.as_object().expect("object");
        let err = parse_row(obj.iter().map(|(k, v)| (k.as_str(), Cell::Json(v))))
            .expect_err("no lead id");
        assert_eq!(err.to_string(), "lead_id: is required");
    }

    #[test]
    fn stages_and_outcomes_read_short_and_proto_names_in_any_case() {
        assert_eq!(parse_stage("study"), Ok(pb::Stage::Study));
        assert_eq!(parse_stage("STAGE_STUDY"), Ok(pb::Stage::Study));
        assert_eq!(parse_stage("Identification"), Ok(pb::Stage::Identification));
        assert!(parse_stage("unspecified").is_err());
        assert!(parse_stage("STAGE_UNSPECIFIED").is_err());
        assert_eq!(parse_outcome("needs-review"), Ok(pb::Outcome::NeedsReview));
        assert_eq!(
            parse_outcome("OUTCOME_DISQUALIFIED"),
            Ok(pb::Outcome::Disqualified)
        );
        assert!(parse_outcome("maybe").is_err());
    }

    #[test]
    fn derived_request_ids_are_stable_and_distinct_for_identical_rows() {
        let row = |cells: &[(&str, &str)]| csv(cells).expect("good").request;
        let a = row(&[
            ("lead_id", "L"),
            ("stage", "contact"),
            ("expects_magic_wand", "true"),
        ]);
        // The same content spelt differently, columns in another order.
        let a_again = row(&[
            ("expects_magic_wand", "YES"),
            ("stage", "STAGE_CONTACT"),
            ("lead_id", "L"),
        ]);
        let b = row(&[
            ("lead_id", "L"),
            ("stage", "contact"),
            ("expects_magic_wand", "false"),
        ]);
        let other_lead = row(&[
            ("lead_id", "M"),
            ("stage", "contact"),
            ("expects_magic_wand", "true"),
        ]);

        let assign_all = |rows: &[&pb::QualifyLeadRequest]| -> Vec<String> {
            let mut ids = RequestIds::default();
            rows.iter()
                .map(|r| {
                    let mut r = (*r).clone();
                    ids.assign(&mut r);
                    r.request_id
                })
                .collect()
        };
        let first = assign_all(&[&a, &b, &a_again, &other_lead]);
        let second = assign_all(&[&a, &b, &a_again, &other_lead]);
        assert_eq!(first, second, "stable across runs");
        assert!(
            first
                .iter()
                .all(|id| id.starts_with("row-") && id.len() == 68)
        );
        assert_ne!(first[0], first[1], "other facts, other id");
        assert_ne!(first[0], first[2], "an identical row is a second request");
        assert_ne!(first[0], first[3], "other lead, other id");
        let mut unique = first.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 4);

        // The first of two identical rows gets the id a lone row gets.
        assert_eq!(assign_all(&[&a_again])[0], first[0]);
    }

    #[test]
    fn an_explicit_request_id_is_kept() {
        let mut request = csv(&[("lead_id", "L"), ("request_id", "crm-42")])
            .expect("good")
            .request;
        RequestIds::default().assign(&mut request);
        assert_eq!(request.request_id, "crm-42");
    }

    mod properties {
        use proptest::option;
        use proptest::prelude::*;

        use super::super::*;

        fn text() -> impl Strategy<Value = String> {
            "[A-Za-z][A-Za-z0-9 /_-]{0,20}[A-Za-z0-9]"
        }

        prop_compose! {
            fn any_facts()(
                amounts in proptest::collection::vec(option::of(0i64..i64::MAX), 3),
                counts in proptest::collection::vec(option::of(0i32..i32::MAX), 14),
                texts in proptest::collection::vec(option::of(text()), 5),
                bools in proptest::collection::vec(option::of(any::<bool>()), 3),
                engagement in option::of(1i32..=4),
                priority in option::of(1i32..=4),
                profit in option::of(any::<i64>()),
                ratios in proptest::collection::vec(option::of(0.0f64..1e6), 4),
                first_purchase in option::of("20[0-2][0-9]-0[1-9]-[0-2][1-8]"),
                last_contact in option::of("20[0-2][0-9]-1[0-2]-[0-2][1-8]"),
            ) -> pb::LeadFacts {
                pb::LeadFacts {
                    employee_count: amounts[0],
                    annual_revenue_usd: amounts[1],
                    budget_usd: amounts[2],
                    vertical: texts[0].clone(),
                    business_model: texts[1].clone(),
                    territory: texts[2].clone(),
                    country: texts[3].clone(),
                    timezone: texts[4].clone(),
                    disrespectful_incidents: counts[0],
                    questions_asked: counts[1],
                    questions_answered: counts[2],
                    contradictory_statements: counts[3],
                    plan_steps_agreed: counts[4],
                    plan_steps_completed: counts[5],
                    staff_available: counts[6],
                    missed_sessions: counts[7],
                    assignments_given: counts[8],
                    assignments_completed: counts[9],
                    meetings_cancelled: counts[10],
                    meetings_rescheduled: counts[11],
                    agreed_actions_not_done: counts[12],
                    max_material_repeats: counts[13],
                    emotional_only_responses: bools[0],
                    insists_on_own_process: bools[1],
                    expects_magic_wand: bools[2],
                    engagement_pattern: engagement,
                    priority,
                    orders_count: counts[0],
                    gross_profit_usd: profit,
                    referrals_count: counts[1],
                    first_purchase_date: first_purchase,
                    cost_to_serve_usd: amounts[0],
                    share_of_wallet: ratios[0],
                    overdue_receivables_usd: amounts[1],
                    strategic_account: bools[0],
                    last_contact_date: last_contact,
                    progress_requests_per_week: ratios[1],
                    has_written_spec: bools[1],
                    decision_postponements: counts[2],
                    rush_requests: counts[3],
                    median_reply_days: ratios[2],
                    out_of_scope_changes: counts[4],
                    discount_requested_pct: ratios[3],
                }
            }
        }

        proptest! {
            /// Any facts written as CSV cells (the JSON form of each value,
            /// unset facts as empty cells) read back as the same facts.
            #[test]
            fn facts_written_as_cells_read_back_the_same(facts in any_facts()) {
                let json = crate::cli::json::to_json(&facts);
                let cells: Vec<(&str, String)> = fact_columns()
                    .map(|column| {
                        let cell = match json.get(column) {
                            None => String::new(),
                            Some(serde_json::Value::String(s)) => s.clone(),
                            Some(other) => other.to_string(),
                        };
                        (column, cell)
                    })
                    .collect();
                let row = parse_row(
                    std::iter::once((LEAD_ID, Cell::Text("L")))
                        .chain(cells.iter().map(|(c, v)| (*c, Cell::Text(v)))),
                )
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(row.request.facts, Some(facts));
            }

            /// Whatever the cells, the parser answers without panicking, and
            /// a row it accepts has its lead id.
            #[test]
            fn any_cells_give_a_row_or_reasons(
                cells in proptest::collection::vec(
                    (
                        prop_oneof![
                            proptest::sample::select(fact_columns().collect::<Vec<_>>())
                                .prop_map(str::to_owned),
                            Just(LEAD_ID.to_owned()),
                            Just(STAGE.to_owned()),
                            "[a-z_]{1,12}",
                        ],
                        "\\PC{0,12}",
                    ),
                    0..8,
                )
            ) {
                match parse_row(cells.iter().map(|(c, v)| (c.as_str(), Cell::Text(v)))) {
                    Ok(row) => prop_assert!(!row.request.lead_id.is_empty()),
                    Err(e) => prop_assert!(!e.problems.is_empty()),
                }
            }
        }
    }
}
