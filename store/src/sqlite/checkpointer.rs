//! The checkpointer thread: copies the write-ahead log back into the database file,
//! off the writer's path.
//!
//! By default SQLite checkpoints inside the COMMIT that pushes the log past 1,000
//! pages, so every so often one batch of requests also waits for the log to be
//! copied and the database file synced: the slowest PATCHes were those. keycred's
//! connections turn that off (`wal_autocheckpoint = 0`, see `connection.rs`) and
//! this thread, with a connection of its own, runs a PASSIVE checkpoint at most
//! every [`CHECKPOINT_INTERVAL`] while there are new commits. PASSIVE never waits
//! for and never blocks the writer or the readers; whatever it could not copy
//! (frames a reader still needs) it copies next time.
//!
//! The log starts over from its beginning only when a write transaction begins
//! with everything in it copied, which a checkpoint beside a steady stream of
//! commits never achieves: each commit appends frames while the copy runs. So when
//! the log has grown past [`CATCH_UP_FRAMES`] and a pass of the thread has copied
//! all of it that existed when the pass began, the thread asks the writer to
//! checkpoint once itself, between two batches: the writer then copies only what
//! was committed during that pass and syncs the database file, and its next
//! transaction starts the log over. Without that the log file would grow for as
//! long as writes keep coming. The sync is the one wait left on the write path,
//! once per [`CATCH_UP_FRAMES`] pages of log.
//!
//! Durability does not depend on this thread: a commit is durable once its log
//! frames are synced, and the log is replayed on the next open if the process dies
//! before a checkpoint.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use super::connection::open_checkpointer;
use super::error::from_sqlite;
use crate::{StorageError, StorageObserver};

/// The shortest time between two checkpoints. Shorter keeps the log smaller; longer
/// copies a page changed many times in between only once and syncs the database
/// file less often.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(100);

/// The log size, in frames (pages), past which the writer is asked to catch up:
/// about 47 MiB. The catch-up ends with a sync of the database file, which took
/// 16–22 ms on the benchmark machine with 1,000,000 credentials whatever few
/// pages it copied, and every request queued meanwhile waits for it; so it must
/// be rare. At SQLite's own 1,000 frames it came every ~100 ms under load there
/// and PATCH p99 was 22–24 ms; at 8,000, 7.6–8.3 ms (docs/perf-log.md). The audit
/// trail then made a PATCH write half as many log pages again (about 1.5 instead
/// of 1.0: the events' table and its two indexes), so 8,000 came 1.5 times as
/// often per PATCH and p99 was back at 11–21 ms; 12,000 keeps the catch-ups as
/// rare per PATCH as before (p99 9.8–10.1 ms in the same runs).
pub const CATCH_UP_FRAMES: i64 = 12000;

/// What the writer and the thread share.
#[derive(Default)]
struct Signals {
    /// Something was committed since the last checkpoint began.
    committed: bool,
    /// The log has grown past [`CATCH_UP_FRAMES`]: the writer should checkpoint.
    catch_up: bool,
    /// The checkpointer is being dropped: finish.
    stopping: bool,
}

/// The handle to the checkpointer thread. Dropping it stops the thread (SQLite runs
/// a last checkpoint itself when the last connection to the file closes). Public,
/// with [`catch_up`], as the other half of [`super::PRAGMAS`]: a program writing
/// keycred's database through a connection of its own with those pragmas turns
/// SQLite's own checkpoints off, and must checkpoint as keycred's writer does.
pub struct Checkpointer {
    /// The flags, and the condition variable the thread sleeps on.
    signals: Arc<(Mutex<Signals>, Condvar)>,
    /// The thread, joined on drop.
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Opens a connection to the database at `path` and starts the thread;
    /// failed checkpoints are reported to `observer`.
    pub fn start(path: &Path, observer: Arc<dyn StorageObserver>) -> Result<Checkpointer, StorageError> {
        let conn = open_checkpointer(path)?;
        let signals = Arc::new((Mutex::new(Signals::default()), Condvar::new()));
        let thread_signals = Arc::clone(&signals);
        let thread = std::thread::Builder::new()
            .name("keycred-sqlite-checkpointer".to_owned())
            .spawn(move || checkpointer_loop(&conn, &thread_signals, observer.as_ref()))
            .map_err(|err| StorageError::Internal(format!("start the database checkpointer thread: {err}")))?;
        Ok(Checkpointer {
            signals,
            thread: Some(thread),
        })
    }

