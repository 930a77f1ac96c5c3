//! The LeadQualificationService handlers: validate, call the application,
//! convert back. One tracing span per call, with the lead id where there is
//! one.

use tonic::{Request, Response, Status};
use tracing::Instrument;

use super::convert;
use super::pagination;
use super::status::invalid_argument;
use crate::proto::v1 as pb;
use crate::proto::v1::lead_qualification_service_server::LeadQualificationService;
use std::sync::Arc;

use crate::auth::{Authenticator, Caller, Role};
use crate::domain::Violation;
use crate::qualification::{OverrideVerdict, Qualifier};
use crate::storage::LeadFilter;

/// The gRPC face of [`Qualifier`].
#[derive(Clone)]
pub struct LeadQualificationApi {
    qualifier: Qualifier,
    auth: Arc<Authenticator>,
}

impl LeadQualificationApi {
    pub fn new(qualifier: Qualifier, auth: Arc<Authenticator>) -> Self {
        Self { qualifier, auth }
    }

    async fn authorize(
        &self,
        authorization: Result<Option<String>, Status>,
        needed: Role,
    ) -> Result<Caller, Status> {
        authorize(&self.auth, authorization, needed).await
    }
}

/// The `authorization` metadata of a call, if any.
pub fn authorization<T>(request: &Request<T>) -> Result<Option<String>, Status> {
    match request.metadata().get("authorization") {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(|v| Some(v.to_owned()))
            .map_err(|_| Status::unauthenticated("authorization metadata must be text")),
    }
}

/// Authenticates the call and checks that its role includes `needed`. The
/// caller's key id and tenant are recorded on the call's span.
pub async fn authorize(
    auth: &Authenticator,
    authorization: Result<Option<String>, Status>,
    needed: Role,
) -> Result<Caller, Status> {
    let caller = auth.authenticate(authorization?.as_deref()).await?;
    caller.require(needed)?;
    let span = tracing::Span::current();
    span.record("tenant", caller.tenant.as_str());
    span.record("actor", caller.actor.as_str());
    Ok(caller)
}

/// The span of one call; `tenant` and `actor` are recorded once the caller is
/// known, and a qualification records its `outcome`, `score` and `replayed`.
pub fn rpc_span(rpc: &'static str, lead_id: &str) -> tracing::Span {
    tracing::info_span!(
        "rpc",
        rpc,
        lead_id = %lead_id,
        tenant = tracing::field::Empty,
        actor = tracing::field::Empty,
        outcome = tracing::field::Empty,
        score = tracing::field::Empty,
        replayed = tracing::field::Empty
    )
}

/// Runs a handler body in its span and logs how the call ended.
pub async fn traced<T>(
    span: tracing::Span,
    body: impl Future<Output = Result<T, Status>>,
) -> Result<Response<T>, Status> {
    async move {
        let result = body.await;
        match &result {
            Ok(_) => tracing::info!(code = "OK", "call completed"),
            Err(status) => {
                tracing::warn!(code = ?status.code(), message = status.message(), "call failed")
            }
        }
        result.map(Response::new)
    }
    .instrument(span)
    .await
}

#[tonic::async_trait]
impl LeadQualificationService for LeadQualificationApi {
    async fn qualify_lead(
        &self,
        request: Request<pb::QualifyLeadRequest>,
    ) -> Result<Response<pb::QualifyLeadResponse>, Status> {
        let auth = authorization(&request);
        let request = request.into_inner();
        let span = rpc_span("QualifyLead", &request.lead_id);
        traced(span, async move {
            let caller = self.authorize(auth, Role::Scorer).await?;
            let tenant = caller.tenant.as_str();
            let command = convert::qualify_command(request).map_err(|v| invalid_argument(&v))?;
            let qualified = self.qualifier.qualify(tenant, command).await?;
            // On the call's span, so that its one log line carries them.
            let span = tracing::Span::current();
            span.record("outcome", qualified.verdict.evaluation.outcome.code());
            span.record("score", qualified.verdict.evaluation.score);
            span.record("replayed", qualified.replayed);
            Ok(pb::QualifyLeadResponse {
                merged_facts: Some(convert::facts_to_wire(&qualified.verdict.facts)),
                verdict: Some(convert::verdict_to_wire(&qualified.verdict)),
                replayed: qualified.replayed,
            })
        })
        .await
    }

