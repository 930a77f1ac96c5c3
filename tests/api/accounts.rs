//! The account section of a verdict (SPEC-ACCOUNTS): value, lifecycle,
//! churn and handling playbook, over real gRPC on both backends. It is
//! stored with each verdict and reads back unchanged, follows the facts sent
//! later, knocks a black-listed lead out (unless the profile says not to),
//! filters ListLeads, is validated field by field, is absent from verdicts
//! stored before it existed, and is described by ListCriteria.
//!
//! Date facts are computed from today (UTC), as the server's evaluation date
//! is today: a hard-coded date would become a different tenure, or the
//! future, depending on the day the suite runs.

use leadqual::domain;
use leadqual::proto::v1 as pb;
use pb::{
    ChurnStatus, ClientType, LifecycleClass, Outcome, PlaybookStatus, Stage, ValueFactor,
    ValueStatus, ValueTier,
};
use tonic::Code;

use crate::backend_tests;
use crate::helpers::{
    Backend, TestApp, TestDatabase, assert_bad_fields, qualify_request, read_lead, spawn_app,
    spawn_app_on,
};

backend_tests!(
    account_section_of_the_worked_example_reads_back_unchanged_after_a_restart,
    facts_sent_later_change_the_lifecycle_class_and_churn_is_recomputed,
    black_list_knocks_the_lead_out_unless_overridden_or_switched_off,
    leads_are_filtered_by_lifecycle_class_value_tier_and_churn_status,
    invalid_account_facts_and_settings_are_named_and_nothing_is_stored,
    verdicts_stored_before_accounts_read_back_without_an_account_section,
    catalogue_describes_the_account_section_with_its_defaults,
    every_account_fact_merges_with_the_stored_ones,
    the_bulk_stream_stores_the_account_section_too,
);

// ---------------------------------------------------------------------------
// Dates relative to today (UTC), the server's evaluation date.

fn today() -> jiff::civil::Date {
    jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::UTC)
        .date()
}

/// Today minus `n` months (the day clamped to the month's end): a tenure of
/// exactly `n` months.
fn months_ago(n: i64) -> String {
    today()
        .checked_sub(jiff::Span::new().months(n))
        .expect("a date in range")
        .to_string()
}

fn days_ago(n: i64) -> String {
    today()
        .checked_sub(jiff::Span::new().days(n))
        .expect("a date in range")
        .to_string()
}

fn days_ahead(n: i64) -> String {
    today()
        .checked_add(jiff::Span::new().days(n))
        .expect("a date in range")
        .to_string()
}

// ---------------------------------------------------------------------------
// Reading the account section of a verdict.

fn account(verdict: &pb::Verdict) -> &pb::Account {
    verdict
        .account
        .as_ref()
        .unwrap_or_else(|| panic!("verdict {} has no account section", verdict.verdict_id))
}

fn value(verdict: &pb::Verdict) -> &pb::ClientValue {
    account(verdict).value.as_ref().expect("a value")
}

fn lifecycle(verdict: &pb::Verdict) -> &pb::Lifecycle {
    account(verdict).lifecycle.as_ref().expect("a lifecycle")
}

fn churn(verdict: &pb::Verdict) -> &pb::ChurnRisk {
    account(verdict).churn.as_ref().expect("a churn risk")
}

fn factor(verdict: &pb::Verdict, factor: ValueFactor) -> &pb::ValueFactorScore {
    value(verdict)
        .factors
        .iter()
        .find(|f| f.factor == factor as i32)
        .unwrap_or_else(|| panic!("no {factor:?} factor"))
}

fn entry(verdict: &pb::Verdict, client_type: ClientType) -> &pb::PlaybookEntry {
    account(verdict)
        .playbook
        .iter()
        .find(|e| e.client_type == client_type as i32)
        .unwrap_or_else(|| panic!("no {client_type:?} playbook entry"))
}

fn class_of(verdict: &pb::Verdict) -> LifecycleClass {
    LifecycleClass::try_from(lifecycle(verdict).class).expect("a known lifecycle class")
}

async fn qualify_verdict(app: &mut TestApp, request: pb::QualifyLeadRequest) -> pb::Verdict {
    app.qualify(request).await.verdict.expect("a verdict")
}

/// Qualifies `lead_id` again with only `facts`, keeping its stored stage.
fn update_request(lead_id: &str, facts: pb::LeadFacts) -> pb::QualifyLeadRequest {
    pb::QualifyLeadRequest {
        lead_id: lead_id.to_owned(),
        facts: Some(facts),
        ..Default::default()
    }
}

