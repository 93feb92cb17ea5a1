//! Slow and greedy clients: request heads and bodies that trickle in are cut off, idle
//! keep-alive connections are closed, the connection cap holds excess connections back
//! without stopping the server, and 10,000 idle connections cost little memory.
//!
//! The timeouts and the cap are set low here through their environment variables
//! (`KEYCRED_HEADER_TIMEOUT`, `KEYCRED_BODY_TIMEOUT`, `KEYCRED_MAX_CONNECTIONS`) so the
//! tests are quick; the defaults are 10 s, 30 s and 16,384.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::helpers::{
    assert_error, assert_token_error, credential_path, parse_response, read_response, spawn_app_with, ServeOptions,
    TestApp, TestStream,
};

/// The header and body timeouts these tests give the server, in seconds.
const SHORT_TIMEOUT_SECONDS: u64 = 2;

/// How much later than its timeout the server may act, on a busy test machine.
const SLACK: Duration = Duration::from_secs(4);

fn app_with(env: &[(&str, &str)]) -> TestApp {
    spawn_app_with(ServeOptions {
        env: env
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect(),
        database: None,
    })
}

fn app_with_short_timeouts() -> TestApp {
    let seconds = SHORT_TIMEOUT_SECONDS.to_string();
    app_with(&[("KEYCRED_HEADER_TIMEOUT", &seconds), ("KEYCRED_BODY_TIMEOUT", &seconds)])
}

/// Writes `bytes` on `stream` one at a time, `every` apart, from another thread, until
/// they run out, a write fails, or the returned flag is set.
fn trickle(stream: &TestStream, bytes: Vec<u8>, every: Duration) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut writer = stream.try_clone().expect("clone the stream");
    let stopped = Arc::clone(&stop);
    thread::spawn(move || {
        for byte in bytes {
            if stopped.load(Ordering::SeqCst) || writer.write_all(&[byte]).is_err() {
                return;
            }
            thread::sleep(every);
        }
    });
    stop
}

/// Reads until the server closes the connection; what arrived, and whether it was a reset.
fn read_until_closed(stream: &mut TestStream) -> (Vec<u8>, bool) {
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return (received, false),
            Ok(read) => received.extend_from_slice(&chunk[..read]),
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("the server kept the connection open; received {received:?}")
            }
            Err(_) => return (received, true),
        }
    }
}

#[test]
fn a_head_sent_one_byte_a_second_is_cut_off_at_the_header_timeout() {
    let app = app_with_short_timeouts();
    let mut stream = app.connect();
    let head = format!(
        "GET /healthz HTTP/1.1\r\nHost: {}\r\nX-Padding: {}\r\n\r\n",
        app.address,
        "x".repeat(60)
    );
    let started = Instant::now();

    let stop = trickle(&stream, head.into_bytes(), Duration::from_secs(1));
    let (received, _) = read_until_closed(&mut stream);
    stop.store(true, Ordering::SeqCst);

    let elapsed = started.elapsed();
    assert!(received.is_empty(), "a cut-off head got an answer: {received:?}");
    let timeout = Duration::from_secs(SHORT_TIMEOUT_SECONDS);
    assert!(
        elapsed >= timeout - Duration::from_millis(500) && elapsed <= timeout + SLACK,
        "the connection was closed after {elapsed:?}, not about {timeout:?}"
    );
    assert_eq!(app.request("GET", "/healthz", &[], None).status, 200);
}

#[test]
fn a_connection_that_sends_nothing_is_closed_at_the_header_timeout() {
    let app = app_with_short_timeouts();
    let mut stream = app.connect();
    let started = Instant::now();

    let (received, _) = read_until_closed(&mut stream);

    let elapsed = started.elapsed();
    assert!(received.is_empty(), "{received:?}");
    assert!(
        elapsed >= Duration::from_millis(1500) && elapsed <= Duration::from_secs(SHORT_TIMEOUT_SECONDS) + SLACK,
        "closed after {elapsed:?}"
    );
}

#[test]
fn an_idle_keep_alive_connection_is_closed_at_the_header_timeout() {
    let app = app_with_short_timeouts();
    let mut stream = app.connect();
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", app.address);
    stream.write_all(request.as_bytes()).unwrap();
    let started = Instant::now();

    // Without `Connection: close` the server keeps the connection for a next request:
    // reading until it closes takes the keep-alive timeout.
    let response = read_response(&mut stream);

    let elapsed = started.elapsed();
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(
        elapsed >= Duration::from_millis(1500) && elapsed <= Duration::from_secs(SHORT_TIMEOUT_SECONDS) + SLACK,
        "the idle connection was closed after {elapsed:?}"
    );
}

