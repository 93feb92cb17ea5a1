//! Cursor pagination of the three lists: `limit` and its bounds, empty and exact
//! pages, `after` and `before`, and whole walks in both directions; cursors belong to
//! one list, are refused (400, never 500) when malformed, too long or foreign, keep
//! working after their item is deleted, and let a walk survive concurrent writes
//! without duplicating or skipping anything.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use crate::helpers::{
    assert_error, credential_path_of, credentials_path, duplicates, ids_of, next_millisecond, service_account_path,
    service_accounts_path, spawn_app, Bootstrapped, Page, TestApp,
};

/// An admin, its token, and a fresh service account with no credentials.
fn admin_with_empty_service_account(app: &TestApp) -> (Bootstrapped, String, String) {
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let service_account = app.new_service_account(&admin, &token, "org_viewer");
    (admin, token, service_account)
}

/// An admin, its token, and a fresh service account with `count` credentials (in creation order).
fn service_account_with_credentials(app: &TestApp, count: usize) -> (Bootstrapped, String, String, Vec<String>) {
    let (admin, token, service_account) = admin_with_empty_service_account(app);
    let ids = app.new_credentials(&admin, &token, &service_account, count);
    (admin, token, service_account, ids)
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

/// The `default` of `limit` in the spec the server serves, so that changing the
/// spec's default changes both the server and these tests.
fn default_limit_in_the_served_spec(app: &TestApp) -> usize {
    let response = app.request("GET", "/openapi.json", &[], None);
    assert_eq!(response.status, 200, "{}", response.text());
    let default = &response.json()["components"]["parameters"]["Limit"]["schema"]["default"];
    let default = default
        .as_u64()
        .unwrap_or_else(|| panic!("limit has an integer default: {default}"));
    usize::try_from(default).expect("a page size")
}

#[test]
fn a_credential_list_has_the_specs_default_number_of_items_when_limit_is_not_given() {
    let app = spawn_app();
    let default = default_limit_in_the_served_spec(&app);
    let (admin, token, service_account) = admin_with_empty_service_account(&app);
    for n in 0..=default {
        app.new_credential(&admin, &token, &service_account, &format!("c{n}"));
    }
    let path = credentials_path(&admin.organization_id, &service_account);

    let first = app.page(&path, "", &token);
    let everything = app.page(&path, "limit=100", &token);

    assert_eq!(
        (first.ids.len(), first.has_prev, first.has_next),
        (default, false, true)
    );
    assert_eq!(
        (everything.ids.len(), everything.has_prev, everything.has_next),
        (default + 1, false, false)
    );
    assert_eq!(first.ids, everything.ids[..default]);
}

#[test]
fn a_service_account_list_has_the_specs_default_number_of_items_when_limit_is_not_given() {
    let app = spawn_app();
    let default = default_limit_in_the_served_spec(&app);
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    // With the admin's own service account, the list holds one more than the default.
    for _ in 0..default {
        app.new_service_account(&admin, &token, "org_viewer");
    }
    let path = service_accounts_path(&admin.organization_id);

    let first = app.page(&path, "", &token);
    let rest = app.page(&path, &format!("after={}", first.end()), &token);

    assert_eq!(
        (first.ids.len(), first.has_prev, first.has_next),
        (default, false, true)
    );
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

/// Asserts `cursor` is refused as both `after` and `before` on the list at `path`.
fn assert_refused(app: &TestApp, path: &str, token: &str, cursor: &str) {
    for parameter in ["after", "before"] {
        let response = app.get(&format!("{path}?{parameter}={cursor}"), token);

        assert_eq!(
            response.status,
            400,
            "{parameter}={cursor} on {path}: {}",
            response.text()
        );
        assert_error(&response, 400, "invalid_request");
    }
}

#[test]
fn after_and_before_together_are_400() {
    let app = spawn_app();
    let (admin, token, service_account, _) = service_account_with_credentials(&app, 3);

    for path in [
        "/organizations".to_owned(),
        service_accounts_path(&admin.organization_id),
        credentials_path(&admin.organization_id, &service_account),
    ] {
        let page = app.page(&path, "limit=1", &token);

        let response = app.get(&format!("{path}?after={}&before={}", page.end(), page.start()), &token);

        assert_error(&response, 400, "invalid_request");
    }
}

#[test]
fn malformed_cursors_are_400_invalid_request() {
    let app = spawn_app();
    let (admin, token, service_account, _) = service_account_with_credentials(&app, 2);

    for path in [
        "/organizations".to_owned(),
        service_accounts_path(&admin.organization_id),
        credentials_path(&admin.organization_id, &service_account),
    ] {
        for cursor in [
            "!!!",
            "Zm9v",
            "AAAA",
            "x",
            "____",
            "%FF%FE",
            "bm90OmE6Y3Vyc29y",
            "Yzo6Og",
            "YzpzYTE6eDph",
        ] {
            assert_refused(&app, &path, &token, cursor);
        }
    }
}

#[test]
fn a_cursor_over_255_characters_is_400() {
    let app = spawn_app();
    let (admin, token, service_account, _) = service_account_with_credentials(&app, 2);
    let path = credentials_path(&admin.organization_id, &service_account);
    let real = app.page(&path, "limit=1", &token).end().to_owned();

    for cursor in [
        "A".repeat(256),
        format!("{real}{}", "A".repeat(256 - real.len().min(255))),
    ] {
        assert!(cursor.len() > 255);
        assert_refused(&app, &path, &token, &cursor);
    }
}

#[test]
fn a_cursor_of_another_service_accounts_credentials_is_400() {
    let app = spawn_app();
    let (admin, token, first, _) = service_account_with_credentials(&app, 2);
    let second = app.new_service_account(&admin, &token, "org_viewer");
    app.new_credentials(&admin, &token, &second, 2);
    let first_list = credentials_path(&admin.organization_id, &first);
    let second_list = credentials_path(&admin.organization_id, &second);
    let page = app.page(&first_list, "limit=1", &token);

    assert_refused(&app, &second_list, &token, page.end());
    assert_refused(&app, &second_list, &token, page.start());
}

#[test]
fn a_cursor_of_another_kind_of_list_is_400() {
    let app = spawn_app();
    let (admin, token, service_account, _) = service_account_with_credentials(&app, 2);
    let organizations = "/organizations".to_owned();
    let service_accounts = service_accounts_path(&admin.organization_id);
    let credentials = credentials_path(&admin.organization_id, &service_account);
    let cursor_of = |path: &str| app.page(path, "limit=1", &token).end().to_owned();
    let (organization_cursor, service_account_cursor, credential_cursor) = (
        cursor_of(&organizations),
        cursor_of(&service_accounts),
        cursor_of(&credentials),
    );

    assert_refused(&app, &credentials, &token, &service_account_cursor);
    assert_refused(&app, &credentials, &token, &organization_cursor);
    assert_refused(&app, &service_accounts, &token, &credential_cursor);
    assert_refused(&app, &service_accounts, &token, &organization_cursor);
    assert_refused(&app, &organizations, &token, &service_account_cursor);
    assert_refused(&app, &organizations, &token, &credential_cursor);
}

#[test]
fn a_cursor_of_another_organizations_service_accounts_is_400() {
    let app = spawn_app();
    let mine = app.admin("acme");
    let theirs = app.admin("globex");
    let my_token = app.token_for(&mine);
    let their_token = app.token_for(&theirs);
    let their_cursor = app
        .page(&service_accounts_path(&theirs.organization_id), "", &their_token)
        .end()
        .to_owned();

    assert_refused(
        &app,
        &service_accounts_path(&mine.organization_id),
        &my_token,
        &their_cursor,
    );
}

#[test]
fn a_cursor_whose_item_was_deleted_still_works_both_ways() {
    let app = spawn_app();
    let (admin, token, service_account, ids) = service_account_with_credentials(&app, 5);
    let path = credentials_path(&admin.organization_id, &service_account);
    let first = app.page(&path, "limit=2", &token);
    let second = app.page(&path, &format!("limit=2&after={}", first.end()), &token);
    assert_eq!((first.ids.as_slice(), second.ids.as_slice()), (&ids[..2], &ids[2..4]));

    for deleted in [&ids[1], &ids[2]] {
        let credential = credential_path_of(&admin.organization_id, &service_account, deleted);
        assert_eq!(app.delete(&credential, &token).status, 204);
    }

    let forward = app.page(&path, &format!("limit=2&after={}", first.end()), &token);
    let backward = app.page(&path, &format!("limit=2&before={}", second.start()), &token);
    assert_eq!(forward.ids, [ids[3].clone(), ids[4].clone()]);
    assert_eq!((forward.has_prev, forward.has_next), (true, false));
    assert_eq!(backward.ids, [ids[0].clone()]);
    assert_eq!((backward.has_prev, backward.has_next), (false, true));
}

#[test]
fn credentials_created_or_deleted_during_a_walk_are_neither_duplicated_nor_skipped() {
    let app = spawn_app();
    let (admin, token, service_account, ids) = service_account_with_credentials(&app, 9);
    let path = credentials_path(&admin.organization_id, &service_account);
    let delete = |id: &str| {
        let credential = credential_path_of(&admin.organization_id, &service_account, id);
        assert_eq!(app.delete(&credential, &token).status, 204);
    };
    let mut pages = vec![app.page(&path, "limit=3", &token)];

    // The cursor's own item, an item not yet reached, and one already seen go;
    // new items arrive at the end of the list.
    delete(&ids[2]);
    delete(&ids[4]);
    let mut added = app.new_credentials(&admin, &token, &service_account, 2);
    pages.push(app.page(&path, &format!("limit=3&after={}", pages[0].end()), &token));
    delete(&ids[0]);
    added.extend(app.new_credentials(&admin, &token, &service_account, 1));
    while pages.last().is_some_and(|page| page.has_next) {
        let after = pages.last().map(|page| page.end().to_owned()).unwrap_or_default();
        pages.push(app.page(&path, &format!("limit=3&after={after}"), &token));
    }

    let seen = ids_of(&pages);
    assert!(duplicates(&seen).is_empty(), "seen twice: {:?}", duplicates(&seen));
    let throughout = [1, 3, 5, 6, 7, 8].map(|n| ids[n].clone());
    let skipped: Vec<_> = throughout.iter().filter(|id| !seen.contains(id)).collect();
    assert!(skipped.is_empty(), "skipped {skipped:?} of {seen:?}");
    let in_creation_order: Vec<String> = ids
        .iter()
        .chain(&added)
        .filter(|id| seen.contains(id))
        .cloned()
        .collect();
    assert_eq!(seen, in_creation_order, "the walk is out of order");
}

#[test]
fn service_accounts_created_or_deleted_during_a_backward_walk_are_neither_duplicated_nor_skipped() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let mut ids = vec![admin.service_account_id.clone()];
    for _ in 0..7 {
        next_millisecond();
        ids.push(app.new_service_account(&admin, &token, "org_viewer"));
    }
    let path = service_accounts_path(&admin.organization_id);
    let delete = |id: &str| {
        let response = app.delete(&service_account_path(&admin.organization_id, id), &token);
        assert_eq!(response.status, 204, "{}", response.text());
    };
    let last = app.walk_forward(&path, 3, &token).pop().expect("a last page");
    let mut pages = vec![last];

    delete(&ids[6]);
    delete(&ids[2]);
    next_millisecond();
    app.new_service_account(&admin, &token, "org_viewer");
    while pages.last().is_some_and(|page| page.has_prev) {
        let before = pages.last().map(|page| page.start().to_owned()).unwrap_or_default();
        pages.push(app.page(&path, &format!("limit=3&before={before}"), &token));
    }
    pages.reverse();

    let seen = ids_of(&pages);
    assert!(duplicates(&seen).is_empty(), "seen twice: {:?}", duplicates(&seen));
    for (n, id) in ids.iter().enumerate().filter(|(n, _)| ![2, 6].contains(n)) {
        assert!(seen.contains(id), "service account {n} was skipped: {seen:?}");
    }
    let in_creation_order: Vec<String> = ids.iter().filter(|id| seen.contains(id)).cloned().collect();
    assert_eq!(seen, in_creation_order, "the walk is out of order");
}

#[test]
fn a_walk_while_another_client_writes_sees_every_lasting_credential_once_and_in_order() {
    let app = spawn_app();
    let (admin, token, service_account, ids) = service_account_with_credentials(&app, 20);
    let path = credentials_path(&admin.organization_id, &service_account);
    let doomed = [&ids[3], &ids[9], &ids[15]];
    let walking = AtomicBool::new(true);

    let (pages, churned) = thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut created = Vec::new();
            for id in doomed {
                let response = app.delete(
                    &credential_path_of(&admin.organization_id, &service_account, id),
                    &token,
                );
                assert_eq!(response.status, 204, "{}", response.text());
            }
            while walking.load(Ordering::SeqCst) && created.len() < 200 {
                let churn = app
                    .new_credential(&admin, &token, &service_account, "churn")
                    .credential_id;
                if created.len() % 2 == 0 {
                    let credential = credential_path_of(&admin.organization_id, &service_account, &churn);
                    assert_eq!(app.delete(&credential, &token).status, 204);
                }
                created.push(churn);
            }
            created
        });
        let pages = app.walk_forward(&path, 1, &token);
        walking.store(false, Ordering::SeqCst);
        (pages, writer.join().expect("the writer thread"))
    });

    let seen = ids_of(&pages);
    assert!(duplicates(&seen).is_empty(), "seen twice: {:?}", duplicates(&seen));
    let unknown: Vec<_> = seen
        .iter()
        .filter(|id| !ids.contains(id) && !churned.contains(id))
        .collect();
    assert!(unknown.is_empty(), "items nobody made: {unknown:?}");
    let lasting: Vec<&String> = ids.iter().filter(|id| !doomed.contains(id)).collect();
    let lasting_seen: Vec<&String> = seen.iter().filter(|id| lasting.contains(id)).collect();
    assert_eq!(lasting_seen, lasting, "lasting credentials skipped or out of order");
}

