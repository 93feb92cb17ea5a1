//! Tests of the SQLite store against real database files in temporary directories.

use std::future::{poll_fn, Future};
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::SqliteStore;
use crate::migrations::MIGRATIONS;
use crate::{
    Credential, CredentialKey, CredentialPatch, Millis, NewCredential, NewToken, Organization, Role, ServiceAccount,
    ServiceAccountPatch, StorageError, StorageObserver, StorageResult, Store,
};

/// A temporary directory and the database path inside it.
pub(super) fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("create temp dir");
    let path = dir.path().join("keycred.db");
    (dir, path)
}

/// Opens the store at `path`, failing the test if it cannot.
pub(super) fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(path).expect("open store")
}

/// A plain connection to the same file, as another process would have.
pub(super) fn raw(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("open raw connection");
    conn.pragma_update(None, "foreign_keys", "ON")
        .expect("enable foreign keys");
    conn
}

/// Takes the database's write lock from another connection, so the writer thread
/// blocks on its next `BEGIN IMMEDIATE` until the returned connection is dropped.
fn hold_write_lock(path: &Path) -> Connection {
    let conn = raw(path);
    conn.execute_batch("BEGIN IMMEDIATE").expect("take write lock");
    conn
}

/// An organization created at 1000.
pub(super) fn organization(id: &str, label: &str) -> Organization {
    Organization {
        id: id.to_owned(),
        label: label.to_owned(),
        name: format!("Organization {label}"),
        created_at: 1_000,
        updated_at: 1_000,
    }
}

/// A service account created at 2000.
pub(super) fn service_account(id: &str, organization_id: &str, role: Role) -> ServiceAccount {
    ServiceAccount {
        id: id.to_owned(),
        organization_id: organization_id.to_owned(),
        name: format!("Service account {id}"),
        description: Some("robot".to_owned()),
        role,
        created_at: 2_000,
        updated_at: 2_000,
    }
}

/// A credential created at 3000, with client_id `client-{id}`.
pub(super) fn credential(id: &str, organization_id: &str, service_account_id: &str) -> NewCredential {
    NewCredential {
        credential: Credential {
            id: id.to_owned(),
            organization_id: organization_id.to_owned(),
            service_account_id: service_account_id.to_owned(),
            client_id: format!("client-{id}"),
            name: format!("Credential {id}"),
            description: Some("original description".to_owned()),
            created_at: 3_000,
            updated_at: 3_000,
            last_used_at: None,
        },
        secret_hash: [7; 32],
    }
}

/// A token of `credential_id`.
pub(super) fn token(id: &str, credential_id: &str, created_at: Millis, expires_at: Millis) -> NewToken {
    NewToken {
        id: id.to_owned(),
        secret_hash: [9; 32],
        credential_id: credential_id.to_owned(),
        created_at,
        expires_at,
    }
}

/// The key of credential `id`.
pub(super) fn key<'a>(organization_id: &'a str, service_account_id: &'a str, id: &'a str) -> CredentialKey<'a> {
    CredentialKey {
        organization_id,
        service_account_id,
        credential_id: id,
    }
}

/// Creates organization `org`, its service account `sa` (admin) and credential `cred`.
pub(super) async fn seed(store: &SqliteStore) {
    store
        .create_organization(organization("org", "acme"))
        .await
        .expect("create organization");
    store
        .create_service_account(service_account("sa", "org", Role::OrgAdmin))
        .await
        .expect("create service account");
    let created = store
        .create_credential(credential("cred", "org", "sa"))
        .await
        .expect("create credential");
    assert!(created);
}

/// Creates an organization whose ID and label are both `id`; a future that owns
/// what it needs, so it can be spawned.
fn create_organization(store: &Arc<SqliteStore>, id: &str) -> impl Future<Output = StorageResult<()>> + Send + 'static {
    let store = Arc::clone(store);
    let organization = organization(id, id);
    async move { store.create_organization(organization).await }
}

/// Spawns `write` and returns once it has been polled once, which is when its job
/// is queued for the writer (or refused): no sleeping and hoping.
async fn queue<T: Send + 'static>(write: impl Future<Output = T> + Send + 'static) -> JoinHandle<T> {
    let (polled, was_polled) = oneshot::channel();
    let task = tokio::spawn(async move {
        let mut write = pin!(write);
        let first = poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await;
        let _ = polled.send(());
        match first {
            Poll::Ready(output) => output,
            Poll::Pending => write.await,
        }
    });
    was_polled.await.expect("write task polled");
    task
}

/// A job that holds the writer thread inside its batch until released.
struct Blocker {
    release: std::sync::mpsc::Sender<()>,
    task: JoinHandle<StorageResult<()>>,
}

impl Blocker {
    /// Lets the blocking job finish; its batch commits and the writer moves on.
    async fn release(self) {
        self.release.send(()).expect("blocking job waits");
        self.task.await.unwrap().expect("blocking job");
    }
}

/// Occupies the writer with a job that waits inside its own batch, and returns
/// once that job runs. Everything queued from then on forms the next batch.
async fn block_writer(store: &Arc<SqliteStore>) -> Blocker {
    let (running, is_running) = oneshot::channel();
    let (release, wait_for_release) = std::sync::mpsc::channel::<()>();
    let store = Arc::clone(store);
    let task = tokio::spawn(async move {
        store
            .writer
            .write(move |_conn| {
                let _ = running.send(());
                let _ = wait_for_release.recv();
                Ok(())
            })
            .await
    });
    is_running.await.expect("blocking job runs");
    Blocker { release, task }
}

