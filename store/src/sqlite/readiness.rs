//! The readiness check of the SQLite store: a reader answers a query and the writer
//! commits a write, so a locked, read-only or full database is reported, not hidden.

use rusqlite::Connection;

use super::error::from_sqlite;
use crate::StorageResult;

/// A query every migrated database answers: the reader connections can read the schema.
pub(super) fn read_check(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT count(*) FROM schema_migrations", [], |row| row.get(0))
}

/// How much the readiness write writes: more pages than any ordinary write commits
/// (a PATCH with its audit event commits about six), so that a disk too full for
/// real writes fails the check first rather than after them.
const CHECK_BYTES: i64 = 64 * 1024;

/// A write that keeps nothing but still reaches the disk: it rewrites the one row of
/// `readiness_check` (migration 5) with [`CHECK_BYTES`] of zeros, so the commit
/// appends that many pages' frames to the write-ahead log. An empty transaction
/// would commit without touching the disk and report a full or unwritable disk as
/// ready.
pub(super) fn write_check(conn: &Connection) -> StorageResult<()> {
    conn.execute(
        "INSERT OR REPLACE INTO readiness_check (id, filler) VALUES (1, zeroblob(?1))",
        [CHECK_BYTES],
    )
    .map(drop)
    .map_err(|err| from_sqlite("readiness write", err))
}
