//! Authentication and authorisation: secret hashing, bearer tokens, callers, and the
//! role × operation table that both enforces access and answers `expand=permissions`.
//!
//! Secrets (client secrets, token secrets) are high-entropy random strings, so a single
//! SHA-256 is the right hash: there is nothing for a slow password hash to protect
//! against. Only hashes are stored, and hashes are compared in constant time.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ids;
use keycred_store::{Millis, Role, TokenRecord};

/// How long a bearer token lives, in seconds.
pub const TOKEN_LIFETIME_SECONDS: i64 = 3600;

/// SHA-256 of a secret, as stored.
pub fn hash_secret(secret: &str) -> [u8; 32] {
    #[cfg(test)]
    HASHES.with(|hashes| hashes.set(hashes.get() + 1));
    Sha256::digest(secret.as_bytes()).into()
}

#[cfg(test)]
thread_local! {
    /// How many secrets this thread has hashed, so tests can tell that two paths do the same work.
    static HASHES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many secrets this thread has hashed so far (tests only).
#[cfg(test)]
pub fn hashes_computed() -> u64 {
    HASHES.with(std::cell::Cell::get)
}

/// Whether `secret` hashes to `stored_hash`, compared in constant time.
pub fn secret_matches(secret: &str, stored_hash: &[u8; 32]) -> bool {
    hash_secret(secret).ct_eq(stored_hash).into()
}

/// Whether `secret` hashes to either stored hash: one hash of the secret, and both
/// comparisons made, each in constant time, whichever matches.
pub fn secret_matches_either(secret: &str, first: &[u8; 32], second: &[u8; 32]) -> bool {
    let presented = hash_secret(secret);
    (presented.ct_eq(first) | presented.ct_eq(second)).into()
}

/// A freshly minted bearer token: what the client gets, and what the store keeps.
pub struct MintedToken {
    /// The token the client sends: `<id>.<secret>`. Shown once, never stored.
    pub access_token: String,
    /// The public lookup half.
    pub id: String,
    /// SHA-256 of the secret half.
    pub secret_hash: [u8; 32],
}

/// Mints a new opaque bearer token at `now`. Its ID finds it in the store; its
/// secret proves it. The ID begins with the time (`keycred_store::time_ordered_id`),
/// so the store appends each new token instead of writing it into a random page of
/// an index that grows with every mint; the ID is not secret, the 256-bit secret is.
pub fn mint_token(now: Millis) -> MintedToken {
    let id = keycred_store::time_ordered_id(now);
    let secret = ids::token_secret();
    MintedToken {
        access_token: format!("{id}.{secret}"),
        secret_hash: hash_secret(&secret),
        id,
    }
}

/// Splits a bearer token into its ID and secret halves, if it has the right shape.
pub fn split_token(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.split_once('.')?;
    let well_formed = id.len() == 26
        && id
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit())
        && !secret.is_empty()
        && secret.len() <= 128;
    well_formed.then_some((id, secret))
}

/// Who is calling: the service account a valid token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The organization the caller is confined to.
    pub organization_id: String,
    /// The service account the token acts as.
    pub service_account_id: String,
    /// The credential that minted the token.
    pub credential_id: String,
    /// The service account's role.
    pub role: Role,
}

/// Checks a presented token secret against its stored record; the caller if it is valid now.
pub fn verify_token(record: &TokenRecord, secret: &str, now: Millis) -> Option<Caller> {
    verify_token_hash(record, &hash_secret(secret), now)
}

/// [`verify_token`] with the presented secret already hashed, so that a caller holding
/// a lock (the token cache) can hash before taking it. Compared in constant time.
pub fn verify_token_hash(record: &TokenRecord, presented_hash: &[u8; 32], now: Millis) -> Option<Caller> {
    let matches: bool = presented_hash.ct_eq(&record.secret_hash).into();
    (matches && now < record.expires_at).then(|| Caller {
        organization_id: record.organization_id.clone(),
        service_account_id: record.service_account_id.clone(),
        credential_id: record.credential_id.clone(),
        role: record.role,
    })
}

