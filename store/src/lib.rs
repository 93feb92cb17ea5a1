//! The storage trait: what keycred persists, in domain terms, with no HTTP or SQL in sight.
//!
//! Handlers talk to a [`Store`]; the embedded default is [`sqlite::SqliteStore`], and
//! [`postgres::PgStore`] serves several keycred instances from one PostgreSQL database.
//! The trait is async and free of either database's assumptions; both implementations
//! read their schema changes from the one list in [`migrations`]. Timestamps are Unix
//! epoch milliseconds (UTC).

mod audit;
#[cfg(test)]
mod conformance;
mod migrations;
mod paging;
pub mod postgres;
mod revocations;
mod rows;
mod sql;
pub mod sqlite;

pub use audit::{
    recorded_client_id, time_ordered_id, Actor, AuditAction, AuditChanges, AuditContext, AuditEvent, AuditFilter,
    AuditTarget, Change, DenialReason, DeniedCredential, TargetKind, TokenDenial, CLIENT_ID_CHARS, DENIAL_FOLD_MILLIS,
};
pub use revocations::{RevocationFeed, Revoked};

use std::future::Future;
use std::time::Duration;

/// Unix epoch milliseconds, UTC. The API renders them as RFC 3339 with milliseconds.
pub type Millis = i64;

/// A tenant: every service account and credential belongs to exactly one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// 26-character nanoid of `0-9a-z`.
    pub id: String,
    /// Unique DNS label (`^[a-z0-9]+(-[a-z0-9]+)*$`, at most 63); usable wherever an ID is.
    pub label: String,
    /// Display name.
    pub name: String,
    /// When the organization was created.
    pub created_at: Millis,
    /// When the organization was last changed.
    pub updated_at: Millis,
}

/// A service account's role in its organization; decides what its tokens may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// May read and change everything in the organization.
    OrgAdmin,
    /// May read everything and change credentials.
    OrgMember,
    /// May only read.
    OrgViewer,
}

impl Role {
    /// Every role, in order of decreasing power.
    pub const ALL: [Role; 3] = [Role::OrgAdmin, Role::OrgMember, Role::OrgViewer];

    /// The role's name as stored and as shown: `org_admin`, `org_member`, `org_viewer`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::OrgAdmin => "org_admin",
            Role::OrgMember => "org_member",
            Role::OrgViewer => "org_viewer",
        }
    }

    /// Parses a role name; `None` for anything else.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == name)
    }
}

/// A machine identity inside an organization; it owns credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    /// 26-character nanoid of `0-9a-z`.
    pub id: String,
    /// The owning organization's ID.
    pub organization_id: String,
    /// Display name.
    pub name: String,
    /// Optional free text, at most 500 characters.
    pub description: Option<String>,
    /// What the service account's tokens may do.
    pub role: Role,
    /// When the service account was created.
    pub created_at: Millis,
    /// When the service account was last changed.
    pub updated_at: Millis,
}

/// A client_id/client_secret pair belonging to a service account. Never carries the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// 26-character nanoid of `0-9a-z`.
    pub id: String,
    /// The owning organization's ID (denormalised so tenancy checks need no join).
    pub organization_id: String,
    /// The owning service account's ID.
    pub service_account_id: String,
    /// 21-character nanoid of `0-9A-Za-z`, unique across all organizations.
    pub client_id: String,
    /// Display name.
    pub name: String,
    /// Optional free text, at most 500 characters.
    pub description: Option<String>,
    /// When the credential was created.
    pub created_at: Millis,
    /// When the credential was last changed.
    pub updated_at: Millis,
    /// When the credential last minted a token; `None` until it first does.
    pub last_used_at: Option<Millis>,
    /// Whether it may be used at all, as stored (`expired` is never stored: see
    /// [`Credential::is_expired_at`]).
    pub status: CredentialStatus,
    /// When it stops working; `None` for never.
    pub expires_at: Option<Millis>,
    /// When its secret was last replaced; `None` if it never was.
    pub secret_rotated_at: Option<Millis>,
    /// Until when the secret it had before its last rotation is still accepted;
    /// `None` if no previous secret is kept (a past time: one no longer accepted).
    pub previous_secret_expires_at: Option<Millis>,
}

