//! The rule engine: facts + profile + stage + evaluation date in, evaluation
//! out. Pure: no I/O, no clock, no randomness.

use jiff::civil::Date;

use super::account::assess;
use super::criteria::{CATALOGUE, Stage};
use super::facts::Facts;
use super::profile::Profile;
use super::rules::{Finding, rule};
use super::verdict::{Evaluation, MAX_SCORE, Outcome, Signal, SignalStatus};

/// Evaluates every criterion of `stage` and the earlier stages (later ones are
/// not applicable) and the account section. `date` matters to the time-zone
/// overlap, the client's tenure and the days since the last contact.
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
            match rule(def.criterion)(facts, profile, date) {
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
    let account = assess(facts, profile, stage, date);
    Evaluation {
        stage,
        outcome: outcome(score, knockout_fired || account.knockout(), profile),
        score,
        signals,
        account: Some(account),
    }
}

/// The SPEC's outcome rule; `knockout_fired` is a fired knockout criterion
/// or the black list.
pub fn outcome(score: i32, knockout_fired: bool, profile: &Profile) -> Outcome {
    if knockout_fired || score >= profile.disqualify_threshold {
        Outcome::Disqualified
    } else if score >= profile.review_threshold {
        Outcome::NeedsReview
    } else {
        Outcome::Qualified
    }
}
