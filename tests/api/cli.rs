//! The client commands of the `leadqual` binary against a real server:
//! what a sales-ops person or a script sees, and what the server stored.

use std::path::Path;
use std::process::Output;

use leadqual::auth::Role;
use leadqual::proto::v1 as pb;
use pb::{Outcome, Stage};

use crate::backend_tests;
use crate::helpers::{
    AppOptions, Backend, TestApp, TestTls, qualify_request, spawn_app, spawn_app_with,
};

backend_tests!(
    qualify_a_csv_with_bad_rows_stores_the_good_ones_and_a_rerun_stores_nothing,
    qualify_json_lines_from_standard_input,
    explain_shows_the_latest_verdict_and_the_override_in_force,
    leads_lists_the_review_queue_with_filters_and_a_limit,
    criteria_lists_the_catalogue,
    profile_get_and_set_round_trip_one_json_shape,
    override_and_clear_change_the_effective_outcome,
    errors_are_one_clear_line_with_the_code,
    https_with_a_ca_certificate,
    preview_shows_what_a_candidate_profile_would_change,
    stats_count_the_latest_verdicts_in_a_time_range,
);

/// Runs `leadqual ARGS --server http://127.0.0.1:PORT [--key KEY]`, with
/// `stdin` on standard input and `env` set (and no LEADQUAL_* or USER from
/// the test's own environment).
async fn run_client(
    app: &TestApp,
    key: Option<&str>,
    args: &[&str],
    stdin: &[u8],
    env: &[(&str, &str)],
) -> Output {
    let server = format!("http://127.0.0.1:{}", app.port);
    run_client_at(&server, key, args, stdin, env).await
}

/// [`run_client`] against the server at `server`.
async fn run_client_at(
    server: &str,
    key: Option<&str>,
    args: &[&str],
    stdin: &[u8],
    env: &[(&str, &str)],
) -> Output {
    let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    all.extend(["--server".to_owned(), server.to_owned()]);
    if let Some(key) = key {
        all.extend(["--key".to_owned(), key.to_owned()]);
    }
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let stdin = stdin.to_vec();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_leadqual"))
            .args(&all)
            .env_remove("LEADQUAL_SERVER")
            .env_remove("LEADQUAL_KEY")
            .env_remove("LEADQUAL_CA_CERT")
            .env_remove("USER")
            .envs(env)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the leadqual binary runs");
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(&stdin).expect("write stdin");
        drop(input);
        child.wait_with_output().expect("the leadqual binary ends")
    })
    .await
    .expect("the CLI thread completes")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8")
}

/// Standard output of a run that must succeed.
fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "the CLI fails: {}\nstdout: {}\nstderr: {}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// Standard error of a run that must fail with exit status 1.
fn failed(output: &Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(1),
        "exit status 1 expected\nstdout: {}\nstderr: {}",
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stderr)
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

