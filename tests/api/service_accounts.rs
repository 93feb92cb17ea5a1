//! Service accounts: creating one (name required, description at most 500, a role
//! that defaults to org_viewer), reading it back and finding it in the list; PATCH
//! leaves absent fields alone and bumps `updated_at` only on a change, a new role binds
//! existing tokens at once, and DELETE takes the account's credentials and their
//! tokens with it.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::helpers::{
    assert_error, assert_token_error, credential_path, credentials_path, is_resource_id, is_utc_millis_timestamp,
    keys_of, next_millisecond, service_account_path, service_accounts_path, spawn_app, Bootstrapped, TestApp,
    MISSING_ID,
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

/// An admin, its token, and a fresh org_member service account (as created).
fn admin_and_service_account(app: &TestApp) -> (Bootstrapped, String, Value) {
    let (admin, token) = admin_and_token(app);
    let body = r#"{"name":"before","description":"as created","role":"org_member"}"#;
    let created = app.create_service_account(&admin.organization_id, &token, body);
    (admin, token, created)
}

fn path_of(admin: &Bootstrapped, service_account: &Value) -> String {
    service_account_path(
        &admin.organization_id,
        service_account["id"].as_str().unwrap_or_default(),
    )
}

#[test]
fn patch_changes_only_the_fields_it_is_given_and_bumps_updated_at() {
    let app = spawn_app();
    let (admin, token, created) = admin_and_service_account(&app);
    let path = path_of(&admin, &created);
    next_millisecond();

    let response = app.patch_json(&path, &token, r#"{"description":"changed"}"#);

    assert_eq!(response.status, 200, "{}", response.text());
    let body = response.json();
    assert_eq!(body["description"], "changed");
    for unchanged in ["id", "name", "role", "created_at"] {
        assert_eq!(body[unchanged], created[unchanged], "{unchanged}: {body}");
    }
    assert!(
        body["updated_at"].as_str() > created["updated_at"].as_str(),
        "updated_at did not move: {body}"
    );
    assert_eq!(app.get_ok(&path, &token), body);
}

#[test]
fn patch_can_rename_and_change_the_role() {
    let app = spawn_app();
    let (admin, token, created) = admin_and_service_account(&app);
    let path = path_of(&admin, &created);

    let body = app
        .patch_json(&path, &token, r#"{"name":"after","role":"org_admin"}"#)
        .json();

    assert_eq!(
        (body["name"].as_str(), body["role"].as_str()),
        (Some("after"), Some("org_admin")),
        "{body}"
    );
    assert_eq!(body["description"], "as created");
}

#[test]
fn an_empty_patch_changes_nothing_not_even_updated_at() {
    let app = spawn_app();
    let (admin, token, created) = admin_and_service_account(&app);
    let path = path_of(&admin, &created);
    next_millisecond();

    let response = app.patch_json(&path, &token, "{}");

    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json(), created);
    assert_eq!(app.get_ok(&path, &token), created);
}

#[test]
fn an_invalid_patch_is_400_and_changes_nothing() {
    let app = spawn_app();
    let (admin, token, created) = admin_and_service_account(&app);
    let path = path_of(&admin, &created);
    let too_long = format!(r#"{{"description":"{}"}}"#, "d".repeat(501));

    for body in [
        r#"{"name":null}"#,
        r#"{"description":null}"#,
        r#"{"role":null}"#,
        r#"{"role":"org_owner"}"#,
        r#"{"name":"ok","role":"root"}"#,
        too_long.as_str(),
    ] {
        assert_error(&app.patch_json(&path, &token, body), 400, "invalid_request");
        assert_eq!(app.get_ok(&path, &token), created, "PATCH {body} changed something");
    }
}

#[test]
fn patching_an_unknown_service_account_is_404() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);

    let response = app.patch_json(
        &service_account_path(&admin.organization_id, MISSING_ID),
        &token,
        r#"{"name":"x"}"#,
    );

    assert_error(&response, 404, "not_found");
}

