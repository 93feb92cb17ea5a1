//! The writer thread: owns the one read-write connection and applies writes with
//! group commit.
//!
//! Callers queue a job (a closure over the connection) on a bounded channel and
//! await a oneshot reply. The thread blocks for the first job, takes whatever else
//! is already queued (up to [`MAX_BATCH`]), and runs them all in one
//! `BEGIN IMMEDIATE … COMMIT`, so one fsync covers the whole batch. Each job runs
//! inside its own SAVEPOINT: a failing job is rolled back alone and fails only its
//! own request. Replies go out only after COMMIT succeeded, because a write is
//! promised durable once its future resolves `Ok`; if the batch cannot commit,
//! every job in it gets the error.
//!
//! A job records its audit events on its [`WriteConnection`] rather than inserting
//! them itself: the events of the jobs that succeeded are inserted after the batch's
//! last job, in the same transaction, so each commits with its change or not at all.
//! Inserted inside the jobs' savepoints instead, every job would journal again the
//! audit pages an earlier job of its batch had already changed.
//!
//! The writer tells its [`StorageObserver`] how deep the queue is, how long each
//! write waited for its batch, and how large and how long each committed batch
//! was, which is how an operator sees group commit and back-pressure at work.

use std::cell::RefCell;
use std::ops::Deref;
use std::panic::{catch_unwind, AssertUnwindSafe};
#[cfg(test)]
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::checkpointer::{catch_up, Checkpointer};
use super::error::{duplicate, from_sqlite, is_unique_violation};
use super::queries::insert_audit_events;
use crate::{AuditEvent, StorageError, StorageObserver, StorageResult};

/// How many writes may wait for the writer. Past this the store answers
/// `Unavailable` at once rather than letting latency and memory grow without bound.
pub(super) const QUEUE_CAPACITY: usize = 1024;

/// The most jobs committed together; bounds how long one transaction holds the
/// write lock, which other processes (the CLI) also need.
const MAX_BATCH: usize = 256;

/// The writer's connection as a job sees it: inside the batch's transaction (it
/// dereferences to the connection), with the audit events the batch's jobs have
/// recorded so far.
pub(super) struct WriteConnection<'a> {
    /// The writer's connection.
    conn: &'a Connection,
    /// Events recorded by this batch's jobs, inserted once its last job has run.
    events: RefCell<Vec<AuditEvent>>,
}

impl WriteConnection<'_> {
    /// Records `event`: it is inserted in this transaction if the job recording it
    /// succeeds, and forgotten if the job fails.
    pub(super) fn record(&self, event: AuditEvent) {
        self.events.borrow_mut().push(event);
    }
}

impl Deref for WriteConnection<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

