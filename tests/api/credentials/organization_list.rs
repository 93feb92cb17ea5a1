//! `GET /organizations/{organization_id}/credentials`: every credential of the
//! organization across its service accounts, in list order, paged both ways; its
//! filters (`status`, `expires_before`, `last_used_before`), refused with a 400 when
//! malformed; cursors bound to the list and the filters they were issued with; every
//! role may read it, and another organization's is a 404 like a missing one.

use serde_json::Value;

use crate::helpers::{
    assert_error, credential_path_of, credentials_path, ids_of, message_of, next_millisecond,
    organization_credentials_path, spawn_app, string_field, with_query, Bootstrapped, TestApp,
};

/// An organization with an admin (whose own credential minted the token) and three
/// more service accounts holding `per_service_account` credentials each, made in
/// turns so that neighbours in the list belong to different service accounts.
struct Organization {
    admin: Bootstrapped,
    token: String,
    /// Every credential of the organization, in creation order, with its service account.
    credentials: Vec<(String, String)>,
}

impl Organization {
    fn path(&self) -> String {
        organization_credentials_path(&self.admin.organization_id)
    }

    fn ids(&self) -> Vec<String> {
        self.credentials.iter().map(|(id, _)| id.clone()).collect()
    }
}

fn organization_with_credentials(app: &TestApp, label: &str, per_service_account: usize) -> Organization {
    let admin = app.admin(label);
    let token = app.token_for(&admin);
    let service_accounts: Vec<String> = ["org_admin", "org_member", "org_viewer"]
        .iter()
        .map(|role| app.new_service_account(&admin, &token, role))
        .collect();
    let mut credentials = vec![(admin.credential_id.clone(), admin.service_account_id.clone())];
    for round in 0..per_service_account {
        for service_account in &service_accounts {
            next_millisecond();
            let made = app.new_credential(&admin, &token, service_account, &format!("credential-{round}"));
            credentials.push((made.credential_id, service_account.clone()));
        }
    }
    Organization {
        admin,
        token,
        credentials,
    }
}

/// The IDs of every credential the list at `path` (with its filters) shows.
fn listed(app: &TestApp, path: &str, token: &str) -> Vec<String> {
    app.all_ids(path, token)
}

#[test]
fn the_organization_list_holds_every_credential_of_every_service_account_in_order() {
    let app = spawn_app();
    let organization = organization_with_credentials(&app, "acme", 3);
    let elsewhere = organization_with_credentials(&app, "globex", 1);

    let page = app.page(&organization.path(), "limit=100", &organization.token);

    assert_eq!(page.ids, organization.ids());
    assert!(!page.has_prev && !page.has_next, "{}", page.body);
    let items = page.body["items"].as_array().expect("items");
    for (item, (id, service_account)) in items.iter().zip(&organization.credentials) {
        assert_eq!(item["id"], id.as_str());
        assert_eq!(item["service_account_id"], service_account.as_str(), "{item}");
        assert!(item.get("client_secret").is_none(), "{item}");
        assert!(item.get("permissions").is_none(), "{item}");
    }
    let theirs = listed(&app, &elsewhere.path(), &elsewhere.token);
    assert_eq!(theirs, elsewhere.ids());
}

#[test]
fn the_organization_list_pages_forward_and_backward_across_service_accounts() {
    let app = spawn_app();
    let organization = organization_with_credentials(&app, "acme", 3);
    let (path, token) = (organization.path(), organization.token.as_str());
    let all = organization.ids();

    for limit in [1, 2, 3, 4] {
        let forward = app.walk_forward(&path, limit, token);
        assert_eq!(ids_of(&forward), all, "limit {limit}: forward");
        assert_eq!(forward.len(), all.len().div_ceil(limit), "limit {limit}");
        for (index, page) in forward.iter().enumerate() {
            assert_eq!(page.has_prev, index > 0, "limit {limit}, page {index}");
            assert_eq!(page.has_next, index + 1 < forward.len(), "limit {limit}, page {index}");
        }

        let last = forward.last().expect("a page");
        let mut backward = app.walk_backward(&path, limit, last.start(), token);
        backward.reverse();
        backward.push(last.clone());
        assert_eq!(ids_of(&backward), all, "limit {limit}: backward");
    }
}

#[test]
fn every_credential_response_carries_its_service_account_id() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let service_account = app.new_service_account(&admin, &token, "org_viewer");
    let made = app.new_credential(&admin, &token, &service_account, "owned");
    let path = credential_path_of(&admin.organization_id, &service_account, &made.credential_id);

    let got = app.get_ok(&path, &token);
    let patched = app.patch_json(&path, &token, r#"{"name":"renamed"}"#);
    let listed = app.page(&credentials_path(&admin.organization_id, &service_account), "", &token);

    assert_eq!(got["service_account_id"], service_account.as_str());
    assert_eq!(patched.status, 200, "{}", patched.text());
    assert_eq!(patched.json()["service_account_id"], service_account.as_str());
    assert_eq!(listed.body["items"][0]["service_account_id"], service_account.as_str());
}

