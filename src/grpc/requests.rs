//! What each call checks before it reaches the application: one function
//! per request message, from the wire to the values the call runs with, or
//! every violation found. Handlers answer the violations with
//! [`super::status::invalid_argument`]; nothing here stores or reads.

use jiff::Timestamp;

use super::convert;
use super::pagination;
use crate::auth::Role;
use crate::domain::account::{ChurnStatus, LifecycleClass, Tier};
use crate::domain::{LeadId, Profile, Violation};
use crate::proto::v1 as pb;
use crate::storage::{AuditFilter, LeadFilter};
use crate::watch::WatchVerdicts;

/// A page of a listing: how many items, after which position, and the
/// scope its next page token carries.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<C> {
    pub size: i64,
    pub position: Option<C>,
    pub scope: String,
}

/// The position of a newest-first listing: create time and id.
pub type NewestFirst = (Timestamp, String);

type Checked<T> = Result<T, Vec<Violation>>;

/// Longest verdict or key id looked up, in characters: the service's own
/// are far shorter (a UUID, 12 hex digits).
const MAX_LOOKUP_ID_CHARS: usize = 128;

/// A verdict or key id to look up: not blank, and bounded.
fn lookup_id<'a>(value: &'a str, field: &str, blank: &str) -> Checked<&'a str> {
    if value.trim().is_empty() {
        return Err(vec![Violation::new(field, blank)]);
    }
    let chars = value.chars().count();
    if chars > MAX_LOOKUP_ID_CHARS {
        return Err(vec![Violation::new(
            field,
            format!("must be at most {MAX_LOOKUP_ID_CHARS} characters, got {chars}"),
        )]);
    }
    Ok(value)
}

fn done<T>(value: T, violations: Vec<Violation>) -> Checked<T> {
    if violations.is_empty() {
        Ok(value)
    } else {
        Err(violations)
    }
}

pub fn get_lead(r: &pb::GetLeadRequest) -> Checked<LeadId> {
    let mut violations = Vec::new();
    convert::lead_id(&r.lead_id, "lead_id", &mut violations).ok_or(violations)
}

pub fn list_leads(r: &pb::ListLeadsRequest) -> Checked<(LeadFilter, Page<String>)> {
    let mut violations = Vec::new();
    let stage = convert::optional_enum(r.stage, "stage", convert::stage_from_wire, &mut violations);
    let outcome = convert::optional_enum(
        r.outcome,
        "outcome",
        convert::outcome_from_wire,
        &mut violations,
    );
    let effective_outcome = convert::optional_enum(
        r.effective_outcome,
        "effective_outcome",
        convert::outcome_from_wire,
        &mut violations,
    );
    let lifecycle_class = convert::optional_enum(
        r.lifecycle_class,
        "lifecycle_class",
        LifecycleClass::from_number,
        &mut violations,
    );
    let value_tier = convert::optional_enum(
        r.value_tier,
        "value_tier",
        Tier::from_number,
        &mut violations,
    );
    let churn_status = convert::optional_enum(
        r.churn_status,
        "churn_status",
        ChurnStatus::from_number,
        &mut violations,
    );
    let scope = format!(
        "leads|stage={}|outcome={}|effective={}|class={}|tier={}|churn={}",
        r.stage, r.outcome, r.effective_outcome, r.lifecycle_class, r.value_tier, r.churn_status
    );
    let (size, position) =
        pagination::parse::<String>(r.page_size, &r.page_token, &scope, &mut violations);
    let filter = LeadFilter {
        stage,
        outcome,
        effective_outcome,
        lifecycle_class,
        value_tier,
        churn_status,
    };
    done(
        (
            filter,
            Page {
                size,
                position,
                scope,
            },
        ),
        violations,
    )
}

pub fn get_verdict(r: &pb::GetVerdictRequest) -> Checked<&str> {
    lookup_id(&r.verdict_id, "verdict_id", "must not be empty")
}

pub fn list_verdicts(r: &pb::ListVerdictsRequest) -> Checked<(LeadId, Page<i64>)> {
    let mut violations = Vec::new();
    let lead_id = convert::lead_id(&r.lead_id, "lead_id", &mut violations);
    let scope = format!("verdicts|lead={}", r.lead_id);
    let (size, position) =
        pagination::parse::<i64>(r.page_size, &r.page_token, &scope, &mut violations);
    match lead_id {
        Some(lead_id) if violations.is_empty() => Ok((
            lead_id,
            Page {
                size,
                position,
                scope,
            },
        )),
        _ => Err(violations),
    }
}

/// The version asked for; 0 is the current one.
pub fn get_profile(r: &pb::GetProfileRequest) -> Checked<i64> {
    if r.version < 0 {
        return Err(vec![Violation::new(
            "version",
            format!("must be >= 0, got {}", r.version),
        )]);
    }
    Ok(r.version)
}

/// The new profile and the version it must replace, if the caller said.
pub fn update_profile(r: pb::UpdateProfileRequest) -> Checked<(Profile, Option<i64>)> {
    let Some(wire) = r.profile else {
        return Err(vec![Violation::new("profile", "is required")]);
    };
    let mut violations = Vec::new();
    let profile = convert::profile(wire, &mut violations);
    if let Some(expected) = r.expected_version
        && expected < 1
    {
        violations.push(Violation::new(
            "expected_version",
            format!("must be >= 1, got {expected}"),
        ));
    }
    done((profile, r.expected_version), violations)
}

pub fn list_profile_versions(r: &pb::ListProfileVersionsRequest) -> Checked<Page<i64>> {
    let mut violations = Vec::new();
    let scope = "profiles".to_owned();
    let (size, position) =
        pagination::parse::<i64>(r.page_size, &r.page_token, &scope, &mut violations);
    done(
        Page {
            size,
            position,
            scope,
        },
        violations,
    )
}

