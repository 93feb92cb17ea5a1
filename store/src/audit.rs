//! The audit trail's domain types: who did what to which resource, from where, and
//! what changed; and how each write's event is made from the state before and after.
//!
//! Every write of the [`crate::Store`] takes an [`AuditContext`] and records its
//! [`AuditEvent`] in the same transaction as the change, so a change is never
//! stored without its event nor an event without its change. Token denials are the
//! one kind recorded apart ([`crate::Store::record_token_denials`]): they change
//! nothing, and equal ones within a minute fold into one event that counts them.

use rand::Rng;
use serde::Serialize;
use serde_json::{Map, Value as Json};

use crate::{Credential, CredentialKey, CredentialStatus, Millis, Role, ServiceAccount};

/// What happened. Stored and shown as its [`AuditAction::as_str`] name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    /// `credential.created`
    CredentialCreated,
    /// `credential.updated`: a PATCH that changed a field other than the status.
    CredentialUpdated,
    /// `credential.deleted`, also once for each credential of a deleted service account.
    CredentialDeleted,
    /// `credential.rotated`: its secret was replaced.
    CredentialRotated,
    /// `credential.disabled`: a PATCH that changed the status to `disabled`.
    CredentialDisabled,
    /// `credential.enabled`: a PATCH that changed the status to `active`.
    CredentialEnabled,
    /// `service_account.created`
    ServiceAccountCreated,
    /// `service_account.updated`
    ServiceAccountUpdated,
    /// `service_account.deleted`
    ServiceAccountDeleted,
    /// `token.issued`: the token endpoint minted a token.
    TokenIssued,
    /// `token.revoked`: a token was revoked (RFC 7009).
    TokenRevoked,
    /// `token.denied`: a client failed to authenticate at the token endpoint.
    TokenDenied,
}

impl AuditAction {
    /// Every action, in the order the API documents them.
    pub const ALL: [AuditAction; 12] = [
        AuditAction::CredentialCreated,
        AuditAction::CredentialUpdated,
        AuditAction::CredentialDeleted,
        AuditAction::CredentialRotated,
        AuditAction::CredentialDisabled,
        AuditAction::CredentialEnabled,
        AuditAction::ServiceAccountCreated,
        AuditAction::ServiceAccountUpdated,
        AuditAction::ServiceAccountDeleted,
        AuditAction::TokenIssued,
        AuditAction::TokenRevoked,
        AuditAction::TokenDenied,
    ];

    /// The action's name as stored and shown, e.g. `credential.updated`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::CredentialCreated => "credential.created",
            AuditAction::CredentialUpdated => "credential.updated",
            AuditAction::CredentialDeleted => "credential.deleted",
            AuditAction::CredentialRotated => "credential.rotated",
            AuditAction::CredentialDisabled => "credential.disabled",
            AuditAction::CredentialEnabled => "credential.enabled",
            AuditAction::ServiceAccountCreated => "service_account.created",
            AuditAction::ServiceAccountUpdated => "service_account.updated",
            AuditAction::ServiceAccountDeleted => "service_account.deleted",
            AuditAction::TokenIssued => "token.issued",
            AuditAction::TokenRevoked => "token.revoked",
            AuditAction::TokenDenied => "token.denied",
        }
    }

    /// Parses an action's name; `None` for anything else.
    pub fn parse(name: &str) -> Option<AuditAction> {
        AuditAction::ALL.into_iter().find(|action| action.as_str() == name)
    }
}

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// An API call authenticated with a token: its service account and the
    /// credential that minted it.
    ServiceAccount {
        /// The token's service account.
        service_account_id: String,
        /// The credential that minted the token.
        credential_id: String,
    },
    /// `keycred bootstrap` (or another command run by an operator).
    Cli,
    /// A client authenticating at the token endpoint, by the client_id it presented
    /// (`None` for an attempt refused by a throttle on its whole address).
    Client {
        /// The client_id presented, at most [`CLIENT_ID_CHARS`] characters of it.
        client_id: Option<String>,
    },
}

impl Actor {
    /// The actor's kind as stored and shown: `service_account`, `cli` or `client`.
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::ServiceAccount { .. } => "service_account",
            Actor::Cli => "cli",
            Actor::Client { .. } => "client",
        }
    }
}

