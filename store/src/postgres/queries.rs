//! The SQL for every store operation on PostgreSQL, and the mapping between rows and
//! domain types.
//!
//! Each write is one statement, so it is atomic on its own and never reads a row
//! in one statement to write it back in another: a PATCH is a single
//! `UPDATE … RETURNING` whose right-hand sides see the row as it is when the row
//! lock is taken (PostgreSQL re-reads a row that a concurrent transaction changed
//! before updating it), so two PATCHes of different fields can never undo each
//! other. Parameters carry explicit casts where PostgreSQL could not infer their
//! type from a column.

use deadpool_postgres::{ClientWrapper, Transaction};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::error::{from_pg, is_foreign_key_violation};
use crate::{
    ClientRecord, Credential, CredentialKey, CredentialPatch, Millis, NewCredential, NewToken, Organization, Page,
    PageRequest, PageStart, Position, Role, ServiceAccount, ServiceAccountPatch, StorageError, StorageResult,
    TokenRecord,
};

/// The columns of a credential, in the order [`credential_from_row`] reads them.
const CREDENTIAL_COLUMNS: &str =
    "id, organization_id, service_account_id, client_id, name, description, created_at, updated_at, last_used_at";

/// The columns of a service account, in the order [`service_account_from_row`] reads them.
const SERVICE_ACCOUNT_COLUMNS: &str = "id, organization_id, name, description, role, created_at, updated_at";

/// Runs one statement that returns at most one row, through the connection's
/// statement cache.
async fn query_opt(
    client: &ClientWrapper,
    op: &str,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> StorageResult<Option<Row>> {
    let statement = client.prepare_cached(sql).await.map_err(|err| from_pg(op, err))?;
    client
        .query_opt(&statement, params)
        .await
        .map_err(|err| from_pg(op, err))
}

/// Runs one statement and returns how many rows it changed; the raw driver error,
/// so that callers can tell a missing parent row from other failures.
async fn execute_raw(
    client: &ClientWrapper,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, tokio_postgres::Error> {
    let statement = client.prepare_cached(sql).await?;
    client.execute(&statement, params).await
}

/// Finds an organization by ID or, failing that, by label. IDs win: should one
/// organization's label equal another's ID, the ID match is returned.
pub(super) async fn find_organization(
    client: &ClientWrapper,
    id_or_label: &str,
) -> StorageResult<Option<Organization>> {
    let op = "find organization";
    let row = query_opt(
        client,
        op,
        "SELECT id, label, name, created_at, updated_at
         FROM organizations
         WHERE id = $1 OR label = $1
         ORDER BY (id = $1) DESC
         LIMIT 1",
        &[&id_or_label],
    )
    .await?;
    row.map(|row| {
        Ok(Organization {
            id: get(&row, 0, op)?,
            label: get(&row, 1, op)?,
            name: get(&row, 2, op)?,
            created_at: get(&row, 3, op)?,
            updated_at: get(&row, 4, op)?,
        })
    })
    .transpose()
}

/// Inserts an organization; `Conflict` if its ID or label is taken.
pub(super) async fn insert_organization(client: &ClientWrapper, organization: &Organization) -> StorageResult<()> {
    execute_raw(
        client,
        "INSERT INTO organizations (id, label, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)",
        &[
            &organization.id,
            &organization.label,
            &organization.name,
            &organization.created_at,
            &organization.updated_at,
        ],
    )
    .await
    .map(drop)
    .map_err(|err| from_pg("create organization", err))
}

/// Inserts a service account; an unknown organization is an `Internal` error
/// naming it, as on SQLite.
pub(super) async fn insert_service_account(
    client: &ClientWrapper,
    service_account: &ServiceAccount,
) -> StorageResult<()> {
    let op = "create service account";
    let result = execute_raw(
        client,
        "INSERT INTO service_accounts (id, organization_id, name, description, role, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &service_account.id,
            &service_account.organization_id,
            &service_account.name,
            &service_account.description,
            &service_account.role.as_str(),
            &service_account.created_at,
            &service_account.updated_at,
        ],
    )
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(err) if is_foreign_key_violation(&err) => Err(StorageError::Internal(format!(
            "{op}: organization {} does not exist",
            service_account.organization_id
        ))),
        Err(err) => Err(from_pg(op, err)),
    }
}

