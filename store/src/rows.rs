//! Between domain types and rows, for both databases: the parameters each
//! statement of [`crate::sql`] takes, in its numbering, and the domain types built
//! from the rows it returns.
//!
//! Each backend binds a [`Value`] with its own driver and reads columns through
//! [`Columns`]; everything else here is written once.

use crate::audit::{
    event_id_floor, Actor, AuditAction, AuditChanges, AuditEvent, AuditTarget, DenialReason, TargetKind,
};
use crate::sql::{self, Statement};
use crate::{
    ClientRecord, Credential, CredentialKey, CredentialPatch, CredentialStatus, Millis, NewCredential, NewToken,
    Organization, Position, Role, Rotation, ServiceAccount, ServiceAccountPatch, TokenRecord,
};

/// One statement parameter, in the three types keycred stores.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value<'a> {
    /// Text, or NULL.
    Text(Option<&'a str>),
    /// A 64-bit integer (milliseconds, limits), or NULL.
    Integer(Option<i64>),
    /// Bytes (a hash).
    Bytes(&'a [u8]),
}

/// Text that is never NULL.
fn text(value: &str) -> Value<'_> {
    Value::Text(Some(value))
}

/// An integer that is never NULL.
fn integer(value: i64) -> Value<'static> {
    Value::Integer(Some(value))
}

/// Reading one row's columns by index, however the driver does it. Each method
/// fails (never panics) on a column of another type.
pub(crate) trait Columns {
    /// The driver's error.
    type Error;
    /// A text column.
    fn text(&self, index: usize) -> Result<String, Self::Error>;
    /// A nullable text column.
    fn optional_text(&self, index: usize) -> Result<Option<String>, Self::Error>;
    /// A 64-bit integer column.
    fn integer(&self, index: usize) -> Result<i64, Self::Error>;
    /// A nullable 64-bit integer column.
    fn optional_integer(&self, index: usize) -> Result<Option<i64>, Self::Error>;
    /// A bytes column.
    fn bytes(&self, index: usize) -> Result<Vec<u8>, Self::Error>;
    /// A nullable bytes column.
    fn optional_bytes(&self, index: usize) -> Result<Option<Vec<u8>>, Self::Error>;
    /// A boolean column (an `EXISTS`).
    fn boolean(&self, index: usize) -> Result<bool, Self::Error>;
    /// The error for a column whose value no constraint should have let in.
    fn corrupt(&self, index: usize, problem: String) -> Self::Error;
}

/// Reads a role name; an unknown name (the CHECK constraint should make that
/// impossible) is an error rather than a guess.
fn role<R: Columns + ?Sized>(row: &R, index: usize) -> Result<Role, R::Error> {
    let name = row.text(index)?;
    Role::parse(&name).ok_or_else(|| row.corrupt(index, format!("unknown role {name:?}")))
}

/// Reads a credential's status; an unknown one (the CHECK constraint should make
/// that impossible) is an error rather than a guess.
fn credential_status<R: Columns + ?Sized>(row: &R, index: usize) -> Result<CredentialStatus, R::Error> {
    let name = row.text(index)?;
    CredentialStatus::parse(&name).ok_or_else(|| row.corrupt(index, format!("unknown credential status {name:?}")))
}

/// Reads a nullable 32-byte SHA-256 column.
fn optional_hash<R: Columns + ?Sized>(row: &R, index: usize) -> Result<Option<[u8; 32]>, R::Error> {
    match row.optional_bytes(index)? {
        None => Ok(None),
        Some(bytes) => <[u8; 32]>::try_from(bytes.as_slice())
            .map(Some)
            .map_err(|_| row.corrupt(index, format!("a stored hash is {} bytes, not 32", bytes.len()))),
    }
}

/// Reads a 32-byte SHA-256 column (the CHECK constraint guarantees the length).
fn hash<R: Columns + ?Sized>(row: &R, index: usize) -> Result<[u8; 32], R::Error> {
    let bytes = row.bytes(index)?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| row.corrupt(index, format!("a stored hash is {} bytes, not 32", bytes.len())))
}

