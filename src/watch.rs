//! Watching a tenant's verdicts as they are stored (WatchVerdicts).
//!
//! A watch listens to the storage's verdict notices (see
//! `storage::notices`), keeps those of its tenant and outcome, reads each
//! verdict by id and hands it to its client through a small queue. Nothing
//! a watcher does can hold up a writer: the notices are a bounded broadcast
//! that never waits. A watcher that falls too far behind the notices, or
//! whose client stops reading, is ended with RESOURCE_EXHAUSTED naming the
//! last verdict it was sent, from which the client resumes.
//!
//! Resuming (`since_verdict_id`) subscribes first, then replays from
//! storage, then goes on with the notices heard meanwhile, skipping those
//! the replay sent already: no verdict stored after the subscription can
//! fall between the two. Verdict ids are UUIDv7, taken from the clock just
//! before the commit, so a verdict committed after the `since` one may
//! still have a smaller id. The replay therefore starts
//! [`REPLAY_LOOKBACK`] before the `since` verdict's id: a verdict committed
//! within that time of its evaluation is never missed, and the verdicts of
//! that window that the client had already received are sent again (clients
//! deduplicate by verdict id).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tracing::Instrument;
use uuid::Uuid;

use crate::domain::Outcome;
use crate::error::AppError;
use crate::records::VerdictRecord;
use crate::storage::Storage;
use crate::storage::notices::{NOTICE_CAPACITY, Notice, VerdictNotice};

/// Verdicts queued for a watcher's client beyond what the connection holds.
pub const OUTGOING: usize = 32;

/// How long a watcher's queue may stay full (its client reading nothing)
/// before the watch is ended.
pub const STALL_LIMIT: Duration = Duration::from_secs(5);

/// How far before the `since` verdict's id a resumed watch replays.
pub const REPLAY_LOOKBACK: Duration = Duration::from_secs(10);

/// Verdicts read from storage at a time while replaying.
const REPLAY_PAGE: i64 = 100;

/// A validated WatchVerdicts request.
#[derive(Clone, Debug, Default)]
pub struct WatchVerdicts {
    /// Only verdicts of this outcome; `None` means all.
    pub outcome: Option<Outcome>,
    /// Resume after this verdict (a UUID, in its canonical form).
    pub since_verdict_id: Option<Uuid>,
}

/// The verdicts of a watch; it ends with an error, never on its own.
pub type VerdictStream = BoxStream<'static, Result<VerdictRecord, AppError>>;

/// Starts watches, and ends them all when the server shuts down.
#[derive(Clone)]
pub struct Watchers {
    storage: Arc<dyn Storage>,
    closing: watch::Receiver<bool>,
}

/// Ends every watch of its [`Watchers`] when [`CloseWatches::close`] is
/// called or it is dropped.
pub struct CloseWatches(watch::Sender<bool>);

impl CloseWatches {
    pub fn close(&self) {
        self.0.send_replace(true);
    }
}

impl Watchers {
    pub fn new(storage: Arc<dyn Storage>) -> (Watchers, CloseWatches) {
        let (close, closing) = watch::channel(false);
        (Watchers { storage, closing }, CloseWatches(close))
    }

