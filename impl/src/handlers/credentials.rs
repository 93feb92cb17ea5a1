//! Service account credentials: create, list, get, update, delete.

use keycred_api::decode::Timestamp;
use keycred_api::{
    ApiError, CreateServiceAccountCredentialParams, CreateServiceAccountCredentialRequest,
    CreateServiceAccountCredentialResponse, CredentialCreateResponse, CredentialListResponse,
    DeleteServiceAccountCredentialParams, DeleteServiceAccountCredentialResponse, ExpandValue,
    GetServiceAccountCredentialParams, GetServiceAccountCredentialResponse, ListServiceAccountCredentialsParams,
    ListServiceAccountCredentialsResponse, ServiceAccountCredential, UpdateServiceAccountCredentialParams,
    UpdateServiceAccountCredentialRequest, UpdateServiceAccountCredentialResponse,
};

use super::pages::ListScope;
use super::{etags, expanded_permissions, now, storage_error, KeycredApi};
use crate::auth::{self, Action, Caller, Resource};
use crate::ids;
use crate::token_cache::Revocation;
use keycred_store::{Credential, CredentialKey, CredentialPatch, CredentialStatus, NewCredential, Position, Store};

const NOT_FOUND: &str = "credential not found";
const SERVICE_ACCOUNT_NOT_FOUND: &str = "service account not found";

/// The credential as the API shows it: never a secret; `permissions` only when expanded.
fn credential_model(credential: Credential, caller: &Caller, expand: &[ExpandValue]) -> ServiceAccountCredential {
    ServiceAccountCredential {
        id: credential.id,
        client_id: credential.client_id,
        created_at: Timestamp(credential.created_at),
        name: credential.name,
        description: credential.description,
        last_used_at: credential.last_used_at.map(Timestamp),
        permissions: expanded_permissions(caller, expand, Resource::ServiceAccountCredentials),
    }
}

fn position(credential: &Credential) -> Position {
    Position {
        created_at: credential.created_at,
        id: credential.id.clone(),
    }
}

/// `GET …/service-accounts/{service_account_id}/credentials`
pub async fn list<S: Store>(
    api: &KeycredApi<S>,
    caller: Caller,
    params: ListServiceAccountCredentialsParams,
) -> Result<ListServiceAccountCredentialsResponse, ApiError> {
    let organization_id = api
        .caller_organization(&caller, &params.organization_id, SERVICE_ACCOUNT_NOT_FOUND)
        .await?;
    auth::require(caller.role, Resource::ServiceAccountCredentials, Action::Read)?;
    let scope = ListScope {
        list: "c",
        parent: &params.service_account_id,
        key: &api.cursor_key,
    };
    let request = scope.request(params.limit, params.after.as_deref(), params.before.as_deref())?;
    let service_account = api
        .store
        .find_service_account(&organization_id, &params.service_account_id)
        .await;
    if service_account.map_err(storage_error)?.is_none() {
        return Err(ApiError::not_found(SERVICE_ACCOUNT_NOT_FOUND));
    }
    let page = api
        .store
        .list_credentials(&organization_id, &params.service_account_id, request)
        .await;
    let page = page.map_err(storage_error)?;
    let page_info = scope.page_info(&page, position);
    Ok(ListServiceAccountCredentialsResponse::Status200(
        CredentialListResponse {
            items: page
                .items
                .into_iter()
                .map(|item| credential_model(item, &caller, &[]))
                .collect(),
            page_info,
            permissions: expanded_permissions(&caller, &params.expand, Resource::ServiceAccountCredentials),
        },
    ))
}

/// `POST …/service-accounts/{service_account_id}/credentials`: the only answer that
/// ever carries the client_secret; the store keeps only its hash.
pub async fn create<S: Store>(
    api: &KeycredApi<S>,
    caller: Caller,
    params: CreateServiceAccountCredentialParams,
    body: CreateServiceAccountCredentialRequest,
) -> Result<CreateServiceAccountCredentialResponse, ApiError> {
    let organization_id = api
        .caller_organization(&caller, &params.organization_id, SERVICE_ACCOUNT_NOT_FOUND)
        .await?;
    auth::require(caller.role, Resource::ServiceAccountCredentials, Action::Create)?;
    let client_secret = ids::client_secret();
    let created_at = now();
    let credential = Credential {
        id: ids::resource_id(),
        organization_id,
        service_account_id: params.service_account_id,
        client_id: ids::client_id(),
        name: body.name,
        description: body.description,
        created_at,
        updated_at: created_at,
        last_used_at: None,
        status: CredentialStatus::Active,
        expires_at: None,
        secret_rotated_at: None,
        previous_secret_expires_at: None,
    };
    let new_credential = NewCredential {
        credential: credential.clone(),
        secret_hash: auth::hash_secret(&client_secret),
    };
    if !api
        .store
        .create_credential(new_credential)
        .await
        .map_err(storage_error)?
    {
        return Err(ApiError::not_found(SERVICE_ACCOUNT_NOT_FOUND));
    }
    let etag = etags::credential(&credential);
    Ok(CreateServiceAccountCredentialResponse::Status200(
        CredentialCreateResponse {
            id: credential.id,
            client_id: credential.client_id,
            client_secret,
            created_at: Timestamp(credential.created_at),
            name: credential.name,
            description: credential.description,
        },
        etag,
    ))
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
    auth::require(caller.role, Resource::ServiceAccountCredentials, Action::Read)?;
    let key = CredentialKey {
        organization_id: &organization_id,
        service_account_id: &params.service_account_id,
        credential_id: &params.credential_id,
    };
    let credential = api.store.find_credential(key).await.map_err(storage_error)?;
    let credential = credential.ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    let etag = etags::credential(&credential);
    Ok(GetServiceAccountCredentialResponse::Status200(
        credential_model(credential, &caller, &params.expand),
        etag,
    ))
}

