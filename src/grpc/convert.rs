//! Conversions between the wire types and the domain. Requests are checked
//! here field by field, so the application only ever sees valid values;
//! every bad field becomes one violation naming it.

use std::collections::HashSet;

use jiff::Timestamp;

use super::account;
use crate::auth::Role;
use crate::domain::countries::is_iso_alpha2;
use crate::domain::profile::{Weights, ZoneName};
use crate::domain::{
    BusinessHours, CATALOGUE, Criterion, EngagementPattern, Evaluation, Facts, LeadId, Outcome,
    Priority, Profile, RequestId, Signal, SignalStatus, Stage, Thresholds, Violation,
};
use crate::proto::v1 as pb;
use crate::qualification::{
    DEFAULT_PREVIEW_SAMPLE, LeadView, MAX_PREVIEW_SAMPLE, OverrideVerdict, Preview, Qualified,
    QualifyLead, SignalStats,
};
use crate::records::{
    ApiKeyRecord, AuditEvent, AuditKind, OverrideRecord, ProfileVersion, VerdictRecord,
};

/// Longest accepted free-text fact or profile label, in characters.
const MAX_LABEL_CHARS: usize = 200;
/// Longest reason of an override or its withdrawal, in characters.
const MAX_REASON_CHARS: usize = 2000;
/// Longest author of an override, in characters.
const MAX_AUTHOR_CHARS: usize = 200;

pub fn timestamp(ts: Timestamp) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ts.as_second(),
        nanos: ts.subsec_nanosecond(),
    }
}

// --- requests -------------------------------------------------------------

pub fn lead_id(value: &str, field: &str, violations: &mut Vec<Violation>) -> Option<LeadId> {
    LeadId::parse(value)
        .map_err(|e| violations.push(Violation::new(field, e)))
        .ok()
}

/// A lead id that may be left empty to mean any lead.
pub fn optional_lead_id(
    value: &str,
    field: &str,
    violations: &mut Vec<Violation>,
) -> Option<LeadId> {
    (!value.is_empty())
        .then(|| lead_id(value, field, violations))
        .flatten()
}

pub fn qualify_command(request: pb::QualifyLeadRequest) -> Result<QualifyLead, Vec<Violation>> {
    let mut violations = Vec::new();
    let lead_id = lead_id(&request.lead_id, "lead_id", &mut violations);
    let stage = optional_enum(request.stage, "stage", stage_from_wire, &mut violations);
    let facts = facts(request.facts.unwrap_or_default(), "facts", &mut violations);
    let request_id = if request.request_id.is_empty() {
        None
    } else {
        RequestId::parse(&request.request_id)
            .map_err(|e| violations.push(Violation::new("request_id", e)))
            .ok()
    };
    match lead_id {
        Some(lead_id) if violations.is_empty() => Ok(QualifyLead {
            lead_id,
            stage,
            facts,
            request_id,
            validate_only: request.validate_only,
        }),
        _ => Err(violations),
    }
}

/// An optional enum field: 0 (unspecified) is `None`; a number `parse` does
/// not know is a violation of `field`.
pub fn optional_enum<T>(
    n: i32,
    field: &str,
    parse: fn(i32) -> Option<T>,
    violations: &mut Vec<Violation>,
) -> Option<T> {
    if n == 0 {
        return None;
    }
    let value = parse(n);
    if value.is_none() {
        violations.push(Violation::new(field, format!("{n} is not a known {field}")));
    }
    value
}

pub fn stage_from_wire(n: i32) -> Option<Stage> {
    match pb::Stage::try_from(n).ok()? {
        pb::Stage::Unspecified => None,
        pb::Stage::Identification => Some(Stage::Identification),
        pb::Stage::Contact => Some(Stage::Contact),
        pb::Stage::Study => Some(Stage::Study),
        pb::Stage::Recommendation => Some(Stage::Recommendation),
    }
}

pub fn outcome_from_wire(n: i32) -> Option<Outcome> {
    match pb::Outcome::try_from(n).ok()? {
        pb::Outcome::Unspecified => None,
        pb::Outcome::Qualified => Some(Outcome::Qualified),
        pb::Outcome::NeedsReview => Some(Outcome::NeedsReview),
        pb::Outcome::Disqualified => Some(Outcome::Disqualified),
    }
}

fn count(value: Option<i32>, field: &str, violations: &mut Vec<Violation>) -> Option<i32> {
    match value {
        Some(v) if v < 0 => {
            violations.push(Violation::new(field, format!("must be >= 0, got {v}")));
            None
        }
        other => other,
    }
}

fn amount(value: Option<i64>, field: &str, violations: &mut Vec<Violation>) -> Option<i64> {
    match value {
        Some(v) if v < 0 => {
            violations.push(Violation::new(field, format!("must be >= 0, got {v}")));
            None
        }
        other => other,
    }
}

