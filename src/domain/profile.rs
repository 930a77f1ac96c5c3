//! The seller's ideal customer profile and the rule settings.

use std::collections::BTreeMap;

use jiff::civil::Time;
use jiff::tz::TimeZone;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::countries::is_iso_alpha2;
use super::criteria::{CATALOGUE, Criterion};
use super::violation::Violation;

/// A validated IANA time zone name with its resolved rules.
#[derive(Clone, Debug)]
pub struct ZoneName {
    name: String,
    zone: TimeZone,
}

impl ZoneName {
    /// Accepts a name known to the IANA time zone database, e.g. `Europe/Berlin`.
    pub fn parse(name: &str) -> Result<Self, String> {
        let zone =
            TimeZone::get(name).map_err(|_| format!("\"{name}\" is not a known IANA time zone"))?;
        Ok(Self {
            name: name.to_owned(),
            zone,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }
}

impl PartialEq for ZoneName {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Serialize for ZoneName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name)
    }
}

impl<'de> Deserialize<'de> for ZoneName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        ZoneName::parse(&name).map_err(serde::de::Error::custom)
    }
}

/// A daily window in local time.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BusinessHours {
    pub start: Time,
    pub end: Time,
}

impl Default for BusinessHours {
    /// 09:00–18:00, the SPEC default for both the seller and the lead.
    fn default() -> Self {
        Self {
            start: Time::constant(9, 0, 0, 0),
            end: Time::constant(18, 0, 0, 0),
        }
    }
}

impl BusinessHours {
    /// Parses "HH:MM" strings; `end` must be after `start`.
    pub fn parse(start: &str, end: &str) -> Result<Self, (&'static str, String)> {
        let start_time = parse_hh_mm(start).map_err(|e| ("start", e))?;
        let end_time = parse_hh_mm(end).map_err(|e| ("end", e))?;
        if end_time <= start_time {
            return Err(("end", format!("must be after start ({start})")));
        }
        Ok(Self {
            start: start_time,
            end: end_time,
        })
    }
}

fn parse_hh_mm(value: &str) -> Result<Time, String> {
    let invalid = || format!("\"{value}\" is not a time of day as HH:MM");
    let (h, m) = value.split_once(':').ok_or_else(invalid)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(invalid());
    }
    let hour: i8 = h.parse().map_err(|_| invalid())?;
    let minute: i8 = m.parse().map_err(|_| invalid())?;
    Time::new(hour, minute, 0, 0).map_err(|_| invalid())
}

/// Thresholds of the contact, study and recommendation rules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Thresholds {
    pub max_disrespectful_incidents: i32,
    pub min_answer_ratio: f64,
    pub max_contradictions: i32,
    pub min_plan_completion: f64,
    pub min_budget_usd: Option<i64>,
    pub min_staff: Option<i32>,
    pub max_missed_sessions: i32,
    pub min_assignment_completion: f64,
    pub max_meeting_disruptions: i32,
    pub max_agreed_not_done: i32,
    pub max_material_repeats_allowed: i32,
}

impl Default for Thresholds {
    /// The SPEC's defaults.
    fn default() -> Self {
        Self {
            max_disrespectful_incidents: 1,
            min_answer_ratio: 0.5,
            max_contradictions: 2,
            min_plan_completion: 0.5,
            min_budget_usd: None,
            min_staff: None,
            max_missed_sessions: 2,
            min_assignment_completion: 0.5,
            max_meeting_disruptions: 3,
            max_agreed_not_done: 2,
            max_material_repeats_allowed: 3,
        }
    }
}

/// The settings of the account section (SPEC-ACCOUNTS): value factors and
/// tiers, lifecycle classes, churn and the handling playbook. Stored inside
/// the profile; a profile stored before them reads back with the defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountSettings {
    pub value_weight_profit: i32,
    pub value_weight_referrals: i32,
    pub value_weight_tenure: i32,
    pub value_weight_cost_to_serve: i32,
    pub value_profit_target_usd: i64,
    pub value_referrals_target: i32,
    pub value_tenure_target_months: i32,
    pub tier_a_min_score: i32,
    pub tier_b_min_score: i32,
    pub black_list_min_overdue_usd: i64,
    pub vip_min_gross_profit_usd: i64,
    pub adept_min_share_of_wallet: f64,
    pub loyal_min_orders: i32,
    pub loyal_min_tenure_months: i32,
    pub black_list_knockout: bool,
    pub churn_contact_gap_days: i32,
    pub playbook_min_progress_requests_per_week: f64,
    pub playbook_min_decision_postponements: i32,
    pub playbook_min_rush_requests: i32,
    pub playbook_min_median_reply_days: f64,
    pub playbook_min_out_of_scope_changes: i32,
    pub playbook_min_discount_requested_pct: f64,
}

