//! Guessing at the token endpoint: failed client authentications are limited per
//! (client_id, source address) pair (10 a minute) and per source address (30 a minute)
//! with a 429 and `Retry-After`, refused before the secret is checked; the owner of a
//! client_id is never refused for failures made elsewhere, and correct secrets never
//! count; an unknown client_id is answered exactly like a known one; the client address
//! behind a trusted proxy is the forwarded one; every failure is logged.

use std::io::Write;
use std::net::TcpStream;
use std::sync::Barrier;
use std::thread;
use std::time::Duration;

use crate::helpers::{
    assert_token_error, basic_auth, read_keep_alive_response, read_response, spawn_app, spawn_app_with, Bootstrapped,
    ServeOptions, TestApp, TestResponse,
};

/// Failed authentications a client_id may have in a window.
const PER_CLIENT: usize = 10;
/// Failed authentications an address may have in a window.
const PER_ADDRESS: usize = 30;

const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

/// A token request for `client_id` with `secret` by HTTP Basic.
fn attempt(app: &TestApp, client_id: &str, secret: &str) -> TestResponse {
    let authorization = basic_auth(client_id, secret);
    app.request(
        "POST",
        "/service-account-token",
        &[FORM, ("Authorization", &authorization)],
        Some(b"grant_type=client_credentials"),
    )
}

/// A token request for `client_id` with `secret` as form fields.
fn attempt_in_form(app: &TestApp, client_id: &str, secret: &str) -> TestResponse {
    let form = format!("grant_type=client_credentials&client_id={client_id}&client_secret={secret}");
    app.request("POST", "/service-account-token", &[FORM], Some(form.as_bytes()))
}

fn assert_refused_for_failing(response: &TestResponse) {
    assert_token_error(response, 429, "invalid_client", "too_many_requests");
    let retry_after: u64 = response
        .header("retry-after")
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no numeric Retry-After: {:?}", response.headers));
    assert!((1..=60).contains(&retry_after), "Retry-After: {retry_after}");
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(response.header("www-authenticate"), None, "a 429 is not a challenge");
}

fn mint(app: &TestApp, who: &Bootstrapped) -> TestResponse {
    attempt(app, &who.client_id, &who.client_secret)
}

#[test]
fn after_ten_wrong_secrets_a_client_id_is_refused_even_with_the_right_one() {
    let app = spawn_app();
    let admin = app.admin("acme");

    for n in 0..PER_CLIENT {
        // Both ways of sending credentials count alike.
        let response = if n % 2 == 0 {
            attempt(&app, &admin.client_id, "wrong-secret")
        } else {
            attempt_in_form(&app, &admin.client_id, "wrong-secret")
        };
        assert_token_error(&response, 401, "invalid_client", "invalid_client");
    }

    assert_refused_for_failing(&attempt(&app, &admin.client_id, "wrong-secret"));
    assert_refused_for_failing(&mint(&app, &admin));
    assert_refused_for_failing(&attempt_in_form(&app, &admin.client_id, &admin.client_secret));

    // Another client_id from the same address is not affected.
    let other = app.admin("acme");
    assert_eq!(mint(&app, &other).status, 200);
}

#[test]
fn an_unknown_client_id_gets_exactly_the_answers_a_known_one_gets() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let unknown = "NoSuchClientId0123456";

    let known_answers: Vec<TestResponse> = (0..PER_CLIENT + 2)
        .map(|_| attempt(&app, &admin.client_id, "wrong-secret"))
        .collect();
    let unknown_answers: Vec<TestResponse> = (0..PER_CLIENT + 2)
        .map(|_| attempt(&app, unknown, "wrong-secret"))
        .collect();

    for (n, (known, unknown)) in known_answers.iter().zip(&unknown_answers).enumerate() {
        assert_eq!(known.status, unknown.status, "attempt {n}");
        assert_eq!(
            known.body,
            unknown.body,
            "attempt {n}: {} vs {}",
            known.text(),
            unknown.text()
        );
        for header in ["www-authenticate", "cache-control", "content-type"] {
            assert_eq!(known.header(header), unknown.header(header), "attempt {n}: {header}");
        }
        assert_eq!(
            known.header("retry-after").is_some(),
            unknown.header("retry-after").is_some(),
            "attempt {n}"
        );
    }
    let statuses: Vec<u16> = known_answers.iter().map(|response| response.status).collect();
    assert_eq!(statuses, [vec![401; PER_CLIENT], vec![429; 2]].concat());
}

