//! What every operation receives besides its parameters: the request's ID and caller.

use axum::http::request::Parts;

/// The server-generated ID of one request, sent back as `X-Request-ID`.
///
/// The server's middleware puts it in the request's extensions; handlers copy it
/// into [`RequestContext`] so logs and errors can name the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// What every operation receives besides its parameters and body.
#[derive(Debug, Clone)]
pub struct RequestContext<C> {
    /// Who is calling: the authenticated caller for bearer-secured operations,
    /// the HTTP Basic credentials (if any) for the token endpoint, `()` otherwise.
    pub caller: C,
    /// This request's server-generated ID.
    pub request_id: RequestId,
}

/// The request's ID as the middleware recorded it, or a fresh one if it did not run.
pub fn request_id(parts: &Parts) -> RequestId {
    parts
        .extensions
        .get::<RequestId>()
        .cloned()
        .unwrap_or_else(|| RequestId(uuid_like_id()))
}

fn uuid_like_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("local-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}