/// Builds an [`Organization`] from [`crate::sql::ORGANIZATION_COLUMNS`].
pub(crate) fn organization<R: Columns + ?Sized>(row: &R) -> Result<Organization, R::Error> {
    Ok(Organization {
        id: row.text(0)?,
        label: row.text(1)?,
        name: row.text(2)?,
        created_at: row.integer(3)?,
        updated_at: row.integer(4)?,
    })
}

/// Builds a [`ServiceAccount`] from [`crate::sql::SERVICE_ACCOUNT_COLUMNS`].
pub(crate) fn service_account<R: Columns + ?Sized>(row: &R) -> Result<ServiceAccount, R::Error> {
    Ok(ServiceAccount {
        id: row.text(0)?,
        organization_id: row.text(1)?,
        name: row.text(2)?,
        description: row.optional_text(3)?,
        role: role(row, 4)?,
        created_at: row.integer(5)?,
        updated_at: row.integer(6)?,
    })
}

/// Builds a [`Credential`] from [`crate::sql::CREDENTIAL_COLUMNS`].
pub(crate) fn credential<R: Columns + ?Sized>(row: &R) -> Result<Credential, R::Error> {
    Ok(Credential {
        id: row.text(0)?,
        organization_id: row.text(1)?,
        service_account_id: row.text(2)?,
        client_id: row.text(3)?,
        name: row.text(4)?,
        description: row.optional_text(5)?,
        created_at: row.integer(6)?,
        updated_at: row.integer(7)?,
        last_used_at: row.optional_integer(8)?,
        status: credential_status(row, 9)?,
        expires_at: row.optional_integer(10)?,
        secret_rotated_at: row.optional_integer(11)?,
        previous_secret_expires_at: row.optional_integer(12)?,
    })
}

/// A credential and its rowid, from a row of [`crate::sql::FIND_CREDENTIAL_AND_ROWID`].
pub(crate) fn credential_and_rowid<R: Columns + ?Sized>(row: &R) -> Result<(Credential, i64), R::Error> {
    Ok((credential(row)?, row.integer(13)?))
}

/// Builds a [`ClientRecord`] from a row of [`crate::sql::FIND_CLIENT`].
pub(crate) fn client<R: Columns + ?Sized>(row: &R) -> Result<ClientRecord, R::Error> {
    Ok(ClientRecord {
        credential: credential(row)?,
        secret_hash: hash(row, 13)?,
        previous_secret_hash: optional_hash(row, 14)?,
    })
}

/// Builds a [`TokenRecord`] from a row of [`crate::sql::FIND_TOKEN`].
pub(crate) fn token<R: Columns + ?Sized>(row: &R) -> Result<TokenRecord, R::Error> {
    Ok(TokenRecord {
        id: row.text(0)?,
        secret_hash: hash(row, 1)?,
        expires_at: row.integer(2)?,
        credential_id: row.text(3)?,
        service_account_id: row.text(4)?,
        organization_id: row.text(5)?,
        role: role(row, 6)?,
    })
}

/// Reads the one column of an `EXISTS` query.
pub(crate) fn exists<R: Columns + ?Sized>(row: &R) -> Result<bool, R::Error> {
    row.boolean(0)
}

/// Reads the key of [`crate::sql::CURSOR_KEY`].
pub(crate) fn cursor_key<R: Columns + ?Sized>(row: &R) -> Result<Vec<u8>, R::Error> {
    row.bytes(0)
}

/// The parameters of [`crate::sql::INSERT_ORGANIZATION`].
pub(crate) fn new_organization(organization: &Organization) -> [Value<'_>; 5] {
    [
        text(&organization.id),
        text(&organization.label),
        text(&organization.name),
        integer(organization.created_at),
        integer(organization.updated_at),
    ]
}