impl Credential {
    /// The credential as `patch`, applied at `now`, leaves it: what
    /// [`sql::UPDATE_CREDENTIAL`] writes, computed from the row before the update.
    /// `updated_at` moves to `now` only if a field changes.
    pub(crate) fn patched(&self, patch: &CredentialPatch, now: Millis) -> Credential {
        let mut after = self.clone();
        if let Some(name) = &patch.name {
            after.name.clone_from(name);
        }
        if let Some(description) = &patch.description {
            after.description = Some(description.clone());
        }
        if let Some(status) = patch.status {
            after.status = status;
        }
        if let Some(expires_at) = patch.expires_at {
            after.expires_at = expires_at;
        }
        if after.name != self.name
            || after.description != self.description
            || after.status != self.status
            || after.expires_at != self.expires_at
        {
            after.updated_at = now;
        }
        after
    }

    /// Whether its expiry has come by `now`.
    pub fn is_expired_at(&self, now: Millis) -> bool {
        self.expires_at.is_some_and(|expires_at| expires_at <= now)
    }

    /// Where to find it: its three IDs.
    pub fn key(&self) -> CredentialKey<'_> {
        CredentialKey {
            organization_id: &self.organization_id,
            service_account_id: &self.service_account_id,
            credential_id: &self.id,
        }
    }

    /// Whether it may mint a token at `now`: active and not expired.
    pub fn is_usable_at(&self, now: Millis) -> bool {
        self.status == CredentialStatus::Active && !self.is_expired_at(now)
    }
}

/// A credential's status as stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum CredentialStatus {
    /// It may mint tokens (unless it has expired).
    #[default]
    Active,
    /// It may not mint tokens, and has none.
    Disabled,
}

impl CredentialStatus {
    /// The status as stored and as shown: `active` or `disabled`.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialStatus::Active => "active",
            CredentialStatus::Disabled => "disabled",
        }
    }

    /// Parses a stored status; `None` for anything else.
    pub fn parse(name: &str) -> Option<CredentialStatus> {
        [CredentialStatus::Active, CredentialStatus::Disabled]
            .into_iter()
            .find(|status| status.as_str() == name)
    }
}

/// A new credential as the store receives it: the secret is already hashed.
#[derive(Debug, Clone)]
pub struct NewCredential {
    /// The credential as it will be stored (`last_used_at` is `None`).
    pub credential: Credential,
    /// SHA-256 of the client secret.
    pub secret_hash: [u8; 32],
}

/// What the token endpoint needs to check a client_id/client_secret pair.
#[derive(Debug, Clone)]
pub struct ClientRecord {
    /// The credential the client_id belongs to.
    pub credential: Credential,
    /// SHA-256 of the client secret, to be compared in constant time.
    pub secret_hash: [u8; 32],
    /// SHA-256 of the secret before the last rotation, while one is kept (until
    /// `credential.previous_secret_expires_at`, which the caller must check).
    pub previous_secret_hash: Option<[u8; 32]>,
}

/// Changes to a credential; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialPatch {
    /// New display name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New status. Disabling deletes the credential's tokens in the same transaction.
    pub status: Option<CredentialStatus>,
    /// `Some(Some(t))` sets the expiry to `t` (the credential's tokens then expire at
    /// `t` at the latest, in the same transaction), `Some(None)` removes it.
    pub expires_at: Option<Option<Millis>>,
}

/// A new secret for a credential.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// SHA-256 of the new client secret.
    pub secret_hash: [u8; 32],
    /// When the rotation happens: the new `secret_rotated_at` and `updated_at`.
    pub now: Millis,
    /// Until when the replaced secret is still accepted; `None` (no grace) forgets
    /// it at once. Either way a secret kept from an earlier rotation is forgotten:
    /// at most two secrets are ever valid.
    pub previous_secret_expires_at: Option<Millis>,
    /// Whether to delete the credential's tokens in the same transaction.
    pub revoke_tokens: bool,
}

/// Where to find one credential: all three IDs must agree, so no caller can reach
/// a credential through another organization or service account.
#[derive(Debug, Clone, Copy)]
pub struct CredentialKey<'a> {
    /// The organization's ID (already resolved from a label by the caller).
    pub organization_id: &'a str,
    /// The service account's ID.
    pub service_account_id: &'a str,
    /// The credential's ID.
    pub credential_id: &'a str,
}

