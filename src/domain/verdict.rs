//! What an evaluation produces: signals per criterion, score, outcome.

use super::account::Account;
use super::criteria::{Criterion, Stage};

/// What a verdict concludes; read back from storage by its code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Outcome {
    Qualified = 1,
    NeedsReview = 2,
    Disqualified = 3,
}

impl Outcome {
    pub fn code(self) -> &'static str {
        match self {
            Outcome::Qualified => "QUALIFIED",
            Outcome::NeedsReview => "NEEDS_REVIEW",
            Outcome::Disqualified => "DISQUALIFIED",
        }
    }

    pub fn from_code(code: &str) -> Option<Outcome> {
        [
            Outcome::Qualified,
            Outcome::NeedsReview,
            Outcome::Disqualified,
        ]
        .into_iter()
        .find(|o| o.code() == code)
    }
}

/// The state of one criterion in one verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignalStatus {
    Fired = 1,
    Clear = 2,
    Unknown = 3,
    NotApplicable = 4,
}

impl SignalStatus {
    pub fn code(self) -> &'static str {
        match self {
            SignalStatus::Fired => "FIRED",
            SignalStatus::Clear => "CLEAR",
            SignalStatus::Unknown => "UNKNOWN",
            SignalStatus::NotApplicable => "NOT_APPLICABLE",
        }
    }

    pub fn from_code(code: &str) -> Option<SignalStatus> {
        [
            SignalStatus::Fired,
            SignalStatus::Clear,
            SignalStatus::Unknown,
            SignalStatus::NotApplicable,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }
}

/// One criterion's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signal {
    pub criterion: Criterion,
    pub status: SignalStatus,
    /// What this signal adds to the score: the weight when fired, else 0.
    pub weight: i32,
    /// Whether the criterion is a knockout in the profile used.
    pub knockout: bool,
    /// Observed values against the threshold (fired and unknown signals).
    pub evidence: String,
    /// What would have to change for the signal to clear (fired signals).
    pub remedy: String,
    /// Facts the rule needs that are unknown (unknown signals).
    pub missing_facts: Vec<String>,
}

impl Signal {
    pub fn stage(&self) -> Stage {
        self.criterion.def().stage
    }
}

/// Score and signal counts of one stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StageBreakdown {
    pub stage: Stage,
    pub score: i32,
    pub fired: i32,
    pub clear: i32,
    pub unknown: i32,
    pub not_applicable: i32,
}

/// The result of evaluating facts under a profile: one signal per criterion
/// in catalogue order, the capped score, the outcome and the account
/// section.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub stage: Stage,
    pub outcome: Outcome,
    pub score: i32,
    pub signals: Vec<Signal>,
    /// What the lead is worth as a client and how to handle it; `None` for a
    /// verdict stored before verdicts had one.
    pub account: Option<Account>,
}

/// The highest score a verdict can have.
pub const MAX_SCORE: i32 = 100;

impl Evaluation {
    /// Whether the black list disqualified the lead on its own.
    pub fn black_list_knockout(&self) -> bool {
        self.account.as_ref().is_some_and(Account::knockout)
    }

    /// Fired knockout criteria, in catalogue order.
    pub fn knockouts_fired(&self) -> Vec<Criterion> {
        self.signals
            .iter()
            .filter(|s| s.knockout && s.status == SignalStatus::Fired)
            .map(|s| s.criterion)
            .collect()
    }

    /// Per-stage score and counts, derived from the signals.
    pub fn stage_breakdown(&self) -> Vec<StageBreakdown> {
        stage_breakdown(&self.signals)
    }
}

/// Per-stage score and counts of a list of signals, one entry per stage.
pub fn stage_breakdown(signals: &[Signal]) -> Vec<StageBreakdown> {
    Stage::ALL
        .into_iter()
        .map(|stage| {
            let mut row = StageBreakdown {
                stage,
                score: 0,
                fired: 0,
                clear: 0,
                unknown: 0,
                not_applicable: 0,
            };
            for signal in signals.iter().filter(|s| s.stage() == stage) {
                match signal.status {
                    SignalStatus::Fired => {
                        row.fired += 1;
                        row.score += signal.weight;
                    }
                    SignalStatus::Clear => row.clear += 1,
                    SignalStatus::Unknown => row.unknown += 1,
                    SignalStatus::NotApplicable => row.not_applicable += 1,
                }
            }
            row
        })
        .collect()
}
