//! HTTPS for `keycred serve --tls-cert PEM --tls-key PEM`: the certificate and key are
//! read and checked at start (an expired certificate, a key that does not match it or a
//! file that is not PEM stops the server with one line), reloaded from disk on SIGHUP,
//! and served with rustls (TLS 1.2 and 1.3 only; HTTP/2 or HTTP/1.1 as ALPN chooses).
//!
//! - **Reloads keep open connections**: a reload swaps the certificate new handshakes
//!   get; connections already established keep theirs. A new pair that cannot be used
//!   is logged and the old one kept.
//! - **Handshakes must finish in time**: a client that stops halfway through its
//!   handshake is dropped after the header timeout, like one that stops halfway through
//!   a request head, so half-open clients cannot hold a connection slot.
//! - **HTTP/2 is bounded**: at most [`H2_MAX_CONCURRENT_STREAMS`] requests at once per
//!   connection, header lists of at most [`H2_MAX_HEADER_LIST_SIZE`] bytes, and a
//!   connection with no request in flight for the header timeout is sent GOAWAY and
//!   closed (at the latest one more timeout later), as an idle HTTP/1.1 keep-alive
//!   connection is.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tokio_rustls::server::TlsStream;

/// The most requests one HTTP/2 connection may have in flight at once.
pub const H2_MAX_CONCURRENT_STREAMS: u32 = 128;

/// The largest header list (names and values, as HTTP/2 counts them) a request may send.
pub const H2_MAX_HEADER_LIST_SIZE: u32 = 64 * 1024;

/// How long an HTTP/2 connection may go without answering a PING before it is closed.
const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// The ALPN protocol IDs offered, in order of preference.
const ALPN_PROTOCOLS: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Why a certificate and key cannot be served. Each message names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The certificate file holds no usable PEM certificate.
    #[error("{} holds no PEM certificate{}", path.display(), detail(reason))]
    NoCertificate {
        /// The file.
        path: PathBuf,
        /// What the PEM reader or the X.509 parser said, if anything.
        reason: String,
    },
    /// The key file holds no PEM private key rustls can use.
    #[error("{} holds no usable PEM private key{}", path.display(), detail(reason))]
    NoKey {
        /// The file.
        path: PathBuf,
        /// What the PEM reader or rustls said, if anything.
        reason: String,
    },
    /// The certificate is outside its validity period.
    #[error("the certificate in {} is not valid now (valid from {not_before} to {not_after})", path.display())]
    OutsideValidity {
        /// The certificate file.
        path: PathBuf,
        /// The start of its validity.
        not_before: String,
        /// The end of its validity.
        not_after: String,
    },
    /// The key is not the certificate's.
    #[error("the key in {} does not match the certificate in {}", key.display(), cert.display())]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
}

/// `": reason"`, or nothing for an empty reason.
fn detail(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(": {reason}")
    }
}

/// Where the certificate chain and its private key are read from (and re-read on SIGHUP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificates: the server's first, then any intermediates.
    pub cert: PathBuf,
    /// The PEM private key (PKCS#8, PKCS#1 or SEC1) of the first certificate.
    pub key: PathBuf,
}

/// What TLS connections are served with. Cheap to clone (one pointer, so that every
/// connection's task, which holds one, stays small).
#[derive(Clone)]
pub struct Tls(Arc<TlsState>);