    /// Tells the thread that a transaction committed, so there is log to copy. True
    /// if the caller, the writer, should now run [`catch_up`] on its connection.
    #[must_use = "the writer must catch up when asked, or the log grows without bound"]
    pub fn committed(&self) -> bool {
        let (flags, wake) = &*self.signals;
        let mut flags = lock(flags);
        if !flags.committed {
            flags.committed = true;
            wake.notify_one();
        }
        std::mem::take(&mut flags.catch_up)
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (flags, wake) = &*self.signals;
        lock(flags).stopping = true;
        wake.notify_one();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the database checkpointer thread panicked");
            }
        }
    }
}

/// The flags, even if a panic elsewhere poisoned their mutex (plain booleans cannot
/// be left half-changed).
fn lock(flags: &Mutex<Signals>) -> MutexGuard<'_, Signals> {
    flags.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The thread's body: wait for a commit, checkpoint, rest for the interval; until stopped.
fn checkpointer_loop(conn: &Connection, signals: &(Mutex<Signals>, Condvar), observer: &dyn StorageObserver) {
    let (flags, wake) = signals;
    loop {
        {
            let mut state = lock(flags);
            while !state.committed && !state.stopping {
                state = wake.wait(state).unwrap_or_else(PoisonError::into_inner);
            }
            if state.stopping {
                return;
            }
            state.committed = false;
        }
        let pass = match checkpoint(conn) {
            Ok(pass) => pass,
            Err(err) => {
                let error = from_sqlite("checkpoint the write-ahead log", err);
                tracing::error!(%error, "checkpoint failed");
                observer.storage_failed(&error);
                Pass::default()
            }
        };
        let mut state = lock(flags);
        if pass.log_frames >= CATCH_UP_FRAMES && pass.reached_the_end() {
            // What is left for the writer is only what was committed during this pass.
            state.catch_up = true;
        }
        // Rest, but wake at once to stop. Resting also leaves the writer's catch-up
        // the only checkpoint running when it comes.
        if !state.stopping {
            drop(
                wake.wait_timeout_while(state, CHECKPOINT_INTERVAL, |state| !state.stopping)
                    .unwrap_or_else(PoisonError::into_inner),
            );
        }
    }
}

/// What one checkpoint did.
#[derive(Debug, Default, Clone, Copy)]
struct Pass {
    /// Another checkpoint was running, so this one did nothing.
    busy: bool,
    /// Frames (pages) in the log.
    log_frames: i64,
    /// Frames of the log now copied into the database file.
    copied_frames: i64,
}

impl Pass {
    /// True if the whole log as it stood when the pass began is in the database file.
    fn reached_the_end(self) -> bool {
        !self.busy && self.copied_frames >= self.log_frames
    }
}

/// One PASSIVE checkpoint: copies what it can without waiting for anyone.
fn checkpoint(conn: &Connection) -> rusqlite::Result<Pass> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok(Pass {
            busy: row.get::<_, i64>(0)? != 0,
            log_frames: row.get(1)?,
            copied_frames: row.get(2)?,
        })
    })
}

/// The writer's catch-up checkpoint, run on its own connection between batches when
/// [`Checkpointer::committed`] asks for it. Errors are only logged: a checkpoint
/// that fails loses nothing, and the next one tries again.
pub fn catch_up(conn: &Connection, observer: &dyn StorageObserver) {
    if let Err(err) = checkpoint(conn) {
        let error = from_sqlite("checkpoint the write-ahead log", err);
        tracing::error!(%error, "catch-up checkpoint failed");
        observer.storage_failed(&error);
    }
}
