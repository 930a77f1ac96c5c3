//! Group commit: the qualifications that queue while one transaction is
//! being synced are written together in the next, in a handful of
//! statements.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use anyhow::Context;
use sqlx::{Connection, QueryBuilder, Sqlite, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::connections::Connections;
use crate::domain::Criterion;
use crate::observability;
use crate::records::VerdictRecord;
use crate::storage::codec::{Prepared, SignalRow};
use crate::storage::dialect::Dialect;
use crate::storage::notices::{NoticeBus, VerdictNotice};
use crate::storage::{NewQualification, StorageError, StorageResult};

/// Qualifications waiting for the group commit, and who to tell: one from
/// a single call, several from a bulk stream. A job is never split between
/// transactions.
pub struct CommitJob {
    pub qualifications: Vec<NewQualification>,
    pub done: oneshot::Sender<StorageResult<Vec<StorageResult<VerdictRecord>>>>,
}

/// Qualifications a transaction takes jobs up to (a job of a bulk stream
/// may take it beyond).
const MAX_GROUP: usize = 128;

/// Starts the committer on a thread of its own: it waits on the writer's
/// worker thread several times per group, and there it resumes at once
/// instead of queueing behind request tasks on the shared runtime.
pub fn start(
    writer: Arc<Connections>,
    notices: Arc<NoticeBus>,
) -> anyhow::Result<mpsc::Sender<CommitJob>> {
    let (commits, jobs) = mpsc::channel(4 * MAX_GROUP);
    let committer = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the SQLite committer's runtime")?;
    std::thread::Builder::new()
        .name("leadqual-commit".into())
        .spawn(move || committer.block_on(group_committer(writer, jobs, notices)))
        .context("cannot start the SQLite committer thread")?;
    Ok(commits)
}

/// Group commit: qualifications queued while the previous transaction was
/// being synced are written together in one transaction (one fsync). Every
/// caller is answered only after the commit; if the commit fails, all of the
/// group fail and nothing of it is stored.
async fn group_committer(
    writer: Arc<Connections>,
    mut jobs: mpsc::Receiver<CommitJob>,
    notices: Arc<NoticeBus>,
) {
    let mut group: Vec<CommitJob> = Vec::new();
    while let Some(first) = jobs.recv().await {
        let mut size = first.qualifications.len();
        group.push(first);
        while size < MAX_GROUP {
            let Ok(job) = jobs.try_recv() else { break };
            size += job.qualifications.len();
            group.push(job);
        }
        let all: Vec<&NewQualification> =
            group.iter().flat_map(|job| &job.qualifications).collect();
        match commit_group(&writer, &all).await {
            Ok(results) => {
                observability::record_group_commit(all.len());
                let committed = all
                    .iter()
                    .zip(&results)
                    .filter(|(_, result)| result.is_ok())
                    .map(|(q, _)| &q.verdict);
                announce_committed(&notices, committed);
                let mut results = results.into_iter();
                for job in group.drain(..) {
                    let answers = job
                        .qualifications
                        .into_iter()
                        .zip(results.by_ref())
                        .map(|(q, result)| result.map(|()| q.verdict))
                        .collect();
                    let _ = job.done.send(Ok(answers));
                }
            }
            Err(err) => {
                let message = format!("{err:#}");
                tracing::error!(error = %message, size, "group commit failed");
                for job in group.drain(..) {
                    let _ = job.done.send(Err(StorageError::Unavailable(anyhow::anyhow!(
                        "commit failed: {message}"
                    ))));
                }
            }
        }
    }
}

/// Tells the watchers of the verdicts a group committed, before their callers
/// hear of them.
fn announce_committed<'a>(notices: &NoticeBus, verdicts: impl Iterator<Item = &'a VerdictRecord>) {
    for v in verdicts {
        notices.publish(VerdictNotice {
            tenant: v.tenant.clone(),
            verdict_id: v.verdict_id.clone(),
            outcome: v.evaluation.outcome,
        });
    }
}

