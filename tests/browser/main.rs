//! The sales-ops console in a real headless Chromium, driven over WebDriver
//! as a user would: typing into its forms, clicking its buttons, reading
//! what the pages show. The server runs in-process (gRPC and the console)
//! over SQLite; the leads come in over gRPC, as from a CRM.
//!
//! Needs the Debian packages chromium and chromium-driver (.ci/run installs
//! them). Without them each test is skipped with a note, or fails when
//! CI=true. With LEADQUAL_SCREENSHOTS=1 the tests also write the README's
//! screenshots to docs/screenshots/.

#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

mod driver;
mod pages;

use leadqual::auth::Role;
use leadqual::proto::v1 as pb;

use crate::driver::{Browser, Chromium};
use crate::helpers::{AppOptions, Backend, TestApp, qualify_request, spawn_app_with};

/// A server with the console on, and its leads (seeded before any key
/// exists, as keyless calls are allowed until then): lead id and the outcome
/// its verdict gave.
async fn app_with_leads() -> (TestApp, Vec<(String, pb::Outcome)>) {
    let mut app = spawn_app_with(
        Backend::Sqlite,
        AppOptions {
            console: true,
            ..AppOptions::default()
        },
    )
    .await;
    let mut outcomes = Vec::new();
    for request in leads() {
        let lead_id = request.lead_id.clone();
        let verdict = app.qualify(request).await.verdict.expect("a verdict");
        let outcome = pb::Outcome::try_from(verdict.outcome).expect("an outcome");
        outcomes.push((lead_id, outcome));
    }
    (app, outcomes)
}

/// A varied queue: what a sales team would have on a Monday.
fn leads() -> Vec<pb::QualifyLeadRequest> {
    let with = |lead_id: &str, stage: pb::Stage, facts: pb::LeadFacts| {
        qualify_request(lead_id, stage, facts)
    };
    vec![
        with(
            "umbrella-9",
            pb::Stage::Identification,
            pb::LeadFacts {
                employee_count: Some(1200),
                annual_revenue_usd: Some(250_000_000),
                vertical: Some("manufacturing".into()),
                business_model: Some("b2b".into()),
                country: Some("DE".into()),
                timezone: Some("Europe/Berlin".into()),
                ..Default::default()
            },
        ),
        with(
            "initech-3",
            pb::Stage::Recommendation,
            pb::LeadFacts {
                expects_magic_wand: Some(true),
                assignments_given: Some(4),
                assignments_completed: Some(0),
                meetings_cancelled: Some(3),
                agreed_actions_not_done: Some(3),
                ..Default::default()
            },
        ),
        with(
            "hooli-5",
            pb::Stage::Study,
            pb::LeadFacts {
                contradictory_statements: Some(0),
                plan_steps_agreed: Some(4),
                plan_steps_completed: Some(4),
                budget_usd: Some(120_000),
                staff_available: Some(3),
                missed_sessions: Some(0),
                priority: Some(pb::Priority::High as i32),
                ..Default::default()
            },
        ),
        with("globex-12", pb::Stage::Contact, pb::LeadFacts::default()),
        with(
            "stark-21",
            pb::Stage::Contact,
            pb::LeadFacts {
                disrespectful_incidents: Some(0),
                emotional_only_responses: Some(false),
                engagement_pattern: Some(pb::EngagementPattern::Steady as i32),
                questions_asked: Some(6),
                questions_answered: Some(6),
                insists_on_own_process: Some(false),
                ..Default::default()
            },
        ),
        // Last, so the newest: the first row of the queue. Fires
        // DISRESPECTFUL and has a client account section.
        with(
            "northwind-7",
            pb::Stage::Contact,
            pb::LeadFacts {
                disrespectful_incidents: Some(2),
                insists_on_own_process: Some(true),
                orders_count: Some(2),
                gross_profit_usd: Some(45_000),
                out_of_scope_changes: Some(3),
                ..Default::default()
            },
        ),
    ]
}

/// The lead whose explanation the tests read.
const RUDE: &str = "northwind-7";

