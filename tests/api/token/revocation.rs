//! `POST /service-account-token/revoke`: RFC 7009 token revocation. The client
//! authenticates exactly as at the token endpoint (the same 401, the same throttles);
//! its own token stops working at once; anything else (unknown, malformed, already
//! revoked, another client's) is a 200 that changes nothing.

use super::{assert_invalid_client, FORM};
use crate::helpers::{
    assert_token_error, basic_auth, credential_path, message_of, spawn_app, Bootstrapped, TestApp, TestResponse,
};

const REVOKE: &str = "/service-account-token/revoke";

/// Failed client authentications a client_id may have in a window (as in `throttling`).
const PER_CLIENT: usize = 10;

/// Sends `form` to the revocation endpoint with `who`'s credentials by HTTP Basic.
fn revoke_as(app: &TestApp, who: &Bootstrapped, form: &str) -> TestResponse {
    let authorization = basic_auth(&who.client_id, &who.client_secret);
    app.request(
        "POST",
        REVOKE,
        &[FORM, ("Authorization", &authorization)],
        Some(form.as_bytes()),
    )
}

/// Revokes `token` as `who`, by HTTP Basic.
fn revoke(app: &TestApp, who: &Bootstrapped, token: &str) -> TestResponse {
    revoke_as(app, who, &format!("token={token}"))
}

/// Asserts RFC 7009's answer: 200, an empty body, not cacheable.
fn assert_revocation_answer(response: &TestResponse) {
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.text(), "", "RFC 7009 §2.2: the body is empty");
    assert_eq!(response.header("cache-control"), Some("no-store"));
}

/// The status a GET of `who`'s credential with `token` answers.
fn status_with(app: &TestApp, who: &Bootstrapped, token: &str) -> u16 {
    app.get(&credential_path(who), token).status
}

#[test]
fn a_client_revoking_its_own_token_gets_200_and_the_token_is_refused_at_once() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let sibling = app.token_for(&admin);
    // Used first, so that it sits in the token cache.
    assert_eq!(status_with(&app, &admin, &token), 200);

    assert_revocation_answer(&revoke(&app, &admin, &token));

    assert_eq!(status_with(&app, &admin, &token), 401);
    assert_eq!(
        status_with(&app, &admin, &sibling),
        200,
        "the credential's other tokens still work"
    );
    // The credential still mints (token_for asserts it).
    app.token_for(&admin);
}

#[test]
fn a_client_may_authenticate_with_form_fields_and_send_a_token_type_hint() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    assert_eq!(status_with(&app, &admin, &token), 200);
    let form = format!(
        "token={token}&token_type_hint=refresh_token&client_id={}&client_secret={}",
        admin.client_id, admin.client_secret
    );

    let response = app.request("POST", REVOKE, &[FORM], Some(form.as_bytes()));

    assert_revocation_answer(&response);
    assert_eq!(status_with(&app, &admin, &token), 401, "the hint is only a hint");
}

#[test]
fn an_unknown_a_malformed_or_an_already_revoked_token_is_200_and_changes_nothing() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let revoked = app.token_for(&admin);
    assert_revocation_answer(&revoke(&app, &admin, &revoked));
    let (token_id, _) = token.split_once('.').expect("a token is <id>.<secret>");
    let wrong_secret = format!("{token_id}.NotTheSecret");

    for presented in [
        revoked.as_str(),
        "not-a-keycred-token",
        "0123456789abcdefghijklmnop.unknownsecret",
        "eyJhbGciOiJIUzI1NiJ9.e30.signature",
        wrong_secret.as_str(),
        token_id,
        "two%20words",
    ] {
        let response = revoke(&app, &admin, presented);

        assert_revocation_answer(&response);
    }
    assert_eq!(
        status_with(&app, &admin, &token),
        200,
        "its ID with a wrong secret is not the token"
    );
}