pub fn list_overrides(
    r: &pb::ListOverridesRequest,
) -> Checked<(Option<LeadId>, Page<NewestFirst>)> {
    let mut violations = Vec::new();
    let lead_id = convert::optional_lead_id(&r.lead_id, "lead_id", &mut violations);
    let scope = format!("overrides|lead={}", r.lead_id);
    let (size, after) =
        pagination::parse::<(i64, String)>(r.page_size, &r.page_token, &scope, &mut violations);
    let position = pagination::newest_first_position(after);
    done(
        (
            lead_id,
            Page {
                size,
                position,
                scope,
            },
        ),
        violations,
    )
}

/// The candidate profile and how many changed leads to return.
pub fn preview_profile(r: pb::PreviewProfileRequest) -> Checked<(Profile, usize)> {
    let mut violations = Vec::new();
    let profile = match r.profile {
        Some(wire) => Some(convert::profile(wire, &mut violations)),
        None => {
            violations.push(Violation::new("profile", "is required"));
            None
        }
    };
    let sample_size = convert::preview_sample_size(r.sample_size, &mut violations);
    match profile {
        Some(profile) if violations.is_empty() => Ok((profile, sample_size)),
        _ => Err(violations),
    }
}

pub fn watch_verdicts(r: &pb::WatchVerdictsRequest) -> Checked<WatchVerdicts> {
    let mut violations = Vec::new();
    let outcome = convert::optional_enum(
        r.outcome,
        "outcome",
        convert::outcome_from_wire,
        &mut violations,
    );
    let since_verdict_id = match r.since_verdict_id.as_str() {
        "" => None,
        id => uuid::Uuid::try_parse(id)
            .map_err(|_| {
                violations.push(Violation::new(
                    "since_verdict_id",
                    "must be a verdict id (a UUID) or empty",
                ))
            })
            .ok(),
    };
    done(
        WatchVerdicts {
            outcome,
            since_verdict_id,
        },
        violations,
    )
}

/// The roles of the new key, and its description (checked when issued).
pub fn create_api_key(r: &pb::CreateApiKeyRequest) -> Checked<(Vec<Role>, &str)> {
    let mut violations = Vec::new();
    let roles = convert::roles_from_wire(&r.roles, &mut violations);
    done((roles, r.description.trim()), violations)
}

pub fn list_api_keys(r: &pb::ListApiKeysRequest) -> Checked<Page<NewestFirst>> {
    let mut violations = Vec::new();
    let scope = format!("keys|revoked={}", r.show_revoked);
    let (size, after) =
        pagination::parse::<(i64, String)>(r.page_size, &r.page_token, &scope, &mut violations);
    let position = pagination::newest_first_position(after);
    done(
        Page {
            size,
            position,
            scope,
        },
        violations,
    )
}

pub fn revoke_api_key(r: &pb::RevokeApiKeyRequest) -> Checked<&str> {
    lookup_id(r.key_id.trim(), "key_id", "is required")
}

pub fn list_audit_events(r: &pb::ListAuditEventsRequest) -> Checked<(AuditFilter, Page<i64>)> {
    let mut violations = Vec::new();
    let kind = convert::audit_kind_from_wire(r.kind).unwrap_or_else(|()| {
        violations.push(Violation::new("kind", "is not a known audit event kind"));
        None
    });
    let lead_id = convert::optional_lead_id(&r.lead_id, "lead_id", &mut violations)
        .map(|id| id.as_str().to_owned());
    let scope = format!("audit|kind={}|lead={}", r.kind, r.lead_id);
    let (size, position) =
        pagination::parse::<i64>(r.page_size, &r.page_token, &scope, &mut violations);
    done(
        (
            AuditFilter { kind, lead_id },
            Page {
                size,
                position,
                scope,
            },
        ),
        violations,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_to_look_up_are_bounded() {
        let long = "7".repeat(4000);
        let verdict = pb::GetVerdictRequest {
            verdict_id: long.clone(),
        };
        let violations = get_verdict(&verdict).expect_err("refused");
        assert_eq!(violations[0].field, "verdict_id");
        assert!(violations[0].description.contains("at most 128"));
        let key = pb::RevokeApiKeyRequest {
            key_id: long.clone(),
        };
        assert_eq!(
            revoke_api_key(&key).expect_err("refused")[0].field,
            "key_id"
        );

        let uuid = "0190a8e2-7a4c-7cc1-9e0b-8f2d3c4b5a61";
        let verdict = pb::GetVerdictRequest {
            verdict_id: uuid.into(),
        };
        assert_eq!(get_verdict(&verdict), Ok(uuid));
        let key = pb::RevokeApiKeyRequest {
            key_id: " a1b2c3d4e5f6 ".into(),
        };
        assert_eq!(revoke_api_key(&key), Ok("a1b2c3d4e5f6"));
    }

    #[test]
    fn the_roles_of_a_key_are_a_bounded_list() {
        let request = pb::CreateApiKeyRequest {
            roles: vec![9; 100_000],
            description: String::new(),
        };
        let violations = create_api_key(&request).expect_err("refused");
        assert_eq!(violations.len(), 1, "one violation for the whole list");
        assert_eq!(violations[0].field, "roles");
        let request = pb::CreateApiKeyRequest {
            roles: vec![pb::Role::Reader as i32, pb::Role::Admin as i32, 9],
            description: String::new(),
        };
        let violations = create_api_key(&request).expect_err("refused");
        assert_eq!(violations[0].field, "roles[2]");
    }
}