/// Inserts a credential with its secret hash; `false`, inserting nothing, if its
/// service account is not in its organization. The check and the insert are one
/// statement; should the service account be deleted between them, the foreign key
/// (which names both columns) refuses the row, and that is the same `false`.
pub(super) async fn insert_credential(client: &ClientWrapper, new: &NewCredential) -> StorageResult<bool> {
    let credential = &new.credential;
    let secret_hash = new.secret_hash.as_slice();
    let result = execute_raw(
        client,
        "INSERT INTO credentials
             (id, organization_id, service_account_id, client_id, secret_hash, name,
              description, created_at, updated_at, last_used_at)
         SELECT $1::text, $2::text, $3::text, $4::text, $5::bytea, $6::text,
                $7::text, $8::bigint, $9::bigint, $10::bigint
         WHERE EXISTS (SELECT 1 FROM service_accounts WHERE id = $3::text AND organization_id = $2::text)",
        &[
            &credential.id,
            &credential.organization_id,
            &credential.service_account_id,
            &credential.client_id,
            &secret_hash,
            &credential.name,
            &credential.description,
            &credential.created_at,
            &credential.updated_at,
            &credential.last_used_at,
        ],
    )
    .await;
    match result {
        Ok(inserted) => Ok(inserted > 0),
        Err(err) if is_foreign_key_violation(&err) => Ok(false),
        Err(err) => Err(from_pg("create credential", err)),
    }
}

/// Reads one service account, only if it is in this organization.
pub(super) async fn find_service_account(
    client: &ClientWrapper,
    organization_id: &str,
    service_account_id: &str,
) -> StorageResult<Option<ServiceAccount>> {
    let op = "find service account";
    let sql = format!("SELECT {SERVICE_ACCOUNT_COLUMNS} FROM service_accounts WHERE id = $1 AND organization_id = $2");
    let row = query_opt(client, op, &sql, &[&service_account_id, &organization_id]).await?;
    row.map(|row| service_account_from_row(&row, op)).transpose()
}

/// Applies `patch` in one statement and returns the row as stored afterwards;
/// `None` if the service account is not in this organization. `updated_at` moves
/// to `now` only if a field really changes (the right-hand sides all see the row
/// before this update, and after any update committed before it). With `expected`,
/// only a row still in exactly that state is updated (`None` otherwise): under READ
/// COMMITTED, a row another transaction changed meanwhile has the WHERE re-checked
/// against its new version, so two such updates of one version cannot both apply.
pub(super) async fn update_service_account(
    client: &ClientWrapper,
    organization_id: &str,
    service_account_id: &str,
    patch: &ServiceAccountPatch,
    now: Millis,
    expected: Option<&ServiceAccount>,
) -> StorageResult<Option<ServiceAccount>> {
    let op = "update service account";
    let sql = format!(
        "UPDATE service_accounts
         SET name = COALESCE($3::text, name),
             description = COALESCE($4::text, description),
             role = COALESCE($5::text, role),
             updated_at = CASE
                 WHEN ($3::text IS NOT NULL AND $3::text IS DISTINCT FROM name)
                   OR ($4::text IS NOT NULL AND $4::text IS DISTINCT FROM description)
                   OR ($5::text IS NOT NULL AND $5::text IS DISTINCT FROM role)
                 THEN $6::bigint
                 ELSE updated_at
             END
         WHERE id = $1 AND organization_id = $2
           AND ($7::bigint IS NULL OR (updated_at = $7::bigint AND name = $8::text
                AND description IS NOT DISTINCT FROM $9::text AND role = $10::text))
         RETURNING {SERVICE_ACCOUNT_COLUMNS}"
    );
    let role = patch.role.map(Role::as_str);
    let expected_updated_at = expected.map(|stored| stored.updated_at);
    let expected_name = expected.map(|stored| stored.name.as_str());
    let expected_description = expected.and_then(|stored| stored.description.as_deref());
    let expected_role = expected.map(|stored| stored.role.as_str());
    let row = query_opt(
        client,
        op,
        &sql,
        &[
            &service_account_id,
            &organization_id,
            &patch.name,
            &patch.description,
            &role,
            &now,
            &expected_updated_at,
            &expected_name,
            &expected_description,
            &expected_role,
        ],
    )
    .await?;
    row.map(|row| service_account_from_row(&row, op)).transpose()
}

