//! The sales-ops console over real HTTP, on a server that also serves gRPC:
//! sign-in with an API key, sessions and their cookie, CSRF on every form,
//! roles as over gRPC, the review queue and a lead's page.

use leadqual::auth::Role;
use leadqual::proto::v1 as pb;
use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;

use crate::backend_tests;
use crate::helpers::{AppOptions, Backend, TestApp, qualify_request, spawn_app_with};

backend_tests!(
    a_page_without_a_session_sends_to_sign_in,
    signing_in_shows_the_queue_and_a_leads_explanation,
    a_wrong_key_or_a_foreign_form_does_not_sign_in,
    a_form_without_its_csrf_token_is_refused_and_changes_nothing,
    a_reader_sees_but_cannot_override,
    a_scorer_overrides_and_withdraws,
    signing_out_or_revoking_the_key_ends_the_session,
    the_queue_filters_and_pages_newest_first,
    lead_ids_are_escaped_in_the_pages,
    a_lead_id_with_url_characters_has_working_links,
);

pub(crate) async fn app(backend: Backend) -> TestApp {
    spawn_app_with(
        backend,
        AppOptions {
            console: true,
            ..AppOptions::default()
        },
    )
    .await
}

/// A browser: keeps cookies, does not follow redirects (so tests see them).
pub(crate) struct Browser {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
}

impl Browser {
    pub(crate) fn new(app: &TestApp) -> Browser {
        let port = app.console_port.expect("the console is on");
        Browser {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(Policy::none())
                .build()
                .expect("a client"),
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    pub(crate) async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("GET")
    }

    pub(crate) async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .expect("POST")
    }

    pub(crate) async fn page(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.text().await.expect("a page")
    }

    /// Signs in with `key` (empty: without one) and returns the session's
    /// CSRF token, read from the page signed in to.
    pub(crate) async fn sign_in(&self, key: &str) -> String {
        let form = self.page("/sign-in?next=/leads").await;
        let csrf = csrf_of(&form);
        let response = self
            .post(
                "/sign-in",
                &[("key", key), ("csrf", &csrf), ("next", "/leads")],
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "sign-in redirects"
        );
        assert_eq!(location(&response), "/leads");
        let cookie = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("lq_session="))
            .expect("a session cookie")
            .to_owned();
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
        assert!(
            !cookie.contains(key) || key.is_empty(),
            "no key in the cookie"
        );
        csrf_of(&self.page("/leads").await)
    }
}

pub(crate) fn csrf_of(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .unwrap_or_else(|| panic!("no CSRF token in:\n{page}"));
    let rest = &page[at + "name=\"csrf\" value=\"".len()..];
    rest[..64].to_owned()
}

pub(crate) fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// A lead whose verdict fires DISRESPECTFUL with its evidence, and a client
/// account section.
fn rude_client(lead_id: &str) -> pb::QualifyLeadRequest {
    let mut request = qualify_request(lead_id, pb::Stage::Contact, Default::default());
    request.facts = Some(pb::LeadFacts {
        disrespectful_incidents: Some(2),
        insists_on_own_process: Some(true),
        orders_count: Some(2),
        gross_profit_usd: Some(45_000),
        out_of_scope_changes: Some(3),
        ..Default::default()
    });
    request
}

async fn a_page_without_a_session_sends_to_sign_in(backend: Backend) {
    let app = app(backend).await;
    let browser = Browser::new(&app);
    for path in ["/leads", "/leads/acme-1", "/leads?outcome=qualified"] {
        let response = browser.get(path).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        let to = location(&response);
        assert!(to.starts_with("/sign-in?next=/leads"), "{path} -> {to}");
    }
    let sign_in = browser.page("/sign-in").await;
    assert!(sign_in.contains("API key"), "{sign_in}");
    let css = browser.get("/static/console.css").await;
    assert_eq!(css.status(), StatusCode::OK);
}

