//! Opening SQLite connections with the pragmas every keycred connection must have.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::error::from_sqlite;
use crate::{StorageError, StorageResult};

/// How long a connection waits for another connection's lock (in this process or
/// another, e.g. the CLI's `bootstrap` beside the server) before giving up with
/// SQLITE_BUSY, which callers see as `Unavailable`.
const BUSY_TIMEOUT_MS: u64 = 5000;

/// The pragmas every keycred connection runs with, in the order they are set. They
/// are per connection (only journal_mode is stored in the file), so each connection
/// sets them itself. Public so that a program opening keycred's database with a
/// connection of its own (the benchmark's raw-SQLite ceiling) can run exactly
/// these; with `wal_autocheckpoint` off it must checkpoint as the [`super::Checkpointer`] does.
/// No `page_size` or `mmap_size`: SQLite's defaults; the writer's `cache_size` is
/// [`WRITER_PRAGMAS`].
pub const PRAGMAS: [(&str, &str); 6] = [
    // Must equal BUSY_TIMEOUT_MS (a test checks).
    ("busy_timeout", "5000"),
    // Readers beside the one writer, across processes (see `set_wal_mode`).
    ("journal_mode", "WAL"),
    // FULL: in WAL mode every commit syncs the log, so an acknowledged write
    // survives power loss and not only a process crash. Do not weaken.
    ("synchronous", "FULL"),
    ("foreign_keys", "ON"),
    // No checkpoint inside a COMMIT: the checkpointer thread does them (checkpointer.rs).
    ("wal_autocheckpoint", "0"),
    // After a burst the log file is cut back to 64 MiB once it starts over.
    ("journal_size_limit", "67108864"),
];

/// The pragmas of the writer's connection alone, set after [`PRAGMAS`]. Public, as
/// they are, for a program that writes keycred's database the way keycred does.
///
/// A 4 MiB page cache (SQLite's default is 2 MiB, 500 pages of 4 KiB). Every write
/// batch appends audit events to the end of three B-trees (the events, their ID
/// index, their organization index), and each newly filled page enters the cache;
/// with the default, those pushed the credentials' own pages out, and at 10,000
/// credentials (about 490 pages) a third of PATCHes read their page back from the
/// file: 0.33–0.39 reads per PATCH and 1 µs more system time per PATCH in the
/// writer, against 0.02 with 4 MiB (`perf stat` on the writer thread). 8 MiB did
/// no better there, and raised keycred's peak RSS at 1,000,000 credentials by
/// 24 MiB where 4 MiB raised it by 7 (docs/perf-log.md). The readers keep the
/// default: they read and do not append.
pub const WRITER_PRAGMAS: [(&str, &str); 1] = [("cache_size", "-4096")];

/// Prepared statements kept per connection: more than keycred has, so that none is
/// ever parsed twice.
const STATEMENT_CACHE_CAPACITY: usize = 64;

/// Pause between attempts to switch to WAL mode while another connection holds a lock.
const WAL_RETRY_PAUSE_MS: u64 = 10;

/// Opens (creating if needed) the read-write connection that the writer thread owns.
pub(super) fn open_writer(path: &Path) -> StorageResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|err| from_sqlite("open database for writing", err))?;
    apply_pragmas(&conn).map_err(|err| from_sqlite("configure writer connection", err))?;
    for (name, value) in WRITER_PRAGMAS {
        conn.pragma_update(None, name, value)
            .map_err(|err| from_sqlite("configure writer connection", err))?;
    }
    check_pragmas(&conn)?;
    Ok(conn)
}

/// Opens the connection the checkpointer thread runs checkpoints on. The database
/// must already exist.
pub(super) fn open_checkpointer(path: &Path) -> StorageResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn =
        Connection::open_with_flags(path, flags).map_err(|err| from_sqlite("open database for checkpoints", err))?;
    apply_pragmas(&conn).map_err(|err| from_sqlite("configure checkpointer connection", err))?;
    check_pragmas(&conn)?;
    Ok(conn)
}

/// Opens one connection of the reader pool. The database must already exist (the
/// writer created and migrated it). It is opened read-write, as WAL readers may
/// need to write the shared-memory index, and made read-only with `query_only`.
pub(super) fn open_reader(path: &Path) -> StorageResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|err| from_sqlite("open database for reading", err))?;
    apply_pragmas(&conn).map_err(|err| from_sqlite("configure reader connection", err))?;
    check_pragmas(&conn)?;
    conn.pragma_update(None, "query_only", "ON")
        .map_err(|err| from_sqlite("configure reader connection", err))?;
    Ok(conn)
}

/// Applies [`PRAGMAS`], and sizes the statement cache.
fn apply_pragmas(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    for (name, value) in PRAGMAS {
        if name == "journal_mode" {
            set_wal_mode(conn)?;
        } else {
            conn.pragma_update(None, name, value)?;
        }
    }
    Ok(())
}

/// Puts the database in WAL mode, which lets readers run beside the one writer and
/// across processes; on a database already in WAL mode this changes nothing.
///
/// Switching a new database to WAL needs an exclusive lock. When two processes
/// create the same file together, SQLite may answer SQLITE_BUSY at once instead of
/// waiting in the busy handler (seen in testing), so this retries for up to the
/// busy timeout itself.
fn set_wal_mode(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = Instant::now() + Duration::from_millis(BUSY_TIMEOUT_MS);
    loop {
        // The pragma answers with a row (the new mode), hence `_and_check`;
        // `check_pragmas` verifies the mode afterwards.
        let result = conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0));
        match result {
            Err(err) if is_busy(&err) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(WAL_RETRY_PAUSE_MS));
            }
            Err(err) => return Err(err),
            Ok(_) => return Ok(()),
        }
    }
}

/// True for SQLITE_BUSY (another connection holds a conflicting lock).
fn is_busy(err: &rusqlite::Error) -> bool {
    matches!(
        err,
        rusqlite::Error::SqliteFailure(failure, _) if failure.code == ErrorCode::DatabaseBusy
    )
}

/// Fails if a pragma that silently may not take hold did not: WAL is refused by
/// some file systems, and foreign_keys is ignored inside a transaction.
fn check_pragmas(conn: &Connection) -> StorageResult<()> {
    let journal_mode: String = conn
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .map_err(|err| from_sqlite("read journal_mode", err))?;
    if !journal_mode.eq_ignore_ascii_case("wal") {
        return Err(StorageError::Internal(format!(
            "database is in journal mode {journal_mode:?}, expected WAL"
        )));
    }
    let foreign_keys: i64 = conn
        .pragma_query_value(None, "foreign_keys", |row| row.get(0))
        .map_err(|err| from_sqlite("read foreign_keys", err))?;
    if foreign_keys != 1 {
        return Err(StorageError::Internal(
            "foreign key enforcement could not be turned on".to_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busy_timeout_pragma_is_the_wal_retry_deadline() {
        assert_eq!(PRAGMAS[0], ("busy_timeout", BUSY_TIMEOUT_MS.to_string().as_str()));
    }

    #[test]
    fn the_writer_runs_with_a_4_mib_page_cache_and_the_readers_with_the_default() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("keycred.db");
        let cache_size = |conn: &Connection| -> i64 {
            conn.pragma_query_value(None, "cache_size", |row| row.get(0))
                .expect("read cache_size")
        };
        let writer = open_writer(&path).expect("open the writer");
        assert_eq!(cache_size(&writer), -4096);
        let reader = open_reader(&path).expect("open a reader");
        assert_eq!(cache_size(&reader), -2000);
    }
}
