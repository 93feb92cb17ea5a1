//! Tests of the PostgreSQL store against a real server, each on a database of its own
//! (`CREATE DATABASE keycred_unit_<random>`, dropped afterwards).
//!
//! They need PostgreSQL, at `KEYCRED_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`; the user must be allowed to create
//! databases), so they are ignored by a plain `cargo test`, which says so, and run by
//! `scripts/test.sh` with `--ignored` when PostgreSQL is there.

use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_postgres::NoTls;

use super::migrations::MIGRATION_LOCK;
use super::{PgStore, PoolSettings};
use crate::migrations::MIGRATIONS;
use crate::{
    Credential, CredentialKey, CredentialPatch, IgnoreStorageEvents, Millis, NewCredential, NewToken, Organization,
    PageRequest, PageStart, Position, Role, ServiceAccount, ServiceAccountPatch, StorageError, StorageObserver, Store,
};

/// The server the tests use, with a database the user may connect to.
fn admin_url() -> String {
    std::env::var("KEYCRED_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// `url` with its database name replaced by `database` (query parameters kept).
fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let authority = before_query
        .split_once('/')
        .map_or(before_query, |(authority, _)| authority);
    let query = query.map(|query| format!("?{query}")).unwrap_or_default();
    format!("{scheme}://{authority}/{database}{query}")
}

/// Runs one statement on the admin database, on a connection of its own.
async fn admin(sql: &str) {
    let (client, connection) = tokio_postgres::connect(&admin_url(), NoTls)
        .await
        .unwrap_or_else(|error| panic!("connect to PostgreSQL at {}: {error}", admin_url()));
    let task = tokio::spawn(connection);
    client
        .batch_execute(sql)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
    drop(client);
    let _ = task.await;
}

/// A fresh, empty database, dropped (with any connections left) when this is dropped.
struct TestDatabase {
    /// The database's name.
    name: String,
    /// Its URL.
    url: String,
}

impl TestDatabase {
    async fn create() -> TestDatabase {
        Self::create_with("").await
    }

    /// A fresh database made with these `CREATE DATABASE` options.
    async fn create_with(options: &str) -> TestDatabase {
        let name = format!("keycred_unit_{}", uuid::Uuid::new_v4().simple());
        admin(&format!("CREATE DATABASE {name} {options}")).await;
        let url = with_database(&admin_url(), &name);
        TestDatabase { name, url }
    }

    /// A plain connection to the database, as another program would have.
    async fn raw(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url, NoTls).await.expect("connect");
        tokio::spawn(connection);
        client
    }

    /// The versions recorded in `schema_migrations`, ascending.
    async fn applied_versions(&self) -> Vec<i64> {
        let rows = self
            .raw()
            .await
            .query("SELECT version FROM schema_migrations ORDER BY version", &[])
            .await
            .expect("read schema_migrations");
        rows.iter().map(|row| row.get(0)).collect()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot be blocked on; a thread
        // with a runtime of its own can.
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(admin(&sql));
        })
        .join();
        if dropped.is_err() && !std::thread::panicking() {
            panic!("dropping the test database {} failed", self.name);
        }
    }
}

/// Opens a store on `database`, failing the test if it cannot.
async fn open(database: &TestDatabase) -> PgStore {
    PgStore::connect(&database.url, Arc::new(IgnoreStorageEvents))
        .await
        .expect("open the store")
}

fn organization(id: &str, label: &str) -> Organization {
    Organization {
        id: id.to_owned(),
        label: label.to_owned(),
        name: format!("Organization {label}"),
        created_at: 1_000,
        updated_at: 1_000,
    }
}

fn service_account(id: &str, organization_id: &str, role: Role) -> ServiceAccount {
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

fn credential(id: &str, organization_id: &str, service_account_id: &str) -> NewCredential {
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

fn token(id: &str, credential_id: &str, created_at: Millis, expires_at: Millis) -> NewToken {
    NewToken {
        id: id.to_owned(),
        secret_hash: [9; 32],
        credential_id: credential_id.to_owned(),
        created_at,
        expires_at,
    }
}

fn key<'a>(organization_id: &'a str, service_account_id: &'a str, id: &'a str) -> CredentialKey<'a> {
    CredentialKey {
        organization_id,
        service_account_id,
        credential_id: id,
    }
}