impl Default for AccountSettings {
    /// The SPEC-ACCOUNTS defaults.
    fn default() -> Self {
        Self {
            value_weight_profit: 50,
            value_weight_referrals: 20,
            value_weight_tenure: 15,
            value_weight_cost_to_serve: 15,
            value_profit_target_usd: 50_000,
            value_referrals_target: 3,
            value_tenure_target_months: 36,
            tier_a_min_score: 70,
            tier_b_min_score: 40,
            black_list_min_overdue_usd: 10_000,
            vip_min_gross_profit_usd: 100_000,
            adept_min_share_of_wallet: 0.9,
            loyal_min_orders: 3,
            loyal_min_tenure_months: 6,
            black_list_knockout: true,
            churn_contact_gap_days: 90,
            playbook_min_progress_requests_per_week: 3.0,
            playbook_min_decision_postponements: 2,
            playbook_min_rush_requests: 2,
            playbook_min_median_reply_days: 3.0,
            playbook_min_out_of_scope_changes: 2,
            playbook_min_discount_requested_pct: 20.0,
        }
    }
}

/// The largest amount in US dollars a setting or fact may hold: a trillion,
/// far above any real account, far below where sums could overflow.
pub const MAX_USD: i64 = 1_000_000_000_000;

impl AccountSettings {
    /// The value weights in factor order: profit, referrals, tenure, cost to serve.
    pub fn value_weights(&self) -> [i32; 4] {
        [
            self.value_weight_profit,
            self.value_weight_referrals,
            self.value_weight_tenure,
            self.value_weight_cost_to_serve,
        ]
    }

