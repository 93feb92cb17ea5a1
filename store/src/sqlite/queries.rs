//! Running the statements of [`crate::sql`] on a SQLite connection: binding
//! [`Value`]s, reading rows through [`Columns`], and a page's two queries.
//!
//! The caller decides where each runs: reads on the reader pool (a page inside one
//! read transaction), writes as jobs on the writer thread (already inside a
//! transaction and a savepoint).

use rusqlite::types::{ToSqlOutput, Type, ValueRef};
use rusqlite::{params_from_iter, Connection, OptionalExtension, Row, ToSql};

use super::writer::WriteConnection;
use crate::audit::{AuditAction, AuditContext, AuditEvent};
use crate::paging::PagePlan;
use crate::rows::{self, AuditRow, Columns, Value};
use crate::sql::{self, Statement};
use crate::{
    Credential, CredentialKey, CredentialPatch, Millis, NewToken, Page, Rotation, ServiceAccount, ServiceAccountPatch,
};

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
pub(super) fn query_all<T>(
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

/// Inserts the audit events a write batch's jobs recorded, inside the batch's
/// transaction (and so in the same one as the changes they record):
/// [`sql::AUDIT_EVENTS_PER_INSERT`] to a statement, the rest one by one.
pub(super) fn insert_audit_events(conn: &Connection, events: Vec<AuditEvent>) -> rusqlite::Result<()> {
    let rows: Vec<AuditRow> = events.into_iter().map(|event| AuditRow::new(event, None)).collect();
    let mut groups = rows.chunks_exact(sql::AUDIT_EVENTS_PER_INSERT);
    for group in groups.by_ref() {
        let params: Vec<Value<'_>> = group.iter().flat_map(AuditRow::params).collect();
        execute(conn, &sql::INSERT_AUDIT_EVENTS, &params)?;
    }
    for row in groups.remainder() {
        execute(conn, &sql::INSERT_AUDIT_EVENT, &row.params())?;
    }
    Ok(())
}

/// Stores a token: sweeps the credential's expired tokens, inserts the new one,
/// records the credential as used and records `token.issued`; false, and nothing
/// inserted, if the credential is gone, disabled or expired. Runs inside the
/// writer's transaction, so the statements stand or fall together, and the insert
/// itself checks the credential (it selects from it), so no deletion or disable can
/// come between the check and the insert.
pub(super) fn insert_token(
    conn: &WriteConnection<'_>,
    token: &NewToken,
    audit: &AuditContext,
) -> rusqlite::Result<bool> {
    execute(conn, &sql::SWEEP_EXPIRED_TOKENS, &rows::token_use(token))?;
    if execute(conn, &sql::ADD_TOKEN, &rows::new_token(token))? == 0 {
        return Ok(false);
    }
    execute(conn, &sql::TOUCH_CREDENTIAL, &rows::token_use(token))?;
    conn.record(audit.credential_event(AuditAction::TokenIssued, token.credential()));
    Ok(true)
}

/// Patches a service account and records what changed, in the writer's transaction.
pub(super) fn update_service_account(
    conn: &WriteConnection<'_>,
    organization_id: &str,
    service_account_id: &str,
    patch: &ServiceAccountPatch,
    now: Millis,
    expected: Option<&ServiceAccount>,
    audit: &AuditContext,
) -> rusqlite::Result<Option<ServiceAccount>> {
    let key = rows::service_account_key(organization_id, service_account_id);
    let Some(before) = query_opt(conn, &sql::FIND_SERVICE_ACCOUNT, &key, |row| rows::service_account(row))? else {
        return Ok(None);
    };
    let params = rows::service_account_update(organization_id, service_account_id, patch, now, expected);
    let updated = query_opt(conn, &sql::UPDATE_SERVICE_ACCOUNT, &params, |row| {
        rows::service_account(row)
    })?;
    if let Some(event) = updated
        .as_ref()
        .and_then(|after| audit.service_account_update_event(&before, after))
    {
        conn.record(event);
    }
    Ok(updated)
}

/// Deletes a service account with its credentials, recording `service_account.deleted`
/// and a `credential.deleted` for each credential, in the writer's transaction.
pub(super) fn delete_service_account(
    conn: &WriteConnection<'_>,
    organization_id: &str,
    service_account_id: &str,
    expected: Option<&ServiceAccount>,
    audit: &AuditContext,
) -> rusqlite::Result<bool> {
    let key = rows::service_account_key(organization_id, service_account_id);
    let Some(before) = query_opt(conn, &sql::FIND_SERVICE_ACCOUNT, &key, |row| rows::service_account(row))? else {
        return Ok(false);
    };
    let credentials = query_all(conn, &sql::CREDENTIALS_OF_SERVICE_ACCOUNT, &key, |row| {
        rows::credential(row)
    })?;
    let params = rows::service_account_delete(organization_id, service_account_id, expected);
    if execute(conn, &sql::DELETE_SERVICE_ACCOUNT, &params)? == 0 {
        return Ok(false);
    }
    for credential in &credentials {
        conn.record(audit.credential_event(AuditAction::CredentialDeleted, credential.key()));
    }
    conn.record(audit.service_account_event(AuditAction::ServiceAccountDeleted, &before));
    Ok(true)
}

/// Patches a credential, does what the credential as written means for its tokens
/// ([`rows::token_consequence`]) and records what changed, in the writer's
/// transaction. The row read before the update, which the audit trail needs, and
/// the patch give the row after it; nothing reads it back.
pub(super) fn update_credential(
    conn: &WriteConnection<'_>,
    key: CredentialKey<'_>,
    patch: &CredentialPatch,
    now: Millis,
    expected: Option<&Credential>,
    audit: &AuditContext,
) -> rusqlite::Result<Option<Credential>> {
    let found = query_opt(
        conn,
        &sql::FIND_CREDENTIAL_AND_ROWID,
        &rows::credential_key(&key),
        |row| rows::credential_and_rowid(row),
    )?;
    let Some((before, rowid)) = found else {
        return Ok(None);
    };
    let params = rows::credential_update_in_place(&key, patch, now, expected, rowid);
    if execute(conn, &sql::UPDATE_CREDENTIAL_IN_PLACE, &params)? == 0 {
        // Not in the expected state: nothing written.
        return Ok(None);
    }
    let updated = before.patched(patch, now);
    if let Some((statement, params)) = rows::token_consequence(&updated) {
        execute(conn, statement, &params)?;
    }
    if let Some(event) = audit.credential_update_event(&before, &updated) {
        conn.record(event);
    }
    Ok(Some(updated))
}

/// Rotates a credential's secret, with `revoke_tokens` deletes its tokens, and
/// records `credential.rotated`, in the writer's transaction.
pub(super) fn rotate_credential(
    conn: &WriteConnection<'_>,
    key: CredentialKey<'_>,
    rotation: &Rotation,
    expected: Option<&Credential>,
    audit: &AuditContext,
) -> rusqlite::Result<Option<Credential>> {
    let params = rows::credential_rotation(&key, rotation, expected);
    let rotated = query_opt(conn, &sql::ROTATE_CREDENTIAL, &params, |row| rows::credential(row))?;
    if let Some(credential) = &rotated {
        if rotation.revoke_tokens {
            execute(
                conn,
                &sql::REVOKE_CREDENTIAL_TOKENS,
                &rows::credential_tokens(&credential.id),
            )?;
        }
        conn.record(audit.credential_event(AuditAction::CredentialRotated, key));
    }
    Ok(rotated)
}
