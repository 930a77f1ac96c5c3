//! GetProfile, UpdateProfile and ListProfileVersions.

use leadqual::domain;
use leadqual::proto::v1 as pb;
use pb::{Criterion, Outcome, SignalStatus, Stage};
use tonic::Code;

use crate::backend_tests;
use crate::helpers::{Backend, qualify_request, signal, spawn_app};

backend_tests!(
    fresh_install_serves_the_default_profile_as_version_1,
    update_makes_a_new_version_and_later_verdicts_use_it,
    stale_expected_version_is_a_failed_precondition,
    profile_versions_are_listed_newest_first_across_pages,
    knockout_disqualifies_on_its_own,
);

async fn get_profile(app: &mut crate::helpers::TestApp, version: i64) -> pb::Profile {
    app.client
        .get_profile(pb::GetProfileRequest { version })
        .await
        .expect("GetProfile")
        .into_inner()
        .profile
        .expect("profile")
}

async fn update(app: &mut crate::helpers::TestApp, profile: pb::Profile) -> pb::Profile {
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
}

async fn fresh_install_serves_the_default_profile_as_version_1(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let profile = get_profile(&mut app, 0).await;
    assert_eq!(profile.version, 1);
    assert_eq!(profile.review_threshold, Some(30));
    assert_eq!(profile.disqualify_threshold, Some(60));
    assert_eq!(profile.min_overlap_hours, Some(3.0));
    assert_eq!(profile.max_material_repeats_allowed, Some(3));
    assert_eq!(profile.max_meeting_disruptions, Some(3));
    assert_eq!(profile.min_answer_ratio, Some(0.5));
    assert!(profile.target_verticals.is_empty() && profile.countries.is_empty());
    assert_eq!(profile.weights.len(), domain::Criterion::COUNT);
    let territory = profile
        .weights
        .iter()
        .find(|w| w.criterion == Criterion::OutsideTerritory as i32)
        .expect("weight");
    assert_eq!(territory.weight, 40);
    let hours = profile.seller_business_hours.expect("hours");
    assert_eq!(
        (hours.start.as_str(), hours.end.as_str()),
        ("09:00", "18:00")
    );
}

async fn update_makes_a_new_version_and_later_verdicts_use_it(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let facts = pb::LeadFacts {
        vertical: Some("Retail".into()),
        country: Some("de".into()),
        ..Default::default()
    };
    let before = app
        .qualify(qualify_request(
            "lead-p",
            Stage::Identification,
            facts.clone(),
        ))
        .await
        .verdict
        .expect("verdict");
    assert_eq!(before.profile_version, 1);
    assert_eq!(before.outcome, Outcome::Qualified as i32);

    let v2 = update(
        &mut app,
        pb::Profile {
            target_verticals: vec!["saas".into(), "logistics".into()],
            countries: vec!["FR".into(), "it".into()],
            weights: vec![pb::CriterionWeight {
                criterion: Criterion::VerticalMismatch as i32,
                weight: 35,
            }],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(v2.version, 2);
    assert_eq!(v2.countries, ["FR", "IT"]);
    let after = app
        .qualify(pb::QualifyLeadRequest {
            lead_id: "lead-p".into(),
            ..Default::default()
        })
        .await
        .verdict
        .expect("verdict");
    assert_eq!(after.profile_version, 2);
    let vertical = signal(&after, Criterion::VerticalMismatch);
    assert_eq!(vertical.status, SignalStatus::Fired as i32);
    assert_eq!(vertical.weight, 35);
    assert_eq!(
        signal(&after, Criterion::CountryTimezoneMismatch).status,
        SignalStatus::Fired as i32
    );
    assert_eq!(after.score, 65);
    assert_eq!(after.outcome, Outcome::Disqualified as i32);
    // Version 1 is still readable and unchanged; verdicts keep their version.
    let v1 = get_profile(&mut app, 1).await;
    assert!(v1.target_verticals.is_empty());
    let history = app.all_verdicts("lead-p").await;
    assert_eq!(
        history
            .iter()
            .map(|v| v.profile_version)
            .collect::<Vec<_>>(),
        [2, 1]
    );
    let status = app
        .client
        .get_profile(pb::GetProfileRequest { version: 9 })
        .await
        .expect_err("no such version");
    assert_eq!(status.code(), Code::NotFound);
}

async fn stale_expected_version_is_a_failed_precondition(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let request = |expected| pb::UpdateProfileRequest {
        profile: Some(pb::Profile {
            review_threshold: Some(25),
            ..Default::default()
        }),
        expected_version: Some(expected),
    };
    let v2 = app
        .client
        .update_profile(request(1))
        .await
        .expect("current version matches")
        .into_inner()
        .profile
        .expect("profile");
    assert_eq!(v2.version, 2);
    let status = app
        .client
        .update_profile(request(1))
        .await
        .expect_err("version 1 is stale");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(get_profile(&mut app, 0).await.version, 2);
}

async fn profile_versions_are_listed_newest_first_across_pages(backend: Backend) {
    let mut app = spawn_app(backend).await;
    for threshold in [20, 21, 22, 23] {
        update(
            &mut app,
            pb::Profile {
                review_threshold: Some(threshold),
                ..Default::default()
            },
        )
        .await;
    }
    let mut versions = Vec::new();
    let mut token = String::new();
    loop {
        let page = app
            .client
            .list_profile_versions(pb::ListProfileVersionsRequest {
                page_size: 2,
                page_token: token,
            })
            .await
            .expect("ListProfileVersions")
            .into_inner();
        versions.extend(
            page.profiles
                .iter()
                .map(|p| (p.version, p.review_threshold)),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(
        versions,
        [
            (5, Some(23)),
            (4, Some(22)),
            (3, Some(21)),
            (2, Some(20)),
            (1, Some(30))
        ]
    );
}

async fn knockout_disqualifies_on_its_own(backend: Backend) {
    let mut app = spawn_app(backend).await;
    update(
        &mut app,
        pb::Profile {
            territories: vec!["EMEA".into()],
            knockouts: vec![
                Criterion::OutsideTerritory as i32,
                Criterion::MagicWand as i32,
            ],
            weights: vec![pb::CriterionWeight {
                criterion: Criterion::OutsideTerritory as i32,
                weight: 5,
            }],
            ..Default::default()
        },
    )
    .await;
    let verdict = app
        .qualify(qualify_request(
            "lead-ko",
            Stage::Recommendation,
            pb::LeadFacts {
                territory: Some("APAC".into()),
                expects_magic_wand: Some(false),
                ..Default::default()
            },
        ))
        .await
        .verdict
        .expect("verdict");
    assert_eq!(verdict.score, 5);
    assert_eq!(verdict.outcome, Outcome::Disqualified as i32);
    assert_eq!(
        verdict.knockouts_fired,
        [Criterion::OutsideTerritory as i32]
    );
    assert!(signal(&verdict, Criterion::OutsideTerritory).knockout);
    assert!(signal(&verdict, Criterion::MagicWand).knockout);
    assert!(!signal(&verdict, Criterion::MeetingDisruptions).knockout);
    let stored = app.stored_verdict(&verdict.verdict_id).await;
    assert_eq!(
        stored.as_ref(),
        Some(&verdict),
        "knockout flags read back as stored"
    );
}
