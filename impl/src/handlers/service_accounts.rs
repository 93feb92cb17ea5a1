//! Service accounts: machine identities in an organization, each with a role.

use keycred_api::decode::Timestamp;
use keycred_api::{
    ApiError, CreateServiceAccountParams, CreateServiceAccountRequest, CreateServiceAccountResponse,
    DeleteServiceAccountParams, DeleteServiceAccountResponse, GetServiceAccountParams, GetServiceAccountResponse,
    ListServiceAccountsParams, ListServiceAccountsResponse, ServiceAccountListResponse, ServiceAccountRole,
    UpdateServiceAccountParams, UpdateServiceAccountRequest, UpdateServiceAccountResponse,
};

use super::pages::ListScope;
use super::{etags, expanded_permissions, storage_error, KeycredApi};
use crate::auth::{self, Action, Caller, Resource};
use crate::ids;
use crate::token_cache::Revocation;
use keycred_store::{AuditContext, Position, Role, ServiceAccount, ServiceAccountPatch, Store};

const NOT_FOUND: &str = "service account not found";

/// The role a service account gets when its creator names none: the least.
const DEFAULT_ROLE: Role = Role::OrgViewer;

pub(super) fn role_model(role: Role) -> ServiceAccountRole {
    match role {
        Role::OrgAdmin => ServiceAccountRole::OrgAdmin,
        Role::OrgMember => ServiceAccountRole::OrgMember,
        Role::OrgViewer => ServiceAccountRole::OrgViewer,
    }
}

fn role_from_model(role: ServiceAccountRole) -> Role {
    match role {
        ServiceAccountRole::OrgAdmin => Role::OrgAdmin,
        ServiceAccountRole::OrgMember => Role::OrgMember,
        ServiceAccountRole::OrgViewer => Role::OrgViewer,
    }
}

/// The service account as the API shows it; `permissions` only when expanded.
fn service_account_model(
    service_account: ServiceAccount,
    caller: &Caller,
    expand: &[keycred_api::ExpandValue],
) -> keycred_api::ServiceAccount {
    keycred_api::ServiceAccount {
        id: service_account.id,
        created_at: Timestamp(service_account.created_at),
        updated_at: Timestamp(service_account.updated_at),
        name: service_account.name,
        description: service_account.description,
        role: role_model(service_account.role),
        permissions: expanded_permissions(caller, expand, Resource::ServiceAccounts),
    }
}

fn position(service_account: &ServiceAccount) -> Position {
    Position {
        created_at: service_account.created_at,
        id: service_account.id.clone(),
    }
}

/// `GET /organizations/{organization_id}/service-accounts`
pub async fn list<S: Store>(
    api: &KeycredApi<S>,
    caller: Caller,
    params: ListServiceAccountsParams,
) -> Result<ListServiceAccountsResponse, ApiError> {
    let organization_id = api
        .caller_organization(&caller, &params.organization_id, NOT_FOUND)
        .await?;
    auth::require(caller.role, Resource::ServiceAccounts, Action::Read)?;
    let scope = ListScope {
        list: "s",
        parent: &organization_id,
        key: &api.cursor_key,
    };
    let request = scope.request(params.limit, params.after.as_deref(), params.before.as_deref())?;
    let page = api
        .store
        .list_service_accounts(&organization_id, request)
        .await
        .map_err(storage_error)?;
    let page_info = scope.page_info(&page, position);
    Ok(ListServiceAccountsResponse::Status200(ServiceAccountListResponse {
        items: page
            .items
            .into_iter()
            .map(|item| service_account_model(item, &caller, &[]))
            .collect(),
        page_info,
        permissions: expanded_permissions(&caller, &params.expand, Resource::ServiceAccounts),
    }))
}

/// `POST /organizations/{organization_id}/service-accounts`
pub async fn create<S: Store>(
    api: &KeycredApi<S>,
    caller: Caller,
    audit: AuditContext,
    params: CreateServiceAccountParams,
    body: CreateServiceAccountRequest,
) -> Result<CreateServiceAccountResponse, ApiError> {
    let organization_id = api
        .caller_organization(&caller, &params.organization_id, NOT_FOUND)
        .await?;
    auth::require(caller.role, Resource::ServiceAccounts, Action::Create)?;
    let created_at = audit.occurred_at;
    let service_account = ServiceAccount {
        id: ids::resource_id(),
        organization_id,
        name: body.name,
        description: body.description,
        role: body.role.map_or(DEFAULT_ROLE, role_from_model),
        created_at,
        updated_at: created_at,
    };
    api.store
        .create_service_account(service_account.clone(), audit)
        .await
        .map_err(storage_error)?;
    let etag = etags::service_account(&service_account);
    Ok(CreateServiceAccountResponse::Status200(
        service_account_model(service_account, &caller, &[]),
        etag,
    ))
}

