//! API errors: the `{message, code, status}` shape every error path answers with,
//! and the RFC 6749 §5.2 variant the token endpoint uses.
//!
//! A handler returns an [`ApiError`]; the router renders it in the style of the
//! operation it came from. The message is what the client reads: it never carries
//! internals or secrets (log those before building the error).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::decode::{Problem, ValidationError};

/// What went wrong, for a program. Rendered as the snake_case `code` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The request broke a rule of the spec (400).
    InvalidRequest,
    /// No valid bearer token (401).
    Unauthorized,
    /// The caller's role forbids this (403).
    Forbidden,
    /// No such resource in the caller's organization, or no such route (404).
    NotFound,
    /// The path exists but not with this method (405).
    MethodNotAllowed,
    /// A uniqueness rule was broken (409).
    Conflict,
    /// An `If-Match` precondition did not hold; nothing was changed (412).
    PreconditionFailed,
    /// The request body did not arrive in time (408).
    RequestTimeout,
    /// The request body is over the limit (413).
    PayloadTooLarge,
    /// The request body has the wrong media type (415).
    UnsupportedMediaType,
    /// Too many failed attempts; retry after `Retry-After` seconds (429).
    TooManyRequests,
    /// Something failed inside the server (500).
    InternalError,
    /// The server cannot take the request right now (503).
    ServiceUnavailable,
    /// Token endpoint: client authentication failed (401).
    InvalidClient,
    /// Token endpoint: the grant type is not `client_credentials` (400).
    UnsupportedGrantType,
}

impl ErrorCode {
    /// The snake_case name clients see in `code`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Conflict => "conflict",
            ErrorCode::PreconditionFailed => "precondition_failed",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::TooManyRequests => "too_many_requests",
            ErrorCode::InternalError => "internal_error",
            ErrorCode::ServiceUnavailable => "service_unavailable",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
        }
    }

    /// The HTTP status this code is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidRequest | ErrorCode::UnsupportedGrantType => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized | ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The RFC 6749 §5.2 `error` the token endpoint reports for this code.
    fn oauth_error(self) -> &'static str {
        match self {
            // RFC 6749 has no code for "too many attempts": the client is refused
            // authentication, which is what `invalid_client` says; the 429 status and
            // `Retry-After` tell a client that reads them when to come back.
            ErrorCode::InvalidClient | ErrorCode::Unauthorized | ErrorCode::TooManyRequests => "invalid_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InternalError | ErrorCode::ServiceUnavailable => "server_error",
            _ => "invalid_request",
        }
    }
}

/// How an operation's errors are shaped: the spec's `Error`, or the token endpoint's `TokenError`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorStyle {
    /// `{message, code, status}`; a 401 challenges with `WWW-Authenticate: Bearer`.
    Api,
    /// RFC 6749 §5.2 `{error, error_description}` plus `{message, code, status}`;
    /// a 401 challenges with `WWW-Authenticate: Basic`.
    OAuth,
}

/// An error answer: a code, the message the client reads, and optional extra headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// What went wrong, for a program.
    pub code: ErrorCode,
    /// What went wrong, for a human. Never internals, never secrets.
    pub message: String,
    /// The `Allow` header of a 405.
    pub allow: Option<&'static str>,
    /// The `Retry-After` header of a 429, in seconds.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with the given code and client-facing message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            allow: None,
            retry_after: None,
        }
    }

    /// 400: the request broke a rule.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    /// 401: no valid bearer token.
    pub fn unauthorized() -> Self {
        Self::new(ErrorCode::Unauthorized, "a valid bearer token is required")
    }

    /// 403: the caller may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// 404: no such resource (or one the caller may not know exists).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// 500: the message is fixed so nothing internal can leak; log the cause first.
    pub fn internal() -> Self {
        Self::new(ErrorCode::InternalError, "internal error")
    }

    /// 503: the server cannot take the request right now.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ServiceUnavailable, message)
    }

    /// 405 with the methods the path does allow.
    pub fn method_not_allowed(allow: &'static str) -> Self {
        ApiError {
            code: ErrorCode::MethodNotAllowed,
            message: format!("method not allowed; this path allows {allow}"),
            allow: Some(allow),
            retry_after: None,
        }
    }

    /// 429: too many failed attempts; the client may retry after `retry_after_seconds`.
    pub fn too_many_requests(message: impl Into<String>, retry_after_seconds: u64) -> Self {
        ApiError {
            retry_after: Some(retry_after_seconds.max(1)),
            ..Self::new(ErrorCode::TooManyRequests, message)
        }
    }

    /// Renders the error in the given style.
    pub fn into_response_with(self, style: ErrorStyle) -> Response {
        let status = self.code.status();
        let response = match style {
            ErrorStyle::Api => (status, axum::Json(self.api_body())).into_response(),
            ErrorStyle::OAuth => (status, axum::Json(self.oauth_body())).into_response(),
        };
        finish_error_response(response, style, self.allow, self.retry_after)
    }

    fn api_body(&self) -> ErrorBody<'_> {
        ErrorBody {
            message: &self.message,
            code: self.code.as_str(),
            status: self.code.status().as_u16(),
        }
    }

    fn oauth_body(&self) -> TokenErrorBody<'_> {
        TokenErrorBody {
            error: self.code.oauth_error(),
            error_description: &self.message,
            message: &self.message,
            code: self.code.as_str(),
            status: self.code.status().as_u16(),
        }
    }
}