/// Deletes a service account if it is in this organization (and, with `expected`,
/// still in exactly that state); true if it was. `ON DELETE CASCADE` removes its
/// credentials and their tokens in the same statement, and so in the same transaction.
pub(super) async fn delete_service_account(
    client: &ClientWrapper,
    organization_id: &str,
    service_account_id: &str,
    expected: Option<&ServiceAccount>,
) -> StorageResult<bool> {
    let expected_updated_at = expected.map(|stored| stored.updated_at);
    let expected_name = expected.map(|stored| stored.name.as_str());
    let expected_description = expected.and_then(|stored| stored.description.as_deref());
    let expected_role = expected.map(|stored| stored.role.as_str());
    execute_raw(
        client,
        "DELETE FROM service_accounts
         WHERE id = $1 AND organization_id = $2
           AND ($3::bigint IS NULL OR (updated_at = $3::bigint AND name = $4::text
                AND description IS NOT DISTINCT FROM $5::text AND role = $6::text))",
        &[
            &service_account_id,
            &organization_id,
            &expected_updated_at,
            &expected_name,
            &expected_description,
            &expected_role,
        ],
    )
    .await
    .map(|deleted| deleted > 0)
    .map_err(|err| from_pg("delete service account", err))
}

/// Reads one credential, only if all three IDs agree.
pub(super) async fn find_credential(
    client: &ClientWrapper,
    key: CredentialKey<'_>,
) -> StorageResult<Option<Credential>> {
    let op = "find credential";
    let sql = format!(
        "SELECT {CREDENTIAL_COLUMNS} FROM credentials
         WHERE id = $1 AND service_account_id = $2 AND organization_id = $3"
    );
    let row = query_opt(
        client,
        op,
        &sql,
        &[&key.credential_id, &key.service_account_id, &key.organization_id],
    )
    .await?;
    row.map(|row| credential_from_row(&row, op)).transpose()
}

/// Applies `patch` in one statement and returns the row as stored afterwards;
/// `None` if no credential matches all three IDs. `updated_at` moves to `now` only
/// if a field really changes. With `expected`, only a row still in exactly that state
/// is updated (`None` otherwise), atomically as in [`update_service_account`].
pub(super) async fn update_credential(
    client: &ClientWrapper,
    key: CredentialKey<'_>,
    patch: &CredentialPatch,
    now: Millis,
    expected: Option<&Credential>,
) -> StorageResult<Option<Credential>> {
    let op = "update credential";
    let sql = format!(
        "UPDATE credentials
         SET name = COALESCE($4::text, name),
             description = COALESCE($5::text, description),
             updated_at = CASE
                 WHEN ($4::text IS NOT NULL AND $4::text IS DISTINCT FROM name)
                   OR ($5::text IS NOT NULL AND $5::text IS DISTINCT FROM description)
                 THEN $6::bigint
                 ELSE updated_at
             END
         WHERE id = $1 AND service_account_id = $2 AND organization_id = $3
           AND ($7::bigint IS NULL OR (updated_at = $7::bigint AND name = $8::text
                AND description IS NOT DISTINCT FROM $9::text))
         RETURNING {CREDENTIAL_COLUMNS}"
    );
    let expected_updated_at = expected.map(|stored| stored.updated_at);
    let expected_name = expected.map(|stored| stored.name.as_str());
    let expected_description = expected.and_then(|stored| stored.description.as_deref());
    let row = query_opt(
        client,
        op,
        &sql,
        &[
            &key.credential_id,
            &key.service_account_id,
            &key.organization_id,
            &patch.name,
            &patch.description,
            &now,
            &expected_updated_at,
            &expected_name,
            &expected_description,
        ],
    )
    .await?;
    row.map(|row| credential_from_row(&row, op)).transpose()
}

