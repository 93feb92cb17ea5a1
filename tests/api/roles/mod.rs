//! Roles within an organization: org_viewer may read but not change anything,
//! org_member may update but not mint access, raise itself or delete, org_admin may do
//! everything; every refusal is a 403 that changes nothing. `permission_truth` checks
//! that `expand=permissions` reports exactly what each role may do; the full table of
//! every operation by every caller on either organization is `tenancy::matrix`.

mod permission_truth;

use crate::helpers::{
    assert_error, credential_path, credentials_path, service_account_path, service_accounts_path, spawn_app,
    Bootstrapped, TestApp,
};

#[test]
fn a_viewer_can_read_a_credential() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let viewer = app.with_role("acme", "org_viewer");
    let token = app.token_for(&viewer);

    for who in [&viewer, &admin] {
        let response = app.get(&credential_path(who), &token);

        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.json()["id"], who.credential_id.as_str());
    }
}

#[test]
fn a_viewer_cannot_update_its_own_credential() {
    let app = spawn_app();
    let viewer = app.with_role("acme", "org_viewer");
    let token = app.token_for(&viewer);
    let before = app.credential(&viewer, &token);

    let response = app.patch_json(
        &credential_path(&viewer),
        &token,
        r#"{"name":"promoted","description":"x"}"#,
    );

    assert_error(&response, 403, "forbidden");
    assert_eq!(app.credential(&viewer, &token), before);
}

#[test]
fn a_viewer_cannot_update_an_admins_credential() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let viewer = app.with_role("acme", "org_viewer");
    let viewer_token = app.token_for(&viewer);
    let admin_token = app.token_for(&admin);
    let before = app.credential(&admin, &admin_token);

    let response = app.patch_json(&credential_path(&admin), &viewer_token, r#"{"name":"defaced"}"#);

    assert_error(&response, 403, "forbidden");
    assert_eq!(app.credential(&admin, &admin_token), before);
}

#[test]
fn a_viewer_is_forbidden_even_an_empty_update() {
    let app = spawn_app();
    let viewer = app.with_role("acme", "org_viewer");
    let token = app.token_for(&viewer);

    let response = app.patch_json(&credential_path(&viewer), &token, "{}");

    assert_error(&response, 403, "forbidden");
}

#[test]
fn a_member_can_update_a_credential() {
    let app = spawn_app();
    let member = app.with_role("acme", "org_member");
    let token = app.token_for(&member);

    let response = app.patch_json(&credential_path(&member), &token, r#"{"name":"member-renamed"}"#);

    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["name"], "member-renamed");
    assert_eq!(app.credential(&member, &token)["name"], "member-renamed");
}

/// Everything an admin can see in the organization: each service account and its credentials.
fn organization_state(app: &TestApp, admin: &Bootstrapped, admin_token: &str) -> Vec<serde_json::Value> {
    let organization = &admin.organization_id;
    app.all_ids(&service_accounts_path(organization), admin_token)
        .iter()
        .flat_map(|id| {
            [
                app.get_ok(&service_account_path(organization, id), admin_token),
                app.page(&credentials_path(organization, id), "limit=100", admin_token)
                    .body,
            ]
        })
        .collect()
}

#[test]
fn a_member_cannot_create_a_credential_for_an_admin_service_account() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let member = app.with_role("acme", "org_member");
    let admin_token = app.token_for(&admin);
    let token = app.token_for(&member);
    let before = organization_state(&app, &admin, &admin_token);

    let response = app.post_json(
        &credentials_path(&admin.organization_id, &admin.service_account_id),
        &token,
        r#"{"name":"escalation"}"#,
    );

    assert_error(&response, 403, "forbidden");
    assert!(!response.text().contains("client_secret"), "{}", response.text());
    assert_eq!(organization_state(&app, &admin, &admin_token), before);
}

