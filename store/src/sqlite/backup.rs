//! Online backups of a SQLite database: a consistent copy taken while servers write.
//!
//! `VACUUM INTO` reads the database in one read transaction, so the copy is the
//! database as of one commit (every write committed before it started, none half
//! done), and in WAL mode it blocks no writer. It writes into a temporary file beside
//! the output, created 0600 first (SQLite fills an empty file), which is checked with
//! `PRAGMA integrity_check`, synced, and renamed over the output: a reader of the
//! output sees the old file or the whole new one, never a part.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::error::from_sqlite;
use crate::{StorageError, StorageResult};

/// How long the backup waits for a lock held by a server (as a server's own connections do).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    /// The file written.
    pub output: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// How many organizations, service accounts and credentials it holds.
    pub organizations: i64,
    /// See `organizations`.
    pub service_accounts: i64,
    /// See `organizations`.
    pub credentials: i64,
}

/// Copies the database at `database` into `output` (replacing it atomically if it
/// exists), with mode 0600, and verifies the copy. The database must exist; it may be
/// in use by servers, which go on writing meanwhile.
pub fn backup(database: &Path, output: &Path) -> StorageResult<BackupSummary> {
    if !database.is_file() {
        return Err(StorageError::Internal(format!(
            "{}: no such database file",
            database.display()
        )));
    }
    let temporary = temporary_path(output)?;
    let result = copy_and_verify(database, &temporary, output);
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// The temporary file beside `output` that the copy is made in.
fn temporary_path(output: &Path) -> StorageResult<PathBuf> {
    let name = output
        .file_name()
        .ok_or_else(|| StorageError::Internal(format!("{}: not a file name", output.display())))?;
    let mut temporary = name.to_owned();
    temporary.push(format!(".partial-{}", std::process::id()));
    Ok(output.with_file_name(temporary))
}

/// The steps of [`backup`]; on error the caller removes `temporary`.
fn copy_and_verify(database: &Path, temporary: &Path, output: &Path) -> StorageResult<BackupSummary> {
    let io_error = |what: &str, path: &Path, err: std::io::Error| {
        StorageError::Internal(format!("{what} {}: {}", path.display(), plain(&err)))
    };
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(temporary)
        .map_err(|err| io_error("cannot create", temporary, err))?;
    vacuum_into(database, temporary)?;
    let summary = verify(temporary, output)?;
    File::open(temporary)
        .and_then(|file| file.sync_all())
        .map_err(|err| io_error("cannot sync", temporary, err))?;
    std::fs::rename(temporary, output).map_err(|err| io_error("cannot rename the copy to", output, err))?;
    // The rename is durable once the directory is synced.
    let directory = output.parent().filter(|parent| !parent.as_os_str().is_empty());
    File::open(directory.unwrap_or(Path::new(".")))
        .and_then(|directory| directory.sync_all())
        .map_err(|err| io_error("cannot sync the directory of", output, err))?;
    Ok(summary)
}

/// Writes a consistent copy of `database` into the empty file `temporary`.
fn vacuum_into(database: &Path, temporary: &Path) -> StorageResult<()> {
    // Read-write without create: a WAL reader may need to write the shared-memory index.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(database, flags).map_err(|err| from_sqlite("open the database", err))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|err| from_sqlite("set the busy timeout", err))?;
    let target = temporary
        .to_str()
        .ok_or_else(|| StorageError::Internal(format!("{}: not a UTF-8 path", temporary.display())))?;
    conn.execute("VACUUM INTO ?1", [target])
        .map_err(|err| from_sqlite("copy the database", err))?;
    Ok(())
}

/// Runs SQLite's integrity check on the copy and counts what it holds.
fn verify(temporary: &Path, output: &Path) -> StorageResult<BackupSummary> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(temporary, flags).map_err(|err| from_sqlite("open the copy", err))?;
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .map_err(|err| from_sqlite("check the copy", err))?;
    if integrity != "ok" {
        return Err(StorageError::Internal(format!(
            "the copy failed SQLite's integrity check: {integrity}"
        )));
    }
    let count = |table: &str| -> StorageResult<i64> {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| row.get(0))
            .map_err(|err| from_sqlite("count the copy's rows", err))
    };
    let bytes = std::fs::metadata(temporary)
        .map_err(|err| StorageError::Internal(format!("{}: {}", temporary.display(), plain(&err))))?
        .len();
    Ok(BackupSummary {
        output: output.to_owned(),
        bytes,
        organizations: count("organizations")?,
        service_accounts: count("service_accounts")?,
        credentials: count("credentials")?,
    })
}

/// An I/O error in plain words for the usual cases.
fn plain(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        std::io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        _ => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_backup_is_a_verified_private_copy_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let database = dir.path().join("keycred.db");
        drop(crate::sqlite::SqliteStore::open(&database).expect("create a database"));
        let output = dir.path().join("copy.db");

        let summary = backup(&database, &output).expect("back up");

        assert_eq!(summary.output, output);
        assert_eq!((summary.organizations, summary.credentials), (0, 0));
        assert_eq!(std::fs::metadata(&output).unwrap().permissions().mode() & 0o777, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(!names.iter().any(|name| name.contains(".partial-")), "{names:?}");
    }

    #[test]
    fn a_missing_database_is_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let output = dir.path().join("copy.db");

        let error = backup(&dir.path().join("missing.db"), &output).unwrap_err();

        assert!(error.to_string().contains("no such database file"), "{error}");
        assert!(!output.exists());
    }
}
