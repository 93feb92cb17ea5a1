//! The contract, served: `/openapi.yaml` (the exact file the server was built from),
//! `/openapi.json` (the same as JSON) and `/docs` (a reference page rendered from it).

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

fn document(content_type: &'static str, body: &'static str) -> Response {
    ([(CONTENT_TYPE, content_type)], body).into_response()
}

/// The routes that serve the contract; every other method on them is a 405 in the spec's shape.
pub fn routes() -> Router {
    let not_allowed = || async { keycred_api::request::method_not_allowed("GET, HEAD") };
    Router::new()
        .route(
            "/openapi.yaml",
            get(|| async { document("application/yaml", keycred_api::OPENAPI_YAML) }).fallback(not_allowed),
        )
        .route(
            "/openapi.json",
            get(|| async { document("application/json", keycred_api::OPENAPI_JSON) }).fallback(not_allowed),
        )
        .route(
            "/docs",
            get(|| async { document("text/html; charset=utf-8", keycred_api::DOCS_HTML) }).fallback(not_allowed),
        )
}