async fn update_profile(app: &mut TestApp, profile: pb::Profile) -> pb::Profile {
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

async fn current_profile(app: &mut TestApp) -> pb::Profile {
    app.client
        .get_profile(pb::GetProfileRequest { version: 0 })
        .await
        .expect("GetProfile")
        .into_inner()
        .profile
        .expect("profile")
}

fn assert_points(f: &pb::ValueFactorScore, expected: f64) {
    assert!(
        (f.points - expected).abs() < 0.01,
        "{:?}: {} points, expected {expected}",
        f.factor,
        f.points
    );
}

// ---------------------------------------------------------------------------
// 1. The worked example of SPEC-ACCOUNTS §F, shifted to today.

/// `acme-42` of §F: a tier A buyer, silent for 120 days, with no written
/// spec and scope creep.
fn worked_example_facts() -> pb::LeadFacts {
    pb::LeadFacts {
        orders_count: Some(2),
        gross_profit_usd: Some(45_000),
        referrals_count: Some(2),
        first_purchase_date: Some(months_ago(12)),
        cost_to_serve_usd: Some(9_000),
        overdue_receivables_usd: Some(0),
        last_contact_date: Some(days_ago(120)),
        has_written_spec: Some(false),
        out_of_scope_changes: Some(3),
        rush_requests: Some(0),
        ..Default::default()
    }
}

fn assert_worked_example(verdict: &pb::Verdict) {
    assert_eq!(verdict.evaluation_date, today().to_string());
    assert_eq!(
        verdict.outcome,
        Outcome::Qualified as i32,
        "no criterion fired, no knockout"
    );

    let value = value(verdict);
    assert_eq!(value.status, ValueStatus::Assessed as i32);
    assert_eq!(value.score, Some(75), "45 + 13.33 + 5 + 12 = 75.33");
    assert_eq!(value.tier, ValueTier::A as i32);
    assert!(value.missing_facts.is_empty(), "{:?}", value.missing_facts);
    assert_eq!(
        value.factors.iter().map(|f| f.factor).collect::<Vec<_>>(),
        [
            ValueFactor::Profit as i32,
            ValueFactor::Referrals as i32,
            ValueFactor::Tenure as i32,
            ValueFactor::CostToServe as i32,
        ],
        "the four factors in order"
    );
    assert_eq!(
        value.factors.iter().map(|f| f.weight).collect::<Vec<_>>(),
        [50, 20, 15, 15]
    );
    for f in &value.factors {
        assert_eq!(f.status, ValueStatus::Assessed as i32, "{f:?}");
        assert!(f.missing_facts.is_empty(), "{f:?}");
        assert!(!f.evidence.is_empty(), "{f:?}");
    }
    let profit = factor(verdict, ValueFactor::Profit);
    assert_points(profit, 45.0);
    assert!(profit.evidence.contains("$45,000"), "{:?}", profit.evidence);
    assert_points(factor(verdict, ValueFactor::Referrals), 20.0 * 2.0 / 3.0);
    let tenure = factor(verdict, ValueFactor::Tenure);
    assert_points(tenure, 5.0);
    assert!(
        tenure.evidence.contains("12 months"),
        "{:?}",
        tenure.evidence
    );
    assert_points(factor(verdict, ValueFactor::CostToServe), 12.0);

    let lifecycle = lifecycle(verdict);
    assert_eq!(lifecycle.class, LifecycleClass::Buyer as i32);
    assert!(lifecycle.also_matched.is_empty(), "{lifecycle:?}");
    assert_eq!(
        lifecycle.missing_facts,
        ["strategic_account"],
        "an unknown strategic_account could have made a VIP"
    );
    assert!(!lifecycle.knockout);
    assert!(!lifecycle.action.is_empty());
    assert!(!lifecycle.evidence.is_empty());

    let churn = churn(verdict);
    assert_eq!(churn.status, ChurnStatus::AtRisk as i32);
    assert_eq!(churn.days_since_last_contact, Some(120));
    assert_eq!(churn.threshold_days, 90);
    assert!(churn.urgent, "at risk and tier A");
    assert_eq!(churn.evidence, "no contact for 120 days; 90 is the limit");
    assert!(!churn.action.is_empty());
    assert!(churn.missing_facts.is_empty());

    let playbook = &account(verdict).playbook;
    assert_eq!(
        playbook.iter().map(|e| e.client_type).collect::<Vec<_>>(),
        (1..=8).collect::<Vec<i32>>(),
        "the eight client types in order"
    );
    assert!(playbook.iter().all(|e| !e.advice.is_empty()));
    let status = |t| entry(verdict, t).status;
    assert_eq!(status(ClientType::NoSpec), PlaybookStatus::Matched as i32);
    assert_eq!(
        status(ClientType::ScopeCreep),
        PlaybookStatus::Matched as i32
    );
    let scope_creep = entry(verdict, ClientType::ScopeCreep);
    assert!(
        scope_creep.evidence.contains("3 out-of-scope changes"),
        "{:?}",
        scope_creep.evidence
    );
    assert_eq!(
        scope_creep.advice,
        "scope in writing, say which changes are billed, show each stage"
    );
    assert_eq!(
        status(ClientType::Urgent),
        PlaybookStatus::NotMatched as i32
    );
    for (client_type, fact) in [
        (ClientType::ControlSeeker, "progress_requests_per_week"),
        (ClientType::Indecisive, "decision_postponements"),
        (ClientType::ResultOnly, "median_reply_days"),
        (ClientType::HotTempered, "disrespectful_incidents"),
        (ClientType::DiscountHunter, "discount_requested_pct"),
    ] {
        let e = entry(verdict, client_type);
        assert_eq!(e.status, PlaybookStatus::Unknown as i32, "{e:?}");
        assert_eq!(e.missing_facts, [fact], "{e:?}");
    }
    assert_eq!(
        playbook
            .iter()
            .filter(|e| e.status == PlaybookStatus::Unknown as i32)
            .count(),
        5
    );
}

async fn account_section_of_the_worked_example_reads_back_unchanged_after_a_restart(
    backend: Backend,
) {
    let mut app = spawn_app(backend).await;

    // validate_only: the same section, nothing stored.
    let preview = app
        .qualify(pb::QualifyLeadRequest {
            validate_only: true,
            ..qualify_request("acme-42", Stage::Study, worked_example_facts())
        })
        .await
        .verdict
        .expect("a verdict");
    assert!(preview.verdict_id.is_empty(), "not stored");
    assert_worked_example(&preview);
    assert!(
        app.all_leads().await.is_empty(),
        "validate_only stores no lead"
    );
    assert_eq!(
        app.lead("acme-42").await.expect_err("not stored").code(),
        Code::NotFound
    );

    let response = app
        .qualify(qualify_request(
            "acme-42",
            Stage::Study,
            worked_example_facts(),
        ))
        .await;
    assert_eq!(response.merged_facts, Some(worked_example_facts()));
    let verdict = response.verdict.expect("a verdict");
    assert!(!verdict.verdict_id.is_empty());
    assert_worked_example(&verdict);
    assert_eq!(
        verdict.account, preview.account,
        "validate_only computes the same section"
    );

    let mut app = app.restart().await;
    let stored = app
        .stored_verdict(&verdict.verdict_id)
        .await
        .expect("GetVerdict finds it");
    assert_eq!(stored.account, verdict.account, "GetVerdict");
    assert_eq!(stored, verdict, "the whole verdict reads back unchanged");
    let history = app.all_verdicts("acme-42").await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].account, verdict.account, "ListVerdicts");
    let lead = read_lead(&app.client, "acme-42").await.expect("GetLead");
    assert_eq!(lead.facts, Some(worked_example_facts()));
    let latest = lead.latest_verdict.expect("a latest verdict");
    assert_eq!(latest.account, verdict.account, "GetLead");
    assert_eq!(latest, verdict);
}

// ---------------------------------------------------------------------------
// 2. Facts sent later.

