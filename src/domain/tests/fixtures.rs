//! Shared inputs for the engine tests.

use jiff::civil::{Date, date};
use jiff::tz::TimeZone;

use crate::domain::profile::ZoneName;
use crate::domain::rules::overlap_hours;
use crate::domain::{
    Criterion, EngagementPattern, Evaluation, Facts, Priority, Profile, Signal, Stage, Thresholds,
    evaluate,
};

/// A winter date: neither Europe nor the US is on daylight saving time.
pub const WINTER: Date = date(2025, 1, 15);

/// 2025-03-09 the US moved to daylight saving time, Europe only on
/// 2025-03-30: in between New York is 5 hours behind Berlin instead of 6.
pub const MARCH_GAP: Date = date(2025, 3, 17);

/// Both sides on daylight saving time.
pub const SUMMER: Date = date(2025, 7, 15);

/// Europe left daylight saving time on 2025-10-26, the US only on
/// 2025-11-02.
pub const OCTOBER_GAP: Date = date(2025, 10, 28);

pub fn zone(name: &str) -> ZoneName {
    ZoneName::parse(name).expect("known IANA zone")
}

pub fn tz(name: &str) -> TimeZone {
    TimeZone::get(name).expect("known IANA zone")
}

/// Evaluates at the last stage (everything applies) on a winter date.
pub fn eval(facts: &Facts, profile: &Profile) -> Evaluation {
    evaluate(facts, profile, Stage::Recommendation, WINTER)
}

/// The signal of `criterion` in `evaluation`.
pub fn signal(evaluation: &Evaluation, criterion: Criterion) -> &Signal {
    let s = &evaluation.signals[criterion.index()];
    assert_eq!(s.criterion, criterion, "signals are in catalogue order");
    s
}

/// A profile with every restriction of section 2 set, so that every
/// identification criterion can fire.
pub fn restrictive_profile() -> Profile {
    Profile {
        min_employees: Some(10),
        max_employees: Some(500),
        min_annual_revenue_usd: Some(1_000_000),
        max_annual_revenue_usd: Some(50_000_000),
        target_verticals: vec!["saas".into(), "fintech".into()],
        target_business_models: vec!["b2b".into()],
        territories: vec!["emea".into()],
        countries: vec!["DE".into(), "FR".into()],
        seller_timezone: Some(zone("Europe/Berlin")),
        thresholds: Thresholds {
            min_budget_usd: Some(10_000),
            min_staff: Some(2),
            ..Thresholds::default()
        },
        ..Profile::default()
    }
}

/// Every fact known, every criterion clear under `restrictive_profile` (and
/// under the default profile).
pub fn all_clear_facts() -> Facts {
    Facts {
        employee_count: Some(100),
        annual_revenue_usd: Some(5_000_000),
        vertical: Some("saas".into()),
        business_model: Some("b2b".into()),
        territory: Some("emea".into()),
        country: Some("DE".into()),
        timezone: Some("Europe/Paris".into()),
        disrespectful_incidents: Some(0),
        emotional_only_responses: Some(false),
        engagement_pattern: Some(EngagementPattern::Steady),
        questions_asked: Some(10),
        questions_answered: Some(8),
        insists_on_own_process: Some(false),
        contradictory_statements: Some(0),
        plan_steps_agreed: Some(4),
        plan_steps_completed: Some(4),
        budget_usd: Some(50_000),
        staff_available: Some(5),
        missed_sessions: Some(0),
        priority: Some(Priority::High),
        expects_magic_wand: Some(false),
        assignments_given: Some(4),
        assignments_completed: Some(4),
        meetings_cancelled: Some(0),
        meetings_rescheduled: Some(0),
        agreed_actions_not_done: Some(0),
        max_material_repeats: Some(1),
        // Account facts unknown: no lifecycle class can disqualify.
        ..Facts::default()
    }
}

/// Lead zones tried when criterion 6 has to fire on the overlap; together
/// they cover offsets from UTC-11 to UTC+14.
const FAR_ZONES: [&str; 10] = [
    "Pacific/Pago_Pago",
    "Pacific/Honolulu",
    "America/Los_Angeles",
    "America/New_York",
    "UTC",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Pacific/Auckland",
    "Pacific/Kiritimati",
];

