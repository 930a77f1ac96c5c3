//! The AdminService handlers: API keys and the audit trail of the caller's
//! tenant. Every call needs the admin role.

use std::sync::Arc;

use jiff::Timestamp;
use tonic::{Request, Response, Status};

use super::convert;
use super::pagination;
use super::service::{authorization, authorize, rpc_span, traced};
use super::status::invalid_argument;
use crate::auth::{self, Authenticator, Role};
use crate::domain::Violation;
use crate::proto::v1 as pb;
use crate::proto::v1::admin_service_server::AdminService;
use crate::qualification::Qualifier;
use crate::storage::AuditFilter;

/// The gRPC face of key management and the audit trail.
#[derive(Clone)]
pub struct AdminApi {
    qualifier: Qualifier,
    auth: Arc<Authenticator>,
}

impl AdminApi {
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
        let credentials = authorization(&request);
        let request = request.into_inner();
        traced(rpc_span("CreateApiKey", ""), async move {
            let caller = authorize(&self.auth, credentials, Role::Admin).await?;
            let mut violations = Vec::new();
            let roles = convert::roles_from_wire(&request.roles, &mut violations);
            if !violations.is_empty() {
                return Err(invalid_argument(&violations));
            }
            let issued = auth::issue_key(
                self.qualifier.storage(),
                &caller.tenant,
                &roles,
                request.description.trim(),
                &caller.actor,
            )
            .await?;
            tracing::info!(key_id = %issued.key_id, "api key created");
            Ok(pb::CreateApiKeyResponse {
                api_key: Some(convert::api_key_to_wire(&issued.record)),
                secret: issued.secret,
            })
        })
        .await
    }

    async fn list_api_keys(
        &self,
        request: Request<pb::ListApiKeysRequest>,
    ) -> Result<Response<pb::ListApiKeysResponse>, Status> {
        let credentials = authorization(&request);
        let request = request.into_inner();
        traced(rpc_span("ListApiKeys", ""), async move {
            let caller = authorize(&self.auth, credentials, Role::Admin).await?;
            let mut violations = Vec::new();
            let scope = format!("keys|revoked={}", request.show_revoked);
            let (size, after) = pagination::parse::<(i64, String)>(
                request.page_size,
                &request.page_token,
                &scope,
                &mut violations,
            );
            if !violations.is_empty() {
                return Err(invalid_argument(&violations));
            }
            let after = after.and_then(|(micros, key_id)| {
                Timestamp::from_microsecond(micros)
                    .ok()
                    .map(|t| (t, key_id))
            });
            let (keys, more) = auth::list_keys(
                self.qualifier.storage(),
                &caller.tenant,
                request.show_revoked,
                after,
                size,
            )
            .await?;
            let next_page_token = pagination::next_token(&scope, &keys, more, |k| {
                (k.created_at.as_microsecond(), k.key_id.clone())
            });
            Ok(pb::ListApiKeysResponse {
                api_keys: keys.iter().map(convert::api_key_to_wire).collect(),
                next_page_token,
            })
        })
        .await
    }

    async fn revoke_api_key(
        &self,
        request: Request<pb::RevokeApiKeyRequest>,
    ) -> Result<Response<pb::RevokeApiKeyResponse>, Status> {
        let credentials = authorization(&request);
        let request = request.into_inner();
        traced(rpc_span("RevokeApiKey", ""), async move {
            let caller = authorize(&self.auth, credentials, Role::Admin).await?;
            if request.key_id.trim().is_empty() {
                return Err(invalid_argument(&[Violation::new("key_id", "is required")]));
            }
            let key = self
                .auth
                .revoke(&caller.tenant, request.key_id.trim(), &caller.actor)
                .await?;
            tracing::info!(key_id = %key.key_id, "api key revoked");
            Ok(pb::RevokeApiKeyResponse {
                api_key: Some(convert::api_key_to_wire(&key)),
            })
        })
        .await
    }

    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        let credentials = authorization(&request);
        let request = request.into_inner();
        traced(rpc_span("ListAuditEvents", &request.lead_id), async move {
            let caller = authorize(&self.auth, credentials, Role::Admin).await?;
            let mut violations = Vec::new();
            let kind = convert::audit_kind_from_wire(request.kind).unwrap_or_else(|()| {
                violations.push(Violation::new("kind", "is not a known audit event kind"));
                None
            });
            let lead_id = if request.lead_id.is_empty() {
                None
            } else {
                convert::lead_id(&request.lead_id, "lead_id", &mut violations)
                    .map(|id| id.as_str().to_owned())
            };
            let scope = format!("audit|kind={}|lead={}", request.kind, request.lead_id);
            let (size, before) = pagination::parse::<i64>(
                request.page_size,
                &request.page_token,
                &scope,
                &mut violations,
            );
            if !violations.is_empty() {
                return Err(invalid_argument(&violations));
            }
            let filter = AuditFilter { kind, lead_id };
            let (events, more) = self
                .qualifier
                .list_audit_events(&caller.tenant, &filter, before, size)
                .await?;
            let next_page_token = pagination::next_token(&scope, &events, more, |e| e.seq);
            Ok(pb::ListAuditEventsResponse {
                audit_events: events.iter().map(convert::audit_event_to_wire).collect(),
                next_page_token,
            })
        })
        .await
    }
}
