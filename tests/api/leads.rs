//! GetLead, ListLeads and ListVerdicts, with AIP-158 pagination.

use std::collections::BTreeSet;

use leadqual::proto::v1 as pb;
use pb::{Outcome, Stage};
use tonic::Code;

use crate::backend_tests;
use crate::helpers::{Backend, assert_bad_fields, qualify_request, spawn_app};

backend_tests!(
    pagination_walks_250_leads_without_duplicates_or_gaps,
    leads_are_filtered_by_stage_and_latest_outcome,
    verdict_history_is_newest_first_across_pages,
    unknown_lead_is_not_found,
    page_token_is_bound_to_its_filters,
);

async fn pagination_walks_250_leads_without_duplicates_or_gaps(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let mut expected = BTreeSet::new();
    for i in 0..250 {
        let id = format!("lead-{i:04}");
        app.qualify(qualify_request(
            &id,
            Stage::Identification,
            pb::LeadFacts::default(),
        ))
        .await;
        expected.insert(id);
    }
    for page_size in [1, 7, 50, 100, 1000] {
        let mut seen = Vec::new();
        let mut token = String::new();
        let mut pages = 0;
        loop {
            let page = app
                .client
                .list_leads(pb::ListLeadsRequest {
                    page_size,
                    page_token: token,
                    ..Default::default()
                })
                .await
                .expect("ListLeads")
                .into_inner();
            pages += 1;
            assert!(page.leads.len() <= page_size as usize);
            seen.extend(page.leads.into_iter().map(|l| l.lead_id));
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        let unique: BTreeSet<String> = seen.iter().cloned().collect();
        assert_eq!(
            unique.len(),
            seen.len(),
            "no duplicates at page size {page_size}"
        );
        assert_eq!(unique, expected, "no gaps at page size {page_size}");
        assert_eq!(
            pages,
            250_usize.div_ceil(page_size as usize),
            "page count at page size {page_size}"
        );
    }
    // Page size 0 means the default of 50.
    let first = app
        .client
        .list_leads(pb::ListLeadsRequest::default())
        .await
        .expect("ListLeads")
        .into_inner();
    assert_eq!(first.leads.len(), 50);
    assert!(first.leads[0].latest_verdict.is_some());
}

async fn leads_are_filtered_by_stage_and_latest_outcome(backend: Backend) {
    let mut app = spawn_app(backend).await;
    // Qualified contact-stage leads.
    for i in 0..3 {
        app.qualify(qualify_request(
            &format!("c-ok-{i}"),
            Stage::Contact,
            pb::LeadFacts::default(),
        ))
        .await;
    }
    // Disqualified contact-stage leads: 30 + 20 + 10 = 60.
    for i in 0..2 {
        app.qualify(qualify_request(
            &format!("c-bad-{i}"),
            Stage::Contact,
            pb::LeadFacts {
                disrespectful_incidents: Some(1),
                insists_on_own_process: Some(true),
                emotional_only_responses: Some(true),
                ..Default::default()
            },
        ))
        .await;
    }
    // A study-stage lead that needs review: 25 + 15 = 40.
    app.qualify(qualify_request(
        "s-review",
        Stage::Study,
        pb::LeadFacts {
            priority: Some(pb::Priority::NotNow as i32),
            missed_sessions: Some(2),
            ..Default::default()
        },
    ))
    .await;

    let list = |stage: Stage, outcome: Outcome| pb::ListLeadsRequest {
        stage: stage as i32,
        outcome: outcome as i32,
        ..Default::default()
    };
    let ids = |r: pb::ListLeadsResponse| -> Vec<String> {
        r.leads.into_iter().map(|l| l.lead_id).collect()
    };
    let contact = app
        .client
        .list_leads(list(Stage::Contact, Outcome::Unspecified))
        .await
        .expect("ListLeads")
        .into_inner();
    assert_eq!(
        ids(contact),
        ["c-bad-0", "c-bad-1", "c-ok-0", "c-ok-1", "c-ok-2"]
    );
    let disqualified = app
        .client
        .list_leads(list(Stage::Unspecified, Outcome::Disqualified))
        .await
        .expect("ListLeads")
        .into_inner();
    assert_eq!(ids(disqualified), ["c-bad-0", "c-bad-1"]);
    let review = app
        .client
        .list_leads(list(Stage::Study, Outcome::NeedsReview))
        .await
        .expect("ListLeads")
        .into_inner();
    assert_eq!(ids(review), ["s-review"]);
    let none = app
        .client
        .list_leads(list(Stage::Recommendation, Outcome::Unspecified))
        .await
        .expect("ListLeads")
        .into_inner();
    assert!(none.leads.is_empty());
    assert!(none.next_page_token.is_empty());

    // A lead that is re-qualified moves between outcome filters.
    app.qualify(pb::QualifyLeadRequest {
        lead_id: "c-bad-0".into(),
        facts: Some(pb::LeadFacts {
            disrespectful_incidents: Some(0),
            insists_on_own_process: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    })
    .await;
    let disqualified = app
        .client
        .list_leads(list(Stage::Unspecified, Outcome::Disqualified))
        .await
        .expect("ListLeads")
        .into_inner();
    assert_eq!(ids(disqualified), ["c-bad-1"]);
}

async fn verdict_history_is_newest_first_across_pages(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let mut ids = Vec::new();
    for repeats in 0..7 {
        let verdict = app
            .qualify(qualify_request(
                "lead-history",
                Stage::Recommendation,
                pb::LeadFacts {
                    max_material_repeats: Some(repeats),
                    ..Default::default()
                },
            ))
            .await
            .verdict
            .expect("verdict");
        ids.push(verdict.verdict_id);
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = app
            .client
            .list_verdicts(pb::ListVerdictsRequest {
                lead_id: "lead-history".into(),
                page_size: 3,
                page_token: token,
            })
            .await
            .expect("ListVerdicts")
            .into_inner();
        assert!(page.verdicts.len() <= 3);
        seen.extend(page.verdicts.into_iter().map(|v| v.verdict_id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, ids, "newest first, no duplicates, no gaps");
}

async fn unknown_lead_is_not_found(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let status = app
        .client
        .get_lead(pb::GetLeadRequest {
            lead_id: "nobody".into(),
        })
        .await
        .expect_err("not found");
    assert_eq!(status.code(), Code::NotFound);
    let status = app
        .client
        .list_verdicts(pb::ListVerdictsRequest {
            lead_id: "nobody".into(),
            ..Default::default()
        })
        .await
        .expect_err("not found");
    assert_eq!(status.code(), Code::NotFound);
}

async fn page_token_is_bound_to_its_filters(backend: Backend) {
    let mut app = spawn_app(backend).await;
    for i in 0..3 {
        app.qualify(qualify_request(
            &format!("lead-{i}"),
            Stage::Contact,
            pb::LeadFacts::default(),
        ))
        .await;
    }
    let page = app
        .client
        .list_leads(pb::ListLeadsRequest {
            page_size: 1,
            stage: Stage::Contact as i32,
            ..Default::default()
        })
        .await
        .expect("ListLeads")
        .into_inner();
    assert!(!page.next_page_token.is_empty());
    let status = app
        .client
        .list_leads(pb::ListLeadsRequest {
            page_size: 1,
            page_token: page.next_page_token,
            stage: Stage::Study as i32,
            ..Default::default()
        })
        .await
        .expect_err("filters changed");
    assert_bad_fields(&status, &["page_token"]);
}
