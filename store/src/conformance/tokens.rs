//! Conformance: clients (a credential found by client_id) and tokens.

use super::{audit, credential, key, seed, token, Backend, Database};
use crate::{Role, Store};

/// A client is found by its client_id, with its secret hash.
pub(crate) async fn clients_are_found_by_client_id_with_their_secret_hash<D: Database>(backend: &mut Backend<D>) {
    let store = backend.store().as_ref();
    seed(store).await;

    let client = store.find_client("client-cred").await.unwrap().unwrap();
    assert_eq!(client.credential, credential("cred", "org", "sa").credential);
    assert_eq!(client.secret_hash, [7; 32]);
    assert!(store.find_client("client-nope").await.unwrap().is_none());
}

/// Minting a token records its credential as used (not as edited), and the token
/// is found with the identity and role it speaks for.
pub(crate) async fn inserting_a_token_marks_the_credential_used_and_finds_its_role<D: Database>(
    backend: &mut Backend<D>,
) {
    let store = backend.store().as_ref();
    seed(store).await;

    store
        .insert_token(token("tok", "cred", 10_000, 13_600), audit())
        .await
        .unwrap();

    let used = store.find_credential(key("org", "sa", "cred")).await.unwrap().unwrap();
    assert_eq!(used.last_used_at, Some(10_000));
    assert_eq!(used.updated_at, 3_000, "minting a token is not an edit");
    let client = store.find_client("client-cred").await.unwrap().unwrap();
    assert_eq!(client.credential.last_used_at, Some(10_000));

    let found = store.find_token("tok").await.unwrap().unwrap();
    assert_eq!(
        (found.id.as_str(), found.secret_hash, found.expires_at),
        ("tok", [9; 32], 13_600)
    );
    assert_eq!(
        (
            found.credential_id.as_str(),
            found.service_account_id.as_str(),
            found.organization_id.as_str()
        ),
        ("cred", "sa", "org")
    );
    assert_eq!(found.role, Role::OrgAdmin);
    assert!(store.find_token("nope").await.unwrap().is_none());
}

/// Minting a token sweeps its credential's expired tokens, and only those.
pub(crate) async fn inserting_a_token_removes_the_credentials_expired_tokens<D: Database>(backend: &mut Backend<D>) {
    let store = backend.store().as_ref();
    seed(store).await;

    store
        .insert_token(token("old", "cred", 10_000, 11_000), audit())
        .await
        .unwrap();
    store
        .insert_token(token("live", "cred", 10_500, 20_000), audit())
        .await
        .unwrap();
    store
        .insert_token(token("new", "cred", 11_000, 21_000), audit())
        .await
        .unwrap();

    assert!(
        store.find_token("old").await.unwrap().is_none(),
        "swept: it expired at 11,000"
    );
    assert!(store.find_token("live").await.unwrap().is_some());
    assert!(store.find_token("new").await.unwrap().is_some());
    assert_eq!(backend.count_rows("tokens").await, 2, "the expired row is gone");
    let used = store.find_credential(key("org", "sa", "cred")).await.unwrap().unwrap();
    assert_eq!(used.last_used_at, Some(11_000));
}

/// A token of a credential that does not exist is refused, and the message names it.
pub(crate) async fn a_token_of_a_missing_credential_is_refused_and_stores_nothing<D: Database>(
    backend: &mut Backend<D>,
) {
    let store = backend.store().as_ref();
    seed(store).await;

    // Not an error: the credential was deleted between the secret check and the
    // insert, and the token endpoint answers that as a failed authentication.
    assert!(!store.insert_token(token("t9", "nope", 10, 20), audit()).await.unwrap());
    assert!(store.find_token("t9").await.unwrap().is_none());
    assert_eq!(backend.count_rows("tokens").await, 0);
    // A deleted service account takes its credentials: their tokens are refused too.
    assert!(store.delete_service_account("org", "sa", None, audit()).await.unwrap());
    assert!(!store.insert_token(token("t10", "cred", 10, 20), audit()).await.unwrap());
    assert_eq!(backend.count_rows("tokens").await, 0);
}

