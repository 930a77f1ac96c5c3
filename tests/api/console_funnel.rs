//! The console's funnel (GetSignalStats as charts and tables, for a period
//! of days) and audit trail (ListAuditEvents, admins only), over real HTTP.

use leadqual::auth::Role;
use leadqual::proto::v1 as pb;
use pb::{Criterion, Stage};
use reqwest::StatusCode;

use crate::backend_tests;
use crate::console::{Browser, location};
use crate::helpers::{AppOptions, Backend, TestApp, qualify_request, spawn_app_with};

backend_tests!(
    the_funnel_counts_what_was_qualified_in_the_period,
    the_funnel_refuses_bad_parameters_naming_them,
    the_audit_trail_shows_overrides_newest_first_in_pages,
    the_audit_trail_is_for_admins_only,
    funnel_and_audit_without_a_session_send_to_sign_in,
);

async fn app(backend: Backend) -> TestApp {
    spawn_app_with(
        backend,
        AppOptions {
            console: true,
            ..AppOptions::default()
        },
    )
    .await
}

/// The rows of the body (and foot) of the table `id` of a page, each as
/// the text of its cells, markup removed (entities left as they are).
fn table(page: &str, id: &str) -> Vec<Vec<String>> {
    let start = page
        .find(&format!("<table id=\"{id}\""))
        .unwrap_or_else(|| panic!("no table {id} in:\n{page}"));
    let end = start + page[start..].find("</table>").expect("a closed table");
    let body = &page[start..end];
    let body = &body[body.find("<tbody>").expect("a table body")..];
    body.split("<tr>")
        .skip(1)
        .map(|row| {
            let marked = row.replace("</td>", "\u{1}").replace("</th>", "\u{1}");
            let mut text = String::new();
            let mut in_tag = false;
            for c in marked.chars() {
                match c {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    c if !in_tag => text.push(c),
                    _ => {}
                }
            }
            let mut cells: Vec<String> = text.split('\u{1}').map(|c| c.trim().to_owned()).collect();
            cells.pop(); // after the last cell
            cells
        })
        .collect()
}

/// The value of the first `aria-label` after `role="img"`, from the
/// `index`-th chart of a page.
fn chart_label(page: &str, index: usize) -> String {
    let svg = page
        .split("<svg")
        .nth(index + 1)
        .unwrap_or_else(|| panic!("no chart {index} in:\n{page}"));
    assert!(svg.contains("role=\"img\""), "{svg}");
    let at = svg.find("aria-label=\"").expect("an aria-label") + "aria-label=\"".len();
    svg[at..at + svg[at..].find('"').expect("closed")].to_owned()
}

