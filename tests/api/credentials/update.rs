//! `PATCH …/credentials/{credential_id}`: partial updates of name and description.

use serde_json::{json, Value};

use crate::helpers::{credential_path, spawn_app, Bootstrapped, TestApp};

/// PATCHes `who`'s credential with `body`, asserting a 200, and returns the answer.
fn patch_ok(app: &TestApp, who: &Bootstrapped, token: &str, body: &str) -> Value {
    let response = app.patch_json(&credential_path(who), token, body);
    assert_eq!(response.status, 200, "PATCH {body}: {}", response.text());
    response.json()
}

/// `value` without the named keys.
fn without(value: &Value, keys: &[&str]) -> Value {
    let mut object = value.as_object().expect("an object").clone();
    for key in keys {
        object.remove(*key);
    }
    Value::Object(object)
}

#[test]
fn renaming_changes_the_name_only() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    patch_ok(&app, &admin, &token, r#"{"description":"kept"}"#);
    let before = app.credential(&admin, &token);

    let answer = patch_ok(&app, &admin, &token, r#"{"name":"deploy-bot-2"}"#);

    assert_eq!(answer["name"], "deploy-bot-2");
    assert_eq!(answer["description"], "kept");
    let after = app.credential(&admin, &token);
    assert_eq!(after, answer);
    assert_eq!(without(&after, &["name"]), without(&before, &["name"]));
}

#[test]
fn describing_changes_the_description_only() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    patch_ok(&app, &admin, &token, r#"{"name":"kept-name"}"#);
    let before = app.credential(&admin, &token);

    let answer = patch_ok(&app, &admin, &token, r#"{"description":"Used by the deploy pipeline"}"#);

    assert_eq!(answer["description"], "Used by the deploy pipeline");
    assert_eq!(answer["name"], "kept-name");
    let after = app.credential(&admin, &token);
    assert_eq!(after, answer);
    assert_eq!(without(&after, &["description"]), without(&before, &["description"]));
}

#[test]
fn both_fields_can_change_at_once() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);

    let answer = patch_ok(&app, &admin, &token, r#"{"name":"n2","description":"d2"}"#);

    assert_eq!(
        (answer["name"].clone(), answer["description"].clone()),
        (json!("n2"), json!("d2"))
    );
    assert_eq!(app.credential(&admin, &token), answer);
}

#[test]
fn an_empty_object_changes_nothing() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    patch_ok(&app, &admin, &token, r#"{"name":"stable","description":"also stable"}"#);
    let before = app.credential(&admin, &token);

    let answer = patch_ok(&app, &admin, &token, "{}");

    assert_eq!(answer, before);
    assert_eq!(app.credential(&admin, &token), before);
}

#[test]
fn unknown_fields_are_ignored() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let before = app.credential(&admin, &token);

    let answer = patch_ok(
        &app,
        &admin,
        &token,
        r#"{"name":"n","zzz":1,"client_secret":"mine-now","id":"x"}"#,
    );

    assert_eq!(answer["name"], "n");
    assert!(answer.get("zzz").is_none(), "{answer}");
    let after = app.credential(&admin, &token);
    assert_eq!(without(&after, &["name"]), without(&before, &["name"]));
    assert!(!after.to_string().contains("mine-now"), "{after}");
    assert_eq!(after["id"], admin.credential_id.as_str());
    let old_secret_still_works = app.post_token("grant_type=client_credentials", Some(&admin));
    assert_eq!(old_secret_still_works.status, 200, "{}", old_secret_still_works.text());
}

#[test]
fn a_description_of_500_multibyte_characters_is_stored_exactly() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let description = "é".repeat(500);

    let answer = patch_ok(&app, &admin, &token, &json!({ "description": description }).to_string());

    assert_eq!(answer["description"], description.as_str());
    assert_eq!(app.credential(&admin, &token)["description"], description.as_str());
}

#[test]
fn unicode_and_escapes_round_trip_exactly() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let name = "déploy \"bot\" \\ 🚀 \u{2028} tab\there";

    let answer = patch_ok(&app, &admin, &token, &json!({ "name": name }).to_string());

    assert_eq!(answer["name"], name);
    assert_eq!(app.credential(&admin, &token)["name"], name);
}

#[test]
fn a_json_content_type_with_a_charset_is_accepted() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let authorization = format!("Bearer {token}");
    let headers = [
        ("Authorization", authorization.as_str()),
        ("Content-Type", "application/json; charset=utf-8"),
    ];

    let response = app.request(
        "PATCH",
        &credential_path(&admin),
        &headers,
        Some(br#"{"name":"charset"}"#),
    );

    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(app.credential(&admin, &token)["name"], "charset");
}

#[test]
fn a_body_of_exactly_64_kib_is_accepted() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let mut body = String::from(r#"{"name":"big-body"}"#);
    body.push_str(&" ".repeat(65536 - body.len()));

    let answer = patch_ok(&app, &admin, &token, &body);

    assert_eq!(answer["name"], "big-body");
}

#[test]
fn an_admin_can_update_another_service_accounts_credential_in_its_organization() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let other = app.with_role("acme", "org_member");
    let token = app.token_for(&admin);

    let answer = patch_ok(&app, &other, &token, r#"{"name":"renamed-by-admin"}"#);

    assert_eq!(answer["id"], other.credential_id.as_str());
    assert_eq!(app.credential(&other, &token)["name"], "renamed-by-admin");
}
