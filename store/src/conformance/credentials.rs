//! Conformance: credentials.

use std::sync::Arc;

use super::{add_service_account, audit, credential, key, organization, seed, Backend, Database};
use crate::{CredentialPatch, CredentialStatus, Millis, Role, ServiceAccountPatch, StorageError, Store};

/// A patch of a credential's name and/or description.
fn patch(name: Option<&str>, description: Option<&str>) -> CredentialPatch {
    CredentialPatch {
        name: name.map(str::to_owned),
        description: description.map(str::to_owned),
        ..Default::default()
    }
}

/// A credential is reached only through all three of its own IDs.
pub(crate) async fn credentials_are_reached_only_through_their_own_ids<D: Database>(backend: &mut Backend<D>) {
    let store = backend.store().as_ref();
    seed(store).await;
    store.create_organization(organization("other", "other")).await.unwrap();
    add_service_account(store, "sa2", "org", Role::OrgViewer).await;

    let found = store.find_credential(key("org", "sa", "cred")).await.unwrap();
    assert_eq!(found, Some(credential("cred", "org", "sa").credential));
    for wrong in [
        key("other", "sa", "cred"),
        key("org", "sa2", "cred"),
        key("org", "sa", "nope"),
    ] {
        assert_eq!(store.find_credential(wrong).await.unwrap(), None);
    }
}

/// A client_id already taken is a conflict, named in plain words.
pub(crate) async fn a_taken_client_id_is_a_conflict<D: Database>(backend: &mut Backend<D>) {
    let store = backend.store().as_ref();
    seed(store).await;
    let mut duplicate = credential("cred2", "org", "sa");
    duplicate.credential.client_id = "client-cred".to_owned();

    match store.create_credential(duplicate, audit()).await {
        Err(StorageError::Conflict(message)) => assert_eq!(message, "client_id already exists"),
        other => panic!("expected a conflict, got {other:?}"),
    }
}

/// A credential whose service account is in another organization, or nowhere, is
/// not created; in the right place, the same credential is.
pub(crate) async fn a_credential_outside_its_service_accounts_organization_is_not_created<D: Database>(
    backend: &mut Backend<D>,
) {
    let store = backend.store().as_ref();
    seed(store).await;
    store.create_organization(organization("other", "other")).await.unwrap();
    add_service_account(store, "sa-other", "other", Role::OrgAdmin).await;

    for (organization_id, service_account_id) in [("other", "sa"), ("org", "sa-other"), ("org", "nope")] {
        let created = store
            .create_credential(credential("c9", organization_id, service_account_id), audit())
            .await
            .unwrap();
        assert!(!created, "{organization_id}/{service_account_id}");
    }
    assert!(store.find_client("client-c9").await.unwrap().is_none());
    assert_eq!(backend.count_rows("credentials").await, 1, "only the seeded credential");

    assert!(store
        .create_credential(credential("c9", "org", "sa"), audit())
        .await
        .unwrap());
    assert!(store.find_client("client-c9").await.unwrap().is_some());
}

/// A patch changes only the fields it names, and `updated_at` moves only when a
/// field really changes.
pub(crate) async fn updating_a_credential_changes_only_what_the_patch_changes<D: Database>(backend: &mut Backend<D>) {
    let store = backend.store().as_ref();
    seed(store).await;
    let original = credential("cred", "org", "sa").credential;
    let cred_key = key("org", "sa", "cred");

    // An empty patch changes nothing, not even updated_at; nor does setting the
    // values already stored.
    let unchanged = store
        .update_credential(cred_key, patch(None, None), 5_000, None, audit())
        .await;
    assert_eq!(unchanged.unwrap(), Some(original.clone()));
    let same = patch(Some(&original.name), original.description.as_deref());
    let unchanged = store.update_credential(cred_key, same, 5_000, None, audit()).await;
    assert_eq!(unchanged.unwrap(), Some(original.clone()));

    // A new name keeps the description and moves updated_at.
    let renamed = store
        .update_credential(cred_key, patch(Some("renamed"), None), 6_000, None, audit())
        .await;
    let renamed = renamed.unwrap().unwrap();
    assert_eq!(
        (renamed.name.as_str(), &renamed.description, renamed.updated_at),
        ("renamed", &original.description, 6_000)
    );
    assert_eq!(renamed.created_at, original.created_at);
    // The same name again is no change.
    let again = store
        .update_credential(cred_key, patch(Some("renamed"), None), 6_500, None, audit())
        .await;
    assert_eq!(again.unwrap().unwrap().updated_at, 6_000);

    // A new description keeps the name.
    let described = store
        .update_credential(cred_key, patch(None, Some("new")), 7_000, None, audit())
        .await;
    let described = described.unwrap().unwrap();
    assert_eq!(
        (
            described.name.as_str(),
            described.description.as_deref(),
            described.updated_at
        ),
        ("renamed", Some("new"), 7_000)
    );

    // What was returned is what is stored.
    assert_eq!(store.find_credential(cred_key).await.unwrap(), Some(described));
}

