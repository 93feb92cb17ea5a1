//! Service account credentials: get and update.

use keycred_api::decode::Timestamp;
use keycred_api::{
    ApiError, ExpandValue, GetServiceAccountCredentialParams, GetServiceAccountCredentialResponse,
    ServiceAccountCredential, UpdateServiceAccountCredentialParams, UpdateServiceAccountCredentialRequest,
    UpdateServiceAccountCredentialResponse,
};

use super::{now, storage_error, KeycredApi};
use crate::auth::{self, Action, Caller, Resource};
use crate::storage::{Credential, CredentialKey, CredentialPatch, Store};

const NOT_FOUND: &str = "credential not found";

/// The credential as the API shows it: never a secret; `permissions` only when expanded.
fn credential_model(credential: Credential, caller: &Caller, expand: &[ExpandValue]) -> ServiceAccountCredential {
    let permissions = expand
        .contains(&ExpandValue::Permissions)
        .then(|| auth::permissions_on(caller.role, Resource::ServiceAccountCredentials));
    ServiceAccountCredential {
        id: credential.id,
        client_id: credential.client_id,
        created_at: Timestamp(credential.created_at),
        name: credential.name,
        description: credential.description,
        last_used_at: credential.last_used_at.map(Timestamp),
        permissions,
    }
}

/// `GET …/credentials/{credential_id}`
pub async fn get<S: Store>(
    api: &KeycredApi<S>,
    caller: Caller,
    params: GetServiceAccountCredentialParams,
) -> Result<GetServiceAccountCredentialResponse, ApiError> {
    let organization_id = api
        .caller_organization(&caller, &params.organization_id, NOT_FOUND)
        .await?;
    let key = CredentialKey {
        organization_id: &organization_id,
        service_account_id: &params.service_account_id,
        credential_id: &params.credential_id,
    };
    let credential = api.store.find_credential(key).await.map_err(storage_error)?;
    let credential = credential.ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    Ok(GetServiceAccountCredentialResponse::Status200(credential_model(
        credential,
        &caller,
        &params.expand,
    )))
}

/// `PATCH …/credentials/{credential_id}`: absent fields are unchanged, `{}` changes nothing.
pub async fn update<S: Store>(
    api: &KeycredApi<S>,
    caller: Caller,
    params: UpdateServiceAccountCredentialParams,
    body: UpdateServiceAccountCredentialRequest,
) -> Result<UpdateServiceAccountCredentialResponse, ApiError> {
    let organization_id = api
        .caller_organization(&caller, &params.organization_id, NOT_FOUND)
        .await?;
    if !auth::allows(caller.role, Resource::ServiceAccountCredentials, Action::Update) {
        return Err(ApiError::forbidden(format!(
            "the {} role may not update credentials",
            caller.role.as_str()
        )));
    }
    let key = CredentialKey {
        organization_id: &organization_id,
        service_account_id: &params.service_account_id,
        credential_id: &params.credential_id,
    };
    let patch = CredentialPatch {
        name: body.name,
        description: body.description,
    };
    let credential = api
        .store
        .update_credential(key, patch, now())
        .await
        .map_err(storage_error)?;
    let credential = credential.ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    Ok(UpdateServiceAccountCredentialResponse::Status200(credential_model(
        credential,
        &caller,
        &params.expand,
    )))
}
