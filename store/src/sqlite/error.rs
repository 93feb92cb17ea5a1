//! Turns rusqlite errors into [`StorageError`]s, the only error type callers see.
//!
//! Messages name the operation and, for conflicts, the value that clashed in plain
//! words. They are built from SQLite's own messages, which name tables and columns
//! but never bound values, so no secret or hash can reach a log through them.

use rusqlite::ffi;
use rusqlite::ErrorCode;

use crate::StorageError;

/// Maps a rusqlite error from operation `op` (e.g. "create credential") to a
/// [`StorageError`] by SQLite's result code.
pub(super) fn from_sqlite(op: &str, err: rusqlite::Error) -> StorageError {
    if is_unique_violation(&err) {
        return StorageError::Conflict(conflict_message(&err));
    }
    let unavailable = matches!(
        sqlite_code(&err),
        Some(
            ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::ReadOnly
                | ErrorCode::DiskFull
                | ErrorCode::CannotOpen
                | ErrorCode::SystemIoFailure
        )
    );
    if unavailable {
        StorageError::Unavailable(format!("{op}: {err}"))
    } else {
        StorageError::Internal(format!("{op}: {err}"))
    }
}

/// True when `err` is a UNIQUE or PRIMARY KEY constraint violation.
pub(super) fn is_unique_violation(err: &rusqlite::Error) -> bool {
    matches!(
        extended_code(err),
        Some(ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
    )
}

/// True when `err` is a FOREIGN KEY constraint violation (an unknown parent row).
pub(super) fn is_foreign_key_violation(err: &rusqlite::Error) -> bool {
    extended_code(err) == Some(ffi::SQLITE_CONSTRAINT_FOREIGNKEY)
}

/// A copy of `err` for every job of a batch that failed as a whole
/// (`StorageError` is not `Clone`, and each job needs its own).
pub(super) fn duplicate(err: &StorageError) -> StorageError {
    match err {
        StorageError::Conflict(message) => StorageError::Conflict(message.clone()),
        StorageError::Unavailable(message) => StorageError::Unavailable(message.clone()),
        StorageError::Internal(message) => StorageError::Internal(message.clone()),
    }
}

/// SQLite's primary result code, if `err` came from SQLite at all.
fn sqlite_code(err: &rusqlite::Error) -> Option<ErrorCode> {
    match err {
        rusqlite::Error::SqliteFailure(failure, _) => Some(failure.code),
        _ => None,
    }
}

/// SQLite's extended result code, if `err` came from SQLite at all.
fn extended_code(err: &rusqlite::Error) -> Option<std::ffi::c_int> {
    match err {
        rusqlite::Error::SqliteFailure(failure, _) => Some(failure.extended_code),
        _ => None,
    }
}

/// Says in plain words which unique value clashed. SQLite reports the columns as
/// "UNIQUE constraint failed: table.column[, table.column]".
fn conflict_message(err: &rusqlite::Error) -> String {
    let columns = match err {
        rusqlite::Error::SqliteFailure(_, Some(message)) => message
            .strip_prefix("UNIQUE constraint failed: ")
            .unwrap_or(message.as_str()),
        _ => "",
    };
    match columns {
        "organizations.label" => "organization label already exists".to_owned(),
        "organizations.id" => "organization id already exists".to_owned(),
        "service_accounts.id" => "service account id already exists".to_owned(),
        "credentials.client_id" => "client_id already exists".to_owned(),
        "credentials.id" => "credential id already exists".to_owned(),
        "tokens.id" => "token id already exists".to_owned(),
        other => format!("unique value already exists ({other})"),
    }
}