    async fn get_lead(
        &self,
        request: Request<pb::GetLeadRequest>,
    ) -> Result<Response<pb::GetLeadResponse>, Status> {
        let auth = authorization(&request);
        let request = request.into_inner();
        let span = rpc_span("GetLead", &request.lead_id);
        traced(span, async move {
            let caller = self.authorize(auth, Role::Reader).await?;
            let tenant = caller.tenant.as_str();
            let mut violations = Vec::new();
            let lead_id = convert::lead_id(&request.lead_id, "lead_id", &mut violations)
                .ok_or_else(|| invalid_argument(&violations))?;
            let view = self.qualifier.get_lead(tenant, &lead_id).await?;
            Ok(pb::GetLeadResponse {
                lead: Some(convert::lead_to_wire(&view)),
            })
        })
        .await
    }

    async fn list_leads(
        &self,
        request: Request<pb::ListLeadsRequest>,
    ) -> Result<Response<pb::ListLeadsResponse>, Status> {
        let auth = authorization(&request);
        let request = request.into_inner();
        traced(rpc_span("ListLeads", ""), async move {
            let caller = self.authorize(auth, Role::Reader).await?;
            let tenant = caller.tenant.as_str();
            let mut violations = Vec::new();
            let stage = convert::optional_enum(
                request.stage,
                "stage",
                convert::stage_from_wire,
                &mut violations,
            );
            let outcome = convert::optional_enum(
                request.outcome,
                "outcome",
                convert::outcome_from_wire,
                &mut violations,
            );
            let scope = format!("leads|stage={}|outcome={}", request.stage, request.outcome);
            let (size, after) = pagination::parse::<String>(
                request.page_size,
                &request.page_token,
                &scope,
                &mut violations,
            );
            if !violations.is_empty() {
                return Err(invalid_argument(&violations));
            }
            let (views, more) = self
                .qualifier
                .list_leads(
                    tenant,
                    LeadFilter { stage, outcome },
                    after.as_deref(),
                    size,
                )
                .await?;
            let next_page_token =
                pagination::next_token(&scope, &views, more, |v| v.lead.lead_id.clone());
            Ok(pb::ListLeadsResponse {
                leads: views.iter().map(convert::lead_to_wire).collect(),
                next_page_token,
            })
        })
        .await
    }

    async fn get_verdict(
        &self,
        request: Request<pb::GetVerdictRequest>,
    ) -> Result<Response<pb::GetVerdictResponse>, Status> {
        let auth = authorization(&request);
        let request = request.into_inner();
        traced(rpc_span("GetVerdict", ""), async move {
            let caller = self.authorize(auth, Role::Reader).await?;
            let tenant = caller.tenant.as_str();
            if request.verdict_id.trim().is_empty() {
                return Err(invalid_argument(&[Violation::new(
                    "verdict_id",
                    "must not be empty",
                )]));
            }
            let verdict = self
                .qualifier
                .get_verdict(tenant, &request.verdict_id)
                .await?;
            tracing::Span::current().record("lead_id", verdict.lead_id.as_str());
            Ok(pb::GetVerdictResponse {
                verdict: Some(convert::verdict_to_wire(&verdict)),
            })
        })
        .await
    }

    async fn list_verdicts(
        &self,
        request: Request<pb::ListVerdictsRequest>,
    ) -> Result<Response<pb::ListVerdictsResponse>, Status> {
        let auth = authorization(&request);
        let request = request.into_inner();
        let span = rpc_span("ListVerdicts", &request.lead_id);
        traced(span, async move {
            let caller = self.authorize(auth, Role::Reader).await?;
            let tenant = caller.tenant.as_str();
            let mut violations = Vec::new();
            let lead_id = convert::lead_id(&request.lead_id, "lead_id", &mut violations);
            let scope = format!("verdicts|lead={}", request.lead_id);
            let (size, before) = pagination::parse::<i64>(
                request.page_size,
                &request.page_token,
                &scope,
                &mut violations,
            );
            let Some(lead_id) = lead_id.filter(|_| violations.is_empty()) else {
                return Err(invalid_argument(&violations));
            };
            let (verdicts, more) = self
                .qualifier
                .list_verdicts(tenant, &lead_id, before, size)
                .await?;
            let next_page_token = pagination::next_token(&scope, &verdicts, more, |v| v.seq);
            Ok(pb::ListVerdictsResponse {
                verdicts: verdicts.iter().map(convert::verdict_to_wire).collect(),
                next_page_token,
            })
        })
        .await
    }

