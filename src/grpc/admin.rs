//! The AdminService handlers: API keys and the audit trail of the caller's
//! tenant. Every call needs the admin role (see [`super::guard::RPC_ROLES`]).

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::convert;
use super::guard::{authenticated, record_lead_id};
use super::pagination;
use super::requests;
use super::status::invalid_argument;
use crate::auth::Authenticator;
use crate::proto::v1 as pb;
use crate::proto::v1::admin_service_server::AdminService;
use crate::qualification::Qualifier;

/// The gRPC face of key management and the audit trail.
#[derive(Clone)]
pub struct AdminApi {
    qualifier: Qualifier,
    auth: Arc<Authenticator>,
}

impl AdminApi {
    /// Manages keys through `auth` and reads the audit trail through `qualifier`.
    pub fn new(qualifier: Qualifier, auth: Arc<Authenticator>) -> Self {
        Self { qualifier, auth }
    }
}

#[tonic::async_trait]
impl AdminService for AdminApi {
    async fn create_api_key(
        &self,
        request: Request<pb::CreateApiKeyRequest>,
    ) -> Result<Response<pb::CreateApiKeyResponse>, Status> {
        let (caller, request) = authenticated(request)?;
        if caller.is_keyless() {
            // Whoever minted the first key over the wire would lock every
            // other local client out: the operator makes it.
            return Err(Status::permission_denied(
                "the first API key is created by the operator with \
                 `leadqual keys create --tenant NAME --role admin`, not over the wire",
            ));
        }
        let (roles, description) =
            requests::create_api_key(&request).map_err(|v| invalid_argument(&v))?;
        let issued = self
            .auth
            .issue(&caller.tenant, &roles, description, &caller.actor)
            .await?;
        tracing::info!(key_id = %issued.key_id, "api key created");
        Ok(Response::new(pb::CreateApiKeyResponse {
            api_key: Some(convert::api_key_to_wire(&issued.record)),
            secret: issued.secret,
        }))
    }

    async fn list_api_keys(
        &self,
        request: Request<pb::ListApiKeysRequest>,
    ) -> Result<Response<pb::ListApiKeysResponse>, Status> {
        let (caller, request) = authenticated(request)?;
        let page = requests::list_api_keys(&request).map_err(|v| invalid_argument(&v))?;
        let (keys, more) = self
            .auth
            .list(
                &caller.tenant,
                request.show_revoked,
                page.position,
                page.size,
            )
            .await?;
        let next_page_token = pagination::next_token(&page.scope, &keys, more, |k| {
            (k.created_at.as_microsecond(), k.key_id.clone())
        });
        Ok(Response::new(pb::ListApiKeysResponse {
            api_keys: keys.iter().map(convert::api_key_to_wire).collect(),
            next_page_token,
        }))
    }

    async fn revoke_api_key(
        &self,
        request: Request<pb::RevokeApiKeyRequest>,
    ) -> Result<Response<pb::RevokeApiKeyResponse>, Status> {
        let (caller, request) = authenticated(request)?;
        let key_id = requests::revoke_api_key(&request).map_err(|v| invalid_argument(&v))?;
        let key = self
            .auth
            .revoke(&caller.tenant, key_id, &caller.actor)
            .await?;
        tracing::info!(key_id = %key.key_id, "api key revoked");
        Ok(Response::new(pb::RevokeApiKeyResponse {
            api_key: Some(convert::api_key_to_wire(&key)),
        }))
    }

    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        let (caller, request) = authenticated(request)?;
        let (filter, page) =
            requests::list_audit_events(&request).map_err(|v| invalid_argument(&v))?;
        if let Some(lead_id) = &filter.lead_id {
            record_lead_id(lead_id);
        }
        let (events, more) = self
            .qualifier
            .list_audit_events(&caller.tenant, &filter, page.position, page.size)
            .await?;
        let next_page_token = pagination::next_token(&page.scope, &events, more, |e| e.seq);
        Ok(Response::new(pb::ListAuditEventsResponse {
            audit_events: events.iter().map(convert::audit_event_to_wire).collect(),
            next_page_token,
        }))
    }
}