/// Changes to a service account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceAccountPatch {
    /// New display name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New role.
    pub role: Option<Role>,
}

/// Where an item sits in a list. Lists are ordered by `created_at`, then `id`, both
/// ascending; the pair is unique and never changes, so a position stays meaningful
/// even after its item is deleted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// The item's creation time.
    pub created_at: Millis,
    /// The item's ID (breaks ties between items created in the same millisecond).
    pub id: String,
}

/// Which page of a list to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageStart {
    /// The first `limit` items.
    First,
    /// The first `limit` items strictly after this position.
    After(Position),
    /// The last `limit` items strictly before this position (returned in list order).
    Before(Position),
}

/// A request for one page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Where the page starts.
    pub start: PageStart,
    /// At most this many items (at least 1).
    pub limit: usize,
}

/// One page of a list, in list order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Whether any item of the list comes after this page's last item (after the
    /// `Before` position, for an empty page read with `Before`).
    pub has_next_page: bool,
    /// Whether any item of the list comes before this page's first item (before the
    /// `After` position, for an empty page read with `After`).
    pub has_prev_page: bool,
}

/// A status the organization-wide credential list can be filtered by, as of a
/// given time. Read from the `status` and `expires_at` columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialStatusFilter {
    /// Not disabled, and no expiry or one still to come.
    Active,
    /// Disabled.
    Disabled,
    /// Not disabled, and its expiry has come.
    Expired,
}

/// Which credentials the organization-wide list shows: those meeting every filter
/// given (`None` leaves one out).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CredentialFilter {
    /// Only credentials in this status.
    pub status: Option<CredentialStatusFilter>,
    /// Only credentials with an expiry strictly before this time.
    pub expires_before: Option<Millis>,
    /// Only credentials last used strictly before this time, or never used.
    pub last_used_before: Option<Millis>,
}

/// A bearer token as stored: the token's secret part only as a hash.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// Public lookup part of the token (26-character nanoid).
    pub id: String,
    /// SHA-256 of the token's secret part.
    pub secret_hash: [u8; 32],
    /// The credential that minted it; the token dies with it.
    pub credential_id: String,
    /// That credential's service account, for the `token.issued` event.
    pub service_account_id: String,
    /// That credential's organization, for the `token.issued` event.
    pub organization_id: String,
    /// When it was minted.
    pub created_at: Millis,
    /// When it stops working.
    pub expires_at: Millis,
}

impl NewToken {
    /// Where to find the credential that minted it.
    pub fn credential(&self) -> CredentialKey<'_> {
        CredentialKey {
            organization_id: &self.organization_id,
            service_account_id: &self.service_account_id,
            credential_id: &self.credential_id,
        }
    }
}

/// A stored token joined with the identity it speaks for.
#[derive(Debug, Clone)]
pub struct TokenRecord {
    /// Public lookup part of the token.
    pub id: String,
    /// SHA-256 of the token's secret part, to be compared in constant time.
    pub secret_hash: [u8; 32],
    /// When it stops working.
    pub expires_at: Millis,
    /// The credential that minted it.
    pub credential_id: String,
    /// The service account the token acts as.
    pub service_account_id: String,
    /// The organization the token is confined to.
    pub organization_id: String,
    /// The service account's role at lookup time.
    pub role: Role,
}

/// Why a storage call failed. Handlers turn these into API errors.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A uniqueness rule was broken (e.g. an organization label taken).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database cannot take work right now (queue full, locked, read-only, disk full).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Anything else; the message is for the log, never for the client.
    #[error("storage failure: {0}")]
    Internal(String),
}

/// Result of a storage call.
pub type StorageResult<T> = Result<T, StorageError>;

