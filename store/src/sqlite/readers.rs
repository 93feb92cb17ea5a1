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
//!
//! Point reads (one row by its key, from the page cache in a few microseconds) do
//! not go through the queue at all: [`InlineReaders`] runs them on the calling
//! async thread, which is cheaper than the hand-off to a reader thread and back
//! (the decision and its figures are in docs/architecture.md). Such a read never
//! waits for a lock: if it would have to, it goes to the reader threads instead.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Receiver, Sender};
use rusqlite::Connection;
use tokio::sync::{oneshot, Semaphore};

use super::connection::{is_busy, open_inline_reader, open_reader};
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
    /// The connections point reads run on inline.
    inline: InlineReaders,
}

impl ReaderPool {
    /// Opens `size` reader connections on the (already migrated) database at `path`
    /// and starts a thread for each; failed reads are reported to `observer`.
    /// Point reads get connections of their own, as many as the machine has cores
    /// (the async runtime's worker threads), at least 2 and at most 16.
    pub(super) fn open(path: &Path, size: usize, observer: Arc<dyn StorageObserver>) -> StorageResult<ReaderPool> {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let inline = InlineReaders::open(path, cores.clamp(2, 16))?;
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
            inline,
        })
    }

    /// Reads one row by its key (`work` runs one statement that reads at most one
    /// row through an index), on the calling thread when a connection is free and
    /// no lock is in the way, else on a reader thread as [`ReaderPool::read`] does.
    /// Never for lists or anything that can scan: those take the reader threads.
    pub(super) async fn read_point<T, F>(&self, op: &'static str, work: F) -> StorageResult<T>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        match self.inline.try_read(op, &work) {
            Some(result) => {
                if let Err(error) = &result {
                    self.observer.storage_failed(error);
                }
                result
            }
            None => self.read(op, work).await,
        }
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

/// Read-only connections for point reads run on the calling thread, without a
/// hand-off: one is taken for the read and given back right after, so there are
/// never more in use than threads reading at once.
pub(super) struct InlineReaders {
    /// The idle connections.
    idle: Mutex<Vec<Connection>>,
}

impl InlineReaders {
    /// Opens `count` inline reader connections on the (already migrated) database
    /// at `path`: as many as threads of the async runtime may read at once.
    fn open(path: &Path, count: usize) -> StorageResult<InlineReaders> {
        let idle = (0..count)
            .map(|_| open_inline_reader(path))
            .collect::<StorageResult<Vec<_>>>()?;
        Ok(InlineReaders { idle: Mutex::new(idle) })
    }

    /// Runs `work` on an idle connection, on this thread. `None` if it could not
    /// run here: every connection is in use, or the read would have had to wait for
    /// a lock (SQLITE_BUSY); the caller then queues it for the reader threads.
    fn try_read<T>(
        &self,
        op: &'static str,
        work: impl Fn(&Connection) -> rusqlite::Result<T>,
    ) -> Option<StorageResult<T>> {
        let conn = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop()?;
        let outcome = catch_unwind(AssertUnwindSafe(|| work(&conn)));
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(conn);
        match outcome {
            Ok(Err(err)) if is_busy(&err) => None,
            Ok(result) => Some(result.map_err(|err| from_sqlite(op, err))),
            Err(_) => Some(Err(StorageError::Internal(format!("{op}: the read panicked")))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inline_readers(count: usize) -> (tempfile::TempDir, InlineReaders) {
        let dir = tempfile::tempdir().expect("create temp dir");
        let path = dir.path().join("keycred.db");
        drop(super::super::connection::open_writer(&path).expect("create the database"));
        let readers = InlineReaders::open(&path, count).expect("open inline readers");
        (dir, readers)
    }

    fn busy() -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY), None)
    }

    #[test]
    fn a_point_read_runs_inline_while_a_connection_is_idle_and_gives_it_back() {
        let (_dir, readers) = inline_readers(1);
        let one = |conn: &Connection| conn.query_row("SELECT 1", [], |row| row.get::<_, i64>(0));
        assert_eq!(readers.try_read("first", one).map(Result::ok), Some(Some(1)));
        assert_eq!(readers.try_read("again", one).map(Result::ok), Some(Some(1)));
    }

    #[test]
    fn with_every_connection_in_use_or_a_lock_in_the_way_a_point_read_is_left_to_the_reader_threads() {
        let (_dir, readers) = inline_readers(1);
        let nested = readers.try_read("outer", |_| Ok(readers.try_read("inner", |_| Ok(())).is_none()));
        assert_eq!(
            nested.map(Result::ok),
            Some(Some(true)),
            "the inner read found no idle connection"
        );
        assert!(readers.try_read::<()>("busy", |_| Err(busy())).is_none());
        let failed = readers.try_read::<()>("failing", |_| Err(rusqlite::Error::InvalidQuery));
        assert!(matches!(failed, Some(Err(StorageError::Internal(_)))), "{failed:?}");
        assert!(
            readers.try_read("after", |_| Ok(())).is_some(),
            "the connection came back"
        );
    }
}
