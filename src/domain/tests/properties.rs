//! Property tests of `evaluate` over arbitrary facts, profiles, stages and
//! dates (values kept in small ranges around the thresholds).

use jiff::ToSpan;
use jiff::civil::{Date, date};
use proptest::array::uniform;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{select, subsequence};

use super::fixtures::{firing_facts, zone};
use crate::domain::verdict::MAX_SCORE;
use crate::domain::{
    BusinessHours, CATALOGUE, Criterion, EngagementPattern, Evaluation, Facts, Outcome, Priority,
    Profile, SignalStatus, Stage, Thresholds, evaluate,
};

const VERTICALS: [&str; 5] = ["saas", "SaaS", "fintech", "retail", " health "];
const BUSINESS_MODELS: [&str; 5] = ["b2b", "B2B", "b2c", "b2g", "marketplace"];
const TERRITORIES: [&str; 4] = ["emea", "na", "apac", "LATAM"];
const COUNTRIES: [&str; 6] = ["DE", "de", "FR", "US", "JP", "BR"];
const LEAD_ZONES: [&str; 10] = [
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Pacific/Auckland",
    "UTC",
    "Not/A_Zone",
];
const SELLER_ZONES: [&str; 5] = [
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "UTC",
];
const SELLER_HOURS: [(&str, &str); 4] = [
    ("09:00", "18:00"),
    ("08:00", "17:00"),
    ("12:00", "14:00"),
    ("06:00", "23:00"),
];
const RATIO_MINIMUMS: [f64; 6] = [0.0, 0.25, 0.5, 0.6, 0.75, 1.0];

/// `Some` most of the time, so that rules are evaluated more often than not.
fn opt<S: Strategy>(s: S) -> impl Strategy<Value = Option<S::Value>> {
    option::weighted(0.8, s)
}

fn label(values: &'static [&'static str]) -> impl Strategy<Value = String> {
    select(values).prop_map(str::to_owned)
}

fn labels(values: &'static [&'static str], max: usize) -> impl Strategy<Value = Vec<String>> {
    subsequence(values, 0..=max).prop_map(|v| v.into_iter().map(str::to_owned).collect())
}

fn millions() -> impl Strategy<Value = i64> {
    (0i64..=60).prop_map(|m| m * 1_000_000)
}

prop_compose! {
    fn identification_facts()(
        employee_count in opt(0i64..=600),
        annual_revenue_usd in opt(millions()),
        vertical in opt(label(&VERTICALS)),
        business_model in opt(label(&BUSINESS_MODELS)),
        territory in opt(label(&TERRITORIES)),
        country in opt(label(&COUNTRIES)),
        timezone in opt(label(&LEAD_ZONES)),
    ) -> Facts {
        Facts {
            employee_count,
            annual_revenue_usd,
            vertical,
            business_model,
            territory,
            country,
            timezone,
            ..Facts::default()
        }
    }
}

prop_compose! {
    fn contact_facts()(
        disrespectful_incidents in opt(0i32..=5),
        emotional_only_responses in opt(any::<bool>()),
        engagement_pattern in opt(select(&[
            EngagementPattern::Steady,
            EngagementPattern::Impulsive,
            EngagementPattern::Lethargic,
            EngagementPattern::Swinging,
        ][..])),
        questions_asked in opt(0i32..=6),
        questions_answered in opt(0i32..=6),
        insists_on_own_process in opt(any::<bool>()),
    ) -> Facts {
        Facts {
            disrespectful_incidents,
            emotional_only_responses,
            engagement_pattern,
            questions_asked,
            questions_answered,
            insists_on_own_process,
            ..Facts::default()
        }
    }
}

prop_compose! {
    fn study_facts()(
        contradictory_statements in opt(0i32..=5),
        plan_steps_agreed in opt(0i32..=6),
        plan_steps_completed in opt(0i32..=6),
        budget_usd in opt((0i64..=20).prop_map(|k| k * 1_000)),
        staff_available in opt(0i32..=5),
        missed_sessions in opt(0i32..=5),
        priority in opt(select(&[
            Priority::High,
            Priority::Normal,
            Priority::Low,
            Priority::NotNow,
        ][..])),
    ) -> Facts {
        Facts {
            contradictory_statements,
            plan_steps_agreed,
            plan_steps_completed,
            budget_usd,
            staff_available,
            missed_sessions,
            priority,
            ..Facts::default()
        }
    }
}