/// The most characters of a presented client_id an event keeps: real ones have 21,
/// and a guesser's may be far longer.
pub const CLIENT_ID_CHARS: usize = 64;

/// A presented client_id as an event keeps it: at most [`CLIENT_ID_CHARS`]
/// characters, control characters (NUL among them, which PostgreSQL cannot store)
/// replaced by U+FFFD.
pub fn recorded_client_id(client_id: &str) -> String {
    client_id
        .chars()
        .take(CLIENT_ID_CHARS)
        .map(|char| if char.is_control() { '\u{FFFD}' } else { char })
        .collect()
}

/// The kind of resource an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetKind {
    /// A credential (its service account is named too).
    Credential,
    /// A service account.
    ServiceAccount,
}

impl TargetKind {
    /// The kind as stored and shown: `credential` or `service_account`.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Credential => "credential",
            TargetKind::ServiceAccount => "service_account",
        }
    }
}

/// The resource an event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditTarget {
    /// Its kind.
    pub kind: TargetKind,
    /// Its ID.
    pub id: String,
    /// For a credential, its service account's ID.
    pub service_account_id: Option<String>,
}

impl AuditTarget {
    /// A credential as a target.
    pub fn credential(credential_id: &str, service_account_id: &str) -> AuditTarget {
        AuditTarget {
            kind: TargetKind::Credential,
            id: credential_id.to_owned(),
            service_account_id: Some(service_account_id.to_owned()),
        }
    }

    /// A service account as a target.
    pub fn service_account(service_account_id: &str) -> AuditTarget {
        AuditTarget {
            kind: TargetKind::ServiceAccount,
            id: service_account_id.to_owned(),
            service_account_id: None,
        }
    }
}

/// One field's change: its value before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change<T> {
    /// Before.
    pub from: T,
    /// After.
    pub to: T,
}

/// What an update changed: each field present only if it changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditChanges {
    /// The display name.
    pub name: Option<Change<String>>,
    /// The description (`None` where there was none).
    pub description: Option<Change<Option<String>>>,
    /// A service account's role.
    pub role: Option<Change<Role>>,
    /// A credential's status as stored.
    pub status: Option<Change<CredentialStatus>>,
    /// A credential's expiry (`None` for never).
    pub expires_at: Option<Change<Option<Millis>>>,
}

/// `value` as JSON; strings, numbers and `None` always serialise.
fn json_text<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("a string, number or null serialises")
}

/// `Some` change if `from` and `to` differ.
fn change<T: PartialEq + Clone>(from: &T, to: &T) -> Option<Change<T>> {
    (from != to).then(|| Change {
        from: from.clone(),
        to: to.clone(),
    })
}

impl AuditChanges {
    /// What changed from one state of a credential to the next.
    pub fn of_credential(before: &Credential, after: &Credential) -> AuditChanges {
        AuditChanges {
            name: change(&before.name, &after.name),
            description: change(&before.description, &after.description),
            role: None,
            status: change(&before.status, &after.status),
            expires_at: change(&before.expires_at, &after.expires_at),
        }
    }

    /// What changed from one state of a service account to the next.
    pub fn of_service_account(before: &ServiceAccount, after: &ServiceAccount) -> AuditChanges {
        AuditChanges {
            name: change(&before.name, &after.name),
            description: change(&before.description, &after.description),
            role: change(&before.role, &after.role),
            status: None,
            expires_at: None,
        }
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        *self == AuditChanges::default()
    }

