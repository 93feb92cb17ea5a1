//! Roles: org_viewer may read but not update; org_member and org_admin may update.

use crate::helpers::{assert_error, credential_path, spawn_app};

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