fn applied_migrations(path: &Path) -> Vec<(i64, i64)> {
    let conn = raw(path);
    let mut statement = conn
        .prepare("SELECT version, applied_at FROM schema_migrations ORDER BY version")
        .expect("prepare");
    let rows = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("query");
    rows.collect::<Result<_, _>>().expect("read rows")
}

#[tokio::test]
async fn migrations_apply_once_and_reopening_applies_nothing() {
    let (_dir, path) = temp_db();
    drop(open(&path));
    let first = applied_migrations(&path);
    assert_eq!(first.len(), MIGRATIONS.len());
    assert_eq!(first[0].0, 1);

    drop(open(&path));
    assert_eq!(applied_migrations(&path), first);
}

#[tokio::test]
async fn a_database_at_version_1_is_upgraded_with_its_data() {
    let (_dir, path) = temp_db();
    {
        // What a build that knew only migration 1 left behind.
        let conn = raw(&path);
        conn.execute_batch(MIGRATIONS[0].sqlite).expect("apply migration 1");
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT;
             INSERT INTO schema_migrations (version, applied_at) VALUES (1, 0);
             INSERT INTO organizations VALUES ('org', 'acme', 'Acme', 1000, 1000);
             INSERT INTO service_accounts VALUES ('sa', 'org', 'robot', NULL, 'org_admin', 2000, 2000);",
        )
        .expect("seed version 1 data");
    }

    let store = open(&path);
    let versions: Vec<i64> = applied_migrations(&path)
        .into_iter()
        .map(|(version, _)| version)
        .collect();
    assert_eq!(versions, [1, 2, 3]);
    assert!(store.find_service_account("org", "sa").await.unwrap().is_some());

    let conn = raw(&path);
    let mut statement = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .expect("prepare");
    let indexes: Vec<String> = statement
        .query_map([], |row| row.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("read rows");
    assert_eq!(
        indexes,
        [
            "credentials_service_account_id_created_at_id",
            "service_accounts_organization_id_created_at_id",
            "tokens_credential_id_expires_at",
        ]
    );
}

#[test]
fn several_stores_can_create_the_same_new_database_at_once() {
    for _ in 0..10 {
        let (_dir, path) = temp_db();
        let start = Arc::new(std::sync::Barrier::new(4));
        let openers: Vec<_> = (0..4)
            .map(|_| {
                let path = path.clone();
                let start = Arc::clone(&start);
                std::thread::spawn(move || {
                    start.wait();
                    SqliteStore::open(&path).map(drop)
                })
            })
            .collect();
        for opener in openers {
            opener.join().unwrap().expect("open a new database concurrently");
        }
        assert_eq!(applied_migrations(&path).len(), MIGRATIONS.len());
    }
}

#[tokio::test]
async fn a_database_from_a_newer_build_is_refused() {
    let (_dir, path) = temp_db();
    drop(open(&path));
    raw(&path)
        .execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)",
            [],
        )
        .expect("insert future migration");
    assert!(matches!(SqliteStore::open(&path), Err(StorageError::Internal(_))));
}

#[tokio::test]
async fn connections_have_the_required_pragmas() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    type Pragmas = (String, i64, i64, i64, i64, i64, i64);
    let read_pragmas = |conn: &Connection| -> rusqlite::Result<Pragmas> {
        Ok((
            conn.pragma_query_value(None, "journal_mode", |row| row.get(0))?,
            conn.pragma_query_value(None, "synchronous", |row| row.get(0))?,
            conn.pragma_query_value(None, "foreign_keys", |row| row.get(0))?,
            conn.pragma_query_value(None, "busy_timeout", |row| row.get(0))?,
            conn.pragma_query_value(None, "query_only", |row| row.get(0))?,
            conn.pragma_query_value(None, "wal_autocheckpoint", |row| row.get(0))?,
            conn.pragma_query_value(None, "journal_size_limit", |row| row.get(0))?,
        ))
    };
    let log_limit = 64 * 1024 * 1024;
    let writer = store
        .writer
        .write(move |conn| read_pragmas(conn).map_err(|err| StorageError::Internal(err.to_string())))
        .await
        .expect("writer pragmas");
    assert_eq!(writer, ("wal".to_owned(), 2, 1, 5000, 0, 0, log_limit));
    let reader = store
        .readers
        .read("pragmas", read_pragmas)
        .await
        .expect("reader pragmas");
    assert_eq!(reader, ("wal".to_owned(), 2, 1, 5000, 1, 0, log_limit));

    let write_on_reader = store
        .readers
        .read("write on reader", |conn| conn.execute("DELETE FROM organizations", []))
        .await;
    assert!(write_on_reader.is_err());
}

#[tokio::test]
async fn organizations_are_found_by_id_and_by_label() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    let acme = organization("org", "acme");
    store.create_organization(acme.clone()).await.unwrap();

    assert_eq!(store.find_organization("org").await.unwrap(), Some(acme.clone()));
    assert_eq!(store.find_organization("acme").await.unwrap(), Some(acme));
    assert_eq!(store.find_organization("nope").await.unwrap(), None);
}

#[tokio::test]
async fn an_id_match_wins_over_a_label_match() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    // The second organization's label is the first one's ID.
    store.create_organization(organization("first", "one")).await.unwrap();
    store
        .create_organization(organization("second", "first"))
        .await
        .unwrap();

    let found = store.find_organization("first").await.unwrap().unwrap();
    assert_eq!(found.id, "first");
}