/// Every update answers exactly the credential it stored, whatever it names: each
/// field alone, several at once, values already stored, and the expiry set,
/// moved and removed (SQLite's store computes the answer from the row before the
/// update instead of reading it back).
pub(crate) async fn every_update_answers_the_credential_it_stored<D: Database>(backend: &mut Backend<D>) {
    let store = backend.store().as_ref();
    seed(store).await;
    let cred_key = key("org", "sa", "cred");
    let status = |status| CredentialPatch {
        status: Some(status),
        ..Default::default()
    };
    let expiry = |expires_at| CredentialPatch {
        expires_at: Some(expires_at),
        ..Default::default()
    };
    let patches = [
        patch(Some("renamed"), None),
        patch(None, Some("described")),
        patch(Some("renamed"), Some("described")),
        patch(Some("both"), Some("at once")),
        status(CredentialStatus::Disabled),
        status(CredentialStatus::Disabled),
        status(CredentialStatus::Active),
        expiry(Some(900_000)),
        expiry(Some(900_000)),
        expiry(Some(950_000)),
        expiry(None),
        expiry(None),
        CredentialPatch {
            name: Some("everything".to_owned()),
            description: Some("everything".to_owned()),
            status: Some(CredentialStatus::Disabled),
            expires_at: Some(Some(990_000)),
        },
        patch(None, None),
    ];
    for (step, patch) in patches.into_iter().enumerate() {
        let now = 10_000 + 1_000 * step as Millis;
        let answered = store
            .update_credential(cred_key, patch.clone(), now, None, audit())
            .await
            .unwrap();
        let stored = store.find_credential(cred_key).await.unwrap();
        assert_eq!(answered, stored, "step {step}: {patch:?}");
    }
}

/// With an expected state, an update applies only if the stored row is still in
/// exactly that state (a compare-and-set), for credentials and service accounts.
pub(crate) async fn a_conditional_update_applies_only_to_the_expected_state<D: Database>(backend: &mut Backend<D>) {
    let store = backend.store().as_ref();
    seed(store).await;
    let cred_key = key("org", "sa", "cred");
    let read = store.find_credential(cred_key).await.unwrap().unwrap();

    let first = store
        .update_credential(cred_key, patch(Some("first"), None), 6_000, Some(read.clone()), audit())
        .await
        .unwrap();
    assert_eq!(first.as_ref().map(|stored| stored.name.as_str()), Some("first"));
    // The same expectation again: the row has moved on, so nothing changes.
    let stale = store
        .update_credential(cred_key, patch(Some("second"), None), 7_000, Some(read), audit())
        .await
        .unwrap();
    assert_eq!(stale, None);
    assert_eq!(store.find_credential(cred_key).await.unwrap(), first);

    let account = store.find_service_account("org", "sa").await.unwrap().unwrap();
    let demote = ServiceAccountPatch {
        role: Some(Role::OrgViewer),
        ..ServiceAccountPatch::default()
    };
    let mut other_role = account.clone();
    other_role.role = Role::OrgViewer;
    let refused = store
        .update_service_account("org", "sa", demote.clone(), 8_000, Some(other_role), audit())
        .await
        .unwrap();
    assert_eq!(refused, None);
    assert_eq!(
        store.find_service_account("org", "sa").await.unwrap(),
        Some(account.clone())
    );
    let applied = store
        .update_service_account("org", "sa", demote, 8_000, Some(account), audit())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(applied.role, Role::OrgViewer);
}

/// Through a wrong ID of the three, an update finds nothing and changes nothing.
pub(crate) async fn updating_a_credential_through_wrong_ids_finds_nothing<D: Database>(backend: &mut Backend<D>) {
    let store = backend.store().as_ref();
    seed(store).await;
    let hijack = patch(Some("hijacked"), None);

    for wrong in [
        key("other", "sa", "cred"),
        key("org", "sa2", "cred"),
        key("org", "sa", "nope"),
    ] {
        let updated = store
            .update_credential(wrong, hijack.clone(), 9_000, None, audit())
            .await;
        assert_eq!(updated.unwrap(), None);
    }
    let stored = store.find_credential(key("org", "sa", "cred")).await.unwrap().unwrap();
    assert_eq!(stored.name, "Credential cred");
}

