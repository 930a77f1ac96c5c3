//! OverrideVerdict: a human outcome next to the computed verdicts, with
//! expiry, replacement, validation and roles; GetLead's effective outcome.

use std::time::{Duration, SystemTime};

use leadqual::auth::Role;
use leadqual::proto::v1 as pb;
use pb::{Outcome, Stage};
use tonic::Code;

use crate::backend_tests;
use crate::helpers::{
    Backend, Clients, TestApp, assert_bad_fields, assert_code, qualify_request, read_lead,
    spawn_app,
};

backend_tests!(
    lead_without_override_takes_the_latest_verdict,
    override_applies_over_later_verdicts_until_it_expires,
    newer_override_replaces_the_older_one,
    override_is_validated_and_nothing_is_stored_for_a_bad_one,
    override_of_an_unknown_lead_is_not_found,
    override_needs_the_scorer_role,
);

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

/// An app with a tenant "acme" whose scorer key the returned clients send,
/// and a lead "lead-1" that needs review.
async fn app_with_lead(backend: Backend) -> (TestApp, Clients, pb::Verdict) {
    let (app, scorer, verdict, _) = app_with_lead_and_key(backend).await;
    (app, scorer, verdict)
}

/// [`app_with_lead`], and the scorer's key_id.
async fn app_with_lead_and_key(backend: Backend) -> (TestApp, Clients, pb::Verdict, String) {
    let app = spawn_app(backend).await;
    let key = app.issue_key("acme", &[Role::Scorer]).await;
    let mut scorer = app.as_key(&key.secret);
    let verdict = scorer
        .client
        .qualify_lead(qualify_request(
            "lead-1",
            Stage::Recommendation,
            recommendation_facts(),
        ))
        .await
        .expect("QualifyLead")
        .into_inner()
        .verdict
        .expect("verdict");
    assert_eq!(verdict.outcome, Outcome::NeedsReview as i32);
    (app, scorer, verdict, key.key_id)
}

async fn get_lead(clients: &mut Clients, lead_id: &str) -> pb::Lead {
    read_lead(&clients.client, lead_id).await.expect("GetLead")
}

fn timestamp(time: SystemTime) -> prost_types::Timestamp {
    let since = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after the epoch");
    prost_types::Timestamp {
        seconds: since.as_secs() as i64,
        nanos: since.subsec_nanos() as i32,
    }
}

fn override_request(lead_id: &str, outcome: Outcome, reason: &str) -> pb::OverrideVerdictRequest {
    pb::OverrideVerdictRequest {
        lead_id: lead_id.into(),
        outcome: outcome as i32,
        reason: reason.into(),
        author: "jane@acme.example".into(),
        expire_time: None,
    }
}

async fn lead_without_override_takes_the_latest_verdict(backend: Backend) {
    let (_app, mut scorer, verdict) = app_with_lead(backend).await;
    let lead = get_lead(&mut scorer, "lead-1").await;
    assert_eq!(lead.latest_verdict.as_ref(), Some(&verdict));
    assert_eq!(lead.effective_outcome, verdict.outcome);
    assert!(lead.active_override.is_none());
    assert!(
        lead.effective_outcome_reason
            .to_lowercase()
            .contains("verdict"),
        "the reason names the verdict: {:?}",
        lead.effective_outcome_reason
    );
    // ListLeads carries the same effective outcome.
    let listed = scorer
        .client
        .list_leads(pb::ListLeadsRequest::default())
        .await
        .expect("ListLeads")
        .into_inner()
        .leads;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].effective_outcome, verdict.outcome);
}

