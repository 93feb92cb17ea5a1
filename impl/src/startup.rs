//! Startup: read the TLS certificate and key (with `--tls-cert`), bind the listeners (the
//! API's, and the metrics listener if asked for) before anything touches the database, so
//! a bad address leaves no file behind; open the store the `--database` value names
//! (SQLite or PostgreSQL); wrap the generated router (and the served contract beside it,
//! and `/metrics` on its own listener) in the request envelope (request IDs, the client's
//! address, the `Host` rule, panics answered, logging, no caching, metrics), and serve
//! until told to stop.
//!
//! [`Store`] is not object safe (its methods return `impl Future`), so there is no
//! `dyn Store`: startup matches on the backend once and builds the router, or runs
//! the bootstrap, over the concrete store type.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use keycred_api::error::ErrorStyle;
use keycred_api::{ClientAddress, RequestId};
use tokio::net::TcpListener;

use crate::audit::DenialWriter;
use crate::client_address::TrustedProxies;
use crate::config::{BootstrapConfig, Database, LogFormat, ServeConfig};
use crate::database_files::DatabaseFileError;
use crate::handlers::{CursorKey, KeycredApi};
use crate::listeners::{ListenError, MetricsListener};
use crate::metrics::{Metrics, OperationLabel};
use crate::rate_limit::AuthFailureLimiter;
use crate::server::Limits;
use crate::tls::{Tls, TlsError};
use keycred_store::postgres::PgStore;
use keycred_store::sqlite::SqliteStore;
use keycred_store::{IgnoreStorageEvents, StorageError, StorageObserver, Store};

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("x-client-request-id");
/// The token endpoint and its revocation endpoint, whose errors take the OAuth shape.
const TOKEN_PATHS: [&str; 2] = ["/service-account-token", "/service-account-token/revoke"];

