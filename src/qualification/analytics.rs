//! Questions about many leads at once: what a candidate profile would
//! change (re-evaluating every stored lead, page by page, off the async
//! runtime) and how the criteria behaved over the latest verdicts (counted
//! by the database).

use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use super::{Qualifier, now};
use crate::domain::{
    CATALOGUE, Criterion, Evaluation, Facts, Outcome, Profile, SignalStatus, Stage, evaluate,
};
use crate::error::AppError;
use crate::records::VerdictRecord;
use crate::storage::{LeadFactsRow, StatsFilter, StorageError, StorageResult};

/// Leads read and evaluated at a time by a preview: large enough that the
/// round trips do not matter, small enough that two pages (one evaluated,
/// the next being read) stay a few MB.
const PREVIEW_PAGE: i64 = 4_000;

/// Changed leads a preview returns when the caller does not say.
pub const DEFAULT_PREVIEW_SAMPLE: usize = 20;
/// The most changed leads a preview returns.
pub const MAX_PREVIEW_SAMPLE: usize = 100;

/// Facts reported per criterion as most often missing.
const TOP_MISSING_FACTS: usize = 5;

const OUTCOMES: [Outcome; 3] = [
    Outcome::Qualified,
    Outcome::NeedsReview,
    Outcome::Disqualified,
];

/// What a candidate profile would change over the tenant's stored leads.
#[derive(Clone, Debug, PartialEq)]
pub struct Preview {
    /// The current profile version compared against (0: the defaults).
    pub current_version: i64,
    pub evaluated_at: Timestamp,
    pub leads_evaluated: i64,
    pub leads_changed: i64,
    /// `(from, to, leads)` of every pair with a lead, by `(from, to)`.
    pub transitions: Vec<(Outcome, Outcome, i64)>,
    /// `(criterion, fired before, fired after)` of every criterion firing on
    /// a lead under either profile, in catalogue order.
    pub criteria: Vec<(Criterion, i64, i64)>,
    /// Changed leads by lead id: the verdict under the current profile and
    /// under the candidate, neither stored.
    pub sample: Vec<(VerdictRecord, VerdictRecord)>,
}

/// A changed lead kept for the sample, with both evaluations.
struct Changed {
    lead_id: String,
    facts: Facts,
    before: Evaluation,
    after: Evaluation,
}

/// The counts of a preview so far.
#[derive(Default)]
struct Tally {
    evaluated: i64,
    /// Indexed by outcome - 1, from then to.
    transitions: [[i64; 3]; 3],
    /// Per criterion (catalogue index): fired before, fired after.
    fired: [[i64; 2]; Criterion::COUNT],
    sample: Vec<Changed>,
}

impl Tally {
    /// Adds the counts of the leads after these; the sample keeps its first
    /// `sample_size` leads.
    fn add(&mut self, other: Tally, sample_size: usize) {
        self.evaluated += other.evaluated;
        for (row, other) in self.transitions.iter_mut().zip(other.transitions) {
            for (n, m) in row.iter_mut().zip(other) {
                *n += m;
            }
        }
        for (pair, other) in self.fired.iter_mut().zip(other.fired) {
            pair[0] += other[0];
            pair[1] += other[1];
        }
        self.sample.extend(other.sample);
        self.sample.truncate(sample_size);
    }
}

/// The two profiles a preview compares and the date both evaluate at.
struct Comparison {
    current: Profile,
    candidate: Profile,
    date: Date,
}

impl Comparison {
    /// Decodes and evaluates one page of leads under both profiles, keeping
    /// up to `room` changed leads for the sample. CPU work: run it off the
    /// async runtime.
    fn evaluate_page(&self, rows: Vec<LeadFactsRow>, room: usize) -> StorageResult<Tally> {
        let mut tally = Tally::default();
        for row in rows {
            let (stage, facts) = row.decode()?;
            let before = evaluate(&facts, &self.current, stage, self.date);
            let after = evaluate(&facts, &self.candidate, stage, self.date);
            tally.evaluated += 1;
            tally.transitions[before.outcome as usize - 1][after.outcome as usize - 1] += 1;
            for (count, (b, a)) in tally
                .fired
                .iter_mut()
                .zip(before.signals.iter().zip(&after.signals))
            {
                count[0] += i64::from(b.status == SignalStatus::Fired);
                count[1] += i64::from(a.status == SignalStatus::Fired);
            }
            if before.outcome != after.outcome && tally.sample.len() < room {
                tally.sample.push(Changed {
                    lead_id: row.lead_id,
                    facts,
                    before,
                    after,
                });
            }
        }
        Ok(tally)
    }
}

