//! `DELETE …/credentials/{credential_id}`: a 204 with no body, after which the
//! credential is gone, cannot mint tokens, and the tokens it minted stop working.

use crate::helpers::{
    assert_error, assert_token_error, credential_path, credential_path_of, credentials_path, organization_path,
    spawn_app, Bootstrapped, TestApp, MISSING_ID,
};

/// An admin with its token, and a second credential of a fresh service account.
fn admin_and_victim(app: &TestApp) -> (Bootstrapped, String, Bootstrapped) {
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let service_account = app.new_service_account(&admin, &token, "org_admin");
    let victim = app.new_credential(&admin, &token, &service_account, "doomed");
    (admin, token, victim)
}

#[test]
fn deleting_a_credential_is_204_with_an_empty_body() {
    let app = spawn_app();
    let (_, token, victim) = admin_and_victim(&app);

    let response = app.delete(&credential_path(&victim), &token);

    assert_eq!(response.status, 204, "{}", response.text());
    assert!(response.body.is_empty(), "a 204 with a body: {:?}", response.text());
}

#[test]
fn a_deleted_credential_is_404_to_get_patch_and_a_second_delete() {
    let app = spawn_app();
    let (_, token, victim) = admin_and_victim(&app);
    let path = credential_path(&victim);
    assert_eq!(app.delete(&path, &token).status, 204);

    assert_error(&app.get(&path, &token), 404, "not_found");
    assert_error(&app.patch_json(&path, &token, r#"{"name":"undead"}"#), 404, "not_found");
    assert_error(&app.delete(&path, &token), 404, "not_found");
}

#[test]
fn a_deleted_credential_is_gone_from_its_list_and_its_siblings_stay() {
    let app = spawn_app();
    let (admin, token, victim) = admin_and_victim(&app);
    let sibling = app.new_credential(&admin, &token, &victim.service_account_id, "survivor");
    let list = credentials_path(&victim.organization_id, &victim.service_account_id);
    assert_eq!(app.all_ids(&list, &token).len(), 2);

    assert_eq!(app.delete(&credential_path(&victim), &token).status, 204);

    assert_eq!(app.all_ids(&list, &token), vec![sibling.credential_id.clone()]);
    let sibling_token = app.token_for(&sibling);
    assert_eq!(app.get(&credential_path(&sibling), &sibling_token).status, 200);
}

#[test]
fn a_deleted_credential_cannot_mint_tokens() {
    let app = spawn_app();
    let (_, token, victim) = admin_and_victim(&app);
    assert_eq!(app.delete(&credential_path(&victim), &token).status, 204);

    let by_basic = app.post_token("grant_type=client_credentials", Some(&victim));
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        victim.client_id, victim.client_secret
    );
    let headers = [("Content-Type", "application/x-www-form-urlencoded")];
    let by_form = app.request("POST", "/service-account-token", &headers, Some(form.as_bytes()));

    assert_token_error(&by_basic, 401, "invalid_client", "invalid_client");
    assert_token_error(&by_form, 401, "invalid_client", "invalid_client");
}

#[test]
fn a_token_minted_before_the_delete_stops_working_at_once() {
    let app = spawn_app();
    let (_, token, victim) = admin_and_victim(&app);
    let victim_token = app.token_for(&victim);
    let own_organization = organization_path(&victim.organization_id);
    assert_eq!(app.get(&own_organization, &victim_token).status, 200);

    assert_eq!(app.delete(&credential_path(&victim), &token).status, 204);

    for path in ["/organizations", own_organization.as_str()] {
        assert_error(&app.get(path, &victim_token), 401, "unauthorized");
    }
    let create = app.post_json(
        &credentials_path(&victim.organization_id, &victim.service_account_id),
        &victim_token,
        r#"{"name":"revenge"}"#,
    );
    assert_error(&create, 401, "unauthorized");
}

#[test]
fn a_credential_can_delete_itself_and_its_token_dies_with_it() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);

    assert_eq!(app.delete(&credential_path(&admin), &token).status, 204);

    assert_error(&app.get("/organizations", &token), 401, "unauthorized");
    assert_token_error(
        &app.post_token("grant_type=client_credentials", Some(&admin)),
        401,
        "invalid_client",
        "invalid_client",
    );
}

#[test]
fn the_deleted_credentials_other_tokens_all_stop_working() {
    let app = spawn_app();
    let (_, token, victim) = admin_and_victim(&app);
    let tokens: Vec<String> = (0..3).map(|_| app.token_for(&victim)).collect();

    assert_eq!(app.delete(&credential_path(&victim), &token).status, 204);

    for victim_token in &tokens {
        assert_error(&app.get("/organizations", victim_token), 401, "unauthorized");
    }
    assert_eq!(
        app.get("/organizations", &token).status,
        200,
        "the deleter's own token broke"
    );
}

#[test]
fn deleting_a_credential_that_never_existed_is_404() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let path = credential_path_of(&admin.organization_id, &admin.service_account_id, MISSING_ID);

    assert_error(&app.delete(&path, &token), 404, "not_found");
    assert_eq!(app.get(&credential_path(&admin), &token).status, 200);
}
