//! `POST …/credentials/{credential_id}/rotate`: a new client secret for a credential,
//! the replaced one kept for a grace period if asked, the tokens revoked if asked.

use keycred_api::decode::Timestamp;
use keycred_api::{
    ApiError, CredentialRotateResponse, RotateServiceAccountCredentialParams, RotateServiceAccountCredentialRequest,
    RotateServiceAccountCredentialResponse,
};

use super::credentials::{conditional_write_missed, matching_credential, Lifecycle, OwnedCredentialKey};
use super::{etags, expanded_permissions, now, storage_error, KeycredApi};
use crate::auth::{self, Action, Caller, Resource};
use crate::ids;
use crate::token_cache::Revocation;
use keycred_store::{AuditContext, CredentialKey, Rotation, Store};

/// Rotates the credential's secret in one atomic store write (which also deletes its
/// tokens when `revoke_tokens` asks, going through [`KeycredApi::revoking`] then). The
/// new secret is in this answer only; the store keeps its hash.
pub async fn rotate<S: Store>(
    api: &KeycredApi<S>,
    caller: Caller,
    audit: AuditContext,
    params: RotateServiceAccountCredentialParams,
    body: Option<RotateServiceAccountCredentialRequest>,
) -> Result<RotateServiceAccountCredentialResponse, ApiError> {
    let organization_id = api
        .caller_organization(&caller, &params.organization_id, super::credentials::NOT_FOUND)
        .await?;
    auth::require(caller.role, Resource::ServiceAccountCredentials, Action::Rotate)?;
    let key = CredentialKey {
        organization_id: &organization_id,
        service_account_id: &params.service_account_id,
        credential_id: &params.credential_id,
    };
    let expected = matching_credential(api, key, params.if_match.as_deref()).await?;
    let conditional = expected.is_some();
    let client_secret = ids::client_secret();
    let rotation = rotation(body, &client_secret, audit.occurred_at);
    let rotated = if rotation.revoke_tokens {
        let revocation = Revocation::Credential(params.credential_id.clone());
        let owned = OwnedCredentialKey::of(key);
        api.revoking(revocation, |store| async move {
            store.rotate_credential(owned.key(), rotation, expected, audit).await
        })
        .await
    } else {
        api.store.rotate_credential(key, rotation, expected, audit).await
    };
    let Some(credential) = rotated.map_err(storage_error)? else {
        return Err(conditional_write_missed(api, key, conditional).await);
    };
    let etag = etags::credential(&credential);
    let lifecycle = Lifecycle::of(&credential, now());
    Ok(RotateServiceAccountCredentialResponse::Status200(
        CredentialRotateResponse {
            id: credential.id,
            client_id: credential.client_id,
            client_secret,
            created_at: Timestamp(credential.created_at),
            name: credential.name,
            description: credential.description,
            last_used_at: credential.last_used_at.map(Timestamp),
            status: lifecycle.status,
            expires_at: lifecycle.expires_at,
            secret_rotated_at: lifecycle.secret_rotated_at,
            previous_secret_expires_at: lifecycle.previous_secret_expires_at,
            permissions: expanded_permissions(&caller, &params.expand, Resource::ServiceAccountCredentials),
            service_account_id: Some(credential.service_account_id),
        },
        etag,
    ))
}

/// The store's rotation for a request body (absent: the defaults, no grace and no
/// revocation) and the new secret, at `now`.
fn rotation(body: Option<RotateServiceAccountCredentialRequest>, client_secret: &str, now: i64) -> Rotation {
    let grace_seconds = body
        .as_ref()
        .and_then(|body| body.previous_secret_valid_for_seconds)
        .unwrap_or(0);
    Rotation {
        secret_hash: auth::hash_secret(client_secret),
        now,
        previous_secret_expires_at: (grace_seconds > 0).then(|| now + grace_seconds * 1000),
        revoke_tokens: body.and_then(|body| body.revoke_tokens).unwrap_or(false),
    }
}
