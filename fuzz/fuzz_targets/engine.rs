//! The rule engine on any facts, profile, stage and evaluation date, built
//! as a caller sends them and validated as the API validates them (what the
//! API refuses is skipped).
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use leadqual::proto::v1 as pb;
use libfuzzer_sys::fuzz_target;

/// Labels a profile and facts pick from, so that they match now and then;
/// any other text is still possible.
const LABELS: &[&str] = &["saas", "SaaS", " retail ", "b2b", "B2B", "emea", "dach", ""];
const COUNTRIES: &[&str] = &["DE", "de", " US", "FR", "IN", "NZ", "XX", "D"];
const ZONES: &[&str] = &[
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "Pacific/Kiritimati",
    "America/St_Johns",
    "Australia/Lord_Howe",
    "UTC",
    "europe/berlin",
    "Mars/Olympus",
];
const HOURS: &[&str] = &["09:00", "18:00", "00:00", "23:59", "07:30", "9:00", "24:00"];

fn pick(u: &mut Unstructured<'_>, choices: &[&str]) -> arbitrary::Result<String> {
    if u.ratio(1, 8)? {
        String::arbitrary(u)
    } else {
        Ok((*u.choose(choices)?).to_owned())
    }
}

fn some<T>(
    u: &mut Unstructured<'_>,
    f: impl FnOnce(&mut Unstructured<'_>) -> arbitrary::Result<T>,
) -> arbitrary::Result<Option<T>> {
    Ok(if u.arbitrary()? { Some(f(u)?) } else { None })
}

/// A count: mostly small, so that thresholds are crossed both ways.
fn count(u: &mut Unstructured<'_>) -> arbitrary::Result<i32> {
    Ok(if u.ratio(7, 8)? {
        u.int_in_range(0..=8)?
    } else {
        u.arbitrary()?
    })
}

fn amount(u: &mut Unstructured<'_>) -> arbitrary::Result<i64> {
    Ok(if u.ratio(7, 8)? {
        u.int_in_range(0..=2_000)?
    } else {
        u.arbitrary()?
    })
}

fn ratio(u: &mut Unstructured<'_>) -> arbitrary::Result<f64> {
    Ok(if u.ratio(7, 8)? {
        f64::from(u.int_in_range(0..=20u8)?) / 20.0
    } else {
        u.arbitrary()?
    })
}

fn facts(u: &mut Unstructured<'_>) -> arbitrary::Result<pb::LeadFacts> {
    Ok(pb::LeadFacts {
        employee_count: some(u, amount)?,
        annual_revenue_usd: some(u, amount)?,
        vertical: some(u, |u| pick(u, LABELS))?,
        business_model: some(u, |u| pick(u, LABELS))?,
        territory: some(u, |u| pick(u, LABELS))?,
        country: some(u, |u| pick(u, COUNTRIES))?,
        timezone: some(u, |u| pick(u, ZONES))?,
        disrespectful_incidents: some(u, count)?,
        emotional_only_responses: u.arbitrary()?,
        engagement_pattern: some(u, |u| u.int_in_range(0..=5))?,
        questions_asked: some(u, count)?,
        questions_answered: some(u, count)?,
        insists_on_own_process: u.arbitrary()?,
        contradictory_statements: some(u, count)?,
        plan_steps_agreed: some(u, count)?,
        plan_steps_completed: some(u, count)?,
        budget_usd: some(u, amount)?,
        staff_available: some(u, count)?,
        missed_sessions: some(u, count)?,
        priority: some(u, |u| u.int_in_range(0..=5))?,
        expects_magic_wand: u.arbitrary()?,
        assignments_given: some(u, count)?,
        assignments_completed: some(u, count)?,
        meetings_cancelled: some(u, count)?,
        meetings_rescheduled: some(u, count)?,
        agreed_actions_not_done: some(u, count)?,
        max_material_repeats: some(u, count)?,
        orders_count: some(u, count)?,
        gross_profit_usd: some(u, |u| {
            Ok(amount(u)?.saturating_mul(100).saturating_sub(20_000))
        })?,
        referrals_count: some(u, count)?,
        first_purchase_date: some(u, day)?,
        cost_to_serve_usd: some(u, |u| Ok(amount(u)?.saturating_mul(50)))?,
        share_of_wallet: some(u, ratio)?,
        overdue_receivables_usd: some(u, |u| Ok(amount(u)?.saturating_mul(10)))?,
        strategic_account: u.arbitrary()?,
        last_contact_date: some(u, day)?,
        progress_requests_per_week: some(u, |u| Ok(ratio(u)? * 8.0))?,
        has_written_spec: u.arbitrary()?,
        decision_postponements: some(u, count)?,
        rush_requests: some(u, count)?,
        median_reply_days: some(u, |u| Ok(ratio(u)? * 8.0))?,
        out_of_scope_changes: some(u, count)?,
        discount_requested_pct: some(u, |u| Ok(ratio(u)? * 100.0))?,
    })
}

/// A date fact as sent: mostly a valid day of the last years, now and then
/// any text.
fn day(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    if u.ratio(1, 8)? {
        return String::arbitrary(u);
    }
    let year = u.int_in_range(2015..=2026)?;
    let month = u.int_in_range(1..=12)?;
    let day = u.int_in_range(1..=31)?;
    Ok(format!("{year:04}-{month:02}-{day:02}"))
}

fn list(u: &mut Unstructured<'_>, choices: &[&str]) -> arbitrary::Result<Vec<String>> {
    let n = u.int_in_range(0..=4)?;
    (0..n).map(|_| pick(u, choices)).collect()
}

fn profile(u: &mut Unstructured<'_>) -> arbitrary::Result<pb::Profile> {
    let weights = (0..u.int_in_range(0..=6)?)
        .map(|_| {
            Ok(pb::CriterionWeight {
                criterion: u.int_in_range(0..=22)?,
                weight: if u.ratio(7, 8)? {
                    u.int_in_range(0..=100)?
                } else {
                    u.arbitrary()?
                },
            })
        })
        .collect::<arbitrary::Result<_>>()?;
    let knockouts = (0..u.int_in_range(0..=3)?)
        .map(|_| u.int_in_range(0..=22))
        .collect::<arbitrary::Result<_>>()?;
    Ok(pb::Profile {
        min_employees: some(u, amount)?,
        max_employees: some(u, amount)?,
        min_annual_revenue_usd: some(u, amount)?,
        max_annual_revenue_usd: some(u, amount)?,
        target_verticals: list(u, LABELS)?,
        target_business_models: list(u, LABELS)?,
        territories: list(u, LABELS)?,
        countries: list(u, COUNTRIES)?,
        seller_timezone: if u.arbitrary()? {
            pick(u, ZONES)?
        } else {
            String::new()
        },
        seller_business_hours: some(u, |u| {
            Ok(pb::BusinessHours {
                start: pick(u, HOURS)?,
                end: pick(u, HOURS)?,
            })
        })?,
        min_overlap_hours: some(u, |u| Ok(f64::from(u.int_in_range(0..=50u8)?) / 2.0))?,
        max_disrespectful_incidents: some(u, count)?,
        min_answer_ratio: some(u, ratio)?,
        max_contradictions: some(u, count)?,
        min_plan_completion: some(u, ratio)?,
        min_budget_usd: some(u, amount)?,
        min_staff: some(u, count)?,
        max_missed_sessions: some(u, count)?,
        min_assignment_completion: some(u, ratio)?,
        max_meeting_disruptions: some(u, count)?,
        max_agreed_not_done: some(u, count)?,
        max_material_repeats_allowed: some(u, count)?,
        weights,
        knockouts,
        review_threshold: some(u, |u| u.int_in_range(0..=101))?,
        disqualify_threshold: some(u, |u| u.int_in_range(0..=101))?,
        value_weight_profit: some(u, |u| u.int_in_range(0..=60))?,
        value_weight_referrals: some(u, |u| u.int_in_range(0..=30))?,
        value_profit_target_usd: some(u, |u| Ok(amount(u)?.saturating_mul(100)))?,
        value_tenure_target_months: some(u, count)?,
        tier_a_min_score: some(u, |u| u.int_in_range(0..=101))?,
        tier_b_min_score: some(u, |u| u.int_in_range(0..=101))?,
        black_list_min_overdue_usd: some(u, |u| Ok(amount(u)?.saturating_mul(10)))?,
        vip_min_gross_profit_usd: some(u, |u| Ok(amount(u)?.saturating_mul(100)))?,
        adept_min_share_of_wallet: some(u, ratio)?,
        loyal_min_orders: some(u, count)?,
        loyal_min_tenure_months: some(u, count)?,
        black_list_knockout: u.arbitrary()?,
        churn_contact_gap_days: some(u, |u| Ok(count(u)?.saturating_mul(20)))?,
        playbook_min_out_of_scope_changes: some(u, count)?,
        playbook_min_median_reply_days: some(u, |u| Ok(ratio(u)? * 8.0))?,
        ..pb::Profile::default()
    })
}

/// Any day jiff can represent, mostly around now.
fn date(u: &mut Unstructured<'_>) -> arbitrary::Result<Option<jiff::civil::Date>> {
    let year = if u.ratio(7, 8)? {
        u.int_in_range(2000..=2040)?
    } else {
        u.int_in_range(-9999..=9999)?
    };
    let month = u.int_in_range(1..=12)?;
    let day = u.int_in_range(1..=31)?;
    Ok(jiff::civil::Date::new(year, month, day).ok())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let input = (|| {
        Ok::<_, arbitrary::Error>((
            facts(&mut u)?,
            profile(&mut u)?,
            u.int_in_range(0..=5)?,
            date(&mut u)?,
        ))
    })();
    if let Ok((facts, profile, stage, Some(date))) = input {
        leadqual::fuzzing::engine(facts, profile, stage, date);
    }
});
