//! The SQL for every store operation, as plain synchronous functions over a
//! connection, and the mapping between rows and domain types.
//!
//! The caller decides where each runs: reads on the reader pool, writes as jobs on
//! the writer thread (already inside a transaction and a savepoint).

use rusqlite::types::{ToSql, Type};
use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::{
    ClientRecord, Credential, CredentialPatch, Millis, NewCredential, NewToken, Organization, Page, PageRequest,
    PageStart, Position, Role, ServiceAccount, ServiceAccountPatch, TokenRecord,
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

/// Inserts a credential with its secret hash; `false`, inserting nothing, if its
/// service account is not in its organization. Runs inside the writer's
/// transaction, which holds the write lock, so no connection (in this process or
/// another) can delete the service account between the check and the insert.
pub(super) fn insert_credential(conn: &Connection, new: &NewCredential) -> rusqlite::Result<bool> {
    let credential = &new.credential;
    let mut check =
        conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM service_accounts WHERE id = ?1 AND organization_id = ?2)")?;
    let parent_exists: bool = check.query_row(
        params![credential.service_account_id, credential.organization_id],
        |row| row.get(0),
    )?;
    if !parent_exists {
        return Ok(false);
    }

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
    Ok(true)
}

/// Lists an organization's service accounts. Run it inside one read transaction:
/// a page takes two queries, which must see the same snapshot.
pub(super) fn list_service_accounts(
    conn: &Connection,
    organization_id: &str,
    page: &PageRequest,
) -> rusqlite::Result<Page<ServiceAccount>> {
    read_page(
        conn,
        &SERVICE_ACCOUNT_LIST,
        &[&organization_id],
        page,
        service_account_from_row,
    )
}

/// Reads one service account, only if it is in this organization.
pub(super) fn find_service_account(
    conn: &Connection,
    organization_id: &str,
    service_account_id: &str,
) -> rusqlite::Result<Option<ServiceAccount>> {
    let mut statement = conn.prepare_cached(
        "SELECT id, organization_id, name, description, role, created_at, updated_at
         FROM service_accounts
         WHERE id = ?1 AND organization_id = ?2",
    )?;
    statement
        .query_row(params![service_account_id, organization_id], service_account_from_row)
        .optional()
}

/// Applies `patch` in one statement and returns the row as stored afterwards;
/// `None` if the service account is not in this organization. `updated_at` moves
/// to `now` only if a field really changes (the right-hand sides all see the old row).
/// With `expected`, only a row still in exactly that state is updated (`None` otherwise).
pub(super) fn update_service_account(
    conn: &Connection,
    organization_id: &str,
    service_account_id: &str,
    patch: &ServiceAccountPatch,
    now: Millis,
    expected: Option<&ServiceAccount>,
) -> rusqlite::Result<Option<ServiceAccount>> {
    let mut statement = conn.prepare_cached(
        "UPDATE service_accounts
         SET name = COALESCE(?3, name),
             description = COALESCE(?4, description),
             role = COALESCE(?5, role),
             updated_at = CASE
                 WHEN (?3 IS NOT NULL AND ?3 IS NOT name)
                   OR (?4 IS NOT NULL AND ?4 IS NOT description)
                   OR (?5 IS NOT NULL AND ?5 IS NOT role)
                 THEN ?6
                 ELSE updated_at
             END
         WHERE id = ?1 AND organization_id = ?2
           AND (?7 IS NULL OR (updated_at = ?7 AND name = ?8 AND description IS ?9 AND role = ?10))
         RETURNING id, organization_id, name, description, role, created_at, updated_at",
    )?;
    statement
        .query_row(
            params![
                service_account_id,
                organization_id,
                patch.name,
                patch.description,
                patch.role.map(Role::as_str),
                now,
                expected.map(|stored| stored.updated_at),
                expected.map(|stored| stored.name.as_str()),
                expected.and_then(|stored| stored.description.as_deref()),
                expected.map(|stored| stored.role.as_str()),
            ],
            service_account_from_row,
        )
        .optional()
}

