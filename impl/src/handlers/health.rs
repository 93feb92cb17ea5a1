//! `GET /healthz` (the process is up) and `GET /readyz` (the database is usable).

use keycred_api::{ApiError, GetHealthzResponse, GetReadyzResponse, Health};
use keycred_store::Store;

/// The server answers, so it is up.
pub fn healthz() -> GetHealthzResponse {
    GetHealthzResponse::Status200(Health {
        status: "ok".to_owned(),
    })
}

/// Ready when the store answers a query and takes a write; otherwise a 503 in the
/// spec's error shape, with the cause in the log only.
pub async fn readyz<S: Store>(store: &S) -> Result<GetReadyzResponse, ApiError> {
    match store.check_ready().await {
        Ok(()) => Ok(GetReadyzResponse::Status200(Health {
            status: "ok".to_owned(),
        })),
        Err(error) => {
            tracing::warn!(reason = %error, "not ready: the readiness check failed");
            Err(ApiError::unavailable(
                "the database cannot answer a query or take a write right now",
            ))
        }
    }
}
