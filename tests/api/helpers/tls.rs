//! TLS for the tests: a test certificate authority made once per test process, the
//! server certificates it signs (valid, expired, or for a stranger's key) written as
//! PEM files, and a blocking TLS client stream that, like a plain socket, can be cloned
//! for a writer thread and read with a timeout.
//!
//! With `KEYCRED_TEST_TLS=1` every server the helpers start serves HTTPS with a
//! certificate of the test authority, and the helpers speak TLS to it: the tests that
//! run this way (`scripts/test.sh` runs the hostile-input and slow-client ones) check
//! that what holds over plain HTTP holds over TLS too.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::ClientConnection;

/// Whether `KEYCRED_TEST_TLS=1` asks for every server to serve HTTPS.
pub fn tls_mode() -> bool {
    std::env::var("KEYCRED_TEST_TLS").is_ok_and(|value| value == "1")
}

/// The test certificate authority of this test process: every server certificate the
/// tests make is signed by it, and the tests' clients trust it alone.
pub struct TestAuthority {
    key: KeyPair,
    certificate: rcgen::Certificate,
}

/// A server certificate (for `localhost` and 127.0.0.1) and its private key, as PEM.
#[derive(Debug, Clone)]
pub struct TestPair {
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestAuthority {
    /// The authority of this test process, made on first use.
    pub fn get() -> &'static TestAuthority {
        static AUTHORITY: OnceLock<TestAuthority> = OnceLock::new();
        AUTHORITY.get_or_init(|| {
            let key = KeyPair::generate().expect("a CA key");
            let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, "keycred test CA");
            let certificate = params.self_signed(&key).expect("a CA certificate");
            TestAuthority { key, certificate }
        })
    }

    /// The authority's certificate as PEM, for clients to trust.
    pub fn ca_pem(&self) -> String {
        self.certificate.pem()
    }

    /// A new server certificate, with a key of its own, named `common_name` (valid
    /// from 1975 to 4096, rcgen's default).
    pub fn server_pair(&self, common_name: &str) -> TestPair {
        self.sign(self.server_params(common_name))
    }

    /// A server certificate that expired in 2021.
    pub fn expired_pair(&self) -> TestPair {
        let mut params = self.server_params("expired");
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        self.sign(params)
    }

    /// A valid certificate with the key of another one: a pair that does not match.
    pub fn mismatched_pair(&self) -> TestPair {
        TestPair {
            cert_pem: self.server_pair("one").cert_pem,
            key_pem: self.server_pair("another").key_pem,
        }
    }

    fn server_params(&self, common_name: &str) -> CertificateParams {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).expect("server parameters");
        params.distinguished_name.push(DnType::CommonName, common_name);
        params
    }

    fn sign(&self, params: CertificateParams) -> TestPair {
        let key = KeyPair::generate().expect("a server key");
        let certificate = params
            .signed_by(&key, &self.certificate, &self.key)
            .expect("a server certificate");
        TestPair {
            cert_pem: certificate.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// Where a pair's files are: `cert.pem` and `key.pem` (and `ca.pem`, the test
/// authority's certificate, for clients) in a directory of their own, removed when
/// this is dropped.
pub struct PairFiles {
    dir: tempfile::TempDir,
}

impl PairFiles {
    /// Writes `pair` to a new directory.
    pub fn write(pair: &TestPair) -> PairFiles {
        let files = PairFiles {
            dir: tempfile::tempdir().expect("a directory for the certificate"),
        };
        replace_file(&files.ca(), TestAuthority::get().ca_pem().as_bytes());
        files.replace(pair);
        files
    }

    /// Replaces the files with `pair` (each atomically, certificate first).
    pub fn replace(&self, pair: &TestPair) {
        replace_file(&self.cert(), pair.cert_pem.as_bytes());
        replace_file(&self.key(), pair.key_pem.as_bytes());
    }

    pub fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    pub fn key(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The environment that makes `keycred serve` use these files.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("KEYCRED_TLS_CERT".to_owned(), self.cert().display().to_string()),
            ("KEYCRED_TLS_KEY".to_owned(), self.key().display().to_string()),
        ]
    }
}

/// Writes `bytes` to a temporary file beside `path` and renames it over `path`, so the
/// server never reads half a file.
pub fn replace_file(path: &Path, bytes: &[u8]) {
    let temporary = path.with_extension("new");
    std::fs::write(&temporary, bytes).expect("write the new file");
    std::fs::rename(&temporary, path).expect("rename the new file into place");
}

/// A client configuration trusting the test authority alone, offering `alpn`.
pub fn client_config(alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(TestAuthority::get().certificate.der().clone())
        .expect("trust the test CA");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    Arc::new(config)
}

/// The HTTP/1.1 client configuration, made once.
fn http1_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    Arc::clone(CONFIG.get_or_init(|| client_config(&[b"http/1.1"])))
}

/// A blocking TLS client connection over a `TcpStream`. The handshake is driven by
/// reads, so, as with a plain socket, a write never waits for the server: what is
/// written before the handshake ends is sent once it has. Clones share the connection,
/// so one thread may write while another waits to read.
pub struct TlsClientStream {
    socket: TcpStream,
    state: Arc<Mutex<ClientState>>,
}