fn label(value: Option<String>, field: &str, violations: &mut Vec<Violation>) -> Option<String> {
    let value = value?;
    let trimmed = value.trim();
    if trimmed.is_empty() {
        violations.push(Violation::new(field, "must not be empty when set"));
        return None;
    }
    if trimmed.chars().count() > MAX_LABEL_CHARS {
        violations.push(Violation::new(
            field,
            format!("must be at most {MAX_LABEL_CHARS} characters"),
        ));
        return None;
    }
    if trimmed.chars().any(char::is_control) {
        violations.push(Violation::new(
            field,
            "must contain only printable characters",
        ));
        return None;
    }
    Some(trimmed.to_owned())
}

fn country(value: Option<String>, field: &str, violations: &mut Vec<Violation>) -> Option<String> {
    let value = value?;
    let code = value.trim().to_ascii_uppercase();
    if is_iso_alpha2(&code) {
        Some(code)
    } else {
        violations.push(Violation::new(
            field,
            format!("\"{value}\" is not an ISO 3166-1 alpha-2 country code (e.g. \"DE\")"),
        ));
        None
    }
}

fn timezone(value: Option<String>, field: &str, violations: &mut Vec<Violation>) -> Option<String> {
    let value = value?;
    match ZoneName::parse(value.trim()) {
        Ok(zone) => Some(zone.name().to_owned()),
        Err(e) => {
            violations.push(Violation::new(field, e));
            None
        }
    }
}

fn engagement(
    value: Option<i32>,
    field: &str,
    violations: &mut Vec<Violation>,
) -> Option<EngagementPattern> {
    match pb::EngagementPattern::try_from(value?) {
        Ok(pb::EngagementPattern::Unspecified) => None,
        Ok(pb::EngagementPattern::Steady) => Some(EngagementPattern::Steady),
        Ok(pb::EngagementPattern::Impulsive) => Some(EngagementPattern::Impulsive),
        Ok(pb::EngagementPattern::Lethargic) => Some(EngagementPattern::Lethargic),
        Ok(pb::EngagementPattern::Swinging) => Some(EngagementPattern::Swinging),
        Err(_) => {
            violations.push(Violation::new(field, "is not a known engagement pattern"));
            None
        }
    }
}

fn priority(value: Option<i32>, field: &str, violations: &mut Vec<Violation>) -> Option<Priority> {
    match pb::Priority::try_from(value?) {
        Ok(pb::Priority::Unspecified) => None,
        Ok(pb::Priority::High) => Some(Priority::High),
        Ok(pb::Priority::Normal) => Some(Priority::Normal),
        Ok(pb::Priority::Low) => Some(Priority::Low),
        Ok(pb::Priority::NotNow) => Some(Priority::NotNow),
        Err(_) => {
            violations.push(Violation::new(field, "is not a known priority"));
            None
        }
    }
}

/// Checks every fact; `prefix` is the field path of the message.
pub fn facts(p: pb::LeadFacts, prefix: &str, v: &mut Vec<Violation>) -> Facts {
    let f = |name: &str| format!("{prefix}.{name}");
    Facts {
        employee_count: amount(p.employee_count, &f("employee_count"), v),
        annual_revenue_usd: amount(p.annual_revenue_usd, &f("annual_revenue_usd"), v),
        vertical: label(p.vertical, &f("vertical"), v),
        business_model: label(p.business_model, &f("business_model"), v),
        territory: label(p.territory, &f("territory"), v),
        country: country(p.country, &f("country"), v),
        timezone: timezone(p.timezone, &f("timezone"), v),
        disrespectful_incidents: count(p.disrespectful_incidents, &f("disrespectful_incidents"), v),
        emotional_only_responses: p.emotional_only_responses,
        engagement_pattern: engagement(p.engagement_pattern, &f("engagement_pattern"), v),
        questions_asked: count(p.questions_asked, &f("questions_asked"), v),
        questions_answered: count(p.questions_answered, &f("questions_answered"), v),
        insists_on_own_process: p.insists_on_own_process,
        contradictory_statements: count(
            p.contradictory_statements,
            &f("contradictory_statements"),
            v,
        ),
        plan_steps_agreed: count(p.plan_steps_agreed, &f("plan_steps_agreed"), v),
        plan_steps_completed: count(p.plan_steps_completed, &f("plan_steps_completed"), v),
        budget_usd: amount(p.budget_usd, &f("budget_usd"), v),
        staff_available: count(p.staff_available, &f("staff_available"), v),
        missed_sessions: count(p.missed_sessions, &f("missed_sessions"), v),
        priority: priority(p.priority, &f("priority"), v),
        expects_magic_wand: p.expects_magic_wand,
        assignments_given: count(p.assignments_given, &f("assignments_given"), v),
        assignments_completed: count(p.assignments_completed, &f("assignments_completed"), v),
        meetings_cancelled: count(p.meetings_cancelled, &f("meetings_cancelled"), v),
        meetings_rescheduled: count(p.meetings_rescheduled, &f("meetings_rescheduled"), v),
        agreed_actions_not_done: count(p.agreed_actions_not_done, &f("agreed_actions_not_done"), v),
        max_material_repeats: count(p.max_material_repeats, &f("max_material_repeats"), v),
        orders_count: count(p.orders_count, &f("orders_count"), v),
        // The one amount that may be negative: a client can cost more than
        // it brings.
        gross_profit_usd: p.gross_profit_usd,
        referrals_count: count(p.referrals_count, &f("referrals_count"), v),
        first_purchase_date: account::date(p.first_purchase_date, &f("first_purchase_date"), v),
        cost_to_serve_usd: amount(p.cost_to_serve_usd, &f("cost_to_serve_usd"), v),
        share_of_wallet: account::within(p.share_of_wallet, 1.0, &f("share_of_wallet"), v),
        overdue_receivables_usd: amount(
            p.overdue_receivables_usd,
            &f("overdue_receivables_usd"),
            v,
        ),
        strategic_account: p.strategic_account,
        last_contact_date: account::date(p.last_contact_date, &f("last_contact_date"), v),
        progress_requests_per_week: account::rate(
            p.progress_requests_per_week,
            &f("progress_requests_per_week"),
            v,
        ),
        has_written_spec: p.has_written_spec,
        decision_postponements: count(p.decision_postponements, &f("decision_postponements"), v),
        rush_requests: count(p.rush_requests, &f("rush_requests"), v),
        median_reply_days: account::rate(p.median_reply_days, &f("median_reply_days"), v),
        out_of_scope_changes: count(p.out_of_scope_changes, &f("out_of_scope_changes"), v),
        discount_requested_pct: account::within(
            p.discount_requested_pct,
            100.0,
            &f("discount_requested_pct"),
            v,
        ),
    }
}