    /// Ranges and cross-field rules; field paths are `{prefix}.{setting}`.
    pub fn violations(&self, prefix: &str, out: &mut Vec<Violation>) {
        let field = |name: &str| format!("{prefix}.{name}");
        for (name, value) in [
            ("value_weight_profit", self.value_weight_profit),
            ("value_weight_referrals", self.value_weight_referrals),
            ("value_weight_tenure", self.value_weight_tenure),
            (
                "value_weight_cost_to_serve",
                self.value_weight_cost_to_serve,
            ),
        ] {
            if !(0..=100).contains(&value) {
                out.push(Violation::new(
                    field(name),
                    format!("must be between 0 and 100, got {value}"),
                ));
            }
        }
        let [p, r, t, c] = self.value_weights().map(i64::from);
        if p + r + t + c != 100 {
            out.push(Violation::new(
                field("value_weight_profit"),
                format!(
                    "the four value weights must sum to 100, got {p} + {r} + {t} + {c} = {}",
                    p + r + t + c
                ),
            ));
        }
        for (name, value, min, max) in [
            (
                "value_profit_target_usd",
                self.value_profit_target_usd,
                1,
                MAX_USD,
            ),
            (
                "value_referrals_target",
                self.value_referrals_target.into(),
                1,
                1_000_000,
            ),
            (
                "value_tenure_target_months",
                self.value_tenure_target_months.into(),
                1,
                1200,
            ),
            ("tier_a_min_score", self.tier_a_min_score.into(), 1, 100),
            ("tier_b_min_score", self.tier_b_min_score.into(), 1, 100),
            (
                "black_list_min_overdue_usd",
                self.black_list_min_overdue_usd,
                1,
                MAX_USD,
            ),
            (
                "vip_min_gross_profit_usd",
                self.vip_min_gross_profit_usd,
                1,
                MAX_USD,
            ),
            (
                "loyal_min_orders",
                self.loyal_min_orders.into(),
                1,
                1_000_000,
            ),
            (
                "loyal_min_tenure_months",
                self.loyal_min_tenure_months.into(),
                0,
                1200,
            ),
            (
                "churn_contact_gap_days",
                self.churn_contact_gap_days.into(),
                1,
                36_600,
            ),
            (
                "playbook_min_decision_postponements",
                self.playbook_min_decision_postponements.into(),
                1,
                1_000_000,
            ),
            (
                "playbook_min_rush_requests",
                self.playbook_min_rush_requests.into(),
                1,
                1_000_000,
            ),
            (
                "playbook_min_out_of_scope_changes",
                self.playbook_min_out_of_scope_changes.into(),
                1,
                1_000_000,
            ),
        ] {
            if !(min..=max).contains(&value) {
                out.push(Violation::new(
                    field(name),
                    format!("must be between {min} and {max}, got {value}"),
                ));
            }
        }
        if self.tier_a_min_score <= self.tier_b_min_score {
            out.push(Violation::new(
                field("tier_a_min_score"),
                format!(
                    "must be above tier_b_min_score ({}), got {}",
                    self.tier_b_min_score, self.tier_a_min_score
                ),
            ));
        }
        for (name, value, min, max) in [
            (
                "adept_min_share_of_wallet",
                self.adept_min_share_of_wallet,
                0.0,
                1.0,
            ),
            (
                "playbook_min_progress_requests_per_week",
                self.playbook_min_progress_requests_per_week,
                0.0,
                1000.0,
            ),
            (
                "playbook_min_median_reply_days",
                self.playbook_min_median_reply_days,
                0.0,
                3660.0,
            ),
            (
                "playbook_min_discount_requested_pct",
                self.playbook_min_discount_requested_pct,
                0.0,
                100.0,
            ),
        ] {
            // A minimum of 0 would match every client; NaN matches nothing.
            if !(value > min && value <= max) {
                out.push(Violation::new(
                    field(name),
                    format!("must be above {min} and at most {max}, got {value}"),
                ));
            }
        }
    }
}

/// One weight (0–100) per criterion, stored by code so that adding a
/// criterion keeps old profiles readable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Weights([i32; Criterion::COUNT]);

impl Default for Weights {
    fn default() -> Self {
        let mut weights = [0; Criterion::COUNT];
        for def in &CATALOGUE {
            weights[def.criterion.index()] = def.default_weight;
        }
        Self(weights)
    }
}

impl Weights {
    pub fn get(&self, criterion: Criterion) -> i32 {
        self.0[criterion.index()]
    }

    pub fn set(&mut self, criterion: Criterion, weight: i32) {
        self.0[criterion.index()] = weight;
    }
}

impl Serialize for Weights {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let map: BTreeMap<&str, i32> = CATALOGUE
            .iter()
            .map(|d| (d.code, self.get(d.criterion)))
            .collect();
        map.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Weights {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, i32>::deserialize(d)?;
        let mut weights = Weights::default();
        for (code, weight) in map {
            let criterion = Criterion::from_code(&code)
                .ok_or_else(|| serde::de::Error::custom(format!("unknown criterion {code}")))?;
            weights.set(criterion, weight);
        }
        Ok(weights)
    }
}

/// The ideal customer profile and rule settings. An empty list or unset bound
/// means "no restriction".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Profile {
    pub min_employees: Option<i64>,
    pub max_employees: Option<i64>,
    pub min_annual_revenue_usd: Option<i64>,
    pub max_annual_revenue_usd: Option<i64>,
    pub target_verticals: Vec<String>,
    pub target_business_models: Vec<String>,
    pub territories: Vec<String>,
    pub countries: Vec<String>,
    pub seller_timezone: Option<ZoneName>,
    pub seller_business_hours: BusinessHours,
    pub min_overlap_hours: f64,
    pub thresholds: Thresholds,
    pub weights: Weights,
    /// Sorted, without duplicates.
    pub knockouts: Vec<Criterion>,
    pub review_threshold: i32,
    pub disqualify_threshold: i32,
    /// The account section's settings.
    pub accounts: AccountSettings,
}