async fn signing_in_shows_the_queue_and_a_leads_explanation(backend: Backend) {
    let mut app = app(backend).await;
    app.qualify(rude_client("acme-1")).await;
    let key = app.issue_key("default", &[Role::Reader]).await;
    let browser = Browser::new(&app);
    browser.sign_in(&key.secret).await;

    let queue = browser.page("/leads").await;
    assert!(queue.contains("href=\"/leads/acme-1\""), "{queue}");
    assert!(
        queue.contains("DISRESPECTFUL"),
        "top fired criteria: {queue}"
    );

    let lead = browser.page("/leads/acme-1").await;
    for text in [
        "Lead acme-1",
        "2 disrespectful incidents",
        "Fired",
        "Not applicable",
        "As a client",
        "Lifecycle: Buyer",
        "Scope creep",
        "scope in writing, say which changes are billed, show each stage",
        "disrespectful_incidents",
    ] {
        assert!(
            lead.contains(text),
            "{text:?} not on the lead page:\n{lead}"
        );
    }
    // The key never appears in a page.
    assert!(!lead.contains(&key.secret) && !queue.contains(&key.secret));

    let missing = browser.get("/leads/nobody").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

async fn a_wrong_key_or_a_foreign_form_does_not_sign_in(backend: Backend) {
    let app = app(backend).await;
    app.issue_key("default", &[Role::Admin]).await;
    let browser = Browser::new(&app);
    let form = browser.page("/sign-in").await;
    let csrf = csrf_of(&form);
    let wrong = browser
        .post("/sign-in", &[("key", "lq_nope_nope"), ("csrf", &csrf)])
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(
        wrong
            .text()
            .await
            .expect("page")
            .contains("invalid or revoked")
    );
    assert_eq!(browser.get("/leads").await.status(), StatusCode::SEE_OTHER);

    // A sign-in form posted from elsewhere: no pairing cookie.
    let other = Browser::new(&app);
    let foreign = other
        .post("/sign-in", &[("key", "lq_nope_nope"), ("csrf", &csrf)])
        .await;
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
}

async fn a_form_without_its_csrf_token_is_refused_and_changes_nothing(backend: Backend) {
    let mut app = app(backend).await;
    app.qualify(rude_client("acme-2")).await;
    let key = app.issue_key("default", &[Role::Scorer]).await;
    app.use_key(&key.secret);
    let browser = Browser::new(&app);
    browser.sign_in(&key.secret).await;
    let form = [
        ("outcome", "qualified"),
        ("reason", "known customer"),
        ("author", "jane@seller.example"),
    ];
    let refused = browser.post("/leads/acme-2/override", &form).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let mut with_wrong = form.to_vec();
    let wrong = "0".repeat(64);
    with_wrong.push(("csrf", &wrong));
    let refused = browser.post("/leads/acme-2/override", &with_wrong).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let lead = app.lead("acme-2").await.expect("GetLead");
    assert!(lead.active_override.is_none(), "nothing was overridden");

    let signed_out = browser.post("/sign-out", &[]).await;
    assert_eq!(
        signed_out.status(),
        StatusCode::FORBIDDEN,
        "sign-out needs it too"
    );
}

async fn a_reader_sees_but_cannot_override(backend: Backend) {
    let mut app = app(backend).await;
    app.qualify(rude_client("acme-3")).await;
    let key = app.issue_key("default", &[Role::Reader]).await;
    app.use_key(&key.secret);
    let browser = Browser::new(&app);
    let csrf = browser.sign_in(&key.secret).await;
    let lead = browser.page("/leads/acme-3").await;
    assert!(lead.contains("Overriding needs the scorer role."), "{lead}");
    assert!(
        !lead.contains("/leads/acme-3/override\""),
        "no override form"
    );
    let refused = browser
        .post(
            "/leads/acme-3/override",
            &[
                ("csrf", &csrf),
                ("outcome", "qualified"),
                ("reason", "trying"),
                ("author", "reader@seller.example"),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(
        app.lead("acme-3")
            .await
            .expect("GetLead")
            .active_override
            .is_none()
    );
}

async fn a_scorer_overrides_and_withdraws(backend: Backend) {
    let mut app = app(backend).await;
    app.qualify(rude_client("acme-4")).await;
    let key = app.issue_key("default", &[Role::Scorer]).await;
    app.use_key(&key.secret);
    let browser = Browser::new(&app);
    let csrf = browser.sign_in(&key.secret).await;

    // A bad form names its fields and stores nothing.
    let bad = browser
        .post(
            "/leads/acme-4/override",
            &[
                ("csrf", &csrf),
                ("outcome", "maybe"),
                ("reason", ""),
                ("author", ""),
            ],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let page = bad.text().await.expect("page");
    for field in ["outcome", "reason", "author"] {
        assert!(page.contains(&format!("{field}: ")), "{field}: {page}");
    }

    let done = browser
        .post(
            "/leads/acme-4/override",
            &[
                ("csrf", &csrf),
                ("outcome", "qualified"),
                ("reason", "long-standing customer"),
                ("author", "jane@seller.example"),
                ("expires", "2099-12-31"),
            ],
        )
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&done), "/leads/acme-4");
    let lead = app.lead("acme-4").await.expect("GetLead");
    let o = lead.active_override.expect("an override in force");
    assert_eq!(o.outcome, pb::Outcome::Qualified as i32);
    assert_eq!(o.author, "jane@seller.example");
    assert!(o.expire_time.is_some());
    let page = browser.page("/leads/acme-4").await;
    assert!(page.contains("long-standing customer"), "{page}");
    assert!(page.contains("Withdraw the override"), "{page}");

    let withdrawn = browser
        .post(
            "/leads/acme-4/override/clear",
            &[("csrf", &csrf), ("reason", "asked for a refund")],
        )
        .await;
    assert_eq!(withdrawn.status(), StatusCode::SEE_OTHER);
    let lead = app.lead("acme-4").await.expect("GetLead");
    assert!(lead.active_override.is_none());
    assert!(
        browser
            .page("/leads/acme-4")
            .await
            .contains("None in force.")
    );
}

async fn signing_out_or_revoking_the_key_ends_the_session(backend: Backend) {
    let app = app(backend).await;
    let admin = app.issue_key("default", &[Role::Admin]).await;
    let reader = app.issue_key("default", &[Role::Reader]).await;

    let browser = Browser::new(&app);
    let csrf = browser.sign_in(&admin.secret).await;
    let out = browser.post("/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&out), "/sign-in");
    assert_eq!(browser.get("/leads").await.status(), StatusCode::SEE_OTHER);

    let other = Browser::new(&app);
    other.sign_in(&reader.secret).await;
    let mut admin_clients = app.as_key(&admin.secret);
    admin_clients
        .admin
        .revoke_api_key(pb::RevokeApiKeyRequest {
            key_id: reader.key_id.clone(),
        })
        .await
        .expect("RevokeApiKey");
    // The key cache may answer for a moment; the session ends within it.
    let mut ended = false;
    for _ in 0..40 {
        if other.get("/leads").await.status() == StatusCode::SEE_OTHER {
            ended = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ended, "a revoked key's session ends");
}

async fn the_queue_filters_and_pages_newest_first(backend: Backend) {
    let mut app = app(backend).await;
    for n in 0..52 {
        let mut request = qualify_request(
            &format!("lead-{n:02}"),
            pb::Stage::Contact,
            Default::default(),
        );
        if n % 2 == 0 {
            request.facts = Some(pb::LeadFacts {
                disrespectful_incidents: Some(3),
                insists_on_own_process: Some(true),
                emotional_only_responses: Some(true),
                ..Default::default()
            });
        }
        app.qualify(request).await;
    }
    let key = app.issue_key("default", &[Role::Reader]).await;
    let browser = Browser::new(&app);
    browser.sign_in(&key.secret).await;

    let first = browser.page("/leads").await;
    let ids = |page: &str| -> Vec<String> {
        page.match_indices("href=\"/leads/lead-")
            .map(|(at, _)| page[at + 13..at + 20].to_owned())
            .collect()
    };
    let page_one = ids(&first);
    assert_eq!(page_one.len(), 50, "{first}");
    assert_eq!(page_one[0], "lead-51", "newest first");
    let next = first
        .split("rel=\"next\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a next page")
        .replace("&amp;", "&");
    let second = browser.page(&next).await;
    assert_eq!(ids(&second), ["lead-01", "lead-00"]);
    assert!(!second.contains("rel=\"next\""));

    let disqualified = browser.page("/leads?outcome=disqualified").await;
    let shown = ids(&disqualified);
    assert_eq!(shown.len(), 26);
    assert!(
        shown
            .iter()
            .all(|id| id[5..].parse::<u32>().map(|n| n % 2 == 0) == Ok(true))
    );
    let bad = browser.get("/leads?outcome=maybe").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    let search = browser.get("/leads?lead_id=lead-07").await;
    assert_eq!(search.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&search), "/leads/lead-07");
}

async fn lead_ids_are_escaped_in_the_pages(backend: Backend) {
    let mut app = app(backend).await;
    let hostile = "<script>alert(1)</script>";
    app.qualify(qualify_request(
        hostile,
        pb::Stage::Contact,
        Default::default(),
    ))
    .await;
    let key = app.issue_key("default", &[Role::Reader]).await;
    let browser = Browser::new(&app);
    browser.sign_in(&key.secret).await;
    let queue = browser.page("/leads").await;
    assert!(!queue.contains(hostile), "{queue}");
    assert!(
        queue.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{queue}"
    );
}

async fn a_lead_id_with_url_characters_has_working_links(backend: Backend) {
    let mut app = app(backend).await;
    let odd = "crm/42?x=1#top 50%&more";
    app.qualify(rude_client(odd)).await;
    let key = app.issue_key("default", &[Role::Scorer]).await;
    let browser = Browser::new(&app);
    let csrf = browser.sign_in(&key.secret).await;

    // The queue's link opens that lead's page.
    let queue = browser.page("/leads").await;
    let at = queue.find("href=\"/leads/crm").expect("a link to the lead") + 6;
    let href = queue[at..]
        .split('"')
        .next()
        .expect("a closed link")
        .to_owned();
    assert!(!href[7..].contains(['/', '?', '#', ' ', '&']), "{href}");
    let lead = browser.page(&href).await;
    assert!(lead.contains("Lead crm/42?x=1#top 50%&amp;more"), "{lead}");

    // The search box and a form's redirect land on the same page.
    let search = browser
        .get(&format!(
            "/leads?lead_id={}",
            href.trim_start_matches("/leads/")
        ))
        .await;
    assert_eq!(location(&search), href);
    let done = browser
        .post(
            &format!("{href}/override"),
            &[
                ("csrf", &csrf),
                ("outcome", "qualified"),
                ("reason", "checked by phone"),
                ("author", "jane@seller.example"),
            ],
        )
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&done), href);
}
