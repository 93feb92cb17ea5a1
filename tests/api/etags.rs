//! Optimistic concurrency (an addition to the Keycard API): credentials and service
//! accounts carry an `ETag`, and a PATCH or DELETE with `If-Match` applies only to
//! that version.

use std::sync::{Arc, Barrier};
use std::thread;

use crate::helpers::{
    assert_error, credential_path, credential_path_of, new_label, require_postgres, service_accounts_path, spawn_app,
    spawn_instances, Bootstrapped, TestApp, TestResponse,
};

/// A service account's API path.
fn service_account_path(who: &Bootstrapped) -> String {
    format!(
        "/organizations/{}/service-accounts/{}",
        who.organization_id, who.service_account_id
    )
}

/// The `ETag` of an answer, which must have one.
fn etag_of(response: &TestResponse) -> String {
    response
        .header("etag")
        .unwrap_or_else(|| panic!("no ETag: {}", response.everything()))
        .to_owned()
}

/// PATCH with a bearer token, a JSON body and, when given, `If-Match`.
fn patch(app: &TestApp, path: &str, token: &str, if_match: Option<&str>, body: &str) -> TestResponse {
    let authorization = format!("Bearer {token}");
    let mut headers = vec![
        ("Authorization", authorization.as_str()),
        ("Content-Type", "application/json"),
    ];
    if let Some(if_match) = if_match {
        headers.push(("If-Match", if_match));
    }
    app.request("PATCH", path, &headers, Some(body.as_bytes()))
}

#[test]
fn get_create_and_patch_answer_with_a_strong_etag() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    for path in [credential_path(&admin), service_account_path(&admin)] {
        let got = app.get(&path, &token);
        assert_eq!(got.status, 200, "{}", got.text());
        let etag = etag_of(&got);
        assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2, "{etag}");
        // The same state, the same tag.
        assert_eq!(etag_of(&app.get(&path, &token)), etag);
        assert_eq!(etag_of(&patch(&app, &path, &token, None, "{}")), etag);
    }
    let created = app.request(
        "POST",
        &format!("{}/credentials", service_account_path(&admin)),
        &[
            ("Authorization", &format!("Bearer {token}")),
            ("Content-Type", "application/json"),
        ],
        Some(br#"{"name":"second"}"#),
    );
    assert_eq!(created.status, 200, "{}", created.text());
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let path = format!("{}/credentials/{id}", service_account_path(&admin));
    assert_eq!(etag_of(&app.get(&path, &token)), etag_of(&created));
}