/// Deletes a service account if it is in this organization (and, with `expected`,
/// still in exactly that state); true if it was. `ON DELETE CASCADE` removes its
/// credentials and their tokens in the same statement, and so in the same transaction.
pub(super) fn delete_service_account(
    conn: &Connection,
    organization_id: &str,
    service_account_id: &str,
    expected: Option<&ServiceAccount>,
) -> rusqlite::Result<bool> {
    let mut statement = conn.prepare_cached(
        "DELETE FROM service_accounts
         WHERE id = ?1 AND organization_id = ?2
           AND (?3 IS NULL OR (updated_at = ?3 AND name = ?4 AND description IS ?5 AND role = ?6))",
    )?;
    let deleted = statement.execute(params![
        service_account_id,
        organization_id,
        expected.map(|stored| stored.updated_at),
        expected.map(|stored| stored.name.as_str()),
        expected.and_then(|stored| stored.description.as_deref()),
        expected.map(|stored| stored.role.as_str()),
    ])?;
    Ok(deleted > 0)
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
/// if a field really changes (the right-hand sides all see the old row). With
/// `expected`, only a row still in exactly that state is updated (`None` otherwise).
pub(super) fn update_credential(
    conn: &Connection,
    key: &OwnedCredentialKey,
    patch: &CredentialPatch,
    now: Millis,
    expected: Option<&Credential>,
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
           AND (?7 IS NULL OR (updated_at = ?7 AND name = ?8 AND description IS ?9))
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
                expected.map(|stored| stored.updated_at),
                expected.map(|stored| stored.name.as_str()),
                expected.and_then(|stored| stored.description.as_deref()),
            ],
            credential_from_row,
        )
        .optional()
}

/// Lists a service account's credentials, only those whose organization is also
/// `organization_id`. Run it inside one read transaction, as for
/// [`list_service_accounts`].
pub(super) fn list_credentials(
    conn: &Connection,
    organization_id: &str,
    service_account_id: &str,
    page: &PageRequest,
) -> rusqlite::Result<Page<Credential>> {
    read_page(
        conn,
        &CREDENTIAL_LIST,
        &[&organization_id, &service_account_id],
        page,
        credential_from_row,
    )
}

