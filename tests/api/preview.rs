//! PreviewProfile: what a candidate profile would change, checked against
//! qualifying the same leads one by one before and after publishing it.

use std::collections::BTreeMap;

use leadqual::auth::Role;
use leadqual::proto::v1 as pb;
use pb::{Criterion, SignalStatus, Stage};

use crate::backend_tests;
use crate::helpers::{
    Backend, QualificationClient, TestApp, TestDatabase, assert_bad_fields, qualify_request,
    spawn_app,
};

backend_tests!(
    preview_matches_qualifying_each_lead_under_both_profiles,
    preview_stores_nothing_and_counts_only_the_callers_tenant,
    preview_rejects_an_invalid_candidate_and_sample_size,
    preview_of_an_empty_tenant_is_all_zeros,
);

const LEADS: usize = 30;

fn lead_name(i: usize) -> String {
    format!("lead-{i:02}")
}

/// Varied leads: every stage, facts inside and outside the profiles, some
/// leads with few facts known.
fn lead_facts(i: usize) -> (Stage, pb::LeadFacts) {
    let stage = [
        Stage::Identification,
        Stage::Contact,
        Stage::Study,
        Stage::Recommendation,
    ][i % 4];
    if i % 6 == 5 {
        return (
            stage,
            pb::LeadFacts {
                employee_count: Some(3 + i as i64),
                ..Default::default()
            },
        );
    }
    let facts = pb::LeadFacts {
        employee_count: Some(5 + (i as i64 * 37) % 400),
        annual_revenue_usd: Some(200_000 * (i as i64 % 9 + 1)),
        vertical: Some(["saas", "retail", "fintech"][i % 3].into()),
        business_model: Some(["b2b", "b2c"][i % 2].into()),
        country: (i % 4 != 3).then(|| ["DE", "FR", "US"][i % 3].into()),
        disrespectful_incidents: Some((i % 3) as i32),
        questions_asked: Some(10),
        questions_answered: Some((i % 11) as i32),
        contradictory_statements: Some((i % 4) as i32),
        plan_steps_agreed: Some(4),
        plan_steps_completed: Some((i % 5) as i32),
        budget_usd: Some(5_000 * (i as i64 % 7)),
        staff_available: Some((i % 3) as i32),
        missed_sessions: Some((i % 5) as i32),
        expects_magic_wand: Some(i.is_multiple_of(5)),
        assignments_given: Some(3),
        assignments_completed: Some((i % 4) as i32),
        meetings_cancelled: Some((i % 4) as i32),
        meetings_rescheduled: Some((i / 2 % 3) as i32),
        agreed_actions_not_done: Some((i % 3) as i32),
        max_material_repeats: Some((i % 6) as i32),
        ..Default::default()
    };
    (stage, facts)
}

/// The profile in force before the preview.
fn current_profile() -> pb::Profile {
    pb::Profile {
        min_employees: Some(10),
        review_threshold: Some(40),
        disqualify_threshold: Some(80),
        ..Default::default()
    }
}

/// A stricter profile: lower thresholds, a vertical and business-model
/// restriction, a tighter meeting rule and a knockout.
fn candidate_profile() -> pb::Profile {
    pb::Profile {
        min_employees: Some(10),
        target_verticals: vec!["saas".into(), "fintech".into()],
        target_business_models: vec!["b2b".into()],
        max_meeting_disruptions: Some(2),
        knockouts: vec![Criterion::Disrespectful as i32],
        review_threshold: Some(25),
        disqualify_threshold: Some(50),
        ..Default::default()
    }
}

async fn update_profile(app: &mut TestApp, profile: pb::Profile) -> i64 {
    app.client
        .update_profile(pb::UpdateProfileRequest {
            profile: Some(profile),
            expected_version: None,
        })
        .await
        .expect("UpdateProfile")
        .into_inner()
        .profile
        .expect("profile")
        .version
}

async fn seed(app: &mut TestApp, count: usize) {
    for i in 0..count {
        let (stage, facts) = lead_facts(i);
        app.qualify(qualify_request(&lead_name(i), stage, facts))
            .await;
    }
}

