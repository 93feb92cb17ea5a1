//! Service account credentials: create, list, get, update, delete (rotation is in
//! `credential_rotation`), the list of an organization's credentials across its
//! service accounts, and how a stored credential is shown.

use keycred_api::decode::Timestamp;
use keycred_api::{
    ApiError, CreateServiceAccountCredentialParams, CreateServiceAccountCredentialRequest,
    CreateServiceAccountCredentialResponse, CredentialCreateResponse, CredentialListResponse,
    CredentialStatus as Status, DeleteServiceAccountCredentialParams, DeleteServiceAccountCredentialResponse,
    ExpandValue, GetServiceAccountCredentialParams, GetServiceAccountCredentialResponse,
    ListOrganizationCredentialsParams, ListOrganizationCredentialsResponse, ListServiceAccountCredentialsParams,
    ListServiceAccountCredentialsResponse, ServiceAccountCredential, UpdateServiceAccountCredentialParams,
    UpdateServiceAccountCredentialRequest, UpdateServiceAccountCredentialRequestStatus,
    UpdateServiceAccountCredentialResponse,
};

use super::pages::ListScope;
use super::{etags, expanded_permissions, now, storage_error, KeycredApi};
use crate::auth::{self, Action, Caller, Resource};
use crate::ids;
use crate::token_cache::Revocation;
use keycred_store::{
    AuditContext, Credential, CredentialFilter, CredentialKey, CredentialPatch, CredentialStatus,
    CredentialStatusFilter, Millis, NewCredential, Position, Store,
};

pub(super) const NOT_FOUND: &str = "credential not found";
const SERVICE_ACCOUNT_NOT_FOUND: &str = "service account not found";
const ORGANIZATION_NOT_FOUND: &str = "organization not found";

/// The status a credential reads as at `now`: `expired` is never stored, but what
/// an active credential past its expiry is (a disabled one stays `disabled`).
pub(super) fn status_at(credential: &Credential, now: Millis) -> Status {
    match credential.status {
        CredentialStatus::Disabled => Status::Disabled,
        CredentialStatus::Active if credential.is_expired_at(now) => Status::Expired,
        CredentialStatus::Active => Status::Active,
    }
}

/// A credential's lifecycle as the API shows it at `now`: its status, its expiry, its
/// last rotation, and the end of its previous secret's grace while that is to come.
pub(super) struct Lifecycle {
    /// `active`, `disabled` or `expired`.
    pub(super) status: Status,
    /// When the credential stops working, if ever.
    pub(super) expires_at: Option<Timestamp>,
    /// When its secret was last rotated, if ever.
    pub(super) secret_rotated_at: Option<Timestamp>,
    /// Until when the previous secret is accepted, only while it still is.
    pub(super) previous_secret_expires_at: Option<Timestamp>,
}

impl Lifecycle {
    /// The lifecycle of `credential` as it reads at `now`.
    pub(super) fn of(credential: &Credential, now: Millis) -> Lifecycle {
        Lifecycle {
            status: status_at(credential, now),
            expires_at: credential.expires_at.map(Timestamp),
            secret_rotated_at: credential.secret_rotated_at.map(Timestamp),
            previous_secret_expires_at: credential
                .previous_secret_expires_at
                .filter(|until| now < *until)
                .map(Timestamp),
        }
    }
}

/// The credential as the API shows it: never a secret; `permissions` only when expanded.
fn credential_model(credential: Credential, caller: &Caller, expand: &[ExpandValue]) -> ServiceAccountCredential {
    let lifecycle = Lifecycle::of(&credential, now());
    ServiceAccountCredential {
        id: credential.id,
        client_id: credential.client_id,
        created_at: Timestamp(credential.created_at),
        name: credential.name,
        description: credential.description,
        last_used_at: credential.last_used_at.map(Timestamp),
        status: lifecycle.status,
        expires_at: lifecycle.expires_at,
        secret_rotated_at: lifecycle.secret_rotated_at,
        previous_secret_expires_at: lifecycle.previous_secret_expires_at,
        permissions: expanded_permissions(caller, expand, Resource::ServiceAccountCredentials),
        service_account_id: Some(credential.service_account_id),
    }
}

/// A new expiry, if it is in the future; else the 400 that says so.
fn future_expiry(expires_at: Timestamp, now: Millis) -> Result<Millis, ApiError> {
    if expires_at.0 <= now {
        return Err(ApiError::invalid_request("expires_at: must be in the future"));
    }
    Ok(expires_at.0)
}

/// A credential's key that a revoking write, which runs in a task of its own, can own.
pub(super) struct OwnedCredentialKey {
    organization_id: String,
    service_account_id: String,
    credential_id: String,
}

