//! The answers of the router itself: a path without the method, a path without an operation.

use crate::error::ApiError;

/// The answer to a path that exists but not with the request's method.
pub fn method_not_allowed(allow: &'static str) -> axum::response::Response {
    axum::response::IntoResponse::into_response(ApiError::method_not_allowed(allow))
}

/// The answer to a path no operation has.
pub async fn not_found() -> axum::response::Response {
    axum::response::IntoResponse::into_response(ApiError::not_found("no such route"))
}
