//! `keycred backup`: a consistent copy of a SQLite database taken while a server
//! writes to it, which a new server can serve from; PostgreSQL is pointed to `pg_dump`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use crate::helpers::{
    credential_path, keycred_binary, new_label, spawn_app, spawn_app_with, sqlite_only, Bootstrapped, ServeOptions,
    TestApp,
};

/// Writers PATCHing at once, each its own credential.
const WRITERS: usize = 3;
/// Writes each writer has had acknowledged before the backup starts.
const WARM_UP_WRITES: u64 = 10;

/// Runs `keycred backup --database <database> --output <output>`.
fn run_backup(database: &std::ffi::OsStr, output: &Path) -> Output {
    Command::new(keycred_binary())
        .arg("backup")
        .arg("--database")
        .arg(database)
        .arg("--output")
        .arg(output)
        .stdin(Stdio::null())
        .output()
        .expect("run keycred backup")
}

/// One writer: renames its credential to `write 1`, `write 2`, … until `stop`, and
/// publishes in `acknowledged` the number of the last write answered 200.
fn keep_writing(app: &TestApp, admin: &Bootstrapped, acknowledged: &AtomicU64, stop: &AtomicBool) {
    let token = app.token_for(admin);
    let mut number = 0;
    while !stop.load(Ordering::SeqCst) {
        number += 1;
        let body = format!(r#"{{"name":"write {number}"}}"#);
        let response = app.patch_json(&credential_path(admin), &token, &body);
        assert_eq!(response.status, 200, "{}", response.text());
        acknowledged.store(number, Ordering::SeqCst);
    }
}

/// The number `n` of a credential named `write n` in the database file at `path`.
fn write_number_in(path: &Path, credential_id: &str) -> u64 {
    let database = rusqlite::Connection::open(path).expect("open the copy");
    let name: String = database
        .query_row("SELECT name FROM credentials WHERE id = ?1", [credential_id], |row| {
            row.get(0)
        })
        .expect("the credential is in the copy");
    name.strip_prefix("write ")
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("unexpected name {name:?}"))
}

#[test]
fn a_backup_taken_during_writes_holds_every_acknowledged_write_and_serves_tokens() {
    if !sqlite_only("a_backup_taken_during_writes_holds_every_acknowledged_write_and_serves_tokens") {
        return;
    }
    let app = spawn_app();
    let admins: Vec<Bootstrapped> = (0..WRITERS).map(|_| app.admin(&new_label())).collect();
    let acknowledged: Vec<AtomicU64> = (0..WRITERS).map(|_| AtomicU64::new(0)).collect();
    let stop = AtomicBool::new(false);
    let backups = tempfile::tempdir().expect("a temp dir");
    let output = backups.path().join("keycred-backup.db");

    let (before, backup) = thread::scope(|scope| {
        let writers: Vec<_> = admins
            .iter()
            .zip(&acknowledged)
            .map(|(admin, acknowledged)| scope.spawn(|| keep_writing(&app, admin, acknowledged, &stop)))
            .collect();
        while acknowledged
            .iter()
            .any(|count| count.load(Ordering::SeqCst) < WARM_UP_WRITES)
        {
            assert!(!writers.iter().any(|writer| writer.is_finished()), "a writer failed");
            thread::sleep(Duration::from_millis(5));
        }
        let before: Vec<u64> = acknowledged.iter().map(|count| count.load(Ordering::SeqCst)).collect();
        let backup = run_backup(app.database.sqlite_path().as_os_str(), &output);
        stop.store(true, Ordering::SeqCst);
        for writer in writers {
            writer.join().expect("a writer");
        }
        (before, backup)
    });

    let stdout = String::from_utf8_lossy(&backup.stdout);
    assert!(
        backup.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&backup.stderr)
    );
    assert!(stdout.contains(&format!("to {} (", output.display())), "{stdout}");
    assert!(stdout.contains("integrity check ok"), "{stdout}");
    assert_eq!(std::fs::metadata(&output).unwrap().permissions().mode() & 0o777, 0o600);
    let copy = rusqlite::Connection::open(&output).expect("open the copy");
    let integrity: String = copy.query_row("PRAGMA integrity_check", [], |row| row.get(0)).unwrap();
    assert_eq!(integrity, "ok");
    for (admin, acknowledged_before) in admins.iter().zip(&before) {
        let in_copy = write_number_in(&output, &admin.credential_id);
        assert!(
            in_copy >= *acknowledged_before,
            "write {acknowledged_before} was acknowledged before the backup, the copy has {in_copy}"
        );
    }
    drop(copy);
    drop(app);

    let restored = spawn_app_with(ServeOptions {
        database: Some(output.clone()),
        ..ServeOptions::default()
    });
    let token = restored.token_for(&admins[0]);
    let name = restored.credential(&admins[0], &token)["name"].clone();
    assert_eq!(
        name,
        format!("write {}", write_number_in(&output, &admins[0].credential_id))
    );
}

#[test]
fn a_postgres_url_is_refused_with_a_pointer_to_pg_dump_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let output = dir.path().join("copy.db");

    let backup = run_backup("postgres://keycred:s3cret@127.0.0.1:5432/keycred".as_ref(), &output);

    let stderr = String::from_utf8_lossy(&backup.stderr);
    assert!(!backup.status.success(), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("pg_dump"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "the password is never shown: {stderr}");
    assert!(!output.exists());
}

#[test]
fn a_missing_database_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let output = dir.path().join("copy.db");
    let missing = dir.path().join("missing.db");

    let backup = run_backup(missing.as_os_str(), &output);

    let stderr = String::from_utf8_lossy(&backup.stderr);
    assert!(!backup.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("{}: no such database file", missing.display())),
        "{stderr}"
    );
    assert!(!missing.exists(), "the backup created the database it was to copy");
    assert!(!output.exists());
}
