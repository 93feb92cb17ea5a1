//! The reader pool: a few threads, each owning one read-only connection, fed from one queue.
//!
//! WAL mode lets these read beside the writer without waiting for it. A read is a
//! closure queued on a channel that every reader thread takes from; the caller
//! awaits a oneshot reply, so no async thread ever touches SQLite. Under load a
//! reader finds the next read already queued when it finishes one and takes it
//! without sleeping, so the hand-off costs a thread wake-up only when reads are
//! scarce. (Before, each read went through tokio's blocking pool, which woke a
//! thread for every read: two context switches per GET, most of its CPU time.)
//!
//! A semaphore with one permit per queue slot is awaited first: when more reads are
//! waiting than the queue holds, callers wait in async code, never on a thread.
//!
//! A read of one statement sees one snapshot by itself; a read of several (a list
//! page and its EXISTS query) uses [`ReaderPool::read_snapshot`] to share one.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Receiver, Sender};
use rusqlite::Connection;
use tokio::sync::{oneshot, Semaphore};

use super::connection::open_reader;
use super::error::from_sqlite;
use crate::{StorageError, StorageObserver, StorageResult};

/// How many reads may be queued for the reader threads at once; more wait for a
/// permit in async code.
const QUEUE_CAPACITY: usize = 1024;

/// A queued read as a reader thread sees it: run it on the thread's connection,
/// which sends its own reply.
type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

/// A fixed set of reader threads and the queue they take reads from.
pub(super) struct ReaderPool {
    /// The queue; `None` only while dropping, to let the threads finish.
    jobs: Option<Sender<ReadJob>>,
    /// One permit per free queue slot: holding one guarantees `try_send` succeeds.
    permits: Arc<Semaphore>,
    /// The reader threads, joined on drop.
    threads: Vec<JoinHandle<()>>,
    /// Told of every read that fails.
    observer: Arc<dyn StorageObserver>,
}

impl ReaderPool {
    /// Opens `size` reader connections on the (already migrated) database at `path`
    /// and starts a thread for each; failed reads are reported to `observer`.
    pub(super) fn open(path: &Path, size: usize, observer: Arc<dyn StorageObserver>) -> StorageResult<ReaderPool> {
        let (jobs, queue) = bounded::<ReadJob>(QUEUE_CAPACITY);
        let mut threads = Vec::with_capacity(size);
        for index in 0..size {
            let conn = open_reader(path)?;
            let queue = queue.clone();
            let thread = std::thread::Builder::new()
                .name(format!("keycred-sqlite-reader-{index}"))
                .spawn(move || reader_loop(&conn, &queue))
                .map_err(|err| StorageError::Internal(format!("start a database reader thread: {err}")))?;
            threads.push(thread);
        }
        Ok(ReaderPool {
            jobs: Some(jobs),
            permits: Arc::new(Semaphore::new(QUEUE_CAPACITY)),
            threads,
            observer,
        })
    }

    /// Runs `work` on a reader thread's connection and answers its result. `op`
    /// names the operation in error messages.
    pub(super) async fn read<T, F>(&self, op: &'static str, work: F) -> StorageResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let result = self.queue_and_wait(op, work).await;
        if let Err(error) = &result {
            self.observer.storage_failed(error);
        }
        result
    }

    /// [`ReaderPool::read`] without the reporting of failures.
    async fn queue_and_wait<T, F>(&self, op: &'static str, work: F) -> StorageResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let closed = || StorageError::Internal(format!("{op}: the reader pool is closed"));
        let Some(jobs) = &self.jobs else {
            return Err(closed());
        };
        let permit = Arc::clone(&self.permits).acquire_owned().await.map_err(|_| closed())?;
        let (reply, answer) = oneshot::channel();
        let job: ReadJob = Box::new(move |conn: &Connection| {
            // The slot is free again as soon as a reader has taken the job.
            drop(permit);
            // The caller may have stopped waiting; then there is no one to tell.
            let _ = reply.send(work(conn).map_err(|err| from_sqlite(op, err)));
        });
        jobs.try_send(job).map_err(|_| closed())?;
        answer.await.unwrap_or_else(|_| {
            Err(StorageError::Internal(format!(
                "{op}: the read failed without an answer"
            )))
        })
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

impl Drop for ReaderPool {
    fn drop(&mut self) {
        // Disconnecting the queue ends each thread's loop once the queue is empty;
        // joining means the connections are closed when the store is gone.
        drop(self.jobs.take());
        for thread in self.threads.drain(..) {
            if thread.join().is_err() {
                tracing::error!("a database reader thread panicked");
            }
        }
    }
}

/// A reader thread's body: run reads until the queue is disconnected and empty.
fn reader_loop(conn: &Connection, queue: &Receiver<ReadJob>) {
    while let Ok(job) = queue.recv() {
        // A panicking read drops its reply, so its caller gets an error; the thread
        // and its connection (any transaction rolled back by the unwinding) go on.
        if catch_unwind(AssertUnwindSafe(|| job(conn))).is_err() {
            tracing::error!("a database read panicked");
        }
    }
}
