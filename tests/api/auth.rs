//! API keys, roles and tenants: every RPC against every kind of caller, tenant
//! isolation, open mode and the start-up rule.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use leadqual::auth::Role;
use leadqual::grpc::guard::{RPC_ROLES, required_role};
use leadqual::proto::v1 as pb;
use leadqual::proto::v1::admin_service_server::SERVICE_NAME as ADMIN;
use leadqual::proto::v1::lead_qualification_service_server::SERVICE_NAME as LEAD_QUALIFICATION;
use leadqual::startup::Application;
use pb::{Outcome, Stage};
use tonic::{Code, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

use crate::backend_tests;
use crate::helpers::{
    AppOptions, Auth, Backend, Clients, TestApp, TestDatabase, assert_code,
    assert_key_stops_working, cli_create_key, cli_list_keys, cli_revoke_key, cli_stdout, key_id_of,
    qualify_request, read_lead, secret_part, settings, spawn_app,
};

backend_tests!(
    every_rpc_checks_the_key_and_its_role,
    tenants_never_see_or_change_each_other,
    same_lead_and_request_ids_are_independent_per_tenant,
    reflection_and_health_need_no_key,
    open_mode_ends_with_the_first_cli_key_and_returns_after_the_last_is_revoked,
    open_mode_refuses_a_bad_authorization_header,
    open_mode_caller_cannot_mint_the_first_key_over_grpc,
    cli_creates_lists_and_revokes_keys,
    admin_rpcs_validate_and_scope_keys,
    a_key_in_use_shows_its_last_use,
);

/// What the calls of the matrix act on: tenant A's things.
struct Fixture {
    lead_id: String,
    verdict_id: String,
    /// A key that the one successful RevokeApiKey call revokes.
    victim_key_id: String,
    /// An admin's clients, to put an override in force before each
    /// ClearOverride call.
    admin: Clients,
}

type Call = fn(Clients, Arc<Fixture>) -> BoxFuture<'static, Result<(), Status>>;

struct Rpc {
    service: &'static str,
    name: &'static str,
    call: Call,
}

impl Rpc {
    /// The role the server's table says this RPC needs.
    fn role(&self) -> Role {
        required_role(self.service, self.name)
            .unwrap_or_else(|| panic!("{}/{} declares no role", self.service, self.name))
    }
}

/// Every RPC of both services, with a valid request for tenant A.
fn rpcs() -> Vec<Rpc> {
    vec![
        Rpc {
            service: LEAD_QUALIFICATION,
            name: "QualifyLead",
            call: |mut c, f| {
                async move {
                    c.client
                        .qualify_lead(qualify_request(
                            &f.lead_id,
                            Stage::Contact,
                            pb::LeadFacts {
                                disrespectful_incidents: Some(0),
                                ..Default::default()
                            },
                        ))
                        .await
                        .map(drop)
                }
                .boxed()
            },
        },
        Rpc {
            service: LEAD_QUALIFICATION,
            name: "GetLead",
            call: |mut c, f| {
                async move {
                    c.client
                        .get_lead(pb::GetLeadRequest {
                            lead_id: f.lead_id.clone(),
                        })
                        .await
                        .map(drop)
                }
                .boxed()
            },
        },
        Rpc {
            service: LEAD_QUALIFICATION,
            name: "ListLeads",
            call: |mut c, _| {
                async move {
                    c.client
                        .list_leads(pb::ListLeadsRequest::default())
                        .await
                        .map(drop)
                }
                .boxed()
            },
        },
        Rpc {
            service: LEAD_QUALIFICATION,
            name: "GetVerdict",
            call: |mut c, f| {
                async move {
                    c.client
                        .get_verdict(pb::GetVerdictRequest {
                            verdict_id: f.verdict_id.clone(),
                        })
                        .await
                        .map(drop)
                }
                .boxed()
            },
        },
        Rpc {
            service: LEAD_QUALIFICATION,
            name: "ListVerdicts",
            call: |mut c, f| {
                async move {
                    c.client
                        .list_verdicts(pb::ListVerdictsRequest {
                            lead_id: f.lead_id.clone(),
                            ..Default::default()
                        })
                        .await
                        .map(drop)
                }
                .boxed()
            },
        },
        Rpc {
            service: LEAD_QUALIFICATION,
            name: "ListCriteria",
            call: |mut c, _| {
                async move {
                    c.client
                        .list_criteria(pb::ListCriteriaRequest {})
                        .await
                        .map(drop)
                }
                .boxed()
            },
        },
        Rpc {
            service: LEAD_QUALIFICATION,
            name: "GetProfile",
            call: |mut c, _| {
                async move {
                    c.client
                        .get_profile(pb::GetProfileRequest { version: 0 })
                        .await
                        .map(drop)
                }
                .boxed()
            },
        },
        Rpc {
            service: LEAD_QUALIFICATION,
            name: "UpdateProfile",
            call: |mut c, _| {
                async move {
                    c.client
                        .update_profile(pb::UpdateProfileRequest {
                            profile: Some(pb::Profile {
                                review_threshold: Some(25),
                                ..Default::default()
                            }),
                            expected_version: None,
                        })
                        .await
                        .map(drop)
                }
                .boxed()
            },
        },
        Rpc {
            service: LEAD_QUALIFICATION,
            name: "ListProfileVersions",
            call: |mut c, _| {
                async move {
                    c.client
                        .list_profile_versions(pb::ListProfileVersionsRequest::default())
                        .await
                        .map(drop)
                }
                .boxed()
            },
        },
        Rpc {
            service: LEAD_QUALIFICATION,
            name: "OverrideVerdict",
            call: |mut c, f| {
                async move {
                    c.client
                        .override_verdict(pb::OverrideVerdictRequest {
                            lead_id: f.lead_id.clone(),
                            outcome: Outcome::Qualified as i32,
                            reason: "met the buying committee".into(),
                            author: "jane@acme.example".into(),
                            expire_time: None,
                        })
                        .await
                        .map(drop)
                }
                .boxed()
            },
        },
        Rpc {
            service: LEAD_QUALIFICATION,
            name: "ClearOverride",
            call: |mut c, f| {
                async move {
                    let mut admin = f.admin.clone();
                    admin
                        .client
                        .override_verdict(pb::OverrideVerdictRequest {
                            lead_id: f.lead_id.clone(),
                            outcome: Outcome::Qualified as i32,
                            reason: "to be withdrawn".into(),
                            author: "jane@acme.example".into(),
                            expire_time: None,
                        })
                        .await
                        .expect("an override in force to withdraw");
                    c.client
                        .clear_override(pb::ClearOverrideRequest {
                            lead_id: f.lead_id.clone(),
                            reason: "set by mistake".into(),
                        })
                        .await
                        .map(drop)
                }
                .boxed()
            },
        },
        Rpc {
            service: LEAD_QUALIFICATION,
            name: "ListOverrides",
            call: |mut c, _| {
                async move {
                    c.client
                        .list_overrides(pb::ListOverridesRequest::default())
                        .await
                        .map(drop)
                }
                .boxed()
            },
        },
        Rpc {
            service: LEAD_QUALIFICATION,
            name: "QualifyLeads",
            call: |mut c, f| {
                async move {
                    let item = pb::QualifyLeadsRequest {
                        correlation_id: "matrix-1".into(),
                        request: Some(qualify_request(
                            &f.lead_id,
                            Stage::Unspecified,
                            pb::LeadFacts::default(),
                        )),
                    };
                    let mut results = c
                        .client
                        .qualify_leads(futures::stream::iter([item]))
                        .await?
                        .into_inner();
                    let first = results
                        .message()
                        .await?
                        .expect("one result for the one item");
                    assert_eq!(first.correlation_id, "matrix-1");
                    assert!(
                        matches!(
                            first.result,
                            Some(pb::qualify_leads_response::Result::Qualified(_))
                        ),
                        "the item is qualified: {first:?}"
                    );
                    Ok(())
                }
                .boxed()
            },
        },
        Rpc {
            service: LEAD_QUALIFICATION,
            name: "PreviewProfile",
            call: |mut c, _| {
                async move {
                    c.client
                        .preview_profile(pb::PreviewProfileRequest {
                            profile: Some(pb::Profile::default()),
                            sample_size: 0,
                        })
                        .await
                        .map(drop)
                }
                .boxed()
            },
        },
        Rpc {
            service: LEAD_QUALIFICATION,
            name: "GetSignalStats",
            call: |mut c, _| {
                async move {
                    c.client
                        .get_signal_stats(pb::GetSignalStatsRequest::default())
                        .await
                        .map(drop)
                }
                .boxed()
            },
        },
        Rpc {
            service: LEAD_QUALIFICATION,
            name: "WatchVerdicts",
            call: |mut c, _| {
                async move {
                    // The stream opens (its headers arrive) once the guard
                    // let the call in; no verdict needs to come.
                    c.client
                        .watch_verdicts(pb::WatchVerdictsRequest::default())
                        .await
                        .map(drop)
                }
                .boxed()
            },
        },
        Rpc {
            service: ADMIN,
            name: "CreateApiKey",
            call: |mut c, _| {
                async move {
                    c.admin
                        .create_api_key(pb::CreateApiKeyRequest {
                            roles: vec![pb::Role::Reader as i32],
                            description: "made by the matrix".into(),
                        })
                        .await
                        .map(drop)
                }
                .boxed()
            },
        },
        Rpc {
            service: ADMIN,
            name: "ListApiKeys",
            call: |mut c, _| {
                async move {
                    c.admin
                        .list_api_keys(pb::ListApiKeysRequest::default())
                        .await
                        .map(drop)
                }
                .boxed()
            },
        },
        Rpc {
            service: ADMIN,
            name: "RevokeApiKey",
            call: |mut c, f| {
                async move {
                    c.admin
                        .revoke_api_key(pb::RevokeApiKeyRequest {
                            key_id: f.victim_key_id.clone(),
                        })
                        .await
                        .map(drop)
                }
                .boxed()
            },
        },
        Rpc {
            service: ADMIN,
            name: "ListAuditEvents",
            call: |mut c, _| {
                async move {
                    c.admin
                        .list_audit_events(pb::ListAuditEventsRequest::default())
                        .await
                        .map(drop)
                }
                .boxed()
            },
        },
    ]
}

fn recommendation_facts() -> pb::LeadFacts {
    // REPEATED_EXPLANATIONS (15) + MEETING_DISRUPTIONS (20) = 35: needs review.
    pb::LeadFacts {
        max_material_repeats: Some(4),
        meetings_cancelled: Some(2),
        meetings_rescheduled: Some(1),
        expects_magic_wand: Some(false),
        ..Default::default()
    }
}

async fn every_rpc_checks_the_key_and_its_role(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut keys = Vec::new();
    for role in Role::ALL {
        keys.push((role, app.issue_key("acme", &[role]).await));
    }
    let admin = keys[2].1.secret.clone();
    let to_revoke = app.issue_key("acme", &[Role::Admin]).await;
    let victim = app.issue_key("acme", &[Role::Reader]).await;
    let mut a = app.as_key(&admin);
    let verdict = a
        .client
        .qualify_lead(qualify_request(
            "matrix-lead",
            Stage::Recommendation,
            recommendation_facts(),
        ))
        .await
        .expect("QualifyLead with an admin key")
        .into_inner()
        .verdict
        .expect("a verdict");
    assert_eq!(verdict.tenant, "acme");
    a.admin
        .revoke_api_key(pb::RevokeApiKeyRequest {
            key_id: to_revoke.key_id.clone(),
        })
        .await
        .expect("RevokeApiKey");
    let fixture = Arc::new(Fixture {
        lead_id: "matrix-lead".into(),
        verdict_id: verdict.verdict_id,
        victim_key_id: victim.key_id.clone(),
        admin: a.clone(),
    });

    let reader = &keys[0].1;
    let unauthenticated = [
        ("no key", Auth::none()),
        ("not a key", Auth::bearer("garbage")),
        ("an empty bearer", Auth::header("Bearer ")),
        ("a bare scheme", Auth::header("Bearer")),
        (
            "an unknown key",
            Auth::bearer("lq_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        ),
        (
            "a known key_id with a wrong secret",
            Auth::bearer(&format!(
                "lq_{}_{}",
                reader.key_id,
                "x".repeat(secret_part(&reader.secret, &reader.key_id).len())
            )),
        ),
        ("another scheme", Auth::header(&format!("Basic {admin}"))),
        ("a revoked key", Auth::bearer(&to_revoke.secret)),
    ];

    let rpcs = rpcs();
    assert_eq!(rpcs.len(), 20, "every RPC of both services");
    // The matrix calls every RPC of the server's table, once: an RPC added
    // to the table without a call here fails this test.
    let called: BTreeSet<(&str, &str)> = rpcs.iter().map(|r| (r.service, r.name)).collect();
    let declared: BTreeSet<(&str, &str)> = RPC_ROLES.iter().map(|&(s, m, _)| (s, m)).collect();
    assert_eq!(called.len(), rpcs.len(), "each RPC is called once");
    assert_eq!(called, declared, "the matrix covers RPC_ROLES");
    for rpc in &rpcs {
        for (what, auth) in &unauthenticated {
            let result = (rpc.call)(app.clients(auth.clone()), fixture.clone()).await;
            assert_code(
                result,
                Code::Unauthenticated,
                &format!("{} with {what}", rpc.name),
            );
        }
        for (role, key) in &keys {
            let result = (rpc.call)(app.as_key(&key.secret), fixture.clone()).await;
            let what = format!("{} with a {role:?} key", rpc.name);
            if !role.includes(rpc.role()) {
                assert_code(result, Code::PermissionDenied, &what);
            } else {
                // The request is valid: a strong enough key gets through.
                if let Err(status) = result {
                    panic!("{what}: {status:?}");
                }
            }
        }
    }

    // The successful RevokeApiKey did revoke the victim.
    assert_code(
        app.as_key(&victim.secret)
            .client
            .list_criteria(pb::ListCriteriaRequest {})
            .await,
        Code::Unauthenticated,
        "the key revoked by the matrix",
    );
    // A key with several roles gets the strongest.
    let both = app.issue_key("acme", &[Role::Reader, Role::Scorer]).await;
    let mut both = app.as_key(&both.secret);
    both.client
        .qualify_lead(qualify_request(
            "matrix-lead",
            Stage::Unspecified,
            pb::LeadFacts::default(),
        ))
        .await
        .expect("reader + scorer may qualify");
    assert_code(
        both.admin
            .list_api_keys(pb::ListApiKeysRequest::default())
            .await,
        Code::PermissionDenied,
        "reader + scorer is no admin",
    );
}

/// Every lead of a tenant, walking all pages with `request`'s filters.
async fn leads_of(clients: &mut Clients, request: pb::ListLeadsRequest) -> Vec<pb::Lead> {
    let mut leads = Vec::new();
    let mut request = request;
    loop {
        let page = clients
            .client
            .list_leads(request.clone())
            .await
            .expect("ListLeads")
            .into_inner();
        leads.extend(page.leads);
        if page.next_page_token.is_empty() {
            return leads;
        }
        request.page_token = page.next_page_token;
    }
}

async fn keys_of(clients: &mut Clients, show_revoked: bool) -> Vec<pb::ApiKey> {
    let mut keys = Vec::new();
    let mut token = String::new();
    loop {
        let page = clients
            .admin
            .list_api_keys(pb::ListApiKeysRequest {
                page_size: 1,
                page_token: token,
                show_revoked,
            })
            .await
            .expect("ListApiKeys")
            .into_inner();
        keys.extend(page.api_keys);
        if page.next_page_token.is_empty() {
            return keys;
        }
        token = page.next_page_token;
    }
}

async fn events_of(
    clients: &mut Clients,
    request: pb::ListAuditEventsRequest,
) -> Vec<pb::AuditEvent> {
    let mut events = Vec::new();
    let mut request = request;
    loop {
        let page = clients
            .admin
            .list_audit_events(request.clone())
            .await
            .expect("ListAuditEvents")
            .into_inner();
        events.extend(page.audit_events);
        if page.next_page_token.is_empty() {
            return events;
        }
        request.page_token = page.next_page_token;
    }
}

/// A page token of tenant A fed to tenant B either is refused as invalid or
/// yields B's own results only (checked by `check`).
fn refused_or<T>(result: Result<tonic::Response<T>, Status>, what: &str, check: impl FnOnce(T)) {
    match result {
        Ok(response) => check(response.into_inner()),
        Err(status) => assert_eq!(status.code(), Code::InvalidArgument, "{what}: {status:?}"),
    }
}

async fn tenants_never_see_or_change_each_other(backend: Backend) {
    let app = spawn_app(backend).await;
    let a_admin = app.issue_key("acme", &[Role::Admin]).await;
    let a_reader = app.issue_key("acme", &[Role::Reader]).await;
    let b_admin = app.issue_key("globex", &[Role::Admin]).await;
    let mut a = app.as_key(&a_admin.secret);
    let mut b = app.as_key(&b_admin.secret);

    // A: three leads of its own, one lead id also used by B, an override, a
    // revoked key, two profile updates.
    let mut a_only = BTreeSet::new();
    let mut a_verdicts = Vec::new();
    for i in 0..3 {
        let id = format!("only-a-{i}");
        let verdict = a
            .client
            .qualify_lead(qualify_request(
                &id,
                Stage::Recommendation,
                recommendation_facts(),
            ))
            .await
            .expect("A qualifies")
            .into_inner()
            .verdict
            .expect("verdict");
        assert_eq!(verdict.tenant, "acme");
        a_verdicts.push(verdict.verdict_id);
        a_only.insert(id);
    }
    a.client
        .qualify_lead(qualify_request(
            "shared",
            Stage::Recommendation,
            recommendation_facts(),
        ))
        .await
        .expect("A qualifies the shared id");
    a.client
        .override_verdict(pb::OverrideVerdictRequest {
            lead_id: "only-a-0".into(),
            outcome: Outcome::Disqualified as i32,
            reason: "competitor's subsidiary".into(),
            author: "ann@acme.example".into(),
            expire_time: None,
        })
        .await
        .expect("A overrides");
    let a_revoked = app.issue_key("acme", &[Role::Reader]).await;
    a.admin
        .revoke_api_key(pb::RevokeApiKeyRequest {
            key_id: a_revoked.key_id.clone(),
        })
        .await
        .expect("A revokes");
    for threshold in [20, 10] {
        a.client
            .update_profile(pb::UpdateProfileRequest {
                profile: Some(pb::Profile {
                    review_threshold: Some(threshold),
                    ..Default::default()
                }),
                expected_version: None,
            })
            .await
            .expect("A updates its profile");
    }

    // B: one lead under the shared id, at another stage and outcome.
    let b_verdict = b
        .client
        .qualify_lead(qualify_request(
            "shared",
            Stage::Identification,
            pb::LeadFacts::default(),
        ))
        .await
        .expect("B qualifies")
        .into_inner()
        .verdict
        .expect("verdict");
    assert_eq!(b_verdict.tenant, "globex");
    assert_eq!(b_verdict.outcome, Outcome::Qualified as i32);
    assert_eq!(
        b_verdict.profile_version, 1,
        "B has its own profile versions"
    );

    // Reads of A's lead and verdicts by B: NOT_FOUND, no existence leak.
    for id in &a_only {
        assert_code(
            b.client
                .get_lead(pb::GetLeadRequest {
                    lead_id: id.clone(),
                })
                .await,
            Code::NotFound,
            "B's GetLead of A's lead",
        );
        assert_code(
            b.client
                .list_verdicts(pb::ListVerdictsRequest {
                    lead_id: id.clone(),
                    ..Default::default()
                })
                .await,
            Code::NotFound,
            "B's ListVerdicts of A's lead",
        );
        assert_code(
            b.client
                .override_verdict(pb::OverrideVerdictRequest {
                    lead_id: id.clone(),
                    outcome: Outcome::Qualified as i32,
                    reason: "trying".into(),
                    author: "mallory@globex.example".into(),
                    expire_time: None,
                })
                .await,
            Code::NotFound,
            "B's OverrideVerdict of A's lead",
        );
    }
    for verdict_id in &a_verdicts {
        assert_code(
            b.client
                .get_verdict(pb::GetVerdictRequest {
                    verdict_id: verdict_id.clone(),
                })
                .await,
            Code::NotFound,
            "B's GetVerdict of A's verdict",
        );
    }
    // A's lead is unchanged by B's attempts.
    let a_lead = read_lead(&a.client, "only-a-1")
        .await
        .expect("A reads its lead");
    assert!(
        a_lead.active_override.is_none(),
        "B's override did not land"
    );

    // The shared lead id: each tenant sees its own.
    let b_shared = read_lead(&b.client, "shared")
        .await
        .expect("B reads its shared lead");
    assert_eq!(b_shared.stage, Stage::Identification as i32);
    assert_eq!(b_shared.facts, Some(pb::LeadFacts::default()));
    let b_shared_verdicts = b
        .client
        .list_verdicts(pb::ListVerdictsRequest {
            lead_id: "shared".into(),
            ..Default::default()
        })
        .await
        .expect("B lists its verdicts")
        .into_inner()
        .verdicts;
    assert_eq!(b_shared_verdicts.len(), 1);
    assert_eq!(b_shared_verdicts[0].verdict_id, b_verdict.verdict_id);

    // B's lists, with and without filters, hold B's leads only.
    let filters = [
        pb::ListLeadsRequest::default(),
        pb::ListLeadsRequest {
            page_size: 1,
            ..Default::default()
        },
        pb::ListLeadsRequest {
            stage: Stage::Recommendation as i32,
            ..Default::default()
        },
        pb::ListLeadsRequest {
            outcome: Outcome::NeedsReview as i32,
            ..Default::default()
        },
        pb::ListLeadsRequest {
            stage: Stage::Identification as i32,
            outcome: Outcome::Qualified as i32,
            ..Default::default()
        },
    ];
    for filter in filters {
        let leads = leads_of(&mut b, filter.clone()).await;
        for lead in &leads {
            assert_eq!(lead.lead_id, "shared", "B lists only its lead ({filter:?})");
            assert_eq!(
                lead.stage,
                Stage::Identification as i32,
                "B's own shared lead"
            );
        }
        let expected = usize::from(
            (filter.stage == 0 || filter.stage == Stage::Identification as i32)
                && (filter.outcome == 0 || filter.outcome == Outcome::Qualified as i32),
        );
        assert_eq!(leads.len(), expected, "B's leads for {filter:?}");
    }
    // A's page tokens fed to B.
    for filter in [
        pb::ListLeadsRequest {
            page_size: 1,
            ..Default::default()
        },
        pb::ListLeadsRequest {
            page_size: 1,
            stage: Stage::Recommendation as i32,
            ..Default::default()
        },
    ] {
        let a_page = a
            .client
            .list_leads(filter.clone())
            .await
            .expect("A lists")
            .into_inner();
        assert!(!a_page.next_page_token.is_empty(), "A has more pages");
        let mut fed = filter.clone();
        fed.page_token = a_page.next_page_token;
        refused_or(
            b.client.list_leads(fed).await,
            "B's ListLeads with A's token",
            |page| {
                for lead in page.leads {
                    assert!(!a_only.contains(&lead.lead_id), "B sees A's {lead:?}");
                    assert_eq!(lead.stage, Stage::Identification as i32, "{lead:?}");
                }
            },
        );
    }
    let a_verdicts_page = a
        .client
        .list_verdicts(pb::ListVerdictsRequest {
            lead_id: "shared".into(),
            page_size: 1,
            page_token: String::new(),
        })
        .await
        .expect("A lists its verdicts")
        .into_inner();
    if !a_verdicts_page.next_page_token.is_empty() {
        refused_or(
            b.client
                .list_verdicts(pb::ListVerdictsRequest {
                    lead_id: "shared".into(),
                    page_size: 1,
                    page_token: a_verdicts_page.next_page_token,
                })
                .await,
            "B's ListVerdicts with A's token",
            |page| {
                assert!(page.verdicts.iter().all(|v| v.tenant == "globex"));
            },
        );
    }

    // Keys: B sees only its own, even with revoked ones and A's tokens.
    let a_key_ids: BTreeSet<String> = keys_of(&mut a, true)
        .await
        .into_iter()
        .map(|k| k.key_id)
        .collect();
    assert!(a_key_ids.contains(&a_admin.key_id) && a_key_ids.contains(&a_revoked.key_id));
    assert!(
        !a_key_ids.contains(&b_admin.key_id),
        "A does not see B's key"
    );
    for show_revoked in [false, true] {
        let b_keys = keys_of(&mut b, show_revoked).await;
        assert_eq!(
            b_keys.iter().map(|k| k.key_id.as_str()).collect::<Vec<_>>(),
            [b_admin.key_id.as_str()],
            "B's keys (show_revoked {show_revoked})"
        );
        assert!(b_keys.iter().all(|k| k.tenant == "globex"));
    }
    let a_keys_page = a
        .admin
        .list_api_keys(pb::ListApiKeysRequest {
            page_size: 1,
            page_token: String::new(),
            show_revoked: true,
        })
        .await
        .expect("A lists keys")
        .into_inner();
    assert!(
        !a_keys_page.next_page_token.is_empty(),
        "A has several keys"
    );
    refused_or(
        b.admin
            .list_api_keys(pb::ListApiKeysRequest {
                page_size: 1,
                page_token: a_keys_page.next_page_token,
                show_revoked: true,
            })
            .await,
        "B's ListApiKeys with A's token",
        |page| {
            for key in page.api_keys {
                assert!(!a_key_ids.contains(&key.key_id), "B sees A's {key:?}");
            }
        },
    );

    // B cannot revoke A's key, which keeps working.
    assert_code(
        b.admin
            .revoke_api_key(pb::RevokeApiKeyRequest {
                key_id: a_reader.key_id.clone(),
            })
            .await,
        Code::NotFound,
        "B's RevokeApiKey of A's key",
    );
    app.as_key(&a_reader.secret)
        .client
        .get_lead(pb::GetLeadRequest {
            lead_id: "only-a-2".into(),
        })
        .await
        .expect("A's key still works");

    // Audit events: disjoint, and B's never name A's keys or leads.
    let a_events = events_of(&mut a, pb::ListAuditEventsRequest::default()).await;
    assert!(
        a_events.len() >= 4,
        "A's profile updates, override and revocation: {a_events:?}"
    );
    let a_event_ids: BTreeSet<String> = a_events.iter().map(|e| e.event_id.clone()).collect();
    let b_events = events_of(&mut b, pb::ListAuditEventsRequest::default()).await;
    for event in &b_events {
        assert!(
            !a_event_ids.contains(&event.event_id),
            "B sees A's {event:?}"
        );
        assert!(!a_key_ids.contains(&event.actor), "B sees A's {event:?}");
        assert!(!a_only.contains(&event.lead_id), "B sees A's {event:?}");
        let text = format!("{event:?}");
        assert!(
            !a_key_ids.iter().any(|id| text.contains(id.as_str())),
            "B sees A's key in {event:?}"
        );
    }
    for kind in [
        pb::AuditEventKind::ProfileUpdated,
        pb::AuditEventKind::VerdictOverridden,
        pb::AuditEventKind::ApiKeyRevoked,
    ] {
        let b_kind = events_of(
            &mut b,
            pb::ListAuditEventsRequest {
                kind: kind as i32,
                ..Default::default()
            },
        )
        .await;
        assert!(b_kind.is_empty(), "B has no {kind:?} events: {b_kind:?}");
    }
    let b_lead_events = events_of(
        &mut b,
        pb::ListAuditEventsRequest {
            lead_id: "only-a-0".into(),
            ..Default::default()
        },
    )
    .await;
    assert!(b_lead_events.is_empty(), "{b_lead_events:?}");
    let a_events_page = a
        .admin
        .list_audit_events(pb::ListAuditEventsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("A lists events")
        .into_inner();
    assert!(!a_events_page.next_page_token.is_empty());
    refused_or(
        b.admin
            .list_audit_events(pb::ListAuditEventsRequest {
                page_size: 1,
                page_token: a_events_page.next_page_token,
                ..Default::default()
            })
            .await,
        "B's ListAuditEvents with A's token",
        |page| {
            for event in page.audit_events {
                assert!(
                    !a_event_ids.contains(&event.event_id),
                    "B sees A's {event:?}"
                );
            }
        },
    );

    // Profiles: B still has the defaults as its only version; A has three.
    let b_profile = b
        .client
        .get_profile(pb::GetProfileRequest { version: 0 })
        .await
        .expect("B's profile")
        .into_inner()
        .profile
        .expect("profile");
    assert_eq!(b_profile.version, 1);
    assert_eq!(b_profile.review_threshold, Some(30));
    assert_code(
        b.client
            .get_profile(pb::GetProfileRequest { version: 2 })
            .await,
        Code::NotFound,
        "B's GetProfile of a version only A has",
    );
    let b_versions = b
        .client
        .list_profile_versions(pb::ListProfileVersionsRequest::default())
        .await
        .expect("B's versions")
        .into_inner()
        .profiles;
    assert_eq!(
        b_versions.iter().map(|p| p.version).collect::<Vec<_>>(),
        [1]
    );
    let a_versions_page = a
        .client
        .list_profile_versions(pb::ListProfileVersionsRequest {
            page_size: 1,
            page_token: String::new(),
        })
        .await
        .expect("A's versions")
        .into_inner();
    assert_eq!(a_versions_page.profiles[0].version, 3);
    refused_or(
        b.client
            .list_profile_versions(pb::ListProfileVersionsRequest {
                page_size: 1,
                page_token: a_versions_page.next_page_token,
            })
            .await,
        "B's ListProfileVersions with A's token",
        |page| {
            for profile in page.profiles {
                assert_eq!(profile.version, 1, "B has only version 1: {profile:?}");
                assert_eq!(profile.review_threshold, Some(30));
            }
        },
    );

    // B's UpdateProfile makes B's version 2 and leaves A's current at 3.
    let b_updated = b
        .client
        .update_profile(pb::UpdateProfileRequest {
            profile: Some(pb::Profile {
                review_threshold: Some(50),
                ..Default::default()
            }),
            expected_version: Some(1),
        })
        .await
        .expect("B updates its profile")
        .into_inner()
        .profile
        .expect("profile");
    assert_eq!(b_updated.version, 2);
    let a_profile = a
        .client
        .get_profile(pb::GetProfileRequest { version: 0 })
        .await
        .expect("A's profile")
        .into_inner()
        .profile
        .expect("profile");
    assert_eq!(a_profile.version, 3);
    assert_eq!(a_profile.review_threshold, Some(10));
    // And verdicts use each tenant's own current profile.
    let a_next = a
        .client
        .qualify_lead(qualify_request(
            "only-a-1",
            Stage::Unspecified,
            pb::LeadFacts::default(),
        ))
        .await
        .expect("A qualifies")
        .into_inner()
        .verdict
        .expect("verdict");
    assert_eq!(a_next.profile_version, 3);
    let b_next = b
        .client
        .qualify_lead(qualify_request(
            "shared",
            Stage::Unspecified,
            pb::LeadFacts::default(),
        ))
        .await
        .expect("B qualifies")
        .into_inner()
        .verdict
        .expect("verdict");
    assert_eq!(b_next.profile_version, 2);

    // A's view never contains B's shared lead.
    let a_leads = leads_of(&mut a, pb::ListLeadsRequest::default()).await;
    assert_eq!(a_leads.len(), 4);
    let a_shared = a_leads
        .iter()
        .find(|l| l.lead_id == "shared")
        .expect("A's shared lead");
    assert_eq!(a_shared.stage, Stage::Recommendation as i32);
    assert_eq!(a_shared.facts, Some(recommendation_facts()));
}

async fn same_lead_and_request_ids_are_independent_per_tenant(backend: Backend) {
    let app = spawn_app(backend).await;
    let a_key = app.issue_key("acme", &[Role::Scorer]).await;
    let b_key = app.issue_key("globex", &[Role::Scorer]).await;
    let mut a = app.as_key(&a_key.secret);
    let mut b = app.as_key(&b_key.secret);

    let mut request = qualify_request("lead-x", Stage::Recommendation, recommendation_facts());
    request.request_id = "req-1".into();
    let first_a = a
        .client
        .qualify_lead(request.clone())
        .await
        .expect("A qualifies")
        .into_inner();
    assert!(!first_a.replayed);
    let mut b_request = qualify_request(
        "lead-x",
        Stage::Contact,
        pb::LeadFacts {
            disrespectful_incidents: Some(3),
            ..Default::default()
        },
    );
    b_request.request_id = "req-1".into();
    let first_b = b
        .client
        .qualify_lead(b_request.clone())
        .await
        .expect("B qualifies with the same lead and request ids")
        .into_inner();
    assert!(!first_b.replayed, "A's request_id is not B's");
    let (va, vb) = (
        first_a.verdict.expect("verdict"),
        first_b.verdict.expect("verdict"),
    );
    assert_ne!(va.verdict_id, vb.verdict_id);
    assert_eq!((va.tenant.as_str(), vb.tenant.as_str()), ("acme", "globex"));
    assert_eq!(vb.stage, Stage::Contact as i32);
    assert_eq!(
        first_b.merged_facts.expect("facts").max_material_repeats,
        None,
        "B's facts do not merge with A's"
    );

    // Retries replay within each tenant.
    let again_a = a
        .client
        .qualify_lead(request)
        .await
        .expect("A retries")
        .into_inner();
    assert!(again_a.replayed);
    assert_eq!(again_a.verdict.expect("verdict").verdict_id, va.verdict_id);
    let again_b = b
        .client
        .qualify_lead(b_request)
        .await
        .expect("B retries")
        .into_inner();
    assert!(again_b.replayed);
    assert_eq!(again_b.verdict.expect("verdict").verdict_id, vb.verdict_id);

    // A request_id used by A for one lead is free for B on another lead.
    let mut a_other = qualify_request("a-other", Stage::Identification, Default::default());
    a_other.request_id = "req-2".into();
    a.client.qualify_lead(a_other).await.expect("A's req-2");
    let mut b_other = qualify_request("b-other", Stage::Identification, Default::default());
    b_other.request_id = "req-2".into();
    let b_other = b
        .client
        .qualify_lead(b_other)
        .await
        .expect("B's req-2 on another lead is not A's")
        .into_inner();
    assert!(!b_other.replayed);

    // Each tenant has one verdict for lead-x, and its own facts.
    for (clients, tenant, verdict_id) in [
        (&mut a, "acme", &va.verdict_id),
        (&mut b, "globex", &vb.verdict_id),
    ] {
        let verdicts = clients
            .client
            .list_verdicts(pb::ListVerdictsRequest {
                lead_id: "lead-x".into(),
                ..Default::default()
            })
            .await
            .expect("ListVerdicts")
            .into_inner()
            .verdicts;
        assert_eq!(verdicts.len(), 1, "{tenant}");
        assert_eq!(&verdicts[0].verdict_id, verdict_id);
        assert_eq!(verdicts[0].tenant, tenant);
    }
    let a_lead = read_lead(&a.client, "lead-x").await.expect("GetLead");
    assert_eq!(a_lead.facts, Some(recommendation_facts()));
    assert_code(
        a.client
            .get_lead(pb::GetLeadRequest {
                lead_id: "b-other".into(),
            })
            .await,
        Code::NotFound,
        "A's GetLead of B's lead",
    );
}

async fn reflection_and_health_need_no_key(backend: Backend) {
    let app = spawn_app(backend).await;
    app.issue_key("acme", &[Role::Admin]).await;
    assert_code(
        app.clients(Auth::none())
            .client
            .list_criteria(pb::ListCriteriaRequest {})
            .await,
        Code::Unauthenticated,
        "keys exist",
    );
    let mut health = HealthClient::new(app.channel.clone());
    let status = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health needs no key")
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::Serving as i32);

    let mut reflection = ServerReflectionClient::new(app.channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(futures::stream::iter(vec![request]))
        .await
        .expect("reflection needs no key")
        .into_inner();
    let response = responses
        .message()
        .await
        .expect("a reflection response")
        .expect("a message");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("not a service list: {response:?}");
    };
    let names: BTreeSet<String> = list.service.into_iter().map(|s| s.name).collect();
    for service in [
        "leadqual.v1.LeadQualificationService",
        "leadqual.v1.AdminService",
    ] {
        assert!(names.contains(service), "{service} in {names:?}");
    }
}

/// In open mode the caller is tenant "default" with every role.
async fn assert_open(app: &TestApp, lead_id: &str) {
    let mut open = app.clients(Auth::none());
    let lead = read_lead(&open.client, lead_id)
        .await
        .expect("open mode: GetLead without a key");
    assert_eq!(lead.latest_verdict.expect("verdict").tenant, "default");
    open.admin
        .list_api_keys(pb::ListApiKeysRequest::default())
        .await
        .expect("open mode: admin RPCs without a key");
}

async fn open_mode_ends_with_the_first_cli_key_and_returns_after_the_last_is_revoked(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let mut open = app.clients(Auth::none());
    let verdict = open
        .client
        .qualify_lead(qualify_request(
            "open-lead",
            Stage::Recommendation,
            recommendation_facts(),
        ))
        .await
        .expect("open mode: QualifyLead without a key")
        .into_inner()
        .verdict
        .expect("verdict");
    assert_eq!(verdict.tenant, "default");
    open.client
        .update_profile(pb::UpdateProfileRequest {
            profile: Some(pb::Profile::default()),
            expected_version: None,
        })
        .await
        .expect("open mode: UpdateProfile without a key");
    assert_open(&app, "open-lead").await;

    // A key made by the CLI while the server runs ends open mode at once.
    let secret = cli_create_key(&app.database.url, "acme", &["admin"]).await;
    for (name, result) in [
        (
            "GetLead",
            open.client
                .get_lead(pb::GetLeadRequest {
                    lead_id: "open-lead".into(),
                })
                .await
                .map(drop),
        ),
        (
            "ListCriteria",
            open.client
                .list_criteria(pb::ListCriteriaRequest {})
                .await
                .map(drop),
        ),
        (
            "ListApiKeys",
            open.admin
                .list_api_keys(pb::ListApiKeysRequest::default())
                .await
                .map(drop),
        ),
    ] {
        assert_code(
            result,
            Code::Unauthenticated,
            &format!("{name} without a key"),
        );
    }
    let mut acme = app.as_key(&secret);
    assert_code(
        acme.client
            .get_lead(pb::GetLeadRequest {
                lead_id: "open-lead".into(),
            })
            .await,
        Code::NotFound,
        "acme does not see the default tenant's lead",
    );
    let keys = acme
        .admin
        .list_api_keys(pb::ListApiKeysRequest::default())
        .await
        .expect("the CLI key works")
        .into_inner()
        .api_keys;
    assert_eq!(keys.len(), 1);
    let key_id = key_id_of(&secret, keys.iter().map(|k| k.key_id.as_str()));
    assert_eq!(keys[0].tenant, "acme");
    assert_eq!(keys[0].roles, [pb::Role::Admin as i32]);

    // Revoking the only key brings open mode back.
    cli_stdout(&cli_revoke_key(&app.database.url, "acme", &key_id).await);
    assert_open(&app, "open-lead").await;
    assert_key_stops_working(&mut acme, "a key revoked by the CLI, even in open mode").await;
}

async fn open_mode_refuses_a_bad_authorization_header(backend: Backend) {
    let app = spawn_app(backend).await;
    for header in [
        "Bearer garbage",
        "Bearer lq_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "Basic dXNlcjpwYXNz",
        "Bearer ",
    ] {
        let mut clients = app.clients(Auth::header(header));
        assert_code(
            clients
                .client
                .list_criteria(pb::ListCriteriaRequest {})
                .await,
            Code::Unauthenticated,
            &format!("ListCriteria with {header:?} in open mode"),
        );
        assert_code(
            clients
                .client
                .qualify_lead(qualify_request(
                    "nope",
                    Stage::Identification,
                    Default::default(),
                ))
                .await,
            Code::Unauthenticated,
            &format!("QualifyLead with {header:?} in open mode"),
        );
    }
    // Nothing was stored, and open mode is still on.
    let leads = app
        .clients(Auth::none())
        .client
        .list_leads(pb::ListLeadsRequest::default())
        .await
        .expect("open mode")
        .into_inner()
        .leads;
    assert!(leads.is_empty());
}

async fn open_mode_caller_cannot_mint_the_first_key_over_grpc(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut open = app.clients(Auth::none());
    let refused = open
        .admin
        .create_api_key(pb::CreateApiKeyRequest {
            roles: vec![pb::Role::Admin as i32],
            description: "bootstrap".into(),
        })
        .await
        .expect_err("any local process could lock the others out");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(
        refused.message().contains("leadqual keys create"),
        "says how the first key is made: {refused:?}"
    );
    // Nothing was created: open mode goes on, and the audit trail is empty.
    open.client
        .list_criteria(pb::ListCriteriaRequest {})
        .await
        .expect("still open");
    let events = open
        .admin
        .list_audit_events(pb::ListAuditEventsRequest::default())
        .await
        .expect("ListAuditEvents in open mode")
        .into_inner()
        .audit_events;
    assert!(events.is_empty(), "{events:?}");

    // The operator's first key, then, creates the next over the wire.
    let secret = cli_create_key(&app.database.url, "default", &["admin"]).await;
    let mut admin = app.as_key(&secret);
    let created = admin
        .admin
        .create_api_key(pb::CreateApiKeyRequest {
            roles: vec![pb::Role::Reader as i32],
            description: "dashboard".into(),
        })
        .await
        .expect("CreateApiKey with the operator's key")
        .into_inner();
    assert_eq!(created.api_key.expect("api key").tenant, "default");
    assert_code(
        open.client.list_criteria(pb::ListCriteriaRequest {}).await,
        Code::Unauthenticated,
        "open mode ended",
    );
}

async fn cli_creates_lists_and_revokes_keys(backend: Backend) {
    let app = spawn_app(backend).await;
    let url = app.database.url.clone();
    let args = [
        "keys",
        "create",
        "--tenant",
        "acme",
        "--role",
        "admin",
        "--role",
        "scorer",
        "--description",
        "ci pipeline",
        "--database-url",
        &url,
    ];
    let stdout = cli_stdout(&crate::helpers::run_cli(&args).await);
    assert_eq!(stdout.lines().count(), 1, "only the secret: {stdout:?}");
    let admin_secret = stdout.trim().to_owned();
    assert!(admin_secret.starts_with("lq_"), "{admin_secret:?}");
    let reader_secret = cli_create_key(&url, "acme", &["reader"]).await;
    let other_tenant = cli_create_key(&url, "globex", &["reader"]).await;
    assert_ne!(admin_secret, reader_secret);

    // keys list: one line per key of the tenant, starting with its key_id.
    let lines = cli_list_keys(&url, "acme").await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    let listed: Vec<String> = lines
        .iter()
        .map(|l| l.split_whitespace().next().expect("a key_id").to_owned())
        .collect();
    let admin_id = key_id_of(&admin_secret, listed.iter().map(String::as_str));
    let reader_id = key_id_of(&reader_secret, listed.iter().map(String::as_str));
    assert_ne!(admin_id, reader_id);
    for line in &lines {
        for (secret, id) in [(&admin_secret, &admin_id), (&reader_secret, &reader_id)] {
            assert!(
                !line.contains(secret_part(secret, id)),
                "no secret in the list: {line:?}"
            );
        }
    }
    let globex_lines = cli_list_keys(&url, "globex").await;
    assert_eq!(globex_lines.len(), 1, "{globex_lines:?}");
    assert!(!globex_lines[0].starts_with(&admin_id) && !globex_lines[0].starts_with(&reader_id));
    assert!(cli_list_keys(&url, "initech").await.is_empty());

    // The CLI's key authenticates over gRPC, with its roles and description.
    let mut admin = app.as_key(&admin_secret);
    let keys = admin
        .admin
        .list_api_keys(pb::ListApiKeysRequest::default())
        .await
        .expect("the CLI's admin key works")
        .into_inner()
        .api_keys;
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].key_id, reader_id, "newest first");
    assert_eq!(keys[1].key_id, admin_id);
    let mut admin_roles = keys[1].roles.clone();
    admin_roles.sort_unstable();
    assert_eq!(
        admin_roles,
        [pb::Role::Scorer as i32, pb::Role::Admin as i32]
    );
    assert_eq!(keys[1].description, "ci pipeline");
    assert!(keys[1].create_time.is_some() && keys[1].revoke_time.is_none());
    let text = format!("{keys:?}");
    assert!(!text.contains(secret_part(&admin_secret, &admin_id)));
    admin
        .client
        .qualify_lead(qualify_request(
            "cli-lead",
            Stage::Identification,
            Default::default(),
        ))
        .await
        .expect("admin + scorer qualifies");
    let mut reader = app.as_key(&reader_secret);
    assert_code(
        reader
            .client
            .qualify_lead(qualify_request(
                "cli-lead",
                Stage::Identification,
                Default::default(),
            ))
            .await,
        Code::PermissionDenied,
        "the CLI's reader key",
    );
    reader
        .client
        .get_lead(pb::GetLeadRequest {
            lead_id: "cli-lead".into(),
        })
        .await
        .expect("the CLI's reader key reads");

    // A bad role creates nothing.
    let bad = crate::helpers::run_cli(&[
        "keys",
        "create",
        "--tenant",
        "acme",
        "--role",
        "superuser",
        "--database-url",
        &url,
    ])
    .await;
    assert!(!bad.status.success(), "an unknown role is refused");
    assert_eq!(cli_list_keys(&url, "acme").await.len(), 2);

    // Revoking: unknown ids and other tenants' keys fail; the tenant's own works.
    let unknown = cli_revoke_key(&url, "acme", "nosuchkey").await;
    assert!(!unknown.status.success(), "revoking an unknown key fails");
    let other_id = cli_list_keys(&url, "globex").await[0]
        .split_whitespace()
        .next()
        .expect("id")
        .to_owned();
    let cross = cli_revoke_key(&url, "acme", &other_id).await;
    assert!(!cross.status.success(), "acme cannot revoke globex's key");
    app.as_key(&other_tenant)
        .client
        .list_criteria(pb::ListCriteriaRequest {})
        .await
        .expect("globex's key still works");
    cli_stdout(&cli_revoke_key(&url, "acme", &reader_id).await);
    assert_key_stops_working(
        &mut reader,
        "the key revoked by the CLI while the server runs",
    )
    .await;
    admin
        .client
        .list_criteria(pb::ListCriteriaRequest {})
        .await
        .expect("the other key still works");
    let active = admin
        .admin
        .list_api_keys(pb::ListApiKeysRequest::default())
        .await
        .expect("ListApiKeys")
        .into_inner()
        .api_keys;
    assert_eq!(
        active.iter().map(|k| k.key_id.as_str()).collect::<Vec<_>>(),
        [admin_id.as_str()],
        "revoked keys are hidden by default"
    );
}

async fn admin_rpcs_validate_and_scope_keys(backend: Backend) {
    let app = spawn_app(backend).await;
    let root = app.issue_key("acme", &[Role::Admin]).await;
    let mut admin = app.as_key(&root.secret);

    // Roles: at least one, none unspecified.
    let status = admin
        .admin
        .create_api_key(pb::CreateApiKeyRequest {
            roles: vec![],
            description: "no roles".into(),
        })
        .await
        .expect_err("no roles");
    crate::helpers::assert_bad_fields(&status, &["roles"]);
    let status = admin
        .admin
        .create_api_key(pb::CreateApiKeyRequest {
            roles: vec![pb::Role::Reader as i32, pb::Role::Unspecified as i32],
            description: String::new(),
        })
        .await
        .expect_err("an unspecified role");
    crate::helpers::assert_bad_fields(&status, &["roles[1]"]);

    // Created keys land in the caller's tenant; the secret is shown once.
    let mut created = Vec::new();
    for (i, role) in [pb::Role::Reader, pb::Role::Scorer, pb::Role::Admin]
        .into_iter()
        .enumerate()
    {
        let response = admin
            .admin
            .create_api_key(pb::CreateApiKeyRequest {
                roles: vec![role as i32],
                description: format!("key {i}"),
            })
            .await
            .expect("CreateApiKey")
            .into_inner();
        let key = response.api_key.expect("api key");
        assert_eq!(key.tenant, "acme");
        assert_eq!(key.roles, [role as i32]);
        assert_eq!(key.description, format!("key {i}"));
        assert!(key.create_time.is_some() && key.revoke_time.is_none());
        assert!(response.secret.starts_with(&format!("lq_{}_", key.key_id)));
        // At least 128 bits of randomness: 22+ base64 or 32+ hex characters.
        assert!(
            secret_part(&response.secret, &key.key_id).len() >= 22,
            "{}",
            response.secret
        );
        created.push((key, response.secret));
    }
    let (reader_key, reader_secret) = &created[0];
    app.as_key(reader_secret)
        .client
        .list_criteria(pb::ListCriteriaRequest {})
        .await
        .expect("a key made over gRPC works");

    // Listed newest first, paginated, without secrets.
    let keys = keys_of(&mut admin, false).await;
    let ids: Vec<&str> = keys.iter().map(|k| k.key_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            created[2].0.key_id.as_str(),
            created[1].0.key_id.as_str(),
            created[0].0.key_id.as_str(),
            root.key_id.as_str()
        ]
    );
    let text = format!("{keys:?}");
    for (key, secret) in &created {
        assert!(!text.contains(secret_part(secret, &key.key_id)));
    }

    // Revoke: the key comes back with revoke_time, disappears from the
    // default listing, shows with show_revoked, and stops working.
    let revoked = admin
        .admin
        .revoke_api_key(pb::RevokeApiKeyRequest {
            key_id: reader_key.key_id.clone(),
        })
        .await
        .expect("RevokeApiKey")
        .into_inner()
        .api_key
        .expect("api key");
    assert_eq!(revoked.key_id, reader_key.key_id);
    assert!(revoked.revoke_time.is_some());
    let active = keys_of(&mut admin, false).await;
    assert!(active.iter().all(|k| k.key_id != reader_key.key_id));
    let all = keys_of(&mut admin, true).await;
    let shown = all
        .iter()
        .find(|k| k.key_id == reader_key.key_id)
        .expect("shown with show_revoked");
    assert!(shown.revoke_time.is_some());
    assert_code(
        app.as_key(reader_secret)
            .client
            .list_criteria(pb::ListCriteriaRequest {})
            .await,
        Code::Unauthenticated,
        "a revoked key",
    );
    assert_code(
        admin
            .admin
            .revoke_api_key(pb::RevokeApiKeyRequest {
                key_id: "nosuchkey".into(),
            })
            .await,
        Code::NotFound,
        "revoking an unknown key",
    );
}