fn next_link(page: &str) -> Option<String> {
    page.split("rel=\"next\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(|href| href.replace("&amp;", "&"))
}

/// Minimum 10 employees, SaaS only, a disrespectful lead is out at once.
fn profile() -> pb::Profile {
    pb::Profile {
        min_employees: Some(10),
        target_verticals: vec!["saas".into()],
        knockouts: vec![Criterion::Disrespectful as i32],
        ..Default::default()
    }
}

fn facts(employees: i64, vertical: &str, incidents: Option<i32>) -> pb::LeadFacts {
    pb::LeadFacts {
        employee_count: Some(employees),
        vertical: Some(vertical.to_owned()),
        disrespectful_incidents: incidents,
        ..Default::default()
    }
}

fn today() -> jiff::civil::Date {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
}

fn counts(row: &[String]) -> Vec<i64> {
    row[1..]
        .iter()
        .map(|c| c.parse().unwrap_or_else(|_| panic!("a count: {row:?}")))
        .collect()
}

async fn the_funnel_counts_what_was_qualified_in_the_period(backend: Backend) {
    let mut app = app(backend).await;
    app.client
        .update_profile(pb::UpdateProfileRequest {
            profile: Some(profile()),
            expected_version: None,
        })
        .await
        .expect("UpdateProfile");
    // f qualified, d too small and not SaaS (needs review), both at
    // IDENTIFICATION; a qualified, e disrespectful (knocked out) at CONTACT.
    for (id, stage, facts) in [
        ("f", Stage::Identification, facts(500, "saas", None)),
        ("d", Stage::Identification, facts(5, "retail", None)),
        ("a", Stage::Contact, facts(50, "saas", Some(0))),
        ("e", Stage::Contact, facts(50, "saas", Some(3))),
    ] {
        app.qualify(qualify_request(id, stage, facts)).await;
    }
    let reader = app.issue_key("default", &[Role::Reader]).await;
    app.use_key(&reader.secret);
    let stats = app
        .client
        .get_signal_stats(pb::GetSignalStatsRequest::default())
        .await
        .expect("GetSignalStats")
        .into_inner();
    assert_eq!(stats.leads, 4);

    let browser = Browser::new(&app);
    browser.sign_in(&reader.secret).await;
    let page = browser.page("/funnel").await;
    assert!(page.contains("<strong>4</strong> leads"), "{page}");
    assert!(page.contains("href=\"/funnel\""), "a nav link: {page}");
    assert!(
        !page.contains("href=\"/audit\""),
        "no audit link for a reader"
    );

    // (a) Outcomes per stage: the table, the chart's text and its label.
    let stages = table(&page, "stages");
    let by_stage: Vec<(&str, Vec<i64>)> =
        stages.iter().map(|r| (r[0].as_str(), counts(r))).collect();
    assert_eq!(
        by_stage,
        vec![
            ("Identification", vec![1, 1, 0, 2]),
            ("Contact", vec![1, 0, 1, 2]),
            ("Study", vec![0, 0, 0, 0]),
            ("Recommendation", vec![0, 0, 0, 0]),
            ("All stages", vec![2, 1, 1, 4]),
        ]
    );
    for (row, wire) in stages.iter().zip(&stats.stages) {
        assert_eq!(
            counts(row)[..3],
            [wire.qualified, wire.needs_review, wire.disqualified],
            "as GetSignalStats says"
        );
    }
    let outcomes = chart_label(&page, 0);
    for text in [
        "Identification: 1 qualified, 1 needs review, 0 disqualified",
        "Contact: 1 qualified, 0 needs review, 1 disqualified",
    ] {
        assert!(outcomes.contains(text), "{outcomes}");
    }
    assert!(page.contains("Contact (2 leads)</text>"), "{page}");

    // (b) Each criterion: fired, unknown, clear, not applicable.
    let criteria = table(&page, "criteria");
    assert_eq!(criteria.len(), 21);
    for (row, wire) in criteria.iter().zip(&stats.criteria) {
        let code = Criterion::try_from(wire.criterion)
            .expect("a criterion")
            .as_str_name()
            .trim_start_matches("CRITERION_");
        assert!(row[0].starts_with(code), "{row:?} is {code}");
        let numbers: Vec<i64> = row[2..]
            .iter()
            .map(|c| c.parse().expect("a count"))
            .collect();
        assert_eq!(
            numbers,
            [wire.fired, wire.unknown, wire.clear, wire.not_applicable],
            "{code}"
        );
    }
    let row = |code: &str| {
        criteria
            .iter()
            .find(|r| r[0].starts_with(code))
            .map(|r| r[2..].join(" "))
            .expect("a row")
    };
    assert_eq!(row("COMPANY_SIZE_MISMATCH"), "1 0 3 0", "d is too small");
    assert_eq!(row("VERTICAL_MISMATCH"), "1 0 3 0", "d is not SaaS");
    assert_eq!(
        row("DISRESPECTFUL"),
        "1 0 1 2",
        "e; a clear; d, f before CONTACT"
    );
    let fired = chart_label(&page, 1);
    assert!(
        fired.contains("DISRESPECTFUL 1 fired, 0 unknown"),
        "{fired}"
    );
    assert!(fired.contains("over 4 leads"), "{fired}");

    // (c) Behind disqualification: the knockout.
    let disqualifying = table(&page, "disqualifying");
    assert_eq!(disqualifying.len(), 1, "{disqualifying:?}");
    let only = &disqualifying[0];
    assert_eq!(only[0], "1");
    assert!(only[1].starts_with("DISRESPECTFUL"), "{only:?}");
    assert_eq!(only[2..], ["1", "1", "100%"]);

    // The facts most often missing, as GetSignalStats counts them: only
    // when asked for (they are the costly part of the counts).
    assert!(
        !page.contains("<table id=\"missing\""),
        "not counted by default"
    );
    assert!(page.contains("&amp;missing=1"), "{page}");
    let page = browser.page("/funnel?missing=1").await;
    assert!(page.contains("<strong>4</strong> leads"), "{page}");
    let missing = table(&page, "missing");
    assert!(!missing.is_empty(), "d and f lack their revenue");
    for row in &missing {
        let listed = stats.criteria.iter().any(|c| {
            Criterion::try_from(c.criterion)
                .is_ok_and(|k| k.as_str_name() == format!("CRITERION_{}", row[1]))
                && c.missing_facts
                    .iter()
                    .any(|m| m.fact == row[0] && m.leads.to_string() == row[2])
        });
        assert!(listed, "{row:?} not in {:?}", stats.criteria);
    }

    // One stage only.
    let contact = browser.page("/funnel?stage=contact").await;
    assert!(
        contact.contains("<strong>2</strong> leads at stage Contact"),
        "{contact}"
    );
    let rows = table(&contact, "stages");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0][0], "Contact");
    assert_eq!(counts(&rows[0]), [1, 0, 1, 2]);

    // The period: today is in it, and only today; a past period is empty.
    let today = today();
    let yesterday = today.yesterday().expect("a day before");
    let only_today = browser
        .page(&format!("/funnel?from={today}&to={today}"))
        .await;
    assert!(
        only_today.contains("<strong>4</strong> leads"),
        "{only_today}"
    );
    for (from, to) in [
        ("2000-01-01".to_owned(), "2000-12-31".to_owned()),
        ("2000-01-01".to_owned(), yesterday.to_string()),
    ] {
        let past = browser.page(&format!("/funnel?from={from}&to={to}")).await;
        assert!(
            past.contains("<strong>0</strong> leads"),
            "{from}..{to}: {past}"
        );
        assert!(past.contains("No lead was qualified in this period."));
        assert!(!past.contains("<table id=\"stages\""), "no counts to show");
        assert!(
            past.contains(&format!("value=\"{from}\"")),
            "the form keeps the period"
        );
    }
}

