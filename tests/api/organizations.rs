//! Organizations: a token sees exactly one, its own, by ID or by label; every other
//! organization is a 404.

use std::collections::BTreeSet;

use crate::helpers::{assert_error, is_resource_id, is_utc_millis_timestamp, keys_of, organization_path, spawn_app};

const ORGANIZATION_KEYS: [&str; 7] = [
    "id",
    "label",
    "name",
    "created_at",
    "updated_at",
    "sso_enabled",
    "zone_id",
];

#[test]
fn the_organization_list_holds_exactly_the_callers_organization() {
    let app = spawn_app();
    let admin = app.admin("acme");
    app.admin("globex");
    let token = app.token_for(&admin);

    let page = app.page("/organizations", "", &token);

    assert_eq!(page.ids, [admin.organization_id.as_str()], "{}", page.body);
    assert_eq!((page.has_prev, page.has_next), (false, false));
    let organization = &page.body["items"][0];
    let expected: BTreeSet<String> = ORGANIZATION_KEYS.map(String::from).into();
    assert_eq!(keys_of(organization), expected, "{organization}");
    assert!(is_resource_id(organization["id"].as_str().unwrap_or_default()));
    assert_eq!(organization["label"], "acme");
    assert!(
        organization["name"].as_str().is_some_and(|name| !name.is_empty()),
        "{organization}"
    );
    for field in ["created_at", "updated_at"] {
        assert!(
            is_utc_millis_timestamp(organization[field].as_str().unwrap_or_default()),
            "{field}: {organization}"
        );
    }
    assert_eq!(organization["sso_enabled"], false);
    assert_eq!(
        organization["zone_id"], organization["id"],
        "zone_id is the organization's own ID"
    );
}

#[test]
fn every_role_sees_its_own_organization_and_no_other() {
    let app = spawn_app();
    app.admin("globex");

    for role in ["org_admin", "org_member", "org_viewer"] {
        let who = app.with_role("acme", role);
        let token = app.token_for(&who);

        assert_eq!(
            app.page("/organizations", "", &token).ids,
            [who.organization_id.as_str()],
            "{role}"
        );
    }
}

#[test]
fn the_organization_reads_the_same_by_id_by_label_and_in_the_list() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let listed = app.page("/organizations", "", &token).body["items"][0].clone();

    let by_id = app.get_ok(&organization_path(&admin.organization_id), &token);
    let by_label = app.get_ok(&organization_path("acme"), &token);

    assert_eq!(by_id, listed);
    assert_eq!(by_label, listed);
}

#[test]
fn another_organization_is_404_by_id_and_by_label() {
    let app = spawn_app();
    let mine = app.admin("acme");
    let theirs = app.admin("globex");
    let token = app.token_for(&mine);

    for organization in [theirs.organization_id.as_str(), "globex", "no-such-org"] {
        assert_error(&app.get(&organization_path(organization), &token), 404, "not_found");
    }
}

#[test]
fn another_organization_looks_exactly_like_a_missing_one() {
    let app = spawn_app();
    let mine = app.admin("acme");
    let theirs = app.admin("globex");
    let token = app.token_for(&mine);
    let missing = app.get(&organization_path("no-such-org"), &token).json();

    for organization in [theirs.organization_id.as_str(), "globex"] {
        assert_eq!(
            app.get(&organization_path(organization), &token).json(),
            missing,
            "{organization}"
        );
    }
}

#[test]
fn expand_permissions_on_an_organization_reports_read() {
    let app = spawn_app();
    let viewer = app.with_role("acme", "org_viewer");
    let token = app.token_for(&viewer);

    let plain = app.get_ok(&organization_path("acme"), &token);
    let expanded = app.get_ok(&format!("{}?expand=permissions", organization_path("acme")), &token);

    assert!(plain.get("permissions").is_none(), "{plain}");
    assert_eq!(expanded["permissions"]["organizations"]["read"], true, "{expanded}");
}
