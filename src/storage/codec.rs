//! Row shapes and conversions shared by both backends. Enums are stored by
//! their wire code (`MEETING_DISRUPTIONS`, `FIRED`, …) so that signals can be
//! queried with plain SQL; timestamps travel as fixed-width RFC 3339 text
//! (`2026-11-23T15:04:05.123456Z`), which sorts correctly as text.

use anyhow::{Context, anyhow};
use jiff::Timestamp;
use jiff::civil::Date;

use super::{
    ApiKeyRecord, AuditEvent, AuditKind, OverrideRecord, ProfileVersion, StoredLead, VerdictRecord,
};
use crate::domain::access::Role;
use crate::domain::{Criterion, Evaluation, Facts, Outcome, Profile, Signal, SignalStatus, Stage};

/// Timestamp as stored: microsecond precision, UTC, fixed width.
pub fn ts_to_text(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

pub fn ts_from_text(text: &str) -> anyhow::Result<Timestamp> {
    text.parse()
        .with_context(|| format!("stored timestamp {text:?} is not RFC 3339"))
}

fn stage_from(code: &str) -> anyhow::Result<Stage> {
    Stage::from_code(code).ok_or_else(|| anyhow!("unknown stored stage {code:?}"))
}

fn outcome_from(code: &str) -> anyhow::Result<Outcome> {
    Outcome::from_code(code).ok_or_else(|| anyhow!("unknown stored outcome {code:?}"))
}

#[derive(sqlx::FromRow)]
pub struct LeadRow {
    pub tenant: String,
    pub lead_id: String,
    pub stage: String,
    pub facts: String,
    pub revision: i64,
    pub latest_verdict_id: Option<String>,
    pub latest_outcome: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl TryFrom<LeadRow> for StoredLead {
    type Error = anyhow::Error;

    fn try_from(row: LeadRow) -> anyhow::Result<Self> {
        Ok(StoredLead {
            stage: stage_from(&row.stage)?,
            facts: Facts::from_json(&row.facts).context("stored facts are unreadable")?,
            latest_outcome: row
                .latest_outcome
                .as_deref()
                .map(outcome_from)
                .transpose()?,
            created_at: ts_from_text(&row.created_at)?,
            updated_at: ts_from_text(&row.updated_at)?,
            tenant: row.tenant,
            lead_id: row.lead_id,
            revision: row.revision,
            latest_verdict_id: row.latest_verdict_id,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct VerdictRow {
    pub verdict_id: String,
    pub tenant: String,
    pub lead_id: String,
    pub seq: i64,
    pub stage: String,
    pub outcome: String,
    pub score: i32,
    pub profile_version: i64,
    pub facts: String,
    pub facts_hash: String,
    pub request_id: Option<String>,
    pub evaluated_at: String,
    pub evaluation_date: String,
}

#[derive(sqlx::FromRow)]
pub struct SignalRow {
    pub verdict_id: String,
    pub criterion: String,
    pub status: String,
    pub weight: i32,
    pub knockout: bool,
    pub evidence: String,
    pub remedy: String,
    /// JSON array of fact names.
    pub missing_facts: String,
}

/// One row per signal of a verdict, in catalogue order.
pub fn signal_rows(verdict: &VerdictRecord) -> Vec<SignalRow> {
    verdict
        .evaluation
        .signals
        .iter()
        .map(|s| SignalRow {
            verdict_id: verdict.verdict_id.clone(),
            criterion: s.criterion.code().to_owned(),
            status: s.status.code().to_owned(),
            weight: s.weight,
            knockout: s.knockout,
            evidence: s.evidence.clone(),
            remedy: s.remedy.clone(),
            missing_facts: serde_json::to_string(&s.missing_facts)
                .expect("a list of strings always serialises"),
        })
        .collect()
}

/// Joins verdict rows with their signal rows.
pub fn assemble_verdicts(
    rows: Vec<VerdictRow>,
    mut signals: Vec<SignalRow>,
) -> anyhow::Result<Vec<VerdictRecord>> {
    signals.sort_by(|a, b| a.verdict_id.cmp(&b.verdict_id));
    rows.into_iter()
        .map(|row| {
            let start = signals.partition_point(|s| s.verdict_id < row.verdict_id);
            let end = signals.partition_point(|s| s.verdict_id <= row.verdict_id);
            let mine: Vec<Signal> = signals[start..end]
                .iter()
                .map(decode_signal)
                .collect::<anyhow::Result<_>>()?;
            assemble_verdict(row, mine)
        })
        .collect()
}

fn decode_signal(row: &SignalRow) -> anyhow::Result<Signal> {
    Ok(Signal {
        criterion: Criterion::from_code(&row.criterion)
            .ok_or_else(|| anyhow!("unknown stored criterion {:?}", row.criterion))?,
        status: SignalStatus::from_code(&row.status)
            .ok_or_else(|| anyhow!("unknown stored signal status {:?}", row.status))?,
        weight: row.weight,
        knockout: row.knockout,
        evidence: row.evidence.clone(),
        remedy: row.remedy.clone(),
        missing_facts: serde_json::from_str(&row.missing_facts)
            .context("stored missing facts are unreadable")?,
    })
}

fn assemble_verdict(row: VerdictRow, mut signals: Vec<Signal>) -> anyhow::Result<VerdictRecord> {
    signals.sort_by_key(|s| s.criterion.index());
    Ok(VerdictRecord {
        evaluation: Evaluation {
            stage: stage_from(&row.stage)?,
            outcome: outcome_from(&row.outcome)?,
            score: row.score,
            signals,
        },
        facts: Facts::from_json(&row.facts).context("stored facts are unreadable")?,
        evaluated_at: ts_from_text(&row.evaluated_at)?,
        evaluation_date: row
            .evaluation_date
            .parse::<Date>()
            .with_context(|| format!("stored date {:?} is unreadable", row.evaluation_date))?,
        verdict_id: row.verdict_id,
        tenant: row.tenant,
        lead_id: row.lead_id,
        seq: row.seq,
        profile_version: row.profile_version,
        facts_hash: row.facts_hash,
        request_id: row.request_id,
    })
}

#[derive(sqlx::FromRow)]
pub struct ProfileRow {
    pub tenant: String,
    pub version: i64,
    pub body: String,
    pub created_at: String,
}

impl TryFrom<ProfileRow> for ProfileVersion {
    type Error = anyhow::Error;

    fn try_from(row: ProfileRow) -> anyhow::Result<Self> {
        let profile: Profile =
            serde_json::from_str(&row.body).context("stored profile is unreadable")?;
        Ok(ProfileVersion {
            tenant: row.tenant,
            version: row.version,
            profile,
            created_at: ts_from_text(&row.created_at)?,
        })
    }
}

pub fn profile_body(profile: &Profile) -> String {
    serde_json::to_string(profile).expect("a profile always serialises")
}

fn optional_ts(text: Option<String>) -> anyhow::Result<Option<Timestamp>> {
    text.as_deref().map(ts_from_text).transpose()
}

/// Roles as stored: comma-separated codes.
pub fn roles_to_text(roles: &[Role]) -> String {
    roles.iter().map(|r| r.code()).collect::<Vec<_>>().join(",")
}

#[derive(sqlx::FromRow)]
pub struct ApiKeyRow {
    pub key_id: String,
    pub tenant: String,
    pub secret_hash: String,
    pub roles: String,
    pub description: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl TryFrom<ApiKeyRow> for ApiKeyRecord {
    type Error = anyhow::Error;

    fn try_from(row: ApiKeyRow) -> anyhow::Result<Self> {
        let roles = row
            .roles
            .split(',')
            .filter(|r| !r.is_empty())
            .map(|r| Role::from_code(r).ok_or_else(|| anyhow!("unknown stored role {r:?}")))
            .collect::<anyhow::Result<_>>()?;
        Ok(ApiKeyRecord {
            created_at: ts_from_text(&row.created_at)?,
            last_used_at: optional_ts(row.last_used_at)?,
            revoked_at: optional_ts(row.revoked_at)?,
            key_id: row.key_id,
            tenant: row.tenant,
            secret_hash: row.secret_hash,
            roles,
            description: row.description,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct OverrideRow {
    pub override_id: String,
    pub tenant: String,
    pub lead_id: String,
    pub outcome: String,
    pub reason: String,
    pub author: String,
    pub actor: String,
    pub verdict_id: Option<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
}

impl TryFrom<OverrideRow> for OverrideRecord {
    type Error = anyhow::Error;

    fn try_from(row: OverrideRow) -> anyhow::Result<Self> {
        Ok(OverrideRecord {
            outcome: outcome_from(&row.outcome)?,
            created_at: ts_from_text(&row.created_at)?,
            expires_at: optional_ts(row.expires_at)?,
            override_id: row.override_id,
            tenant: row.tenant,
            lead_id: row.lead_id,
            reason: row.reason,
            author: row.author,
            actor: row.actor,
            verdict_id: row.verdict_id,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct AuditRow {
    pub seq: i64,
    pub event_id: String,
    pub tenant: String,
    pub kind: String,
    pub actor: String,
    pub lead_id: Option<String>,
    pub subject: String,
    pub before_json: String,
    pub after_json: String,
    pub created_at: String,
}

impl TryFrom<AuditRow> for AuditEvent {
    type Error = anyhow::Error;

    fn try_from(row: AuditRow) -> anyhow::Result<Self> {
        Ok(AuditEvent {
            kind: AuditKind::from_code(&row.kind)
                .ok_or_else(|| anyhow!("unknown stored audit kind {:?}", row.kind))?,
            created_at: ts_from_text(&row.created_at)?,
            seq: row.seq,
            event_id: row.event_id,
            tenant: row.tenant,
            actor: row.actor,
            lead_id: row.lead_id,
            subject: row.subject,
            before_json: row.before_json,
            after_json: row.after_json,
        })
    }
}

/// Newest override per lead, from rows ordered newest first.
pub fn newest_per_lead(rows: Vec<OverrideRow>) -> anyhow::Result<Vec<OverrideRecord>> {
    let mut out: Vec<OverrideRecord> = Vec::new();
    for row in rows {
        if !out.iter().any(|o| o.lead_id == row.lead_id) {
            out.push(row.try_into()?);
        }
    }
    Ok(out)
}
