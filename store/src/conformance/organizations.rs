//! Conformance: organizations and service accounts.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{
    add_service_account, audit, credential, key, organization, seed, service_account, token, Backend, Database,
};
use crate::{CredentialPatch, PageRequest, PageStart, Role, ServiceAccountPatch, StorageError, Store};

/// Organizations are found by ID and by label, and by nothing else.
pub(crate) async fn organizations_are_found_by_id_and_by_label<D: Database>(backend: &mut Backend<D>) {
    let store = backend.store().as_ref();
    let acme = organization("org", "acme");
    store.create_organization(acme.clone()).await.unwrap();

    assert_eq!(store.find_organization("org").await.unwrap(), Some(acme.clone()));
    assert_eq!(store.find_organization("acme").await.unwrap(), Some(acme));
    assert_eq!(store.find_organization("nope").await.unwrap(), None);
}

/// Should one organization's label be another's ID, the ID wins.
pub(crate) async fn an_id_match_wins_over_a_label_match<D: Database>(backend: &mut Backend<D>) {
    let store = backend.store().as_ref();
    // The second organization's label is the first one's ID.
    store.create_organization(organization("first", "one")).await.unwrap();
    store
        .create_organization(organization("second", "first"))
        .await
        .unwrap();

    assert_eq!(store.find_organization("first").await.unwrap().unwrap().id, "first");
    assert_eq!(store.find_organization("second").await.unwrap().unwrap().label, "first");
}

