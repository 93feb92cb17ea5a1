//! The SQLite database's files on disk: a new database file is created readable and
//! writable by its owner only (mode 0600) whatever the umask, and SQLite gives its
//! `-wal` and `-shm` files the database file's mode. Existing files that others can
//! read are reported at start, not changed: the operator may have reasons.

use std::fs::OpenOptions;
use std::io::ErrorKind;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The mode of every file keycred creates for its database.
pub const DATABASE_FILE_MODE: u32 = 0o600;

/// Why the database file could not be made ready.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseFileError {
    /// `--database` was given as an empty string.
    #[error("--database is empty: give a SQLite file path or a postgres:// URL")]
    Empty,
    /// The file did not exist and could not be created.
    #[error("cannot create the database file {path}: {reason}")]
    Create {
        /// The file keycred tried to create.
        path: PathBuf,
        /// Why, in plain words.
        reason: String,
    },
}

/// Creates the database file at `path` with mode 0600 if it does not exist, and warns
/// about any of its files that other users can read or write.
pub fn prepare(path: &Path) -> Result<(), DatabaseFileError> {
    if path.as_os_str().is_empty() {
        return Err(DatabaseFileError::Empty);
    }
    create_private(path)?;
    for file in database_files(path) {
        warn_if_shared(&file);
    }
    Ok(())
}

/// Creates `path` with mode 0600, unless it exists. The mode is set again after
/// creating, so that no umask (not even one that takes the owner's bits) changes it.
fn create_private(path: &Path) -> Result<(), DatabaseFileError> {
    let created = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(DATABASE_FILE_MODE)
        .open(path);
    let failed = |error: std::io::Error| DatabaseFileError::Create {
        path: path.to_owned(),
        reason: reason(&error),
    };
    match created {
        Ok(_) => std::fs::set_permissions(path, std::fs::Permissions::from_mode(DATABASE_FILE_MODE)).map_err(failed),
        Err(error) if error.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(failed(error)),
    }
}

/// The usual failures in plain words; anything else as the OS says it.
fn reason(error: &std::io::Error) -> String {
    match error.kind() {
        ErrorKind::PermissionDenied => "permission denied".to_owned(),
        ErrorKind::NotFound => "its directory does not exist".to_owned(),
        _ => error.to_string(),
    }
}

/// The database file and the two SQLite keeps beside it in WAL mode.
fn database_files(path: &Path) -> [PathBuf; 3] {
    let with_suffix = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [path.to_owned(), with_suffix("-wal"), with_suffix("-shm")]
}

/// Logs a warning if `file` exists and its group or other users have any access.
fn warn_if_shared(file: &Path) {
    let Ok(metadata) = std::fs::metadata(file) else {
        return;
    };
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(
            file = %file.display(),
            mode = %format!("{mode:o}"),
            "other users can access this database file, which holds credential hashes and tokens; \
             consider chmod 600"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_database_file_is_private_and_an_existing_one_is_left_alone() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let new = dir.path().join("new.db");
        prepare(&new).expect("create the file");
        let mode = std::fs::metadata(&new).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        let existing = dir.path().join("existing.db");
        std::fs::write(&existing, b"").unwrap();
        std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o644)).unwrap();
        prepare(&existing).expect("an existing file is fine");
        let mode = std::fs::metadata(&existing).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
    }

    #[test]
    fn the_wal_and_shm_files_sit_beside_the_database() {
        let [db, wal, shm] = database_files(Path::new("/data/keycred.db"));
        assert_eq!(db, Path::new("/data/keycred.db"));
        assert_eq!(wal, Path::new("/data/keycred.db-wal"));
        assert_eq!(shm, Path::new("/data/keycred.db-shm"));
    }

    #[test]
    fn an_empty_path_and_a_missing_directory_are_refused_in_plain_words() {
        assert_eq!(
            prepare(Path::new("")).unwrap_err().to_string(),
            "--database is empty: give a SQLite file path or a postgres:// URL"
        );
        let dir = tempfile::tempdir().expect("a temp dir");
        let missing = dir.path().join("no/such/dir/keycred.db");
        let error = prepare(&missing).unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "cannot create the database file {}: its directory does not exist",
                missing.display()
            )
        );
    }
}
