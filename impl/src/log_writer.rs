//! The log's writer: the threads that log append their lines to one shared buffer,
//! and a thread of its own writes the buffer to the output every few milliseconds.
//!
//! A thread that is woken for every line (as a channel's receiver is) costs every
//! request a wake-up system call and a context switch; one that wakes on a clock
//! costs none of that, and writes many lines per `write`. Nothing is dropped: a
//! thread that logs waits while [`MAX_PENDING`] bytes are still unwritten.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

/// How often the writing thread writes out what has been logged.
const FLUSH_EVERY: Duration = Duration::from_millis(5);

/// How many unwritten bytes make a thread that logs wait for the writing thread.
const MAX_PENDING: usize = 4 << 20;

/// How long stopping waits for the writing thread to write out what is pending: an
/// output that takes nothing more (a full pipe nobody reads) must not keep the
/// process from ending.
const STOP_WAIT: Duration = Duration::from_secs(1);

/// What the logging threads and the writing thread share.
struct Shared {
    pending: Mutex<Pending>,
    /// Signalled when the writing thread has taken the pending bytes, and when it
    /// has finished.
    taken: Condvar,
    /// Signalled to wake the writing thread before its time (to stop).
    wake: Condvar,
}

/// Lines logged and not yet written, whether the writer is stopping, and whether
/// it has finished.
#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    stopping: bool,
    finished: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A thread that panicked while appending left whole lines or part of one;
        // the log goes on either way.
        self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Hands out [`LineWriter`]s to the formatter (a [`MakeWriter`]).
#[derive(Clone)]
pub struct LogWriter {
    shared: Arc<Shared>,
}

/// Stops the writing thread when dropped, after it has written every line logged
/// before (waiting at most [`STOP_WAIT`] for it).
#[must_use = "dropping the guard stops the log writer"]
pub struct LogWriterGuard {
    shared: Arc<Shared>,
}

/// Starts the writing thread, named `thread_name`, writing to `output`.
pub fn log_writer(
    output: impl Write + Send + 'static,
    thread_name: &str,
) -> std::io::Result<(LogWriter, LogWriterGuard)> {
    let shared = Arc::new(Shared {
        pending: Mutex::new(Pending::default()),
        taken: Condvar::new(),
        wake: Condvar::new(),
    });
    let for_thread = Arc::clone(&shared);
    std::thread::Builder::new()
        .name(thread_name.to_owned())
        .spawn(move || {
            write_until_stopped(&for_thread, output);
            for_thread.lock().finished = true;
            for_thread.taken.notify_all();
        })?;
    Ok((
        LogWriter {
            shared: Arc::clone(&shared),
        },
        LogWriterGuard { shared },
    ))
}

/// The writing thread: every [`FLUSH_EVERY`] (or when woken to stop), takes what
/// is pending and writes it out; ends once stopping and nothing is left.
fn write_until_stopped(shared: &Shared, mut output: impl Write) {
    let mut writing = Vec::new();
    loop {
        let stopping = {
            let mut pending = shared.lock();
            if !pending.stopping && pending.bytes.len() < MAX_PENDING {
                pending = shared
                    .wake
                    .wait_timeout(pending, FLUSH_EVERY)
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .0;
            }
            std::mem::swap(&mut pending.bytes, &mut writing);
            shared.taken.notify_all();
            pending.stopping
        };
        if !writing.is_empty() {
            // Nowhere to report a failed write of the log itself: it is dropped.
            let _ = output.write_all(&writing).and_then(|()| output.flush());
            writing.clear();
        }
        if stopping && shared.lock().bytes.is_empty() {
            return;
        }
    }
}

