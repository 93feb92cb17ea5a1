//! Turns tokio-postgres and pool errors into [`StorageError`]s, the only error type
//! callers see, with the same meaning as the SQLite store's: a broken uniqueness
//! rule is a `Conflict`; a database that cannot take the request right now
//! (unreachable, restarting, out of connections or disk, a pool that stayed empty
//! too long, a serialization failure or deadlock worth retrying) is `Unavailable`,
//! which the API answers with a 503 and `Retry-After`; anything else is `Internal`.
//!
//! Messages name the operation and, for conflicts, the value that clashed in plain
//! words. They use PostgreSQL's message and SQLSTATE, never its DETAIL, which quotes
//! the row's values (a client_id, a token ID).

use std::error::Error as _;

use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

use crate::StorageError;

/// Maps a tokio-postgres error from operation `op` (e.g. "create credential").
pub(super) fn from_pg(op: &str, err: tokio_postgres::Error) -> StorageError {
    let Some(db_error) = err.as_db_error() else {
        // No answer from the server at all: the connection could not be made, broke,
        // or timed out. The driver says which only in words and in its cause.
        let unreachable = err.is_closed()
            || err.source().is_some_and(|cause| cause.is::<std::io::Error>())
            || matches!(
                err.to_string().as_str(),
                "error connecting to server" | "timeout waiting for server" | "error communicating with the server"
            );
        let message = format!("{op}: {err}{}", cause_of(&err));
        return if unreachable {
            StorageError::Unavailable(message)
        } else {
            StorageError::Internal(message)
        };
    };
    let code = db_error.code();
    let message = format!("{op}: {} (SQLSTATE {})", db_error.message(), code.code());
    if *code == SqlState::UNIQUE_VIOLATION {
        return StorageError::Conflict(conflict_message(db_error.constraint()));
    }
    if is_unavailable(code) {
        StorageError::Unavailable(message)
    } else {
        StorageError::Internal(message)
    }
}

/// Maps a failure to get a connection from the pool: a wait that timed out, or a
/// server that refused or could not be reached, is `Unavailable`.
pub(super) fn from_pool(op: &str, err: PoolError) -> StorageError {
    match err {
        PoolError::Backend(err) => from_pg(op, err),
        PoolError::Timeout(kind) => {
            StorageError::Unavailable(format!("{op}: no database connection became free in time ({kind:?})"))
        }
        PoolError::Closed => StorageError::Unavailable(format!("{op}: the connection pool is closed")),
        other => StorageError::Internal(format!("{op}: {other}")),
    }
}

/// True when `err` is a FOREIGN KEY violation (a parent row that does not exist).
pub(super) fn is_foreign_key_violation(err: &tokio_postgres::Error) -> bool {
    err.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION)
}

/// SQLSTATEs after which the same request may well succeed a moment later.
fn is_unavailable(code: &SqlState) -> bool {
    let class = &code.code()[..2];
    // 08: connection exception; 53: insufficient resources (disk full, out of memory,
    // too many connections); 57P0x: the server is shutting down or starting.
    let by_class = matches!(class, "08" | "53");
    by_class
        || [
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::QUERY_CANCELED,
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::LOCK_NOT_AVAILABLE,
            // A read-only server (a standby, or a primary being failed over).
            SqlState::READ_ONLY_SQL_TRANSACTION,
        ]
        .contains(code)
}

/// The driver's cause, which says e.g. "Connection refused", as `: cause`.
fn cause_of(err: &tokio_postgres::Error) -> String {
    err.source().map(|cause| format!(": {cause}")).unwrap_or_default()
}

/// Says in plain words which unique value clashed, by the constraint's name (named
/// explicitly in `impl/migrations/postgres/`), in the SQLite store's words.
fn conflict_message(constraint: Option<&str>) -> String {
    match constraint.unwrap_or_default() {
        "organizations_label_key" => "organization label already exists".to_owned(),
        "organizations_pkey" => "organization id already exists".to_owned(),
        "service_accounts_pkey" => "service account id already exists".to_owned(),
        "credentials_client_id_key" => "client_id already exists".to_owned(),
        "credentials_pkey" => "credential id already exists".to_owned(),
        "tokens_pkey" => "token id already exists".to_owned(),
        other => format!("unique value already exists ({other})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_states_are_unavailable_and_others_are_not() {
        for code in [
            SqlState::CONNECTION_FAILURE,
            SqlState::TOO_MANY_CONNECTIONS,
            SqlState::DISK_FULL,
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::READ_ONLY_SQL_TRANSACTION,
        ] {
            assert!(is_unavailable(&code), "{}", code.code());
        }
        for code in [
            SqlState::SYNTAX_ERROR,
            SqlState::UNDEFINED_TABLE,
            SqlState::CHECK_VIOLATION,
            SqlState::CHARACTER_NOT_IN_REPERTOIRE,
            SqlState::INSUFFICIENT_PRIVILEGE,
        ] {
            assert!(!is_unavailable(&code), "{}", code.code());
        }
    }

    #[test]
    fn conflicts_are_named_in_plain_words() {
        assert_eq!(
            conflict_message(Some("organizations_label_key")),
            "organization label already exists"
        );
        assert_eq!(
            conflict_message(Some("credentials_client_id_key")),
            "client_id already exists"
        );
        assert_eq!(conflict_message(None), "unique value already exists ()");
    }
}
