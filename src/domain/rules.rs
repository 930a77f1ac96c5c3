//! How each criterion is decided: one small rule per criterion, reading the
//! merged facts, the profile and the evaluation date. Pure: no I/O, no clock.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use super::criteria::Criterion;
use super::facts::{EngagementPattern, Facts, Priority};
use super::profile::{BusinessHours, Profile};

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

/// The rule that decides `criterion`; a new criterion does not compile
/// until it has one.
pub fn rule(criterion: Criterion) -> Rule {
    match criterion {
        Criterion::CompanySizeMismatch => company_size_mismatch,
        Criterion::RevenueMismatch => revenue_mismatch,
        Criterion::VerticalMismatch => vertical_mismatch,
        Criterion::BusinessModelMismatch => business_model_mismatch,
        Criterion::OutsideTerritory => outside_territory,
        Criterion::CountryTimezoneMismatch => country_timezone_mismatch,
        Criterion::Disrespectful => disrespectful,
        Criterion::EmotionalDecisions => emotional_decisions,
        Criterion::ErraticEngagement => erratic_engagement,
        Criterion::WithholdsAnswers => withholds_answers,
        Criterion::NoCompromise => no_compromise,
        Criterion::ContradictoryStatements => contradictory_statements,
        Criterion::RefusesPlan => refuses_plan,
        Criterion::InsufficientResources => insufficient_resources,
        Criterion::Disorganized => disorganized,
        Criterion::NotAPriority => not_a_priority,
        Criterion::MagicWand => magic_wand,
        Criterion::IgnoresPrescriptions => ignores_prescriptions,
        Criterion::MeetingDisruptions => meeting_disruptions,
        Criterion::FeignedCompliance => feigned_compliance,
        Criterion::RepeatedExplanations => repeated_explanations,
    }
}

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
                let hours = overlap_hours(&lead_zone, seller.zone(), p.seller_business_hours, date);
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

/// Hours by which the lead's business day on `date` (the default business
/// hours, in the lead's zone) overlaps the seller's business hours. The seller's window is taken on the day before, the day
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
    let Some((lead_start, lead_end)) = window(lead_zone, BusinessHours::default(), date) else {
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

/// The instants at which `hours` begin and end on `day` in `zone`.
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