/// Organization `org` (label `acme`), its admin service account `sa`, and credential `cred`.
async fn seed(store: &PgStore) {
    store.create_organization(organization("org", "acme")).await.unwrap();
    store
        .create_service_account(service_account("sa", "org", Role::OrgAdmin))
        .await
        .unwrap();
    assert!(store.create_credential(credential("cred", "org", "sa")).await.unwrap());
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

#[test]
fn a_database_name_replaces_the_one_in_the_url() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgresql://u:p@h/db?sslmode=disable", "x"),
        "postgresql://u:p@h/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
}

#[test]
fn the_migration_lock_key_spells_keycred() {
    assert_eq!(&MIGRATION_LOCK.to_be_bytes(), b"keycred\0");
}

#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn migrations_apply_once_and_reopening_applies_nothing() {
    let database = TestDatabase::create().await;
    drop(open(&database).await);
    let all: Vec<i64> = MIGRATIONS.iter().map(|migration| migration.version).collect();
    assert_eq!(database.applied_versions().await, all);

    drop(open(&database).await);
    assert_eq!(database.applied_versions().await, all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL"]
async fn several_instances_can_migrate_the_same_new_database_at_once() {
    for _ in 0..3 {
        let database = TestDatabase::create().await;
        let openers: Vec<_> = (0..6)
            .map(|_| {
                let url = database.url.clone();
                tokio::spawn(async move { PgStore::connect(&url, Arc::new(IgnoreStorageEvents)).await.map(drop) })
            })
            .collect();
        for opener in openers {
            opener.await.unwrap().expect("open a new database concurrently");
        }
        assert_eq!(database.applied_versions().await.len(), MIGRATIONS.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL"]
async fn migrating_waits_for_the_migration_lock() {
    let database = TestDatabase::create().await;
    let holder = database.raw().await;
    holder
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .expect("take the lock");

    let url = database.url.clone();
    let opening = tokio::spawn(async move { PgStore::connect(&url, Arc::new(IgnoreStorageEvents)).await.map(drop) });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!opening.is_finished(), "migrated while another session held the lock");

    holder
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await
        .expect("release the lock");
    opening.await.unwrap().expect("migrate once the lock is free");
    assert_eq!(database.applied_versions().await.len(), MIGRATIONS.len());
}

#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn a_database_from_a_newer_build_is_refused() {
    let database = TestDatabase::create().await;
    drop(open(&database).await);
    database
        .raw()
        .await
        .execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)",
            &[],
        )
        .await
        .unwrap();

    let refused = PgStore::connect(&database.url, Arc::new(IgnoreStorageEvents)).await;
    assert!(matches!(&refused, Err(StorageError::Internal(message)) if message.contains("upgrade keycred")));
}

#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn a_server_that_cannot_be_reached_is_unavailable() {
    // Port 1 on loopback: nothing listens there, so the connection is refused.
    let refused = PgStore::connect("postgres://postgres@127.0.0.1:1/test", Arc::new(IgnoreStorageEvents)).await;
    assert!(
        matches!(refused, Err(StorageError::Unavailable(_))),
        "{:?}",
        refused.err()
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn a_pool_that_stays_busy_is_unavailable_and_reported() {
    let database = TestDatabase::create().await;
    let events = Arc::new(RecordedEvents::default());
    let observer: Arc<dyn StorageObserver> = Arc::clone(&events) as _;
    let settings = PoolSettings {
        size: 1,
        wait: Duration::from_millis(200),
    };
    let store = PgStore::connect_with(&database.url, settings, observer).await.unwrap();

    let only_connection = store.pool.get().await.unwrap();
    let read = store.find_organization("acme").await;
    let write = store.create_organization(organization("org", "acme")).await;
    assert!(matches!(read, Err(StorageError::Unavailable(_))), "{read:?}");
    assert!(matches!(write, Err(StorageError::Unavailable(_))), "{write:?}");
    assert_eq!(events.unavailable.load(Ordering::SeqCst), 2);
    assert_eq!(
        events.queue_depth.load(Ordering::SeqCst),
        0,
        "a refused write leaves the queue"
    );

    drop(only_connection);
    store.create_organization(organization("org", "acme")).await.unwrap();
    assert!(store.find_organization("acme").await.unwrap().is_some());
    assert_eq!(*events.batches.lock().unwrap(), [1], "each write commits alone");
}

#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn organizations_are_found_by_id_and_by_label_and_an_id_wins() {
    let database = TestDatabase::create().await;
    let store = open(&database).await;
    store.create_organization(organization("org", "acme")).await.unwrap();
    // A second organization whose label is the first one's ID.
    store.create_organization(organization("org2", "org")).await.unwrap();

    assert_eq!(store.find_organization("acme").await.unwrap().unwrap().id, "org");
    assert_eq!(store.find_organization("org").await.unwrap().unwrap().id, "org");
    assert_eq!(store.find_organization("org2").await.unwrap().unwrap().label, "org");
    assert!(store.find_organization("nope").await.unwrap().is_none());
}