    /// Starts watching the tenant's verdicts: NOT_FOUND when the `since`
    /// verdict is not the tenant's, UNAVAILABLE while the notices are
    /// interrupted or the server is shutting down.
    pub async fn watch(
        &self,
        tenant: &str,
        request: WatchVerdicts,
    ) -> Result<VerdictStream, AppError> {
        if *self.closing.borrow() {
            return Err(shutting_down(None));
        }
        // Before anything is read: every verdict stored from here on is heard.
        let notices = self.storage.verdict_notices().map_err(|e| {
            AppError::Unavailable(format!(
                "{e}; retry the call (with since_verdict_id to resume)"
            ))
        })?;
        let since = match request.since_verdict_id {
            None => None,
            Some(id) => {
                let id = id.to_string();
                let since = self.storage.get_verdict(tenant, &id).await?;
                Some(since.ok_or_else(|| AppError::NotFound(format!("verdict {id} not found")))?)
            }
        };
        let (queue, queued) = mpsc::channel(OUTGOING);
        let (end, ended) = oneshot::channel();
        let watcher = Watcher {
            storage: self.storage.clone(),
            tenant: tenant.to_owned(),
            outcome: request.outcome,
            queue,
            closing: self.closing.clone(),
            last_sent: since.as_ref().map(|v| v.verdict_id.clone()),
        };
        tokio::spawn(
            async move {
                let reason = watcher.run(notices, since).await;
                let _ = end.send(reason);
            }
            .in_current_span(),
        );
        let verdicts = futures::stream::unfold(queued, |mut queued| async move {
            queued.recv().await.map(|verdict| (Ok(verdict), queued))
        });
        // The reason the watch ended follows the verdicts queued before it.
        let end = futures::stream::once(ended).filter_map(|reason| async move {
            match reason {
                Ok(Some(reason)) => Some(Err(reason)),
                Ok(None) => None,
                Err(_) => Some(Err(AppError::Internal("the watch stopped".into()))),
            }
        });
        Ok(verdicts.chain(end).boxed())
    }
}

/// One watch's task.
struct Watcher {
    storage: Arc<dyn Storage>,
    tenant: String,
    outcome: Option<Outcome>,
    queue: mpsc::Sender<VerdictRecord>,
    closing: watch::Receiver<bool>,
    /// The last verdict queued for the client (or the `since` one).
    last_sent: Option<String>,
}

/// Why sending stopped: the watch ends with this error, or quietly (`None`)
/// when the client is gone.
type Ended = Option<AppError>;

impl Watcher {
    /// Replays from `since` if given, then follows the notices until the
    /// watch must end; the reason it ended.
    async fn run(
        mut self,
        mut notices: broadcast::Receiver<Notice>,
        since: Option<VerdictRecord>,
    ) -> Ended {
        let subscribed_ms = unix_ms(&Uuid::now_v7());
        let mut replayed = HashSet::new();
        if let Some(since) = since
            && let Err(ended) = self.replay(&since, subscribed_ms, &mut replayed).await
        {
            return ended;
        }
        loop {
            let heard = tokio::select! {
                biased;
                _ = self.closing.changed() => return Some(shutting_down(self.last_sent.as_deref())),
                () = self.queue.closed() => return None,
                heard = notices.recv() => heard,
            };
            let notice = match heard {
                Ok(Notice::Stored(notice)) => notice,
                Ok(Notice::Interrupted) | Err(RecvError::Closed) => {
                    return Some(AppError::Unavailable(format!(
                        "verdict notifications were interrupted; {}",
                        resume_hint(self.last_sent.as_deref())
                    )));
                }
                Err(RecvError::Lagged(_)) => {
                    return Some(AppError::ResourceExhausted(format!(
                        "the watch fell more than {NOTICE_CAPACITY} stored verdicts behind; {}",
                        resume_hint(self.last_sent.as_deref())
                    )));
                }
            };
            if !self.wants(&notice) || replayed.remove(&notice.verdict_id) {
                continue;
            }
            let verdict = match self
                .storage
                .get_verdict(&self.tenant, &notice.verdict_id)
                .await
            {
                Ok(Some(verdict)) => verdict,
                Ok(None) => {
                    tracing::warn!(verdict_id = %notice.verdict_id, "a notified verdict cannot be read");
                    continue;
                }
                Err(e) => return Some(self.storage_failed(e.into())),
            };
            if let Err(ended) = self.send(verdict).await {
                return ended;
            }
        }
    }

    fn wants(&self, notice: &VerdictNotice) -> bool {
        notice.tenant == self.tenant && self.outcome.is_none_or(|o| o == notice.outcome)
    }

