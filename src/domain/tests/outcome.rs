//! Score, outcome, knockouts and the per-stage breakdown (SPEC section 3).

use super::fixtures::{WINTER, all_clear_facts, eval, facts_firing, restrictive_profile, signal};
use crate::domain::{
    CATALOGUE, Criterion, Facts, Outcome, Profile, SignalStatus, Stage, StageBreakdown, evaluate,
};

/// `all_clear_facts` with `criteria` firing, evaluated at the last stage under
/// `profile`.
fn outcome_of(criteria: &[Criterion], profile: &Profile) -> (Outcome, i32) {
    let evaluation = eval(&facts_firing(criteria), profile);
    (evaluation.outcome, evaluation.score)
}

/// The restrictive profile with `weight` on emotional decisions.
fn emotional_weighing(weight: i32) -> Profile {
    let mut profile = restrictive_profile();
    profile.weights.set(Criterion::EmotionalDecisions, weight);
    profile
}

#[test]
fn nothing_fired_scores_zero_and_qualifies() {
    assert_eq!(
        outcome_of(&[], &restrictive_profile()),
        (Outcome::Qualified, 0)
    );
}

#[test]
fn score_is_the_sum_of_fired_weights() {
    let profile = restrictive_profile();
    // 30 + 25 = 55.
    let evaluation = eval(
        &facts_firing(&[Criterion::Disrespectful, Criterion::NotAPriority]),
        &profile,
    );
    assert_eq!(evaluation.score, 55);
    assert_eq!(evaluation.outcome, Outcome::NeedsReview);
    let fired: Vec<Criterion> = evaluation
        .signals
        .iter()
        .filter(|s| s.status == SignalStatus::Fired)
        .map(|s| s.criterion)
        .collect();
    assert_eq!(fired, [Criterion::Disrespectful, Criterion::NotAPriority]);
}

#[test]
fn score_uses_custom_weights() {
    let mut profile = restrictive_profile();
    profile.weights.set(Criterion::Disrespectful, 7);
    profile.weights.set(Criterion::NotAPriority, 11);
    assert_eq!(
        outcome_of(
            &[Criterion::Disrespectful, Criterion::NotAPriority],
            &profile
        ),
        (Outcome::Qualified, 18)
    );
}

#[test]
fn score_is_capped_at_100() {
    let all: Vec<Criterion> = CATALOGUE.iter().map(|d| d.criterion).collect();
    // Default weights add up to 485.
    let total: i32 = CATALOGUE.iter().map(|d| d.default_weight).sum();
    assert_eq!(total, 485);
    assert_eq!(
        outcome_of(&all, &restrictive_profile()),
        (Outcome::Disqualified, 100)
    );
    // 60 + 41 = 101 is capped too.
    let mut profile = restrictive_profile();
    profile.weights.set(Criterion::Disrespectful, 60);
    profile.weights.set(Criterion::NoCompromise, 41);
    assert_eq!(
        outcome_of(
            &[Criterion::Disrespectful, Criterion::NoCompromise],
            &profile
        ),
        (Outcome::Disqualified, 100)
    );
    // Exactly 100 is not changed.
    profile.weights.set(Criterion::NoCompromise, 40);
    assert_eq!(
        outcome_of(
            &[Criterion::Disrespectful, Criterion::NoCompromise],
            &profile
        ),
        (Outcome::Disqualified, 100)
    );
}

#[test]
fn score_just_below_review_threshold_qualifies() {
    assert_eq!(
        outcome_of(&[Criterion::EmotionalDecisions], &emotional_weighing(29)),
        (Outcome::Qualified, 29)
    );
}

#[test]
fn score_at_review_threshold_needs_review() {
    assert_eq!(
        outcome_of(&[Criterion::EmotionalDecisions], &emotional_weighing(30)),
        (Outcome::NeedsReview, 30)
    );
}

#[test]
fn score_just_below_disqualify_threshold_needs_review() {
    assert_eq!(
        outcome_of(&[Criterion::EmotionalDecisions], &emotional_weighing(59)),
        (Outcome::NeedsReview, 59)
    );
}

#[test]
fn score_at_disqualify_threshold_disqualifies() {
    assert_eq!(
        outcome_of(&[Criterion::EmotionalDecisions], &emotional_weighing(60)),
        (Outcome::Disqualified, 60)
    );
}