/// Most entries of a profile's list of labels or countries.
pub const MAX_LIST_ENTRIES: usize = 256;

/// Most entries of a profile's list of criteria (weights, knockouts): each
/// criterion once, with room for a few repeats to be reported.
pub const MAX_CRITERIA_ENTRIES: usize = 64;

/// `values`, unless there are more than `max` of them: then a violation of
/// `field`, and none of them is looked at.
fn bounded<T>(values: Vec<T>, max: usize, field: &str, v: &mut Vec<Violation>) -> Vec<T> {
    if values.len() > max {
        v.push(Violation::new(
            field,
            format!("at most {max} entries, got {}", values.len()),
        ));
        return Vec::new();
    }
    values
}

fn labels(values: Vec<String>, field: &str, v: &mut Vec<Violation>) -> Vec<String> {
    let values = bounded(values, MAX_LIST_ENTRIES, field, v);
    let mut seen = HashSet::with_capacity(values.len());
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for (i, value) in values.into_iter().enumerate() {
        if let Some(l) = label(Some(value), &format!("{field}[{i}]"), v)
            && seen.insert(l.to_ascii_lowercase())
        {
            out.push(l);
        }
    }
    out
}

/// A new profile from an UpdateProfile request; unset settings take those of
/// `Profile::default()`. Returns every violation, of single fields and
/// across fields.
pub fn profile(p: pb::Profile, v: &mut Vec<Violation>) -> Profile {
    let defaults = Profile::default();
    let thresholds = thresholds(&p, defaults.thresholds);
    let accounts = account::settings(&p);
    // Sections report their violations in this order.
    let countries = countries(p.countries, v);
    let seller_timezone = seller_timezone(&p.seller_timezone, v);
    let seller_business_hours =
        seller_business_hours(p.seller_business_hours, defaults.seller_business_hours, v);
    let target_verticals = labels(p.target_verticals, "profile.target_verticals", v);
    let target_business_models = labels(
        p.target_business_models,
        "profile.target_business_models",
        v,
    );
    let territories = labels(p.territories, "profile.territories", v);
    let weights = weights(p.weights, defaults.weights, v);
    let knockouts = knockouts(p.knockouts, v);
    let profile = Profile {
        min_employees: p.min_employees,
        max_employees: p.max_employees,
        min_annual_revenue_usd: p.min_annual_revenue_usd,
        max_annual_revenue_usd: p.max_annual_revenue_usd,
        target_verticals,
        target_business_models,
        territories,
        countries,
        seller_timezone,
        seller_business_hours,
        min_overlap_hours: p.min_overlap_hours.unwrap_or(defaults.min_overlap_hours),
        thresholds,
        weights,
        knockouts,
        review_threshold: p.review_threshold.unwrap_or(defaults.review_threshold),
        disqualify_threshold: p
            .disqualify_threshold
            .unwrap_or(defaults.disqualify_threshold),
        accounts,
    };
    v.extend(profile.violations("profile"));
    profile
}

/// The served countries as ISO codes, without duplicates.
fn countries(values: Vec<String>, v: &mut Vec<Violation>) -> Vec<String> {
    let values = bounded(values, MAX_LIST_ENTRIES, "profile.countries", v);
    let mut countries = Vec::new();
    for (i, c) in values.into_iter().enumerate() {
        if let Some(code) = country(Some(c), &format!("profile.countries[{i}]"), v)
            && !countries.contains(&code)
        {
            countries.push(code);
        }
    }
    countries
}