/// What a store tells about its own work as it goes, for metrics: a small hook it is
/// given when opened, so the storage layer needs to know nothing of HTTP or of how
/// the numbers are published. Both backends report every event, each in its own
/// terms (said at each method). Called on hot paths, so implementations must be
/// cheap and must not block (atomics, not locks).
pub trait StorageObserver: Send + Sync + 'static {
    /// The writes waiting to run grew (positive) or shrank (negative) by `delta`.
    /// SQLite: writes queued for the writer thread; PostgreSQL: writes waiting for
    /// a connection from the pool. Growth is reported before the write is offered,
    /// so the running sum never goes below zero.
    fn write_queue_changed(&self, delta: isize) {
        let _ = delta;
    }

    /// A write waited `wait` before it started to run. SQLite: from being queued
    /// until the writer thread began the batch it is in; PostgreSQL: for a
    /// connection from the pool. A write refused instead is reported as failed.
    fn write_waited(&self, wait: Duration) {
        let _ = wait;
    }

    /// A transaction holding `writes` writes committed, durably, `latency` after
    /// it began. SQLite: one group-commit batch on the writer thread, from `BEGIN
    /// IMMEDIATE` to the end of its `COMMIT` (counting the writes that succeeded);
    /// PostgreSQL: one write, whose statement is its own transaction (so `writes`
    /// is always 1), from sending it to its answer.
    fn committed(&self, writes: usize, latency: Duration) {
        let _ = (writes, latency);
    }

    /// A storage call is about to answer with `error`.
    fn storage_failed(&self, error: &StorageError) {
        let _ = error;
    }
}

/// A [`StorageObserver`] that ignores everything (for the CLI and tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct IgnoreStorageEvents;

impl StorageObserver for IgnoreStorageEvents {}

