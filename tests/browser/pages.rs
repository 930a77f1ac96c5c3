//! The console's other pages in the browser: an admin previews a profile
//! change and publishes it from the preview, a scorer imports a CSV with a
//! bad row through the upload form, and the funnel counts the seeded leads.
//! Each where the role does not allow it is refused or shows no form.

use fantoccini::Locator;
use leadqual::auth::Role;
use leadqual::proto::v1 as pb;

use crate::driver::{Browser, Chromium};
use crate::helpers::TestApp;
use crate::{RUDE, app_with_leads, leads, outcome_text, sign_in};

/// The text of each element `css` selects, in page order.
async fn texts(browser: &Browser, css: &str) -> Vec<String> {
    texts_at(browser, Locator::Css(css)).await
}

/// The text of each element `locator` finds, in page order.
async fn texts_at(browser: &Browser, locator: Locator<'_>) -> Vec<String> {
    let mut texts = Vec::new();
    for element in browser
        .client
        .find_all(locator)
        .await
        .unwrap_or_else(|e| panic!("find {locator:?}: {e}"))
    {
        texts.push(element.text().await.expect("an element's text"));
    }
    texts
}

/// The text of the first row `rows` selects that contains `text`.
async fn row_with(browser: &Browser, rows: &str, text: &str) -> String {
    let all = texts(browser, rows).await;
    all.iter()
        .find(|row| row.contains(text))
        .cloned()
        .unwrap_or_else(|| panic!("no row of {rows} has {text:?}: {all:#?}"))
}