#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn taken_labels_and_client_ids_are_conflicts_named_in_plain_words() {
    let database = TestDatabase::create().await;
    let store = open(&database).await;
    seed(&store).await;

    let label = store.create_organization(organization("org2", "acme")).await;
    assert!(matches!(&label, Err(StorageError::Conflict(message)) if message == "organization label already exists"));
    let mut same_client = credential("cred2", "org", "sa");
    same_client.credential.client_id = "client-cred".to_owned();
    let client_id = store.create_credential(same_client).await;
    assert!(matches!(&client_id, Err(StorageError::Conflict(message)) if message == "client_id already exists"));
}

#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn a_credential_is_not_created_outside_its_service_accounts_organization() {
    let database = TestDatabase::create().await;
    let store = open(&database).await;
    seed(&store).await;
    store.create_organization(organization("other", "other")).await.unwrap();

    assert!(!store.create_credential(credential("c2", "other", "sa")).await.unwrap());
    assert!(!store
        .create_credential(credential("c3", "org", "missing"))
        .await
        .unwrap());
    assert!(store.find_client("client-c2").await.unwrap().is_none());
    assert!(store.find_client("client-c3").await.unwrap().is_none());

    let orphan = store
        .create_service_account(service_account("sa2", "missing", Role::OrgViewer))
        .await;
    assert!(matches!(&orphan, Err(StorageError::Internal(message)) if message.contains("missing does not exist")));
}