async fn override_applies_over_later_verdicts_until_it_expires(backend: Backend) {
    let (app, mut scorer, first, scorer_key_id) = app_with_lead_and_key(backend).await;
    let expires = SystemTime::now() + Duration::from_secs(3);
    let reason = "CFO confirmed budget on the call";
    let response = scorer
        .client
        .override_verdict(pb::OverrideVerdictRequest {
            expire_time: Some(timestamp(expires)),
            ..override_request("lead-1", Outcome::Qualified, reason)
        })
        .await
        .expect("OverrideVerdict")
        .into_inner();
    let made = response.r#override.expect("the override");
    assert!(!made.override_id.is_empty());
    assert_eq!(made.lead_id, "lead-1");
    assert_eq!(made.outcome, Outcome::Qualified as i32);
    assert_eq!(made.reason, reason);
    assert_eq!(made.author, "jane@acme.example");
    assert!(made.create_time.is_some());
    let expire_time = made.expire_time.expect("expire_time");
    assert_eq!(expire_time.seconds, timestamp(expires).seconds);
    assert_eq!(
        made.verdict_id, first.verdict_id,
        "made over the latest verdict"
    );
    assert_eq!(made.actor, scorer_key_id, "the acting key");
    let returned = response.lead.expect("the lead");
    assert_eq!(returned.effective_outcome, Outcome::Qualified as i32);
    assert_eq!(returned.active_override.as_ref(), Some(&made));

    // GetLead: the override applies, the computed verdict is kept.
    let lead = get_lead(&mut scorer, "lead-1").await;
    assert_eq!(lead.effective_outcome, Outcome::Qualified as i32);
    assert_eq!(lead.active_override.as_ref(), Some(&made));
    assert_eq!(lead.latest_verdict.as_ref(), Some(&first));
    assert!(
        lead.effective_outcome_reason.contains("jane@acme.example")
            && lead.effective_outcome_reason.contains(reason),
        "the reason names the author and the reason: {:?}",
        lead.effective_outcome_reason
    );

    // Evaluation goes on: a later qualification stores a new computed
    // verdict (magic wand: 35 + 25 = 60, disqualified), the override stays.
    let second = scorer
        .client
        .qualify_lead(qualify_request(
            "lead-1",
            Stage::Unspecified,
            pb::LeadFacts {
                expects_magic_wand: Some(true),
                ..Default::default()
            },
        ))
        .await
        .expect("QualifyLead")
        .into_inner()
        .verdict
        .expect("verdict");
    assert_eq!(second.outcome, Outcome::Disqualified as i32);
    assert_eq!(second.score, 60);
    let lead = get_lead(&mut scorer, "lead-1").await;
    assert_eq!(lead.latest_verdict.as_ref(), Some(&second));
    assert_eq!(lead.effective_outcome, Outcome::Qualified as i32);
    assert_eq!(lead.active_override.as_ref(), Some(&made));
    let verdicts = scorer
        .client
        .list_verdicts(pb::ListVerdictsRequest {
            lead_id: "lead-1".into(),
            ..Default::default()
        })
        .await
        .expect("ListVerdicts")
        .into_inner()
        .verdicts;
    assert_eq!(
        verdicts
            .iter()
            .map(|v| v.verdict_id.as_str())
            .collect::<Vec<_>>(),
        [second.verdict_id.as_str(), first.verdict_id.as_str()],
        "both computed verdicts are stored"
    );

    // Once expired, the latest computed verdict applies again by itself.
    let wait = expires
        .duration_since(SystemTime::now())
        .unwrap_or_default()
        + Duration::from_millis(700);
    tokio::time::sleep(wait).await;
    let lead = get_lead(&mut scorer, "lead-1").await;
    assert_eq!(lead.effective_outcome, Outcome::Disqualified as i32);
    assert!(lead.active_override.is_none(), "{:?}", lead.active_override);
    assert_eq!(lead.latest_verdict.as_ref(), Some(&second));
    assert!(
        lead.effective_outcome_reason
            .to_lowercase()
            .contains("verdict"),
        "{:?}",
        lead.effective_outcome_reason
    );
    // And it survives a restart the same way.
    let mut app = app.restart().await;
    let key = app.issue_key("acme", &[Role::Reader]).await;
    app.use_key(&key.secret);
    let lead = read_lead(&app.client, "lead-1").await.expect("GetLead");
    assert_eq!(lead.effective_outcome, Outcome::Disqualified as i32);
    assert!(lead.active_override.is_none());
}

async fn newer_override_replaces_the_older_one(backend: Backend) {
    let (_app, mut scorer, verdict) = app_with_lead(backend).await;
    let older = scorer
        .client
        .override_verdict(override_request(
            "lead-1",
            Outcome::Disqualified,
            "works for a competitor",
        ))
        .await
        .expect("first override")
        .into_inner()
        .r#override
        .expect("override");
    assert!(older.expire_time.is_none(), "until replaced");
    let lead = get_lead(&mut scorer, "lead-1").await;
    assert_eq!(lead.effective_outcome, Outcome::Disqualified as i32);
    assert_eq!(lead.active_override.as_ref(), Some(&older));

    let newer = scorer
        .client
        .override_verdict(pb::OverrideVerdictRequest {
            author: "bob@acme.example".into(),
            ..override_request("lead-1", Outcome::Qualified, "left the competitor")
        })
        .await
        .expect("second override")
        .into_inner()
        .r#override
        .expect("override");
    assert_ne!(newer.override_id, older.override_id);
    let lead = get_lead(&mut scorer, "lead-1").await;
    assert_eq!(lead.effective_outcome, Outcome::Qualified as i32);
    assert_eq!(lead.active_override.as_ref(), Some(&newer));
    assert!(lead.effective_outcome_reason.contains("bob@acme.example"));
    assert!(
        lead.effective_outcome_reason
            .contains("left the competitor")
    );
    assert!(
        !lead
            .effective_outcome_reason
            .contains("works for a competitor")
    );
    assert_eq!(lead.latest_verdict.as_ref(), Some(&verdict));

    // An override may also set the outcome the verdict already has.
    let same = scorer
        .client
        .override_verdict(override_request(
            "lead-1",
            Outcome::NeedsReview,
            "let the team decide",
        ))
        .await
        .expect("third override")
        .into_inner()
        .r#override
        .expect("override");
    let lead = get_lead(&mut scorer, "lead-1").await;
    assert_eq!(lead.effective_outcome, Outcome::NeedsReview as i32);
    assert_eq!(lead.active_override.as_ref(), Some(&same));
}