/// The parameters of [`crate::sql::INSERT_SERVICE_ACCOUNT`].
pub(crate) fn new_service_account(service_account: &ServiceAccount) -> [Value<'_>; 7] {
    [
        text(&service_account.id),
        text(&service_account.organization_id),
        text(&service_account.name),
        Value::Text(service_account.description.as_deref()),
        text(service_account.role.as_str()),
        integer(service_account.created_at),
        integer(service_account.updated_at),
    ]
}

/// The parameters of [`crate::sql::FIND_SERVICE_ACCOUNT`].
pub(crate) fn service_account_key<'a>(organization_id: &'a str, service_account_id: &'a str) -> [Value<'a>; 2] {
    [text(service_account_id), text(organization_id)]
}

/// The parameters of [`crate::sql::DELETE_SERVICE_ACCOUNT`].
pub(crate) fn service_account_delete<'a>(
    organization_id: &'a str,
    service_account_id: &'a str,
    expected: Option<&'a ServiceAccount>,
) -> [Value<'a>; 6] {
    [
        text(service_account_id),
        text(organization_id),
        Value::Integer(expected.map(|stored| stored.updated_at)),
        Value::Text(expected.map(|stored| stored.name.as_str())),
        Value::Text(expected.and_then(|stored| stored.description.as_deref())),
        Value::Text(expected.map(|stored| stored.role.as_str())),
    ]
}

/// The parameters of [`crate::sql::UPDATE_SERVICE_ACCOUNT`].
pub(crate) fn service_account_update<'a>(
    organization_id: &'a str,
    service_account_id: &'a str,
    patch: &'a ServiceAccountPatch,
    now: Millis,
    expected: Option<&'a ServiceAccount>,
) -> [Value<'a>; 10] {
    [
        text(service_account_id),
        text(organization_id),
        Value::Text(patch.name.as_deref()),
        Value::Text(patch.description.as_deref()),
        Value::Text(patch.role.map(Role::as_str)),
        integer(now),
        Value::Integer(expected.map(|stored| stored.updated_at)),
        Value::Text(expected.map(|stored| stored.name.as_str())),
        Value::Text(expected.and_then(|stored| stored.description.as_deref())),
        Value::Text(expected.map(|stored| stored.role.as_str())),
    ]
}

/// The parameters of [`crate::sql::INSERT_CREDENTIAL`].
pub(crate) fn new_credential(new: &NewCredential) -> [Value<'_>; 12] {
    let credential = &new.credential;
    [
        text(&credential.id),
        text(&credential.organization_id),
        text(&credential.service_account_id),
        text(&credential.client_id),
        Value::Bytes(&new.secret_hash),
        text(&credential.name),
        Value::Text(credential.description.as_deref()),
        integer(credential.created_at),
        integer(credential.updated_at),
        Value::Integer(credential.last_used_at),
        text(credential.status.as_str()),
        Value::Integer(credential.expires_at),
    ]
}

/// The parameters of [`crate::sql::FIND_CREDENTIAL`].
pub(crate) fn credential_key<'a>(key: &CredentialKey<'a>) -> [Value<'a>; 3] {
    [
        text(key.credential_id),
        text(key.service_account_id),
        text(key.organization_id),
    ]
}

/// The expected state of a credential, as [`crate::sql`]'s `expected_credential`
/// checks it (all NULL for no condition).
fn expected_credential(expected: Option<&Credential>) -> [Value<'_>; 6] {
    [
        Value::Integer(expected.map(|stored| stored.updated_at)),
        Value::Text(expected.map(|stored| stored.name.as_str())),
        Value::Text(expected.and_then(|stored| stored.description.as_deref())),
        Value::Text(expected.map(|stored| stored.status.as_str())),
        Value::Integer(expected.and_then(|stored| stored.expires_at)),
        Value::Integer(expected.and_then(|stored| stored.secret_rotated_at)),
    ]
}

