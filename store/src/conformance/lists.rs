//! Conformance: the keyset-paginated lists (service accounts, a service account's
//! credentials, an organization's credentials), each behaviour run against every
//! list so that they cannot drift apart; and the organization-wide list's filters.

use super::{add_service_account, audit, credential, key, organization, service_account, Backend, Database};
use crate::{CredentialFilter, CredentialStatusFilter, Millis, Page, PageRequest, PageStart, Position, Role, Store};

/// Which list a test reads.
#[derive(Debug, Clone, Copy)]
pub(crate) enum List {
    /// Organization `org`'s service accounts.
    ServiceAccounts,
    /// Service account `sa`'s credentials (in `org`).
    Credentials,
    /// Organization `org`'s credentials, unfiltered, spread over its service
    /// accounts `sa` and `sa2`.
    OrganizationCredentials,
}

/// Every list, for tests that run against each.
pub(crate) const LISTS: [List; 3] = [List::ServiceAccounts, List::Credentials, List::OrganizationCredentials];

/// Prepares an empty database for `list`: organizations `org` (label `acme`) and
/// `other` and, for the credential list, service account `sa` in `org`.
pub(crate) async fn setup(store: &impl Store, list: List) {
    store.create_organization(organization("org", "acme")).await.unwrap();
    store.create_organization(organization("other", "other")).await.unwrap();
    match list {
        List::ServiceAccounts => {}
        List::Credentials => add_service_account(store, "sa", "org", Role::OrgAdmin).await,
        List::OrganizationCredentials => {
            add_service_account(store, "sa", "org", Role::OrgAdmin).await;
            add_service_account(store, "sa2", "org", Role::OrgViewer).await;
        }
    }
}

/// Which of `org`'s service accounts holds the organization-wide list's item `id`:
/// `sa` or `sa2`, mixed so that neighbours in the list often differ.
fn holder(id: &str) -> &'static str {
    if id.bytes().map(u32::from).sum::<u32>() % 2 == 0 {
        "sa"
    } else {
        "sa2"
    }
}

/// Shorthand for a position.
fn at(created_at: Millis, id: &str) -> Position {
    Position {
        created_at,
        id: id.to_owned(),
    }
}

/// Adds an item at `position` to `list`.
async fn add(store: &impl Store, list: List, position: &Position) {
    match list {
        List::ServiceAccounts => {
            let mut item = service_account(&position.id, "org", Role::OrgMember);
            item.created_at = position.created_at;
            item.updated_at = position.created_at;
            store.create_service_account(item, audit()).await.unwrap();
        }
        List::Credentials | List::OrganizationCredentials => {
            let service_account_id = match list {
                List::Credentials => "sa",
                _ => holder(&position.id),
            };
            let mut item = credential(&position.id, "org", service_account_id);
            item.credential.created_at = position.created_at;
            item.credential.updated_at = position.created_at;
            assert!(store.create_credential(item, audit()).await.unwrap());
        }
    }
}

/// Adds every item of `positions`, in the order given.
async fn add_all(store: &impl Store, list: List, positions: &[Position]) {
    for position in positions {
        add(store, list, position).await;
    }
}

/// Deletes the item with ID `id` from `list`; true if it was there.
async fn remove(store: &impl Store, list: List, id: &str) -> bool {
    match list {
        List::ServiceAccounts => store.delete_service_account("org", id, None, audit()).await.unwrap(),
        List::Credentials => store
            .delete_credential(key("org", "sa", id), None, audit())
            .await
            .unwrap(),
        List::OrganizationCredentials => store
            .delete_credential(key("org", holder(id), id), None, audit())
            .await
            .unwrap(),
    }
}

/// Reads one page of `list` as seen from `organization_id` (and, for credentials,
/// `service_account_id`), reduced to the items' positions.
async fn page_in(
    store: &impl Store,
    list: List,
    organization_id: &str,
    service_account_id: &str,
    start: PageStart,
    limit: usize,
) -> Page<Position> {
    let request = PageRequest { start, limit };
    match list {
        List::ServiceAccounts => {
            let page = store.list_service_accounts(organization_id, request).await.unwrap();
            for item in &page.items {
                assert_eq!(item.organization_id, organization_id);
            }
            positions(page, |item| at(item.created_at, &item.id))
        }
        List::Credentials => {
            let page = store
                .list_credentials(organization_id, service_account_id, request)
                .await
                .unwrap();
            for item in &page.items {
                assert_eq!(item.organization_id, organization_id);
                assert_eq!(item.service_account_id, service_account_id);
            }
            positions(page, |item| at(item.created_at, &item.id))
        }
        List::OrganizationCredentials => {
            let page = store
                .list_organization_credentials(organization_id, CredentialFilter::default(), 0, request)
                .await
                .unwrap();
            for item in &page.items {
                assert_eq!(item.organization_id, organization_id);
                if organization_id == "org" {
                    assert_eq!(item.service_account_id, holder(&item.id));
                }
            }
            positions(page, |item| at(item.created_at, &item.id))
        }
    }
}

