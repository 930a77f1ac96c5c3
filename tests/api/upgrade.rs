//! A store written before verdicts kept their signals with them (schema
//! version 2) reads back unchanged after the upgrade: migration 3 fills each
//! stored verdict's `signals_json` from its signal rows.

use leadqual::proto::v1::{Criterion, SignalStatus};

use crate::backend_tests;
use crate::helpers::{Backend, TestDatabase, signal, spawn_app_on};

backend_tests!(verdicts_stored_before_the_upgrade_read_back_unchanged);

const VERDICT_ID: &str = "01900000-0000-7000-8000-000000000001";

/// A lead and its verdict as the previous schema stored them: the verdict
/// row, and its signals only as rows.
fn stored_rows(backend: Backend) -> String {
    let (at, facts, missing) = match backend {
        Backend::Sqlite => (
            "'2026-11-20T10:00:00.000000Z'",
            "'{\"employee_count\":9}'",
            "'[\"annual_revenue_usd\"]'",
        ),
        Backend::Postgres => (
            "'2026-11-20T10:00:00Z'::timestamptz",
            "'{\"employee_count\":9}'::jsonb",
            "'[\"annual_revenue_usd\"]'::jsonb",
        ),
    };
    let (yes, no) = match backend {
        Backend::Sqlite => ("1", "0"),
        Backend::Postgres => ("true", "false"),
    };
    format!(
        "INSERT INTO leads (tenant, lead_id, stage, facts, revision, latest_verdict_id, \
             latest_outcome, created_at, updated_at) \
         VALUES ('default', 'old-lead', 'IDENTIFICATION', {facts}, 1, '{VERDICT_ID}', \
             'DISQUALIFIED', {at}, {at}); \
         INSERT INTO verdicts (verdict_id, tenant, lead_id, seq, stage, outcome, score, \
             profile_version, facts, facts_hash, request_id, evaluated_at, evaluation_date) \
         VALUES ('{VERDICT_ID}', 'default', 'old-lead', 1, 'IDENTIFICATION', 'DISQUALIFIED', \
             25, 1, {facts}, 'hash', 'req-old', {at}, '2026-11-20'); \
         INSERT INTO signals (verdict_id, tenant, lead_id, criterion, stage, status, weight, \
             knockout, evidence, remedy, missing_facts, evaluated_at) VALUES \
         ('{VERDICT_ID}', 'default', 'old-lead', 'COMPANY_SIZE_MISMATCH', 'IDENTIFICATION', \
             'FIRED', 25, {yes}, '9 employees; at least 10 needed', \
             'a lead with at least 10 employees', '[]', {at}), \
         ('{VERDICT_ID}', 'default', 'old-lead', 'REVENUE_MISMATCH', 'IDENTIFICATION', \
             'UNKNOWN', 0, {no}, '', '', {missing}, {at}), \
         ('{VERDICT_ID}', 'default', 'old-lead', 'VERTICAL_MISMATCH', 'IDENTIFICATION', \
             'CLEAR', 0, {no}, '', '', '[]', {at});"
    )
}

async fn verdicts_stored_before_the_upgrade_read_back_unchanged(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    database.migrate_to(2).await;
    database.execute(&stored_rows(backend)).await;

    let mut app = spawn_app_on(database).await;
    let verdict = app
        .stored_verdict(VERDICT_ID)
        .await
        .expect("the stored verdict");
    assert_eq!(verdict.lead_id, "old-lead");
    assert_eq!(verdict.score, 25);
    assert_eq!(verdict.signals.len(), 3, "{verdict:?}");
    let size = signal(&verdict, Criterion::CompanySizeMismatch);
    assert_eq!(size.status, SignalStatus::Fired as i32);
    assert_eq!(size.weight, 25);
    assert!(size.knockout);
    assert_eq!(size.evidence, "9 employees; at least 10 needed");
    assert_eq!(size.remedy, "a lead with at least 10 employees");
    let revenue = signal(&verdict, Criterion::RevenueMismatch);
    assert_eq!(revenue.status, SignalStatus::Unknown as i32);
    assert!(!revenue.knockout);
    assert_eq!(revenue.missing_facts, ["annual_revenue_usd"]);
    let vertical = signal(&verdict, Criterion::VerticalMismatch);
    assert_eq!(vertical.status, SignalStatus::Clear as i32);

    let lead = app.lead("old-lead").await.expect("GetLead");
    assert_eq!(lead.latest_verdict, Some(verdict));

    // The signal rows stay for SQL analytics through the rebuild of the
    // signals table (migration 4).
    let rows = app
        .database
        .query_texts(&format!(
            "SELECT criterion || ':' || status || ':' || evidence FROM signals \
             WHERE verdict_id = '{VERDICT_ID}' ORDER BY criterion"
        ))
        .await;
    assert_eq!(
        rows,
        [
            "COMPANY_SIZE_MISMATCH:FIRED:9 employees; at least 10 needed",
            "REVENUE_MISMATCH:UNKNOWN:",
            "VERTICAL_MISMATCH:CLEAR:",
        ]
    );

    // Statistics count the stored verdict from what the lead keeps of it
    // (migration 8 filled that in from the signal rows).
    let stats = app
        .client
        .get_signal_stats(leadqual::proto::v1::GetSignalStatsRequest::default())
        .await
        .expect("GetSignalStats")
        .into_inner();
    assert_eq!(stats.leads, 1);
    let of = |c: Criterion| {
        stats
            .criteria
            .iter()
            .find(|s| s.criterion == c as i32)
            .expect("every criterion")
    };
    assert_eq!(of(Criterion::CompanySizeMismatch).fired, 1);
    assert_eq!(of(Criterion::RevenueMismatch).unknown, 1);
    assert_eq!(of(Criterion::RevenueMismatch).fired, 0);
    assert_eq!(
        of(Criterion::RevenueMismatch).missing_facts[0].fact,
        "annual_revenue_usd"
    );
    assert_eq!(stats.disqualifying.len(), 1);
    assert_eq!(stats.disqualifying[0].as_knockout, 1);
}