prop_compose! {
    fn recommendation_facts()(
        expects_magic_wand in opt(any::<bool>()),
        assignments_given in opt(0i32..=6),
        assignments_completed in opt(0i32..=6),
        meetings_cancelled in opt(0i32..=4),
        meetings_rescheduled in opt(0i32..=4),
        agreed_actions_not_done in opt(0i32..=5),
        max_material_repeats in opt(0i32..=6),
    ) -> Facts {
        Facts {
            expects_magic_wand,
            assignments_given,
            assignments_completed,
            meetings_cancelled,
            meetings_rescheduled,
            agreed_actions_not_done,
            max_material_repeats,
            ..Facts::default()
        }
    }
}

/// Every fact optional, values around the thresholds.
fn arb_facts() -> impl Strategy<Value = Facts> {
    (
        identification_facts(),
        contact_facts(),
        study_facts(),
        recommendation_facts(),
    )
        .prop_map(|(a, b, c, d)| a.merged_with(&b).merged_with(&c).merged_with(&d))
}

prop_compose! {
    fn arb_thresholds()(
        max_disrespectful_incidents in 1i32..=4,
        min_answer_ratio in select(&RATIO_MINIMUMS[..]),
        max_contradictions in 1i32..=4,
        min_plan_completion in select(&RATIO_MINIMUMS[..]),
        min_budget_usd in option::weighted(0.6, (0i64..=20).prop_map(|k| k * 1_000)),
        min_staff in option::weighted(0.6, 0i32..=5),
        max_missed_sessions in 1i32..=4,
        min_assignment_completion in select(&RATIO_MINIMUMS[..]),
        max_meeting_disruptions in 1i32..=6,
        max_agreed_not_done in 1i32..=4,
        max_material_repeats_allowed in 0i32..=5,
    ) -> Thresholds {
        Thresholds {
            max_disrespectful_incidents,
            min_answer_ratio,
            max_contradictions,
            min_plan_completion,
            min_budget_usd,
            min_staff,
            max_missed_sessions,
            min_assignment_completion,
            max_meeting_disruptions,
            max_agreed_not_done,
            max_material_repeats_allowed,
        }
    }
}

prop_compose! {
    /// The ideal customer profile part: bounds, lists, time zone.
    fn arb_icp()(
        min_employees in option::weighted(0.6, 0i64..=100),
        max_employees in option::weighted(0.6, 100i64..=600),
        min_annual_revenue_usd in option::weighted(0.6, (0i64..=20).prop_map(|m| m * 1_000_000)),
        max_annual_revenue_usd in option::weighted(0.6, (20i64..=60).prop_map(|m| m * 1_000_000)),
        target_verticals in labels(&VERTICALS[..4], 2),
        target_business_models in labels(&BUSINESS_MODELS[..4], 2),
        territories in labels(&TERRITORIES, 2),
        countries in labels(&["DE", "FR", "US", "JP"], 3),
        seller_timezone in option::weighted(0.6, select(&SELLER_ZONES[..])),
        (start, end) in select(&SELLER_HOURS[..]),
        min_overlap_hours in select(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.5, 9.0][..]),
    ) -> Profile {
        Profile {
            min_employees,
            max_employees,
            min_annual_revenue_usd,
            max_annual_revenue_usd,
            target_verticals,
            target_business_models,
            territories,
            countries,
            seller_timezone: seller_timezone.map(zone),
            seller_business_hours: BusinessHours::parse(start, end).unwrap(),
            min_overlap_hours,
            ..Profile::default()
        }
    }
}

prop_compose! {
    /// Random weights 0..=100, a random knockout subset, review <= disqualify.
    fn arb_profile()(
        icp in arb_icp(),
        thresholds in arb_thresholds(),
        weights in uniform::<_, { Criterion::COUNT }>(0i32..=100),
        knockouts in uniform::<_, { Criterion::COUNT }>(prop::bool::weighted(0.15)),
        (review_threshold, disqualify_threshold) in
            (1i32..=100).prop_flat_map(|d| (1i32..=d, Just(d))),
    ) -> Profile {
        let mut profile = Profile {
            thresholds,
            knockouts: CATALOGUE
                .iter()
                .filter(|d| knockouts[d.criterion.index()])
                .map(|d| d.criterion)
                .collect(),
            review_threshold,
            disqualify_threshold,
            ..icp
        };
        for def in &CATALOGUE {
            profile.weights.set(def.criterion, weights[def.criterion.index()]);
        }
        profile
    }
}

fn arb_stage() -> impl Strategy<Value = Stage> {
    select(&Stage::ALL[..])
}