/// Writes a group in a handful of statements whatever its size: every
/// statement is a round trip to sqlx's worker thread, which cost more than
/// SQLite's own work when each qualification had statements of its own.
///
/// The transaction takes the write lock first (`BEGIN IMMEDIATE`), so the
/// leads' revisions and the request ids read inside it stay true until the
/// commit; the conflicts (`LeadChanged`, `DuplicateRequest`) are decided from
/// them in queue order, and only the accepted qualifications are written.
async fn commit_group(
    writer: &Connections,
    batch: &[&NewQualification],
) -> anyhow::Result<Vec<StorageResult<()>>> {
    let mut conn = writer.get().await?;
    let mut tx = conn.begin_with(Sqlite::BEGIN_WRITE).await?;

    let lead_keys: Vec<[&str; 2]> = batch
        .iter()
        .map(|q| [q.verdict.tenant.as_str(), q.verdict.lead_id.as_str()])
        .collect();
    let revisions: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT l.tenant, l.lead_id, l.revision FROM json_each(?) AS j \
         JOIN leads AS l ON l.tenant = j.value ->> 0 AND l.lead_id = j.value ->> 1",
    )
    .bind(serde_json::to_string(&lead_keys)?)
    .fetch_all(&mut *tx)
    .await?;
    let request_keys: Vec<[&str; 2]> = batch
        .iter()
        .filter_map(|q| Some([q.verdict.tenant.as_str(), q.verdict.request_id.as_deref()?]))
        .collect();
    let taken: Vec<(String, String)> = if request_keys.is_empty() {
        Vec::new()
    } else {
        sqlx::query_as(
            "SELECT v.tenant, v.request_id FROM json_each(?) AS j \
             JOIN verdicts AS v ON v.tenant = j.value ->> 0 AND v.request_id = j.value ->> 1",
        )
        .bind(serde_json::to_string(&request_keys)?)
        .fetch_all(&mut *tx)
        .await?
    };

    let mut current: HashMap<(&str, &str), i64> = revisions
        .iter()
        .map(|(tenant, lead_id, revision)| ((tenant.as_str(), lead_id.as_str()), *revision))
        .collect();
    let mut taken: HashSet<(&str, &str)> = taken
        .iter()
        .map(|(tenant, request_id)| (tenant.as_str(), request_id.as_str()))
        .collect();
    let mut results = Vec::with_capacity(batch.len());
    let mut accepted = Vec::with_capacity(batch.len());
    for &q in batch {
        let v = &q.verdict;
        let lead = (v.tenant.as_str(), v.lead_id.as_str());
        let request = v.request_id.as_deref().map(|r| (v.tenant.as_str(), r));
        if current.get(&lead).copied() != q.expected_revision {
            results.push(Err(StorageError::LeadChanged));
        } else if request.is_some_and(|r| taken.contains(&r)) {
            results.push(Err(StorageError::DuplicateRequest));
        } else {
            current.insert(lead, v.seq);
            taken.extend(request);
            accepted.push(q);
            results.push(Ok(()));
        }
    }
    if !accepted.is_empty() {
        write_qualifications(&mut tx, &accepted).await?;
    }
    tx.commit().await?;
    Ok(results)
}

/// Leads or verdicts per statement, largest first (9 and 14 values a row).
const ROW_CHUNKS: [usize; 3] = [16, 4, 1];

/// Signal rows per statement, largest first (12 values a row; SQLite takes
/// up to 32,766 per statement): 16 qualifications, 4, 1.
const SIGNAL_CHUNKS: [usize; 3] = [
    16 * Criterion::COUNT,
    4 * Criterion::COUNT,
    Criterion::COUNT,
];

/// `rows` cut into pieces of the given sizes, largest first (the last may be
/// smaller than all), so that every statement written for a piece has one of
/// a few shapes and stays prepared whatever the group's size.
fn fixed_chunks<T>(mut rows: &[T], sizes: [usize; 3]) -> Vec<&[T]> {
    let mut chunks = Vec::new();
    while !rows.is_empty() {
        let n = sizes
            .into_iter()
            .find(|&n| n <= rows.len())
            .unwrap_or(rows.len());
        let (chunk, rest) = rows.split_at(n);
        chunks.push(chunk);
        rows = rest;
    }
    chunks
}

