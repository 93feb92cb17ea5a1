//! `POST …/service-accounts/{service_account_id}/credentials`: a new client_id and
//! client_secret, the secret shown this once and working at the token endpoint.

use std::collections::BTreeSet;

use crate::helpers::{
    assert_error, credential_path, credentials_path, is_resource_id, is_utc_millis_timestamp, keys_of, spawn_app,
    Bootstrapped, TestApp, MISSING_ID,
};

/// An admin, its token, and a fresh service account to give credentials to.
fn admin_with_service_account(app: &TestApp) -> (Bootstrapped, String, String) {
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let service_account = app.new_service_account(&admin, &token, "org_member");
    (admin, token, service_account)
}

/// POSTs `body` to the credential list, asserts a 400 `invalid_request`, and that
/// nothing was created.
fn assert_rejected(app: &TestApp, admin: &Bootstrapped, token: &str, service_account: &str, body: &str) {
    let path = credentials_path(&admin.organization_id, service_account);
    let before = app.all_ids(&path, token);

    let response = app.post_json(&path, token, body);

    assert_error(&response, 400, "invalid_request");
    assert_eq!(
        app.all_ids(&path, token),
        before,
        "a rejected POST {body} created something"
    );
}

fn is_alphanumeric_of_length(text: &str, length: usize) -> bool {
    text.len() == length && text.bytes().all(|byte| byte.is_ascii_alphanumeric())
}