/// The seller's zone; empty means none (the country check only).
fn seller_timezone(name: &str, v: &mut Vec<Violation>) -> Option<ZoneName> {
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    ZoneName::parse(name)
        .map_err(|e| v.push(Violation::new("profile.seller_timezone", e)))
        .ok()
}

/// The seller's business hours; unset or invalid ones are `default`.
fn seller_business_hours(
    hours: Option<pb::BusinessHours>,
    default: BusinessHours,
    v: &mut Vec<Violation>,
) -> BusinessHours {
    let Some(hours) = hours else {
        return default;
    };
    BusinessHours::parse(&hours.start, &hours.end).unwrap_or_else(|(part, e)| {
        v.push(Violation::new(
            format!("profile.seller_business_hours.{part}"),
            e,
        ));
        default
    })
}

/// The rule thresholds; an unset limit or ratio takes its default, an unset
/// minimum budget or staff means no minimum.
fn thresholds(p: &pb::Profile, defaults: Thresholds) -> Thresholds {
    Thresholds {
        max_disrespectful_incidents: p
            .max_disrespectful_incidents
            .unwrap_or(defaults.max_disrespectful_incidents),
        min_answer_ratio: p.min_answer_ratio.unwrap_or(defaults.min_answer_ratio),
        max_contradictions: p.max_contradictions.unwrap_or(defaults.max_contradictions),
        min_plan_completion: p
            .min_plan_completion
            .unwrap_or(defaults.min_plan_completion),
        min_budget_usd: p.min_budget_usd,
        min_staff: p.min_staff,
        max_missed_sessions: p
            .max_missed_sessions
            .unwrap_or(defaults.max_missed_sessions),
        min_assignment_completion: p
            .min_assignment_completion
            .unwrap_or(defaults.min_assignment_completion),
        max_meeting_disruptions: p
            .max_meeting_disruptions
            .unwrap_or(defaults.max_meeting_disruptions),
        max_agreed_not_done: p
            .max_agreed_not_done
            .unwrap_or(defaults.max_agreed_not_done),
        max_material_repeats_allowed: p
            .max_material_repeats_allowed
            .unwrap_or(defaults.max_material_repeats_allowed),
    }
}

/// `weights` with the listed criteria set; a criterion may be listed once,
/// with a weight from 0 to 100.
fn weights(
    listed: Vec<pb::CriterionWeight>,
    mut weights: Weights,
    v: &mut Vec<Violation>,
) -> Weights {
    let listed = bounded(listed, MAX_CRITERIA_ENTRIES, "profile.weights", v);
    let mut seen = Vec::new();
    for (i, w) in listed.into_iter().enumerate() {
        let Some(criterion) = Criterion::from_number(w.criterion) else {
            v.push(Violation::new(
                format!("profile.weights[{i}].criterion"),
                format!("{} is not a known criterion", w.criterion),
            ));
            continue;
        };
        if seen.contains(&criterion) {
            v.push(Violation::new(
                format!("profile.weights[{i}].criterion"),
                format!("{} is listed more than once", criterion.code()),
            ));
            continue;
        }
        seen.push(criterion);
        if (0..=100).contains(&w.weight) {
            weights.set(criterion, w.weight);
        } else {
            v.push(Violation::new(
                format!("profile.weights[{i}].weight"),
                format!("must be between 0 and 100, got {}", w.weight),
            ));
        }
    }
    weights
}

/// The knockout criteria, sorted and without duplicates.
fn knockouts(numbers: Vec<i32>, v: &mut Vec<Violation>) -> Vec<Criterion> {
    let numbers = bounded(numbers, MAX_CRITERIA_ENTRIES, "profile.knockouts", v);
    let mut knockouts = Vec::new();
    for (i, k) in numbers.into_iter().enumerate() {
        match Criterion::from_number(k) {
            Some(c) if !knockouts.contains(&c) => knockouts.push(c),
            Some(_) => {}
            None => v.push(Violation::new(
                format!("profile.knockouts[{i}]"),
                format!("{k} is not a known criterion"),
            )),
        }
    }
    knockouts.sort();
    knockouts
}

// --- responses ------------------------------------------------------------

fn stage_to_wire(stage: Stage) -> i32 {
    stage as i32
}