/// Writes accepted qualifications: leads, verdicts and signals, each in a few
/// multi-row statements. Rows are bound as plain values: passing them as a
/// JSON array would make SQLite parse each row once per column.
async fn write_qualifications(
    tx: &mut Transaction<'_, Sqlite>,
    accepted: &[&NewQualification],
) -> anyhow::Result<()> {
    let prepared: Vec<Prepared> = accepted.iter().map(|q| Prepared::new(q)).collect();
    for chunk in fixed_chunks(&prepared, ROW_CHUNKS) {
        let mut upsert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO leads (tenant, lead_id, stage, facts, revision, latest_verdict_id, \
             latest_outcome, latest_lifecycle_class, latest_value_tier, latest_churn_status, \
             latest_fired_mask, latest_unknown_mask, latest_knockout_mask, created_at, updated_at) ",
        );
        upsert.push_values(chunk, |mut b, p| {
            let v = &p.q.verdict;
            b.push_bind(v.tenant.as_str())
                .push_bind(v.lead_id.as_str())
                .push_bind(p.q.stage.code())
                .push_bind(p.facts.as_str())
                .push_bind(v.seq)
                .push_bind(v.verdict_id.as_str())
                .push_bind(v.evaluation.outcome.code())
                .push_bind(p.lifecycle_class)
                .push_bind(p.value_tier)
                .push_bind(p.churn_status)
                .push_bind(p.fired_mask)
                .push_bind(p.unknown_mask)
                .push_bind(p.knockout_mask)
                .push_bind(p.at.as_str())
                .push_bind(p.at.as_str());
        });
        upsert.push(
            " ON CONFLICT (tenant, lead_id) DO UPDATE SET stage = excluded.stage, \
             facts = excluded.facts, revision = excluded.revision, \
             latest_verdict_id = excluded.latest_verdict_id, \
             latest_outcome = excluded.latest_outcome, \
             latest_lifecycle_class = excluded.latest_lifecycle_class, \
             latest_value_tier = excluded.latest_value_tier, \
             latest_churn_status = excluded.latest_churn_status, \
             latest_fired_mask = excluded.latest_fired_mask, \
             latest_unknown_mask = excluded.latest_unknown_mask, \
             latest_knockout_mask = excluded.latest_knockout_mask, \
             updated_at = excluded.updated_at",
        );
        upsert.build().execute(&mut **tx).await?;
    }
    for chunk in fixed_chunks(&prepared, ROW_CHUNKS) {
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO verdicts (verdict_id, tenant, lead_id, seq, stage, outcome, score, \
             profile_version, facts, facts_hash, request_id, evaluated_at, evaluation_date, \
             signals_json, account_json) ",
        );
        insert.push_values(chunk, |mut b, p| {
            let v = &p.q.verdict;
            b.push_bind(v.verdict_id.as_str())
                .push_bind(v.tenant.as_str())
                .push_bind(v.lead_id.as_str())
                .push_bind(v.seq)
                .push_bind(v.evaluation.stage.code())
                .push_bind(v.evaluation.outcome.code())
                .push_bind(v.evaluation.score)
                .push_bind(v.profile_version)
                .push_bind(p.facts.as_str())
                .push_bind(v.facts_hash.as_str())
                .push_bind(v.request_id.as_deref())
                .push_bind(p.at.as_str())
                .push_bind(v.evaluation_date.to_string())
                .push_bind(p.signals_json.as_str())
                .push_bind(p.account_json.as_deref());
        });
        insert.build().execute(&mut **tx).await?;
    }
    let signals: Vec<(&Prepared, &SignalRow)> = prepared
        .iter()
        .flat_map(|p| p.signals.iter().map(move |row| (p, row)))
        .collect();
    for chunk in fixed_chunks(&signals, SIGNAL_CHUNKS) {
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO signals (verdict_id, tenant, lead_id, criterion, stage, status, \
             weight, knockout, evidence, remedy, missing_facts, evaluated_at) ",
        );
        insert.push_values(chunk, |mut b, (p, row)| {
            let v = &p.q.verdict;
            b.push_bind(v.verdict_id.as_str())
                .push_bind(v.tenant.as_str())
                .push_bind(v.lead_id.as_str())
                .push_bind(row.criterion.as_str())
                .push_bind(row.stage)
                .push_bind(row.status.as_str())
                .push_bind(row.weight)
                .push_bind(row.knockout)
                .push_bind(row.evidence.as_str())
                .push_bind(row.remedy.as_str())
                .push_bind(row.missing_facts.as_str())
                .push_bind(p.at.as_str());
        });
        insert.build().execute(&mut **tx).await?;
    }
    Ok(())
}
