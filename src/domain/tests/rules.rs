//! One test per rule edge of every criterion (SPEC section 2), with the SPEC
//! defaults unless a test says otherwise.

use jiff::civil::{Date, date};

use super::fixtures::{
    MARCH_GAP, OCTOBER_GAP, SUMMER, WINTER, all_clear_facts, eval, facts_firing,
    restrictive_profile, signal, tz, zone,
};
use crate::domain::rules::overlap_hours;
use crate::domain::{
    BusinessHours, CATALOGUE, Criterion, EngagementPattern, Facts, Priority, Profile, Signal,
    SignalStatus, Stage, evaluate,
};

// ---------------------------------------------------------------------------
// Helpers.

/// The signal of `criterion` for `facts` under `profile`, at the last stage
/// on a winter date.
fn check(criterion: Criterion, facts: Facts, profile: &Profile) -> Signal {
    signal(&eval(&facts, profile), criterion).clone()
}

fn check_default(criterion: Criterion, facts: Facts) -> Signal {
    check(criterion, facts, &Profile::default())
}

#[track_caller]
fn assert_fired(s: &Signal, profile: &Profile) {
    assert_eq!(s.status, SignalStatus::Fired, "{s:?}");
    assert_eq!(s.weight, profile.weights.get(s.criterion), "{s:?}");
    assert!(!s.evidence.is_empty(), "fired signal needs evidence: {s:?}");
    assert!(!s.remedy.is_empty(), "fired signal needs a remedy: {s:?}");
    assert!(s.missing_facts.is_empty(), "{s:?}");
}

#[track_caller]
fn assert_fired_default(s: &Signal) {
    assert_fired(s, &Profile::default());
    assert_eq!(s.weight, s.criterion.def().default_weight);
}

#[track_caller]
fn assert_clear(s: &Signal) {
    assert_eq!(s.status, SignalStatus::Clear, "{s:?}");
    assert_eq!(s.weight, 0, "{s:?}");
    assert!(s.remedy.is_empty(), "{s:?}");
    assert!(s.missing_facts.is_empty(), "{s:?}");
}

#[track_caller]
fn assert_unknown(s: &Signal, missing: &[&str]) {
    assert_eq!(s.status, SignalStatus::Unknown, "{s:?}");
    assert_eq!(s.weight, 0, "{s:?}");
    assert_eq!(s.missing_facts, missing, "{s:?}");
    assert!(!s.evidence.is_empty(), "unknown signal says why: {s:?}");
    assert!(s.remedy.is_empty(), "{s:?}");
}

// ---------------------------------------------------------------------------
// 1 COMPANY_SIZE_MISMATCH

fn company_size(employees: Option<i64>, min: Option<i64>, max: Option<i64>) -> Signal {
    let profile = Profile {
        min_employees: min,
        max_employees: max,
        ..Profile::default()
    };
    let facts = Facts {
        employee_count: employees,
        ..Facts::default()
    };
    check(Criterion::CompanySizeMismatch, facts, &profile)
}

#[test]
fn headcount_below_min_employees_fires() {
    let s = company_size(Some(9), Some(10), Some(500));
    assert_fired_default(&s);
    assert_eq!(s.evidence, "headcount is 9; we serve 10 to 500");
}

#[test]
fn headcount_at_min_employees_is_clear() {
    assert_clear(&company_size(Some(10), Some(10), Some(500)));
}

#[test]
fn headcount_just_above_min_employees_is_clear() {
    assert_clear(&company_size(Some(11), Some(10), Some(500)));
}

#[test]
fn headcount_just_below_max_employees_is_clear() {
    assert_clear(&company_size(Some(499), Some(10), Some(500)));
}

#[test]
fn headcount_at_max_employees_is_clear() {
    assert_clear(&company_size(Some(500), Some(10), Some(500)));
}

#[test]
fn headcount_above_max_employees_fires() {
    let s = company_size(Some(501), Some(10), Some(500));
    assert_fired_default(&s);
    assert_eq!(s.evidence, "headcount is 501; we serve 10 to 500");
}

#[test]
fn headcount_with_only_a_minimum_is_unbounded_above() {
    assert_clear(&company_size(Some(1_000_000), Some(10), None));
    assert_fired_default(&company_size(Some(9), Some(10), None));
}

#[test]
fn headcount_with_only_a_maximum_is_unbounded_below() {
    assert_clear(&company_size(Some(0), None, Some(500)));
    assert_fired_default(&company_size(Some(501), None, Some(500)));
}

#[test]
fn headcount_without_bounds_is_clear_even_when_unknown() {
    assert_clear(&company_size(None, None, None));
    assert_clear(&company_size(Some(1_000_000), None, None));
}

#[test]
fn unknown_headcount_with_bounds_is_unknown() {
    assert_unknown(
        &company_size(None, Some(10), Some(500)),
        &["employee_count"],
    );
    assert_unknown(&company_size(None, None, Some(500)), &["employee_count"]);
}

// ---------------------------------------------------------------------------
// 2 REVENUE_MISMATCH

fn revenue(usd: Option<i64>, min: Option<i64>, max: Option<i64>) -> Signal {
    let profile = Profile {
        min_annual_revenue_usd: min,
        max_annual_revenue_usd: max,
        ..Profile::default()
    };
    let facts = Facts {
        annual_revenue_usd: usd,
        ..Facts::default()
    };
    check(Criterion::RevenueMismatch, facts, &profile)
}

const M: i64 = 1_000_000;

#[test]
fn revenue_below_minimum_fires() {
    assert_fired_default(&revenue(Some(M - 1), Some(M), Some(50 * M)));
}

#[test]
fn revenue_at_minimum_is_clear() {
    assert_clear(&revenue(Some(M), Some(M), Some(50 * M)));
}

#[test]
fn revenue_just_above_minimum_is_clear() {
    assert_clear(&revenue(Some(M + 1), Some(M), Some(50 * M)));
}

#[test]
fn revenue_at_maximum_is_clear() {
    assert_clear(&revenue(Some(50 * M), Some(M), Some(50 * M)));
    assert_clear(&revenue(Some(50 * M - 1), Some(M), Some(50 * M)));
}

