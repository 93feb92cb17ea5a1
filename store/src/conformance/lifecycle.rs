//! Conformance: a credential's lifecycle (status, expiry, rotation) and what it does to its tokens.

use super::{audit, credential, key, seed, token, Backend, Database};
use crate::{CredentialPatch, CredentialStatus, Millis, Rotation, Store};

/// A patch of the status only.
fn status(status: CredentialStatus) -> CredentialPatch {
    CredentialPatch {
        status: Some(status),
        ..Default::default()
    }
}

/// A patch of the expiry only (`None` removes it).
fn expiry(expires_at: Option<Millis>) -> CredentialPatch {
    CredentialPatch {
        expires_at: Some(expires_at),
        ..Default::default()
    }
}

/// A rotation at `now` to the secret hash `[hash; 32]`.
fn rotation(hash: u8, now: Millis, grace_until: Option<Millis>, revoke_tokens: bool) -> Rotation {
    Rotation {
        secret_hash: [hash; 32],
        now,
        previous_secret_expires_at: grace_until,
        revoke_tokens,
    }
}

/// A new credential is active, without expiry or rotation; one created with an expiry keeps it.
pub(crate) async fn a_credential_is_created_active_with_the_expiry_given<D: Database>(backend: &mut Backend<D>) {
    let store = backend.store().as_ref();
    seed(store).await;
    let found = store.find_credential(key("org", "sa", "cred")).await.unwrap().unwrap();
    assert_eq!(found.status, CredentialStatus::Active);
    assert_eq!(
        (
            found.expires_at,
            found.secret_rotated_at,
            found.previous_secret_expires_at
        ),
        (None, None, None)
    );

    let mut expiring = credential("cred2", "org", "sa");
    expiring.credential.expires_at = Some(50_000);
    assert!(store.create_credential(expiring.clone(), audit()).await.unwrap());
    let found = store.find_credential(key("org", "sa", "cred2")).await.unwrap().unwrap();
    assert_eq!(found, expiring.credential);
    let client = store.find_client("client-cred2").await.unwrap().unwrap();
    assert_eq!(client.credential.expires_at, Some(50_000));
    assert_eq!(client.previous_secret_hash, None);
}