/// Reads one page of `list` in organization `org` (service account `sa`).
async fn page(store: &impl Store, list: List, start: PageStart, limit: usize) -> Page<Position> {
    page_in(store, list, "org", "sa", start, limit).await
}

/// A page with its items replaced by their positions.
fn positions<T>(page: Page<T>, position: impl Fn(&T) -> Position) -> Page<Position> {
    Page {
        items: page.items.iter().map(position).collect(),
        has_next_page: page.has_next_page,
        has_prev_page: page.has_prev_page,
    }
}

/// The page a test expects.
fn expect(items: &[Position], has_prev_page: bool, has_next_page: bool) -> Page<Position> {
    Page {
        items: items.to_vec(),
        has_next_page,
        has_prev_page,
    }
}

/// `count` positions, sorted, with several items sharing a millisecond and IDs
/// that sort against their creation order within a millisecond.
fn sorted_positions(count: usize) -> Vec<Position> {
    let mut all: Vec<Position> = (0..count)
        .map(|index| {
            at(
                10_000 + (index / 3) as Millis,
                &format!("id{:02}", (count - index) * 7 % 100),
            )
        })
        .collect();
    all.sort();
    all
}

/// `sorted` in a scrambled order, so the list order cannot come from insertion order.
fn scrambled(sorted: &[Position]) -> Vec<Position> {
    let mut items = sorted.to_vec();
    let len = items.len();
    for index in 0..len {
        items.swap(index, (index * 5 + 3) % len);
    }
    items
}

/// An empty list reads as empty pages from anywhere, with nothing on either side.
pub(crate) async fn an_empty_list_has_empty_pages_with_nothing_either_side<S: Store>(store: &S, list: List) {
    let empty = expect(&[], false, false);
    assert_eq!(page(store, list, PageStart::First, 3).await, empty, "{list:?}");
    let somewhere = at(5_000, "x");
    assert_eq!(page(store, list, PageStart::After(somewhere.clone()), 3).await, empty);
    assert_eq!(page(store, list, PageStart::Before(somewhere), 3).await, empty);
}

/// A list of exactly `limit` items is one page, from the start and from positions outside it.
pub(crate) async fn a_list_of_exactly_limit_items_is_one_page<S: Store>(store: &S, list: List) {
    let items = sorted_positions(3);
    add_all(store, list, &scrambled(&items)).await;

    assert_eq!(
        page(store, list, PageStart::First, 3).await,
        expect(&items, false, false),
        "{list:?}"
    );
    // Past either end: an empty page that knows the list lies on one side.
    assert_eq!(
        page(store, list, PageStart::After(items[2].clone()), 3).await,
        expect(&[], true, false)
    );
    assert_eq!(
        page(store, list, PageStart::Before(items[0].clone()), 3).await,
        expect(&[], false, true)
    );
    // From positions outside the list, the whole list is one page.
    assert_eq!(
        page(store, list, PageStart::After(at(0, "")), 3).await,
        expect(&items, false, false)
    );
    assert_eq!(
        page(store, list, PageStart::Before(at(Millis::MAX, "")), 3).await,
        expect(&items, false, false)
    );
}