#[test]
fn revenue_above_maximum_fires() {
    assert_fired_default(&revenue(Some(50 * M + 1), Some(M), Some(50 * M)));
}

#[test]
fn revenue_with_one_bound_only_restricts_that_side() {
    assert_clear(&revenue(Some(i64::MAX), Some(M), None));
    assert_fired_default(&revenue(Some(M - 1), Some(M), None));
    assert_clear(&revenue(Some(0), None, Some(M)));
    assert_fired_default(&revenue(Some(M + 1), None, Some(M)));
}

#[test]
fn revenue_without_bounds_is_clear_even_when_unknown() {
    assert_clear(&revenue(None, None, None));
}

#[test]
fn unknown_revenue_with_bounds_is_unknown() {
    assert_unknown(&revenue(None, Some(M), None), &["annual_revenue_usd"]);
}

// ---------------------------------------------------------------------------
// 3 VERTICAL_MISMATCH, 4 BUSINESS_MODEL_MISMATCH, 5 OUTSIDE_TERRITORY

fn vertical(value: Option<&str>, targets: &[&str]) -> Signal {
    let profile = Profile {
        target_verticals: targets.iter().map(|s| s.to_string()).collect(),
        ..Profile::default()
    };
    let facts = Facts {
        vertical: value.map(str::to_owned),
        ..Facts::default()
    };
    check(Criterion::VerticalMismatch, facts, &profile)
}

#[test]
fn vertical_among_targets_is_clear() {
    assert_clear(&vertical(Some("fintech"), &["saas", "fintech"]));
}

#[test]
fn vertical_matches_targets_case_insensitively() {
    assert_clear(&vertical(Some("SaaS"), &["saas"]));
}

#[test]
fn vertical_not_among_targets_fires() {
    let s = vertical(Some("retail"), &["saas", "fintech"]);
    assert_fired_default(&s);
    assert!(s.evidence.contains("retail"), "{}", s.evidence);
}

#[test]
fn vertical_with_empty_target_list_is_clear_even_when_unknown() {
    assert_clear(&vertical(None, &[]));
    assert_clear(&vertical(Some("anything"), &[]));
}

#[test]
fn unknown_vertical_with_targets_is_unknown() {
    assert_unknown(&vertical(None, &["saas"]), &["vertical"]);
}

fn business_model(value: Option<&str>, targets: &[&str]) -> Signal {
    let profile = Profile {
        target_business_models: targets.iter().map(|s| s.to_string()).collect(),
        ..Profile::default()
    };
    let facts = Facts {
        business_model: value.map(str::to_owned),
        ..Facts::default()
    };
    check(Criterion::BusinessModelMismatch, facts, &profile)
}

#[test]
fn business_model_among_targets_is_clear() {
    assert_clear(&business_model(Some("b2b"), &["b2b", "b2g"]));
    assert_clear(&business_model(Some("B2G"), &["b2b", "b2g"]));
}

#[test]
fn business_model_not_among_targets_fires() {
    assert_fired_default(&business_model(Some("b2c"), &["b2b", "b2g"]));
    assert_fired_default(&business_model(Some("marketplace"), &["b2b"]));
}

#[test]
fn business_model_with_empty_target_list_is_clear_even_when_unknown() {
    assert_clear(&business_model(None, &[]));
}

#[test]
fn unknown_business_model_with_targets_is_unknown() {
    assert_unknown(&business_model(None, &["b2b"]), &["business_model"]);
}

fn territory(value: Option<&str>, territories: &[&str]) -> Signal {
    let profile = Profile {
        territories: territories.iter().map(|s| s.to_string()).collect(),
        ..Profile::default()
    };
    let facts = Facts {
        territory: value.map(str::to_owned),
        ..Facts::default()
    };
    check(Criterion::OutsideTerritory, facts, &profile)
}

#[test]
fn territory_among_ours_is_clear() {
    assert_clear(&territory(Some("emea"), &["emea", "na"]));
    assert_clear(&territory(Some("EMEA"), &["emea"]));
}

#[test]
fn territory_outside_ours_fires_with_weight_40() {
    let s = territory(Some("apac"), &["emea", "na"]);
    assert_fired_default(&s);
    assert_eq!(s.weight, 40);
}

#[test]
fn territory_with_empty_list_is_clear_even_when_unknown() {
    assert_clear(&territory(None, &[]));
}

#[test]
fn unknown_territory_with_list_is_unknown() {
    assert_unknown(&territory(None, &["emea"]), &["territory"]);
}

// ---------------------------------------------------------------------------
// 6 COUNTRY_TIMEZONE_MISMATCH

const HOUR_TOLERANCE: f64 = 1e-9;

#[track_caller]
fn assert_hours(actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() < HOUR_TOLERANCE,
        "expected {expected} h overlap, got {actual} h"
    );
}

fn overlap(lead: &str, seller: &str, on: Date) -> f64 {
    overlap_hours(&tz(lead), &tz(seller), BusinessHours::default(), on)
}

fn country_tz(
    country: Option<&str>,
    lead_zone: Option<&str>,
    countries: &[&str],
    seller_zone: Option<&str>,
    on: Date,
) -> Signal {
    let profile = Profile {
        countries: countries.iter().map(|s| s.to_string()).collect(),
        seller_timezone: seller_zone.map(zone),
        ..Profile::default()
    };
    let facts = Facts {
        country: country.map(str::to_owned),
        timezone: lead_zone.map(str::to_owned),
        ..Facts::default()
    };
    signal(
        &evaluate(&facts, &profile, Stage::Identification, on),
        Criterion::CountryTimezoneMismatch,
    )
    .clone()
}

#[test]
fn country_among_served_countries_is_clear() {
    assert_clear(&country_tz(Some("DE"), None, &["DE", "FR"], None, WINTER));
}

#[test]
fn country_matches_served_countries_case_insensitively() {
    assert_clear(&country_tz(Some("de"), None, &["DE"], None, WINTER));
}

#[test]
fn country_not_among_served_countries_fires() {
    let s = country_tz(Some("US"), None, &["DE", "FR"], None, WINTER);
    assert_fired_default(&s);
    assert_eq!(s.weight, 30);
    assert!(s.evidence.contains("US"), "{}", s.evidence);
}