/// Why keycred could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// An address could not be bound; says which and why.
    #[error(transparent)]
    Listen(#[from] ListenError),
    /// The database file could not be created; says which and why.
    #[error(transparent)]
    DatabaseFile(#[from] DatabaseFileError),
    /// The database could not be opened or migrated.
    #[error("cannot open the database: {0}")]
    Storage(#[from] StorageError),
    /// The TLS certificate or key cannot be used.
    #[error("cannot serve HTTPS: {0}")]
    Tls(#[from] TlsError),
    /// The address could not be bound, or serving failed.
    #[error("cannot serve: {0}")]
    Io(#[from] std::io::Error),
}

/// A bound, ready-to-run keycred.
pub struct Application {
    /// The bound socket; accepting starts in [`Application::run_until_stopped`].
    listener: TcpListener,
    /// The full HTTP stack: generated router plus the request envelope.
    router: axum::Router,
    /// What slow and greedy clients are held to.
    limits: Limits,
    /// `/metrics` on its own listener, when `--metrics-listen` asks for one.
    metrics_listener: Option<MetricsListener>,
    /// The certificate to serve HTTPS with; plain HTTP without one.
    tls: Option<Tls>,
    /// Writes token denials to the audit trail; finished after the last request.
    denial_writer: DenialWriter,
}

impl Application {
    /// Reads the TLS certificate and key (if any), binds the listen addresses, then
    /// opens the database (applying migrations). With TLS, SIGHUP reloads the
    /// certificate and key from then on.
    pub async fn build(config: &ServeConfig) -> Result<Application, StartupError> {
        // Checked first: a certificate that cannot be served leaves nothing behind.
        let tls = config.tls_files().map(Tls::load).transpose()?;
        let listener = crate::listeners::bind(&config.listen).await?;
        let metrics_listener = match config.metrics_listen() {
            Some(address) => Some(crate::listeners::bind(address).await?),
            None => None,
        };
        let metrics = Arc::new(Metrics::new());
        let envelope = Envelope {
            metrics: Arc::clone(&metrics),
            trusted_proxies: Arc::new(config.trusted_proxies.clone()),
        };
        let observer: Arc<dyn StorageObserver> = Arc::clone(&metrics) as _;
        let limiter = AuthFailureLimiter::new(config.auth_failure_window());
        let (api_router, denial_writer) = match &config.database {
            Database::Sqlite(path) => {
                let store = open_sqlite(path.clone(), observer).await?;
                api_router(store, limiter, Arc::clone(&metrics), config).await?
            }
            Database::Postgres(url) => {
                let store = PgStore::connect(url, observer).await?;
                api_router(store, limiter, Arc::clone(&metrics), config).await?
            }
        };
        let metrics_listener = metrics_listener.map(|listener| {
            let router = labelled_beside(crate::metrics::routes(Arc::clone(&metrics)))
                .fallback(|| async { keycred_api::ApiError::not_found("the metrics listener serves /metrics only") });
            MetricsListener::new(listener, in_envelope(router, envelope.clone()))
        });
        let router = in_envelope(
            api_router.merge(labelled_beside(crate::served_contract::routes())),
            envelope,
        );
        let limits = config.limits().within_open_files(crate::server::open_file_limit());
        if limits.max_connections < config.limits().max_connections {
            tracing::warn!(
                max_connections = limits.max_connections,
                "the open-file limit (ulimit -n) lowers the connection cap"
            );
        }
        if let Some(tls) = &tls {
            tokio::spawn(crate::tls::reload_on_hangup(tls.clone())?);
        }
        Ok(Application {
            listener,
            router,
            limits,
            metrics_listener,
            tls,
            denial_writer,
        })
    }

    /// The address the metrics listener actually bound, if there is one.
    pub fn metrics_address(&self) -> std::io::Result<Option<SocketAddr>> {
        self.metrics_listener.as_ref().map(MetricsListener::address).transpose()
    }

    /// The address actually bound (the real port when the configured one was 0).
    pub fn address(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The connection limits and timeouts in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The URL scheme served: `https` with a certificate, `http` without.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// Serves until `shutdown` resolves, then finishes the requests in flight and
    /// writes the last token denials to the audit trail. The metrics listener, if
    /// any, stops with the API's.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let metrics_server = self
            .metrics_listener
            .map(|metrics_listener| metrics_listener.spawn(self.limits, stopping));
        let shutdown = crate::listeners::announcing(shutdown, stop);
        crate::server::serve_with(self.listener, self.router, self.limits, self.tls, shutdown).await?;
        self.denial_writer.finish().await;
        if let Some(metrics_server) = metrics_server {
            metrics_server.await.map_err(std::io::Error::other)??;
        }
        Ok(())
    }
}

/// `router` in the request envelope: every route and the fallback wrapped in an
/// [`EnvelopeService`].
fn in_envelope(router: axum::Router, envelope: Envelope) -> axum::Router {
    router.layer(envelope)
}

/// Routes served beside the spec's operations, each answer labelled with its route for
/// the metrics (the spec's own handlers label theirs).
fn labelled_beside(routes: axum::Router) -> axum::Router {
    routes.route_layer(axum::middleware::from_fn(crate::metrics::label_operation))
}

/// The generated router over the API implementation on `store`, signing cursors with
/// the store's key, its token cache hearing the revocations of the other instances
/// (counted in `metrics`), and the audit trail's background work started: the writer
/// of token denials (returned, to be finished at shutdown) and retention pruning.
async fn api_router<S: Store>(
    store: S,
    limiter: AuthFailureLimiter,
    metrics: Arc<Metrics>,
    config: &ServeConfig,
) -> Result<(axum::Router, DenialWriter), StorageError> {
    let cursor_key = CursorKey::new(store.cursor_key().await?);
    let feed = store.subscribe_revocations();
    let api = KeycredApi::new(store)
        .with_auth_failure_limiter(limiter)
        .with_cursor_key(cursor_key);
    api.hear_revocations(feed, move |revocation| metrics.revocation_heard(revocation.kind()));
    let denial_writer = api.write_denials_in_the_background();
    api.prune_audit_events_in_the_background(config.audit_retention(), config.audit_prune_interval());
    Ok((keycred_api::router(Arc::new(api)), denial_writer))
}

/// Opens the SQLite store off the async runtime (opening may migrate and fsync),
/// reporting its work to `observer`. A new database file is created private first.
async fn open_sqlite(
    path: std::path::PathBuf,
    observer: Arc<dyn StorageObserver>,
) -> Result<SqliteStore, StartupError> {
    crate::database_files::prepare(&path)?;
    let opened = tokio::task::spawn_blocking(move || SqliteStore::open_observed(&path, observer))
        .await
        .map_err(|error| StorageError::Internal(format!("opening the database panicked: {error}")))?;
    Ok(opened?)
}

/// What the request envelope needs besides the request: where to count it, and whose
/// forwarded headers to believe. As a [`tower::Layer`], it wraps a route in an
/// [`EnvelopeService`].
#[derive(Clone)]
struct Envelope {
    metrics: Arc<Metrics>,
    trusted_proxies: Arc<TrustedProxies>,
}

impl<S> tower::Layer<S> for Envelope {
    type Service = EnvelopeService<S>;

    fn layer(&self, inner: S) -> EnvelopeService<S> {
        EnvelopeService {
            envelope: self.clone(),
            inner,
        }
    }
}

/// The request envelope around one route (`inner`): gives every request an
/// `X-Request-ID` and its client's address ([`ClientAddress`]), refuses an HTTP/1.1
/// request without exactly one `Host`, answers a handler's panic with a 500, echoes a
/// valid `X-Client-Request-ID`, marks every answer uncacheable (they carry credentials
/// and tokens), logs one line, and counts the request in the metrics.
///
/// A service of its own rather than `axum::middleware::from_fn`, which for every
/// request cloned the route, boxed the envelope's future and boxed the route again
/// behind `Next` (with the success bodies' larger buffer, ~2,000 instructions less
/// per GET: docs/perf-log.md).
#[derive(Clone)]
struct EnvelopeService<S> {
    envelope: Envelope,
    inner: S,
}

impl<S> tower::Service<Request> for EnvelopeService<S>
where
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible>,
    S::Future: Unpin,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = EnvelopeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let started = Instant::now();
        let request_id = crate::ids::request_id();
        let client_request_id = request
            .headers()
            .get(&X_CLIENT_REQUEST_ID)
            .and_then(|value| value.to_str().ok())
            .and_then(keycred_api::request::parse_canonical_uuid);
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        request.extensions_mut().insert(RequestId(request_id.clone()));
        let client = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| {
                self.envelope
                    .trusted_proxies
                    .client_address(peer.ip(), request.headers())
            });
        if let Some(client) = client {
            request.extensions_mut().insert(ClientAddress(client));
        }
        let answering = match host_header_problem(&request) {
            Some(problem) => Answering::Ready(Some(bad_host_response(problem, &path))),
            // A route's call only prepares its future; the handler runs when polled.
            // Should a call panic all the same, it is answered as a handler's panic is.
            None => match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.inner.call(request))) {
                Ok(handling) => Answering::Handler(handling),
                Err(panic) => Answering::Ready(Some(answer_panic(panic))),
            },
        };
        EnvelopeFuture {
            answering,
            request: Some(EnvelopedRequest {
                started,
                request_id,
                client_request_id,
                method,
                path,
                client,
                metrics: Arc::clone(&self.envelope.metrics),
            }),
        }
    }
}

