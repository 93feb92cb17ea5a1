//! Shared machinery: a real `keycred serve` per test (this file) on a fresh database of
//! the backend `KEYCRED_TEST_BACKEND` names (`database`), the `keycred bootstrap`
//! command line, a tiny HTTP/1.1 client over `TcpStream` or TLS (`http`, `tls`),
//! checks of the error shape, the resource paths and writes, and walks over paginated
//! lists. With `KEYCRED_TEST_TLS=1` every server serves HTTPS with a test certificate.

mod bootstrap;
mod checks;
mod command_line;
mod database;
mod http;
mod metrics_listener;
mod pages;
mod resources;
pub mod tls;

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub use bootstrap::{basic_auth, credential_path, credential_path_of, new_label, Bootstrapped, BOOTSTRAP_KEYS};
pub use checks::{
    assert_error, assert_token_error, contains_bytes, is_utc_millis_timestamp, json_log_lines, keys_of, message_of,
};
pub use command_line::ServerFromCommand;
pub use database::{require_postgres, sqlite_only, TestDatabase};
pub use http::{parse_response, read_keep_alive_response, read_response, TestResponse, TestStream};
pub use pages::{duplicates, ids_of, Page};
pub use resources::{
    credentials_path, is_resource_id, next_millisecond, organization_credentials_path, organization_path,
    service_account_path, service_accounts_path, string_field, with_query, MISSING_ID,
};

/// How long `keycred serve` may take to say where it listens.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the server may take to exit after SIGTERM.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a log line may take to show up after the response it belongs to.
const LOG_TIMEOUT: Duration = Duration::from_secs(5);

/// The keycred binary cargo built for these tests.
pub fn keycred_binary() -> &'static str {
    env!("CARGO_BIN_EXE_keycred")
}

/// A running `keycred serve` on a test database (shared with the other instances
/// started with it by [`spawn_instances`]). Dropping it kills the server; the
/// database goes when the last server on it is dropped.
pub struct TestApp {
    /// Where the server listens, e.g. `127.0.0.1:41234`.
    pub address: String,
    /// Where its metrics listener serves `/metrics`: every test server has one
    /// (`KEYCRED_METRICS_LISTEN=127.0.0.1:0`) unless its environment sets that empty.
    pub metrics_address: Option<String>,
    /// The database the server uses.
    pub database: Arc<TestDatabase>,
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// Extra environment the server runs with, kept for restarts.
    env: Vec<(String, String)>,
    /// Extra `keycred serve` arguments it runs with, kept for restarts.
    args: Vec<String>,
    /// Whether the server said it serves HTTPS; the helpers then speak TLS to it.
    pub https: bool,
    /// The test certificate `KEYCRED_TEST_TLS=1` gave it, kept for restarts.
    test_certificate: Option<Arc<tls::PairFiles>>,
}

/// What a test may change about how `keycred serve` starts.
#[derive(Debug, Default, Clone)]
pub struct ServeOptions {
    /// Extra environment variables, e.g. `KEYCRED_LOG=trace`.
    pub env: Vec<(String, String)>,
    /// A SQLite database file of the test's choosing (e.g. on a small tmpfs); a fresh
    /// database of the backend `KEYCRED_TEST_BACKEND` names when `None`.
    pub database: Option<PathBuf>,
}

/// Starts a server on 127.0.0.1 port 0 with a fresh database of the backend
/// `KEYCRED_TEST_BACKEND` names.
pub fn spawn_app() -> TestApp {
    spawn_app_with(ServeOptions::default())
}

/// Starts a server on 127.0.0.1 port 0 as `options` say.
pub fn spawn_app_with(options: ServeOptions) -> TestApp {
    let database = match options.database {
        Some(path) => TestDatabase::sqlite_at(path),
        None => TestDatabase::new(),
    };
    start(Arc::new(database), options.env, Vec::new(), test_certificate())
}