pub fn facts_to_wire(f: &Facts) -> pb::LeadFacts {
    pb::LeadFacts {
        employee_count: f.employee_count,
        annual_revenue_usd: f.annual_revenue_usd,
        vertical: f.vertical.clone(),
        business_model: f.business_model.clone(),
        territory: f.territory.clone(),
        country: f.country.clone(),
        timezone: f.timezone.clone(),
        disrespectful_incidents: f.disrespectful_incidents,
        emotional_only_responses: f.emotional_only_responses,
        engagement_pattern: f.engagement_pattern.map(|e| match e {
            EngagementPattern::Steady => pb::EngagementPattern::Steady as i32,
            EngagementPattern::Impulsive => pb::EngagementPattern::Impulsive as i32,
            EngagementPattern::Lethargic => pb::EngagementPattern::Lethargic as i32,
            EngagementPattern::Swinging => pb::EngagementPattern::Swinging as i32,
        }),
        questions_asked: f.questions_asked,
        questions_answered: f.questions_answered,
        insists_on_own_process: f.insists_on_own_process,
        contradictory_statements: f.contradictory_statements,
        plan_steps_agreed: f.plan_steps_agreed,
        plan_steps_completed: f.plan_steps_completed,
        budget_usd: f.budget_usd,
        staff_available: f.staff_available,
        missed_sessions: f.missed_sessions,
        priority: f.priority.map(|p| match p {
            Priority::High => pb::Priority::High as i32,
            Priority::Normal => pb::Priority::Normal as i32,
            Priority::Low => pb::Priority::Low as i32,
            Priority::NotNow => pb::Priority::NotNow as i32,
        }),
        expects_magic_wand: f.expects_magic_wand,
        assignments_given: f.assignments_given,
        assignments_completed: f.assignments_completed,
        meetings_cancelled: f.meetings_cancelled,
        meetings_rescheduled: f.meetings_rescheduled,
        agreed_actions_not_done: f.agreed_actions_not_done,
        max_material_repeats: f.max_material_repeats,
        orders_count: f.orders_count,
        gross_profit_usd: f.gross_profit_usd,
        referrals_count: f.referrals_count,
        first_purchase_date: f.first_purchase_date.map(|d| d.to_string()),
        cost_to_serve_usd: f.cost_to_serve_usd,
        share_of_wallet: f.share_of_wallet,
        overdue_receivables_usd: f.overdue_receivables_usd,
        strategic_account: f.strategic_account,
        last_contact_date: f.last_contact_date.map(|d| d.to_string()),
        progress_requests_per_week: f.progress_requests_per_week,
        has_written_spec: f.has_written_spec,
        decision_postponements: f.decision_postponements,
        rush_requests: f.rush_requests,
        median_reply_days: f.median_reply_days,
        out_of_scope_changes: f.out_of_scope_changes,
        discount_requested_pct: f.discount_requested_pct,
    }
}

fn signal_to_wire(s: &Signal) -> pb::Signal {
    pb::Signal {
        criterion: s.criterion.number(),
        stage: stage_to_wire(s.stage()),
        status: match s.status {
            SignalStatus::Fired => pb::SignalStatus::Fired,
            SignalStatus::Clear => pb::SignalStatus::Clear,
            SignalStatus::Unknown => pb::SignalStatus::Unknown,
            SignalStatus::NotApplicable => pb::SignalStatus::NotApplicable,
        } as i32,
        weight: s.weight,
        knockout: s.knockout,
        evidence: s.evidence.clone(),
        remedy: s.remedy.clone(),
        missing_facts: s.missing_facts.clone(),
    }
}

fn outcome_to_wire(o: Outcome) -> i32 {
    let wire = match o {
        Outcome::Qualified => pb::Outcome::Qualified,
        Outcome::NeedsReview => pb::Outcome::NeedsReview,
        Outcome::Disqualified => pb::Outcome::Disqualified,
    };
    wire as i32
}

fn breakdown(e: &Evaluation) -> Vec<pb::StageBreakdown> {
    e.stage_breakdown()
        .into_iter()
        .map(|b| pb::StageBreakdown {
            stage: stage_to_wire(b.stage),
            score: b.score,
            fired: b.fired,
            clear: b.clear,
            unknown: b.unknown,
            not_applicable: b.not_applicable,
        })
        .collect()
}

pub fn verdict_to_wire(v: &VerdictRecord) -> pb::Verdict {
    pb::Verdict {
        verdict_id: v.verdict_id.clone(),
        tenant: v.tenant.clone(),
        lead_id: v.lead_id.clone(),
        stage: stage_to_wire(v.evaluation.stage),
        outcome: outcome_to_wire(v.evaluation.outcome),
        score: v.evaluation.score,
        signals: v.evaluation.signals.iter().map(signal_to_wire).collect(),
        stage_breakdown: breakdown(&v.evaluation),
        profile_version: v.profile_version,
        facts_hash: v.facts_hash.clone(),
        request_id: v.request_id.clone().unwrap_or_default(),
        evaluate_time: Some(timestamp(v.evaluated_at)),
        evaluation_date: v.evaluation_date.to_string(),
        knockouts_fired: v
            .evaluation
            .knockouts_fired()
            .into_iter()
            .map(Criterion::number)
            .collect(),
        account: v.evaluation.account.as_ref().map(account::account_to_wire),
    }
}

pub fn lead_to_wire(view: &LeadView) -> pb::Lead {
    let (effective, reason) = view.effective_outcome();
    pb::Lead {
        lead_id: view.lead.lead_id.clone(),
        stage: stage_to_wire(view.lead.stage),
        facts: Some(facts_to_wire(&view.lead.facts)),
        latest_verdict: view.latest_verdict.as_ref().map(verdict_to_wire),
        create_time: Some(timestamp(view.lead.created_at)),
        update_time: Some(timestamp(view.lead.updated_at)),
        effective_outcome: effective.map(outcome_to_wire).unwrap_or_default(),
        effective_outcome_reason: reason,
        active_override: view.active_override.as_ref().map(override_to_wire),
    }
}

