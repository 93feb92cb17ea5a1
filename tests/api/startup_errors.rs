//! Start-up errors an operator can act on: each is one line on stderr naming what is
//! wrong, with a non-zero exit, and the listen addresses are checked before the
//! database is touched, so a bad address leaves no database file behind.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::helpers::keycred_binary;

/// Runs `keycred serve` with `args` (it is expected to fail at once).
fn serve(args: &[&str]) -> Output {
    serve_command(args).output().expect("run keycred serve")
}

/// The `keycred serve <args>` command line, with no metrics listener from the environment.
fn serve_command(args: &[&str]) -> Command {
    let mut command = Command::new(keycred_binary());
    command
        .arg("serve")
        .args(args)
        .env_remove("KEYCRED_METRICS_LISTEN")
        .stdin(Stdio::null());
    command
}

/// Asserts that `output` is a failure whose stderr is exactly the one line `expected`.
fn assert_fails_with_one_line(output: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "keycred serve started: {stderr}");
    assert_eq!(stderr, format!("{expected}\n"), "stderr is not that one line");
}

/// A path in a fresh directory, as a string, and the directory.
fn database_in_new_dir() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("keycred.db").to_str().expect("a UTF-8 path").to_owned();
    (dir, path)
}

/// Whether `dir` is empty.
fn is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).expect("list the dir").next().is_none()
}

#[test]
fn a_listen_address_that_is_not_an_address_is_refused_and_no_database_is_created() {
    let (dir, database) = database_in_new_dir();

    let output = serve(&["--listen", "nonsense", "--database", &database]);

    assert_fails_with_one_line(
        &output,
        "keycred: nonsense: not a valid address (expected HOST:PORT, e.g. 127.0.0.1:8080)",
    );
    assert!(is_empty(dir.path()), "a database file was created");
}

#[test]
fn an_address_in_use_is_named_and_no_database_is_created() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("take a port");
    let address = taken.local_addr().expect("its address").to_string();
    let (dir, database) = database_in_new_dir();

    let output = serve(&["--listen", &address, "--database", &database]);

    assert_fails_with_one_line(&output, &format!("keycred: {address}: address already in use"));
    assert!(is_empty(dir.path()), "a database file was created");
}

#[test]
fn a_metrics_address_in_use_is_named_and_no_database_is_created() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("take a port");
    let address = taken.local_addr().expect("its address").to_string();
    let (dir, database) = database_in_new_dir();

    let output = serve(&[
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        &address,
        "--database",
        &database,
    ]);

    assert_fails_with_one_line(&output, &format!("keycred: {address}: address already in use"));
    assert!(is_empty(dir.path()), "a database file was created");
}

#[test]
fn an_empty_database_is_a_usage_error() {
    let output = serve(&["--listen", "127.0.0.1:0", "--database", ""]);

    assert_fails_with_one_line(
        &output,
        "keycred: --database is empty: give a SQLite file path or a postgres:// URL",
    );
}

#[test]
fn a_directory_that_cannot_be_written_says_permission_denied_and_names_the_path() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).expect("create the directory");
    // Readable and searchable by all, writable by its owner only. Root writes anywhere,
    // so as root the server runs as `nobody`, who is not the owner.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod the temp dir");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).expect("chmod the directory");
    let database = locked.join("keycred.db");
    let database = database.to_str().expect("a UTF-8 path");
    let args = ["--listen", "127.0.0.1:0", "--database", database];

    let output = if running_as_root() {
        let mut command = Command::new("setpriv");
        command
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                keycred_binary(),
                "serve",
            ])
            .args(args)
            .env_remove("KEYCRED_METRICS_LISTEN")
            .stdin(Stdio::null());
        command.output().expect("run keycred serve as nobody with setpriv")
    } else {
        serve(&args)
    };

    assert_fails_with_one_line(
        &output,
        &format!("keycred: cannot create the database file {database}: permission denied"),
    );
    assert!(is_empty(&locked), "a file was created");
}

/// Whether this process runs as root.
fn running_as_root() -> bool {
    let output = Command::new("id").arg("-u").output().expect("run id -u");
    String::from_utf8_lossy(&output.stdout).trim() == "0"
}
