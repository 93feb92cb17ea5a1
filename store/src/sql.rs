//! The SQL of every store operation, written once for both databases.
//!
//! Statements are written in PostgreSQL's spelling: `$N` parameters, with a
//! `::type` cast where PostgreSQL could not infer a parameter's type from a column.
//! SQLite's text is derived from it ([`Statement::sqlite`]): `?N` parameters and no
//! casts, which SQLite, dynamically typed, neither needs nor understands. All else
//! is SQL both databases speak alike (`IS DISTINCT FROM` included, which SQLite has
//! had since 3.39). Parameters are numbered in the order the builders in
//! [`crate::rows`] produce them.

use std::sync::LazyLock;

/// One statement, in the text each database runs.
#[derive(Debug)]
pub(crate) struct Statement {
    /// The text PostgreSQL runs, as written.
    postgres: String,
    /// The text SQLite runs, derived from it.
    sqlite: String,
}

impl Statement {
    /// A statement written in PostgreSQL's spelling (see the module docs).
    pub(crate) fn new(postgres: String) -> Statement {
        let sqlite = to_sqlite(&postgres);
        Statement { postgres, sqlite }
    }

    /// The statement as PostgreSQL runs it.
    pub(crate) fn postgres(&self) -> &str {
        &self.postgres
    }

    /// The statement as SQLite runs it.
    pub(crate) fn sqlite(&self) -> &str {
        &self.sqlite
    }
}

/// `$N` becomes `?N` and every `::type` cast goes. Nothing else in keycred's SQL
/// holds a `$` or a `::`.
fn to_sqlite(postgres: &str) -> String {
    let mut sqlite = String::with_capacity(postgres.len());
    let mut chars = postgres.chars().peekable();
    while let Some(char) = chars.next() {
        match char {
            '$' => sqlite.push('?'),
            ':' if chars.peek() == Some(&':') => {
                chars.next();
                while chars
                    .next_if(|next| next.is_ascii_alphanumeric() || *next == '_')
                    .is_some()
                {}
            }
            other => sqlite.push(other),
        }
    }
    sqlite
}

/// Declares a lazily built [`Statement`] from a `format!` template.
macro_rules! statement {
    ($(#[$doc:meta])* $name:ident = $($template:tt)+) => {
        $(#[$doc])*
        pub(crate) static $name: LazyLock<Statement> = LazyLock::new(|| Statement::new(format!($($template)+)));
    };
}

/// The columns of an organization, in the order [`crate::rows::organization`] reads them.
pub(crate) const ORGANIZATION_COLUMNS: &str = "id, label, name, created_at, updated_at";

/// The columns of a service account, in the order [`crate::rows::service_account`] reads them.
pub(crate) const SERVICE_ACCOUNT_COLUMNS: &str = "id, organization_id, name, description, role, created_at, updated_at";

/// The columns of a credential, in the order [`crate::rows::credential`] reads them.
pub(crate) const CREDENTIAL_COLUMNS: &str = "id, organization_id, service_account_id, client_id, name, description, \
     created_at, updated_at, last_used_at, status, expires_at, secret_rotated_at, previous_secret_expires_at";

/// The condition that a credential is still in an expected state: `$first` its
/// `updated_at` (NULL for no condition at all), then its name, description,
/// status, expiry and `secret_rotated_at`, the state its ETag covers.
fn expected_credential(first: usize) -> String {
    let [updated_at, name, description, status, expires_at, rotated_at] =
        [0, 1, 2, 3, 4, 5].map(|offset| first + offset);
    format!(
        "(${updated_at}::bigint IS NULL OR (updated_at = ${updated_at}::bigint AND name = ${name}::text
            AND description IS NOT DISTINCT FROM ${description}::text AND status = ${status}::text
            AND expires_at IS NOT DISTINCT FROM ${expires_at}::bigint
            AND secret_rotated_at IS NOT DISTINCT FROM ${rotated_at}::bigint))"
    )
}

statement! {
    /// An organization by ID or, failing that, by label. IDs win: should one
    /// organization's label equal another's ID, the ID match is returned.
    FIND_ORGANIZATION = "SELECT {ORGANIZATION_COLUMNS} FROM organizations
        WHERE id = $1 OR label = $1 ORDER BY (id = $1) DESC LIMIT 1"
}

statement! {
    /// A new organization, its columns in [`ORGANIZATION_COLUMNS`] order.
    INSERT_ORGANIZATION = "INSERT INTO organizations ({ORGANIZATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
}

