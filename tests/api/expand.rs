//! `expand=permissions`: the caller's permissions on the credential, added on request
//! in either query style, with unknown values ignored.

use serde_json::Value;

use crate::helpers::{credential_path, spawn_app, TestApp};

/// GETs `path` and returns the body, asserting a 200.
fn get_ok(app: &TestApp, path: &str, token: &str) -> Value {
    let response = app.get(path, token);
    assert_eq!(response.status, 200, "GET {path}: {}", response.text());
    response.json()
}

/// Asserts `permissions` is an object of objects of booleans and returns it.
fn permissions_of(body: &Value) -> &Value {
    let permissions = body
        .get("permissions")
        .unwrap_or_else(|| panic!("no permissions in {body}"));
    let resources = permissions
        .as_object()
        .unwrap_or_else(|| panic!("permissions is not an object: {body}"));
    assert!(!resources.is_empty(), "permissions is empty: {body}");
    for (resource, actions) in resources {
        let actions = actions
            .as_object()
            .unwrap_or_else(|| panic!("permissions.{resource} is not an object"));
        for (action, allowed) in actions {
            assert!(
                allowed.is_boolean(),
                "permissions.{resource}.{action} is not a boolean: {body}"
            );
        }
    }
    permissions
}

#[test]
fn without_expand_there_are_no_permissions() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);

    let body = get_ok(&app, &credential_path(&admin), &token);

    assert!(body.get("permissions").is_none(), "{body}");
}

#[test]
fn expand_permissions_gives_an_admin_read_and_update() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);

    let body = get_ok(&app, &format!("{}?expand=permissions", credential_path(&admin)), &token);

    let credentials = &permissions_of(&body)["service_account_credentials"];
    assert_eq!(credentials["read"], true, "{body}");
    assert_eq!(credentials["update"], true, "{body}");
}

#[test]
fn expand_permissions_gives_a_viewer_read_but_not_update() {
    let app = spawn_app();
    let viewer = app.with_role("acme", "org_viewer");
    let token = app.token_for(&viewer);

    let body = get_ok(
        &app,
        &format!("{}?expand=permissions", credential_path(&viewer)),
        &token,
    );

    let credentials = &permissions_of(&body)["service_account_credentials"];
    assert_eq!(credentials["read"], true, "{body}");
    assert_eq!(credentials["update"], false, "{body}");
}

#[test]
fn the_bracketed_style_adds_permissions_too() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let path = credential_path(&admin);

    for query in ["expand[]=permissions", "expand%5B%5D=permissions"] {
        let body = get_ok(&app, &format!("{path}?{query}"), &token);

        assert_eq!(
            permissions_of(&body)["service_account_credentials"]["update"],
            true,
            "?{query}: {body}"
        );
    }
}

#[test]
fn repeated_expand_values_add_permissions_once() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let path = credential_path(&admin);
    let once = get_ok(&app, &format!("{path}?expand=permissions"), &token);

    for query in [
        "expand=permissions&expand=permissions",
        "expand=permissions&expand[]=permissions",
    ] {
        let body = get_ok(&app, &format!("{path}?{query}"), &token);

        assert_eq!(body, once, "?{query}");
    }
}

#[test]
fn unknown_expand_values_are_ignored_next_to_permissions() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let path = credential_path(&admin);

    for query in ["expand=bogus&expand=permissions", "expand[]=permissions&expand[]=bogus"] {
        let body = get_ok(&app, &format!("{path}?{query}"), &token);

        assert_eq!(
            permissions_of(&body)["service_account_credentials"]["read"],
            true,
            "?{query}: {body}"
        );
    }
}

#[test]
fn only_unknown_or_unused_expand_values_add_nothing() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let path = credential_path(&admin);

    for query in [
        "expand=bogus",
        "expand[]=bogus&expand=other",
        "expand=Permissions",
        "expand=",
    ] {
        let body = get_ok(&app, &format!("{path}?{query}"), &token);

        assert!(body.get("permissions").is_none(), "?{query}: {body}");
    }
}

#[test]
fn patch_honours_expand_permissions() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let path = credential_path(&admin);

    let plain = app.patch_json(&path, &token, r#"{"name":"plain"}"#);
    let expanded = app.patch_json(&format!("{path}?expand=permissions"), &token, r#"{"name":"expanded"}"#);

    assert_eq!(plain.status, 200, "{}", plain.text());
    assert!(plain.json().get("permissions").is_none(), "{}", plain.text());
    assert_eq!(expanded.status, 200, "{}", expanded.text());
    let body = expanded.json();
    assert_eq!(body["name"], "expanded");
    assert_eq!(
        permissions_of(&body)["service_account_credentials"]["update"],
        true,
        "{body}"
    );
}
