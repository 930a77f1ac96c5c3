//! The criteria catalogue: the 21 disqualification criteria of the SPEC, each
//! as data (code, stage, title, facts read, defaults) plus one small rule.
//!
//! Adding a criterion means adding a variant to `Criterion`, an entry to
//! `CATALOGUE` and its value to the proto enum; nothing else.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::facts::{EngagementPattern, Facts, Priority};
use super::profile::Profile;
use super::verdict::Stage;

/// A disqualification criterion. The discriminant is the stable number of
/// `CRITERION_<CODE>` on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Criterion {
    CompanySizeMismatch = 1,
    RevenueMismatch = 2,
    VerticalMismatch = 3,
    BusinessModelMismatch = 4,
    OutsideTerritory = 5,
    CountryTimezoneMismatch = 6,
    Disrespectful = 7,
    EmotionalDecisions = 8,
    ErraticEngagement = 9,
    WithholdsAnswers = 10,
    NoCompromise = 11,
    ContradictoryStatements = 12,
    RefusesPlan = 13,
    InsufficientResources = 14,
    Disorganized = 15,
    NotAPriority = 16,
    MagicWand = 17,
    IgnoresPrescriptions = 18,
    MeetingDisruptions = 19,
    FeignedCompliance = 20,
    RepeatedExplanations = 21,
}

impl Criterion {
    pub const COUNT: usize = 21;

    /// Position in `CATALOGUE`.
    pub fn index(self) -> usize {
        self as usize - 1
    }

    /// The wire number of `CRITERION_<CODE>`.
    pub fn number(self) -> i32 {
        self as i32
    }

    pub fn from_number(number: i32) -> Option<Criterion> {
        usize::try_from(number)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| CATALOGUE.get(i))
            .map(|d| d.criterion)
    }

    pub fn from_code(code: &str) -> Option<Criterion> {
        CATALOGUE
            .iter()
            .find(|d| d.code == code)
            .map(|d| d.criterion)
    }

    /// The catalogue entry.
    pub fn def(self) -> &'static CriterionDef {
        &CATALOGUE[self.index()]
    }

    pub fn code(self) -> &'static str {
        self.def().code
    }
}

impl Serialize for Criterion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Criterion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Criterion::from_code(&code)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown criterion {code}")))
    }
}

/// What a rule found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// The rule matched; evidence and remedy are for a sales rep.
    Fired {
        evidence: String,
        remedy: String,
    },
    Clear,
    /// The rule could not be evaluated: facts are missing or a ratio has a
    /// zero denominator.
    Unknown {
        missing: Vec<&'static str>,
        reason: String,
    },
}

/// A rule: merged facts, profile and evaluation date in, finding out.
pub type Rule = fn(&Facts, &Profile, Date) -> Finding;

/// One entry of the catalogue.
pub struct CriterionDef {
    pub criterion: Criterion,
    pub code: &'static str,
    pub stage: Stage,
    pub title: &'static str,
    pub description: &'static str,
    pub facts_read: &'static [&'static str],
    /// Profile settings compared against, with SPEC defaults.
    pub default_thresholds: &'static [&'static str],
    pub default_weight: i32,
    pub rule: Rule,
}

