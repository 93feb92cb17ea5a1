//! `keycred serve` as a process: where it listens, graceful shutdown on SIGTERM, and
//! durability of acknowledged writes across a crash.

use std::io::{Read, Write};

use crate::helpers::{credential_path, read_response, spawn_app, TestStream, SHUTDOWN_TIMEOUT};

#[test]
fn serve_prints_the_loopback_address_with_the_port_it_got() {
    let app = spawn_app();

    let stdout = app.stdout();
    let line = stdout
        .lines()
        .find(|line| line.contains("listening on http://"))
        .expect("a listening line");
    assert!(line.contains(&format!("listening on http://{}", app.address)), "{line}");
    let (host, port) = app.address.rsplit_once(':').expect("host:port");
    assert_eq!(host, "127.0.0.1");
    let port: u16 = port.parse().expect("a numeric port");
    assert_ne!(port, 0);
    assert_eq!(app.request("GET", "/healthz", &[], None).status, 200);
}

#[test]
fn sigterm_stops_the_server_with_status_0_within_10_seconds() {
    let mut app = spawn_app();
    let admin = app.admin("acme");
    app.token_for(&admin);

    let status = app.stop_with_sigterm();

    assert_eq!(status.code(), Some(0), "exit status {status}; log:\n{}", app.logs());
}

#[test]
fn a_request_in_flight_when_sigterm_arrives_still_completes() {
    let mut app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let body = br#"{"name":"finished-after-sigterm"}"#;
    let (first, rest) = body.split_at(10);
    let mut stream = app.connect();
    // `Expect: 100-continue` makes the server say when its handler starts reading the
    // body: from that `100 Continue` on, the request is in flight.
    let head = format!(
        "PATCH {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        credential_path(&admin),
        app.address,
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(first).unwrap();
    stream.flush().unwrap();
    let interim = read_interim_response(&mut stream);
    assert!(
        interim.starts_with("HTTP/1.1 100"),
        "expected 100 Continue, got {interim:?}"
    );

    app.send_sigterm();
    app.wait_until_connections_are_refused(SHUTDOWN_TIMEOUT);
    stream.write_all(rest).unwrap();
    let response = read_response(&mut stream);

    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["name"], "finished-after-sigterm");
    let status = app.wait_for_exit(SHUTDOWN_TIMEOUT);
    assert_eq!(status.code(), Some(0), "exit status {status}; log:\n{}", app.logs());
}

#[test]
fn an_acknowledged_update_survives_a_kill_9() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let response = app.patch_json(
        &credential_path(&admin),
        &token,
        r#"{"name":"durable","description":"on disk"}"#,
    );
    assert_eq!(response.status, 200, "{}", response.text());

    let app = app.kill_and_restart();

    let token = app.token_for(&admin);
    let body = app.credential(&admin, &token);
    assert_eq!(body["name"], "durable");
    assert_eq!(body["description"], "on disk");
}

/// Reads one interim (1xx) response head, byte by byte so that nothing of the final
/// response after it is consumed.
fn read_interim_response(stream: &mut TestStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let read = stream.read(&mut byte).expect("read the interim response");
        assert_eq!(
            read,
            1,
            "the connection closed after {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}