/// One item more than `limit` makes two pages, read either way.
pub(crate) async fn a_list_of_limit_plus_one_items_is_two_pages<S: Store>(store: &S, list: List) {
    let items = sorted_positions(4);
    add_all(store, list, &scrambled(&items)).await;

    assert_eq!(
        page(store, list, PageStart::First, 3).await,
        expect(&items[..3], false, true),
        "{list:?}"
    );
    assert_eq!(
        page(store, list, PageStart::After(items[2].clone()), 3).await,
        expect(&items[3..], true, false)
    );
    assert_eq!(
        page(store, list, PageStart::Before(items[3].clone()), 3).await,
        expect(&items[..3], false, true)
    );
    // Backwards from the end: the last `limit` items.
    assert_eq!(
        page(store, list, PageStart::Before(at(Millis::MAX, "")), 3).await,
        expect(&items[1..], true, false)
    );
    // Forwards from the start: the first `limit` items.
    assert_eq!(
        page(store, list, PageStart::After(at(0, "")), 3).await,
        expect(&items[..3], false, true)
    );
}

/// Walking the pages forward, then back, visits every item once, in order, with
/// `has_prev_page`/`has_next_page` right on every page.
pub(crate) async fn walking_forward_then_backward_visits_every_item_once_in_order<S: Store>(store: &S, list: List) {
    for count in [0, 1, 2, 5, 9, 10] {
        let items = sorted_positions(count);
        add_all(store, list, &scrambled(&items)).await;

        for limit in 1..=4 {
            let context = format!("{list:?}, {count} items, limit {limit}");

            // Forward: First, then After the last item of each page.
            let mut pages = vec![page(store, list, PageStart::First, limit).await];
            while let Some(last) = pages.last().filter(|page| page.has_next_page) {
                let after = last.items.last().expect("a page with a next page has items").clone();
                pages.push(page(store, list, PageStart::After(after), limit).await);
            }
            let seen: Vec<Position> = pages.iter().flat_map(|page| page.items.clone()).collect();
            assert_eq!(seen, items, "{context}: forward");
            assert_eq!(pages.len(), count.div_ceil(limit).max(1), "{context}: forward pages");
            for (index, forward) in pages.iter().enumerate() {
                assert_eq!(forward.has_prev_page, index > 0, "{context}: forward page {index}");
                assert_eq!(
                    forward.has_next_page,
                    index + 1 < pages.len(),
                    "{context}: forward page {index}"
                );
                if index + 1 < pages.len() {
                    assert_eq!(forward.items.len(), limit, "{context}: full pages but the last");
                }
            }

            // Backward from the last page: Before the first item of each page.
            let last_page = pages.pop().expect("at least one page");
            let mut backward = vec![last_page];
            while let Some(earliest) = backward.last().filter(|page| page.has_prev_page) {
                let before = earliest
                    .items
                    .first()
                    .expect("a page with a previous page has items")
                    .clone();
                backward.push(page(store, list, PageStart::Before(before), limit).await);
            }
            backward.reverse();
            let seen: Vec<Position> = backward.iter().flat_map(|page| page.items.clone()).collect();
            assert_eq!(seen, items, "{context}: backward");
            for (index, page) in backward.iter().enumerate() {
                assert_eq!(page.has_prev_page, index > 0, "{context}: backward page {index}");
                assert_eq!(
                    page.has_next_page,
                    index + 1 < backward.len(),
                    "{context}: backward page {index}"
                );
                // Before pages are full but for the earliest; the latest came
                // from the forward walk.
                if index > 0 && index + 1 < backward.len() {
                    assert_eq!(page.items.len(), limit, "{context}: full pages but the first");
                }
            }
        }
        // Empty again for the next count.
        for item in &items {
            assert!(remove(store, list, &item.id).await);
        }
    }
}

/// A cursor made from an item that was deleted since still starts a page.
pub(crate) async fn a_deleted_items_position_still_starts_a_page<S: Store>(store: &S, list: List) {
    let items = sorted_positions(6);
    add_all(store, list, &items).await;

    let first = page(store, list, PageStart::First, 2).await;
    assert_eq!(first, expect(&items[..2], false, true), "{list:?}");

    // The page's last item goes; the cursor made from it still works.
    assert!(remove(store, list, &items[1].id).await);
    assert_eq!(
        page(store, list, PageStart::After(items[1].clone()), 2).await,
        expect(&items[2..4], true, true)
    );
    // …and so does a Before cursor on a deleted item.
    assert!(remove(store, list, &items[4].id).await);
    assert_eq!(
        page(store, list, PageStart::Before(items[4].clone()), 2).await,
        expect(&items[2..4], true, true)
    );

    // With everything before the position gone, nothing is before the page.
    assert!(remove(store, list, &items[0].id).await);
    assert_eq!(
        page(store, list, PageStart::After(items[1].clone()), 2).await,
        expect(&items[2..4], false, true)
    );
    // With everything from the position on gone, nothing is after the page.
    assert!(remove(store, list, &items[5].id).await);
    assert_eq!(
        page(store, list, PageStart::Before(items[4].clone()), 2).await,
        expect(&items[2..4], false, false)
    );
    assert!(!remove(store, list, &items[5].id).await, "already gone");
}

