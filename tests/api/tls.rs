//! HTTPS (`--tls-cert`, `--tls-key`): curl over TLS 1.3 and 1.2 (and TLS 1.1 refused),
//! HTTP/2 through ALPN with its limits, a certificate reloaded on SIGHUP while requests
//! go on (and a bad new pair that leaves the old one in place), pairs refused at
//! start, and a client that stalls in its handshake let go.
//!
//! Every certificate is made in the test by a test authority (`helpers/tls.rs`) that
//! curl and the tests' own client trust.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::helpers::tls::{client_config, PairFiles, TestAuthority, TlsClientStream};
use crate::helpers::{credential_path, keycred_binary, spawn_app_with, ServeOptions, TestApp, TestStream};

/// How much later than its timeout the server may act, on a busy test machine.
const SLACK: Duration = Duration::from_secs(4);

/// A server on HTTPS with the pair in `files`, and `env` besides.
fn https_app(files: &PairFiles, env: &[(&str, &str)]) -> TestApp {
    let mut all = files.env();
    all.extend(env.iter().map(|(name, value)| (name.to_string(), value.to_string())));
    let app = spawn_app_with(ServeOptions {
        env: all,
        database: None,
    });
    assert!(app.https, "the server did not say https: {}", app.stdout());
    app
}

/// A valid pair of the test authority, on disk.
fn valid_pair(name: &str) -> PairFiles {
    PairFiles::write(&TestAuthority::get().server_pair(name))
}

/// Runs curl against `path` on `app` (as `https://localhost:PORT`), trusting the test
/// authority, with `args` besides; prints the HTTP version, a space, the status.
fn curl(app: &TestApp, files: &PairFiles, path: &str, args: &[&str]) -> Output {
    let port = app.address.rsplit(':').next().expect("a port");
    Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "20", "--cacert"])
        .arg(files.ca())
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
        .args(["--write-out", "%{http_version} %{http_code}", "--output", "/dev/null"])
        .args(args)
        .arg(format!("https://localhost:{port}{path}"))
        .output()
        .expect("run curl")
}

fn stdout_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn curl_gets_answers_over_tls_1_3_and_tls_1_2() {
    let files = valid_pair("server");
    let app = https_app(&files, &[]);
    assert!(app.stdout().contains(&format!("listening on https://{}", app.address)));

    for versions in [["--tlsv1.3", "--tls-max", "1.3"], ["--tlsv1.2", "--tls-max", "1.2"]] {
        let output = curl(&app, &files, "/healthz", &versions);
        assert!(output.status.success(), "{versions:?}: {}", stderr_of(&output));
        assert!(
            stdout_of(&output).ends_with(" 200"),
            "{versions:?}: {}",
            stdout_of(&output)
        );
    }
}

#[test]
fn a_client_that_offers_only_tls_1_1_is_refused_by_the_server() {
    let files = valid_pair("server");
    let app = https_app(&files, &[]);

    // SECLEVEL=0 lets curl's OpenSSL offer TLS 1.1 at all, so the refusal is the server's.
    let output = curl(
        &app,
        &files,
        "/healthz",
        &["--tlsv1.1", "--tls-max", "1.1", "--ciphers", "DEFAULT@SECLEVEL=0"],
    );

    assert!(!output.status.success(), "TLS 1.1 was served: {}", stdout_of(&output));
    let error = stderr_of(&output);
    assert!(error.contains("alert"), "curl did not hear the server refuse: {error}");
}

#[test]
fn curl_speaks_http2_through_alpn_and_http1_1_when_it_asks_for_it() {
    let files = valid_pair("server");
    let app = https_app(&files, &[]);
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let authorization = format!("Authorization: Bearer {token}");

    let over_h2 = curl(
        &app,
        &files,
        &credential_path(&admin),
        &["--http2", "-H", &authorization],
    );
    let over_h1 = curl(
        &app,
        &files,
        &credential_path(&admin),
        &["--http1.1", "-H", &authorization],
    );

    assert_eq!(stdout_of(&over_h2), "2 200", "{}", stderr_of(&over_h2));
    assert_eq!(stdout_of(&over_h1), "1.1 200", "{}", stderr_of(&over_h1));
}

/// Reads HTTP/2 frames (type, payload) from `stream` until the server closes it.
fn frames_until_closed(stream: &mut TlsClientStream) -> Vec<(u8, Vec<u8>)> {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(read) => bytes.extend_from_slice(&chunk[..read]),
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("the server kept the idle HTTP/2 connection open")
            }
            Err(_) => break,
        }
    }
    let mut frames = Vec::new();
    let mut rest = bytes.as_slice();
    while rest.len() >= 9 {
        let length = usize::from(rest[0]) << 16 | usize::from(rest[1]) << 8 | usize::from(rest[2]);
        let end = (9 + length).min(rest.len());
        frames.push((rest[3], rest[9..end].to_vec()));
        rest = &rest[end..];
    }
    frames
}

