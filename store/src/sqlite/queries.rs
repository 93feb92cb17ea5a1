//! Running the statements of [`crate::sql`] on a SQLite connection: binding
//! [`Value`]s, reading rows through [`Columns`], and a page's two queries.
//!
//! The caller decides where each runs: reads on the reader pool (a page inside one
//! read transaction), writes as jobs on the writer thread (already inside a
//! transaction and a savepoint).

use rusqlite::types::{ToSqlOutput, Type, ValueRef};
use rusqlite::{params_from_iter, Connection, OptionalExtension, Row, ToSql};

use crate::paging::PagePlan;
use crate::rows::{self, Columns, Value};
use crate::sql::{self, Statement};
use crate::{Credential, CredentialKey, NewToken, Page};

/// The three IDs that must all agree to reach a credential, owned so they can be
/// moved to another thread.
pub(super) struct OwnedCredentialKey {
    /// The organization's ID.
    pub(super) organization_id: String,
    /// The service account's ID.
    pub(super) service_account_id: String,
    /// The credential's ID.
    pub(super) credential_id: String,
}

impl OwnedCredentialKey {
    /// The key, borrowed again.
    pub(super) fn borrow(&self) -> CredentialKey<'_> {
        CredentialKey {
            organization_id: &self.organization_id,
            service_account_id: &self.service_account_id,
            credential_id: &self.credential_id,
        }
    }
}

impl ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match *self {
            Value::Text(Some(text)) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
            Value::Integer(Some(number)) => ToSqlOutput::from(number),
            Value::Bytes(bytes) => ToSqlOutput::Borrowed(ValueRef::Blob(bytes)),
            Value::Text(None) | Value::Integer(None) => ToSqlOutput::Borrowed(ValueRef::Null),
        })
    }
}

impl Columns for Row<'_> {
    type Error = rusqlite::Error;

    fn text(&self, index: usize) -> rusqlite::Result<String> {
        self.get(index)
    }

    fn optional_text(&self, index: usize) -> rusqlite::Result<Option<String>> {
        self.get(index)
    }

    fn integer(&self, index: usize) -> rusqlite::Result<i64> {
        self.get(index)
    }

    fn optional_integer(&self, index: usize) -> rusqlite::Result<Option<i64>> {
        self.get(index)
    }

    fn bytes(&self, index: usize) -> rusqlite::Result<Vec<u8>> {
        self.get(index)
    }

    fn optional_bytes(&self, index: usize) -> rusqlite::Result<Option<Vec<u8>>> {
        self.get(index)
    }

    fn boolean(&self, index: usize) -> rusqlite::Result<bool> {
        self.get(index)
    }

    fn corrupt(&self, index: usize, problem: String) -> rusqlite::Error {
        rusqlite::Error::FromSqlConversionFailure(index, Type::Text, problem.into())
    }
}

/// Runs a statement that returns at most one row, through the statement cache.
pub(super) fn query_opt<T>(
    conn: &Connection,
    statement: &Statement,
    params: &[Value<'_>],
    read: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Option<T>> {
    let mut prepared = conn.prepare_cached(statement.sqlite())?;
    prepared.query_row(params_from_iter(params), read).optional()
}

/// Runs a statement and returns its rows.
fn query_all<T>(
    conn: &Connection,
    statement: &Statement,
    params: &[Value<'_>],
    read: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    let mut prepared = conn.prepare_cached(statement.sqlite())?;
    let rows = prepared.query_map(params_from_iter(params), read)?;
    rows.collect()
}

/// Runs a statement and returns how many rows it changed.
pub(super) fn execute(conn: &Connection, statement: &Statement, params: &[Value<'_>]) -> rusqlite::Result<usize> {
    conn.prepare_cached(statement.sqlite())?
        .execute(params_from_iter(params))
}

/// Reads the page `plan` describes; run it inside one read transaction, so its
/// two queries see one snapshot.
pub(super) fn read_page<T>(
    conn: &Connection,
    plan: &PagePlan<'_>,
    read: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Page<T>> {
    let items = query_all(conn, plan.rows, &plan.rows_params, read)?;
    let beyond = match &plan.beyond {
        Some((statement, params)) => query_opt(conn, statement, params, |row| rows::exists(row))?.unwrap_or(false),
        None => false,
    };
    Ok(plan.page(items, beyond))
}

/// Stores a token: sweeps the credential's expired tokens, inserts the new one and
/// records the credential as used; false, and nothing inserted, if the credential is
/// gone, disabled or expired. Runs inside the writer's transaction, so the statements
/// stand or fall together, and the insert itself checks the credential (it selects
/// from it), so no deletion or disable can come between the check and the insert.
pub(super) fn insert_token(conn: &Connection, token: &NewToken) -> rusqlite::Result<bool> {
    execute(conn, &sql::SWEEP_EXPIRED_TOKENS, &rows::token_use(token))?;
    if execute(conn, &sql::ADD_TOKEN, &rows::new_token(token))? == 0 {
        return Ok(false);
    }
    execute(conn, &sql::TOUCH_CREDENTIAL, &rows::token_use(token))?;
    Ok(true)
}

/// Patches a credential ([`sql::UPDATE_CREDENTIAL`] with `params`) and then does what
/// the credential as written means for its tokens ([`rows::token_consequence`]), in
/// the writer's transaction.
pub(super) fn update_credential(conn: &Connection, params: &[Value<'_>]) -> rusqlite::Result<Option<Credential>> {
    let updated = query_opt(conn, &sql::UPDATE_CREDENTIAL, params, |row| rows::credential(row))?;
    if let Some((statement, params)) = updated.as_ref().and_then(rows::token_consequence) {
        execute(conn, statement, &params)?;
    }
    Ok(updated)
}

/// Rotates a credential's secret ([`sql::ROTATE_CREDENTIAL`] with `params`) and, with
/// `revoke_tokens`, deletes its tokens, in the writer's transaction.
pub(super) fn rotate_credential(
    conn: &Connection,
    params: &[Value<'_>],
    revoke_tokens: bool,
) -> rusqlite::Result<Option<Credential>> {
    let rotated = query_opt(conn, &sql::ROTATE_CREDENTIAL, params, |row| rows::credential(row))?;
    if let Some(credential) = rotated.as_ref().filter(|_| revoke_tokens) {
        execute(
            conn,
            &sql::REVOKE_CREDENTIAL_TOKENS,
            &rows::credential_tokens(&credential.id),
        )?;
    }
    Ok(rotated)
}