/// The cells of the table row whose first cell is `first`.
fn table_row(text: &str, first: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            l.split(['│', '┆'])
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .find(|cells| cells.first().map(String::as_str) == Some(first))
        .unwrap_or_else(|| panic!("no row {first:?} in\n{text}"))
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

const CSV: &str = "\
lead_id,stage,employee_count,expects_magic_wand,disrespectful_incidents,country,meetings_cancelled
A-1,contact,50,,0,DE,
A-2,recommendation,20,true,1,,3
A-3,contact,ten,,,,
A-4,contact,5,,,Germany,
A-5,Study,100,,2,,
";

async fn qualify_a_csv_with_bad_rows_stores_the_good_ones_and_a_rerun_stores_nothing(
    backend: Backend,
) {
    let mut app = spawn_app(backend).await;
    let key = app.issue_key("acme", &[Role::Scorer]).await;
    app.use_key(&key.secret);
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("leads.csv");
    std::fs::write(&input, CSV).expect("write the CSV");
    let results = dir.path().join("results.jsonl");
    let args = [
        "qualify",
        "--input",
        path_str(&input),
        "--output",
        path_str(&results),
    ];

    let run = run_client(&app, Some(&key.secret), &args, b"", &[]).await;
    let stderr = failed(&run);
    assert!(
        stderr.contains(
            "line 4 (lead A-3): bad row, not sent: employee_count: \"ten\" is not a whole number"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 5 (lead A-4): INVALID_ARGUMENT:"),
        "{stderr}"
    );
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("  - ") && l.contains("country")),
        "the field violation is named: {stderr}"
    );
    assert!(stderr.contains("rows read   5\n"), "{stderr}");
    assert!(stderr.contains("qualified   3\n"), "{stderr}");
    assert!(
        stderr.contains("failed      2 (bad rows not sent: 1, refused by the server: 1)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("outcomes    QUALIFIED 1, NEEDS_REVIEW 1, DISQUALIFIED 1"),
        "{stderr}"
    );
    assert!(
        stderr.contains("top fired   DISRESPECTFUL 2, MAGIC_WAND 1, MEETING_DISRUPTIONS 1"),
        "{stderr}"
    );
    assert!(!stderr.contains(&key.secret), "the key is never printed");

    // One result per row, in input order, matching what was stored.
    let first = json_lines(&std::fs::read_to_string(&results).expect("results"));
    let lines: Vec<i64> = first
        .iter()
        .map(|r| r["line"].as_i64().expect("line"))
        .collect();
    assert_eq!(lines, [2, 3, 4, 5, 6]);
    assert_eq!(first[2]["error"]["code"], "BAD_ROW");
    assert_eq!(
        first[2]["error"]["field_violations"][0]["field"],
        "employee_count"
    );
    assert_eq!(first[3]["error"]["code"], "INVALID_ARGUMENT");
    assert!(
        first[3]["error"]["field_violations"][0]["field"]
            .as_str()
            .is_some_and(|f| f.ends_with("country")),
        "{}",
        first[3]
    );
    let mut stored: Vec<String> = app
        .all_leads()
        .await
        .into_iter()
        .map(|l| l.lead_id)
        .collect();
    stored.sort();
    assert_eq!(
        stored,
        ["A-1", "A-2", "A-5"],
        "only the good rows are stored"
    );
    for result in [&first[0], &first[1], &first[4]] {
        let lead_id = result["lead_id"].as_str().expect("lead_id");
        let verdict = app
            .lead(lead_id)
            .await
            .expect("stored")
            .latest_verdict
            .expect("a verdict");
        assert_eq!(result["verdict_id"], verdict.verdict_id.as_str());
        assert_eq!(result["score"], verdict.score);
        assert_eq!(result["replayed"], false);
        assert_eq!(
            result["request_id"],
            verdict.request_id.as_str(),
            "the derived request id is the one stored"
        );
        assert!(verdict.request_id.starts_with("row-"));
    }
    assert_eq!(first[0]["outcome"], "QUALIFIED");
    assert_eq!(first[1]["outcome"], "DISQUALIFIED");
    assert_eq!(
        first[1]["fired"],
        serde_json::json!(["DISRESPECTFUL", "MAGIC_WAND", "MEETING_DISRUPTIONS"])
    );
    assert_eq!(first[4]["outcome"], "NEEDS_REVIEW");

    // The same file again, results as CSV: nothing new is stored.
    let results_csv = dir.path().join("results.csv");
    let again = [
        "qualify",
        "--input",
        path_str(&input),
        "--output",
        path_str(&results_csv),
    ];
    let stderr = failed(&run_client(&app, Some(&key.secret), &again, b"", &[]).await);
    assert!(
        stderr.contains("qualified   3 (3 replayed: stored by an earlier run, not stored again)"),
        "{stderr}"
    );
    for lead_id in ["A-1", "A-2", "A-5"] {
        assert_eq!(app.all_verdicts(lead_id).await.len(), 1, "{lead_id}");
    }
    let csv = std::fs::read_to_string(&results_csv).expect("results");
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows[0],
        "line,lead_id,request_id,outcome,score,fired,replayed,verdict_id,error_code,error_message,field_violations"
    );
    assert_eq!(rows.len(), 6, "a header and one line per row: {csv}");
    let a2: Vec<&str> = rows[2].split(',').collect();
    assert_eq!(
        a2[..7],
        [
            "3",
            "A-2",
            first[1]["request_id"].as_str().expect("id"),
            "DISQUALIFIED",
            &first[1]["score"].to_string(),
            "DISRESPECTFUL;MAGIC_WAND;MEETING_DISRUPTIONS",
            "true"
        ]
    );
    assert!(rows[3].starts_with("4,A-3,,,,,,,BAD_ROW,"), "{}", rows[3]);
}

