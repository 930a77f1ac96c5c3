//! GetSignalStats: counts over the latest verdict of each lead in a time
//! range, on a small data set whose counts are known.

use std::collections::BTreeMap;

use leadqual::auth::Role;
use leadqual::proto::v1 as pb;
use pb::{Criterion, SignalStatus, Stage};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, assert_bad_fields, qualify_request, spawn_app};

backend_tests!(
    stats_count_the_latest_verdict_of_each_lead_in_the_range,
    stats_reject_an_invalid_range_and_stage,
);

/// Minimum 10 employees, SaaS only, a disrespectful lead is out at once.
fn profile() -> pb::Profile {
    pb::Profile {
        min_employees: Some(10),
        target_verticals: vec!["saas".into()],
        knockouts: vec![Criterion::Disrespectful as i32],
        ..Default::default()
    }
}

fn facts(employees: Option<i64>, vertical: Option<&str>, incidents: Option<i32>) -> pb::LeadFacts {
    pb::LeadFacts {
        employee_count: employees,
        vertical: vertical.map(str::to_owned),
        disrespectful_incidents: incidents,
        ..Default::default()
    }
}

/// Qualifies and returns the verdict's evaluation time.
async fn qualify(
    app: &mut TestApp,
    lead_id: &str,
    stage: Stage,
    facts: pb::LeadFacts,
) -> prost_types::Timestamp {
    app.qualify(qualify_request(lead_id, stage, facts))
        .await
        .verdict
        .expect("verdict")
        .evaluate_time
        .expect("evaluate_time")
}

async fn stats(
    app: &mut TestApp,
    start_time: Option<prost_types::Timestamp>,
    end_time: Option<prost_types::Timestamp>,
    stage: Stage,
) -> pb::GetSignalStatsResponse {
    app.client
        .get_signal_stats(pb::GetSignalStatsRequest {
            start_time,
            end_time,
            stage: stage as i32,
        })
        .await
        .expect("GetSignalStats")
        .into_inner()
}

fn criterion_stats(response: &pb::GetSignalStatsResponse, c: Criterion) -> &pb::CriterionStats {
    response
        .criteria
        .iter()
        .find(|s| s.criterion == c as i32)
        .expect("every criterion is listed")
}

/// `(fired, clear, unknown, not_applicable)` of a criterion.
fn statuses(response: &pb::GetSignalStatsResponse, c: Criterion) -> (i64, i64, i64, i64) {
    let s = criterion_stats(response, c);
    (s.fired, s.clear, s.unknown, s.not_applicable)
}

fn missing(response: &pb::GetSignalStatsResponse, c: Criterion) -> Vec<(String, i64)> {
    criterion_stats(response, c)
        .missing_facts
        .iter()
        .map(|m| (m.fact.clone(), m.leads))
        .collect()
}

/// `(stage, qualified, needs_review, disqualified)` per stage.
fn stage_rows(response: &pb::GetSignalStatsResponse) -> Vec<(i32, i64, i64, i64)> {
    response
        .stages
        .iter()
        .map(|s| (s.stage, s.qualified, s.needs_review, s.disqualified))
        .collect()
}

/// What the response must say about `criteria`, computed from the given
/// latest verdicts as GetLead returns them: statuses and the five facts
/// most often missing (most first, ties by name).
fn expected_criteria(verdicts: &[pb::Verdict]) -> Vec<pb::CriterionStats> {
    (1..=21)
        .map(|criterion| {
            let mut row = pb::CriterionStats {
                criterion,
                ..Default::default()
            };
            let mut facts: BTreeMap<String, i64> = BTreeMap::new();
            for v in verdicts {
                let s = v
                    .signals
                    .iter()
                    .find(|s| s.criterion == criterion)
                    .expect("21 signals");
                match SignalStatus::try_from(s.status).expect("status") {
                    SignalStatus::Fired => row.fired += 1,
                    SignalStatus::Clear => row.clear += 1,
                    SignalStatus::Unknown => row.unknown += 1,
                    SignalStatus::NotApplicable => row.not_applicable += 1,
                    SignalStatus::Unspecified => panic!("unspecified status"),
                }
                if s.status == SignalStatus::Unknown as i32 {
                    for f in &s.missing_facts {
                        *facts.entry(f.clone()).or_default() += 1;
                    }
                }
            }
            let mut facts: Vec<(String, i64)> = facts.into_iter().collect();
            facts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            row.missing_facts = facts
                .into_iter()
                .take(5)
                .map(|(fact, leads)| pb::MissingFactCount { fact, leads })
                .collect();
            row
        })
        .collect()
}