/// The parameters of [`crate::sql::DELETE_CREDENTIAL`].
pub(crate) fn credential_delete<'a>(key: &CredentialKey<'a>, expected: Option<&'a Credential>) -> [Value<'a>; 9] {
    let [id, service_account_id, organization_id] = credential_key(key);
    let [updated_at, name, description, status, expires_at, rotated_at] = expected_credential(expected);
    [
        id,
        service_account_id,
        organization_id,
        updated_at,
        name,
        description,
        status,
        expires_at,
        rotated_at,
    ]
}

/// The parameters of [`crate::sql::UPDATE_CREDENTIAL`].
pub(crate) fn credential_update<'a>(
    key: &CredentialKey<'a>,
    patch: &'a CredentialPatch,
    now: Millis,
    expected: Option<&'a Credential>,
) -> [Value<'a>; 15] {
    let [id, service_account_id, organization_id] = credential_key(key);
    let [updated_at, name, description, status, expires_at, rotated_at] = expected_credential(expected);
    [
        id,
        service_account_id,
        organization_id,
        Value::Text(patch.name.as_deref()),
        Value::Text(patch.description.as_deref()),
        Value::Text(patch.status.map(CredentialStatus::as_str)),
        Value::Integer(patch.expires_at.map(|_| 1)),
        Value::Integer(patch.expires_at.flatten()),
        integer(now),
        updated_at,
        name,
        description,
        status,
        expires_at,
        rotated_at,
    ]
}

/// The parameters of [`crate::sql::UPDATE_CREDENTIAL_IN_PLACE`]: those of
/// [`credential_update`], then the row's `rowid`.
pub(crate) fn credential_update_in_place<'a>(
    key: &CredentialKey<'a>,
    patch: &'a CredentialPatch,
    now: Millis,
    expected: Option<&'a Credential>,
    rowid: i64,
) -> [Value<'a>; 16] {
    let [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o] = credential_update(key, patch, now, expected);
    [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, integer(rowid)]
}

/// The parameters of [`crate::sql::ROTATE_CREDENTIAL`].
pub(crate) fn credential_rotation<'a>(
    key: &CredentialKey<'a>,
    rotation: &'a Rotation,
    expected: Option<&'a Credential>,
) -> [Value<'a>; 12] {
    let [id, service_account_id, organization_id] = credential_key(key);
    let [updated_at, name, description, status, expires_at, rotated_at] = expected_credential(expected);
    [
        id,
        service_account_id,
        organization_id,
        Value::Bytes(&rotation.secret_hash),
        Value::Integer(rotation.previous_secret_expires_at),
        integer(rotation.now),
        updated_at,
        name,
        description,
        status,
        expires_at,
        rotated_at,
    ]
}

/// What a credential as just written means for its tokens, as the statement (with
/// its parameters) to run in the same transaction: a disabled credential has none,
/// and no token outlives its credential's expiry. `None` when there is nothing to do.
pub(crate) fn token_consequence(credential: &Credential) -> Option<(&'static Statement, Vec<Value<'_>>)> {
    if credential.status == CredentialStatus::Disabled {
        return Some((&*sql::REVOKE_CREDENTIAL_TOKENS, vec![text(&credential.id)]));
    }
    credential.expires_at.map(|expires_at| {
        (
            &*sql::CAP_CREDENTIAL_TOKENS,
            vec![text(&credential.id), integer(expires_at)],
        )
    })
}

/// The parameters of [`crate::sql::REVOKE_CREDENTIAL_TOKENS`].
pub(crate) fn credential_tokens(credential_id: &str) -> [Value<'_>; 1] {
    [text(credential_id)]
}

/// What a write of a credential means for its tokens: the statement to run after it,
/// in the same transaction, with its parameters.
pub(crate) type TokenConsequence = for<'c> fn(&'c Credential) -> Option<(&'static Statement, Vec<Value<'c>>)>;