#[test]
fn unserved_country_fires_even_when_hours_overlap_fully() {
    let s = country_tz(
        Some("AT"),
        Some("Europe/Vienna"),
        &["DE"],
        Some("Europe/Berlin"),
        WINTER,
    );
    assert_fired_default(&s);
}

#[test]
fn unknown_country_with_country_list_is_unknown() {
    assert_unknown(&country_tz(None, None, &["DE"], None, WINTER), &["country"]);
}

#[test]
fn no_country_list_and_no_seller_timezone_is_clear_even_when_unknown() {
    assert_clear(&country_tz(None, None, &[], None, WINTER));
}

#[test]
fn without_seller_timezone_only_the_country_list_is_checked() {
    // Tokyo would overlap Berlin by 0 h, but no seller time zone is set.
    assert_clear(&country_tz(
        Some("JP"),
        Some("Asia/Tokyo"),
        &["JP"],
        None,
        WINTER,
    ));
    assert_clear(&country_tz(Some("JP"), None, &["JP"], None, WINTER));
}

#[test]
fn berlin_and_new_york_overlap_three_hours_in_winter() {
    // Berlin CET 09-18 = 08-17 UTC; New York EST 09-18 = 14-23 UTC.
    assert_hours(overlap("America/New_York", "Europe/Berlin", WINTER), 3.0);
    assert_hours(overlap("Europe/Berlin", "America/New_York", WINTER), 3.0);
}

#[test]
fn new_york_lead_with_berlin_seller_in_winter_is_clear_at_min_three_hours() {
    let s = country_tz(
        None,
        Some("America/New_York"),
        &[],
        Some("Europe/Berlin"),
        WINTER,
    );
    assert_clear(&s);
}

#[test]
fn new_york_lead_with_berlin_seller_fires_when_more_than_three_hours_needed() {
    let profile = Profile {
        seller_timezone: Some(zone("Europe/Berlin")),
        min_overlap_hours: 3.5,
        ..Profile::default()
    };
    let facts = Facts {
        timezone: Some("America/New_York".into()),
        ..Facts::default()
    };
    let s = check(Criterion::CountryTimezoneMismatch, facts, &profile);
    assert_fired(&s, &profile);
    assert!(s.evidence.contains("3.0 h"), "{}", s.evidence);
}

#[test]
fn berlin_and_new_york_overlap_four_hours_when_only_the_us_is_on_dst_in_march() {
    // New York EDT 09-18 = 13-22 UTC; Berlin still CET 08-17 UTC.
    assert_hours(overlap("America/New_York", "Europe/Berlin", MARCH_GAP), 4.0);
    let profile = Profile {
        seller_timezone: Some(zone("Europe/Berlin")),
        min_overlap_hours: 4.0,
        ..Profile::default()
    };
    let facts = Facts {
        timezone: Some("America/New_York".into()),
        ..Facts::default()
    };
    let in_march = evaluate(&facts, &profile, Stage::Identification, MARCH_GAP);
    assert_clear(signal(&in_march, Criterion::CountryTimezoneMismatch));
    // The same facts and profile in winter give 3 h, below the 4 h needed:
    // the evaluation date matters.
    let in_winter = evaluate(&facts, &profile, Stage::Identification, WINTER);
    assert_fired(
        signal(&in_winter, Criterion::CountryTimezoneMismatch),
        &profile,
    );
}

#[test]
fn berlin_and_new_york_overlap_three_hours_in_summer_and_four_in_the_october_gap() {
    // Summer: Berlin CEST 07-16 UTC, New York EDT 13-22 UTC.
    assert_hours(overlap("America/New_York", "Europe/Berlin", SUMMER), 3.0);
    // Late October: Berlin back on CET (08-17 UTC), New York still EDT.
    assert_hours(
        overlap("America/New_York", "Europe/Berlin", OCTOBER_GAP),
        4.0,
    );
}

#[test]
fn tokyo_and_los_angeles_overlap_two_hours_in_winter_and_one_in_summer() {
    // Tokyo 09-18 JST = 00-09 UTC; the LA day before, 09-18 PST = 17-02 UTC.
    assert_hours(overlap("Asia/Tokyo", "America/Los_Angeles", WINTER), 2.0);
    // PDT: 16-01 UTC.
    assert_hours(overlap("Asia/Tokyo", "America/Los_Angeles", SUMMER), 1.0);
}

#[test]
fn tokyo_lead_with_los_angeles_seller_fires() {
    let s = country_tz(
        Some("JP"),
        Some("Asia/Tokyo"),
        &["JP", "US"],
        Some("America/Los_Angeles"),
        WINTER,
    );
    assert_fired_default(&s);
    assert!(s.evidence.contains("Asia/Tokyo"), "{}", s.evidence);
    assert!(s.evidence.contains("2.0 h"), "{}", s.evidence);
}

#[test]
fn same_zone_overlaps_the_whole_business_day() {
    assert_hours(overlap("Europe/Berlin", "Europe/Berlin", WINTER), 9.0);
    assert_hours(overlap("Europe/Paris", "Europe/Berlin", SUMMER), 9.0);
}

#[test]
fn overlap_uses_the_seller_business_hours() {
    // Seller Berlin 12:00-14:00 CET = 11-13 UTC; lead London 09-18 GMT.
    let hours = BusinessHours::parse("12:00", "14:00").unwrap();
    assert_hours(
        overlap_hours(&tz("Europe/London"), &tz("Europe/Berlin"), hours, WINTER),
        2.0,
    );
    let profile = Profile {
        seller_timezone: Some(zone("Europe/Berlin")),
        seller_business_hours: hours,
        ..Profile::default()
    };
    let facts = Facts {
        timezone: Some("Europe/London".into()),
        ..Facts::default()
    };
    assert_fired(
        &check(Criterion::CountryTimezoneMismatch, facts, &profile),
        &profile,
    );
}