/// A write as the writer thread sees it.
trait WriteJob: Send {
    /// Runs the work against `conn` and keeps its outcome; true if it succeeded.
    fn run(&mut self, conn: &WriteConnection<'_>) -> bool;

    /// Answers the caller once the batch's fate is known: the job's own error if
    /// it failed, else `batch_error` if the batch did not commit, else its result.
    fn answer(self: Box<Self>, batch_error: Option<&StorageError>);

    /// When the job was queued.
    fn queued_at(&self) -> Instant;
}

/// A queued job: the work to do, its outcome once done, and where to answer.
struct PendingWrite<T, F> {
    /// Taken when the job runs.
    work: Option<F>,
    /// The work's result, held back until the batch has committed.
    outcome: Option<StorageResult<T>>,
    /// The waiting caller.
    reply: oneshot::Sender<StorageResult<T>>,
    /// When it was queued, for the time it waited.
    queued_at: Instant,
}

impl<T, F> WriteJob for PendingWrite<T, F>
where
    T: Send,
    F: FnOnce(&WriteConnection<'_>) -> StorageResult<T> + Send,
{
    fn run(&mut self, conn: &WriteConnection<'_>) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        // A panic in one job must not take the writer thread, and with it every
        // later write, down; the job fails and its savepoint is rolled back.
        let outcome = catch_unwind(AssertUnwindSafe(|| work(conn)))
            .unwrap_or_else(|_| Err(StorageError::Internal("write job panicked".to_owned())));
        let succeeded = outcome.is_ok();
        self.outcome = Some(outcome);
        succeeded
    }

    fn answer(self: Box<Self>, batch_error: Option<&StorageError>) {
        let result = match (self.outcome, batch_error) {
            (Some(Err(own_error)), _) => Err(own_error),
            (_, Some(batch_error)) => Err(duplicate(batch_error)),
            (Some(Ok(value)), None) => Ok(value),
            (None, None) => Err(StorageError::Internal("write job was never run".to_owned())),
        };
        // The caller may have stopped waiting (its future was dropped); the write
        // stands all the same, so there is nothing to do about a closed channel.
        let _ = self.reply.send(result);
    }

    fn queued_at(&self) -> Instant {
        self.queued_at
    }
}

/// The handle to the writer thread. Dropping it lets the thread finish the jobs
/// already queued, and waits for it to close the connection.
pub(super) struct Writer {
    /// The job queue; `None` only while dropping, to disconnect the thread.
    jobs: Option<SyncSender<Box<dyn WriteJob>>>,
    /// The thread, joined on drop.
    thread: Option<JoinHandle<()>>,
    /// Told of queue growth here and of failed writes; the thread tells it the rest.
    observer: Arc<dyn StorageObserver>,
    /// Committed batches, so tests can see that jobs were grouped.
    #[cfg(test)]
    batches: Arc<AtomicU64>,
}

impl Writer {
    /// Starts the writer thread on `conn` with a queue of `queue_capacity` jobs,
    /// telling `checkpointer` of each commit and reporting its queue and batches to
    /// `observer`. The thread owns the checkpointer and stops it when it ends.
    pub(super) fn start(
        conn: Connection,
        checkpointer: Checkpointer,
        queue_capacity: usize,
        observer: Arc<dyn StorageObserver>,
    ) -> StorageResult<Writer> {
        let (jobs, queue) = sync_channel(queue_capacity);
        #[cfg(test)]
        let batches = Arc::new(AtomicU64::new(0));
        #[cfg(test)]
        let thread_batches = Arc::clone(&batches);
        let thread_observer = Arc::clone(&observer);
        let thread = std::thread::Builder::new()
            .name("keycred-sqlite-writer".to_owned())
            .spawn(move || {
                writer_loop(&conn, &queue, &checkpointer, thread_observer.as_ref(), || {
                    #[cfg(test)]
                    thread_batches.fetch_add(1, Ordering::SeqCst);
                })
            })
            .map_err(|err| StorageError::Internal(format!("start the database writer thread: {err}")))?;
        Ok(Writer {
            jobs: Some(jobs),
            thread: Some(thread),
            observer,
            #[cfg(test)]
            batches,
        })
    }

    /// Queues `work` and waits until it has run and its batch has committed.
    /// Never blocks the calling thread: a full queue fails at once with
    /// `Unavailable`.
    pub(super) async fn write<T, F>(&self, work: F) -> StorageResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&WriteConnection<'_>) -> StorageResult<T> + Send + 'static,
    {
        let result = self.queue_and_wait(work).await;
        if let Err(error) = &result {
            self.observer.storage_failed(error);
        }
        result
    }

    /// [`Writer::write`] without the reporting of failures.
    async fn queue_and_wait<T, F>(&self, work: F) -> StorageResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&WriteConnection<'_>) -> StorageResult<T> + Send + 'static,
    {
        let Some(jobs) = &self.jobs else {
            return Err(StorageError::Unavailable(
                "the database writer has shut down".to_owned(),
            ));
        };
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn WriteJob> = Box::new(PendingWrite {
            work: Some(work),
            outcome: None,
            reply,
            queued_at: Instant::now(),
        });
        // Counted before it is offered: once offered, the thread may take it (and
        // count it out) before this thread runs another instruction.
        self.observer.write_queue_changed(1);
        let refused = match jobs.try_send(job) {
            Ok(()) => None,
            Err(TrySendError::Full(_)) => Some("the database write queue is full"),
            Err(TrySendError::Disconnected(_)) => Some("the database writer has stopped"),
        };
        if let Some(reason) = refused {
            self.observer.write_queue_changed(-1);
            return Err(StorageError::Unavailable(reason.to_owned()));
        }
        answer.await.unwrap_or_else(|_| {
            Err(StorageError::Internal(
                "the database writer stopped before answering".to_owned(),
            ))
        })
    }

    /// How many batches the writer has committed so far.
    #[cfg(test)]
    pub(super) fn batches_committed(&self) -> u64 {
        self.batches.load(Ordering::SeqCst)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Disconnecting the queue ends the thread's loop once it has drained the
        // queue; joining means the connection is closed when the store is gone,
        // so the same file can be reopened at once.
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the database writer thread panicked");
            }
        }
    }
}

