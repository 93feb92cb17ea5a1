//! What the API crate's integration tests share: an [`Api`] whose every operation
//! refuses, and a way to run a request through the generated router over it.

use axum::body::Body;
use axum::http::Request;
use keycred_api::*;

/// Runs `request` through the generated router over `api`; status and body.
pub fn answer(api: RefusingApi, request: Request<Body>) -> (u16, Vec<u8>) {
    use tower::ServiceExt as _;
    // A runtime per request: one a panicking request (see documented_statuses.rs) ran
    // on is not shared with the next.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let response = router(std::sync::Arc::new(api))
            .oneshot(request)
            .await
            .expect("the router is infallible");
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("read the body");
        (status, body.to_vec())
    })
}

/// An [`Api`] that accepts any bearer token and then refuses every operation with the
/// error it holds, so that every other answer comes from the generated code and its runtime.
pub struct RefusingApi {
    /// What every operation answers.
    pub refusal: ApiError,
}

impl RefusingApi {
    /// Refuses every operation with a 400, a status every operation documents.
    pub fn with_a_documented_status() -> Self {
        RefusingApi {
            refusal: ApiError::invalid_request("refused by the test API"),
        }
    }
}

impl Api for RefusingApi {
    type Caller = ();

    async fn authenticate(&self, bearer_token: Option<&str>) -> Result<(), ApiError> {
        bearer_token.map(drop).ok_or_else(ApiError::unauthorized)
    }

    async fn get_healthz(&self, _: RequestContext<()>, _: GetHealthzParams) -> Result<GetHealthzResponse, ApiError> {
        Err(self.refusal.clone())
    }

    async fn get_readyz(&self, _: RequestContext<()>, _: GetReadyzParams) -> Result<GetReadyzResponse, ApiError> {
        Err(self.refusal.clone())
    }

    async fn create_service_account_token(
        &self,
        _: RequestContext<Option<BasicCredentials>>,
        _: CreateServiceAccountTokenParams,
        _: TokenRequest,
    ) -> Result<CreateServiceAccountTokenResponse, ApiError> {
        Err(self.refusal.clone())
    }

    async fn revoke_service_account_token(
        &self,
        _: RequestContext<Option<BasicCredentials>>,
        _: RevokeServiceAccountTokenParams,
        _: TokenRevocationRequest,
    ) -> Result<RevokeServiceAccountTokenResponse, ApiError> {
        Err(self.refusal.clone())
    }

    async fn list_organizations(
        &self,
        _: RequestContext<()>,
        _: ListOrganizationsParams,
    ) -> Result<ListOrganizationsResponse, ApiError> {
        Err(self.refusal.clone())
    }

    async fn get_organization(
        &self,
        _: RequestContext<()>,
        _: GetOrganizationParams,
    ) -> Result<GetOrganizationResponse, ApiError> {
        Err(self.refusal.clone())
    }

    async fn list_service_accounts(
        &self,
        _: RequestContext<()>,
        _: ListServiceAccountsParams,
    ) -> Result<ListServiceAccountsResponse, ApiError> {
        Err(self.refusal.clone())
    }

    async fn create_service_account(
        &self,
        _: RequestContext<()>,
        _: CreateServiceAccountParams,
        _: CreateServiceAccountRequest,
    ) -> Result<CreateServiceAccountResponse, ApiError> {
        Err(self.refusal.clone())
    }

    async fn get_service_account(
        &self,
        _: RequestContext<()>,
        _: GetServiceAccountParams,
    ) -> Result<GetServiceAccountResponse, ApiError> {
        Err(self.refusal.clone())
    }

    async fn update_service_account(
        &self,
        _: RequestContext<()>,
        _: UpdateServiceAccountParams,
        _: UpdateServiceAccountRequest,
    ) -> Result<UpdateServiceAccountResponse, ApiError> {
        Err(self.refusal.clone())
    }

    async fn delete_service_account(
        &self,
        _: RequestContext<()>,
        _: DeleteServiceAccountParams,
    ) -> Result<DeleteServiceAccountResponse, ApiError> {
        Err(self.refusal.clone())
    }

    async fn list_service_account_credentials(
        &self,
        _: RequestContext<()>,
        _: ListServiceAccountCredentialsParams,
    ) -> Result<ListServiceAccountCredentialsResponse, ApiError> {
        Err(self.refusal.clone())
    }

    async fn list_organization_credentials(
        &self,
        _: RequestContext<()>,
        _: ListOrganizationCredentialsParams,
    ) -> Result<ListOrganizationCredentialsResponse, ApiError> {
        Err(self.refusal.clone())
    }

    async fn create_service_account_credential(
        &self,
        _: RequestContext<()>,
        _: CreateServiceAccountCredentialParams,
        _: CreateServiceAccountCredentialRequest,
    ) -> Result<CreateServiceAccountCredentialResponse, ApiError> {
        Err(self.refusal.clone())
    }

    async fn get_service_account_credential(
        &self,
        _: RequestContext<()>,
        _: GetServiceAccountCredentialParams,
    ) -> Result<GetServiceAccountCredentialResponse, ApiError> {
        Err(self.refusal.clone())
    }

    async fn update_service_account_credential(
        &self,
        _: RequestContext<()>,
        _: UpdateServiceAccountCredentialParams,
        _: UpdateServiceAccountCredentialRequest,
    ) -> Result<UpdateServiceAccountCredentialResponse, ApiError> {
        Err(self.refusal.clone())
    }

    async fn delete_service_account_credential(
        &self,
        _: RequestContext<()>,
        _: DeleteServiceAccountCredentialParams,
    ) -> Result<DeleteServiceAccountCredentialResponse, ApiError> {
        Err(self.refusal.clone())
    }

    async fn rotate_service_account_credential(
        &self,
        _: RequestContext<()>,
        _: RotateServiceAccountCredentialParams,
        _: Option<RotateServiceAccountCredentialRequest>,
    ) -> Result<RotateServiceAccountCredentialResponse, ApiError> {
        Err(self.refusal.clone())
    }

    async fn list_audit_events(
        &self,
        _: RequestContext<()>,
        _: ListAuditEventsParams,
    ) -> Result<ListAuditEventsResponse, ApiError> {
        Err(self.refusal.clone())
    }
}
