//! ListCriteria, health and reflection.

use leadqual::domain;
use leadqual::proto::v1 as pb;
use pb::{Criterion, Stage};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::backend_tests;
use crate::helpers::{Backend, spawn_app};

backend_tests!(
    criteria_catalogue_lists_all_21_with_defaults,
    health_reports_serving
);

async fn criteria_catalogue_lists_all_21_with_defaults(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let criteria = app
        .client
        .list_criteria(pb::ListCriteriaRequest {})
        .await
        .expect("ListCriteria")
        .into_inner()
        .criteria;
    assert_eq!(criteria.len(), domain::Criterion::COUNT);
    let numbers: Vec<i32> = criteria.iter().map(|c| c.criterion).collect();
    let count = i32::try_from(domain::Criterion::COUNT).expect("a small count");
    assert_eq!(numbers, (1..=count).collect::<Vec<_>>());
    let repeats = &criteria[Criterion::RepeatedExplanations as usize - 1];
    assert_eq!(repeats.code, "REPEATED_EXPLANATIONS");
    assert_eq!(repeats.stage, Stage::Recommendation as i32);
    assert_eq!(repeats.default_weight, 15);
    assert_eq!(repeats.facts_read, ["max_material_repeats"]);
    assert!(repeats.default_thresholds[0].contains("max_material_repeats_allowed = 3"));
    let per_stage = |stage: Stage| criteria.iter().filter(|c| c.stage == stage as i32).count();
    assert_eq!(
        [
            per_stage(Stage::Identification),
            per_stage(Stage::Contact),
            per_stage(Stage::Study),
            per_stage(Stage::Recommendation)
        ],
        [6, 5, 5, 5]
    );
    assert!(
        criteria
            .iter()
            .all(|c| !c.title.is_empty() && !c.description.is_empty())
    );
}

async fn health_reports_serving(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut health = HealthClient::new(app.channel.clone());
    for service in ["", "leadqual.v1.LeadQualificationService"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("Check")
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "service {service:?}");
    }
}