/// Starts a server on 127.0.0.1 port 0, with a fresh database of the backend
/// `KEYCRED_TEST_BACKEND` names, as `keycred serve <the usual arguments> <args>`.
pub fn spawn_app_with_args(args: &[&str]) -> TestApp {
    let args = args.iter().map(|arg| (*arg).to_owned()).collect();
    start(Arc::new(TestDatabase::new()), Vec::new(), args, test_certificate())
}

/// With `KEYCRED_TEST_TLS=1`, a new certificate of the test authority on disk.
fn test_certificate() -> Option<Arc<tls::PairFiles>> {
    tls::tls_mode().then(|| {
        let pair = tls::TestAuthority::get().server_pair("keycred test server");
        Arc::new(tls::PairFiles::write(&pair))
    })
}

/// Starts `count` servers at once on one fresh database, as a scaled-out deployment
/// would: they find the database empty and migrate it concurrently.
pub fn spawn_instances(count: usize) -> Vec<TestApp> {
    let database = Arc::new(TestDatabase::new());
    let starting: Vec<_> = (0..count)
        .map(|_| {
            let database = Arc::clone(&database);
            thread::spawn(move || start(database, Vec::new(), Vec::new(), test_certificate()))
        })
        .collect();
    starting
        .into_iter()
        .map(|instance| instance.join().expect("start an instance"))
        .collect()
}

fn start(
    database: Arc<TestDatabase>,
    env: Vec<(String, String)>,
    args: Vec<String>,
    test_certificate: Option<Arc<tls::PairFiles>>,
) -> TestApp {
    // A test's own certificate (in `env`) wins over the one of `KEYCRED_TEST_TLS=1`.
    let certificate_env = test_certificate.iter().flat_map(|files| files.env());
    let mut child = Command::new(keycred_binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--database"])
        .arg(database.argument())
        .args(&args)
        .env("KEYCRED_METRICS_LISTEN", "127.0.0.1:0")
        .envs(certificate_env)
        .envs(env.iter().map(|(name, value)| (name, value)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn keycred serve");

    let stdout = Arc::new(Mutex::new(Vec::new()));
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let (lines_tx, lines_rx) = mpsc::channel::<String>();
    let out_pipe = child.stdout.take().expect("piped stdout");
    let out_buffer = Arc::clone(&stdout);
    let out_reader = thread::spawn(move || {
        let mut reader = BufReader::new(out_pipe);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    out_buffer.lock().unwrap().extend_from_slice(&line);
                    let _ = lines_tx.send(String::from_utf8_lossy(&line).into_owned());
                }
            }
        }
    });
    let mut err_pipe = child.stderr.take().expect("piped stderr");
    let err_buffer = Arc::clone(&stderr);
    let err_reader = thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        while let Ok(read @ 1..) = err_pipe.read(&mut chunk) {
            err_buffer.lock().unwrap().extend_from_slice(&chunk[..read]);
        }
    });

    let deadline = Instant::now() + STARTUP_TIMEOUT;
    // The metrics line comes first; the listening line means the server is ready.
    let mut metrics_address = None;
    let address = loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match lines_rx.recv_timeout(remaining) {
            Ok(line) => {
                if let Some(address) = listening_address(&line) {
                    break address;
                }
                metrics_address = metrics_address.or_else(|| metrics_listener::metrics_address(&line));
            }
            Err(error) => {
                let _ = child.kill();
                let _ = child.wait();
                // The pipes close with the server, so the readers end once they have it all.
                let _ = out_reader.join();
                let _ = err_reader.join();
                panic!(
                    "keycred serve never printed 'listening on http(s)://…' ({error:?}).\n\
                     --- stdout ---\n{}\n--- stderr ---\n{}",
                    String::from_utf8_lossy(&stdout.lock().unwrap()),
                    String::from_utf8_lossy(&stderr.lock().unwrap()),
                );
            }
        }
    };
    let https = String::from_utf8_lossy(&stdout.lock().unwrap()).contains("listening on https://");
    TestApp {
        address,
        metrics_address,
        database,
        child,
        stdout,
        stderr,
        env,
        args,
        https,
        test_certificate,
    }
}

