//! The console's profile page over real HTTP: the settings and versions for
//! everyone signed in; for an admin, previewing a candidate's impact on the
//! stored leads and publishing it over the version the form was opened on,
//! checked as UpdateProfile checks it; refused for other roles and without
//! the CSRF token.

use leadqual::auth::Role;
use leadqual::proto::v1 as pb;
use reqwest::StatusCode;

use crate::backend_tests;
use crate::console::{Browser, location};
use crate::helpers::{AppOptions, Backend, TestApp, qualify_request, spawn_app_with};

backend_tests!(
    an_admin_previews_a_knockout_then_publishes_it,
    a_form_opened_on_a_stale_version_is_refused_and_stores_nothing,
    an_invalid_form_names_its_fields_and_stores_nothing,
    a_reader_or_scorer_sees_the_profile_but_cannot_change_it,
    a_profile_form_without_its_csrf_token_is_refused,
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

/// A page's text as read: tags dropped, entities decoded.
fn text_of(page: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in page.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    unescape(&text)
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The fields a browser sends from the page's profile form: every input
/// with its value, ticked boxes only.
fn form_fields(page: &str) -> Vec<(String, String)> {
    let start = page
        .find("<form method=\"post\" action=\"/profile\"")
        .unwrap_or_else(|| panic!("no profile form in:\n{page}"));
    let end = start + page[start..].find("</form>").expect("the form ends");
    let mut fields = Vec::new();
    for tag in page[start..end].split("<input ").skip(1) {
        let tag = format!(" {}", &tag[..tag.find('>').expect("the tag ends")]);
        let attr = |name: &str| {
            let key = format!(" {name}=\"");
            tag.find(&key).map(|at| {
                let rest = &tag[at + key.len()..];
                unescape(&rest[..rest.find('"').expect("the value ends")])
            })
        };
        let Some(name) = attr("name") else { continue };
        if attr("type").as_deref() == Some("checkbox") && !tag.contains(" checked") {
            continue;
        }
        fields.push((name, attr("value").unwrap_or_default()));
    }
    fields
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// `fields` with `name` set to `value` (added when absent).
fn with(mut fields: Vec<(String, String)>, name: &str, value: &str) -> Vec<(String, String)> {
    match fields.iter_mut().find(|(n, _)| n == name) {
        Some(f) => f.1 = value.to_owned(),
        None => fields.push((name.to_owned(), value.to_owned())),
    }
    fields
}

fn pairs(fields: &[(String, String)]) -> Vec<(&str, &str)> {
    fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

async fn post(browser: &Browser, path: &str, fields: &[(String, String)]) -> reqwest::Response {
    browser.post(path, &pairs(fields)).await
}

async fn current_profile(app: &TestApp) -> pb::Profile {
    app.client
        .clone()
        .get_profile(pb::GetProfileRequest { version: 0 })
        .await
        .expect("GetProfile")
        .into_inner()
        .profile
        .expect("a profile")
}

async fn version_count(app: &TestApp) -> usize {
    app.client
        .clone()
        .list_profile_versions(pb::ListProfileVersionsRequest {
            page_size: 100,
            page_token: String::new(),
        })
        .await
        .expect("ListProfileVersions")
        .into_inner()
        .profiles
        .len()
}

fn contact_lead(lead_id: &str, disrespectful_incidents: i32) -> pb::QualifyLeadRequest {
    qualify_request(
        lead_id,
        pb::Stage::Contact,
        pb::LeadFacts {
            disrespectful_incidents: Some(disrespectful_incidents),
            ..Default::default()
        },
    )
}

/// Qualifies leads, then issues a key with `roles` and signs a browser in
/// with it; gRPC calls go with the key from then on.
async fn signed_in(app: &mut TestApp, roles: &[Role]) -> (Browser, String) {
    let key = app.issue_key("default", roles).await;
    app.use_key(&key.secret);
    let browser = Browser::new(app);
    let csrf = browser.sign_in(&key.secret).await;
    (browser, csrf)
}

async fn an_admin_previews_a_knockout_then_publishes_it(backend: Backend) {
    let mut app = app(backend).await;
    // Two rude leads need review (DISRESPECTFUL weighs 30, the review
    // threshold); a calm one is qualified; a muddled one fires
    // CONTRADICTORY_STATEMENTS (3, the limit is 2).
    for lead in ["rude-1", "rude-2"] {
        let verdict = app
            .qualify(contact_lead(lead, 2))
            .await
            .verdict
            .expect("a verdict");
        assert_eq!(verdict.outcome, pb::Outcome::NeedsReview as i32, "{lead}");
    }
    app.qualify(contact_lead("calm-1", 0)).await;
    app.qualify(qualify_request(
        "muddled-1",
        pb::Stage::Study,
        pb::LeadFacts {
            contradictory_statements: Some(3),
            ..Default::default()
        },
    ))
    .await;
    let (browser, _) = signed_in(&mut app, &[Role::Admin]).await;

    let page = browser.page("/profile").await;
    assert!(
        page.contains("Current version <strong>1</strong>"),
        "{page}"
    );
    assert!(page.contains("href=\"/profile\""), "the nav links the page");
    let opened = form_fields(&page);
    assert_eq!(field(&opened, "expected_version"), Some("1"));
    assert_eq!(field(&opened, "review_threshold"), Some("30"));
    assert_eq!(field(&opened, "weights.DISRESPECTFUL"), Some("30"));
    assert_eq!(field(&opened, "black_list_knockout"), Some("true"));
    assert_eq!(field(&opened, "knockouts"), None, "no knockout ticked");

    // The candidate: DISRESPECTFUL a knockout, contradictions allowed up to 5.
    let mut candidate = with(opened, "max_contradictions", "5");
    candidate.push(("knockouts".into(), "DISRESPECTFUL".into()));
    let previewed = post(&browser, "/profile/preview", &candidate).await;
    assert_eq!(previewed.status(), StatusCode::OK);
    let preview = previewed.text().await.expect("a page");
    for text in [
        "Re-evaluated 4 stored leads",
        "<strong>2 leads change</strong> outcome",
        "Needs review → Disqualified: 2 leads",
        "CONTRADICTORY_STATEMENTS",
        "Fires less (−1)",
        "href=\"/leads/rude-1\"",
        "href=\"/leads/rude-2\"",
    ] {
        assert!(preview.contains(text), "{text:?} not in:\n{preview}");
    }
    assert!(
        !preview.contains("href=\"/leads/calm-1\""),
        "calm-1 unchanged"
    );
    // The matrix: two leads from needs review to disqualified, one
    // qualified lead stays (calm-1), and muddled-1 stays qualified too.
    let matrix = &preview[preview.find("<table class=\"matrix\"").expect("a matrix")..];
    let matrix = &matrix[..matrix.find("</table>").expect("it ends")];
    let row = |from: &str| {
        let at = matrix
            .find(&format!("From {from}</th>"))
            .unwrap_or_else(|| panic!("no row {from}: {matrix}"));
        let row = &matrix[at..];
        let cells: Vec<String> = row[..row.find("</tr>").expect("row ends")]
            .split("<td class=\"num\">")
            .skip(1)
            .map(|c| c.split([' ', '<']).next().unwrap_or_default().to_owned())
            .collect();
        cells
    };
    assert_eq!(row("Qualified"), ["2", "0", "0"]);
    assert_eq!(row("Needs review"), ["0", "0", "2"]);
    assert_eq!(row("Disqualified"), ["0", "0", "0"]);
    assert_eq!(
        current_profile(&app).await.version,
        1,
        "a preview stores nothing"
    );

    // The candidate is kept in the form, to publish as it is.
    let kept = form_fields(&preview);
    assert_eq!(field(&kept, "max_contradictions"), Some("5"));
    assert_eq!(field(&kept, "knockouts"), Some("DISRESPECTFUL"));
    assert_eq!(field(&kept, "expected_version"), Some("1"));
    let published = post(&browser, "/profile", &kept).await;
    assert_eq!(published.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&published), "/profile");

    let stored = current_profile(&app).await;
    assert_eq!(stored.version, 2);
    assert_eq!(stored.knockouts, [pb::Criterion::Disrespectful as i32]);
    assert_eq!(stored.max_contradictions, Some(5));
    assert_eq!(stored.review_threshold, Some(30), "the rest as it was");
    assert_eq!(stored.black_list_knockout, Some(true));
    let rude = app
        .qualify(pb::QualifyLeadRequest {
            lead_id: "rude-1".into(),
            ..Default::default()
        })
        .await
        .verdict
        .expect("a verdict");
    assert_eq!(rude.outcome, pb::Outcome::Disqualified as i32);

    let page = browser.page("/profile").await;
    assert!(
        page.contains("Current version <strong>2</strong>"),
        "{page}"
    );
    assert!(page.contains("href=\"/profile?version=1\""), "{page}");
    assert_eq!(field(&form_fields(&page), "expected_version"), Some("2"));
    let old = browser.page("/profile?version=1").await;
    assert!(old.contains("read-only"), "{old}");
    assert!(
        !old.contains("action=\"/profile\""),
        "no form on an old version"
    );
    let missing = browser.get("/profile?version=9").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let bad = browser.get("/profile?version=two").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

async fn a_form_opened_on_a_stale_version_is_refused_and_stores_nothing(backend: Backend) {
    let mut app = app(backend).await;
    app.qualify(contact_lead("rude-1", 2)).await;
    let (browser, _) = signed_in(&mut app, &[Role::Admin]).await;
    let opened = form_fields(&browser.page("/profile").await);
    assert_eq!(field(&opened, "expected_version"), Some("1"));

    // Someone else publishes version 2 meanwhile.
    let theirs = pb::Profile {
        review_threshold: Some(25),
        ..Default::default()
    };
    app.client
        .update_profile(pb::UpdateProfileRequest {
            profile: Some(theirs),
            expected_version: Some(1),
        })
        .await
        .expect("UpdateProfile");

    let mine = with(opened, "review_threshold", "40");
    let preview = post(&browser, "/profile/preview", &mine).await;
    assert_eq!(preview.status(), StatusCode::OK);
    let preview = preview.text().await.expect("a page");
    assert!(
        preview.contains("Version 2 was published after this form was opened on version 1"),
        "{preview}"
    );

    let refused = post(&browser, "/profile", &mine).await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let page = refused.text().await.expect("a page");
    assert!(
        page.contains("Someone else published version 2 first"),
        "{page}"
    );
    assert!(page.contains("Nothing was stored."), "{page}");
    let stored = current_profile(&app).await;
    assert_eq!(stored.version, 2);
    assert_eq!(stored.review_threshold, Some(25), "theirs stands");
    assert_eq!(version_count(&app).await, 2);

    // The form keeps my values, now over version 2: publishing it is a
    // decision taken knowing theirs.
    let again = form_fields(&page);
    assert_eq!(field(&again, "review_threshold"), Some("40"));
    assert_eq!(field(&again, "expected_version"), Some("2"));
    let published = post(&browser, "/profile", &again).await;
    assert_eq!(published.status(), StatusCode::SEE_OTHER);
    let stored = current_profile(&app).await;
    assert_eq!(stored.version, 3);
    assert_eq!(stored.review_threshold, Some(40));
}

async fn an_invalid_form_names_its_fields_and_stores_nothing(backend: Backend) {
    let mut app = app(backend).await;
    let (browser, _) = signed_in(&mut app, &[Role::Admin]).await;
    let opened = form_fields(&browser.page("/profile").await);

    for (path, name, value, named) in [
        (
            "/profile",
            "review_threshold",
            "70",
            "profile.review_threshold: must be <= disqualify_threshold (60), got 70",
        ),
        (
            "/profile",
            "value_weight_profit",
            "60",
            "profile.value_weight_profit: the four value weights must sum to 100",
        ),
        (
            "/profile",
            "min_employees",
            "lots",
            "profile.min_employees: must be a whole number",
        ),
        (
            "/profile",
            "countries",
            "DE, Germany",
            "profile.countries[1]: \"Germany\" is not an ISO 3166-1 alpha-2 country code",
        ),
        (
            "/profile",
            "weights.MAGIC_WAND",
            "150",
            "MAGIC_WAND: must be between 0 and 100, got 150",
        ),
        (
            "/profile",
            "seller_timezone",
            "Mars/Olympus",
            "profile.seller_timezone: ",
        ),
        (
            "/profile/preview",
            "review_threshold",
            "70",
            "profile.review_threshold: must be <= disqualify_threshold (60), got 70",
        ),
    ] {
        let sent = with(opened.clone(), name, value);
        let response = post(&browser, path, &sent).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{name}={value}");
        let page = response.text().await.expect("a page");
        assert!(text_of(&page).contains(named), "{named:?} not in:\n{page}");
        assert!(page.contains("nothing was"), "{page}");
        // The form again, with the value sent, marked invalid.
        let again = form_fields(&page);
        assert_eq!(field(&again, name), Some(value), "{name}");
        assert!(
            page.contains(&format!("href=\"#{name}\"")),
            "the violation links its input: {page}"
        );
        assert!(page.contains("aria-invalid=\"true\""), "{page}");
    }
    let stored = current_profile(&app).await;
    assert_eq!(stored.version, 1, "nothing stored");
    assert_eq!(version_count(&app).await, 1);

    let mut no_version = opened.clone();
    no_version.retain(|(n, _)| n != "expected_version");
    let refused = post(&browser, "/profile", &no_version).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let page = refused.text().await.expect("a page");
    assert!(
        text_of(&page).contains("expected_version: is required"),
        "{page}"
    );
    assert_eq!(version_count(&app).await, 1);
}

async fn a_reader_or_scorer_sees_the_profile_but_cannot_change_it(backend: Backend) {
    let mut app = app(backend).await;
    let nobody = Browser::new(&app);
    let sent_away = nobody.get("/profile").await;
    assert_eq!(sent_away.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&sent_away), "/sign-in?next=/profile");

    for role in [Role::Reader, Role::Scorer] {
        let (browser, csrf) = signed_in(&mut app, &[role]).await;
        let page = browser.page("/profile").await;
        for text in [
            "href=\"/profile\"",
            "Current version <strong>1</strong>",
            "review_threshold",
            "DISRESPECTFUL",
            "black_list_knockout",
            "Editing the profile needs the admin role.",
            "href=\"/profile?version=1\"",
        ] {
            assert!(page.contains(text), "{role:?}: {text:?} not in:\n{page}");
        }
        assert!(
            !page.contains("action=\"/profile\""),
            "no form for {role:?}"
        );
        assert!(!page.contains("name=\"expected_version\""), "{role:?}");

        let form = [
            ("csrf", csrf.as_str()),
            ("expected_version", "1"),
            ("review_threshold", "40"),
        ];
        for path in ["/profile", "/profile/preview"] {
            let refused = browser.post(path, &form).await;
            assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{role:?} {path}");
        }
    }
    let stored = current_profile(&app).await;
    assert_eq!(stored.version, 1);
    assert_eq!(stored.review_threshold, Some(30));
}

async fn a_profile_form_without_its_csrf_token_is_refused(backend: Backend) {
    let mut app = app(backend).await;
    let (browser, _) = signed_in(&mut app, &[Role::Admin]).await;
    let opened = form_fields(&browser.page("/profile").await);
    let mut changed = with(opened, "review_threshold", "40");
    changed.retain(|(n, _)| n != "csrf");
    for path in ["/profile", "/profile/preview"] {
        let refused = post(&browser, path, &changed).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{path}");
        let wrong = with(changed.clone(), "csrf", &"0".repeat(64));
        let refused = post(&browser, path, &wrong).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let stored = current_profile(&app).await;
    assert_eq!(stored.version, 1);
    assert_eq!(stored.review_threshold, Some(30));
}