/// One token request from `source` (a loopback address other than 127.0.0.1), so
/// the server sees it come from another address.
fn attempt_from(app: &TestApp, source: &str, who: &Bootstrapped) -> TestResponse {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("a runtime");
    let stream: TcpStream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket
            .bind(format!("{source}:0").parse().expect("a source address"))
            .expect("bind the source address");
        let stream = socket
            .connect(app.address.parse().expect("the server address"))
            .await
            .expect("connect from the source address");
        stream.into_std().expect("a std stream")
    });
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let body = "grant_type=client_credentials";
    let request = format!(
        "POST /service-account-token HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nAuthorization: {}\r\n\r\n{body}",
        app.address,
        body.len(),
        basic_auth(&who.client_id, &who.client_secret)
    );
    let mut stream = stream;
    stream.write_all(request.as_bytes()).unwrap();
    read_response(&mut stream)
}

#[test]
fn many_client_ids_failing_from_one_address_limit_that_address() {
    let app = spawn_app();
    let admin = app.admin("acme");

    for n in 0..PER_ADDRESS {
        let response = attempt(&app, &format!("guess-{n}"), "wrong-secret");
        assert_token_error(&response, 401, "invalid_client", "invalid_client");
    }

    // Every client_id, even a fresh one with the right secret, is refused from here...
    assert_refused_for_failing(&attempt(&app, "guess-fresh", "wrong-secret"));
    assert_refused_for_failing(&mint(&app, &admin));
    // ...but not from another address.
    let elsewhere = attempt_from(&app, "127.0.0.2", &admin);
    assert_eq!(elsewhere.status, 200, "{}", elsewhere.text());
}

#[test]
fn a_success_does_not_clear_the_failures_of_its_address() {
    let app = spawn_app();
    let admin = app.admin("acme");
    for n in 0..PER_ADDRESS - 1 {
        assert_eq!(attempt(&app, &format!("guess-{n}"), "wrong-secret").status, 401);
    }

    assert_eq!(mint(&app, &admin).status, 200);

    assert_eq!(attempt(&app, "guess-last", "wrong-secret").status, 401);
    assert_refused_for_failing(&mint(&app, &admin));
}

#[test]
fn wrong_secrets_from_one_address_never_lock_the_owner_out_from_another() {
    let app = spawn_app();
    let victim = app.admin("acme");

    for _ in 0..PER_CLIENT + 5 {
        let _ = attempt(&app, &victim.client_id, "wrong-secret");
    }
    assert_refused_for_failing(&mint(&app, &victim));

    let owner = attempt_from(&app, "127.0.0.2", &victim);
    assert_eq!(owner.status, 200, "{}", owner.text());
    let again = attempt_from(&app, "127.0.0.2", &victim);
    assert_eq!(again.status, 200, "{}", again.text());
}

/// A server that trusts proxies on 127.0.0.1, where the tests connect from.
fn spawn_app_behind_a_proxy() -> TestApp {
    spawn_app_with(ServeOptions {
        env: vec![("KEYCRED_TRUSTED_PROXIES".into(), "127.0.0.1/32".into())],
        database: None,
    })
}

/// A token request for `client_id` with `secret`, forwarded for `client` by a proxy.
fn attempt_for(app: &TestApp, client: &str, client_id: &str, secret: &str) -> TestResponse {
    let authorization = basic_auth(client_id, secret);
    let forwarded = format!("198.51.100.99, {client}");
    app.request(
        "POST",
        "/service-account-token",
        &[FORM, ("Authorization", &authorization), ("X-Forwarded-For", &forwarded)],
        Some(b"grant_type=client_credentials"),
    )
}

#[test]
fn two_clients_behind_one_trusted_proxy_are_throttled_separately() {
    let app = spawn_app_behind_a_proxy();
    let admin = app.admin("acme");

    for n in 0..PER_ADDRESS {
        let response = attempt_for(&app, "203.0.113.5", &format!("guess-{n}"), "wrong-secret");
        assert_token_error(&response, 401, "invalid_client", "invalid_client");
    }
    assert_refused_for_failing(&attempt_for(
        &app,
        "203.0.113.5",
        &admin.client_id,
        &admin.client_secret,
    ));

    let neighbour = attempt_for(&app, "203.0.113.6", &admin.client_id, &admin.client_secret);
    assert_eq!(neighbour.status, 200, "{}", neighbour.text());
    // The proxy's own address was never counted.
    assert_eq!(mint(&app, &admin).status, 200);
}

#[test]
fn a_spoofed_x_forwarded_for_from_an_untrusted_peer_changes_nothing() {
    let app = spawn_app();
    let admin = app.admin("acme");

    for n in 0..PER_ADDRESS {
        let spoofed = format!("203.0.113.{n}");
        let response = attempt_for(&app, &spoofed, &format!("guess-{n}"), "wrong-secret");
        assert_token_error(&response, 401, "invalid_client", "invalid_client");
    }

    assert_refused_for_failing(&attempt_for(
        &app,
        "203.0.113.200",
        &admin.client_id,
        &admin.client_secret,
    ));
}

