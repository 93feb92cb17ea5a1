//! Tests of the SQLite store against real database files in temporary directories.

use std::future::{poll_fn, Future};
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::SqliteStore;
use crate::conformance::{audit, credential, key, organization, seed, Database, RecordedEvents};
use crate::migrations::MIGRATIONS;
use crate::paging::{ListSql, CREDENTIAL_LIST, ORGANIZATION_CREDENTIAL_LISTS, SERVICE_ACCOUNT_LIST};
use crate::sql;
use crate::{AuditAction, AuditEvent, CredentialPatch, StorageError, StorageObserver, StorageResult, Store};

/// A temporary directory and the database path inside it.
fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("create temp dir");
    let path = dir.path().join("keycred.db");
    (dir, path)
}

/// Opens the store at `path`, failing the test if it cannot.
fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(path).expect("open store")
}

/// A plain connection to the same file, as another process would have.
fn raw(path: &Path) -> Connection {
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

/// A SQLite database in a temporary directory, for the conformance suite.
struct SqliteDatabase {
    /// The directory, removed when the database is dropped.
    _dir: tempfile::TempDir,
    /// The database file.
    path: PathBuf,
}

impl Database for SqliteDatabase {
    type Store = SqliteStore;

    async fn create() -> SqliteDatabase {
        let (dir, path) = temp_db();
        SqliteDatabase { _dir: dir, path }
    }

    async fn open(&self, observer: Arc<dyn StorageObserver>) -> SqliteStore {
        SqliteStore::open_observed(&self.path, observer).expect("open store")
    }

    async fn execute(&self, sql: &str) {
        raw(&self.path).execute_batch(sql).expect(sql);
    }

    async fn count_rows(&self, table: &str) -> i64 {
        raw(&self.path)
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |row| row.get(0))
            .expect("count rows")
    }
}

/// The conformance suite, on SQLite.
mod conformance {
    crate::conformance::conformance_tests!(super::SqliteDatabase);
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

/// The versions recorded as applied in the database at `path`, ascending.
fn applied_versions(path: &Path) -> Vec<i64> {
    applied_migrations(path)
        .into_iter()
        .map(|(version, _)| version)
        .collect()
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
    assert_eq!(applied_versions(&path), [1, 2, 3, 4, 5, 6]);
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
            "audit_events_fold_key",
            "audit_events_id",
            "audit_events_organization_id_occurred_at_id",
            "credentials_organization_id_created_at_id",
            "credentials_service_account_id_organization_id_created_at_id",
            "service_accounts_organization_id_created_at_id",
            "tokens_credential_id_expires_at",
        ]
    );
}