/// The answer to one request in the envelope: the route's, then finished by
/// [`EnvelopedRequest::finish`].
struct EnvelopeFuture<F> {
    answering: Answering<F>,
    /// What the envelope keeps of the request until the answer; taken when it comes.
    request: Option<EnvelopedRequest>,
}

/// Where the answer comes from.
enum Answering<F> {
    /// The route's handler.
    Handler(F),
    /// The envelope itself, at once: a refused request, or a route that panicked when
    /// called (taken when answered).
    Ready(Option<Response>),
}

impl<F> Future for EnvelopeFuture<F>
where
    F: Future<Output = Result<Response, std::convert::Infallible>> + Unpin,
{
    type Output = Result<Response, std::convert::Infallible>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        let this = self.get_mut();
        let response = match &mut this.answering {
            Answering::Handler(handling) => match answered_even_if_it_panics(handling, cx) {
                std::task::Poll::Ready(response) => response,
                std::task::Poll::Pending => return std::task::Poll::Pending,
            },
            Answering::Ready(response) => response.take().expect("an answered request is not polled again"),
        };
        let request = this.request.take().expect("an answered request is not polled again");
        std::task::Poll::Ready(Ok(request.finish(response)))
    }
}

/// What the envelope keeps of a request to finish its answer with.
struct EnvelopedRequest {
    started: Instant,
    request_id: String,
    client_request_id: Option<uuid::Uuid>,
    method: axum::http::Method,
    path: String,
    client: Option<std::net::IpAddr>,
    metrics: Arc<Metrics>,
}

