//! The SQLite database's files: created readable by their owner only (0600) whatever
//! the umask, and existing files that others can read reported at start.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::helpers::{keycred_binary, spawn_app_with, sqlite_only, ServeOptions, ServerFromCommand};

/// Starts `keycred serve` on `database` from `sh`, under umask 022.
fn start_under_umask_022(database: &Path) -> ServerFromCommand {
    let mut command = Command::new("sh");
    command
        .args([
            "-c",
            "umask 022 && exec \"$0\" serve --listen 127.0.0.1:0 --database \"$1\"",
        ])
        .arg(keycred_binary())
        .arg(database)
        .env_remove("KEYCRED_METRICS_LISTEN");
    ServerFromCommand::start(command)
}

/// The permission bits of `path`.
fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn the_database_and_its_wal_and_shm_files_are_created_0600_under_umask_022() {
    if !sqlite_only("the_database_and_its_wal_and_shm_files_are_created_0600_under_umask_022") {
        return;
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let database = dir.path().join("keycred.db");

    let _server = start_under_umask_022(&database);

    for name in ["keycred.db", "keycred.db-wal", "keycred.db-shm"] {
        assert_eq!(mode_of(&dir.path().join(name)), 0o600, "{name}");
    }
}

#[test]
fn an_existing_database_file_that_others_can_read_gets_a_warning_and_keeps_its_mode() {
    if !sqlite_only("an_existing_database_file_that_others_can_read_gets_a_warning_and_keeps_its_mode") {
        return;
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let database = dir.path().join("keycred.db");
    std::fs::write(&database, b"").expect("create an empty database file");
    std::fs::set_permissions(&database, std::fs::Permissions::from_mode(0o644)).expect("chmod 644");

    let app = spawn_app_with(ServeOptions {
        database: Some(database.clone()),
        ..ServeOptions::default()
    });

    let logs = app.logs_once_they_contain("other users can access this database file");
    assert!(logs.contains("other users can access this database file"), "{logs}");
    assert!(logs.contains(&format!("file={}", database.display())), "{logs}");
    assert!(logs.contains("mode=644"), "{logs}");
    assert_eq!(mode_of(&database), 0o644, "the operator's choice stands");
}