/// Deletes a credential, only if all three IDs agree (and, with `expected`, it is
/// still in exactly that state); true if it was deleted. `ON DELETE CASCADE` removes
/// its tokens in the same statement.
pub(super) async fn delete_credential(
    client: &ClientWrapper,
    key: CredentialKey<'_>,
    expected: Option<&Credential>,
) -> StorageResult<bool> {
    let expected_updated_at = expected.map(|stored| stored.updated_at);
    let expected_name = expected.map(|stored| stored.name.as_str());
    let expected_description = expected.and_then(|stored| stored.description.as_deref());
    execute_raw(
        client,
        "DELETE FROM credentials
         WHERE id = $1 AND service_account_id = $2 AND organization_id = $3
           AND ($4::bigint IS NULL OR (updated_at = $4::bigint AND name = $5::text
                AND description IS NOT DISTINCT FROM $6::text))",
        &[
            &key.credential_id,
            &key.service_account_id,
            &key.organization_id,
            &expected_updated_at,
            &expected_name,
            &expected_description,
        ],
    )
    .await
    .map(|deleted| deleted > 0)
    .map_err(|err| from_pg("delete credential", err))
}

/// Looks up a credential and its secret hash by client_id.
pub(super) async fn find_client(client: &ClientWrapper, client_id: &str) -> StorageResult<Option<ClientRecord>> {
    let op = "find client";
    let sql = format!("SELECT {CREDENTIAL_COLUMNS}, secret_hash FROM credentials WHERE client_id = $1");
    let row = query_opt(client, op, &sql, &[&client_id]).await?;
    row.map(|row| {
        Ok(ClientRecord {
            credential: credential_from_row(&row, op)?,
            secret_hash: hash_from_column(&row, 9, op)?,
        })
    })
    .transpose()
}

/// Stores a token, sweeps the credential's expired tokens and records the
/// credential as used, all in one statement (so they stand or fall together); false,
/// and nothing stored, if the credential is gone. The foreign key makes the check
/// atomic: the insert locks the credential's row against deletion until it commits
/// (a delete then takes the new token with it), and fails if the row is already gone.
pub(super) async fn insert_token(client: &ClientWrapper, token: &NewToken) -> StorageResult<bool> {
    let secret_hash = token.secret_hash.as_slice();
    let result = execute_raw(
        client,
        "WITH swept AS (
             DELETE FROM tokens WHERE credential_id = $3 AND expires_at <= $4
         ), touched AS (
             UPDATE credentials SET last_used_at = $4 WHERE id = $3
         )
         INSERT INTO tokens (id, secret_hash, credential_id, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
        &[
            &token.id,
            &secret_hash,
            &token.credential_id,
            &token.created_at,
            &token.expires_at,
        ],
    )
    .await;
    match result {
        Ok(_) => Ok(true),
        Err(err) if is_foreign_key_violation(&err) => Ok(false),
        Err(err) => Err(from_pg("insert token", err)),
    }
}

/// The key list cursors are signed with (made by migration 3).
pub(super) async fn cursor_key(client: &ClientWrapper) -> StorageResult<Vec<u8>> {
    let op = "read cursor key";
    let row = query_opt(client, op, "SELECT key FROM cursor_keys WHERE id = 1", &[]).await?;
    let row = row.ok_or_else(|| StorageError::Internal(format!("{op}: no key (migration 3 not applied?)")))?;
    row.try_get(0).map_err(|err| from_pg(op, err))
}

/// Finds a token with the identity it speaks for; `None` if the token, its
/// credential or its service account is gone. The join also requires the service
/// account to be in the credential's organization.
pub(super) async fn find_token(client: &ClientWrapper, token_id: &str) -> StorageResult<Option<TokenRecord>> {
    let op = "find token";
    let row = query_opt(
        client,
        op,
        "SELECT t.id, t.secret_hash, t.expires_at, t.credential_id,
                c.service_account_id, c.organization_id, sa.role
         FROM tokens AS t
         JOIN credentials AS c ON c.id = t.credential_id
         JOIN service_accounts AS sa
             ON sa.id = c.service_account_id AND sa.organization_id = c.organization_id
         WHERE t.id = $1",
        &[&token_id],
    )
    .await?;
    row.map(|row| {
        Ok(TokenRecord {
            id: get(&row, 0, op)?,
            secret_hash: hash_from_column(&row, 1, op)?,
            expires_at: get(&row, 2, op)?,
            credential_id: get(&row, 3, op)?,
            service_account_id: get(&row, 4, op)?,
            organization_id: get(&row, 5, op)?,
            role: role_from_column(&row, 6, op)?,
        })
    })
    .transpose()
}

