//! Micro-benchmarks of the pure rule engine (`cargo bench --bench engine`).
//!
//! Every case evaluates all 21 criteria under a restrictive profile (every
//! list and bound set, `seller_timezone` Europe/Berlin so criterion 6
//! computes the business-hours overlap) and builds the full evaluation,
//! evidence and remedy text of fired signals included:
//!
//! - `typical/<STAGE>`: every fact known, inside the profile, three soft
//!   signals firing at RECOMMENDATION (erratic engagement, meeting
//!   disruptions, repeated explanations); the same facts at the earlier
//!   stages, where later criteria are not applicable.
//! - `all_unknown`: no fact known at RECOMMENDATION: every criterion is
//!   UNKNOWN and names its missing facts.
//! - `worst_case`: every one of the 21 criteria fires, criterion 6 on the
//!   time-zone overlap (the costlier path), so every signal formats its
//!   evidence and remedy.
//!
//! `account/*` measures the account section alone (`typical`: a loyal client
//! of two years with every account and handling fact known; `worst_case`: a
//! black-listed VIP matching every playbook type) and writing out its words
//! as storage keeps them, which happens once per stored or sent verdict.
//!
//! `facts/*` measures the other per-request work on facts: merging an update
//! into stored facts, the stored JSON form, and its SHA-256 hash.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use jiff::civil::{Date, date};
use leadqual::domain::account::{LifecycleClass, assess};
use leadqual::domain::profile::ZoneName;
use leadqual::domain::{
    CATALOGUE, EngagementPattern, Facts, Priority, Profile, SignalStatus, Stage, Thresholds,
    evaluate,
};

/// A winter date (no daylight saving time in Europe or the US).
const DATE: Date = date(2025, 1, 15);

fn restrictive_profile() -> Profile {
    Profile {
        min_employees: Some(10),
        max_employees: Some(500),
        min_annual_revenue_usd: Some(1_000_000),
        max_annual_revenue_usd: Some(50_000_000),
        target_verticals: vec!["saas".into(), "fintech".into(), "healthtech".into()],
        target_business_models: vec!["b2b".into(), "b2g".into()],
        territories: vec!["emea".into(), "dach".into()],
        countries: vec!["DE".into(), "FR".into(), "AT".into(), "CH".into()],
        seller_timezone: Some(ZoneName::parse("Europe/Berlin").expect("known zone")),
        thresholds: Thresholds {
            min_budget_usd: Some(10_000),
            min_staff: Some(2),
            ..Thresholds::default()
        },
        ..Profile::default()
    }
}

/// Every fact known; inside the profile except for three soft signals.
fn typical_facts() -> Facts {
    Facts {
        employee_count: Some(120),
        annual_revenue_usd: Some(8_000_000),
        vertical: Some("fintech".into()),
        business_model: Some("b2b".into()),
        territory: Some("dach".into()),
        country: Some("AT".into()),
        timezone: Some("Europe/Vienna".into()),
        disrespectful_incidents: Some(0),
        emotional_only_responses: Some(false),
        engagement_pattern: Some(EngagementPattern::Impulsive),
        questions_asked: Some(12),
        questions_answered: Some(9),
        insists_on_own_process: Some(false),
        contradictory_statements: Some(1),
        plan_steps_agreed: Some(5),
        plan_steps_completed: Some(4),
        budget_usd: Some(60_000),
        staff_available: Some(4),
        missed_sessions: Some(1),
        priority: Some(Priority::Normal),
        expects_magic_wand: Some(false),
        assignments_given: Some(6),
        assignments_completed: Some(5),
        meetings_cancelled: Some(2),
        meetings_rescheduled: Some(1),
        agreed_actions_not_done: Some(0),
        max_material_repeats: Some(4),
        // A client of two years: every account fact known.
        orders_count: Some(4),
        gross_profit_usd: Some(45_000),
        referrals_count: Some(2),
        first_purchase_date: Some(date(2023, 1, 10)),
        cost_to_serve_usd: Some(9_000),
        share_of_wallet: Some(0.6),
        overdue_receivables_usd: Some(0),
        strategic_account: Some(false),
        last_contact_date: Some(date(2024, 10, 2)),
        progress_requests_per_week: Some(1.0),
        has_written_spec: Some(false),
        decision_postponements: Some(1),
        rush_requests: Some(0),
        median_reply_days: Some(1.5),
        out_of_scope_changes: Some(3),
        discount_requested_pct: Some(10.0),
    }
}