/// A [`TokenConsequence`]: every token of the credential is deleted.
pub(crate) fn every_token_revoked(credential: &Credential) -> Option<(&'static Statement, Vec<Value<'_>>)> {
    Some((
        &*sql::REVOKE_CREDENTIAL_TOKENS,
        credential_tokens(&credential.id).to_vec(),
    ))
}

/// A [`TokenConsequence`]: nothing happens to the tokens.
pub(crate) fn tokens_untouched(_credential: &Credential) -> Option<(&'static Statement, Vec<Value<'_>>)> {
    None
}

/// The parameters of [`crate::sql::INSERT_TOKEN`] and [`crate::sql::ADD_TOKEN`].
pub(crate) fn new_token(token: &NewToken) -> [Value<'_>; 5] {
    [
        text(&token.id),
        Value::Bytes(&token.secret_hash),
        text(&token.credential_id),
        integer(token.created_at),
        integer(token.expires_at),
    ]
}

/// The parameters of [`crate::sql::SWEEP_EXPIRED_TOKENS`] and
/// [`crate::sql::TOUCH_CREDENTIAL`]: the token's credential and creation time.
pub(crate) fn token_use(token: &NewToken) -> [Value<'_>; 2] {
    [text(&token.credential_id), integer(token.created_at)]
}

/// One parameter: a single key (an ID, a label, a client_id).
pub(crate) fn one_key(key: &str) -> [Value<'_>; 1] {
    [text(key)]
}

/// The parameters of [`crate::sql::REVOKE_TOKEN`].
pub(crate) fn token_revocation<'a>(
    token_id: &'a str,
    credential_id: &'a str,
    secret_hash: &'a [u8; 32],
) -> [Value<'a>; 3] {
    [text(token_id), text(credential_id), Value::Bytes(secret_hash)]
}

/// The two parameters of a list position, in list order.
pub(crate) fn position(position: &Position) -> [Value<'_>; 2] {
    [integer(position.created_at), text(&position.id)]
}

/// A row limit.
pub(crate) fn limit(limit: i64) -> Value<'static> {
    integer(limit)
}

/// Builds an [`AuditEvent`] from [`crate::sql::AUDIT_EVENT_COLUMNS`]. Anything no
/// write of keycred's stores (an unknown action, actor or target kind, changes that
/// do not read back) is an error rather than a guess.
pub(crate) fn audit_event<R: Columns + ?Sized>(row: &R) -> Result<AuditEvent, R::Error> {
    let action = row.text(3)?;
    let action = AuditAction::parse(&action).ok_or_else(|| row.corrupt(3, format!("unknown action {action:?}")))?;
    let actor = match row.text(4)?.as_str() {
        "service_account" => Actor::ServiceAccount {
            service_account_id: row.optional_text(5)?.unwrap_or_default(),
            credential_id: row.optional_text(6)?.unwrap_or_default(),
        },
        "cli" => Actor::Cli,
        "client" => Actor::Client {
            client_id: row.optional_text(7)?,
        },
        other => return Err(row.corrupt(4, format!("unknown actor type {other:?}"))),
    };
    let target = match row.optional_text(8)?.as_deref() {
        None => None,
        Some(kind) => Some(AuditTarget {
            kind: match kind {
                "credential" => TargetKind::Credential,
                "service_account" => TargetKind::ServiceAccount,
                other => return Err(row.corrupt(8, format!("unknown target type {other:?}"))),
            },
            id: row.optional_text(9)?.unwrap_or_default(),
            service_account_id: row.optional_text(10)?,
        }),
    };
    let changes = match row.optional_text(14)? {
        None => None,
        Some(stored) => Some(AuditChanges::from_json(&stored).map_err(|problem| row.corrupt(14, problem))?),
    };
    let reason = match row.optional_text(15)? {
        None => None,
        Some(name) => {
            Some(DenialReason::parse(&name).ok_or_else(|| row.corrupt(15, format!("unknown reason {name:?}")))?)
        }
    };
    Ok(AuditEvent {
        id: row.text(0)?,
        organization_id: row.optional_text(1)?,
        occurred_at: row.integer(2)?,
        action,
        actor,
        target,
        request_id: row.optional_text(11)?,
        client_request_id: row.optional_text(12)?,
        source_address: row.optional_text(13)?,
        changes,
        reason,
        count: row.integer(16)?,
    })
}

