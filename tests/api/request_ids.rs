//! Request IDs: the server's `X-Request-ID` on every response, and the client's
//! optional `X-Client-Request-ID`, echoed back and written to the log.

use std::collections::BTreeSet;

use crate::helpers::{assert_error, credential_path, credential_path_of, message_of, spawn_app, TestResponse};

fn request_id_of(response: &TestResponse) -> String {
    let id = response.header("x-request-id").unwrap_or_else(|| {
        panic!(
            "no X-Request-ID on a {} response: {:?}",
            response.status, response.headers
        )
    });
    assert!(
        !id.trim().is_empty(),
        "empty X-Request-ID on a {} response",
        response.status
    );
    id.to_owned()
}

#[test]
fn every_response_carries_a_non_empty_x_request_id() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let path = credential_path(&admin);
    let too_large = vec![b' '; 65537];

    let responses = [
        app.request("GET", "/healthz", &[], None),
        app.get(&path, &token),
        app.patch_json(&path, &token, r#"{"name":"renamed"}"#),
        app.request("GET", "/no/such/route", &[], None),
        app.request("GET", &path, &[], None),
        app.get(
            &credential_path_of(&admin.organization_id, &admin.service_account_id, "missing"),
            &token,
        ),
        app.request("PUT", &path, &[("Authorization", &format!("Bearer {token}"))], None),
        app.patch_json(&path, &token, r#"{"name":null}"#),
        app.patch_json(&path, &token, std::str::from_utf8(&too_large).unwrap()),
        app.post_token("grant_type=client_credentials", None),
        app.post_token("grant_type=client_credentials", Some(&admin)),
    ];

    let statuses: Vec<u16> = responses.iter().map(|response| response.status).collect();
    assert_eq!(statuses, [200, 200, 200, 404, 401, 404, 405, 400, 413, 401, 200]);
    let ids: BTreeSet<String> = responses.iter().map(request_id_of).collect();
    assert_eq!(ids.len(), responses.len(), "X-Request-IDs repeat: {ids:?}");
}

#[test]
fn x_request_id_is_unique_per_request() {
    let app = spawn_app();

    let ids: BTreeSet<String> = (0..20)
        .map(|_| request_id_of(&app.request("GET", "/healthz", &[], None)))
        .collect();

    assert_eq!(ids.len(), 20, "X-Request-IDs repeat: {ids:?}");
}

#[test]
fn a_client_request_id_is_echoed_in_the_response() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let authorization = format!("Bearer {token}");
    let missing = credential_path_of(&admin.organization_id, &admin.service_account_id, "missing");

    for (method, path, with_token) in [
        ("GET", "/healthz", false),
        ("GET", credential_path(&admin).as_str(), true),
        ("GET", missing.as_str(), true),
    ] {
        let client_id = uuid::Uuid::new_v4().to_string();
        let mut headers = vec![("X-Client-Request-ID", client_id.as_str())];
        if with_token {
            headers.push(("Authorization", authorization.as_str()));
        }

        let response = app.request(method, path, &headers, None);

        assert_eq!(
            response.header("x-client-request-id"),
            Some(client_id.as_str()),
            "{method} {path}"
        );
    }
}

#[test]
fn a_client_request_id_appears_in_the_log_line_for_that_request() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let client_id = uuid::Uuid::new_v4().to_string();
    let authorization = format!("Bearer {token}");

    let response = app.request(
        "GET",
        &credential_path(&admin),
        &[("Authorization", &authorization), ("X-Client-Request-ID", &client_id)],
        None,
    );
    assert_eq!(response.status, 200, "{}", response.text());

    let logs = app.logs_once_they_contain(&client_id);
    let line = logs
        .lines()
        .find(|line| line.contains(&client_id))
        .unwrap_or_else(|| panic!("X-Client-Request-ID {client_id} is not in the log:\n{logs}"));
    let request_id = response.header("x-request-id").unwrap_or_default();
    assert!(
        line.contains("/credentials/") || (!request_id.is_empty() && line.contains(request_id)),
        "the log line with the client request ID names neither the request's path nor its X-Request-ID: {line}"
    );
}

#[test]
fn a_malformed_client_request_id_is_a_400_naming_the_header() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let authorization = format!("Bearer {token}");
    let path = credential_path(&admin);

    for (path, headers) in [
        ("/healthz", vec![("X-Client-Request-ID", "not-a-uuid-7731")]),
        (
            path.as_str(),
            vec![
                ("X-Client-Request-ID", "not-a-uuid-7731"),
                ("Authorization", authorization.as_str()),
            ],
        ),
    ] {
        let response = app.request("GET", path, &headers, None);

        assert_error(&response, 400, "invalid_request");
        let message = message_of(&response);
        assert!(message.contains("X-Client-Request-ID"), "GET {path}: {message}");
        assert!(
            !message.contains("not-a-uuid-7731"),
            "GET {path} echoed the value: {message}"
        );
    }
}
