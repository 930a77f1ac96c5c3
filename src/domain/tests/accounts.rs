//! The account section (SPEC-ACCOUNTS): the acceptance cases of §G, the
//! worked example of §F, every setting just below, at and above its edge,
//! unknown facts, precedence, month arithmetic, the stored form, and property
//! tests over arbitrary account facts. Default profile unless a test says
//! otherwise.

use jiff::ToSpan;
use jiff::civil::{Date, date};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;

use super::fixtures::signal;
use crate::domain::account::PlaybookStatus::{Matched, NotMatched};
use crate::domain::account::{
    Account, ChurnStatus, ClientType, FactName, Factor, Lifecycle, LifecycleClass, PRECEDENCE,
    PlaybookEntry, PlaybookStatus, Tier, ValueFactor, ValueStatus, add_months, assess,
    days_between, tenure_months,
};
use crate::domain::profile::AccountSettings;
use crate::domain::{
    Criterion, Evaluation, Facts, Outcome, Priority, Profile, SignalStatus, Stage, Thresholds,
    Violation, evaluate,
};

// ---------------------------------------------------------------------------
// Helpers.

/// The evaluation date of the acceptance cases and of the worked example.
const E: Date = date(2026, 11, 23);

/// E minus `months` months (the day clamped to the month's end).
fn months_before(months: i64) -> Date {
    E.checked_sub(months.months()).expect("a date in range")
}

/// E minus `days` days.
fn days_before(days: i64) -> Date {
    E.checked_sub(days.days()).expect("a date in range")
}

/// `facts` evaluated under `profile` at `stage` on E.
fn evaluation(facts: &Facts, profile: &Profile, stage: Stage) -> Evaluation {
    evaluate(facts, profile, stage, E)
}

/// The account section of `facts` under the default profile, at the study
/// stage on E.
fn account_of(facts: &Facts) -> Account {
    account_with(facts, &Profile::default())
}

/// The account section of `facts` under `profile`, at the study stage on E.
fn account_with(facts: &Facts, profile: &Profile) -> Account {
    assess(facts, profile, Stage::Study, E)
}

fn lifecycle_of(facts: &Facts) -> Lifecycle {
    account_of(facts).lifecycle
}

/// The default profile with `settings` as its account settings (checked
/// valid, so that no test relies on settings a profile could not hold).
fn with_settings(settings: AccountSettings) -> Profile {
    let found = violations(&settings);
    assert!(found.is_empty(), "{found:?}");
    Profile {
        accounts: settings,
        ..Profile::default()
    }
}

/// A client with `orders` orders whose first purchase was `tenure` months
/// before E.
fn client(orders: i32, tenure: i64) -> Facts {
    Facts {
        orders_count: Some(orders),
        first_purchase_date: Some(months_before(tenure)),
        ..Facts::default()
    }
}

fn factor(account: &Account, which: ValueFactor) -> &Factor {
    let f = &account.value.factors[which as usize - 1];
    assert_eq!(f.factor, which, "factors are in ValueFactor order");
    f
}

fn entry(account: &Account, client_type: ClientType) -> &PlaybookEntry {
    let e = &account.playbook[client_type as usize - 1];
    assert_eq!(
        e.client_type, client_type,
        "playbook is in ClientType order"
    );
    e
}

fn has(missing: &[FactName], name: &str) -> bool {
    missing.iter().any(|m| m == name)
}

fn violations(settings: &AccountSettings) -> Vec<Violation> {
    let mut out = Vec::new();
    settings.violations("profile", &mut out);
    out
}

#[track_caller]
fn assert_value(account: &Account, score: i32, tier: Tier) {
    let v = &account.value;
    assert_eq!(v.status, ValueStatus::Assessed, "{v:?}");
    assert_eq!(v.score, Some(score), "{v:?}");
    assert_eq!(v.tier, Some(tier), "{v:?}");
}

#[track_caller]
fn assert_points(f: &Factor, points: f64) {
    assert_eq!(f.status, ValueStatus::Assessed, "{f:?}");
    assert!((f.points - points).abs() < 1e-9, "expected {points}: {f:?}");
    assert!(f.missing_facts.is_empty(), "{f:?}");
}

#[track_caller]
fn assert_unknown_factor(f: &Factor, missing: &[&str]) {
    assert_eq!(f.status, ValueStatus::Unknown, "{f:?}");
    assert_eq!(f.points, 0.0, "an unknown factor adds nothing: {f:?}");
    assert_eq!(f.missing_facts, missing, "{f:?}");
    let evidence = f.evidence.to_string();
    assert!(
        missing.iter().any(|m| evidence.contains(m)),
        "the evidence names a missing fact: {f:?}"
    );
}

#[track_caller]
fn assert_class(life: &Lifecycle, class: LifecycleClass, also: &[LifecycleClass]) {
    assert_eq!(life.class, class, "{life:?}");
    assert_eq!(life.also_matched, also, "{life:?}");
}

// ---------------------------------------------------------------------------
// §G value: V1–V6.

/// V1 X: 1 order at $40,000 profit, 12 months, $8,000 cost, no referrals.
fn v1_x() -> Facts {
    Facts {
        orders_count: Some(1),
        gross_profit_usd: Some(40_000),
        first_purchase_date: Some(months_before(12)),
        cost_to_serve_usd: Some(8_000),
        referrals_count: Some(0),
        ..Facts::default()
    }
}

#[test]
fn v1_one_order_at_high_profit_outranks_ten_orders_at_low_profit() {
    let x = v1_x();
    let y = Facts {
        orders_count: Some(10),
        gross_profit_usd: Some(4_000),
        cost_to_serve_usd: Some(800),
        ..v1_x()
    };
    let x = account_of(&x);
    assert_value(&x, 57, Tier::B);
    assert_points(factor(&x, ValueFactor::Profit), 40.0);
    assert_points(factor(&x, ValueFactor::Referrals), 0.0);
    assert_points(factor(&x, ValueFactor::Tenure), 5.0);
    assert_points(factor(&x, ValueFactor::CostToServe), 12.0);
    assert_value(&account_of(&y), 21, Tier::C);
}

/// V2: profit as given, no referrals, 36 months, nothing spent serving them.
fn v2(profit: i64) -> Facts {
    Facts {
        gross_profit_usd: Some(profit),
        referrals_count: Some(0),
        first_purchase_date: Some(months_before(36)),
        cost_to_serve_usd: Some(0),
        ..Facts::default()
    }
}

#[test]
fn v2_tier_a_starts_at_70_with_default_weights() {
    assert_value(&account_of(&v2(40_000)), 70, Tier::A);
    assert_value(&account_of(&v2(39_000)), 69, Tier::B);
}

#[test]
fn v3_every_factor_caps_at_its_weight() {
    let facts = Facts {
        gross_profit_usd: Some(60_000),
        referrals_count: Some(4),
        first_purchase_date: Some(months_before(40)),
        cost_to_serve_usd: Some(12_000),
        ..Facts::default()
    };
    let account = account_of(&facts);
    assert_value(&account, 97, Tier::A);
    assert_points(factor(&account, ValueFactor::Profit), 50.0);
    assert_points(factor(&account, ValueFactor::Referrals), 20.0);
    assert_points(factor(&account, ValueFactor::Tenure), 15.0);
    assert_points(factor(&account, ValueFactor::CostToServe), 12.0);
}

#[test]
fn v4_unknown_profit_leaves_value_unknown_without_tier() {
    let account = account_of(&Facts {
        orders_count: Some(5),
        ..Facts::default()
    });
    let v = &account.value;
    assert_eq!(v.status, ValueStatus::Unknown, "{v:?}");
    assert_eq!(v.score, None);
    assert_eq!(v.tier, None);
    assert!(has(&v.missing_facts, "gross_profit_usd"), "{v:?}");
}

#[test]
fn v5_no_orders_value_is_not_applicable() {
    let account = account_of(&Facts {
        orders_count: Some(0),
        gross_profit_usd: Some(50_000),
        ..Facts::default()
    });
    let v = &account.value;
    assert_eq!(v.status, ValueStatus::NotApplicable, "{v:?}");
    assert_eq!(v.score, None);
    assert_eq!(v.tier, None);
    assert!(v.missing_facts.is_empty(), "{v:?}");
    for f in &v.factors {
        assert_eq!(f.status, ValueStatus::NotApplicable, "{f:?}");
        assert_eq!(f.points, 0.0, "{f:?}");
    }
}

#[test]
fn v6_cost_above_profit_earns_no_cost_to_serve_points() {
    let facts = Facts {
        gross_profit_usd: Some(10_000),
        cost_to_serve_usd: Some(15_000),
        referrals_count: Some(0),
        first_purchase_date: Some(months_before(0)),
        ..Facts::default()
    };
    let account = account_of(&facts);
    assert_points(factor(&account, ValueFactor::CostToServe), 0.0);
    assert_points(factor(&account, ValueFactor::Tenure), 0.0);
    assert_value(&account, 10, Tier::C);
}

// ---------------------------------------------------------------------------
// §G lifecycle: L1–L8.

#[test]
fn l1_no_orders_is_newbie_at_identification_and_prospect_from_contact() {
    let facts = Facts {
        orders_count: Some(0),
        ..Facts::default()
    };
    let profile = Profile::default();
    let at = |stage| assess(&facts, &profile, stage, E).lifecycle.class;
    assert_eq!(at(Stage::Identification), LifecycleClass::Newbie);
    assert_eq!(at(Stage::Contact), LifecycleClass::Prospect);
    assert_eq!(at(Stage::Study), LifecycleClass::Prospect);
    assert_eq!(at(Stage::Recommendation), LifecycleClass::Prospect);
}

#[test]
fn l2_three_orders_become_loyal_at_six_months() {
    assert_class(&lifecycle_of(&client(3, 5)), LifecycleClass::Buyer, &[]);
    assert_class(&lifecycle_of(&client(3, 6)), LifecycleClass::Loyal, &[]);
}

#[test]
fn l3_loyal_with_90_percent_share_of_wallet_is_adept() {
    let share = |share| Facts {
        share_of_wallet: share,
        ..client(3, 6)
    };
    assert_class(
        &lifecycle_of(&share(Some(0.9))),
        LifecycleClass::Adept,
        &[LifecycleClass::Loyal],
    );
    assert_class(
        &lifecycle_of(&share(Some(0.89))),
        LifecycleClass::Loyal,
        &[],
    );
    let unknown = lifecycle_of(&share(None));
    assert_class(&unknown, LifecycleClass::Loyal, &[]);
    assert!(
        has(&unknown.missing_facts, "share_of_wallet"),
        "{unknown:?}"
    );
}