impl Drop for LogWriterGuard {
    fn drop(&mut self) {
        let mut pending = self.shared.lock();
        pending.stopping = true;
        self.shared.wake.notify_all();
        let deadline = Instant::now() + STOP_WAIT;
        while !pending.finished {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            pending = self
                .shared
                .taken
                .wait_timeout(pending, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }
}

/// Appends one formatted line (or whatever the formatter writes) to the pending bytes.
pub struct LineWriter<'a> {
    shared: &'a Shared,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut pending = self.shared.lock();
        while pending.bytes.len() >= MAX_PENDING && !pending.stopping {
            self.shared.wake.notify_all();
            pending = self
                .shared
                .taken
                .wait(pending)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        pending.bytes.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> LineWriter<'a> {
        LineWriter { shared: &self.shared }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output the test can read while the writer holds it.
    #[derive(Clone, Default)]
    struct Collected(Arc<Mutex<Vec<u8>>>);

    impl Write for Collected {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Collected {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn every_line_from_every_thread_is_written_whole_and_in_each_threads_order() {
        let output = Collected::default();
        let (writer, guard) = log_writer(output.clone(), "test-log").unwrap();
        std::thread::scope(|scope| {
            for thread in 0..4 {
                let writer = writer.clone();
                scope.spawn(move || {
                    for line in 0..5_000 {
                        let text = format!("thread {thread} line {line} {}\n", "x".repeat(line % 300));
                        writer.make_writer().write_all(text.as_bytes()).unwrap();
                    }
                });
            }
        });
        drop(guard);
        let text = output.text();
        let mut next = [0usize; 4];
        for line in text.lines() {
            let mut words = line.split(' ');
            assert_eq!(words.next(), Some("thread"), "{line}");
            let thread: usize = words.next().unwrap().parse().unwrap();
            assert_eq!(words.next(), Some("line"));
            let number: usize = words.next().unwrap().parse().unwrap();
            assert_eq!(number, next[thread], "thread {thread}'s lines out of order");
            assert_eq!(words.next().unwrap_or("").len(), number % 300, "{line}");
            next[thread] += 1;
        }
        assert_eq!(next, [5_000; 4]);
    }

    #[test]
    fn lines_are_written_within_moments_without_a_stop() {
        let output = Collected::default();
        let (writer, _guard) = log_writer(output.clone(), "test-log").unwrap();
        writer.make_writer().write_all(b"first\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while output.text() != "first\n" {
            assert!(std::time::Instant::now() < deadline, "never written");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn stopping_gives_up_on_an_output_that_takes_nothing_more() {
        /// An output that never returns from a write.
        struct Stuck;

        impl Write for Stuck {
            fn write(&mut self, _bytes: &[u8]) -> std::io::Result<usize> {
                loop {
                    std::thread::park();
                }
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        let (writer, guard) = log_writer(Stuck, "test-log").unwrap();
        writer.make_writer().write_all(b"never written\n").unwrap();
        let started = Instant::now();
        drop(guard);
        let waited = started.elapsed();
        assert!(
            waited >= STOP_WAIT / 2,
            "it did not wait for the output at all: {waited:?}"
        );
        assert!(waited < STOP_WAIT * 10, "stopping hung: {waited:?}");
    }

    #[test]
    fn a_thread_that_logs_faster_than_the_output_takes_waits_and_loses_nothing() {
        /// An output that takes a millisecond per write.
        #[derive(Clone, Default)]
        struct Slow(Collected);

        impl Write for Slow {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                std::thread::sleep(Duration::from_millis(1));
                self.0.write(bytes)
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        let output = Slow::default();
        let (writer, guard) = log_writer(output.clone(), "test-log").unwrap();
        // Three times MAX_PENDING, in lines of 64 KiB.
        let line = format!("{}\n", "y".repeat((64 << 10) - 1));
        let lines = 3 * MAX_PENDING / line.len();
        for _ in 0..lines {
            writer.make_writer().write_all(line.as_bytes()).unwrap();
            assert!(writer.shared.lock().bytes.len() <= MAX_PENDING + line.len());
        }
        drop(guard);
        assert_eq!(output.0.text().len(), lines * line.len());
    }
}
