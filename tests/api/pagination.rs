//! Cursor pagination of the three lists: `limit` and its bounds, empty and exact
//! pages, `after` and `before`, and whole walks in both directions.

use crate::helpers::{
    assert_error, credentials_path, ids_of, next_millisecond, service_accounts_path, spawn_app, Bootstrapped, Page,
    TestApp,
};

/// An admin, its token, and a fresh service account with no credentials.
fn admin_with_empty_service_account(app: &TestApp) -> (Bootstrapped, String, String) {
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let service_account = app.new_service_account(&admin, &token, "org_viewer");
    (admin, token, service_account)
}

/// Asserts a page's items and both flags.
fn assert_page(page: &Page, ids: &[String], has_prev: bool, has_next: bool) {
    assert_eq!(page.ids, ids, "items of {}", page.body);
    assert_eq!(
        (page.has_prev, page.has_next),
        (has_prev, has_next),
        "has_prev/has_next of {}",
        page.body
    );
}

#[test]
fn a_credential_list_has_50_items_by_default() {
    let app = spawn_app();
    let (admin, token, service_account) = admin_with_empty_service_account(&app);
    for n in 0..51 {
        app.new_credential(&admin, &token, &service_account, &format!("c{n}"));
    }
    let path = credentials_path(&admin.organization_id, &service_account);

    let first = app.page(&path, "", &token);
    let everything = app.page(&path, "limit=100", &token);

    assert_eq!((first.ids.len(), first.has_prev, first.has_next), (50, false, true));
    assert_eq!(
        (everything.ids.len(), everything.has_prev, everything.has_next),
        (51, false, false)
    );
    assert_eq!(first.ids, everything.ids[..50]);
}

#[test]
fn a_service_account_list_has_50_items_by_default() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    for _ in 0..50 {
        app.new_service_account(&admin, &token, "org_viewer");
    }
    let path = service_accounts_path(&admin.organization_id);

    let first = app.page(&path, "", &token);
    let rest = app.page(&path, &format!("after={}", first.end()), &token);

    assert_eq!((first.ids.len(), first.has_prev, first.has_next), (50, false, true));
    assert_eq!((rest.ids.len(), rest.has_prev, rest.has_next), (1, true, false));
}

#[test]
fn limit_must_be_an_integer_from_1_to_100() {
    let app = spawn_app();
    let (admin, token, service_account) = admin_with_empty_service_account(&app);

    for path in [
        "/organizations".to_owned(),
        service_accounts_path(&admin.organization_id),
        credentials_path(&admin.organization_id, &service_account),
    ] {
        for limit in ["0", "101", "-1", "abc", "1.5", "1000000000000"] {
            let response = app.get(&format!("{path}?limit={limit}"), &token);

            assert_error(&response, 400, "invalid_request");
        }
        for limit in ["1", "100"] {
            assert_eq!(
                app.get(&format!("{path}?limit={limit}"), &token).status,
                200,
                "{path}?limit={limit}"
            );
        }
    }
}

#[test]
fn an_empty_list_has_no_items_no_cursors_and_no_more_pages() {
    let app = spawn_app();
    let (admin, token, service_account) = admin_with_empty_service_account(&app);

    let page = app.page(&credentials_path(&admin.organization_id, &service_account), "", &token);

    assert_eq!(page.body["items"], serde_json::json!([]), "{}", page.body);
    assert_page(&page, &[], false, false);
    assert_eq!((page.start_cursor, page.end_cursor), (None, None), "{}", page.body);
}

#[test]
fn exactly_limit_items_fit_on_one_page() {
    let app = spawn_app();
    let (admin, token, service_account) = admin_with_empty_service_account(&app);
    let ids = app.new_credentials(&admin, &token, &service_account, 3);

    let page = app.page(
        &credentials_path(&admin.organization_id, &service_account),
        "limit=3",
        &token,
    );

    assert_page(&page, &ids, false, false);
    assert!(
        page.start_cursor.is_some() && page.end_cursor.is_some(),
        "{}",
        page.body
    );
}

#[test]
fn one_item_more_than_limit_makes_a_next_page() {
    let app = spawn_app();
    let (admin, token, service_account) = admin_with_empty_service_account(&app);
    let ids = app.new_credentials(&admin, &token, &service_account, 4);
    let path = credentials_path(&admin.organization_id, &service_account);

    let first = app.page(&path, "limit=3", &token);
    let second = app.page(&path, &format!("limit=3&after={}", first.end()), &token);

    assert_page(&first, &ids[..3], false, true);
    assert_page(&second, &ids[3..], true, false);
}

