//! Notices of stored verdicts, for watchers: a small in-process broadcast
//! that every backend feeds once a qualification is committed. On SQLite the
//! group committer publishes what it committed; on PostgreSQL every commit
//! sends a notification (`pg_notify`, delivered only on commit) that one
//! listening connection per process receives, so verdicts stored by other
//! replicas reach this one's watchers too.
//!
//! The broadcast never blocks a writer: it keeps the last
//! [`NOTICE_CAPACITY`] notices, and a receiver that falls further behind is
//! told it lagged.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::{broadcast, watch};

use crate::domain::Outcome;

/// Notices kept for receivers that have not read them yet (per process).
pub const NOTICE_CAPACITY: usize = 4096;

/// The PostgreSQL channel verdict notifications are sent on.
pub const POSTGRES_CHANNEL: &str = "leadqual_verdicts";

/// A verdict was stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerdictNotice {
    pub tenant: String,
    pub verdict_id: String,
    pub outcome: Outcome,
}

impl VerdictNotice {
    /// The notice sent by a PostgreSQL commit (`storage::postgres`):
    /// `verdict_id TAB outcome TAB tenant`, under a hundred bytes.
    fn parse(payload: &str) -> Option<VerdictNotice> {
        let mut fields = payload.splitn(3, '\t');
        let verdict_id = fields.next()?.to_owned();
        let outcome = Outcome::from_code(fields.next()?)?;
        let tenant = fields.next()?.to_owned();
        Some(VerdictNotice {
            tenant,
            verdict_id,
            outcome,
        })
    }
}

/// What a receiver hears.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    Stored(VerdictNotice),
    /// Notices may have been lost since the previous one (the PostgreSQL
    /// listener lost its connection): a watcher must resume from storage.
    Interrupted,
}

/// Why no receiver could be had.
#[derive(Debug, thiserror::Error)]
#[error("verdict notifications are being re-established")]
pub struct NoticesDown;

/// The broadcast of a process's verdict notices.
pub struct NoticeBus {
    sender: broadcast::Sender<Notice>,
    /// Whether every stored verdict is being heard. Taken together with a
    /// subscription, so that none starts while notices are being lost.
    hearing: Mutex<bool>,
}

impl NoticeBus {
    /// A bus that hears every verdict from the start.
    pub fn new() -> Arc<NoticeBus> {
        Arc::new(NoticeBus {
            sender: broadcast::channel(NOTICE_CAPACITY).0,
            hearing: Mutex::new(true),
        })
    }

    /// Receives every notice published from now on; refused while notices
    /// may be lost.
    pub fn subscribe(&self) -> Result<broadcast::Receiver<Notice>, NoticesDown> {
        let hearing = self.hearing();
        match *hearing {
            true => Ok(self.sender.subscribe()),
            false => Err(NoticesDown),
        }
    }

    /// Tells the receivers that a verdict was stored. Never waits.
    pub fn publish(&self, notice: VerdictNotice) {
        // No receiver is not an error.
        let _ = self.sender.send(Notice::Stored(notice));
    }

    /// Notices may be lost from now on: tells the receivers, and refuses new
    /// ones until [`NoticeBus::resumed`].
    fn interrupted(&self) {
        let mut hearing = self.hearing();
        if *hearing {
            *hearing = false;
            let _ = self.sender.send(Notice::Interrupted);
        }
    }

    /// Every verdict is heard again.
    fn resumed(&self) {
        *self.hearing() = true;
    }

    fn hearing(&self) -> std::sync::MutexGuard<'_, bool> {
        self.hearing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Waits before connecting again after the listener lost its connection,
/// doubling up to the maximum.
const RECONNECT_FIRST: Duration = Duration::from_millis(200);
const RECONNECT_MAX: Duration = Duration::from_secs(5);

/// A connection listening on [`POSTGRES_CHANNEL`] of the database at `url`.
pub async fn postgres_listener(url: &str) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(POSTGRES_CHANNEL).await?;
    Ok(listener)
}

/// Feeds `bus` from `listener` until `stop` is dropped. When the connection
/// is lost the bus is interrupted (open watches end and resume from
/// storage) and a new connection listens before watches are accepted again.
pub async fn run_postgres_listener(
    url: String,
    mut listener: PgListener,
    bus: Arc<NoticeBus>,
    mut stop: watch::Receiver<()>,
) {
    loop {
        let received = tokio::select! {
            _ = stop.changed() => return,
            received = listener.try_recv() => received,
        };
        match received {
            Ok(Some(notification)) => match VerdictNotice::parse(notification.payload()) {
                Some(notice) => bus.publish(notice),
                None => tracing::warn!(
                    payload_bytes = notification.payload().len(),
                    "ignored an unreadable verdict notification"
                ),
            },
            Ok(None) | Err(_) => {
                let cause = match received {
                    Err(e) => format!("{e:#}"),
                    _ => "connection lost".to_owned(),
                };
                tracing::warn!(error = %cause, "verdict notifications interrupted");
                bus.interrupted();
                let mut wait = RECONNECT_FIRST;
                listener = loop {
                    tokio::select! {
                        _ = stop.changed() => return,
                        () = tokio::time::sleep(wait) => {}
                    }
                    match postgres_listener(&url).await {
                        Ok(listener) => break listener,
                        Err(e) => {
                            tracing::warn!(error = %format!("{e:#}"), "cannot listen for verdict notifications");
                            wait = (wait * 2).min(RECONNECT_MAX);
                        }
                    }
                };
                bus.resumed();
                tracing::info!("verdict notifications re-established");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_reads_back() {
        let notice = VerdictNotice::parse("0190-abc\tQUALIFIED\tacme_1").expect("a notice");
        assert_eq!(
            notice,
            VerdictNotice {
                tenant: "acme_1".into(),
                verdict_id: "0190-abc".into(),
                outcome: Outcome::Qualified,
            }
        );
        assert_eq!(VerdictNotice::parse("0190-abc\tMAYBE\tacme"), None);
        assert_eq!(VerdictNotice::parse("0190-abc\tQUALIFIED"), None);
    }

    #[tokio::test]
    async fn an_interrupted_bus_tells_its_receivers_and_refuses_new_ones() {
        let bus = NoticeBus::new();
        let mut before = bus.subscribe().expect("a receiver");
        bus.interrupted();
        assert_eq!(before.recv().await.ok(), Some(Notice::Interrupted));
        assert!(bus.subscribe().is_err());
        bus.resumed();
        let mut after = bus.subscribe().expect("a receiver again");
        let notice = VerdictNotice {
            tenant: "t".into(),
            verdict_id: "v".into(),
            outcome: Outcome::Disqualified,
        };
        bus.publish(notice.clone());
        assert_eq!(after.recv().await.ok(), Some(Notice::Stored(notice)));
    }
}