pub fn override_to_wire(o: &OverrideRecord) -> pb::VerdictOverride {
    pb::VerdictOverride {
        override_id: o.override_id.clone(),
        lead_id: o.lead_id.clone(),
        outcome: outcome_to_wire(o.outcome),
        reason: o.reason.clone(),
        author: o.author.clone(),
        create_time: Some(timestamp(o.created_at)),
        expire_time: o.expires_at.map(timestamp),
        verdict_id: o.verdict_id.clone().unwrap_or_default(),
        actor: o.actor.clone(),
        clear_time: o.cleared_at.map(timestamp),
    }
}

fn required_text(value: &str, field: &str, max: usize, v: &mut Vec<Violation>) -> String {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        v.push(Violation::new(field, "is required"));
    } else if trimmed.chars().count() > max {
        v.push(Violation::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    trimmed.to_owned()
}

/// The lead and the reason of a `ClearOverride`, validated.
pub fn clear_override_command(
    r: &pb::ClearOverrideRequest,
) -> Result<(LeadId, String), Vec<Violation>> {
    let mut v = Vec::new();
    let lead_id = lead_id(&r.lead_id, "lead_id", &mut v);
    let reason = required_text(&r.reason, "reason", MAX_REASON_CHARS, &mut v);
    match lead_id {
        Some(lead_id) if v.is_empty() => Ok((lead_id, reason)),
        _ => Err(v),
    }
}

pub fn override_command(r: pb::OverrideVerdictRequest) -> Result<OverrideVerdict, Vec<Violation>> {
    let mut v = Vec::new();
    let lead_id = lead_id(&r.lead_id, "lead_id", &mut v);
    let outcome = outcome_from_wire(r.outcome);
    if outcome.is_none() {
        v.push(Violation::new(
            "outcome",
            "must be QUALIFIED, NEEDS_REVIEW or DISQUALIFIED",
        ));
    }
    let reason = required_text(&r.reason, "reason", MAX_REASON_CHARS, &mut v);
    let author = required_text(&r.author, "author", MAX_AUTHOR_CHARS, &mut v);
    let expires_at = match r.expire_time {
        None => None,
        Some(t) => match Timestamp::new(t.seconds, t.nanos) {
            Ok(ts) => Some(Timestamp::from_microsecond(ts.as_microsecond()).unwrap_or(ts)),
            Err(_) => {
                v.push(Violation::new("expire_time", "is not a valid timestamp"));
                None
            }
        },
    };
    match (lead_id, outcome) {
        (Some(lead_id), Some(outcome)) if v.is_empty() => Ok(OverrideVerdict {
            lead_id,
            outcome,
            reason,
            author,
            expires_at,
        }),
        _ => Err(v),
    }
}

/// How many changed leads a preview returns: 0 means the default.
pub fn preview_sample_size(n: i32, v: &mut Vec<Violation>) -> usize {
    match usize::try_from(n) {
        Ok(0) => DEFAULT_PREVIEW_SAMPLE,
        Ok(n) if n <= MAX_PREVIEW_SAMPLE => n,
        _ => {
            v.push(Violation::new(
                "sample_size",
                format!("must be 0 (the default, {DEFAULT_PREVIEW_SAMPLE}) to {MAX_PREVIEW_SAMPLE}, got {n}"),
            ));
            DEFAULT_PREVIEW_SAMPLE
        }
    }
}

/// A bound of a time range, `None` when unset. Stored times have
/// microsecond precision, so a bound is rounded up to the next microsecond:
/// a stored time is at or after (before) the bound exactly when it is at or
/// after (before) the rounded one.
fn range_bound(
    value: Option<prost_types::Timestamp>,
    field: &str,
    v: &mut Vec<Violation>,
) -> Option<Timestamp> {
    let t = value?;
    // From year 1, as google.protobuf.Timestamp, so that stored times
    // compare as fixed-width text.
    let bound = u32::try_from(t.nanos)
        .ok()
        .filter(|nanos| *nanos < 1_000_000_000 && t.seconds >= -62_135_596_800)
        .and_then(|nanos| {
            let micros = jiff::SignedDuration::from_micros(i64::from(nanos.div_ceil(1_000)));
            Timestamp::new(t.seconds, 0).ok()?.checked_add(micros).ok()
        });
    if bound.is_none() {
        v.push(Violation::new(
            field,
            format!(
                "is not a valid timestamp (seconds {}, nanos {})",
                t.seconds, t.nanos
            ),
        ));
    }
    bound
}

/// The range and stage of a GetSignalStats request.
#[allow(clippy::type_complexity)]
pub fn signal_stats_query(
    r: &pb::GetSignalStatsRequest,
) -> Result<(Option<Timestamp>, Option<Timestamp>, Option<Stage>), Vec<Violation>> {
    let mut v = Vec::new();
    let start = range_bound(r.start_time, "start_time", &mut v);
    let end = range_bound(r.end_time, "end_time", &mut v);
    let stage = optional_enum(r.stage, "stage", stage_from_wire, &mut v);
    if let (Some(start), Some(end)) = (start, end)
        && start >= end
    {
        v.push(Violation::new(
            "end_time",
            format!("must be after start_time ({start}), got {end}"),
        ));
    }
    match v.is_empty() {
        true => Ok((start, end, stage)),
        false => Err(v),
    }
}

pub fn role_to_wire(role: Role) -> i32 {
    let wire = match role {
        Role::Reader => pb::Role::Reader,
        Role::Scorer => pb::Role::Scorer,
        Role::Admin => pb::Role::Admin,
    };
    wire as i32
}

/// Most entries of a key's list of roles: each of the three once, with
/// room for a few repeats.
pub const MAX_ROLE_ENTRIES: usize = 8;

pub fn roles_from_wire(roles: &[i32], v: &mut Vec<Violation>) -> Vec<Role> {
    if roles.is_empty() {
        v.push(Violation::new("roles", "at least one role is required"));
    }
    if roles.len() > MAX_ROLE_ENTRIES {
        v.push(Violation::new(
            "roles",
            format!("at most {MAX_ROLE_ENTRIES} entries, got {}", roles.len()),
        ));
        return Vec::new();
    }
    roles
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let role = match pb::Role::try_from(*r) {
                Ok(pb::Role::Reader) => Some(Role::Reader),
                Ok(pb::Role::Scorer) => Some(Role::Scorer),
                Ok(pb::Role::Admin) => Some(Role::Admin),
                _ => None,
            };
            if role.is_none() {
                v.push(Violation::new(
                    format!("roles[{i}]"),
                    "must be ROLE_READER, ROLE_SCORER or ROLE_ADMIN",
                ));
            }
            role
        })
        .collect()
}

