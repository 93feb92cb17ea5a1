//! Tests of the PostgreSQL store against a real server, each on a database of its own
//! (`CREATE DATABASE keycred_unit_<random>`, dropped afterwards).
//!
//! They need PostgreSQL, at `KEYCRED_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`; the user must be allowed to create
//! databases), so they are ignored by a plain `cargo test`, which says so, and run by
//! `scripts/test.sh` with `--ignored` when PostgreSQL is there.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::NoTls;

use super::migrations::MIGRATION_LOCK;
use super::{PgStore, PoolSettings};
use crate::conformance::{lists, organization, seed, Database, RecordedEvents};
use crate::migrations::MIGRATIONS;
use crate::paging::ORGANIZATION_CREDENTIAL_LISTS;
use crate::{IgnoreStorageEvents, Revoked, StorageError, StorageObserver, Store};

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

impl Database for TestDatabase {
    type Store = PgStore;

    async fn create() -> TestDatabase {
        TestDatabase::create_with("").await
    }

    async fn open(&self, observer: Arc<dyn StorageObserver>) -> PgStore {
        PgStore::connect(&self.url, observer).await.expect("open the store")
    }

    async fn execute(&self, sql: &str) {
        self.raw().await.batch_execute(sql).await.expect(sql);
    }

    async fn count_rows(&self, table: &str) -> i64 {
        let sql = format!("SELECT count(*) FROM {table}");
        self.raw().await.query_one(&sql, &[]).await.expect("count rows").get(0)
    }
}

/// The conformance suite, on PostgreSQL.
mod conformance {
    crate::conformance::conformance_tests!(super::TestDatabase, #[ignore = "needs PostgreSQL"]);
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
    assert_eq!(events.commits(), [1], "each write commits alone");
}

#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn lists_are_in_byte_order_of_created_at_then_id_whatever_the_locale() {
    for list in lists::LISTS {
        // A database whose own collation is not byte order (ICU's en-US), so that
        // only the schema's COLLATE "C" keeps the lists in SQLite's order.
        let database =
            TestDatabase::create_with("TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'")
                .await;
        let lower_first: bool = database
            .raw()
            .await
            .query_one("SELECT 'a'::text < 'A'::text", &[])
            .await
            .unwrap()
            .get(0);
        assert!(lower_first, "the test database should sort like en-US, not by bytes");
        let store = open(&database).await;
        lists::setup(&store, list).await;
        lists::ids_are_ordered_byte_by_byte(&store, list).await;
    }
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
async fn the_organization_credential_lists_search_their_index_and_never_sort() {
    let database = TestDatabase::create().await;
    drop(open(&database).await);
    let client = database.raw().await;
    // An empty table has no statistics to choose by; with sequential scans ruled
    // out the planner shows which index, if any, gives the list order.
    client
        .batch_execute("SET enable_seqscan = off; SET plan_cache_mode = force_generic_plan")
        .await
        .expect("set the planner up");
    for list in ORGANIZATION_CREDENTIAL_LISTS.iter() {
        for statement in [
            &list.first,
            &list.after,
            &list.before,
            &list.any_at_or_before,
            &list.any_at_or_after,
        ] {
            let sql = statement.postgres();
            let parameters = (1..)
                .take_while(|number| sql.contains(&format!("${number}")))
                .map(|_| "'1'")
                .collect::<Vec<_>>()
                .join(", ");
            client
                .batch_execute(&format!("PREPARE list_page AS {sql}"))
                .await
                .unwrap_or_else(|error| panic!("{sql}: {error}"));
            let rows = client
                .simple_query(&format!("EXPLAIN EXECUTE list_page({parameters})"))
                .await
                .expect("explain");
            let plan: Vec<String> = rows
                .iter()
                .filter_map(|message| match message {
                    tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
                    _ => None,
                })
                .collect();
            let plan = plan.join("\n");
            assert!(
                plan.contains(" using credentials_organization_id_created_at_id on credentials"),
                "{sql}\n{plan}"
            );
            assert!(!plan.contains("Sort"), "{sql}\n{plan}");
            if sql.contains("(created_at, id)") {
                assert!(
                    plan.contains("ROW(created_at, id)"),
                    "a range on the position: {sql}\n{plan}"
                );
            }
            client.batch_execute("DEALLOCATE list_page").await.expect("deallocate");
        }
    }
}

/// The next revocation `feed` hears, failing the test after 10 s of silence.
async fn heard(feed: &mut crate::RevocationFeed) -> Revoked {
    tokio::time::timeout(Duration::from_secs(10), feed.recv())
        .await
        .expect("a revocation within 10 s")
        .expect("the feed is still open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL"]
async fn revocations_announced_by_one_store_are_heard_by_the_others_but_not_by_itself() {
    let database = TestDatabase::create().await;
    let (first, second) = (open(&database).await, open(&database).await);
    let mut first_hears = first.subscribe_revocations();
    let mut second_hears = second.subscribe_revocations();
    // Listening starts with a flush: anything before it went unheard.
    assert_eq!(heard(&mut first_hears).await, Revoked::Everything);
    assert_eq!(heard(&mut second_hears).await, Revoked::Everything);

    let announced = [
        Revoked::Credential("c1".to_owned()),
        Revoked::ServiceAccount("s1".to_owned()),
        Revoked::Token("t1".to_owned()),
    ];
    for revoked in &announced {
        first.announce_revocation(revoked.clone()).await.unwrap();
    }
    for revoked in &announced {
        assert_eq!(&heard(&mut second_hears).await, revoked);
    }
    // The first store hears the second's announcement, and none of its own before it.
    second
        .announce_revocation(Revoked::Token("t2".to_owned()))
        .await
        .unwrap();
    assert_eq!(heard(&mut first_hears).await, Revoked::Token("t2".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL"]
async fn a_listener_whose_connection_is_ended_reconnects_and_flushes_again() {
    let database = TestDatabase::create().await;
    let (listening, announcing) = (open(&database).await, open(&database).await);
    let mut feed = listening.subscribe_revocations();
    assert_eq!(heard(&mut feed).await, Revoked::Everything);

    let ended = database
        .raw()
        .await
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'keycred-revocations'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(ended.len(), 1, "one listener connection");

    // Whatever was announced while it was away is lost: it says so, then hears again.
    assert_eq!(heard(&mut feed).await, Revoked::Everything);
    announcing
        .announce_revocation(Revoked::Credential("c1".to_owned()))
        .await
        .unwrap();
    assert_eq!(heard(&mut feed).await, Revoked::Credential("c1".to_owned()));
}
