//! The LeadQualificationService handlers: take the caller the guard let in,
//! validate, call the application, convert back.

use futures::StreamExt;
use tonic::{Request, Response, Status};

use super::guard::{authenticated, record_lead_id};
use super::pagination;
use super::status::invalid_argument;
use super::{bulk, convert, requests};
use crate::proto::v1 as pb;
use crate::proto::v1::lead_qualification_service_server::LeadQualificationService;
use crate::qualification::{OverrideVerdict, Qualifier};
use crate::watch::Watchers;

/// The gRPC face of [`Qualifier`] and of [`Watchers`].
#[derive(Clone)]
pub struct LeadQualificationApi {
    qualifier: Qualifier,
    watchers: Watchers,
}

impl LeadQualificationApi {
    /// Serves `qualifier` and `watchers` to callers the guard let in.
    pub fn new(qualifier: Qualifier, watchers: Watchers) -> Self {
        Self {
            qualifier,
            watchers,
        }
    }
}

#[tonic::async_trait]
impl LeadQualificationService for LeadQualificationApi {
    async fn qualify_lead(
        &self,
        request: Request<pb::QualifyLeadRequest>,
    ) -> Result<Response<pb::QualifyLeadResponse>, Status> {
        let (caller, request) = authenticated(request)?;
        let command = convert::qualify_command(request).map_err(|v| invalid_argument(&v))?;
        record_lead_id(command.lead_id.as_str());
        let qualified = self.qualifier.qualify(&caller.tenant, command).await?;
        // On the call's span, so that its one log line carries them.
        let span = tracing::Span::current();
        span.record("outcome", qualified.verdict.evaluation.outcome.code());
        span.record("score", qualified.verdict.evaluation.score);
        span.record("replayed", qualified.replayed);
        Ok(Response::new(convert::qualified_to_wire(&qualified)))
    }

    async fn get_lead(
        &self,
        request: Request<pb::GetLeadRequest>,
    ) -> Result<Response<pb::GetLeadResponse>, Status> {
        let (caller, request) = authenticated(request)?;
        let lead_id = requests::get_lead(&request).map_err(|v| invalid_argument(&v))?;
        record_lead_id(lead_id.as_str());
        let view = self.qualifier.get_lead(&caller.tenant, &lead_id).await?;
        Ok(Response::new(pb::GetLeadResponse {
            lead: Some(convert::lead_to_wire(&view)),
        }))
    }

    async fn list_leads(
        &self,
        request: Request<pb::ListLeadsRequest>,
    ) -> Result<Response<pb::ListLeadsResponse>, Status> {
        let (caller, request) = authenticated(request)?;
        let (filter, page) = requests::list_leads(&request).map_err(|v| invalid_argument(&v))?;
        let (views, more) = self
            .qualifier
            .list_leads(&caller.tenant, filter, page.position.as_deref(), page.size)
            .await?;
        let next_page_token =
            pagination::next_token(&page.scope, &views, more, |v| v.lead.lead_id.clone());
        Ok(Response::new(pb::ListLeadsResponse {
            leads: views.iter().map(convert::lead_to_wire).collect(),
            next_page_token,
        }))
    }

    async fn get_verdict(
        &self,
        request: Request<pb::GetVerdictRequest>,
    ) -> Result<Response<pb::GetVerdictResponse>, Status> {
        let (caller, request) = authenticated(request)?;
        let verdict_id = requests::get_verdict(&request).map_err(|v| invalid_argument(&v))?;
        let verdict = self
            .qualifier
            .get_verdict(&caller.tenant, verdict_id)
            .await?;
        record_lead_id(&verdict.lead_id);
        Ok(Response::new(pb::GetVerdictResponse {
            verdict: Some(convert::verdict_to_wire(&verdict)),
        }))
    }