/// Sends a head announcing a 40-byte body and then the body one byte every 300 ms
/// (12 s in all); returns the answer and how long it took to come.
fn send_trickling_body(app: &TestApp, method: &str, path: &str, headers: &[(&str, &str)]) -> (Vec<u8>, Duration) {
    let mut stream = app.connect();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: 40\r\n",
        app.address
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let started = Instant::now();

    let stop = trickle(&stream, vec![b' '; 40], Duration::from_millis(300));
    let (received, _) = read_until_closed(&mut stream);
    stop.store(true, Ordering::SeqCst);
    (received, started.elapsed())
}

#[test]
fn a_body_that_trickles_in_is_answered_408_and_the_connection_closed() {
    let app = app_with_short_timeouts();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let authorization = format!("Bearer {token}");
    let name_before = app.credential(&admin, &token)["name"].clone();

    let (received, elapsed) = send_trickling_body(
        &app,
        "PATCH",
        &credential_path(&admin),
        &[("Authorization", &authorization), ("Content-Type", "application/json")],
    );

    let response = parse_response(&received);
    assert_error(&response, 408, "request_timeout");
    assert_eq!(response.header("connection"), Some("close"));
    let timeout = Duration::from_secs(SHORT_TIMEOUT_SECONDS);
    assert!(
        elapsed >= timeout - Duration::from_millis(500) && elapsed <= timeout + SLACK,
        "answered after {elapsed:?}, not about {timeout:?}"
    );
    assert_eq!(app.credential(&admin, &token)["name"], name_before);
}

#[test]
fn a_token_request_that_trickles_in_is_answered_408_in_the_oauth_shape() {
    let app = app_with_short_timeouts();

    let (received, _) = send_trickling_body(
        &app,
        "POST",
        "/service-account-token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
    );

    let response = parse_response(&received);
    assert_token_error(&response, 408, "invalid_request", "request_timeout");
    assert_eq!(response.header("cache-control"), Some("no-store"));
}

#[test]
fn a_body_that_arrives_in_time_is_served_even_if_it_comes_slowly() {
    let app = app_with_short_timeouts();
    let body = b"grant_type=client_credentials";
    let mut stream = app.connect();
    let head = format!(
        "POST /service-account-token HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        app.address,
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();

    // 29 bytes 40 ms apart: about 1.2 s, within the 2 s timeout.
    let stop = trickle(&stream, body.to_vec(), Duration::from_millis(40));
    let response = read_response(&mut stream);
    stop.store(true, Ordering::SeqCst);

    // No credentials: the body was read and judged, not cut off.
    assert_token_error(&response, 401, "invalid_client", "invalid_client");
}

/// Sends a keep-alive `GET /healthz` on a new connection and reads its answer,
/// leaving the connection open (and its slot taken).
fn open_served_connection(app: &TestApp) -> TestStream {
    let mut stream = app.connect();
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
    stream
}

#[test]
fn past_the_connection_cap_a_connection_waits_until_one_closes() {
    const CAP: usize = 3;
    let app = app_with(&[("KEYCRED_MAX_CONNECTIONS", "3"), ("KEYCRED_HEADER_TIMEOUT", "60")]);
    let mut held: Vec<TestStream> = (0..CAP).map(|_| open_served_connection(&app)).collect();

    // One more: the kernel completes the handshake, but the server does not accept it.
    let mut waiting = app.connect();
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        app.address
    );
    waiting.write_all(request.as_bytes()).unwrap();
    waiting.set_read_timeout(Some(Duration::from_millis(1500))).unwrap();
    let mut byte = [0u8; 1];
    match waiting.read(&mut byte) {
        Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("connection {} was served past the cap of {CAP}: {other:?}", CAP + 1),
    }

    // Once one closes, the waiting one is accepted and answered.
    drop(held.pop());
    waiting.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = Instant::now();
    let response = read_response(&mut waiting);
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );

    // And the server goes on serving: the held connections and new ones.
    for stream in &mut held {
        let request = format!(
            "GET /healthz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            app.address
        );
        stream.write_all(request.as_bytes()).unwrap();
        assert_eq!(read_response(stream).status, 200);
    }
    for _ in 0..5 {
        assert_eq!(app.request("GET", "/healthz", &[], None).status, 200);
    }
}