/// How often each criterion fired, was clear, unknown or not applicable
/// over the counted leads, and the facts most often missing when unknown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CriterionStats {
    pub criterion: Criterion,
    pub fired: i64,
    pub clear: i64,
    pub unknown: i64,
    pub not_applicable: i64,
    /// Most missing first, ties by name; at most five.
    pub missing_facts: Vec<(String, i64)>,
}

/// The latest outcomes of the counted leads at one stage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StageOutcomes {
    pub qualified: i64,
    pub needs_review: i64,
    pub disqualified: i64,
}

/// A criterion that fired on disqualified leads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisqualifyingCriterion {
    pub criterion: Criterion,
    pub leads: i64,
    pub as_knockout: i64,
}

/// Statistics over the latest verdict of each lead a [`StatsFilter`] selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalStats {
    pub leads: i64,
    /// The 21 criteria, in catalogue order.
    pub criteria: Vec<CriterionStats>,
    /// The four stages, in funnel order.
    pub stages: Vec<(Stage, StageOutcomes)>,
    /// Most frequent first, ties in catalogue order.
    pub disqualifying: Vec<DisqualifyingCriterion>,
}

fn corrupt(what: &str, code: &str) -> AppError {
    StorageError::Corrupt(anyhow::anyhow!("unknown stored {what} {code:?}")).into()
}

fn criterion(code: &str) -> Result<Criterion, AppError> {
    Criterion::from_code(code).ok_or_else(|| corrupt("criterion", code))
}

impl Qualifier {
    /// Re-evaluates every stored lead of the tenant under `candidate` and
    /// under the current profile (the defaults, version 0, when there is
    /// none), both now, and reports what changes, with up to `sample_size`
    /// changed leads. Stores nothing.
    pub async fn preview_profile(
        &self,
        tenant: &str,
        candidate: Profile,
        sample_size: usize,
    ) -> Result<Preview, AppError> {
        let violations = candidate.violations("profile");
        if !violations.is_empty() {
            return Err(AppError::InvalidArgument(violations));
        }
        let (current, current_version) = match self.storage.current_profile(tenant).await? {
            Some(stored) => (stored.profile, stored.version),
            None => (Profile::default(), 0),
        };
        let evaluated_at = now();
        let date = evaluated_at.to_zoned(TimeZone::UTC).date();
        let comparison = Arc::new(Comparison {
            current,
            candidate,
            date,
        });

        // Reads the page after `after` while the previous one is evaluated.
        let fetch = |after: Option<String>| {
            let storage = self.storage.clone();
            let tenant = tenant.to_owned();
            tokio::spawn(async move {
                storage
                    .lead_facts_page(&tenant, after.as_deref(), PREVIEW_PAGE)
                    .await
            })
        };
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        let mut tally = Tally::default();
        let mut next = Some(fetch(None));
        while let Some(reading) = next.take() {
            let rows = reading
                .await
                .map_err(|e| AppError::Internal(format!("reading leads failed: {e}")))??;
            if rows.len() as i64 == PREVIEW_PAGE
                && let Some(last) = rows.last()
            {
                next = Some(fetch(Some(last.lead_id.clone())));
            }
            // The page in parts, one per core, added up in lead id order.
            let room = sample_size - tally.sample.len();
            let mut parts = Vec::with_capacity(workers);
            let part_size = rows.len().div_ceil(workers).max(1);
            let mut rest = rows;
            while !rest.is_empty() {
                let after = rest.split_off(part_size.min(rest.len()));
                let part = std::mem::replace(&mut rest, after);
                let comparison = comparison.clone();
                parts.push(tokio::task::spawn_blocking(move || {
                    comparison.evaluate_page(part, room)
                }));
            }
            for part in parts {
                let part = part
                    .await
                    .map_err(|e| AppError::Internal(format!("evaluating leads failed: {e}")))??;
                tally.add(part, sample_size);
            }
        }

        let verdict =
            |lead_id: &str, facts: &Facts, evaluation: Evaluation, version: i64| VerdictRecord {
                verdict_id: String::new(),
                tenant: tenant.to_owned(),
                lead_id: lead_id.to_owned(),
                seq: 0,
                evaluation,
                profile_version: version,
                facts_hash: facts.hash(),
                facts: facts.clone(),
                request_id: None,
                evaluated_at,
                evaluation_date: date,
            };
        let leads_changed = (0..3)
            .flat_map(|from| {
                (0..3)
                    .filter(move |to| *to != from)
                    .map(move |to| (from, to))
            })
            .map(|(from, to)| tally.transitions[from][to])
            .sum();
        Ok(Preview {
            current_version,
            evaluated_at,
            leads_evaluated: tally.evaluated,
            leads_changed,
            transitions: OUTCOMES
                .iter()
                .flat_map(|from| OUTCOMES.iter().map(move |to| (*from, *to)))
                .map(|(from, to)| {
                    (
                        from,
                        to,
                        tally.transitions[from as usize - 1][to as usize - 1],
                    )
                })
                .filter(|(_, _, leads)| *leads > 0)
                .collect(),
            criteria: CATALOGUE
                .iter()
                .zip(tally.fired)
                .filter(|(_, [before, after])| *before > 0 || *after > 0)
                .map(|(def, [before, after])| (def.criterion, before, after))
                .collect(),
            sample: tally
                .sample
                .into_iter()
                .map(|c| {
                    (
                        verdict(&c.lead_id, &c.facts, c.before, current_version),
                        // Not a stored version: the candidate has none.
                        verdict(&c.lead_id, &c.facts, c.after, 0),
                    )
                })
                .collect(),
        })
    }