/// An audit event's columns as stored, owned, so that statements can borrow them.
pub(crate) struct AuditRow {
    /// The event.
    event: AuditEvent,
    /// Its changes as JSON.
    changes: Option<String>,
    /// Its fold key, for a token denial.
    fold_key: Option<String>,
}

impl AuditRow {
    /// `event` as stored, folding with equal ones under `fold_key` if given.
    pub(crate) fn new(event: AuditEvent, fold_key: Option<String>) -> AuditRow {
        let changes = event.changes.as_ref().map(AuditChanges::to_json);
        AuditRow {
            event,
            changes,
            fold_key,
        }
    }

    /// Its fold key, if it has one.
    pub(crate) fn fold_key(&self) -> Option<&str> {
        self.fold_key.as_deref()
    }

    /// The parameters of [`crate::sql::INSERT_AUDIT_EVENT`] and
    /// [`crate::sql::RECORD_TOKEN_DENIAL`], and of [`crate::sql::INSERT_TOKEN`]'s
    /// `$6`–`$23`.
    pub(crate) fn params(&self) -> [Value<'_>; 18] {
        let event = &self.event;
        let (actor_service_account, actor_credential, actor_client) = match &event.actor {
            Actor::ServiceAccount {
                service_account_id,
                credential_id,
            } => (Some(service_account_id.as_str()), Some(credential_id.as_str()), None),
            Actor::Cli => (None, None, None),
            Actor::Client { client_id } => (None, None, client_id.as_deref()),
        };
        let target = event.target.as_ref();
        [
            text(&event.id),
            Value::Text(event.organization_id.as_deref()),
            integer(event.occurred_at),
            text(event.action.as_str()),
            text(event.actor.kind()),
            Value::Text(actor_service_account),
            Value::Text(actor_credential),
            Value::Text(actor_client),
            Value::Text(target.map(|target| target.kind.as_str())),
            Value::Text(target.map(|target| target.id.as_str())),
            Value::Text(target.and_then(|target| target.service_account_id.as_deref())),
            Value::Text(event.request_id.as_deref()),
            Value::Text(event.client_request_id.as_deref()),
            Value::Text(event.source_address.as_deref()),
            Value::Text(self.changes.as_deref()),
            Value::Text(event.reason.map(DenialReason::as_str)),
            integer(event.count),
            Value::Text(self.fold_key.as_deref()),
        ]
    }
}

/// The ID an export page starts strictly after, for a position in export order:
/// the position's event's ID or, for a position with no ID (the start of a
/// millisecond), the lowest ID of that millisecond.
pub(crate) fn audit_export_start(after: &Position) -> String {
    if after.id.is_empty() {
        event_id_floor(after.created_at)
    } else {
        after.id.clone()
    }
}

/// The parameters of [`crate::sql::EXPORT_AUDIT_EVENTS`], `start` from
/// [`audit_export_start`].
pub(crate) fn audit_export<'a>(organization_id: Option<&'a str>, start: &'a str, limit: i64) -> [Value<'a>; 3] {
    [Value::Text(organization_id), text(start), integer(limit)]
}

/// The lowest ID of an event at the pruning cutoff `before`, for
/// [`crate::sql::PRUNE_AUDIT_EVENTS`].
pub(crate) fn audit_prune_below(before: Millis) -> String {
    event_id_floor(before)
}

/// The parameters of [`crate::sql::PRUNE_AUDIT_EVENTS`].
pub(crate) fn audit_prune(below: &str, batch: i64) -> [Value<'_>; 2] {
    [text(below), integer(batch)]
}
