//! When storage fails, nothing is acknowledged: a call answered OK has its
//! verdict stored, a call that failed stored nothing, and a retry with the
//! same request id stores the verdict once.

use std::collections::BTreeSet;

use futures::future::join_all;
use leadqual::proto::v1 as pb;
use pb::Stage;
use tonic::Code;

use crate::backend_tests;
use crate::helpers::{Backend, assert_code, qualify_request, spawn_app};

backend_tests!(
    a_failed_write_acknowledges_nothing_and_a_retry_stores_once,
    a_stored_row_that_cannot_be_read_is_an_internal_error
);

/// Makes every write of a signal of lead `doomed` fail, as a full disk or a
/// lost connection would, inside the transaction that stores its verdict.
fn break_writes(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "CREATE TRIGGER fail_doomed BEFORE INSERT ON signals \
             WHEN NEW.lead_id = 'doomed' \
             BEGIN SELECT RAISE(ABORT, 'simulated storage failure'); END;"
        }
        Backend::Postgres => {
            "CREATE FUNCTION fail_doomed() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN \
                 IF NEW.lead_id = 'doomed' THEN \
                     RAISE EXCEPTION 'simulated storage failure'; \
                 END IF; \
                 RETURN NEW; \
             END $$; \
             CREATE TRIGGER fail_doomed BEFORE INSERT ON signals \
                 FOR EACH ROW EXECUTE FUNCTION fail_doomed();"
        }
    }
}

fn repair_writes(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "DROP TRIGGER fail_doomed;",
        Backend::Postgres => "DROP TRIGGER fail_doomed ON signals;",
    }
}

fn request(lead_id: &str) -> pb::QualifyLeadRequest {
    pb::QualifyLeadRequest {
        request_id: format!("req-{lead_id}"),
        ..qualify_request(
            lead_id,
            Stage::Contact,
            pb::LeadFacts {
                employee_count: Some(120),
                meetings_cancelled: Some(1),
                ..Default::default()
            },
        )
    }
}

async fn a_failed_write_acknowledges_nothing_and_a_retry_stores_once(backend: Backend) {
    let mut app = spawn_app(backend).await;
    app.qualify(request("steady")).await;
    app.database.execute(break_writes(backend)).await;

    // The doomed lead among others, all at once: on SQLite some may share
    // its commit group and fail with it.
    let mut ids: Vec<String> = (0..15).map(|i| format!("ok-{i:02}")).collect();
    ids.insert(7, "doomed".into());
    let results = join_all(ids.iter().map(|id| {
        let mut client = app.client.clone();
        let request = request(id);
        async move { client.qualify_lead(request).await }
    }))
    .await;

    let mut stored = BTreeSet::from(["steady".to_owned()]);
    for (id, result) in ids.iter().zip(results) {
        match result {
            Ok(response) => {
                assert_ne!(id, "doomed", "the doomed lead's write cannot succeed");
                let verdict = response.into_inner().verdict.expect("a verdict");
                let lead = app.lead(id).await.expect("an acknowledged lead is stored");
                assert_eq!(
                    lead.latest_verdict.map(|v| v.verdict_id),
                    Some(verdict.verdict_id),
                    "{id}: the acknowledged verdict is the stored one"
                );
                stored.insert(id.clone());
            }
            Err(status) => {
                assert_eq!(status.code(), Code::Unavailable, "{id}: {status:?}");
                assert_code(
                    app.lead(id).await,
                    Code::NotFound,
                    &format!("{id} failed, so nothing of it is stored"),
                );
            }
        }
    }
    assert!(!stored.contains("doomed"));
    let listed: BTreeSet<String> = app
        .all_leads()
        .await
        .into_iter()
        .map(|l| l.lead_id)
        .collect();
    assert_eq!(listed, stored, "exactly the acknowledged leads are stored");

    // Storage recovers; the retry stores the verdict once.
    app.database.execute(repair_writes(backend)).await;
    let first = app.qualify(request("doomed")).await;
    assert!(!first.replayed, "nothing was stored by the failed call");
    let again = app.qualify(request("doomed")).await;
    assert!(again.replayed, "the second retry is answered from storage");
    assert_eq!(again.verdict, first.verdict);
    let verdicts = app.all_verdicts("doomed").await;
    assert_eq!(verdicts.len(), 1, "one verdict for the retried request");
    // The writer took no harm: other leads still qualify.
    app.qualify(request("after")).await;
    assert!(app.lead("after").await.is_ok());
}

async fn a_stored_row_that_cannot_be_read_is_an_internal_error(backend: Backend) {
    let mut app = spawn_app(backend).await;
    app.qualify(request("damaged")).await;
    app.qualify(request("intact")).await;
    app.database
        .execute("UPDATE leads SET stage = 'NO_SUCH_STAGE' WHERE lead_id = 'damaged'")
        .await;

    let status = app.lead("damaged").await.expect_err("an unreadable lead");
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert!(
        !status.message().contains("retry"),
        "retrying cannot repair a stored row: {status:?}"
    );
    assert!(
        !status.message().contains("NO_SUCH_STAGE"),
        "what is stored stays inside: {status:?}"
    );
    // Qualifying the damaged lead reads it too, and stores nothing.
    let status = app
        .client
        .qualify_lead(request("damaged"))
        .await
        .expect_err("a lead that cannot be read cannot be qualified");
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert_eq!(app.all_verdicts("intact").await.len(), 1);
    assert!(app.lead("intact").await.is_ok(), "other leads still read");
}