/// The files, the certificate in use, and the rustls acceptor that hands it to each
/// new handshake.
struct TlsState {
    files: TlsFiles,
    current: Arc<CurrentCertificate>,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl Tls {
    /// Reads and checks the files, and builds the TLS configuration around them.
    pub fn load(files: TlsFiles) -> Result<Tls, TlsError> {
        let certified = read_certified_key(&files)?;
        let current = Arc::new(CurrentCertificate(RwLock::new(Arc::new(certified))));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .expect("the ring provider supports TLS 1.2 and 1.3")
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&current) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|protocol| protocol.to_vec()).collect();
        Ok(Tls(Arc::new(TlsState {
            files,
            current,
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        })))
    }

    /// Re-reads the files; new handshakes get the new pair if it passes the checks
    /// [`Tls::load`] makes, and the old one otherwise.
    pub fn reload(&self) -> Result<(), TlsError> {
        let certified = read_certified_key(&self.0.files)?;
        *self.0.current.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(certified);
        Ok(())
    }

    /// Completes the TLS handshake on `stream` within `timeout`; `None` if the client
    /// failed or was too slow, or the server began to stop meanwhile.
    pub async fn handshake(
        &self,
        stream: TcpStream,
        timeout: Duration,
        stopping: &mut watch::Receiver<bool>,
    ) -> Option<TlsStream<TcpStream>> {
        let peer = stream.peer_addr().ok();
        let accepting = tokio::time::timeout(timeout, self.0.acceptor.accept(stream));
        tokio::select! {
            accepted = accepting => match accepted {
                Ok(Ok(stream)) => Some(stream),
                Ok(Err(error)) => {
                    tracing::debug!(%error, ?peer, "TLS handshake failed");
                    None
                }
                Err(_) => {
                    tracing::debug!(?peer, "TLS handshake timed out");
                    None
                }
            },
            _ = stopping.changed() => None,
        }
    }
}

/// Whether the client and server agreed on HTTP/2 during the handshake.
pub fn negotiated_http2(stream: &TlsStream<TcpStream>) -> bool {
    stream.get_ref().1.alpn_protocol() == Some(b"h2")
}

/// Reloads the certificate and key on every SIGHUP, for as long as the process runs.
/// The signal handler is installed before this returns, so a SIGHUP sent from then on
/// reloads rather than ends the process.
pub fn reload_on_hangup(tls: Tls) -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = signal(SignalKind::hangup())?;
    Ok(async move {
        while hangups.recv().await.is_some() {
            match tls.reload() {
                Ok(()) => tracing::info!(cert = %tls.0.files.cert.display(), "reloaded the TLS certificate and key"),
                Err(error) => tracing::error!(%error, "cannot reload the TLS certificate; keeping the one in use"),
            }
        }
    })
}

/// The pair every new handshake gets; replaced as a whole on reload.
#[derive(Debug)]
struct CurrentCertificate(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for CurrentCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner)))
    }
}

/// Reads the chain and key, and checks that the first certificate is valid now and
/// that the key is its key.
fn read_certified_key(files: &TlsFiles) -> Result<CertifiedKey, TlsError> {
    let chain = read_chain(&files.cert)?;
    check_validity(&files.cert, &chain[0])?;
    let key_pem = read(&files.key)?;
    let no_key = |reason: String| TlsError::NoKey {
        path: files.key.clone(),
        reason,
    };
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|error| no_key(error.to_string()))?;
    let provider = rustls::crypto::ring::default_provider();
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|error| no_key(error.to_string()))?;
    let certified = CertifiedKey::new(chain, signing_key);
    certified.keys_match().map_err(|_| TlsError::KeyMismatch {
        cert: files.cert.clone(),
        key: files.key.clone(),
    })?;
    Ok(certified)
}

/// The PEM certificates of `path`, at least one.
fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| TlsError::NoCertificate {
            path: path.to_owned(),
            reason: error.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
            reason: String::new(),
        });
    }
    Ok(chain)
}

/// Refuses a certificate that does not parse or is not valid at this moment.
fn check_validity(path: &Path, certificate: &CertificateDer<'_>) -> Result<(), TlsError> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate).map_err(|error| TlsError::NoCertificate {
        path: path.to_owned(),
        reason: error.to_string(),
    })?;
    let validity = parsed.validity();
    if validity.is_valid() {
        return Ok(());
    }
    Err(TlsError::OutsideValidity {
        path: path.to_owned(),
        not_before: validity.not_before.to_string(),
        not_after: validity.not_after.to_string(),
    })
}

/// The bytes of `path`, or an error naming it.
fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Unreadable {
        path: path.to_owned(),
        source,
    })
}

