//! Requests keycred refuses, each answered in the JSON error shape: here routing and
//! transport errors (unknown routes, wrong methods, oversized bodies, wrong media
//! types); `validation` holds malformed bodies and path parameters (400s naming the
//! field and the rule), `hostile_input` the catalogue of oversized, malformed and lying
//! requests after which the server keeps serving.

mod hostile_input;
mod validation;

use crate::helpers::{assert_error, assert_token_error, credential_path, spawn_app};

#[test]
fn an_unknown_route_is_a_json_404() {
    let app = spawn_app();

    for path in [
        "/no/such/route",
        "/organization",
        "/healthz/extra",
        "/organizations/a/service-accounts/b/credential",
    ] {
        let response = app.request("GET", path, &[], None);

        assert_error(&response, 404, "not_found");
        let content_type = response.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("application/json"),
            "GET {path}: Content-Type {content_type}"
        );
    }
}

#[test]
fn put_and_post_on_a_credential_are_405_allowing_get_patch_and_delete() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let authorization = format!("Bearer {token}");
    let headers = [
        ("Authorization", authorization.as_str()),
        ("Content-Type", "application/json"),
    ];

    for method in ["PUT", "POST"] {
        let body: Option<&[u8]> = Some(br#"{"name":"x"}"#);

        let response = app.request(method, &credential_path(&admin), &headers, body);

        assert_error(&response, 405, "method_not_allowed");
        let allow = response
            .header("allow")
            .unwrap_or_else(|| panic!("{method}: no Allow header"));
        assert!(
            allow.contains("GET") && allow.contains("PATCH") && allow.contains("DELETE"),
            "{method}: Allow: {allow}"
        );
    }
    assert!(
        app.credential(&admin, &token).get("name").is_some(),
        "the credential survived PUT and POST"
    );
}

#[test]
fn get_on_the_token_endpoint_is_405_allowing_post() {
    let app = spawn_app();

    let response = app.request("GET", "/service-account-token", &[], None);

    assert_eq!(response.status, 405, "{}", response.text());
    assert_eq!(response.json()["code"], "method_not_allowed");
    let allow = response.header("allow").unwrap_or_default();
    assert!(allow.contains("POST"), "Allow: {allow}");
}

#[test]
fn a_body_over_64_kib_is_413_and_changes_nothing() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let before = app.credential(&admin, &token);
    let mut body = String::from(r#"{"name":"too-big"}"#);
    body.push_str(&" ".repeat(65537 - body.len()));

    let response = app.patch_json(&credential_path(&admin), &token, &body);

    assert_error(&response, 413, "payload_too_large");
    assert_eq!(app.credential(&admin, &token), before);
}

#[test]
fn a_body_over_64_kib_without_content_length_is_413() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let mut json = String::from(r#"{"name":"too-big"}"#);
    json.push_str(&" ".repeat(70000 - json.len()));
    let mut raw = format!(
        "PATCH {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        credential_path(&admin),
        app.address
    )
    .into_bytes();
    for piece in json.as_bytes().chunks(8192) {
        raw.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        raw.extend_from_slice(piece);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");

    let response = app.raw(&raw);

    assert_error(&response, 413, "payload_too_large");
    assert_ne!(app.credential(&admin, &token)["name"], "too-big");
}

#[test]
fn a_text_plain_body_is_415() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let authorization = format!("Bearer {token}");
    let headers = [
        ("Authorization", authorization.as_str()),
        ("Content-Type", "text/plain"),
    ];

    let response = app.request("PATCH", &credential_path(&admin), &headers, Some(br#"{"name":"x"}"#));

    assert_error(&response, 415, "unsupported_media_type");
    assert_ne!(app.credential(&admin, &token)["name"], "x");
}

#[test]
fn a_body_without_a_content_type_is_415() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let authorization = format!("Bearer {token}");

    let response = app.request(
        "PATCH",
        &credential_path(&admin),
        &[("Authorization", &authorization)],
        Some(br#"{"name":"x"}"#),
    );

    assert_error(&response, 415, "unsupported_media_type");
    assert_ne!(app.credential(&admin, &token)["name"], "x");
}

#[test]
fn a_form_body_on_patch_is_415() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let authorization = format!("Bearer {token}");
    let headers = [
        ("Authorization", authorization.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];

    let response = app.request("PATCH", &credential_path(&admin), &headers, Some(b"name=x"));

    assert_error(&response, 415, "unsupported_media_type");
}

#[test]
fn an_http_1_1_request_without_host_is_a_json_400() {
    let app = spawn_app();

    let response = app.raw(b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n");

    assert_error(&response, 400, "invalid_request");
    assert!(response.text().contains("Host"), "{}", response.text());
}

#[test]
fn an_http_1_1_request_with_two_hosts_is_a_json_400() {
    let app = spawn_app();
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: {0}\r\nHost: {0}\r\nConnection: close\r\n\r\n",
        app.address
    );

    let response = app.raw(request.as_bytes());

    assert_error(&response, 400, "invalid_request");
}

#[test]
fn a_token_request_without_host_is_a_400_in_the_oauth_shape() {
    let app = spawn_app();
    let body = "grant_type=client_credentials";
    let request = format!(
        "POST /service-account-token HTTP/1.1\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );

    let response = app.raw(request.as_bytes());

    assert_token_error(&response, 400, "invalid_request", "invalid_request");
}

#[test]
fn an_http_1_0_request_without_host_is_still_served() {
    let app = spawn_app();

    let response = app.raw(b"GET /healthz HTTP/1.0\r\n\r\n");

    assert_eq!(response.status, 200, "{}", response.text());
}