/// The 21 criteria, in wire-number order.
pub static CATALOGUE: [CriterionDef; Criterion::COUNT] = [
    // Identification: fit with the ideal customer profile.
    CriterionDef {
        criterion: Criterion::CompanySizeMismatch,
        code: "COMPANY_SIZE_MISMATCH",
        stage: Stage::Identification,
        title: "Company size outside the profile",
        description: "The organisation is much bigger or much smaller than the ones we serve.",
        facts_read: &["employee_count"],
        default_thresholds: &["min_employees = unset", "max_employees = unset"],
        default_weight: 25,
        rule: company_size_mismatch,
    },
    CriterionDef {
        criterion: Criterion::RevenueMismatch,
        code: "REVENUE_MISMATCH",
        stage: Stage::Identification,
        title: "Revenue outside the profile",
        description: "Annual revenue is outside the range of the organisations we serve.",
        facts_read: &["annual_revenue_usd"],
        default_thresholds: &[
            "min_annual_revenue_usd = unset",
            "max_annual_revenue_usd = unset",
        ],
        default_weight: 25,
        rule: revenue_mismatch,
    },
    CriterionDef {
        criterion: Criterion::VerticalMismatch,
        code: "VERTICAL_MISMATCH",
        stage: Stage::Identification,
        title: "Vertical not targeted",
        description: "The lead's industry is not among the verticals we target.",
        facts_read: &["vertical"],
        default_thresholds: &["target_verticals = [] (no restriction)"],
        default_weight: 30,
        rule: vertical_mismatch,
    },
    CriterionDef {
        criterion: Criterion::BusinessModelMismatch,
        code: "BUSINESS_MODEL_MISMATCH",
        stage: Stage::Identification,
        title: "Business model not targeted",
        description: "How the lead's market works (b2b, b2c, b2g, marketplace, ...) is not one we target.",
        facts_read: &["business_model"],
        default_thresholds: &["target_business_models = [] (no restriction)"],
        default_weight: 20,
        rule: business_model_mismatch,
    },
    CriterionDef {
        criterion: Criterion::OutsideTerritory,
        code: "OUTSIDE_TERRITORY",
        stage: Stage::Identification,
        title: "Outside our territory",
        description: "The lead is in a sales territory we do not cover.",
        facts_read: &["territory"],
        default_thresholds: &["territories = [] (no restriction)"],
        default_weight: 40,
        rule: outside_territory,
    },
    CriterionDef {
        criterion: Criterion::CountryTimezoneMismatch,
        code: "COUNTRY_TIMEZONE_MISMATCH",
        stage: Stage::Identification,
        title: "Country or working hours out of reach",
        description: "The lead's country is not served, or its business hours (09:00-18:00 local) overlap the seller's too little on the evaluation date.",
        facts_read: &["country", "timezone"],
        default_thresholds: &[
            "countries = [] (no restriction)",
            "seller_timezone = unset (country check only)",
            "seller_business_hours = 09:00-18:00",
            "min_overlap_hours = 3",
        ],
        default_weight: 30,
        rule: country_timezone_mismatch,
    },
    // Contact: first conversations.
    CriterionDef {
        criterion: Criterion::Disrespectful,
        code: "DISRESPECTFUL",
        stage: Stage::Contact,
        title: "Disrespectful behaviour",
        description: "Rude, disrespectful behaviour that makes communication hard.",
        facts_read: &["disrespectful_incidents"],
        default_thresholds: &["max_disrespectful_incidents = 1 (fires at 1)"],
        default_weight: 30,
        rule: disrespectful,
    },
    CriterionDef {
        criterion: Criterion::EmotionalDecisions,
        code: "EMOTIONAL_DECISIONS",
        stage: Stage::Contact,
        title: "Emotional decisions only",
        description: "Reacts to proposals only emotionally and ignores factual evidence.",
        facts_read: &["emotional_only_responses"],
        default_thresholds: &[],
        default_weight: 10,
        rule: emotional_decisions,
    },
    CriterionDef {
        criterion: Criterion::ErraticEngagement,
        code: "ERRATIC_ENGAGEMENT",
        stage: Stage::Contact,
        title: "Erratic engagement",
        description: "Engagement is impulsive, lethargic, or swings from one to the other.",
        facts_read: &["engagement_pattern"],
        default_thresholds: &[],
        default_weight: 10,
        rule: erratic_engagement,
    },
    CriterionDef {
        criterion: Criterion::WithholdsAnswers,
        code: "WITHHOLDS_ANSWERS",
        stage: Stage::Contact,
        title: "Withholds answers",
        description: "Refuses to answer the seller's questions.",
        facts_read: &["questions_asked", "questions_answered"],
        default_thresholds: &["min_answer_ratio = 0.5"],
        default_weight: 20,
        rule: withholds_answers,
    },
    CriterionDef {
        criterion: Criterion::NoCompromise,
        code: "NO_COMPROMISE",
        stage: Stage::Contact,
        title: "No compromise on the process",
        description: "Forces the sale to run their way, with no compromise.",
        facts_read: &["insists_on_own_process"],
        default_thresholds: &[],
        default_weight: 20,
        rule: no_compromise,
    },
    // Study: deep look at the client's situation.
    CriterionDef {
        criterion: Criterion::ContradictoryStatements,
        code: "CONTRADICTORY_STATEMENTS",
        stage: Stage::Study,
        title: "Contradictory statements",
        description: "Makes unreliable or contradictory claims.",
        facts_read: &["contradictory_statements"],
        default_thresholds: &["max_contradictions = 2 (fires at 2)"],
        default_weight: 20,
        rule: contradictory_statements,
    },
    CriterionDef {
        criterion: Criterion::RefusesPlan,
        code: "REFUSES_PLAN",
        stage: Stage::Study,
        title: "Does not follow the agreed plan",
        description: "Won't follow guidance and doesn't carry out the agreed plan.",
        facts_read: &["plan_steps_agreed", "plan_steps_completed"],
        default_thresholds: &["min_plan_completion = 0.5"],
        default_weight: 25,
        rule: refuses_plan,
    },
    CriterionDef {
        criterion: Criterion::InsufficientResources,
        code: "INSUFFICIENT_RESOURCES",
        stage: Stage::Study,
        title: "Insufficient resources",
        description: "Not enough money or people to use the product well.",
        facts_read: &["budget_usd", "staff_available"],
        default_thresholds: &["min_budget_usd = unset", "min_staff = unset"],
        default_weight: 40,
        rule: insufficient_resources,
    },
    CriterionDef {
        criterion: Criterion::Disorganized,
        code: "DISORGANIZED",
        stage: Stage::Study,
        title: "Disorganised",
        description: "Misses working sessions; can't find time to work with the seller.",
        facts_read: &["missed_sessions"],
        default_thresholds: &["max_missed_sessions = 2 (fires at 2)"],
        default_weight: 15,
        rule: disorganized,
    },
    CriterionDef {
        criterion: Criterion::NotAPriority,
        code: "NOT_A_PRIORITY",
        stage: Stage::Study,
        title: "Not a priority now",
        description: "Needs the product, but it is not a priority now.",
        facts_read: &["priority"],
        default_thresholds: &[],
        default_weight: 25,
        rule: not_a_priority,
    },
    // Recommendation: is the lead ready to close.
    CriterionDef {
        criterion: Criterion::MagicWand,
        code: "MAGIC_WAND",
        stage: Stage::Recommendation,
        title: "Expects a magic wand",
        description: "Expects everything to happen by itself; won't work as a team with the seller.",
        facts_read: &["expects_magic_wand"],
        default_thresholds: &[],
        default_weight: 25,
        rule: magic_wand,
    },
    CriterionDef {
        criterion: Criterion::IgnoresPrescriptions,
        code: "IGNORES_PRESCRIPTIONS",
        stage: Stage::Recommendation,
        title: "Ignores assignments",
        description: "Doesn't read the material or do the exercises asked of them.",
        facts_read: &["assignments_given", "assignments_completed"],
        default_thresholds: &["min_assignment_completion = 0.5"],
        default_weight: 20,
        rule: ignores_prescriptions,
    },
    CriterionDef {
        criterion: Criterion::MeetingDisruptions,
        code: "MEETING_DISRUPTIONS",
        stage: Stage::Recommendation,
        title: "Cancels or moves meetings",
        description: "Cancels meetings or keeps moving them.",
        facts_read: &["meetings_cancelled", "meetings_rescheduled"],
        default_thresholds: &["max_meeting_disruptions = 3 (fires at 3)"],
        default_weight: 20,
        rule: meeting_disruptions,
    },
    CriterionDef {
        criterion: Criterion::FeignedCompliance,
        code: "FEIGNED_COMPLIANCE",
        stage: Stage::Recommendation,
        title: "Feigned compliance",
        description: "Pretends to follow the seller's lead, but does not do what was agreed.",
        facts_read: &["agreed_actions_not_done"],
        default_thresholds: &["max_agreed_not_done = 2 (fires at 2)"],
        default_weight: 20,
        rule: feigned_compliance,
    },
    CriterionDef {
        criterion: Criterion::RepeatedExplanations,
        code: "REPEATED_EXPLANATIONS",
        stage: Stage::Recommendation,
        title: "Material explained again and again",
        description: "The same material had to be sent or gone over more than the allowed number of times.",
        facts_read: &["max_material_repeats"],
        default_thresholds: &["max_material_repeats_allowed = 3 (fires at 4)"],
        default_weight: 15,
        rule: repeated_explanations,
    },
];