#[test]
fn overlap_counts_both_seller_days_a_lead_day_touches() {
    // Seller UTC 06:00-23:00; lead Noumea (UTC+11, no DST) 09-18 local =
    // 22:00-07:00 UTC: 1 h with the seller's previous day and 1 h with the
    // seller's day, 2 h in all.
    let hours = BusinessHours::parse("06:00", "23:00").unwrap();
    assert_hours(
        overlap_hours(&tz("Pacific/Noumea"), &tz("UTC"), hours, WINTER),
        2.0,
    );
    let profile = Profile {
        seller_timezone: Some(zone("UTC")),
        seller_business_hours: hours,
        min_overlap_hours: 2.0,
        ..Profile::default()
    };
    let facts = Facts {
        timezone: Some("Pacific/Noumea".into()),
        ..Facts::default()
    };
    assert_clear(&check(Criterion::CountryTimezoneMismatch, facts, &profile));
}

#[test]
fn unknown_lead_timezone_with_seller_timezone_is_unknown_naming_timezone() {
    let s = country_tz(Some("DE"), None, &["DE"], Some("Europe/Berlin"), WINTER);
    assert_unknown(&s, &["timezone"]);
    let s = country_tz(None, None, &[], Some("Europe/Berlin"), WINTER);
    assert_unknown(&s, &["timezone"]);
}

#[test]
fn unknown_country_and_timezone_are_both_named() {
    let s = country_tz(None, None, &["DE"], Some("Europe/Berlin"), WINTER);
    assert_unknown(&s, &["country", "timezone"]);
}

#[test]
fn short_overlap_fires_even_when_the_country_is_unknown() {
    let s = country_tz(
        None,
        Some("Asia/Tokyo"),
        &["JP"],
        Some("America/Los_Angeles"),
        WINTER,
    );
    assert_fired_default(&s);
}

#[test]
fn unusable_lead_timezone_is_unknown_not_fired() {
    let s = country_tz(
        Some("DE"),
        Some("Mars/Olympus_Mons"),
        &[],
        Some("Europe/Berlin"),
        WINTER,
    );
    assert_eq!(s.status, SignalStatus::Unknown);
    assert_eq!(s.weight, 0);
    assert!(s.evidence.contains("Mars/Olympus_Mons"), "{}", s.evidence);
}

// ---------------------------------------------------------------------------
// 7 DISRESPECTFUL (limit 1)

fn disrespectful(incidents: Option<i32>) -> Signal {
    check_default(
        Criterion::Disrespectful,
        Facts {
            disrespectful_incidents: incidents,
            ..Facts::default()
        },
    )
}

#[test]
fn no_disrespectful_incident_is_clear() {
    assert_clear(&disrespectful(Some(0)));
}

#[test]
fn one_disrespectful_incident_fires() {
    let s = disrespectful(Some(1));
    assert_fired_default(&s);
    assert_eq!(s.weight, 30);
}

#[test]
fn two_disrespectful_incidents_fire() {
    assert_fired_default(&disrespectful(Some(2)));
}

#[test]
fn unknown_disrespectful_incidents_is_unknown() {
    assert_unknown(&disrespectful(None), &["disrespectful_incidents"]);
}

#[test]
fn custom_disrespectful_limit_is_honoured() {
    let mut profile = Profile::default();
    profile.thresholds.max_disrespectful_incidents = 3;
    let at = |n| {
        let facts = Facts {
            disrespectful_incidents: Some(n),
            ..Facts::default()
        };
        check(Criterion::Disrespectful, facts, &profile)
    };
    assert_clear(&at(2));
    assert_fired(&at(3), &profile);
    assert_fired(&at(4), &profile);
}

// ---------------------------------------------------------------------------
// 8 EMOTIONAL_DECISIONS, 11 NO_COMPROMISE, 17 MAGIC_WAND (flags)

fn flag_signal(criterion: Criterion, value: Option<bool>) -> Signal {
    let mut facts = Facts::default();
    match criterion {
        Criterion::EmotionalDecisions => facts.emotional_only_responses = value,
        Criterion::NoCompromise => facts.insists_on_own_process = value,
        Criterion::MagicWand => facts.expects_magic_wand = value,
        other => panic!("{other:?} is not a flag criterion"),
    }
    check_default(criterion, facts)
}

#[test]
fn factual_responses_are_clear() {
    assert_clear(&flag_signal(Criterion::EmotionalDecisions, Some(false)));
}

#[test]
fn emotional_only_responses_fire_with_weight_10() {
    let s = flag_signal(Criterion::EmotionalDecisions, Some(true));
    assert_fired_default(&s);
    assert_eq!(s.weight, 10);
}

#[test]
fn unknown_emotional_only_responses_is_unknown() {
    assert_unknown(
        &flag_signal(Criterion::EmotionalDecisions, None),
        &["emotional_only_responses"],
    );
}

#[test]
fn accepting_a_compromise_is_clear() {
    assert_clear(&flag_signal(Criterion::NoCompromise, Some(false)));
}

#[test]
fn insisting_on_own_process_fires() {
    let s = flag_signal(Criterion::NoCompromise, Some(true));
    assert_fired_default(&s);
    assert_eq!(s.weight, 20);
}

#[test]
fn unknown_insists_on_own_process_is_unknown() {
    assert_unknown(
        &flag_signal(Criterion::NoCompromise, None),
        &["insists_on_own_process"],
    );
}

#[test]
fn no_magic_wand_expected_is_clear() {
    assert_clear(&flag_signal(Criterion::MagicWand, Some(false)));
}

#[test]
fn expecting_a_magic_wand_fires() {
    let s = flag_signal(Criterion::MagicWand, Some(true));
    assert_fired_default(&s);
    assert_eq!(s.weight, 25);
}

#[test]
fn unknown_expects_magic_wand_is_unknown() {
    assert_unknown(
        &flag_signal(Criterion::MagicWand, None),
        &["expects_magic_wand"],
    );
}

// ---------------------------------------------------------------------------
// 9 ERRATIC_ENGAGEMENT

fn engagement(pattern: Option<EngagementPattern>) -> Signal {
    check_default(
        Criterion::ErraticEngagement,
        Facts {
            engagement_pattern: pattern,
            ..Facts::default()
        },
    )
}

#[test]
fn steady_engagement_is_clear() {
    assert_clear(&engagement(Some(EngagementPattern::Steady)));
}

#[test]
fn impulsive_engagement_fires() {
    assert_fired_default(&engagement(Some(EngagementPattern::Impulsive)));
}

