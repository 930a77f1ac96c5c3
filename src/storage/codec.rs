//! Row shapes and conversions shared by both backends. Enums are stored by
//! their wire code (`MEETING_DISRUPTIONS`, `FIRED`, …) so that signals can be
//! queried with plain SQL; timestamps travel as fixed-width RFC 3339 text
//! (`2026-11-23T15:04:05.123456Z`), which sorts correctly as text. Every
//! record is read as one JSON document per row, which it deserializes from;
//! a verdict's signals come beside its document as the JSON array stored
//! with it.

use anyhow::{Context, anyhow};
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Deserializer};

use super::{NewQualification, StorageError, StorageResult};
use crate::domain::account::{Account, Tier};
use crate::domain::{Criterion, Evaluation, Facts, Outcome, Profile, Signal, SignalStatus, Stage};
use crate::records::{StoredLead, StoredLeadView, VerdictRecord};

/// A record from its stored row; a row that cannot be read is corrupt, not a
/// reason to retry.
pub fn decode<R, T: TryFrom<R, Error = anyhow::Error>>(row: R) -> StorageResult<T> {
    T::try_from(row).map_err(StorageError::Corrupt)
}

/// A record from the JSON document a query built of its row.
pub fn decode_doc<T: serde::de::DeserializeOwned>((doc,): (String,)) -> StorageResult<T> {
    serde_json::from_str(&doc)
        .with_context(|| format!("stored {} is unreadable", std::any::type_name::<T>()))
        .map_err(StorageError::Corrupt)
}

