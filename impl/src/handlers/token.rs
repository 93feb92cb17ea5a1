//! `POST /service-account-token`: the OAuth 2.0 client credentials grant; and
//! `POST /service-account-token/revoke`, RFC 7009 token revocation, whose client
//! authenticates exactly as the grant's does (the same answers, the same throttles).

use keycred_api::request::BasicCredentials;
use keycred_api::{
    ApiError, CreateServiceAccountTokenResponse, ErrorCode, RevokeServiceAccountTokenResponse, TokenRequest,
    TokenResponse, TokenResponseTokenType, TokenRevocationRequest,
};

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use super::{now, storage_error, KeycredApi};
use crate::audit::DenialRecorder;
use crate::auth::{self, TOKEN_LIFETIME_SECONDS};
use crate::rate_limit::{AuthFailureLimiter, Limited, ThrottleStarted, ThrottledKey};
use crate::token_cache::Revocation;
use keycred_api::RequestId;
use keycred_store::{
    recorded_client_id, Actor, AuditContext, ClientRecord, DenialReason, DeniedCredential, Millis, NewToken, Store,
    TokenDenial,
};

/// One message for every failed client authentication, so it never reveals whether
/// the client_id exists.
fn invalid_client() -> ApiError {
    ApiError::new(ErrorCode::InvalidClient, "client authentication failed")
}

/// The most characters of a client_id a log line repeats: real ones have 21, and a
/// guesser's may have 64 KiB.
const LOGGED_CLIENT_ID_CHARS: usize = 64;

/// Who is attempting to authenticate, for the limits, the log and the audit trail.
pub struct Attempt<'a> {
    /// The client's address, as the request envelope worked it out.
    pub address: Option<IpAddr>,
    /// The request's ID, which the log lines name.
    pub request_id: &'a RequestId,
    /// The request's X-Client-Request-ID, if it sent one.
    pub client_request_id: Option<uuid::Uuid>,
    /// Where denials are counted on their way to the audit trail.
    pub denials: &'a DenialRecorder,
}

impl Attempt<'_> {
    /// Logs, at `warn`, a failed client authentication (never the secret), and counts
    /// it for the audit trail, in `client`'s organization if the client_id is one.
    fn fail(&self, client_id: &str, reason: DenialReason, credential: Option<DeniedCredential>) {
        tracing::warn!(
            client_id = %logged_client_id(client_id).escape_debug(),
            client = %self.logged_address(),
            reason = reason.as_str(),
            request_id = %self.request_id.0,
            "client authentication failed"
        );
        self.count_denial(Some(client_id), reason, credential);
    }

    /// Counts a denial for the audit trail (see [`DenialRecorder`]).
    fn count_denial(&self, client_id: Option<&str>, reason: DenialReason, credential: Option<DeniedCredential>) {
        self.denials.record(TokenDenial {
            occurred_at: now(),
            client_id: client_id.map(recorded_client_id),
            credential,
            source_address: self.address.map(crate::client_address::address_text),
            reason,
            request_id: Some(self.request_id.0.clone()),
            client_request_id: self.client_request_id.map(|id| id.to_string()),
            count: 1,
        });
    }

    /// The context of a token decision's audit event: the client, from here, now.
    fn audit_context(&self, client_id: &str) -> AuditContext {
        AuditContext {
            actor: Actor::Client {
                client_id: Some(recorded_client_id(client_id)),
            },
            occurred_at: now(),
            request_id: Some(self.request_id.0.clone()),
            client_request_id: self.client_request_id.map(|id| id.to_string()),
            source_address: self.address.map(crate::client_address::address_text),
        }
    }

    /// Logs the throttles a failure started, once each.
    fn log_throttles(&self, client_id: &str, started: &[ThrottleStarted]) {
        for throttle in started {
            tracing::warn!(
                key = throttle.key.as_str(),
                client_id = %logged_client_id(client_id).escape_debug(),
                client = %self.logged_address(),
                lasts_s = throttle.lasts.as_secs_f64(),
                request_id = %self.request_id.0,
                "client authentication throttled"
            );
        }
    }

    /// Logs a refusal by a throttle: at `warn` the first time that throttle refuses,
    /// at `debug` afterwards, so a flood cannot grow the log faster than the throttle
    /// lets attempts through. Counts it for the audit trail: without its client_id
    /// when the whole address is throttled, so that cycling client_ids makes one
    /// event per address and minute.
    fn refuse(&self, client_id: &str, limited: Limited) {
        let counted_client_id = match limited.key {
            ThrottledKey::ClientAtAddress => Some(client_id),
            ThrottledKey::Address => None,
        };
        self.count_denial(counted_client_id, DenialReason::Throttled, None);
        if limited.first_refusal {
            tracing::warn!(
                client_id = %logged_client_id(client_id).escape_debug(),
                client = %self.logged_address(),
                reason = DenialReason::Throttled.as_str(),
                key = limited.key.as_str(),
                retry_after_s = limited.retry_after_seconds(),
                request_id = %self.request_id.0,
                "client authentication failed"
            );
        } else {
            tracing::debug!(
                client_id = %logged_client_id(client_id).escape_debug(),
                client = %self.logged_address(),
                reason = DenialReason::Throttled.as_str(),
                request_id = %self.request_id.0,
                "client authentication failed"
            );
        }
    }

    fn logged_address(&self) -> String {
        self.address.map(|address| address.to_string()).unwrap_or_default()
    }
}