/// The value of setting `id` in a SETTINGS payload.
fn setting(payload: &[u8], id: u16) -> Option<u32> {
    payload.chunks_exact(6).find_map(|entry| {
        (u16::from_be_bytes([entry[0], entry[1]]) == id)
            .then(|| u32::from_be_bytes([entry[2], entry[3], entry[4], entry[5]]))
    })
}

#[test]
fn http2_limits_streams_and_header_lists_and_sends_goaway_to_an_idle_connection() {
    const SETTINGS: u8 = 0x4;
    const GOAWAY: u8 = 0x7;
    let files = valid_pair("server");
    let app = https_app(&files, &[("KEYCRED_HEADER_TIMEOUT", "2")]);
    let socket = TcpStream::connect(&app.address).expect("connect");
    // GOAWAY after 2 s idle; dropped 2 s later, since this client answers no PING.
    socket.set_read_timeout(Some(Duration::from_secs(4) + SLACK)).unwrap();
    let mut stream = TlsClientStream::start_with(socket, client_config(&[b"h2"])).expect("a TLS connection");
    assert_eq!(stream.alpn_protocol().unwrap().as_deref(), Some(&b"h2"[..]));

    // The client preface and an empty SETTINGS frame; then nothing.
    stream.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    stream.write_all(&[0, 0, 0, SETTINGS, 0, 0, 0, 0, 0]).unwrap();
    let frames = frames_until_closed(&mut stream);

    let (_, settings) = frames.first().expect("the server's SETTINGS");
    assert_eq!(setting(settings, 0x3), Some(128), "SETTINGS_MAX_CONCURRENT_STREAMS");
    assert_eq!(setting(settings, 0x6), Some(64 * 1024), "SETTINGS_MAX_HEADER_LIST_SIZE");
    let types: Vec<u8> = frames.iter().map(|(kind, _)| *kind).collect();
    assert!(
        types.contains(&GOAWAY),
        "no GOAWAY before the close; frame types {types:?}"
    );
}

#[test]
fn a_client_that_stalls_in_its_handshake_is_let_go_at_the_header_timeout() {
    let files = valid_pair("server");
    let app = https_app(&files, &[("KEYCRED_HEADER_TIMEOUT", "2")]);
    let mut stream = TcpStream::connect(&app.address).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let started = Instant::now();

    // The first bytes of a ClientHello record, and no more.
    stream.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00]).unwrap();
    let mut received = Vec::new();
    // The server closes it (an end of stream, or a reset): either ends the read.
    let _ = stream.read_to_end(&mut received);

    let elapsed = started.elapsed();
    assert!(
        elapsed <= Duration::from_secs(2) + SLACK,
        "the half-done handshake held its connection for {elapsed:?}"
    );
    assert_eq!(app.request("GET", "/healthz", &[], None).status, 200);
}

/// Sends SIGHUP to the server.
fn send_sighup(app: &TestApp) {
    let status = Command::new("kill")
        .args(["-HUP", &app.pid().to_string()])
        .status()
        .expect("run kill -HUP");
    assert!(status.success(), "kill -HUP failed: {status}");
}

/// The certificate a new connection to `app` is shown. (A new client configuration
/// each time: one that resumed an earlier session would be shown no certificate, and
/// report the session's.)
fn certificate_of_a_new_connection(app: &TestApp) -> Vec<u8> {
    let socket = TcpStream::connect(&app.address).expect("connect");
    socket.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut stream = TlsClientStream::start_with(socket, client_config(&[b"http/1.1"])).expect("a TLS connection");
    stream.server_certificate().expect("a certificate").to_vec()
}

/// The DER bytes of the (first) certificate in a PEM file.
fn certificate_in(path: &Path) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_file(path)
        .expect("a PEM certificate")
        .to_vec()
}

/// Sends a keep-alive `GET /healthz` on `stream` and reads its answer, leaving the
/// connection open.
fn healthz_kept_alive(app: &TestApp, stream: &mut TestStream) {
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", app.address);
    stream.write_all(request.as_bytes()).unwrap();
    let mut received = Vec::new();
    let mut chunk = [0u8; 1024];
    while !String::from_utf8_lossy(&received).contains("\"ok\"") {
        let read = stream.read(&mut chunk).expect("read the answer");
        assert_ne!(read, 0, "the server closed a kept-alive connection");
        received.extend_from_slice(&chunk[..read]);
    }
    assert!(
        received.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&received)
    );
}