#[test]
fn default_weights_reach_the_thresholds_exactly() {
    let profile = restrictive_profile();
    // 25 < 30.
    assert_eq!(
        outcome_of(&[Criterion::NotAPriority], &profile),
        (Outcome::Qualified, 25)
    );
    // 20 + 10 = 30.
    assert_eq!(
        outcome_of(
            &[Criterion::NoCompromise, Criterion::EmotionalDecisions],
            &profile
        ),
        (Outcome::NeedsReview, 30)
    );
    // 30 + 15 + 10 = 55.
    assert_eq!(
        outcome_of(
            &[
                Criterion::Disrespectful,
                Criterion::Disorganized,
                Criterion::ErraticEngagement
            ],
            &profile
        ),
        (Outcome::NeedsReview, 55)
    );
    // 30 + 20 + 10 = 60.
    assert_eq!(
        outcome_of(
            &[
                Criterion::Disrespectful,
                Criterion::NoCompromise,
                Criterion::EmotionalDecisions
            ],
            &profile
        ),
        (Outcome::Disqualified, 60)
    );
}

#[test]
fn custom_thresholds_are_honoured() {
    let profile = Profile {
        review_threshold: 10,
        disqualify_threshold: 20,
        ..restrictive_profile()
    };
    assert_eq!(outcome_of(&[], &profile), (Outcome::Qualified, 0));
    assert_eq!(
        outcome_of(&[Criterion::EmotionalDecisions], &profile),
        (Outcome::NeedsReview, 10)
    );
    assert_eq!(
        outcome_of(&[Criterion::NoCompromise], &profile),
        (Outcome::Disqualified, 20)
    );
}

#[test]
fn a_fired_knockout_disqualifies_on_its_own_with_a_low_score() {
    let profile = Profile {
        knockouts: vec![Criterion::EmotionalDecisions],
        ..restrictive_profile()
    };
    let evaluation = eval(&facts_firing(&[Criterion::EmotionalDecisions]), &profile);
    assert_eq!(evaluation.score, 10);
    assert_eq!(evaluation.outcome, Outcome::Disqualified);
    assert_eq!(
        evaluation.knockouts_fired(),
        [Criterion::EmotionalDecisions]
    );
    let s = signal(&evaluation, Criterion::EmotionalDecisions);
    assert!(s.knockout);
    assert_eq!(s.weight, 10);
    assert!(
        evaluation
            .signals
            .iter()
            .filter(|s| s.criterion != Criterion::EmotionalDecisions)
            .all(|s| !s.knockout)
    );
}

#[test]
fn a_fired_knockout_with_weight_zero_still_disqualifies() {
    let mut profile = Profile {
        knockouts: vec![Criterion::MagicWand],
        ..restrictive_profile()
    };
    profile.weights.set(Criterion::MagicWand, 0);
    assert_eq!(
        outcome_of(&[Criterion::MagicWand], &profile),
        (Outcome::Disqualified, 0)
    );
}

#[test]
fn an_unfired_knockout_does_nothing() {
    let profile = Profile {
        knockouts: vec![Criterion::Disrespectful, Criterion::NotAPriority],
        ..restrictive_profile()
    };
    // Clear.
    let evaluation = eval(&facts_firing(&[Criterion::EmotionalDecisions]), &profile);
    assert_eq!(
        (evaluation.outcome, evaluation.score),
        (Outcome::Qualified, 10)
    );
    assert!(evaluation.knockouts_fired().is_empty());
    assert!(signal(&evaluation, Criterion::Disrespectful).knockout);
    // Unknown.
    let facts = Facts {
        disrespectful_incidents: None,
        priority: None,
        ..all_clear_facts()
    };
    let evaluation = eval(&facts, &profile);
    assert_eq!(
        signal(&evaluation, Criterion::Disrespectful).status,
        SignalStatus::Unknown
    );
    assert_eq!(
        (evaluation.outcome, evaluation.score),
        (Outcome::Qualified, 0)
    );
    // Not applicable: the knockout's stage is later than the lead's.
    let evaluation = evaluate(
        &facts_firing(&[Criterion::NotAPriority]),
        &profile,
        Stage::Contact,
        WINTER,
    );
    assert_eq!(
        signal(&evaluation, Criterion::NotAPriority).status,
        SignalStatus::NotApplicable
    );
    assert_eq!(
        (evaluation.outcome, evaluation.score),
        (Outcome::Qualified, 0)
    );
}