/// Disabling deletes the credential's tokens in the same write; enabling again
/// revives none, and a disabled credential mints nothing.
pub(crate) async fn disabling_a_credential_deletes_its_tokens_and_refuses_new_ones<D: Database>(
    backend: &mut Backend<D>,
) {
    let store = backend.store().as_ref();
    seed(store).await;
    assert!(store
        .create_credential(credential("cred2", "org", "sa"), audit())
        .await
        .unwrap());
    assert!(store
        .insert_token(token("tok", "cred", 10_000, 13_600), audit())
        .await
        .unwrap());
    assert!(store
        .insert_token(token("tok2", "cred2", 10_000, 13_600), audit())
        .await
        .unwrap());

    let disabled = store
        .update_credential(
            key("org", "sa", "cred"),
            status(CredentialStatus::Disabled),
            11_000,
            None,
            audit(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(disabled.status, CredentialStatus::Disabled);
    assert_eq!(disabled.updated_at, 11_000, "a status change is an edit");
    assert!(store.find_token("tok").await.unwrap().is_none());
    assert_eq!(
        backend.count_rows("tokens").await,
        1,
        "only the sibling's token is left"
    );
    assert!(store.find_token("tok2").await.unwrap().is_some());
    assert!(!store
        .insert_token(token("tok3", "cred", 11_500, 15_100), audit())
        .await
        .unwrap());

    let enabled = store
        .update_credential(
            key("org", "sa", "cred"),
            status(CredentialStatus::Active),
            12_000,
            None,
            audit(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(enabled.status, CredentialStatus::Active);
    assert!(
        store.find_token("tok").await.unwrap().is_none(),
        "enabling revives nothing"
    );
    assert!(store
        .insert_token(token("tok4", "cred", 12_500, 16_100), audit())
        .await
        .unwrap());
    assert!(store.find_token("tok4").await.unwrap().is_some());
}

/// Setting an expiry cuts the tokens' expiry to it in the same write; removing it
/// leaves them; an unchanged status or expiry is no edit.
pub(crate) async fn an_expiry_caps_the_tokens_and_can_be_removed<D: Database>(backend: &mut Backend<D>) {
    let store = backend.store().as_ref();
    seed(store).await;
    assert!(store
        .insert_token(token("long", "cred", 10_000, 13_600), audit())
        .await
        .unwrap());
    assert!(store
        .insert_token(token("short", "cred", 10_000, 10_500), audit())
        .await
        .unwrap());

    let expiring = store
        .update_credential(key("org", "sa", "cred"), expiry(Some(12_000)), 11_000, None, audit())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((expiring.expires_at, expiring.updated_at), (Some(12_000), 11_000));
    assert_eq!(store.find_token("long").await.unwrap().unwrap().expires_at, 12_000);
    assert_eq!(store.find_token("short").await.unwrap().unwrap().expires_at, 10_500);

    let same = store
        .update_credential(key("org", "sa", "cred"), expiry(Some(12_000)), 11_100, None, audit())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(same.updated_at, 11_000, "the same expiry again is no edit");
    let same = store
        .update_credential(
            key("org", "sa", "cred"),
            status(CredentialStatus::Active),
            11_200,
            None,
            audit(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(same.updated_at, 11_000, "the same status again is no edit");

    let cleared = store
        .update_credential(key("org", "sa", "cred"), expiry(None), 11_300, None, audit())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((cleared.expires_at, cleared.updated_at), (None, 11_300));
    assert_eq!(store.find_token("long").await.unwrap().unwrap().expires_at, 12_000);

    let renamed = store
        .update_credential(
            key("org", "sa", "cred"),
            CredentialPatch {
                name: Some("renamed".to_owned()),
                ..Default::default()
            },
            11_400,
            None,
            audit(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(renamed.expires_at, None, "a patch without expires_at leaves it");
}

/// A token minted by an expiring credential expires with it at the latest, and an
/// expired credential mints nothing.
pub(crate) async fn a_token_never_outlives_its_credentials_expiry<D: Database>(backend: &mut Backend<D>) {
    let store = backend.store().as_ref();
    seed(store).await;
    store
        .update_credential(key("org", "sa", "cred"), expiry(Some(12_000)), 9_000, None, audit())
        .await
        .unwrap()
        .unwrap();

    assert!(store
        .insert_token(token("tok", "cred", 10_000, 13_600), audit())
        .await
        .unwrap());
    assert_eq!(store.find_token("tok").await.unwrap().unwrap().expires_at, 12_000);
    assert!(store
        .insert_token(token("early", "cred", 10_000, 11_000), audit())
        .await
        .unwrap());
    assert_eq!(store.find_token("early").await.unwrap().unwrap().expires_at, 11_000);

    assert!(!store
        .insert_token(token("late", "cred", 12_000, 15_600), audit())
        .await
        .unwrap());
    assert!(store.find_token("late").await.unwrap().is_none());
    let used = store.find_credential(key("org", "sa", "cred")).await.unwrap().unwrap();
    assert_eq!(used.last_used_at, Some(10_000), "a refused mint is no use");
}

/// A rotation replaces the secret, keeps the replaced one for its grace in the one
/// previous slot (overwriting an older one), or forgets it without grace, and
/// leaves the tokens unless asked to revoke them.
pub(crate) async fn rotating_keeps_at_most_one_previous_secret<D: Database>(backend: &mut Backend<D>) {
    let store = backend.store().as_ref();
    seed(store).await;
    assert!(store
        .insert_token(token("tok", "cred", 10_000, 13_600), audit())
        .await
        .unwrap());

    let rotated = store
        .rotate_credential(
            key("org", "sa", "cred"),
            rotation(8, 11_000, Some(71_000), false),
            None,
            audit(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            rotated.secret_rotated_at,
            rotated.previous_secret_expires_at,
            rotated.updated_at
        ),
        (Some(11_000), Some(71_000), 11_000)
    );
    assert_eq!(rotated.client_id, "client-cred", "the client_id stays");
    let client = store.find_client("client-cred").await.unwrap().unwrap();
    assert_eq!(
        (client.secret_hash, client.previous_secret_hash),
        ([8; 32], Some([7; 32]))
    );
    assert!(
        store.find_token("tok").await.unwrap().is_some(),
        "tokens survive a rotation"
    );

    store
        .rotate_credential(
            key("org", "sa", "cred"),
            rotation(6, 12_000, Some(72_000), false),
            None,
            audit(),
        )
        .await
        .unwrap()
        .unwrap();
    let client = store.find_client("client-cred").await.unwrap().unwrap();
    assert_eq!(
        (client.secret_hash, client.previous_secret_hash),
        ([6; 32], Some([8; 32])),
        "the first secret is gone at once"
    );
    assert_eq!(client.credential.previous_secret_expires_at, Some(72_000));

    let rotated = store
        .rotate_credential(key("org", "sa", "cred"), rotation(5, 13_000, None, true), None, audit())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rotated.previous_secret_expires_at, None);
    let client = store.find_client("client-cred").await.unwrap().unwrap();
    assert_eq!((client.secret_hash, client.previous_secret_hash), ([5; 32], None));
    assert!(
        store.find_token("tok").await.unwrap().is_none(),
        "revoked with the rotation"
    );
    assert_eq!(backend.count_rows("tokens").await, 0);
}

/// A rotation reaches a credential only through its own IDs, and with an expected
/// state only that state; a lifecycle change makes an older expected state stale.
pub(crate) async fn a_rotation_checks_ids_and_the_expected_state<D: Database>(backend: &mut Backend<D>) {
    let store = backend.store().as_ref();
    seed(store).await;
    let original = store.find_credential(key("org", "sa", "cred")).await.unwrap().unwrap();

    for wrong in [
        key("org", "sa", "nope"),
        key("org", "sa2", "cred"),
        key("other", "sa", "cred"),
    ] {
        let rotated = store
            .rotate_credential(wrong, rotation(8, 11_000, None, false), None, audit())
            .await
            .unwrap();
        assert!(rotated.is_none());
    }

    let disabled = store
        .update_credential(
            key("org", "sa", "cred"),
            status(CredentialStatus::Disabled),
            11_000,
            None,
            audit(),
        )
        .await
        .unwrap()
        .unwrap();
    let stale = store
        .rotate_credential(
            key("org", "sa", "cred"),
            rotation(8, 12_000, None, false),
            Some(original),
            audit(),
        )
        .await
        .unwrap();
    assert!(stale.is_none(), "the status changed since");
    assert_eq!(
        store.find_client("client-cred").await.unwrap().unwrap().secret_hash,
        [7; 32]
    );

    let rotated = store
        .rotate_credential(
            key("org", "sa", "cred"),
            rotation(8, 12_000, None, false),
            Some(disabled.clone()),
            audit(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        rotated.status,
        CredentialStatus::Disabled,
        "a rotation changes no status"
    );
    let stale_delete = store
        .delete_credential(key("org", "sa", "cred"), Some(disabled), audit())
        .await
        .unwrap();
    assert!(!stale_delete, "the rotation changed the state");
    let deleted = store
        .delete_credential(key("org", "sa", "cred"), Some(rotated), audit())
        .await
        .unwrap();
    assert!(deleted, "the state just returned is the current one");
}