/// `cursor` decoded, changed by `change`, and encoded again.
fn altered(cursor: &str, change: impl FnOnce(&mut Vec<u8>)) -> String {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut bytes = engine.decode(cursor).expect("a cursor is base64url");
    change(&mut bytes);
    engine.encode(bytes)
}

#[test]
fn a_cursor_with_any_byte_changed_is_400() {
    let app = spawn_app();
    let (admin, token, service_account, _) = service_account_with_credentials(&app, 3);
    let path = credentials_path(&admin.organization_id, &service_account);
    let real = app.page(&path, "limit=1", &token).end().to_owned();
    let mut length = 0;
    assert_eq!(altered(&real, |bytes| length = bytes.len()), real);

    for index in 0..length {
        let forged = altered(&real, |bytes| bytes[index] ^= 0x01);
        assert_refused(&app, &path, &token, &forged);
    }
    assert_refused(&app, &path, &token, &altered(&real, |bytes| bytes.push(b'x')));
    assert_refused(
        &app,
        &path,
        &token,
        &altered(&real, |bytes| {
            bytes.pop();
        }),
    );
}

#[test]
fn cursors_the_list_never_issued_are_400() {
    use base64::Engine as _;
    let app = spawn_app();
    let (admin, token, service_account, _) = service_account_with_credentials(&app, 3);
    let path = credentials_path(&admin.organization_id, &service_account);
    let encode = |text: String| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);

    for forged in [
        format!("c:{service_account}:-1:0"),
        format!("c:{service_account}:0:x' OR '1'='1"),
        format!("c:{service_account}:0:{}:extra", admin.credential_id),
        format!("c:{service_account}:{}:{}", i64::MIN, admin.credential_id),
    ] {
        assert_refused(&app, &path, &token, &encode(forged));
    }
}

#[test]
fn a_cursor_keeps_working_after_a_restart() {
    let app = spawn_app();
    let (admin, token, service_account, ids) = service_account_with_credentials(&app, 3);
    let path = credentials_path(&admin.organization_id, &service_account);
    let first = app.page(&path, "limit=1", &token);

    let app = app.kill_and_restart();

    let token = app.token_for(&admin);
    let next = app.page(&path, &format!("limit=5&after={}", first.end()), &token);
    assert_page(&next, &ids[1..], true, false);
}
