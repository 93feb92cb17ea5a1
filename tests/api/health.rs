//! `GET /healthz`, the liveness check, and `GET /readyz`, the readiness check (the
//! database answers and takes writes), both answered without a token. Readiness under
//! SQLite's storage faults is tested in `storage_faults.rs`.

use crate::helpers::{assert_error, require_postgres, spawn_app};

#[test]
fn healthz_answers_200_with_status_ok_without_a_token() {
    let app = spawn_app();

    let response = app.request("GET", "/healthz", &[], None);

    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json(), serde_json::json!({"status": "ok"}));
    let content_type = response.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "Content-Type: {content_type}"
    );
}

#[test]
fn healthz_ignores_a_garbage_bearer_token() {
    let app = spawn_app();

    let response = app.get("/healthz", "garbage");

    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json(), serde_json::json!({"status": "ok"}));
}

#[test]
fn healthz_answers_head_with_200_and_no_body() {
    let app = spawn_app();

    let response = app.request("HEAD", "/healthz", &[], None);

    assert_eq!(response.status, 200);
    assert!(response.body.is_empty(), "HEAD returned a body: {}", response.text());
}

#[test]
fn post_on_healthz_is_405_allowing_get_and_head() {
    let app = spawn_app();

    let response = app.request("POST", "/healthz", &[("Content-Type", "application/json")], Some(b"{}"));

    assert_error(&response, 405, "method_not_allowed");
    assert_eq!(response.header("allow"), Some("GET, HEAD"));
}

#[test]
fn readyz_answers_200_with_status_ok_while_the_database_answers_and_takes_writes() {
    let app = spawn_app();

    let response = app.get("/readyz", "garbage");

    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json(), serde_json::json!({"status": "ok"}));
}

#[test]
#[ignore = "PostgreSQL only: run with KEYCRED_TEST_BACKEND=postgres and --include-ignored"]
fn readyz_answers_503_while_postgres_refuses_connections_and_200_once_it_takes_them_again() {
    require_postgres();
    let app = spawn_app();
    assert_eq!(app.request("GET", "/readyz", &[], None).status, 200);

    app.database.refuse_postgres_connections(true);
    let refused = app.request("GET", "/readyz", &[], None);
    let alive = app.request("GET", "/healthz", &[], None);
    app.database.refuse_postgres_connections(false);

    assert_error(&refused, 503, "service_unavailable");
    assert_eq!(alive.status, 200, "the process is still up: {}", alive.text());
    let ready = app.request("GET", "/readyz", &[], None);
    assert_eq!(ready.status, 200, "{}", ready.text());
}
