//! Bearer authentication of the credential API: anything but a valid token is a 401
//! that challenges with `WWW-Authenticate: Bearer`.

use crate::helpers::{assert_error, basic_auth, credential_path, spawn_app, TestResponse};

fn assert_unauthorized(response: &TestResponse) {
    assert_error(response, 401, "unauthorized");
    assert_eq!(response.header("www-authenticate"), Some("Bearer"));
}

#[test]
fn get_without_authorization_is_401_with_a_bearer_challenge() {
    let app = spawn_app();
    let admin = app.admin("acme");

    let response = app.request("GET", &credential_path(&admin), &[], None);

    assert_unauthorized(&response);
}

#[test]
fn get_with_a_garbage_token_is_401() {
    let app = spawn_app();
    let admin = app.admin("acme");

    let response = app.get(&credential_path(&admin), "garbage");

    assert_unauthorized(&response);
}

#[test]
fn get_with_a_tampered_token_is_401() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let mut tampered = token.clone();
    let last = tampered.pop().expect("a non-empty token");
    tampered.push(if last == 'A' { 'B' } else { 'A' });

    let response = app.get(&credential_path(&admin), &tampered);

    assert_unauthorized(&response);
}

#[test]
fn a_tampered_token_is_401_even_while_the_real_one_is_in_use() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let path = credential_path(&admin);
    let mut tampered = token.clone();
    let last = tampered.pop().expect("a non-empty token");
    tampered.push(if last == 'A' { 'B' } else { 'A' });

    // The real token's record is now fresh in the server's token cache.
    assert_eq!(app.get(&path, &token).status, 200);

    assert_unauthorized(&app.get(&path, &tampered));
    assert_eq!(app.get(&path, &token).status, 200, "the real token still works");
}

#[test]
fn get_with_basic_credentials_is_401() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let authorization = basic_auth(&admin.client_id, &admin.client_secret);

    let response = app.request(
        "GET",
        &credential_path(&admin),
        &[("Authorization", &authorization)],
        None,
    );

    assert_unauthorized(&response);
}

#[test]
fn get_with_the_token_under_the_basic_scheme_is_401() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let authorization = format!("Basic {token}");

    let response = app.request(
        "GET",
        &credential_path(&admin),
        &[("Authorization", &authorization)],
        None,
    );

    assert_unauthorized(&response);
}

#[test]
fn the_bearer_scheme_is_case_insensitive() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let authorization = format!("bearer {token}");

    let response = app.request(
        "GET",
        &credential_path(&admin),
        &[("Authorization", &authorization)],
        None,
    );

    assert_eq!(response.status, 200, "{}", response.text());
}

#[test]
fn patch_without_authorization_is_401_and_changes_nothing() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let before = app.credential(&admin, &token);

    let response = app.request(
        "PATCH",
        &credential_path(&admin),
        &[("Content-Type", "application/json")],
        Some(br#"{"name":"hijacked"}"#),
    );

    assert_unauthorized(&response);
    assert_eq!(app.credential(&admin, &token), before);
}

#[test]
fn patch_with_a_garbage_token_is_401_and_changes_nothing() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let before = app.credential(&admin, &token);

    let response = app.patch_json(&credential_path(&admin), "garbage", r#"{"name":"hijacked"}"#);

    assert_unauthorized(&response);
    assert_eq!(app.credential(&admin, &token), before);
}

#[test]
fn patch_with_basic_credentials_is_401() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let authorization = basic_auth(&admin.client_id, &admin.client_secret);
    let headers = [
        ("Authorization", authorization.as_str()),
        ("Content-Type", "application/json"),
    ];

    let response = app.request("PATCH", &credential_path(&admin), &headers, Some(br#"{"name":"x"}"#));

    assert_unauthorized(&response);
}
