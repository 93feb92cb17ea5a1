//! Entity tags: the `ETag` of a success response and the `If-Match` of a request.

use axum::http::header;

/// An entity tag as sent in an `ETag` header, quotes included (`"…"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityTag(pub String);

impl EntityTag {
    /// Whether an `If-Match` value (RFC 9110 §13.1.1) matches this tag: `*`, or a
    /// comma-separated list holding this tag, compared strongly (a weak `W/` tag never
    /// matches). Anything malformed matches nothing, so it fails safe with a 412.
    pub fn matches(&self, if_match: &str) -> bool {
        let if_match = if_match.trim();
        if_match == "*" || if_match.split(',').any(|candidate| candidate.trim() == self.0)
    }
}

/// Adds an `ETag` header to a success response. Tags are made by the server from hex
/// digits, so one that is not a valid header value is a bug: it is left out, not sent broken.
pub fn with_etag(mut response: axum::response::Response, etag: EntityTag) -> axum::response::Response {
    if let Ok(value) = axum::http::HeaderValue::try_from(etag.0) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}