statement! {
    /// A new service account, its columns in [`SERVICE_ACCOUNT_COLUMNS`] order.
    INSERT_SERVICE_ACCOUNT = "INSERT INTO service_accounts ({SERVICE_ACCOUNT_COLUMNS})
        VALUES ($1, $2, $3, $4, $5, $6, $7)"
}

statement! {
    /// A service account, only if it is in this organization.
    FIND_SERVICE_ACCOUNT = "SELECT {SERVICE_ACCOUNT_COLUMNS} FROM service_accounts
        WHERE id = $1 AND organization_id = $2"
}

statement! {
    /// A patch of a service account, in one statement returning the row as stored
    /// afterwards. `updated_at` moves to `$6` only if a field really changes (the
    /// right-hand sides all see the row as it was). With an expected state (`$7`
    /// not NULL) only a row still in exactly that state is updated: the check is in
    /// the statement, so it holds against concurrent writers (PostgreSQL re-checks
    /// the WHERE against a row another transaction changed meanwhile).
    UPDATE_SERVICE_ACCOUNT = "UPDATE service_accounts
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
}

statement! {
    /// Deletes a service account if it is in this organization and, with an expected
    /// state (`$3`–`$6` its `updated_at`, name, description and role; all NULL for an
    /// unconditional delete), only if it is still in exactly that state, checked in
    /// the statement as for [`UPDATE_SERVICE_ACCOUNT`]. `ON DELETE CASCADE` removes
    /// its credentials and their tokens in the same statement.
    DELETE_SERVICE_ACCOUNT = "DELETE FROM service_accounts
         WHERE id = $1 AND organization_id = $2
           AND ($3::bigint IS NULL OR (updated_at = $3::bigint AND name = $4::text
                AND description IS NOT DISTINCT FROM $5::text AND role = $6::text))"
}

statement! {
    /// A new credential with its secret hash, inserted only if its service account
    /// is in its organization: the check and the insert are one statement (and on
    /// PostgreSQL the two-column foreign key refuses a row whose service account
    /// went meanwhile).
    INSERT_CREDENTIAL = "INSERT INTO credentials
             (id, organization_id, service_account_id, client_id, secret_hash, name,
              description, created_at, updated_at, last_used_at, status, expires_at)
         SELECT $1::text, $2::text, $3::text, $4::text, $5::bytea, $6::text,
                $7::text, $8::bigint, $9::bigint, $10::bigint, $11::text, $12::bigint
         WHERE EXISTS (SELECT 1 FROM service_accounts WHERE id = $3::text AND organization_id = $2::text)"
}

statement! {
    /// A credential, only if all three IDs agree.
    FIND_CREDENTIAL = "SELECT {CREDENTIAL_COLUMNS} FROM credentials
        WHERE id = $1 AND service_account_id = $2 AND organization_id = $3"
}

statement! {
    /// [`FIND_CREDENTIAL`] with the row's rowid after its columns (SQLite only: the
    /// writer's read before a PATCH, which then updates the row by that rowid).
    FIND_CREDENTIAL_AND_ROWID = "SELECT {CREDENTIAL_COLUMNS}, rowid FROM credentials
        WHERE id = $1 AND service_account_id = $2 AND organization_id = $3"
}

/// A patch of a credential, as [`UPDATE_SERVICE_ACCOUNT`]: `$1`–`$3` the
/// credential, service account and organization IDs, `$4` name, `$5` description,
/// `$6` status, `$7` 1 if the expiry is to be set, `$8` the new expiry (NULL to
/// remove it), `$9` now, `$10`–`$15` the expected state (see
/// [`expected_credential`]). `updated_at` moves only if a field changes (what
/// [`crate::Credential::patched`] computes from the row before). What it means for
/// the credential's tokens is [`REVOKE_CREDENTIAL_TOKENS`] or
/// [`CAP_CREDENTIAL_TOKENS`], in the same transaction.
fn credential_patch() -> String {
    format!(
        "UPDATE credentials
         SET name = COALESCE($4::text, name),
             description = COALESCE($5::text, description),
             status = COALESCE($6::text, status),
             expires_at = CASE WHEN $7::bigint IS NOT NULL THEN $8::bigint ELSE expires_at END,
             updated_at = CASE
                 WHEN ($4::text IS NOT NULL AND $4::text IS DISTINCT FROM name)
                   OR ($5::text IS NOT NULL AND $5::text IS DISTINCT FROM description)
                   OR ($6::text IS NOT NULL AND $6::text IS DISTINCT FROM status)
                   OR ($7::bigint IS NOT NULL AND $8::bigint IS DISTINCT FROM expires_at)
                 THEN $9::bigint
                 ELSE updated_at
             END
         WHERE id = $1 AND service_account_id = $2 AND organization_id = $3
           AND {}",
        expected_credential(10)
    )
}