/// Signs out with the nav's button; back on the sign-in page.
async fn sign_out(browser: &Browser) {
    browser.click("form[action='/sign-out'] button").await;
    browser.is_at("/sign-in").await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_previews_a_knockout_and_publishes_it_from_the_preview() {
    let Some(chromium) =
        Chromium::required("an_admin_previews_a_knockout_and_publishes_it_from_the_preview")
    else {
        return;
    };
    let (mut app, outcomes) = app_with_leads().await;
    let admin = app.issue_key("default", &[Role::Admin]).await;
    let reader = app.issue_key("default", &[Role::Reader]).await;
    app.use_key(&admin.secret);
    // RUDE is the only seeded lead firing DISRESPECTFUL: making it a
    // knockout disqualifies that lead alone.
    let before = outcomes
        .iter()
        .find(|(id, _)| id == RUDE)
        .map(|(_, o)| *o)
        .expect("the seeded lead");
    assert_ne!(before, pb::Outcome::Disqualified, "the knockout changes it");
    let port = app.console_port.expect("the console is on");
    chromium
        .drive(port, async |browser| {
            sign_in(browser, &admin.secret).await;
            browser.click("nav a[href='/profile']").await;
            browser.is_at("/profile").await;
            browser.sees("Current version 1,").await;
            let knockout = "form[action='/profile'] input[name=knockouts][value=DISRESPECTFUL]";
            let ticked = browser.find(knockout).await;
            assert!(
                !ticked.is_selected().await.expect("checked?"),
                "no knockout yet"
            );
            browser.click(knockout).await;
            browser
                .click("form[action='/profile'] button[formaction='/profile/preview']")
                .await;

            browser.is_at("/profile/preview").await;
            browser
                .sees_all(&[
                    "Impact of the candidate profile",
                    &format!("Re-evaluated {} stored leads", outcomes.len()),
                    "1 lead changes outcome",
                    &format!("{} → Disqualified: 1 lead", outcome_text(before)),
                    "Nothing is stored until you publish.",
                ])
                .await;
            // The matrix: each lead stays in its row's outcome but RUDE,
            // which moves to Disqualified.
            let order = [
                pb::Outcome::Qualified,
                pb::Outcome::NeedsReview,
                pb::Outcome::Disqualified,
            ];
            for (r, from) in order.iter().enumerate() {
                let cells = texts(
                    browser,
                    &format!("table.matrix tbody tr:nth-child({}) td", r + 1),
                )
                .await;
                let now = outcomes.iter().filter(|(_, o)| o == from).count();
                let expected: Vec<String> = order
                    .iter()
                    .map(|to| {
                        let n = if from == to {
                            now - usize::from(*from == before)
                        } else {
                            usize::from(*from == before && *to == pb::Outcome::Disqualified)
                        };
                        if from == to {
                            format!("{n} (same)")
                        } else {
                            n.to_string()
                        }
                    })
                    .collect();
                assert_eq!(cells, expected, "the matrix row from {from:?}");
            }
            // The changed lead, linked: it alone.
            let changed = "section[aria-labelledby=changed] tbody tr";
            assert_eq!(browser.count(changed).await, 1, "one changed lead");
            let row = row_with(browser, changed, RUDE).await;
            assert!(
                row.contains(outcome_text(before))
                    && row.contains("Disqualified")
                    && row.contains("DISRESPECTFUL"),
                "now, with the candidate, and the knockout that fired: {row:?}"
            );
            assert_eq!(
                browser
                    .count(&format!(
                        "section[aria-labelledby=changed] a[href='/leads/{RUDE}']"
                    ))
                    .await,
                1
            );
            assert_eq!(current_profile(&app).await.version, 1, "nothing stored");

            // Publish the candidate from the preview's own form.
            let still = browser.find(knockout).await;
            assert!(
                still.is_selected().await.expect("checked?"),
                "the candidate kept"
            );
            browser
                .click("form[action='/profile'] button.publish")
                .await;
            browser.is_at("/profile").await;
            browser.sees("Current version 2,").await;
            let shown = row_with(
                browser,
                "section[aria-labelledby=settings] table.settings tbody tr",
                "DISRESPECTFUL",
            )
            .await;
            assert!(shown.contains("Knockout"), "shown as a knockout: {shown:?}");
            let version = row_with(
                browser,
                "section[aria-labelledby=versions] tbody tr",
                "Version 2",
            )
            .await;
            assert!(version.contains("Current"), "{version:?}");
            let stored = current_profile(&app).await;
            assert_eq!(stored.version, 2, "GetProfile returns the published one");
            assert_eq!(stored.knockouts, vec![pb::Criterion::Disrespectful as i32]);

            // A reader sees the new version, and no form to change it.
            sign_out(browser).await;
            sign_in(browser, &reader.secret).await;
            browser.click("nav a[href='/profile']").await;
            browser.is_at("/profile").await;
            browser
                .sees_all(&[
                    "Current version 2,",
                    "Editing the profile needs the admin role.",
                ])
                .await;
            assert_eq!(browser.count("form[action='/profile']").await, 0);
            assert_eq!(browser.count("input[name=knockouts]").await, 0);
            assert_eq!(
                browser.count("button[formaction='/profile/preview']").await,
                0
            );
        })
        .await;
}

/// Three rows; the second (line 3, the header is line 1) has a word where
/// a number goes.
const CSV: &str = "lead_id,stage,employee_count,disrespectful_incidents,orders_count\n\
                   imp-1,contact,120,2,\n\
                   imp-2,identification,ten,,\n\
                   imp-3,study,80,0,3\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scorer_imports_a_csv_with_a_bad_row_and_a_reader_is_refused() {
    let Some(chromium) =
        Chromium::required("a_scorer_imports_a_csv_with_a_bad_row_and_a_reader_is_refused")
    else {
        return;
    };
    let (mut app, _) = app_with_leads().await;
    let scorer = app.issue_key("default", &[Role::Scorer]).await;
    let reader = app.issue_key("default", &[Role::Reader]).await;
    app.use_key(&scorer.secret);
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("monday.csv");
    std::fs::write(&file, CSV).expect("the CSV file");
    let port = app.console_port.expect("the console is on");
    chromium
        .drive(port, async |browser| {
            sign_in(browser, &scorer.secret).await;
            browser.click("nav a[href='/import']").await;
            browser.is_at("/import").await;
            browser.sees("Import leads").await;
            // A file input takes the file's path, as a user picking it.
            browser
                .find("form[action='/import'] input[type=file]#file")
                .await
                .send_keys(&file.to_string_lossy())
                .await
                .expect("choose the file");
            browser
                .click("form[action='/import'] button[type=submit]")
                .await;

            // The job's page refreshes itself until the job is done.
            browser
                .sees_all(&["Import of monday.csv", "Finished."])
                .await;
            let job = browser.location().await;
            assert!(job.starts_with("/import/"), "the job's page: {job}");
            browser
                .sees_all(&["3 of 3 rows", "2 stored", "0 already stored", "1 refused"])
                .await;
            let progress = browser.find("progress#progress").await;
            assert_eq!(
                progress.attr("value").await.expect("value").as_deref(),
                Some("3"),
                "the bar is full"
            );
            let refused = texts(browser, "table tbody tr").await;
            assert_eq!(refused.len(), 1, "one refused row: {refused:?}");
            let cells = texts(browser, "table tbody tr td").await;
            assert_eq!(cells[..2], ["3", "imp-2"], "its line and lead: {cells:?}");
            assert!(cells[2].contains("employee_count"), "why: {cells:?}");
            let results = browser
                .find("a[href$='/results.csv']")
                .await
                .attr("href")
                .await
                .expect("href");
            assert_eq!(results.as_deref(), Some(&*format!("{job}/results.csv")));

            // The good rows' leads exist, over gRPC and on their pages; the
            // bad one stored nothing.
            let lead = app.lead("imp-1").await.expect("GetLead imp-1");
            assert_eq!(lead.facts.and_then(|f| f.employee_count), Some(120));
            app.lead("imp-3").await.expect("GetLead imp-3");
            assert!(app.lead("imp-2").await.is_err(), "a bad row stores nothing");
            browser.goto("/leads/imp-1").await;
            browser.sees_all(&["Lead imp-1", "DISRESPECTFUL"]).await;

            // The import page lists it as a recent import.
            browser.goto("/import").await;
            let recent = browser.find(&format!("a[href='{job}']")).await;
            assert_eq!(recent.text().await.expect("text"), "monday.csv");

            // A reader: no Import link, and the 403 page when typed in.
            sign_out(browser).await;
            sign_in(browser, &reader.secret).await;
            assert_eq!(browser.count("nav a[href='/import']").await, 0);
            browser.goto("/import").await;
            browser
                .sees_all(&[
                    "Forbidden",
                    "this call needs the scorer role; the key has reader",
                ])
                .await;
            assert_eq!(browser.count("input[type=file]").await, 0);
            browser.goto(&job).await;
            browser.sees("Forbidden").await;
            assert!(!browser.text().await.contains("imp-2"), "no job shown");
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_funnel_charts_the_seeded_leads_per_stage() {
    let Some(chromium) = Chromium::required("the_funnel_charts_the_seeded_leads_per_stage") else {
        return;
    };
    let (app, outcomes) = app_with_leads().await;
    let key = app.issue_key("default", &[Role::Reader]).await;
    let stage_of = |lead_id: &str| {
        leads()
            .into_iter()
            .find(|l| l.lead_id == lead_id)
            .map(|l| pb::Stage::try_from(l.stage).expect("a stage"))
            .expect("a seeded lead")
    };
    let port = app.console_port.expect("the console is on");
    chromium
        .drive(port, async |browser| {
            sign_in(browser, &key.secret).await;
            browser.click("nav a[href='/funnel']").await;
            browser.is_at("/funnel").await;
            browser.sees("Funnel").await;
            // The default period (the last 30 days) has every seeded lead.
            let leads = browser
                .find("#summary strong")
                .await
                .text()
                .await
                .expect("the count");
            assert_eq!(leads, outcomes.len().to_string(), "the summary");
            browser
                .sees(&format!("{} leads whose latest verdict", outcomes.len()))
                .await;
            let label = browser
                .find("section[aria-labelledby=outcomes] svg[role=img]")
                .await
                .attr("aria-label")
                .await
                .expect("aria-label")
                .expect("the chart is labelled");
            assert!(
                browser.count("svg.chart[role=img]").await >= 2,
                "two charts"
            );

            // Per stage, the seeded outcomes: in the chart's label and the
            // table under it.
            for stage in [
                pb::Stage::Identification,
                pb::Stage::Contact,
                pb::Stage::Study,
                pb::Stage::Recommendation,
            ] {
                let of = |outcome: pb::Outcome| {
                    outcomes
                        .iter()
                        .filter(|(id, o)| *o == outcome && stage_of(id) == stage)
                        .count()
                };
                let (q, r, d) = (
                    of(pb::Outcome::Qualified),
                    of(pb::Outcome::NeedsReview),
                    of(pb::Outcome::Disqualified),
                );
                let name = stage_title(stage);
                assert!(
                    label.contains(&format!(
                        "{name}: {q} qualified, {r} needs review, {d} disqualified"
                    )),
                    "{name} in the chart's label: {label:?}"
                );
                let row = row_with(browser, "table#stages tbody tr", &name).await;
                let cells: Vec<&str> = row.split_whitespace().collect();
                let expected = [q, r, d, q + r + d].map(|n| n.to_string());
                assert_eq!(cells[cells.len() - 4..], expected, "{name}: {row:?}");
            }
            // The criterion behind RUDE's verdict is counted as fired.
            let cells = texts_at(
                browser,
                Locator::XPath(
                    "//table[@id='criteria']/tbody/tr[th[contains(., 'DISRESPECTFUL')]]/td",
                ),
            )
            .await;
            assert_eq!(
                cells.get(..2),
                Some(&["Contact", "1"].map(String::from)[..]),
                "stage and fired: {cells:?}"
            );
            browser.screenshot_down_to("funnel", "table#stages").await;
        })
        .await;
}

/// A stage as the pages write it: "Contact".
fn stage_title(stage: pb::Stage) -> String {
    let name = stage.as_str_name().trim_start_matches("STAGE_");
    let mut chars = name.chars();
    chars
        .next()
        .map(|first| first.to_string() + &chars.as_str().to_lowercase())
        .unwrap_or_default()
}