/// At most [`LOGGED_CLIENT_ID_CHARS`] of `client_id`; logged escaped
/// (`escape_debug`) so that control characters cannot forge log lines.
fn logged_client_id(client_id: &str) -> &str {
    match client_id.char_indices().nth(LOGGED_CLIENT_ID_CHARS) {
        Some((end, _)) => &client_id[..end],
        None => client_id,
    }
}

/// Checks the client's credentials and mints a bearer token for its service account.
///
/// A (client_id, address) pair or an address that failed too often is refused with a
/// 429 before anything is looked up, whether the client_id exists or not. Failures are
/// counted once they have happened; a correct secret never counts.
pub async fn create<S: Store>(
    store: &S,
    limiter: &AuthFailureLimiter,
    attempt: Attempt<'_>,
    basic: Option<BasicCredentials>,
    body: TokenRequest,
) -> Result<CreateServiceAccountTokenResponse, ApiError> {
    let sent = SentCredentials {
        basic,
        client_id: body.client_id,
        client_secret: body.client_secret,
    };
    let (client_id, client) = authenticate_client(store, limiter, &attempt, sent).await?;
    let created_at = now();
    let minted = auth::mint_token(created_at);
    // No token outlives its credential (the store cuts it there too, should the
    // expiry have changed since the credential was read).
    let lifetime_end = created_at + TOKEN_LIFETIME_SECONDS * 1000;
    let expires_at = client
        .credential
        .expires_at
        .map_or(lifetime_end, |credential_end| credential_end.min(lifetime_end));
    let token = NewToken {
        id: minted.id,
        secret_hash: minted.secret_hash,
        credential_id: client.credential.id.clone(),
        service_account_id: client.credential.service_account_id.clone(),
        organization_id: client.credential.organization_id.clone(),
        created_at,
        expires_at,
    };
    let audit = AuditContext {
        occurred_at: created_at,
        ..attempt.audit_context(&client_id)
    };
    // The credential (or its service account) may have been deleted since it was
    // looked up: then the client no longer exists, a failed authentication like any
    // other (but not a guess: nothing is counted by the throttle).
    if !store.insert_token(token, audit).await.map_err(storage_error)? {
        attempt.fail(&client_id, DenialReason::UnknownClient, Some(denied(&client)));
        return Err(invalid_client());
    }
    Ok(CreateServiceAccountTokenResponse::Status200(TokenResponse {
        access_token: minted.access_token,
        token_type: TokenResponseTokenType::Bearer,
        expires_in: expires_in(created_at, expires_at),
    }))
}

/// The client credentials a request sent, by HTTP Basic or in its form.
pub struct SentCredentials {
    /// The `Authorization: Basic` credentials, if sent.
    pub basic: Option<BasicCredentials>,
    /// The form's `client_id`, if sent.
    pub client_id: Option<String>,
    /// The form's `client_secret`, if sent.
    pub client_secret: Option<String>,
}

/// Authenticates the client of a token endpoint request: its client_id and the
/// credential it names. Both ways of sending credentials at once is a 400 (RFC 6749
/// §2.3); none, an unknown client or a wrong secret a 401 `invalid_client`; a pair or
/// address that failed too often a 429, before anything is looked up.
pub async fn authenticate_client<S: Store>(
    store: &S,
    limiter: &AuthFailureLimiter,
    attempt: &Attempt<'_>,
    sent: SentCredentials,
) -> Result<(String, ClientRecord), ApiError> {
    let credentials = match (sent.basic, sent.client_id, sent.client_secret) {
        (Some(basic), None, None) => Some((basic.username, basic.password)),
        (None, Some(client_id), Some(client_secret)) => Some((client_id, client_secret)),
        // RFC 6749 §2.3: a client must not use more than one authentication method.
        (Some(_), _, _) => {
            return Err(ApiError::invalid_request(
                "send client_id and client_secret either by HTTP Basic or in the body, not both",
            ))
        }
        _ => None,
    };
    // Nothing was tried, so nothing failed: a client that sent no credentials learns
    // nothing about anyone's secret.
    let (client_id, client_secret) = credentials.ok_or_else(invalid_client)?;
    if let Err(limited) = limiter.check(&client_id, attempt.address, Instant::now()) {
        attempt.refuse(&client_id, limited);
        return Err(too_many_failures(limited));
    }

    // A fault of the server is not the client's failure: it counts nothing.
    let client = store.find_client(&client_id).await.map_err(storage_error)?;
    match verify_client(client, &client_secret, now()) {
        Ok(client) => {
            limiter.record_success(&client_id, attempt.address);
            Ok((client_id, client))
        }
        Err((reason, client)) => {
            attempt.fail(&client_id, reason, client);
            let started = limiter.record_failure(&client_id, attempt.address, Instant::now());
            attempt.log_throttles(&client_id, &started);
            Err(invalid_client())
        }
    }
}

