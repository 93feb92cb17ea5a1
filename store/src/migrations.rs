//! The one list of schema migrations, read by both backends' runners.
//!
//! Each migration has one number and one SQL file per backend, under
//! `store/migrations/sqlite/` and `store/migrations/postgres/`, both named `NNNN_<name>.sql`
//! with the same `NNNN`. Keeping both files of a version in one entry means a
//! version cannot exist for one backend and not the other; the tests below also
//! check the two folders on disk against this list, so a file that was added to
//! one folder only, or never listed here, fails the build's tests.
//!
//! Append only: an applied migration never changes. Each runner records the
//! versions it applied in its database's `schema_migrations` table.

use crate::{StorageError, StorageResult};

/// One schema change, as each backend spells it.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Position in the sequence, from 1; recorded in `schema_migrations.version`.
    pub version: i64,
    /// The file name after `NNNN_` and before `.sql`, the same for both backends.
    pub name: &'static str,
    /// The statements for SQLite, run as one batch inside the migration's transaction.
    pub sqlite: &'static str,
    /// The statements for PostgreSQL, run as one batch inside the migration's transaction.
    pub postgres: &'static str,
}

/// Every migration, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sqlite: include_str!("../migrations/sqlite/0001_initial.sql"),
        postgres: include_str!("../migrations/postgres/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "list_indexes",
        sqlite: include_str!("../migrations/sqlite/0002_list_indexes.sql"),
        postgres: include_str!("../migrations/postgres/0002_list_indexes.sql"),
    },
    Migration {
        version: 3,
        name: "cursor_key",
        sqlite: include_str!("../migrations/sqlite/0003_cursor_key.sql"),
        postgres: include_str!("../migrations/postgres/0003_cursor_key.sql"),
    },
    Migration {
        version: 4,
        name: "credential_lifecycle",
        sqlite: include_str!("../migrations/sqlite/0004_credential_lifecycle.sql"),
        postgres: include_str!("../migrations/postgres/0004_credential_lifecycle.sql"),
    },
    Migration {
        version: 5,
        name: "audit_events",
        sqlite: include_str!("../migrations/sqlite/0005_audit_events.sql"),
        postgres: include_str!("../migrations/postgres/0005_audit_events.sql"),
    },
    Migration {
        version: 6,
        name: "audit_events_rowid",
        sqlite: include_str!("../migrations/sqlite/0006_audit_events_rowid.sql"),
        postgres: include_str!("../migrations/postgres/0006_audit_events_rowid.sql"),
    },
];

/// The newest version this build knows (0 if it knew none).
pub fn newest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |migration| migration.version)
}

/// Fails if the database, whose applied versions (ascending) are `applied`, was
/// migrated by a newer keycred, whose schema this build does not know.
pub(crate) fn refuse_newer_schema(applied: &[i64]) -> StorageResult<()> {
    let newest_known = newest_version();
    match applied.last() {
        Some(&newest_applied) if newest_applied > newest_known => Err(StorageError::Internal(format!(
            "database schema is at version {newest_applied}, newer than this build's {newest_known}; upgrade keycred"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;

    /// The `NNNN_name.sql` files of one backend's folder, by version.
    fn files_of(backend: &str) -> BTreeMap<i64, String> {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend);
        let mut files = BTreeMap::new();
        for entry in std::fs::read_dir(&folder).unwrap_or_else(|error| panic!("read {}: {error}", folder.display())) {
            let file_name = entry
                .expect("a folder entry")
                .file_name()
                .to_string_lossy()
                .into_owned();
            let stem = file_name
                .strip_suffix(".sql")
                .unwrap_or_else(|| panic!("{backend}/{file_name} is not a .sql file"));
            let (number, name) = stem
                .split_once('_')
                .unwrap_or_else(|| panic!("{backend}/{file_name} is not named NNNN_name.sql"));
            assert_eq!(number.len(), 4, "{backend}/{file_name}: the number has four digits");
            let version: i64 = number
                .parse()
                .unwrap_or_else(|_| panic!("{backend}/{file_name}: {number} is not a number"));
            let previous = files.insert(version, name.to_owned());
            assert!(previous.is_none(), "{backend}: two files for version {version}");
        }
        files
    }

    #[test]
    fn migrations_are_numbered_from_one_without_gaps() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version, index as i64 + 1);
        }
        assert_eq!(newest_version(), MIGRATIONS.len() as i64);
    }

    #[test]
    fn both_backends_have_the_same_versions_and_every_file_is_listed() {
        let listed: BTreeMap<i64, String> = MIGRATIONS
            .iter()
            .map(|migration| (migration.version, migration.name.to_owned()))
            .collect();
        let sqlite = files_of("sqlite");
        let postgres = files_of("postgres");
        assert_eq!(
            sqlite, postgres,
            "impl/migrations/sqlite and impl/migrations/postgres differ"
        );
        assert_eq!(
            listed, sqlite,
            "impl/migrations/* and storage::migrations::MIGRATIONS differ"
        );
    }

    #[test]
    fn no_migration_is_empty() {
        for migration in MIGRATIONS {
            assert!(!migration.sqlite.trim().is_empty(), "sqlite {}", migration.version);
            assert!(!migration.postgres.trim().is_empty(), "postgres {}", migration.version);
        }
    }
}
