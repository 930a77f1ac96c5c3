//! Every invalid field of every request is rejected with INVALID_ARGUMENT and
//! a BadRequest violation naming it, and nothing is stored.

use leadqual::proto::v1 as pb;
use tonic_types::StatusExt;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, assert_bad_fields, qualify_request, spawn_app};

backend_tests!(
    qualify_lead_names_every_bad_field_and_stores_nothing,
    merged_facts_where_a_part_exceeds_its_whole_are_rejected,
    reads_name_every_bad_field,
    update_profile_names_every_bad_field_and_stores_nothing,
    an_error_stays_small_however_many_fields_are_bad,
    long_profile_lists_are_refused_whole,
);

async fn assert_nothing_stored(app: &mut TestApp) {
    assert!(app.all_leads().await.is_empty(), "no lead was stored");
    let profile = app
        .client
        .get_profile(pb::GetProfileRequest { version: 0 })
        .await
        .expect("GetProfile")
        .into_inner()
        .profile
        .expect("profile");
    assert_eq!(profile.version, 1, "no profile version was stored");
}

async fn qualify_lead_names_every_bad_field_and_stores_nothing(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let all_bad = pb::QualifyLeadRequest {
        lead_id: "x".repeat(129),
        stage: 99,
        request_id: "bad\tid".into(),
        validate_only: false,
        facts: Some(pb::LeadFacts {
            employee_count: Some(-1),
            annual_revenue_usd: Some(-5),
            vertical: Some("   ".into()),
            business_model: Some("b".repeat(201)),
            territory: Some("EM\u{7}EA".into()),
            country: Some("Germany".into()),
            timezone: Some("Europe/Atlantis".into()),
            disrespectful_incidents: Some(-1),
            engagement_pattern: Some(42),
            questions_asked: Some(-1),
            questions_answered: Some(-1),
            contradictory_statements: Some(-1),
            plan_steps_agreed: Some(-1),
            plan_steps_completed: Some(-1),
            budget_usd: Some(-100),
            staff_available: Some(-1),
            missed_sessions: Some(-1),
            priority: Some(42),
            assignments_given: Some(-1),
            assignments_completed: Some(-1),
            meetings_cancelled: Some(-1),
            meetings_rescheduled: Some(-1),
            agreed_actions_not_done: Some(-1),
            max_material_repeats: Some(-1),
            ..Default::default()
        }),
    };
    let status = app
        .client
        .qualify_lead(all_bad)
        .await
        .expect_err("rejected");
    assert_bad_fields(
        &status,
        &[
            "lead_id",
            "stage",
            "request_id",
            "facts.employee_count",
            "facts.annual_revenue_usd",
            "facts.vertical",
            "facts.business_model",
            "facts.territory",
            "facts.country",
            "facts.timezone",
            "facts.disrespectful_incidents",
            "facts.engagement_pattern",
            "facts.questions_asked",
            "facts.questions_answered",
            "facts.contradictory_statements",
            "facts.plan_steps_agreed",
            "facts.plan_steps_completed",
            "facts.budget_usd",
            "facts.staff_available",
            "facts.missed_sessions",
            "facts.priority",
            "facts.assignments_given",
            "facts.assignments_completed",
            "facts.meetings_cancelled",
            "facts.meetings_rescheduled",
            "facts.agreed_actions_not_done",
            "facts.max_material_repeats",
        ],
    );
    for (lead_id, why) in [
        ("", "empty"),
        (" padded", "surrounding space"),
        ("a\nb", "newline"),
    ] {
        let status = app
            .client
            .qualify_lead(qualify_request(
                lead_id,
                pb::Stage::Contact,
                pb::LeadFacts::default(),
            ))
            .await
            .expect_err(why);
        assert_bad_fields(&status, &["lead_id"]);
    }
    assert_nothing_stored(&mut app).await;
}