/// Items created in one millisecond are ordered by ID, and pages break inside it.
pub(crate) async fn items_created_in_the_same_millisecond_are_ordered_by_id<S: Store>(store: &S, list: List) {
    // An earlier item whose ID sorts last and a later one whose ID sorts first.
    let mut items = vec![at(4_999, "zz"), at(5_001, "00")];
    for id in ["m", "c", "x", "a", "q", "b", "k"] {
        items.push(at(5_000, id));
    }
    add_all(store, list, &items).await;
    let expected: Vec<Position> = ["a", "b", "c", "k", "m", "q", "x"]
        .into_iter()
        .map(|id| at(5_000, id))
        .collect();
    let expected = [vec![at(4_999, "zz")], expected, vec![at(5_001, "00")]].concat();

    // Two at a time, so pages break inside the shared millisecond.
    let mut seen = Vec::new();
    let mut start = PageStart::First;
    loop {
        let current = page(store, list, start, 2).await;
        seen.extend(current.items.iter().cloned());
        match current.items.last() {
            Some(last) if current.has_next_page => start = PageStart::After(last.clone()),
            _ => break,
        }
    }
    assert_eq!(seen, expected, "{list:?}: forward");

    let mut seen = Vec::new();
    let mut start = PageStart::Before(at(Millis::MAX, ""));
    loop {
        let current = page(store, list, start, 2).await;
        seen = [current.items.clone(), seen].concat();
        match current.items.first() {
            Some(first) if current.has_prev_page => start = PageStart::Before(first.clone()),
            _ => break,
        }
    }
    assert_eq!(seen, expected, "{list:?}: backward");

    // A position inside the millisecond splits it by ID.
    assert_eq!(
        page(store, list, PageStart::After(at(5_000, "k")), 3).await,
        expect(&expected[5..8], true, true)
    );
    assert_eq!(
        page(store, list, PageStart::Before(at(5_000, "k")), 3).await,
        expect(&expected[1..4], true, true)
    );
}

/// A list shows only its own organization's (and service account's) items.
pub(crate) async fn lists_are_confined_to_their_organization_and_service_account<S: Store>(store: &S, list: List) {
    let items = sorted_positions(3);
    add_all(store, list, &items).await;
    // Neighbours that must not show: a service account with a credential in
    // `other`, and (for the credential list) another service account in `org`.
    add_service_account(store, "sa-other", "other", Role::OrgAdmin).await;
    assert!(store
        .create_credential(credential("cred-other", "other", "sa-other"), audit())
        .await
        .unwrap());
    if let List::Credentials = list {
        add_service_account(store, "sa2", "org", Role::OrgViewer).await;
        assert!(store
            .create_credential(credential("cred-sa2", "org", "sa2"), audit())
            .await
            .unwrap());
    }

    assert_eq!(
        page(store, list, PageStart::First, 10).await,
        expect(&items, false, false),
        "{list:?}"
    );
    let wrong_scopes: &[(&str, &str)] = match list {
        List::ServiceAccounts => &[("nope", "sa"), ("acme", "sa"), ("other", "sa")],
        List::Credentials => &[("other", "sa"), ("org", "sa2"), ("org", "nope"), ("other", "sa-other")],
        List::OrganizationCredentials => &[("other", ""), ("nope", ""), ("acme", "")],
    };
    for &(organization_id, service_account_id) in wrong_scopes {
        for start in [
            PageStart::First,
            PageStart::After(items[0].clone()),
            PageStart::Before(items[2].clone()),
        ] {
            let seen = page_in(store, list, organization_id, service_account_id, start, 10).await;
            let foreign = seen.items.iter().any(|item| items.contains(item));
            assert!(
                !foreign,
                "{list:?} via {organization_id}/{service_account_id}: {seen:?}"
            );
        }
    }
    // A scope with nothing in it at all reads as an empty list.
    let (empty_organization, empty_service_account) = match list {
        List::ServiceAccounts | List::OrganizationCredentials => ("nope", ""),
        List::Credentials => ("other", "sa"),
    };
    for start in [
        PageStart::First,
        PageStart::After(items[0].clone()),
        PageStart::Before(items[2].clone()),
    ] {
        assert_eq!(
            page_in(store, list, empty_organization, empty_service_account, start, 10).await,
            expect(&[], false, false)
        );
    }
}