#[test]
fn a_member_cannot_create_a_credential_even_for_itself() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let member = app.with_role("acme", "org_member");
    let admin_token = app.token_for(&admin);
    let token = app.token_for(&member);
    let before = organization_state(&app, &admin, &admin_token);

    let response = app.post_json(
        &credentials_path(&member.organization_id, &member.service_account_id),
        &token,
        r#"{"name":"spare"}"#,
    );

    assert_error(&response, 403, "forbidden");
    assert_eq!(organization_state(&app, &admin, &admin_token), before);
}

#[test]
fn a_member_cannot_raise_its_own_role_or_make_an_admin() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let member = app.with_role("acme", "org_member");
    let admin_token = app.token_for(&admin);
    let token = app.token_for(&member);
    let before = organization_state(&app, &admin, &admin_token);
    let own = service_account_path(&member.organization_id, &member.service_account_id);

    let promote = app.patch_json(&own, &token, r#"{"role":"org_admin"}"#);
    let create = app.post_json(
        &service_accounts_path(&member.organization_id),
        &token,
        r#"{"name":"puppet","role":"org_admin"}"#,
    );

    assert_error(&promote, 403, "forbidden");
    assert_error(&create, 403, "forbidden");
    assert_eq!(app.get_ok(&own, &admin_token)["role"], "org_member");
    assert_eq!(organization_state(&app, &admin, &admin_token), before);
}

#[test]
fn a_viewer_cannot_update_a_service_account_not_even_with_an_empty_patch() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let viewer = app.with_role("acme", "org_viewer");
    let admin_token = app.token_for(&admin);
    let token = app.token_for(&viewer);
    let before = organization_state(&app, &admin, &admin_token);

    for who in [&viewer, &admin] {
        let path = service_account_path(&who.organization_id, &who.service_account_id);
        for body in [r#"{"name":"defaced"}"#, r#"{"role":"org_admin"}"#, "{}"] {
            assert_error(&app.patch_json(&path, &token, body), 403, "forbidden");
        }
    }
    assert_eq!(organization_state(&app, &admin, &admin_token), before);
}

#[test]
fn a_viewer_cannot_delete_anything() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let viewer = app.with_role("acme", "org_viewer");
    let admin_token = app.token_for(&admin);
    let token = app.token_for(&viewer);
    let before = organization_state(&app, &admin, &admin_token);

    for who in [&admin, &viewer] {
        let credential = app.delete(&credential_path(who), &token);
        let service_account = app.delete(
            &service_account_path(&who.organization_id, &who.service_account_id),
            &token,
        );

        assert_error(&credential, 403, "forbidden");
        assert_error(&service_account, 403, "forbidden");
    }
    assert_eq!(organization_state(&app, &admin, &admin_token), before);
    assert_eq!(
        app.get("/organizations", &token).status,
        200,
        "the viewer's token broke"
    );
}

#[test]
fn a_member_cannot_delete_anything_either() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let member = app.with_role("acme", "org_member");
    let admin_token = app.token_for(&admin);
    let token = app.token_for(&member);
    let before = organization_state(&app, &admin, &admin_token);

    for who in [&admin, &member] {
        let credential = app.delete(&credential_path(who), &token);
        let service_account = app.delete(
            &service_account_path(&who.organization_id, &who.service_account_id),
            &token,
        );

        assert_error(&credential, 403, "forbidden");
        assert_error(&service_account, 403, "forbidden");
    }
    assert_eq!(organization_state(&app, &admin, &admin_token), before);
}

#[test]
fn a_viewer_cannot_create_anything() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let viewer = app.with_role("acme", "org_viewer");
    let admin_token = app.token_for(&admin);
    let token = app.token_for(&viewer);
    let before = organization_state(&app, &admin, &admin_token);

    let service_account = app.post_json(&service_accounts_path("acme"), &token, r#"{"name":"x"}"#);
    let credential = app.post_json(
        &credentials_path("acme", &viewer.service_account_id),
        &token,
        r#"{"name":"x"}"#,
    );

    assert_error(&service_account, 403, "forbidden");
    assert_error(&credential, 403, "forbidden");
    assert_eq!(organization_state(&app, &admin, &admin_token), before);
}