    /// Sends the tenant's verdicts from [`REPLAY_LOOKBACK`] before `since`
    /// on (but `since`), in id order, a page at a time; remembers in
    /// `replayed` those that may also be notified (the ones that can have
    /// been committed after the subscription at `subscribed_ms`), so that
    /// they are not sent twice.
    async fn replay(
        &mut self,
        since: &VerdictRecord,
        subscribed_ms: u64,
        replayed: &mut HashSet<String>,
    ) -> Result<(), Ended> {
        let since_ms = Uuid::try_parse(&since.verdict_id).map_or(0, |id| unix_ms(&id));
        let lookback = u64::try_from(REPLAY_LOOKBACK.as_millis()).unwrap_or(u64::MAX);
        let mut after = first_id_of_ms(since_ms.saturating_sub(lookback));
        let notifiable_from = subscribed_ms.saturating_sub(lookback);
        loop {
            let page = self
                .storage
                .verdicts_after(&self.tenant, self.outcome, &after, REPLAY_PAGE)
                .await
                .map_err(|e| Some(self.storage_failed(e.into())))?;
            let full = page.len() as i64 == REPLAY_PAGE;
            for verdict in page {
                after.clone_from(&verdict.verdict_id);
                if verdict.verdict_id == since.verdict_id {
                    continue;
                }
                let notifiable = Uuid::try_parse(&verdict.verdict_id)
                    .is_ok_and(|id| unix_ms(&id) >= notifiable_from);
                if notifiable && replayed.len() < NOTICE_CAPACITY {
                    replayed.insert(verdict.verdict_id.clone());
                }
                self.send(verdict).await?;
            }
            if !full {
                return Ok(());
            }
        }
    }

    /// Queues a verdict for the client; ends the watch when the client has
    /// not made room within [`STALL_LIMIT`] or is gone.
    async fn send(&mut self, verdict: VerdictRecord) -> Result<(), Ended> {
        let id = verdict.verdict_id.clone();
        tokio::select! {
            biased;
            _ = self.closing.changed() => Err(Some(shutting_down(self.last_sent.as_deref()))),
            sent = tokio::time::timeout(STALL_LIMIT, self.queue.send(verdict)) => match sent {
                Ok(Ok(())) => {
                    self.last_sent = Some(id);
                    Ok(())
                }
                Ok(Err(_)) => Err(None),
                Err(_) => Err(Some(AppError::ResourceExhausted(format!(
                    "the client read no verdict for {} s; {}",
                    STALL_LIMIT.as_secs(),
                    resume_hint(self.last_sent.as_deref())
                )))),
            },
        }
    }

    fn storage_failed(&self, error: AppError) -> AppError {
        match error {
            AppError::Storage(cause) => {
                tracing::error!(error = %format!("{cause:#}"), "a watch cannot read storage");
                AppError::Unavailable(format!(
                    "storage is unavailable; {}",
                    resume_hint(self.last_sent.as_deref())
                ))
            }
            other => other,
        }
    }
}

fn shutting_down(last_sent: Option<&str>) -> AppError {
    AppError::Unavailable(format!(
        "the server is shutting down; {}",
        resume_hint(last_sent)
    ))
}

/// How the client resumes a watch that ended.
fn resume_hint(last_sent: Option<&str>) -> String {
    match last_sent {
        Some(id) => format!("resume with since_verdict_id = \"{id}\", the last verdict received"),
        None => "watch again (no verdict was sent on this watch)".to_owned(),
    }
}

/// The Unix time in milliseconds of a UUIDv7 (0 for other versions).
fn unix_ms(id: &Uuid) -> u64 {
    id.get_timestamp().map_or(0, |ts| {
        let (secs, nanos) = ts.to_unix();
        secs.saturating_mul(1000) + u64::from(nanos / 1_000_000)
    })
}

/// The smallest id that sorts after every verdict id of an earlier
/// millisecond than `ms`, as text.
fn first_id_of_ms(ms: u64) -> String {
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    Uuid::from_bytes(bytes).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_replay_bound_sorts_between_the_milliseconds() {
        let id = Uuid::now_v7();
        let ms = unix_ms(&id);
        let text = id.to_string();
        assert!(first_id_of_ms(ms) < text);
        assert!(first_id_of_ms(ms + 1) > text);
        assert_eq!(&first_id_of_ms(ms)[..13], &text[..13]);
    }
}
