//! The [`Api`] implementation: one module per tag, and the glue every handler shares
//! (the clock, storage errors as API errors, finding the caller's organization, the
//! token cache and the writes that revoke tokens). `etags` holds the `ETag`/`If-Match`
//! rules the credential and service-account handlers share.

mod audit_events;
mod credential_rotation;
mod credentials;
mod etags;
mod health;
mod organizations;
mod pages;
mod service_accounts;
mod token;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use keycred_api as api;
use keycred_api::request::{BasicCredentials, RequestContext};
use keycred_api::{Api, ApiError, ExpandValue, Permissions};

use crate::audit::{self, DenialRecorder, DenialWriter, Retention};
use crate::auth::{self, Caller, Resource};
use crate::rate_limit::AuthFailureLimiter;
use crate::token_cache::{Cached, Revocation, TokenCache};
pub use audit_events::audit_event_model;
use keycred_store::{Actor, AuditContext, Millis, RevocationFeed, StorageError, StorageResult, Store};
pub use pages::CursorKey;

/// keycred's implementation of the generated [`Api`] trait over a [`Store`].
pub struct KeycredApi<S> {
    /// Where everything is kept; shared with the tasks that finish revoking writes.
    store: Arc<S>,
    /// Recently checked bearer tokens, so most requests skip the database to authenticate.
    tokens: Arc<TokenCache>,
    /// Failed client authentications at the token endpoint, per (client_id, address) and per address.
    auth_failures: AuthFailureLimiter,
    /// What list cursors are signed with.
    cursor_key: CursorKey,
    /// Token denials counted on their way to the audit trail.
    denials: Arc<DenialRecorder>,
}

impl<S: Store> KeycredApi<S> {
    /// Serves the API from `store`, with a token cache of the default size and TTL.
    pub fn new(store: S) -> Self {
        Self::with_token_cache(store, TokenCache::default())
    }

    /// Serves the API from `store`, authenticating through `tokens`.
    pub fn with_token_cache(store: S, tokens: TokenCache) -> Self {
        KeycredApi {
            store: Arc::new(store),
            tokens: Arc::new(tokens),
            auth_failures: AuthFailureLimiter::default(),
            cursor_key: CursorKey::random(),
            denials: Arc::new(DenialRecorder::default()),
        }
    }

    /// Starts writing the token denials counted in memory to the store every second,
    /// in a task of its own (see `crate::audit`). Call it once, at startup, and
    /// finish the writer at shutdown.
    pub fn write_denials_in_the_background(&self) -> DenialWriter {
        DenialWriter::start(Arc::clone(&self.store), Arc::clone(&self.denials))
    }

    /// Starts pruning audit events older than `retention` in the background, looking
    /// every `interval` (see `crate::audit`).
    pub fn prune_audit_events_in_the_background(
        &self,
        retention: Retention,
        interval: Duration,
    ) -> tokio::task::JoinHandle<()> {
        audit::spawn_pruner(Arc::clone(&self.store), retention, interval, now)
    }

    /// Signs list cursors with `key` (the store's, so that every instance and every
    /// restart accept one another's cursors) instead of a key of this process's own.
    pub fn with_cursor_key(mut self, key: CursorKey) -> Self {
        self.cursor_key = key;
        self
    }

    /// Limits failed client authentications with `limiter` instead of the default one.
    pub fn with_auth_failure_limiter(mut self, limiter: AuthFailureLimiter) -> Self {
        self.auth_failures = limiter;
        self
    }

    /// Runs `write`, which revokes the tokens `revocation` names, then drops them from
    /// the token cache and announces the revocation to the other instances (through
    /// the store), so that no instance honours them again once the handler answers
    /// (the others once they hear it, within milliseconds; see `token_cache`). The
    /// write runs in a task of its own: if the client goes away meanwhile, the write
    /// still commits, and the caches must still hear of it.
    async fn revoking<T, W, F>(&self, revocation: Revocation, write: W) -> StorageResult<T>
    where
        T: Send + 'static,
        W: FnOnce(Arc<S>) -> F,
        F: Future<Output = StorageResult<T>> + Send + 'static,
    {
        self.revoking_if(revocation, write, |_| true).await
    }

    /// [`KeycredApi::revoking`] for a write that may revoke nothing: the cache and the
    /// other instances are told only if `revoked` says the write's `Ok` answer revoked
    /// something (and always after an error: a failed write may still have committed).
    async fn revoking_if<T, W, F>(&self, revocation: Revocation, write: W, revoked: fn(&T) -> bool) -> StorageResult<T>
    where
        T: Send + 'static,
        W: FnOnce(Arc<S>) -> F,
        F: Future<Output = StorageResult<T>> + Send + 'static,
    {
        let store = Arc::clone(&self.store);
        let write = write(Arc::clone(&store));
        let tokens = Arc::clone(&self.tokens);
        let task = tokio::spawn(async move {
            let result = write.await;
            if result.as_ref().map_or(true, revoked) {
                // Forgetting too much only costs a database read.
                tokens.revoke(&revocation);
                announce(store.as_ref(), revocation).await;
            }
            result
        });
        task.await
            .map_err(|error| StorageError::Internal(format!("a revoking write did not finish: {error}")))?
    }