#[test]
fn lethargic_engagement_fires() {
    assert_fired_default(&engagement(Some(EngagementPattern::Lethargic)));
}

#[test]
fn swinging_engagement_fires() {
    let s = engagement(Some(EngagementPattern::Swinging));
    assert_fired_default(&s);
    assert_eq!(s.weight, 10);
}

#[test]
fn unknown_engagement_pattern_is_unknown() {
    assert_unknown(&engagement(None), &["engagement_pattern"]);
}

// ---------------------------------------------------------------------------
// 10 WITHHOLDS_ANSWERS, 13 REFUSES_PLAN, 18 IGNORES_PRESCRIPTIONS (ratios,
// minimum 0.5)

/// The three ratio criteria: (criterion, denominator fact, numerator fact).
const RATIOS: [(Criterion, &str, &str); 3] = [
    (
        Criterion::WithholdsAnswers,
        "questions_asked",
        "questions_answered",
    ),
    (
        Criterion::RefusesPlan,
        "plan_steps_agreed",
        "plan_steps_completed",
    ),
    (
        Criterion::IgnoresPrescriptions,
        "assignments_given",
        "assignments_completed",
    ),
];

fn ratio_facts(criterion: Criterion, numerator: Option<i32>, denominator: Option<i32>) -> Facts {
    let mut f = Facts::default();
    match criterion {
        Criterion::WithholdsAnswers => {
            f.questions_answered = numerator;
            f.questions_asked = denominator;
        }
        Criterion::RefusesPlan => {
            f.plan_steps_completed = numerator;
            f.plan_steps_agreed = denominator;
        }
        Criterion::IgnoresPrescriptions => {
            f.assignments_completed = numerator;
            f.assignments_given = denominator;
        }
        other => panic!("{other:?} is not a ratio criterion"),
    }
    f
}

fn ratio(criterion: Criterion, numerator: Option<i32>, denominator: Option<i32>) -> Signal {
    check_default(criterion, ratio_facts(criterion, numerator, denominator))
}

#[test]
fn answering_half_the_questions_is_clear() {
    assert_clear(&ratio(Criterion::WithholdsAnswers, Some(5), Some(10)));
    assert_clear(&ratio(Criterion::WithholdsAnswers, Some(1), Some(2)));
}

#[test]
fn answering_just_under_half_the_questions_fires() {
    let s = ratio(Criterion::WithholdsAnswers, Some(4), Some(10));
    assert_fired_default(&s);
    assert_eq!(
        s.evidence,
        "4 of 10 questions answered (40%); at least 50% expected"
    );
    assert_eq!(s.remedy, "at least 5 of 10 questions answered");
}

#[test]
fn answering_just_over_half_the_questions_is_clear() {
    assert_clear(&ratio(Criterion::WithholdsAnswers, Some(6), Some(10)));
}

#[test]
fn completing_half_the_plan_steps_is_clear() {
    assert_clear(&ratio(Criterion::RefusesPlan, Some(2), Some(4)));
}

#[test]
fn completing_under_half_the_plan_steps_fires() {
    let s = ratio(Criterion::RefusesPlan, Some(1), Some(3));
    assert_fired_default(&s);
    assert_eq!(s.weight, 25);
    assert_eq!(s.remedy, "at least 2 of 3 agreed plan steps completed");
}

#[test]
fn completing_over_half_the_plan_steps_is_clear() {
    assert_clear(&ratio(Criterion::RefusesPlan, Some(2), Some(3)));
}

#[test]
fn completing_half_the_assignments_is_clear() {
    assert_clear(&ratio(Criterion::IgnoresPrescriptions, Some(3), Some(6)));
}

#[test]
fn completing_under_half_the_assignments_fires() {
    let s = ratio(Criterion::IgnoresPrescriptions, Some(2), Some(5));
    assert_fired_default(&s);
    assert_eq!(s.weight, 20);
}

#[test]
fn completing_over_half_the_assignments_is_clear() {
    assert_clear(&ratio(Criterion::IgnoresPrescriptions, Some(3), Some(5)));
}

#[test]
fn no_progress_at_all_fires_every_ratio() {
    for (criterion, _, _) in RATIOS {
        assert_fired_default(&ratio(criterion, Some(0), Some(1)));
    }
}

#[test]
fn zero_denominator_ratio_is_unknown_not_fired() {
    for (criterion, denominator, _) in RATIOS {
        let s = ratio(criterion, Some(0), Some(0));
        assert_eq!(s.status, SignalStatus::Unknown, "{s:?}");
        assert_eq!(s.weight, 0);
        assert!(s.missing_facts.is_empty(), "{s:?}");
        assert!(s.evidence.contains(denominator), "{}", s.evidence);
    }
}

#[test]
fn ratio_with_unknown_facts_is_unknown_naming_them() {
    for (criterion, denominator, numerator) in RATIOS {
        assert_unknown(&ratio(criterion, None, Some(4)), &[numerator]);
        assert_unknown(&ratio(criterion, Some(2), None), &[denominator]);
        assert_unknown(&ratio(criterion, None, None), &[denominator, numerator]);
    }
}

#[test]
fn custom_ratio_minimums_are_honoured() {
    let mut profile = Profile::default();
    profile.thresholds.min_answer_ratio = 0.75;
    profile.thresholds.min_plan_completion = 0.75;
    profile.thresholds.min_assignment_completion = 0.75;
    for (criterion, _, _) in RATIOS {
        let at = |n| {
            check(
                criterion,
                ratio_facts(criterion, Some(n), Some(4)),
                &profile,
            )
        };
        assert_fired(&at(2), &profile);
        assert_clear(&at(3));
        assert_clear(&at(4));
    }
}

#[test]
fn ratio_remedy_names_the_smallest_count_that_clears() {
    // 0.28 * 25 is 7.000000000000001 in floating point, but 7 of 25 is
    // exactly 28% and clears.
    let mut profile = Profile::default();
    profile.thresholds.min_answer_ratio = 0.28;
    let at = |n| {
        check(
            Criterion::WithholdsAnswers,
            ratio_facts(Criterion::WithholdsAnswers, Some(n), Some(25)),
            &profile,
        )
    };
    assert_clear(&at(7));
    let s = at(6);
    assert_fired(&s, &profile);
    assert_eq!(s.remedy, "at least 7 of 25 questions answered");
}