impl EnvelopedRequest {
    /// Counts the answer, adds the envelope's headers and logs the request's line.
    fn finish(self, mut response: Response) -> Response {
        let answered = response.extensions();
        let operation = match answered.get::<keycred_api::Operation>() {
            Some(operation) => OperationLabel::answering(*operation),
            None => answered
                .get::<OperationLabel>()
                .copied()
                .unwrap_or(OperationLabel::UNKNOWN),
        };
        self.metrics
            .observe_request(operation, response.status(), self.started.elapsed());

        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&self.request_id) {
            headers.insert(X_REQUEST_ID, value);
        }
        if let Some(client_request_id) = self.client_request_id {
            if let Ok(value) = HeaderValue::from_str(&client_request_id.to_string()) {
                headers.insert(X_CLIENT_REQUEST_ID, value);
            }
        }
        headers.insert(axum::http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        tracing::info!(
            request_id = %self.request_id,
            client_request_id = %self.client_request_id.map(|id| id.to_string()).unwrap_or_default(),
            client = %self.client.map(crate::client_address::address_text).unwrap_or_default(),
            method = %self.method,
            path = %self.path,
            status = response.status().as_u16(),
            latency_ms = self.started.elapsed().as_secs_f64() * 1000.0,
            "request"
        );
        response
    }
}

/// What is wrong with an HTTP/1.1 request's `Host` header, if anything: RFC 9112 §3.2
/// asks for exactly one. HTTP/1.0 may omit it, and HTTP/2 carries the authority in the
/// request's URI (`:authority`) instead, so neither is held to this.
fn host_header_problem(request: &Request) -> Option<&'static str> {
    if request.version() != axum::http::Version::HTTP_11 {
        return None;
    }
    match request.headers().get_all(axum::http::header::HOST).iter().count() {
        1 => None,
        0 => Some("an HTTP/1.1 request must carry a Host header"),
        _ => Some("an HTTP/1.1 request must carry exactly one Host header, not several"),
    }
}

/// The 400 for a request with a bad `Host`, in the error shape of the endpoint it asked for.
fn bad_host_response(problem: &str, path: &str) -> Response {
    let style = if TOKEN_PATHS.contains(&path) {
        ErrorStyle::OAuth
    } else {
        ErrorStyle::Api
    };
    keycred_api::ApiError::invalid_request(problem).into_response_with(style)
}

/// Polls `handling` once: its answer, or if it panics, the answer to a panic
/// ([`answer_panic`]). Here rather than in a layer of its own (`tower_http`'s
/// `CatchPanicLayer` before), which boxed every answer's body once more: ~3,000
/// instructions per GET.
fn answered_even_if_it_panics<F>(handling: &mut F, cx: &mut std::task::Context<'_>) -> std::task::Poll<Response>
where
    F: Future<Output = Result<Response, std::convert::Infallible>> + Unpin,
{
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| std::pin::Pin::new(handling).poll(cx))) {
        Ok(std::task::Poll::Ready(Ok(response))) => std::task::Poll::Ready(response),
        Ok(std::task::Poll::Ready(Err(never))) => match never {},
        Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
        Err(panic) => std::task::Poll::Ready(answer_panic(panic)),
    }
}

/// A handler that panicked still answers: a 500 in the spec's error shape, the panic
/// message in the log only.
fn answer_panic(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic_message(&*panic);
    tracing::error!(panic = %message, "a request handler panicked");
    axum::response::IntoResponse::into_response(keycred_api::ApiError::internal())
}

/// What a panic said, when it said it with a string.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic")
}

/// Resolves on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// `keycred serve`: prints `metrics on http://ADDR` (with a metrics listener) and then
/// `listening on http://ADDR` (`https://` with TLS) once ready, then serves until a signal.
pub async fn serve(config: ServeConfig) -> Result<(), StartupError> {
    let application = Application::build(&config).await?;
    let address = application.address()?;
    if let Some(metrics_address) = application.metrics_address()? {
        println!("metrics on http://{metrics_address}");
    }
    let limits = application.limits();
    tracing::info!(
        %address,
        metrics_address = %application.metrics_address()?.map(|address| address.to_string()).unwrap_or_default(),
        database = %config.database.describe(),
        max_connections = limits.max_connections,
        header_timeout_s = limits.header_read_timeout.as_secs(),
        body_timeout_s = limits.request_body_timeout.as_secs(),
        trusted_proxies = %config.trusted_proxies.describe(),
        tls = application.scheme() == "https",
        "keycred started"
    );
    println!("listening on {}://{address}", application.scheme());
    application.run_until_stopped(shutdown_signal()).await?;
    Ok(())
}