async fn latest_verdicts(app: &TestApp, lead_ids: &[&str]) -> Vec<pb::Verdict> {
    let mut verdicts = Vec::new();
    for id in lead_ids {
        let lead = app.lead(id).await.expect("GetLead");
        verdicts.push(lead.latest_verdict.expect("latest verdict"));
    }
    verdicts
}

async fn stats_count_the_latest_verdict_of_each_lead_in_the_range(backend: Backend) {
    use Stage::{Contact, Identification, Recommendation, Study};
    let mut app = spawn_app(backend).await;
    let admin = app.issue_key("acme", &[Role::Admin]).await;
    let reader = app.issue_key("acme", &[Role::Reader]).await;
    let other = app.issue_key("other", &[Role::Admin]).await;
    app.use_key(&admin.secret);
    app.client
        .update_profile(pb::UpdateProfileRequest {
            profile: Some(profile()),
            expected_version: None,
        })
        .await
        .expect("UpdateProfile");

    // Before the range: "old" only there; "e" re-qualified in the range.
    qualify(&mut app, "old", Identification, facts(Some(5), None, None)).await;
    qualify(
        &mut app,
        "e",
        Contact,
        facts(Some(50), Some("saas"), Some(0)),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    // In the range. "a" is disqualified at first, qualified at last; "b" is
    // qualified twice and counted once.
    let start = qualify(
        &mut app,
        "a",
        Contact,
        facts(Some(5), Some("retail"), Some(3)),
    )
    .await;
    qualify(
        &mut app,
        "a",
        Contact,
        facts(Some(50), Some("saas"), Some(0)),
    )
    .await;
    qualify(&mut app, "b", Study, facts(Some(5), None, None)).await;
    qualify(&mut app, "b", Study, facts(None, None, None)).await;
    qualify(&mut app, "c", Recommendation, facts(None, None, None)).await;
    qualify(
        &mut app,
        "d",
        Identification,
        facts(Some(5), Some("retail"), None),
    )
    .await;
    qualify(
        &mut app,
        "f",
        Identification,
        facts(Some(500), Some("saas"), None),
    )
    .await;
    qualify(&mut app, "e", Contact, facts(None, None, Some(3))).await;

    // Another tenant, in the range.
    let mut other_tenant = app.as_key(&other.secret).client;
    other_tenant
        .qualify_lead(qualify_request(
            "x",
            Contact,
            facts(Some(5), Some("retail"), Some(3)),
        ))
        .await
        .expect("QualifyLead in another tenant");

    // The end of the range is exclusive: "late" falls outside.
    let end = qualify(&mut app, "late", Study, facts(Some(5), None, None)).await;

    app.use_key(&reader.secret);
    let all = stats(&mut app, Some(start), Some(end), Stage::Unspecified).await;

    // Counted: a, b, c, d, e, f.
    assert_eq!(all.leads, 6);
    // (stage, qualified, needs review, disqualified)
    assert_eq!(
        stage_rows(&all),
        vec![
            (Identification as i32, 1, 1, 0), // f; d
            (Contact as i32, 1, 0, 1),        // a; e
            (Study as i32, 1, 0, 0),          // b
            (Recommendation as i32, 1, 0, 0), // c
        ]
    );
    // Size: fired on b and d, clear on a, e and f, unknown on c.
    assert_eq!(statuses(&all, Criterion::CompanySizeMismatch), (2, 3, 1, 0));
    assert_eq!(
        missing(&all, Criterion::CompanySizeMismatch),
        vec![("employee_count".to_owned(), 1)]
    );
    // Vertical: fired on d, clear on a, e and f, unknown on b and c.
    assert_eq!(statuses(&all, Criterion::VerticalMismatch), (1, 3, 2, 0));
    assert_eq!(
        missing(&all, Criterion::VerticalMismatch),
        vec![("vertical".to_owned(), 2)]
    );
    // Disrespectful (a CONTACT criterion): fired on e, clear on a, unknown
    // on b and c, not applicable to d and f.
    assert_eq!(statuses(&all, Criterion::Disrespectful), (1, 1, 2, 2));
    assert_eq!(
        missing(&all, Criterion::Disrespectful),
        vec![("disrespectful_incidents".to_owned(), 2)]
    );
    // RECOMMENDATION criteria apply to c only.
    assert_eq!(
        statuses(&all, Criterion::MeetingDisruptions).3,
        5,
        "not applicable below RECOMMENDATION"
    );
    // Only e is disqualified (a was, but not by its latest verdict).
    let disqualifying: Vec<(i32, i64, i64)> = all
        .disqualifying
        .iter()
        .map(|d| (d.criterion, d.leads, d.as_knockout))
        .collect();
    assert_eq!(disqualifying, vec![(Criterion::Disrespectful as i32, 1, 1)]);

    // Every count of every criterion, against the latest verdicts.
    let verdicts = latest_verdicts(&app, &["a", "b", "c", "d", "e", "f"]).await;
    assert_eq!(all.criteria, expected_criteria(&verdicts));
    for row in &all.criteria {
        let total = row.fired + row.clear + row.unknown + row.not_applicable;
        assert_eq!(total, 6, "criterion {}", row.criterion);
    }

    // One stage: CONTACT has a and e.
    let contact = stats(&mut app, Some(start), Some(end), Contact).await;
    assert_eq!(contact.leads, 2);
    assert_eq!(
        stage_rows(&contact),
        vec![
            (Identification as i32, 0, 0, 0),
            (Contact as i32, 1, 0, 1),
            (Study as i32, 0, 0, 0),
            (Recommendation as i32, 0, 0, 0),
        ]
    );
    assert_eq!(statuses(&contact, Criterion::Disrespectful), (1, 1, 0, 0));
    let verdicts = latest_verdicts(&app, &["a", "e"]).await;
    assert_eq!(contact.criteria, expected_criteria(&verdicts));
    assert_eq!(contact.disqualifying, all.disqualifying);

    // Unset bounds: from the start until now, "old" and "late" included.
    let everything = stats(&mut app, None, None, Stage::Unspecified).await;
    assert_eq!(everything.leads, 8);
    let verdicts = latest_verdicts(&app, &["a", "b", "c", "d", "e", "f", "old", "late"]).await;
    assert_eq!(everything.criteria, expected_criteria(&verdicts));

    // A range without verdicts: zeros, every criterion and stage listed.
    let empty = stats(
        &mut app,
        Some(prost_types::Timestamp {
            seconds: 946_684_800, // 2000-01-01
            nanos: 0,
        }),
        Some(prost_types::Timestamp {
            seconds: 978_307_200, // 2001-01-01
            nanos: 0,
        }),
        Stage::Unspecified,
    )
    .await;
    assert_eq!(empty.leads, 0);
    assert_eq!(empty.criteria, expected_criteria(&[]));
    assert_eq!(
        stage_rows(&empty),
        vec![
            (Identification as i32, 0, 0, 0),
            (Contact as i32, 0, 0, 0),
            (Study as i32, 0, 0, 0),
            (Recommendation as i32, 0, 0, 0),
        ]
    );
    assert!(empty.disqualifying.is_empty());
}

async fn stats_reject_an_invalid_range_and_stage(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let at = |seconds: i64, nanos: i32| Some(prost_types::Timestamp { seconds, nanos });
    let cases = [
        (at(2_000, 0), at(1_000, 0), 0, vec!["end_time"]),
        (at(1_000, 5), at(1_000, 5), 0, vec!["end_time"]),
        (at(1_000, -1), None, 0, vec!["start_time"]),
        (None, at(1_000, 1_000_000_000), 0, vec!["end_time"]),
        (at(-70_000_000_000, 0), None, 0, vec!["start_time"]),
        (None, at(i64::MAX, 0), 0, vec!["end_time"]),
        (None, None, 9, vec!["stage"]),
        (at(2_000, 0), at(1_000, 0), -1, vec!["end_time", "stage"]),
    ];
    for (start_time, end_time, stage, fields) in cases {
        let status = app
            .client
            .get_signal_stats(pb::GetSignalStatsRequest {
                start_time,
                end_time,
                stage,
            })
            .await
            .expect_err("rejected");
        assert_bad_fields(&status, &fields);
    }
}