/// A kind of resource, as named in `permissions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// `organizations`
    Organizations,
    /// `service_accounts`
    ServiceAccounts,
    /// `service_account_credentials`
    ServiceAccountCredentials,
    /// `audit_events`
    AuditEvents,
}

impl Resource {
    /// The key under which `permissions` reports this resource type.
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Organizations => "organizations",
            Resource::ServiceAccounts => "service_accounts",
            Resource::ServiceAccountCredentials => "service_account_credentials",
            Resource::AuditEvents => "audit_events",
        }
    }

    /// The actions the API offers on resources of this type.
    pub fn actions(self) -> &'static [Action] {
        match self {
            Resource::Organizations => &[Action::Read],
            Resource::ServiceAccounts => &[Action::Read, Action::Create, Action::Update, Action::Delete],
            Resource::ServiceAccountCredentials => &[
                Action::Read,
                Action::Create,
                Action::Update,
                Action::Delete,
                Action::Rotate,
            ],
            Resource::AuditEvents => &[Action::Read],
        }
    }
}

/// Something a caller may try to do to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Get or list.
    Read,
    /// Create.
    Create,
    /// Change fields.
    Update,
    /// Delete.
    Delete,
    /// Replace a credential's secret (minting access, like a create).
    Rotate,
}

impl Action {
    /// The name under which `permissions` reports this action.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Rotate => "rotate",
        }
    }
}

/// The one table of who may do what in their own organization:
///
/// | resource                    | read | create | update         | delete | rotate |
/// |-----------------------------|------|--------|----------------|--------|--------|
/// | organizations               | all  | -      | -              | -      | -      |
/// | service_accounts            | all  | admin  | admin          | admin  | -      |
/// | service_account_credentials | all  | admin  | admin, member  | admin  | admin  |
/// | audit_events                | admin| -      | -              | -      | -      |
///
/// Only admins mint or revoke access (creating a credential is minting access to its
/// service account, whatever that account's role, and so is rotating its secret),
/// so a member cannot raise itself. `update` of a credential covers its status and
/// expiry as well as its name and description. The audit trail says who did what
/// from where across the whole organization: only admins read it.
pub fn allows(role: Role, resource: Resource, action: Action) -> bool {
    if !resource.actions().contains(&action) {
        return false;
    }
    match (resource, action) {
        (Resource::AuditEvents, Action::Read) => role == Role::OrgAdmin,
        (_, Action::Read) => true,
        (Resource::ServiceAccountCredentials, Action::Update) => matches!(role, Role::OrgAdmin | Role::OrgMember),
        _ => role == Role::OrgAdmin,
    }
}

/// `Ok` if the role allows the action, else the 403 that says which rule refused it.
pub fn require(role: Role, resource: Resource, action: Action) -> Result<(), keycred_api::ApiError> {
    if allows(role, resource, action) {
        Ok(())
    } else {
        Err(keycred_api::ApiError::forbidden(format!(
            "the {} role may not {} {}",
            role.as_str(),
            action.as_str(),
            resource.as_str()
        )))
    }
}

