//! Tenancy: a caller sees only its own organization's credentials; anything else is a
//! 404 indistinguishable from a credential that does not exist.

use crate::helpers::{assert_error, credential_path, credential_path_of, spawn_app, TestResponse};

/// What a client could tell two 404s apart by.
fn shape(response: &TestResponse) -> (u16, String, String) {
    let body = response.json();
    (
        response.status,
        body["code"].as_str().unwrap_or_default().to_owned(),
        body["message"].to_string(),
    )
}

#[test]
fn a_credential_of_another_organization_is_404_by_its_organization_id() {
    let app = spawn_app();
    let mine = app.admin("acme");
    let theirs = app.admin("globex");
    let token = app.token_for(&mine);

    let response = app.get(&credential_path(&theirs), &token);

    assert_error(&response, 404, "not_found");
}

#[test]
fn a_credential_of_another_organization_is_404_by_its_organization_label() {
    let app = spawn_app();
    let mine = app.admin("acme");
    let theirs = app.admin("globex");
    let token = app.token_for(&mine);
    let path = credential_path_of("globex", &theirs.service_account_id, &theirs.credential_id);

    let response = app.get(&path, &token);

    assert_error(&response, 404, "not_found");
}

#[test]
fn a_credential_of_another_organization_is_404_under_the_callers_own_organization() {
    let app = spawn_app();
    let mine = app.admin("acme");
    let theirs = app.admin("globex");
    let token = app.token_for(&mine);

    for organization in [mine.organization_id.as_str(), "acme"] {
        let path = credential_path_of(organization, &theirs.service_account_id, &theirs.credential_id);

        assert_error(&app.get(&path, &token), 404, "not_found");
    }
}

#[test]
fn another_organizations_credential_looks_exactly_like_a_missing_one() {
    let app = spawn_app();
    let mine = app.admin("acme");
    let theirs = app.admin("globex");
    let token = app.token_for(&mine);
    let missing = credential_path_of(
        &mine.organization_id,
        &mine.service_account_id,
        "zzzzzzzzzzzzzzzzzzzzzzzzzz",
    );
    let expected = shape(&app.get(&missing, &token));
    assert_eq!(expected.0, 404);

    for path in [
        credential_path(&theirs),
        credential_path_of("globex", &theirs.service_account_id, &theirs.credential_id),
        credential_path_of(&mine.organization_id, &theirs.service_account_id, &theirs.credential_id),
        credential_path_of(&mine.organization_id, &mine.service_account_id, &theirs.credential_id),
    ] {
        assert_eq!(shape(&app.get(&path, &token)), expected, "GET {path}");
    }
}

#[test]
fn updating_a_credential_of_another_organization_is_404_and_changes_nothing() {
    let app = spawn_app();
    let mine = app.admin("acme");
    let theirs = app.admin("globex");
    let token = app.token_for(&mine);
    let their_token = app.token_for(&theirs);
    let before = app.credential(&theirs, &their_token);

    for path in [
        credential_path(&theirs),
        credential_path_of("globex", &theirs.service_account_id, &theirs.credential_id),
        credential_path_of(&mine.organization_id, &theirs.service_account_id, &theirs.credential_id),
    ] {
        let response = app.patch_json(&path, &token, r#"{"name":"pwned","description":"pwned"}"#);

        assert_error(&response, 404, "not_found");
    }
    assert_eq!(app.credential(&theirs, &their_token), before);
}

#[test]
fn a_credential_addressed_under_the_wrong_service_account_is_404() {
    let app = spawn_app();
    let first = app.admin("acme");
    let second = app.admin("acme");
    let token = app.token_for(&first);
    let path = credential_path_of(&first.organization_id, &first.service_account_id, &second.credential_id);

    assert_error(&app.get(&path, &token), 404, "not_found");
    assert_error(&app.patch_json(&path, &token, r#"{"name":"x"}"#), 404, "not_found");
    assert_ne!(app.credential(&second, &token)["name"], "x");
}

#[test]
fn a_viewer_cannot_tell_another_organizations_credential_from_a_missing_one() {
    let app = spawn_app();
    let viewer = app.with_role("acme", "org_viewer");
    let theirs = app.admin("globex");
    let token = app.token_for(&viewer);
    let nothing = "zzzzzzzzzzzzzzzzzzzzzzzzzz";
    let (mine, sa) = (viewer.organization_id.as_str(), viewer.service_account_id.as_str());

    for (existing, missing) in [
        (
            credential_path(&theirs),
            credential_path_of(&theirs.organization_id, &theirs.service_account_id, nothing),
        ),
        (
            credential_path_of("globex", &theirs.service_account_id, &theirs.credential_id),
            credential_path_of("globex", nothing, nothing),
        ),
        (
            credential_path_of(mine, &theirs.service_account_id, &theirs.credential_id),
            credential_path_of(mine, sa, nothing),
        ),
    ] {
        let for_existing = app.patch_json(&existing, &token, r#"{"name":"x"}"#);
        let for_missing = app.patch_json(&missing, &token, r#"{"name":"x"}"#);

        assert!(
            matches!(for_existing.status, 403 | 404),
            "PATCH {existing}: {}",
            for_existing.text()
        );
        assert_eq!(
            shape(&for_existing),
            shape(&for_missing),
            "PATCH {existing} vs {missing}"
        );
    }
}
