//! Checkpoints of the write-ahead log, off the commit path.

use std::time::Duration;

use sqlx::{Connection, SqliteConnection};
use tokio::sync::watch;

/// How often the WAL is copied back into the database file.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(250);

/// Checkpoints the WAL from a connection of its own, so that commits never
/// wait for a checkpoint (SQLite's automatic checkpoint runs inside the
/// commit that crosses the threshold). PASSIVE never blocks the writer or
/// readers.
pub async fn run(mut connection: SqliteConnection, mut stop: watch::Receiver<()>) {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            () = tokio::time::sleep(CHECKPOINT_INTERVAL) => {}
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&mut connection)
            .await
        {
            tracing::warn!(error = %e, "background WAL checkpoint failed");
        }
    }
    let _ = connection.close().await;
}