impl OwnedCredentialKey {
    pub(super) fn of(key: CredentialKey<'_>) -> OwnedCredentialKey {
        OwnedCredentialKey {
            organization_id: key.organization_id.to_owned(),
            service_account_id: key.service_account_id.to_owned(),
            credential_id: key.credential_id.to_owned(),
        }
    }

    pub(super) fn key(&self) -> CredentialKey<'_> {
        CredentialKey {
            organization_id: &self.organization_id,
            service_account_id: &self.service_account_id,
            credential_id: &self.credential_id,
        }
    }
}

/// The stored credential of a request's IDs whose `ETag` is one `If-Match` names; a
/// 404 if there is none, a 412 if it has another tag. (A missing credential is a 404
/// whatever If-Match says: RFC 9110 §13.2.1, preconditions are ignored when the
/// answer without them would not be a success.)
pub(super) async fn matching_credential<S: Store>(
    api: &KeycredApi<S>,
    key: CredentialKey<'_>,
    if_match: Option<&str>,
) -> Result<Option<Credential>, ApiError> {
    let Some(if_match) = if_match else {
        return Ok(None);
    };
    let current = api.store.find_credential(key).await.map_err(storage_error)?;
    let current = current.ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    if !etags::credential(&current).matches(if_match) {
        return Err(etags::precondition_failed("credential"));
    }
    Ok(Some(current))
}