    /// The changes as stored: a JSON object of `{"from": …, "to": …}` per field,
    /// fields in alphabetical order, times as epoch milliseconds and absent values
    /// as `null`. Written directly, not through a `serde_json::Value`: this runs for
    /// every update on the writer thread.
    pub(crate) fn to_json(&self) -> String {
        let mut out = String::from("{");
        let mut put = |field: &str, from: String, to: String| {
            if out.len() > 1 {
                out.push(',');
            }
            out.push_str(&format!(r#""{field}":{{"from":{from},"to":{to}}}"#));
        };
        if let Some(Change { from, to }) = &self.description {
            put("description", json_text(from), json_text(to));
        }
        if let Some(Change { from, to }) = &self.expires_at {
            put("expires_at", json_text(from), json_text(to));
        }
        if let Some(Change { from, to }) = &self.name {
            put("name", json_text(from), json_text(to));
        }
        if let Some(Change { from, to }) = &self.role {
            put("role", json_text(from.as_str()), json_text(to.as_str()));
        }
        if let Some(Change { from, to }) = &self.status {
            put("status", json_text(from.as_str()), json_text(to.as_str()));
        }
        out.push('}');
        out
    }

    /// Reads changes as [`AuditChanges::to_json`] stores them; the error names what
    /// is wrong with them.
    pub(crate) fn from_json(stored: &str) -> Result<AuditChanges, String> {
        let fields: Map<String, Json> =
            serde_json::from_str(stored).map_err(|err| format!("changes are not a JSON object: {err}"))?;
        let mut changes = AuditChanges::default();
        for (field, value) in &fields {
            let side = |side: &str| value.get(side).cloned().unwrap_or(Json::Null);
            let (from, to) = (side("from"), side("to"));
            let bad = || format!("the change of {field} is not readable: {value}");
            let text = |json: &Json| json.as_str().map(str::to_owned);
            let optional_text = |json: &Json| {
                if json.is_null() {
                    Some(None)
                } else {
                    text(json).map(Some)
                }
            };
            let optional_time = |json: &Json| {
                if json.is_null() {
                    Some(None)
                } else {
                    json.as_i64().map(Some)
                }
            };
            let role = |json: &Json| json.as_str().and_then(Role::parse);
            let status = |json: &Json| json.as_str().and_then(CredentialStatus::parse);
            match field.as_str() {
                "name" => changes.name = Some(both(text(&from), text(&to)).ok_or_else(bad)?),
                "description" => {
                    changes.description = Some(both(optional_text(&from), optional_text(&to)).ok_or_else(bad)?);
                }
                "role" => changes.role = Some(both(role(&from), role(&to)).ok_or_else(bad)?),
                "status" => changes.status = Some(both(status(&from), status(&to)).ok_or_else(bad)?),
                "expires_at" => {
                    changes.expires_at = Some(both(optional_time(&from), optional_time(&to)).ok_or_else(bad)?);
                }
                other => return Err(format!("changes name an unknown field {other:?}")),
            }
        }
        Ok(changes)
    }
}

/// A change from both of its sides, if both were readable.
fn both<T>(from: Option<T>, to: Option<T>) -> Option<Change<T>> {
    Some(Change { from: from?, to: to? })
}

/// Why a client failed to authenticate at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DenialReason {
    /// No credential has the client_id presented.
    UnknownClient,
    /// The secret is not the credential's (nor its previous one, while kept).
    WrongSecret,
    /// The credential is disabled.
    Disabled,
    /// The credential has expired.
    Expired,
    /// Too many failures: refused before the secret was checked.
    Throttled,
}

impl DenialReason {
    /// Every reason.
    pub const ALL: [DenialReason; 5] = [
        DenialReason::UnknownClient,
        DenialReason::WrongSecret,
        DenialReason::Disabled,
        DenialReason::Expired,
        DenialReason::Throttled,
    ];

    /// The reason as stored and shown: `unknown_client`, `wrong_secret`,
    /// `disabled`, `expired` or `throttled`.
    pub fn as_str(self) -> &'static str {
        match self {
            DenialReason::UnknownClient => "unknown_client",
            DenialReason::WrongSecret => "wrong_secret",
            DenialReason::Disabled => "disabled",
            DenialReason::Expired => "expired",
            DenialReason::Throttled => "throttled",
        }
    }

    /// Parses a reason; `None` for anything else.
    pub fn parse(name: &str) -> Option<DenialReason> {
        DenialReason::ALL.into_iter().find(|reason| reason.as_str() == name)
    }
}