/// Each lead's verdict under the profile in force now, from QualifyLead with
/// validate_only and no new facts.
async fn verdicts_now(app: &mut TestApp, count: usize) -> Vec<pb::Verdict> {
    let mut verdicts = Vec::new();
    for i in 0..count {
        let response = app
            .client
            .qualify_lead(pb::QualifyLeadRequest {
                lead_id: lead_name(i),
                validate_only: true,
                ..Default::default()
            })
            .await
            .expect("QualifyLead validate_only")
            .into_inner();
        verdicts.push(response.verdict.expect("verdict"));
    }
    verdicts
}

async fn preview(
    client: &mut QualificationClient,
    profile: pb::Profile,
    sample_size: i32,
) -> pb::PreviewProfileResponse {
    client
        .preview_profile(pb::PreviewProfileRequest {
            profile: Some(profile),
            sample_size,
        })
        .await
        .expect("PreviewProfile")
        .into_inner()
}

fn fired(verdict: &pb::Verdict) -> impl Iterator<Item = i32> + '_ {
    verdict
        .signals
        .iter()
        .filter(|s| s.status == SignalStatus::Fired as i32)
        .map(|s| s.criterion)
}

/// A verdict without what differs between two evaluations of the same
/// facts at different moments or under an unpublished profile: id, time and
/// profile version.
fn comparable(verdict: &pb::Verdict) -> pb::Verdict {
    pb::Verdict {
        verdict_id: String::new(),
        evaluate_time: None,
        profile_version: 0,
        ..verdict.clone()
    }
}

async fn preview_matches_qualifying_each_lead_under_both_profiles(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let admin = app.issue_key("acme", &[Role::Admin]).await;
    let reader = app.issue_key("acme", &[Role::Reader]).await;
    app.use_key(&admin.secret);
    let current_version = update_profile(&mut app, current_profile()).await;
    seed(&mut app, LEADS).await;
    let before = verdicts_now(&mut app, LEADS).await;

    let mut reader_client = app.as_key(&reader.secret).client;
    let response = preview(&mut reader_client, candidate_profile(), 100).await;
    let default_sample = preview(&mut reader_client, candidate_profile(), 0).await;
    let small_sample = preview(&mut reader_client, candidate_profile(), 3).await;

    update_profile(&mut app, candidate_profile()).await;
    let after = verdicts_now(&mut app, LEADS).await;

    // What the one-by-one calls say.
    let mut transitions: BTreeMap<(i32, i32), i64> = BTreeMap::new();
    let mut criteria: BTreeMap<i32, (i64, i64)> = BTreeMap::new();
    let mut changed = Vec::new();
    for (b, a) in before.iter().zip(&after) {
        *transitions.entry((b.outcome, a.outcome)).or_default() += 1;
        for c in fired(b) {
            criteria.entry(c).or_default().0 += 1;
        }
        for c in fired(a) {
            criteria.entry(c).or_default().1 += 1;
        }
        if b.outcome != a.outcome {
            changed.push((b, a));
        }
    }
    assert!(
        changed.len() > 3 && changed.len() < LEADS,
        "the candidate changes some outcomes but not all: {}",
        changed.len()
    );
    assert!(
        transitions.keys().any(|(from, to)| from == to),
        "some outcomes stay"
    );

    assert_eq!(response.current_profile_version, current_version);
    assert_eq!(response.leads_evaluated, LEADS as i64);
    assert_eq!(response.leads_changed, changed.len() as i64);
    let got: BTreeMap<(i32, i32), i64> = response
        .transitions
        .iter()
        .map(|t| ((t.from, t.to), t.leads))
        .collect();
    assert_eq!(got, transitions);
    assert_eq!(got.len(), response.transitions.len(), "each pair once");
    assert!(response.transitions.iter().all(|t| t.leads > 0));
    let got: BTreeMap<i32, (i64, i64)> = response
        .criteria
        .iter()
        .map(|c| (c.criterion, (c.fired_before, c.fired_after)))
        .collect();
    assert_eq!(got, criteria);
    let order: Vec<i32> = response.criteria.iter().map(|c| c.criterion).collect();
    assert!(order.is_sorted(), "catalogue order: {order:?}");

    // Every changed lead, by lead id, with both verdicts as QualifyLead
    // computes them.
    assert_eq!(response.sample.len(), changed.len());
    for (item, (b, a)) in response.sample.iter().zip(&changed) {
        assert_eq!(item.lead_id, b.lead_id);
        let current = item.current.as_ref().expect("current verdict");
        let candidate = item.candidate.as_ref().expect("candidate verdict");
        assert!(current.verdict_id.is_empty() && candidate.verdict_id.is_empty());
        assert_eq!(current.profile_version, current_version);
        assert_eq!(comparable(current), comparable(b), "{}", item.lead_id);
        assert_eq!(comparable(candidate), comparable(a), "{}", item.lead_id);
        assert_eq!(current.evaluate_time, response.evaluate_time);
        assert_eq!(candidate.evaluate_time, response.evaluate_time);
    }
    let ids = |r: &pb::PreviewProfileResponse| -> Vec<String> {
        r.sample.iter().map(|c| c.lead_id.clone()).collect()
    };
    let all_ids = ids(&response);
    assert!(all_ids.is_sorted());
    assert_eq!(ids(&small_sample), all_ids[..3]);
    assert_eq!(ids(&default_sample), all_ids[..all_ids.len().min(20)]);
    assert_eq!(small_sample.leads_changed, response.leads_changed);
}