/// The server may use at most this much memory (VmRSS) with 10,000 idle connections open.
const IDLE_CONNECTIONS_RSS_BOUND_KIB: u64 = 64 * 1024;

/// How many idle connections the memory test opens, unless the open-file limit is lower.
const IDLE_CONNECTIONS: u64 = 10_000;

/// File descriptors kept free in the test process for everything else it does.
const SPARE_FILES: u64 = 256;

/// The soft and hard "Max open files" of a process, from `/proc/<pid>/limits`.
fn open_file_limits(pid: &str) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("read /proc/<pid>/limits");
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .expect("a Max open files line");
    let mut numbers = line["Max open files".len()..]
        .split_whitespace()
        .map(|value| value.parse::<u64>().unwrap_or(u64::MAX));
    (numbers.next().unwrap(), numbers.next().unwrap())
}

/// The server's resident memory in KiB (VmRSS of `/proc/<pid>/status`).
fn rss_kib(app: &TestApp) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", app.pid())).expect("read /proc/<pid>/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line")
}

/// Raises this process's soft limit on open files to its hard limit with `prlimit`
/// (the workspace forbids the `unsafe` a direct `setrlimit` needs); the server started
/// afterwards inherits it. Returns the soft limit in force.
fn raise_open_file_limit() -> u64 {
    let (soft, hard) = open_file_limits("self");
    if soft >= IDLE_CONNECTIONS + SPARE_FILES || soft >= hard {
        return soft;
    }
    let pid = std::process::id().to_string();
    let _ = std::process::Command::new("prlimit")
        .args(["--pid", &pid, &format!("--nofile={hard}:{hard}")])
        .status();
    open_file_limits("self").0
}

#[test]
fn ten_thousand_idle_connections_cost_little_memory_and_the_server_still_answers() {
    // As many connections as the open-file limit allows, up to 10,000 (each end of a
    // connection needs a descriptor, in this process and in the server).
    let soft_limit = raise_open_file_limit();
    let count = IDLE_CONNECTIONS.min(soft_limit.saturating_sub(SPARE_FILES));
    assert!(
        count >= 500,
        "the open-file limit ({soft_limit}) is too low for this test"
    );
    let cap = (count + 64).to_string();
    let app = app_with(&[("KEYCRED_MAX_CONNECTIONS", &cap), ("KEYCRED_HEADER_TIMEOUT", "120")]);
    for _ in 0..20 {
        assert_eq!(app.request("GET", "/healthz", &[], None).status, 200);
    }
    let before = rss_kib(&app);

    let idle: Vec<TcpStream> = (0..count)
        .map(|n| TcpStream::connect(&app.address).unwrap_or_else(|error| panic!("idle connection {n}: {error}")))
        .collect();
    // Every connection is accepted once a request sent after them all is answered (the
    // backlog is first in, first out), and the server allocates what an idle
    // connection holds (its task) before it accepts the next one, so from that answer
    // on the server's memory holds them all.
    assert_eq!(app.request("GET", "/healthz", &[], None).status, 200);
    let with_idle = rss_kib(&app);

    let health = app.request("GET", "/healthz", &[], None);
    assert_eq!(health.status, 200, "{}", health.text());
    let per_connection = (with_idle.saturating_sub(before) * 1024) / count;
    eprintln!(
        "{count} idle connections: server VmRSS {before} KiB before, {with_idle} KiB with them open \
         (+{} KiB, about {per_connection} bytes each); bound {IDLE_CONNECTIONS_RSS_BOUND_KIB} KiB",
        with_idle.saturating_sub(before)
    );
    assert!(
        with_idle < IDLE_CONNECTIONS_RSS_BOUND_KIB,
        "{count} idle connections took the server to {with_idle} KiB (from {before} KiB)"
    );
    drop(idle);
}

#[test]
fn sigterm_does_not_wait_for_idle_connections() {
    let mut app = app_with(&[("KEYCRED_HEADER_TIMEOUT", "60")]);
    let _silent = app.connect();
    let _kept_alive = open_served_connection(&app);
    let started = Instant::now();

    let status = app.stop_with_sigterm();

    assert_eq!(status.code(), Some(0), "exit status {status}; log:\n{}", app.logs());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutting down took {:?}: it waited for idle connections",
        started.elapsed()
    );
}