// ---------------------------------------------------------------------------
// Building blocks shared by the rules.

fn unknown(missing: &[&'static str]) -> Finding {
    let reason = if missing.len() == 1 {
        format!("{} is not known yet", missing[0])
    } else {
        format!("{} are not known yet", missing.join(" and "))
    };
    Finding::Unknown {
        missing: missing.to_vec(),
        reason,
    }
}

fn fired(evidence: String, remedy: String) -> Finding {
    Finding::Fired { evidence, remedy }
}

/// Fires when `value` is outside `[min, max]`; unset bounds do not restrict.
fn outside_range(
    value: Option<i64>,
    fact: &'static str,
    min: Option<i64>,
    max: Option<i64>,
    what: &str,
) -> Finding {
    if min.is_none() && max.is_none() {
        return Finding::Clear;
    }
    let Some(v) = value else {
        return unknown(&[fact]);
    };
    // Text is built only for a signal that fires.
    let range = || match (min, max) {
        (Some(lo), Some(hi)) => format!("we serve {lo} to {hi}"),
        (Some(lo), None) => format!("we serve {lo} or more"),
        (None, Some(hi)) => format!("we serve up to {hi}"),
        (None, None) => String::new(),
    };
    match (min, max) {
        (Some(lo), _) if v < lo => fired(
            format!("{what} is {v}; {}", range()),
            format!("{what} of at least {lo}, or a profile with a lower minimum"),
        ),
        (_, Some(hi)) if v > hi => fired(
            format!("{what} is {v}; {}", range()),
            format!("{what} of at most {hi}, or a profile with a higher maximum"),
        ),
        _ => Finding::Clear,
    }
}

/// Case-insensitive membership; an empty list does not restrict.
fn not_in_list(value: Option<&str>, fact: &'static str, list: &[String], what: &str) -> Finding {
    if list.is_empty() {
        return Finding::Clear;
    }
    let Some(v) = value else {
        return unknown(&[fact]);
    };
    if list.iter().any(|t| same_label(t, v)) {
        Finding::Clear
    } else {
        fired(
            format!(
                "{what} \"{v}\" is not among the targeted: {}",
                list.join(", ")
            ),
            format!(
                "a {what} among {}, or add \"{v}\" to the profile",
                list.join(", ")
            ),
        )
    }
}

fn same_label(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// Fires when a count reaches `limit` ("limit 2" fires at 2).
fn count_at_least(value: Option<i32>, fact: &'static str, limit: i32, what: &str) -> Finding {
    let Some(v) = value else {
        return unknown(&[fact]);
    };
    if v >= limit {
        fired(
            format!("{v} {what}; the limit is {limit}"),
            format!("fewer than {limit} {what}"),
        )
    } else {
        Finding::Clear
    }
}

/// Fires when `numerator / denominator` is below `min`; a zero denominator
/// is not evaluable.
fn ratio_below(
    numerator: Option<i32>,
    numerator_fact: &'static str,
    denominator: Option<i32>,
    denominator_fact: &'static str,
    min: f64,
    what: &str,
) -> Finding {
    let (n, d) = match (numerator, denominator) {
        (Some(n), Some(d)) => (n, d),
        (None, Some(_)) => return unknown(&[numerator_fact]),
        (Some(_), None) => return unknown(&[denominator_fact]),
        (None, None) => return unknown(&[denominator_fact, numerator_fact]),
    };
    if d == 0 {
        return Finding::Unknown {
            missing: Vec::new(),
            reason: format!("{denominator_fact} is 0, so the ratio cannot be evaluated yet"),
        };
    }
    let ratio = f64::from(n) / f64::from(d);
    if ratio < min {
        let mut needed = (min * f64::from(d)).ceil() as i64;
        // `min * d` can round up past a whole number (0.28 * 25 is
        // 7.000000000000001): step back while one fewer still clears.
        while needed > 0 && (needed - 1) as f64 / f64::from(d) >= min {
            needed -= 1;
        }
        fired(
            format!(
                "{n} of {d} {what} ({:.0}%); at least {:.0}% expected",
                ratio * 100.0,
                min * 100.0
            ),
            format!("at least {needed} of {d} {what}"),
        )
    } else {
        Finding::Clear
    }
}

fn flag(value: Option<bool>, fact: &'static str, evidence: &str, remedy: &str) -> Finding {
    match value {
        None => unknown(&[fact]),
        Some(true) => fired(evidence.to_owned(), remedy.to_owned()),
        Some(false) => Finding::Clear,
    }
}

// ---------------------------------------------------------------------------
// The rules, one per criterion.

fn company_size_mismatch(f: &Facts, p: &Profile, _: Date) -> Finding {
    outside_range(
        f.employee_count,
        "employee_count",
        p.min_employees,
        p.max_employees,
        "headcount",
    )
}

fn revenue_mismatch(f: &Facts, p: &Profile, _: Date) -> Finding {
    outside_range(
        f.annual_revenue_usd,
        "annual_revenue_usd",
        p.min_annual_revenue_usd,
        p.max_annual_revenue_usd,
        "annual revenue (USD)",
    )
}

fn vertical_mismatch(f: &Facts, p: &Profile, _: Date) -> Finding {
    not_in_list(
        f.vertical.as_deref(),
        "vertical",
        &p.target_verticals,
        "vertical",
    )
}

fn business_model_mismatch(f: &Facts, p: &Profile, _: Date) -> Finding {
    not_in_list(
        f.business_model.as_deref(),
        "business_model",
        &p.target_business_models,
        "business model",
    )
}

fn outside_territory(f: &Facts, p: &Profile, _: Date) -> Finding {
    not_in_list(
        f.territory.as_deref(),
        "territory",
        &p.territories,
        "territory",
    )
}

fn country_timezone_mismatch(f: &Facts, p: &Profile, date: Date) -> Finding {
    let mut missing = Vec::new();
    if !p.countries.is_empty() {
        match f.country.as_deref() {
            None => missing.push("country"),
            Some(c) if !p.countries.iter().any(|t| same_label(t, c)) => {
                return fired(
                    format!(
                        "country {c} is not among the countries we serve: {}",
                        p.countries.join(", ")
                    ),
                    format!(
                        "a lead in {}, or add {c} to the profile",
                        p.countries.join(", ")
                    ),
                );
            }
            Some(_) => {}
        }
    }
    if let Some(seller) = &p.seller_timezone {
        // The zone straight from the database: no copy of its name.
        match f
            .timezone
            .as_deref()
            .map(|name| (name, TimeZone::get(name)))
        {
            None => missing.push("timezone"),
            Some((name, Err(_))) => {
                return Finding::Unknown {
                    missing: Vec::new(),
                    reason: format!(
                        "timezone cannot be used: \"{name}\" is not a known IANA time zone"
                    ),
                };
            }
            Some((name, Ok(lead_zone))) => {
                let hours = super::engine::overlap_hours(
                    &lead_zone,
                    seller.zone(),
                    p.seller_business_hours,
                    date,
                );
                if hours < p.min_overlap_hours {
                    return fired(
                        format!(
                            "business hours in {} overlap the seller's ({}, {}-{}) by {:.1} h on {date}; at least {} h needed",
                            name,
                            seller.name(),
                            p.seller_business_hours.start.strftime("%H:%M"),
                            p.seller_business_hours.end.strftime("%H:%M"),
                            hours,
                            p.min_overlap_hours
                        ),
                        format!(
                            "a lead whose working day overlaps {} by at least {} h, or wider seller business hours",
                            seller.name(),
                            p.min_overlap_hours
                        ),
                    );
                }
            }
        }
    }
    if missing.is_empty() {
        Finding::Clear
    } else {
        unknown(&missing)
    }
}

fn disrespectful(f: &Facts, p: &Profile, _: Date) -> Finding {
    count_at_least(
        f.disrespectful_incidents,
        "disrespectful_incidents",
        p.thresholds.max_disrespectful_incidents,
        "disrespectful incident(s)",
    )
}

fn emotional_decisions(f: &Facts, _: &Profile, _: Date) -> Finding {
    flag(
        f.emotional_only_responses,
        "emotional_only_responses",
        "reacts to proposals only emotionally and ignores the facts presented",
        "responses that engage with the facts and figures of the proposal",
    )
}

fn erratic_engagement(f: &Facts, _: &Profile, _: Date) -> Finding {
    match f.engagement_pattern {
        None => unknown(&["engagement_pattern"]),
        Some(EngagementPattern::Steady) => Finding::Clear,
        Some(pattern) => fired(
            format!("engagement is {}", pattern.label()),
            "steady engagement over several conversations".to_owned(),
        ),
    }
}

fn withholds_answers(f: &Facts, p: &Profile, _: Date) -> Finding {
    ratio_below(
        f.questions_answered,
        "questions_answered",
        f.questions_asked,
        "questions_asked",
        p.thresholds.min_answer_ratio,
        "questions answered",
    )
}

fn no_compromise(f: &Facts, _: &Profile, _: Date) -> Finding {
    flag(
        f.insists_on_own_process,
        "insists_on_own_process",
        "insists the sale runs their way, with no compromise",
        "agreement on a buying process both sides accept",
    )
}

fn contradictory_statements(f: &Facts, p: &Profile, _: Date) -> Finding {
    count_at_least(
        f.contradictory_statements,
        "contradictory_statements",
        p.thresholds.max_contradictions,
        "contradictory statement(s)",
    )
}

fn refuses_plan(f: &Facts, p: &Profile, _: Date) -> Finding {
    ratio_below(
        f.plan_steps_completed,
        "plan_steps_completed",
        f.plan_steps_agreed,
        "plan_steps_agreed",
        p.thresholds.min_plan_completion,
        "agreed plan steps completed",
    )
}

fn insufficient_resources(f: &Facts, p: &Profile, _: Date) -> Finding {
    let t = &p.thresholds;
    let mut missing = Vec::new();
    let mut short = Vec::new();
    let mut remedy = Vec::new();
    if let Some(min) = t.min_budget_usd {
        match f.budget_usd {
            None => missing.push("budget_usd"),
            Some(b) if b < min => {
                short.push(format!("budget is {b} USD; at least {min} USD needed"));
                remedy.push(format!("a budget of at least {min} USD"));
            }
            Some(_) => {}
        }
    }
    if let Some(min) = t.min_staff {
        match f.staff_available {
            None => missing.push("staff_available"),
            Some(s) if s < min => {
                short.push(format!("{s} staff available; at least {min} needed"));
                remedy.push(format!("at least {min} staff assigned"));
            }
            Some(_) => {}
        }
    }
    if !short.is_empty() {
        fired(short.join("; "), remedy.join(" and "))
    } else if !missing.is_empty() {
        unknown(&missing)
    } else {
        Finding::Clear
    }
}

fn disorganized(f: &Facts, p: &Profile, _: Date) -> Finding {
    count_at_least(
        f.missed_sessions,
        "missed_sessions",
        p.thresholds.max_missed_sessions,
        "missed session(s)",
    )
}

fn not_a_priority(f: &Facts, _: &Profile, _: Date) -> Finding {
    match f.priority {
        None => unknown(&["priority"]),
        Some(Priority::High | Priority::Normal) => Finding::Clear,
        Some(priority) => fired(
            format!("the lead rates this as priority \"{}\"", priority.label()),
            "the project becomes a normal or high priority for the lead".to_owned(),
        ),
    }
}

fn magic_wand(f: &Facts, _: &Profile, _: Date) -> Finding {
    flag(
        f.expects_magic_wand,
        "expects_magic_wand",
        "expects results to happen by themselves, without working with the seller",
        "the lead commits people and time to work on the plan together",
    )
}

fn ignores_prescriptions(f: &Facts, p: &Profile, _: Date) -> Finding {
    ratio_below(
        f.assignments_completed,
        "assignments_completed",
        f.assignments_given,
        "assignments_given",
        p.thresholds.min_assignment_completion,
        "assignments completed",
    )
}

/// A count for evidence text: the number, or "an unknown number".
struct Count(Option<i32>);

impl std::fmt::Display for Count {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(n) => write!(f, "{n}"),
            None => f.write_str("an unknown number"),
        }
    }
}

