//! Organizations: a service account's token sees exactly one, its own.

use keycred_api::decode::Timestamp;
use keycred_api::{
    ApiError, ErrorCode, GetOrganizationParams, GetOrganizationResponse, ListOrganizationsParams,
    ListOrganizationsResponse, OrganizationListResponse,
};

use super::pages::{page_in_memory, ListScope};
use super::{expanded_permissions, storage_error, KeycredApi};
use crate::auth::{self, Action, Caller, Resource};
use keycred_store::{Organization, Position, Store};

const NOT_FOUND: &str = "organization not found";

/// The organization as the API shows it. keycred has no SSO and one zone per
/// organization, so `sso_enabled` is false and `zone_id` is the organization's ID.
fn organization_model(organization: Organization) -> keycred_api::Organization {
    keycred_api::Organization {
        zone_id: organization.id.clone(),
        id: organization.id,
        label: organization.label,
        name: organization.name,
        created_at: Timestamp(organization.created_at),
        updated_at: Timestamp(organization.updated_at),
        sso_enabled: false,
        permissions: None,
    }
}

fn position(organization: &Organization) -> Position {
    Position {
        created_at: organization.created_at,
        id: organization.id.clone(),
    }
}

async fn caller_organization_record<S: Store>(api: &KeycredApi<S>, caller: &Caller) -> Result<Organization, ApiError> {
    let organization = api
        .store
        .find_organization(&caller.organization_id)
        .await
        .map_err(storage_error)?;
    organization.ok_or_else(|| ApiError::not_found(NOT_FOUND))
}

/// A list has no parent to be missing, so it has no 404 to answer: a valid token whose
/// organization is gone means the store is inconsistent (organizations are never deleted).
fn missing_is_internal(error: ApiError) -> ApiError {
    if error.code == ErrorCode::NotFound {
        tracing::error!("the organization of a valid token is missing");
        return ApiError::internal();
    }
    error
}

/// `GET /organizations`
pub async fn list<S: Store>(
    api: &KeycredApi<S>,
    caller: Caller,
    params: ListOrganizationsParams,
) -> Result<ListOrganizationsResponse, ApiError> {
    auth::require(caller.role, Resource::Organizations, Action::Read)?;
    let scope = ListScope {
        list: "o",
        parent: "",
        key: &api.cursor_key,
    };
    let request = scope.request(params.limit, params.after.as_deref(), params.before.as_deref())?;
    let visible = [caller_organization_record(api, &caller)
        .await
        .map_err(missing_is_internal)?];
    let page = page_in_memory(&visible, &request, position);
    Ok(ListOrganizationsResponse::Status200(OrganizationListResponse {
        page_info: scope.page_info(&page, position),
        items: page.items.into_iter().map(organization_model).collect(),
        permissions: expanded_permissions(&caller, &params.expand, Resource::Organizations),
    }))
}

/// `GET /organizations/{organization_id}`
pub async fn get<S: Store>(
    api: &KeycredApi<S>,
    caller: Caller,
    params: GetOrganizationParams,
) -> Result<GetOrganizationResponse, ApiError> {
    api.caller_organization(&caller, &params.organization_id, NOT_FOUND)
        .await?;
    auth::require(caller.role, Resource::Organizations, Action::Read)?;
    let mut organization = organization_model(caller_organization_record(api, &caller).await?);
    organization.permissions = expanded_permissions(&caller, &params.expand, Resource::Organizations);
    Ok(GetOrganizationResponse::Status200(organization))
}
