//! Storage faults: the database locked by another process, a full disk, and a database
//! file that cannot be written. Writes answer 503 `service_unavailable`, reads go on,
//! the server neither crashes nor hangs, `/readyz` says 503 while the writer cannot
//! write, and service (and `/readyz`) is normal once the fault clears.
//!
//! The full disk is a small tmpfs and the unwritable file is `chattr +i` (file modes do
//! not stop root, and CI runs as root); both need root, and say so and pass without it.

use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::helpers::{
    assert_error, assert_token_error, credential_path, spawn_app, spawn_app_with, sqlite_only, Bootstrapped,
    ServeOptions, TestApp, TestResponse,
};

/// The most a write may take while the database is locked: the server's 5 s busy
/// timeout and some slack. Longer is a hang.
const LOCKED_WRITE_LIMIT: Duration = Duration::from_secs(15);

/// Whether this process runs as root, which mounting and `chattr +i` need.
fn running_as_root() -> bool {
    let output = Command::new("id").arg("-u").output().expect("run id -u");
    String::from_utf8_lossy(&output.stdout).trim() == "0"
}

/// Runs a command, returning whether it succeeded (its stderr goes to the test's).
fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .status()
        .is_ok_and(|status| status.success())
}

/// A tmpfs of a given size mounted on a fresh directory; unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `4m`), or `None` if this machine will not.
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().expect("create a mount point");
        let mount_point = dir.path().to_str().expect("a UTF-8 temp path");
        let options = format!("size={size},mode=0700");
        succeeds("mount", &["-t", "tmpfs", "-o", &options, "tmpfs", mount_point]).then_some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily, in case a server that failed the test still holds its files open.
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// Files made immutable with `chattr +i`; made mutable again when dropped, so a
/// failed test does not leave undeletable files behind.
struct Immutable {
    files: Vec<PathBuf>,
}

impl Immutable {
    /// Makes `files` immutable, or `None` if this machine will not.
    fn set(files: &[PathBuf]) -> Option<Immutable> {
        let set = Immutable { files: files.to_vec() };
        files
            .iter()
            .all(|file| succeeds("chattr", &["+i", file.to_str().expect("a UTF-8 path")]))
            .then_some(set)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        for file in &self.files {
            let _ = Command::new("chattr").arg("-i").arg(file).status();
        }
    }
}

/// A server with an admin and its token.
fn serving(app: TestApp) -> (TestApp, Bootstrapped, String) {
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    (app, admin, token)
}