#[test]
fn a_matching_if_match_updates_and_returns_the_new_etag() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    for path in [credential_path(&admin), service_account_path(&admin)] {
        let etag = etag_of(&app.get(&path, &token));
        let updated = patch(&app, &path, &token, Some(&etag), r#"{"name":"renamed"}"#);
        assert_eq!(updated.status, 200, "{}", updated.text());
        assert_eq!(updated.json()["name"], "renamed");
        let new_etag = etag_of(&updated);
        assert_ne!(new_etag, etag, "a new name is a new version");
        assert_eq!(etag_of(&app.get(&path, &token)), new_etag);
        // A list of tags matches if any of them does.
        let listed = format!("\"nope\", {new_etag}");
        let again = patch(&app, &path, &token, Some(&listed), r#"{"description":"d"}"#);
        assert_eq!(again.status, 200, "{}", again.text());
    }
}

#[test]
fn a_stale_if_match_is_a_412_and_changes_nothing() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    for path in [credential_path(&admin), service_account_path(&admin)] {
        let stale = etag_of(&app.get(&path, &token));
        assert_eq!(patch(&app, &path, &token, None, r#"{"name":"first"}"#).status, 200);
        let before = app.get(&path, &token);

        for if_match in [stale.as_str(), "\"made-up\"", "W/\"weak\"", "garbage"] {
            let refused = patch(&app, &path, &token, Some(if_match), r#"{"name":"second"}"#);
            assert_error(&refused, 412, "precondition_failed");
        }

        let after = app.get(&path, &token);
        assert_eq!(after.json(), before.json());
        assert_eq!(etag_of(&after), etag_of(&before));
    }
}

#[test]
fn if_match_star_matches_any_existing_version_and_a_missing_resource_is_still_404() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    for path in [credential_path(&admin), service_account_path(&admin)] {
        let updated = patch(&app, &path, &token, Some("*"), r#"{"description":"any"}"#);
        assert_eq!(updated.status, 200, "{}", updated.text());
        assert_eq!(updated.json()["description"], "any");
    }
    let missing = format!("{}/credentials/nosuchcredential", service_account_path(&admin));
    assert_error(&patch(&app, &missing, &token, Some("*"), "{}"), 404, "not_found");
}

#[test]
fn the_etag_changes_exactly_when_a_stored_field_changes() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let path = service_account_path(&admin);
    let mut etag = etag_of(&app.get(&path, &token));
    let current = app.get(&path, &token).json();
    let role = current["role"].as_str().unwrap().to_owned();
    let name = current["name"].as_str().unwrap().to_owned();
    // Writing the values already stored is no change: same tag.
    let same = serde_json::json!({ "name": name, "role": role }).to_string();
    assert_eq!(etag_of(&patch(&app, &path, &token, Some(&etag), &same)), etag);
    for body in [
        r#"{"name":"n2"}"#,
        r#"{"description":"d2"}"#,
        r#"{"role":"org_admin","description":"d3"}"#,
    ] {
        let next = etag_of(&patch(&app, &path, &token, Some(&etag), body));
        assert_ne!(next, etag, "{body}");
        etag = next;
    }

    // Minting a token moves the credential's last_used_at, which is not an edit.
    let credential = credential_path(&admin);
    let before = etag_of(&app.get(&credential, &token));
    let _ = app.token_for(&admin);
    assert_eq!(etag_of(&app.get(&credential, &token)), before);
}

/// Sends two PATCHes carrying the same `If-Match` at once, one through each of `apps`,
/// and returns their statuses, sorted. Both set a name new in `round`: a PATCH that
/// changes nothing rightly succeeds whatever came first.
fn race(apps: [&TestApp; 2], path: &str, token: &str, etag: &str, round: usize) -> Vec<u16> {
    let barrier = Arc::new(Barrier::new(2));
    let statuses = thread::scope(|scope| {
        let handles: Vec<_> = apps
            .into_iter()
            .enumerate()
            .map(|(index, app)| {
                let barrier = Arc::clone(&barrier);
                scope.spawn(move || {
                    let body = format!(r#"{{"name":"writer-{round}-{index}"}}"#);
                    barrier.wait();
                    patch(app, path, token, Some(etag), &body)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect::<Vec<_>>()
    });
    for response in &statuses {
        if response.status == 412 {
            assert_error(response, 412, "precondition_failed");
        }
    }
    let mut statuses: Vec<u16> = statuses.iter().map(|response| response.status).collect();
    statuses.sort();
    statuses
}

#[test]
fn of_two_concurrent_patches_with_one_if_match_exactly_one_wins() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    for round in 0..5 {
        for path in [credential_path(&admin), service_account_path(&admin)] {
            let etag = etag_of(&app.get(&path, &token));
            assert_eq!(
                race([&app, &app], &path, &token, &etag, round),
                [200, 412],
                "round {round}: {path}"
            );
        }
    }
}

#[test]
#[ignore = "PostgreSQL only: runs with KEYCRED_TEST_BACKEND=postgres and --include-ignored (scripts/test.sh)"]
fn of_two_concurrent_patches_through_two_instances_exactly_one_wins() {
    require_postgres();
    let apps = spawn_instances(2);
    let admin = apps[0].admin(&new_label());
    let token = apps[1].token_for(&admin);
    for round in 0..5 {
        for path in [credential_path(&admin), service_account_path(&admin)] {
            let etag = etag_of(&apps[0].get(&path, &token));
            assert_eq!(
                race([&apps[0], &apps[1]], &path, &token, &etag, round),
                [200, 412],
                "round {round}: {path}"
            );
        }
    }
}

/// DELETE with a bearer token and, when given, `If-Match`.
fn delete(app: &TestApp, path: &str, token: &str, if_match: Option<&str>) -> TestResponse {
    let authorization = format!("Bearer {token}");
    let mut headers = vec![("Authorization", authorization.as_str())];
    if let Some(if_match) = if_match {
        headers.push(("If-Match", if_match));
    }
    app.request("DELETE", path, &headers, None)
}

/// The paths of a fresh service account and of one credential of it.
fn fresh_service_account_and_credential(app: &TestApp, admin: &Bootstrapped, token: &str) -> [String; 2] {
    let service_account = app.new_service_account(admin, token, "org_viewer");
    let credential = app.new_credentials(admin, token, &service_account, 1).remove(0);
    let service_account_path = service_accounts_path(&admin.organization_id) + "/" + &service_account;
    let credential_path = credential_path_of(&admin.organization_id, &service_account, &credential);
    [service_account_path, credential_path]
}

#[test]
fn a_delete_with_a_stale_if_match_is_a_412_and_deletes_nothing() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);

    for path in fresh_service_account_and_credential(&app, &admin, &token)
        .into_iter()
        .rev()
    {
        let stale = etag_of(&app.get(&path, &token));
        assert_eq!(patch(&app, &path, &token, None, r#"{"name":"renamed"}"#).status, 200);

        let refused = delete(&app, &path, &token, Some(&stale));

        assert_error(&refused, 412, "precondition_failed");
        assert_eq!(app.get(&path, &token).status, 200, "{path} was deleted anyway");
    }
}

#[test]
fn a_delete_with_a_matching_if_match_deletes_and_a_missing_resource_is_still_404() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);

    for path in fresh_service_account_and_credential(&app, &admin, &token)
        .into_iter()
        .rev()
    {
        let current = etag_of(&app.get(&path, &token));

        assert_eq!(delete(&app, &path, &token, Some(&current)).status, 204, "{path}");

        assert_eq!(app.get(&path, &token).status, 404);
        assert_error(&delete(&app, &path, &token, Some(&current)), 404, "not_found");
        assert_error(&delete(&app, &path, &token, Some("*")), 404, "not_found");
    }
}
