//! The HTTP server: an accept loop on hyper that bounds what slow and greedy clients can
//! take, and shuts down gracefully.
//!
//! - **Connections are capped** ([`Limits::max_connections`]): a slot is taken *before*
//!   `accept()`, so while every slot is in use new connections wait in the kernel's
//!   listen backlog (and past that, the kernel makes their SYNs retry) rather than being
//!   accepted only to be closed. A burst is thus queued at no cost to the server, and
//!   clients see a slow connect, which they wait out, not a reset, which many report as
//!   a failure. What keeps slots from being held forever is the next point.
//! - **Heads must arrive in time** ([`Limits::header_read_timeout`]): a connection that
//!   has not finished a request head within the timeout is closed. The clock runs from
//!   the moment the connection waits for a head — when it is accepted and again after
//!   every response — so the same timeout is also the idle keep-alive timeout. (A new
//!   connection gets it twice at most: once to send its first byte, once from there to
//!   finish the head.)
//! - **Bodies must arrive in time** ([`Limits::request_body_timeout`]): the whole body
//!   must be received within the timeout from the end of the head; a body that
//!   trickles in slower is answered 408 `request_timeout` in the operation's error shape,
//!   and the connection is closed.
//! - **Idle connections are cheap**: a connection is handed to hyper, which sets aside
//!   its buffers (about 11 KiB) at once, only when its first byte has arrived. Until
//!   then it costs a task and a socket, about 1.7 KiB of memory: 10,000 connections
//!   that send nothing cost about 16 MiB (measured by the end-to-end tests).
//! - **TLS is optional** ([`serve_with`]): with a [`Tls`], each connection completes its
//!   handshake (within the header timeout) before it is served, over HTTP/2 when ALPN
//!   chose it and HTTP/1.1 otherwise; the limits above hold over TLS as well.
//!
//! Every request carries its peer's address as axum's [`ConnectInfo`].

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ConnectInfo;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use keycred_api::request::BodyTimedOut;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;

use crate::tls::Tls;

/// The most connections served at once; further ones wait in the kernel's backlog.
/// Lowered at startup to what the process's open-file limit allows.
pub const MAX_CONNECTIONS: u32 = 16_384;

/// How long a client has to send a whole request head; also how long an idle keep-alive
/// connection is kept open.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a client has to send a whole request body, from the end of its head. A
/// body is at most 64 KiB, so this asks for about 2 KiB/s: any real client does better.
pub const REQUEST_BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Open files kept for the database, logs and the listener, besides connections.
const RESERVED_FILES: usize = 64;

/// How long to pause accepting after an error that is not one connection's fault
/// (e.g. out of file descriptors), so the loop does not spin while it lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// The limits [`serve`] holds clients to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most connections served at once.
    pub max_connections: usize,
    /// How long a request head (and an idle keep-alive connection) may take.
    pub header_read_timeout: Duration,
    /// How long a request body may take, from the end of its head.
    pub request_body_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: MAX_CONNECTIONS as usize,
            header_read_timeout: HEADER_READ_TIMEOUT,
            request_body_timeout: REQUEST_BODY_TIMEOUT,
        }
    }
}

impl Limits {
    /// These limits with `max_connections` lowered, if need be, to what `open_files`
    /// (the process's soft limit on open files) allows besides the files it needs
    /// anyway: past that limit `accept()` would fail instead of connections waiting.
    pub fn within_open_files(self, open_files: Option<u64>) -> Limits {
        let Some(open_files) = open_files else {
            return self;
        };
        let allowed = usize::try_from(open_files)
            .unwrap_or(usize::MAX)
            .saturating_sub(RESERVED_FILES)
            .max(1);
        Limits {
            max_connections: self.max_connections.min(allowed),
            ..self
        }
    }
}

/// The process's soft limit on open files, where the system says (Linux's `/proc`).
pub fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_file_limit(&limits)
}

/// The soft "Max open files" of a `/proc/<pid>/limits` text; `None` when unlimited.
fn parse_open_file_limit(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|line| line.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Serves `router` over plain HTTP on `listener` within `limits` until `shutdown`
/// resolves; then stops accepting, closes idle connections, and returns once the
/// requests in flight are answered.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, router, limits, None, shutdown).await
}

/// [`serve`], over TLS when `tls` is given.
pub async fn serve_with(
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    tls: Option<Tls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let (stopping, stopping_watch) = watch::channel(false);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);

    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    pause_after_accept_error(&error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let connection = Connection {
            stream,
            peer,
            slot,
            watcher: graceful.watcher(),
            stopping: stopping_watch.clone(),
            limits,
        };
        match &tls {
            None => tokio::spawn(connection.serve(http.clone(), router.clone())),
            Some(tls) => tokio::spawn(connection.serve_tls(tls.clone(), http.clone(), router.clone())),
        };
    }

    // Refuse new connections from here on, wake the ones still waiting for a first
    // byte, and let hyper close idle keep-alive connections and finish the others.
    drop(listener);
    let _ = stopping.send(true);
    graceful.shutdown().await;
    Ok(())
}

/// After a failed `accept()`: nothing for errors of one connection (it went away before
/// it was accepted), a short pause for the others, which last (out of file descriptors).
async fn pause_after_accept_error(error: &std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
    ) {
        return;
    }
    tracing::warn!(%error, "cannot accept connections; pausing");
    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
}