#[test]
fn before_the_start_cursor_of_a_later_page_gives_the_page_before_it() {
    let app = spawn_app();
    let (admin, token, service_account) = admin_with_empty_service_account(&app);
    let ids = app.new_credentials(&admin, &token, &service_account, 6);
    let path = credentials_path(&admin.organization_id, &service_account);
    let first = app.page(&path, "limit=2", &token);
    let second = app.page(&path, &format!("limit=2&after={}", first.end()), &token);

    let back_to_first = app.page(&path, &format!("limit=2&before={}", second.start()), &token);
    let back_to_second = app.page(&path, &format!("limit=2&before={}", second.end()), &token);

    assert_page(&second, &ids[2..4], true, true);
    assert_page(&back_to_first, &ids[..2], false, true);
    assert_eq!(back_to_first.ids, first.ids);
    assert_page(&back_to_second, &ids[1..3], true, true);
}

#[test]
fn after_the_last_item_the_page_is_empty_and_says_what_lies_behind() {
    let app = spawn_app();
    let (admin, token, service_account) = admin_with_empty_service_account(&app);
    let ids = app.new_credentials(&admin, &token, &service_account, 2);
    let path = credentials_path(&admin.organization_id, &service_account);
    let all = app.page(&path, "", &token);

    let past_the_end = app.page(&path, &format!("after={}", all.end()), &token);
    let before_the_start = app.page(&path, &format!("before={}", all.start()), &token);

    assert_page(&all, &ids, false, false);
    assert_page(&past_the_end, &[], true, false);
    assert_page(&before_the_start, &[], false, true);
}

#[test]
fn walking_credentials_forward_then_backward_visits_every_item_once_in_creation_order() {
    let app = spawn_app();
    let (admin, token, service_account) = admin_with_empty_service_account(&app);
    let ids = app.new_credentials(&admin, &token, &service_account, 7);
    let path = credentials_path(&admin.organization_id, &service_account);

    for limit in [1, 2, 3, 6, 7, 100] {
        let forward = app.walk_forward(&path, limit, &token);
        let last = forward.last().expect("at least one page");
        let mut backward = app.walk_backward(&path, limit, last.start(), &token);
        backward.reverse();
        backward.push(last.clone());

        assert_eq!(ids_of(&forward), ids, "forward with limit {limit}");
        assert_eq!(ids_of(&backward), ids, "backward with limit {limit}");
        assert_eq!(
            forward.len(),
            ids.len().div_ceil(limit),
            "pages forward with limit {limit}"
        );
        for (n, page) in forward.iter().enumerate() {
            assert_eq!(
                (page.has_prev, page.has_next),
                (n > 0, n + 1 < forward.len()),
                "page {n}, limit {limit}"
            );
        }
        assert!(!backward[0].has_prev, "the first page backward with limit {limit}");
    }
}

#[test]
fn walking_service_accounts_forward_then_backward_visits_every_item_once_in_creation_order() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let mut ids = vec![admin.service_account_id.clone()];
    for _ in 0..6 {
        next_millisecond();
        ids.push(app.new_service_account(&admin, &token, "org_viewer"));
    }
    let path = service_accounts_path(&admin.organization_id);

    for limit in [1, 2, 4, 7] {
        let forward = app.walk_forward(&path, limit, &token);
        let last = forward.last().expect("at least one page");
        let mut backward = app.walk_backward(&path, limit, last.start(), &token);
        backward.reverse();
        backward.push(last.clone());

        assert_eq!(ids_of(&forward), ids, "forward with limit {limit}");
        assert_eq!(ids_of(&backward), ids, "backward with limit {limit}");
    }
}

#[test]
fn the_organization_list_pages_like_the_others() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);

    let only = app.page("/organizations", "limit=1", &token);
    let after = app.page("/organizations", &format!("after={}", only.end()), &token);
    let before = app.page("/organizations", &format!("before={}", only.start()), &token);

    assert_page(&only, std::slice::from_ref(&admin.organization_id), false, false);
    assert_page(&after, &[], true, false);
    assert_page(&before, &[], false, true);
}

#[test]
fn expand_permissions_puts_permissions_on_every_list() {
    let app = spawn_app();
    let (admin, token, service_account) = admin_with_empty_service_account(&app);

    for (path, resource) in [
        ("/organizations".to_owned(), "organizations"),
        (service_accounts_path(&admin.organization_id), "service_accounts"),
        (
            credentials_path(&admin.organization_id, &service_account),
            "service_account_credentials",
        ),
    ] {
        let plain = app.page(&path, "", &token);
        let expanded = app.page(&path, "expand=permissions", &token);

        assert!(plain.body.get("permissions").is_none(), "{}", plain.body);
        assert_eq!(
            expanded.body["permissions"][resource]["read"], true,
            "{}",
            expanded.body
        );
        assert_eq!(expanded.ids, plain.ids);
    }
}
