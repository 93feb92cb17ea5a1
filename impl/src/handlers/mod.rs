//! The [`Api`] implementation: one module per tag, and the glue every handler shares
//! (the clock, storage errors as API errors, finding the caller's organization).

mod credentials;
mod health;
mod token;

use keycred_api::request::{BasicCredentials, RequestContext};
use keycred_api::{
    Api, ApiError, CreateServiceAccountTokenParams, CreateServiceAccountTokenResponse, GetHealthzParams,
    GetHealthzResponse, GetServiceAccountCredentialParams, GetServiceAccountCredentialResponse, TokenRequest,
    UpdateServiceAccountCredentialParams, UpdateServiceAccountCredentialRequest,
    UpdateServiceAccountCredentialResponse,
};

use crate::auth::{self, Caller};
use crate::storage::{Millis, StorageError, Store};

/// keycred's implementation of the generated [`Api`] trait over a [`Store`].
pub struct KeycredApi<S> {
    store: S,
}

impl<S: Store> KeycredApi<S> {
    /// Serves the API from `store`.
    pub fn new(store: S) -> Self {
        KeycredApi { store }
    }
}

/// The current time as the store keeps it.
fn now() -> Millis {
    chrono::Utc::now().timestamp_millis()
}

/// Turns a storage failure into an API error, logging what the client must not see.
fn storage_error(error: StorageError) -> ApiError {
    match error {
        StorageError::Conflict(message) => ApiError::new(keycred_api::ErrorCode::Conflict, message),
        StorageError::Unavailable(reason) => {
            tracing::warn!(%reason, "storage unavailable");
            ApiError::unavailable("the database is unavailable; try again shortly")
        }
        StorageError::Internal(reason) => {
            tracing::error!(%reason, "storage failure");
            ApiError::internal()
        }
    }
}

impl<S: Store> KeycredApi<S> {
    /// The ID of the organization a path names (by ID or label), if it is the caller's.
    /// Any other organization is reported exactly like a missing resource.
    async fn caller_organization(
        &self,
        caller: &Caller,
        id_or_label: &str,
        not_found: &str,
    ) -> Result<String, ApiError> {
        if id_or_label == caller.organization_id {
            return Ok(caller.organization_id.clone());
        }
        match self.store.find_organization(id_or_label).await.map_err(storage_error)? {
            Some(organization) if organization.id == caller.organization_id => Ok(organization.id),
            _ => Err(ApiError::not_found(not_found)),
        }
    }
}

impl<S: Store> Api for KeycredApi<S> {
    type Caller = Caller;

    async fn authenticate(&self, bearer_token: Option<&str>) -> Result<Caller, ApiError> {
        let Some((token_id, secret)) = bearer_token.and_then(auth::split_token) else {
            return Err(ApiError::unauthorized());
        };
        let record = self.store.find_token(token_id).await.map_err(storage_error)?;
        record
            .and_then(|record| auth::verify_token(record, secret, now()))
            .ok_or_else(ApiError::unauthorized)
    }

    async fn get_healthz(
        &self,
        _context: RequestContext<()>,
        _params: GetHealthzParams,
    ) -> Result<GetHealthzResponse, ApiError> {
        Ok(health::healthz())
    }

    async fn create_service_account_token(
        &self,
        context: RequestContext<Option<BasicCredentials>>,
        _params: CreateServiceAccountTokenParams,
        body: TokenRequest,
    ) -> Result<CreateServiceAccountTokenResponse, ApiError> {
        token::create(&self.store, context.caller, body).await
    }

    async fn get_service_account_credential(
        &self,
        context: RequestContext<Caller>,
        params: GetServiceAccountCredentialParams,
    ) -> Result<GetServiceAccountCredentialResponse, ApiError> {
        credentials::get(self, context.caller, params).await
    }

    async fn update_service_account_credential(
        &self,
        context: RequestContext<Caller>,
        params: UpdateServiceAccountCredentialParams,
        body: UpdateServiceAccountCredentialRequest,
    ) -> Result<UpdateServiceAccountCredentialResponse, ApiError> {
        credentials::update(self, context.caller, params, body).await
    }
}