async fn override_is_validated_and_nothing_is_stored_for_a_bad_one(backend: Backend) {
    let (app, mut scorer, _) = app_with_lead(backend).await;
    let status = scorer
        .client
        .override_verdict(pb::OverrideVerdictRequest {
            lead_id: "lead-1".into(),
            ..Default::default()
        })
        .await
        .expect_err("an empty override");
    assert_bad_fields(&status, &["author", "outcome", "reason"]);

    let past = SystemTime::now() - Duration::from_secs(60);
    let status = scorer
        .client
        .override_verdict(pb::OverrideVerdictRequest {
            expire_time: Some(timestamp(past)),
            ..override_request("lead-1", Outcome::Qualified, "too late")
        })
        .await
        .expect_err("an expiry in the past");
    assert_bad_fields(&status, &["expire_time"]);

    let status = scorer
        .client
        .override_verdict(pb::OverrideVerdictRequest {
            author: "a".repeat(201),
            ..override_request("lead-1", Outcome::Qualified, &"r".repeat(2001))
        })
        .await
        .expect_err("too long");
    assert_bad_fields(&status, &["author", "reason"]);

    let status = scorer
        .client
        .override_verdict(pb::OverrideVerdictRequest {
            outcome: 42,
            ..override_request("lead-1", Outcome::Qualified, "unknown outcome")
        })
        .await
        .expect_err("an unknown outcome");
    assert_bad_fields(&status, &["outcome"]);

    let lead = get_lead(&mut scorer, "lead-1").await;
    assert!(lead.active_override.is_none(), "nothing stored");
    assert_eq!(lead.effective_outcome, Outcome::NeedsReview as i32);
    let admin = app.issue_key("acme", &[Role::Admin]).await;
    let events = app
        .as_key(&admin.secret)
        .admin
        .list_audit_events(pb::ListAuditEventsRequest {
            kind: pb::AuditEventKind::VerdictOverridden as i32,
            ..Default::default()
        })
        .await
        .expect("ListAuditEvents")
        .into_inner()
        .audit_events;
    assert!(
        events.is_empty(),
        "no audit event for refused overrides: {events:?}"
    );
}

async fn override_of_an_unknown_lead_is_not_found(backend: Backend) {
    let (_app, mut scorer, _) = app_with_lead(backend).await;
    assert_code(
        scorer
            .client
            .override_verdict(override_request(
                "no-such-lead",
                Outcome::Qualified,
                "why not",
            ))
            .await,
        Code::NotFound,
        "OverrideVerdict of an unknown lead",
    );
    assert_code(
        scorer
            .client
            .get_lead(pb::GetLeadRequest {
                lead_id: "no-such-lead".into(),
            })
            .await,
        Code::NotFound,
        "the override did not create the lead",
    );
}

async fn override_needs_the_scorer_role(backend: Backend) {
    let (app, _scorer, _) = app_with_lead(backend).await;
    let reader = app.issue_key("acme", &[Role::Reader]).await;
    let admin = app.issue_key("acme", &[Role::Admin]).await;
    let mut reader = app.as_key(&reader.secret);
    assert_code(
        reader
            .client
            .override_verdict(override_request("lead-1", Outcome::Qualified, "reader"))
            .await,
        Code::PermissionDenied,
        "a reader's override",
    );
    // Refused before validation: a reader learns nothing from an empty request.
    assert_code(
        reader
            .client
            .override_verdict(pb::OverrideVerdictRequest::default())
            .await,
        Code::PermissionDenied,
        "a reader's empty override",
    );
    let lead = get_lead(&mut reader, "lead-1").await;
    assert!(lead.active_override.is_none());
    let made = app
        .as_key(&admin.secret)
        .client
        .override_verdict(override_request("lead-1", Outcome::Disqualified, "admin"))
        .await
        .expect("an admin may override")
        .into_inner()
        .r#override
        .expect("override");
    assert_eq!(made.actor, admin.key_id, "the acting key");
    let lead = get_lead(&mut reader, "lead-1").await;
    assert_eq!(lead.effective_outcome, Outcome::Disqualified as i32);
    assert_eq!(lead.active_override.as_ref(), Some(&made));
}