/// Deletes a credential, only if all three IDs agree (and, with `expected`, it is
/// still in exactly that state); true if it was deleted. `ON DELETE CASCADE` removes
/// its tokens in the same statement.
pub(super) fn delete_credential(
    conn: &Connection,
    key: &OwnedCredentialKey,
    expected: Option<&Credential>,
) -> rusqlite::Result<bool> {
    let mut statement = conn.prepare_cached(
        "DELETE FROM credentials
         WHERE id = ?1 AND service_account_id = ?2 AND organization_id = ?3
           AND (?4 IS NULL OR (updated_at = ?4 AND name = ?5 AND description IS ?6))",
    )?;
    let deleted = statement.execute(params![
        key.credential_id,
        key.service_account_id,
        key.organization_id,
        expected.map(|stored| stored.updated_at),
        expected.map(|stored| stored.name.as_str()),
        expected.and_then(|stored| stored.description.as_deref()),
    ])?;
    Ok(deleted > 0)
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
/// records the credential as used; false, and nothing inserted, if the credential is
/// gone. Runs inside the writer's transaction, so the statements stand or fall
/// together, and the insert itself checks that the credential exists (it selects
/// from it), so no deletion can come between the check and the insert.
pub(super) fn insert_token(conn: &Connection, token: &NewToken) -> rusqlite::Result<bool> {
    let mut sweep = conn.prepare_cached("DELETE FROM tokens WHERE credential_id = ?1 AND expires_at <= ?2")?;
    sweep.execute(params![token.credential_id, token.created_at])?;

    let mut insert = conn.prepare_cached(
        "INSERT INTO tokens (id, secret_hash, credential_id, created_at, expires_at)
         SELECT ?1, ?2, id, ?4, ?5 FROM credentials WHERE id = ?3",
    )?;
    let inserted = insert.execute(params![
        token.id,
        token.secret_hash,
        token.credential_id,
        token.created_at,
        token.expires_at,
    ])?;

    if inserted == 0 {
        return Ok(false);
    }

    let mut touch = conn.prepare_cached("UPDATE credentials SET last_used_at = ?2 WHERE id = ?1")?;
    touch.execute(params![token.credential_id, token.created_at])?;
    Ok(true)
}

/// The key list cursors are signed with (made by migration 3).
pub(super) fn cursor_key(conn: &Connection) -> rusqlite::Result<Vec<u8>> {
    conn.prepare_cached("SELECT key FROM cursor_keys WHERE id = 1")?
        .query_row([], |row| row.get(0))
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

/// The SQL of one keyset-paginated list, ordered by `(created_at, id)` ascending.
///
/// Parameters are numbered in one order in every statement: the list's filter
/// columns first (`?1`, and `?2` if there are two), then the position's
/// `created_at` and `id` (where the statement has a position), then the row limit
/// (where it has one). Positions are compared as row values, which SQLite turns
/// into a range on the list's `(…, created_at, id)` index.
pub(super) struct ListSql {
    /// The first rows of the list, ascending.
    pub(super) first: &'static str,
    /// The first rows strictly after a position, ascending.
    pub(super) after: &'static str,
    /// The last rows strictly before a position, DESCENDING (nearest first).
    pub(super) before: &'static str,
    /// Whether any row sits at or before a position.
    pub(super) any_at_or_before: &'static str,
    /// Whether any row sits at or after a position.
    pub(super) any_at_or_after: &'static str,
}

/// An organization's service accounts; filter `?1` = organization ID.
pub(super) const SERVICE_ACCOUNT_LIST: ListSql = ListSql {
    first: "SELECT id, organization_id, name, description, role, created_at, updated_at
            FROM service_accounts
            WHERE organization_id = ?1
            ORDER BY created_at, id
            LIMIT ?2",
    after: "SELECT id, organization_id, name, description, role, created_at, updated_at
            FROM service_accounts
            WHERE organization_id = ?1 AND (created_at, id) > (?2, ?3)
            ORDER BY created_at, id
            LIMIT ?4",
    before: "SELECT id, organization_id, name, description, role, created_at, updated_at
             FROM service_accounts
             WHERE organization_id = ?1 AND (created_at, id) < (?2, ?3)
             ORDER BY created_at DESC, id DESC
             LIMIT ?4",
    any_at_or_before: "SELECT EXISTS (
                           SELECT 1 FROM service_accounts
                           WHERE organization_id = ?1 AND (created_at, id) <= (?2, ?3)
                       )",
    any_at_or_after: "SELECT EXISTS (
                          SELECT 1 FROM service_accounts
                          WHERE organization_id = ?1 AND (created_at, id) >= (?2, ?3)
                      )",
};

/// A service account's credentials; filters `?1` = organization ID and `?2` =
/// service account ID, both required so no list reaches across organizations.
pub(super) const CREDENTIAL_LIST: ListSql = ListSql {
    first: "SELECT id, organization_id, service_account_id, client_id, name, description,
                   created_at, updated_at, last_used_at
            FROM credentials
            WHERE organization_id = ?1 AND service_account_id = ?2
            ORDER BY created_at, id
            LIMIT ?3",
    after: "SELECT id, organization_id, service_account_id, client_id, name, description,
                   created_at, updated_at, last_used_at
            FROM credentials
            WHERE organization_id = ?1 AND service_account_id = ?2 AND (created_at, id) > (?3, ?4)
            ORDER BY created_at, id
            LIMIT ?5",
    before: "SELECT id, organization_id, service_account_id, client_id, name, description,
                    created_at, updated_at, last_used_at
             FROM credentials
             WHERE organization_id = ?1 AND service_account_id = ?2 AND (created_at, id) < (?3, ?4)
             ORDER BY created_at DESC, id DESC
             LIMIT ?5",
    any_at_or_before: "SELECT EXISTS (
                           SELECT 1 FROM credentials
                           WHERE organization_id = ?1 AND service_account_id = ?2
                             AND (created_at, id) <= (?3, ?4)
                       )",
    any_at_or_after: "SELECT EXISTS (
                          SELECT 1 FROM credentials
                          WHERE organization_id = ?1 AND service_account_id = ?2
                            AND (created_at, id) >= (?3, ?4)
                      )",
};