#[test]
fn another_clients_token_is_not_revoked_and_the_answer_is_still_200() {
    let app = spawn_app();
    let owner = app.admin("acme");
    let same_account = app.new_credential(&owner, &app.token_for(&owner), &owner.service_account_id, "sibling");
    let other_organization = app.admin("globex");
    let token = app.token_for(&owner);
    assert_eq!(status_with(&app, &owner, &token), 200);

    for stranger in [&same_account, &other_organization] {
        assert_revocation_answer(&revoke(&app, stranger, &token));
    }

    assert_eq!(status_with(&app, &owner, &token), 200);
}

#[test]
fn a_wrong_secret_an_unknown_client_or_no_credentials_are_401_invalid_client_and_revoke_nothing() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let form = format!("token={token}");
    let wrong_secret = basic_auth(&admin.client_id, "wrong-secret");
    let unknown_client = basic_auth("NoSuchClient000000000", "wrong-secret");

    let wrong = app.request(
        "POST",
        REVOKE,
        &[FORM, ("Authorization", &wrong_secret)],
        Some(form.as_bytes()),
    );
    let unknown = app.request(
        "POST",
        REVOKE,
        &[FORM, ("Authorization", &unknown_client)],
        Some(form.as_bytes()),
    );
    let anonymous = app.request("POST", REVOKE, &[FORM], Some(form.as_bytes()));

    for response in [&wrong, &unknown, &anonymous] {
        assert_invalid_client(response);
    }
    assert_eq!(
        wrong.json(),
        unknown.json(),
        "an unknown client is told what a wrong secret is"
    );
    assert_eq!(status_with(&app, &admin, &token), 200);
}

#[test]
fn a_missing_or_empty_token_is_400_invalid_request() {
    let app = spawn_app();
    let admin = app.admin("acme");

    for form in ["", "token_type_hint=access_token", "token="] {
        let response = revoke_as(&app, &admin, form);

        assert_token_error(&response, 400, "invalid_request", "invalid_request");
        assert!(message_of(&response).contains("token"), "{}", message_of(&response));
    }
}

#[test]
fn credentials_sent_both_ways_are_400_invalid_request_and_revoke_nothing() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let form = format!(
        "token={token}&client_id={}&client_secret={}",
        admin.client_id, admin.client_secret
    );

    let response = revoke_as(&app, &admin, &form);

    assert_token_error(&response, 400, "invalid_request", "invalid_request");
    assert_eq!(status_with(&app, &admin, &token), 200);
}

#[test]
fn a_json_body_is_415_in_the_token_error_shape() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let authorization = basic_auth(&admin.client_id, &admin.client_secret);
    let headers = [
        ("Content-Type", "application/json"),
        ("Authorization", authorization.as_str()),
    ];

    let response = app.request("POST", REVOKE, &headers, Some(br#"{"token":"x"}"#));

    assert_token_error(&response, 415, "invalid_request", "unsupported_media_type");
}

#[test]
fn failed_revocations_are_throttled_together_with_the_token_endpoints() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let guess = basic_auth(&admin.client_id, "wrong-secret");
    let form = format!("token={token}");

    for _ in 0..PER_CLIENT {
        let response = app.request(
            "POST",
            REVOKE,
            &[FORM, ("Authorization", &guess)],
            Some(form.as_bytes()),
        );
        assert_invalid_client(&response);
    }

    // The right secret is refused now, here and at the token endpoint alike.
    let refused = revoke(&app, &admin, &token);
    assert_token_error(&refused, 429, "invalid_client", "too_many_requests");
    assert!(refused.header("retry-after").is_some(), "{:?}", refused.headers);
    let minting = app.post_token("grant_type=client_credentials", Some(&admin));
    assert_token_error(&minting, 429, "invalid_client", "too_many_requests");
    assert_eq!(status_with(&app, &admin, &token), 200, "nothing was revoked");
}

#[test]
fn a_revocation_request_without_host_is_a_400_in_the_oauth_shape() {
    let app = spawn_app();
    let body = "token=anything";
    let request = format!(
        "POST {REVOKE} HTTP/1.1\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );

    let response = app.raw(request.as_bytes());

    assert_token_error(&response, 400, "invalid_request", "invalid_request");
}
