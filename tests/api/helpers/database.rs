//! The database a test's server runs on, chosen by `KEYCRED_TEST_BACKEND`: `sqlite`
//! (the default) gives each test a SQLite file in a new temporary directory;
//! `postgres` gives each test a database of its own, `CREATE DATABASE
//! keycred_test_<random>` on the server at `KEYCRED_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), dropped when the test ends. The
//! server is then started with that database's URL as `--database`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use tempfile::TempDir;
use tokio_postgres::NoTls;

/// Where the PostgreSQL variants create their databases, unless `KEYCRED_TEST_POSTGRES_URL` says otherwise.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Which database the end-to-end tests run keycred on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file per test (the default).
    Sqlite,
    /// A PostgreSQL database per test.
    Postgres,
}

/// The backend `KEYCRED_TEST_BACKEND` names (`sqlite` when unset).
pub fn backend() -> Backend {
    match std::env::var("KEYCRED_TEST_BACKEND").as_deref() {
        Err(_) | Ok("") | Ok("sqlite") => Backend::Sqlite,
        Ok("postgres") => Backend::Postgres,
        Ok(other) => panic!("KEYCRED_TEST_BACKEND={other:?}: expected sqlite or postgres"),
    }
}

/// Fails the calling test unless the suite runs on PostgreSQL: for the tests that
/// only make sense there (they are `#[ignore]`d, so a plain run reports them as such).
pub fn require_postgres() {
    assert_eq!(
        backend(),
        Backend::Postgres,
        "this test is PostgreSQL only: run it with KEYCRED_TEST_BACKEND=postgres (scripts/test.sh does)"
    );
}

/// Whether the suite runs on SQLite; otherwise says the calling test is skipped and
/// why. For the tests about SQLite's own files (faults injected into the file system).
pub fn sqlite_only(test: &str) -> bool {
    let on_sqlite = backend() == Backend::Sqlite;
    if !on_sqlite {
        eprintln!("SKIPPED {test}: it injects faults into SQLite's files, which PostgreSQL does not have");
    }
    on_sqlite
}

/// The server the PostgreSQL variants use.
fn admin_url() -> String {
    std::env::var("KEYCRED_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

/// `url` with its database name replaced by `database` (query parameters kept).
fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
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

/// Runs `work` with a client connected to `url`, on a small runtime of its own (the
/// tests are plain threads).
fn with_client<T>(url: &str, work: impl AsyncFnOnce(&tokio_postgres::Client) -> T) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap_or_else(|error| {
            panic!(
                "KEYCRED_TEST_BACKEND=postgres, but PostgreSQL at {url} cannot be reached ({error}). \
                 Start it, or point KEYCRED_TEST_POSTGRES_URL at one."
            )
        });
        let connection = tokio::spawn(connection);
        let result = work(&client).await;
        drop(client);
        let _ = connection.await;
        result
    })
}

/// One test's database; a PostgreSQL one is dropped (whatever is still connected to
/// it) when the last server using it is gone.
pub enum TestDatabase {
    /// A SQLite file inside a temporary directory that lives as long as this.
    Sqlite {
        /// The directory holding the file and its `-wal`/`-shm` companions.
        dir: TempDir,
        /// The database file.
        path: PathBuf,
    },
    /// A database of its own on the PostgreSQL server.
    Postgres {
        /// Its name, `keycred_test_<random>`.
        name: String,
        /// Its URL, as given to `--database`.
        url: String,
    },
}

impl TestDatabase {
    /// A fresh, empty database of the backend `KEYCRED_TEST_BACKEND` names.
    pub fn new() -> TestDatabase {
        match backend() {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("create a temp dir");
                let path = dir.path().join("keycred.db");
                TestDatabase::Sqlite { dir, path }
            }
            Backend::Postgres => {
                let name = format!("keycred_test_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
                with_client(&admin_url(), async |client| {
                    client
                        .batch_execute(&format!("CREATE DATABASE {name}"))
                        .await
                        .unwrap_or_else(|error| panic!("CREATE DATABASE {name}: {error}"));
                });
                let url = with_database(&admin_url(), &name);
                TestDatabase::Postgres { name, url }
            }
        }
    }

    /// A SQLite database at a path of the test's choosing (whatever the backend), e.g.
    /// on a small tmpfs for the disk-full test.
    pub fn sqlite_at(path: PathBuf) -> TestDatabase {
        let dir = tempfile::tempdir().expect("create a temp dir");
        TestDatabase::Sqlite { dir, path }
    }

    /// The SQLite database file; panics for PostgreSQL, since only SQLite tests ask.
    pub fn sqlite_path(&self) -> &Path {
        match self {
            TestDatabase::Sqlite { path, .. } => path,
            TestDatabase::Postgres { .. } => panic!("this test needs the SQLite backend"),
        }
    }