/// `GET /organizations/{organization_id}/service-accounts/{service_account_id}`
pub async fn get<S: Store>(
    api: &KeycredApi<S>,
    caller: Caller,
    params: GetServiceAccountParams,
) -> Result<GetServiceAccountResponse, ApiError> {
    let organization_id = api
        .caller_organization(&caller, &params.organization_id, NOT_FOUND)
        .await?;
    auth::require(caller.role, Resource::ServiceAccounts, Action::Read)?;
    let found = api
        .store
        .find_service_account(&organization_id, &params.service_account_id)
        .await;
    let service_account = found
        .map_err(storage_error)?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    let etag = etags::service_account(&service_account);
    Ok(GetServiceAccountResponse::Status200(
        service_account_model(service_account, &caller, &params.expand),
        etag,
    ))
}

/// `PATCH /organizations/{organization_id}/service-accounts/{service_account_id}`: a new
/// role binds the service account's existing tokens at once (the token cache forgets
/// them before the answer). With `If-Match`, the update applies only to the version it
/// names (else 412).
pub async fn update<S: Store>(
    api: &KeycredApi<S>,
    caller: Caller,
    audit: AuditContext,
    params: UpdateServiceAccountParams,
    body: UpdateServiceAccountRequest,
) -> Result<UpdateServiceAccountResponse, ApiError> {
    let organization_id = api
        .caller_organization(&caller, &params.organization_id, NOT_FOUND)
        .await?;
    auth::require(caller.role, Resource::ServiceAccounts, Action::Update)?;
    let patch = ServiceAccountPatch {
        name: body.name,
        description: body.description,
        role: body.role.map(role_from_model),
    };
    let service_account_id = params.service_account_id;
    // A missing service account is a 404 whatever If-Match says (RFC 9110 §13.2.1:
    // preconditions are ignored when the answer without them would not be a success).
    let expected = match params.if_match.as_deref() {
        None => None,
        Some(if_match) => {
            let current = api
                .store
                .find_service_account(&organization_id, &service_account_id)
                .await;
            let current = current
                .map_err(storage_error)?
                .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
            if !etags::service_account(&current).matches(if_match) {
                return Err(etags::precondition_failed("service account"));
            }
            Some(current)
        }
    };
    let conditional = expected.is_some();
    let now = audit.occurred_at;
    let updated = if patch.role.is_some() {
        let revocation = Revocation::ServiceAccount(service_account_id.clone());
        let (organization_id, service_account_id) = (organization_id.clone(), service_account_id.clone());
        api.revoking(revocation, |store| async move {
            store
                .update_service_account(&organization_id, &service_account_id, patch, now, expected, audit)
                .await
        })
        .await
    } else {
        api.store
            .update_service_account(&organization_id, &service_account_id, patch, now, expected, audit)
            .await
    };
    let service_account = match updated.map_err(storage_error)? {
        Some(service_account) => service_account,
        // Changed between the read and the update: still there means someone else's
        // update came first.
        None if conditional
            && api
                .store
                .find_service_account(&organization_id, &service_account_id)
                .await
                .map_err(storage_error)?
                .is_some() =>
        {
            return Err(etags::precondition_failed("service account"))
        }
        None => return Err(ApiError::not_found(NOT_FOUND)),
    };
    let etag = etags::service_account(&service_account);
    Ok(UpdateServiceAccountResponse::Status200(
        service_account_model(service_account, &caller, &params.expand),
        etag,
    ))
}

/// `DELETE /organizations/{organization_id}/service-accounts/{service_account_id}`: its
/// credentials go with it, and their tokens stop working at once (the token cache
/// forgets them before the answer).
pub async fn delete<S: Store>(
    api: &KeycredApi<S>,
    caller: Caller,
    audit: AuditContext,
    params: DeleteServiceAccountParams,
) -> Result<DeleteServiceAccountResponse, ApiError> {
    let organization_id = api
        .caller_organization(&caller, &params.organization_id, NOT_FOUND)
        .await?;
    auth::require(caller.role, Resource::ServiceAccounts, Action::Delete)?;
    let service_account_id = params.service_account_id;
    // As for PATCH: a missing service account is a 404 whatever If-Match says, and
    // the store deletes only the version read, in the one statement.
    let expected = match params.if_match.as_deref() {
        None => None,
        Some(if_match) => {
            let current = api
                .store
                .find_service_account(&organization_id, &service_account_id)
                .await
                .map_err(storage_error)?
                .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
            if !etags::service_account(&current).matches(if_match) {
                return Err(etags::precondition_failed("service account"));
            }
            Some(current)
        }
    };
    let conditional = expected.is_some();
    let revocation = Revocation::ServiceAccount(service_account_id.clone());
    let (organization, service_account) = (organization_id.clone(), service_account_id.clone());
    let deleted = api
        .revoking(revocation, |store| async move {
            store
                .delete_service_account(&organization, &service_account, expected, audit)
                .await
        })
        .await
        .map_err(storage_error)?;
    if deleted {
        return Ok(DeleteServiceAccountResponse::Status204);
    }
    // Changed between the read and the delete: still there means someone else's
    // write came first.
    let still_there = conditional
        && api
            .store
            .find_service_account(&organization_id, &service_account_id)
            .await
            .map_err(storage_error)?
            .is_some();
    if still_there {
        return Err(etags::precondition_failed("service account"));
    }
    Err(ApiError::not_found(NOT_FOUND))
}