/// `PATCH …/credentials/{credential_id}`: absent fields are unchanged, `{}` changes nothing.
/// With `If-Match`, the update applies only to the version it names (else 412).
pub async fn update<S: Store>(
    api: &KeycredApi<S>,
    caller: Caller,
    params: UpdateServiceAccountCredentialParams,
    body: UpdateServiceAccountCredentialRequest,
) -> Result<UpdateServiceAccountCredentialResponse, ApiError> {
    let organization_id = api
        .caller_organization(&caller, &params.organization_id, NOT_FOUND)
        .await?;
    auth::require(caller.role, Resource::ServiceAccountCredentials, Action::Update)?;
    let key = CredentialKey {
        organization_id: &organization_id,
        service_account_id: &params.service_account_id,
        credential_id: &params.credential_id,
    };
    let patch = CredentialPatch {
        name: body.name,
        description: body.description,
        ..Default::default()
    };
    // A missing credential is a 404 whatever If-Match says (RFC 9110 §13.2.1: preconditions
    // are ignored when the answer without them would not be a success).
    let expected = match params.if_match.as_deref() {
        None => None,
        Some(if_match) => {
            let current = api.store.find_credential(key).await.map_err(storage_error)?;
            let current = current.ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
            if !etags::credential(&current).matches(if_match) {
                return Err(etags::precondition_failed("credential"));
            }
            Some(current)
        }
    };
    let conditional = expected.is_some();
    let credential = api
        .store
        .update_credential(key, patch, now(), expected)
        .await
        .map_err(storage_error)?;
    let credential = match credential {
        Some(credential) => credential,
        // Changed between the read and the update: still there means someone else's
        // update came first.
        None if conditional && api.store.find_credential(key).await.map_err(storage_error)?.is_some() => {
            return Err(etags::precondition_failed("credential"))
        }
        None => return Err(ApiError::not_found(NOT_FOUND)),
    };
    let etag = etags::credential(&credential);
    Ok(UpdateServiceAccountCredentialResponse::Status200(
        credential_model(credential, &caller, &params.expand),
        etag,
    ))
}

/// `DELETE …/credentials/{credential_id}`: the credential's tokens go with it, at once
/// (from the token cache too, before the answer).
pub async fn delete<S: Store>(
    api: &KeycredApi<S>,
    caller: Caller,
    params: DeleteServiceAccountCredentialParams,
) -> Result<DeleteServiceAccountCredentialResponse, ApiError> {
    let organization_id = api
        .caller_organization(&caller, &params.organization_id, NOT_FOUND)
        .await?;
    auth::require(caller.role, Resource::ServiceAccountCredentials, Action::Delete)?;
    let key = CredentialKey {
        organization_id: &organization_id,
        service_account_id: &params.service_account_id,
        credential_id: &params.credential_id,
    };
    // As for PATCH: a missing credential is a 404 whatever If-Match says, and the
    // store deletes only the version read, in the one statement.
    let expected = match params.if_match.as_deref() {
        None => None,
        Some(if_match) => {
            let current = api.store.find_credential(key).await.map_err(storage_error)?;
            let current = current.ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
            if !etags::credential(&current).matches(if_match) {
                return Err(etags::precondition_failed("credential"));
            }
            Some(current)
        }
    };
    let conditional = expected.is_some();
    let revocation = Revocation::Credential(params.credential_id.clone());
    let (organization, service_account, credential) = (
        organization_id.clone(),
        params.service_account_id.clone(),
        params.credential_id.clone(),
    );
    let deleted = api
        .revoking(revocation, |store| async move {
            let key = CredentialKey {
                organization_id: &organization,
                service_account_id: &service_account,
                credential_id: &credential,
            };
            store.delete_credential(key, expected).await
        })
        .await
        .map_err(storage_error)?;
    if deleted {
        return Ok(DeleteServiceAccountCredentialResponse::Status204);
    }
    // Changed between the read and the delete: still there means someone else's
    // write came first.
    if conditional && api.store.find_credential(key).await.map_err(storage_error)?.is_some() {
        return Err(etags::precondition_failed("credential"));
    }
    Err(ApiError::not_found(NOT_FOUND))
}
