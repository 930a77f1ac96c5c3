//! `/import` over real HTTP: a CSV uploaded from the browser is qualified
//! row by row, its progress and refused rows shown, its results downloadable,
//! and uploading it again stores nothing twice.

use leadqual::auth::Role;
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};

use crate::backend_tests;
use crate::console::{Browser, app, csrf_of, location};
use crate::helpers::Backend;

backend_tests!(
    an_uploaded_csv_is_qualified_with_its_bad_rows_named,
    importing_needs_the_scorer_role_and_the_forms_token,
);

const CSV: &str = "lead_id,stage,employee_count,disrespectful_incidents,orders_count\n\
                   imp-1,contact,120,2,\n\
                   imp-2,identification,ten,,\n\
                   imp-3,study,80,0,3\n";

async fn upload(browser: &Browser, csrf: &str, name: &str, body: &str) -> reqwest::Response {
    let form = Form::new().text("csrf", csrf.to_owned()).part(
        "file",
        Part::bytes(body.as_bytes().to_vec()).file_name(name.to_owned()),
    );
    browser
        .http
        .post(format!("{}/import", browser.base))
        .multipart(form)
        .send()
        .await
        .expect("POST /import")
}

/// The job's page once it says it has finished.
async fn finished(browser: &Browser, path: &str) -> String {
    for _ in 0..100 {
        let page = browser.page(path).await;
        if page.contains("Finished.") {
            return page;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the import at {path} did not finish");
}

async fn an_uploaded_csv_is_qualified_with_its_bad_rows_named(backend: Backend) {
    let mut app = app(backend).await;
    let key = app.issue_key("default", &[Role::Scorer]).await;
    app.use_key(&key.secret);
    let browser = Browser::new(&app);
    browser.sign_in(&key.secret).await;
    let form = browser.page("/import").await;
    let csrf = csrf_of(&form);

    let response = upload(&browser, &csrf, "leads.csv", CSV).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let job = location(&response);
    assert!(job.starts_with("/import/"), "{job}");
    let page = finished(&browser, &job).await;
    for text in ["3 of 3 rows", "2 stored", "1 refused", "employee_count"] {
        assert!(page.contains(text), "{text:?} not in:\n{page}");
    }
    // The refused row is named by its line (the header is line 1).
    assert!(
        page.contains("<td class=\"num\">3</td><td>imp-2</td>"),
        "{page}"
    );

    let lead = app.lead("imp-1").await.expect("GetLead");
    assert_eq!(lead.facts.and_then(|f| f.employee_count), Some(120));
    assert!(app.lead("imp-2").await.is_err(), "a bad row stores nothing");

    let results = browser.get(&format!("{job}/results.csv")).await;
    assert_eq!(results.status(), StatusCode::OK);
    let text = results.text().await.expect("results");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "line,lead_id,status,outcome,score,fired,reason");
    assert!(lines[1].starts_with("2,imp-1,STORED,"), "{text}");
    assert!(lines[2].starts_with("3,imp-2,REFUSED,"), "{text}");
    assert!(lines[3].starts_with("4,imp-3,STORED,"), "{text}");

    // The same file again: every good row replays, nothing is stored twice.
    let again = upload(&browser, &csrf, "leads.csv", CSV).await;
    let page = finished(&browser, &location(&again)).await;
    assert!(page.contains("2 already stored"), "{page}");
    assert_eq!(app.all_verdicts("imp-1").await.len(), 1);

    // A file refused as a whole: a 400 naming the file.
    let bad = upload(&browser, &csrf, "leads.csv", "lead,stage\nx,contact\n").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.expect("page").contains("file: "));
}

async fn importing_needs_the_scorer_role_and_the_forms_token(backend: Backend) {
    let app = app(backend).await;
    let reader = app.issue_key("default", &[Role::Reader]).await;
    let scorer = app.issue_key("default", &[Role::Scorer]).await;

    let browser = Browser::new(&app);
    let csrf = browser.sign_in(&reader.secret).await;
    assert_eq!(browser.get("/import").await.status(), StatusCode::FORBIDDEN);
    let refused = upload(&browser, &csrf, "leads.csv", CSV).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    let browser = Browser::new(&app);
    browser.sign_in(&scorer.secret).await;
    let refused = upload(&browser, &"0".repeat(64), "leads.csv", CSV).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let page = browser.page("/import").await;
    assert!(!page.contains("Recent imports"), "nothing was imported");
}