/// Who is writing, and from where: what a write's event records besides the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditContext {
    /// Who acts.
    pub actor: Actor,
    /// When. Writes that also take a `now` are given the same time.
    pub occurred_at: Millis,
    /// The request's X-Request-ID (`None` outside a request, as for the CLI).
    pub request_id: Option<String>,
    /// The request's X-Client-Request-ID, if it sent one.
    pub client_request_id: Option<String>,
    /// The client's address, after trusted proxies.
    pub source_address: Option<String>,
}

impl AuditContext {
    /// The context of a command run by an operator (`keycred bootstrap`) at `now`.
    pub fn cli(now: Millis) -> AuditContext {
        AuditContext {
            actor: Actor::Cli,
            occurred_at: now,
            request_id: None,
            client_request_id: None,
            source_address: None,
        }
    }

    /// The event this context records for `action` on `target` in `organization_id`.
    pub(crate) fn event(&self, action: AuditAction, organization_id: &str, target: AuditTarget) -> AuditEvent {
        AuditEvent {
            id: time_ordered_id(self.occurred_at),
            organization_id: Some(organization_id.to_owned()),
            occurred_at: self.occurred_at,
            action,
            actor: self.actor.clone(),
            target: Some(target),
            request_id: self.request_id.clone(),
            client_request_id: self.client_request_id.clone(),
            source_address: self.source_address.clone(),
            changes: None,
            reason: None,
            count: 1,
        }
    }

    /// The event of `action` on the credential at `key`: its creation, rotation or
    /// deletion, a token it minted or had revoked.
    pub(crate) fn credential_event(&self, action: AuditAction, key: CredentialKey<'_>) -> AuditEvent {
        let target = AuditTarget::credential(key.credential_id, key.service_account_id);
        self.event(action, key.organization_id, target)
    }

    /// The event of a credential's update from `before` to `after`: `None` if nothing
    /// changed. A change of status names the event (`credential.disabled` or
    /// `credential.enabled`); every changed field is in its changes.
    pub(crate) fn credential_update_event(&self, before: &Credential, after: &Credential) -> Option<AuditEvent> {
        let changes = AuditChanges::of_credential(before, after);
        if changes.is_empty() {
            return None;
        }
        let action = match &changes.status {
            Some(Change {
                to: CredentialStatus::Disabled,
                ..
            }) => AuditAction::CredentialDisabled,
            Some(Change {
                to: CredentialStatus::Active,
                ..
            }) => AuditAction::CredentialEnabled,
            None => AuditAction::CredentialUpdated,
        };
        let mut event = self.credential_event(action, after.key());
        event.changes = Some(changes);
        Some(event)
    }

    /// The event of a service account's creation or deletion.
    pub(crate) fn service_account_event(&self, action: AuditAction, service_account: &ServiceAccount) -> AuditEvent {
        let target = AuditTarget::service_account(&service_account.id);
        self.event(action, &service_account.organization_id, target)
    }

    /// The event of a service account's update from `before` to `after`: `None` if
    /// nothing changed.
    pub(crate) fn service_account_update_event(
        &self,
        before: &ServiceAccount,
        after: &ServiceAccount,
    ) -> Option<AuditEvent> {
        let changes = AuditChanges::of_service_account(before, after);
        if changes.is_empty() {
            return None;
        }
        let mut event = self.service_account_event(AuditAction::ServiceAccountUpdated, after);
        event.changes = Some(changes);
        Some(event)
    }
}

/// One recorded event, as stored and as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// 26-character nanoid of `0-9a-z`.
    pub id: String,
    /// The organization it belongs to; `None` only for a token denial no
    /// organization owns (an unknown client_id, a throttled attempt).
    pub organization_id: Option<String>,
    /// When it happened (for a folded denial, the first attempt).
    pub occurred_at: Millis,
    /// What happened.
    pub action: AuditAction,
    /// Who did it.
    pub actor: Actor,
    /// What it was done to; `None` where there is no such resource.
    pub target: Option<AuditTarget>,
    /// The request's X-Request-ID.
    pub request_id: Option<String>,
    /// The request's X-Client-Request-ID.
    pub client_request_id: Option<String>,
    /// The client's address, after trusted proxies.
    pub source_address: Option<String>,
    /// For updates, what changed.
    pub changes: Option<AuditChanges>,
    /// For a token denial, why.
    pub reason: Option<DenialReason>,
    /// How many attempts it stands for: 1, or more for a folded token denial.
    pub count: i64,
}

