//! The account section on the wire: the new facts and profile settings of
//! SPEC-ACCOUNTS checked field by field, the verdict's account section, and
//! its catalogue. Domain enums carry the numbers of their proto enums.

use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::domain::Violation;
use crate::domain::account::{
    Account, ClientType, LifecycleClass, PRECEDENCE, ValueFactor, advice, class_action,
};
use crate::domain::profile::AccountSettings;
use crate::proto::v1 as pb;

/// Largest rate or day count accepted for a handling fact.
const MAX_RATE: f64 = 100_000.0;

/// Today (UTC), the evaluation date of a qualification made now: no date
/// fact may be after it.
fn today() -> Date {
    crate::qualification::now().to_zoned(TimeZone::UTC).date()
}

/// A `YYYY-MM-DD` date fact, not after today. The value is not echoed: it
/// may be long.
pub fn date(value: Option<String>, field: &str, v: &mut Vec<Violation>) -> Option<Date> {
    let value = value?;
    let parsed = (value.len() == 10)
        .then(|| value.parse::<Date>().ok())
        .flatten();
    match parsed {
        None => {
            v.push(Violation::new(
                field,
                "must be a date as YYYY-MM-DD, e.g. 2026-01-31",
            ));
            None
        }
        Some(d) if d > today() => {
            v.push(Violation::new(
                field,
                format!("{d} is in the future; today is {}", today()),
            ));
            None
        }
        Some(d) => Some(d),
    }
}

/// A number within `[0, max]`.
pub fn within(value: Option<f64>, max: f64, field: &str, v: &mut Vec<Violation>) -> Option<f64> {
    let value = value?;
    if value.is_finite() && (0.0..=max).contains(&value) {
        Some(value)
    } else {
        v.push(Violation::new(
            field,
            format!("must be between 0 and {max}, got {value}"),
        ));
        None
    }
}

/// A rate or a number of days: finite and >= 0.
pub fn rate(value: Option<f64>, field: &str, v: &mut Vec<Violation>) -> Option<f64> {
    within(value, MAX_RATE, field, v)
}

/// Applies `$apply` to every account setting, by its name in both
/// `AccountSettings` and `pb::Profile`: one list for both directions.
macro_rules! account_settings {
    ($apply:ident) => {
        $apply!(
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
            playbook_min_progress_requests_per_week,
            playbook_min_decision_postponements,
            playbook_min_rush_requests,
            playbook_min_median_reply_days,
            playbook_min_out_of_scope_changes,
            playbook_min_discount_requested_pct,
        )
    };
}

/// A profile's account settings; unset ones take their defaults. Ranges and
/// cross-field rules are checked with the rest of the profile.
pub fn settings(p: &pb::Profile) -> AccountSettings {
    let d = AccountSettings::default();
    macro_rules! from_wire {
        ($($name:ident),+ $(,)?) => {
            AccountSettings { $($name: p.$name.unwrap_or(d.$name)),+ }
        };
    }
    account_settings!(from_wire)
}

/// Spells out every account setting of a resolved profile.
pub fn settings_to_wire(s: &AccountSettings, p: &mut pb::Profile) {
    macro_rules! to_wire {
        ($($name:ident),+ $(,)?) => {
            $(p.$name = Some(s.$name);)+
        };
    }
    account_settings!(to_wire);
}

