//! The SQL for every store operation, as plain synchronous functions over a
//! connection, and the mapping between rows and domain types.
//!
//! The caller decides where each runs: reads on the reader pool, writes as jobs on
//! the writer thread (already inside a transaction and a savepoint).

use rusqlite::types::Type;
use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::storage::{
    ClientRecord, Credential, CredentialPatch, Millis, NewCredential, NewToken, Organization, Role, ServiceAccount,
    TokenRecord,
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

/// Finds an organization by ID or, failing that, by label. IDs win: should one
/// organization's label equal another's ID, the ID match is returned.
pub(super) fn find_organization(conn: &Connection, id_or_label: &str) -> rusqlite::Result<Option<Organization>> {
    let mut statement = conn.prepare_cached(
        "SELECT id, label, name, created_at, updated_at
         FROM organizations
         WHERE id = ?1 OR label = ?1
         ORDER BY (id = ?1) DESC
         LIMIT 1",
    )?;
    statement
        .query_row(params![id_or_label], |row| {
            Ok(Organization {
                id: row.get(0)?,
                label: row.get(1)?,
                name: row.get(2)?,
                created_at: row.get(3)?,
                updated_at: row.get(4)?,
            })
        })
        .optional()
}

/// Inserts an organization.
pub(super) fn insert_organization(conn: &Connection, organization: &Organization) -> rusqlite::Result<()> {
    let mut statement = conn.prepare_cached(
        "INSERT INTO organizations (id, label, name, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    statement.execute(params![
        organization.id,
        organization.label,
        organization.name,
        organization.created_at,
        organization.updated_at,
    ])?;
    Ok(())
}