#[test]
fn one_signal_alone_never_disqualifies_under_the_defaults() {
    let profile = restrictive_profile();
    for def in &CATALOGUE {
        let (outcome, score) = outcome_of(&[def.criterion], &profile);
        assert_eq!(score, def.default_weight, "{}", def.code);
        let expected = if def.default_weight >= 30 {
            Outcome::NeedsReview
        } else {
            Outcome::Qualified
        };
        assert_eq!(outcome, expected, "{} alone", def.code);
    }
}

#[test]
fn one_soft_signal_alone_qualifies_under_the_defaults() {
    let profile = restrictive_profile();
    for criterion in [
        Criterion::EmotionalDecisions,
        Criterion::ErraticEngagement,
        Criterion::WithholdsAnswers,
        Criterion::NoCompromise,
        Criterion::ContradictoryStatements,
        Criterion::RefusesPlan,
        Criterion::Disorganized,
        Criterion::NotAPriority,
        Criterion::MagicWand,
        Criterion::IgnoresPrescriptions,
        Criterion::MeetingDisruptions,
        Criterion::FeignedCompliance,
        Criterion::RepeatedExplanations,
    ] {
        assert_eq!(
            outcome_of(&[criterion], &profile).0,
            Outcome::Qualified,
            "{criterion:?} alone"
        );
    }
}

fn row(
    stage: Stage,
    score: i32,
    fired: i32,
    clear: i32,
    unknown: i32,
    not_applicable: i32,
) -> StageBreakdown {
    StageBreakdown {
        stage,
        score,
        fired,
        clear,
        unknown,
        not_applicable,
    }
}

#[test]
fn stage_breakdown_counts_and_scores_each_stage() {
    let mut facts = facts_firing(&[
        Criterion::CompanySizeMismatch,
        Criterion::Disrespectful,
        Criterion::EmotionalDecisions,
        Criterion::Disorganized,
        Criterion::MagicWand,
    ]);
    facts.priority = None;
    facts.questions_asked = Some(0);
    let evaluation = evaluate(&facts, &restrictive_profile(), Stage::Study, WINTER);
    assert_eq!(
        evaluation.stage_breakdown(),
        [
            row(Stage::Identification, 25, 1, 5, 0, 0),
            // Withholds answers: 0 questions asked is unknown.
            row(Stage::Contact, 40, 2, 2, 1, 0),
            // Not a priority is unknown.
            row(Stage::Study, 15, 1, 3, 1, 0),
            // Magic wand would fire, but the lead is only at the study stage.
            row(Stage::Recommendation, 0, 0, 0, 0, 5),
        ]
    );
    assert_eq!(evaluation.score, 80);
    assert_eq!(evaluation.outcome, Outcome::Disqualified);
}

#[test]
fn stage_breakdown_scores_are_not_capped() {
    let all: Vec<Criterion> = CATALOGUE.iter().map(|d| d.criterion).collect();
    let evaluation = eval(&facts_firing(&all), &restrictive_profile());
    assert_eq!(
        evaluation.stage_breakdown(),
        [
            row(Stage::Identification, 170, 6, 0, 0, 0),
            row(Stage::Contact, 90, 5, 0, 0, 0),
            row(Stage::Study, 125, 5, 0, 0, 0),
            row(Stage::Recommendation, 100, 5, 0, 0, 0),
        ]
    );
    assert_eq!(evaluation.score, 100);
}

#[test]
fn stage_breakdown_with_nothing_known_at_identification() {
    let evaluation = evaluate(
        &Facts::default(),
        &restrictive_profile(),
        Stage::Identification,
        WINTER,
    );
    assert_eq!(
        evaluation.stage_breakdown(),
        [
            row(Stage::Identification, 0, 0, 0, 6, 0),
            row(Stage::Contact, 0, 0, 0, 0, 5),
            row(Stage::Study, 0, 0, 0, 0, 5),
            row(Stage::Recommendation, 0, 0, 0, 0, 5),
        ]
    );
    assert_eq!(evaluation.outcome, Outcome::Qualified);
}