#[test]
fn last_used_before_keeps_never_used_credentials_and_those_used_before_it() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let service_account = app.new_service_account(&admin, &token, "org_viewer");
    let never_used = app.new_credential(&admin, &token, &service_account, "never-used");
    let used = app.new_credential(&admin, &token, &service_account, "used");
    next_millisecond();
    app.token_for(&used);
    let used_at = string_field(&app.credential(&used, &token), "last_used_at");
    let admin_used_at = string_field(&app.credential(&admin, &token), "last_used_at");
    assert!(admin_used_at < used_at, "{admin_used_at} then {used_at}");
    let path = organization_credentials_path(&admin.organization_id);
    let before = |time: &str| listed(&app, &with_query(&path, &format!("last_used_before={time}")), &token);

    assert_eq!(
        before(&used_at),
        [admin.credential_id.clone(), never_used.credential_id.clone()]
    );
    assert_eq!(
        before("2000-01-01T00:00:00Z"),
        std::slice::from_ref(&never_used.credential_id)
    );
    assert_eq!(
        before("2999-01-01T00:00:00.000Z"),
        [admin.credential_id, never_used.credential_id, used.credential_id]
    );
}

#[test]
fn credentials_without_expiry_are_active_and_never_expire_before_anything() {
    let app = spawn_app();
    let organization = organization_with_credentials(&app, "acme", 1);
    let (path, token) = (organization.path(), organization.token.as_str());
    let filtered = |query: &str| listed(&app, &with_query(&path, query), token);

    assert_eq!(filtered("status=active"), organization.ids());
    assert!(filtered("status=disabled").is_empty());
    assert!(filtered("status=expired").is_empty());
    assert!(filtered("expires_before=2999-01-01T00:00:00Z").is_empty());
    assert_eq!(
        filtered("status=active&last_used_before=2999-01-01T00:00:00Z"),
        organization.ids()
    );
}