/// Inserts a service account.
pub(super) fn insert_service_account(conn: &Connection, service_account: &ServiceAccount) -> rusqlite::Result<()> {
    let mut statement = conn.prepare_cached(
        "INSERT INTO service_accounts
             (id, organization_id, name, description, role, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    statement.execute(params![
        service_account.id,
        service_account.organization_id,
        service_account.name,
        service_account.description,
        service_account.role.as_str(),
        service_account.created_at,
        service_account.updated_at,
    ])?;
    Ok(())
}

/// Inserts a credential with its secret hash.
pub(super) fn insert_credential(conn: &Connection, new: &NewCredential) -> rusqlite::Result<()> {
    let credential = &new.credential;
    let mut statement = conn.prepare_cached(
        "INSERT INTO credentials
             (id, organization_id, service_account_id, client_id, secret_hash, name,
              description, created_at, updated_at, last_used_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    statement.execute(params![
        credential.id,
        credential.organization_id,
        credential.service_account_id,
        credential.client_id,
        new.secret_hash,
        credential.name,
        credential.description,
        credential.created_at,
        credential.updated_at,
        credential.last_used_at,
    ])?;
    Ok(())
}

/// Reads one credential, only if all three IDs agree.
pub(super) fn find_credential(conn: &Connection, key: &OwnedCredentialKey) -> rusqlite::Result<Option<Credential>> {
    let mut statement = conn.prepare_cached(
        "SELECT id, organization_id, service_account_id, client_id, name, description,
                created_at, updated_at, last_used_at
         FROM credentials
         WHERE id = ?1 AND service_account_id = ?2 AND organization_id = ?3",
    )?;
    statement
        .query_row(
            params![key.credential_id, key.service_account_id, key.organization_id],
            credential_from_row,
        )
        .optional()
}

/// Applies `patch` in one statement and returns the row as stored afterwards;
/// `None` if no credential matches all three IDs. `updated_at` moves to `now` only
/// if a field really changes (the right-hand sides all see the old row).
pub(super) fn update_credential(
    conn: &Connection,
    key: &OwnedCredentialKey,
    patch: &CredentialPatch,
    now: Millis,
) -> rusqlite::Result<Option<Credential>> {
    let mut statement = conn.prepare_cached(
        "UPDATE credentials
         SET name = COALESCE(?4, name),
             description = COALESCE(?5, description),
             updated_at = CASE
                 WHEN (?4 IS NOT NULL AND ?4 IS NOT name)
                   OR (?5 IS NOT NULL AND ?5 IS NOT description)
                 THEN ?6
                 ELSE updated_at
             END
         WHERE id = ?1 AND service_account_id = ?2 AND organization_id = ?3
         RETURNING id, organization_id, service_account_id, client_id, name, description,
                   created_at, updated_at, last_used_at",
    )?;
    statement
        .query_row(
            params![
                key.credential_id,
                key.service_account_id,
                key.organization_id,
                patch.name,
                patch.description,
                now,
            ],
            credential_from_row,
        )
        .optional()
}

/// Looks up a credential and its secret hash by client_id.
pub(super) fn find_client(conn: &Connection, client_id: &str) -> rusqlite::Result<Option<ClientRecord>> {
    let mut statement = conn.prepare_cached(
        "SELECT id, organization_id, service_account_id, client_id, name, description,
                created_at, updated_at, last_used_at, secret_hash
         FROM credentials
         WHERE client_id = ?1",
    )?;
    statement
        .query_row(params![client_id], |row| {
            Ok(ClientRecord {
                credential: credential_from_row(row)?,
                secret_hash: row.get(9)?,
            })
        })
        .optional()
}

/// Stores a token: sweeps the credential's expired tokens, inserts the new one and
/// records the credential as used. Runs inside the writer's transaction, so the
/// three statements stand or fall together.
pub(super) fn insert_token(conn: &Connection, token: &NewToken) -> rusqlite::Result<()> {
    let mut sweep = conn.prepare_cached("DELETE FROM tokens WHERE credential_id = ?1 AND expires_at <= ?2")?;
    sweep.execute(params![token.credential_id, token.created_at])?;

    let mut insert = conn.prepare_cached(
        "INSERT INTO tokens (id, secret_hash, credential_id, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    insert.execute(params![
        token.id,
        token.secret_hash,
        token.credential_id,
        token.created_at,
        token.expires_at,
    ])?;

    let mut touch = conn.prepare_cached("UPDATE credentials SET last_used_at = ?2 WHERE id = ?1")?;
    touch.execute(params![token.credential_id, token.created_at])?;
    Ok(())
}

/// Finds a token with the identity it speaks for; `None` if the token, its
/// credential or its service account is gone. The join also requires the service
/// account to be in the credential's organization.
pub(super) fn find_token(conn: &Connection, token_id: &str) -> rusqlite::Result<Option<TokenRecord>> {
    let mut statement = conn.prepare_cached(
        "SELECT t.id, t.secret_hash, t.expires_at, t.credential_id,
                c.service_account_id, c.organization_id, sa.role
         FROM tokens AS t
         JOIN credentials AS c ON c.id = t.credential_id
         JOIN service_accounts AS sa
             ON sa.id = c.service_account_id AND sa.organization_id = c.organization_id
         WHERE t.id = ?1",
    )?;
    statement
        .query_row(params![token_id], |row| {
            Ok(TokenRecord {
                id: row.get(0)?,
                secret_hash: row.get(1)?,
                expires_at: row.get(2)?,
                credential_id: row.get(3)?,
                service_account_id: row.get(4)?,
                organization_id: row.get(5)?,
                role: role_from_column(row, 6)?,
            })
        })
        .optional()
}

/// Builds a [`Credential`] from the first nine columns, in the order the
/// credential queries above select them.
fn credential_from_row(row: &Row<'_>) -> rusqlite::Result<Credential> {
    Ok(Credential {
        id: row.get(0)?,
        organization_id: row.get(1)?,
        service_account_id: row.get(2)?,
        client_id: row.get(3)?,
        name: row.get(4)?,
        description: row.get(5)?,
        created_at: row.get(6)?,
        updated_at: row.get(7)?,
        last_used_at: row.get(8)?,
    })
}

/// Reads a role name column; an unknown name (the CHECK constraint should make
/// that impossible) is a conversion error rather than a guess.
fn role_from_column(row: &Row<'_>, index: usize) -> rusqlite::Result<Role> {
    let name: String = row.get(index)?;
    Role::parse(&name).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(index, Type::Text, format!("unknown role {name:?}").into())
    })
}