    async fn list_criteria(
        &self,
        request: Request<pb::ListCriteriaRequest>,
    ) -> Result<Response<pb::ListCriteriaResponse>, Status> {
        let auth = authorization(&request);
        traced(rpc_span("ListCriteria", ""), async move {
            self.authorize(auth, Role::Reader).await?;
            Ok(pb::ListCriteriaResponse {
                criteria: convert::criteria_to_wire(),
            })
        })
        .await
    }

    async fn get_profile(
        &self,
        request: Request<pb::GetProfileRequest>,
    ) -> Result<Response<pb::GetProfileResponse>, Status> {
        let auth = authorization(&request);
        let request = request.into_inner();
        traced(rpc_span("GetProfile", ""), async move {
            let caller = self.authorize(auth, Role::Reader).await?;
            let tenant = caller.tenant.as_str();
            if request.version < 0 {
                return Err(invalid_argument(&[Violation::new(
                    "version",
                    format!("must be >= 0, got {}", request.version),
                )]));
            }
            let profile = self.qualifier.get_profile(tenant, request.version).await?;
            Ok(pb::GetProfileResponse {
                profile: Some(convert::profile_to_wire(&profile)),
            })
        })
        .await
    }

    async fn update_profile(
        &self,
        request: Request<pb::UpdateProfileRequest>,
    ) -> Result<Response<pb::UpdateProfileResponse>, Status> {
        let auth = authorization(&request);
        let request = request.into_inner();
        traced(rpc_span("UpdateProfile", ""), async move {
            let caller = self.authorize(auth, Role::Admin).await?;
            let tenant = caller.tenant.as_str();
            let mut violations = Vec::new();
            let Some(wire) = request.profile else {
                return Err(invalid_argument(&[Violation::new(
                    "profile",
                    "is required",
                )]));
            };
            let profile = convert::profile(wire, &mut violations);
            if let Some(expected) = request.expected_version
                && expected < 1
            {
                violations.push(Violation::new(
                    "expected_version",
                    format!("must be >= 1, got {expected}"),
                ));
            }
            if !violations.is_empty() {
                return Err(invalid_argument(&violations));
            }
            let stored = self
                .qualifier
                .update_profile(tenant, &caller.actor, profile, request.expected_version)
                .await?;
            tracing::info!(version = stored.version, "profile updated");
            Ok(pb::UpdateProfileResponse {
                profile: Some(convert::profile_to_wire(&stored)),
            })
        })
        .await
    }

    async fn list_profile_versions(
        &self,
        request: Request<pb::ListProfileVersionsRequest>,
    ) -> Result<Response<pb::ListProfileVersionsResponse>, Status> {
        let auth = authorization(&request);
        let request = request.into_inner();
        traced(rpc_span("ListProfileVersions", ""), async move {
            let caller = self.authorize(auth, Role::Reader).await?;
            let tenant = caller.tenant.as_str();
            let mut violations = Vec::new();
            let scope = "profiles";
            let (size, before) = pagination::parse::<i64>(
                request.page_size,
                &request.page_token,
                scope,
                &mut violations,
            );
            if !violations.is_empty() {
                return Err(invalid_argument(&violations));
            }
            let (profiles, more) = self.qualifier.list_profiles(tenant, before, size).await?;
            let next_page_token = pagination::next_token(scope, &profiles, more, |p| p.version);
            Ok(pb::ListProfileVersionsResponse {
                profiles: profiles.iter().map(convert::profile_to_wire).collect(),
                next_page_token,
            })
        })
        .await
    }

    async fn override_verdict(
        &self,
        request: Request<pb::OverrideVerdictRequest>,
    ) -> Result<Response<pb::OverrideVerdictResponse>, Status> {
        let auth = authorization(&request);
        let request = request.into_inner();
        let span = rpc_span("OverrideVerdict", &request.lead_id);
        traced(span, async move {
            let caller = self.authorize(auth, Role::Scorer).await?;
            let command: OverrideVerdict =
                convert::override_command(request).map_err(|v| invalid_argument(&v))?;
            let (record, view) = self
                .qualifier
                .override_verdict(&caller.tenant, &caller.actor, command)
                .await?;
            tracing::info!(outcome = record.outcome.code(), "verdict overridden");
            Ok(pb::OverrideVerdictResponse {
                r#override: Some(convert::override_to_wire(&record)),
                lead: Some(convert::lead_to_wire(&view)),
            })
        })
        .await
    }
}
