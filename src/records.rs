//! What leadqual keeps: leads, verdicts, profile versions, API keys,
//! overrides and the audit trail. The application makes these records, storage keeps them
//! and the API shows them.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Deserializer};

use crate::domain::access::Role;
use crate::domain::{Evaluation, Facts, Outcome, Profile, Stage};

/// A lead as stored: its merged facts and where it stands.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct StoredLead {
    pub tenant: String,
    pub lead_id: String,
    pub stage: Stage,
    pub facts: Facts,
    /// Grows by one on every stored qualification; used for optimistic
    /// concurrency between concurrent updates of the same lead.
    pub revision: i64,
    pub latest_verdict_id: Option<String>,
    pub latest_outcome: Option<Outcome>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A lead as read for display: with its latest verdict and its newest
/// override, active or not.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredLeadView {
    pub lead: StoredLead,
    pub latest_verdict: Option<VerdictRecord>,
    pub latest_override: Option<OverrideRecord>,
}

/// An immutable verdict with everything needed to explain it later.
#[derive(Clone, Debug, PartialEq)]
pub struct VerdictRecord {
    pub verdict_id: String,
    pub tenant: String,
    pub lead_id: String,
    /// Position in the lead's history, from 1.
    pub seq: i64,
    pub evaluation: Evaluation,
    pub profile_version: i64,
    /// The merged facts the verdict was computed over.
    pub facts: Facts,
    pub facts_hash: String,
    pub request_id: Option<String>,
    pub evaluated_at: Timestamp,
    pub evaluation_date: Date,
}

/// One immutable profile version of a tenant.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ProfileVersion {
    pub tenant: String,
    pub version: i64,
    pub profile: Profile,
    pub created_at: Timestamp,
}

/// An API key as stored: never the secret, only its hash.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ApiKeyRecord {
    pub key_id: String,
    pub tenant: String,
    /// SHA-256 (hex) of the full key.
    pub secret_hash: String,
    #[serde(deserialize_with = "roles_from_text")]
    pub roles: Vec<Role>,
    pub description: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

/// An outcome set by hand for a lead.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct OverrideRecord {
    pub override_id: String,
    pub tenant: String,
    pub lead_id: String,
    pub outcome: Outcome,
    pub reason: String,
    pub author: String,
    /// The key that made it, "cli" or "unauthenticated".
    pub actor: String,
    /// The lead's latest computed verdict at the time.
    pub verdict_id: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    /// When it was withdrawn; it applies no more.
    pub cleared_at: Option<Timestamp>,
}

impl OverrideRecord {
    /// Whether it still applies at `now`: not expired, not withdrawn.
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.cleared_at.is_none() && self.expires_at.is_none_or(|at| at > now)
    }
}

/// What an audit event records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuditKind {
    ProfileUpdated,
    ApiKeyCreated,
    ApiKeyRevoked,
    VerdictOverridden,
    OverrideCleared,
}

impl AuditKind {
    /// The code stored and shown, as serde reads it.
    pub fn code(self) -> &'static str {
        match self {
            AuditKind::ProfileUpdated => "PROFILE_UPDATED",
            AuditKind::ApiKeyCreated => "API_KEY_CREATED",
            AuditKind::ApiKeyRevoked => "API_KEY_REVOKED",
            AuditKind::VerdictOverridden => "VERDICT_OVERRIDDEN",
            AuditKind::OverrideCleared => "OVERRIDE_CLEARED",
        }
    }
}

/// One append-only audit record.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct AuditEvent {
    /// Storage order; 0 for an event not stored yet.
    pub seq: i64,
    pub event_id: String,
    pub tenant: String,
    pub kind: AuditKind,
    pub actor: String,
    pub lead_id: Option<String>,
    pub subject: String,
    /// JSON, or empty when there was nothing before / after.
    pub before_json: String,
    pub after_json: String,
    pub created_at: Timestamp,
}

impl AuditEvent {
    /// A new event of `kind` by `actor` at `at`, not stored yet; before,
    /// after and lead are empty until set.
    pub fn new(
        tenant: &str,
        kind: AuditKind,
        actor: &str,
        subject: String,
        at: Timestamp,
    ) -> AuditEvent {
        AuditEvent {
            seq: 0,
            event_id: uuid::Uuid::now_v7().to_string(),
            tenant: tenant.to_owned(),
            kind,
            actor: actor.to_owned(),
            lead_id: None,
            subject,
            before_json: String::new(),
            after_json: String::new(),
            created_at: at,
        }
    }
}

/// Roles as stored: comma-separated codes.
pub fn roles_to_text(roles: &[Role]) -> String {
    roles.iter().map(|r| r.code()).collect::<Vec<_>>().join(",")
}

fn roles_from_text<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Role>, D::Error> {
    String::deserialize(d)?
        .split(',')
        .filter(|r| !r.is_empty())
        .map(|r| Role::from_code(r).ok_or_else(|| format!("unknown stored role {r:?}")))
        .collect::<Result<_, _>>()
        .map_err(serde::de::Error::custom)
}