statement! {
    /// [`credential_patch`], answering the credential as written (PostgreSQL's: one
    /// round trip).
    UPDATE_CREDENTIAL = "{} RETURNING {CREDENTIAL_COLUMNS}", credential_patch()
}

statement! {
    /// [`credential_patch`] of the row [`FIND_CREDENTIAL_AND_ROWID`] found, `$16` its
    /// rowid, answering only how many rows it changed (SQLite's: its writer reads the
    /// row before the update for the audit trail, so it knows the row after without
    /// reading it back, and a `RETURNING` clause would cost SQLite a temporary table
    /// per statement). The rowid takes the update straight to the row, without a
    /// second search of the ID index; the IDs are still compared.
    UPDATE_CREDENTIAL_IN_PLACE = "{}
           AND rowid = $16::bigint", credential_patch()
}

statement! {
    /// A new secret for a credential: `$1`–`$3` its IDs, `$4` the new secret's hash,
    /// `$5` until when the replaced one is still accepted (NULL: not at all), `$6`
    /// now, `$7`–`$12` the expected state (see [`expected_credential`]). The
    /// right-hand sides see the row as it was, so the replaced secret moves into the
    /// one previous slot, overwriting whatever was kept there.
    ROTATE_CREDENTIAL = "UPDATE credentials
         SET previous_secret_hash = CASE WHEN $5::bigint IS NULL THEN NULL ELSE secret_hash END,
             previous_secret_expires_at = $5::bigint,
             secret_hash = $4::bytea,
             secret_rotated_at = $6::bigint,
             updated_at = $6::bigint
         WHERE id = $1 AND service_account_id = $2 AND organization_id = $3
           AND {}
         RETURNING {CREDENTIAL_COLUMNS}", expected_credential(7)
}

statement! {
    /// Deletes every token of a credential (`$1`): a disable, or a rotation that
    /// revokes them.
    REVOKE_CREDENTIAL_TOKENS = "DELETE FROM tokens WHERE credential_id = $1"
}

statement! {
    /// Cuts the expiry of a credential's (`$1`) tokens to its own (`$2`).
    CAP_CREDENTIAL_TOKENS = "UPDATE tokens SET expires_at = $2 WHERE credential_id = $1 AND expires_at > $2"
}

statement! {
    /// Deletes a credential, only if all three IDs agree and, with an expected state
    /// (`$4`–`$9`, see [`expected_credential`]), only if it is still in exactly that
    /// state, as for [`UPDATE_CREDENTIAL`]. `ON DELETE CASCADE` removes its tokens in
    /// the same statement.
    DELETE_CREDENTIAL = "DELETE FROM credentials
         WHERE id = $1 AND service_account_id = $2 AND organization_id = $3
           AND {}", expected_credential(4)
}

statement! {
    /// A credential and, after its columns, its secret hash and previous secret
    /// hash, by client_id.
    FIND_CLIENT = "SELECT {CREDENTIAL_COLUMNS}, secret_hash, previous_secret_hash FROM credentials WHERE client_id = $1"
}

statement! {
    /// A token with the identity it speaks for; nothing if the token, its credential
    /// or its service account is gone. The join also requires the service account
    /// to be in the credential's organization. A disabled credential's tokens are
    /// deleted with the disable and a token's expiry never runs past its
    /// credential's; the query checks both again all the same.
    FIND_TOKEN = "SELECT t.id, t.secret_hash,
                CASE WHEN c.expires_at IS NOT NULL AND c.expires_at < t.expires_at
                     THEN c.expires_at ELSE t.expires_at END,
                t.credential_id, c.service_account_id, c.organization_id, sa.role
         FROM tokens AS t
         JOIN credentials AS c ON c.id = t.credential_id AND c.status = 'active'
         JOIN service_accounts AS sa
             ON sa.id = c.service_account_id AND sa.organization_id = c.organization_id
         WHERE t.id = $1"
}

