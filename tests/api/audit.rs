//! The audit trail: who changed profiles, keys and outcomes, when, and what
//! changed; newest first, paginated, filtered; never a secret.

use std::collections::BTreeSet;
use std::time::Duration;

use leadqual::auth::Role;
use leadqual::proto::v1 as pb;
use pb::{AuditEventKind as Kind, Outcome, Stage};

use crate::backend_tests;
use crate::helpers::{
    Backend, Clients, TestApp, cli_create_key, cli_list_keys, cli_revoke_key, cli_stdout,
    key_id_of, qualify_request, secret_part, spawn_app,
};

backend_tests!(
    audit_trail_records_who_did_what_newest_first,
    audit_events_page_one_by_one_and_filter_by_kind_and_lead,
    no_secret_reaches_the_audit_trail,
);

/// What [`history`] did, in tenant "default".
struct History {
    app: TestApp,
    admin: Clients,
    /// (key_id, secret): the CLI's admin key, the gRPC scorer key, the
    /// library's reader key.
    cli_key: (String, String),
    grpc_key: (String, String),
    lib_key: (String, String),
}

/// Lets each event get its own timestamp, so that "newest first" is one
/// order.
async fn tick() {
    tokio::time::sleep(Duration::from_millis(20)).await;
}

/// Nine audited actions, oldest first:
/// 1. PROFILE_UPDATED by "unauthenticated" (open mode);
/// 2. API_KEY_CREATED by "cli" (the CLI's admin key);
/// 3. API_KEY_CREATED by the admin key (a scorer key, over gRPC);
/// 4. API_KEY_CREATED by "cli" (issue_key, a reader key);
/// 5. VERDICT_OVERRIDDEN of lead-audit by the scorer key;
/// 6. VERDICT_OVERRIDDEN of lead-other by the scorer key;
/// 7. PROFILE_UPDATED by the admin key;
/// 8. API_KEY_REVOKED of the scorer key by the admin key;
/// 9. API_KEY_REVOKED of the reader key by "cli".
async fn history(backend: Backend) -> History {
    let app = spawn_app(backend).await;
    let mut open = app.clients(crate::helpers::Auth::none());
    open.client
        .update_profile(pb::UpdateProfileRequest {
            profile: Some(pb::Profile {
                review_threshold: Some(25),
                ..Default::default()
            }),
            expected_version: None,
        })
        .await
        .expect("open mode: UpdateProfile");
    tick().await;

    let cli_secret = cli_create_key(&app.database.url, "default", &["admin"]).await;
    let cli_ids = cli_list_keys(&app.database.url, "default").await;
    let cli_id = key_id_of(
        &cli_secret,
        cli_ids.iter().filter_map(|l| l.split_whitespace().next()),
    );
    let mut admin = app.as_key(&cli_secret);
    tick().await;

    let created = admin
        .admin
        .create_api_key(pb::CreateApiKeyRequest {
            roles: vec![pb::Role::Scorer as i32],
            description: "scoring service".into(),
        })
        .await
        .expect("CreateApiKey")
        .into_inner();
    let grpc_key = (
        created.api_key.expect("api key").key_id,
        created.secret.clone(),
    );
    tick().await;

    let keys = leadqual::auth::Authenticator::new(app.storage().await, false);
    let issued = keys
        .issue("default", &[Role::Reader], "dashboard", "cli")
        .await
        .expect("issue a key");
    drop(keys);
    let lib_key = (issued.key_id.clone(), issued.secret.clone());
    tick().await;

    for lead in ["lead-audit", "lead-other"] {
        admin
            .client
            .qualify_lead(qualify_request(
                lead,
                Stage::Identification,
                pb::LeadFacts::default(),
            ))
            .await
            .expect("QualifyLead");
    }
    let mut scorer = app.as_key(&grpc_key.1);
    for (lead, outcome, reason) in [
        (
            "lead-audit",
            Outcome::Disqualified,
            "parent company in sanctions list",
        ),
        ("lead-other", Outcome::NeedsReview, "merger announced"),
    ] {
        scorer
            .client
            .override_verdict(pb::OverrideVerdictRequest {
                lead_id: lead.into(),
                outcome: outcome as i32,
                reason: reason.into(),
                author: "jane@acme.example".into(),
                expire_time: None,
            })
            .await
            .expect("OverrideVerdict");
        tick().await;
    }

    admin
        .client
        .update_profile(pb::UpdateProfileRequest {
            profile: Some(pb::Profile {
                review_threshold: Some(20),
                ..Default::default()
            }),
            expected_version: Some(2),
        })
        .await
        .expect("UpdateProfile");
    tick().await;

    admin
        .admin
        .revoke_api_key(pb::RevokeApiKeyRequest {
            key_id: grpc_key.0.clone(),
        })
        .await
        .expect("RevokeApiKey");
    tick().await;

    cli_stdout(&cli_revoke_key(&app.database.url, "default", &lib_key.0).await);

    History {
        app,
        admin,
        cli_key: (cli_id, cli_secret),
        grpc_key,
        lib_key,
    }
}

