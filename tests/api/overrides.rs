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
    an_override_can_be_withdrawn_and_the_verdict_applies_again,
    withdrawal_is_validated_and_needs_an_override_in_force,
    the_review_queue_filters_on_the_effective_outcome,
    overrides_are_listed_newest_first_page_by_page,
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

/// Tenant acme's audit events of `kind`, read with an admin key.
async fn audit_events(app: &TestApp, kind: pb::AuditEventKind) -> Vec<pb::AuditEvent> {
    let admin = app.issue_key("acme", &[Role::Admin]).await;
    app.as_key(&admin.secret)
        .admin
        .list_audit_events(pb::ListAuditEventsRequest {
            kind: kind as i32,
            ..Default::default()
        })
        .await
        .expect("ListAuditEvents")
        .into_inner()
        .audit_events
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
    let events = audit_events(&app, pb::AuditEventKind::VerdictOverridden).await;
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

fn clear_request(lead_id: &str, reason: &str) -> pb::ClearOverrideRequest {
    pb::ClearOverrideRequest {
        lead_id: lead_id.into(),
        reason: reason.into(),
    }
}

async fn an_override_can_be_withdrawn_and_the_verdict_applies_again(backend: Backend) {
    let (app, mut scorer, verdict, scorer_key) = app_with_lead_and_key(backend).await;
    let set = scorer
        .client
        .override_verdict(override_request(
            "lead-1",
            Outcome::Disqualified,
            "works for a competitor",
        ))
        .await
        .expect("override")
        .into_inner()
        .r#override
        .expect("override");

    let cleared = scorer
        .client
        .clear_override(clear_request("lead-1", "the competitor was a namesake"))
        .await
        .expect("ClearOverride")
        .into_inner();
    let withdrawn = cleared.r#override.expect("the withdrawn override");
    assert_eq!(withdrawn.override_id, set.override_id);
    assert_eq!(withdrawn.outcome, Outcome::Disqualified as i32);
    assert!(withdrawn.clear_time.is_some(), "{withdrawn:?}");
    let lead = cleared.lead.expect("the lead");
    assert_eq!(lead.effective_outcome, Outcome::NeedsReview as i32);
    assert_eq!(lead.active_override, None);

    // The same after a fresh read, and the verdict itself never changed.
    let lead = get_lead(&mut scorer, "lead-1").await;
    assert_eq!(lead.effective_outcome, Outcome::NeedsReview as i32);
    assert_eq!(lead.active_override, None);
    assert!(lead.effective_outcome_reason.contains(&verdict.verdict_id));
    assert_eq!(lead.latest_verdict.as_ref(), Some(&verdict));

    // Withdrawn overrides are kept, with their clear_time.
    let listed = scorer
        .client
        .list_overrides(pb::ListOverridesRequest::default())
        .await
        .expect("ListOverrides")
        .into_inner()
        .overrides;
    assert_eq!(listed, vec![withdrawn.clone()]);

    // The audit trail says who withdrew which override, and why.
    let events = audit_events(&app, pb::AuditEventKind::OverrideCleared).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event.actor, scorer_key);
    assert_eq!(event.lead_id, "lead-1");
    assert!(event.before_json.contains(&set.override_id), "{event:?}");
    assert!(event.before_json.contains("works for a competitor"));
    assert!(event.after_json.contains("the competitor was a namesake"));

    // A new override applies again as usual.
    scorer
        .client
        .override_verdict(override_request("lead-1", Outcome::Qualified, "signed"))
        .await
        .expect("a new override");
    let lead = get_lead(&mut scorer, "lead-1").await;
    assert_eq!(lead.effective_outcome, Outcome::Qualified as i32);
}

async fn withdrawal_is_validated_and_needs_an_override_in_force(backend: Backend) {
    let (app, mut scorer, _) = app_with_lead(backend).await;
    let status = scorer
        .client
        .clear_override(clear_request("bad\nid", "  "))
        .await
        .expect_err("bad request");
    assert_bad_fields(&status, &["lead_id", "reason"]);

    assert_code(
        scorer
            .client
            .clear_override(clear_request("lead-1", "nothing to withdraw"))
            .await,
        Code::FailedPrecondition,
        "a lead without an override",
    );
    assert_code(
        scorer
            .client
            .clear_override(clear_request("no-such-lead", "typo"))
            .await,
        Code::NotFound,
        "an unknown lead",
    );

    scorer
        .client
        .override_verdict(override_request("lead-1", Outcome::Qualified, "signed"))
        .await
        .expect("override");
    scorer
        .client
        .clear_override(clear_request("lead-1", "not yet signed"))
        .await
        .expect("the first withdrawal");
    assert_code(
        scorer
            .client
            .clear_override(clear_request("lead-1", "again"))
            .await,
        Code::FailedPrecondition,
        "a second withdrawal",
    );

    // A reader may list overrides but not withdraw them.
    let reader = app.issue_key("acme", &[Role::Reader]).await;
    let mut reader = app.as_key(&reader.secret);
    assert_code(
        reader
            .client
            .clear_override(clear_request("lead-1", "mine now"))
            .await,
        Code::PermissionDenied,
        "a reader",
    );
    let listed = reader
        .client
        .list_overrides(pb::ListOverridesRequest::default())
        .await
        .expect("a reader lists overrides")
        .into_inner()
        .overrides;
    assert_eq!(listed.len(), 1);
    assert!(listed[0].clear_time.is_some());
}

