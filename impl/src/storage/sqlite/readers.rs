//! The reader pool: a few read-only connections, used on tokio's blocking threads.
//!
//! WAL mode lets these read beside the writer without waiting for it. A semaphore
//! with one permit per connection is awaited first, so callers queue in async code
//! and at most one blocking thread per connection is ever busy with reads.
//!
//! A read of one statement sees one snapshot by itself; a read of several (a list
//! page and its EXISTS query) uses [`ReaderPool::read_snapshot`] to share one.

use std::path::Path;
use std::sync::{Arc, Mutex, TryLockError};

use rusqlite::Connection;
use tokio::sync::Semaphore;

use super::connection::open_reader;
use super::error::from_sqlite;
use crate::storage::{StorageError, StorageObserver, StorageResult};

/// A fixed set of read-only connections.
pub(super) struct ReaderPool {
    /// The connections; a locked mutex is a connection in use.
    connections: Arc<Vec<Mutex<Connection>>>,
    /// One permit per connection: holding one guarantees a free connection.
    permits: Arc<Semaphore>,
    /// Told of every read that fails.
    observer: Arc<dyn StorageObserver>,
}

impl ReaderPool {
    /// Opens `size` reader connections on the (already migrated) database at `path`;
    /// failed reads are reported to `observer`.
    pub(super) fn open(path: &Path, size: usize, observer: Arc<dyn StorageObserver>) -> StorageResult<ReaderPool> {
        let mut connections = Vec::with_capacity(size);
        for _ in 0..size {
            connections.push(Mutex::new(open_reader(path)?));
        }
        Ok(ReaderPool {
            connections: Arc::new(connections),
            permits: Arc::new(Semaphore::new(size)),
            observer,
        })
    }

    /// Runs `work` on a free connection on a blocking thread. `op` names the
    /// operation in error messages.
    pub(super) async fn read<T, F>(&self, op: &'static str, work: F) -> StorageResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let result = self.read_unobserved(op, work).await;
        if let Err(error) = &result {
            self.observer.storage_failed(error);
        }
        result
    }

    /// [`ReaderPool::read`] without the reporting of failures.
    async fn read_unobserved<T, F>(&self, op: &'static str, work: F) -> StorageResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| StorageError::Internal(format!("{op}: the reader pool is closed")))?;
        let connections = Arc::clone(&self.connections);
        let task = tokio::task::spawn_blocking(move || {
            // Holding a permit means fewer than `size` other readers hold a
            // connection, so one of the mutexes is free.
            let _permit = permit;
            for slot in connections.iter() {
                let conn = match slot.try_lock() {
                    Ok(conn) => conn,
                    // A panic during an earlier read poisoned the mutex; the
                    // connection itself is still fine to use.
                    Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                    Err(TryLockError::WouldBlock) => continue,
                };
                return work(&conn).map_err(|err| from_sqlite(op, err));
            }
            Err(StorageError::Internal(format!("{op}: no free reader connection")))
        });
        task.await
            .map_err(|err| StorageError::Internal(format!("{op}: reader task failed: {err}")))?
    }

    /// [`ReaderPool::read`] inside one read transaction, so that every statement
    /// of `work` sees the same snapshot of the database, whatever commits meanwhile.
    /// The transaction is deferred: the snapshot is taken by `work`'s first read.
    pub(super) async fn read_snapshot<T, F>(&self, op: &'static str, work: F) -> StorageResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.read(op, move |conn| {
            // Dropping the transaction on an error (or a panic) rolls it back,
            // which hands the connection back in autocommit mode.
            let snapshot = conn.unchecked_transaction()?;
            let value = work(&snapshot)?;
            snapshot.commit()?;
            Ok(value)
        })
        .await
    }
}
