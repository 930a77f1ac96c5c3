//! What is known about a lead. Every fact is optional: `None` is unknown,
//! which is different from zero or false.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How the lead engages with the seller over time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EngagementPattern {
    Steady,
    Impulsive,
    Lethargic,
    Swinging,
}

/// How much the lead prioritises the problem the product solves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Priority {
    High,
    Normal,
    Low,
    NotNow,
}

impl EngagementPattern {
    pub fn label(self) -> &'static str {
        match self {
            Self::Steady => "steady",
            Self::Impulsive => "impulsive",
            Self::Lethargic => "lethargic",
            Self::Swinging => "swinging between impulsive and lethargic",
        }
    }
}

impl Priority {
    pub fn label(self) -> &'static str {
        match self {
            Self::High => "high",
            Self::Normal => "normal",
            Self::Low => "low",
            Self::NotNow => "not now",
        }
    }
}

/// The facts about a lead, as merged over the life of a deal.
///
/// Serialised to JSON (unknown facts omitted) for storage; that JSON is also
/// what the facts hash is computed over, so field order here is part of the
/// stored format.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Facts {
    // Identification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub employee_count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annual_revenue_usd: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vertical: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business_model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub territory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    // Contact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disrespectful_incidents: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emotional_only_responses: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engagement_pattern: Option<EngagementPattern>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub questions_asked: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub questions_answered: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insists_on_own_process: Option<bool>,
    // Study.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contradictory_statements: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_steps_agreed: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_steps_completed: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_usd: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staff_available: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missed_sessions: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    // Recommendation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expects_magic_wand: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignments_given: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignments_completed: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meetings_cancelled: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meetings_rescheduled: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agreed_actions_not_done: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_material_repeats: Option<i32>,
    // Account (SPEC-ACCOUNTS A).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orders_count: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gross_profit_usd: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrals_count: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_purchase_date: Option<Date>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_to_serve_usd: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_of_wallet: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overdue_receivables_usd: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategic_account: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_contact_date: Option<Date>,
    // Handling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress_requests_per_week: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_written_spec: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_postponements: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rush_requests: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median_reply_days: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out_of_scope_changes: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discount_requested_pct: Option<f64>,
}

macro_rules! merge_fields {
    ($stored:expr, $update:expr, $($field:ident),+ $(,)?) => {
        Facts { $($field: $update.$field.clone().or_else(|| $stored.$field.clone())),+ }
    };
}

impl Facts {
    /// The facts after an update: facts set in `update` replace the stored
    /// ones, facts it leaves unknown keep their stored value.
    pub fn merged_with(&self, update: &Facts) -> Facts {
        merge_fields!(
            self,
            update,
            employee_count,
            annual_revenue_usd,
            vertical,
            business_model,
            territory,
            country,
            timezone,
            disrespectful_incidents,
            emotional_only_responses,
            engagement_pattern,
            questions_asked,
            questions_answered,
            insists_on_own_process,
            contradictory_statements,
            plan_steps_agreed,
            plan_steps_completed,
            budget_usd,
            staff_available,
            missed_sessions,
            priority,
            expects_magic_wand,
            assignments_given,
            assignments_completed,
            meetings_cancelled,
            meetings_rescheduled,
            agreed_actions_not_done,
            max_material_repeats,
            orders_count,
            gross_profit_usd,
            referrals_count,
            first_purchase_date,
            cost_to_serve_usd,
            share_of_wallet,
            overdue_receivables_usd,
            strategic_account,
            last_contact_date,
            progress_requests_per_week,
            has_written_spec,
            decision_postponements,
            rush_requests,
            median_reply_days,
            out_of_scope_changes,
            discount_requested_pct,
        )
    }

    /// The stored form: compact JSON, unknown facts omitted.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("facts always serialise")
    }

    /// Reads the stored form back.
    pub fn from_json(json: &str) -> Result<Facts, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// SHA-256 (hex) of the stored form: equal facts give equal hashes.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.to_json().as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_set_in_an_update_replace_stored_ones_and_unset_facts_are_kept() {
        let stored = Facts {
            employee_count: Some(40),
            vertical: Some("saas".into()),
            meetings_cancelled: Some(1),
            ..Facts::default()
        };
        let update = Facts {
            employee_count: Some(55),
            meetings_rescheduled: Some(2),
            ..Facts::default()
        };
        let merged = stored.merged_with(&update);
        assert_eq!(merged.employee_count, Some(55));
        assert_eq!(merged.vertical.as_deref(), Some("saas"));
        assert_eq!(merged.meetings_cancelled, Some(1));
        assert_eq!(merged.meetings_rescheduled, Some(2));
        assert_eq!(merged.budget_usd, None);
    }

    #[test]
    fn zero_and_false_are_known_facts_not_unknown() {
        let stored = Facts {
            missed_sessions: Some(3),
            expects_magic_wand: Some(true),
            ..Facts::default()
        };
        let update = Facts {
            missed_sessions: Some(0),
            expects_magic_wand: Some(false),
            ..Facts::default()
        };
        let merged = stored.merged_with(&update);
        assert_eq!(merged.missed_sessions, Some(0));
        assert_eq!(merged.expects_magic_wand, Some(false));
    }

    #[test]
    fn stored_form_round_trips_and_hash_is_stable() {
        let facts = Facts {
            country: Some("DE".into()),
            priority: Some(Priority::NotNow),
            engagement_pattern: Some(EngagementPattern::Swinging),
            ..Facts::default()
        };
        let json = facts.to_json();
        assert_eq!(
            json,
            r#"{"country":"DE","engagement_pattern":"SWINGING","priority":"NOT_NOW"}"#
        );
        assert_eq!(Facts::from_json(&json).unwrap(), facts);
        assert_eq!(facts.hash(), facts.clone().hash());
        assert_ne!(facts.hash(), Facts::default().hash());
    }
}