#[tokio::test]
async fn a_taken_label_is_a_conflict() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    store.create_organization(organization("org1", "acme")).await.unwrap();

    match store.create_organization(organization("org2", "acme")).await {
        Err(StorageError::Conflict(message)) => {
            assert_eq!(message, "organization label already exists");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[tokio::test]
async fn credentials_are_reached_only_through_their_own_ids() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    seed(&store).await;
    store.create_organization(organization("other", "other")).await.unwrap();
    store
        .create_service_account(service_account("sa2", "org", Role::OrgViewer))
        .await
        .unwrap();

    let found = store.find_credential(key("org", "sa", "cred")).await.unwrap();
    assert_eq!(found, Some(credential("cred", "org", "sa").credential));
    assert_eq!(store.find_credential(key("other", "sa", "cred")).await.unwrap(), None);
    assert_eq!(store.find_credential(key("org", "sa2", "cred")).await.unwrap(), None);
    assert_eq!(store.find_credential(key("org", "sa", "nope")).await.unwrap(), None);
}

#[tokio::test]
async fn creating_under_a_missing_parent_fails_with_a_clear_message() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    seed(&store).await;
    store.create_organization(organization("other", "other")).await.unwrap();

    match store
        .create_service_account(service_account("sa9", "nope", Role::OrgMember))
        .await
    {
        Err(StorageError::Internal(message)) => assert!(message.contains("organization nope")),
        other => panic!("expected an internal error, got {other:?}"),
    }
    // A token of a credential that is gone is not an error but a refusal: the
    // credential was deleted between the secret check and the insert.
    assert!(!store.insert_token(token("t9", "nope", 10, 20)).await.unwrap());
    assert!(store.find_token("t9").await.unwrap().is_none());
}

#[tokio::test]
async fn a_taken_client_id_is_a_conflict() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    seed(&store).await;
    let mut duplicate = credential("cred2", "org", "sa");
    duplicate.credential.client_id = "client-cred".to_owned();

    match store.create_credential(duplicate).await {
        Err(StorageError::Conflict(message)) => assert_eq!(message, "client_id already exists"),
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[tokio::test]
async fn updating_a_credential_changes_only_what_the_patch_changes() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    seed(&store).await;
    let original = credential("cred", "org", "sa").credential;
    let cred_key = key("org", "sa", "cred");

    // An empty patch changes nothing, not even updated_at.
    let unchanged = store
        .update_credential(cred_key, CredentialPatch::default(), 5_000, None)
        .await
        .unwrap();
    assert_eq!(unchanged, Some(original.clone()));

    // Setting the values already stored is no change either.
    let same = CredentialPatch {
        name: Some(original.name.clone()),
        description: original.description.clone(),
    };
    let unchanged = store.update_credential(cred_key, same, 5_000, None).await.unwrap();
    assert_eq!(unchanged, Some(original.clone()));

    // A new name keeps the description and moves updated_at.
    let rename = CredentialPatch {
        name: Some("renamed".to_owned()),
        description: None,
    };
    let renamed = store
        .update_credential(cred_key, rename, 6_000, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(renamed.name, "renamed");
    assert_eq!(renamed.description, original.description);
    assert_eq!(renamed.updated_at, 6_000);
    assert_eq!(renamed.created_at, original.created_at);

    // A new description keeps the name.
    let describe = CredentialPatch {
        name: None,
        description: Some("new description".to_owned()),
    };
    let described = store
        .update_credential(cred_key, describe, 7_000, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(described.name, "renamed");
    assert_eq!(described.description.as_deref(), Some("new description"));
    assert_eq!(described.updated_at, 7_000);

    // What was returned is what is stored.
    assert_eq!(store.find_credential(cred_key).await.unwrap(), Some(described));
}

#[tokio::test]
async fn a_conditional_update_applies_only_to_the_expected_state() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    seed(&store).await;
    let cred_key = key("org", "sa", "cred");
    let read = store.find_credential(cred_key).await.unwrap().unwrap();
    let rename = |name: &str| CredentialPatch {
        name: Some(name.to_owned()),
        description: None,
    };

    let first = store
        .update_credential(cred_key, rename("first"), 6_000, Some(read.clone()))
        .await
        .unwrap();
    assert_eq!(first.as_ref().map(|stored| stored.name.as_str()), Some("first"));
    // The same expectation again: the row has moved on, so nothing changes.
    let stale = store
        .update_credential(cred_key, rename("second"), 7_000, Some(read))
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
        .update_service_account("org", "sa", demote.clone(), 8_000, Some(other_role))
        .await
        .unwrap();
    assert_eq!(refused, None);
    assert_eq!(
        store.find_service_account("org", "sa").await.unwrap(),
        Some(account.clone())
    );
    let applied = store
        .update_service_account("org", "sa", demote, 8_000, Some(account))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(applied.role, Role::OrgViewer);
}

#[tokio::test]
async fn updating_a_credential_through_wrong_ids_finds_nothing() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    seed(&store).await;
    let patch = CredentialPatch {
        name: Some("hijacked".to_owned()),
        description: None,
    };

    for wrong in [
        key("other", "sa", "cred"),
        key("org", "sa2", "cred"),
        key("org", "sa", "nope"),
    ] {
        assert_eq!(
            store
                .update_credential(wrong, patch.clone(), 9_000, None)
                .await
                .unwrap(),
            None
        );
    }
    let stored = store.find_credential(key("org", "sa", "cred")).await.unwrap().unwrap();
    assert_eq!(stored.name, "Credential cred");
}