async fn the_funnel_refuses_bad_parameters_naming_them(backend: Backend) {
    let app = app(backend).await;
    let reader = app.issue_key("default", &[Role::Reader]).await;
    let browser = Browser::new(&app);
    browser.sign_in(&reader.secret).await;
    let long = "9".repeat(3000);
    let cases = [
        ("from=2024-13-01".to_owned(), vec!["from"]),
        ("from=yesterday&to=2024-01-01".to_owned(), vec!["from"]),
        ("to=31/12/2024".to_owned(), vec!["to"]),
        ("from=2024-02-01&to=2024-01-01".to_owned(), vec!["to"]),
        ("from=0000-01-01&to=2024-01-01".to_owned(), vec!["from"]),
        ("stage=sales".to_owned(), vec!["stage"]),
        (format!("from={long}&stage=x"), vec!["from", "stage"]),
    ];
    for (query, fields) in cases {
        let response = browser.get(&format!("/funnel?{query}")).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let page = response.text().await.expect("a page");
        for field in ["from", "to", "stage"] {
            assert_eq!(
                page.contains(&format!("<li>{field}: ")),
                fields.contains(&field),
                "{query}: {field} in {page}"
            );
        }
        assert!(!page.contains(&long), "the value is not echoed");
    }
}

async fn the_audit_trail_shows_overrides_newest_first_in_pages(backend: Backend) {
    let mut app = app(backend).await;
    app.qualify(qualify_request(
        "acme-1",
        Stage::Contact,
        facts(50, "saas", Some(3)),
    ))
    .await;
    let admin = app.issue_key("default", &[Role::Admin]).await;
    app.use_key(&admin.secret);
    app.client
        .override_verdict(pb::OverrideVerdictRequest {
            lead_id: "acme-1".into(),
            outcome: pb::Outcome::Qualified as i32,
            reason: "long-standing <customer>".into(),
            author: "jane@seller.example".into(),
            expire_time: None,
        })
        .await
        .expect("OverrideVerdict");
    app.client
        .clear_override(pb::ClearOverrideRequest {
            lead_id: "acme-1".into(),
            reason: "asked for a refund".into(),
        })
        .await
        .expect("ClearOverride");
    // 52 more events, newer: more than a page.
    let keys = leadqual::auth::Authenticator::new(app.storage().await, false);
    for n in 0..52 {
        keys.issue("default", &[Role::Reader], &format!("reader {n}"), "cli")
            .await
            .expect("a key");
    }

    let browser = Browser::new(&app);
    browser.sign_in(&admin.secret).await;
    let first = browser.page("/audit").await;
    assert!(first.contains("href=\"/audit\""), "a nav link: {first}");
    let rows = table(&first, "audit");
    assert_eq!(rows.len(), 50);
    assert!(
        rows.iter()
            .all(|r| r[1] == "API key created" && r[2] == "cli")
    );
    let next = next_link(&first).expect("a next page");
    assert!(next.starts_with("/audit?after="), "{next}");
    let second = browser.page(&next).await;
    let rows = table(&second, "audit");
    let kinds: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "API key created",
            "API key created",
            "Override cleared",
            "Verdict overridden",
            "API key created",
        ],
        "newest first"
    );
    assert!(next_link(&second).is_none(), "the last page");
    assert!(
        second.contains("<a href=\"/audit\">First page</a>"),
        "{second}"
    );
    assert!(!first.contains("First page"));
    let overridden = &rows[3];
    assert_eq!(overridden[3], "acme-1");
    assert_eq!(overridden[4], "lead acme-1");
    assert!(
        second.contains("<a href=\"/leads/acme-1\">acme-1</a>"),
        "{second}"
    );
    assert!(second.contains("<details><summary>Before and after</summary>"));
    assert!(
        second.contains("long-standing &lt;customer&gt;"),
        "escaped: {second}"
    );
    assert!(!second.contains("<customer>"));

    // Filtered by kind, by lead; the next page keeps the filter.
    let only = browser.page("/audit?kind=verdict_overridden").await;
    let rows = table(&only, "audit");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0][1], "Verdict overridden");
    assert!(
        only.contains("<option value=\"verdict_overridden\" selected>"),
        "{only}"
    );
    let lead = browser.page("/audit?lead_id=acme-1").await;
    let kinds: Vec<String> = table(&lead, "audit")
        .into_iter()
        .map(|r| r[1].clone())
        .collect();
    assert_eq!(kinds, ["Override cleared", "Verdict overridden"]);
    let keys_only = browser.page("/audit?kind=api_key_created").await;
    let next = next_link(&keys_only).expect("a next page");
    assert!(
        next.starts_with("/audit?kind=api_key_created&after="),
        "{next}"
    );
    let last = browser.page(&next).await;
    assert_eq!(table(&last, "audit").len(), 3);
    assert!(
        last.contains("<a href=\"/audit?kind=api_key_created\">First page</a>"),
        "{last}"
    );
    let none = browser.page("/audit?lead_id=nobody").await;
    assert!(none.contains("No audit events match."), "{none}");

    for (query, field) in [("kind=deleted", "kind"), ("after=page-2", "after")] {
        let bad = browser.get(&format!("/audit?{query}")).await;
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST, "{query}");
        let page = bad.text().await.expect("a page");
        assert!(page.contains(&format!("<li>{field}: ")), "{query}: {page}");
    }
}

async fn the_audit_trail_is_for_admins_only(backend: Backend) {
    let app = app(backend).await;
    for role in [Role::Reader, Role::Scorer] {
        let key = app.issue_key("default", &[role]).await;
        let browser = Browser::new(&app);
        browser.sign_in(&key.secret).await;
        let refused = browser.get("/audit").await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{role:?}");
        let page = refused.text().await.expect("a page");
        assert!(!page.contains("<table id=\"audit\""), "{page}");
        assert!(!page.contains("href=\"/audit\""), "no link for {role:?}");
        assert_eq!(
            browser.get("/funnel").await.status(),
            StatusCode::OK,
            "the funnel is for {role:?} too"
        );
    }
}

async fn funnel_and_audit_without_a_session_send_to_sign_in(backend: Backend) {
    let app = app(backend).await;
    app.issue_key("default", &[Role::Admin]).await;
    let browser = Browser::new(&app);
    for (path, next) in [
        ("/funnel", "/sign-in?next=/funnel"),
        (
            "/funnel?from=2024-01-01",
            "/sign-in?next=/funnel%3Ffrom%3D2024-01-01",
        ),
        ("/audit", "/sign-in?next=/audit"),
    ] {
        let response = browser.get(path).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&response), next, "{path}");
    }
}