/// Checks that an operation answers an error only with a status its spec entry lists
/// (`documented`, the generated `…Response::ERROR_STATUSES`). An undocumented status is
/// a bug in the handler or a gap in the spec, so debug builds (every test and fuzzing
/// run) panic on it; release builds answer as asked rather than fail a client twice.
pub fn check_documented(error: &ApiError, operation: &str, documented: &[u16]) {
    let status = error.code.status().as_u16();
    debug_assert!(
        documented.contains(&status),
        "{operation} answered {status} ({}), which openapi.yaml does not list for it (it lists {documented:?})",
        error.code.as_str()
    );
}

/// How long a client is asked to wait before retrying a 503, in seconds. A 503 means
/// the database cannot take work *right now* (its write queue is full, or another
/// process holds its lock), which passes in well under a second; one second spreads
/// the retries out without keeping clients away for long.
pub const RETRY_AFTER_SECONDS: &str = "1";

/// Adds the headers every error of a style carries: the 401 challenge, `Allow` on a
/// 405, `Retry-After` on a 429 and a 503, and `Cache-Control: no-store` on the token
/// endpoint's answers.
fn finish_error_response(
    mut response: Response,
    style: ErrorStyle,
    allow: Option<&'static str>,
    retry_after: Option<u64>,
) -> Response {
    let status = response.status();
    let headers = response.headers_mut();
    if status == StatusCode::UNAUTHORIZED {
        let challenge = match style {
            ErrorStyle::Api => "Bearer",
            ErrorStyle::OAuth => "Basic realm=\"keycred\"",
        };
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    }
    if let Some(allow) = allow {
        headers.insert(header::ALLOW, HeaderValue::from_static(allow));
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        // Back-pressure: tell well-behaved clients when to come back instead of
        // letting them retry at once into the same full queue (RFC 9110 §10.2.3).
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
    }
    if let Some(seconds) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    if status == StatusCode::PAYLOAD_TOO_LARGE || status == StatusCode::REQUEST_TIMEOUT {
        // The rest of the body is never read, so the connection cannot be reused.
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if style == ErrorStyle::OAuth {
        // RFC 6749 §5.1/§5.2: token responses must not be cached.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// RFC 6749 §5.2: an unknown `grant_type` is `unsupported_grant_type`, any other
/// malformed token request is `invalid_request`.
pub fn oauth_body_error(error: ValidationError) -> ApiError {
    if error.field == "grant_type" && matches!(error.problem, Problem::NotOneOf(_)) {
        ApiError::new(ErrorCode::UnsupportedGrantType, error.to_string())
    } else {
        error.into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.into_response_with(ErrorStyle::Api)
    }
}

impl From<ValidationError> for ApiError {
    fn from(error: ValidationError) -> Self {
        ApiError::invalid_request(error.to_string())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.code.status().as_u16(),
            self.code.as_str(),
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

#[derive(Serialize)]
struct ErrorBody<'a> {
    message: &'a str,
    code: &'static str,
    status: u16,
}

#[derive(Serialize)]
struct TokenErrorBody<'a> {
    error: &'static str,
    error_description: &'a str,
    message: &'a str,
    code: &'static str,
    status: u16,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_401_in_api_style_challenges_with_bearer() {
        let response = ApiError::unauthorized().into_response_with(ErrorStyle::Api);
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }

    #[test]
    fn a_401_in_oauth_style_challenges_with_basic_and_is_not_cached() {
        let error = ApiError::new(ErrorCode::InvalidClient, "client authentication failed");
        let response = error.into_response_with(ErrorStyle::OAuth);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Basic realm=\"keycred\"");
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    }

    #[test]
    fn every_503_asks_the_client_to_retry_after_a_second() {
        for style in [ErrorStyle::Api, ErrorStyle::OAuth] {
            let response = ApiError::unavailable("busy").into_response_with(style);
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(response.headers()[header::RETRY_AFTER], "1", "{style:?}");
        }
    }

    #[test]
    fn a_429_says_when_to_retry_in_both_styles() {
        for style in [ErrorStyle::Api, ErrorStyle::OAuth] {
            let response = ApiError::too_many_requests("slow down", 42).into_response_with(style);
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(response.headers()[header::RETRY_AFTER], "42", "{style:?}");
            assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
        }
        let never_zero = ApiError::too_many_requests("slow down", 0).into_response_with(ErrorStyle::OAuth);
        assert_eq!(never_zero.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn a_408_closes_the_connection() {
        let response = ApiError::new(ErrorCode::RequestTimeout, "late").into_response_with(ErrorStyle::Api);
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(response.headers()[header::CONNECTION], "close");
    }

    #[test]
    fn other_errors_carry_no_retry_after() {
        let response = ApiError::internal().into_response_with(ErrorStyle::Api);
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
    }

    #[test]
    fn oauth_errors_map_to_rfc_6749_codes() {
        assert_eq!(ErrorCode::InvalidRequest.oauth_error(), "invalid_request");
        assert_eq!(ErrorCode::PayloadTooLarge.oauth_error(), "invalid_request");
        assert_eq!(ErrorCode::InvalidClient.oauth_error(), "invalid_client");
        assert_eq!(ErrorCode::TooManyRequests.oauth_error(), "invalid_client");
        assert_eq!(ErrorCode::RequestTimeout.oauth_error(), "invalid_request");
        assert_eq!(ErrorCode::UnsupportedGrantType.oauth_error(), "unsupported_grant_type");
        assert_eq!(ErrorCode::InternalError.oauth_error(), "server_error");
    }
}