/// A failed client authentication at the token endpoint, to be recorded (and folded
/// with equal ones: same client_id, source address and reason within one minute).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenDenial {
    /// When the first of the attempts happened.
    pub occurred_at: Millis,
    /// The client_id presented (already cut with [`recorded_client_id`]); `None`
    /// for an attempt refused by a throttle on its whole address.
    pub client_id: Option<String>,
    /// The credential the client_id belongs to, when the attempt got that far: the
    /// event then belongs to its organization and names it as the target.
    pub credential: Option<DeniedCredential>,
    /// The client's address.
    pub source_address: Option<String>,
    /// Why it failed.
    pub reason: DenialReason,
    /// The first attempt's X-Request-ID.
    pub request_id: Option<String>,
    /// The first attempt's X-Client-Request-ID.
    pub client_request_id: Option<String>,
    /// How many attempts (at least 1).
    pub count: i64,
}

/// The credential a denied client_id belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeniedCredential {
    /// Its organization.
    pub organization_id: String,
    /// Its service account.
    pub service_account_id: String,
    /// Its ID.
    pub credential_id: String,
}

/// How long equal token denials fold into one event.
pub const DENIAL_FOLD_MILLIS: Millis = 60_000;

impl TokenDenial {
    /// The key equal denials share: the minute of the first attempt, the reason,
    /// the address and the client_id.
    pub fn fold_key(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.occurred_at.div_euclid(DENIAL_FOLD_MILLIS),
            self.reason.as_str(),
            self.source_address.as_deref().unwrap_or(""),
            self.client_id.as_deref().unwrap_or(""),
        )
    }

    /// The event recording it.
    pub(crate) fn event(&self) -> AuditEvent {
        AuditEvent {
            id: time_ordered_id(self.occurred_at),
            organization_id: self.credential.as_ref().map(|denied| denied.organization_id.clone()),
            occurred_at: self.occurred_at,
            action: AuditAction::TokenDenied,
            actor: Actor::Client {
                client_id: self.client_id.clone(),
            },
            target: self
                .credential
                .as_ref()
                .map(|denied| AuditTarget::credential(&denied.credential_id, &denied.service_account_id)),
            request_id: self.request_id.clone(),
            client_request_id: self.client_request_id.clone(),
            source_address: self.source_address.clone(),
            changes: None,
            reason: Some(self.reason),
            count: self.count.max(1),
        }
    }
}

/// Which events an organization's list shows: those meeting every filter given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only events with one of these actions (all, if empty).
    pub actions: Vec<AuditAction>,
    /// Only events whose target has this ID.
    pub target_id: Option<String>,
    /// Only events done by API calls authenticated as this service account.
    pub actor_service_account_id: Option<String>,
    /// Only events that occurred at or after this time.
    pub since: Option<Millis>,
    /// Only events that occurred strictly before this time.
    pub until: Option<Millis>,
}

/// How many leading characters of an event ID spell its time.
const TIME_CHARS: usize = 9;

/// The lowest event ID of an event that occurred at `occurred_at` (times before the
/// epoch count as the epoch): the time, in base 36, [`TIME_CHARS`] digits.
pub(crate) fn event_id_floor(occurred_at: Millis) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut time = u64::try_from(occurred_at).unwrap_or(0);
    let mut digits = [b'0'; TIME_CHARS];
    for digit in digits.iter_mut().rev() {
        *digit = ALPHABET[(time % 36) as usize];
        time /= 36;
    }
    String::from_utf8(digits.to_vec()).unwrap_or_default()
}