#[test]
fn creating_a_credential_returns_it_with_its_secret() {
    let app = spawn_app();
    let (admin, token, service_account) = admin_with_service_account(&app);
    let path = credentials_path(&admin.organization_id, &service_account);

    let response = app.post_json(&path, &token, r#"{"name":"deploy-bot","description":"Used by CI"}"#);

    assert_eq!(response.status, 200, "{}", response.text());
    let body = response.json();
    let expected: BTreeSet<String> = [
        "id",
        "client_id",
        "client_secret",
        "created_at",
        "name",
        "description",
        "service_account_id",
        "status",
    ]
    .map(String::from)
    .into();
    assert_eq!(keys_of(&body), expected, "{body}");
    assert_eq!(body["service_account_id"], service_account.as_str());
    assert!(is_resource_id(body["id"].as_str().unwrap_or_default()), "{body}");
    assert!(
        is_alphanumeric_of_length(body["client_id"].as_str().unwrap_or_default(), 21),
        "{body}"
    );
    let secret = body["client_secret"].as_str().unwrap_or_default();
    assert!(
        is_alphanumeric_of_length(secret, 64),
        "client_secret has {} characters",
        secret.len()
    );
    assert!(
        is_utc_millis_timestamp(body["created_at"].as_str().unwrap_or_default()),
        "{body}"
    );
    assert_eq!(body["name"], "deploy-bot");
    assert_eq!(body["description"], "Used by CI");
}

#[test]
fn a_credential_created_without_a_description_has_none() {
    let app = spawn_app();
    let (admin, token, service_account) = admin_with_service_account(&app);

    let body = app.create_credential(&admin.organization_id, &service_account, &token, r#"{"name":"bare"}"#);

    let expected: BTreeSet<String> = [
        "id",
        "client_id",
        "client_secret",
        "created_at",
        "name",
        "service_account_id",
        "status",
    ]
    .map(String::from)
    .into();
    assert_eq!(keys_of(&body), expected, "{body}");
}

#[test]
fn the_new_secret_mints_a_token_that_acts_as_the_service_account() {
    let app = spawn_app();
    let (admin, token, service_account) = admin_with_service_account(&app);
    let created = app.new_credential(&admin, &token, &service_account, "fresh");

    let new_token = app.token_for(&created);

    let body = app.get_ok(&credential_path(&created), &new_token);
    assert_eq!(body["id"], created.credential_id.as_str());
    assert_eq!(body["client_id"], created.client_id.as_str());
}

#[test]
fn the_secret_never_appears_in_a_later_get_or_list() {
    let app = spawn_app();
    let (admin, token, service_account) = admin_with_service_account(&app);
    let created = app.new_credential(&admin, &token, &service_account, "quiet");
    let list = credentials_path(&admin.organization_id, &service_account);

    for path in [
        credential_path(&created),
        format!("{}?expand=permissions", credential_path(&created)),
        list.clone(),
        format!("{list}?expand=permissions"),
    ] {
        let response = app.get(&path, &token);

        assert_eq!(response.status, 200, "GET {path}: {}", response.text());
        assert!(
            !response.everything().contains(&created.client_secret),
            "GET {path} returned the secret"
        );
        assert!(
            !response.text().contains("client_secret"),
            "GET {path}: {}",
            response.text()
        );
    }
}

#[test]
fn a_created_credential_is_in_the_list_and_reads_back_without_its_secret() {
    let app = spawn_app();
    let (admin, token, service_account) = admin_with_service_account(&app);
    let mut created = app.create_credential(
        &admin.organization_id,
        &service_account,
        &token,
        r#"{"name":"listed","description":"d"}"#,
    );
    let id = created["id"].as_str().unwrap_or_default().to_owned();

    let list = app.page(&credentials_path(&admin.organization_id, &service_account), "", &token);
    let one = app.get_ok(
        &format!("{}/{id}", credentials_path(&admin.organization_id, &service_account)),
        &token,
    );

    assert_eq!(list.ids, vec![id.clone()]);
    created.as_object_mut().map(|object| object.remove("client_secret"));
    assert_eq!(one, created);
    assert_eq!(list.body["items"][0], created);
}

#[test]
fn two_credentials_of_one_service_account_get_their_own_ids_and_secrets() {
    let app = spawn_app();
    let (admin, token, service_account) = admin_with_service_account(&app);

    let first = app.new_credential(&admin, &token, &service_account, "first");
    let second = app.new_credential(&admin, &token, &service_account, "second");

    assert_ne!(first.credential_id, second.credential_id);
    assert_ne!(first.client_id, second.client_id);
    assert_ne!(first.client_secret, second.client_secret);
    assert_ne!(app.token_for(&first), app.token_for(&second));
}

#[test]
fn a_credential_can_be_created_with_the_organization_label() {
    let app = spawn_app();
    let (_, token, service_account) = admin_with_service_account(&app);

    let body = app.create_credential("acme", &service_account, &token, r#"{"name":"by-label"}"#);

    assert_eq!(body["name"], "by-label");
}

#[test]
fn a_missing_name_is_400() {
    let app = spawn_app();
    let (admin, token, service_account) = admin_with_service_account(&app);

    for body in ["{}", r#"{"description":"no name"}"#] {
        assert_rejected(&app, &admin, &token, &service_account, body);
    }
}

#[test]
fn a_null_or_non_string_name_is_400() {
    let app = spawn_app();
    let (admin, token, service_account) = admin_with_service_account(&app);

    for body in [r#"{"name":null}"#, r#"{"name":5}"#, r#"{"name":["x"]}"#] {
        assert_rejected(&app, &admin, &token, &service_account, body);
    }
}

#[test]
fn a_description_may_have_500_characters_but_not_501() {
    let app = spawn_app();
    let (admin, token, service_account) = admin_with_service_account(&app);
    let at_most = format!(r#"{{"name":"long","description":"{}"}}"#, "é".repeat(500));
    let too_long = format!(r#"{{"name":"long","description":"{}"}}"#, "é".repeat(501));

    assert_rejected(&app, &admin, &token, &service_account, &too_long);
    let body = app.create_credential(&admin.organization_id, &service_account, &token, &at_most);
    assert_eq!(body["description"].as_str().map(|text| text.chars().count()), Some(500));
}

#[test]
fn creating_a_credential_for_an_unknown_service_account_is_404() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);

    for organization in [admin.organization_id.as_str(), "acme"] {
        let response = app.post_json(
            &credentials_path(organization, MISSING_ID),
            &token,
            r#"{"name":"orphan"}"#,
        );

        assert_error(&response, 404, "not_found");
    }
}
