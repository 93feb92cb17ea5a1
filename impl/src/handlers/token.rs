//! `POST /service-account-token`: the OAuth 2.0 client credentials grant.

use keycred_api::request::BasicCredentials;
use keycred_api::{
    ApiError, CreateServiceAccountTokenResponse, ErrorCode, TokenRequest, TokenResponse, TokenResponseTokenType,
};

use std::net::IpAddr;
use std::time::Instant;

use super::{now, storage_error};
use crate::auth::{self, TOKEN_LIFETIME_SECONDS};
use crate::rate_limit::{AuthFailureLimiter, Limited};
use keycred_store::{ClientRecord, NewToken, Store};

/// One message for every failed client authentication, so it never reveals whether
/// the client_id exists.
fn invalid_client() -> ApiError {
    ApiError::new(ErrorCode::InvalidClient, "client authentication failed")
}

/// Checks the client's credentials and mints a bearer token for its service account.
///
/// Failed authentications are limited per client_id and per source address (`peer`):
/// the attempt is counted before anything is looked up, and once either has used up
/// its attempts the answer is a 429 whether the client_id exists or not, and whether
/// the secret is right or not.
pub async fn create<S: Store>(
    store: &S,
    limiter: &AuthFailureLimiter,
    peer: Option<IpAddr>,
    basic: Option<BasicCredentials>,
    body: TokenRequest,
) -> Result<CreateServiceAccountTokenResponse, ApiError> {
    let credentials = match (basic, body.client_id, body.client_secret) {
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
    let client_id = credentials.as_ref().map(|(client_id, _)| client_id.as_str());
    let attempt = limiter
        .begin(client_id, peer, Instant::now())
        .map_err(too_many_failures)?;
    let Some((client_id, client_secret)) = credentials else {
        // Nothing was tried, so nothing failed: a client that sent no credentials
        // learns nothing about anyone's secret.
        limiter.refund(attempt);
        return Err(invalid_client());
    };

    let client = match store.find_client(&client_id).await {
        Ok(client) => client,
        Err(error) => {
            // The server failed, not the client: this attempt tells nothing either.
            limiter.refund(attempt);
            return Err(storage_error(error));
        }
    };
    // A failed attempt stays counted.
    let client = verify_client(client, &client_secret)?;
    limiter.refund(attempt);

    let minted = auth::mint_token();
    let created_at = now();
    let token = NewToken {
        id: minted.id,
        secret_hash: minted.secret_hash,
        credential_id: client.credential.id,
        created_at,
        expires_at: created_at + TOKEN_LIFETIME_SECONDS * 1000,
    };
    store.insert_token(token).await.map_err(storage_error)?;
    Ok(CreateServiceAccountTokenResponse::Status200(TokenResponse {
        access_token: minted.access_token,
        token_type: TokenResponseTokenType::Bearer,
        expires_in: TOKEN_LIFETIME_SECONDS,
    }))
}

/// The stored hash an unknown client's secret is compared with: no secret hashes to it
/// (that would take a SHA-256 preimage of all zeros), and comparing with it costs what
/// comparing with a real one does.
const NO_CLIENT_HASH: [u8; 32] = [0; 32];

/// The client, if `secret` is its secret. An unknown client and a wrong secret take the
/// same path: one hash of the presented secret and one constant-time comparison, then
/// the same error, so neither the answer nor its timing tells them apart.
fn verify_client(client: Option<ClientRecord>, secret: &str) -> Result<ClientRecord, ApiError> {
    let stored_hash = client.as_ref().map_or(&NO_CLIENT_HASH, |client| &client.secret_hash);
    let matches = auth::secret_matches(secret, stored_hash);
    match client {
        Some(client) if matches => Ok(client),
        _ => Err(invalid_client()),
    }
}

/// The 429 for a client_id or address that has used up its attempts. One message for
/// both limits: which one was hit is of no use to a legitimate client, and would tell
/// someone guessing which counter to route around.
fn too_many_failures(limited: Limited) -> ApiError {
    ApiError::too_many_requests(
        "too many failed client authentications; retry later",
        limited.retry_after_seconds(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use keycred_store::Credential;

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
            },
            secret_hash: auth::hash_secret(secret),
        }
    }

    #[test]
    fn an_unknown_client_and_a_wrong_secret_take_the_same_path() {
        let before = auth::hashes_computed();
        let unknown = verify_client(None, "a-guess");
        let after_unknown = auth::hashes_computed();
        let wrong = verify_client(Some(client_with_secret("the-secret")), "a-guess");
        let after_wrong = auth::hashes_computed();

        assert_eq!(unknown.unwrap_err(), wrong.unwrap_err());
        assert_eq!(after_unknown - before, 1, "an unknown client hashes the secret once");
        // client_with_secret hashed "the-secret" once itself.
        assert_eq!(after_wrong - after_unknown, 2, "a wrong secret is hashed once");
    }

    #[test]
    fn the_right_secret_is_accepted_and_nothing_matches_an_unknown_client() {
        assert!(verify_client(Some(client_with_secret("the-secret")), "the-secret").is_ok());
        assert!(verify_client(None, "").is_err());
        assert_ne!(auth::hash_secret(""), NO_CLIENT_HASH);
    }
}
