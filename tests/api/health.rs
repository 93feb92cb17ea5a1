//! `GET /healthz`: the liveness check, answered without a token.

use crate::helpers::{assert_error, spawn_app};

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