    /// Inserts a token row directly, behind every server's back (so no cache has seen it).
    pub fn insert_token(&self, id: &str, secret_hash: &[u8], credential_id: &str, created_at: i64, expires_at: i64) {
        const COLUMNS: &str = "INSERT INTO tokens (id, secret_hash, credential_id, created_at, expires_at)";
        match self {
            TestDatabase::Sqlite { path, .. } => {
                let database = rusqlite::Connection::open(path).expect("open the database");
                database
                    .busy_timeout(std::time::Duration::from_secs(5))
                    .expect("set a busy timeout");
                database
                    .execute(
                        &format!("{COLUMNS} VALUES (?1, ?2, ?3, ?4, ?5)"),
                        rusqlite::params![id, secret_hash, credential_id, created_at, expires_at],
                    )
                    .expect("insert a token");
            }
            TestDatabase::Postgres { url, .. } => with_client(url, async |client| {
                client
                    .execute(
                        &format!("{COLUMNS} VALUES ($1, $2, $3, $4, $5)"),
                        &[&id, &secret_hash, &credential_id, &created_at, &expires_at],
                    )
                    .await
                    .expect("insert a token");
            }),
        }
    }

    /// PostgreSQL only: makes the server refuse new connections to this database and
    /// ends the open ones (`refuse = true`), or takes connections again (`false`).
    pub fn refuse_postgres_connections(&self, refuse: bool) {
        let TestDatabase::Postgres { name, .. } = self else {
            panic!("this test needs the PostgreSQL backend");
        };
        let sql = format!(
            "ALTER DATABASE {name} ALLOW_CONNECTIONS {}; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND {refuse}",
            !refuse
        );
        with_client(&admin_url(), async |client| client.batch_execute(&sql).await)
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
    }

    /// PostgreSQL only: runs `sql` on this database, on a connection of its own (as an
    /// administrator would, behind every server's back), and returns the first column
    /// of each row it returns, as text (`NULL` as an empty string).
    pub fn postgres_column(&self, sql: &str) -> Vec<String> {
        let TestDatabase::Postgres { url, .. } = self else {
            panic!("this test needs the PostgreSQL backend");
        };
        with_client(url, async |client| {
            let rows = client
                .simple_query(sql)
                .await
                .unwrap_or_else(|error| panic!("{sql}: {error}"));
            rows.iter()
                .filter_map(|message| match message {
                    tokio_postgres::SimpleQueryMessage::Row(row) => Some(row.get(0).unwrap_or_default().to_owned()),
                    _ => None,
                })
                .collect()
        })
    }

    /// PostgreSQL: waits until no session of a killed server is left on this
    /// database. A statement the server had sent before it died still runs to its
    /// end (and may commit); only when its session is gone is what the server left
    /// behind settled, so checks made after a restart see all of it. SQLite: nothing
    /// to wait for, a killed process writes nothing more.
    pub fn wait_for_sessions_to_end(&self) {
        let TestDatabase::Postgres { name, .. } = self else {
            return;
        };
        let sql = format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}'");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let sessions: i64 = with_client(&admin_url(), async |client| {
                let row = client.query_one(&sql, &[]).await;
                row.unwrap_or_else(|error| panic!("{sql}: {error}")).get(0)
            });
            if sessions == 0 {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{sessions} sessions of a killed server are still open on {name} after 30 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The `--database` value: the file's path or the database's URL.
    pub fn argument(&self) -> OsString {
        match self {
            TestDatabase::Sqlite { path, .. } => path.clone().into_os_string(),
            TestDatabase::Postgres { url, .. } => url.into(),
        }
    }

    /// Everything the database holds, as raw bytes to search, labelled: for SQLite the
    /// bytes of every file of the database (`keycred.db`, `-wal`, `-shm`); for
    /// PostgreSQL every row of every table of the database, as PostgreSQL renders the
    /// row as text (binary columns in hex).
    pub fn stored_bytes(&self) -> Vec<(String, Vec<u8>)> {
        match self {
            TestDatabase::Sqlite { dir, .. } => {
                let mut files = Vec::new();
                for entry in std::fs::read_dir(dir.path()).expect("list the data dir") {
                    let path = entry.expect("a dir entry").path();
                    let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
                    if name.starts_with("keycred.db") {
                        files.push((name, std::fs::read(&path).expect("read a database file")));
                    }
                }
                assert!(
                    files.iter().any(|(name, _)| name == "keycred.db"),
                    "no database file in {:?}",
                    files.iter().map(|(name, _)| name).collect::<Vec<_>>()
                );
                files
            }
            TestDatabase::Postgres { url, .. } => with_client(url, async |client| {
                let tables = client
                    .query(
                        "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = current_schema() \
                         ORDER BY tablename",
                        &[],
                    )
                    .await
                    .expect("list the tables");
                let mut dump = Vec::new();
                for table in tables {
                    let table: String = table.get(0);
                    let rows = client
                        .query(&format!("SELECT t::text FROM {table} AS t"), &[])
                        .await
                        .unwrap_or_else(|error| panic!("read {table}: {error}"));
                    let text: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
                    dump.push((format!("table {table}"), text.join("\n").into_bytes()));
                }
                assert!(
                    dump.iter().any(|(name, _)| name == "table credentials"),
                    "no credentials table in the database"
                );
                dump
            }),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres { name, .. } = self {
            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            // Never panic while already panicking: that would abort the whole test run.
            let dropped =
                std::panic::catch_unwind(|| with_client(&admin_url(), async |client| client.batch_execute(&sql).await));
            match dropped {
                Ok(Ok(())) => {}
                Ok(Err(error)) => eprintln!("warning: {sql}: {error}"),
                Err(_) => eprintln!("warning: {sql}: could not reach PostgreSQL"),
            }
        }
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
}