pub fn api_key_to_wire(k: &ApiKeyRecord) -> pb::ApiKey {
    pb::ApiKey {
        key_id: k.key_id.clone(),
        tenant: k.tenant.clone(),
        roles: k.roles.iter().copied().map(role_to_wire).collect(),
        description: k.description.clone(),
        create_time: Some(timestamp(k.created_at)),
        last_use_time: k.last_used_at.map(timestamp),
        revoke_time: k.revoked_at.map(timestamp),
    }
}

pub fn audit_kind_from_wire(n: i32) -> Result<Option<AuditKind>, ()> {
    match pb::AuditEventKind::try_from(n).map_err(|_| ())? {
        pb::AuditEventKind::Unspecified => Ok(None),
        pb::AuditEventKind::ProfileUpdated => Ok(Some(AuditKind::ProfileUpdated)),
        pb::AuditEventKind::ApiKeyCreated => Ok(Some(AuditKind::ApiKeyCreated)),
        pb::AuditEventKind::ApiKeyRevoked => Ok(Some(AuditKind::ApiKeyRevoked)),
        pb::AuditEventKind::VerdictOverridden => Ok(Some(AuditKind::VerdictOverridden)),
        pb::AuditEventKind::OverrideCleared => Ok(Some(AuditKind::OverrideCleared)),
    }
}

pub fn audit_event_to_wire(e: &AuditEvent) -> pb::AuditEvent {
    let kind = match e.kind {
        AuditKind::ProfileUpdated => pb::AuditEventKind::ProfileUpdated,
        AuditKind::ApiKeyCreated => pb::AuditEventKind::ApiKeyCreated,
        AuditKind::ApiKeyRevoked => pb::AuditEventKind::ApiKeyRevoked,
        AuditKind::VerdictOverridden => pb::AuditEventKind::VerdictOverridden,
        AuditKind::OverrideCleared => pb::AuditEventKind::OverrideCleared,
    };
    pb::AuditEvent {
        event_id: e.event_id.clone(),
        kind: kind as i32,
        actor: e.actor.clone(),
        create_time: Some(timestamp(e.created_at)),
        lead_id: e.lead_id.clone().unwrap_or_default(),
        subject: e.subject.clone(),
        before_json: e.before_json.clone(),
        after_json: e.after_json.clone(),
    }
}

fn hh_mm(t: jiff::civil::Time) -> String {
    t.strftime("%H:%M").to_string()
}