/// The `ADDR` of a `listening on http://ADDR` (or `https://ADDR`) line, if the line is one.
pub fn listening_address(line: &str) -> Option<String> {
    let (_, rest) = line.split_once("listening on ")?;
    let rest = rest.strip_prefix("http://").or_else(|| rest.strip_prefix("https://"))?;
    let address = rest.split_whitespace().next()?.trim_end_matches('/');
    (!address.is_empty()).then(|| address.to_owned())
}

/// What a debug build of the server says when an operation answers an error status
/// its spec entry does not list (`keycred_api::error::check_documented`).
const UNDOCUMENTED_STATUS: &str = "which openapi.yaml does not list for it";

impl Drop for TestApp {
    /// Stops the server, and fails the test if the server answered any operation with
    /// an error status the spec does not document for it, so that every test checks it.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !thread::panicking() {
            let logs = self.logs();
            assert!(
                !logs.contains(UNDOCUMENTED_STATUS),
                "the server answered an undocumented status:\n{logs}"
            );
        }
    }
}
impl TestApp {
    /// Everything the server wrote to stderr (its log) so far.
    pub fn logs(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Everything the server wrote to stdout so far.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    /// The log, once it contains `needle` (or after a few seconds, whatever it holds).
    pub fn logs_once_they_contain(&self, needle: &str) -> String {
        let deadline = Instant::now() + LOG_TIMEOUT;
        loop {
            let logs = self.logs();
            if logs.contains(needle) || Instant::now() >= deadline {
                return logs;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The directory holding the SQLite database (and its `-wal`/`-shm` files).
    /// Only SQLite tests ask; a PostgreSQL database has no directory.
    pub fn data_dir(&self) -> &Path {
        self.database
            .sqlite_path()
            .parent()
            .expect("the database is in a directory")
    }

    /// Sends SIGTERM with the `kill` command.
    pub fn send_sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill -TERM");
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    /// Waits for the server to exit, panicking (with its log) if it takes longer than `timeout`.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the server") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "keycred serve did not exit within {timeout:?}.\n--- log ---\n{}",
                    self.logs()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the server refuses new connections (it has closed its listener, as
    /// it does once shutdown begins), panicking (with its log) after `timeout`.
    pub fn wait_until_connections_are_refused(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while TcpStream::connect(&self.address).is_ok() {
            assert!(
                Instant::now() < deadline,
                "keycred serve still accepted connections {timeout:?} later.\n--- log ---\n{}",
                self.logs()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and returns the exit status (the server must exit within 10 s).
    pub fn stop_with_sigterm(&mut self) -> ExitStatus {
        self.send_sigterm();
        self.wait_for_exit(SHUTDOWN_TIMEOUT)
    }

    /// Sends SIGKILL with the `kill` command: the server gets no chance to clean up.
    /// Takes `&self`, so another thread can do it while requests are in flight.
    pub fn send_sigkill(&self) {
        let status = Command::new("kill")
            .args(["-KILL", &self.child.id().to_string()])
            .status()
            .expect("run kill -KILL");
        assert!(status.success(), "kill -KILL failed: {status}");
    }

    /// Kills the server with SIGKILL (no chance to clean up), unless it is dead
    /// already, and starts a new one on the same database with the same environment.
    pub fn kill_and_restart(mut self) -> TestApp {
        self.child.kill().expect("kill -9 the server");
        self.child.wait().expect("reap the server");
        self.database.wait_for_sessions_to_end();
        let database = Arc::clone(&self.database);
        let env = std::mem::take(&mut self.env);
        let args = std::mem::take(&mut self.args);
        let test_certificate = self.test_certificate.take();
        drop(self);
        start(database, env, args, test_certificate)
    }
}