async fn qualify_json_lines_from_standard_input(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let key = app.issue_key("acme", &[Role::Scorer]).await;
    app.use_key(&key.secret);
    let input = "\
{\"lead_id\": \"J-1\", \"stage\": \"STAGE_CONTACT\", \"request_id\": \"crm-1\", \"disrespectful_incidents\": 0}
{\"lead_id\": \"J-2\", \"stage\": \"identification\", \"employee_count\": 12}

{\"lead_id\": \"J-2\", \"stage\": \"identification\", \"employee_count\": 12}
";
    let args = [
        "qualify", "--input", "-", "--format", "jsonl", "--output", "-",
    ];
    let run = run_client(&app, Some(&key.secret), &args, input.as_bytes(), &[]).await;
    let results = json_lines(&ok(&run));
    let stderr = text(&run.stderr);
    assert!(stderr.contains("rows read   3\n"), "{stderr}");
    assert!(stderr.contains("failed      0\n"), "{stderr}");
    let lines: Vec<i64> = results
        .iter()
        .map(|r| r["line"].as_i64().expect("line"))
        .collect();
    assert_eq!(
        lines,
        [1, 2, 4],
        "blank lines are skipped, numbering is kept"
    );
    assert_eq!(results[0]["request_id"], "crm-1");
    let j1 = app.lead("J-1").await.expect("stored");
    assert_eq!(j1.latest_verdict.expect("verdict").request_id, "crm-1");
    assert_ne!(
        results[1]["request_id"], results[2]["request_id"],
        "two identical rows are two requests"
    );
    assert_eq!(app.all_verdicts("J-2").await.len(), 2);

    // Again: both identical rows are replays, nothing new is stored.
    let run = run_client(&app, Some(&key.secret), &args, input.as_bytes(), &[]).await;
    let again = json_lines(&ok(&run));
    assert!(again.iter().all(|r| r["replayed"] == true), "{again:?}");
    assert_eq!(app.all_verdicts("J-2").await.len(), 2);
    assert_eq!(app.all_verdicts("J-1").await.len(), 1);
}

/// Qualifies `lead_id` at `stage` with `facts` over the unary call.
async fn seed(app: &mut TestApp, lead_id: &str, stage: Stage, facts: pb::LeadFacts) -> pb::Verdict {
    app.qualify(qualify_request(lead_id, stage, facts))
        .await
        .verdict
        .expect("a verdict")
}

/// 30 (DISRESPECTFUL): needs review; WITHHOLDS_ANSWERS unknown.
fn review_facts() -> pb::LeadFacts {
    pb::LeadFacts {
        disrespectful_incidents: Some(2),
        ..Default::default()
    }
}

async fn explain_shows_the_latest_verdict_and_the_override_in_force(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let key = app.issue_key("acme", &[Role::Scorer]).await;
    app.use_key(&key.secret);
    let verdict = seed(&mut app, "E-1", Stage::Contact, review_facts()).await;
    let signal = |c: pb::Criterion| {
        verdict
            .signals
            .iter()
            .find(|s| s.criterion == c as i32)
            .expect("a signal")
            .clone()
    };
    let disrespectful = signal(pb::Criterion::Disrespectful);

    let out = ok(&run_client(&app, Some(&key.secret), &["explain", "E-1"], b"", &[]).await);
    assert!(out.contains("Lead:              E-1\n"), "{out}");
    assert!(out.contains("Stage:             CONTACT\n"), "{out}");
    assert!(
        out.contains(&format!(
            "Outcome:           NEEDS_REVIEW (score {})",
            verdict.score
        )),
        "{out}"
    );
    assert!(out.contains("Effective outcome: NEEDS_REVIEW"), "{out}");
    assert!(out.contains("Override:          none"), "{out}");
    assert!(out.contains(&verdict.verdict_id), "{out}");
    let row = table_row(&out, "CONTACT");
    assert_eq!(
        row[..4],
        ["CONTACT", "DISRESPECTFUL", "FIRED", "30"],
        "{out}"
    );
    assert!(out.contains(&disrespectful.evidence), "{out}");
    assert!(out.contains(&disrespectful.remedy), "{out}");
    let withholds = signal(pb::Criterion::WithholdsAnswers);
    assert_eq!(withholds.status, pb::SignalStatus::Unknown as i32);
    assert!(
        out.contains(&format!("missing: {}", withholds.missing_facts.join(", "))),
        "{out}"
    );
    assert_eq!(
        out.lines().filter(|l| l.contains("NOT_APPLICABLE")).count(),
        10,
        "every criterion of the later stages is listed: {out}"
    );

    let set = [
        "override",
        "E-1",
        "--outcome",
        "qualified",
        "--reason",
        "known customer",
        "--author",
        "jane",
    ];
    ok(&run_client(&app, Some(&key.secret), &set, b"", &[]).await);
    let out = ok(&run_client(&app, Some(&key.secret), &["explain", "E-1"], b"", &[]).await);
    assert!(out.contains("Effective outcome: QUALIFIED"), "{out}");
    assert!(
        out.contains("Override:          QUALIFIED by jane"),
        "{out}"
    );
    assert!(out.contains("until replaced: known customer"), "{out}");

    let json = ok(&run_client(
        &app,
        Some(&key.secret),
        &["explain", "E-1", "--json"],
        b"",
        &[],
    )
    .await);
    let lead: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(lead["lead_id"], "E-1");
    assert_eq!(lead["stage"], "STAGE_CONTACT");
    assert_eq!(lead["effective_outcome"], "OUTCOME_QUALIFIED");
    assert_eq!(lead["active_override"]["author"], "jane");
    assert_eq!(lead["latest_verdict"]["outcome"], "OUTCOME_NEEDS_REVIEW");
    assert_eq!(
        lead["latest_verdict"]["verdict_id"],
        verdict.verdict_id.as_str()
    );
    assert_eq!(
        lead["latest_verdict"]["signals"].as_array().map(Vec::len),
        Some(21)
    );
    assert_eq!(
        lead["facts"],
        serde_json::json!({"disrespectful_incidents": 2})
    );
}

async fn leads_lists_the_review_queue_with_filters_and_a_limit(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let key = app.issue_key("acme", &[Role::Scorer]).await;
    app.use_key(&key.secret);
    seed(&mut app, "Q-1", Stage::Contact, pb::LeadFacts::default()).await;
    let review = seed(&mut app, "Q-2", Stage::Contact, review_facts()).await;
    seed(
        &mut app,
        "Q-3",
        Stage::Recommendation,
        pb::LeadFacts {
            expects_magic_wand: Some(true),
            disrespectful_incidents: Some(1),
            meetings_cancelled: Some(3),
            ..Default::default()
        },
    )
    .await;
    let other = app.issue_key("other", &[Role::Scorer]).await;
    app.use_key(&other.secret);
    seed(&mut app, "X-1", Stage::Contact, review_facts()).await;

    let out = ok(&run_client(&app, Some(&key.secret), &["leads"], b"", &[]).await);
    for lead in ["Q-1", "Q-2", "Q-3"] {
        table_row(&out, lead);
    }
    assert!(!out.contains("X-1"), "another tenant's lead: {out}");
    let row = table_row(&out, "Q-2");
    assert_eq!(
        row[..5],
        [
            "Q-2",
            "CONTACT",
            "NEEDS_REVIEW",
            "NEEDS_REVIEW",
            &review.score.to_string()
        ]
    );

    let out = ok(&run_client(
        &app,
        Some(&key.secret),
        &[
            "leads",
            "--outcome",
            "disqualified",
            "--stage",
            "recommendation",
        ],
        b"",
        &[],
    )
    .await);
    table_row(&out, "Q-3");
    assert!(!out.contains("Q-1") && !out.contains("Q-2"), "{out}");

    let run = run_client(
        &app,
        Some(&key.secret),
        &["leads", "--limit", "2", "--json"],
        b"",
        &[],
    )
    .await;
    let leads = json_lines(&ok(&run));
    let ids: Vec<&str> = leads
        .iter()
        .map(|l| l["lead_id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["Q-1", "Q-2"]);
    assert!(
        text(&run.stderr).contains("2 leads shown; more match"),
        "{}",
        text(&run.stderr)
    );

    let set = [
        "override",
        "Q-2",
        "--outcome",
        "disqualified",
        "--reason",
        "spam",
        "--author",
        "ops",
    ];
    ok(&run_client(&app, Some(&key.secret), &set, b"", &[]).await);
    let out = ok(&run_client(
        &app,
        Some(&key.secret),
        &["leads", "--effective-outcome", "DISQUALIFIED"],
        b"",
        &[],
    )
    .await);
    assert_eq!(table_row(&out, "Q-2")[3], "DISQUALIFIED (override)");
    table_row(&out, "Q-3");
    assert!(!out.contains("Q-1"), "{out}");

    let out = ok(&run_client(
        &app,
        Some(&key.secret),
        &["leads", "--outcome", "qualified", "--stage", "study"],
        b"",
        &[],
    )
    .await);
    assert_eq!(out, "No lead matches.\n");
}

async fn criteria_lists_the_catalogue(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = app.issue_key("acme", &[Role::Reader]).await;
    let out = ok(&run_client(&app, Some(&key.secret), &["criteria"], b"", &[]).await);
    let row = table_row(&out, "19");
    assert_eq!(
        row[..4],
        ["19", "MEETING_DISRUPTIONS", "RECOMMENDATION", "20"]
    );
    let json = ok(&run_client(&app, Some(&key.secret), &["criteria", "--json"], b"", &[]).await);
    let criteria: Vec<serde_json::Value> = serde_json::from_str(&json).expect("a JSON array");
    assert_eq!(criteria.len(), 21);
    assert_eq!(criteria[20]["code"], "REPEATED_EXPLANATIONS");
    assert_eq!(criteria[20]["criterion"], "CRITERION_REPEATED_EXPLANATIONS");
    assert_eq!(criteria[20]["stage"], "STAGE_RECOMMENDATION");
}

async fn profile_get_and_set_round_trip_one_json_shape(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.issue_key("acme", &[Role::Admin]).await;
    let key = Some(admin.secret.as_str());
    let json = ok(&run_client(&app, key, &["profile", "get", "--json"], b"", &[]).await);
    let mut profile: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let version = profile["version"].as_i64().expect("a version");
    profile["target_verticals"] = serde_json::json!(["saas"]);
    profile["knockouts"] = serde_json::json!(["CRITERION_DISRESPECTFUL"]);
    profile["min_employees"] = serde_json::json!(10);

    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("profile.json");
    std::fs::write(&file, profile.to_string()).expect("write");
    let stored = ok(&run_client(
        &app,
        key,
        &[
            "profile",
            "set",
            path_str(&file),
            "--expected-version",
            &version.to_string(),
        ],
        b"",
        &[],
    )
    .await);
    assert_eq!(
        stored.trim(),
        (version + 1).to_string(),
        "the new version on stdout"
    );

    let json = ok(&run_client(&app, key, &["profile", "get", "--json"], b"", &[]).await);
    let current: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(current["version"], version + 1);
    assert_eq!(current["target_verticals"], serde_json::json!(["saas"]));
    assert_eq!(
        current["knockouts"],
        serde_json::json!(["CRITERION_DISRESPECTFUL"])
    );
    assert_eq!(current["min_employees"], 10);

    let old = ok(&run_client(
        &app,
        key,
        &[
            "profile",
            "get",
            "--version",
            &version.to_string(),
            "--json",
        ],
        b"",
        &[],
    )
    .await);
    let old: serde_json::Value = serde_json::from_str(&old).expect("JSON");
    assert_eq!(old["target_verticals"], serde_json::json!([]));

    let table = ok(&run_client(&app, key, &["profile", "get"], b"", &[]).await);
    assert!(
        table.starts_with(&format!("Profile version {}", version + 1)),
        "{table}"
    );
    assert_eq!(
        table_row(&table, "target_verticals"),
        ["target_verticals", "saas"]
    );
    assert_eq!(
        table_row(&table, "knockouts"),
        ["knockouts", "DISRESPECTFUL"]
    );

    // A stale expected version, an invalid setting, an unknown field.
    let stale = failed(
        &run_client(
            &app,
            key,
            &[
                "profile",
                "set",
                path_str(&file),
                "--expected-version",
                &version.to_string(),
            ],
            b"",
            &[],
        )
        .await,
    );
    assert!(stale.starts_with("error: FAILED_PRECONDITION: "), "{stale}");
    profile["review_threshold"] = serde_json::json!(-5);
    let bad = failed(
        &run_client(
            &app,
            key,
            &["profile", "set", "-"],
            profile.to_string().as_bytes(),
            &[],
        )
        .await,
    );
    assert!(bad.starts_with("error: INVALID_ARGUMENT: "), "{bad}");
    assert!(bad.contains("\n  - profile.review_threshold: "), "{bad}");
    let unknown = failed(
        &run_client(
            &app,
            key,
            &["profile", "set", "-"],
            br#"{"min_employes": 3}"#,
            &[],
        )
        .await,
    );
    assert!(
        unknown.contains("is not a profile") && unknown.contains("min_employes"),
        "{unknown}"
    );
    let json = ok(&run_client(&app, key, &["profile", "get", "--json"], b"", &[]).await);
    let after: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(
        after["version"],
        version + 1,
        "nothing stored by the refused updates"
    );
}

async fn override_and_clear_change_the_effective_outcome(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let key = app.issue_key("acme", &[Role::Scorer]).await;
    app.use_key(&key.secret);
    seed(&mut app, "O-1", Stage::Contact, review_facts()).await;
    let secret = Some(key.secret.as_str());

    let out = ok(&run_client(
        &app,
        secret,
        &[
            "override",
            "O-1",
            "--outcome",
            "qualified",
            "--reason",
            "met them",
            "--expire",
            "7d",
        ],
        b"",
        &[("USER", "sam")],
    )
    .await);
    assert!(
        out.starts_with("lead O-1: effective outcome QUALIFIED by sam, until "),
        "{out}"
    );
    let lead = app.lead("O-1").await.expect("lead");
    let o = lead.active_override.expect("an override in force");
    assert_eq!(o.author, "sam", "the author defaults to $USER");
    assert_eq!(o.reason, "met them");
    let expire = o.expire_time.expect("an expiry");
    let in_a_week = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs() as i64
        + 7 * 86_400;
    assert!((expire.seconds - in_a_week).abs() < 120, "{expire:?}");
    assert_eq!(lead.effective_outcome, Outcome::Qualified as i32);

    // Without $USER, the key's id.
    ok(&run_client(
        &app,
        secret,
        &[
            "override",
            "O-1",
            "--outcome",
            "disqualified",
            "--reason",
            "r",
        ],
        b"",
        &[],
    )
    .await);
    let o = app
        .lead("O-1")
        .await
        .expect("lead")
        .active_override
        .expect("override");
    assert_eq!(o.author, format!("key {}", key.key_id));

    let out = ok(&run_client(
        &app,
        secret,
        &["override", "O-1", "--clear", "--reason", "mistake"],
        b"",
        &[],
    )
    .await);
    assert_eq!(
        out,
        "lead O-1: override withdrawn; effective outcome NEEDS_REVIEW\n"
    );
    let lead = app.lead("O-1").await.expect("lead");
    assert!(lead.active_override.is_none());
    assert_eq!(lead.effective_outcome, Outcome::NeedsReview as i32);

    let again = failed(
        &run_client(
            &app,
            secret,
            &["override", "O-1", "--clear", "--reason", "again"],
            b"",
            &[],
        )
        .await,
    );
    assert!(again.starts_with("error: "), "{again}");

    let reader = app.issue_key("acme", &[Role::Reader]).await;
    let denied = failed(
        &run_client(
            &app,
            Some(&reader.secret),
            &[
                "override",
                "O-1",
                "--outcome",
                "qualified",
                "--reason",
                "r",
                "--author",
                "a",
            ],
            b"",
            &[],
        )
        .await,
    );
    assert!(denied.starts_with("error: PERMISSION_DENIED: "), "{denied}");
}

async fn errors_are_one_clear_line_with_the_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = app.issue_key("acme", &[Role::Scorer]).await;
    let missing =
        failed(&run_client(&app, Some(&key.secret), &["explain", "nobody"], b"", &[]).await);
    assert_eq!(missing.lines().count(), 1, "{missing}");
    assert!(missing.starts_with("error: NOT_FOUND: "), "{missing}");

    let wrong_key = "lq_0123456789ab_notthesecretnotthesecretnotthesecret";
    let refused = failed(&run_client(&app, Some(wrong_key), &["criteria"], b"", &[]).await);
    assert!(refused.starts_with("error: UNAUTHENTICATED: "), "{refused}");
    assert!(
        !refused.contains("notthesecret"),
        "the key is never printed: {refused}"
    );

    let bad = failed(
        &run_client(
            &app,
            Some(&key.secret),
            &[
                "override",
                " ",
                "--outcome",
                "qualified",
                "--reason",
                "r",
                "--author",
                "a",
            ],
            b"",
            &[],
        )
        .await,
    );
    assert!(bad.starts_with("error: INVALID_ARGUMENT: "), "{bad}");
    assert!(bad.contains("\n  - lead_id: "), "{bad}");

    // Nothing listens on a port just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let down = failed(
        &run_client_at(
            &format!("http://127.0.0.1:{port}"),
            Some(&key.secret),
            &["criteria"],
            b"",
            &[],
        )
        .await,
    );
    assert!(
        down.starts_with(&format!(
            "error: cannot reach the server at http://127.0.0.1:{port}"
        )),
        "{down}"
    );

    let bad_stats = failed(
        &run_client(
            &app,
            Some(&key.secret),
            &["stats", "--since", "yesterday"],
            b"",
            &[],
        )
        .await,
    );
    assert!(
        bad_stats.contains("--since: \"yesterday\" is not a time"),
        "{bad_stats}"
    );
}

async fn https_with_a_ca_certificate(backend: Backend) {
    let tls = TestTls::generate();
    let app = spawn_app_with(
        backend,
        AppOptions {
            tls: Some(tls.clone()),
            ..Default::default()
        },
    )
    .await;
    let key = app.issue_key("acme", &[Role::Reader]).await;
    let server = format!("https://localhost:{}", app.port);
    let ca = tls.cert.to_str().expect("a UTF-8 path");
    let out = ok(&run_client_at(
        &server,
        Some(&key.secret),
        &["criteria", "--ca-cert", ca],
        b"",
        &[],
    )
    .await);
    table_row(&out, "1");
    // The same through the environment.
    let out = ok(&run_client_at(
        &server,
        Some(&key.secret),
        &["criteria", "--json"],
        b"",
        &[("LEADQUAL_CA_CERT", ca)],
    )
    .await);
    assert!(out.starts_with('['), "{out}");
    // Without the CA the server is not trusted.
    let refused = failed(&run_client_at(&server, Some(&key.secret), &["criteria"], b"", &[]).await);
    assert!(refused.starts_with("error: "), "{refused}");
    // And plain HTTP is no way around it.
    let plain = format!("http://127.0.0.1:{}", app.port);
    failed(&run_client_at(&plain, Some(&key.secret), &["criteria"], b"", &[]).await);
}

async fn preview_shows_what_a_candidate_profile_would_change(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let admin = app.issue_key("acme", &[Role::Admin]).await;
    app.use_key(&admin.secret);
    seed(&mut app, "P-1", Stage::Contact, pb::LeadFacts::default()).await;
    seed(&mut app, "P-2", Stage::Contact, review_facts()).await;
    seed(&mut app, "P-3", Stage::Contact, review_facts()).await;
    let key = Some(admin.secret.as_str());
    let json = ok(&run_client(&app, key, &["profile", "get", "--json"], b"", &[]).await);
    let mut candidate: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    candidate["knockouts"] = serde_json::json!(["CRITERION_DISRESPECTFUL"]);
    let candidate = candidate.to_string();

    let out = ok(&run_client(
        &app,
        key,
        &["preview", "-", "--sample", "1"],
        candidate.as_bytes(),
        &[],
    )
    .await);
    assert!(
        out.starts_with("3 leads re-evaluated at ") && out.contains(": 2 would change outcome."),
        "{out}"
    );
    assert_eq!(table_row(&out, "QUALIFIED"), ["QUALIFIED", "1", "0", "0"]);
    assert_eq!(
        table_row(&out, "NEEDS_REVIEW"),
        ["NEEDS_REVIEW", "0", "0", "2"]
    );
    assert!(
        out.contains("No criterion would fire more or less often."),
        "{out}"
    );
    assert!(out.contains("Sample of changed leads (1 of 2)"), "{out}");
    assert_eq!(
        table_row(&out, "P-2")[..3],
        [
            "P-2",
            "NEEDS_REVIEW (30)",
            "DISQUALIFIED (30, knockout DISRESPECTFUL)"
        ]
    );

    let json = ok(&run_client(
        &app,
        key,
        &["preview", "-", "--json"],
        candidate.as_bytes(),
        &[],
    )
    .await);
    let answer: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(answer["leads_evaluated"], 3);
    assert_eq!(answer["leads_changed"], 2);
    assert_eq!(answer["sample"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        answer["sample"][0]["candidate"]["outcome"],
        "OUTCOME_DISQUALIFIED"
    );
    // Nothing was stored: the profile is still the first version.
    let json = ok(&run_client(&app, key, &["profile", "get", "--json"], b"", &[]).await);
    let current: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(current["knockouts"], serde_json::json!([]));

    let bad = failed(
        &run_client(
            &app,
            key,
            &["preview", "-"],
            br#"{"review_threshold": 500}"#,
            &[],
        )
        .await,
    );
    assert!(bad.starts_with("error: INVALID_ARGUMENT: "), "{bad}");
    assert!(bad.contains("\n  - profile.review_threshold: "), "{bad}");
}

async fn stats_count_the_latest_verdicts_in_a_time_range(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let key = app.issue_key("acme", &[Role::Scorer]).await;
    app.use_key(&key.secret);
    seed(&mut app, "S-1", Stage::Contact, pb::LeadFacts::default()).await;
    seed(&mut app, "S-2", Stage::Contact, review_facts()).await;
    seed(&mut app, "S-3", Stage::Study, review_facts()).await;
    let secret = Some(key.secret.as_str());

    let out = ok(&run_client(&app, secret, &["stats", "--since", "1h"], b"", &[]).await);
    assert!(
        out.starts_with("3 leads counted, over their latest verdict (since "),
        "{out}"
    );
    assert_eq!(
        table_row(&out, "DISRESPECTFUL")[..5],
        ["DISRESPECTFUL", "2", "0", "1", "0"]
    );
    assert_eq!(
        table_row(&out, "WITHHOLDS_ANSWERS")[..6],
        [
            "WITHHOLDS_ANSWERS",
            "0",
            "0",
            "3",
            "0",
            "questions_answered (3), questions_asked (3)"
        ]
    );
    assert_eq!(table_row(&out, "CONTACT"), ["CONTACT", "1", "1", "0"]);
    assert_eq!(table_row(&out, "STUDY"), ["STUDY", "0", "1", "0"]);
    assert!(out.contains("No disqualified lead in the range."), "{out}");

    let json = ok(&run_client(
        &app,
        secret,
        &["stats", "--stage", "study", "--json"],
        b"",
        &[],
    )
    .await);
    let answer: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(answer["leads"], 1);
    assert_eq!(answer["criteria"].as_array().map(Vec::len), Some(21));

    let later = ok(&run_client(
        &app,
        secret,
        &["stats", "--until", "2020-01-01T00:00:00Z"],
        b"",
        &[],
    )
    .await);
    assert!(later.starts_with("0 leads counted"), "{later}");
}