    /// Statistics over the latest verdict of each lead of the tenant whose
    /// latest verdict was evaluated in `[start, end)` (`end` unset: now), at
    /// `stage` when given. An empty range counts nothing.
    pub async fn signal_stats(
        &self,
        tenant: &str,
        start: Option<Timestamp>,
        end: Option<Timestamp>,
        stage: Option<Stage>,
    ) -> Result<SignalStats, AppError> {
        self.stats(tenant, start, end, stage, true).await
    }

    /// [`Qualifier::signal_stats`] without the facts missing per criterion:
    /// the counts of the funnel, read from one row per lead.
    pub async fn funnel(
        &self,
        tenant: &str,
        start: Option<Timestamp>,
        end: Option<Timestamp>,
        stage: Option<Stage>,
    ) -> Result<SignalStats, AppError> {
        self.stats(tenant, start, end, stage, false).await
    }

    async fn stats(
        &self,
        tenant: &str,
        start: Option<Timestamp>,
        end: Option<Timestamp>,
        stage: Option<Stage>,
        missing_facts: bool,
    ) -> Result<SignalStats, AppError> {
        let filter = StatsFilter {
            start,
            end: end.unwrap_or_else(now),
            stage,
            missing_facts,
        };
        let rows = self.storage.signal_stats(tenant, filter).await?;

        let mut criteria: Vec<CriterionStats> = CATALOGUE
            .iter()
            .map(|def| CriterionStats {
                criterion: def.criterion,
                fired: 0,
                clear: 0,
                unknown: 0,
                not_applicable: 0,
                missing_facts: Vec::new(),
            })
            .collect();
        let mut disqualifying: Vec<DisqualifyingCriterion> = Vec::new();
        for (code, status, leads, on_disqualified, as_knockout) in rows.signals {
            let criterion = criterion(&code)?;
            let stats = &mut criteria[criterion.index()];
            match SignalStatus::from_code(&status).ok_or_else(|| corrupt("status", &status))? {
                SignalStatus::Fired => {
                    stats.fired += leads;
                    if on_disqualified > 0 {
                        disqualifying.push(DisqualifyingCriterion {
                            criterion,
                            leads: on_disqualified,
                            as_knockout,
                        });
                    }
                }
                SignalStatus::Clear => stats.clear += leads,
                SignalStatus::Unknown => stats.unknown += leads,
                SignalStatus::NotApplicable => stats.not_applicable += leads,
            }
        }
        disqualifying.sort_by(|a, b| b.leads.cmp(&a.leads).then(a.criterion.cmp(&b.criterion)));
        for (code, fact, leads) in rows.missing_facts {
            criteria[criterion(&code)?.index()]
                .missing_facts
                .push((fact, leads));
        }
        for stats in &mut criteria {
            stats
                .missing_facts
                .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            stats.missing_facts.truncate(TOP_MISSING_FACTS);
        }
        let mut stages: Vec<(Stage, StageOutcomes)> = Stage::ALL
            .into_iter()
            .map(|s| (s, StageOutcomes::default()))
            .collect();
        let mut total = 0;
        for (stage, outcome, leads) in rows.outcomes {
            let stage = Stage::from_code(&stage).ok_or_else(|| corrupt("stage", &stage))?;
            let counts = &mut stages[stage as usize - 1].1;
            match Outcome::from_code(&outcome).ok_or_else(|| corrupt("outcome", &outcome))? {
                Outcome::Qualified => counts.qualified += leads,
                Outcome::NeedsReview => counts.needs_review += leads,
                Outcome::Disqualified => counts.disqualified += leads,
            }
            total += leads;
        }
        Ok(SignalStats {
            leads: total,
            criteria,
            stages,
            disqualifying,
        })
    }
}