fn meeting_disruptions(f: &Facts, p: &Profile, _: Date) -> Finding {
    let limit = i64::from(p.thresholds.max_meeting_disruptions);
    let (cancelled, rescheduled) = (f.meetings_cancelled, f.meetings_rescheduled);
    let known = i64::from(cancelled.unwrap_or(0)) + i64::from(rescheduled.unwrap_or(0));
    // Counts are never negative, so the known part alone can already reach
    // the limit; only then does an unknown count not matter.
    if known >= limit && (cancelled.is_some() || rescheduled.is_some()) {
        let at_least = if cancelled.is_some() && rescheduled.is_some() {
            ""
        } else {
            "at least "
        };
        return fired(
            format!(
                "{} meeting(s) cancelled and {} rescheduled ({at_least}{known} in all); the limit is {limit}",
                Count(cancelled),
                Count(rescheduled)
            ),
            format!("fewer than {limit} cancelled or rescheduled meetings"),
        );
    }
    match (cancelled, rescheduled) {
        (Some(_), Some(_)) => Finding::Clear,
        (None, Some(_)) => unknown(&["meetings_cancelled"]),
        (Some(_), None) => unknown(&["meetings_rescheduled"]),
        (None, None) => unknown(&["meetings_cancelled", "meetings_rescheduled"]),
    }
}

fn feigned_compliance(f: &Facts, p: &Profile, _: Date) -> Finding {
    count_at_least(
        f.agreed_actions_not_done,
        "agreed_actions_not_done",
        p.thresholds.max_agreed_not_done,
        "agreed action(s) not done",
    )
}

fn repeated_explanations(f: &Facts, p: &Profile, _: Date) -> Finding {
    let allowed = p.thresholds.max_material_repeats_allowed;
    let Some(repeats) = f.max_material_repeats else {
        return unknown(&["max_material_repeats"]);
    };
    if repeats > allowed {
        fired(
            format!("material re-explained {repeats} times; more than {allowed} allowed"),
            format!("the lead works through the material with at most {allowed} repeats"),
        )
    } else {
        Finding::Clear
    }
}