/// Reads one page of the list `sql` describes, restricted by `filter` (its
/// leading parameters). Fetches one row more than the limit to learn whether the
/// list goes on in the reading direction, and asks about the other direction with
/// an EXISTS query; the caller runs both in one transaction.
fn read_page<T>(
    conn: &Connection,
    sql: &ListSql,
    filter: &[&dyn ToSql],
    page: &PageRequest,
    from_row: fn(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Page<T>> {
    let limit = page.limit;
    // One row past the page says whether the list goes on; usize to i64 cannot
    // overflow in practice, and a huge limit simply means "everything".
    let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
    match &page.start {
        PageStart::First => {
            let mut items = query_rows(conn, sql.first, filter, None, fetch, from_row)?;
            let has_next_page = items.len() > limit;
            items.truncate(limit);
            Ok(Page {
                items,
                has_next_page,
                has_prev_page: false,
            })
        }
        PageStart::After(position) => {
            let mut items = query_rows(conn, sql.after, filter, Some(position), fetch, from_row)?;
            let has_next_page = items.len() > limit;
            items.truncate(limit);
            // Nothing lies between the position and the page's first item, so
            // "before the page" is "at or before the position".
            let has_prev_page = any_row(conn, sql.any_at_or_before, filter, position)?;
            Ok(Page {
                items,
                has_next_page,
                has_prev_page,
            })
        }
        PageStart::Before(position) => {
            // Nearest first: the extra row, if any, is the farthest one.
            let mut items = query_rows(conn, sql.before, filter, Some(position), fetch, from_row)?;
            let has_prev_page = items.len() > limit;
            items.truncate(limit);
            items.reverse();
            let has_next_page = any_row(conn, sql.any_at_or_after, filter, position)?;
            Ok(Page {
                items,
                has_next_page,
                has_prev_page,
            })
        }
    }
}

/// Runs one of a list's row queries: `filter`, then `position` if given, then `limit`.
fn query_rows<T>(
    conn: &Connection,
    sql: &str,
    filter: &[&dyn ToSql],
    position: Option<&Position>,
    limit: i64,
    from_row: fn(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    let mut values: Vec<&dyn ToSql> = filter.to_vec();
    if let Some(position) = position {
        values.push(&position.created_at);
        values.push(&position.id);
    }
    values.push(&limit);
    let mut statement = conn.prepare_cached(sql)?;
    let rows = statement.query_map(values.as_slice(), from_row)?;
    rows.collect()
}

/// Runs one of a list's EXISTS queries: `filter`, then `position`.
fn any_row(conn: &Connection, sql: &str, filter: &[&dyn ToSql], position: &Position) -> rusqlite::Result<bool> {
    let mut values: Vec<&dyn ToSql> = filter.to_vec();
    values.push(&position.created_at);
    values.push(&position.id);
    let mut statement = conn.prepare_cached(sql)?;
    statement.query_row(values.as_slice(), |row| row.get(0))
}

/// Builds a [`ServiceAccount`] from the seven columns, in the order the service
/// account queries above select them.
fn service_account_from_row(row: &Row<'_>) -> rusqlite::Result<ServiceAccount> {
    Ok(ServiceAccount {
        id: row.get(0)?,
        organization_id: row.get(1)?,
        name: row.get(2)?,
        description: row.get(3)?,
        role: role_from_column(row, 4)?,
        created_at: row.get(5)?,
        updated_at: row.get(6)?,
    })
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