/// The error of a conditional write that found nothing to write: the credential was
/// changed since it was read if it is still there (412), else it is gone (404).
pub(super) async fn conditional_write_missed<S: Store>(
    api: &KeycredApi<S>,
    key: CredentialKey<'_>,
    conditional: bool,
) -> ApiError {
    if !conditional {
        return ApiError::not_found(NOT_FOUND);
    }
    match api.store.find_credential(key).await {
        Ok(Some(_)) => etags::precondition_failed("credential"),
        Ok(None) => ApiError::not_found(NOT_FOUND),
        Err(error) => storage_error(error),
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

/// `GET /organizations/{organization_id}/credentials`: every credential of the
/// organization, filtered. Its cursors bind the filters they were issued with: the
/// scope they are signed with holds them, so a cursor sent with other filters is
/// refused like one of another list.
pub async fn list_organization<S: Store>(
    api: &KeycredApi<S>,
    caller: Caller,
    params: ListOrganizationCredentialsParams,
) -> Result<ListOrganizationCredentialsResponse, ApiError> {
    let organization_id = api
        .caller_organization(&caller, &params.organization_id, ORGANIZATION_NOT_FOUND)
        .await?;
    auth::require(caller.role, Resource::ServiceAccountCredentials, Action::Read)?;
    let filter = CredentialFilter {
        status: params.status.map(|status| match status {
            Status::Active => CredentialStatusFilter::Active,
            Status::Disabled => CredentialStatusFilter::Disabled,
            Status::Expired => CredentialStatusFilter::Expired,
        }),
        expires_before: params.expires_before.map(|time| time.0),
        last_used_before: params.last_used_before.map(|time| time.0),
    };
    let parent = filtered_scope(&organization_id, &filter);
    let scope = ListScope {
        list: "a",
        parent: &parent,
        key: &api.cursor_key,
    };
    let request = scope.request(params.limit, params.after.as_deref(), params.before.as_deref())?;
    let page = api
        .store
        .list_organization_credentials(&organization_id, filter, now(), request)
        .await;
    let page = page.map_err(storage_error)?;
    let page_info = scope.page_info(&page, position);
    Ok(ListOrganizationCredentialsResponse::Status200(CredentialListResponse {
        items: page
            .items
            .into_iter()
            .map(|item| credential_model(item, &caller, &[]))
            .collect(),
        page_info,
        permissions: expanded_permissions(&caller, &params.expand, Resource::ServiceAccountCredentials),
    }))
}

/// The scope the organization-wide list's cursors are signed with: the
/// organization and every filter, absent ones as empty fields (`|` separates them;
/// no ID or number holds one, nor the `:` that ends a scope).
fn filtered_scope(organization_id: &str, filter: &CredentialFilter) -> String {
    let status = match filter.status {
        None => "",
        Some(CredentialStatusFilter::Active) => "active",
        Some(CredentialStatusFilter::Disabled) => "disabled",
        Some(CredentialStatusFilter::Expired) => "expired",
    };
    let time = |time: Option<i64>| time.map(|millis| millis.to_string()).unwrap_or_default();
    format!(
        "{organization_id}|{status}|{}|{}",
        time(filter.expires_before),
        time(filter.last_used_before)
    )
}

/// `POST …/service-accounts/{service_account_id}/credentials`: the only answer that
/// ever carries the client_secret; the store keeps only its hash.
pub async fn create<S: Store>(
    api: &KeycredApi<S>,
    caller: Caller,
    audit: AuditContext,
    params: CreateServiceAccountCredentialParams,
    body: CreateServiceAccountCredentialRequest,
) -> Result<CreateServiceAccountCredentialResponse, ApiError> {
    let organization_id = api
        .caller_organization(&caller, &params.organization_id, SERVICE_ACCOUNT_NOT_FOUND)
        .await?;
    auth::require(caller.role, Resource::ServiceAccountCredentials, Action::Create)?;
    let created_at = audit.occurred_at;
    let expires_at = body
        .expires_at
        .map(|expires_at| future_expiry(expires_at, created_at))
        .transpose()?;
    let client_secret = ids::client_secret();
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
        expires_at,
        secret_rotated_at: None,
        previous_secret_expires_at: None,
    };
    let new_credential = NewCredential {
        credential: credential.clone(),
        secret_hash: auth::hash_secret(&client_secret),
    };
    if !api
        .store
        .create_credential(new_credential, audit)
        .await
        .map_err(storage_error)?
    {
        return Err(ApiError::not_found(SERVICE_ACCOUNT_NOT_FOUND));
    }
    let etag = etags::credential(&credential);
    let status = status_at(&credential, created_at);
    Ok(CreateServiceAccountCredentialResponse::Status200(
        CredentialCreateResponse {
            id: credential.id,
            client_id: credential.client_id,
            client_secret,
            created_at: Timestamp(credential.created_at),
            name: credential.name,
            description: credential.description,
            service_account_id: Some(credential.service_account_id),
            status,
            expires_at: credential.expires_at.map(Timestamp),
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
/// With `If-Match`, the update applies only to the version it names (else 412). A
/// change of status or expiry affects the credential's tokens, so it is written as
/// a revocation: disabled, they go; with an expiry, theirs is cut to it.
pub async fn update<S: Store>(
    api: &KeycredApi<S>,
    caller: Caller,
    audit: AuditContext,
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
    let now = audit.occurred_at;
    let patch = credential_patch(body, now)?;
    let expected = matching_credential(api, key, params.if_match.as_deref()).await?;
    let conditional = expected.is_some();
    let credential = if patch.status.is_some() || patch.expires_at.is_some() {
        let revocation = Revocation::Credential(params.credential_id.clone());
        let owned = OwnedCredentialKey::of(key);
        api.revoking(revocation, |store| async move {
            store.update_credential(owned.key(), patch, now, expected, audit).await
        })
        .await
    } else {
        api.store.update_credential(key, patch, now, expected, audit).await
    };
    let Some(credential) = credential.map_err(storage_error)? else {
        return Err(conditional_write_missed(api, key, conditional).await);
    };
    let etag = etags::credential(&credential);
    Ok(UpdateServiceAccountCredentialResponse::Status200(
        credential_model(credential, &caller, &params.expand),
        etag,
    ))
}

/// The store's patch for a PATCH body: an expiry must be in the future (`null`
/// removes it).
fn credential_patch(body: UpdateServiceAccountCredentialRequest, now: Millis) -> Result<CredentialPatch, ApiError> {
    let expires_at = match body.expires_at {
        None => None,
        Some(None) => Some(None),
        Some(Some(expires_at)) => Some(Some(future_expiry(expires_at, now)?)),
    };
    Ok(CredentialPatch {
        name: body.name,
        description: body.description,
        status: body.status.map(|status| match status {
            UpdateServiceAccountCredentialRequestStatus::Active => CredentialStatus::Active,
            UpdateServiceAccountCredentialRequestStatus::Disabled => CredentialStatus::Disabled,
        }),
        expires_at,
    })
}

/// `DELETE …/credentials/{credential_id}`: the credential's tokens go with it, at once
/// (from the token cache too, before the answer).
pub async fn delete<S: Store>(
    api: &KeycredApi<S>,
    caller: Caller,
    audit: AuditContext,
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
    let expected = matching_credential(api, key, params.if_match.as_deref()).await?;
    let conditional = expected.is_some();
    let revocation = Revocation::Credential(params.credential_id.clone());
    let owned = OwnedCredentialKey::of(key);
    let deleted = api
        .revoking(revocation, |store| async move {
            store.delete_credential(owned.key(), expected, audit).await
        })
        .await
        .map_err(storage_error)?;
    if deleted {
        return Ok(DeleteServiceAccountCredentialResponse::Status204);
    }
    // Changed between the read and the delete: still there means someone else's
    // write came first.
    Err(conditional_write_missed(api, key, conditional).await)
}