/// A label already taken is a conflict, named in plain words.
pub(crate) async fn a_taken_label_is_a_conflict<D: Database>(backend: &mut Backend<D>) {
    let store = backend.store().as_ref();
    store.create_organization(organization("org1", "acme")).await.unwrap();

    match store.create_organization(organization("org2", "acme")).await {
        Err(StorageError::Conflict(message)) => {
            assert_eq!(message, "organization label already exists");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
}

/// A service account of an organization that does not exist is refused, and the
/// message names the organization.
pub(crate) async fn creating_under_a_missing_parent_fails_with_a_clear_message<D: Database>(backend: &mut Backend<D>) {
    let store = backend.store().as_ref();
    seed(store).await;

    match store
        .create_service_account(service_account("sa9", "nope", Role::OrgMember), audit())
        .await
    {
        Err(StorageError::Internal(message)) => assert!(message.contains("organization nope does not exist")),
        other => panic!("expected an internal error, got {other:?}"),
    }
    assert_eq!(backend.count_rows("service_accounts").await, 1);
}

/// A service account is found only through its own organization's ID.
pub(crate) async fn service_accounts_are_found_only_in_their_own_organization<D: Database>(backend: &mut Backend<D>) {
    let store = backend.store().as_ref();
    seed(store).await;
    store.create_organization(organization("other", "other")).await.unwrap();

    let found = store.find_service_account("org", "sa").await.unwrap();
    assert_eq!(found, Some(service_account("sa", "org", Role::OrgAdmin)));
    assert_eq!(store.find_service_account("other", "sa").await.unwrap(), None);
    assert_eq!(
        store.find_service_account("acme", "sa").await.unwrap(),
        None,
        "IDs only, no labels"
    );
    assert_eq!(store.find_service_account("org", "nope").await.unwrap(), None);
}

/// A patch changes only the fields it names, `updated_at` moves only when a field
/// really changes, and tokens act with a new role at once.
pub(crate) async fn updating_a_service_account_changes_only_what_the_patch_changes<D: Database>(
    backend: &mut Backend<D>,
) {
    let store = backend.store().as_ref();
    seed(store).await;
    store
        .insert_token(token("tok", "cred", 10_000, 13_600), audit())
        .await
        .unwrap();
    let original = service_account("sa", "org", Role::OrgAdmin);
    let update = |patch: ServiceAccountPatch, now| store.update_service_account("org", "sa", patch, now, None, audit());

    // An empty patch changes nothing, not even updated_at.
    let unchanged = update(ServiceAccountPatch::default(), 5_000).await.unwrap();
    assert_eq!(unchanged, Some(original.clone()));

    // Setting the values already stored is no change either.
    let same = ServiceAccountPatch {
        name: Some(original.name.clone()),
        description: original.description.clone(),
        role: Some(original.role),
    };
    assert_eq!(update(same, 5_000).await.unwrap(), Some(original.clone()));
    assert_eq!(
        store.find_service_account("org", "sa").await.unwrap(),
        Some(original.clone())
    );

    // Each field alone moves updated_at and keeps the others.
    let rename = ServiceAccountPatch {
        name: Some("renamed".to_owned()),
        ..ServiceAccountPatch::default()
    };
    let renamed = update(rename, 6_000).await.unwrap().unwrap();
    assert_eq!(
        (renamed.name.as_str(), &renamed.description, renamed.role),
        ("renamed", &original.description, Role::OrgAdmin)
    );
    assert_eq!((renamed.updated_at, renamed.created_at), (6_000, original.created_at));

    let describe = ServiceAccountPatch {
        description: Some("new description".to_owned()),
        ..ServiceAccountPatch::default()
    };
    let described = update(describe, 7_000).await.unwrap().unwrap();
    assert_eq!(
        (
            described.name.as_str(),
            described.description.as_deref(),
            described.updated_at
        ),
        ("renamed", Some("new description"), 7_000)
    );

    let demote = ServiceAccountPatch {
        role: Some(Role::OrgViewer),
        ..ServiceAccountPatch::default()
    };
    let demoted = update(demote, 8_000).await.unwrap().unwrap();
    assert_eq!((demoted.role, demoted.updated_at), (Role::OrgViewer, 8_000));
    assert_eq!(
        (demoted.name.as_str(), demoted.description.as_deref()),
        ("renamed", Some("new description"))
    );

    // What was returned is what is stored, and tokens act with the new role at once.
    assert_eq!(store.find_service_account("org", "sa").await.unwrap(), Some(demoted));
    assert_eq!(store.find_token("tok").await.unwrap().unwrap().role, Role::OrgViewer);
}

/// Through another organization (or a label, or a missing ID), a service account
/// can be neither updated nor deleted.
pub(crate) async fn service_accounts_are_updated_and_deleted_only_through_their_own_organization<D: Database>(
    backend: &mut Backend<D>,
) {
    let store = backend.store().as_ref();
    seed(store).await;
    store.create_organization(organization("other", "other")).await.unwrap();
    let patch = ServiceAccountPatch {
        name: Some("hijacked".to_owned()),
        description: None,
        role: Some(Role::OrgViewer),
    };

    for (organization_id, service_account_id) in [("other", "sa"), ("org", "nope"), ("acme", "sa")] {
        let updated = store
            .update_service_account(organization_id, service_account_id, patch.clone(), 9_000, None, audit())
            .await
            .unwrap();
        assert_eq!(updated, None, "{organization_id}/{service_account_id}");
        let deleted = store
            .delete_service_account(organization_id, service_account_id, None, audit())
            .await
            .unwrap();
        assert!(!deleted, "{organization_id}/{service_account_id}");
    }
    assert_eq!(
        store.find_service_account("org", "sa").await.unwrap(),
        Some(service_account("sa", "org", Role::OrgAdmin))
    );
    assert!(store.find_credential(key("org", "sa", "cred")).await.unwrap().is_some());
}

/// Deleting a service account deletes its credentials and their tokens, rows and
/// all, and nothing of its neighbour's.
pub(crate) async fn a_deleted_service_account_takes_its_credentials_and_tokens_with_it<D: Database>(
    backend: &mut Backend<D>,
) {
    let store = backend.store().as_ref();
    seed(store).await;
    assert!(store
        .create_credential(credential("cred2", "org", "sa"), audit())
        .await
        .unwrap());
    for (token_id, credential_id) in [("tok", "cred"), ("tok2", "cred2")] {
        store
            .insert_token(token(token_id, credential_id, 10_000, 13_600), audit())
            .await
            .unwrap();
    }
    // A neighbour in the same organization that must survive.
    add_service_account(store, "sa2", "org", Role::OrgMember).await;
    assert!(store
        .create_credential(credential("cred3", "org", "sa2"), audit())
        .await
        .unwrap());
    store
        .insert_token(token("tok3", "cred3", 10_000, 13_600), audit())
        .await
        .unwrap();

    assert!(store.delete_service_account("org", "sa", None, audit()).await.unwrap());

    assert_eq!(store.find_service_account("org", "sa").await.unwrap(), None);
    for (credential_id, token_id) in [("cred", "tok"), ("cred2", "tok2")] {
        let found = store.find_credential(key("org", "sa", credential_id)).await.unwrap();
        assert!(found.is_none());
        let client = store.find_client(&format!("client-{credential_id}")).await.unwrap();
        assert!(client.is_none());
        assert!(store.find_token(token_id).await.unwrap().is_none());
    }
    let mut left = Vec::new();
    for table in ["service_accounts", "credentials", "tokens"] {
        left.push(backend.count_rows(table).await);
    }
    assert_eq!(left, [1, 1, 1], "only the neighbour's rows are left");
    assert!(store.find_token("tok3").await.unwrap().is_some());
    assert!(store.find_client("client-cred3").await.unwrap().is_some());

    // Deleting again finds nothing.
    assert!(!store.delete_service_account("org", "sa", None, audit()).await.unwrap());
}

/// Two stores on one database (two instances, or the CLI beside the server) see
/// each other's writes, and may write at the same time.
pub(crate) async fn two_stores_on_one_database_see_each_others_writes<D: Database>(backend: &mut Backend<D>) {
    let first = Arc::clone(backend.store());
    seed(first.as_ref()).await;
    let second = Arc::new(backend.open_another().await);

    second
        .create_organization(organization("from-second", "second"))
        .await
        .unwrap();
    assert!(first.find_organization("second").await.unwrap().is_some());
    first
        .insert_token(token("tok", "cred", 10_000, 20_000), audit())
        .await
        .unwrap();
    assert!(second.find_token("tok").await.unwrap().is_some());

    // Both writing at once.
    let mut writes = Vec::new();
    for index in 0..20 {
        let store = Arc::clone(if index % 2 == 0 { &first } else { &second });
        writes.push(tokio::spawn(async move {
            let id = format!("o{index}");
            store.create_organization(organization(&id, &id)).await
        }));
    }
    for write in writes {
        write.await.unwrap().expect("write from either store");
    }
    for index in 0..20 {
        let id = format!("o{index}");
        assert!(first.find_organization(&id).await.unwrap().is_some());
        assert!(second.find_organization(&id).await.unwrap().is_some());
    }
}

/// No stored key can hold NUL (PostgreSQL text cannot), so a lookup by such a key
/// finds nothing, and fails nothing, on either backend.
pub(crate) async fn keys_holding_nul_find_nothing_and_fail_nothing<D: Database>(backend: &mut Backend<D>) {
    let store = backend.store().as_ref();
    seed(store).await;

    assert!(store.find_organization("ac\0me").await.unwrap().is_none());
    assert!(store.find_service_account("org", "s\0a").await.unwrap().is_none());
    assert!(store.find_credential(key("org", "sa", "c\0")).await.unwrap().is_none());
    assert!(store.find_client("client\0").await.unwrap().is_none());
    assert!(store.find_token("\0").await.unwrap().is_none());
    assert!(!store
        .delete_credential(key("org\0", "sa", "cred"), None, audit())
        .await
        .unwrap());
    assert!(!store
        .delete_service_account("org", "s\0a", None, audit())
        .await
        .unwrap());
    assert!(!store
        .create_credential(credential("c2", "org", "s\0a"), audit())
        .await
        .unwrap());
    let first_page = || PageRequest {
        start: PageStart::First,
        limit: 10,
    };
    let credentials = store.list_credentials("org", "s\0a", first_page()).await.unwrap();
    assert!(credentials.items.is_empty());
    let service_accounts = store.list_service_accounts("o\0rg", first_page()).await.unwrap();
    assert!(service_accounts.items.is_empty());
}

/// Every write is reported as having waited and then committed, and every failed
/// call by its kind; at rest nothing is waiting.
pub(crate) async fn writes_and_failures_are_reported_to_the_observer<D: Database>(backend: &mut Backend<D>) {
    let store = backend.store().as_ref();
    let events = backend.events();
    seed(store).await;
    let rename = CredentialPatch {
        name: Some("renamed".to_owned()),
        description: None,
        ..Default::default()
    };
    let renamed = store
        .update_credential(key("org", "sa", "cred"), rename, 4_000, None, audit())
        .await;
    assert!(renamed.unwrap().is_some());

    assert_eq!(events.waits.load(Ordering::SeqCst), 4, "four writes, each waited for");
    let commits = events.commits();
    assert_eq!(commits.iter().sum::<usize>(), 4, "four writes committed: {commits:?}");
    assert_eq!(events.queue_depth.load(Ordering::SeqCst), 0);

    let taken = store.create_organization(organization("org2", "acme")).await;
    assert!(matches!(taken, Err(StorageError::Conflict(_))), "{taken:?}");
    assert_eq!(
        events.other_failures.load(Ordering::SeqCst),
        1,
        "the conflict is reported"
    );
    assert_eq!(events.unavailable.load(Ordering::SeqCst), 0);
    assert_eq!(
        events.commits().iter().sum::<usize>(),
        4,
        "a refused write commits nothing"
    );
    assert_eq!(events.queue_depth.load(Ordering::SeqCst), 0);
}

/// A store on a healthy database says it is ready.
pub(crate) async fn a_store_on_a_healthy_database_is_ready<D: Database>(backend: &mut Backend<D>) {
    let store = backend.store().as_ref();
    store.check_ready().await.expect("ready");
    seed(store).await;
    store.check_ready().await.expect("still ready with data");
}

/// The cursor key is made once, by a migration, and every store on the database
/// (another instance, a restart) reads the same one; another database has its own.
pub(crate) async fn the_cursor_key_is_made_once_and_shared_by_every_store_on_the_database<D: Database>(
    backend: &mut Backend<D>,
) {
    let first = backend.store().cursor_key().await.unwrap();
    assert_eq!(first.len(), 32);
    assert_ne!(first, vec![0; 32]);
    let second = backend.open_another().await;
    assert_eq!(second.cursor_key().await.unwrap(), first);
    let elsewhere = Backend::<D>::create().await;
    assert_ne!(elsewhere.store().cursor_key().await.unwrap(), first);
}