// ---------------------------------------------------------------------------
// 12 CONTRADICTORY_STATEMENTS (limit 2), 15 DISORGANIZED (limit 2),
// 20 FEIGNED_COMPLIANCE (limit 2)

fn count(criterion: Criterion, value: Option<i32>, profile: &Profile) -> Signal {
    let mut facts = Facts::default();
    match criterion {
        Criterion::ContradictoryStatements => facts.contradictory_statements = value,
        Criterion::Disorganized => facts.missed_sessions = value,
        Criterion::FeignedCompliance => facts.agreed_actions_not_done = value,
        other => panic!("{other:?} is not a count criterion"),
    }
    check(criterion, facts, profile)
}

fn count_default(criterion: Criterion, value: Option<i32>) -> Signal {
    count(criterion, value, &Profile::default())
}

#[test]
fn one_contradictory_statement_is_clear() {
    assert_clear(&count_default(Criterion::ContradictoryStatements, Some(1)));
}

#[test]
fn two_contradictory_statements_fire() {
    let s = count_default(Criterion::ContradictoryStatements, Some(2));
    assert_fired_default(&s);
    assert_eq!(s.weight, 20);
}

#[test]
fn three_contradictory_statements_fire() {
    assert_fired_default(&count_default(Criterion::ContradictoryStatements, Some(3)));
}

#[test]
fn unknown_contradictory_statements_is_unknown() {
    assert_unknown(
        &count_default(Criterion::ContradictoryStatements, None),
        &["contradictory_statements"],
    );
}

#[test]
fn one_missed_session_is_clear() {
    assert_clear(&count_default(Criterion::Disorganized, Some(1)));
}

#[test]
fn two_missed_sessions_fire() {
    let s = count_default(Criterion::Disorganized, Some(2));
    assert_fired_default(&s);
    assert_eq!(s.weight, 15);
}

#[test]
fn three_missed_sessions_fire() {
    assert_fired_default(&count_default(Criterion::Disorganized, Some(3)));
}

#[test]
fn unknown_missed_sessions_is_unknown() {
    assert_unknown(
        &count_default(Criterion::Disorganized, None),
        &["missed_sessions"],
    );
}

#[test]
fn one_agreed_action_not_done_is_clear() {
    assert_clear(&count_default(Criterion::FeignedCompliance, Some(1)));
}

#[test]
fn two_agreed_actions_not_done_fire() {
    let s = count_default(Criterion::FeignedCompliance, Some(2));
    assert_fired_default(&s);
    assert_eq!(s.weight, 20);
}

#[test]
fn three_agreed_actions_not_done_fire() {
    assert_fired_default(&count_default(Criterion::FeignedCompliance, Some(3)));
}

#[test]
fn unknown_agreed_actions_not_done_is_unknown() {
    assert_unknown(
        &count_default(Criterion::FeignedCompliance, None),
        &["agreed_actions_not_done"],
    );
}

#[test]
fn custom_count_limits_are_honoured() {
    let mut profile = Profile::default();
    profile.thresholds.max_contradictions = 4;
    profile.thresholds.max_missed_sessions = 4;
    profile.thresholds.max_agreed_not_done = 4;
    for criterion in [
        Criterion::ContradictoryStatements,
        Criterion::Disorganized,
        Criterion::FeignedCompliance,
    ] {
        assert_clear(&count(criterion, Some(3), &profile));
        assert_fired(&count(criterion, Some(4), &profile), &profile);
        assert_fired(&count(criterion, Some(5), &profile), &profile);
    }
}

// ---------------------------------------------------------------------------
// 14 INSUFFICIENT_RESOURCES

fn resources(
    budget: Option<i64>,
    staff: Option<i32>,
    min_budget: Option<i64>,
    min_staff: Option<i32>,
) -> Signal {
    let mut profile = Profile::default();
    profile.thresholds.min_budget_usd = min_budget;
    profile.thresholds.min_staff = min_staff;
    let facts = Facts {
        budget_usd: budget,
        staff_available: staff,
        ..Facts::default()
    };
    check(Criterion::InsufficientResources, facts, &profile)
}

#[test]
fn resources_without_minimums_are_clear_even_when_unknown() {
    assert_clear(&resources(None, None, None, None));
    assert_clear(&resources(Some(0), Some(0), None, None));
}

#[test]
fn budget_just_below_minimum_fires() {
    let s = resources(Some(9_999), None, Some(10_000), None);
    assert_fired_default(&s);
    assert_eq!(s.weight, 40);
    assert_eq!(s.evidence, "budget is 9999 USD; at least 10000 USD needed");
}

#[test]
fn budget_at_minimum_is_clear() {
    assert_clear(&resources(Some(10_000), None, Some(10_000), None));
}

#[test]
fn budget_above_minimum_is_clear() {
    assert_clear(&resources(Some(10_001), None, Some(10_000), None));
}

#[test]
fn staff_just_below_minimum_fires() {
    assert_fired_default(&resources(None, Some(2), None, Some(3)));
}

#[test]
fn staff_at_minimum_is_clear() {
    assert_clear(&resources(None, Some(3), None, Some(3)));
}

#[test]
fn staff_above_minimum_is_clear() {
    assert_clear(&resources(None, Some(4), None, Some(3)));
}

#[test]
fn either_shortfall_fires_when_both_minimums_are_set() {
    assert_fired_default(&resources(Some(9_999), Some(3), Some(10_000), Some(3)));
    assert_fired_default(&resources(Some(10_000), Some(2), Some(10_000), Some(3)));
    assert_clear(&resources(Some(10_000), Some(3), Some(10_000), Some(3)));
}

#[test]
fn a_known_shortfall_fires_even_when_the_other_resource_is_unknown() {
    assert_fired_default(&resources(Some(1), None, Some(10_000), Some(3)));
    assert_fired_default(&resources(None, Some(0), Some(10_000), Some(3)));
}

#[test]
fn unknown_resources_with_minimums_are_unknown_naming_them() {
    assert_unknown(&resources(None, None, Some(10_000), None), &["budget_usd"]);
    assert_unknown(&resources(None, None, None, Some(3)), &["staff_available"]);
    assert_unknown(
        &resources(None, None, Some(10_000), Some(3)),
        &["budget_usd", "staff_available"],
    );
    assert_unknown(
        &resources(Some(10_000), None, Some(10_000), Some(3)),
        &["staff_available"],
    );
}