/// A new ID ordered by time, for rows that are only ever added (audit events and
/// tokens): 26 characters of `0-9a-z`, like every resource ID, but its first
/// [`TIME_CHARS`] spell `at` in base 36 ([`event_id_floor`]), then 17 random
/// characters (88 bits). Such rows are kept in ID order (the table or its primary
/// key index), so a new one is appended to the last page rather than written into
/// a random page, which would have to be read, and written to the log, for every
/// row. For audit events, ID order is also `(occurred_at, id)` order, which the
/// export and pruning read by.
pub fn time_ordered_id(at: Millis) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    let mut id = event_id_floor(at);
    id.extend((TIME_CHARS..26).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])));
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_survive_being_stored_and_read_back() {
        let changes = AuditChanges {
            name: Some(Change {
                from: "a".to_owned(),
                to: "b".to_owned(),
            }),
            description: Some(Change {
                from: None,
                to: Some("said".to_owned()),
            }),
            role: Some(Change {
                from: Role::OrgViewer,
                to: Role::OrgAdmin,
            }),
            status: Some(Change {
                from: CredentialStatus::Active,
                to: CredentialStatus::Disabled,
            }),
            expires_at: Some(Change {
                from: Some(5),
                to: None,
            }),
        };
        assert_eq!(
            changes.to_json(),
            concat!(
                r#"{"description":{"from":null,"to":"said"},"expires_at":{"from":5,"to":null},"#,
                r#""name":{"from":"a","to":"b"},"role":{"from":"org_viewer","to":"org_admin"},"#,
                r#""status":{"from":"active","to":"disabled"}}"#
            ),
            "as events recorded before were stored"
        );
        assert_eq!(AuditChanges::from_json(&changes.to_json()), Ok(changes));
        let quoted = AuditChanges {
            name: Some(Change {
                from: "say \"hi\"\n".to_owned(),
                to: "\\".to_owned(),
            }),
            ..AuditChanges::default()
        };
        assert_eq!(AuditChanges::from_json(&quoted.to_json()), Ok(quoted));
        assert_eq!(AuditChanges::default().to_json(), "{}");
        assert_eq!(AuditChanges::from_json("{}"), Ok(AuditChanges::default()));
        assert!(AuditChanges::from_json(r#"{"secret": {"from": 1, "to": 2}}"#).is_err());
    }

    #[test]
    fn every_action_and_reason_reads_back_from_its_name() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(action));
        }
        for reason in DenialReason::ALL {
            assert_eq!(DenialReason::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(AuditAction::parse("credential.expired"), None);
    }

    #[test]
    fn event_ids_sort_by_time_and_are_26_characters_of_0_to_9_and_a_to_z() {
        let times = [0, 1, 35, 36, 1_764_750_000_000, 1_764_750_000_001, 99_999_999_999_999];
        let ids: Vec<String> = times.iter().map(|time| time_ordered_id(*time)).collect();
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
        assert!(ids.iter().all(|id| id.len() == 26
            && id
                .bytes()
                .all(|byte| byte.is_ascii_digit() || byte.is_ascii_lowercase())));
        assert!(event_id_floor(1_764_750_000_000) < ids[4] && ids[4] < event_id_floor(1_764_750_000_001));
        assert_eq!(event_id_floor(-5), event_id_floor(0));
    }

    #[test]
    fn a_recorded_client_id_is_short_and_has_no_control_characters() {
        assert_eq!(recorded_client_id("abc\0d\n"), "abc\u{FFFD}d\u{FFFD}");
        assert_eq!(recorded_client_id(&"x".repeat(70_000)).chars().count(), CLIENT_ID_CHARS);
    }

    #[test]
    fn denials_fold_by_minute_reason_address_and_client_id() {
        let denial = TokenDenial {
            occurred_at: 120_000,
            client_id: Some("c".to_owned()),
            credential: None,
            source_address: Some("192.0.2.1".to_owned()),
            reason: DenialReason::WrongSecret,
            request_id: None,
            client_request_id: None,
            count: 1,
        };
        let same_minute = TokenDenial {
            occurred_at: 179_999,
            ..denial.clone()
        };
        let next_minute = TokenDenial {
            occurred_at: 180_000,
            ..denial.clone()
        };
        let other_address = TokenDenial {
            source_address: Some("192.0.2.2".to_owned()),
            ..denial.clone()
        };
        assert_eq!(denial.fold_key(), same_minute.fold_key());
        assert_ne!(denial.fold_key(), next_minute.fold_key());
        assert_ne!(denial.fold_key(), other_address.fold_key());
    }
}