/// Mints `rounds` tokens one after another on one keep-alive connection; the statuses.
fn mint_on_one_connection(app: &TestApp, who: &Bootstrapped, rounds: usize, start: &Barrier) -> Vec<u16> {
    let mut stream = app.connect();
    let body = "grant_type=client_credentials";
    let request = format!(
        "POST /service-account-token HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nAuthorization: {}\r\n\r\n{body}",
        app.address,
        body.len(),
        basic_auth(&who.client_id, &who.client_secret)
    );
    start.wait();
    (0..rounds)
        .map(|_| {
            stream.write_all(request.as_bytes()).unwrap();
            read_keep_alive_response(&mut stream).status
        })
        .collect()
}

#[test]
fn sixty_four_connections_minting_with_the_right_secret_at_once_are_never_refused() {
    let app = spawn_app();
    let fleet = app.admin("acme");
    let start = Barrier::new(64);

    let statuses: Vec<u16> = thread::scope(|scope| {
        let workers: Vec<_> = (0..64)
            .map(|_| scope.spawn(|| mint_on_one_connection(&app, &fleet, 5, &start)))
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().expect("a minting worker"))
            .collect()
    });

    assert_eq!(statuses.len(), 64 * 5);
    let refused: Vec<&u16> = statuses.iter().filter(|status| **status != 200).collect();
    assert!(
        refused.is_empty(),
        "{} of {} refused: {refused:?}",
        refused.len(),
        statuses.len()
    );
}

#[test]
fn failed_authentications_are_logged_with_client_id_address_reason_and_request_id() {
    let app = spawn_app();
    let admin = app.admin("acme");

    let wrong = attempt(&app, &admin.client_id, "the-wrong-secret-XYZ");
    let unknown = attempt(&app, "NoSuchClientId0123456", "another-secret-XYZ");
    for _ in 1..PER_CLIENT {
        let _ = attempt(&app, &admin.client_id, "the-wrong-secret-XYZ");
    }
    let throttled = attempt(&app, &admin.client_id, "the-wrong-secret-XYZ");
    assert_eq!(throttled.status, 429);
    // Further refusals by the same throttle add no warning: the log grows no faster
    // than the throttle lets attempts through.
    let mut last = throttled.clone();
    for _ in 0..5 {
        last = attempt(&app, &admin.client_id, "the-wrong-secret-XYZ");
        assert_eq!(last.status, 429);
    }

    let throttled_id = throttled.header("x-request-id").expect("an X-Request-ID").to_owned();
    let logs = app.logs_once_they_contain(last.header("x-request-id").expect("an X-Request-ID"));
    let line_of = |request_id: &str| -> String {
        logs.lines()
            .find(|line| line.contains(request_id) && line.contains("client authentication failed"))
            .unwrap_or_else(|| panic!("no security line for {request_id} in:\n{logs}"))
            .to_owned()
    };
    let wrong_line = line_of(wrong.header("x-request-id").unwrap());
    for expected in ["WARN", admin.client_id.as_str(), "127.0.0.1", "wrong_secret"] {
        assert!(wrong_line.contains(expected), "{expected} missing: {wrong_line}");
    }
    let unknown_line = line_of(unknown.header("x-request-id").unwrap());
    assert!(unknown_line.contains("unknown_client") && unknown_line.contains("NoSuchClientId0123456"));
    assert!(line_of(&throttled_id).contains("throttled"), "{logs}");
    let warned_throttled = logs
        .lines()
        .filter(|line| line.contains("reason=\"throttled\""))
        .count();
    assert_eq!(warned_throttled, 1, "{logs}");
    let starts: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains("client authentication throttled"))
        .collect();
    assert_eq!(starts.len(), 1, "the throttle starts once: {starts:?}");
    assert!(starts[0].contains("client_id_and_address") && starts[0].contains("lasts_s=60"));
    assert!(!logs.contains("XYZ"), "a secret reached the log:\n{logs}");
}

#[test]
fn once_the_window_has_passed_the_client_can_authenticate_again() {
    let app = spawn_app_with(ServeOptions {
        env: vec![("KEYCRED_AUTH_FAILURE_WINDOW_MS".into(), "3000".into())],
        database: None,
    });
    let admin = app.admin("acme");
    for _ in 0..PER_CLIENT {
        assert_eq!(attempt(&app, &admin.client_id, "wrong-secret").status, 401);
    }
    let refused = mint(&app, &admin);
    assert_refused_for_failing(&refused);
    assert!(
        refused
            .header("retry-after")
            .is_some_and(|value| ["1", "2", "3"].contains(&value)),
        "{:?}",
        refused.headers
    );

    thread::sleep(Duration::from_millis(3100));

    let response = mint(&app, &admin);
    assert_eq!(response.status, 200, "{}", response.text());
}