/// RFC 7009: authenticates the client as [`create`] does, then revokes `token` if the
/// client's credential minted it, at once on every instance (see
/// [`KeycredApi::revoking`](super::KeycredApi)). 200 whatever the token was: unknown,
/// not a keycred token at all, already revoked or expired, or another client's (which
/// is left alone), so the answer tells nobody anything about tokens they do not hold.
/// `token_type_hint` is ignored: keycred issues only access tokens.
pub async fn revoke<S: Store>(
    api: &KeycredApi<S>,
    attempt: Attempt<'_>,
    basic: Option<BasicCredentials>,
    body: TokenRevocationRequest,
) -> Result<RevokeServiceAccountTokenResponse, ApiError> {
    let sent = SentCredentials {
        basic,
        client_id: body.client_id,
        client_secret: body.client_secret,
    };
    let (client_id, client) = authenticate_client(api.store.as_ref(), &api.auth_failures, &attempt, sent).await?;
    let Some((token_id, secret_hash)) = token_to_revoke(&body.token) else {
        return Ok(RevokeServiceAccountTokenResponse::Status200);
    };
    let credential = client.credential;
    let audit = attempt.audit_context(&client_id);
    let revocation = Revocation::Token(token_id.clone());
    let write = |store: Arc<S>| async move {
        store
            .revoke_token(&token_id, secret_hash, credential.key(), audit)
            .await
    };
    api.revoking_if(revocation, write, |revoked| *revoked)
        .await
        .map_err(storage_error)?;
    Ok(RevokeServiceAccountTokenResponse::Status200)
}

/// The token a revocation request names, if it is a keycred token at all: its ID and
/// the hash of its secret, split exactly as a bearer token is. Anything else names no
/// token (RFC 7009: an invalid token is not an error).
fn token_to_revoke(token: &str) -> Option<(String, [u8; 32])> {
    let (token_id, secret) = auth::split_token(token)?;
    Some((token_id.to_owned(), auth::hash_secret(secret)))
}

/// `expires_in` for a token minted at `created_at` that expires at `expires_at`: whole
/// seconds, rounded down so that it never promises more than the token has, but at
/// least 1 (the spec's minimum; a credential that expires within the second gives
/// its token that last part of a second).
fn expires_in(created_at: Millis, expires_at: Millis) -> i64 {
    ((expires_at - created_at) / 1000).max(1)
}

/// The stored hash an unknown client's secret is compared with: no secret hashes to it
/// (that would take a SHA-256 preimage of all zeros), and comparing with it costs what
/// comparing with a real one does.
const NO_CLIENT_HASH: [u8; 32] = [0; 32];

/// The client, if `secret` is its secret (or its previous secret, during that one's
/// grace) and it may mint a token at `now` (active, not expired). An unknown client, a
/// wrong secret, a previous secret past its grace and a disabled or expired client all
/// take the same path: one hash of the presented secret and two constant-time
/// comparisons (with [`NO_CLIENT_HASH`] for what is not there), then the same answer,
/// so neither the answer nor its timing tells them apart; only the reason, which goes
/// to the log, differs.
/// A failure says why, and which credential the client_id is, if it is one.
fn verify_client(
    client: Option<ClientRecord>,
    secret: &str,
    now: Millis,
) -> Result<ClientRecord, (DenialReason, Option<DeniedCredential>)> {
    let stored_hash = client.as_ref().map_or(&NO_CLIENT_HASH, |client| &client.secret_hash);
    let previous_hash = client
        .as_ref()
        .filter(|client| {
            client
                .credential
                .previous_secret_expires_at
                .is_some_and(|until| now < until)
        })
        .and_then(|client| client.previous_secret_hash.as_ref())
        .unwrap_or(&NO_CLIENT_HASH);
    let matches = auth::secret_matches_either(secret, stored_hash, previous_hash);
    match client {
        Some(client) if matches && client.credential.is_usable_at(now) => Ok(client),
        Some(client) if matches && client.credential.is_expired_at(now) => {
            Err((DenialReason::Expired, Some(denied(&client))))
        }
        Some(client) if matches => Err((DenialReason::Disabled, Some(denied(&client)))),
        Some(client) => Err((DenialReason::WrongSecret, Some(denied(&client)))),
        None => Err((DenialReason::UnknownClient, None)),
    }
}