statement! {
    /// Stores a token (`$1` ID, `$2` secret hash, `$3` credential ID, `$4` now, `$5`
    /// expiry), sweeps its credential's expired tokens, records the credential as
    /// used and records the `token.issued` event (`$6`–`$23`, as for
    /// [`INSERT_AUDIT_EVENT`]), in one statement. PostgreSQL's: SQLite has no data-modifying
    /// `WITH`, so it runs the three steps below in its writer's transaction. The
    /// token is inserted only if the credential, locked by the update that records
    /// its use, is there, active and unexpired; its expiry is cut to the
    /// credential's. A disable or an expiry change waits for that lock and then
    /// (the token statements run after it, with a fresh snapshot) finds the token;
    /// one that came first is seen by the update, which then inserts nothing. A
    /// credential deleted meanwhile fails the foreign key: the store answers that
    /// as "no such credential", not as an error.
    INSERT_TOKEN = "WITH touched AS (
             UPDATE credentials SET last_used_at = $4::bigint
             WHERE id = $3::text AND status = 'active' AND (expires_at IS NULL OR expires_at > $4::bigint)
             RETURNING id, expires_at
         ), swept AS (
             DELETE FROM tokens WHERE credential_id = $3::text AND expires_at <= $4::bigint
         ), recorded AS (
             INSERT INTO audit_events ({AUDIT_EVENT_COLUMNS}, fold_key)
             SELECT $6::text, $7::text, $8::bigint, $9::text, $10::text, $11::text, $12::text, $13::text,
                    $14::text, $15::text, $16::text, $17::text, $18::text, $19::text, $20::text, $21::text,
                    $22::bigint, $23::text
             FROM touched
         )
         INSERT INTO tokens (id, secret_hash, credential_id, created_at, expires_at)
         SELECT $1::text, $2::bytea, id, $4::bigint,
                CASE WHEN expires_at IS NOT NULL AND expires_at < $5::bigint THEN expires_at ELSE $5::bigint END
         FROM touched"
}

statement! {
    /// [`INSERT_TOKEN`]'s sweep: `$1` credential ID, `$2` now.
    SWEEP_EXPIRED_TOKENS = "DELETE FROM tokens WHERE credential_id = $1 AND expires_at <= $2"
}

statement! {
    /// [`INSERT_TOKEN`]'s insert, with its parameters; it selects from the credential,
    /// so it inserts nothing (0 rows) if the credential is gone, disabled or expired,
    /// and cuts the token's expiry to the credential's.
    ADD_TOKEN = "INSERT INTO tokens (id, secret_hash, credential_id, created_at, expires_at)
         SELECT $1::text, $2::bytea, id, $4::bigint,
                CASE WHEN expires_at IS NOT NULL AND expires_at < $5::bigint THEN expires_at ELSE $5::bigint END
         FROM credentials
         WHERE id = $3::text AND status = 'active' AND (expires_at IS NULL OR expires_at > $4::bigint)"
}

statement! {
    /// [`INSERT_TOKEN`]'s record of use: `$1` credential ID, `$2` now.
    TOUCH_CREDENTIAL = "UPDATE credentials SET last_used_at = $2 WHERE id = $1"
}

statement! {
    /// RFC 7009 revocation: deletes token `$1` only if credential `$2` minted it and
    /// its secret hashes to `$3`.
    REVOKE_TOKEN = "DELETE FROM tokens WHERE id = $1 AND credential_id = $2 AND secret_hash = $3"
}

/// The columns of an audit event, in the order [`crate::rows::audit_event`] reads them.
pub(crate) const AUDIT_EVENT_COLUMNS: &str = "id, organization_id, occurred_at, action, actor_type, \
     actor_service_account_id, actor_credential_id, actor_client_id, target_type, target_id, \
     target_service_account_id, request_id, client_request_id, source_address, changes, reason, count";

statement! {
    /// A new audit event, its columns in [`AUDIT_EVENT_COLUMNS`] order, then its
    /// fold key (NULL: it folds with nothing).
    INSERT_AUDIT_EVENT = "INSERT INTO audit_events ({AUDIT_EVENT_COLUMNS}, fold_key)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
}

/// How many events [`INSERT_AUDIT_EVENTS`] inserts at once.
pub(crate) const AUDIT_EVENTS_PER_INSERT: usize = 8;