    /// Forgets, in the token cache, every revocation `feed` hears from the other
    /// instances, until the feed ends (at once on SQLite); `heard` is told of each,
    /// for the metrics. Call it once, at startup, with the store's feed.
    pub fn hear_revocations(
        &self,
        mut feed: RevocationFeed,
        heard: impl Fn(&Revocation) + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let tokens = Arc::clone(&self.tokens);
        tokio::spawn(async move {
            while let Some(revoked) = feed.recv().await {
                let revocation = Revocation::from(revoked);
                tokens.revoke(&revocation);
                heard(&revocation);
            }
        })
    }
}

/// Announces `revocation` to the other instances. A failure is logged, not answered:
/// the write has committed, and the other instances' token cache TTL still bounds it.
async fn announce<S: Store>(store: &S, revocation: Revocation) {
    let kind = revocation.kind();
    if let Err(error) = store.announce_revocation(revocation.into()).await {
        tracing::warn!(%error, kind, "a revocation could not be announced to the other instances");
    }
}

/// The current time as the store keeps it.
fn now() -> Millis {
    chrono::Utc::now().timestamp_millis()
}

/// Turns a storage failure into an API error, logging what the client must not see.
fn storage_error(error: StorageError) -> ApiError {
    match error {
        // The API creates nothing with a caller-chosen unique key, so a conflict means a
        // freshly generated ID collided: a server fault, not the caller's.
        StorageError::Conflict(reason) => {
            tracing::error!(%reason, "generated identifier collided");
            ApiError::internal()
        }
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

/// Who is writing and from where, for the write's audit event: the service account
/// and credential of the caller's token, the request's IDs and the client's
/// address, now.
fn audit_context(context: &RequestContext<Caller>, client_request_id: Option<uuid::Uuid>) -> AuditContext {
    AuditContext {
        actor: Actor::ServiceAccount {
            service_account_id: context.caller.service_account_id.clone(),
            credential_id: context.caller.credential_id.clone(),
        },
        occurred_at: now(),
        request_id: Some(context.request_id.0.clone()),
        client_request_id: client_request_id.map(|id| id.to_string()),
        source_address: context.client_address.map(crate::client_address::address_text),
    }
}

/// The caller's permissions on a resource type, when `expand` asks for them.
fn expanded_permissions(caller: &Caller, expand: &[ExpandValue], resource: Resource) -> Option<Permissions> {
    expand
        .contains(&ExpandValue::Permissions)
        .then(|| auth::permissions_on(caller.role, resource))
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
        let now = now();
        match self.tokens.lookup(token_id, secret, now) {
            Cached::Valid(caller) => return Ok(caller),
            Cached::Invalid => return Err(ApiError::unauthorized()),
            Cached::Unknown => {}
        }
        let ticket = self.tokens.ticket();
        let record = self.store.find_token(token_id).await.map_err(storage_error)?;
        let record = record.ok_or_else(ApiError::unauthorized)?;
        let caller = auth::verify_token(&record, secret, now).ok_or_else(ApiError::unauthorized)?;
        // Only records that proved themselves are kept: a guess at a token ID fills nothing.
        self.tokens.fill(ticket, record, now);
        Ok(caller)
    }

    async fn get_healthz(
        &self,
        _context: RequestContext<()>,
        _params: api::GetHealthzParams,
    ) -> Result<api::GetHealthzResponse, ApiError> {
        Ok(health::healthz())
    }

    async fn get_readyz(
        &self,
        _context: RequestContext<()>,
        _params: api::GetReadyzParams,
    ) -> Result<api::GetReadyzResponse, ApiError> {
        health::readyz(self.store.as_ref()).await
    }

    async fn create_service_account_token(
        &self,
        context: RequestContext<Option<BasicCredentials>>,
        params: api::CreateServiceAccountTokenParams,
        body: api::TokenRequest,
    ) -> Result<api::CreateServiceAccountTokenResponse, ApiError> {
        let attempt = token::Attempt {
            address: context.client_address,
            request_id: &context.request_id,
            client_request_id: params.x_client_request_id,
            denials: &self.denials,
        };
        token::create(self.store.as_ref(), &self.auth_failures, attempt, context.caller, body).await
    }

    async fn revoke_service_account_token(
        &self,
        context: RequestContext<Option<BasicCredentials>>,
        params: api::RevokeServiceAccountTokenParams,
        body: api::TokenRevocationRequest,
    ) -> Result<api::RevokeServiceAccountTokenResponse, ApiError> {
        let attempt = token::Attempt {
            address: context.client_address,
            request_id: &context.request_id,
            client_request_id: params.x_client_request_id,
            denials: &self.denials,
        };
        token::revoke(self, attempt, context.caller, body).await
    }

    async fn list_organizations(
        &self,
        context: RequestContext<Caller>,
        params: api::ListOrganizationsParams,
    ) -> Result<api::ListOrganizationsResponse, ApiError> {
        organizations::list(self, context.caller, params).await
    }

    async fn get_organization(
        &self,
        context: RequestContext<Caller>,
        params: api::GetOrganizationParams,
    ) -> Result<api::GetOrganizationResponse, ApiError> {
        organizations::get(self, context.caller, params).await
    }

    async fn list_service_accounts(
        &self,
        context: RequestContext<Caller>,
        params: api::ListServiceAccountsParams,
    ) -> Result<api::ListServiceAccountsResponse, ApiError> {
        service_accounts::list(self, context.caller, params).await
    }

    async fn create_service_account(
        &self,
        context: RequestContext<Caller>,
        params: api::CreateServiceAccountParams,
        body: api::CreateServiceAccountRequest,
    ) -> Result<api::CreateServiceAccountResponse, ApiError> {
        let audit = audit_context(&context, params.x_client_request_id);
        service_accounts::create(self, context.caller, audit, params, body).await
    }

    async fn get_service_account(
        &self,
        context: RequestContext<Caller>,
        params: api::GetServiceAccountParams,
    ) -> Result<api::GetServiceAccountResponse, ApiError> {
        service_accounts::get(self, context.caller, params).await
    }

    async fn update_service_account(
        &self,
        context: RequestContext<Caller>,
        params: api::UpdateServiceAccountParams,
        body: api::UpdateServiceAccountRequest,
    ) -> Result<api::UpdateServiceAccountResponse, ApiError> {
        let audit = audit_context(&context, params.x_client_request_id);
        service_accounts::update(self, context.caller, audit, params, body).await
    }

    async fn delete_service_account(
        &self,
        context: RequestContext<Caller>,
        params: api::DeleteServiceAccountParams,
    ) -> Result<api::DeleteServiceAccountResponse, ApiError> {
        let audit = audit_context(&context, params.x_client_request_id);
        service_accounts::delete(self, context.caller, audit, params).await
    }

    async fn list_service_account_credentials(
        &self,
        context: RequestContext<Caller>,
        params: api::ListServiceAccountCredentialsParams,
    ) -> Result<api::ListServiceAccountCredentialsResponse, ApiError> {
        credentials::list(self, context.caller, params).await
    }

    async fn list_organization_credentials(
        &self,
        context: RequestContext<Caller>,
        params: api::ListOrganizationCredentialsParams,
    ) -> Result<api::ListOrganizationCredentialsResponse, ApiError> {
        credentials::list_organization(self, context.caller, params).await
    }

    async fn create_service_account_credential(
        &self,
        context: RequestContext<Caller>,
        params: api::CreateServiceAccountCredentialParams,
        body: api::CreateServiceAccountCredentialRequest,
    ) -> Result<api::CreateServiceAccountCredentialResponse, ApiError> {
        let audit = audit_context(&context, params.x_client_request_id);
        credentials::create(self, context.caller, audit, params, body).await
    }

    async fn get_service_account_credential(
        &self,
        context: RequestContext<Caller>,
        params: api::GetServiceAccountCredentialParams,
    ) -> Result<api::GetServiceAccountCredentialResponse, ApiError> {
        credentials::get(self, context.caller, params).await
    }

    async fn update_service_account_credential(
        &self,
        context: RequestContext<Caller>,
        params: api::UpdateServiceAccountCredentialParams,
        body: api::UpdateServiceAccountCredentialRequest,
    ) -> Result<api::UpdateServiceAccountCredentialResponse, ApiError> {
        let audit = audit_context(&context, params.x_client_request_id);
        credentials::update(self, context.caller, audit, params, body).await
    }

    async fn delete_service_account_credential(
        &self,
        context: RequestContext<Caller>,
        params: api::DeleteServiceAccountCredentialParams,
    ) -> Result<api::DeleteServiceAccountCredentialResponse, ApiError> {
        let audit = audit_context(&context, params.x_client_request_id);
        credentials::delete(self, context.caller, audit, params).await
    }

    async fn rotate_service_account_credential(
        &self,
        context: RequestContext<Caller>,
        params: api::RotateServiceAccountCredentialParams,
        body: Option<api::RotateServiceAccountCredentialRequest>,
    ) -> Result<api::RotateServiceAccountCredentialResponse, ApiError> {
        let audit = audit_context(&context, params.x_client_request_id);
        credential_rotation::rotate(self, context.caller, audit, params, body).await
    }

    async fn list_audit_events(
        &self,
        context: RequestContext<Caller>,
        params: api::ListAuditEventsParams,
    ) -> Result<api::ListAuditEventsResponse, ApiError> {
        audit_events::list(self, context.caller, params).await
    }
}