async fn facts_sent_later_change_the_lifecycle_class_and_churn_is_recomputed(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let buyer = qualify_verdict(
        &mut app,
        qualify_request(
            "repeat-buyer",
            Stage::Contact,
            pb::LeadFacts {
                orders_count: Some(2),
                first_purchase_date: Some(months_ago(7)),
                last_contact_date: Some(days_ago(30)),
                ..Default::default()
            },
        ),
    )
    .await;
    assert_eq!(class_of(&buyer), LifecycleClass::Buyer);
    assert_eq!(churn(&buyer).status, ChurnStatus::Ok as i32);
    assert_eq!(churn(&buyer).days_since_last_contact, Some(30));
    assert_eq!(
        value(&buyer).status,
        ValueStatus::Unknown as i32,
        "gross profit unknown: no score"
    );
    assert_eq!(value(&buyer).score, None);
    assert_eq!(value(&buyer).tier, ValueTier::Unspecified as i32);

    // Only the order count is sent; the stored first purchase date is kept.
    let response = app
        .qualify(update_request(
            "repeat-buyer",
            pb::LeadFacts {
                orders_count: Some(3),
                ..Default::default()
            },
        ))
        .await;
    let merged = response.merged_facts.expect("merged facts");
    assert_eq!(merged.orders_count, Some(3));
    assert_eq!(merged.first_purchase_date, Some(months_ago(7)));
    let loyal = response.verdict.expect("a verdict");
    assert_eq!(
        class_of(&loyal),
        LifecycleClass::Loyal,
        "3 orders over 7 months: {:?}",
        lifecycle(&loyal)
    );
    assert!(
        lifecycle(&loyal)
            .missing_facts
            .iter()
            .any(|f| f == "share_of_wallet"),
        "an unknown share of wallet could have made an adept: {:?}",
        lifecycle(&loyal).missing_facts
    );
    assert_ne!(
        loyal.facts_hash, buyer.facts_hash,
        "account facts count in facts_hash"
    );

    // 3 orders but only 5 months as a client: still a buyer.
    let recent = qualify_verdict(
        &mut app,
        qualify_request(
            "recent-buyer",
            Stage::Contact,
            pb::LeadFacts {
                orders_count: Some(3),
                first_purchase_date: Some(months_ago(5)),
                ..Default::default()
            },
        ),
    )
    .await;
    assert_eq!(
        class_of(&recent),
        LifecycleClass::Buyer,
        "{:?}",
        lifecycle(&recent)
    );

    // An empty QualifyLead stores a new verdict with the churn recomputed.
    let refreshed =
        qualify_verdict(&mut app, update_request("repeat-buyer", Default::default())).await;
    assert_ne!(refreshed.verdict_id, loyal.verdict_id, "a new verdict");
    assert_eq!(refreshed.facts_hash, loyal.facts_hash, "same facts");
    assert_eq!(class_of(&refreshed), LifecycleClass::Loyal);
    assert_eq!(churn(&refreshed).status, ChurnStatus::Ok as i32);
    assert_eq!(churn(&refreshed).days_since_last_contact, Some(30));
    assert_eq!(churn(&refreshed).threshold_days, 90);

    // Recomputed, not copied: under a 30-day gap the same silence is a risk,
    // and an urgent one for a loyal client.
    update_profile(
        &mut app,
        pb::Profile {
            churn_contact_gap_days: Some(30),
            ..Default::default()
        },
    )
    .await;
    let at_risk =
        qualify_verdict(&mut app, update_request("repeat-buyer", Default::default())).await;
    assert_eq!(at_risk.profile_version, 2);
    let risk = churn(&at_risk);
    assert_eq!(risk.status, ChurnStatus::AtRisk as i32, "{risk:?}");
    assert_eq!(risk.days_since_last_contact, Some(30));
    assert_eq!(risk.threshold_days, 30);
    assert!(risk.urgent, "LOYAL and at risk");
    assert_eq!(risk.evidence, "no contact for 30 days; 30 is the limit");

    let history = app.all_verdicts("repeat-buyer").await;
    assert_eq!(history.len(), 4);
    assert!(history.iter().all(|v| v.account.is_some()));
    let lead = app.lead("repeat-buyer").await.expect("GetLead");
    assert_eq!(lead.latest_verdict, Some(at_risk));
}

/// The six account and handling facts the worked example leaves unknown.
fn remaining_facts() -> pb::LeadFacts {
    pb::LeadFacts {
        share_of_wallet: Some(0.4),
        strategic_account: Some(false),
        progress_requests_per_week: Some(4.0),
        decision_postponements: Some(2),
        median_reply_days: Some(3.5),
        discount_requested_pct: Some(25.0),
        ..Default::default()
    }
}

async fn every_account_fact_merges_with_the_stored_ones(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let first = qualify_verdict(
        &mut app,
        qualify_request("acme-42", Stage::Study, worked_example_facts()),
    )
    .await;
    assert_worked_example(&first);
    let response = app
        .qualify(update_request("acme-42", remaining_facts()))
        .await;
    // All 16 new facts: the ten stored, and the six sent.
    let union = pb::LeadFacts {
        orders_count: Some(2),
        gross_profit_usd: Some(45_000),
        referrals_count: Some(2),
        first_purchase_date: Some(months_ago(12)),
        cost_to_serve_usd: Some(9_000),
        overdue_receivables_usd: Some(0),
        last_contact_date: Some(days_ago(120)),
        has_written_spec: Some(false),
        out_of_scope_changes: Some(3),
        rush_requests: Some(0),
        ..remaining_facts()
    };
    assert_eq!(response.merged_facts.as_ref(), Some(&union));
    let verdict = response.verdict.expect("a verdict");
    assert_ne!(verdict.facts_hash, first.facts_hash);
    assert_eq!(
        value(&verdict),
        value(&first),
        "no value factor reads the facts sent"
    );
    let life = lifecycle(&verdict);
    assert_eq!(life.class, LifecycleClass::Buyer as i32);
    assert!(
        life.missing_facts.is_empty(),
        "strategic_account is known now: {life:?}"
    );
    for (client_type, status) in [
        (ClientType::ControlSeeker, PlaybookStatus::Matched),
        (ClientType::NoSpec, PlaybookStatus::Matched),
        (ClientType::Indecisive, PlaybookStatus::Matched),
        (ClientType::Urgent, PlaybookStatus::NotMatched),
        (ClientType::ResultOnly, PlaybookStatus::Matched),
        (ClientType::ScopeCreep, PlaybookStatus::Matched),
        (ClientType::HotTempered, PlaybookStatus::Unknown),
        (ClientType::DiscountHunter, PlaybookStatus::Matched),
    ] {
        let e = entry(&verdict, client_type);
        assert_eq!(e.status, status as i32, "{e:?}");
    }
    assert!(
        entry(&verdict, ClientType::DiscountHunter)
            .evidence
            .contains("25%"),
        "{:?}",
        entry(&verdict, ClientType::DiscountHunter).evidence
    );
    let lead = app.lead("acme-42").await.expect("GetLead");
    assert_eq!(lead.facts, Some(union));
    assert_eq!(lead.latest_verdict, Some(verdict));
}

// ---------------------------------------------------------------------------
// 3. The black list.