async fn all_events(
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
        assert!(
            request.page_size == 0 || page.audit_events.len() <= request.page_size as usize,
            "page size respected"
        );
        events.extend(page.audit_events);
        if page.next_page_token.is_empty() {
            return events;
        }
        request.page_token = page.next_page_token;
    }
}

fn json(text: &str, what: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{what} is not JSON ({e}): {text:?}"))
}

async fn audit_trail_records_who_did_what_newest_first(backend: Backend) {
    let History {
        app,
        mut admin,
        cli_key,
        grpc_key,
        lib_key,
    } = history(backend).await;
    let events = all_events(&mut admin, pb::ListAuditEventsRequest::default()).await;
    let summary: Vec<(Kind, &str, &str)> = events
        .iter()
        .map(|e| {
            (
                Kind::try_from(e.kind).expect("a known kind"),
                e.actor.as_str(),
                e.lead_id.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (Kind::ApiKeyRevoked, "cli", ""),
            (Kind::ApiKeyRevoked, cli_key.0.as_str(), ""),
            (Kind::ProfileUpdated, cli_key.0.as_str(), ""),
            (Kind::VerdictOverridden, grpc_key.0.as_str(), "lead-other"),
            (Kind::VerdictOverridden, grpc_key.0.as_str(), "lead-audit"),
            (Kind::ApiKeyCreated, "cli", ""),
            (Kind::ApiKeyCreated, cli_key.0.as_str(), ""),
            (Kind::ApiKeyCreated, "cli", ""),
            (Kind::ProfileUpdated, "unauthenticated", ""),
        ],
        "kinds, actors and leads, newest first: {events:#?}"
    );
    let ids: BTreeSet<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids.len(), events.len(), "unique event ids");
    assert!(!ids.contains(""));
    let times: Vec<(i64, i32)> = events
        .iter()
        .map(|e| {
            let t = e.create_time.expect("create_time");
            (t.seconds, t.nanos)
        })
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );
    assert!(
        events.iter().all(|e| !e.subject.is_empty()),
        "every event has a subject"
    );

    // Key events name their key, in the subject and after_json.
    for (event, key_id) in [
        (&events[0], &lib_key.0),
        (&events[1], &grpc_key.0),
        (&events[5], &lib_key.0),
        (&events[6], &grpc_key.0),
        (&events[7], &cli_key.0),
    ] {
        assert!(event.subject.contains(key_id.as_str()), "{event:?}");
        let after = json(&event.after_json, "after_json");
        assert!(after.to_string().contains(key_id.as_str()), "{event:?}");
    }
    // Profile events carry both profiles as JSON.
    for (event, threshold) in [(&events[2], "20"), (&events[8], "25")] {
        let before = json(&event.before_json, "before_json");
        let after = json(&event.after_json, "after_json");
        assert!(before.is_object() && after.is_object(), "{event:?}");
        assert_ne!(before, after, "{event:?}");
        assert!(after.to_string().contains(threshold), "{event:?}");
    }
    // Override events carry the override.
    let after = json(&events[4].after_json, "after_json");
    assert!(
        after
            .to_string()
            .contains("parent company in sanctions list"),
        "{:?}",
        events[4]
    );
    assert!(after.to_string().contains("jane@acme.example"));

    // Append-only: the trail reads the same after a restart.
    let mut app = app.restart().await;
    app.use_key(&cli_key.1);
    let again = app
        .admin
        .list_audit_events(pb::ListAuditEventsRequest::default())
        .await
        .expect("ListAuditEvents")
        .into_inner()
        .audit_events;
    assert_eq!(again, events);
}

