//! Applies the numbered schema migrations (the one list in [`crate::migrations`],
//! PostgreSQL's spelling of each) at startup.
//!
//! Several keycred instances may start at once on a new database. Each takes the
//! transaction-scoped advisory lock [`MIGRATION_LOCK`] before it even looks at
//! `schema_migrations`, so one migrates while the others wait, and they then find
//! the work done. Every pending migration and its row in `schema_migrations` are
//! applied in that one transaction (PostgreSQL's DDL is transactional), so the
//! schema moves from one known version to another or not at all; the lock goes
//! with the transaction, also when the process dies.

use deadpool_postgres::ClientWrapper;

use super::error::from_pg;
use crate::migrations::{refuse_newer_schema, MIGRATIONS};
use crate::{Millis, StorageResult};

/// The advisory lock key that serialises migrations: "keycred\0" read as a
/// big-endian i64. Advisory locks are per database, so it only ever meets other
/// keycred instances (or bootstraps) on the same database.
pub(super) const MIGRATION_LOCK: i64 = i64::from_be_bytes(*b"keycred\0");

/// Brings the database up to the newest migration. Fails if the database was
/// migrated by a newer keycred, whose schema this build does not know.
pub(super) async fn migrate(client: &mut ClientWrapper, now: Millis) -> StorageResult<()> {
    let op = "migrate the database";
    let tx = client.transaction().await.map_err(|err| from_pg(op, err))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(|err| from_pg("take the migration lock", err))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    BIGINT NOT NULL PRIMARY KEY,
             applied_at BIGINT NOT NULL
         )",
    )
    .await
    .map_err(|err| from_pg(op, err))?;
    let applied: Vec<i64> = tx
        .query("SELECT version FROM schema_migrations ORDER BY version", &[])
        .await
        .map_err(|err| from_pg("read applied migrations", err))?
        .iter()
        .map(|row| row.get(0))
        .collect();

    refuse_newer_schema(&applied)?;
    for migration in MIGRATIONS
        .iter()
        .filter(|migration| !applied.contains(&migration.version))
    {
        let op = format!("apply migration {}", migration.version);
        tx.batch_execute(migration.postgres)
            .await
            .map_err(|err| from_pg(&op, err))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[&migration.version, &now],
        )
        .await
        .map_err(|err| from_pg(&op, err))?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied a migration"
        );
    }
    // Dropping an unused transaction would roll it back just as well; committing
    // releases the lock at once either way.
    tx.commit().await.map_err(|err| from_pg(op, err))
}