/// Timestamp as stored: microsecond precision, UTC, fixed width.
pub fn ts_to_text(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

pub fn profile_body(profile: &Profile) -> String {
    serde_json::to_string(profile).expect("a profile always serialises")
}

/// A verdict as its document and the JSON array of its signals.
#[derive(sqlx::FromRow)]
pub struct VerdictRow {
    pub verdict: String,
    pub signals: String,
}

impl TryFrom<VerdictRow> for VerdictRecord {
    type Error = anyhow::Error;

    fn try_from(row: VerdictRow) -> anyhow::Result<Self> {
        verdict_from_parts(&row.verdict, &row.signals, None)
    }
}

/// A verdict as the queries hand it over: its row as one JSON document and
/// its signals as a JSON array beside it, so that a verdict is one row of
/// one query.
#[derive(Deserialize)]
struct VerdictDoc {
    verdict_id: String,
    tenant: String,
    lead_id: String,
    seq: i64,
    stage: Stage,
    outcome: Outcome,
    score: i32,
    profile_version: i64,
    /// The merged facts, as the JSON text stored; left out of a lead view,
    /// whose lead carries the same facts.
    #[serde(default)]
    facts: Option<String>,
    facts_hash: String,
    request_id: Option<String>,
    evaluated_at: Timestamp,
    evaluation_date: Date,
    /// The account section's JSON document as stored: absent or null for a
    /// verdict stored before verdicts had one.
    #[serde(default)]
    account: Option<String>,
}

/// A verdict from its JSON document and the JSON array of its signals, with
/// `facts` standing in for a document that leaves them out.
fn verdict_from_parts(
    verdict: &str,
    signals: &str,
    facts: Option<&Facts>,
) -> anyhow::Result<VerdictRecord> {
    let doc: VerdictDoc = serde_json::from_str(verdict).context("stored verdict is unreadable")?;
    let facts = match (&doc.facts, facts) {
        (Some(text), _) => Facts::from_json(text).context("stored facts are unreadable")?,
        (None, Some(facts)) => facts.clone(),
        (None, None) => anyhow::bail!("stored verdict without its facts"),
    };
    let signals: Vec<SignalRow> =
        serde_json::from_str(signals).context("stored signals are unreadable")?;
    let mut signals = signals
        .into_iter()
        .map(|s| {
            Ok(Signal {
                criterion: Criterion::from_code(&s.criterion)
                    .ok_or_else(|| anyhow!("unknown stored criterion {:?}", s.criterion))?,
                status: SignalStatus::from_code(&s.status)
                    .ok_or_else(|| anyhow!("unknown stored signal status {:?}", s.status))?,
                weight: s.weight,
                knockout: s.knockout,
                evidence: s.evidence,
                remedy: s.remedy,
                missing_facts: serde_json::from_str(&s.missing_facts)
                    .context("stored missing facts are unreadable")?,
            })
        })
        .collect::<anyhow::Result<Vec<Signal>>>()?;
    signals.sort_by_key(|s| s.criterion.index());
    Ok(VerdictRecord {
        evaluation: Evaluation {
            stage: doc.stage,
            outcome: doc.outcome,
            score: doc.score,
            signals,
            account: doc
                .account
                .as_deref()
                .map(serde_json::from_str::<Account>)
                .transpose()
                .context("stored account section is unreadable")?,
        },
        facts,
        evaluated_at: doc.evaluated_at,
        evaluation_date: doc.evaluation_date,
        verdict_id: doc.verdict_id,
        tenant: doc.tenant,
        lead_id: doc.lead_id,
        seq: doc.seq,
        profile_version: doc.profile_version,
        facts_hash: doc.facts_hash,
        request_id: doc.request_id,
    })
}

/// A lead with, as JSON, its latest verdict with its signals and its newest
/// override (see `sql::Columns::lead_view`).
#[derive(sqlx::FromRow)]
pub struct LeadViewRow {
    pub lead: String,
    pub latest_verdict: Option<String>,
    pub latest_signals: Option<String>,
    pub latest_override: Option<String>,
}

impl TryFrom<LeadViewRow> for StoredLeadView {
    type Error = anyhow::Error;

    fn try_from(row: LeadViewRow) -> anyhow::Result<Self> {
        let lead: StoredLead =
            serde_json::from_str(&row.lead).context("stored lead is unreadable")?;
        Ok(StoredLeadView {
            // The latest verdict was stored with the lead's current facts.
            latest_verdict: match (&row.latest_verdict, &row.latest_signals) {
                (Some(verdict), Some(signals)) => {
                    Some(verdict_from_parts(verdict, signals, Some(&lead.facts))?)
                }
                (Some(_), None) => anyhow::bail!("stored verdict without its signals"),
                (None, _) => None,
            },
            latest_override: row
                .latest_override
                .map(|doc| serde_json::from_str(&doc))
                .transpose()
                .context("stored override is unreadable")?,
            lead,
        })
    }
}

/// A signal as stored: a row of `signals`, and an element of a verdict's
/// `signals_json` array.
#[derive(serde::Serialize, Deserialize)]
pub struct SignalRow {
    pub criterion: String,
    /// The criterion's stage: a column of `signals`, not kept in the JSON.
    #[serde(skip)]
    pub stage: &'static str,
    pub status: String,
    pub weight: i32,
    /// SQLite has no boolean: 0 or 1 where SQLite built the JSON.
    #[serde(deserialize_with = "flag")]
    pub knockout: bool,
    pub evidence: String,
    pub remedy: String,
    /// JSON array of fact names, as text.
    pub missing_facts: String,
}

/// A boolean as JSON holds it: `true`/`false`, or 0/1.
fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Bool(b) => Ok(b),
        serde_json::Value::Number(n) => Ok(n.as_i64() != Some(0)),
        other => Err(serde::de::Error::custom(format!("{other} is not a flag"))),
    }
}

/// A qualification as both backends write it, prepared once.
pub struct Prepared<'a> {
    pub q: &'a NewQualification,
    /// The merged facts as stored, for the lead and the verdict alike.
    pub facts: String,
    pub at: String,
    /// One row per signal, in catalogue order.
    pub signals: Vec<SignalRow>,
    /// The signals as the JSON array kept with the verdict.
    pub signals_json: String,
    /// The account section as its JSON document (its words written out),
    /// and the codes the lead keeps of it for ListLeads filters.
    pub account_json: Option<String>,
    pub lifecycle_class: Option<&'static str>,
    pub value_tier: Option<&'static str>,
    pub churn_status: Option<&'static str>,
    /// Which criteria fired, were unknown, and fired as knockouts, as the
    /// lead keeps them (see [`signal_mask`]).
    pub fired_mask: i64,
    pub unknown_mask: i64,
    pub knockout_mask: i64,
}

/// The criteria of `signals` that pass `keep` as a bit mask: bit i for the
/// criterion numbered i + 1.
pub fn signal_mask(signals: &[Signal], keep: impl Fn(&Signal) -> bool) -> i64 {
    signals
        .iter()
        .filter(|s| keep(s))
        .fold(0, |mask, s| mask | 1 << s.criterion.index())
}

