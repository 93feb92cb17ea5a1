//! `POST /service-account-token`: the OAuth 2.0 client credentials grant.

use keycred_api::request::BasicCredentials;
use keycred_api::{
    ApiError, CreateServiceAccountTokenResponse, ErrorCode, TokenRequest, TokenResponse, TokenResponseTokenType,
};

use super::{now, storage_error};
use crate::auth::{self, TOKEN_LIFETIME_SECONDS};
use crate::storage::{NewToken, Store};

/// One message for every failed client authentication, so it never reveals whether
/// the client_id exists.
fn invalid_client() -> ApiError {
    ApiError::new(ErrorCode::InvalidClient, "client authentication failed")
}

/// Checks the client's credentials and mints a bearer token for its service account.
pub async fn create<S: Store>(
    store: &S,
    basic: Option<BasicCredentials>,
    body: TokenRequest,
) -> Result<CreateServiceAccountTokenResponse, ApiError> {
    let (client_id, client_secret) = match (basic, body.client_id, body.client_secret) {
        (Some(basic), None, None) => (basic.username, basic.password),
        (None, Some(client_id), Some(client_secret)) => (client_id, client_secret),
        // RFC 6749 §2.3: a client must not use more than one authentication method.
        (Some(_), _, _) => {
            return Err(ApiError::invalid_request(
                "send client_id and client_secret either by HTTP Basic or in the body, not both",
            ))
        }
        _ => return Err(invalid_client()),
    };

    let client = store.find_client(&client_id).await.map_err(storage_error)?;
    let Some(client) = client else {
        // Spend the same hashing work as for a known client, so timing does not tell them apart.
        let _ = auth::secret_matches(&client_secret, &[0; 32]);
        return Err(invalid_client());
    };
    if !auth::secret_matches(&client_secret, &client.secret_hash) {
        return Err(invalid_client());
    }

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