#[tokio::test]
async fn clients_are_found_by_client_id_with_their_secret_hash() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    seed(&store).await;

    let client = store.find_client("client-cred").await.unwrap().unwrap();
    assert_eq!(client.credential, credential("cred", "org", "sa").credential);
    assert_eq!(client.secret_hash, [7; 32]);
    assert!(store.find_client("client-nope").await.unwrap().is_none());
}

#[tokio::test]
async fn inserting_a_token_marks_the_credential_used_and_finds_its_role() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    seed(&store).await;

    store.insert_token(token("tok", "cred", 10_000, 13_600)).await.unwrap();

    let used = store.find_credential(key("org", "sa", "cred")).await.unwrap().unwrap();
    assert_eq!(used.last_used_at, Some(10_000));
    assert_eq!(used.updated_at, 3_000, "minting a token is not an edit");

    let found = store.find_token("tok").await.unwrap().unwrap();
    assert_eq!(found.id, "tok");
    assert_eq!(found.secret_hash, [9; 32]);
    assert_eq!(found.expires_at, 13_600);
    assert_eq!(found.credential_id, "cred");
    assert_eq!(found.service_account_id, "sa");
    assert_eq!(found.organization_id, "org");
    assert_eq!(found.role, Role::OrgAdmin);
    assert!(store.find_token("nope").await.unwrap().is_none());
}

#[tokio::test]
async fn inserting_a_token_removes_the_credentials_expired_tokens() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    seed(&store).await;

    store.insert_token(token("old", "cred", 10_000, 11_000)).await.unwrap();
    store.insert_token(token("live", "cred", 10_500, 20_000)).await.unwrap();
    store.insert_token(token("new", "cred", 11_000, 21_000)).await.unwrap();

    assert!(store.find_token("old").await.unwrap().is_none());
    assert!(store.find_token("live").await.unwrap().is_some());
    assert!(store.find_token("new").await.unwrap().is_some());
    let used = store.find_credential(key("org", "sa", "cred")).await.unwrap().unwrap();
    assert_eq!(used.last_used_at, Some(11_000));
}

