//! QualifyLead end to end: verdicts, persistence, merging, idempotency.

use leadqual::domain;
use leadqual::proto::v1 as pb;
use pb::{Criterion, Outcome, SignalStatus, Stage};

use crate::backend_tests;
use crate::helpers::{Backend, qualify_request, read_lead, signal, spawn_app};

backend_tests!(
    qualify_explains_the_verdict_and_it_survives_a_restart,
    facts_sent_later_merge_with_the_stored_ones,
    retried_request_id_returns_the_first_verdict_and_stores_nothing_new,
    request_id_reused_for_another_lead_is_rejected,
    validate_only_evaluates_without_storing,
    first_qualification_needs_a_stage_and_later_ones_keep_it,
    concurrent_qualifications_of_one_lead_lose_no_facts,
    verdict_is_fetched_by_id_and_unknown_ids_are_not_found,
    concurrent_retries_of_one_request_store_one_verdict,
    concurrent_qualifications_of_many_leads_are_all_stored,
    stored_signals_answer_analytics_in_sql,
);

fn recommendation_facts() -> pb::LeadFacts {
    pb::LeadFacts {
        max_material_repeats: Some(4),
        meetings_cancelled: Some(2),
        meetings_rescheduled: Some(1),
        expects_magic_wand: Some(false),
        ..Default::default()
    }
}

async fn qualify_explains_the_verdict_and_it_survives_a_restart(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let response = app
        .qualify(qualify_request(
            "acme-1",
            Stage::Recommendation,
            recommendation_facts(),
        ))
        .await;
    let verdict = response.verdict.expect("a verdict");
    assert!(!verdict.verdict_id.is_empty());
    assert_eq!(verdict.lead_id, "acme-1");
    assert_eq!(verdict.stage, Stage::Recommendation as i32);
    assert_eq!(verdict.signals.len(), domain::Criterion::COUNT);
    // REPEATED_EXPLANATIONS (15) + MEETING_DISRUPTIONS (20) = 35: needs review.
    assert_eq!(verdict.score, 35);
    assert_eq!(verdict.outcome, Outcome::NeedsReview as i32);
    assert_eq!(verdict.profile_version, 1);
    let repeats = signal(&verdict, Criterion::RepeatedExplanations);
    assert_eq!(repeats.status, SignalStatus::Fired as i32);
    assert_eq!(repeats.weight, 15);
    assert_eq!(
        repeats.evidence,
        "material re-explained 4 times; more than 3 allowed"
    );
    assert!(!repeats.remedy.is_empty());
    let wand = signal(&verdict, Criterion::MagicWand);
    assert_eq!(wand.status, SignalStatus::Clear as i32);
    let disrespect = signal(&verdict, Criterion::Disrespectful);
    assert_eq!(disrespect.status, SignalStatus::Unknown as i32);
    assert_eq!(disrespect.missing_facts, vec!["disrespectful_incidents"]);
    let recommendation = verdict
        .stage_breakdown
        .iter()
        .find(|b| b.stage == Stage::Recommendation as i32)
        .expect("recommendation breakdown");
    assert_eq!((recommendation.score, recommendation.fired), (35, 2));
    assert_eq!(verdict.facts_hash.len(), 64);

    let mut app = app.restart().await;
    let lead = read_lead(&app.client, "acme-1")
        .await
        .expect("GetLead succeeds");
    assert_eq!(lead.stage, Stage::Recommendation as i32);
    assert_eq!(lead.facts, Some(recommendation_facts()));
    assert_eq!(lead.latest_verdict.as_ref(), Some(&verdict));
    let stored = app.stored_verdict(&verdict.verdict_id).await;
    assert_eq!(
        stored.as_ref(),
        Some(&verdict),
        "the verdict reads back unchanged"
    );
}