async fn merged_facts_where_a_part_exceeds_its_whole_are_rejected(backend: Backend) {
    let mut app = spawn_app(backend).await;
    app.qualify(qualify_request(
        "lead-ratio",
        pb::Stage::Recommendation,
        pb::LeadFacts {
            questions_asked: Some(5),
            plan_steps_agreed: Some(2),
            assignments_given: Some(3),
            ..Default::default()
        },
    ))
    .await;
    // Only the new parts are sent; the wholes come from the stored facts.
    let status = app
        .client
        .qualify_lead(pb::QualifyLeadRequest {
            lead_id: "lead-ratio".into(),
            facts: Some(pb::LeadFacts {
                questions_answered: Some(6),
                plan_steps_completed: Some(3),
                assignments_completed: Some(4),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect_err("rejected");
    assert_bad_fields(
        &status,
        &[
            "facts.questions_answered",
            "facts.plan_steps_completed",
            "facts.assignments_completed",
        ],
    );
    assert_eq!(
        app.all_verdicts("lead-ratio").await.len(),
        1,
        "nothing new stored"
    );
}

async fn reads_name_every_bad_field(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let status = app
        .client
        .get_lead(pb::GetLeadRequest {
            lead_id: String::new(),
        })
        .await
        .expect_err("GetLead");
    assert_bad_fields(&status, &["lead_id"]);

    let status = app
        .client
        .list_leads(pb::ListLeadsRequest {
            page_size: -1,
            page_token: "not-a-token".into(),
            stage: 17,
            outcome: 17,
            effective_outcome: 17,
            lifecycle_class: 17,
            value_tier: 17,
            churn_status: 17,
        })
        .await
        .expect_err("ListLeads");
    assert_bad_fields(
        &status,
        &[
            "page_size",
            "page_token",
            "stage",
            "outcome",
            "effective_outcome",
            "lifecycle_class",
            "value_tier",
            "churn_status",
        ],
    );

    let status = app
        .client
        .get_verdict(pb::GetVerdictRequest {
            verdict_id: String::new(),
        })
        .await
        .expect_err("GetVerdict");
    assert_bad_fields(&status, &["verdict_id"]);

    let status = app
        .client
        .list_verdicts(pb::ListVerdictsRequest {
            lead_id: String::new(),
            page_size: -3,
            page_token: "%%%".into(),
        })
        .await
        .expect_err("ListVerdicts");
    assert_bad_fields(&status, &["lead_id", "page_size", "page_token"]);

    let status = app
        .client
        .get_profile(pb::GetProfileRequest { version: -1 })
        .await
        .expect_err("GetProfile");
    assert_bad_fields(&status, &["version"]);

    let status = app
        .client
        .list_profile_versions(pb::ListProfileVersionsRequest {
            page_size: -1,
            page_token: "garbage".into(),
        })
        .await
        .expect_err("ListProfileVersions");
    assert_bad_fields(&status, &["page_size", "page_token"]);
    assert_nothing_stored(&mut app).await;
}

async fn update_profile_names_every_bad_field_and_stores_nothing(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let status = app
        .client
        .update_profile(pb::UpdateProfileRequest::default())
        .await
        .expect_err("profile missing");
    assert_bad_fields(&status, &["profile"]);

    let bad = pb::Profile {
        min_employees: Some(500),
        max_employees: Some(50),
        min_annual_revenue_usd: Some(-1),
        target_verticals: vec!["saas".into(), " ".into()],
        countries: vec!["DE".into(), "ZZ".into()],
        seller_timezone: "Moon/Tranquility".into(),
        seller_business_hours: Some(pb::BusinessHours {
            start: "9am".into(),
            end: "18:00".into(),
        }),
        min_overlap_hours: Some(25.0),
        max_disrespectful_incidents: Some(0),
        min_answer_ratio: Some(1.5),
        min_plan_completion: Some(-0.1),
        min_staff: Some(-2),
        max_material_repeats_allowed: Some(-1),
        weights: vec![
            pb::CriterionWeight {
                criterion: 0,
                weight: 10,
            },
            pb::CriterionWeight {
                criterion: pb::Criterion::MagicWand as i32,
                weight: 101,
            },
        ],
        knockouts: vec![99],
        review_threshold: Some(0),
        disqualify_threshold: Some(101),
        ..Default::default()
    };
    let status = app
        .client
        .update_profile(pb::UpdateProfileRequest {
            profile: Some(bad),
            expected_version: Some(0),
        })
        .await
        .expect_err("rejected");
    assert_bad_fields(
        &status,
        &[
            "profile.max_employees",
            "profile.min_annual_revenue_usd",
            "profile.target_verticals[1]",
            "profile.countries[1]",
            "profile.seller_timezone",
            "profile.seller_business_hours.start",
            "profile.min_overlap_hours",
            "profile.max_disrespectful_incidents",
            "profile.min_answer_ratio",
            "profile.min_plan_completion",
            "profile.min_staff",
            "profile.max_material_repeats_allowed",
            "profile.weights[0].criterion",
            "profile.weights[1].weight",
            "profile.knockouts[0]",
            "profile.review_threshold",
            "profile.disqualify_threshold",
            "expected_version",
        ],
    );
    let status = app
        .client
        .update_profile(pb::UpdateProfileRequest {
            profile: Some(pb::Profile {
                review_threshold: Some(70),
                disqualify_threshold: Some(60),
                ..Default::default()
            }),
            expected_version: None,
        })
        .await
        .expect_err("review above disqualify");
    assert_bad_fields(&status, &["profile.review_threshold"]);
    assert_nothing_stored(&mut app).await;
}

async fn an_error_stays_small_however_many_fields_are_bad(backend: Backend) {
    let mut app = spawn_app(backend).await;
    // 256 countries (the most a profile may list), each a violation whose
    // description quotes the value sent.
    let status = app
        .client
        .update_profile(pb::UpdateProfileRequest {
            profile: Some(pb::Profile {
                countries: (0..256).map(|i| format!("Germany-{i:0>40}")).collect(),
                ..Default::default()
            }),
            expected_version: None,
        })
        .await
        .expect_err("not country codes");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    let details = status.get_details_bad_request().expect("a BadRequest");
    assert_eq!(details.field_violations.len(), 33, "32 listed and a count");
    assert_eq!(details.field_violations[0].field, "profile.countries[0]");
    assert!(
        details.field_violations[32]
            .description
            .starts_with("224 more violations"),
        "{:?}",
        details.field_violations[32]
    );
    assert!(
        status.details().len() < 12_000,
        "{}",
        status.details().len()
    );
    assert!(status.message().len() < 1_200, "{}", status.message());
    assert_nothing_stored(&mut app).await;
}

async fn long_profile_lists_are_refused_whole(backend: Backend) {
    let mut app = spawn_app(backend).await;
    // 100,000 labels (~800 KB): refused as one violation, not looked at one
    // by one, and nothing stored.
    let status = app
        .client
        .update_profile(pb::UpdateProfileRequest {
            profile: Some(pb::Profile {
                target_verticals: (0..100_000).map(|i| format!("v{i}")).collect(),
                countries: vec!["DE".into(); 300],
                knockouts: vec![pb::Criterion::MagicWand as i32; 65],
                ..Default::default()
            }),
            expected_version: None,
        })
        .await
        .expect_err("too many entries");
    assert_bad_fields(
        &status,
        &[
            "profile.target_verticals",
            "profile.countries",
            "profile.knockouts",
        ],
    );
    assert!(status.message().contains("at most 256 entries, got 100000"));
    assert_nothing_stored(&mut app).await;
    // At the bound, duplicates (in any case) are kept once.
    let stored = app
        .client
        .update_profile(pb::UpdateProfileRequest {
            profile: Some(pb::Profile {
                target_verticals: (0..256)
                    .map(|i| if i % 2 == 0 { "SaaS" } else { "saas" }.to_owned())
                    .collect(),
                ..Default::default()
            }),
            expected_version: None,
        })
        .await
        .expect("256 entries are fine")
        .into_inner()
        .profile
        .expect("a profile");
    assert_eq!(stored.target_verticals, vec!["SaaS".to_owned()]);
}
