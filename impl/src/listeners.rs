//! The server's listeners: binding an address with an error that names it, and the
//! metrics listener, which serves `/metrics` apart from the API so that per-operation
//! counters are only seen by whoever can reach that (private) address.

use std::future::Future;
use std::io::ErrorKind;
use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::server::Limits;

/// An address that could not be bound, and why, in the words an operator acts on:
/// `127.0.0.1:8080: address already in use`.
#[derive(Debug, thiserror::Error)]
#[error("{address}: {reason}")]
pub struct ListenError {
    /// The address as the operator gave it.
    address: String,
    /// What went wrong, without the OS error number.
    reason: String,
}

/// Binds `address` (`HOST:PORT`; a port of 0 picks a free one).
pub async fn bind(address: &str) -> Result<TcpListener, ListenError> {
    let shown = if address.is_empty() { "(empty)" } else { address };
    TcpListener::bind(address).await.map_err(|error| ListenError {
        address: shown.to_owned(),
        reason: reason(&error),
    })
}

/// The usual bind failures in plain words; anything else as the OS says it.
fn reason(error: &std::io::Error) -> String {
    match error.kind() {
        ErrorKind::AddrInUse => "address already in use".to_owned(),
        ErrorKind::PermissionDenied => "permission denied".to_owned(),
        ErrorKind::AddrNotAvailable => "address not available on this machine".to_owned(),
        ErrorKind::InvalidInput => "not a valid address (expected HOST:PORT, e.g. 127.0.0.1:8080)".to_owned(),
        _ => error.to_string(),
    }
}

/// The second listener, serving only `/metrics`.
pub struct MetricsListener {
    /// The bound socket.
    listener: TcpListener,
    /// `/metrics` in the same request envelope as the API (request IDs, counting).
    router: Router,
}

impl MetricsListener {
    /// Serves `router` on `listener`.
    pub fn new(listener: TcpListener, router: Router) -> Self {
        MetricsListener { listener, router }
    }

    /// The address actually bound (the real port when the configured one was 0).
    pub fn address(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves in a task of its own, within `limits`, until `stop` turns `true`.
    pub fn spawn(
        self,
        limits: Limits,
        mut stop: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<std::io::Result<()>> {
        let stopped = async move {
            // An error means the sender is gone: the server is stopping anyway.
            let _ = stop.wait_for(|stopping| *stopping).await;
        };
        tokio::spawn(crate::server::serve(self.listener, self.router, limits, stopped))
    }
}

/// Runs `shutdown`, then tells every `stop` receiver to stop.
pub async fn announcing(shutdown: impl Future<Output = ()> + Send + 'static, stop: watch::Sender<bool>) {
    shutdown.await;
    let _ = stop.send(true);
}