/// `facts` with only the facts read by `criterion` changed so that it fires
/// under `profile` on `date`; `None` when the profile makes that impossible
/// (no restriction set, a ratio minimum of 0, ...).
pub fn firing_facts(
    criterion: Criterion,
    facts: &Facts,
    profile: &Profile,
    date: Date,
) -> Option<Facts> {
    let t = &profile.thresholds;
    let mut f = facts.clone();
    let beyond = |min: Option<i64>, max: Option<i64>| match (min, max) {
        (_, Some(hi)) => Some(hi + 1),
        (Some(lo), None) if lo > 0 => Some(lo - 1),
        _ => None,
    };
    let unlisted = |list: &[String]| (!list.is_empty()).then(|| "zz-unlisted".to_owned());
    let ratio = |min: f64| (min > 0.0).then_some((4, 0));
    match criterion {
        Criterion::CompanySizeMismatch => {
            f.employee_count = Some(beyond(profile.min_employees, profile.max_employees)?);
        }
        Criterion::RevenueMismatch => {
            f.annual_revenue_usd = Some(beyond(
                profile.min_annual_revenue_usd,
                profile.max_annual_revenue_usd,
            )?);
        }
        Criterion::VerticalMismatch => f.vertical = Some(unlisted(&profile.target_verticals)?),
        Criterion::BusinessModelMismatch => {
            f.business_model = Some(unlisted(&profile.target_business_models)?);
        }
        Criterion::OutsideTerritory => f.territory = Some(unlisted(&profile.territories)?),
        Criterion::CountryTimezoneMismatch => {
            if !profile.countries.is_empty() {
                f.country = Some("ZZ".into());
            } else {
                let seller = profile.seller_timezone.as_ref()?;
                let far = FAR_ZONES.into_iter().find(|name| {
                    overlap_hours(
                        &tz(name),
                        seller.zone(),
                        profile.seller_business_hours,
                        date,
                    ) < profile.min_overlap_hours
                })?;
                f.timezone = Some(far.into());
            }
        }
        Criterion::Disrespectful => f.disrespectful_incidents = Some(t.max_disrespectful_incidents),
        Criterion::EmotionalDecisions => f.emotional_only_responses = Some(true),
        Criterion::ErraticEngagement => f.engagement_pattern = Some(EngagementPattern::Impulsive),
        Criterion::WithholdsAnswers => {
            let (asked, answered) = ratio(t.min_answer_ratio)?;
            f.questions_asked = Some(asked);
            f.questions_answered = Some(answered);
        }
        Criterion::NoCompromise => f.insists_on_own_process = Some(true),
        Criterion::ContradictoryStatements => {
            f.contradictory_statements = Some(t.max_contradictions)
        }
        Criterion::RefusesPlan => {
            let (agreed, completed) = ratio(t.min_plan_completion)?;
            f.plan_steps_agreed = Some(agreed);
            f.plan_steps_completed = Some(completed);
        }
        Criterion::InsufficientResources => match (t.min_budget_usd, t.min_staff) {
            (Some(b), _) if b > 0 => f.budget_usd = Some(b - 1),
            (_, Some(s)) if s > 0 => f.staff_available = Some(s - 1),
            _ => return None,
        },
        Criterion::Disorganized => f.missed_sessions = Some(t.max_missed_sessions),
        Criterion::NotAPriority => f.priority = Some(Priority::NotNow),
        Criterion::MagicWand => f.expects_magic_wand = Some(true),
        Criterion::IgnoresPrescriptions => {
            let (given, completed) = ratio(t.min_assignment_completion)?;
            f.assignments_given = Some(given);
            f.assignments_completed = Some(completed);
        }
        Criterion::MeetingDisruptions => {
            f.meetings_cancelled = Some(t.max_meeting_disruptions);
            f.meetings_rescheduled = Some(0);
        }
        Criterion::FeignedCompliance => f.agreed_actions_not_done = Some(t.max_agreed_not_done),
        Criterion::RepeatedExplanations => {
            f.max_material_repeats = Some(t.max_material_repeats_allowed + 1);
        }
    }
    Some(f)
}

/// `all_clear_facts` with exactly the given criteria made to fire under
/// `restrictive_profile` on `WINTER`.
pub fn facts_firing(criteria: &[Criterion]) -> Facts {
    let profile = restrictive_profile();
    criteria.iter().fold(all_clear_facts(), |facts, &c| {
        firing_facts(c, &facts, &profile, WINTER).expect("restrictive profile lets it fire")
    })
}
