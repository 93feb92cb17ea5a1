//! `GET …/credentials/{credential_id}`: the credential's public fields, never its secret.

use std::collections::BTreeSet;

use crate::helpers::{assert_error, credential_path, credential_path_of, is_utc_millis_timestamp, keys_of, spawn_app};

const ALLOWED_KEYS: [&str; 11] = [
    "id",
    "client_id",
    "created_at",
    "name",
    "description",
    "last_used_at",
    "service_account_id",
    "status",
    "expires_at",
    "secret_rotated_at",
    "previous_secret_expires_at",
];

fn is_lowercase_nanoid(text: &str) -> bool {
    text.len() == 26
        && text
            .bytes()
            .all(|byte| byte.is_ascii_digit() || byte.is_ascii_lowercase())
}

#[test]
fn get_returns_the_credential_and_never_its_secret() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);

    let response = app.get(&credential_path(&admin), &token);

    assert_eq!(response.status, 200, "{}", response.text());
    let content_type = response.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "Content-Type: {content_type}"
    );
    let body = response.json();
    assert_eq!(body["id"], admin.credential_id.as_str());
    assert_eq!(body["client_id"], admin.client_id.as_str());
    assert!(body["name"].is_string(), "{body}");
    let keys = keys_of(&body);
    let allowed: BTreeSet<String> = ALLOWED_KEYS.iter().map(|key| key.to_string()).collect();
    assert!(keys.is_subset(&allowed), "unexpected keys in {body}");
    assert!(
        !response.everything().contains(&admin.client_secret),
        "the client secret was returned"
    );
    assert!(!response.everything().contains(&token), "the access token was returned");
    assert!(
        keys.iter().all(|key| !key.contains("secret") && !key.contains("hash")),
        "{body}"
    );
}

#[test]
fn an_unused_credential_has_exactly_id_client_id_created_at_name_service_account_id_and_status() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let unused = app.admin("acme");
    let token = app.token_for(&admin);

    let body = app.credential(&unused, &token);

    let mut keys = keys_of(&body);
    if body.get("description").is_some() {
        assert!(body["description"].is_string(), "{body}");
        keys.remove("description");
    }
    let expected: BTreeSet<String> = ["id", "client_id", "created_at", "name", "service_account_id", "status"]
        .map(String::from)
        .into();
    assert_eq!(keys, expected, "{body}");
    assert_eq!(body["status"], "active");
    assert!(!body.to_string().contains(&unused.client_secret));
}

#[test]
fn created_at_and_last_used_at_are_utc_with_milliseconds() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);

    let body = app.credential(&admin, &token);

    for field in ["created_at", "last_used_at"] {
        let value = body[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} missing: {body}"));
        assert!(
            is_utc_millis_timestamp(value),
            "{field} = {value}, want YYYY-MM-DDTHH:MM:SS.mmmZ"
        );
    }
}

#[test]
fn ids_and_secrets_have_their_documented_shapes() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);

    let body = app.credential(&admin, &token);

    let id = body["id"].as_str().unwrap_or_default();
    assert!(is_lowercase_nanoid(id), "id {id:?} is not 26 characters of [0-9a-z]");
    let client_id = body["client_id"].as_str().unwrap_or_default();
    assert!(
        client_id.len() == 21 && client_id.bytes().all(|byte| byte.is_ascii_alphanumeric()),
        "client_id {client_id:?} is not 21 characters of [0-9A-Za-z]"
    );
    let secret = &admin.client_secret;
    assert!(
        secret.len() == 64 && secret.bytes().all(|byte| byte.is_ascii_alphanumeric()),
        "client_secret is not 64 alphanumerics (it has {} characters)",
        secret.len()
    );
    let service_account_id = &admin.service_account_id;
    assert!(
        is_lowercase_nanoid(service_account_id),
        "service_account_id {service_account_id:?}"
    );
}

#[test]
fn every_credential_gets_its_own_ids_and_secret() {
    let app = spawn_app();
    let first = app.admin("acme");
    let second = app.admin("acme");

    assert_ne!(first.credential_id, second.credential_id);
    assert_ne!(first.client_id, second.client_id);
    assert_ne!(first.client_secret, second.client_secret);
}

#[test]
fn the_organization_can_be_addressed_by_its_label() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let by_label = credential_path_of("acme", &admin.service_account_id, &admin.credential_id);

    let response = app.get(&by_label, &token);

    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json(), app.credential(&admin, &token));
}

#[test]
fn the_organization_label_also_works_for_patch() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let by_label = credential_path_of("acme", &admin.service_account_id, &admin.credential_id);

    let response = app.patch_json(&by_label, &token, r#"{"name":"via-label"}"#);

    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["name"], "via-label");
    assert_eq!(app.credential(&admin, &token)["name"], "via-label");
}

#[test]
fn a_missing_credential_is_404_not_found() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let missing = credential_path_of(
        &admin.organization_id,
        &admin.service_account_id,
        "00000000000000000000000000",
    );

    let response = app.get(&missing, &token);

    assert_error(&response, 404, "not_found");
}

#[test]
fn a_missing_organization_is_404_not_found() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let path = credential_path_of("no-such-org", &admin.service_account_id, &admin.credential_id);

    let response = app.get(&path, &token);

    assert_error(&response, 404, "not_found");
}