#[test]
fn sighup_reloads_the_certificate_while_requests_go_on_and_open_connections_stay() {
    let files = valid_pair("first");
    let app = Arc::new(https_app(&files, &[("KEYCRED_HEADER_TIMEOUT", "60")]));
    let first = certificate_in(&files.cert());
    let mut kept_alive = app.connect();
    healthz_kept_alive(&app, &mut kept_alive);
    assert_eq!(certificate_of_a_new_connection(&app), first);

    // Requests on new connections all the while.
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let (app, stop) = (Arc::clone(&app), Arc::clone(&stop));
        thread::spawn(move || {
            let mut statuses = Vec::new();
            while !stop.load(Ordering::SeqCst) || statuses.is_empty() {
                statuses.push(
                    app.try_request("GET", "/healthz", &[], None)
                        .map(|response| response.status),
                );
            }
            statuses
        })
    };
    files.replace(&TestAuthority::get().server_pair("second"));
    send_sighup(&app);
    let logs = app.logs_once_they_contain("reloaded the TLS certificate");
    stop.store(true, Ordering::SeqCst);
    let statuses = traffic.join().expect("the traffic thread");

    assert!(logs.contains("reloaded the TLS certificate"), "{logs}");
    let second = certificate_in(&files.cert());
    assert_ne!(first, second);
    assert_eq!(certificate_of_a_new_connection(&app), second);
    assert!(
        statuses.iter().all(|status| status == &Ok(200)),
        "requests during the reload: {statuses:?}"
    );
    healthz_kept_alive(&app, &mut kept_alive);
}

#[test]
fn a_bad_pair_on_sighup_is_logged_and_the_old_certificate_kept() {
    let files = valid_pair("first");
    let app = https_app(&files, &[]);
    let first = certificate_in(&files.cert());

    files.replace(&TestAuthority::get().mismatched_pair());
    send_sighup(&app);
    let logs = app.logs_once_they_contain("cannot reload the TLS certificate");

    assert!(logs.contains("cannot reload the TLS certificate"), "{logs}");
    assert!(logs.contains("does not match"), "{logs}");
    assert_eq!(certificate_of_a_new_connection(&app), first);
    assert_eq!(app.request("GET", "/healthz", &[], None).status, 200);
}

/// Runs `keycred serve` with `files` on a new SQLite file and returns how it ended and
/// whether it created the database.
fn serve_refused(files: &PairFiles) -> (Output, bool) {
    let dir = tempfile::tempdir().expect("a directory");
    let database = dir.path().join("keycred.db");
    let output = Command::new(keycred_binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--database"])
        .arg(&database)
        .arg("--tls-cert")
        .arg(files.cert())
        .arg("--tls-key")
        .arg(files.key())
        .output()
        .expect("run keycred serve");
    (output, database.exists())
}

/// Checks that the server refused to start with one line on stderr containing `needle`.
fn assert_refused(files: &PairFiles, needle: &str) {
    let (output, created_database) = serve_refused(files);
    let error = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{error}");
    assert!(!stdout_of(&output).contains("listening"), "{}", stdout_of(&output));
    assert_eq!(error.trim_end().lines().count(), 1, "not one line: {error}");
    assert!(error.starts_with("keycred: cannot serve HTTPS: "), "{error}");
    assert!(error.contains(needle), "{needle:?} not in {error}");
    assert!(!created_database, "a refused start created the database");
}

#[test]
fn an_expired_certificate_is_refused_at_start() {
    let files = PairFiles::write(&TestAuthority::get().expired_pair());
    assert_refused(&files, "is not valid now");
}

#[test]
fn a_key_that_does_not_match_the_certificate_is_refused_at_start() {
    let files = PairFiles::write(&TestAuthority::get().mismatched_pair());
    assert_refused(&files, "does not match the certificate");
}

#[test]
fn garbage_and_missing_files_are_refused_at_start_naming_the_file() {
    let files = valid_pair("server");
    let key = std::fs::read(files.key()).unwrap();

    std::fs::write(files.cert(), "not a certificate\n").unwrap();
    assert_refused(&files, &format!("{} holds no PEM certificate", files.cert().display()));

    std::fs::write(files.cert(), &key).unwrap();
    assert_refused(&files, "holds no PEM certificate");

    files.replace(&TestAuthority::get().server_pair("server"));
    std::fs::write(
        files.key(),
        "-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    assert_refused(
        &files,
        &format!("{} holds no usable PEM private key", files.key().display()),
    );

    std::fs::remove_file(files.key()).unwrap();
    assert_refused(&files, &format!("cannot read {}", files.key().display()));
}

#[test]
fn tls_flags_come_in_pairs() {
    let files = valid_pair("server");
    let output = Command::new(keycred_binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(files.cert())
        .output()
        .expect("run keycred serve");
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr_of(&output).contains("--tls-key"), "{}", stderr_of(&output));
}