#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn a_conditional_update_applies_only_to_the_expected_state() {
    let database = TestDatabase::create().await;
    let store = open(&database).await;
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
#[ignore = "needs PostgreSQL"]
async fn updating_a_credential_changes_only_what_the_patch_changes() {
    let database = TestDatabase::create().await;
    let store = open(&database).await;
    seed(&store).await;
    let patch = |name: Option<&str>, description: Option<&str>| CredentialPatch {
        name: name.map(str::to_owned),
        description: description.map(str::to_owned),
    };

    let renamed = store
        .update_credential(key("org", "sa", "cred"), patch(Some("renamed"), None), 4_000, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            renamed.name.as_str(),
            renamed.description.as_deref(),
            renamed.updated_at
        ),
        ("renamed", Some("original description"), 4_000)
    );

    let same = store
        .update_credential(key("org", "sa", "cred"), patch(Some("renamed"), None), 5_000, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(same.updated_at, 4_000, "nothing changed, so updated_at stays");
    let empty = store
        .update_credential(key("org", "sa", "cred"), patch(None, None), 6_000, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(empty, same);

    let described = store
        .update_credential(key("org", "sa", "cred"), patch(None, Some("new")), 7_000, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((described.name.as_str(), described.updated_at), ("renamed", 7_000));
    assert_eq!(
        store.find_credential(key("org", "sa", "cred")).await.unwrap(),
        Some(described)
    );

    for wrong in [
        key("other", "sa", "cred"),
        key("org", "other", "cred"),
        key("org", "sa", "other"),
    ] {
        let missed = store
            .update_credential(wrong, patch(Some("x"), None), 8_000, None)
            .await
            .unwrap();
        assert!(missed.is_none());
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn updating_a_service_account_changes_only_what_the_patch_changes() {
    let database = TestDatabase::create().await;
    let store = open(&database).await;
    seed(&store).await;

    let demoted = store
        .update_service_account(
            "org",
            "sa",
            ServiceAccountPatch {
                role: Some(Role::OrgViewer),
                ..ServiceAccountPatch::default()
            },
            4_000,
            None,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (demoted.role, demoted.updated_at, demoted.name.as_str()),
        (Role::OrgViewer, 4_000, "Service account sa")
    );
    let unchanged = store
        .update_service_account(
            "org",
            "sa",
            ServiceAccountPatch {
                role: Some(Role::OrgViewer),
                description: Some("robot".to_owned()),
                ..ServiceAccountPatch::default()
            },
            5_000,
            None,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(unchanged.updated_at, 4_000);
    let record = store.insert_token(token("tok", "cred", 10, i64::MAX)).await;
    record.unwrap();
    assert_eq!(store.find_token("tok").await.unwrap().unwrap().role, Role::OrgViewer);
    assert!(store
        .update_service_account("other", "sa", ServiceAccountPatch::default(), 6_000, None)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL"]
async fn concurrent_updates_of_different_fields_never_undo_each_other() {
    let database = TestDatabase::create().await;
    let store = Arc::new(open(&database).await);
    seed(&store).await;
    const ROUNDS: usize = 60;

    let writer = |field: &'static str| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            for round in 0..ROUNDS {
                let value = format!("{field}-{round}");
                let patch = match field {
                    "name" => CredentialPatch {
                        name: Some(value.clone()),
                        description: None,
                    },
                    _ => CredentialPatch {
                        name: None,
                        description: Some(value.clone()),
                    },
                };
                let stored = store
                    .update_credential(key("org", "sa", "cred"), patch, 10_000 + round as i64, None)
                    .await
                    .unwrap()
                    .unwrap();
                // Each answer shows its own write (read-your-writes per request).
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

    let last = store.find_credential(key("org", "sa", "cred")).await.unwrap().unwrap();
    assert_eq!(last.name, format!("name-{}", ROUNDS - 1));
    assert_eq!(last.description, Some(format!("description-{}", ROUNDS - 1)));
}

#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn tokens_mark_their_credential_used_sweep_expired_ones_and_die_with_it() {
    let database = TestDatabase::create().await;
    let store = open(&database).await;
    seed(&store).await;

    store.insert_token(token("old", "cred", 100, 200)).await.unwrap();
    store.insert_token(token("new", "cred", 300, 10_000)).await.unwrap();
    assert!(
        store.find_token("old").await.unwrap().is_none(),
        "swept: it expired at 200"
    );
    let record = store.find_token("new").await.unwrap().unwrap();
    assert_eq!(
        (
            record.secret_hash,
            record.expires_at,
            record.service_account_id.as_str(),
            record.role
        ),
        ([9; 32], 10_000, "sa", Role::OrgAdmin)
    );
    let client = store.find_client("client-cred").await.unwrap().unwrap();
    assert_eq!(
        (client.secret_hash, client.credential.last_used_at),
        ([7; 32], Some(300))
    );

    assert!(!store
        .insert_token(token("orphan", "missing", 300, 10_000))
        .await
        .unwrap());
    assert!(store.find_token("orphan").await.unwrap().is_none());

    assert!(!store
        .delete_credential(key("org", "other", "cred"), None)
        .await
        .unwrap());
    assert!(store.delete_credential(key("org", "sa", "cred"), None).await.unwrap());
    assert!(store.find_token("new").await.unwrap().is_none());
    let left: i64 = database
        .raw()
        .await
        .query_one("SELECT count(*) FROM tokens", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "the tokens went with their credential");
}

#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn a_deleted_service_account_takes_its_credentials_and_tokens_with_it() {
    let database = TestDatabase::create().await;
    let store = open(&database).await;
    seed(&store).await;
    store.insert_token(token("tok", "cred", 100, 10_000)).await.unwrap();

    assert!(!store.delete_service_account("other", "sa", None).await.unwrap());
    assert!(store.delete_service_account("org", "sa", None).await.unwrap());
    assert!(store.find_credential(key("org", "sa", "cred")).await.unwrap().is_none());
    assert!(store.find_token("tok").await.unwrap().is_none());
    assert!(store.find_client("client-cred").await.unwrap().is_none());
    assert!(!store.delete_service_account("org", "sa", None).await.unwrap());
}

#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn lists_are_in_byte_order_of_created_at_then_id_whatever_the_locale() {
    // A database whose own collation is not byte order (ICU's en-US), so that only
    // the schema's COLLATE "C" keeps the lists in SQLite's order.
    let database =
        TestDatabase::create_with("TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'").await;
    let lower_first: bool = database
        .raw()
        .await
        .query_one("SELECT 'a'::text < 'A'::text", &[])
        .await
        .unwrap()
        .get(0);
    assert!(lower_first, "the test database should sort like en-US, not by bytes");
    let store = open(&database).await;
    store.create_organization(organization("org", "acme")).await.unwrap();
    // In byte order (SQLite's): "A" < "_a" < "a" < "a-b" < "ab" < "b". Many locales
    // order these differently (lower case first, punctuation ignored).
    let ids = ["b", "ab", "a-b", "a", "_a", "A"];
    for id in ids {
        let mut account = service_account(id, "org", Role::OrgViewer);
        account.created_at = 5_000;
        store.create_service_account(account).await.unwrap();
    }
    let mut earlier = service_account("z", "org", Role::OrgViewer);
    earlier.created_at = 4_000;
    store.create_service_account(earlier).await.unwrap();

    let mut walked = Vec::new();
    let mut start = PageStart::First;
    loop {
        let page = store
            .list_service_accounts("org", PageRequest { start, limit: 2 })
            .await
            .unwrap();
        walked.extend(page.items.iter().map(|account| account.id.clone()));
        let Some(last) = page.items.last() else { break };
        if !page.has_next_page {
            break;
        }
        start = PageStart::After(Position {
            created_at: last.created_at,
            id: last.id.clone(),
        });
    }
    assert_eq!(walked, ["z", "A", "_a", "a", "a-b", "ab", "b"]);

    let before = store
        .list_service_accounts(
            "org",
            PageRequest {
                start: PageStart::Before(Position {
                    created_at: 5_000,
                    id: "a-b".to_owned(),
                }),
                limit: 2,
            },
        )
        .await
        .unwrap();
    let ids: Vec<&str> = before.items.iter().map(|account| account.id.as_str()).collect();
    assert_eq!(
        (ids, before.has_prev_page, before.has_next_page),
        (vec!["_a", "a"], true, true)
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn keys_holding_nul_find_nothing_and_fail_nothing() {
    let database = TestDatabase::create().await;
    let events = Arc::new(RecordedEvents::default());
    let observer: Arc<dyn StorageObserver> = Arc::clone(&events) as _;
    let store = PgStore::connect(&database.url, observer).await.unwrap();
    seed(&store).await;

    assert!(store.find_organization("ac\0me").await.unwrap().is_none());
    assert!(store.find_service_account("org", "s\0a").await.unwrap().is_none());
    assert!(store.find_credential(key("org", "sa", "c\0")).await.unwrap().is_none());
    assert!(store.find_client("client\0").await.unwrap().is_none());
    assert!(store.find_token("\0").await.unwrap().is_none());
    assert!(!store.delete_credential(key("org\0", "sa", "cred"), None).await.unwrap());
    assert!(!store.create_credential(credential("c2", "org", "s\0a")).await.unwrap());
    let page = PageRequest {
        start: PageStart::First,
        limit: 10,
    };
    assert!(store
        .list_credentials("org", "s\0a", page)
        .await
        .unwrap()
        .items
        .is_empty());
    assert_eq!(events.other_failures.load(Ordering::SeqCst), 0);
}

#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn a_connection_the_server_ended_fails_as_unavailable_and_is_replaced() {
    let database = TestDatabase::create().await;
    let store = open(&database).await;
    seed(&store).await;
    assert!(store.find_organization("acme").await.unwrap().is_some());

    // What a server restart or an administrator does to the store's connections.
    database
        .raw()
        .await
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'keycred'",
            &[],
        )
        .await
        .unwrap();

    // A request may meet the dead connection before the pool notices: that is a
    // 503 (Unavailable), never a 500; the pool then opens a new one.
    let mut answers = Vec::new();
    for _ in 0..5 {
        match store.find_organization("acme").await {
            Ok(found) => {
                assert!(found.is_some());
                answers.push("ok");
            }
            Err(StorageError::Unavailable(_)) => answers.push("unavailable"),
            Err(other) => panic!("a broken connection must be Unavailable, not {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(answers.last(), Some(&"ok"), "{answers:?}");
    assert!(
        answers.iter().filter(|answer| **answer == "unavailable").count() <= 1,
        "{answers:?}"
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn a_conditional_delete_deletes_only_the_version_expected() {
    let database = TestDatabase::create().await;
    let store = open(&database).await;
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
#[ignore = "needs PostgreSQL"]
async fn the_cursor_key_is_made_once_and_shared_by_every_store_on_the_database() {
    let database = TestDatabase::create().await;
    let first = open(&database).await.cursor_key().await.unwrap();
    assert_eq!(first.len(), 32);
    let second = open(&database).await.cursor_key().await.unwrap();
    assert_eq!(first, second);
    let other = TestDatabase::create().await;
    assert_ne!(open(&other).await.cursor_key().await.unwrap(), first);
}