/// PATCHes the admin's credential to `name`.
fn rename(app: &TestApp, admin: &Bootstrapped, token: &str, name: &str) -> TestResponse {
    app.patch_json(&credential_path(admin), token, &format!(r#"{{"name":"{name}"}}"#))
}

/// Asserts that the server serves normally: healthz, readyz, a read, a write, a token.
fn assert_normal_service(app: &TestApp, admin: &Bootstrapped, token: &str, name: &str) {
    assert_eq!(app.request("GET", "/healthz", &[], None).status, 200);
    let ready = app.request("GET", "/readyz", &[], None);
    assert_eq!(ready.status, 200, "readyz after the fault: {}", ready.text());
    let renamed = rename(app, admin, token, name);
    assert_eq!(renamed.status, 200, "a write after the fault: {}", renamed.text());
    assert_eq!(app.credential(admin, token)["name"], name);
    assert_eq!(app.post_token("grant_type=client_credentials", Some(admin)).status, 200);
}

/// Asserts that `/readyz` says 503 `service_unavailable` while `/healthz` says the
/// process is up.
fn assert_not_ready(app: &TestApp) {
    assert_error(&app.request("GET", "/readyz", &[], None), 503, "service_unavailable");
    assert_eq!(app.request("GET", "/healthz", &[], None).status, 200);
}

/// Asserts that a read works and sees `name`.
fn assert_reads_see(app: &TestApp, admin: &Bootstrapped, token: &str, name: &str) {
    let read = app.get(&credential_path(admin), token);
    assert_eq!(read.status, 200, "a read during the fault: {}", read.text());
    assert_eq!(read.json()["name"], name);
}

/// After a restart the database passes SQLite's integrity check and has `name`.
fn assert_intact_after_restart(app: TestApp, admin: &Bootstrapped, token: &str, name: &str) {
    let app = app.kill_and_restart();
    assert_eq!(app.credential(admin, token)["name"], name);
    let database = rusqlite::Connection::open(app.database.sqlite_path()).expect("open the database");
    let integrity: String = database
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("run the integrity check");
    assert_eq!(integrity, "ok");
}

#[test]
fn while_another_process_locks_the_database_writes_are_503_and_reads_go_on() {
    if !sqlite_only("while_another_process_locks_the_database_writes_are_503_and_reads_go_on") {
        return;
    }
    let (app, admin, token) = serving(spawn_app());
    assert_eq!(rename(&app, &admin, &token, "before the lock").status, 200);
    let mut lock = rusqlite::Connection::open(app.database.sqlite_path()).expect("open the database");
    let exclusive = lock
        .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
        .expect("BEGIN EXCLUSIVE");

    let (patch, token_answer, elapsed) = thread::scope(|scope| {
        let started = Instant::now();
        let token_answer = scope.spawn(|| app.post_token("grant_type=client_credentials", Some(&admin)));
        let patch = rename(&app, &admin, &token, "during the lock");
        assert_reads_see(&app, &admin, &token, "before the lock");
        (
            patch,
            token_answer.join().expect("the token request"),
            started.elapsed(),
        )
    });

    assert_error(&patch, 503, "service_unavailable");
    assert_token_error(&token_answer, 503, "server_error", "service_unavailable");
    assert!(elapsed < LOCKED_WRITE_LIMIT, "the writes took {elapsed:?}");
    assert_not_ready(&app);
    exclusive.rollback().expect("release the lock");
    assert_normal_service(&app, &admin, &token, "after the lock");
    drop(lock);
    assert_intact_after_restart(app, &admin, &token, "after the lock");
}

#[test]
fn when_the_disk_is_full_writes_are_503_reads_go_on_and_writes_return_with_space() {
    if !sqlite_only("when_the_disk_is_full_writes_are_503_reads_go_on_and_writes_return_with_space") {
        return;
    }
    if !running_as_root() {
        eprintln!("SKIPPED: mounting a small tmpfs to fill needs root");
        return;
    }
    let Some(tmpfs) = Tmpfs::mount("4m") else {
        eprintln!("SKIPPED: this machine refused to mount a tmpfs");
        return;
    };
    let (app, admin, token) = serving(spawn_app_with(ServeOptions {
        database: Some(tmpfs.path().join("keycred.db")),
        ..ServeOptions::default()
    }));
    assert_eq!(rename(&app, &admin, &token, "before the disk filled").status, 200);
    let filler = tmpfs.path().join("filler");
    fill(&filler);

    // The WAL may still have room from earlier writes, so a few writes can succeed;
    // as soon as it must grow, they fail, and each must fail cleanly.
    let mut last_written = "before the disk filled".to_owned();
    let refused = (0..200).find_map(|n| {
        let name = format!("written on a full disk {n}");
        let response = rename(&app, &admin, &token, &name);
        match response.status {
            200 => {
                last_written = name;
                None
            }
            _ => Some(response),
        }
    });

    let refused = refused.expect("200 writes on a full 4 MiB disk all succeeded");
    assert_error(&refused, 503, "service_unavailable");
    assert_not_ready(&app);
    assert_reads_see(&app, &admin, &token, &last_written);
    fs::remove_file(&filler).expect("free the disk");
    assert_normal_service(&app, &admin, &token, "after the disk was freed");
    assert_intact_after_restart(app, &admin, &token, "after the disk was freed");
}

/// Writes zeros to `path` until the file system is full.
fn fill(path: &Path) {
    let mut file = File::create(path).expect("create the filler file");
    let block = vec![0u8; 64 * 1024];
    loop {
        match file.write_all(&block) {
            Ok(()) => {}
            Err(error) if error.kind() == ErrorKind::StorageFull || error.raw_os_error() == Some(28) => break,
            Err(error) => panic!("filling the disk failed: {error}"),
        }
    }
    // Whatever is left is smaller than a block; take it byte by byte.
    while file.write_all(&[0]).is_ok() {}
    let _ = file.sync_all();
}

#[test]
fn while_the_database_files_cannot_be_written_writes_are_503_and_reads_go_on() {
    if !sqlite_only("while_the_database_files_cannot_be_written_writes_are_503_and_reads_go_on") {
        return;
    }
    if !running_as_root() {
        eprintln!("SKIPPED: chattr +i needs root (file modes do not stop root)");
        return;
    }
    let (app, admin, token) = serving(spawn_app());
    assert_eq!(rename(&app, &admin, &token, "before the lock-down").status, 200);
    let files = [
        app.database.sqlite_path().to_path_buf(),
        app.data_dir().join("keycred.db-wal"),
    ];
    let Some(immutable) = Immutable::set(&files) else {
        eprintln!("SKIPPED: this file system does not take chattr +i");
        return;
    };

    let patch = rename(&app, &admin, &token, "during the lock-down");
    let minted = app.post_token("grant_type=client_credentials", Some(&admin));

    assert_error(&patch, 503, "service_unavailable");
    assert_token_error(&minted, 503, "server_error", "service_unavailable");
    assert_not_ready(&app);
    assert_reads_see(&app, &admin, &token, "before the lock-down");
    drop(immutable);
    assert_normal_service(&app, &admin, &token, "after the lock-down");
    assert_intact_after_restart(app, &admin, &token, "after the lock-down");
}