#[tokio::test]
async fn a_database_at_version_5_keeps_its_audit_events_through_version_6() {
    let (_dir, path) = temp_db();
    let event = audit().credential_event(AuditAction::CredentialCreated, key("org", "sa", "c1"));
    {
        // What a build that knew migrations 1 to 5 left behind, with one event.
        let conn = raw(&path);
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT;",
        )
        .expect("create schema_migrations");
        for migration in &MIGRATIONS[..5] {
            conn.execute_batch(migration.sqlite).expect("apply migration");
            conn.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, 0)",
                [migration.version],
            )
            .expect("record migration");
        }
        conn.execute(
            "INSERT INTO audit_events (id, organization_id, occurred_at, action, actor_type, target_type, target_id)
             VALUES (?1, 'org', ?2, 'credential.created', 'cli', 'credential', 'c1')",
            rusqlite::params![event.id, event.occurred_at],
        )
        .expect("record an event as version 5 did");
    }

    let store = open(&path);
    assert_eq!(applied_versions(&path), [1, 2, 3, 4, 5, 6]);
    let exported = store
        .export_audit_events(Some("org"), audit::beginning(), 10)
        .await
        .unwrap();
    assert_eq!(exported.len(), 1);
    assert_eq!(exported[0].id, event.id);
    assert_eq!(exported[0].action, AuditAction::CredentialCreated);
    // And the new table takes new events, under the cheaper check.
    let later = audit().credential_event(AuditAction::CredentialDeleted, key("org", "sa", "c1"));
    store
        .writer
        .write(move |conn| {
            conn.record(later);
            Ok(())
        })
        .await
        .unwrap();
    let exported = store
        .export_audit_events(Some("org"), audit::beginning(), 10)
        .await
        .unwrap();
    assert_eq!(exported.len(), 2);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_write_fails_alone_within_its_batch() {
    let (_dir, path) = temp_db();
    let store = Arc::new(open(&path));
    seed(store.as_ref()).await;

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
        queue(async move { store.create_credential(duplicate, audit()).await }).await
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

/// How many audit events with ID `id` the database at `path` holds.
fn events_with_id(path: &Path, id: &str) -> i64 {
    raw(path)
        .query_row("SELECT count(*) FROM audit_events WHERE id = ?1", [id], |row| {
            row.get(0)
        })
        .expect("count events")
}

/// Queues a write job that creates organization `id` and records `event`, then
/// succeeds, or fails if `fail` is set.
async fn queue_recording(
    store: &Arc<SqliteStore>,
    id: &'static str,
    event: AuditEvent,
    fail: bool,
) -> JoinHandle<StorageResult<()>> {
    let store = Arc::clone(store);
    queue(async move {
        store
            .writer
            .write(move |conn| {
                conn.execute(
                    "INSERT INTO organizations (id, label, name, created_at, updated_at) VALUES (?1, ?1, ?1, 0, 0)",
                    [id],
                )
                .map_err(|err| StorageError::Internal(err.to_string()))?;
                conn.record(event);
                if fail {
                    return Err(StorageError::Internal("this job fails after recording".to_owned()));
                }
                Ok(())
            })
            .await
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_one_batch_a_failed_job_leaves_no_event_and_the_others_keep_theirs() {
    let (_dir, path) = temp_db();
    let store = Arc::new(open(&path));
    let event = |credential_id| audit().credential_event(AuditAction::CredentialCreated, key("o", "sa", credential_id));
    let (first, failing, last) = (event("c1"), event("c2"), event("c3"));
    let ids = [first.id.clone(), failing.id.clone(), last.id.clone()];

    let blocker = block_writer(&store).await;
    let first = queue_recording(&store, "o1", first, false).await;
    let failing = queue_recording(&store, "o2", failing, true).await;
    let last = queue_recording(&store, "o3", last, false).await;
    blocker.release().await;

    first.await.unwrap().expect("first job");
    assert!(failing.await.unwrap().is_err());
    last.await.unwrap().expect("last job");
    assert_eq!(
        store.writer.batches_committed(),
        2,
        "the blocker's batch, then one batch of three"
    );
    assert_eq!(events_with_id(&path, &ids[0]), 1);
    assert_eq!(
        events_with_id(&path, &ids[1]),
        0,
        "the failed job's event went with its change"
    );
    assert!(store.find_organization("o2").await.unwrap().is_none());
    assert_eq!(events_with_id(&path, &ids[2]), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_of_a_large_batch_is_inserted_once() {
    // 2 × AUDIT_EVENTS_PER_INSERT + 3: two full multi-row inserts and a remainder.
    let (_dir, path) = temp_db();
    let store = Arc::new(open(&path));
    let count = 2 * sql::AUDIT_EVENTS_PER_INSERT + 3;
    let ids: Vec<&'static str> = (0..count).map(|n| &*format!("o{n}").leak()).collect();
    let events: Vec<AuditEvent> = ids
        .iter()
        .map(|id| audit().credential_event(AuditAction::CredentialCreated, key(id, "sa", id)))
        .collect();

    let blocker = block_writer(&store).await;
    let mut writes = Vec::new();
    for (id, event) in ids.iter().zip(events.clone()) {
        writes.push(queue_recording(&store, id, event, false).await);
    }
    blocker.release().await;
    for write in writes {
        write.await.unwrap().expect("write");
    }

    assert_eq!(
        store.writer.batches_committed(),
        2,
        "the blocker's batch, then one batch of them all"
    );
    for event in &events {
        assert_eq!(events_with_id(&path, &event.id), 1);
    }
    let exported = store.export_audit_events(None, audit::beginning(), 100).await.unwrap();
    assert_eq!(exported.len(), count);
    for event in &events {
        let stored = exported.iter().find(|stored| stored.id == event.id).expect("exported");
        assert_eq!(stored.organization_id, event.organization_id);
        assert_eq!(stored.target, event.target);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_events_cannot_be_inserted_commits_none_of_its_changes() {
    let (_dir, path) = temp_db();
    let store = Arc::new(open(&path));
    let event = audit().credential_event(AuditAction::CredentialCreated, key("o", "sa", "c1"));
    let mut same_id = audit().credential_event(AuditAction::CredentialDeleted, key("o", "sa", "c1"));
    same_id.id = event.id.clone();

    // Both jobs succeed, but their events share an ID, so the second insert fails.
    let blocker = block_writer(&store).await;
    let first = queue_recording(&store, "o1", event.clone(), false).await;
    let second = queue_recording(&store, "o2", same_id, false).await;
    blocker.release().await;

    for outcome in [first.await.unwrap(), second.await.unwrap()] {
        assert!(matches!(outcome, Err(StorageError::Internal(_))), "{outcome:?}");
    }
    assert!(
        store.find_organization("o1").await.unwrap().is_none(),
        "no change without its event"
    );
    assert!(store.find_organization("o2").await.unwrap().is_none());
    assert_eq!(events_with_id(&path, &event.id), 0);

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
    assert_eq!(events.commits(), [1, 2], "the blocker alone, then both waiting writes");
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
    seed(store.as_ref()).await;

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
/// A copy taken while a checkpoint was writing the file may not read at all (the
/// schema not there yet, or pages of two moments): that counts as none copied yet.
fn organizations_in_the_database_file(path: &Path) -> i64 {
    let dir = tempfile::tempdir().expect("create temp dir");
    let copy = dir.path().join("copy.db");
    std::fs::copy(path, &copy).expect("copy the database file");
    let conn = Connection::open(&copy).expect("open the copy");
    conn.query_row("SELECT count(*) FROM organizations", [], |row| row.get(0))
        .unwrap_or(0)
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
        tokio::time::sleep(super::checkpointer::CHECKPOINT_INTERVAL).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_stays_small_under_a_stream_of_writes() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    seed(&store).await;

    // 6,000 commits one after another, each rewriting a 20,000-character description
    // (five pages) and recording its event: without the writer's catch-up the log
    // grew to 484 MB here. With it, it starts over once it holds about 12,000
    // pages (47 MiB) and the checkpointer has been by, which it is every 100 ms.
    for index in 0..6_000 {
        let patch = CredentialPatch {
            name: None,
            // Different all along: SQLite does not rewrite an overflow page whose
            // bytes are unchanged.
            description: Some(format!("{index:05}").repeat(4_000)),
            ..Default::default()
        };
        store
            .update_credential(key("org", "sa", "cred"), patch, 2_000 + index, None, audit())
            .await
            .unwrap();
    }
    let wal = path.with_extension("db-wal");
    let log_bytes = std::fs::metadata(&wal).map(|meta| meta.len()).unwrap_or(0);
    // At most the 64 MiB it is cut back to when it starts over (`journal_size_limit`).
    assert!(log_bytes <= 64 * 1024 * 1024, "the log grew to {log_bytes} bytes");
}

/// SQLite's plan for `sql`, one line per step.
#[tokio::test]
async fn the_audit_export_and_pruning_read_the_id_index_and_never_sort() {
    let (_dir, path) = temp_db();
    drop(open(&path));
    let conn = raw(&path);
    for statement in [&sql::EXPORT_AUDIT_EVENTS, &sql::PRUNE_AUDIT_EVENTS] {
        let statement = statement.sqlite();
        let plan = query_plan(&conn, statement).join("\n");
        assert!(plan.contains("INDEX audit_events_id ("), "{statement}\n{plan}");
        assert!(
            !plan.contains("TEMP B-TREE") && !plan.contains("SCAN"),
            "{statement}\n{plan}"
        );
    }
}

fn query_plan(conn: &rusqlite::Connection, sql: &str) -> Vec<String> {
    let mut statement = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .expect("prepare plan");
    // Every parameter needs a value, but without STAT4 the values do not sway the plan.
    let nulls = std::iter::repeat_n(rusqlite::types::Null, statement.parameter_count());
    let steps = statement
        .query_map(rusqlite::params_from_iter(nulls), |row| row.get(3))
        .expect("plan");
    steps.collect::<Result<_, _>>().expect("read plan")
}

#[tokio::test]
async fn no_write_or_point_read_builds_a_temporary_b_tree() {
    // SQLite checks `x IN (three or more values)` through a temporary B-tree it
    // builds for every row; in audit_events' actor_type check (0005) that was a
    // quarter of the cost of recording an event.
    let (_dir, path) = temp_db();
    drop(open(&path));
    let conn = raw(&path);
    // Not FIND_ORGANIZATION: it sorts its at most two rows (by ID, by label) once,
    // and only when a path names an organization by its label. Nor the insert and
    // update of a service account: its role check (0001) is such a list, but those
    // writes are rare, and rebuilding the table under its credentials' foreign
    // keys is not worth what it would save.
    let statements = [
        &sql::INSERT_ORGANIZATION,
        &sql::FIND_SERVICE_ACCOUNT,
        &sql::DELETE_SERVICE_ACCOUNT,
        &sql::INSERT_CREDENTIAL,
        &sql::FIND_CREDENTIAL,
        &sql::FIND_CREDENTIAL_AND_ROWID,
        &sql::UPDATE_CREDENTIAL,
        &sql::UPDATE_CREDENTIAL_IN_PLACE,
        &sql::ROTATE_CREDENTIAL,
        &sql::REVOKE_CREDENTIAL_TOKENS,
        &sql::DELETE_CREDENTIAL,
        &sql::FIND_CLIENT,
        &sql::FIND_TOKEN,
        &sql::SWEEP_EXPIRED_TOKENS,
        &sql::ADD_TOKEN,
        &sql::TOUCH_CREDENTIAL,
        &sql::REVOKE_TOKEN,
        &sql::INSERT_AUDIT_EVENT,
        &sql::INSERT_AUDIT_EVENTS,
        &sql::RECORD_TOKEN_DENIAL,
        &sql::CREDENTIALS_OF_SERVICE_ACCOUNT,
    ];
    for statement in statements {
        let statement = statement.sqlite();
        // SQLite keeps a RETURNING clause's rows in a temporary table, once per
        // statement whatever it checks; that one is SQLite's design, not ours.
        if statement.contains("RETURNING") {
            continue;
        }
        let mut explained = conn.prepare(&format!("EXPLAIN {statement}")).expect("explain");
        let unbound = std::iter::repeat_n(rusqlite::types::Null, explained.parameter_count());
        let opcodes: Vec<String> = explained
            .query_map(rusqlite::params_from_iter(unbound), |row| row.get(1))
            .expect("run explain")
            .collect::<Result<_, _>>()
            .expect("read opcodes");
        assert!(
            !opcodes.iter().any(|opcode| opcode == "OpenEphemeral"),
            "{statement}\n{opcodes:?}"
        );
    }
}

#[tokio::test]
async fn list_queries_search_their_index_and_never_sort() {
    let (_dir, path) = temp_db();
    drop(open(&path));
    let conn = raw(&path);
    let mut lists: Vec<(&ListSql, &str)> = vec![
        (&SERVICE_ACCOUNT_LIST, "service_accounts_organization_id_created_at_id"),
        (
            &CREDENTIAL_LIST,
            "credentials_service_account_id_organization_id_created_at_id",
        ),
    ];
    // The organization-wide list under every combination of filters: a range on
    // the index, each row then tested against the filters, never a sort.
    for list in ORGANIZATION_CREDENTIAL_LISTS.iter() {
        lists.push((list, "credentials_organization_id_created_at_id"));
    }
    for (sql, index) in lists {
        for statement in [
            &sql.first,
            &sql.after,
            &sql.before,
            &sql.any_at_or_before,
            &sql.any_at_or_after,
        ] {
            let statement = statement.sqlite();
            let steps = query_plan(&conn, statement);
            let plan = steps.join("\n");
            assert!(plan.contains(&format!("INDEX {index} (")), "{statement}\n{plan}");
            assert!(!plan.contains("TEMP B-TREE"), "{statement}\n{plan}");
            // An EXISTS query reads its one constant row; no table is scanned.
            let scans_a_table = steps
                .iter()
                .any(|step| step.starts_with("SCAN ") && step != "SCAN CONSTANT ROW");
            assert!(!scans_a_table, "{statement}\n{plan}");
            if statement != sql.first.sqlite() {
                assert!(
                    plan.contains("(created_at,id)"),
                    "a range on the position: {statement}\n{plan}"
                );
            }
        }
    }
}

#[tokio::test]
async fn sqlite_announces_nothing_and_its_revocation_feed_ends_at_once() {
    let (_dir, path) = temp_db();
    let store = open(&path);
    let mut feed = store.subscribe_revocations();

    store
        .announce_revocation(crate::Revoked::Credential("c1".to_owned()))
        .await
        .expect("a no-op");

    assert_eq!(feed.recv().await, None, "no other instance shares the file");
}