#[test]
fn a_role_change_binds_the_service_accounts_existing_tokens_at_once() {
    let app = spawn_app();
    let (admin, token, created) = admin_and_service_account(&app);
    let path = path_of(&admin, &created);
    let credential = app.new_credential(&admin, &token, created["id"].as_str().unwrap_or_default(), "bound");
    let its_token = app.token_for(&credential);
    let list = service_accounts_path(&admin.organization_id);
    assert_error(&app.post_json(&list, &its_token, r#"{"name":"x"}"#), 403, "forbidden");

    assert_eq!(app.patch_json(&path, &token, r#"{"role":"org_admin"}"#).status, 200);
    assert_eq!(app.post_json(&list, &its_token, r#"{"name":"promoted"}"#).status, 200);

    assert_eq!(app.patch_json(&path, &token, r#"{"role":"org_viewer"}"#).status, 200);
    assert_error(&app.post_json(&list, &its_token, r#"{"name":"x"}"#), 403, "forbidden");
    let rename = app.patch_json(&credential_path(&credential), &its_token, r#"{"name":"y"}"#);
    assert_error(&rename, 403, "forbidden");
    assert_eq!(app.get(&path, &its_token).status, 200, "a viewer can still read");
}

#[test]
fn deleting_a_service_account_is_204_with_an_empty_body_and_then_it_is_gone() {
    let app = spawn_app();
    let (admin, token, created) = admin_and_service_account(&app);
    let path = path_of(&admin, &created);

    let response = app.delete(&path, &token);

    assert_eq!(response.status, 204, "{}", response.text());
    assert!(response.body.is_empty(), "a 204 with a body: {:?}", response.text());
    assert_error(&app.get(&path, &token), 404, "not_found");
    assert_error(&app.patch_json(&path, &token, r#"{"name":"x"}"#), 404, "not_found");
    assert_error(&app.delete(&path, &token), 404, "not_found");
    let listed = app.all_ids(&service_accounts_path(&admin.organization_id), &token);
    assert_eq!(listed, [admin.service_account_id.as_str()]);
}

#[test]
fn deleting_a_service_account_deletes_its_credentials_and_their_tokens() {
    let app = spawn_app();
    let (admin, token, created) = admin_and_service_account(&app);
    let id = created["id"].as_str().unwrap_or_default();
    let credentials: Vec<Bootstrapped> = ["one", "two"]
        .iter()
        .map(|name| app.new_credential(&admin, &token, id, name))
        .collect();
    let tokens: Vec<String> = credentials.iter().map(|credential| app.token_for(credential)).collect();

    assert_eq!(app.delete(&path_of(&admin, &created), &token).status, 204);

    for (credential, its_token) in credentials.iter().zip(&tokens) {
        assert_error(&app.get("/organizations", its_token), 401, "unauthorized");
        assert_error(&app.get(&credential_path(credential), &token), 404, "not_found");
        let mint = app.post_token("grant_type=client_credentials", Some(credential));
        assert_token_error(&mint, 401, "invalid_client", "invalid_client");
    }
    let list = credentials_path(&admin.organization_id, id);
    assert_error(&app.get(&list, &token), 404, "not_found");
    assert_error(&app.post_json(&list, &token, r#"{"name":"late"}"#), 404, "not_found");
    assert_eq!(
        app.get(&credential_path(&admin), &token).status,
        200,
        "another account's credential went too"
    );
}

#[test]
fn tokens_in_use_stop_working_the_moment_their_service_account_is_deleted() {
    let app = spawn_app();
    let (admin, token, created) = admin_and_service_account(&app);
    let id = created["id"].as_str().unwrap_or_default();
    let tokens: Vec<String> = ["one", "two"]
        .iter()
        .map(|name| app.token_for(&app.new_credential(&admin, &token, id, name)))
        .collect();
    for its_token in &tokens {
        assert_eq!(
            app.get("/organizations", its_token).status,
            200,
            "in use before the delete"
        );
    }

    assert_eq!(app.delete(&path_of(&admin, &created), &token).status, 204);

    for its_token in &tokens {
        assert_error(&app.get("/organizations", its_token), 401, "unauthorized");
    }
    assert_eq!(
        app.get("/organizations", &token).status,
        200,
        "the deleter's token broke"
    );
}

#[test]
fn a_service_account_can_delete_itself_and_its_token_dies_with_it() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);

    let response = app.delete(
        &service_account_path(&admin.organization_id, &admin.service_account_id),
        &token,
    );

    assert_eq!(response.status, 204, "{}", response.text());
    assert_error(&app.get("/organizations", &token), 401, "unauthorized");
}
