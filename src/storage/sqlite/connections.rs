//! The SQLite connections, lent one caller at a time.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard};

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::storage::{PoolUsage, StorageError, StorageResult};

/// A fixed set of open connections, each lent to one caller at a time.
/// sqlx's own pool pings every connection handed back, one more round trip
/// to the connection's worker thread per query; this needs none: a
/// connection's worker runs its commands in order, and a transaction dropped
/// half way queues its own rollback.
pub struct Connections {
    idle: Mutex<Vec<SqliteConnection>>,
    available: Semaphore,
    count: usize,
}

impl Connections {
    /// Opens `count` connections with `options`.
    pub async fn open(options: &SqliteConnectOptions, count: usize) -> sqlx::Result<Arc<Self>> {
        let mut idle = Vec::with_capacity(count);
        for _ in 0..count {
            idle.push(SqliteConnection::connect_with(options).await?);
        }
        Ok(Arc::new(Connections {
            idle: Mutex::new(idle),
            available: Semaphore::new(count),
            count,
        }))
    }

    fn idle(&self) -> MutexGuard<'_, Vec<SqliteConnection>> {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many connections are idle and lent now.
    pub fn usage(&self) -> PoolUsage {
        let idle = self.available.available_permits().min(self.count);
        PoolUsage {
            idle,
            in_use: self.count - idle,
            max: self.count,
        }
    }

    /// Waits for a free connection.
    pub async fn get(&self) -> StorageResult<Lease<'_>> {
        let unavailable =
            || StorageError::Unavailable(anyhow::anyhow!("SQLite connections closed"));
        let permit = self.available.acquire().await.map_err(|_| unavailable())?;
        let connection = self.idle().pop().ok_or_else(unavailable)?;
        Ok(Lease {
            connections: self,
            connection: Some(connection),
            _permit: permit,
        })
    }
}

/// A connection on loan; it goes back when dropped.
pub struct Lease<'a> {
    connections: &'a Connections,
    /// Taken out only by `drop`.
    connection: Option<SqliteConnection>,
    _permit: SemaphorePermit<'a>,
}

impl Deref for Lease<'_> {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        self.connection
            .as_ref()
            .expect("a lease holds its connection until dropped")
    }
}

impl DerefMut for Lease<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.connection
            .as_mut()
            .expect("a lease holds its connection until dropped")
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        // Back before the permit is released (fields drop after this).
        if let Some(connection) = self.connection.take() {
            self.connections.idle().push(connection);
        }
    }
}