/// The thread's body: one batch per turn until the queue is disconnected and empty.
/// Each commit is reported to `checkpointer`, and the catch-up checkpoint it may ask
/// for runs once the batch's jobs are answered. `on_commit` is called after each
/// committed batch (tests count them).
fn writer_loop(
    conn: &Connection,
    queue: &Receiver<Box<dyn WriteJob>>,
    checkpointer: &Checkpointer,
    observer: &dyn StorageObserver,
    on_commit: impl Fn(),
) {
    // `recv` fails only once every sender is gone and nothing is left queued.
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        observer.write_queue_changed(-(batch.len() as isize));
        let began = Instant::now();
        for job in &batch {
            observer.write_waited(began.saturating_duration_since(job.queued_at()));
        }
        let outcome = run_batch(conn, &mut batch);
        let mut should_catch_up = false;
        if let Ok(succeeded) = outcome {
            // A batch whose every job failed committed no write worth reporting.
            if succeeded > 0 {
                observer.committed(succeeded, began.elapsed());
            }
            should_catch_up = checkpointer.committed();
            on_commit();
        } else if !conn.is_autocommit() {
            // Leave no transaction open, or every later batch would fail to BEGIN.
            if let Err(err) = conn.execute_batch("ROLLBACK") {
                tracing::error!(error = %err, "rolling back a failed write batch failed");
            }
        }
        let batch_error = outcome.err();
        for job in batch {
            job.answer(batch_error.as_ref());
        }
        if should_catch_up {
            catch_up(conn, observer);
        }
    }
}

/// Runs every job of `batch` in one transaction, each in its own savepoint, then
/// inserts the audit events of those that succeeded, and commits; how many jobs
/// succeeded. On `Err` nothing of the batch is committed.
fn run_batch(conn: &Connection, batch: &mut [Box<dyn WriteJob>]) -> StorageResult<usize> {
    let mut succeeded_jobs = 0;
    let job_conn = WriteConnection {
        conn,
        events: RefCell::new(Vec::new()),
    };
    execute_cached(conn, "BEGIN IMMEDIATE").map_err(|err| from_sqlite("begin write batch", err))?;
    for job in batch.iter_mut() {
        execute_cached(conn, "SAVEPOINT job").map_err(|err| from_sqlite("begin write job", err))?;
        let events_before = job_conn.events.borrow().len();
        let succeeded = job.run(&job_conn);
        // Some errors (disk full, I/O error) make SQLite roll back the whole
        // transaction by itself. Going on would run the remaining jobs outside
        // any transaction, so stop and fail the whole batch instead.
        if conn.is_autocommit() {
            return Err(StorageError::Unavailable(
                "the write batch was rolled back after an error".to_owned(),
            ));
        }
        if succeeded {
            succeeded_jobs += 1;
            execute_cached(conn, "RELEASE job").map_err(|err| from_sqlite("finish write job", err))?;
        } else {
            job_conn.events.borrow_mut().truncate(events_before);
            execute_cached(conn, "ROLLBACK TO job")
                .and_then(|()| execute_cached(conn, "RELEASE job"))
                .map_err(|err| from_sqlite("undo failed write job", err))?;
        }
    }
    insert_audit_events(conn, job_conn.events.into_inner()).map_err(|err| {
        // Not the callers' conflict: an event ID collided (88 random bits), a bug.
        if is_unique_violation(&err) {
            StorageError::Internal(format!("record the write batch's audit events: {err}"))
        } else {
            from_sqlite("record the write batch's audit events", err)
        }
    })?;
    execute_cached(conn, "COMMIT").map_err(|err| from_sqlite("commit write batch", err))?;
    Ok(succeeded_jobs)
}

/// Runs one statement that takes no parameters and answers no rows, prepared once
/// per connection: the writer runs these few for every job, and parsing them each
/// time was a measurable part of a PATCH.
fn execute_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}