fn arb_criterion() -> impl Strategy<Value = Criterion> {
    (0usize..Criterion::COUNT).prop_map(|i| CATALOGUE[i].criterion)
}

/// Any day from 2024 to 2034: covers both DST seasons on both sides.
fn arb_date() -> impl Strategy<Value = Date> {
    (0i32..=4_000).prop_map(|d| date(2024, 1, 1).checked_add(d.days()).unwrap())
}

/// Sum of the weights of fired signals, before the cap.
fn fired_total(evaluation: &Evaluation) -> i32 {
    evaluation
        .signals
        .iter()
        .filter(|s| s.status == SignalStatus::Fired)
        .map(|s| s.weight)
        .sum()
}

fn fired(evaluation: &Evaluation) -> Vec<Criterion> {
    evaluation
        .signals
        .iter()
        .filter(|s| s.status == SignalStatus::Fired)
        .map(|s| s.criterion)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// (a) Score is the sum of fired weights, capped at 100, and each fired
    /// weight is the profile's weight.
    #[test]
    fn score_is_capped_sum_of_fired_weights(
        facts in arb_facts(),
        profile in arb_profile(),
        stage in arb_stage(),
        day in arb_date(),
    ) {
        let evaluation = evaluate(&facts, &profile, stage, day);
        prop_assert_eq!(evaluation.score, fired_total(&evaluation).min(MAX_SCORE));
        for s in &evaluation.signals {
            let expected = if s.status == SignalStatus::Fired {
                profile.weights.get(s.criterion)
            } else {
                0
            };
            prop_assert_eq!(s.weight, expected, "{:?}", s);
        }
    }

    /// The outcome follows the SPEC rule from score and knockouts.
    #[test]
    fn outcome_follows_score_and_knockouts(
        facts in arb_facts(),
        profile in arb_profile(),
        stage in arb_stage(),
        day in arb_date(),
    ) {
        let evaluation = evaluate(&facts, &profile, stage, day);
        let knockout_fired = evaluation
            .signals
            .iter()
            .any(|s| s.status == SignalStatus::Fired && profile.knockouts.contains(&s.criterion));
        let expected = if knockout_fired || evaluation.score >= profile.disqualify_threshold {
            Outcome::Disqualified
        } else if evaluation.score >= profile.review_threshold {
            Outcome::NeedsReview
        } else {
            Outcome::Qualified
        };
        prop_assert_eq!(evaluation.outcome, expected);
        prop_assert_eq!(evaluation.knockouts_fired().is_empty(), !knockout_fired);
    }

    /// (b) The same input gives the same evaluation.
    #[test]
    fn evaluation_is_deterministic(
        facts in arb_facts(),
        profile in arb_profile(),
        stage in arb_stage(),
        day in arb_date(),
    ) {
        let first = evaluate(&facts, &profile, stage, day);
        let second = evaluate(&facts.clone(), &profile.clone(), stage, day);
        prop_assert_eq!(&first, &second);
        let from_stored = Facts::from_json(&facts.to_json()).unwrap();
        prop_assert_eq!(&first, &evaluate(&from_stored, &profile, stage, day));
    }

    /// (c) Making one more criterion fire never improves the outcome or the
    /// score, and changes no other signal.
    #[test]
    fn one_more_fired_criterion_never_improves_the_outcome(
        facts in arb_facts(),
        profile in arb_profile(),
        stage in arb_stage(),
        day in arb_date(),
        criterion in arb_criterion(),
    ) {
        let before = evaluate(&facts, &profile, stage, day);
        if before.signals[criterion.index()].status == SignalStatus::Fired {
            return Ok(());
        }
        let Some(worse) = firing_facts(criterion, &facts, &profile, day) else {
            return Ok(());
        };
        let after = evaluate(&worse, &profile, stage, day);
        if criterion.def().stage > stage {
            // Not applicable yet: no signal, score or outcome changes. (The
            // account's playbook reads disrespectful_incidents at every
            // stage: SPEC-ACCOUNTS P3.)
            prop_assert_eq!(&after.signals, &before.signals);
            prop_assert_eq!(after.score, before.score);
            prop_assert_eq!(after.outcome, before.outcome);
            return Ok(());
        }
        let weight = profile.weights.get(criterion);
        prop_assert_eq!(after.signals[criterion.index()].status, SignalStatus::Fired);
        prop_assert_eq!(after.signals[criterion.index()].weight, weight);
        for (a, b) in after.signals.iter().zip(&before.signals) {
            if a.criterion != criterion {
                prop_assert_eq!(a, b);
            }
        }
        prop_assert_eq!(after.score, (fired_total(&before) + weight).min(MAX_SCORE));
        prop_assert!(after.score >= before.score);
        prop_assert!(
            after.outcome >= before.outcome,
            "{:?} -> {:?}", before.outcome, after.outcome
        );
    }

    /// (d) one signal per criterion, in catalogue order; not applicable exactly for the
    /// criteria of a later stage.
    #[test]
    fn signals_cover_the_catalogue_with_later_stages_not_applicable(
        facts in arb_facts(),
        profile in arb_profile(),
        stage in arb_stage(),
        day in arb_date(),
    ) {
        let evaluation = evaluate(&facts, &profile, stage, day);
        prop_assert_eq!(evaluation.stage, stage);
        prop_assert_eq!(evaluation.signals.len(), Criterion::COUNT);
        for (s, def) in evaluation.signals.iter().zip(&CATALOGUE) {
            prop_assert_eq!(s.criterion, def.criterion);
            prop_assert_eq!(
                s.status == SignalStatus::NotApplicable,
                def.stage > stage,
                "{:?} at {:?}", s, stage
            );
        }
    }

    /// Fired signals explain themselves; unknown ones name only facts the
    /// criterion reads; others carry nothing.
    #[test]
    fn signals_carry_what_their_status_promises(
        facts in arb_facts(),
        profile in arb_profile(),
        stage in arb_stage(),
        day in arb_date(),
    ) {
        let evaluation = evaluate(&facts, &profile, stage, day);
        for s in &evaluation.signals {
            prop_assert_eq!(s.knockout, profile.knockouts.contains(&s.criterion));
            match s.status {
                SignalStatus::Fired => {
                    prop_assert!(!s.evidence.is_empty() && !s.remedy.is_empty(), "{:?}", s);
                    prop_assert!(s.missing_facts.is_empty());
                }
                SignalStatus::Unknown => {
                    prop_assert!(!s.evidence.is_empty(), "{:?}", s);
                    prop_assert!(s.remedy.is_empty());
                    let read = s.criterion.def().facts_read;
                    prop_assert!(
                        s.missing_facts.iter().all(|m| read.contains(&m.as_str())),
                        "{:?}", s
                    );
                }
                SignalStatus::Clear | SignalStatus::NotApplicable => {
                    prop_assert!(s.evidence.is_empty() && s.remedy.is_empty(), "{:?}", s);
                    prop_assert!(s.missing_facts.is_empty());
                }
            }
        }
    }

    /// The stage breakdown adds up to the signals.
    #[test]
    fn stage_breakdown_adds_up(
        facts in arb_facts(),
        profile in arb_profile(),
        stage in arb_stage(),
        day in arb_date(),
    ) {
        let evaluation = evaluate(&facts, &profile, stage, day);
        let rows = evaluation.stage_breakdown();
        prop_assert_eq!(rows.iter().map(|r| r.stage).collect::<Vec<_>>(), Stage::ALL);
        prop_assert_eq!(rows.iter().map(|r| r.score).sum::<i32>(), fired_total(&evaluation));
        for row in &rows {
            let in_stage = CATALOGUE.iter().filter(|d| d.stage == row.stage).count() as i32;
            prop_assert_eq!(row.fired + row.clear + row.unknown + row.not_applicable, in_stage);
            let expected_na = if row.stage > stage { in_stage } else { 0 };
            prop_assert_eq!(row.not_applicable, expected_na);
        }
    }

    /// (e) A later stage never has fewer fired signals than an earlier one
    /// for the same facts: it keeps every earlier signal as it was.
    #[test]
    fn later_stage_keeps_every_earlier_signal(
        facts in arb_facts(),
        profile in arb_profile(),
        day in arb_date(),
    ) {
        let evaluations: Vec<Evaluation> = Stage::ALL
            .iter()
            .map(|&stage| evaluate(&facts, &profile, stage, day))
            .collect();
        for pair in evaluations.windows(2) {
            let (earlier, later) = (&pair[0], &pair[1]);
            prop_assert!(fired(later).len() >= fired(earlier).len());
            for (e, l) in earlier.signals.iter().zip(&later.signals) {
                if e.status != SignalStatus::NotApplicable {
                    prop_assert_eq!(e, l);
                }
            }
            prop_assert!(later.score >= earlier.score);
            prop_assert!(later.outcome >= earlier.outcome);
        }
    }
}