statement! {
    /// [`AUDIT_EVENTS_PER_INSERT`] new audit events in one statement, each as in
    /// [`INSERT_AUDIT_EVENT`], their parameters one event after another (SQLite's
    /// writer inserts a batch's events so: the statement's own cost is paid once
    /// for them all).
    INSERT_AUDIT_EVENTS = "INSERT INTO audit_events ({AUDIT_EVENT_COLUMNS}, fold_key) VALUES {}",
        (0..AUDIT_EVENTS_PER_INSERT)
            .map(|row| {
                let params: Vec<String> = (1..=18).map(|column| format!("${}", row * 18 + column)).collect();
                format!("({})", params.join(", "))
            })
            .collect::<Vec<_>>()
            .join(", ")
}

statement! {
    /// A token denial, as [`INSERT_AUDIT_EVENT`], folded into the event with the
    /// same fold key if there is one: that event then counts these attempts too.
    RECORD_TOKEN_DENIAL = "INSERT INTO audit_events ({AUDIT_EVENT_COLUMNS}, fold_key)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
        ON CONFLICT (fold_key) WHERE fold_key IS NOT NULL
        DO UPDATE SET count = audit_events.count + excluded.count"
}

statement! {
    /// A credential, only if all three IDs agree, locked until the transaction ends
    /// (PostgreSQL only: SQLite's writer holds the whole database's write lock).
    FIND_CREDENTIAL_FOR_UPDATE = "SELECT {CREDENTIAL_COLUMNS} FROM credentials
        WHERE id = $1 AND service_account_id = $2 AND organization_id = $3 FOR UPDATE"
}

statement! {
    /// A service account, only if it is in this organization, locked until the
    /// transaction ends (PostgreSQL only, as [`FIND_CREDENTIAL_FOR_UPDATE`]). The lock
    /// also holds off new credentials of it, whose foreign key check needs a share lock.
    FIND_SERVICE_ACCOUNT_FOR_UPDATE = "SELECT {SERVICE_ACCOUNT_COLUMNS} FROM service_accounts
        WHERE id = $1 AND organization_id = $2 FOR UPDATE"
}

statement! {
    /// The credentials of a service account (`$1`) in its organization (`$2`): those
    /// a delete of the service account takes with it.
    CREDENTIALS_OF_SERVICE_ACCOUNT = "SELECT {CREDENTIAL_COLUMNS} FROM credentials
        WHERE service_account_id = $1 AND organization_id = $2"
}

statement! {
    /// Events in export order, oldest first: by ID, which is `(occurred_at, id)`
    /// order (event IDs begin with their time). `$1` the organization (NULL: every
    /// event, those of no organization included), `$2` the ID to start strictly
    /// after, `$3` the most rows.
    EXPORT_AUDIT_EVENTS = "SELECT {AUDIT_EVENT_COLUMNS} FROM audit_events
        WHERE ($1::text IS NULL OR organization_id = $1::text) AND id > $2::text
        ORDER BY id LIMIT $3"
}

statement! {
    /// Deletes up to `$2` of the oldest events with an ID below `$1` (the lowest ID
    /// of the retention's cutoff time: every event that occurred before it): one
    /// batch of retention pruning, read in ID order.
    PRUNE_AUDIT_EVENTS = "DELETE FROM audit_events WHERE id IN (
        SELECT id FROM audit_events WHERE id < $1::text ORDER BY id LIMIT $2)"
}

/// The PostgreSQL channel revocations are announced on (PostgreSQL only: SQLite has
/// no notifications). Channels are per database, so deployments on other databases
/// of the same server never hear one another.
pub(crate) const REVOCATION_CHANNEL: &str = "keycred_revocations";

statement! {
    /// Announces a revocation (PostgreSQL only): `$1` the channel, `$2` the payload
    /// (see `crate::revocations`). Delivered to the listeners when it commits.
    ANNOUNCE_REVOCATION = "SELECT pg_notify($1::text, $2::text)"
}

statement! {
    /// Starts listening for revocations (PostgreSQL only).
    LISTEN_FOR_REVOCATIONS = "LISTEN {REVOCATION_CHANNEL}"
}

statement! {
    /// The key list cursors are signed with (made by migration 3).
    CURSOR_KEY = "SELECT key FROM cursor_keys WHERE id = 1"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_text_numbers_parameters_with_question_marks_and_drops_casts() {
        let statement = Statement::new("SELECT $1::text, $10::bigint FROM t WHERE a = $2".to_owned());
        assert_eq!(statement.sqlite(), "SELECT ?1, ?10 FROM t WHERE a = ?2");
        assert_eq!(statement.postgres(), "SELECT $1::text, $10::bigint FROM t WHERE a = $2");
    }
}