/// The credential a denied client_id is, for the denial's audit event.
fn denied(client: &ClientRecord) -> DeniedCredential {
    DeniedCredential {
        organization_id: client.credential.organization_id.clone(),
        service_account_id: client.credential.service_account_id.clone(),
        credential_id: client.credential.id.clone(),
    }
}

/// The 429 for a pair or address that is throttled. One message for both: which one
/// was hit is of no use to a legitimate client, and would tell someone guessing which
/// counter to route around.
fn too_many_failures(limited: Limited) -> ApiError {
    ApiError::too_many_requests(
        "too many failed client authentications; retry later",
        limited.retry_after_seconds(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use keycred_store::{Credential, CredentialStatus};

    fn client_with_secret(secret: &str) -> ClientRecord {
        ClientRecord {
            credential: Credential {
                id: "c".repeat(26),
                organization_id: "o".repeat(26),
                service_account_id: "s".repeat(26),
                client_id: "i".repeat(21),
                name: "n".into(),
                description: None,
                created_at: 0,
                updated_at: 0,
                last_used_at: None,
                status: CredentialStatus::Active,
                expires_at: None,
                secret_rotated_at: None,
                previous_secret_expires_at: None,
            },
            secret_hash: auth::hash_secret(secret),
            previous_secret_hash: None,
        }
    }

    #[test]
    fn an_unknown_client_and_a_wrong_secret_take_the_same_path() {
        let before = auth::hashes_computed();
        let unknown = verify_client(None, "a-guess", 0);
        let after_unknown = auth::hashes_computed();
        let wrong = verify_client(Some(client_with_secret("the-secret")), "a-guess", 0);
        let after_wrong = auth::hashes_computed();

        assert_eq!(unknown.unwrap_err().0, DenialReason::UnknownClient);
        assert_eq!(wrong.unwrap_err().0, DenialReason::WrongSecret);
        assert_eq!(after_unknown - before, 1, "an unknown client hashes the secret once");
        // client_with_secret hashed "the-secret" once itself.
        assert_eq!(after_wrong - after_unknown, 2, "a wrong secret is hashed once");
    }

    #[test]
    fn long_client_ids_are_cut_in_the_log() {
        assert_eq!(logged_client_id("short"), "short");
        assert_eq!(
            logged_client_id(&"é".repeat(1000)).chars().count(),
            LOGGED_CLIENT_ID_CHARS
        );
    }

    #[test]
    fn the_right_secret_is_accepted_and_nothing_matches_an_unknown_client() {
        assert!(verify_client(Some(client_with_secret("the-secret")), "the-secret", 0).is_ok());
        assert!(verify_client(None, "", 0).is_err());
        assert_ne!(auth::hash_secret(""), NO_CLIENT_HASH);
    }

    #[test]
    fn a_disabled_or_expired_client_or_a_spent_previous_secret_take_the_wrong_secrets_path() {
        let mut disabled = client_with_secret("the-secret");
        disabled.credential.status = CredentialStatus::Disabled;
        let mut expired = client_with_secret("the-secret");
        expired.credential.expires_at = Some(1_000);
        let mut rotated = client_with_secret("new-secret");
        rotated.previous_secret_hash = Some(auth::hash_secret("the-secret"));
        rotated.credential.previous_secret_expires_at = Some(1_000);

        let before = auth::hashes_computed();
        let outcomes = [
            verify_client(Some(disabled), "the-secret", 999)
                .map(drop)
                .map_err(|(reason, _)| reason),
            verify_client(Some(expired.clone()), "the-secret", 1_000)
                .map(drop)
                .map_err(|(reason, _)| reason),
            verify_client(Some(rotated.clone()), "the-secret", 1_000)
                .map(drop)
                .map_err(|(reason, _)| reason),
        ];
        assert_eq!(
            auth::hashes_computed() - before,
            3,
            "one hash each, as for a wrong secret"
        );
        assert_eq!(
            outcomes,
            [
                Err(DenialReason::Disabled),
                Err(DenialReason::Expired),
                Err(DenialReason::WrongSecret),
            ]
        );
        assert!(verify_client(Some(expired), "the-secret", 999).is_ok());
        assert!(
            verify_client(Some(rotated.clone()), "the-secret", 999).is_ok(),
            "in its grace"
        );
        assert!(verify_client(Some(rotated), "new-secret", 5_000).is_ok());
    }
}
