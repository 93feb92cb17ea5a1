//! Applies the numbered schema migrations (the one list in [`crate::migrations`],
//! SQLite's spelling of each) in order at open.
//!
//! Each migration runs in its own `BEGIN IMMEDIATE` transaction together with its
//! row in `schema_migrations`, so it is applied completely or not at all. Taking
//! the write lock first and re-checking inside it makes two processes opening the
//! same new database at once safe: the second waits, then finds the work done.

use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::error::from_sqlite;
use crate::migrations::{refuse_newer_schema, Migration, MIGRATIONS};
use crate::{Millis, StorageResult};

/// Brings the database up to the newest migration; applies nothing (and takes no
/// write lock) when it is already there. Fails if the database was migrated by a
/// newer keycred, whose schema this build does not know.
pub(super) fn migrate(conn: &mut Connection) -> StorageResult<()> {
    let applied = applied_versions(conn)?;
    refuse_newer_schema(&applied)?;
    for migration in MIGRATIONS {
        if !applied.contains(&migration.version) {
            apply(conn, migration)?;
        }
    }
    Ok(())
}

/// The versions recorded as applied, ascending; empty for a new database.
fn applied_versions(conn: &Connection) -> StorageResult<Vec<i64>> {
    let read = |conn: &Connection| -> rusqlite::Result<Vec<i64>> {
        let table: Option<String> = conn
            .query_row(
                "SELECT name FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'",
                [],
                |row| row.get(0),
            )
            .optional()?;
        if table.is_none() {
            return Ok(Vec::new());
        }
        let mut statement = conn.prepare("SELECT version FROM schema_migrations ORDER BY version")?;
        let versions = statement.query_map([], |row| row.get(0))?;
        versions.collect()
    };
    read(conn).map_err(|err| from_sqlite("read applied migrations", err))
}

/// Applies one migration and records it, unless another process got there first.
fn apply(conn: &mut Connection, migration: &Migration) -> StorageResult<()> {
    let op = format!("apply migration {}", migration.version);
    let run = |conn: &mut Connection| -> rusqlite::Result<()> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    INTEGER NOT NULL PRIMARY KEY,
                 applied_at INTEGER NOT NULL
             ) STRICT",
        )?;
        let already_applied: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)",
            params![migration.version],
            |row| row.get(0),
        )?;
        if already_applied {
            // Dropping `tx` rolls back the no-op CREATE TABLE IF NOT EXISTS.
            return Ok(());
        }
        tx.execute_batch(migration.sqlite)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            params![migration.version, now_millis()],
        )?;
        tx.commit()
    };
    run(conn).map_err(|err| from_sqlite(&op, err))
}

/// The current time in Unix epoch milliseconds, for `schema_migrations.applied_at`.
fn now_millis() -> Millis {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    Millis::try_from(since_epoch.as_millis()).unwrap_or(Millis::MAX)
}