/// The caller's permissions on a resource type, for `expand=permissions`: every action
/// the API offers on it, denied ones as `false`. Read from [`allows`], so it cannot disagree.
pub fn permissions_on(role: Role, resource: Resource) -> BTreeMap<String, BTreeMap<String, bool>> {
    let actions = resource
        .actions()
        .iter()
        .map(|action| (action.as_str().to_owned(), allows(role, resource, *action)))
        .collect();
    BTreeMap::from([(resource.as_str().to_owned(), actions)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record_for(token: &MintedToken, expires_at: Millis) -> TokenRecord {
        TokenRecord {
            id: token.id.clone(),
            secret_hash: token.secret_hash,
            expires_at,
            credential_id: "c".repeat(26),
            service_account_id: "s".repeat(26),
            organization_id: "o".repeat(26),
            role: Role::OrgMember,
        }
    }

    #[test]
    fn a_minted_token_verifies_until_it_expires() {
        let token = mint_token(1);
        let (id, secret) = split_token(&token.access_token).unwrap();
        assert_eq!(id, token.id);
        assert!(verify_token(&record_for(&token, 1_000), secret, 999).is_some());
        assert!(verify_token(&record_for(&token, 1_000), secret, 1_000).is_none());
    }

    #[test]
    fn token_ids_sort_by_the_time_they_were_minted_and_keep_their_shape() {
        let times = [
            1_764_750_000_000,
            1_764_750_000_001,
            1_764_750_060_000,
            1_800_000_000_000,
        ];
        let tokens: Vec<MintedToken> = times.iter().map(|time| mint_token(*time)).collect();
        for pair in tokens.windows(2) {
            assert!(pair[0].id < pair[1].id, "{} then {}", pair[0].id, pair[1].id);
        }
        for token in &tokens {
            assert_eq!(
                split_token(&token.access_token).map(|(id, _)| id),
                Some(token.id.as_str())
            );
        }
        // Two minted in the same millisecond still differ.
        assert_ne!(mint_token(times[0]).id, mint_token(times[0]).id);
    }

    #[test]
    fn a_token_with_the_wrong_secret_does_not_verify() {
        let token = mint_token(1);
        assert!(verify_token(&record_for(&token, i64::MAX), "not-the-secret", 0).is_none());
    }

    #[test]
    fn malformed_tokens_do_not_split() {
        assert!(split_token("no-dot").is_none());
        assert!(split_token("SHORT.secret").is_none());
        assert!(split_token(&format!("{}.", "a".repeat(26))).is_none());
    }

    #[test]
    fn only_hashes_are_kept_of_a_token() {
        let token = mint_token(1);
        let (_, secret) = split_token(&token.access_token).unwrap();
        assert_eq!(token.secret_hash, hash_secret(secret));
        assert_ne!(token.secret_hash.as_slice(), secret.as_bytes());
    }

    #[test]
    fn viewers_read_but_do_not_update() {
        let credentials = Resource::ServiceAccountCredentials;
        assert!(allows(Role::OrgViewer, credentials, Action::Read));
        assert!(!allows(Role::OrgViewer, credentials, Action::Update));
        assert!(allows(Role::OrgMember, credentials, Action::Update));
        assert!(allows(Role::OrgAdmin, credentials, Action::Update));
    }

    #[test]
    fn only_admins_create_or_delete_anything() {
        for resource in [Resource::ServiceAccounts, Resource::ServiceAccountCredentials] {
            for action in [Action::Create, Action::Delete] {
                assert!(allows(Role::OrgAdmin, resource, action));
                assert!(!allows(Role::OrgMember, resource, action));
                assert!(!allows(Role::OrgViewer, resource, action));
            }
        }
        assert!(!allows(Role::OrgMember, Resource::ServiceAccounts, Action::Update));
    }

    #[test]
    fn actions_the_api_does_not_offer_are_never_allowed() {
        assert!(!allows(Role::OrgAdmin, Resource::Organizations, Action::Update));
        assert!(!allows(Role::OrgAdmin, Resource::ServiceAccounts, Action::Rotate));
    }

    #[test]
    fn only_admins_rotate_credentials() {
        let credentials = Resource::ServiceAccountCredentials;
        assert!(allows(Role::OrgAdmin, credentials, Action::Rotate));
        assert!(!allows(Role::OrgMember, credentials, Action::Rotate));
        assert!(!allows(Role::OrgViewer, credentials, Action::Rotate));
        assert!(permissions_on(Role::OrgAdmin, credentials)["service_account_credentials"]["rotate"]);
    }

    #[test]
    fn either_secret_matches_with_one_hash() {
        let (first, second) = (hash_secret("first"), hash_secret("second"));
        let before = hashes_computed();
        assert!(secret_matches_either("first", &first, &second));
        assert!(secret_matches_either("second", &first, &second));
        assert!(!secret_matches_either("third", &first, &second));
        assert_eq!(hashes_computed() - before, 3, "one hash per check");
    }

    #[test]
    fn permissions_list_denied_actions_as_false() {
        let permissions = permissions_on(Role::OrgViewer, Resource::ServiceAccountCredentials);
        let credentials = &permissions["service_account_credentials"];
        assert!(credentials["read"]);
        assert!(!credentials["update"]);
    }
}