#[tokio::test]
async fn a_deleted_credential_takes_its_tokens_with_it() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    seed(&store).await;
    store.insert_token(token("tok", "cred", 10_000, 13_600)).await.unwrap();

    let conn = raw(&path);
    conn.execute("DELETE FROM credentials WHERE id = 'cred'", [])
        .expect("delete credential");

    assert!(store.find_token("tok").await.unwrap().is_none());
    let left: i64 = conn
        .query_row("SELECT count(*) FROM tokens", [], |row| row.get(0))
        .expect("count tokens");
    assert_eq!(left, 0, "the cascade removed the token row");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_all_commit_and_survive_reopening() {
    const COUNT: usize = 200;
    let (_dir, path) = temp_db();
    let store = Arc::new(open(&path));
    seed(&store).await;

    let mut creates = Vec::new();
    for index in 0..COUNT {
        let store = Arc::clone(&store);
        creates.push(tokio::spawn(async move {
            store
                .create_credential(credential(&format!("c{index}"), "org", "sa"))
                .await
        }));
    }
    for create in creates {
        assert!(create.await.unwrap().expect("create credential"));
    }

    let mut updates = Vec::new();
    for index in 0..COUNT {
        let store = Arc::clone(&store);
        updates.push(tokio::spawn(async move {
            let id = format!("c{index}");
            let patch = CredentialPatch {
                name: Some(format!("name {index}")),
                description: None,
            };
            store
                .update_credential(key("org", "sa", &id), patch, 10_000 + index as Millis, None)
                .await
        }));
    }
    for update in updates {
        let updated = update.await.unwrap().expect("update credential");
        assert!(updated.is_some());
    }
    drop(store);

    let store = open(&path);
    for index in 0..COUNT {
        let id = format!("c{index}");
        let stored = store.find_credential(key("org", "sa", &id)).await.unwrap().unwrap();
        assert_eq!(stored.name, format!("name {index}"));
        assert_eq!(stored.updated_at, 10_000 + index as Millis);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_write_fails_alone_within_its_batch() {
    let (_dir, path) = temp_db();
    let store = Arc::new(open(&path));
    seed(&store).await;

    let before = store.writer.batches_committed();
    let blocker = block_writer(&store).await;
    let mut good = Vec::new();
    for index in 0..5 {
        good.push(queue(create_organization(&store, &format!("o{index}"))).await);
    }
    let bad = {
        let store = Arc::clone(&store);
        let mut duplicate = credential("dup", "org", "sa");
        duplicate.credential.client_id = "client-cred".to_owned();
        queue(async move { store.create_credential(duplicate).await }).await
    };
    for index in 5..10 {
        good.push(queue(create_organization(&store, &format!("o{index}"))).await);
    }
    blocker.release().await;

    for write in good {
        write.await.unwrap().expect("good write");
    }
    assert!(matches!(bad.await.unwrap(), Err(StorageError::Conflict(_))));
    assert_eq!(
        store.writer.batches_committed() - before,
        2,
        "the blocking job alone, then everything queued behind it together"
    );
    for index in 0..10 {
        let id = format!("o{index}");
        assert!(store.find_organization(&id).await.unwrap().is_some());
    }
    assert!(store.find_credential(key("org", "sa", "dup")).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_cannot_commit_fails_every_job_in_it() {
    let (_dir, path) = temp_db();
    let store = Arc::new(open(&path));

    // One batch: a good write, a job that ends the transaction (as SQLite itself
    // does after a disk-full or I/O error), and another good write.
    let blocker = block_writer(&store).await;
    let before = queue(create_organization(&store, "o-before")).await;
    let saboteur = {
        let store = Arc::clone(&store);
        queue(async move {
            store
                .writer
                .write(|conn| {
                    conn.execute_batch("ROLLBACK")
                        .map_err(|err| StorageError::Internal(err.to_string()))
                })
                .await
        })
        .await
    };
    let after = queue(create_organization(&store, "o-after")).await;
    blocker.release().await;

    assert!(matches!(before.await.unwrap(), Err(StorageError::Unavailable(_))));
    assert!(matches!(saboteur.await.unwrap(), Err(StorageError::Unavailable(_))));
    assert!(matches!(after.await.unwrap(), Err(StorageError::Unavailable(_))));
    assert!(store.find_organization("o-before").await.unwrap().is_none());
    assert!(store.find_organization("o-after").await.unwrap().is_none());

    // The writer goes on with the next batch.
    create_organization(&store, "o-later").await.unwrap();
    assert!(store.find_organization("o-later").await.unwrap().is_some());
}

#[tokio::test]
async fn a_panicking_write_fails_alone_and_the_writer_goes_on() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    store.create_organization(organization("org", "acme")).await.unwrap();

    let panicked = store
        .writer
        .write(|conn| -> Result<(), StorageError> {
            conn.execute("DELETE FROM organizations", []).ok();
            panic!("a bug in a write job");
        })
        .await;
    assert!(matches!(panicked, Err(StorageError::Internal(_))));

    // The panicking job's delete was rolled back with its savepoint.
    assert!(store.find_organization("acme").await.unwrap().is_some());
    store.create_organization(organization("org2", "other")).await.unwrap();
    assert!(store.find_organization("other").await.unwrap().is_some());
}

/// Remembers what a store reported, as the server's metrics would publish it.
#[derive(Default)]
struct RecordedEvents {
    queue_depth: AtomicIsize,
    batches: Mutex<Vec<usize>>,
    unavailable: AtomicUsize,
    other_failures: AtomicUsize,
}

impl StorageObserver for RecordedEvents {
    fn write_queue_changed(&self, delta: isize) {
        let depth = self.queue_depth.fetch_add(delta, Ordering::SeqCst) + delta;
        assert!(depth >= 0, "the queue depth went below zero");
    }

    fn write_batch(&self, size: usize) {
        self.batches.lock().unwrap().push(size);
    }

    fn storage_failed(&self, error: &StorageError) {
        let counter = match error {
            StorageError::Unavailable(_) => &self.unavailable,
            _ => &self.other_failures,
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_unavailable_at_once() {
    let (_dir, path) = temp_db();
    let events = Arc::new(RecordedEvents::default());
    let observer: Arc<dyn StorageObserver> = Arc::clone(&events) as _;
    let store = Arc::new(SqliteStore::open_with_queue_capacity(&path, 2, observer).expect("open store"));

    let blocker = block_writer(&store).await;
    let first = queue(create_organization(&store, "o1")).await;
    let second = queue(create_organization(&store, "o2")).await;
    assert_eq!(events.queue_depth.load(Ordering::SeqCst), 2, "two writes wait");

    let refused = create_organization(&store, "o3").await;
    assert!(matches!(refused, Err(StorageError::Unavailable(_))), "{refused:?}");
    assert_eq!(events.unavailable.load(Ordering::SeqCst), 1, "the refusal is reported");
    assert_eq!(
        events.queue_depth.load(Ordering::SeqCst),
        2,
        "a refused write never counts as queued"
    );

    blocker.release().await;
    first.await.unwrap().expect("queued write");
    second.await.unwrap().expect("queued write");
    assert_eq!(events.queue_depth.load(Ordering::SeqCst), 0);
    assert_eq!(
        *events.batches.lock().unwrap(),
        [1, 2],
        "the blocker alone, then both waiting writes"
    );
    assert_eq!(events.other_failures.load(Ordering::SeqCst), 0);
    assert!(
        store.find_organization("o3").await.unwrap().is_none(),
        "a refused write is not made"
    );
}

#[tokio::test]
async fn failed_reads_and_writes_are_reported_to_the_observer() {
    let (_dir, path) = temp_db();
    let events = Arc::new(RecordedEvents::default());
    let observer: Arc<dyn StorageObserver> = Arc::clone(&events) as _;
    let store = SqliteStore::open_observed(&path, observer).expect("open store");
    store.create_organization(organization("org", "acme")).await.unwrap();

    let taken = store.create_organization(organization("org2", "acme")).await;
    assert!(matches!(taken, Err(StorageError::Conflict(_))), "{taken:?}");
    let broken = store
        .readers
        .read("broken read", |conn| conn.execute_batch("SELECT * FROM no_such_table"))
        .await;
    assert!(matches!(broken, Err(StorageError::Internal(_))), "{broken:?}");

    assert_eq!(events.other_failures.load(Ordering::SeqCst), 2);
    assert_eq!(events.unavailable.load(Ordering::SeqCst), 0);
    assert_eq!(events.queue_depth.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_store_finishes_the_queued_writes() {
    let (_dir, path) = temp_db();
    let store = open(&path);

    let lock = hold_write_lock(&path);
    for index in 0..3 {
        let id = format!("o{index}");
        // Queue the write, then stop waiting for it: it still has to happen.
        let write = store.create_organization(organization(&id, &id));
        let waited = tokio::time::timeout(Duration::from_millis(50), write).await;
        assert!(waited.is_err(), "the write cannot finish while the lock is held");
    }
    // Dropping joins the writer thread, which is still waiting for the lock.
    let dropping = tokio::task::spawn_blocking(move || drop(store));
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(lock);
    dropping.await.unwrap();

    let store = open(&path);
    for index in 0..3 {
        let id = format!("o{index}");
        assert!(store.find_organization(&id).await.unwrap().is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_on_one_file_see_each_others_writes() {
    let (_dir, path) = temp_db();
    let first = Arc::new(open(&path));
    seed(&first).await;
    // As the CLI would, beside a running server.
    let second = Arc::new(open(&path));
    assert_eq!(applied_migrations(&path).len(), MIGRATIONS.len());

    second
        .create_organization(organization("from-second", "second"))
        .await
        .unwrap();
    assert!(first.find_organization("second").await.unwrap().is_some());
    first.insert_token(token("tok", "cred", 10_000, 20_000)).await.unwrap();
    assert!(second.find_token("tok").await.unwrap().is_some());

    // Both writing at once: the busy timeout lets each wait for the other.
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

#[tokio::test]
async fn a_credential_outside_its_service_accounts_organization_is_not_created() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    seed(&store).await;
    store.create_organization(organization("other", "other")).await.unwrap();
    store
        .create_service_account(service_account("sa-other", "other", Role::OrgAdmin))
        .await
        .unwrap();

    // The service account exists, but in another organization; or not at all.
    for (organization_id, service_account_id) in [("other", "sa"), ("org", "sa-other"), ("org", "nope")] {
        let created = store
            .create_credential(credential("c9", organization_id, service_account_id))
            .await
            .unwrap();
        assert!(!created, "{organization_id}/{service_account_id}");
    }
    assert!(store.find_client("client-c9").await.unwrap().is_none());
    let stored: i64 = raw(&path)
        .query_row("SELECT count(*) FROM credentials", [], |row| row.get(0))
        .expect("count credentials");
    assert_eq!(stored, 1, "only the seeded credential");

    // The same credential in the right place is created.
    assert!(store.create_credential(credential("c9", "org", "sa")).await.unwrap());
    assert!(store.find_client("client-c9").await.unwrap().is_some());
}

#[tokio::test]
async fn service_accounts_are_found_only_in_their_own_organization() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    seed(&store).await;
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

#[tokio::test]
async fn updating_a_service_account_changes_only_what_the_patch_changes() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    seed(&store).await;
    store.insert_token(token("tok", "cred", 10_000, 13_600)).await.unwrap();
    let original = service_account("sa", "org", Role::OrgAdmin);

    // An empty patch changes nothing, not even updated_at.
    let unchanged = store
        .update_service_account("org", "sa", ServiceAccountPatch::default(), 5_000, None)
        .await
        .unwrap();
    assert_eq!(unchanged, Some(original.clone()));

    // Setting the values already stored is no change either.
    let same = ServiceAccountPatch {
        name: Some(original.name.clone()),
        description: original.description.clone(),
        role: Some(original.role),
    };
    let unchanged = store
        .update_service_account("org", "sa", same, 5_000, None)
        .await
        .unwrap();
    assert_eq!(unchanged, Some(original.clone()));
    assert_eq!(
        store.find_service_account("org", "sa").await.unwrap(),
        Some(original.clone())
    );

    // Each field alone moves updated_at and keeps the others.
    let rename = ServiceAccountPatch {
        name: Some("renamed".to_owned()),
        ..ServiceAccountPatch::default()
    };
    let renamed = store
        .update_service_account("org", "sa", rename, 6_000, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(renamed.name, "renamed");
    assert_eq!(renamed.description, original.description);
    assert_eq!(renamed.role, Role::OrgAdmin);
    assert_eq!(renamed.updated_at, 6_000);
    assert_eq!(renamed.created_at, original.created_at);

    let describe = ServiceAccountPatch {
        description: Some("new description".to_owned()),
        ..ServiceAccountPatch::default()
    };
    let described = store
        .update_service_account("org", "sa", describe, 7_000, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(described.name, "renamed");
    assert_eq!(described.description.as_deref(), Some("new description"));
    assert_eq!(described.updated_at, 7_000);

    let demote = ServiceAccountPatch {
        role: Some(Role::OrgViewer),
        ..ServiceAccountPatch::default()
    };
    let demoted = store
        .update_service_account("org", "sa", demote, 8_000, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(demoted.role, Role::OrgViewer);
    assert_eq!(demoted.name, "renamed");
    assert_eq!(demoted.description.as_deref(), Some("new description"));
    assert_eq!(demoted.updated_at, 8_000);

    // What was returned is what is stored, and tokens act with the new role at once.
    assert_eq!(store.find_service_account("org", "sa").await.unwrap(), Some(demoted));
    let role: String = raw(&path)
        .query_row("SELECT role FROM service_accounts WHERE id = 'sa'", [], |row| {
            row.get(0)
        })
        .expect("read role");
    assert_eq!(role, "org_viewer");
    assert_eq!(store.find_token("tok").await.unwrap().unwrap().role, Role::OrgViewer);
}

#[tokio::test]
async fn service_accounts_are_updated_and_deleted_only_through_their_own_organization() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    seed(&store).await;
    store.create_organization(organization("other", "other")).await.unwrap();
    let patch = ServiceAccountPatch {
        name: Some("hijacked".to_owned()),
        description: None,
        role: Some(Role::OrgViewer),
    };

    for (organization_id, service_account_id) in [("other", "sa"), ("org", "nope"), ("acme", "sa")] {
        let updated = store
            .update_service_account(organization_id, service_account_id, patch.clone(), 9_000, None)
            .await
            .unwrap();
        assert_eq!(updated, None, "{organization_id}/{service_account_id}");
        let deleted = store
            .delete_service_account(organization_id, service_account_id, None)
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

#[tokio::test]
async fn a_deleted_service_account_takes_its_credentials_and_tokens_with_it() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    seed(&store).await;
    assert!(store.create_credential(credential("cred2", "org", "sa")).await.unwrap());
    store.insert_token(token("tok", "cred", 10_000, 13_600)).await.unwrap();
    store
        .insert_token(token("tok2", "cred2", 10_000, 13_600))
        .await
        .unwrap();
    // A neighbour in the same organization that must survive.
    store
        .create_service_account(service_account("sa2", "org", Role::OrgMember))
        .await
        .unwrap();
    assert!(store
        .create_credential(credential("cred3", "org", "sa2"))
        .await
        .unwrap());
    store
        .insert_token(token("tok3", "cred3", 10_000, 13_600))
        .await
        .unwrap();

    assert!(store.delete_service_account("org", "sa", None).await.unwrap());

    assert_eq!(store.find_service_account("org", "sa").await.unwrap(), None);
    for (credential_id, token_id) in [("cred", "tok"), ("cred2", "tok2")] {
        assert!(store
            .find_credential(key("org", "sa", credential_id))
            .await
            .unwrap()
            .is_none());
        assert!(store
            .find_client(&format!("client-{credential_id}"))
            .await
            .unwrap()
            .is_none());
        assert!(store.find_token(token_id).await.unwrap().is_none());
    }
    let conn = raw(&path);
    let count = |table: &str| -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| row.get(0))
            .expect("count rows")
    };
    assert_eq!(
        (count("service_accounts"), count("credentials"), count("tokens")),
        (1, 1, 1),
        "only the neighbour's rows are left"
    );
    assert!(store.find_token("tok3").await.unwrap().is_some());
    assert!(store.find_client("client-cred3").await.unwrap().is_some());

    // Deleting again finds nothing.
    assert!(!store.delete_service_account("org", "sa", None).await.unwrap());
}

#[tokio::test]
async fn a_deleted_credential_through_the_store_takes_its_tokens_with_it() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    seed(&store).await;
    assert!(store.create_credential(credential("cred2", "org", "sa")).await.unwrap());
    store.insert_token(token("tok", "cred", 10_000, 13_600)).await.unwrap();
    store
        .insert_token(token("tok-b", "cred", 10_001, 13_601))
        .await
        .unwrap();
    store
        .insert_token(token("tok2", "cred2", 10_000, 13_600))
        .await
        .unwrap();
    assert!(store.find_token("tok").await.unwrap().is_some());

    assert!(store.delete_credential(key("org", "sa", "cred"), None).await.unwrap());

    assert!(store.find_token("tok").await.unwrap().is_none());
    assert!(store.find_token("tok-b").await.unwrap().is_none());
    assert!(store.find_credential(key("org", "sa", "cred")).await.unwrap().is_none());
    assert!(store.find_client("client-cred").await.unwrap().is_none());
    let tokens: i64 = raw(&path)
        .query_row("SELECT count(*) FROM tokens WHERE credential_id = 'cred'", [], |row| {
            row.get(0)
        })
        .expect("count tokens");
    assert_eq!(tokens, 0);

    // The sibling credential and its token, and the service account, are untouched.
    assert!(store.find_token("tok2").await.unwrap().is_some());
    assert!(store
        .find_credential(key("org", "sa", "cred2"))
        .await
        .unwrap()
        .is_some());
    assert!(store.find_service_account("org", "sa").await.unwrap().is_some());
    assert!(!store.delete_credential(key("org", "sa", "cred"), None).await.unwrap());
}

#[tokio::test]
async fn credentials_are_deleted_only_through_their_own_ids() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    seed(&store).await;
    store.create_organization(organization("other", "other")).await.unwrap();
    store
        .create_service_account(service_account("sa2", "org", Role::OrgViewer))
        .await
        .unwrap();
    store.insert_token(token("tok", "cred", 10_000, 13_600)).await.unwrap();

    for wrong in [
        key("other", "sa", "cred"),
        key("org", "sa2", "cred"),
        key("org", "sa", "nope"),
    ] {
        assert!(!store.delete_credential(wrong, None).await.unwrap());
    }
    assert!(store.find_credential(key("org", "sa", "cred")).await.unwrap().is_some());
    assert!(store.find_token("tok").await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_read_does_not_see_commits_made_during_it() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    store.create_organization(organization("org", "acme")).await.unwrap();

    let other_path = path.clone();
    let counts = store
        .readers
        .read_snapshot("snapshot", move |conn| {
            let count = || -> rusqlite::Result<i64> {
                conn.query_row("SELECT count(*) FROM organizations", [], |row| row.get(0))
            };
            let before = count()?;
            // Another connection commits while the snapshot is open.
            raw(&other_path)
                .execute(
                    "INSERT INTO organizations VALUES ('org2', 'other', 'Other', 1000, 1000)",
                    [],
                )
                .expect("commit from another connection");
            Ok((before, count()?))
        })
        .await
        .unwrap();
    assert_eq!(counts, (1, 1));

    // The transaction ended with the read: the next read (on whichever reader
    // connection) is in autocommit mode and sees the new row.
    let after = store
        .readers
        .read("count", |conn| {
            let count: i64 = conn.query_row("SELECT count(*) FROM organizations", [], |row| row.get(0))?;
            Ok((count, conn.is_autocommit()))
        })
        .await
        .unwrap();
    assert_eq!(after, (2, true));
    let autocommit = store
        .readers
        .read_snapshot("autocommit", |conn| Ok(conn.is_autocommit()))
        .await
        .unwrap();
    assert!(!autocommit, "the work runs inside a transaction");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_go_on_while_another_process_holds_the_write_lock() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    seed(&store).await;

    let _lock = hold_write_lock(&path);
    let read = tokio::time::timeout(Duration::from_secs(2), store.find_organization("org")).await;
    assert!(matches!(read, Ok(Ok(Some(_)))), "{read:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_read_fails_alone_and_the_readers_go_on() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    seed(&store).await;

    // More panics than there are reader threads: none of them may take a thread down.
    for _ in 0..(2 * super::READER_COUNT) {
        let panicked = store
            .readers
            .read::<(), _>("panicking read", |_| panic!("a read that panics"))
            .await;
        assert!(matches!(panicked, Err(StorageError::Internal(_))), "{panicked:?}");
    }
    for _ in 0..(2 * super::READER_COUNT) {
        assert!(store.find_organization("org").await.unwrap().is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_reads_than_the_queue_holds_all_answer() {
    let (_dir, path) = temp_db();
    let store = Arc::new(open(&path));
    seed(&store).await;

    // The queue holds 1,024 reads; the rest wait for a place instead of failing.
    let reads: Vec<_> = (0..3_000)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.find_organization("org").await })
        })
        .collect();
    for read in reads {
        assert!(read.await.unwrap().unwrap().is_some());
    }
}

/// Copies the database file alone (not its write-ahead log) and counts the
/// organizations in the copy: what a checkpoint has already copied into the file.
fn organizations_in_the_database_file(path: &Path) -> i64 {
    let dir = tempfile::tempdir().expect("create temp dir");
    let copy = dir.path().join("copy.db");
    std::fs::copy(path, &copy).expect("copy the database file");
    let conn = Connection::open(&copy).expect("open the copy");
    conn.query_row("SELECT count(*) FROM organizations", [], |row| row.get(0))
        .expect("count organizations")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checkpointer_copies_commits_into_the_database_file() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    // A few small commits: far below the 1,000 log pages at which SQLite's own
    // automatic checkpoint would copy them.
    for index in 0..5 {
        let id = format!("o{index}");
        store.create_organization(organization(&id, &id)).await.unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while organizations_in_the_database_file(&path) < 5 {
        assert!(
            std::time::Instant::now() < deadline,
            "the commits never reached the database file"
        );
        tokio::time::sleep(super::CHECKPOINT_INTERVAL).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_stays_small_under_a_stream_of_writes() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    seed(&store).await;

    // 3,000 commits one after another, each rewriting a 20,000-character description
    // (five pages): without the writer's catch-up the log reached 62 MB here. With
    // it, it starts over once it holds about 8,000 pages (32 MiB) and the
    // checkpointer has been by, which it is every 100 ms (35 MB here).
    for index in 0..3_000 {
        let patch = CredentialPatch {
            name: None,
            // Different all along: SQLite does not rewrite an overflow page whose
            // bytes are unchanged.
            description: Some(format!("{index:05}").repeat(4_000)),
        };
        store
            .update_credential(key("org", "sa", "cred"), patch, 2_000 + index, None)
            .await
            .unwrap();
    }
    let wal = path.with_extension("db-wal");
    let log_bytes = std::fs::metadata(&wal).map(|meta| meta.len()).unwrap_or(0);
    assert!(log_bytes < 48 * 1024 * 1024, "the log grew to {log_bytes} bytes");
}

#[tokio::test]
async fn a_conditional_delete_deletes_only_the_version_expected() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    seed(&store).await;
    let read = store.find_credential(key("org", "sa", "cred")).await.unwrap().unwrap();
    let patch = CredentialPatch {
        name: Some("renamed".into()),
        description: None,
    };
    let renamed = store
        .update_credential(key("org", "sa", "cred"), patch, 5_000, None)
        .await
        .unwrap();

    assert!(!store
        .delete_credential(key("org", "sa", "cred"), Some(read))
        .await
        .unwrap());
    assert!(store.find_credential(key("org", "sa", "cred")).await.unwrap().is_some());
    assert!(store
        .delete_credential(key("org", "sa", "cred"), renamed)
        .await
        .unwrap());

    let account = store.find_service_account("org", "sa").await.unwrap().unwrap();
    let mut stale = account.clone();
    stale.updated_at -= 1;
    assert!(!store.delete_service_account("org", "sa", Some(stale)).await.unwrap());
    assert!(store.delete_service_account("org", "sa", Some(account)).await.unwrap());
}

#[tokio::test]
async fn the_cursor_key_is_made_once_and_kept_across_reopening() {
    let (_dir, path) = temp_db();
    let first = open(&path).cursor_key().await.unwrap();
    assert_eq!(first.len(), 32);
    assert_ne!(first, vec![0; 32]);
    let reopened = open(&path).cursor_key().await.unwrap();
    assert_eq!(first, reopened);
    let (_other_dir, other_path) = temp_db();
    assert_ne!(open(&other_path).cursor_key().await.unwrap(), first);
}