#[test]
fn l4_enough_orders_without_first_purchase_date_is_unknown() {
    let life = lifecycle_of(&Facts {
        orders_count: Some(4),
        ..Facts::default()
    });
    assert_class(&life, LifecycleClass::Unknown, &[]);
    assert!(has(&life.missing_facts, "first_purchase_date"), "{life:?}");
    assert!(!life.knockout);
}

#[test]
fn l5_strategic_prospect_is_vip() {
    let facts = Facts {
        orders_count: Some(0),
        strategic_account: Some(true),
        ..Facts::default()
    };
    let life = assess(&facts, &Profile::default(), Stage::Contact, E).lifecycle;
    assert_class(&life, LifecycleClass::Vip, &[LifecycleClass::Prospect]);
}

#[test]
fn l6_vip_from_100000_gross_profit() {
    let profit = |profit| Facts {
        orders_count: Some(1),
        gross_profit_usd: Some(profit),
        ..Facts::default()
    };
    assert_class(
        &lifecycle_of(&profit(100_000)),
        LifecycleClass::Vip,
        &[LifecycleClass::Buyer],
    );
    let below = lifecycle_of(&profit(99_999));
    assert_class(&below, LifecycleClass::Buyer, &[]);
    assert!(has(&below.missing_facts, "strategic_account"), "{below:?}");
}

/// L7: strategic, $10,000 overdue, nothing else known.
fn l7() -> Facts {
    Facts {
        strategic_account: Some(true),
        overdue_receivables_usd: Some(10_000),
        ..Facts::default()
    }
}

#[test]
fn l7_black_list_disqualifies_a_vip_with_no_criterion_fired() {
    let evaluation = evaluation(&l7(), &Profile::default(), Stage::Recommendation);
    assert!(
        evaluation
            .signals
            .iter()
            .all(|s| s.status != SignalStatus::Fired),
        "no criterion fired: {:?}",
        evaluation.signals
    );
    assert_eq!(evaluation.score, 0);
    let life = &evaluation.account.as_ref().expect("an account").lifecycle;
    assert_class(life, LifecycleClass::BlackList, &[LifecycleClass::Vip]);
    assert!(life.knockout);
    assert_eq!(evaluation.outcome, Outcome::Disqualified);
}

#[test]
fn l7_without_black_list_knockout_the_lead_qualifies() {
    let profile = with_settings(AccountSettings {
        black_list_knockout: false,
        ..AccountSettings::default()
    });
    let evaluation = evaluation(&l7(), &profile, Stage::Recommendation);
    let life = &evaluation.account.as_ref().expect("an account").lifecycle;
    assert_class(life, LifecycleClass::BlackList, &[LifecycleClass::Vip]);
    assert!(!life.knockout);
    assert_eq!(evaluation.outcome, Outcome::Qualified);
}

#[test]
fn l8_overdue_below_the_minimum_or_unknown_stays_buyer() {
    let overdue = |overdue| Facts {
        orders_count: Some(1),
        overdue_receivables_usd: overdue,
        ..Facts::default()
    };
    assert_class(
        &lifecycle_of(&overdue(Some(9_999))),
        LifecycleClass::Buyer,
        &[],
    );
    let unknown = lifecycle_of(&overdue(None));
    assert_class(&unknown, LifecycleClass::Buyer, &[]);
    assert!(
        has(&unknown.missing_facts, "overdue_receivables_usd"),
        "{unknown:?}"
    );
    assert!(!unknown.knockout);
}

// ---------------------------------------------------------------------------
// §G churn: C1–C2.

fn last_contact(orders: i32, days_ago: Option<i64>) -> Facts {
    Facts {
        orders_count: Some(orders),
        last_contact_date: days_ago.map(days_before),
        ..Facts::default()
    }
}

#[test]
fn c1_ninety_days_of_silence_is_at_risk() {
    let churn = account_of(&last_contact(2, Some(90))).churn;
    assert_eq!(churn.status, ChurnStatus::AtRisk, "{churn:?}");
    assert_eq!(churn.days_since_last_contact, Some(90));
    assert_eq!(churn.threshold_days, 90);
    // A BUYER without a tier is not one we can least afford to lose.
    assert!(!churn.urgent, "{churn:?}");
    assert!(!churn.action.is_empty(), "{churn:?}");

    let churn = account_of(&last_contact(2, Some(89))).churn;
    assert_eq!(churn.status, ChurnStatus::Ok, "{churn:?}");
    assert_eq!(churn.days_since_last_contact, Some(89));
    assert!(!churn.urgent);

    let churn = account_of(&last_contact(2, None)).churn;
    assert_eq!(churn.status, ChurnStatus::Unknown, "{churn:?}");
    assert_eq!(churn.days_since_last_contact, None);
    assert_eq!(churn.missing_facts, ["last_contact_date"]);
    assert!(!churn.urgent);
}

#[test]
fn c2_churn_does_not_apply_before_the_first_order() {
    let facts = last_contact(0, Some(400));
    for stage in Stage::ALL {
        let churn = assess(&facts, &Profile::default(), stage, E).churn;
        assert_eq!(
            churn.status,
            ChurnStatus::NotApplicable,
            "{stage:?}: {churn:?}"
        );
        assert!(!churn.urgent);
    }
}

// ---------------------------------------------------------------------------
// §G playbook: P1–P3.

#[test]
fn p1_no_spec_and_scope_creep_match_together() {
    let facts = |changes| Facts {
        has_written_spec: Some(false),
        out_of_scope_changes: Some(changes),
        ..Facts::default()
    };
    let account = account_of(&facts(2));
    assert_eq!(entry(&account, ClientType::NoSpec).status, Matched);
    assert_eq!(entry(&account, ClientType::ScopeCreep).status, Matched);
    let account = account_of(&facts(1));
    assert_eq!(entry(&account, ClientType::NoSpec).status, Matched);
    assert_eq!(entry(&account, ClientType::ScopeCreep).status, NotMatched);
    let matched: Vec<ClientType> = account
        .playbook
        .iter()
        .filter(|e| e.status == Matched)
        .map(|e| e.client_type)
        .collect();
    assert_eq!(matched, [ClientType::NoSpec]);
}

#[test]
fn p2_without_handling_facts_every_type_is_unknown_and_names_its_fact() {
    let account = account_of(&Facts::default());
    let expected = [
        (ClientType::ControlSeeker, "progress_requests_per_week"),
        (ClientType::NoSpec, "has_written_spec"),
        (ClientType::Indecisive, "decision_postponements"),
        (ClientType::Urgent, "rush_requests"),
        (ClientType::ResultOnly, "median_reply_days"),
        (ClientType::ScopeCreep, "out_of_scope_changes"),
        (ClientType::HotTempered, "disrespectful_incidents"),
        (ClientType::DiscountHunter, "discount_requested_pct"),
    ];
    for (client_type, fact) in expected {
        let e = entry(&account, client_type);
        assert_eq!(e.status, PlaybookStatus::Unknown, "{e:?}");
        assert_eq!(e.missing_facts, [fact], "{e:?}");
        assert!(e.evidence.to_string().contains(fact), "{e:?}");
    }
}

#[test]
fn p3_hot_tempered_matches_at_identification_where_disrespectful_does_not_apply() {
    let facts = Facts {
        disrespectful_incidents: Some(1),
        ..Facts::default()
    };
    let evaluation = evaluation(&facts, &Profile::default(), Stage::Identification);
    assert_eq!(
        signal(&evaluation, Criterion::Disrespectful).status,
        SignalStatus::NotApplicable
    );
    let account = evaluation.account.as_ref().expect("an account");
    let e = entry(account, ClientType::HotTempered);
    assert_eq!(e.status, Matched, "{e:?}");
    assert!(!e.advice.is_empty());
}

// ---------------------------------------------------------------------------
// §F worked example.

/// The worked example's facts (evaluation date 2026-11-23).
pub(crate) fn acme_42() -> Facts {
    Facts {
        orders_count: Some(2),
        gross_profit_usd: Some(45_000),
        referrals_count: Some(2),
        first_purchase_date: Some(date(2025, 11, 23)),
        cost_to_serve_usd: Some(9_000),
        overdue_receivables_usd: Some(0),
        last_contact_date: Some(date(2026, 7, 26)),
        has_written_spec: Some(false),
        out_of_scope_changes: Some(3),
        rush_requests: Some(0),
        ..Facts::default()
    }
}

fn acme_42_account() -> Account {
    let evaluation = evaluate(&acme_42(), &Profile::default(), Stage::Study, E);
    evaluation.account.expect("an account")
}

#[test]
fn worked_example_value_is_75_tier_a() {
    let account = acme_42_account();
    assert_value(&account, 75, Tier::A);
    assert!(account.value.missing_facts.is_empty());
    let profit = factor(&account, ValueFactor::Profit);
    assert_points(profit, 45.0);
    assert_eq!(profit.weight, 50);
    let text = profit.evidence.to_string();
    assert!(
        text.contains("$45,000") && text.contains("$50,000"),
        "{text}"
    );
    let referrals = factor(&account, ValueFactor::Referrals);
    assert_points(referrals, 40.0 / 3.0);
    assert!(
        referrals.evidence.to_string().contains("13.33"),
        "{referrals:?}"
    );
    let tenure = factor(&account, ValueFactor::Tenure);
    assert_points(tenure, 5.0);
    assert!(
        tenure.evidence.to_string().contains("12 months"),
        "{tenure:?}"
    );
    let cost = factor(&account, ValueFactor::CostToServe);
    assert_points(cost, 12.0);
    let text = cost.evidence.to_string();
    assert!(
        text.contains("$9,000") && text.contains("12 of 15"),
        "{text}"
    );
}

#[test]
fn worked_example_is_a_buyer_missing_only_strategic_account() {
    let life = acme_42_account().lifecycle;
    assert_class(&life, LifecycleClass::Buyer, &[]);
    assert_eq!(life.missing_facts, ["strategic_account"]);
    assert!(!life.knockout);
    assert!(life.evidence.to_string().contains("2 orders"), "{life:?}");
    assert!(!life.action.is_empty());
}