/// One accepted connection and what it holds while it is served.
struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    /// Its place under the connection cap, given back when the connection ends.
    slot: OwnedSemaphorePermit,
    /// Keeps graceful shutdown waiting until this connection is done.
    watcher: Watcher,
    /// Turns `true` when the server stops accepting.
    stopping: watch::Receiver<bool>,
    limits: Limits,
}

impl Connection {
    /// Waits for the first byte, then serves HTTP/1.1 until the connection ends.
    async fn serve(mut self, http: http1::Builder, router: axum::Router) {
        // Until a client sends something it gets no hyper connection and no buffers,
        // so connections that send nothing cost little; the head timeout still applies.
        // (`peek`, not `readable`: a new socket may be reported readable before it is.)
        let mut first = [0u8; 1];
        let first_byte = tokio::time::timeout(self.limits.header_read_timeout, self.stream.peek(&mut first));
        let ready = tokio::select! {
            peeked = first_byte => matches!(peeked, Ok(Ok(1..))),
            _ = self.stopping.changed() => false,
        };
        if !ready {
            return;
        }

        let peer = self.peer;
        let body_timeout = self.limits.request_body_timeout;
        let service = tower::ServiceExt::map_request(router, move |request| prepare(request, peer, body_timeout));
        let connection = http.serve_connection(TokioIo::new(self.stream), TowerToHyperService::new(service));
        // Boxed so that the task of a connection still waiting for its first byte is
        // only as large as that wait needs.
        if let Err(error) = Box::pin(self.watcher.watch(connection)).await {
            tracing::debug!(%error, peer = %peer, "connection ended with an error");
        }
        // Closed: its place under the cap goes to the next connection in the backlog.
        drop(self.slot);
    }

    /// Whether a first byte arrived within the header timeout (and before shutdown), as
    /// [`Connection::serve`] waits for it (inline there, where every byte of the task counts).
    async fn first_byte_arrived(&mut self) -> bool {
        let mut first = [0u8; 1];
        let first_byte = tokio::time::timeout(self.limits.header_read_timeout, self.stream.peek(&mut first));
        tokio::select! {
            peeked = first_byte => matches!(peeked, Ok(Ok(1..))),
            _ = self.stopping.changed() => false,
        }
    }

    /// Waits for the first byte, then serves over TLS ([`Connection::handshake_and_serve`]).
    async fn serve_tls(mut self, tls: Tls, http: http1::Builder, router: axum::Router) {
        if !self.first_byte_arrived().await {
            return;
        }
        // Boxed: a TLS connection's state is large, and a task is as large as its
        // largest state, even while it waits for a first byte.
        Box::pin(self.handshake_and_serve(tls, http, router)).await;
    }

    /// Completes the TLS handshake within the header timeout, then serves HTTP/2 if
    /// ALPN chose it and HTTP/1.1 otherwise, until the connection ends.
    async fn handshake_and_serve(self, tls: Tls, http: http1::Builder, router: axum::Router) {
        let Connection {
            stream,
            peer,
            slot,
            watcher,
            mut stopping,
            limits,
            ..
        } = self;
        let timeout = limits.header_read_timeout;
        let body_timeout = limits.request_body_timeout;
        let service = tower::ServiceExt::map_request(router, move |request| prepare(request, peer, body_timeout));
        let served = match tls.handshake(stream, timeout, &mut stopping).await {
            None => Ok(()),
            // `stopping` ends it on shutdown; the watcher keeps shutdown waiting meanwhile.
            Some(stream) if crate::tls::negotiated_http2(&stream) => {
                crate::tls::serve_http2(stream, service, timeout, stopping).await
            }
            Some(stream) => {
                let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
                watcher.watch(connection).await
            }
        };
        if let Err(error) = served {
            tracing::debug!(%error, peer = %peer, "TLS connection ended with an error");
        }
        drop(slot);
    }
}

/// Gives a request its peer's address, and its body a deadline.
fn prepare(
    mut request: axum::http::Request<Incoming>,
    peer: SocketAddr,
    body_timeout: Duration,
) -> axum::extract::Request {
    request.extensions_mut().insert(ConnectInfo(peer));
    request.map(|body| {
        if body.is_end_stream() {
            Body::new(body)
        } else {
            Body::new(DeadlineBody::new(body, body_timeout))
        }
    })
}

/// A request body that fails with [`BodyTimedOut`] if it has not ended by its deadline.
struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<Sleep>>,
    limit: Duration,
}

impl DeadlineBody {
    /// `inner`, which must end within `limit` from now.
    fn new(inner: Incoming, limit: Duration) -> Self {
        DeadlineBody {
            inner,
            deadline: Box::pin(tokio::time::sleep(limit)),
            limit,
        }
    }
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyTimedOut { limit: this.limit }))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_leaves_room_for_the_files_the_server_needs() {
        let limits = Limits::default();
        assert_eq!(limits.within_open_files(None), limits);
        assert_eq!(limits.within_open_files(Some(1_048_576)), limits);
        assert_eq!(
            limits.within_open_files(Some(1024)).max_connections,
            1024 - RESERVED_FILES
        );
        assert_eq!(limits.within_open_files(Some(10)).max_connections, 1);
    }

    #[test]
    fn the_open_file_limit_is_read_from_proc_limits() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             94651                94651                processes \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(parse_open_file_limit(limits), Some(1024));
        let unlimited = "Max open files            unlimited            unlimited            files     \n";
        assert_eq!(parse_open_file_limit(unlimited), None);
    }
}