fn names(missing: &[std::borrow::Cow<'static, str>]) -> Vec<String> {
    missing.iter().map(|n| n.to_string()).collect()
}

/// A verdict's account section; its words are written here.
pub fn account_to_wire(a: &Account) -> pb::Account {
    let value = &a.value;
    let life = &a.lifecycle;
    let churn = &a.churn;
    pb::Account {
        value: Some(pb::ClientValue {
            status: value.status.number(),
            score: value.score,
            tier: value.tier.map(|t| t.number()).unwrap_or_default(),
            factors: value
                .factors
                .iter()
                .map(|f| pb::ValueFactorScore {
                    factor: f.factor.number(),
                    status: f.status.number(),
                    weight: f.weight,
                    points: f.points,
                    evidence: f.evidence.to_string(),
                    missing_facts: names(&f.missing_facts),
                })
                .collect(),
            missing_facts: names(&value.missing_facts),
        }),
        lifecycle: Some(pb::Lifecycle {
            class: life.class.number(),
            also_matched: life.also_matched.iter().map(|c| c.number()).collect(),
            evidence: life.evidence.to_string(),
            action: life.action.to_string(),
            missing_facts: names(&life.missing_facts),
            knockout: life.knockout,
        }),
        churn: Some(pb::ChurnRisk {
            status: churn.status.number(),
            days_since_last_contact: churn.days_since_last_contact,
            threshold_days: churn.threshold_days,
            urgent: churn.urgent,
            action: churn.action.to_string(),
            evidence: churn.evidence.to_string(),
            missing_facts: names(&churn.missing_facts),
        }),
        playbook: a
            .playbook
            .iter()
            .map(|e| pb::PlaybookEntry {
                client_type: e.client_type.number(),
                status: e.status.number(),
                evidence: e.evidence.to_string(),
                advice: e.advice.to_string(),
                missing_facts: names(&e.missing_facts),
            })
            .collect(),
    }
}

fn strings<const N: usize>(items: [String; N]) -> Vec<String> {
    items.into()
}

fn texts(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// The account section's catalogue, its defaults taken from the settings'.
pub fn catalogue() -> pb::AccountCatalogue {
    let d = AccountSettings::default();
    let factor = |factor: ValueFactor, description: &str, facts: &[&str], settings: Vec<String>| {
        pb::ValueFactorInfo {
            factor: factor.number(),
            code: factor.code().to_owned(),
            description: description.to_owned(),
            facts_read: texts(facts),
            default_settings: settings,
        }
    };
    let value_factors = vec![
        factor(
            ValueFactor::Profit,
            "gross profit against a target: profit, not the number of sales, makes a client \
             valuable",
            &["gross_profit_usd"],
            strings([
                format!("value_weight_profit = {}", d.value_weight_profit),
                format!("value_profit_target_usd = {}", d.value_profit_target_usd),
            ]),
        ),
        factor(
            ValueFactor::Referrals,
            "clients they brought us, against a target",
            &["referrals_count"],
            strings([
                format!("value_weight_referrals = {}", d.value_weight_referrals),
                format!("value_referrals_target = {}", d.value_referrals_target),
            ]),
        ),
        factor(
            ValueFactor::Tenure,
            "whole months since the first purchase, against a target",
            &["first_purchase_date"],
            strings([
                format!("value_weight_tenure = {}", d.value_weight_tenure),
                format!(
                    "value_tenure_target_months = {}",
                    d.value_tenure_target_months
                ),
            ]),
        ),
        factor(
            ValueFactor::CostToServe,
            "1 - cost to serve / gross profit: cheap to win and serve; 0 when profit is not \
             positive",
            &["cost_to_serve_usd", "gross_profit_usd"],
            strings([format!(
                "value_weight_cost_to_serve = {}",
                d.value_weight_cost_to_serve
            )]),
        ),
    ];
    let class_info = |class: LifecycleClass| -> pb::LifecycleClassInfo {
        let (rule, facts, settings): (&str, &[&str], Vec<String>) = match class {
            LifecycleClass::BlackList => (
                "overdue_receivables_usd >= black_list_min_overdue_usd",
                &["overdue_receivables_usd"],
                strings([
                    format!(
                        "black_list_min_overdue_usd = {}",
                        d.black_list_min_overdue_usd
                    ),
                    format!("black_list_knockout = {}", d.black_list_knockout),
                ]),
            ),
            LifecycleClass::Vip => (
                "strategic_account, or gross_profit_usd >= vip_min_gross_profit_usd",
                &["strategic_account", "gross_profit_usd"],
                strings([format!(
                    "vip_min_gross_profit_usd = {}",
                    d.vip_min_gross_profit_usd
                )]),
            ),
            LifecycleClass::Adept => (
                "LOYAL and share_of_wallet >= adept_min_share_of_wallet",
                &["orders_count", "first_purchase_date", "share_of_wallet"],
                strings([format!(
                    "adept_min_share_of_wallet = {}",
                    d.adept_min_share_of_wallet
                )]),
            ),
            LifecycleClass::Loyal => (
                "orders_count >= loyal_min_orders and tenure_months >= loyal_min_tenure_months",
                &["orders_count", "first_purchase_date"],
                strings([
                    format!("loyal_min_orders = {}", d.loyal_min_orders),
                    format!("loyal_min_tenure_months = {}", d.loyal_min_tenure_months),
                ]),
            ),
            LifecycleClass::Buyer => (
                "orders_count >= 1, not LOYAL",
                &["orders_count"],
                Vec::new(),
            ),
            LifecycleClass::Prospect => (
                "orders_count = 0, stage CONTACT or later",
                &["orders_count"],
                Vec::new(),
            ),
            LifecycleClass::Newbie => (
                "orders_count = 0, stage IDENTIFICATION",
                &["orders_count"],
                Vec::new(),
            ),
            LifecycleClass::Unknown => (
                "orders_count unknown, or >= loyal_min_orders with first_purchase_date unknown, \
                 and no higher class established",
                &["orders_count", "first_purchase_date"],
                Vec::new(),
            ),
        };
        let precedence = PRECEDENCE
            .iter()
            .position(|c| *c == class)
            .map_or(PRECEDENCE.len() + 1, |i| i + 1);
        pb::LifecycleClassInfo {
            class: class.number(),
            code: class.code().to_owned(),
            precedence: i32::try_from(precedence).unwrap_or(i32::MAX),
            rule: rule.to_owned(),
            facts_read: texts(facts),
            default_settings: settings,
            action: class_action(class).to_owned(),
        }
    };
    let type_info = |client_type: ClientType| -> pb::ClientTypeInfo {
        let (rule, fact, setting) = match client_type {
            ClientType::ControlSeeker => (
                "progress_requests_per_week >= playbook_min_progress_requests_per_week",
                "progress_requests_per_week",
                format!(
                    "playbook_min_progress_requests_per_week = {}",
                    d.playbook_min_progress_requests_per_week
                ),
            ),
            ClientType::NoSpec => (
                "has_written_spec is false",
                "has_written_spec",
                String::new(),
            ),
            ClientType::Indecisive => (
                "decision_postponements >= playbook_min_decision_postponements",
                "decision_postponements",
                format!(
                    "playbook_min_decision_postponements = {}",
                    d.playbook_min_decision_postponements
                ),
            ),
            ClientType::Urgent => (
                "rush_requests >= playbook_min_rush_requests",
                "rush_requests",
                format!(
                    "playbook_min_rush_requests = {}",
                    d.playbook_min_rush_requests
                ),
            ),
            ClientType::ResultOnly => (
                "median_reply_days >= playbook_min_median_reply_days",
                "median_reply_days",
                format!(
                    "playbook_min_median_reply_days = {}",
                    d.playbook_min_median_reply_days
                ),
            ),
            ClientType::ScopeCreep => (
                "out_of_scope_changes >= playbook_min_out_of_scope_changes",
                "out_of_scope_changes",
                format!(
                    "playbook_min_out_of_scope_changes = {}",
                    d.playbook_min_out_of_scope_changes
                ),
            ),
            ClientType::HotTempered => (
                "disrespectful_incidents >= max_disrespectful_incidents (the DISRESPECTFUL \
                 criterion's setting)",
                "disrespectful_incidents",
                format!(
                    "max_disrespectful_incidents = {}",
                    crate::domain::Thresholds::default().max_disrespectful_incidents
                ),
            ),
            ClientType::DiscountHunter => (
                "discount_requested_pct >= playbook_min_discount_requested_pct",
                "discount_requested_pct",
                format!(
                    "playbook_min_discount_requested_pct = {}",
                    d.playbook_min_discount_requested_pct
                ),
            ),
        };
        pb::ClientTypeInfo {
            client_type: client_type.number(),
            code: client_type.code().to_owned(),
            rule: rule.to_owned(),
            facts_read: vec![fact.to_owned()],
            default_settings: if setting.is_empty() {
                Vec::new()
            } else {
                vec![setting]
            },
            advice: advice(client_type).to_owned(),
        }
    };
    pb::AccountCatalogue {
        value_factors,
        lifecycle_classes: PRECEDENCE
            .iter()
            .copied()
            .chain([LifecycleClass::Unknown])
            .map(class_info)
            .collect(),
        client_types: ClientType::ALL.iter().copied().map(type_info).collect(),
        default_settings: strings([
            format!("tier_a_min_score = {}", d.tier_a_min_score),
            format!("tier_b_min_score = {}", d.tier_b_min_score),
            format!("black_list_knockout = {}", d.black_list_knockout),
            format!("churn_contact_gap_days = {}", d.churn_contact_gap_days),
        ]),
        churn_rule: "AT_RISK when the days since last_contact_date reach \
                     churn_contact_gap_days, else OK; NOT_APPLICABLE for NEWBIE, PROSPECT and \
                     BLACK_LIST; UNKNOWN when last_contact_date (or, unless VIP, orders_count) \
                     is unknown; urgent when at risk and tier A, LOYAL, ADEPT or VIP"
            .to_owned(),
    }
}
