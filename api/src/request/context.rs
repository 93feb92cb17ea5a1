//! What every operation receives besides its parameters: the request's ID, the address
//! of the client that sent it, and its caller.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::request::Parts;

/// The server-generated ID of one request, sent back as `X-Request-ID`.
///
/// The server's middleware puts it in the request's extensions; handlers copy it
/// into [`RequestContext`] so logs and errors can name the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// The operation that answered a request: its index in [`crate::OPERATIONS`]. Every
/// generated handler puts it in the extensions of each answer it gives, error or not,
/// so that what counts answers by operation (the server's metrics) need not match the
/// route again. Answers that no handler gave (an unknown path, a method the path
/// does not allow) have none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation(pub usize);

/// The address of the client that sent a request, as the server worked it out: the
/// connection's peer, or, when the peer is a proxy the server trusts, the address the
/// proxy forwarded. The server's middleware puts it in the request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

/// What every operation receives besides its parameters and body.
#[derive(Debug, Clone)]
pub struct RequestContext<C> {
    /// Who is calling: the authenticated caller for bearer-secured operations,
    /// the HTTP Basic credentials (if any) for the token endpoint, `()` otherwise.
    pub caller: C,
    /// This request's server-generated ID.
    pub request_id: RequestId,
    /// The address of the client that sent the request, if the server knows it: what
    /// throttling counts and logs name.
    pub client_address: Option<IpAddr>,
}

/// The request's ID as the middleware recorded it, or a fresh one if it did not run.
pub fn request_id(parts: &Parts) -> RequestId {
    parts
        .extensions
        .get::<RequestId>()
        .cloned()
        .unwrap_or_else(|| RequestId(uuid_like_id()))
}

/// The client's address as the middleware worked it out ([`ClientAddress`]); failing
/// that, the connection's peer as the server recorded it (`ConnectInfo`); else `None`.
pub fn client_address(parts: &Parts) -> Option<IpAddr> {
    if let Some(ClientAddress(address)) = parts.extensions.get::<ClientAddress>() {
        return Some(*address);
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip())
}

fn uuid_like_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("local-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}