struct ClientState {
    connection: ClientConnection,
    /// Decrypted bytes not yet read.
    plaintext: VecDeque<u8>,
    /// The server closed the connection (close_notify or end of stream).
    closed: bool,
}

impl TlsClientStream {
    /// Starts a TLS connection on `socket`, sending the ClientHello at once.
    pub fn start(socket: TcpStream) -> io::Result<TlsClientStream> {
        TlsClientStream::start_with(socket, http1_config())
    }

    /// [`TlsClientStream::start`] with a configuration of the caller's.
    pub fn start_with(socket: TcpStream, config: Arc<rustls::ClientConfig>) -> io::Result<TlsClientStream> {
        let name = ServerName::try_from("localhost").expect("a server name");
        let mut connection = ClientConnection::new(config, name).map_err(io::Error::other)?;
        // Whatever the caller writes before the handshake ends is kept until it does.
        connection.set_buffer_limit(None);
        let stream = TlsClientStream {
            socket,
            state: Arc::new(Mutex::new(ClientState {
                connection,
                plaintext: VecDeque::new(),
                closed: false,
            })),
        };
        stream.send_pending(&mut stream.lock())?;
        Ok(stream)
    }

    fn lock(&self) -> MutexGuard<'_, ClientState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes out the TLS records rustls has ready.
    fn send_pending(&self, state: &mut ClientState) -> io::Result<()> {
        while state.connection.wants_write() {
            state.connection.write_tls(&mut &self.socket)?;
        }
        Ok(())
    }

    /// A second handle on the same connection.
    pub fn try_clone(&self) -> io::Result<TlsClientStream> {
        Ok(TlsClientStream {
            socket: self.socket.try_clone()?,
            state: Arc::clone(&self.state),
        })
    }

    /// The underlying socket, e.g. to set timeouts.
    pub fn socket(&self) -> &TcpStream {
        &self.socket
    }

    /// Shuts down the writing half (after a close_notify) or both halves of the socket.
    /// The handshake is completed first, so what was written before is sent.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            self.finish_handshake()?;
            let mut state = self.lock();
            state.connection.send_close_notify();
            let _ = self.send_pending(&mut state);
        }
        self.socket.shutdown(how)
    }

    /// Reads until the handshake is complete.
    fn finish_handshake(&self) -> io::Result<()> {
        while self.lock().connection.is_handshaking() {
            self.receive()?;
            if self.lock().closed {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed during the handshake",
                ));
            }
        }
        Ok(())
    }

    /// Completes the handshake (reading as needed) and returns the certificate the
    /// server presented.
    pub fn server_certificate(&mut self) -> io::Result<CertificateDer<'static>> {
        self.finish_handshake()?;
        let state = self.lock();
        let chain = state
            .connection
            .peer_certificates()
            .ok_or_else(|| io::Error::other("no certificate"))?;
        Ok(chain[0].clone().into_owned())
    }

    /// The protocol ALPN chose, once the handshake is complete.
    pub fn alpn_protocol(&mut self) -> io::Result<Option<Vec<u8>>> {
        self.finish_handshake()?;
        Ok(self.lock().connection.alpn_protocol().map(<[u8]>::to_vec))
    }

    /// Reads once from the socket (without holding the lock, so writers go on) and
    /// hands what came to rustls. What rustls has to send on the way (the end of the
    /// handshake, data written before it ended) is sent, but a failure to send is no
    /// failure to read: a server that answered early and closed may have left its
    /// answer to be read, as with a plain socket.
    fn receive(&self) -> io::Result<()> {
        let _ = self.send_pending(&mut self.lock());
        let mut incoming = [0u8; 16_384];
        let read = (&self.socket).read(&mut incoming)?;
        let mut state = self.lock();
        if read == 0 {
            state.closed = true;
            return Ok(());
        }
        let mut rest = &incoming[..read];
        while !rest.is_empty() {
            state.connection.read_tls(&mut rest)?;
            if let Err(error) = state.connection.process_new_packets() {
                // Tell the server (an alert), then report it as a failed read.
                let _ = self.send_pending(&mut state);
                return Err(io::Error::new(io::ErrorKind::InvalidData, error));
            }
            let ClientState {
                connection,
                plaintext,
                closed,
            } = &mut *state;
            let mut chunk = [0u8; 16_384];
            loop {
                match connection.reader().read(&mut chunk) {
                    Ok(0) => {
                        *closed = true;
                        break;
                    }
                    Ok(count) => plaintext.extend(&chunk[..count]),
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                    Err(error) => return Err(error),
                }
            }
        }
        let _ = self.send_pending(&mut state);
        Ok(())
    }
}

impl Read for TlsClientStream {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        loop {
            {
                let mut state = self.lock();
                if !state.plaintext.is_empty() {
                    let count = buffer.len().min(state.plaintext.len());
                    for (slot, byte) in buffer.iter_mut().zip(state.plaintext.drain(..count)) {
                        *slot = byte;
                    }
                    return Ok(count);
                }
                if state.closed {
                    return Ok(0);
                }
            }
            self.receive()?;
        }
    }
}

impl Write for TlsClientStream {
    fn write(&mut self, buffer: &[u8]) -> io::Result<usize> {
        let mut state = self.lock();
        let written = state.connection.writer().write(buffer)?;
        self.send_pending(&mut state)?;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_pending(&mut self.lock())
    }
}