    async fn list_verdicts(
        &self,
        request: Request<pb::ListVerdictsRequest>,
    ) -> Result<Response<pb::ListVerdictsResponse>, Status> {
        let (caller, request) = authenticated(request)?;
        let (lead_id, page) =
            requests::list_verdicts(&request).map_err(|v| invalid_argument(&v))?;
        record_lead_id(lead_id.as_str());
        let (verdicts, more) = self
            .qualifier
            .list_verdicts(&caller.tenant, &lead_id, page.position, page.size)
            .await?;
        let next_page_token = pagination::next_token(&page.scope, &verdicts, more, |v| v.seq);
        Ok(Response::new(pb::ListVerdictsResponse {
            verdicts: verdicts.iter().map(convert::verdict_to_wire).collect(),
            next_page_token,
        }))
    }

    async fn list_criteria(
        &self,
        request: Request<pb::ListCriteriaRequest>,
    ) -> Result<Response<pb::ListCriteriaResponse>, Status> {
        // The criteria are the same for every tenant; the call only has to
        // have passed the guard.
        authenticated(request)?;
        Ok(Response::new(pb::ListCriteriaResponse {
            criteria: convert::criteria_to_wire(),
            account: Some(super::account::catalogue()),
        }))
    }

    async fn get_profile(
        &self,
        request: Request<pb::GetProfileRequest>,
    ) -> Result<Response<pb::GetProfileResponse>, Status> {
        let (caller, request) = authenticated(request)?;
        let version = requests::get_profile(&request).map_err(|v| invalid_argument(&v))?;
        let profile = self.qualifier.get_profile(&caller.tenant, version).await?;
        Ok(Response::new(pb::GetProfileResponse {
            profile: Some(convert::profile_to_wire(&profile)),
        }))
    }

    async fn update_profile(
        &self,
        request: Request<pb::UpdateProfileRequest>,
    ) -> Result<Response<pb::UpdateProfileResponse>, Status> {
        let (caller, request) = authenticated(request)?;
        let (profile, expected_version) =
            requests::update_profile(request).map_err(|v| invalid_argument(&v))?;
        let stored = self
            .qualifier
            .update_profile(&caller.tenant, &caller.actor, profile, expected_version)
            .await?;
        tracing::info!(version = stored.version, "profile updated");
        Ok(Response::new(pb::UpdateProfileResponse {
            profile: Some(convert::profile_to_wire(&stored)),
        }))
    }

    async fn list_profile_versions(
        &self,
        request: Request<pb::ListProfileVersionsRequest>,
    ) -> Result<Response<pb::ListProfileVersionsResponse>, Status> {
        let (caller, request) = authenticated(request)?;
        let page = requests::list_profile_versions(&request).map_err(|v| invalid_argument(&v))?;
        let (profiles, more) = self
            .qualifier
            .list_profiles(&caller.tenant, page.position, page.size)
            .await?;
        let next_page_token = pagination::next_token(&page.scope, &profiles, more, |p| p.version);
        Ok(Response::new(pb::ListProfileVersionsResponse {
            profiles: profiles.iter().map(convert::profile_to_wire).collect(),
            next_page_token,
        }))
    }

    async fn override_verdict(
        &self,
        request: Request<pb::OverrideVerdictRequest>,
    ) -> Result<Response<pb::OverrideVerdictResponse>, Status> {
        let (caller, request) = authenticated(request)?;
        let command: OverrideVerdict =
            convert::override_command(request).map_err(|v| invalid_argument(&v))?;
        record_lead_id(command.lead_id.as_str());
        let (record, view) = self
            .qualifier
            .override_verdict(&caller.tenant, &caller.actor, command)
            .await?;
        tracing::info!(outcome = record.outcome.code(), "verdict overridden");
        Ok(Response::new(pb::OverrideVerdictResponse {
            r#override: Some(convert::override_to_wire(&record)),
            lead: Some(convert::lead_to_wire(&view)),
        }))
    }

