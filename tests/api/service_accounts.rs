//! Service accounts: creating one (name required, description at most 500, a role
//! that defaults to org_viewer), reading it back, and finding it in the list.

use std::collections::BTreeSet;

use crate::helpers::{
    assert_error, is_resource_id, is_utc_millis_timestamp, keys_of, service_account_path, service_accounts_path,
    spawn_app, Bootstrapped, TestApp, MISSING_ID,
};

const ROLES: [&str; 3] = ["org_admin", "org_member", "org_viewer"];

fn admin_and_token(app: &TestApp) -> (Bootstrapped, String) {
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    (admin, token)
}

/// POSTs `body`, asserts a 400 `invalid_request`, and that nothing was created.
fn assert_rejected(app: &TestApp, admin: &Bootstrapped, token: &str, body: &str) {
    let path = service_accounts_path(&admin.organization_id);
    let before = app.all_ids(&path, token);

    let response = app.post_json(&path, token, body);

    assert_error(&response, 400, "invalid_request");
    assert_eq!(
        app.all_ids(&path, token),
        before,
        "a rejected POST {body} created something"
    );
}

#[test]
fn creating_a_service_account_returns_it_with_its_role() {
    let app = spawn_app();
    let (admin, token) = admin_and_token(&app);

    let body = app.create_service_account(
        &admin.organization_id,
        &token,
        r#"{"name":"deploy-pipeline","description":"Deploys the web app","role":"org_member"}"#,
    );

    let expected: BTreeSet<String> = ["id", "created_at", "updated_at", "name", "description", "role"]
        .map(String::from)
        .into();
    assert_eq!(keys_of(&body), expected, "{body}");
    assert!(is_resource_id(body["id"].as_str().unwrap_or_default()), "{body}");
    for field in ["created_at", "updated_at"] {
        assert!(
            is_utc_millis_timestamp(body[field].as_str().unwrap_or_default()),
            "{field}: {body}"
        );
    }
    assert_eq!(body["created_at"], body["updated_at"], "{body}");
    assert_eq!(body["name"], "deploy-pipeline");
    assert_eq!(body["description"], "Deploys the web app");
    assert_eq!(body["role"], "org_member");
}

#[test]
fn every_role_can_be_given() {
    let app = spawn_app();
    let (admin, token) = admin_and_token(&app);

    for role in ROLES {
        let body = format!(r#"{{"name":"sa","role":"{role}"}}"#);

        let created = app.create_service_account(&admin.organization_id, &token, &body);

        assert_eq!(created["role"], role, "{created}");
    }
}

#[test]
fn without_a_role_a_service_account_is_an_org_viewer() {
    let app = spawn_app();
    let (admin, token) = admin_and_token(&app);

    let body = app.create_service_account(&admin.organization_id, &token, r#"{"name":"plain"}"#);

    assert_eq!(body["role"], "org_viewer", "{body}");
    assert!(body.get("description").is_none(), "{body}");
    let id = body["id"].as_str().unwrap_or_default();
    let credential = app.new_credential(&admin, &token, id, "plain");
    let viewer_token = app.token_for(&credential);
    let path = service_accounts_path(&admin.organization_id);
    assert_eq!(app.get(&path, &viewer_token).status, 200);
    assert_error(
        &app.post_json(&path, &viewer_token, r#"{"name":"x"}"#),
        403,
        "forbidden",
    );
}

#[test]
fn a_created_service_account_reads_back_and_is_listed_after_older_ones() {
    let app = spawn_app();
    let (admin, token) = admin_and_token(&app);
    let created = app.create_service_account(&admin.organization_id, &token, r#"{"name":"read-back"}"#);
    let id = created["id"].as_str().unwrap_or_default();

    let by_id = app.get_ok(&service_account_path(&admin.organization_id, id), &token);
    let by_label = app.get_ok(&service_account_path("acme", id), &token);
    let list = app.page(&service_accounts_path(&admin.organization_id), "", &token);

    assert_eq!(by_id, created);
    assert_eq!(by_label, created);
    assert_eq!(list.ids, [admin.service_account_id.clone(), id.to_owned()]);
    assert_eq!(list.body["items"][1], created);
    assert_eq!(list.body["items"][0]["role"], "org_admin");
}

#[test]
fn fields_the_contract_does_not_describe_are_ignored() {
    let app = spawn_app();
    let (admin, token) = admin_and_token(&app);

    let body = app.create_service_account(
        &admin.organization_id,
        &token,
        r#"{"name":"extra","id":"aaaaaaaaaaaaaaaaaaaaaaaaaa","created_at":"2000-01-01T00:00:00.000Z","x":1}"#,
    );

    assert_ne!(body["id"], "aaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert_ne!(body["created_at"], "2000-01-01T00:00:00.000Z");
    assert!(body.get("x").is_none(), "{body}");
}

#[test]
fn a_missing_or_null_name_is_400() {
    let app = spawn_app();
    let (admin, token) = admin_and_token(&app);

    for body in ["{}", r#"{"role":"org_admin"}"#, r#"{"name":null}"#, r#"{"name":7}"#] {
        assert_rejected(&app, &admin, &token, body);
    }
}

#[test]
fn a_role_that_is_not_one_of_the_three_is_400() {
    let app = spawn_app();
    let (admin, token) = admin_and_token(&app);

    for role in [
        r#""superuser""#,
        r#""ORG_ADMIN""#,
        r#""""#,
        r#""org_owner""#,
        "1",
        "null",
        r#"["org_admin"]"#,
    ] {
        assert_rejected(&app, &admin, &token, &format!(r#"{{"name":"bad","role":{role}}}"#));
    }
}

#[test]
fn a_description_may_have_500_characters_but_not_501() {
    let app = spawn_app();
    let (admin, token) = admin_and_token(&app);

    assert_rejected(
        &app,
        &admin,
        &token,
        &format!(r#"{{"name":"x","description":"{}"}}"#, "d".repeat(501)),
    );
    let body = format!(r#"{{"name":"x","description":"{}"}}"#, "d".repeat(500));
    let created = app.create_service_account(&admin.organization_id, &token, &body);
    assert_eq!(created["description"].as_str().map(str::len), Some(500));
}

#[test]
fn an_unknown_service_account_is_404() {
    let app = spawn_app();
    let (admin, token) = admin_and_token(&app);

    for organization in [admin.organization_id.as_str(), "acme"] {
        let response = app.get(&service_account_path(organization, MISSING_ID), &token);

        assert_error(&response, 404, "not_found");
    }
}

#[test]
fn a_missing_organization_has_no_service_accounts() {
    let app = spawn_app();
    let (_, token) = admin_and_token(&app);

    assert_error(
        &app.get(&service_accounts_path("no-such-org"), &token),
        404,
        "not_found",
    );
    let create = app.post_json(&service_accounts_path("no-such-org"), &token, r#"{"name":"x"}"#);
    assert_error(&create, 404, "not_found");
}