/// How the pages write an outcome.
fn outcome_text(outcome: pb::Outcome) -> &'static str {
    match outcome {
        pb::Outcome::Qualified => "Qualified",
        pb::Outcome::NeedsReview => "Needs review",
        pb::Outcome::Disqualified => "Disqualified",
        pb::Outcome::Unspecified => panic!("a verdict has an outcome"),
    }
}

/// Signs in on the sign-in page the browser is at: types the key, presses
/// Enter (the form works from the keyboard).
async fn sign_in_here(browser: &Browser, key: &str) {
    browser.type_into("#key", &format!("{key}\u{E007}")).await;
}

/// Opens the sign-in page and signs in with `key`; lands on the queue.
async fn sign_in(browser: &Browser, key: &str) {
    browser.goto("/sign-in").await;
    sign_in_here(browser, key).await;
    browser.is_at("/leads").await;
    browser.sees("Review queue").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_read_the_queue_and_a_leads_explanation_then_sign_out() {
    let Some(chromium) =
        Chromium::required("sign_in_read_the_queue_and_a_leads_explanation_then_sign_out")
    else {
        return;
    };
    let (app, outcomes) = app_with_leads().await;
    let key = app.issue_key("default", &[Role::Reader]).await;
    let port = app.console_port.expect("the console is on");
    chromium
        .drive(port, async |browser| {
            // No session: any page sends to sign-in, remembering where to.
            browser.goto(&format!("/leads/{RUDE}")).await;
            browser.is_at(&format!("/sign-in?next=/leads/{RUDE}")).await;
            browser.sees_all(&["Sign in", "API key"]).await;

            // A wrong key is refused on the page.
            sign_in_here(browser, "lq_nope_nope").await;
            browser.sees("The API key is invalid or revoked.").await;

            // The right one lands on the page first asked for.
            sign_in_here(browser, &key.secret).await;
            browser.is_at(&format!("/leads/{RUDE}")).await;
            browser.sees(&format!("Lead {RUDE}")).await;

            // The queue: every lead, each with its verdict's outcome.
            browser.click("nav a[href='/leads']").await;
            browser.is_at("/leads").await;
            browser
                .sees_all(&["Review queue", "Tenant default", "Reader"])
                .await;
            let rows = browser.count("table.queue tbody tr").await;
            assert_eq!(rows, outcomes.len(), "one row per lead");
            for (lead_id, outcome) in &outcomes {
                let row = browser
                    .find(&format!(
                        "table.queue tbody tr:has(a[href='/leads/{lead_id}'])"
                    ))
                    .await
                    .text()
                    .await
                    .expect("the row's text");
                assert!(
                    row.contains(outcome_text(*outcome)),
                    "{lead_id}: {outcome:?} expected in the row {row:?}"
                );
            }
            let first = browser
                .find("table.queue tbody tr:first-child")
                .await
                .text()
                .await
                .expect("the first row");
            assert!(
                first.starts_with(RUDE) && first.contains("DISRESPECTFUL"),
                "newest first, with its top fired criteria: {first:?}"
            );
            browser.screenshot("queue").await;

            // Filtering the queue with its form.
            browser.choose("select[name=outcome]", "disqualified").await;
            browser.click("form.filters button[type=submit]").await;
            browser.is_at("/leads?outcome=disqualified&stage=").await;
            let disqualified = outcomes
                .iter()
                .filter(|(_, o)| *o == pb::Outcome::Disqualified)
                .count();
            assert!(disqualified > 0, "the seed has disqualified leads");
            assert_eq!(
                browser.count("table.queue tbody tr").await,
                disqualified,
                "only the disqualified leads"
            );

            // A lead's explanation: the fired criterion with its evidence,
            // the account section.
            browser.click("nav a[href='/leads']").await;
            browser.is_at("/leads").await;
            browser.click(&format!("a[href='/leads/{RUDE}']")).await;
            browser.is_at(&format!("/leads/{RUDE}")).await;
            browser
                .sees_all(&[
                    "Latest verdict",
                    "DISRESPECTFUL",
                    "2 disrespectful incidents",
                    "Fired",
                    "As a client",
                    "Lifecycle: Buyer",
                    "Scope creep",
                    "scope in writing, say which changes are billed, show each stage",
                    "Overriding needs the scorer role.",
                ])
                .await;
            let fired = browser
                .find("table.signals tbody tr:has(.status.fired)")
                .await
                .text()
                .await
                .expect("a fired criterion's row");
            assert!(
                fired.contains("DISRESPECTFUL") && fired.contains("2 disrespectful incident(s)"),
                "the fired row names the criterion and its evidence: {fired:?}"
            );
            let page = browser.client.source().await.expect("the page source");
            assert!(!page.contains(&key.secret), "the key is in no page");
            // The header, the override and the verdict down to the stage
            // of the fired criterion.
            browser
                .screenshot_down_to("lead", "table.signals:has(.status.fired)")
                .await;

            // Sign out: back to sign-in, and the pages are closed again.
            browser.click("form[action='/sign-out'] button").await;
            browser.is_at("/sign-in").await;
            browser.goto("/leads").await;
            browser.is_at("/sign-in?next=/leads").await;
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scorer_overrides_a_lead_in_the_form_and_withdraws_it() {
    let Some(chromium) =
        Chromium::required("a_scorer_overrides_a_lead_in_the_form_and_withdraws_it")
    else {
        return;
    };
    let (mut app, outcomes) = app_with_leads().await;
    let key = app.issue_key("default", &[Role::Scorer]).await;
    app.use_key(&key.secret);
    let verdict = outcomes
        .iter()
        .find(|(id, _)| id == RUDE)
        .map(|(_, o)| *o)
        .expect("the seeded lead");
    assert_ne!(verdict, pb::Outcome::Qualified, "the override changes it");
    let port = app.console_port.expect("the console is on");
    chromium
        .drive(port, async |browser| {
            sign_in(browser, &key.secret).await;
            browser.goto(&format!("/leads/{RUDE}")).await;
            browser.sees("None in force.").await;

            browser.choose("#outcome", "qualified").await;
            browser.type_into("#reason", "long-standing customer").await;
            browser.type_into("#author", "jane@seller.example").await;
            browser
                .click("form[action$='/override'] button[type=submit]")
                .await;
            browser.is_at(&format!("/leads/{RUDE}")).await;
            browser
                .sees_all(&[
                    "In force:",
                    "by jane@seller.example",
                    "long-standing customer",
                    "Withdraw the override",
                ])
                .await;
            let summary = browser
                .find("p.summary")
                .await
                .text()
                .await
                .expect("the summary");
            assert!(
                summary.contains("Qualified"),
                "the override is in force: {summary:?}"
            );
            let stored = app
                .lead(RUDE)
                .await
                .expect("GetLead")
                .active_override
                .expect("an override over gRPC too");
            assert_eq!(stored.outcome, pb::Outcome::Qualified as i32);
            assert_eq!(stored.author, "jane@seller.example");

            // In the queue too, marked as an override.
            browser.goto("/leads").await;
            let row = browser
                .find(&format!(
                    "table.queue tbody tr:has(a[href='/leads/{RUDE}'])"
                ))
                .await
                .text()
                .await
                .expect("the row");
            assert!(
                row.contains("Qualified") && row.contains("(override)"),
                "{row:?}"
            );

            // Withdrawn: the verdict's outcome applies again.
            browser.goto(&format!("/leads/{RUDE}")).await;
            browser
                .type_into("#clear-reason", "asked for a refund")
                .await;
            browser
                .click("form[action$='/override/clear'] button[type=submit]")
                .await;
            browser.is_at(&format!("/leads/{RUDE}")).await;
            browser.sees("None in force.").await;
            assert_eq!(
                browser.count("#clear-reason").await,
                0,
                "nothing to withdraw"
            );
            let summary = browser
                .find("p.summary")
                .await
                .text()
                .await
                .expect("the summary");
            assert!(summary.contains(outcome_text(verdict)), "{summary:?}");
            assert!(
                app.lead(RUDE)
                    .await
                    .expect("GetLead")
                    .active_override
                    .is_none()
            );
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_gets_no_override_form_and_a_forged_one_is_refused() {
    let Some(chromium) =
        Chromium::required("a_reader_gets_no_override_form_and_a_forged_one_is_refused")
    else {
        return;
    };
    let (mut app, _) = app_with_leads().await;
    let key = app.issue_key("default", &[Role::Reader]).await;
    app.use_key(&key.secret);
    let port = app.console_port.expect("the console is on");
    chromium
        .drive(port, async |browser| {
            sign_in(browser, &key.secret).await;
            browser.goto(&format!("/leads/{RUDE}")).await;
            browser.sees("Overriding needs the scorer role.").await;
            assert_eq!(browser.count("form[action$='/override']").await, 0);
            assert_eq!(browser.count("#reason").await, 0);

            // The form built by hand, with the session's own CSRF token: the
            // role still refuses it.
            browser
                .script(&format!(
                    "const csrf = document.querySelector('input[name=csrf]').value;
                     const form = document.createElement('form');
                     form.method = 'post';
                     form.action = '/leads/{RUDE}/override';
                     for (const [name, value] of [['csrf', csrf], ['outcome', 'qualified'],
                         ['reason', 'trying'], ['author', 'reader@seller.example']]) {{
                       const input = document.createElement('input');
                       input.type = 'hidden'; input.name = name; input.value = value;
                       form.appendChild(input);
                     }}
                     document.body.appendChild(form);
                     form.submit();
                     return null;"
                ))
                .await;
            browser.is_at(&format!("/leads/{RUDE}/override")).await;
            browser
                .sees_all(&[
                    "Forbidden",
                    "this call needs the scorer role; the key has reader",
                ])
                .await;
            assert!(
                app.lead(RUDE)
                    .await
                    .expect("GetLead")
                    .active_override
                    .is_none()
            );
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_whose_csrf_token_was_altered_or_removed_is_refused() {
    let Some(chromium) =
        Chromium::required("a_form_whose_csrf_token_was_altered_or_removed_is_refused")
    else {
        return;
    };
    let (mut app, _) = app_with_leads().await;
    let key = app.issue_key("default", &[Role::Scorer]).await;
    app.use_key(&key.secret);
    let port = app.console_port.expect("the console is on");
    let csrf_refused = "The form was not sent from this console's page";
    chromium
        .drive(port, async |browser| {
            sign_in(browser, &key.secret).await;
            let tampering = [
                // Another token of the same shape.
                "document.querySelector(\"form[action$='/override'] input[name=csrf]\").value = \
                 '0'.repeat(64); return null;",
                // No token at all.
                "document.querySelector(\"form[action$='/override'] input[name=csrf]\").remove(); \
                 return null;",
            ];
            for script in tampering {
                browser.goto(&format!("/leads/{RUDE}")).await;
                browser.choose("#outcome", "qualified").await;
                browser.type_into("#reason", "known customer").await;
                browser.type_into("#author", "jane@seller.example").await;
                browser.script(script).await;
                browser
                    .click("form[action$='/override'] button[type=submit]")
                    .await;
                browser.is_at(&format!("/leads/{RUDE}/override")).await;
                browser.sees_all(&["Forbidden", csrf_refused]).await;
                assert!(
                    app.lead(RUDE)
                        .await
                        .expect("GetLead")
                        .active_override
                        .is_none(),
                    "nothing overridden after {script}"
                );
            }

            // Sign-out needs its token too: still signed in after a forged one.
            browser.goto("/leads").await;
            browser
                .script(
                    "document.querySelector(\"form[action='/sign-out'] input[name=csrf]\").value \
                     = 'forged'; return null;",
                )
                .await;
            browser.click("form[action='/sign-out'] button").await;
            browser.is_at("/sign-out").await;
            browser.sees_all(&["Forbidden", csrf_refused]).await;
            browser.goto("/leads").await;
            browser.is_at("/leads").await;
            browser.sees("Review queue").await;
        })
        .await;
}