/// `keycred bootstrap`: prints what it made, as `name: value` lines or one JSON object.
pub async fn bootstrap(config: BootstrapConfig) -> Result<(), Box<dyn std::error::Error>> {
    let observer: Arc<dyn StorageObserver> = Arc::new(IgnoreStorageEvents);
    let made = match &config.database {
        Database::Sqlite(path) => {
            let store = open_sqlite(path.clone(), observer).await?;
            crate::bootstrap::bootstrap(&store, &config).await?
        }
        Database::Postgres(url) => {
            let store = PgStore::connect(url, observer).await?;
            crate::bootstrap::bootstrap(&store, &config).await?
        }
    };
    if config.json {
        println!("{}", serde_json::to_string(&made)?);
    } else {
        print!("{}", made.to_lines());
    }
    Ok(())
}

/// Sends logs to stderr at the level `KEYCRED_LOG` names (default `info`), as `format`
/// says: text lines, or one JSON object per line with `timestamp`, `level`, `message`
/// and each field (and the fields of any span it is in) a key of its own.
///
/// Lines are formatted on the thread that logs them and written by a thread of
/// their own ([`crate::log_writer`]), every few milliseconds, many lines per
/// write: a `write` system call per line on the request's thread cost GETs about
/// 9% of their throughput, and waking a writing thread for every line about half
/// of what the log still cost after that (docs/perf-log.md). Nothing is dropped:
/// while 4 MiB of lines are unwritten, logging waits. Keep the returned guard
/// until the process ends; dropping it writes out what is still pending.
#[must_use = "dropping the guard stops the log writer"]
pub fn init_logging(format: LogFormat) -> crate::log_writer::LogWriterGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEYCRED_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) =
        crate::log_writer::log_writer(std::io::stderr(), "keycred-log").expect("start the log's writing thread");
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false);
    match format {
        // At a terminal, in colour; anywhere else, the same text without colour,
        // its fields and time written directly (crate::log_line).
        LogFormat::Text if std::io::IsTerminal::is_terminal(&std::io::stderr()) => subscriber.with_ansi(true).init(),
        LogFormat::Text => subscriber
            .with_ansi(false)
            .with_timer(crate::log_line::UtcMicros)
            .fmt_fields(crate::log_line::PlainFields)
            .init(),
        LogFormat::Json => {
            subscriber
                .with_ansi(false)
                .with_timer(crate::log_line::UtcMicros)
                .json()
                .flatten_event(true)
                .init();
            std::panic::set_hook(Box::new(log_panic));
        }
    }
    guard
}

/// Logs a panic as one `error` event, where the default hook would write lines of
/// text among the JSON ones.
fn log_panic(panic: &std::panic::PanicHookInfo<'_>) {
    let message = panic_message(panic.payload());
    let location = panic.location().map(ToString::to_string).unwrap_or_default();
    let thread = std::thread::current();
    tracing::error!(
        panic = %message,
        location = %location,
        thread = thread.name().unwrap_or_default(),
        "a thread panicked"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    fn envelope() -> Envelope {
        Envelope {
            metrics: Arc::new(Metrics::new()),
            trusted_proxies: Arc::new(TrustedProxies::none()),
        }
    }

    fn get(path: &str) -> Request {
        axum::http::Request::builder()
            .uri(path)
            .header(axum::http::header::HOST, "keycred.test")
            .body(Body::empty())
            .expect("a valid request")
    }

    #[tokio::test]
    async fn a_handler_that_panics_is_answered_500_in_the_error_shape_with_the_envelope_headers() {
        let envelope = envelope();
        let router = axum::Router::new().route(
            "/boom",
            axum::routing::get(|| async {
                if true {
                    panic!("the handler gave up");
                }
                "never"
            }),
        );
        let response = in_envelope(router, envelope.clone())
            .oneshot(get("/boom"))
            .await
            .expect("the router answers");

        assert_eq!(response.status(), axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().contains_key(X_REQUEST_ID));
        assert_eq!(response.headers()[axum::http::header::CACHE_CONTROL], "no-store");
        let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
            .await
            .expect("a body");
        let error: serde_json::Value = serde_json::from_slice(&body).expect("a JSON error");
        assert_eq!(error["code"], "internal_error", "{error}");
        assert_eq!(error["status"], 500, "{error}");
        assert!(
            !String::from_utf8_lossy(&body).contains("gave up"),
            "the panic stays in the log"
        );
        let text = envelope.metrics.render();
        assert!(
            text.contains("keycred_http_requests_total{operation=\"unknown\",status=\"500\"} 1"),
            "{text}"
        );
    }
}
