//! The rule engine: facts + profile + stage + evaluation date in, evaluation
//! out. Pure: no I/O, no clock, no randomness.

use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;

use super::criteria::{CATALOGUE, Finding};
use super::facts::Facts;
use super::profile::{BusinessHours, Profile};
use super::verdict::{Evaluation, MAX_SCORE, Outcome, Signal, SignalStatus, Stage};

/// Evaluates every criterion of `stage` and the earlier stages; later ones are
/// not applicable. `date` matters only to the time-zone overlap.
pub fn evaluate(facts: &Facts, profile: &Profile, stage: Stage, date: Date) -> Evaluation {
    let mut signals = Vec::with_capacity(CATALOGUE.len());
    let mut total = 0;
    let mut knockout_fired = false;
    for def in &CATALOGUE {
        let knockout = profile.is_knockout(def.criterion);
        let mut signal = Signal {
            criterion: def.criterion,
            status: SignalStatus::NotApplicable,
            weight: 0,
            knockout,
            evidence: String::new(),
            remedy: String::new(),
            missing_facts: Vec::new(),
        };
        if def.stage <= stage {
            match (def.rule)(facts, profile, date) {
                Finding::Fired { evidence, remedy } => {
                    signal.status = SignalStatus::Fired;
                    signal.weight = profile.weights.get(def.criterion);
                    signal.evidence = evidence;
                    signal.remedy = remedy;
                    total += signal.weight;
                    knockout_fired |= knockout;
                }
                Finding::Clear => signal.status = SignalStatus::Clear,
                Finding::Unknown { missing, reason } => {
                    signal.status = SignalStatus::Unknown;
                    signal.evidence = reason;
                    signal.missing_facts = missing.into_iter().map(str::to_owned).collect();
                }
            }
        }
        signals.push(signal);
    }
    let score = total.min(MAX_SCORE);
    Evaluation {
        stage,
        outcome: outcome(score, knockout_fired, profile),
        score,
        signals,
    }
}

/// The SPEC's outcome rule.
pub fn outcome(score: i32, knockout_fired: bool, profile: &Profile) -> Outcome {
    if knockout_fired || score >= profile.disqualify_threshold {
        Outcome::Disqualified
    } else if score >= profile.review_threshold {
        Outcome::NeedsReview
    } else {
        Outcome::Qualified
    }
}

/// The lead's business hours (09:00–18:00 in its zone) on `date`.
pub const LEAD_BUSINESS_HOURS: BusinessHours = BusinessHours {
    start: Time::constant(9, 0, 0, 0),
    end: Time::constant(18, 0, 0, 0),
};

/// Hours by which the lead's business day on `date` overlaps the seller's
/// business hours. The seller's window is taken on the day before, the day
/// of and the day after `date`, so that a seller far east or west of the
/// lead is measured against the working days that actually come nearest;
/// the windows never overlap each other, and the overlaps with each are
/// added (a long seller day can touch the lead's day on both sides of the
/// seller's night).
pub fn overlap_hours(
    lead_zone: &TimeZone,
    seller_zone: &TimeZone,
    seller_hours: BusinessHours,
    date: Date,
) -> f64 {
    let Some((lead_start, lead_end)) = window(lead_zone, LEAD_BUSINESS_HOURS, date) else {
        return 0.0;
    };
    [date.yesterday().ok(), Some(date), date.tomorrow().ok()]
        .into_iter()
        .flatten()
        .filter_map(|day| window(seller_zone, seller_hours, day))
        .map(|(start, end)| {
            let from = lead_start.max(start);
            let to = lead_end.min(end);
            if to > from {
                to.duration_since(from).as_secs_f64() / 3600.0
            } else {
                0.0
            }
        })
        .sum()
}

fn window(zone: &TimeZone, hours: BusinessHours, day: Date) -> Option<(Timestamp, Timestamp)> {
    let start = zone
        .to_ambiguous_timestamp(day.to_datetime(hours.start))
        .compatible()
        .ok()?;
    let end = zone
        .to_ambiguous_timestamp(day.to_datetime(hours.end))
        .compatible()
        .ok()?;
    Some((start, end))
}