/// Everything keycred persists. Every write is durable once its future resolves `Ok`.
///
/// Every write that changes something records its audit event (see [`AuditEvent`])
/// in the same transaction, from the [`AuditContext`] it is given: a change is never
/// stored without its event, nor an event without its change. A write that changes
/// nothing (a conditional write whose condition failed, a patch to the values already
/// stored, a delete of what is not there) records nothing.
pub trait Store: Send + Sync + 'static {
    /// Finds an organization by its ID or, failing that, by its label.
    fn find_organization(&self, id_or_label: &str) -> impl Future<Output = StorageResult<Option<Organization>>> + Send;

    /// Creates an organization; `Conflict` if the label is taken.
    fn create_organization(&self, organization: Organization) -> impl Future<Output = StorageResult<()>> + Send;

    /// Creates a service account in an existing organization (`service_account.created`).
    fn create_service_account(
        &self,
        service_account: ServiceAccount,
        audit: AuditContext,
    ) -> impl Future<Output = StorageResult<()>> + Send;

    /// Lists an organization's service accounts.
    fn list_service_accounts(
        &self,
        organization_id: &str,
        page: PageRequest,
    ) -> impl Future<Output = StorageResult<Page<ServiceAccount>>> + Send;

    /// Reads one service account; `None` if it is not in this organization.
    fn find_service_account(
        &self,
        organization_id: &str,
        service_account_id: &str,
    ) -> impl Future<Output = StorageResult<Option<ServiceAccount>>> + Send;

    /// Applies a patch and returns the service account as stored afterwards; `None` if it
    /// is not in this organization. `updated_at` becomes `now` only when a field changed.
    ///
    /// With `expected`, the patch applies only if the stored service account still has
    /// exactly `expected`'s name, description, role and `updated_at` (`None` otherwise,
    /// and nothing changes): a compare-and-set in the one statement, so it holds against
    /// concurrent writers, other keycred instances included.
    ///
    /// Records `service_account.updated` with every field that changed, if any did.
    fn update_service_account(
        &self,
        organization_id: &str,
        service_account_id: &str,
        patch: ServiceAccountPatch,
        now: Millis,
        expected: Option<ServiceAccount>,
        audit: AuditContext,
    ) -> impl Future<Output = StorageResult<Option<ServiceAccount>>> + Send;

    /// Deletes a service account with its credentials and their tokens, in one
    /// transaction; `false` if it is not in this organization.
    ///
    /// With `expected`, it is deleted only if it still has exactly `expected`'s name,
    /// description, role and `updated_at` (`false` otherwise, and nothing is deleted),
    /// checked in the same statement, as for [`Store::update_service_account`].
    ///
    /// Records `service_account.deleted`, and `credential.deleted` for each of its
    /// credentials.
    fn delete_service_account(
        &self,
        organization_id: &str,
        service_account_id: &str,
        expected: Option<ServiceAccount>,
        audit: AuditContext,
    ) -> impl Future<Output = StorageResult<bool>> + Send;

    /// Creates a credential; `false` (and nothing stored) if its service account is not in
    /// its organization; `Conflict` if the client_id is taken. Records `credential.created`.
    fn create_credential(
        &self,
        credential: NewCredential,
        audit: AuditContext,
    ) -> impl Future<Output = StorageResult<bool>> + Send;

    /// Lists a service account's credentials (an empty first page if the service account
    /// is not in this organization).
    fn list_credentials(
        &self,
        organization_id: &str,
        service_account_id: &str,
        page: PageRequest,
    ) -> impl Future<Output = StorageResult<Page<Credential>>> + Send;

    /// Lists an organization's credentials across all its service accounts, in the
    /// one list order, keeping those that meet `filter` as of `now` (an empty first
    /// page if there is no such organization). With filters, a page may have to read
    /// many of the organization's credentials to find `limit` that match.
    fn list_organization_credentials(
        &self,
        organization_id: &str,
        filter: CredentialFilter,
        now: Millis,
        page: PageRequest,
    ) -> impl Future<Output = StorageResult<Page<Credential>>> + Send;

    /// Deletes a credential and its tokens, in one transaction; `false` if it does not
    /// exist under exactly these IDs.
    ///
    /// With `expected`, it is deleted only if it still has exactly `expected`'s name,
    /// description, status, expiry, `secret_rotated_at` and `updated_at` (`false`
    /// otherwise, and nothing is deleted), checked in the same statement, as for
    /// [`Store::update_credential`]. Records `credential.deleted`.
    fn delete_credential(
        &self,
        key: CredentialKey<'_>,
        expected: Option<Credential>,
        audit: AuditContext,
    ) -> impl Future<Output = StorageResult<bool>> + Send;

    /// Reads one credential; `None` if it does not exist under exactly these IDs.
    fn find_credential(&self, key: CredentialKey<'_>)
        -> impl Future<Output = StorageResult<Option<Credential>>> + Send;

    /// Applies a patch and returns the credential as stored afterwards; `None` if it
    /// does not exist under exactly these IDs. `updated_at` becomes `now` only when a
    /// field actually changed. In the same transaction, a credential disabled loses its
    /// tokens, and one with an expiry has its tokens' expiry cut to its own.
    ///
    /// With `expected`, the patch applies only if the stored credential still has exactly
    /// `expected`'s name, description, status, expiry, `secret_rotated_at` and
    /// `updated_at` (`None` otherwise, and nothing changes), checked in the same
    /// statement, as for [`Store::update_service_account`].
    ///
    /// Records, if any field changed, `credential.disabled` or `credential.enabled`
    /// when the status changed and `credential.updated` otherwise, with every field
    /// that changed.
    fn update_credential(
        &self,
        key: CredentialKey<'_>,
        patch: CredentialPatch,
        now: Millis,
        expected: Option<Credential>,
        audit: AuditContext,
    ) -> impl Future<Output = StorageResult<Option<Credential>>> + Send;

    /// Replaces a credential's secret and returns the credential as stored afterwards;
    /// `None` if it does not exist under exactly these IDs. One atomic write: the
    /// replaced secret becomes the previous one (or is forgotten), and with
    /// `revoke_tokens` the credential's tokens are deleted in the same transaction.
    ///
    /// With `expected`, it applies only if the stored credential is still in exactly
    /// `expected`'s state, as for [`Store::update_credential`]. Records `credential.rotated`.
    fn rotate_credential(
        &self,
        key: CredentialKey<'_>,
        rotation: Rotation,
        expected: Option<Credential>,
        audit: AuditContext,
    ) -> impl Future<Output = StorageResult<Option<Credential>>> + Send;

    /// Looks up a credential by client_id, with its secret hashes, for the token endpoint.
    fn find_client(&self, client_id: &str) -> impl Future<Output = StorageResult<Option<ClientRecord>>> + Send;

    /// Stores a freshly minted token and sets its credential's `last_used_at` to
    /// `token.created_at`, in one transaction. Also removes that credential's expired tokens.
    /// The token's `expires_at` is cut to the credential's own, if that is earlier.
    ///
    /// `false`, and nothing stored, if the credential no longer exists (deleted, or its
    /// service account deleted, since it was looked up), is disabled, or has expired by
    /// `token.created_at`: the check and the insert are one atomic step, so a token is
    /// never stored for a credential that is gone or unusable, and a delete or disable
    /// that commits after the insert takes the token with it. Records `token.issued`
    /// when it stores the token.
    fn insert_token(&self, token: NewToken, audit: AuditContext) -> impl Future<Output = StorageResult<bool>> + Send;

    /// Records failed client authentications as `token.denied` events, each folded
    /// into the event of an equal denial (same client_id, source address and reason)
    /// whose first attempt was in the same minute, if there is one, which then counts
    /// its attempts too. One transaction for all of them.
    fn record_token_denials(&self, denials: Vec<TokenDenial>) -> impl Future<Output = StorageResult<()>> + Send;

    /// Lists an organization's audit events, newest first (by `occurred_at`, then
    /// `id`, both descending; a [`Position`]'s `created_at` is the event's
    /// `occurred_at`), keeping those that meet `filter`.
    fn list_audit_events(
        &self,
        organization_id: &str,
        filter: AuditFilter,
        page: PageRequest,
    ) -> impl Future<Output = StorageResult<Page<AuditEvent>>> + Send;

    /// Up to `limit` events in export order (oldest first, by `occurred_at` then
    /// `id`) strictly after `after`: one organization's, or with `None` every event,
    /// those of no organization included.
    fn export_audit_events(
        &self,
        organization_id: Option<&str>,
        after: Position,
        limit: usize,
    ) -> impl Future<Output = StorageResult<Vec<AuditEvent>>> + Send;

    /// Deletes up to `limit` of the oldest events that occurred before `before`, in
    /// one transaction; how many it deleted. Retention pruning, in small batches so
    /// that no write waits long for it.
    fn prune_audit_events(&self, before: Millis, limit: usize) -> impl Future<Output = StorageResult<usize>> + Send;

    /// The key list cursors are signed with: made once by a migration and kept in the
    /// database, so every instance and every restart agree on it.
    fn cursor_key(&self) -> impl Future<Output = StorageResult<Vec<u8>>> + Send;

    /// Finds a token by its public ID, joined with its credential, service account and
    /// role; `None` if the token, its credential or its service account is gone.
    fn find_token(&self, token_id: &str) -> impl Future<Output = StorageResult<Option<TokenRecord>>> + Send;

    /// Deletes the token `token_id` if it was minted by the credential `credential`
    /// and its secret hashes to `secret_hash`; `true` if it was deleted, `false` (and
    /// nothing changes) if there is no such token: unknown, already gone, another
    /// credential's, or not its secret. The token endpoint's RFC 7009 revocation.
    /// Records `token.revoked` when it deletes the token.
    fn revoke_token(
        &self,
        token_id: &str,
        secret_hash: [u8; 32],
        credential: CredentialKey<'_>,
        audit: AuditContext,
    ) -> impl Future<Output = StorageResult<bool>> + Send;

    /// Tells every other store on the same database (other keycred instances) that
    /// the tokens `revoked` names no longer work, so that they stop trusting what
    /// they remember of them. Call it after the revoking write has committed.
    /// PostgreSQL: a `NOTIFY`; SQLite: nothing, since one process serves the file
    /// (anything else writing to it is bounded by the token cache's TTL alone).
    fn announce_revocation(&self, revoked: Revoked) -> impl Future<Output = StorageResult<()>> + Send;

    /// The revocations other stores on the same database announce from now on (never
    /// this store's own), and [`Revoked::Everything`] whenever some may have been
    /// missed (when listening starts, and again after the connection it listens on
    /// was lost and made anew). PostgreSQL: a task with a connection of its own
    /// `LISTEN`s until the feed is dropped; SQLite: the feed ends at once (`None`),
    /// nothing is ever heard. Call it from within a tokio runtime.
    fn subscribe_revocations(&self) -> RevocationFeed;

    /// Whether the store can serve requests: the database answers a query, and the
    /// SQLite writer commits a write or a connection of the PostgreSQL pool answers.
    /// The error says what failed.
    fn check_ready(&self) -> impl Future<Output = StorageResult<()>> + Send;
}