impl<'a> Prepared<'a> {
    pub fn new(q: &'a NewQualification) -> Self {
        let v = &q.verdict;
        let signals: Vec<SignalRow> = v
            .evaluation
            .signals
            .iter()
            .map(|s| SignalRow {
                criterion: s.criterion.code().to_owned(),
                stage: s.stage().code(),
                status: s.status.code().to_owned(),
                weight: s.weight,
                knockout: s.knockout,
                evidence: s.evidence.clone(),
                remedy: s.remedy.clone(),
                missing_facts: serde_json::to_string(&s.missing_facts)
                    .expect("a list of strings always serialises"),
            })
            .collect();
        let account = v.evaluation.account.as_ref();
        Prepared {
            q,
            facts: v.facts.to_json(),
            at: ts_to_text(v.evaluated_at),
            signals_json: serde_json::to_string(&signals).expect("signals always serialise"),
            signals,
            account_json: account
                .map(|a| serde_json::to_string(a).expect("an account section always serialises")),
            lifecycle_class: account.map(|a| a.lifecycle.class.code()),
            value_tier: account.and_then(|a| a.value.tier).map(Tier::code),
            churn_status: account.map(|a| a.churn.status.code()),
            fired_mask: signal_mask(&v.evaluation.signals, |s| s.status == SignalStatus::Fired),
            unknown_mask: signal_mask(&v.evaluation.signals, |s| s.status == SignalStatus::Unknown),
            knockout_mask: signal_mask(&v.evaluation.signals, |s| {
                s.status == SignalStatus::Fired && s.knockout
            }),
        }
    }
}

/// One group of the signal statistics as the database counted it: the leads
/// of one stage and outcome, and per criterion (in catalogue order) how many
/// fired it, found it unknown and fired it as a knockout.
#[derive(Deserialize)]
pub struct StatsGroup {
    stage: Stage,
    outcome: Outcome,
    leads: i64,
    fired: Vec<i64>,
    unknown: Vec<i64>,
    knockout: Vec<i64>,
}

/// The statistics' rows by criterion and status, and by stage and outcome,
/// from the groups: a criterion of a stage later than the leads' is not
/// applicable to them, one neither fired nor unknown is clear.
pub fn stats_rows(groups: &[StatsGroup]) -> anyhow::Result<super::SignalStatsRows> {
    use std::collections::BTreeMap;
    // (criterion, status) -> (leads, of them disqualified, as a knockout)
    let mut signals: BTreeMap<(usize, &'static str), (i64, i64, i64)> = BTreeMap::new();
    let mut outcomes = Vec::new();
    for g in groups {
        let n = Criterion::COUNT;
        anyhow::ensure!(
            g.fired.len() == n && g.unknown.len() == n && g.knockout.len() == n,
            "stored statistics have {} criteria, not {n}",
            g.fired.len()
        );
        outcomes.push((
            g.stage.code().to_owned(),
            g.outcome.code().to_owned(),
            g.leads,
        ));
        let disqualified = g.outcome == Outcome::Disqualified;
        for def in &crate::domain::CATALOGUE {
            let i = def.criterion.index();
            let mut add = |status: SignalStatus, leads: i64, knockout: i64| {
                if leads > 0 {
                    let row = signals.entry((i, status.code())).or_default();
                    row.0 += leads;
                    if disqualified {
                        row.1 += leads;
                        row.2 += knockout;
                    }
                }
            };
            if def.stage > g.stage {
                add(SignalStatus::NotApplicable, g.leads, 0);
            } else {
                add(SignalStatus::Fired, g.fired[i], g.knockout[i]);
                add(SignalStatus::Unknown, g.unknown[i], 0);
                add(SignalStatus::Clear, g.leads - g.fired[i] - g.unknown[i], 0);
            }
        }
    }
    Ok(super::SignalStatsRows {
        signals: signals
            .into_iter()
            .map(|((i, status), (leads, disqualified, knockout))| {
                (
                    crate::domain::CATALOGUE[i].code.to_owned(),
                    status.to_owned(),
                    leads,
                    disqualified,
                    knockout,
                )
            })
            .collect(),
        missing_facts: Vec::new(),
        outcomes,
    })
}