async fn black_list_knocks_the_lead_out_unless_overridden_or_switched_off(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let verdict = qualify_verdict(
        &mut app,
        qualify_request(
            "bad-payer",
            Stage::Identification,
            pb::LeadFacts {
                strategic_account: Some(true),
                overdue_receivables_usd: Some(10_000),
                ..Default::default()
            },
        ),
    )
    .await;
    assert_eq!(verdict.score, 0, "no criterion fired");
    assert!(verdict.knockouts_fired.is_empty(), "no criterion knockout");
    assert_eq!(
        verdict.outcome,
        Outcome::Disqualified as i32,
        "the black list disqualifies whatever the score"
    );
    let life = lifecycle(&verdict);
    assert_eq!(life.class, LifecycleClass::BlackList as i32);
    assert_eq!(life.also_matched, [LifecycleClass::Vip as i32]);
    assert!(life.knockout);
    assert!(life.evidence.contains("$10,000"), "{:?}", life.evidence);
    assert_eq!(churn(&verdict).status, ChurnStatus::NotApplicable as i32);
    assert!(!churn(&verdict).urgent);

    let lead = app.lead("bad-payer").await.expect("GetLead");
    assert_eq!(lead.effective_outcome, Outcome::Disqualified as i32);
    assert!(
        lead.effective_outcome_reason.contains("black list"),
        "the reason names the black list: {:?}",
        lead.effective_outcome_reason
    );
    let disqualified = app
        .client
        .list_leads(pb::ListLeadsRequest {
            outcome: Outcome::Disqualified as i32,
            ..Default::default()
        })
        .await
        .expect("ListLeads")
        .into_inner()
        .leads;
    assert_eq!(disqualified.len(), 1);

    // An exception is an override.
    let overridden = app
        .client
        .override_verdict(pb::OverrideVerdictRequest {
            lead_id: "bad-payer".into(),
            outcome: Outcome::Qualified as i32,
            reason: "paid in full this morning; receivables not updated yet".into(),
            author: "jane@acme.example".into(),
            expire_time: None,
        })
        .await
        .expect("OverrideVerdict")
        .into_inner()
        .lead
        .expect("the lead");
    assert_eq!(overridden.effective_outcome, Outcome::Qualified as i32);
    let lead = app.lead("bad-payer").await.expect("GetLead");
    assert_eq!(lead.effective_outcome, Outcome::Qualified as i32);
    assert_eq!(lead.latest_verdict.as_ref(), Some(&verdict));
    app.client
        .clear_override(pb::ClearOverrideRequest {
            lead_id: "bad-payer".into(),
            reason: "the payment bounced".into(),
        })
        .await
        .expect("ClearOverride");
    let lead = app.lead("bad-payer").await.expect("GetLead");
    assert_eq!(lead.effective_outcome, Outcome::Disqualified as i32);

    // With the knockout switched off the class stays, the outcome is the
    // score's.
    let profile = update_profile(
        &mut app,
        pb::Profile {
            black_list_knockout: Some(false),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(profile.black_list_knockout, Some(false));
    let again = qualify_verdict(&mut app, update_request("bad-payer", Default::default())).await;
    assert_eq!(again.profile_version, 2);
    assert_eq!(again.outcome, Outcome::Qualified as i32);
    let life = lifecycle(&again);
    assert_eq!(life.class, LifecycleClass::BlackList as i32);
    assert_eq!(life.also_matched, [LifecycleClass::Vip as i32]);
    assert!(!life.knockout);
    let lead = app.lead("bad-payer").await.expect("GetLead");
    assert_eq!(lead.effective_outcome, Outcome::Qualified as i32);
    assert!(
        !lead.effective_outcome_reason.contains("black list"),
        "{:?}",
        lead.effective_outcome_reason
    );
    assert_eq!(
        app.stored_verdict(&verdict.verdict_id).await.as_ref(),
        Some(&verdict),
        "the first verdict is unchanged"
    );
}

// ---------------------------------------------------------------------------
// 4. ListLeads filters.

/// The lead ids ListLeads returns for `filter`, walked one lead per page.
async fn listed_ids(app: &mut TestApp, filter: pb::ListLeadsRequest) -> Vec<String> {
    let mut ids = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = app
            .client
            .list_leads(pb::ListLeadsRequest {
                page_size: 1,
                page_token: token,
                ..filter.clone()
            })
            .await
            .unwrap_or_else(|e| panic!("ListLeads {filter:?}: {e:?}"))
            .into_inner();
        pages += 1;
        assert!(page.leads.len() <= 1, "page size 1: {filter:?}");
        ids.extend(page.leads.into_iter().map(|l| l.lead_id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
        assert!(pages <= 20, "pagination ends: {filter:?}");
    }
    assert_eq!(pages, ids.len().max(1), "one lead per page: {filter:?}");
    ids
}

fn by_class(class: LifecycleClass) -> pb::ListLeadsRequest {
    pb::ListLeadsRequest {
        lifecycle_class: class as i32,
        ..Default::default()
    }
}

fn by_tier(tier: ValueTier) -> pb::ListLeadsRequest {
    pb::ListLeadsRequest {
        value_tier: tier as i32,
        ..Default::default()
    }
}

fn by_churn(status: ChurnStatus) -> pb::ListLeadsRequest {
    pb::ListLeadsRequest {
        churn_status: status as i32,
        ..Default::default()
    }
}

async fn leads_are_filtered_by_lifecycle_class_value_tier_and_churn_status(backend: Backend) {
    let mut app = spawn_app(backend).await;
    // (lead, stage, facts, class, tier, churn)
    let leads: Vec<(
        &str,
        Stage,
        pb::LeadFacts,
        LifecycleClass,
        ValueTier,
        ChurnStatus,
    )> = vec![
        (
            // 50 + 20 + 15 + 12 = 97.
            "a-loyal",
            Stage::Study,
            pb::LeadFacts {
                orders_count: Some(3),
                gross_profit_usd: Some(60_000),
                referrals_count: Some(4),
                first_purchase_date: Some(months_ago(40)),
                cost_to_serve_usd: Some(12_000),
                overdue_receivables_usd: Some(0),
                strategic_account: Some(false),
                share_of_wallet: Some(0.5),
                last_contact_date: Some(days_ago(100)),
                ..Default::default()
            },
            LifecycleClass::Loyal,
            ValueTier::A,
            ChurnStatus::AtRisk,
        ),
        (
            // V1 X: 40 + 0 + 5 + 12 = 57.
            "b-buyer",
            Stage::Contact,
            pb::LeadFacts {
                orders_count: Some(1),
                gross_profit_usd: Some(40_000),
                referrals_count: Some(0),
                first_purchase_date: Some(months_ago(12)),
                cost_to_serve_usd: Some(8_000),
                overdue_receivables_usd: Some(0),
                strategic_account: Some(false),
                last_contact_date: Some(days_ago(10)),
                ..Default::default()
            },
            LifecycleClass::Buyer,
            ValueTier::B,
            ChurnStatus::Ok,
        ),
        (
            // V1 Y: 4 + 0 + 5 + 12 = 21; 10 orders over 12 months is loyal.
            "c-loyal",
            Stage::Study,
            pb::LeadFacts {
                orders_count: Some(10),
                gross_profit_usd: Some(4_000),
                referrals_count: Some(0),
                first_purchase_date: Some(months_ago(12)),
                cost_to_serve_usd: Some(800),
                overdue_receivables_usd: Some(0),
                strategic_account: Some(false),
                last_contact_date: Some(days_ago(200)),
                ..Default::default()
            },
            LifecycleClass::Loyal,
            ValueTier::C,
            ChurnStatus::AtRisk,
        ),
        (
            "d-prospect",
            Stage::Contact,
            pb::LeadFacts {
                orders_count: Some(0),
                last_contact_date: Some(days_ago(400)),
                ..Default::default()
            },
            LifecycleClass::Prospect,
            ValueTier::Unspecified,
            ChurnStatus::NotApplicable,
        ),
        (
            "e-newbie",
            Stage::Identification,
            pb::LeadFacts {
                orders_count: Some(0),
                ..Default::default()
            },
            LifecycleClass::Newbie,
            ValueTier::Unspecified,
            ChurnStatus::NotApplicable,
        ),
        (
            // PROFIT 50, the other factors unknown: 50.
            "f-vip",
            Stage::Study,
            pb::LeadFacts {
                orders_count: Some(1),
                gross_profit_usd: Some(150_000),
                overdue_receivables_usd: Some(0),
                last_contact_date: Some(days_ago(95)),
                ..Default::default()
            },
            LifecycleClass::Vip,
            ValueTier::B,
            ChurnStatus::AtRisk,
        ),
        (
            "g-unknown",
            Stage::Contact,
            pb::LeadFacts::default(),
            LifecycleClass::Unknown,
            ValueTier::Unspecified,
            ChurnStatus::Unknown,
        ),
        (
            // 20 + 6.67 + 10 + 7.5 = 44.17.
            "h-adept",
            Stage::Recommendation,
            pb::LeadFacts {
                orders_count: Some(5),
                gross_profit_usd: Some(20_000),
                referrals_count: Some(1),
                first_purchase_date: Some(months_ago(24)),
                cost_to_serve_usd: Some(10_000),
                share_of_wallet: Some(0.95),
                overdue_receivables_usd: Some(0),
                strategic_account: Some(false),
                last_contact_date: Some(days_ago(5)),
                ..Default::default()
            },
            LifecycleClass::Adept,
            ValueTier::B,
            ChurnStatus::Ok,
        ),
        (
            "i-black-list",
            Stage::Study,
            pb::LeadFacts {
                orders_count: Some(4),
                first_purchase_date: Some(months_ago(10)),
                overdue_receivables_usd: Some(20_000),
                last_contact_date: Some(days_ago(3)),
                ..Default::default()
            },
            LifecycleClass::BlackList,
            ValueTier::Unspecified,
            ChurnStatus::NotApplicable,
        ),
    ];
    for (id, stage, facts, class, tier, churn_status) in leads {
        let verdict = qualify_verdict(&mut app, qualify_request(id, stage, facts)).await;
        assert_eq!(class_of(&verdict), class, "{id}: {:?}", lifecycle(&verdict));
        assert_eq!(
            value(&verdict).tier,
            tier as i32,
            "{id}: {:?}",
            value(&verdict)
        );
        assert_eq!(
            churn(&verdict).status,
            churn_status as i32,
            "{id}: {:?}",
            churn(&verdict)
        );
    }

    for (filter, expected) in [
        (by_class(LifecycleClass::BlackList), vec!["i-black-list"]),
        (by_class(LifecycleClass::Vip), vec!["f-vip"]),
        (by_class(LifecycleClass::Adept), vec!["h-adept"]),
        (by_class(LifecycleClass::Loyal), vec!["a-loyal", "c-loyal"]),
        (by_class(LifecycleClass::Buyer), vec!["b-buyer"]),
        (by_class(LifecycleClass::Prospect), vec!["d-prospect"]),
        (by_class(LifecycleClass::Newbie), vec!["e-newbie"]),
        (by_class(LifecycleClass::Unknown), vec!["g-unknown"]),
        (by_tier(ValueTier::A), vec!["a-loyal"]),
        (by_tier(ValueTier::B), vec!["b-buyer", "f-vip", "h-adept"]),
        (by_tier(ValueTier::C), vec!["c-loyal"]),
        (by_churn(ChurnStatus::Ok), vec!["b-buyer", "h-adept"]),
        (
            by_churn(ChurnStatus::AtRisk),
            vec!["a-loyal", "c-loyal", "f-vip"],
        ),
        (by_churn(ChurnStatus::Unknown), vec!["g-unknown"]),
        (
            by_churn(ChurnStatus::NotApplicable),
            vec!["d-prospect", "e-newbie", "i-black-list"],
        ),
        // Combined with each other and with the older filters.
        (
            pb::ListLeadsRequest {
                stage: Stage::Study as i32,
                ..by_class(LifecycleClass::Loyal)
            },
            vec!["a-loyal", "c-loyal"],
        ),
        (
            pb::ListLeadsRequest {
                stage: Stage::Contact as i32,
                ..by_class(LifecycleClass::Loyal)
            },
            vec![],
        ),
        (
            pb::ListLeadsRequest {
                stage: Stage::Study as i32,
                ..by_tier(ValueTier::B)
            },
            vec!["f-vip"],
        ),
        (
            pb::ListLeadsRequest {
                stage: Stage::Contact as i32,
                ..by_churn(ChurnStatus::NotApplicable)
            },
            vec!["d-prospect"],
        ),
        (
            pb::ListLeadsRequest {
                stage: Stage::Study as i32,
                ..by_churn(ChurnStatus::AtRisk)
            },
            vec!["a-loyal", "c-loyal", "f-vip"],
        ),
        (
            pb::ListLeadsRequest {
                lifecycle_class: LifecycleClass::Loyal as i32,
                value_tier: ValueTier::C as i32,
                churn_status: ChurnStatus::AtRisk as i32,
                ..Default::default()
            },
            vec!["c-loyal"],
        ),
        (
            pb::ListLeadsRequest {
                value_tier: ValueTier::B as i32,
                ..by_churn(ChurnStatus::Ok)
            },
            vec!["b-buyer", "h-adept"],
        ),
        (
            pb::ListLeadsRequest {
                outcome: Outcome::Disqualified as i32,
                ..by_churn(ChurnStatus::NotApplicable)
            },
            vec!["i-black-list"],
        ),
    ] {
        assert_eq!(
            listed_ids(&mut app, filter.clone()).await,
            expected,
            "{filter:?}"
        );
    }

    // The filters read the latest verdict: a third order makes b loyal, and
    // its value is unchanged (no factor reads the order count).
    let b = qualify_verdict(
        &mut app,
        update_request(
            "b-buyer",
            pb::LeadFacts {
                orders_count: Some(3),
                ..Default::default()
            },
        ),
    )
    .await;
    assert_eq!(class_of(&b), LifecycleClass::Loyal);
    assert_eq!(value(&b).score, Some(57));
    assert!(
        listed_ids(&mut app, by_class(LifecycleClass::Buyer))
            .await
            .is_empty()
    );
    assert_eq!(
        listed_ids(&mut app, by_class(LifecycleClass::Loyal)).await,
        ["a-loyal", "b-buyer", "c-loyal"]
    );
    assert_eq!(
        listed_ids(&mut app, by_tier(ValueTier::B)).await,
        ["b-buyer", "f-vip", "h-adept"]
    );
    assert_eq!(
        listed_ids(&mut app, pb::ListLeadsRequest::default())
            .await
            .len(),
        9
    );

    // An unknown filter value is named; a page token is bound to its filters.
    for (request, field) in [
        (
            pb::ListLeadsRequest {
                lifecycle_class: 42,
                ..Default::default()
            },
            "lifecycle_class",
        ),
        (
            pb::ListLeadsRequest {
                value_tier: 42,
                ..Default::default()
            },
            "value_tier",
        ),
        (
            pb::ListLeadsRequest {
                churn_status: 42,
                ..Default::default()
            },
            "churn_status",
        ),
    ] {
        let status = app.client.list_leads(request).await.expect_err(field);
        assert_bad_fields(&status, &[field]);
    }
    let page = app
        .client
        .list_leads(pb::ListLeadsRequest {
            page_size: 1,
            ..by_class(LifecycleClass::Loyal)
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
            ..by_class(LifecycleClass::Buyer)
        })
        .await
        .expect_err("filters changed");
    assert_bad_fields(&status, &["page_token"]);
}

// ---------------------------------------------------------------------------
// 5. Validation.

async fn invalid_account_facts_and_settings_are_named_and_nothing_is_stored(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let tomorrow = days_ahead(1);
    let bad_facts: Vec<(pb::LeadFacts, &str)> = vec![
        (
            pb::LeadFacts {
                orders_count: Some(-1),
                ..Default::default()
            },
            "facts.orders_count",
        ),
        (
            pb::LeadFacts {
                referrals_count: Some(-1),
                ..Default::default()
            },
            "facts.referrals_count",
        ),
        (
            pb::LeadFacts {
                cost_to_serve_usd: Some(-1),
                ..Default::default()
            },
            "facts.cost_to_serve_usd",
        ),
        (
            pb::LeadFacts {
                overdue_receivables_usd: Some(-1),
                ..Default::default()
            },
            "facts.overdue_receivables_usd",
        ),
        (
            pb::LeadFacts {
                decision_postponements: Some(-1),
                ..Default::default()
            },
            "facts.decision_postponements",
        ),
        (
            pb::LeadFacts {
                rush_requests: Some(-1),
                ..Default::default()
            },
            "facts.rush_requests",
        ),
        (
            pb::LeadFacts {
                out_of_scope_changes: Some(-1),
                ..Default::default()
            },
            "facts.out_of_scope_changes",
        ),
        (
            pb::LeadFacts {
                share_of_wallet: Some(1.2),
                ..Default::default()
            },
            "facts.share_of_wallet",
        ),
        (
            pb::LeadFacts {
                share_of_wallet: Some(-0.1),
                ..Default::default()
            },
            "facts.share_of_wallet",
        ),
        (
            pb::LeadFacts {
                discount_requested_pct: Some(101.0),
                ..Default::default()
            },
            "facts.discount_requested_pct",
        ),
        (
            pb::LeadFacts {
                first_purchase_date: Some(tomorrow.clone()),
                ..Default::default()
            },
            "facts.first_purchase_date",
        ),
        (
            pb::LeadFacts {
                first_purchase_date: Some("2026-13-01".into()),
                ..Default::default()
            },
            "facts.first_purchase_date",
        ),
        (
            pb::LeadFacts {
                first_purchase_date: Some("not a date".into()),
                ..Default::default()
            },
            "facts.first_purchase_date",
        ),
        (
            pb::LeadFacts {
                last_contact_date: Some(tomorrow.clone()),
                ..Default::default()
            },
            "facts.last_contact_date",
        ),
        (
            pb::LeadFacts {
                median_reply_days: Some(f64::NAN),
                ..Default::default()
            },
            "facts.median_reply_days",
        ),
    ];
    for (facts, field) in bad_facts {
        for validate_only in [false, true] {
            let status = app
                .client
                .qualify_lead(pb::QualifyLeadRequest {
                    validate_only,
                    ..qualify_request("bad-facts", Stage::Contact, facts.clone())
                })
                .await
                .expect_err(field);
            assert_bad_fields(&status, &[field]);
        }
    }

    // E1: both named at once, nothing stored.
    let status = app
        .client
        .qualify_lead(qualify_request(
            "acme-e1",
            Stage::Contact,
            pb::LeadFacts {
                share_of_wallet: Some(1.2),
                first_purchase_date: Some(tomorrow),
                ..Default::default()
            },
        ))
        .await
        .expect_err("E1 is rejected");
    assert_bad_fields(
        &status,
        &["facts.share_of_wallet", "facts.first_purchase_date"],
    );
    assert_eq!(
        app.lead("acme-e1").await.expect_err("not stored").code(),
        Code::NotFound
    );
    assert!(app.all_leads().await.is_empty(), "no lead was stored");

    // A client can cost more than it brings: a loss is accepted.
    let loss = qualify_verdict(
        &mut app,
        qualify_request(
            "loss-maker",
            Stage::Contact,
            pb::LeadFacts {
                orders_count: Some(1),
                gross_profit_usd: Some(-5_000),
                cost_to_serve_usd: Some(7_000),
                ..Default::default()
            },
        ),
    )
    .await;
    assert_eq!(value(&loss).status, ValueStatus::Assessed as i32);
    assert_points(factor(&loss, ValueFactor::Profit), 0.0);
    let cost = factor(&loss, ValueFactor::CostToServe);
    assert_eq!(cost.status, ValueStatus::Assessed as i32);
    assert_points(cost, 0.0);
    assert!(cost.evidence.contains("-$5,000"), "{:?}", cost.evidence);
    let lead = app.lead("loss-maker").await.expect("stored");
    assert_eq!(lead.facts.and_then(|f| f.gross_profit_usd), Some(-5_000));

    // Profile settings: a valid version 2 first, then each bad one refused.
    let v2 = update_profile(
        &mut app,
        pb::Profile {
            tier_a_min_score: Some(75),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(v2.version, 2);
    let bad_profiles: Vec<(pb::Profile, &str)> = vec![
        (
            pb::Profile {
                value_weight_profit: Some(60),
                ..Default::default()
            },
            "profile.value_weight_profit",
        ),
        (
            pb::Profile {
                value_weight_referrals: Some(10),
                ..Default::default()
            },
            "profile.value_weight_profit",
        ),
        (
            pb::Profile {
                tier_a_min_score: Some(40),
                tier_b_min_score: Some(40),
                ..Default::default()
            },
            "profile.tier_a_min_score",
        ),
        (
            pb::Profile {
                tier_a_min_score: Some(30),
                ..Default::default()
            },
            "profile.tier_a_min_score",
        ),
        (
            pb::Profile {
                adept_min_share_of_wallet: Some(1.5),
                ..Default::default()
            },
            "profile.adept_min_share_of_wallet",
        ),
        (
            pb::Profile {
                churn_contact_gap_days: Some(0),
                ..Default::default()
            },
            "profile.churn_contact_gap_days",
        ),
        (
            pb::Profile {
                loyal_min_orders: Some(0),
                ..Default::default()
            },
            "profile.loyal_min_orders",
        ),
    ];
    for (profile, field) in bad_profiles {
        let status = app
            .client
            .update_profile(pb::UpdateProfileRequest {
                profile: Some(profile.clone()),
                expected_version: None,
            })
            .await
            .expect_err(field);
        assert_bad_fields(&status, &[field]);
        assert_eq!(
            current_profile(&mut app).await,
            v2,
            "{field}: the previous version stays current"
        );
    }
}

// ---------------------------------------------------------------------------
// 6. Verdicts stored before the account section existed (schema version 6).

const OLD_VERDICT_ID: &str = "01900000-0000-7000-8000-0000000000a6";

/// A lead and its verdict as schema version 6 stored them: the signals as
/// rows and as the verdict's `signals_json`, and no account section.
fn rows_before_accounts(backend: Backend) -> String {
    let (at, facts, no_missing, missing) = match backend {
        Backend::Sqlite => (
            "'2026-11-20T10:00:00.000000Z'",
            "'{\"employee_count\":120}'",
            "'[]'",
            "'[\"disrespectful_incidents\"]'",
        ),
        Backend::Postgres => (
            "'2026-11-20T10:00:00Z'::timestamptz",
            "'{\"employee_count\":120}'::jsonb",
            "'[]'::jsonb",
            "'[\"disrespectful_incidents\"]'::jsonb",
        ),
    };
    let (yes, no) = match backend {
        Backend::Sqlite => ("1", "0"),
        Backend::Postgres => ("true", "false"),
    };
    let signals_json = "[{\"criterion\":\"COMPANY_SIZE_MISMATCH\",\"status\":\"CLEAR\",\
        \"weight\":0,\"knockout\":true,\"evidence\":\"120 employees; at least 10 needed\",\
        \"remedy\":\"\",\"missing_facts\":\"[]\"},\
        {\"criterion\":\"DISRESPECTFUL\",\"status\":\"UNKNOWN\",\"weight\":0,\
        \"knockout\":false,\"evidence\":\"\",\"remedy\":\"\",\
        \"missing_facts\":\"[\\\"disrespectful_incidents\\\"]\"}]";
    format!(
        "INSERT INTO leads (tenant, lead_id, stage, facts, revision, latest_verdict_id, \
             latest_outcome, created_at, updated_at) \
         VALUES ('default', 'old-lead', 'CONTACT', {facts}, 1, '{OLD_VERDICT_ID}', \
             'QUALIFIED', {at}, {at}); \
         INSERT INTO verdicts (verdict_id, tenant, lead_id, seq, stage, outcome, score, \
             profile_version, facts, facts_hash, request_id, evaluated_at, evaluation_date, \
             signals_json) \
         VALUES ('{OLD_VERDICT_ID}', 'default', 'old-lead', 1, 'CONTACT', 'QUALIFIED', \
             0, 1, {facts}, 'hash', 'req-old', {at}, '2026-11-20', '{signals_json}'); \
         INSERT INTO signals (verdict_id, tenant, lead_id, criterion, stage, status, weight, \
             knockout, evidence, remedy, missing_facts, evaluated_at) VALUES \
         ('{OLD_VERDICT_ID}', 'default', 'old-lead', 'COMPANY_SIZE_MISMATCH', 'IDENTIFICATION', \
             'CLEAR', 0, {yes}, '120 employees; at least 10 needed', '', {no_missing}, {at}), \
         ('{OLD_VERDICT_ID}', 'default', 'old-lead', 'DISRESPECTFUL', 'CONTACT', \
             'UNKNOWN', 0, {no}, '', '', {missing}, {at});"
    )
}

async fn verdicts_stored_before_accounts_read_back_without_an_account_section(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    database.migrate_to(6).await;
    database.execute(&rows_before_accounts(backend)).await;

    let mut app = spawn_app_on(database).await;
    let old = app
        .stored_verdict(OLD_VERDICT_ID)
        .await
        .expect("the stored verdict");
    assert_eq!(old.account, None, "no account section: {:?}", old.account);
    assert_eq!(old.lead_id, "old-lead");
    assert_eq!(old.stage, Stage::Contact as i32);
    assert_eq!(old.outcome, Outcome::Qualified as i32);
    assert_eq!(old.score, 0);
    assert_eq!(old.facts_hash, "hash");
    assert_eq!(old.request_id, "req-old");
    assert_eq!(old.evaluation_date, "2026-11-20");
    assert_eq!(old.signals.len(), 2, "{old:?}");
    let size = &old.signals[0];
    assert_eq!(size.criterion, pb::Criterion::CompanySizeMismatch as i32);
    assert_eq!(size.status, pb::SignalStatus::Clear as i32);
    assert!(size.knockout);
    assert_eq!(size.evidence, "120 employees; at least 10 needed");
    let disrespect = &old.signals[1];
    assert_eq!(disrespect.criterion, pb::Criterion::Disrespectful as i32);
    assert_eq!(disrespect.status, pb::SignalStatus::Unknown as i32);
    assert_eq!(disrespect.missing_facts, ["disrespectful_incidents"]);

    let lead = app.lead("old-lead").await.expect("GetLead");
    assert_eq!(lead.latest_verdict.as_ref(), Some(&old));
    assert_eq!(lead.effective_outcome, Outcome::Qualified as i32);
    assert_eq!(
        app.all_verdicts("old-lead").await,
        std::slice::from_ref(&old)
    );

    // Listed without filters, never by a filter of the account section.
    assert_eq!(
        listed_ids(&mut app, pb::ListLeadsRequest::default()).await,
        ["old-lead"]
    );
    for class in [
        LifecycleClass::BlackList,
        LifecycleClass::Vip,
        LifecycleClass::Adept,
        LifecycleClass::Loyal,
        LifecycleClass::Buyer,
        LifecycleClass::Prospect,
        LifecycleClass::Newbie,
        LifecycleClass::Unknown,
    ] {
        assert!(
            listed_ids(&mut app, by_class(class)).await.is_empty(),
            "{class:?}"
        );
    }
    for tier in [ValueTier::A, ValueTier::B, ValueTier::C] {
        assert!(
            listed_ids(&mut app, by_tier(tier)).await.is_empty(),
            "{tier:?}"
        );
    }
    for status in [
        ChurnStatus::Ok,
        ChurnStatus::AtRisk,
        ChurnStatus::Unknown,
        ChurnStatus::NotApplicable,
    ] {
        assert!(
            listed_ids(&mut app, by_churn(status)).await.is_empty(),
            "{status:?}"
        );
    }

    // Qualified again, the lead gets an account section; the old verdict
    // keeps none.
    let response = app
        .qualify(update_request(
            "old-lead",
            pb::LeadFacts {
                orders_count: Some(2),
                last_contact_date: Some(days_ago(10)),
                ..Default::default()
            },
        ))
        .await;
    assert_eq!(
        response.merged_facts.and_then(|f| f.employee_count),
        Some(120),
        "the stored facts are kept"
    );
    let new = response.verdict.expect("a verdict");
    assert_eq!(new.stage, Stage::Contact as i32);
    assert_eq!(class_of(&new), LifecycleClass::Buyer);
    assert_eq!(churn(&new).status, ChurnStatus::Ok as i32);
    assert_eq!(
        listed_ids(&mut app, by_class(LifecycleClass::Buyer)).await,
        ["old-lead"]
    );
    assert_eq!(
        listed_ids(&mut app, by_churn(ChurnStatus::Ok)).await,
        ["old-lead"]
    );
    let history = app.all_verdicts("old-lead").await;
    assert_eq!(history, [new.clone(), old.clone()], "newest first");
    assert_eq!(app.stored_verdict(OLD_VERDICT_ID).await, Some(old));
    let lead = app.lead("old-lead").await.expect("GetLead");
    assert_eq!(lead.latest_verdict, Some(new));
}

// ---------------------------------------------------------------------------
// The bulk stream writes through its own statements.

async fn the_bulk_stream_stores_the_account_section_too(backend: Backend) {
    use pb::qualify_leads_response::Result as ItemResult;

    let mut app = spawn_app(backend).await;
    let item = |id: &str, request: pb::QualifyLeadRequest| pb::QualifyLeadsRequest {
        correlation_id: id.to_owned(),
        request: Some(request),
    };
    let items = vec![
        item(
            "one",
            qualify_request("acme-42", Stage::Study, worked_example_facts()),
        ),
        item(
            "two",
            qualify_request(
                "bad-payer",
                Stage::Identification,
                pb::LeadFacts {
                    strategic_account: Some(true),
                    overdue_receivables_usd: Some(10_000),
                    ..Default::default()
                },
            ),
        ),
        item(
            "three",
            qualify_request(
                "acme-e1",
                Stage::Contact,
                pb::LeadFacts {
                    share_of_wallet: Some(1.2),
                    first_purchase_date: Some(days_ahead(1)),
                    ..Default::default()
                },
            ),
        ),
    ];
    let mut results = app
        .client
        .clone()
        .qualify_leads(futures::stream::iter(items))
        .await
        .expect("QualifyLeads opens")
        .into_inner();
    let mut all = Vec::new();
    while let Some(result) = results.message().await.expect("the stream goes on") {
        all.push(result);
    }
    assert_eq!(all.len(), 3);
    let verdict_of = |r: &pb::QualifyLeadsResponse| match &r.result {
        Some(ItemResult::Qualified(q)) => q.verdict.clone().expect("a verdict"),
        other => panic!("{}: expected a verdict, got {other:?}", r.correlation_id),
    };
    let worked = verdict_of(&all[0]);
    assert_worked_example(&worked);
    let black = verdict_of(&all[1]);
    assert_eq!(black.outcome, Outcome::Disqualified as i32);
    assert!(lifecycle(&black).knockout);
    match &all[2].result {
        Some(ItemResult::Error(e)) => {
            use prost::Message;
            // Rebuilt as the unary call's status, details and all.
            let status = tonic::Status::with_details(
                Code::from_i32(e.code),
                e.message.clone(),
                e.encode_to_vec().into(),
            );
            assert_bad_fields(
                &status,
                &["facts.share_of_wallet", "facts.first_purchase_date"],
            );
        }
        other => panic!("E1: expected an error, got {other:?}"),
    }
    assert_eq!(
        app.lead("acme-e1").await.expect_err("not stored").code(),
        Code::NotFound
    );

    for verdict in [&worked, &black] {
        assert_eq!(
            app.stored_verdict(&verdict.verdict_id).await.as_ref(),
            Some(verdict)
        );
        let lead = app.lead(&verdict.lead_id).await.expect("GetLead");
        assert_eq!(lead.latest_verdict.as_ref(), Some(verdict));
    }
    assert_eq!(
        listed_ids(&mut app, by_class(LifecycleClass::Buyer)).await,
        ["acme-42"]
    );
    assert_eq!(
        listed_ids(&mut app, by_tier(ValueTier::A)).await,
        ["acme-42"]
    );
    assert_eq!(
        listed_ids(&mut app, by_churn(ChurnStatus::AtRisk)).await,
        ["acme-42"]
    );
    assert_eq!(
        listed_ids(&mut app, by_class(LifecycleClass::BlackList)).await,
        ["bad-payer"]
    );
    assert_eq!(
        listed_ids(&mut app, by_churn(ChurnStatus::NotApplicable)).await,
        ["bad-payer"]
    );
}

// ---------------------------------------------------------------------------
// 7. ListCriteria.

async fn catalogue_describes_the_account_section_with_its_defaults(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let response = app
        .client
        .list_criteria(pb::ListCriteriaRequest {})
        .await
        .expect("ListCriteria")
        .into_inner();
    assert_eq!(response.criteria.len(), domain::Criterion::COUNT);
    assert_eq!(response.criteria.len(), 21, "the criteria are unchanged");
    let catalogue = response.account.expect("the account catalogue");

    assert_eq!(
        catalogue
            .value_factors
            .iter()
            .map(|f| (f.factor, f.code.as_str()))
            .collect::<Vec<_>>(),
        [
            (ValueFactor::Profit as i32, "PROFIT"),
            (ValueFactor::Referrals as i32, "REFERRALS"),
            (ValueFactor::Tenure as i32, "TENURE"),
            (ValueFactor::CostToServe as i32, "COST_TO_SERVE"),
        ]
    );
    for f in &catalogue.value_factors {
        assert!(!f.description.is_empty(), "{f:?}");
        assert!(!f.facts_read.is_empty(), "{f:?}");
        assert!(!f.default_settings.is_empty(), "{f:?}");
    }
    let profit = &catalogue.value_factors[0];
    assert_eq!(profit.facts_read, ["gross_profit_usd"]);
    assert!(
        profit
            .default_settings
            .iter()
            .any(|s| s == "value_weight_profit = 50"),
        "{:?}",
        profit.default_settings
    );

    assert_eq!(
        catalogue.lifecycle_classes.len(),
        8,
        "7 classes and UNKNOWN"
    );
    let ranked: Vec<(i32, &str, i32)> = catalogue
        .lifecycle_classes
        .iter()
        .filter(|c| c.class != LifecycleClass::Unknown as i32)
        .map(|c| (c.class, c.code.as_str(), c.precedence))
        .collect();
    assert_eq!(
        ranked,
        [
            (LifecycleClass::BlackList as i32, "BLACK_LIST", 1),
            (LifecycleClass::Vip as i32, "VIP", 2),
            (LifecycleClass::Adept as i32, "ADEPT", 3),
            (LifecycleClass::Loyal as i32, "LOYAL", 4),
            (LifecycleClass::Buyer as i32, "BUYER", 5),
            (LifecycleClass::Prospect as i32, "PROSPECT", 6),
            (LifecycleClass::Newbie as i32, "NEWBIE", 7),
        ]
    );
    let unknown = catalogue
        .lifecycle_classes
        .iter()
        .find(|c| c.class == LifecycleClass::Unknown as i32)
        .expect("UNKNOWN is described");
    assert_eq!(unknown.code, "UNKNOWN");
    assert!(
        !(1..=7).contains(&unknown.precedence),
        "UNKNOWN ranks with no class: {unknown:?}"
    );
    for c in &catalogue.lifecycle_classes {
        assert!(!c.rule.is_empty() && !c.action.is_empty(), "{c:?}");
        assert!(!c.facts_read.is_empty(), "{c:?}");
    }
    let black_list = &catalogue.lifecycle_classes[0];
    assert!(
        black_list
            .default_settings
            .iter()
            .any(|s| s == "black_list_min_overdue_usd = 10000"),
        "{:?}",
        black_list.default_settings
    );

    assert_eq!(
        catalogue
            .client_types
            .iter()
            .map(|t| (t.client_type, t.code.as_str()))
            .collect::<Vec<_>>(),
        [
            (ClientType::ControlSeeker as i32, "CONTROL_SEEKER"),
            (ClientType::NoSpec as i32, "NO_SPEC"),
            (ClientType::Indecisive as i32, "INDECISIVE"),
            (ClientType::Urgent as i32, "URGENT"),
            (ClientType::ResultOnly as i32, "RESULT_ONLY"),
            (ClientType::ScopeCreep as i32, "SCOPE_CREEP"),
            (ClientType::HotTempered as i32, "HOT_TEMPERED"),
            (ClientType::DiscountHunter as i32, "DISCOUNT_HUNTER"),
        ]
    );
    for t in &catalogue.client_types {
        assert!(!t.advice.is_empty(), "{t:?}");
        assert!(!t.rule.is_empty(), "{t:?}");
        assert_eq!(t.facts_read.len(), 1, "{t:?}");
    }
    let scope_creep = &catalogue.client_types[ClientType::ScopeCreep as usize - 1];
    assert_eq!(
        scope_creep.advice,
        "scope in writing, say which changes are billed, show each stage"
    );
    assert_eq!(
        scope_creep.default_settings,
        ["playbook_min_out_of_scope_changes = 2"]
    );

    for setting in ["tier_a_min_score = 70", "churn_contact_gap_days = 90"] {
        assert!(
            catalogue.default_settings.iter().any(|s| s == setting),
            "{setting} in {:?}",
            catalogue.default_settings
        );
    }
    assert!(!catalogue.churn_rule.is_empty());
}