/// The resolved profile: every threshold and weight spelled out.
pub fn profile_to_wire(pv: &ProfileVersion) -> pb::Profile {
    let p = &pv.profile;
    let t = &p.thresholds;
    let mut wire = pb::Profile {
        version: pv.version,
        create_time: Some(timestamp(pv.created_at)),
        min_employees: p.min_employees,
        max_employees: p.max_employees,
        min_annual_revenue_usd: p.min_annual_revenue_usd,
        max_annual_revenue_usd: p.max_annual_revenue_usd,
        target_verticals: p.target_verticals.clone(),
        target_business_models: p.target_business_models.clone(),
        territories: p.territories.clone(),
        countries: p.countries.clone(),
        seller_timezone: p
            .seller_timezone
            .as_ref()
            .map(|z| z.name().to_owned())
            .unwrap_or_default(),
        seller_business_hours: Some(pb::BusinessHours {
            start: hh_mm(p.seller_business_hours.start),
            end: hh_mm(p.seller_business_hours.end),
        }),
        min_overlap_hours: Some(p.min_overlap_hours),
        max_disrespectful_incidents: Some(t.max_disrespectful_incidents),
        min_answer_ratio: Some(t.min_answer_ratio),
        max_contradictions: Some(t.max_contradictions),
        min_plan_completion: Some(t.min_plan_completion),
        min_budget_usd: t.min_budget_usd,
        min_staff: t.min_staff,
        max_missed_sessions: Some(t.max_missed_sessions),
        min_assignment_completion: Some(t.min_assignment_completion),
        max_meeting_disruptions: Some(t.max_meeting_disruptions),
        max_agreed_not_done: Some(t.max_agreed_not_done),
        max_material_repeats_allowed: Some(t.max_material_repeats_allowed),
        weights: CATALOGUE
            .iter()
            .map(|d| pb::CriterionWeight {
                criterion: d.criterion.number(),
                weight: p.weights.get(d.criterion),
            })
            .collect(),
        knockouts: p.knockouts.iter().map(|c| c.number()).collect(),
        review_threshold: Some(p.review_threshold),
        disqualify_threshold: Some(p.disqualify_threshold),
        ..pb::Profile::default()
    };
    account::settings_to_wire(&p.accounts, &mut wire);
    wire
}

/// A qualification as QualifyLead answers it, alone or as an item of
/// QualifyLeads.
pub fn qualified_to_wire(qualified: &Qualified) -> pb::QualifyLeadResponse {
    pb::QualifyLeadResponse {
        merged_facts: Some(facts_to_wire(&qualified.verdict.facts)),
        verdict: Some(verdict_to_wire(&qualified.verdict)),
        replayed: qualified.replayed,
    }
}

pub fn preview_to_wire(p: &Preview) -> pb::PreviewProfileResponse {
    pb::PreviewProfileResponse {
        current_profile_version: p.current_version,
        evaluate_time: Some(timestamp(p.evaluated_at)),
        leads_evaluated: p.leads_evaluated,
        leads_changed: p.leads_changed,
        transitions: p
            .transitions
            .iter()
            .map(|&(from, to, leads)| pb::OutcomeTransition {
                from: outcome_to_wire(from),
                to: outcome_to_wire(to),
                leads,
            })
            .collect(),
        criteria: p
            .criteria
            .iter()
            .map(
                |&(criterion, fired_before, fired_after)| pb::CriterionShift {
                    criterion: criterion.number(),
                    fired_before,
                    fired_after,
                },
            )
            .collect(),
        sample: p
            .sample
            .iter()
            .map(|(current, candidate)| pb::ChangedLead {
                lead_id: current.lead_id.clone(),
                current: Some(verdict_to_wire(current)),
                candidate: Some(verdict_to_wire(candidate)),
            })
            .collect(),
    }
}

pub fn signal_stats_to_wire(s: &SignalStats) -> pb::GetSignalStatsResponse {
    pb::GetSignalStatsResponse {
        leads: s.leads,
        criteria: s
            .criteria
            .iter()
            .map(|c| pb::CriterionStats {
                criterion: c.criterion.number(),
                fired: c.fired,
                clear: c.clear,
                unknown: c.unknown,
                not_applicable: c.not_applicable,
                missing_facts: c
                    .missing_facts
                    .iter()
                    .map(|(fact, leads)| pb::MissingFactCount {
                        fact: fact.clone(),
                        leads: *leads,
                    })
                    .collect(),
            })
            .collect(),
        stages: s
            .stages
            .iter()
            .map(|(stage, o)| pb::StageOutcomes {
                stage: stage_to_wire(*stage),
                qualified: o.qualified,
                needs_review: o.needs_review,
                disqualified: o.disqualified,
            })
            .collect(),
        disqualifying: s
            .disqualifying
            .iter()
            .map(|d| pb::DisqualifyingCriterion {
                criterion: d.criterion.number(),
                leads: d.leads,
                as_knockout: d.as_knockout,
            })
            .collect(),
    }
}

pub fn criteria_to_wire() -> Vec<pb::CriterionInfo> {
    CATALOGUE
        .iter()
        .map(|d| pb::CriterionInfo {
            criterion: d.criterion.number(),
            code: d.code.to_owned(),
            stage: stage_to_wire(d.stage),
            title: d.title.to_owned(),
            description: d.description.to_owned(),
            facts_read: d.facts_read.iter().map(|s| (*s).to_owned()).collect(),
            default_thresholds: d
                .default_thresholds
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            default_weight: d.default_weight,
        })
        .collect()
}