async fn count(database: &TestDatabase, table: &str) -> String {
    database
        .query_texts(&format!("SELECT CAST(count(*) AS TEXT) FROM {table}"))
        .await
        .remove(0)
}

async fn preview_stores_nothing_and_counts_only_the_callers_tenant(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let acme = app.issue_key("acme", &[Role::Admin]).await;
    let other = app.issue_key("other", &[Role::Admin]).await;
    app.use_key(&other.secret);
    seed(&mut app, 12).await;
    app.use_key(&acme.secret);
    seed(&mut app, 5).await;

    let tables = ["verdicts", "signals", "profiles", "audit_events", "leads"];
    let mut counts = Vec::new();
    for table in tables {
        counts.push(count(&app.database, table).await);
    }
    let response = preview(&mut app.client, candidate_profile(), 0).await;
    assert_eq!(response.leads_evaluated, 5, "only acme's leads");
    // Acme never published a profile: compared against the defaults.
    assert_eq!(response.current_profile_version, 1);
    for (table, before) in tables.iter().zip(counts) {
        assert_eq!(count(&app.database, table).await, before, "{table}");
    }
    let versions = app
        .client
        .list_profile_versions(pb::ListProfileVersionsRequest::default())
        .await
        .expect("ListProfileVersions")
        .into_inner()
        .profiles;
    assert_eq!(versions.len(), 1, "the first qualification stored v1 only");
}

async fn preview_rejects_an_invalid_candidate_and_sample_size(backend: Backend) {
    let mut app = spawn_app(backend).await;
    seed(&mut app, 2).await;
    let call = |profile: Option<pb::Profile>, sample_size: i32| {
        let mut client = app.client.clone();
        async move {
            client
                .preview_profile(pb::PreviewProfileRequest {
                    profile,
                    sample_size,
                })
                .await
                .expect_err("rejected")
        }
    };
    let invalid = pb::Profile {
        min_employees: Some(-1),
        review_threshold: Some(70),
        disqualify_threshold: Some(60),
        ..Default::default()
    };
    let status = call(Some(invalid.clone()), 0).await;
    assert_bad_fields(
        &status,
        &["profile.min_employees", "profile.review_threshold"],
    );
    assert_bad_fields(&call(None, 0).await, &["profile"]);
    assert_bad_fields(&call(Some(candidate_profile()), -1).await, &["sample_size"]);
    assert_bad_fields(
        &call(Some(candidate_profile()), 101).await,
        &["sample_size"],
    );
    assert_bad_fields(
        &call(Some(invalid), 101).await,
        &[
            "profile.min_employees",
            "profile.review_threshold",
            "sample_size",
        ],
    );
    let largest = preview(&mut app.client, candidate_profile(), 100).await;
    assert_eq!(largest.leads_evaluated, 2);
}

async fn preview_of_an_empty_tenant_is_all_zeros(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let key = app.issue_key("empty", &[Role::Reader]).await;
    app.use_key(&key.secret);
    let response = preview(&mut app.client, candidate_profile(), 0).await;
    assert_eq!(response.current_profile_version, 0, "the defaults");
    assert_eq!(response.leads_evaluated, 0);
    assert_eq!(response.leads_changed, 0);
    assert!(response.transitions.is_empty());
    assert!(response.criteria.is_empty());
    assert!(response.sample.is_empty());
    assert!(response.evaluate_time.is_some());
    assert_eq!(
        count(&app.database, "profiles").await,
        "0",
        "no default profile stored"
    );
}