#[test]
fn worked_example_is_at_risk_after_120_days_and_urgent_as_tier_a() {
    let churn = acme_42_account().churn;
    assert_eq!(churn.status, ChurnStatus::AtRisk, "{churn:?}");
    assert_eq!(churn.days_since_last_contact, Some(120));
    assert_eq!(churn.threshold_days, 90);
    assert!(churn.urgent, "tier A: {churn:?}");
    assert_eq!(
        churn.evidence.to_string(),
        "no contact for 120 days; 90 is the limit"
    );
    assert!(churn.action.to_string().contains("contact them now"));
}

#[test]
fn worked_example_playbook_is_no_spec_and_scope_creep() {
    let account = acme_42_account();
    let statuses: Vec<(ClientType, PlaybookStatus)> = account
        .playbook
        .iter()
        .map(|e| (e.client_type, e.status))
        .collect();
    assert_eq!(
        statuses,
        [
            (ClientType::ControlSeeker, PlaybookStatus::Unknown),
            (ClientType::NoSpec, Matched),
            (ClientType::Indecisive, PlaybookStatus::Unknown),
            (ClientType::Urgent, NotMatched),
            (ClientType::ResultOnly, PlaybookStatus::Unknown),
            (ClientType::ScopeCreep, Matched),
            (ClientType::HotTempered, PlaybookStatus::Unknown),
            (ClientType::DiscountHunter, PlaybookStatus::Unknown),
        ]
    );
    let scope = entry(&account, ClientType::ScopeCreep).evidence.to_string();
    assert!(scope.contains("3 out-of-scope changes"), "{scope}");
    assert!(scope.contains('2'), "{scope}");
    let urgent = entry(&account, ClientType::Urgent).evidence.to_string();
    assert!(urgent.contains("0 rush requests"), "{urgent}");
}

#[test]
fn evaluate_carries_the_same_account_as_assess() {
    let profile = Profile::default();
    for stage in Stage::ALL {
        let evaluation = evaluate(&acme_42(), &profile, stage, E);
        assert_eq!(
            evaluation.account,
            Some(assess(&acme_42(), &profile, stage, E))
        );
    }
}

// ---------------------------------------------------------------------------
// Settings: validation (E1's profile half).

#[test]
fn default_account_settings_are_the_specs() {
    let d = AccountSettings::default();
    assert_eq!(d.value_weights(), [50, 20, 15, 15]);
    assert_eq!(d.value_profit_target_usd, 50_000);
    assert_eq!(d.value_referrals_target, 3);
    assert_eq!(d.value_tenure_target_months, 36);
    assert_eq!((d.tier_a_min_score, d.tier_b_min_score), (70, 40));
    assert_eq!(d.black_list_min_overdue_usd, 10_000);
    assert_eq!(d.vip_min_gross_profit_usd, 100_000);
    assert_eq!(d.adept_min_share_of_wallet, 0.9);
    assert_eq!((d.loyal_min_orders, d.loyal_min_tenure_months), (3, 6));
    assert!(d.black_list_knockout);
    assert_eq!(d.churn_contact_gap_days, 90);
    assert_eq!(d.playbook_min_progress_requests_per_week, 3.0);
    assert_eq!(d.playbook_min_decision_postponements, 2);
    assert_eq!(d.playbook_min_rush_requests, 2);
    assert_eq!(d.playbook_min_median_reply_days, 3.0);
    assert_eq!(d.playbook_min_out_of_scope_changes, 2);
    assert_eq!(d.playbook_min_discount_requested_pct, 20.0);
    assert_eq!(Profile::default().accounts, d);
}