/// Deleting a credential deletes its tokens, rows and all, and nothing of its sibling's.
pub(crate) async fn a_deleted_credential_takes_its_tokens_with_it<D: Database>(backend: &mut Backend<D>) {
    let store = backend.store().as_ref();
    seed(store).await;
    assert!(store
        .create_credential(credential("cred2", "org", "sa"), audit())
        .await
        .unwrap());
    store
        .insert_token(token("tok", "cred", 10_000, 13_600), audit())
        .await
        .unwrap();
    store
        .insert_token(token("tok-b", "cred", 10_001, 13_601), audit())
        .await
        .unwrap();
    store
        .insert_token(token("tok2", "cred2", 10_000, 13_600), audit())
        .await
        .unwrap();

    assert!(store
        .delete_credential(key("org", "sa", "cred"), None, audit())
        .await
        .unwrap());

    assert!(store.find_token("tok").await.unwrap().is_none());
    assert!(store.find_token("tok-b").await.unwrap().is_none());
    assert!(store.find_credential(key("org", "sa", "cred")).await.unwrap().is_none());
    assert!(store.find_client("client-cred").await.unwrap().is_none());
    assert_eq!(
        backend.count_rows("tokens").await,
        1,
        "only the sibling's token row is left"
    );

    // The sibling credential and its token, and the service account, are untouched.
    assert!(store.find_token("tok2").await.unwrap().is_some());
    assert!(store
        .find_credential(key("org", "sa", "cred2"))
        .await
        .unwrap()
        .is_some());
    assert!(store.find_service_account("org", "sa").await.unwrap().is_some());
    assert!(!store
        .delete_credential(key("org", "sa", "cred"), None, audit())
        .await
        .unwrap());
}

/// The schema itself removes a credential's tokens with it, whoever deletes it.
pub(crate) async fn a_credential_deleted_by_another_program_takes_its_tokens_with_it<D: Database>(
    backend: &mut Backend<D>,
) {
    let store = backend.store().as_ref();
    seed(store).await;
    store
        .insert_token(token("tok", "cred", 10_000, 13_600), audit())
        .await
        .unwrap();

    backend.execute("DELETE FROM credentials WHERE id = 'cred'").await;

    assert!(store.find_token("tok").await.unwrap().is_none());
    assert_eq!(
        backend.count_rows("tokens").await,
        0,
        "the cascade removed the token row"
    );
}

/// RFC 7009: a token is revoked by the credential that minted it, presenting its
/// secret, and by nobody else; revoking it twice finds nothing the second time.
pub(crate) async fn a_token_is_revoked_only_by_its_own_credential_with_its_secret<D: Database>(
    backend: &mut Backend<D>,
) {
    let store = backend.store().as_ref();
    seed(store).await;
    assert!(store
        .create_credential(credential("cred2", "org", "sa"), audit())
        .await
        .unwrap());
    store
        .insert_token(token("tok", "cred", 10_000, 13_600), audit())
        .await
        .unwrap();
    store
        .insert_token(token("tok2", "cred", 10_001, 13_601), audit())
        .await
        .unwrap();

    assert!(
        !store
            .revoke_token("tok", [9; 32], key("org", "sa", "cred2"), audit())
            .await
            .unwrap(),
        "another credential's token is not revoked"
    );
    assert!(
        !store
            .revoke_token("tok", [8; 32], key("org", "sa", "cred"), audit())
            .await
            .unwrap(),
        "not with the wrong secret"
    );
    assert!(!store
        .revoke_token("nope", [9; 32], key("org", "sa", "cred"), audit())
        .await
        .unwrap());
    assert!(!store
        .revoke_token("tok\0", [9; 32], key("org", "sa", "cred"), audit())
        .await
        .unwrap());
    assert!(store.find_token("tok").await.unwrap().is_some());

    assert!(store
        .revoke_token("tok", [9; 32], key("org", "sa", "cred"), audit())
        .await
        .unwrap());

    assert!(store.find_token("tok").await.unwrap().is_none());
    assert!(
        !store
            .revoke_token("tok", [9; 32], key("org", "sa", "cred"), audit())
            .await
            .unwrap(),
        "already revoked"
    );
    assert!(
        store.find_token("tok2").await.unwrap().is_some(),
        "the credential's other token still works"
    );
    assert!(store.find_credential(key("org", "sa", "cred")).await.unwrap().is_some());
    assert_eq!(backend.count_rows("tokens").await, 1);
}
