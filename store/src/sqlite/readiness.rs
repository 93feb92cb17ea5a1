//! The readiness check of the SQLite store: a reader answers a query and the writer
//! commits a write, so a locked, read-only or full database is reported, not hidden.

use rusqlite::Connection;

use super::error::from_sqlite;
use crate::StorageResult;

/// A query every migrated database answers: the reader connections can read the schema.
pub(super) fn read_check(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT count(*) FROM schema_migrations", [], |row| row.get(0))
}

/// A write that changes nothing but still reaches the disk: setting the header's
/// `application_id` marks the first page dirty even when the value is the same, so the
/// commit appends a frame to the write-ahead log. An empty transaction would commit
/// without touching the disk and report a full or unwritable disk as ready.
pub(super) fn write_check(conn: &Connection) -> StorageResult<()> {
    let check = || -> rusqlite::Result<()> {
        let application_id: i64 = conn.query_row("PRAGMA application_id", [], |row| row.get(0))?;
        conn.pragma_update(None, "application_id", application_id)
    };
    check().map_err(|err| from_sqlite("readiness write", err))
}