/// A page carries whole items, every field as stored.
pub(crate) async fn list_pages_carry_the_whole_items<D: Database>(backend: &mut Backend<D>) {
    let store = backend.store().as_ref();
    setup(store, List::Credentials).await;
    let new = credential("cred", "org", "sa");
    assert!(store.create_credential(new.clone(), audit()).await.unwrap());
    let request = PageRequest {
        start: PageStart::First,
        limit: 10,
    };
    let credentials = store.list_credentials("org", "sa", request.clone()).await.unwrap();
    assert_eq!(credentials.items, [new.credential]);
    let service_accounts = store.list_service_accounts("org", request).await.unwrap();
    assert_eq!(service_accounts.items, [service_account("sa", "org", Role::OrgAdmin)]);
}

/// IDs compare byte by byte (`"A" < "_a" < "a" < "a-b" < "ab" < "b"`), as in
/// SQLite, whatever the database's own collation would say.
pub(crate) async fn ids_are_ordered_byte_by_byte<S: Store>(store: &S, list: List) {
    let ids = ["b", "ab", "a-b", "a", "_a", "A"];
    let items: Vec<Position> = ids.iter().map(|id| at(5_000, id)).collect();
    add_all(store, list, &items).await;

    let expected: Vec<Position> = ["A", "_a", "a", "a-b", "ab", "b"]
        .into_iter()
        .map(|id| at(5_000, id))
        .collect();
    assert_eq!(
        page(store, list, PageStart::First, 10).await,
        expect(&expected, false, false),
        "{list:?}"
    );
    assert_eq!(
        page(store, list, PageStart::Before(at(5_000, "a-b")), 2).await,
        expect(&expected[1..3], true, true)
    );
}

/// The time the filter tests read the list at.
const NOW: Millis = 5_000;

/// Fills `org` with credentials in every state the filters tell apart, across
/// `sa` and `sa2`, plus a disabled and an expired one in `other` that no list of
/// `org` may show. The columns the API does not set yet are set in SQL.
async fn add_credentials_in_every_state<D: Database>(backend: &Backend<D>) {
    let store = backend.store().as_ref();
    setup(store, List::OrganizationCredentials).await;
    add_service_account(store, "sa-other", "other", Role::OrgAdmin).await;
    // (id, service account, status, expires_at, last_used_at), in list order.
    let states: [(&str, &str, &str, &str, &str); 7] = [
        ("c1", "sa", "active", "NULL", "NULL"),
        ("c2", "sa2", "active", "1000", "NULL"),
        ("c3", "sa", "active", "9000", "NULL"),
        ("c4", "sa2", "disabled", "NULL", "NULL"),
        ("c5", "sa", "disabled", "1000", "NULL"),
        ("c6", "sa2", "active", "NULL", "3000"),
        ("c7", "sa", "active", "NULL", "6000"),
    ];
    for (index, (id, service_account_id, status, expires_at, last_used_at)) in states.into_iter().enumerate() {
        let mut new = credential(id, "org", service_account_id);
        new.credential.created_at = 100 + index as Millis;
        assert!(store.create_credential(new, audit()).await.unwrap());
        backend
            .execute(&format!(
                "UPDATE credentials SET status = '{status}', expires_at = {expires_at}, \
                 last_used_at = {last_used_at} WHERE id = '{id}'"
            ))
            .await;
    }
    for (id, status) in [("x-disabled", "disabled"), ("x-expired", "active")] {
        assert!(store
            .create_credential(credential(id, "other", "sa-other"), audit())
            .await
            .unwrap());
        backend
            .execute(&format!(
                "UPDATE credentials SET status = '{status}', expires_at = 1000, last_used_at = NULL WHERE id = '{id}'"
            ))
            .await;
    }
}