// ---------------------------------------------------------------------------
// 16 NOT_A_PRIORITY

fn priority(value: Option<Priority>) -> Signal {
    check_default(
        Criterion::NotAPriority,
        Facts {
            priority: value,
            ..Facts::default()
        },
    )
}

#[test]
fn high_priority_is_clear() {
    assert_clear(&priority(Some(Priority::High)));
}

#[test]
fn normal_priority_is_clear() {
    assert_clear(&priority(Some(Priority::Normal)));
}

#[test]
fn low_priority_fires() {
    let s = priority(Some(Priority::Low));
    assert_fired_default(&s);
    assert_eq!(s.weight, 25);
}

#[test]
fn not_now_priority_fires() {
    assert_fired_default(&priority(Some(Priority::NotNow)));
}

#[test]
fn unknown_priority_is_unknown() {
    assert_unknown(&priority(None), &["priority"]);
}

// ---------------------------------------------------------------------------
// 19 MEETING_DISRUPTIONS (limit 3 on cancelled + rescheduled)

fn meetings(cancelled: Option<i32>, rescheduled: Option<i32>) -> Signal {
    check_default(
        Criterion::MeetingDisruptions,
        Facts {
            meetings_cancelled: cancelled,
            meetings_rescheduled: rescheduled,
            ..Facts::default()
        },
    )
}

#[test]
fn two_meeting_disruptions_are_clear() {
    assert_clear(&meetings(Some(1), Some(1)));
    assert_clear(&meetings(Some(2), Some(0)));
    assert_clear(&meetings(Some(0), Some(2)));
}

#[test]
fn three_meeting_disruptions_fire() {
    let s = meetings(Some(2), Some(1));
    assert_fired_default(&s);
    assert_eq!(s.weight, 20);
    assert_fired_default(&meetings(Some(3), Some(0)));
    assert_fired_default(&meetings(Some(0), Some(3)));
}

#[test]
fn four_meeting_disruptions_fire() {
    assert_fired_default(&meetings(Some(2), Some(2)));
}

#[test]
fn unknown_meeting_counts_are_unknown_naming_them() {
    assert_unknown(&meetings(None, Some(0)), &["meetings_cancelled"]);
    assert_unknown(&meetings(Some(0), None), &["meetings_rescheduled"]);
    assert_unknown(
        &meetings(None, None),
        &["meetings_cancelled", "meetings_rescheduled"],
    );
}

#[test]
fn custom_meeting_disruption_limit_is_honoured() {
    let mut profile = Profile::default();
    profile.thresholds.max_meeting_disruptions = 5;
    let at = |c, r| {
        let facts = Facts {
            meetings_cancelled: Some(c),
            meetings_rescheduled: Some(r),
            ..Facts::default()
        };
        check(Criterion::MeetingDisruptions, facts, &profile)
    };
    assert_clear(&at(2, 2));
    assert_fired(&at(3, 2), &profile);
}

// ---------------------------------------------------------------------------
// 21 REPEATED_EXPLANATIONS (allowed 3; strictly more fires)

fn repeats(value: Option<i32>) -> Signal {
    check_default(
        Criterion::RepeatedExplanations,
        Facts {
            max_material_repeats: value,
            ..Facts::default()
        },
    )
}

#[test]
fn material_repeated_twice_is_clear() {
    assert_clear(&repeats(Some(2)));
}

#[test]
fn material_repeated_three_times_is_clear() {
    assert_clear(&repeats(Some(3)));
}

#[test]
fn material_repeated_four_times_fires() {
    let s = repeats(Some(4));
    assert_fired_default(&s);
    assert_eq!(s.weight, 15);
    assert_eq!(
        s.evidence,
        "material re-explained 4 times; more than 3 allowed"
    );
}

#[test]
fn material_repeated_five_times_fires() {
    assert_fired_default(&repeats(Some(5)));
}

#[test]
fn unknown_material_repeats_is_unknown() {
    assert_unknown(&repeats(None), &["max_material_repeats"]);
}

#[test]
fn custom_material_repeats_allowed_is_honoured() {
    let mut profile = Profile::default();
    profile.thresholds.max_material_repeats_allowed = 5;
    let at = |n| {
        let facts = Facts {
            max_material_repeats: Some(n),
            ..Facts::default()
        };
        check(Criterion::RepeatedExplanations, facts, &profile)
    };
    assert_clear(&at(5));
    let s = at(6);
    assert_fired(&s, &profile);
    assert_eq!(
        s.evidence,
        "material re-explained 6 times; more than 5 allowed"
    );
}

// ---------------------------------------------------------------------------
// Across all criteria.

#[test]
fn catalogue_has_the_spec_codes_stages_and_default_weights() {
    let expected: [(&str, Stage, i32); Criterion::COUNT] = [
        ("COMPANY_SIZE_MISMATCH", Stage::Identification, 25),
        ("REVENUE_MISMATCH", Stage::Identification, 25),
        ("VERTICAL_MISMATCH", Stage::Identification, 30),
        ("BUSINESS_MODEL_MISMATCH", Stage::Identification, 20),
        ("OUTSIDE_TERRITORY", Stage::Identification, 40),
        ("COUNTRY_TIMEZONE_MISMATCH", Stage::Identification, 30),
        ("DISRESPECTFUL", Stage::Contact, 30),
        ("EMOTIONAL_DECISIONS", Stage::Contact, 10),
        ("ERRATIC_ENGAGEMENT", Stage::Contact, 10),
        ("WITHHOLDS_ANSWERS", Stage::Contact, 20),
        ("NO_COMPROMISE", Stage::Contact, 20),
        ("CONTRADICTORY_STATEMENTS", Stage::Study, 20),
        ("REFUSES_PLAN", Stage::Study, 25),
        ("INSUFFICIENT_RESOURCES", Stage::Study, 40),
        ("DISORGANIZED", Stage::Study, 15),
        ("NOT_A_PRIORITY", Stage::Study, 25),
        ("MAGIC_WAND", Stage::Recommendation, 25),
        ("IGNORES_PRESCRIPTIONS", Stage::Recommendation, 20),
        ("MEETING_DISRUPTIONS", Stage::Recommendation, 20),
        ("FEIGNED_COMPLIANCE", Stage::Recommendation, 20),
        ("REPEATED_EXPLANATIONS", Stage::Recommendation, 15),
    ];
    let profile = Profile::default();
    for (i, (def, (code, stage, weight))) in CATALOGUE.iter().zip(expected).enumerate() {
        assert_eq!(def.code, code);
        assert_eq!(def.stage, stage, "{code}");
        assert_eq!(def.default_weight, weight, "{code}");
        assert_eq!(profile.weights.get(def.criterion), weight, "{code}");
        assert_eq!(def.criterion.number(), i as i32 + 1, "{code}");
        assert_eq!(Criterion::from_code(code), Some(def.criterion));
    }
}