#[test]
fn status_and_expires_before_tell_disabled_expired_and_expiring_credentials_apart() {
    let app = spawn_app();
    let organization = organization_with_credentials(&app, "acme", 2);
    let ids = organization.ids();
    let token = organization.token.as_str();
    // Disabled and expiring through the API; an expiry cannot be set in the past, so
    // two credentials get one a moment ahead, and the test waits for it to pass.
    let soon = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let soon = soon.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let change = |index: usize, body: String| {
        let (id, service_account) = &organization.credentials[index];
        let path = credential_path_of(&organization.admin.organization_id, service_account, id);
        let response = app.patch_json(&path, token, &body);
        assert_eq!(response.status, 200, "{}", response.text());
    };
    change(1, r#"{"status":"disabled"}"#.to_owned());
    change(2, format!(r#"{{"expires_at":"{soon}"}}"#));
    change(3, r#"{"expires_at":"3000-01-01T00:00:00Z"}"#.to_owned());
    change(4, format!(r#"{{"status":"disabled","expires_at":"{soon}"}}"#));
    let (path, token) = (organization.path(), organization.token.as_str());
    let filtered = |query: &str| listed(&app, &with_query(&path, query), token);
    let pick = |indexes: &[usize]| indexes.iter().map(|index| ids[*index].clone()).collect::<Vec<_>>();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while filtered("status=expired") != pick(&[2]) {
        assert!(std::time::Instant::now() < deadline, "the expiry never passed");
        std::thread::sleep(std::time::Duration::from_millis(25));
    }

    assert_eq!(filtered("status=active"), pick(&[0, 3, 5, 6]));
    assert_eq!(filtered("status=disabled"), pick(&[1, 4]));
    assert_eq!(filtered("status=expired"), pick(&[2]));
    assert_eq!(filtered("expires_before=2999-01-01T00:00:00Z"), pick(&[2, 4]));
    assert_eq!(filtered("expires_before=3000-01-01T00:00:00.001Z"), pick(&[2, 3, 4]));
    assert_eq!(
        filtered("status=active&expires_before=3000-01-01T00:00:00.001Z"),
        pick(&[3])
    );
    // The items say the same of themselves.
    let page = app.page(&path, "limit=100", token);
    let items = page.body["items"].as_array().expect("items");
    let statuses: Vec<&str> = items
        .iter()
        .map(|item| item["status"].as_str().expect("status"))
        .collect();
    assert_eq!(
        statuses,
        ["active", "disabled", "expired", "active", "disabled", "active", "active"]
    );
    assert_eq!(items[3]["expires_at"], "3000-01-01T00:00:00.000Z", "{}", items[3]);
    assert!(items[0].get("expires_at").is_none(), "{}", items[0]);
    // Paged one at a time, a filtered list still walks both ways.
    let active = with_query(&path, "status=active");
    let forward = app.walk_forward(&active, 1, token);
    assert_eq!(ids_of(&forward), pick(&[0, 3, 5, 6]));
    let last = forward.last().expect("a page");
    let mut backward = app.walk_backward(&active, 1, last.start(), token);
    backward.reverse();
    assert_eq!(ids_of(&backward), pick(&[0, 3, 5]));
}

#[test]
fn malformed_filters_are_400_naming_the_filter() {
    let app = spawn_app();
    let organization = organization_with_credentials(&app, "acme", 0);
    let path = organization.path();

    for (query, field) in [
        ("status=stale", "status"),
        ("status=Active", "status"),
        ("status=active&status=disabled", "status"),
        ("expires_before=tomorrow", "expires_before"),
        ("expires_before=2020-13-01T00:00:00Z", "expires_before"),
        ("expires_before=2020-01-01", "expires_before"),
        ("last_used_before=1577836800000", "last_used_before"),
        ("last_used_before=", "last_used_before"),
    ] {
        let response = app.get(&with_query(&path, query), &organization.token);

        assert_error(&response, 400, "invalid_request");
        let message = message_of(&response);
        assert!(message.starts_with(&format!("{field}: ")), "{query}: {message}");
    }
}

#[test]
fn a_cursor_is_refused_with_other_filters_and_by_the_other_credential_list() {
    let app = spawn_app();
    let organization = organization_with_credentials(&app, "acme", 2);
    let (path, token) = (organization.path(), organization.token.as_str());
    let active = with_query(&path, "status=active");
    let cursor = app.page(&active, "limit=2", token).end().to_owned();
    let service_account_list = credentials_path(&organization.admin.organization_id, &organization.credentials[1].1);
    let their_cursor = app.page(&service_account_list, "limit=1", token).end().to_owned();

    let same = app.page(&active, &format!("limit=2&after={cursor}"), token);
    assert_eq!(same.ids, organization.ids()[2..4]);
    for (list, query) in [
        (path.clone(), format!("after={cursor}")),
        (path.clone(), format!("status=disabled&before={cursor}")),
        (
            path.clone(),
            format!("status=active&last_used_before=2999-01-01T00:00:00Z&after={cursor}"),
        ),
        (
            path.clone(),
            format!("status=active&expires_before=2999-01-01T00:00:00Z&after={cursor}"),
        ),
        (service_account_list.clone(), format!("after={cursor}")),
        (path.clone(), format!("after={their_cursor}")),
        (path.clone(), format!("before={their_cursor}")),
    ] {
        let response = app.get(&with_query(&list, &query), token);

        assert_error(&response, 400, "invalid_request");
    }
    // The same instant written another way is the same filter.
    let since = with_query(&path, "last_used_before=2999-01-01T00:00:00Z");
    let cursor = app.page(&since, "limit=1", token).end().to_owned();
    let respelled = with_query(&path, "last_used_before=2999-01-01T01:00:00.000%2B01:00");
    assert_eq!(
        app.get(&with_query(&respelled, &format!("after={cursor}")), token)
            .status,
        200
    );
}

#[test]
fn every_role_may_read_the_organization_list() {
    let app = spawn_app();
    let organization = organization_with_credentials(&app, "acme", 1);
    let mut expected = organization.ids();

    for role in ["org_admin", "org_member", "org_viewer"] {
        let caller = app.with_role("acme", role);
        let token = app.token_for(&caller);
        expected.push(caller.credential_id.clone());

        assert_eq!(listed(&app, &organization.path(), &token), expected, "{role}");
    }
}

#[test]
fn expand_permissions_adds_the_callers_permissions_to_the_page_only() {
    let app = spawn_app();
    let viewer = app.with_role("acme", "org_viewer");
    let token = app.token_for(&viewer);
    let path = organization_credentials_path("acme");

    let body = app.get_ok(&with_query(&path, "expand=permissions"), &token);

    let permissions = &body["permissions"]["service_account_credentials"];
    assert_eq!(permissions["read"], true, "{body}");
    assert_eq!(permissions["update"], false, "{body}");
    assert!(body["items"][0].get("permissions").is_none(), "{body}");
    assert!(app.get_ok(&path, &token).get("permissions").is_none());
}

#[test]
fn another_organizations_list_is_a_404_exactly_like_a_missing_organizations() {
    let app = spawn_app();
    let mine = app.admin("acme");
    let theirs = app.admin("globex");
    let token = app.token_for(&mine);
    let shape = |path: &str| {
        let response = app.get(path, &token);
        assert_error(&response, 404, "not_found");
        let body: Value = response.json();
        (body["code"].clone(), body["message"].clone())
    };

    let missing = shape(&organization_credentials_path("no-such-org"));
    for organization in [theirs.organization_id.as_str(), "globex"] {
        assert_eq!(
            shape(&organization_credentials_path(organization)),
            missing,
            "{organization}"
        );
    }
    assert_eq!(
        listed(&app, &organization_credentials_path("acme"), &token),
        [mine.credential_id]
    );
}
