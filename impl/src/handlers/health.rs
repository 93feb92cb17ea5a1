//! `GET /healthz`.

use keycred_api::{GetHealthzResponse, Health};

/// The server answers, so it is up.
pub fn healthz() -> GetHealthzResponse {
    GetHealthzResponse::Status200(Health {
        status: "ok".to_owned(),
    })
}