#[test]
fn default_account_settings_are_valid() {
    let found = violations(&AccountSettings::default());
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn value_weights_must_sum_to_100() {
    let settings = AccountSettings {
        value_weight_cost_to_serve: 16,
        ..AccountSettings::default()
    };
    let found = violations(&settings);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].field, "profile.value_weight_profit");
    assert!(found[0].description.contains("100"), "{found:?}");
    assert!(found[0].description.contains("101"), "{found:?}");

    let settings = AccountSettings {
        value_weight_profit: 100,
        value_weight_referrals: 0,
        value_weight_tenure: 0,
        value_weight_cost_to_serve: 0,
        ..AccountSettings::default()
    };
    let found = violations(&settings);
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn tier_a_minimum_must_be_above_tier_b_minimum() {
    for (a, b) in [(40, 40), (39, 40)] {
        let settings = AccountSettings {
            tier_a_min_score: a,
            tier_b_min_score: b,
            ..AccountSettings::default()
        };
        let fields: Vec<String> = violations(&settings).into_iter().map(|v| v.field).collect();
        assert_eq!(fields, ["profile.tier_a_min_score"], "A {a}, B {b}");
    }
    let settings = AccountSettings {
        tier_a_min_score: 41,
        tier_b_min_score: 40,
        ..AccountSettings::default()
    };
    let found = violations(&settings);
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn out_of_range_settings_name_their_field() {
    let d = AccountSettings::default;
    let cases = [
        (
            "value_weight_profit",
            AccountSettings {
                value_weight_profit: -5,
                value_weight_referrals: 75,
                ..d()
            },
        ),
        (
            "value_profit_target_usd",
            AccountSettings {
                value_profit_target_usd: 0,
                ..d()
            },
        ),
        (
            "value_referrals_target",
            AccountSettings {
                value_referrals_target: 0,
                ..d()
            },
        ),
        (
            "value_tenure_target_months",
            AccountSettings {
                value_tenure_target_months: 0,
                ..d()
            },
        ),
        (
            "tier_a_min_score",
            AccountSettings {
                tier_a_min_score: 101,
                ..d()
            },
        ),
        (
            "tier_b_min_score",
            AccountSettings {
                tier_b_min_score: 0,
                ..d()
            },
        ),
        (
            "black_list_min_overdue_usd",
            AccountSettings {
                black_list_min_overdue_usd: 0,
                ..d()
            },
        ),
        (
            "vip_min_gross_profit_usd",
            AccountSettings {
                vip_min_gross_profit_usd: -1,
                ..d()
            },
        ),
        (
            "adept_min_share_of_wallet",
            AccountSettings {
                adept_min_share_of_wallet: 1.5,
                ..d()
            },
        ),
        (
            "adept_min_share_of_wallet",
            AccountSettings {
                adept_min_share_of_wallet: 0.0,
                ..d()
            },
        ),
        (
            "adept_min_share_of_wallet",
            AccountSettings {
                adept_min_share_of_wallet: f64::NAN,
                ..d()
            },
        ),
        (
            "loyal_min_orders",
            AccountSettings {
                loyal_min_orders: 0,
                ..d()
            },
        ),
        (
            "loyal_min_tenure_months",
            AccountSettings {
                loyal_min_tenure_months: -1,
                ..d()
            },
        ),
        (
            "churn_contact_gap_days",
            AccountSettings {
                churn_contact_gap_days: 0,
                ..d()
            },
        ),
        (
            "playbook_min_progress_requests_per_week",
            AccountSettings {
                playbook_min_progress_requests_per_week: 0.0,
                ..d()
            },
        ),
        (
            "playbook_min_decision_postponements",
            AccountSettings {
                playbook_min_decision_postponements: 0,
                ..d()
            },
        ),
        (
            "playbook_min_rush_requests",
            AccountSettings {
                playbook_min_rush_requests: 0,
                ..d()
            },
        ),
        (
            "playbook_min_median_reply_days",
            AccountSettings {
                playbook_min_median_reply_days: -1.0,
                ..d()
            },
        ),
        (
            "playbook_min_out_of_scope_changes",
            AccountSettings {
                playbook_min_out_of_scope_changes: 0,
                ..d()
            },
        ),
        (
            "playbook_min_discount_requested_pct",
            AccountSettings {
                playbook_min_discount_requested_pct: 100.5,
                ..d()
            },
        ),
    ];
    for (name, settings) in cases {
        let fields: Vec<String> = violations(&settings).into_iter().map(|v| v.field).collect();
        assert_eq!(fields, [format!("profile.{name}")], "{settings:?}");
    }
}

#[test]
fn settings_at_the_ends_of_their_ranges_are_valid() {
    let settings = AccountSettings {
        loyal_min_tenure_months: 0,
        adept_min_share_of_wallet: 1.0,
        tier_a_min_score: 100,
        tier_b_min_score: 1,
        playbook_min_discount_requested_pct: 100.0,
        churn_contact_gap_days: 1,
        ..AccountSettings::default()
    };
    let found = violations(&settings);
    assert!(found.is_empty(), "{found:?}");
}

// ---------------------------------------------------------------------------
// Value tiers and rounding.

/// A profile whose value score is the gross profit in thousands: all the
/// weight on profit against a $100,000 target.
fn profit_only(tier_a: i32, tier_b: i32) -> Profile {
    with_settings(AccountSettings {
        value_weight_profit: 100,
        value_weight_referrals: 0,
        value_weight_tenure: 0,
        value_weight_cost_to_serve: 0,
        value_profit_target_usd: 100_000,
        tier_a_min_score: tier_a,
        tier_b_min_score: tier_b,
        ..AccountSettings::default()
    })
}

/// Score and tier of a one-order client with `profit` under `profile`.
fn graded(profit: i64, profile: &Profile) -> (Option<i32>, Option<Tier>) {
    let facts = Facts {
        orders_count: Some(1),
        gross_profit_usd: Some(profit),
        ..Facts::default()
    };
    let value = account_with(&facts, profile).value;
    (value.score, value.tier)
}

#[test]
fn tier_a_starts_at_tier_a_min_score() {
    let profile = profit_only(70, 40);
    assert_eq!(graded(69_000, &profile), (Some(69), Some(Tier::B)));
    assert_eq!(graded(70_000, &profile), (Some(70), Some(Tier::A)));
    assert_eq!(graded(71_000, &profile), (Some(71), Some(Tier::A)));
}

#[test]
fn tier_b_starts_at_tier_b_min_score() {
    let profile = profit_only(70, 40);
    assert_eq!(graded(39_000, &profile), (Some(39), Some(Tier::C)));
    assert_eq!(graded(40_000, &profile), (Some(40), Some(Tier::B)));
    assert_eq!(graded(41_000, &profile), (Some(41), Some(Tier::B)));
}

#[test]
fn tier_minimums_follow_the_settings() {
    let profile = profit_only(80, 50);
    assert_eq!(graded(79_000, &profile), (Some(79), Some(Tier::B)));
    assert_eq!(graded(80_000, &profile), (Some(80), Some(Tier::A)));
    assert_eq!(graded(49_000, &profile), (Some(49), Some(Tier::C)));
    assert_eq!(graded(50_000, &profile), (Some(50), Some(Tier::B)));
}

#[test]
fn value_score_rounds_half_up() {
    let profile = profit_only(70, 40);
    assert_eq!(graded(69_499, &profile), (Some(69), Some(Tier::B)));
    assert_eq!(graded(69_500, &profile), (Some(70), Some(Tier::A)));
    assert_eq!(graded(39_500, &profile), (Some(40), Some(Tier::B)));
}

#[test]
fn value_targets_follow_the_settings() {
    let profile = with_settings(AccountSettings {
        value_profit_target_usd: 20_000,
        value_referrals_target: 1,
        value_tenure_target_months: 12,
        ..AccountSettings::default()
    });
    let account = account_with(&v1_x(), &profile);
    // Profit at its target, tenure at its target, no referrals.
    assert_points(factor(&account, ValueFactor::Profit), 50.0);
    assert_points(factor(&account, ValueFactor::Referrals), 0.0);
    assert_points(factor(&account, ValueFactor::Tenure), 15.0);
    assert_points(factor(&account, ValueFactor::CostToServe), 12.0);
    assert_value(&account, 77, Tier::A);
}

#[test]
fn value_weights_follow_the_settings() {
    let profile = with_settings(AccountSettings {
        value_weight_profit: 25,
        value_weight_referrals: 25,
        value_weight_tenure: 25,
        value_weight_cost_to_serve: 25,
        ..AccountSettings::default()
    });
    let account = account_with(&v1_x(), &profile);
    // 25 × 0.8 + 0 + 25 × 1/3 + 25 × 0.8 = 48.33.
    let weights: Vec<i32> = account.value.factors.iter().map(|f| f.weight).collect();
    assert_eq!(weights, [25, 25, 25, 25]);
    assert_points(factor(&account, ValueFactor::Tenure), 25.0 / 3.0);
    assert_value(&account, 48, Tier::B);
}

// ---------------------------------------------------------------------------
// Lifecycle thresholds.

fn class_with(facts: &Facts, settings: AccountSettings) -> LifecycleClass {
    account_with(facts, &with_settings(settings))
        .lifecycle
        .class
}

fn overdue(usd: i64) -> Facts {
    Facts {
        orders_count: Some(1),
        overdue_receivables_usd: Some(usd),
        ..Facts::default()
    }
}

#[test]
fn black_list_from_black_list_min_overdue_usd() {
    assert_eq!(lifecycle_of(&overdue(9_999)).class, LifecycleClass::Buyer);
    let at = lifecycle_of(&overdue(10_000));
    assert_class(&at, LifecycleClass::BlackList, &[LifecycleClass::Buyer]);
    assert!(at.knockout);
    let text = at.evidence.to_string();
    assert!(text.contains("$10,000 overdue"), "{text}");
    assert!(!at.action.is_empty());
    assert_eq!(
        lifecycle_of(&overdue(10_001)).class,
        LifecycleClass::BlackList
    );
}

#[test]
fn black_list_minimum_follows_the_setting() {
    let settings = || AccountSettings {
        black_list_min_overdue_usd: 500,
        ..AccountSettings::default()
    };
    assert_eq!(class_with(&overdue(499), settings()), LifecycleClass::Buyer);
    assert_eq!(
        class_with(&overdue(500), settings()),
        LifecycleClass::BlackList
    );
    // 9,999 would not be enough under the defaults, 10,000 would.
    let settings = || AccountSettings {
        black_list_min_overdue_usd: 20_000,
        ..AccountSettings::default()
    };
    assert_eq!(
        class_with(&overdue(10_000), settings()),
        LifecycleClass::Buyer
    );
}

fn profitable(usd: i64) -> Facts {
    Facts {
        orders_count: Some(1),
        strategic_account: Some(false),
        gross_profit_usd: Some(usd),
        ..Facts::default()
    }
}

#[test]
fn vip_from_vip_min_gross_profit_usd() {
    let below = lifecycle_of(&profitable(99_999));
    assert_class(&below, LifecycleClass::Buyer, &[]);
    assert!(!has(&below.missing_facts, "strategic_account"), "{below:?}");
    let at = lifecycle_of(&profitable(100_000));
    assert_class(&at, LifecycleClass::Vip, &[LifecycleClass::Buyer]);
    assert!(at.evidence.to_string().contains("$100,000"), "{at:?}");
    assert_eq!(
        lifecycle_of(&profitable(100_001)).class,
        LifecycleClass::Vip
    );
}

#[test]
fn vip_minimum_follows_the_setting() {
    let settings = || AccountSettings {
        vip_min_gross_profit_usd: 200_000,
        ..AccountSettings::default()
    };
    assert_eq!(
        class_with(&profitable(199_999), settings()),
        LifecycleClass::Buyer
    );
    assert_eq!(
        class_with(&profitable(200_000), settings()),
        LifecycleClass::Vip
    );
}

#[test]
fn strategic_account_is_vip_whatever_its_profit() {
    let facts = Facts {
        strategic_account: Some(true),
        ..profitable(-5_000)
    };
    assert_class(
        &lifecycle_of(&facts),
        LifecycleClass::Vip,
        &[LifecycleClass::Buyer],
    );
}

fn wallet(share: f64) -> Facts {
    Facts {
        share_of_wallet: Some(share),
        ..client(3, 6)
    }
}

#[test]
fn adept_from_adept_min_share_of_wallet() {
    assert_class(&lifecycle_of(&wallet(0.89)), LifecycleClass::Loyal, &[]);
    let at = lifecycle_of(&wallet(0.9));
    assert_class(&at, LifecycleClass::Adept, &[LifecycleClass::Loyal]);
    assert!(at.evidence.to_string().contains("90%"), "{at:?}");
    assert_class(
        &lifecycle_of(&wallet(0.91)),
        LifecycleClass::Adept,
        &[LifecycleClass::Loyal],
    );
}

#[test]
fn adept_minimum_follows_the_setting() {
    let settings = || AccountSettings {
        adept_min_share_of_wallet: 0.5,
        ..AccountSettings::default()
    };
    assert_eq!(class_with(&wallet(0.49), settings()), LifecycleClass::Loyal);
    assert_eq!(class_with(&wallet(0.5), settings()), LifecycleClass::Adept);
}

#[test]
fn adept_needs_loyal_first() {
    let buyer = Facts {
        share_of_wallet: Some(1.0),
        ..client(2, 24)
    };
    assert_class(&lifecycle_of(&buyer), LifecycleClass::Buyer, &[]);
}

#[test]
fn loyal_from_loyal_min_orders() {
    assert_eq!(lifecycle_of(&client(2, 6)).class, LifecycleClass::Buyer);
    assert_eq!(lifecycle_of(&client(3, 6)).class, LifecycleClass::Loyal);
    assert_eq!(lifecycle_of(&client(4, 6)).class, LifecycleClass::Loyal);
    let settings = || AccountSettings {
        loyal_min_orders: 5,
        ..AccountSettings::default()
    };
    assert_eq!(class_with(&client(4, 6), settings()), LifecycleClass::Buyer);
    assert_eq!(class_with(&client(5, 6), settings()), LifecycleClass::Loyal);
}

#[test]
fn loyal_from_loyal_min_tenure_months() {
    assert_eq!(lifecycle_of(&client(3, 5)).class, LifecycleClass::Buyer);
    assert_eq!(lifecycle_of(&client(3, 6)).class, LifecycleClass::Loyal);
    assert_eq!(lifecycle_of(&client(3, 7)).class, LifecycleClass::Loyal);
    let settings = || AccountSettings {
        loyal_min_tenure_months: 12,
        ..AccountSettings::default()
    };
    assert_eq!(
        class_with(&client(3, 11), settings()),
        LifecycleClass::Buyer
    );
    assert_eq!(
        class_with(&client(3, 12), settings()),
        LifecycleClass::Loyal
    );
    let settings = || AccountSettings {
        loyal_min_tenure_months: 0,
        ..AccountSettings::default()
    };
    assert_eq!(class_with(&client(3, 0), settings()), LifecycleClass::Loyal);
}

#[test]
fn loyal_evidence_states_orders_and_months() {
    let text = lifecycle_of(&client(3, 7)).evidence.to_string();
    assert!(
        text.contains("3 orders") && text.contains("7 months"),
        "{text}"
    );
}

#[test]
fn few_orders_without_first_purchase_date_are_still_a_buyer() {
    let life = lifecycle_of(&Facts {
        orders_count: Some(2),
        ..Facts::default()
    });
    assert_class(&life, LifecycleClass::Buyer, &[]);
    assert!(!has(&life.missing_facts, "first_purchase_date"), "{life:?}");
}

#[test]
fn unknown_orders_leave_the_class_unknown() {
    let life = lifecycle_of(&Facts::default());
    assert_class(&life, LifecycleClass::Unknown, &[]);
    for fact in [
        "overdue_receivables_usd",
        "strategic_account",
        "gross_profit_usd",
        "orders_count",
    ] {
        assert!(has(&life.missing_facts, fact), "{fact}: {life:?}");
    }
    assert!(!life.action.is_empty());
}

// ---------------------------------------------------------------------------
// Churn thresholds and urgency.

#[test]
fn at_risk_from_churn_contact_gap_days() {
    let status = |days| account_of(&last_contact(2, Some(days))).churn.status;
    assert_eq!(status(89), ChurnStatus::Ok);
    assert_eq!(status(90), ChurnStatus::AtRisk);
    assert_eq!(status(91), ChurnStatus::AtRisk);
    let ok = account_of(&last_contact(2, Some(89))).churn;
    let text = ok.evidence.to_string();
    assert!(text.contains("89 days") && text.contains("90"), "{text}");
}

#[test]
fn churn_gap_follows_the_setting() {
    let profile = with_settings(AccountSettings {
        churn_contact_gap_days: 30,
        ..AccountSettings::default()
    });
    let churn = |days| account_with(&last_contact(2, Some(days)), &profile).churn;
    assert_eq!(churn(29).status, ChurnStatus::Ok);
    let at = churn(30);
    assert_eq!(at.status, ChurnStatus::AtRisk);
    assert_eq!(at.threshold_days, 30);
    assert_eq!(
        at.evidence.to_string(),
        "no contact for 30 days; 30 is the limit"
    );
}

#[test]
fn at_risk_is_urgent_for_tier_a_loyal_adept_and_vip() {
    let silent = |facts: Facts| Facts {
        last_contact_date: Some(days_before(100)),
        ..facts
    };
    let churn = |facts: Facts| account_of(&silent(facts)).churn;

    // BUYER in tier A (the worked example).
    assert!(churn(acme_42()).urgent);
    // BUYER in tier B.
    let tier_b = churn(Facts {
        gross_profit_usd: Some(30_000),
        ..acme_42()
    });
    assert_eq!(tier_b.status, ChurnStatus::AtRisk);
    assert!(!tier_b.urgent, "{tier_b:?}");
    // LOYAL, ADEPT, VIP without a value tier.
    assert!(churn(client(3, 6)).urgent);
    assert!(churn(wallet(0.95)).urgent);
    let vip = churn(Facts {
        strategic_account: Some(true),
        ..client(1, 1)
    });
    assert!(vip.urgent, "{vip:?}");
    // OK is never urgent.
    let in_touch = account_of(&Facts {
        last_contact_date: Some(days_before(10)),
        ..client(3, 6)
    })
    .churn;
    assert_eq!(in_touch.status, ChurnStatus::Ok);
    assert!(!in_touch.urgent);
}

#[test]
fn churn_needs_orders_count_unless_vip() {
    let no_orders = Facts {
        last_contact_date: Some(days_before(100)),
        ..Facts::default()
    };
    let churn = account_of(&no_orders).churn;
    assert_eq!(churn.status, ChurnStatus::Unknown, "{churn:?}");
    assert!(has(&churn.missing_facts, "orders_count"), "{churn:?}");

    let vip = Facts {
        strategic_account: Some(true),
        ..no_orders
    };
    let account = account_of(&vip);
    assert_eq!(account.lifecycle.class, LifecycleClass::Vip);
    assert_eq!(
        account.churn.status,
        ChurnStatus::AtRisk,
        "{:?}",
        account.churn
    );
    assert!(account.churn.urgent);
}

#[test]
fn churn_does_not_apply_to_the_black_list() {
    let facts = Facts {
        overdue_receivables_usd: Some(50_000),
        last_contact_date: Some(days_before(365)),
        ..client(5, 24)
    };
    let account = account_of(&facts);
    assert_eq!(account.lifecycle.class, LifecycleClass::BlackList);
    assert_eq!(account.churn.status, ChurnStatus::NotApplicable);
    assert!(!account.churn.urgent);
}

// ---------------------------------------------------------------------------
// Playbook thresholds.

fn status_of(facts: Facts, profile: &Profile, client_type: ClientType) -> PlaybookStatus {
    entry(&account_with(&facts, profile), client_type).status
}

#[test]
fn control_seeker_from_playbook_min_progress_requests_per_week() {
    let status = |n: f64, profile: &Profile| {
        let facts = Facts {
            progress_requests_per_week: Some(n),
            ..Facts::default()
        };
        status_of(facts, profile, ClientType::ControlSeeker)
    };
    let default = Profile::default();
    assert_eq!(status(2.9, &default), NotMatched);
    assert_eq!(status(3.0, &default), Matched);
    assert_eq!(status(3.5, &default), Matched);
    let set = with_settings(AccountSettings {
        playbook_min_progress_requests_per_week: 5.0,
        ..AccountSettings::default()
    });
    assert_eq!(status(4.9, &set), NotMatched);
    assert_eq!(status(5.0, &set), Matched);
}

#[test]
fn no_spec_matches_without_a_written_spec() {
    let status = |spec| {
        let facts = Facts {
            has_written_spec: Some(spec),
            ..Facts::default()
        };
        status_of(facts, &Profile::default(), ClientType::NoSpec)
    };
    assert_eq!(status(false), Matched);
    assert_eq!(status(true), NotMatched);
}

#[test]
fn indecisive_from_playbook_min_decision_postponements() {
    let status = |n, profile: &Profile| {
        let facts = Facts {
            decision_postponements: Some(n),
            ..Facts::default()
        };
        status_of(facts, profile, ClientType::Indecisive)
    };
    let default = Profile::default();
    assert_eq!(status(1, &default), NotMatched);
    assert_eq!(status(2, &default), Matched);
    assert_eq!(status(3, &default), Matched);
    let set = with_settings(AccountSettings {
        playbook_min_decision_postponements: 4,
        ..AccountSettings::default()
    });
    assert_eq!(status(3, &set), NotMatched);
    assert_eq!(status(4, &set), Matched);
}

#[test]
fn urgent_from_playbook_min_rush_requests() {
    let status = |n, profile: &Profile| {
        let facts = Facts {
            rush_requests: Some(n),
            ..Facts::default()
        };
        status_of(facts, profile, ClientType::Urgent)
    };
    let default = Profile::default();
    assert_eq!(status(1, &default), NotMatched);
    assert_eq!(status(2, &default), Matched);
    assert_eq!(status(3, &default), Matched);
    let set = with_settings(AccountSettings {
        playbook_min_rush_requests: 5,
        ..AccountSettings::default()
    });
    assert_eq!(status(4, &set), NotMatched);
    assert_eq!(status(5, &set), Matched);
}

#[test]
fn result_only_from_playbook_min_median_reply_days() {
    let status = |n: f64, profile: &Profile| {
        let facts = Facts {
            median_reply_days: Some(n),
            ..Facts::default()
        };
        status_of(facts, profile, ClientType::ResultOnly)
    };
    let default = Profile::default();
    assert_eq!(status(2.5, &default), NotMatched);
    assert_eq!(status(3.0, &default), Matched);
    assert_eq!(status(3.5, &default), Matched);
    let set = with_settings(AccountSettings {
        playbook_min_median_reply_days: 7.0,
        ..AccountSettings::default()
    });
    assert_eq!(status(6.5, &set), NotMatched);
    assert_eq!(status(7.0, &set), Matched);
}

#[test]
fn scope_creep_from_playbook_min_out_of_scope_changes() {
    let status = |n, profile: &Profile| {
        let facts = Facts {
            out_of_scope_changes: Some(n),
            ..Facts::default()
        };
        status_of(facts, profile, ClientType::ScopeCreep)
    };
    let default = Profile::default();
    assert_eq!(status(1, &default), NotMatched);
    assert_eq!(status(2, &default), Matched);
    assert_eq!(status(3, &default), Matched);
    let set = with_settings(AccountSettings {
        playbook_min_out_of_scope_changes: 4,
        ..AccountSettings::default()
    });
    assert_eq!(status(3, &set), NotMatched);
    assert_eq!(status(4, &set), Matched);
}

#[test]
fn hot_tempered_from_max_disrespectful_incidents() {
    let status = |n, profile: &Profile| {
        let facts = Facts {
            disrespectful_incidents: Some(n),
            ..Facts::default()
        };
        status_of(facts, profile, ClientType::HotTempered)
    };
    let default = Profile::default();
    assert_eq!(status(0, &default), NotMatched);
    assert_eq!(status(1, &default), Matched);
    assert_eq!(status(2, &default), Matched);
    let set = Profile {
        thresholds: Thresholds {
            max_disrespectful_incidents: 3,
            ..Thresholds::default()
        },
        ..Profile::default()
    };
    assert_eq!(status(2, &set), NotMatched);
    assert_eq!(status(3, &set), Matched);
}

#[test]
fn hot_tempered_agrees_with_the_disrespectful_criterion() {
    let profile = Profile {
        thresholds: Thresholds {
            max_disrespectful_incidents: 2,
            ..Thresholds::default()
        },
        ..Profile::default()
    };
    for n in 0..=4 {
        let facts = Facts {
            disrespectful_incidents: Some(n),
            ..Facts::default()
        };
        let evaluation = evaluation(&facts, &profile, Stage::Contact);
        let fired = signal(&evaluation, Criterion::Disrespectful).status == SignalStatus::Fired;
        let account = evaluation.account.as_ref().expect("an account");
        let matched = entry(account, ClientType::HotTempered).status == Matched;
        assert_eq!(fired, matched, "{n} incidents");
    }
}

#[test]
fn discount_hunter_from_playbook_min_discount_requested_pct() {
    let status = |n: f64, profile: &Profile| {
        let facts = Facts {
            discount_requested_pct: Some(n),
            ..Facts::default()
        };
        status_of(facts, profile, ClientType::DiscountHunter)
    };
    let default = Profile::default();
    assert_eq!(status(19.99, &default), NotMatched);
    assert_eq!(status(20.0, &default), Matched);
    assert_eq!(status(20.01, &default), Matched);
    let set = with_settings(AccountSettings {
        playbook_min_discount_requested_pct: 10.0,
        ..AccountSettings::default()
    });
    assert_eq!(status(9.5, &set), NotMatched);
    assert_eq!(status(10.0, &set), Matched);
}

#[test]
fn playbook_evidence_states_the_value_and_the_minimum() {
    let facts = Facts {
        discount_requested_pct: Some(25.0),
        median_reply_days: Some(4.5),
        decision_postponements: Some(1),
        ..Facts::default()
    };
    let account = account_of(&facts);
    let text = |t| entry(&account, t).evidence.to_string();
    let discount = text(ClientType::DiscountHunter);
    assert!(
        discount.contains("25%") && discount.contains("20%"),
        "{discount}"
    );
    let replies = text(ClientType::ResultOnly);
    assert!(
        replies.contains("4.5 days") && replies.contains('3'),
        "{replies}"
    );
    let postponed = text(ClientType::Indecisive);
    assert!(postponed.contains("1 decision postponed"), "{postponed}");
}

#[test]
fn every_playbook_type_carries_its_advice() {
    let account = account_of(&Facts::default());
    for e in &account.playbook {
        assert!(!e.advice.is_empty(), "{e:?}");
    }
}

#[test]
fn playbook_applies_at_every_stage() {
    let facts = Facts {
        rush_requests: Some(2),
        ..Facts::default()
    };
    for stage in Stage::ALL {
        let account = assess(&facts, &Profile::default(), stage, E);
        assert_eq!(
            entry(&account, ClientType::Urgent).status,
            Matched,
            "{stage:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Unknown facts.

#[test]
fn unknown_referrals_add_nothing_and_are_named() {
    let facts = Facts {
        referrals_count: None,
        ..v1_x()
    };
    let account = account_of(&facts);
    assert_unknown_factor(
        factor(&account, ValueFactor::Referrals),
        &["referrals_count"],
    );
    assert_value(&account, 57, Tier::B);
    assert_eq!(account.value.missing_facts, ["referrals_count"]);
}

#[test]
fn unknown_first_purchase_date_adds_nothing_and_is_named() {
    let facts = Facts {
        first_purchase_date: None,
        ..v1_x()
    };
    let account = account_of(&facts);
    assert_unknown_factor(
        factor(&account, ValueFactor::Tenure),
        &["first_purchase_date"],
    );
    // 40 + 0 + 0 + 12.
    assert_value(&account, 52, Tier::B);
    assert_eq!(account.value.missing_facts, ["first_purchase_date"]);
}

#[test]
fn unknown_cost_to_serve_adds_nothing_and_is_named() {
    let facts = Facts {
        cost_to_serve_usd: None,
        ..v1_x()
    };
    let account = account_of(&facts);
    assert_unknown_factor(
        factor(&account, ValueFactor::CostToServe),
        &["cost_to_serve_usd"],
    );
    // 40 + 0 + 5 + 0.
    assert_value(&account, 45, Tier::B);
    assert_eq!(account.value.missing_facts, ["cost_to_serve_usd"]);
}

#[test]
fn unknown_profit_leaves_profit_and_cost_to_serve_unknown() {
    let facts = Facts {
        gross_profit_usd: None,
        ..v1_x()
    };
    let account = account_of(&facts);
    assert_eq!(account.value.status, ValueStatus::Unknown);
    assert_eq!(account.value.score, None);
    assert_eq!(account.value.tier, None);
    assert_unknown_factor(factor(&account, ValueFactor::Profit), &["gross_profit_usd"]);
    assert_unknown_factor(
        factor(&account, ValueFactor::CostToServe),
        &["gross_profit_usd"],
    );
    // The known factors are still assessed.
    assert_points(factor(&account, ValueFactor::Tenure), 5.0);
    assert_eq!(account.value.missing_facts, ["gross_profit_usd"]);

    let neither = Facts {
        cost_to_serve_usd: None,
        ..facts
    };
    let account = account_of(&neither);
    assert_unknown_factor(
        factor(&account, ValueFactor::CostToServe),
        &["cost_to_serve_usd", "gross_profit_usd"],
    );
    let missing = &account.value.missing_facts;
    assert_eq!(missing.len(), 2, "each missing fact once: {missing:?}");
    assert!(has(missing, "gross_profit_usd") && has(missing, "cost_to_serve_usd"));
}

#[test]
fn no_profit_earns_no_cost_to_serve_points() {
    for profit in [0, -5_000] {
        for cost in [None, Some(0), Some(1_000)] {
            let facts = Facts {
                orders_count: Some(1),
                gross_profit_usd: Some(profit),
                cost_to_serve_usd: cost,
                referrals_count: Some(3),
                ..Facts::default()
            };
            let account = account_of(&facts);
            let f = factor(&account, ValueFactor::CostToServe);
            assert_points(f, 0.0);
            assert!(f.evidence.to_string().contains("not positive"), "{f:?}");
            assert_points(factor(&account, ValueFactor::Profit), 0.0);
            // Only the referrals count.
            assert_value(&account, 20, Tier::C);
        }
    }
}

#[test]
fn unknown_facts_never_establish_black_list_vip_or_adept() {
    // Everything a higher class needs is unknown; the ladder decides.
    let life = lifecycle_of(&client(3, 12));
    assert_class(&life, LifecycleClass::Loyal, &[]);
    for fact in [
        "overdue_receivables_usd",
        "strategic_account",
        "gross_profit_usd",
        "share_of_wallet",
    ] {
        assert!(has(&life.missing_facts, fact), "{fact}: {life:?}");
    }
    assert!(!life.knockout);

    // Strategic unknown, profit below the VIP minimum: not VIP, and the
    // unread fact is named.
    let life = lifecycle_of(&Facts {
        gross_profit_usd: Some(99_999),
        ..client(1, 1)
    });
    assert_class(&life, LifecycleClass::Buyer, &[]);
    assert!(has(&life.missing_facts, "strategic_account"), "{life:?}");

    // Not strategic, profit unknown: not VIP.
    let life = lifecycle_of(&Facts {
        strategic_account: Some(false),
        ..client(1, 1)
    });
    assert_class(&life, LifecycleClass::Buyer, &[]);
    assert!(has(&life.missing_facts, "gross_profit_usd"), "{life:?}");
}

#[test]
fn strategic_unknown_with_vip_profit_is_still_vip() {
    let life = lifecycle_of(&Facts {
        gross_profit_usd: Some(150_000),
        ..client(1, 1)
    });
    assert_class(&life, LifecycleClass::Vip, &[LifecycleClass::Buyer]);
}

// ---------------------------------------------------------------------------
// Precedence.

/// A strategic, highly profitable loyal client owing $10,000.
fn vip_in_debt() -> Facts {
    Facts {
        strategic_account: Some(true),
        gross_profit_usd: Some(200_000),
        overdue_receivables_usd: Some(10_000),
        last_contact_date: Some(days_before(200)),
        ..client(5, 12)
    }
}

#[test]
fn vip_with_unpaid_debts_is_black_listed_and_disqualified() {
    let evaluation = evaluation(&vip_in_debt(), &Profile::default(), Stage::Study);
    let account = evaluation.account.as_ref().expect("an account");
    assert_class(
        &account.lifecycle,
        LifecycleClass::BlackList,
        &[LifecycleClass::Vip, LifecycleClass::Loyal],
    );
    assert!(account.lifecycle.knockout);
    assert_eq!(evaluation.score, 0);
    assert_eq!(evaluation.outcome, Outcome::Disqualified);
    // Its value is still assessed; the black list does not hide it.
    assert_eq!(account.value.status, ValueStatus::Assessed);
    assert_eq!(account.churn.status, ChurnStatus::NotApplicable);
}

#[test]
fn without_black_list_knockout_the_outcome_follows_the_score() {
    // Disrespectful (30) and not a priority (25): 55, between review (30)
    // and disqualify (60).
    let facts = Facts {
        disrespectful_incidents: Some(1),
        priority: Some(Priority::NotNow),
        ..vip_in_debt()
    };
    let knockout = evaluation(&facts, &Profile::default(), Stage::Recommendation);
    assert_eq!(knockout.score, 55);
    assert_eq!(knockout.outcome, Outcome::Disqualified);

    let profile = with_settings(AccountSettings {
        black_list_knockout: false,
        ..AccountSettings::default()
    });
    let evaluation = evaluation(&facts, &profile, Stage::Recommendation);
    let account = evaluation.account.as_ref().expect("an account");
    assert_eq!(account.lifecycle.class, LifecycleClass::BlackList);
    assert!(!account.lifecycle.knockout);
    assert_eq!(evaluation.score, 55);
    assert_eq!(evaluation.outcome, Outcome::NeedsReview);
}

#[test]
fn adept_lists_loyal_as_also_matched() {
    assert_class(
        &lifecycle_of(&wallet(0.95)),
        LifecycleClass::Adept,
        &[LifecycleClass::Loyal],
    );
}

#[test]
fn vip_outranks_adept_and_loyal() {
    let facts = Facts {
        strategic_account: Some(true),
        ..wallet(0.95)
    };
    assert_class(
        &lifecycle_of(&facts),
        LifecycleClass::Vip,
        &[LifecycleClass::Adept, LifecycleClass::Loyal],
    );
}

#[test]
fn missing_facts_name_only_what_could_have_decided_a_higher_class() {
    // BLACK_LIST is established: what VIP would need is beside the point.
    let life = lifecycle_of(&Facts {
        overdue_receivables_usd: Some(10_000),
        ..client(3, 6)
    });
    assert_class(&life, LifecycleClass::BlackList, &[LifecycleClass::Loyal]);
    assert_eq!(life.missing_facts, Vec::<FactName>::new());
}

// ---------------------------------------------------------------------------
// Month and day arithmetic.

#[test]
fn tenure_counts_whole_months_at_month_ends() {
    assert_eq!(tenure_months(date(2026, 1, 31), date(2026, 7, 30)), 5);
    assert_eq!(tenure_months(date(2026, 1, 31), date(2026, 7, 31)), 6);
    // February ends on the 28th: a month from January 31.
    assert_eq!(tenure_months(date(2026, 1, 31), date(2026, 2, 27)), 0);
    assert_eq!(tenure_months(date(2026, 1, 31), date(2026, 2, 28)), 1);
    assert_eq!(tenure_months(date(2024, 1, 31), date(2024, 2, 28)), 0);
    assert_eq!(tenure_months(date(2024, 1, 31), date(2024, 2, 29)), 1);
}

#[test]
fn tenure_over_leap_days() {
    assert_eq!(tenure_months(date(2024, 2, 29), date(2025, 2, 28)), 12);
    assert_eq!(tenure_months(date(2024, 2, 29), date(2025, 2, 27)), 11);
    assert_eq!(tenure_months(date(2024, 2, 29), date(2028, 2, 28)), 47);
    assert_eq!(tenure_months(date(2024, 2, 29), date(2028, 2, 29)), 48);
    assert_eq!(tenure_months(date(2024, 2, 29), date(2024, 3, 28)), 0);
    assert_eq!(tenure_months(date(2024, 2, 29), date(2024, 3, 29)), 1);
}

#[test]
fn tenure_is_zero_on_and_before_the_first_purchase() {
    assert_eq!(tenure_months(date(2026, 5, 10), date(2026, 5, 10)), 0);
    assert_eq!(tenure_months(date(2026, 5, 10), date(2026, 5, 9)), 0);
    assert_eq!(tenure_months(date(2026, 5, 10), date(2025, 8, 10)), 0);
}

#[test]
fn tenure_across_years() {
    assert_eq!(tenure_months(date(2025, 11, 23), date(2026, 11, 23)), 12);
    assert_eq!(tenure_months(date(2025, 11, 23), date(2026, 11, 22)), 11);
    assert_eq!(tenure_months(date(2025, 12, 15), date(2026, 1, 14)), 0);
    assert_eq!(tenure_months(date(2025, 12, 15), date(2026, 1, 15)), 1);
    assert_eq!(tenure_months(date(2016, 3, 1), date(2026, 2, 28)), 119);
    assert_eq!(tenure_months(date(2016, 3, 1), date(2026, 3, 1)), 120);
}

#[test]
fn add_months_clamps_the_day_to_the_month_end() {
    assert_eq!(add_months(date(2026, 1, 31), 1), date(2026, 2, 28));
    assert_eq!(add_months(date(2024, 1, 31), 1), date(2024, 2, 29));
    assert_eq!(add_months(date(2026, 1, 31), 3), date(2026, 4, 30));
    assert_eq!(add_months(date(2024, 2, 29), 12), date(2025, 2, 28));
    assert_eq!(add_months(date(2024, 2, 29), 48), date(2028, 2, 29));
    assert_eq!(add_months(date(2025, 11, 30), 3), date(2026, 2, 28));
    assert_eq!(add_months(date(2026, 3, 31), -1), date(2026, 2, 28));
    assert_eq!(add_months(date(2026, 11, 23), -12), date(2025, 11, 23));
    assert_eq!(add_months(date(2026, 1, 15), -1), date(2025, 12, 15));
    assert_eq!(add_months(date(2026, 5, 10), 0), date(2026, 5, 10));
}

#[test]
fn days_between_counts_a_leap_day() {
    assert_eq!(days_between(date(2024, 2, 28), date(2024, 3, 1)), 2);
    assert_eq!(days_between(date(2023, 2, 28), date(2023, 3, 1)), 1);
    assert_eq!(days_between(date(2024, 1, 1), date(2025, 1, 1)), 366);
    assert_eq!(days_between(date(2025, 1, 1), date(2026, 1, 1)), 365);
    assert_eq!(days_between(date(2026, 7, 26), date(2026, 11, 23)), 120);
    assert_eq!(days_between(date(2026, 5, 10), date(2026, 5, 10)), 0);
    assert_eq!(days_between(date(2026, 5, 10), date(2026, 5, 9)), 0);
}

#[test]
fn tenure_and_churn_follow_the_evaluation_date() {
    let profile = Profile::default();
    let facts = acme_42();
    let before = assess(&facts, &profile, Stage::Study, date(2026, 11, 22));
    let tenure = factor(&before, ValueFactor::Tenure).evidence.to_string();
    assert!(tenure.contains("11 months"), "{tenure}");
    assert_eq!(before.churn.days_since_last_contact, Some(119));
}

// ---------------------------------------------------------------------------
// Stored form.

#[track_caller]
fn assert_round_trips(account: &Account) {
    let json = serde_json::to_string(account).expect("an account serialises");
    let back: Account = serde_json::from_str(&json).expect("and reads back");
    assert_eq!(&back, account);
    let again = serde_json::to_string(&back).expect("a stored account serialises");
    assert_eq!(again, json, "the stored text is kept unchanged");
}

#[test]
fn account_survives_storage() {
    let account = acme_42_account();
    assert_round_trips(&account);
    let json = serde_json::to_string(&account).expect("an account serialises");
    assert!(
        json.contains("no contact for 120 days; 90 is the limit"),
        "{json}"
    );
    assert!(json.contains("\"AT_RISK\""), "{json}");
    assert!(json.contains("\"SCOPE_CREEP\""), "{json}");
}

#[test]
fn unknown_and_not_applicable_accounts_survive_storage() {
    assert_round_trips(&account_of(&Facts::default()));
    assert_round_trips(&account_of(&Facts {
        orders_count: Some(0),
        last_contact_date: Some(days_before(400)),
        ..Facts::default()
    }));
    assert_round_trips(&account_of(&vip_in_debt()));
    assert_round_trips(&account_of(&v1_x()));
}

// ---------------------------------------------------------------------------
// Properties over arbitrary account facts, settings near the defaults,
// stages and dates.

/// `Some` most of the time, so that rules are decided more often than not.
fn opt<S: Strategy>(s: S) -> impl Strategy<Value = Option<S::Value>> {
    option::weighted(0.8, s)
}

fn arb_stage() -> impl Strategy<Value = Stage> {
    select(&Stage::ALL[..])
}

/// An evaluation date from 2024 to 2034, and account facts around the
/// default thresholds with dates up to about four years before it.
fn arb_case() -> impl Strategy<Value = (Facts, Date)> {
    let day =
        (0i64..=4_000).prop_map(|d| date(2024, 1, 1).checked_add(d.days()).expect("in range"));
    (day, arb_account_facts(), arb_handling_facts()).prop_map(
        |(day, (mut facts, first_ago, last_ago), handling)| {
            let before = |n: i64| day.checked_sub(n.days()).expect("in range");
            facts.first_purchase_date = first_ago.map(before);
            facts.last_contact_date = last_ago.map(before);
            (facts.merged_with(&handling), day)
        },
    )
}

prop_compose! {
    /// Account facts; the two dates as days before the evaluation date.
    fn arb_account_facts()(
        orders_count in opt(0i32..=6),
        gross_profit_usd in opt(-20_000i64..=160_000),
        referrals_count in opt(0i32..=5),
        first_ago in opt(0i64..=1_500),
        cost_to_serve_usd in opt(0i64..=60_000),
        share_of_wallet in opt(select(&[0.0, 0.5, 0.85, 0.89, 0.9, 0.91, 1.0][..])),
        overdue_receivables_usd in opt(0i64..=20_000),
        strategic_account in opt(prop::bool::weighted(0.2)),
        last_ago in opt(0i64..=200),
    ) -> (Facts, Option<i64>, Option<i64>) {
        let facts = Facts {
            orders_count,
            gross_profit_usd,
            referrals_count,
            cost_to_serve_usd,
            share_of_wallet,
            overdue_receivables_usd,
            strategic_account,
            ..Facts::default()
        };
        (facts, first_ago, last_ago)
    }
}

prop_compose! {
    fn arb_handling_facts()(
        progress_requests_per_week in opt(0.0f64..=6.0),
        has_written_spec in opt(any::<bool>()),
        decision_postponements in opt(0i32..=4),
        rush_requests in opt(0i32..=4),
        median_reply_days in opt(0.0f64..=6.0),
        out_of_scope_changes in opt(0i32..=4),
        disrespectful_incidents in opt(0i32..=4),
        discount_requested_pct in opt(0.0f64..=40.0),
    ) -> Facts {
        Facts {
            progress_requests_per_week,
            has_written_spec,
            decision_postponements,
            rush_requests,
            median_reply_days,
            out_of_scope_changes,
            disrespectful_incidents,
            discount_requested_pct,
            ..Facts::default()
        }
    }
}

const WEIGHTS: [[i32; 4]; 5] = [
    [50, 20, 15, 15],
    [40, 20, 20, 20],
    [25, 25, 25, 25],
    [70, 10, 10, 10],
    [100, 0, 0, 0],
];

prop_compose! {
    /// Valid account settings around the defaults, and the criterion
    /// threshold HOT_TEMPERED reuses.
    fn arb_profile()(
        [value_weight_profit, value_weight_referrals, value_weight_tenure, value_weight_cost_to_serve]
            in select(&WEIGHTS[..]),
        (value_profit_target_usd, value_referrals_target, value_tenure_target_months) in (
            select(&[20_000i64, 50_000, 80_000][..]),
            1i32..=5,
            select(&[12i32, 36, 48][..]),
        ),
        (tier_a_min_score, tier_b_min_score) in select(&[(70, 40), (80, 50), (60, 30), (41, 40)][..]),
        (black_list_min_overdue_usd, vip_min_gross_profit_usd, adept_min_share_of_wallet) in (
            select(&[5_000i64, 10_000, 15_000][..]),
            select(&[50_000i64, 100_000, 150_000][..]),
            select(&[0.5, 0.85, 0.9, 1.0][..]),
        ),
        (loyal_min_orders, loyal_min_tenure_months, black_list_knockout, churn_contact_gap_days) in (
            1i32..=5,
            0i32..=12,
            any::<bool>(),
            select(&[30i32, 60, 90, 120][..]),
        ),
        playbook in (1.0f64..=5.0, 1i32..=3, 1i32..=3, 1.0f64..=5.0, 1i32..=3, 10.0f64..=30.0),
        max_disrespectful_incidents in 1i32..=3,
    ) -> Profile {
        let settings = AccountSettings {
            value_weight_profit,
            value_weight_referrals,
            value_weight_tenure,
            value_weight_cost_to_serve,
            value_profit_target_usd,
            value_referrals_target,
            value_tenure_target_months,
            tier_a_min_score,
            tier_b_min_score,
            black_list_min_overdue_usd,
            vip_min_gross_profit_usd,
            adept_min_share_of_wallet,
            loyal_min_orders,
            loyal_min_tenure_months,
            black_list_knockout,
            churn_contact_gap_days,
            playbook_min_progress_requests_per_week: playbook.0,
            playbook_min_decision_postponements: playbook.1,
            playbook_min_rush_requests: playbook.2,
            playbook_min_median_reply_days: playbook.3,
            playbook_min_out_of_scope_changes: playbook.4,
            playbook_min_discount_requested_pct: playbook.5,
        };
        Profile {
            accounts: settings,
            thresholds: Thresholds {
                max_disrespectful_incidents,
                ..Thresholds::default()
            },
            ..Profile::default()
        }
    }
}

/// The classes whose SPEC rule holds on what is known, in precedence order:
/// the first is the class, the rest are `also_matched`; none is UNKNOWN.
fn spec_classes(
    facts: &Facts,
    s: &AccountSettings,
    stage: Stage,
    day: Date,
) -> Vec<LifecycleClass> {
    let tenure = facts
        .first_purchase_date
        .map(|first| tenure_months(first, day));
    let orders = facts.orders_count;
    let loyal = orders.is_some_and(|o| o >= s.loyal_min_orders)
        && tenure.is_some_and(|t| t >= s.loyal_min_tenure_months);
    let not_loyal = orders.is_some_and(|o| o < s.loyal_min_orders)
        || tenure.is_some_and(|t| t < s.loyal_min_tenure_months);
    let mut classes = Vec::new();
    if facts
        .overdue_receivables_usd
        .is_some_and(|o| o >= s.black_list_min_overdue_usd)
    {
        classes.push(LifecycleClass::BlackList);
    }
    if facts.strategic_account == Some(true)
        || facts
            .gross_profit_usd
            .is_some_and(|p| p >= s.vip_min_gross_profit_usd)
    {
        classes.push(LifecycleClass::Vip);
    }
    if loyal
        && facts
            .share_of_wallet
            .is_some_and(|w| w >= s.adept_min_share_of_wallet)
    {
        classes.push(LifecycleClass::Adept);
    }
    if loyal {
        classes.push(LifecycleClass::Loyal);
    }
    if orders.is_some_and(|o| o >= 1) && not_loyal {
        classes.push(LifecycleClass::Buyer);
    }
    if orders == Some(0) {
        classes.push(if stage == Stage::Identification {
            LifecycleClass::Newbie
        } else {
            LifecycleClass::Prospect
        });
    }
    classes
}

fn rank(class: LifecycleClass) -> Option<usize> {
    PRECEDENCE.iter().position(|&c| c == class)
}

fn shows_class(account: &Account, class: LifecycleClass) -> bool {
    account.lifecycle.class == class || account.lifecycle.also_matched.contains(&class)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Profit beats volume: more gross profit never lowers the value score
    /// or its tier, all else equal.
    #[test]
    fn more_profit_never_lowers_the_value_score(
        (facts, day) in arb_case(),
        profile in arb_profile(),
        stage in arb_stage(),
        profit in -20_000i64..=160_000,
        more in 0i64..=100_000,
    ) {
        let less = Facts { gross_profit_usd: Some(profit), ..facts.clone() };
        let richer = Facts { gross_profit_usd: Some(profit + more), ..facts };
        let low = assess(&less, &profile, stage, day).value;
        let high = assess(&richer, &profile, stage, day).value;
        prop_assert_eq!(low.score.is_some(), high.score.is_some());
        if let (Some(l), Some(h)) = (low.score, high.score) {
            prop_assert!(h >= l, "{} -> {}", l, h);
            // Tier A < B < C: a richer client is never in a lower tier.
            prop_assert!(high.tier <= low.tier, "{:?} -> {:?}", low.tier, high.tier);
        }
    }

    /// No factor reads `orders_count`: clients that differ only in it (both
    /// at least one order) have the same value.
    #[test]
    fn order_count_alone_never_changes_the_value(
        (facts, day) in arb_case(),
        profile in arb_profile(),
        stage in arb_stage(),
        a in 1i32..=1_000,
        b in 1i32..=1_000,
    ) {
        let one = assess(&Facts { orders_count: Some(a), ..facts.clone() }, &profile, stage, day);
        let other = assess(&Facts { orders_count: Some(b), ..facts }, &profile, stage, day);
        prop_assert_eq!(one.value.score, other.value.score);
        prop_assert_eq!(one.value.tier, other.value.tier);
        prop_assert_eq!(&one.value, &other.value);
    }

    /// One class, the first match of the SPEC's table; the outranked
    /// matches follow in precedence order and never repeat the class.
    #[test]
    fn lifecycle_class_is_the_first_match_in_precedence_order(
        (facts, day) in arb_case(),
        profile in arb_profile(),
        stage in arb_stage(),
    ) {
        let account = assess(&facts, &profile, stage, day);
        let life = &account.lifecycle;
        prop_assert!(!life.also_matched.contains(&life.class), "{:?}", life);
        let ranks: Vec<usize> = life
            .also_matched
            .iter()
            .map(|&c| rank(c).expect("also_matched holds ranked classes"))
            .collect();
        prop_assert!(ranks.windows(2).all(|w| w[0] < w[1]), "{:?}", life);
        match rank(life.class) {
            Some(class_rank) => prop_assert!(ranks.iter().all(|&r| r > class_rank), "{:?}", life),
            None => prop_assert!(life.also_matched.is_empty(), "{:?}", life),
        }

        let spec = spec_classes(&facts, &profile.accounts, stage, day);
        let expected = spec.first().copied().unwrap_or(LifecycleClass::Unknown);
        prop_assert_eq!(life.class, expected, "{:?}", facts);
        prop_assert_eq!(&life.also_matched[..], spec.get(1..).unwrap_or_default());
        prop_assert_eq!(
            life.knockout,
            life.class == LifecycleClass::BlackList && profile.accounts.black_list_knockout
        );
    }

    /// BLACK_LIST, VIP and ADEPT need positive evidence: with the fact that
    /// would establish them unknown they are neither the class nor also
    /// matched, and the class below names the unread fact.
    #[test]
    fn unknown_facts_never_establish_a_higher_class(
        (facts, day) in arb_case(),
        profile in arb_profile(),
        stage in arb_stage(),
    ) {
        let no_overdue = Facts { overdue_receivables_usd: None, ..facts.clone() };
        let account = assess(&no_overdue, &profile, stage, day);
        prop_assert!(!shows_class(&account, LifecycleClass::BlackList));
        prop_assert!(!account.lifecycle.knockout);
        prop_assert!(has(&account.lifecycle.missing_facts, "overdue_receivables_usd"));

        let no_vip_facts = Facts {
            strategic_account: None,
            gross_profit_usd: None,
            ..facts.clone()
        };
        let account = assess(&no_vip_facts, &profile, stage, day);
        prop_assert!(!shows_class(&account, LifecycleClass::Vip));
        if account.lifecycle.class != LifecycleClass::BlackList {
            prop_assert!(has(&account.lifecycle.missing_facts, "strategic_account"));
            prop_assert!(has(&account.lifecycle.missing_facts, "gross_profit_usd"));
        }

        let no_share = Facts { share_of_wallet: None, ..facts };
        let account = assess(&no_share, &profile, stage, day);
        prop_assert!(!shows_class(&account, LifecycleClass::Adept));
        if account.lifecycle.class == LifecycleClass::Loyal {
            prop_assert!(has(&account.lifecycle.missing_facts, "share_of_wallet"));
        }
    }

    /// A class above the ladder is there only on its evidence.
    #[test]
    fn higher_classes_rest_on_known_facts(
        (facts, day) in arb_case(),
        profile in arb_profile(),
        stage in arb_stage(),
    ) {
        let s = &profile.accounts;
        let account = assess(&facts, &profile, stage, day);
        if shows_class(&account, LifecycleClass::BlackList) {
            prop_assert!(facts.overdue_receivables_usd.is_some_and(|o| o >= s.black_list_min_overdue_usd));
        }
        if shows_class(&account, LifecycleClass::Vip) {
            prop_assert!(
                facts.strategic_account == Some(true)
                    || facts.gross_profit_usd.is_some_and(|p| p >= s.vip_min_gross_profit_usd)
            );
        }
        if shows_class(&account, LifecycleClass::Adept) {
            prop_assert!(facts.share_of_wallet.is_some_and(|w| w >= s.adept_min_share_of_wallet));
            prop_assert!(shows_class(&account, LifecycleClass::Loyal));
        }
    }

    /// Shape: four factors and eight client types in order, points within
    /// their weights, a score in 0..=100 exactly when assessed.
    #[test]
    fn account_has_its_fixed_shape(
        (facts, day) in arb_case(),
        profile in arb_profile(),
        stage in arb_stage(),
    ) {
        let evaluation = evaluate(&facts, &profile, stage, day);
        let account = evaluation.account.as_ref().expect("every evaluation has an account");
        let value = &account.value;
        let factors: Vec<ValueFactor> = value.factors.iter().map(|f| f.factor).collect();
        prop_assert_eq!(&factors[..], ValueFactor::ALL);
        for (f, weight) in value.factors.iter().zip(profile.accounts.value_weights()) {
            prop_assert_eq!(f.weight, weight);
            prop_assert!((0.0..=f64::from(weight)).contains(&f.points), "{:?}", f);
            prop_assert_eq!(f.status == ValueStatus::Unknown, !f.missing_facts.is_empty());
        }
        let types: Vec<ClientType> = account.playbook.iter().map(|e| e.client_type).collect();
        prop_assert_eq!(&types[..], ClientType::ALL);
        for e in &account.playbook {
            prop_assert_eq!(e.status == PlaybookStatus::Unknown, e.missing_facts.len() == 1);
        }
        prop_assert_eq!(value.score.is_some(), value.status == ValueStatus::Assessed);
        prop_assert_eq!(value.tier.is_some(), value.score.is_some());
        if let Some(score) = value.score {
            prop_assert!((0..=100).contains(&score), "{}", score);
        }
        if account.knockout() {
            prop_assert_eq!(evaluation.outcome, Outcome::Disqualified);
        }
    }

    /// Churn follows §C: silence at or beyond the gap is a risk, for
    /// clients only.
    #[test]
    fn churn_follows_the_contact_gap(
        (facts, day) in arb_case(),
        profile in arb_profile(),
        stage in arb_stage(),
    ) {
        let account = assess(&facts, &profile, stage, day);
        let churn = &account.churn;
        let class = account.lifecycle.class;
        let gap = profile.accounts.churn_contact_gap_days;
        prop_assert_eq!(churn.threshold_days, gap);
        let expected = if matches!(
            class,
            LifecycleClass::Newbie | LifecycleClass::Prospect | LifecycleClass::BlackList
        ) {
            ChurnStatus::NotApplicable
        } else if facts.last_contact_date.is_none()
            || (facts.orders_count.is_none() && class != LifecycleClass::Vip)
        {
            ChurnStatus::Unknown
        } else if churn.days_since_last_contact.is_some_and(|d| d >= gap) {
            ChurnStatus::AtRisk
        } else {
            ChurnStatus::Ok
        };
        prop_assert_eq!(churn.status, expected, "{:?}", churn);
        let key = account.value.tier == Some(Tier::A)
            || matches!(class, LifecycleClass::Loyal | LifecycleClass::Adept | LifecycleClass::Vip);
        prop_assert_eq!(churn.urgent, churn.status == ChurnStatus::AtRisk && key);
    }

    /// Tenure is the largest n with first + n months on or before the day.
    #[test]
    fn tenure_is_the_largest_whole_number_of_months(
        first in (0i64..=4_000).prop_map(|d| date(2020, 1, 1).checked_add(d.days()).expect("in range")),
        later in 0i64..=2_000,
    ) {
        let on = first.checked_add(later.days()).expect("in range");
        let n = tenure_months(first, on);
        prop_assert!(n >= 0);
        prop_assert!(add_months(first, n) <= on, "{} + {} months", first, n);
        prop_assert!(add_months(first, n + 1) > on, "{} + {} months", first, n + 1);
    }

    /// The stored form reads back equal.
    #[test]
    fn account_round_trips_through_storage(
        (facts, day) in arb_case(),
        profile in arb_profile(),
        stage in arb_stage(),
    ) {
        let account = assess(&facts, &profile, stage, day);
        let json = serde_json::to_string(&account).expect("an account serialises");
        let back: Account = serde_json::from_str(&json).expect("and reads back");
        prop_assert_eq!(back, account);
    }
}