    async fn clear_override(
        &self,
        request: Request<pb::ClearOverrideRequest>,
    ) -> Result<Response<pb::ClearOverrideResponse>, Status> {
        let (caller, request) = authenticated(request)?;
        let (lead_id, reason) =
            convert::clear_override_command(&request).map_err(|v| invalid_argument(&v))?;
        record_lead_id(lead_id.as_str());
        let (record, view) = self
            .qualifier
            .clear_override(&caller.tenant, &caller.actor, &lead_id, reason)
            .await?;
        tracing::info!(override_id = %record.override_id, "override cleared");
        Ok(Response::new(pb::ClearOverrideResponse {
            r#override: Some(convert::override_to_wire(&record)),
            lead: Some(convert::lead_to_wire(&view)),
        }))
    }

    async fn list_overrides(
        &self,
        request: Request<pb::ListOverridesRequest>,
    ) -> Result<Response<pb::ListOverridesResponse>, Status> {
        let (caller, request) = authenticated(request)?;
        let (lead_id, page) =
            requests::list_overrides(&request).map_err(|v| invalid_argument(&v))?;
        if let Some(lead_id) = &lead_id {
            record_lead_id(lead_id.as_str());
        }
        let (overrides, more) = self
            .qualifier
            .list_overrides(&caller.tenant, lead_id.as_ref(), page.position, page.size)
            .await?;
        let next_page_token = pagination::next_token(&page.scope, &overrides, more, |o| {
            (o.created_at.as_microsecond(), o.override_id.clone())
        });
        Ok(Response::new(pb::ListOverridesResponse {
            overrides: overrides.iter().map(convert::override_to_wire).collect(),
            next_page_token,
        }))
    }

    type QualifyLeadsStream = bulk::ResultStream;

    async fn qualify_leads(
        &self,
        request: Request<tonic::Streaming<pb::QualifyLeadsRequest>>,
    ) -> Result<Response<Self::QualifyLeadsStream>, Status> {
        let (caller, items) = authenticated(request)?;
        Ok(Response::new(bulk::qualify_leads(
            self.qualifier.clone(),
            caller.tenant,
            items,
        )))
    }

    async fn preview_profile(
        &self,
        request: Request<pb::PreviewProfileRequest>,
    ) -> Result<Response<pb::PreviewProfileResponse>, Status> {
        let (caller, request) = authenticated(request)?;
        let (profile, sample_size) =
            requests::preview_profile(request).map_err(|v| invalid_argument(&v))?;
        let preview = self
            .qualifier
            .preview_profile(&caller.tenant, profile, sample_size)
            .await?;
        tracing::info!(
            leads_evaluated = preview.leads_evaluated,
            leads_changed = preview.leads_changed,
            "profile previewed"
        );
        Ok(Response::new(convert::preview_to_wire(&preview)))
    }

    async fn get_signal_stats(
        &self,
        request: Request<pb::GetSignalStatsRequest>,
    ) -> Result<Response<pb::GetSignalStatsResponse>, Status> {
        let (caller, request) = authenticated(request)?;
        let (start, end, stage) =
            convert::signal_stats_query(&request).map_err(|v| invalid_argument(&v))?;
        let stats = self
            .qualifier
            .signal_stats(&caller.tenant, start, end, stage)
            .await?;
        Ok(Response::new(convert::signal_stats_to_wire(&stats)))
    }

    type WatchVerdictsStream =
        futures::stream::BoxStream<'static, Result<pb::WatchVerdictsResponse, Status>>;

    async fn watch_verdicts(
        &self,
        request: Request<pb::WatchVerdictsRequest>,
    ) -> Result<Response<Self::WatchVerdictsStream>, Status> {
        let (caller, request) = authenticated(request)?;
        let watch = requests::watch_verdicts(&request).map_err(|v| invalid_argument(&v))?;
        let verdicts = self.watchers.watch(&caller.tenant, watch).await?;
        Ok(Response::new(
            verdicts
                .map(|verdict| match verdict {
                    Ok(v) => Ok(pb::WatchVerdictsResponse {
                        verdict: Some(convert::verdict_to_wire(&v)),
                    }),
                    Err(e) => Err(Status::from(e)),
                })
                .boxed(),
        ))
    }
}