impl Default for Profile {
    /// SPEC defaults with no restrictions in the lists.
    fn default() -> Self {
        Self {
            min_employees: None,
            max_employees: None,
            min_annual_revenue_usd: None,
            max_annual_revenue_usd: None,
            target_verticals: Vec::new(),
            target_business_models: Vec::new(),
            territories: Vec::new(),
            countries: Vec::new(),
            seller_timezone: None,
            seller_business_hours: BusinessHours::default(),
            min_overlap_hours: 3.0,
            thresholds: Thresholds::default(),
            weights: Weights::default(),
            knockouts: Vec::new(),
            review_threshold: 30,
            disqualify_threshold: 60,
            accounts: AccountSettings::default(),
        }
    }
}

impl Profile {
    /// Whether `criterion` disqualifies on its own when fired.
    pub fn is_knockout(&self, criterion: Criterion) -> bool {
        self.knockouts.contains(&criterion)
    }

    /// Checks the cross-field rules and ranges; field paths are prefixed with
    /// `prefix` (e.g. `profile`). An empty result means the profile is valid.
    pub fn violations(&self, prefix: &str) -> Vec<Violation> {
        let mut out = Vec::new();
        let field = |name: &str| format!("{prefix}.{name}");
        let mut non_negative = |name: &str, value: Option<i64>| {
            if let Some(v) = value
                && v < 0
            {
                out.push(Violation::new(
                    field(name),
                    format!("must be >= 0, got {v}"),
                ));
            }
        };
        non_negative("min_employees", self.min_employees);
        non_negative("max_employees", self.max_employees);
        non_negative("min_annual_revenue_usd", self.min_annual_revenue_usd);
        non_negative("max_annual_revenue_usd", self.max_annual_revenue_usd);
        non_negative("min_budget_usd", self.thresholds.min_budget_usd);
        non_negative("min_staff", self.thresholds.min_staff.map(i64::from));
        if let (Some(min), Some(max)) = (self.min_employees, self.max_employees)
            && min > max
        {
            out.push(Violation::new(
                field("max_employees"),
                format!("must be >= min_employees ({min}), got {max}"),
            ));
        }
        if let (Some(min), Some(max)) = (self.min_annual_revenue_usd, self.max_annual_revenue_usd)
            && min > max
        {
            out.push(Violation::new(
                field("max_annual_revenue_usd"),
                format!("must be >= min_annual_revenue_usd ({min}), got {max}"),
            ));
        }
        for (name, list) in [
            ("target_verticals", &self.target_verticals),
            ("target_business_models", &self.target_business_models),
            ("territories", &self.territories),
        ] {
            for (i, value) in list.iter().enumerate() {
                if value.trim().is_empty() {
                    out.push(Violation::new(
                        format!("{prefix}.{name}[{i}]"),
                        "must not be empty",
                    ));
                }
            }
        }
        for (i, code) in self.countries.iter().enumerate() {
            if !is_iso_alpha2(code) {
                out.push(Violation::new(
                    format!("{prefix}.countries[{i}]"),
                    format!("\"{code}\" is not an ISO 3166-1 alpha-2 country code (e.g. \"DE\")"),
                ));
            }
        }
        if !(0.0..=24.0).contains(&self.min_overlap_hours) {
            out.push(Violation::new(
                field("min_overlap_hours"),
                format!("must be between 0 and 24, got {}", self.min_overlap_hours),
            ));
        }
        let t = &self.thresholds;
        for (name, value) in [
            ("max_disrespectful_incidents", t.max_disrespectful_incidents),
            ("max_contradictions", t.max_contradictions),
            ("max_missed_sessions", t.max_missed_sessions),
            ("max_meeting_disruptions", t.max_meeting_disruptions),
            ("max_agreed_not_done", t.max_agreed_not_done),
        ] {
            if value < 1 {
                out.push(Violation::new(
                    field(name),
                    format!("must be >= 1, got {value}"),
                ));
            }
        }
        if t.max_material_repeats_allowed < 0 {
            out.push(Violation::new(
                field("max_material_repeats_allowed"),
                format!("must be >= 0, got {}", t.max_material_repeats_allowed),
            ));
        }
        for (name, value) in [
            ("min_answer_ratio", t.min_answer_ratio),
            ("min_plan_completion", t.min_plan_completion),
            ("min_assignment_completion", t.min_assignment_completion),
        ] {
            if !(0.0..=1.0).contains(&value) {
                out.push(Violation::new(
                    field(name),
                    format!("must be between 0 and 1, got {value}"),
                ));
            }
        }
        for def in &CATALOGUE {
            let weight = self.weights.get(def.criterion);
            if !(0..=100).contains(&weight) {
                out.push(Violation::new(
                    field("weights"),
                    format!(
                        "weight of {} must be between 0 and 100, got {weight}",
                        def.code
                    ),
                ));
            }
        }
        for (name, value) in [
            ("review_threshold", self.review_threshold),
            ("disqualify_threshold", self.disqualify_threshold),
        ] {
            if !(1..=100).contains(&value) {
                out.push(Violation::new(
                    field(name),
                    format!("must be between 1 and 100, got {value}"),
                ));
            }
        }
        if self.review_threshold > self.disqualify_threshold {
            out.push(Violation::new(
                field("review_threshold"),
                format!(
                    "must be <= disqualify_threshold ({}), got {}",
                    self.disqualify_threshold, self.review_threshold
                ),
            ));
        }
        self.accounts.violations(prefix, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profile_is_valid_and_has_spec_defaults() {
        let profile = Profile::default();
        assert!(profile.violations("profile").is_empty());
        assert_eq!(profile.review_threshold, 30);
        assert_eq!(profile.disqualify_threshold, 60);
        assert_eq!(profile.min_overlap_hours, 3.0);
        assert_eq!(profile.weights.get(Criterion::OutsideTerritory), 40);
        assert_eq!(profile.weights.get(Criterion::RepeatedExplanations), 15);
    }

    #[test]
    fn stored_form_round_trips() {
        let mut profile = Profile {
            countries: vec!["DE".into()],
            seller_timezone: Some(ZoneName::parse("Europe/Berlin").unwrap()),
            knockouts: vec![Criterion::OutsideTerritory],
            ..Profile::default()
        };
        profile.weights.set(Criterion::MagicWand, 70);
        let json = serde_json::to_string(&profile).unwrap();
        let back: Profile = serde_json::from_str(&json).unwrap();
        assert_eq!(back, profile);
    }

    #[test]
    fn stored_thresholds_read_back_to_the_same_bits() {
        // Stored as JSON text (SQLite) or JSONB (PostgreSQL) and parsed back:
        // a float must come back exactly, or a verdict at the threshold could
        // differ from the one the profile was validated and previewed with.
        let profile = Profile {
            min_overlap_hours: 3.0000018402934074,
            thresholds: Thresholds {
                min_answer_ratio: 0.1 + 0.2,
                min_plan_completion: 0.0002447963348903015,
                ..Thresholds::default()
            },
            ..Profile::default()
        };
        let json = serde_json::to_string(&profile).unwrap();
        let back: Profile = serde_json::from_str(&json).unwrap();
        assert_eq!(
            back.min_overlap_hours.to_bits(),
            profile.min_overlap_hours.to_bits(),
            "{json}"
        );
        assert_eq!(back, profile);
    }

    #[test]
    fn inverted_bounds_and_out_of_range_settings_are_violations() {
        let mut profile = Profile {
            min_employees: Some(500),
            max_employees: Some(10),
            countries: vec!["XX".into()],
            review_threshold: 70,
            ..Profile::default()
        };
        profile.weights.set(Criterion::Disorganized, 101);
        let fields: Vec<String> = profile
            .violations("profile")
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert!(fields.contains(&"profile.max_employees".to_string()));
        assert!(fields.contains(&"profile.countries[0]".to_string()));
        assert!(fields.contains(&"profile.weights".to_string()));
        assert!(fields.contains(&"profile.review_threshold".to_string()));
    }

    #[test]
    fn business_hours_parse_hh_mm_and_require_end_after_start() {
        assert!(BusinessHours::parse("08:30", "17:00").is_ok());
        assert!(BusinessHours::parse("9:00", "17:00").is_err());
        assert!(BusinessHours::parse("18:00", "09:00").is_err());
        assert!(BusinessHours::parse("25:00", "26:00").is_err());
    }
}