#[test]
fn all_clear_facts_are_clear_under_the_restrictive_and_the_default_profile() {
    for profile in [restrictive_profile(), Profile::default()] {
        let evaluation = eval(&all_clear_facts(), &profile);
        for s in &evaluation.signals {
            assert_clear(s);
        }
        assert_eq!(evaluation.score, 0);
    }
}

#[test]
fn empty_profile_lists_and_unset_bounds_are_clear_with_nothing_known() {
    let evaluation = evaluate(&Facts::default(), &Profile::default(), Stage::Study, WINTER);
    for s in &evaluation.signals[..6] {
        assert_clear(s);
    }
    assert_clear(signal(&evaluation, Criterion::InsufficientResources));
}

#[test]
fn every_criterion_with_nothing_known_and_no_restriction_is_clear_or_unknown() {
    let evaluation = eval(&Facts::default(), &Profile::default());
    for s in &evaluation.signals {
        let expected = match s.stage() {
            Stage::Identification => SignalStatus::Clear,
            _ if s.criterion == Criterion::InsufficientResources => SignalStatus::Clear,
            _ => SignalStatus::Unknown,
        };
        assert_eq!(s.status, expected, "{s:?}");
        if expected == SignalStatus::Unknown {
            let read = s.criterion.def().facts_read;
            assert!(!s.missing_facts.is_empty(), "{s:?}");
            assert!(
                s.missing_facts.iter().all(|m| read.contains(&m.as_str())),
                "{s:?} names only facts it reads"
            );
        }
    }
}

#[test]
fn criteria_of_later_stages_are_not_applicable() {
    let facts = facts_firing(&CATALOGUE.iter().map(|d| d.criterion).collect::<Vec<_>>());
    let profile = restrictive_profile();
    for stage in Stage::ALL {
        let evaluation = evaluate(&facts, &profile, stage, WINTER);
        assert_eq!(evaluation.stage, stage);
        for s in &evaluation.signals {
            if s.stage() > stage {
                assert_eq!(s.status, SignalStatus::NotApplicable, "{s:?} at {stage:?}");
                assert_eq!(s.weight, 0);
                assert!(s.evidence.is_empty() && s.remedy.is_empty());
                assert!(s.missing_facts.is_empty());
            } else {
                assert_fired(s, &profile);
            }
        }
    }
}

#[test]
fn every_criterion_can_fire_with_evidence_remedy_and_the_profile_weight() {
    let mut profile = restrictive_profile();
    for def in &CATALOGUE {
        // Distinct custom weights: 3, 6, ..., 63.
        profile
            .weights
            .set(def.criterion, def.criterion.number() * 3);
    }
    for def in &CATALOGUE {
        let facts =
            super::fixtures::firing_facts(def.criterion, &all_clear_facts(), &profile, WINTER)
                .expect("fires under the restrictive profile");
        let evaluation = eval(&facts, &profile);
        for s in &evaluation.signals {
            if s.criterion == def.criterion {
                assert_fired(s, &profile);
                assert_eq!(s.weight, def.criterion.number() * 3);
            } else {
                assert_clear(s);
            }
        }
        assert_eq!(evaluation.score, def.criterion.number() * 3);
    }
}

#[test]
fn zero_weight_criterion_still_fires_with_zero_weight() {
    let mut profile = Profile::default();
    profile.weights.set(Criterion::Disrespectful, 0);
    let facts = Facts {
        disrespectful_incidents: Some(5),
        ..Facts::default()
    };
    let evaluation = eval(&facts, &profile);
    let s = signal(&evaluation, Criterion::Disrespectful);
    assert_fired(s, &profile);
    assert_eq!(s.weight, 0);
    assert_eq!(evaluation.score, 0);
}

#[test]
fn the_evaluation_date_only_matters_to_the_timezone_overlap() {
    let facts = facts_firing(&[Criterion::Disrespectful, Criterion::RepeatedExplanations]);
    let profile = Profile {
        seller_timezone: None,
        ..restrictive_profile()
    };
    let a = evaluate(&facts, &profile, Stage::Recommendation, WINTER);
    let b = evaluate(&facts, &profile, Stage::Recommendation, date(2031, 6, 1));
    assert_eq!(a, b);
}

#[test]
fn meeting_disruptions_fire_when_known_cancellations_alone_reach_the_limit() {
    let facts = Facts {
        meetings_cancelled: Some(3),
        ..Facts::default()
    };
    let evaluation = evaluate(&facts, &Profile::default(), Stage::Recommendation, WINTER);
    let signal = &evaluation.signals[Criterion::MeetingDisruptions.index()];
    assert_eq!(signal.status, SignalStatus::Fired);
    assert!(
        signal.evidence.contains("at least 3 in all"),
        "{}",
        signal.evidence
    );
}

#[test]
fn meeting_disruptions_below_the_limit_with_one_count_unknown_is_unknown() {
    let facts = Facts {
        meetings_cancelled: Some(2),
        ..Facts::default()
    };
    let evaluation = evaluate(&facts, &Profile::default(), Stage::Recommendation, WINTER);
    let signal = &evaluation.signals[Criterion::MeetingDisruptions.index()];
    assert_eq!(signal.status, SignalStatus::Unknown);
    assert_eq!(signal.missing_facts, ["meetings_rescheduled"]);
}