/// Through a wrong ID of the three, a delete finds nothing and deletes nothing.
pub(crate) async fn credentials_are_deleted_only_through_their_own_ids<D: Database>(backend: &mut Backend<D>) {
    let store = backend.store().as_ref();
    seed(store).await;
    store.create_organization(organization("other", "other")).await.unwrap();
    add_service_account(store, "sa2", "org", Role::OrgViewer).await;
    store
        .insert_token(super::token("tok", "cred", 10_000, 13_600), audit())
        .await
        .unwrap();

    for wrong in [
        key("other", "sa", "cred"),
        key("org", "sa2", "cred"),
        key("org", "sa", "nope"),
    ] {
        assert!(!store.delete_credential(wrong, None, audit()).await.unwrap());
    }
    assert!(store.find_credential(key("org", "sa", "cred")).await.unwrap().is_some());
    assert!(store.find_token("tok").await.unwrap().is_some());
}

/// Many writes at once all commit, and a store opened afresh finds every one.
pub(crate) async fn concurrent_writes_all_commit_and_survive_reopening<D: Database>(backend: &mut Backend<D>) {
    const COUNT: usize = 200;
    seed(backend.store().as_ref()).await;

    let mut creates = Vec::new();
    for index in 0..COUNT {
        let store = Arc::clone(backend.store());
        creates.push(tokio::spawn(async move {
            let new = credential(&format!("c{index}"), "org", "sa");
            store.create_credential(new, audit()).await
        }));
    }
    for create in creates {
        assert!(create.await.unwrap().expect("create credential"));
    }

    let mut updates = Vec::new();
    for index in 0..COUNT {
        let store = Arc::clone(backend.store());
        updates.push(tokio::spawn(async move {
            let id = format!("c{index}");
            let rename = patch(Some(&format!("name {index}")), None);
            store
                .update_credential(key("org", "sa", &id), rename, 10_000 + index as Millis, None, audit())
                .await
        }));
    }
    for update in updates {
        assert!(update.await.unwrap().expect("update credential").is_some());
    }

    backend.reopen().await;
    let store = backend.store().as_ref();
    for index in 0..COUNT {
        let id = format!("c{index}");
        let stored = store.find_credential(key("org", "sa", &id)).await.unwrap().unwrap();
        assert_eq!(stored.name, format!("name {index}"));
        assert_eq!(stored.updated_at, 10_000 + index as Millis);
    }
}

/// Two writers patching different fields of one credential at once never undo
/// each other, and each sees its own write in its answer.
pub(crate) async fn concurrent_updates_of_different_fields_never_undo_each_other<D: Database>(
    backend: &mut Backend<D>,
) {
    const ROUNDS: usize = 60;
    seed(backend.store().as_ref()).await;

    let writer = |field: &'static str| {
        let store = Arc::clone(backend.store());
        tokio::spawn(async move {
            for round in 0..ROUNDS {
                let value = format!("{field}-{round}");
                let change = match field {
                    "name" => patch(Some(&value), None),
                    _ => patch(None, Some(&value)),
                };
                let now = 10_000 + round as Millis;
                let stored = store
                    .update_credential(key("org", "sa", "cred"), change, now, None, audit())
                    .await;
                let stored = stored.unwrap().unwrap();
                let shown = if field == "name" {
                    Some(stored.name)
                } else {
                    stored.description
                };
                assert_eq!(shown.as_deref(), Some(value.as_str()));
            }
        })
    };
    let names = writer("name");
    let descriptions = writer("description");
    names.await.unwrap();
    descriptions.await.unwrap();

    let last = backend
        .store()
        .find_credential(key("org", "sa", "cred"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(last.name, format!("name-{}", ROUNDS - 1));
    assert_eq!(last.description, Some(format!("description-{}", ROUNDS - 1)));
}

/// With an expected state, a delete applies only if the stored row is still in
/// exactly that state, for credentials and service accounts.
pub(crate) async fn a_conditional_delete_deletes_only_the_version_expected<D: Database>(backend: &mut Backend<D>) {
    let store = backend.store().as_ref();
    seed(store).await;
    let cred_key = key("org", "sa", "cred");
    let read = store.find_credential(cred_key).await.unwrap().unwrap();
    let renamed = store
        .update_credential(cred_key, patch(Some("renamed"), None), 5_000, None, audit())
        .await
        .unwrap();

    assert!(!store.delete_credential(cred_key, Some(read), audit()).await.unwrap());
    assert!(store.find_credential(cred_key).await.unwrap().is_some());
    assert!(store.delete_credential(cred_key, renamed, audit()).await.unwrap());

    let account = store.find_service_account("org", "sa").await.unwrap().unwrap();
    let mut stale = account.clone();
    stale.updated_at -= 1;
    assert!(!store
        .delete_service_account("org", "sa", Some(stale), audit())
        .await
        .unwrap());
    assert!(store.find_service_account("org", "sa").await.unwrap().is_some());
    assert!(store
        .delete_service_account("org", "sa", Some(account), audit())
        .await
        .unwrap());
}
