//! `POST /service-account-token`: the OAuth 2.0 client credentials grant, and its
//! RFC 6749 §5.2 errors; `throttling` holds the limits on guessing secrets, `races`
//! minting while the credential is deleted, `revocation` RFC 7009 revocation.

mod races;
mod revocation;
mod throttling;

use crate::helpers::{
    assert_token_error, basic_auth, credential_path, is_utc_millis_timestamp, spawn_app, TestApp, TestResponse,
};

const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

fn post_form(app: &TestApp, headers: &[(&str, &str)], form: &str) -> TestResponse {
    app.request("POST", "/service-account-token", headers, Some(form.as_bytes()))
}

fn assert_bearer_token(response: &TestResponse) -> String {
    assert_eq!(response.status, 200, "{}", response.text());
    let body = response.json();
    assert_eq!(body["token_type"], "Bearer", "{body}");
    assert_eq!(body["expires_in"], 3600, "{body}");
    let token = body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access_token: {body}"));
    assert!(!token.is_empty(), "{body}");
    token.to_owned()
}

fn assert_invalid_client(response: &TestResponse) {
    assert_token_error(response, 401, "invalid_client", "invalid_client");
    assert_eq!(response.header("www-authenticate"), Some("Basic realm=\"keycred\""));
}

#[test]
fn minting_with_http_basic_returns_an_uncacheable_bearer_token_for_an_hour() {
    let app = spawn_app();
    let admin = app.admin("acme");

    let response = app.post_token("grant_type=client_credentials", Some(&admin));

    let token = assert_bearer_token(&response);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let content_type = response.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "Content-Type: {content_type}"
    );
    assert_eq!(app.get(&credential_path(&admin), &token).status, 200);
}

#[test]
fn minting_with_form_fields_returns_a_working_token() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        admin.client_id, admin.client_secret
    );

    let response = post_form(&app, &[FORM], &form);

    let token = assert_bearer_token(&response);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(app.get(&credential_path(&admin), &token).status, 200);
}

#[test]
fn two_tokens_minted_are_different() {
    let app = spawn_app();
    let admin = app.admin("acme");

    let first = app.token_for(&admin);
    let second = app.token_for(&admin);

    assert_ne!(first, second);
    assert_eq!(app.get(&credential_path(&admin), &first).status, 200);
    assert_eq!(app.get(&credential_path(&admin), &second).status, 200);
}

#[test]
fn minting_a_token_sets_the_credentials_last_used_at() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let other = app.admin("acme");
    let token = app.token_for(&admin);
    let before = app.credential(&other, &token);
    assert!(
        before.get("last_used_at").is_none(),
        "an unused credential has last_used_at: {before}"
    );

    app.token_for(&other);

    let after = app.credential(&other, &token);
    let last_used_at = after["last_used_at"]
        .as_str()
        .unwrap_or_else(|| panic!("no last_used_at: {after}"));
    assert!(is_utc_millis_timestamp(last_used_at), "last_used_at {last_used_at}");
    let created_at = after["created_at"].as_str().unwrap_or_default();
    assert!(
        last_used_at >= created_at,
        "last_used_at {last_used_at} is before created_at {created_at}"
    );
}

#[test]
fn a_wrong_secret_is_401_invalid_client_with_a_basic_challenge() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let authorization = basic_auth(&admin.client_id, "wrong-secret");

    let response = post_form(
        &app,
        &[FORM, ("Authorization", &authorization)],
        "grant_type=client_credentials",
    );

    assert_invalid_client(&response);
}

#[test]
fn a_wrong_secret_in_form_fields_is_401_invalid_client() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret=wrong",
        admin.client_id
    );

    let response = post_form(&app, &[FORM], &form);

    assert_invalid_client(&response);
}

#[test]
fn an_unknown_client_gets_exactly_the_answer_a_wrong_secret_gets() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let wrong_secret = basic_auth(&admin.client_id, "wrong-secret");
    let unknown_client = basic_auth("NoSuchClient000000000", "wrong-secret");

    let wrong = post_form(
        &app,
        &[FORM, ("Authorization", &wrong_secret)],
        "grant_type=client_credentials",
    );
    let unknown = post_form(
        &app,
        &[FORM, ("Authorization", &unknown_client)],
        "grant_type=client_credentials",
    );

    assert_invalid_client(&wrong);
    assert_invalid_client(&unknown);
    assert_eq!(wrong.json(), unknown.json());
}

#[test]
fn no_credentials_at_all_is_401_invalid_client() {
    let app = spawn_app();

    let response = post_form(&app, &[FORM], "grant_type=client_credentials");

    assert_invalid_client(&response);
}

#[test]
fn the_password_grant_is_400_unsupported_grant_type() {
    let app = spawn_app();
    let admin = app.admin("acme");

    let response = app.post_token("grant_type=password&username=a&password=b", Some(&admin));

    assert_token_error(&response, 400, "unsupported_grant_type", "unsupported_grant_type");
}

#[test]
fn a_missing_grant_type_is_400_invalid_request() {
    let app = spawn_app();
    let admin = app.admin("acme");

    let response = app.post_token("", Some(&admin));

    assert_token_error(&response, 400, "invalid_request", "invalid_request");
    let message = response.json()["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("grant_type"), "{message}");
}

#[test]
fn a_json_body_is_415() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let authorization = basic_auth(&admin.client_id, &admin.client_secret);
    let headers = [
        ("Content-Type", "application/json"),
        ("Authorization", authorization.as_str()),
    ];

    let response = post_form(&app, &headers, r#"{"grant_type":"client_credentials"}"#);

    assert_token_error(&response, 415, "invalid_request", "unsupported_media_type");
}

#[test]
fn a_form_over_64_kib_is_413() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let mut form = String::from("grant_type=client_credentials&padding=");
    form.push_str(&"a".repeat(65537 - form.len()));

    let response = app.post_token(&form, Some(&admin));

    assert_token_error(&response, 413, "invalid_request", "payload_too_large");
}

#[test]
fn a_malformed_authorization_header_is_401_invalid_client() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let bearer = format!("Bearer {token}");

    for authorization in ["Basic !!!not-base64!!!", "Basic bm9jb2xvbg==", bearer.as_str()] {
        let headers = [FORM, ("Authorization", authorization)];

        let response = post_form(&app, &headers, "grant_type=client_credentials");

        assert_invalid_client(&response);
    }
}