async fn the_review_queue_filters_on_the_effective_outcome(backend: Backend) {
    let (_app, mut scorer, _) = app_with_lead(backend).await;
    // lead-1, lead-2 and lead-3 all need review by their verdicts.
    for lead_id in ["lead-2", "lead-3"] {
        scorer
            .client
            .qualify_lead(qualify_request(
                lead_id,
                Stage::Recommendation,
                recommendation_facts(),
            ))
            .await
            .expect("QualifyLead");
    }
    // lead-1 overridden to qualified; lead-2 overridden, then withdrawn;
    // lead-3 overridden with an expiry that passes.
    scorer
        .client
        .override_verdict(override_request("lead-1", Outcome::Qualified, "signed"))
        .await
        .expect("override lead-1");
    scorer
        .client
        .override_verdict(override_request("lead-2", Outcome::Qualified, "signed?"))
        .await
        .expect("override lead-2");
    scorer
        .client
        .clear_override(clear_request("lead-2", "not signed"))
        .await
        .expect("withdraw lead-2");
    scorer
        .client
        .override_verdict(pb::OverrideVerdictRequest {
            expire_time: Some(timestamp(SystemTime::now() + Duration::from_secs(2))),
            ..override_request("lead-3", Outcome::Disqualified, "on hold for a moment")
        })
        .await
        .expect("override lead-3");

    let queue = |effective: Outcome, outcome: Outcome| {
        let mut client = scorer.client.clone();
        async move {
            let leads = client
                .list_leads(pb::ListLeadsRequest {
                    effective_outcome: effective as i32,
                    outcome: outcome as i32,
                    ..Default::default()
                })
                .await
                .expect("ListLeads")
                .into_inner()
                .leads;
            leads.into_iter().map(|l| l.lead_id).collect::<Vec<_>>()
        }
    };
    let any = Outcome::Unspecified;
    assert_eq!(queue(Outcome::Qualified, any).await, ["lead-1"]);
    assert_eq!(queue(Outcome::NeedsReview, any).await, ["lead-2"]);
    assert_eq!(queue(Outcome::Disqualified, any).await, ["lead-3"]);
    // The computed outcome is still there to filter on, and both combine.
    assert_eq!(
        queue(any, Outcome::NeedsReview).await,
        ["lead-1", "lead-2", "lead-3"]
    );
    assert_eq!(
        queue(Outcome::Qualified, Outcome::NeedsReview).await,
        ["lead-1"]
    );
    assert!(
        queue(Outcome::Qualified, Outcome::Disqualified)
            .await
            .is_empty()
    );

    // Once lead-3's override expires, its verdict decides again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(queue(Outcome::Disqualified, any).await.is_empty());
    assert_eq!(queue(Outcome::NeedsReview, any).await, ["lead-2", "lead-3"]);
}

async fn overrides_are_listed_newest_first_page_by_page(backend: Backend) {
    let (app, mut scorer, _) = app_with_lead(backend).await;
    scorer
        .client
        .qualify_lead(qualify_request(
            "lead-2",
            Stage::Recommendation,
            recommendation_facts(),
        ))
        .await
        .expect("QualifyLead");
    let mut made = Vec::new();
    for (lead_id, reason) in [("lead-1", "one"), ("lead-2", "two"), ("lead-1", "three")] {
        let o = scorer
            .client
            .override_verdict(override_request(lead_id, Outcome::Qualified, reason))
            .await
            .expect("override")
            .into_inner()
            .r#override
            .expect("override");
        made.push(o);
    }
    made.reverse();

    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = scorer
            .client
            .list_overrides(pb::ListOverridesRequest {
                page_size: 2,
                page_token: token,
                lead_id: String::new(),
            })
            .await
            .expect("ListOverrides")
            .into_inner();
        assert!(page.overrides.len() <= 2);
        seen.extend(page.overrides);
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(seen, made, "newest first, each once");

    let of_lead_1 = scorer
        .client
        .list_overrides(pb::ListOverridesRequest {
            lead_id: "lead-1".into(),
            ..Default::default()
        })
        .await
        .expect("ListOverrides of lead-1")
        .into_inner()
        .overrides;
    let reasons: Vec<&str> = of_lead_1.iter().map(|o| o.reason.as_str()).collect();
    assert_eq!(reasons, ["three", "one"]);

    // Bad arguments are named; another tenant sees none of them.
    let status = scorer
        .client
        .list_overrides(pb::ListOverridesRequest {
            page_size: -1,
            page_token: "not-a-token".into(),
            lead_id: "bad\nid".into(),
        })
        .await
        .expect_err("bad request");
    assert_bad_fields(&status, &["page_size", "page_token", "lead_id"]);
    let other = app.issue_key("globex", &[Role::Reader]).await;
    let listed = app
        .as_key(&other.secret)
        .client
        .list_overrides(pb::ListOverridesRequest::default())
        .await
        .expect("ListOverrides of another tenant")
        .into_inner()
        .overrides;
    assert!(listed.is_empty(), "{listed:?}");
}