/// The SQL of one keyset-paginated list, ordered by `(created_at, id)` ascending,
/// with the same parameter numbering as the SQLite store's: the list's filter
/// columns first, then the position's `created_at` and `id`, then the row limit.
/// Positions are compared as row values, which PostgreSQL turns into a range on the
/// list's `(…, created_at, id)` index.
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

/// An organization's service accounts; filter `$1` = organization ID.
pub(super) const SERVICE_ACCOUNT_LIST: ListSql = ListSql {
    first: "SELECT id, organization_id, name, description, role, created_at, updated_at
            FROM service_accounts
            WHERE organization_id = $1
            ORDER BY created_at, id
            LIMIT $2",
    after: "SELECT id, organization_id, name, description, role, created_at, updated_at
            FROM service_accounts
            WHERE organization_id = $1 AND (created_at, id) > ($2, $3)
            ORDER BY created_at, id
            LIMIT $4",
    before: "SELECT id, organization_id, name, description, role, created_at, updated_at
             FROM service_accounts
             WHERE organization_id = $1 AND (created_at, id) < ($2, $3)
             ORDER BY created_at DESC, id DESC
             LIMIT $4",
    any_at_or_before: "SELECT EXISTS (
                           SELECT 1 FROM service_accounts
                           WHERE organization_id = $1 AND (created_at, id) <= ($2, $3)
                       )",
    any_at_or_after: "SELECT EXISTS (
                          SELECT 1 FROM service_accounts
                          WHERE organization_id = $1 AND (created_at, id) >= ($2, $3)
                      )",
};

/// A service account's credentials; filters `$1` = organization ID and `$2` =
/// service account ID, both required so no list reaches across organizations.
pub(super) const CREDENTIAL_LIST: ListSql = ListSql {
    first: "SELECT id, organization_id, service_account_id, client_id, name, description,
                   created_at, updated_at, last_used_at
            FROM credentials
            WHERE organization_id = $1 AND service_account_id = $2
            ORDER BY created_at, id
            LIMIT $3",
    after: "SELECT id, organization_id, service_account_id, client_id, name, description,
                   created_at, updated_at, last_used_at
            FROM credentials
            WHERE organization_id = $1 AND service_account_id = $2 AND (created_at, id) > ($3, $4)
            ORDER BY created_at, id
            LIMIT $5",
    before: "SELECT id, organization_id, service_account_id, client_id, name, description,
                    created_at, updated_at, last_used_at
             FROM credentials
             WHERE organization_id = $1 AND service_account_id = $2 AND (created_at, id) < ($3, $4)
             ORDER BY created_at DESC, id DESC
             LIMIT $5",
    any_at_or_before: "SELECT EXISTS (
                           SELECT 1 FROM credentials
                           WHERE organization_id = $1 AND service_account_id = $2
                             AND (created_at, id) <= ($3, $4)
                       )",
    any_at_or_after: "SELECT EXISTS (
                          SELECT 1 FROM credentials
                          WHERE organization_id = $1 AND service_account_id = $2
                            AND (created_at, id) >= ($3, $4)
                      )",
};

/// Reads one page of the list `sql` describes, restricted by `filter` (its leading
/// parameters), in transaction `tx`, which must be one snapshot (REPEATABLE READ)
/// so that the page and its EXISTS query agree. Fetches one row more than the
/// limit to learn whether the list goes on in the reading direction.
pub(super) async fn read_page<T>(
    tx: &Transaction<'_>,
    op: &str,
    sql: &ListSql,
    filter: &[&(dyn ToSql + Sync)],
    page: &PageRequest,
    from_row: fn(&Row, &str) -> StorageResult<T>,
) -> StorageResult<Page<T>> {
    let limit = page.limit;
    // One row past the page says whether the list goes on; a huge limit simply
    // means "everything".
    let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
    match &page.start {
        PageStart::First => {
            let mut items = query_rows(tx, op, sql.first, filter, None, fetch, from_row).await?;
            let has_next_page = items.len() > limit;
            items.truncate(limit);
            Ok(Page {
                items,
                has_next_page,
                has_prev_page: false,
            })
        }
        PageStart::After(position) => {
            let mut items = query_rows(tx, op, sql.after, filter, Some(position), fetch, from_row).await?;
            let has_next_page = items.len() > limit;
            items.truncate(limit);
            // Nothing lies between the position and the page's first item, so
            // "before the page" is "at or before the position".
            let has_prev_page = any_row(tx, op, sql.any_at_or_before, filter, position).await?;
            Ok(Page {
                items,
                has_next_page,
                has_prev_page,
            })
        }
        PageStart::Before(position) => {
            // Nearest first: the extra row, if any, is the farthest one.
            let mut items = query_rows(tx, op, sql.before, filter, Some(position), fetch, from_row).await?;
            let has_prev_page = items.len() > limit;
            items.truncate(limit);
            items.reverse();
            let has_next_page = any_row(tx, op, sql.any_at_or_after, filter, position).await?;
            Ok(Page {
                items,
                has_next_page,
                has_prev_page,
            })
        }
    }
}