/// Serves HTTP/2 on an established TLS connection until it ends: within the stream
/// and header limits, closed with GOAWAY once no request has been in flight for
/// `idle_timeout`, or once the server begins to stop.
pub async fn serve_http2<S>(
    stream: TlsStream<TcpStream>,
    service: S,
    idle_timeout: Duration,
    mut stopping: watch::Receiver<bool>,
) -> Result<(), hyper::Error>
where
    S: tower::Service<axum::http::Request<Incoming>, Response = axum::response::Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let activity = Arc::new(Activity::default());
    let tracked = Arc::clone(&activity);
    let service = tower::ServiceExt::map_future(service, move |answer| {
        let in_flight = InFlight::begin(&tracked);
        async move {
            let response = answer.await;
            drop(in_flight);
            response
        }
    });
    let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    http2
        .timer(TokioTimer::new())
        .max_concurrent_streams(H2_MAX_CONCURRENT_STREAMS)
        .max_header_list_size(H2_MAX_HEADER_LIST_SIZE)
        .keep_alive_interval(Some(idle_timeout))
        .keep_alive_timeout(H2_PING_TIMEOUT);
    let connection = http2.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
    tokio::pin!(connection);
    // Once GOAWAY is sent, a client that still has nothing in flight a timeout later
    // (one that went away without a word) is dropped.
    let mut going_away = false;
    loop {
        let idle = tokio::time::sleep(idle_timeout);
        tokio::select! {
            ended = &mut connection => return ended,
            () = activity.changed.notified() => {}
            () = idle, if activity.in_flight.load(Ordering::SeqCst) == 0 => {
                if going_away {
                    return Ok(());
                }
                connection.as_mut().graceful_shutdown();
                going_away = true;
            }
            _ = stopping.changed(), if !going_away => {
                connection.as_mut().graceful_shutdown();
                going_away = true;
            }
        }
    }
}

/// The requests in flight on one HTTP/2 connection, and a nudge each time that changes.
#[derive(Default)]
struct Activity {
    in_flight: AtomicUsize,
    changed: Notify,
}

/// One request in flight; counted from its arrival until its answer is ready.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn begin(activity: &Arc<Activity>) -> InFlight {
        activity.in_flight.fetch_add(1, Ordering::SeqCst);
        activity.changed.notify_one();
        InFlight(Arc::clone(activity))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.0.changed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate for `localhost` and its key, as PEM; expired if asked.
    fn pair(expired: bool) -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("a key");
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("parameters");
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let certificate = params.self_signed(&key).expect("a certificate");
        (certificate.pem(), key.serialize_pem())
    }

    /// Writes `cert` and `key` into `dir` and names them.
    fn files_in(dir: &Path, (cert, key): &(String, String)) -> TlsFiles {
        std::fs::write(dir.join("cert.pem"), cert).unwrap();
        std::fs::write(dir.join("key.pem"), key).unwrap();
        TlsFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    }

    #[test]
    fn a_matching_valid_pair_loads() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Tls::load(files_in(dir.path(), &pair(false))).is_ok());
    }

    #[test]
    fn an_expired_certificate_and_a_stranger_s_key_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let expired = Tls::load(files_in(dir.path(), &pair(true)));
        assert!(matches!(expired, Err(TlsError::OutsideValidity { .. })));

        let (cert, _) = pair(false);
        let (_, other_key) = pair(false);
        let mismatched = Tls::load(files_in(dir.path(), &(cert, other_key)));
        assert!(matches!(mismatched, Err(TlsError::KeyMismatch { .. })));
    }

    #[test]
    fn a_failed_reload_keeps_the_pair_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let tls = Tls::load(files_in(dir.path(), &pair(false))).unwrap();
        let before = Arc::clone(&tls.0.current.0.read().unwrap());

        std::fs::write(dir.path().join("key.pem"), "garbage").unwrap();
        assert!(matches!(tls.reload(), Err(TlsError::NoKey { .. })));

        let after = Arc::clone(&tls.0.current.0.read().unwrap());
        assert!(Arc::ptr_eq(&before, &after));
    }
}