/// Application::build refuses a non-loopback address with no key unless
/// told to allow unauthenticated calls.
mod startup_rule {
    use super::*;

    fn all_interfaces(url: &str, allow_unauthenticated: bool) -> leadqual::startup::Settings {
        let mut settings = settings(
            url,
            &AppOptions {
                allow_unauthenticated,
                ..AppOptions::default()
            },
        );
        settings.listen = "0.0.0.0:0".parse().expect("address");
        settings
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn non_loopback_without_keys_needs_allow_unauthenticated() {
        let database = TestDatabase::create(Backend::Sqlite).await;
        let error = match Application::build(&all_interfaces(&database.url, false)).await {
            Ok(_) => panic!("started on 0.0.0.0 with no keys"),
            Err(error) => format!("{error:#}"),
        };
        assert!(
            error.contains("--allow-unauthenticated"),
            "the error says how to allow it: {error}"
        );
        let app = Application::build(&all_interfaces(&database.url, true))
            .await
            .expect("starts with allow_unauthenticated");
        drop(app);
        // Loopback with no keys is fine without the flag.
        Application::build(&settings(&database.url, &AppOptions::default()))
            .await
            .expect("starts on loopback");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn non_loopback_with_an_active_key_starts() {
        let database = TestDatabase::create(Backend::Sqlite).await;
        let storage = leadqual::storage::connect(&database.url)
            .await
            .expect("storage");
        let keys = leadqual::auth::Authenticator::new(storage, false);
        let key = keys
            .issue("acme", &[Role::Admin], "ops", "cli")
            .await
            .expect("issue a key");
        Application::build(&all_interfaces(&database.url, false))
            .await
            .expect("starts on 0.0.0.0 with an active key");
        // Once the only key is revoked, the rule applies again.
        let output = cli_revoke_key(&database.url, "acme", &key.key_id).await;
        cli_stdout(&output);
        assert!(
            Application::build(&all_interfaces(&database.url, false))
                .await
                .is_err(),
            "no active key left"
        );
    }
}

async fn a_key_in_use_shows_its_last_use(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let key = app.issue_key("acme", &[Role::Admin]).await;
    app.use_key(&key.secret);
    let listed = |app: &mut crate::helpers::TestApp| {
        let mut admin = app.admin.clone();
        async move {
            admin
                .list_api_keys(pb::ListApiKeysRequest::default())
                .await
                .expect("ListApiKeys")
                .into_inner()
                .api_keys
        }
    };
    // The first listing is itself a use of the key; it is recorded shortly after.
    let first = listed(&mut app).await;
    assert_eq!(first.len(), 1);
    let mut last_use = None;
    for _ in 0..50 {
        last_use = listed(&mut app).await[0].last_use_time;
        if last_use.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let last_use = last_use.expect("the key's use is recorded");
    let created = first[0].create_time.expect("create time");
    assert!(
        (last_use.seconds, last_use.nanos) >= (created.seconds, created.nanos),
        "used after it was created"
    );
}