async fn audit_events_page_one_by_one_and_filter_by_kind_and_lead(backend: Backend) {
    // Keep the app: dropping it stops the server.
    let History {
        app: _app,
        mut admin,
        ..
    } = history(backend).await;
    let everything = all_events(&mut admin, pb::ListAuditEventsRequest::default()).await;
    assert_eq!(everything.len(), 9);
    for page_size in [1, 2, 4, 1000] {
        let walked = all_events(
            &mut admin,
            pb::ListAuditEventsRequest {
                page_size,
                ..Default::default()
            },
        )
        .await;
        assert_eq!(walked, everything, "page size {page_size}");
    }
    // Exactly nine pages of one.
    let mut pages = 0;
    let mut token = String::new();
    loop {
        let page = admin
            .admin
            .list_audit_events(pb::ListAuditEventsRequest {
                page_size: 1,
                page_token: token,
                ..Default::default()
            })
            .await
            .expect("ListAuditEvents")
            .into_inner();
        assert_eq!(page.audit_events.len(), 1);
        pages += 1;
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, 9);

    let filtered = |kind: Kind, lead: &str| {
        everything
            .iter()
            .filter(|e| {
                (kind == Kind::Unspecified || e.kind == kind as i32)
                    && (lead.is_empty() || e.lead_id == lead)
            })
            .cloned()
            .collect::<Vec<_>>()
    };
    for (kind, lead, count) in [
        (Kind::ApiKeyCreated, "", 3),
        (Kind::ApiKeyRevoked, "", 2),
        (Kind::ProfileUpdated, "", 2),
        (Kind::VerdictOverridden, "", 2),
        (Kind::Unspecified, "lead-audit", 1),
        (Kind::Unspecified, "lead-other", 1),
        (Kind::VerdictOverridden, "lead-other", 1),
        (Kind::ProfileUpdated, "lead-audit", 0),
        (Kind::Unspecified, "no-such-lead", 0),
    ] {
        let expected = filtered(kind, lead);
        assert_eq!(expected.len(), count, "{kind:?} {lead:?}");
        for page_size in [1, 0] {
            let got = all_events(
                &mut admin,
                pb::ListAuditEventsRequest {
                    page_size,
                    kind: kind as i32,
                    lead_id: lead.into(),
                    ..Default::default()
                },
            )
            .await;
            assert_eq!(got, expected, "{kind:?} {lead:?} page size {page_size}");
        }
    }
}

async fn no_secret_reaches_the_audit_trail(backend: Backend) {
    let History {
        mut admin,
        cli_key,
        grpc_key,
        lib_key,
        app,
    } = history(backend).await;
    let events = all_events(&mut admin, pb::ListAuditEventsRequest::default()).await;
    let text = format!("{events:?}");
    let keys = admin
        .admin
        .list_api_keys(pb::ListApiKeysRequest {
            show_revoked: true,
            ..Default::default()
        })
        .await
        .expect("ListApiKeys")
        .into_inner()
        .api_keys;
    assert_eq!(keys.len(), 3);
    let listed = format!("{keys:?}");
    let cli_lines = cli_list_keys(&app.database.url, "default").await.join("\n");
    for (key_id, secret) in [&cli_key, &grpc_key, &lib_key] {
        let part = secret_part(secret, key_id);
        assert!(part.len() >= 16, "a real secret part: {secret}");
        for (what, haystack) in [
            ("the audit trail", &text),
            ("ListApiKeys", &listed),
            ("keys list", &cli_lines),
        ] {
            assert!(!haystack.contains(secret.as_str()), "{what} holds {secret}");
            assert!(
                !haystack.contains(part),
                "{what} holds the secret part of {key_id}"
            );
        }
        assert!(text.contains(key_id.as_str()), "the trail names {key_id}");
    }
}