/// The IDs of every credential of `org` that `filter` keeps, read one page of
/// `limit` at a time forward and then backward, checking that both walks agree
/// and that every page knows what lies either side.
async fn filtered_ids(store: &impl Store, filter: CredentialFilter, limit: usize) -> Vec<String> {
    let read = |start: PageStart| async move {
        let request = PageRequest { start, limit };
        let page = store
            .list_organization_credentials("org", filter, NOW, request)
            .await
            .unwrap();
        assert!(page.items.iter().all(|item| item.organization_id == "org"));
        page
    };
    let mut forward = Vec::new();
    let mut current = read(PageStart::First).await;
    assert!(!current.has_prev_page, "{filter:?}");
    loop {
        forward.extend(current.items.iter().map(|item| at(item.created_at, &item.id)));
        match forward.last() {
            Some(last) if current.has_next_page => current = read(PageStart::After(last.clone())).await,
            _ => break,
        }
        assert!(current.has_prev_page, "{filter:?}: a page after another");
    }
    let mut backward: Vec<Position> = Vec::new();
    let mut current = read(PageStart::Before(at(Millis::MAX, ""))).await;
    assert!(!current.has_next_page, "{filter:?}");
    loop {
        let items: Vec<Position> = current.items.iter().map(|item| at(item.created_at, &item.id)).collect();
        backward = [items, backward].concat();
        match backward.first() {
            Some(first) if current.has_prev_page => current = read(PageStart::Before(first.clone())).await,
            _ => break,
        }
        assert!(current.has_next_page, "{filter:?}: a page before another");
    }
    assert_eq!(forward, backward, "{filter:?}, limit {limit}: forward and backward");
    forward.into_iter().map(|position| position.id).collect()
}

/// Each filter of the organization-wide list keeps exactly the credentials it
/// names, as of the time given: `status` from the `status` and `expires_at`
/// columns, `expires_before` only credentials that expire, `last_used_before`
/// never-used credentials too; and filters combine with AND.
pub(crate) async fn organization_credentials_are_filtered_by_status_expiry_and_last_use<D: Database>(
    backend: &mut Backend<D>,
) {
    add_credentials_in_every_state(backend).await;
    let store = backend.store().as_ref();
    let status = |status| CredentialFilter {
        status: Some(status),
        ..CredentialFilter::default()
    };
    let expires_before = |time| CredentialFilter {
        expires_before: Some(time),
        ..CredentialFilter::default()
    };
    let last_used_before = |time| CredentialFilter {
        last_used_before: Some(time),
        ..CredentialFilter::default()
    };
    let cases: Vec<(CredentialFilter, &[&str])> = vec![
        (CredentialFilter::default(), &["c1", "c2", "c3", "c4", "c5", "c6", "c7"]),
        (status(CredentialStatusFilter::Active), &["c1", "c3", "c6", "c7"]),
        (status(CredentialStatusFilter::Expired), &["c2"]),
        (status(CredentialStatusFilter::Disabled), &["c4", "c5"]),
        (expires_before(1000), &[]),
        (expires_before(1001), &["c2", "c5"]),
        (expires_before(9001), &["c2", "c3", "c5"]),
        (last_used_before(3000), &["c1", "c2", "c3", "c4", "c5"]),
        (last_used_before(3001), &["c1", "c2", "c3", "c4", "c5", "c6"]),
        (
            CredentialFilter {
                status: Some(CredentialStatusFilter::Active),
                last_used_before: Some(4000),
                ..CredentialFilter::default()
            },
            &["c1", "c3", "c6"],
        ),
        (
            CredentialFilter {
                status: Some(CredentialStatusFilter::Expired),
                expires_before: Some(1001),
                last_used_before: Some(1),
            },
            &["c2"],
        ),
    ];
    for (filter, expected) in cases {
        for limit in [1, 2, 10] {
            assert_eq!(
                filtered_ids(store, filter, limit).await,
                expected,
                "{filter:?}, limit {limit}"
            );
        }
    }
    // An expiry exactly now has come: the credential is expired, no longer active.
    let at_expiry = |filter| async move {
        let request = PageRequest {
            start: PageStart::First,
            limit: 10,
        };
        let page = store
            .list_organization_credentials("org", filter, 9000, request)
            .await
            .unwrap();
        page.items.into_iter().map(|item| item.id).collect::<Vec<_>>()
    };
    assert_eq!(at_expiry(status(CredentialStatusFilter::Expired)).await, ["c2", "c3"]);
    assert_eq!(
        at_expiry(status(CredentialStatusFilter::Active)).await,
        ["c1", "c6", "c7"]
    );
}