async fn facts_sent_later_merge_with_the_stored_ones(backend: Backend) {
    let mut app = spawn_app(backend).await;
    app.qualify(qualify_request(
        "lead-merge",
        Stage::Contact,
        pb::LeadFacts {
            employee_count: Some(120),
            disrespectful_incidents: Some(0),
            questions_asked: Some(10),
            questions_answered: Some(2),
            ..Default::default()
        },
    ))
    .await;
    let second = app
        .qualify(pb::QualifyLeadRequest {
            lead_id: "lead-merge".into(),
            facts: Some(pb::LeadFacts {
                questions_answered: Some(8),
                vertical: Some("logistics".into()),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await;
    let merged = second.merged_facts.expect("merged facts");
    assert_eq!(
        merged.employee_count,
        Some(120),
        "unsent facts keep their value"
    );
    assert_eq!(
        merged.disrespectful_incidents,
        Some(0),
        "zero is kept, not unknown"
    );
    assert_eq!(merged.questions_asked, Some(10));
    assert_eq!(
        merged.questions_answered,
        Some(8),
        "sent facts replace stored ones"
    );
    assert_eq!(merged.vertical.as_deref(), Some("logistics"));
    let verdict = second.verdict.expect("verdict");
    assert_eq!(
        verdict.stage,
        Stage::Contact as i32,
        "the stored stage is kept"
    );
    assert_eq!(
        signal(&verdict, Criterion::WithholdsAnswers).status,
        SignalStatus::Clear as i32,
        "8 of 10 answered clears what 2 of 10 fired"
    );
    let history = app.all_verdicts("lead-merge").await;
    assert_eq!(history.len(), 2);
    assert_eq!(
        signal(&history[1], Criterion::WithholdsAnswers).status,
        SignalStatus::Fired as i32,
        "the first verdict is unchanged"
    );
}

async fn retried_request_id_returns_the_first_verdict_and_stores_nothing_new(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let request = pb::QualifyLeadRequest {
        request_id: "req-7f3a".into(),
        ..qualify_request(
            "lead-retry",
            Stage::Study,
            pb::LeadFacts {
                missed_sessions: Some(3),
                ..Default::default()
            },
        )
    };
    let first = app.qualify(request.clone()).await;
    assert!(!first.replayed);
    // The retry carries different facts: the first verdict still wins.
    let mut retry = request.clone();
    retry.facts = Some(pb::LeadFacts {
        missed_sessions: Some(0),
        ..Default::default()
    });
    let second = app.qualify(retry).await;
    assert!(second.replayed);
    assert_eq!(second.verdict, first.verdict);
    let third = app.qualify(request).await;
    assert_eq!(third.verdict, first.verdict);
    assert_eq!(app.all_verdicts("lead-retry").await.len(), 1);
    let lead = read_lead(&app.client, "lead-retry").await.expect("GetLead");
    assert_eq!(lead.facts.and_then(|f| f.missed_sessions), Some(3));
    assert_eq!(
        first.verdict.map(|v| v.request_id).as_deref(),
        Some("req-7f3a")
    );
}

async fn request_id_reused_for_another_lead_is_rejected(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let mut request = qualify_request("lead-a", Stage::Identification, pb::LeadFacts::default());
    request.request_id = "shared-id".into();
    app.qualify(request.clone()).await;
    request.lead_id = "lead-b".into();
    let status = app
        .client
        .qualify_lead(request)
        .await
        .expect_err("rejected");
    crate::helpers::assert_bad_fields(&status, &["request_id"]);
    assert_eq!(app.all_leads().await.len(), 1, "lead-b was not stored");
}

async fn validate_only_evaluates_without_storing(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let mut request = qualify_request(
        "lead-dry",
        Stage::Contact,
        pb::LeadFacts {
            disrespectful_incidents: Some(2),
            ..Default::default()
        },
    );
    request.validate_only = true;
    let response = app.qualify(request.clone()).await;
    let verdict = response.verdict.expect("verdict");
    assert!(verdict.verdict_id.is_empty(), "a dry run has no id");
    assert_eq!(
        signal(&verdict, Criterion::Disrespectful).status,
        SignalStatus::Fired as i32
    );
    let status = app
        .client
        .get_lead(pb::GetLeadRequest {
            lead_id: "lead-dry".into(),
        })
        .await
        .expect_err("nothing stored");
    assert_eq!(status.code(), tonic::Code::NotFound);

    // On a stored lead, validate_only merges with stored facts but stores nothing.
    request.validate_only = false;
    app.qualify(request.clone()).await;
    let preview = app
        .qualify(pb::QualifyLeadRequest {
            lead_id: "lead-dry".into(),
            facts: Some(pb::LeadFacts {
                emotional_only_responses: Some(true),
                ..Default::default()
            }),
            validate_only: true,
            ..Default::default()
        })
        .await;
    let merged = preview.merged_facts.expect("merged");
    assert_eq!(merged.disrespectful_incidents, Some(2));
    assert_eq!(merged.emotional_only_responses, Some(true));
    assert_eq!(app.all_verdicts("lead-dry").await.len(), 1);
}

async fn first_qualification_needs_a_stage_and_later_ones_keep_it(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let no_stage = pb::QualifyLeadRequest {
        lead_id: "lead-stage".into(),
        ..Default::default()
    };
    let status = app
        .client
        .qualify_lead(no_stage.clone())
        .await
        .expect_err("stage required");
    crate::helpers::assert_bad_fields(&status, &["stage"]);
    assert!(app.all_leads().await.is_empty());

    app.qualify(qualify_request(
        "lead-stage",
        Stage::Study,
        pb::LeadFacts::default(),
    ))
    .await;
    let kept = app.qualify(no_stage).await.verdict.expect("verdict");
    assert_eq!(kept.stage, Stage::Study as i32);
    assert_eq!(
        signal(&kept, Criterion::MagicWand).status,
        SignalStatus::NotApplicable as i32
    );
    let moved = app
        .qualify(qualify_request(
            "lead-stage",
            Stage::Recommendation,
            pb::LeadFacts::default(),
        ))
        .await
        .verdict
        .expect("verdict");
    assert_eq!(moved.stage, Stage::Recommendation as i32);
    assert_eq!(
        signal(&moved, Criterion::MagicWand).status,
        SignalStatus::Unknown as i32
    );
}

async fn concurrent_qualifications_of_one_lead_lose_no_facts(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut calls = Vec::new();
    // Each call sets a different fact; all of them must end up merged.
    for i in 0..8 {
        let mut client = app.client.clone();
        let mut facts = pb::LeadFacts::default();
        match i {
            0 => facts.disrespectful_incidents = Some(0),
            1 => facts.emotional_only_responses = Some(false),
            2 => facts.insists_on_own_process = Some(false),
            3 => facts.contradictory_statements = Some(1),
            4 => facts.missed_sessions = Some(1),
            5 => facts.expects_magic_wand = Some(false),
            6 => facts.agreed_actions_not_done = Some(1),
            _ => facts.max_material_repeats = Some(2),
        }
        calls.push(tokio::spawn(async move {
            client
                .qualify_lead(qualify_request("lead-race", Stage::Recommendation, facts))
                .await
                .map(|r| r.into_inner())
        }));
    }
    for call in calls {
        call.await.expect("task").expect("every call succeeds");
    }
    let mut app = app;
    let lead = read_lead(&app.client, "lead-race").await.expect("GetLead");
    let facts = lead.facts.expect("facts");
    assert_eq!(facts.disrespectful_incidents, Some(0));
    assert_eq!(facts.emotional_only_responses, Some(false));
    assert_eq!(facts.insists_on_own_process, Some(false));
    assert_eq!(facts.contradictory_statements, Some(1));
    assert_eq!(facts.missed_sessions, Some(1));
    assert_eq!(facts.expects_magic_wand, Some(false));
    assert_eq!(facts.agreed_actions_not_done, Some(1));
    assert_eq!(facts.max_material_repeats, Some(2));
    assert_eq!(app.all_verdicts("lead-race").await.len(), 8);
}

async fn verdict_is_fetched_by_id_and_unknown_ids_are_not_found(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let verdict = app
        .qualify(qualify_request(
            "lead-v",
            Stage::Contact,
            pb::LeadFacts::default(),
        ))
        .await
        .verdict
        .expect("verdict");
    let fetched = app.stored_verdict(&verdict.verdict_id).await;
    assert_eq!(fetched, Some(verdict));
    let status = app
        .client
        .get_verdict(pb::GetVerdictRequest {
            verdict_id: "01900000-0000-7000-8000-000000000000".into(),
        })
        .await
        .expect_err("unknown id");
    assert_eq!(status.code(), tonic::Code::NotFound);
}

async fn concurrent_retries_of_one_request_store_one_verdict(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let mut request = qualify_request(
        "lead-dup",
        Stage::Contact,
        pb::LeadFacts {
            disrespectful_incidents: Some(1),
            ..Default::default()
        },
    );
    request.request_id = "retry-storm".into();
    let calls: Vec<_> = (0..12)
        .map(|_| {
            let mut client = app.client.clone();
            let request = request.clone();
            tokio::spawn(async move { client.qualify_lead(request).await.map(|r| r.into_inner()) })
        })
        .collect();
    let mut ids = std::collections::BTreeSet::new();
    for call in calls {
        let response = call.await.expect("task").expect("every retry succeeds");
        ids.insert(response.verdict.expect("verdict").verdict_id);
    }
    assert_eq!(ids.len(), 1, "every retry got the same verdict");
    assert_eq!(app.all_verdicts("lead-dup").await.len(), 1);
}

async fn concurrent_qualifications_of_many_leads_are_all_stored(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let calls: Vec<_> = (0..40)
        .map(|i| {
            let mut client = app.client.clone();
            tokio::spawn(async move {
                client
                    .qualify_lead(qualify_request(
                        &format!("bulk-{i:02}"),
                        Stage::Recommendation,
                        pb::LeadFacts {
                            max_material_repeats: Some(i % 6),
                            ..Default::default()
                        },
                    ))
                    .await
                    .map(|r| r.into_inner())
            })
        })
        .collect();
    for call in calls {
        call.await.expect("task").expect("every call succeeds");
    }
    let leads = app.all_leads().await;
    assert_eq!(leads.len(), 40);
    for lead in leads {
        let repeats = lead
            .facts
            .and_then(|f| f.max_material_repeats)
            .expect("facts");
        let verdict = lead.latest_verdict.expect("verdict");
        let expected = if repeats > 3 {
            SignalStatus::Fired
        } else {
            SignalStatus::Clear
        };
        assert_eq!(
            signal(&verdict, Criterion::RepeatedExplanations).status,
            expected as i32,
            "{} with {repeats} repeats",
            lead.lead_id
        );
    }
}

/// "Which leads fired MEETING_DISRUPTIONS?" is plain SQL over the stored
/// signals: one row per criterion per stored verdict, none for validate_only.
async fn stored_signals_answer_analytics_in_sql(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let disrupted = pb::LeadFacts {
        meetings_cancelled: Some(2),
        meetings_rescheduled: Some(2),
        ..Default::default()
    };
    let steady = pb::LeadFacts {
        meetings_cancelled: Some(0),
        meetings_rescheduled: Some(1),
        ..Default::default()
    };
    app.qualify(qualify_request(
        "moves-meetings",
        Stage::Recommendation,
        disrupted.clone(),
    ))
    .await;
    app.qualify(qualify_request(
        "keeps-meetings",
        Stage::Recommendation,
        steady,
    ))
    .await;
    // A second verdict of the same lead, and an evaluation that stores nothing.
    app.qualify(qualify_request(
        "moves-meetings",
        Stage::Recommendation,
        disrupted.clone(),
    ))
    .await;
    let mut probe = qualify_request("probe-only", Stage::Recommendation, disrupted);
    probe.validate_only = true;
    app.qualify(probe).await;

    let fired = app
        .database
        .query_texts(
            "SELECT DISTINCT lead_id FROM signals \
             WHERE criterion = 'MEETING_DISRUPTIONS' AND status = 'FIRED' ORDER BY lead_id",
        )
        .await;
    assert_eq!(fired, ["moves-meetings"]);
    let per_verdict = app
        .database
        .query_texts(
            "SELECT lead_id || ' ' || CAST(count(*) AS TEXT) FROM signals \
             GROUP BY verdict_id, lead_id ORDER BY lead_id",
        )
        .await;
    assert_eq!(
        per_verdict,
        [
            "keeps-meetings 21",
            "moves-meetings 21",
            "moves-meetings 21"
        ]
    );
    let evidence = app
        .database
        .query_texts(
            "SELECT DISTINCT evidence FROM signals \
             WHERE criterion = 'MEETING_DISRUPTIONS' AND status = 'FIRED'",
        )
        .await;
    assert_eq!(
        evidence,
        ["2 meeting(s) cancelled and 2 rescheduled (4 in all); the limit is 3"]
    );
}