/// Runs one of a list's row queries: `filter`, then `position` if given, then `limit`.
async fn query_rows<T>(
    tx: &Transaction<'_>,
    op: &str,
    sql: &str,
    filter: &[&(dyn ToSql + Sync)],
    position: Option<&Position>,
    limit: i64,
    from_row: fn(&Row, &str) -> StorageResult<T>,
) -> StorageResult<Vec<T>> {
    let mut values: Vec<&(dyn ToSql + Sync)> = filter.to_vec();
    if let Some(position) = position {
        values.push(&position.created_at);
        values.push(&position.id);
    }
    values.push(&limit);
    let statement = tx.prepare_cached(sql).await.map_err(|err| from_pg(op, err))?;
    let rows = tx.query(&statement, &values).await.map_err(|err| from_pg(op, err))?;
    rows.iter().map(|row| from_row(row, op)).collect()
}

/// Runs one of a list's EXISTS queries: `filter`, then `position`.
async fn any_row(
    tx: &Transaction<'_>,
    op: &str,
    sql: &str,
    filter: &[&(dyn ToSql + Sync)],
    position: &Position,
) -> StorageResult<bool> {
    let mut values: Vec<&(dyn ToSql + Sync)> = filter.to_vec();
    values.push(&position.created_at);
    values.push(&position.id);
    let statement = tx.prepare_cached(sql).await.map_err(|err| from_pg(op, err))?;
    let row = tx
        .query_one(&statement, &values)
        .await
        .map_err(|err| from_pg(op, err))?;
    get(&row, 0, op)
}

/// Builds a [`ServiceAccount`] from [`SERVICE_ACCOUNT_COLUMNS`].
pub(super) fn service_account_from_row(row: &Row, op: &str) -> StorageResult<ServiceAccount> {
    Ok(ServiceAccount {
        id: get(row, 0, op)?,
        organization_id: get(row, 1, op)?,
        name: get(row, 2, op)?,
        description: get(row, 3, op)?,
        role: role_from_column(row, 4, op)?,
        created_at: get(row, 5, op)?,
        updated_at: get(row, 6, op)?,
    })
}

/// Builds a [`Credential`] from [`CREDENTIAL_COLUMNS`].
pub(super) fn credential_from_row(row: &Row, op: &str) -> StorageResult<Credential> {
    Ok(Credential {
        id: get(row, 0, op)?,
        organization_id: get(row, 1, op)?,
        service_account_id: get(row, 2, op)?,
        client_id: get(row, 3, op)?,
        name: get(row, 4, op)?,
        description: get(row, 5, op)?,
        created_at: get(row, 6, op)?,
        updated_at: get(row, 7, op)?,
        last_used_at: get(row, 8, op)?,
    })
}

/// Reads one column, as an `Internal` error (never a panic) if its type is not the expected one.
fn get<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, index: usize, op: &str) -> StorageResult<T> {
    row.try_get(index).map_err(|err| from_pg(op, err))
}

/// Reads a role name column; an unknown name (the CHECK constraint should make
/// that impossible) is an error rather than a guess.
fn role_from_column(row: &Row, index: usize, op: &str) -> StorageResult<Role> {
    let name: String = get(row, index, op)?;
    Role::parse(&name).ok_or_else(|| StorageError::Internal(format!("{op}: unknown role {name:?}")))
}

/// Reads a 32-byte SHA-256 column (the CHECK constraint guarantees the length).
fn hash_from_column(row: &Row, index: usize, op: &str) -> StorageResult<[u8; 32]> {
    let bytes: Vec<u8> = get(row, index, op)?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| StorageError::Internal(format!("{op}: a stored hash is {} bytes, not 32", bytes.len())))
}