/// Every criterion fires under `restrictive_profile`.
fn worst_case_facts() -> Facts {
    Facts {
        employee_count: Some(20_000),
        annual_revenue_usd: Some(900_000_000),
        vertical: Some("retail".into()),
        business_model: Some("b2c".into()),
        territory: Some("apac".into()),
        // Served country, but a working day that never meets Berlin's.
        country: Some("DE".into()),
        timezone: Some("America/Los_Angeles".into()),
        disrespectful_incidents: Some(3),
        emotional_only_responses: Some(true),
        engagement_pattern: Some(EngagementPattern::Swinging),
        questions_asked: Some(10),
        questions_answered: Some(1),
        insists_on_own_process: Some(true),
        contradictory_statements: Some(5),
        plan_steps_agreed: Some(6),
        plan_steps_completed: Some(1),
        budget_usd: Some(500),
        staff_available: Some(0),
        missed_sessions: Some(4),
        priority: Some(Priority::NotNow),
        expects_magic_wand: Some(true),
        assignments_given: Some(8),
        assignments_completed: Some(1),
        meetings_cancelled: Some(3),
        meetings_rescheduled: Some(4),
        agreed_actions_not_done: Some(5),
        max_material_repeats: Some(7),
        // A black-listed VIP, silent for a year, matching every playbook type.
        orders_count: Some(12),
        gross_profit_usd: Some(250_000),
        referrals_count: Some(7),
        first_purchase_date: Some(date(2019, 3, 31)),
        cost_to_serve_usd: Some(40_000),
        share_of_wallet: Some(0.95),
        overdue_receivables_usd: Some(80_000),
        strategic_account: Some(true),
        last_contact_date: Some(date(2024, 1, 2)),
        progress_requests_per_week: Some(5.0),
        has_written_spec: Some(false),
        decision_postponements: Some(4),
        rush_requests: Some(3),
        median_reply_days: Some(6.0),
        out_of_scope_changes: Some(5),
        discount_requested_pct: Some(35.0),
    }
}

fn fired(facts: &Facts, profile: &Profile) -> usize {
    evaluate(facts, profile, Stage::Recommendation, DATE)
        .signals
        .iter()
        .filter(|s| s.status == SignalStatus::Fired)
        .count()
}

fn engine(c: &mut Criterion) {
    let profile = restrictive_profile();
    let typical = typical_facts();
    let unknown = Facts::default();
    let worst = worst_case_facts();

    // The cases are what they claim to be, or the numbers mean nothing.
    assert_eq!(fired(&typical, &profile), 3, "typical lead fires 3 signals");
    assert_eq!(
        fired(&worst, &profile),
        CATALOGUE.len(),
        "worst case fires every signal"
    );
    assert!(
        evaluate(&unknown, &profile, Stage::Recommendation, DATE)
            .signals
            .iter()
            .all(|s| s.status == SignalStatus::Unknown),
        "no facts: every signal unknown"
    );

    let mut group = c.benchmark_group("evaluate");
    for stage in Stage::ALL {
        group.bench_function(format!("typical/{}", stage.code()), |b| {
            b.iter(|| evaluate(black_box(&typical), black_box(&profile), stage, DATE));
        });
    }
    group.bench_function("all_unknown", |b| {
        b.iter(|| {
            evaluate(
                black_box(&unknown),
                black_box(&profile),
                Stage::Recommendation,
                DATE,
            )
        });
    });
    group.bench_function("worst_case", |b| {
        b.iter(|| {
            evaluate(
                black_box(&worst),
                black_box(&profile),
                Stage::Recommendation,
                DATE,
            )
        });
    });
    group.finish();

    // The account section alone, and the cost of writing out its words
    // (done once per verdict, when it is stored or sent).
    let typical_account = assess(&typical, &profile, Stage::Study, DATE);
    assert_eq!(
        typical_account.lifecycle.class,
        LifecycleClass::Loyal,
        "the typical client is loyal"
    );
    let mut group = c.benchmark_group("account");
    group.bench_function("typical", |b| {
        b.iter(|| assess(black_box(&typical), black_box(&profile), Stage::Study, DATE));
    });
    group.bench_function("all_unknown", |b| {
        b.iter(|| assess(black_box(&unknown), black_box(&profile), Stage::Study, DATE));
    });
    group.bench_function("worst_case", |b| {
        b.iter(|| assess(black_box(&worst), black_box(&profile), Stage::Study, DATE));
    });
    group.bench_function("typical_words_as_stored", |b| {
        b.iter(|| serde_json::to_string(black_box(&typical_account)));
    });
    group.finish();

    let update = Facts {
        meetings_cancelled: Some(3),
        max_material_repeats: Some(2),
        priority: Some(Priority::High),
        ..Facts::default()
    };
    let mut group = c.benchmark_group("facts");
    group.bench_function("merged_with", |b| {
        b.iter(|| black_box(&typical).merged_with(black_box(&update)));
    });
    group.bench_function("to_json", |b| b.iter(|| black_box(&typical).to_json()));
    group.bench_function("hash", |b| b.iter(|| black_box(&typical).hash()));
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
