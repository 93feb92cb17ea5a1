//! Log formats: `--log-format json` (or `KEYCRED_LOG_FORMAT=json`) writes every log line
//! as one JSON object, each field a key of its own and typed (the status a number), the
//! request lines and the security events alike, and never a secret; without it the log
//! stays text; an unknown format is refused at start.

use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::helpers::{
    basic_auth, credential_path, json_log_lines, keycred_binary, spawn_app, spawn_app_with, spawn_app_with_args,
    Bootstrapped, ServeOptions, TestApp, TestResponse,
};

/// Failed authentications a client_id may have in a window before it is throttled.
const PER_CLIENT: usize = 10;
/// A wrong secret the log must never repeat.
const WRONG_SECRET: &str = "WrongSecretThatMustNotLeak0123456789";

/// What a test did, for finding its lines in the log.
struct Exercised {
    admin: Bootstrapped,
    token: String,
    client_request_id: String,
    get: TestResponse,
    patch: TestResponse,
    wrong_secret: TestResponse,
    throttled: TestResponse,
}

/// A GET with an `X-Client-Request-ID`, a PATCH, a token request with a wrong secret,
/// and more of them until the client_id is throttled.
fn exercise(app: &TestApp) -> Exercised {
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let path = credential_path(&admin);
    let client_request_id = uuid::Uuid::new_v4().to_string();
    let bearer = format!("Bearer {token}");
    let get = app.request(
        "GET",
        &path,
        &[("Authorization", &bearer), ("X-Client-Request-ID", &client_request_id)],
        None,
    );
    let patch = app.patch_json(&path, &token, r#"{"description":"logged as JSON"}"#);
    let attempt = || {
        let authorization = basic_auth(&admin.client_id, WRONG_SECRET);
        app.request(
            "POST",
            "/service-account-token",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Authorization", &authorization),
            ],
            Some(b"grant_type=client_credentials"),
        )
    };
    let wrong_secret = attempt();
    for _ in 1..PER_CLIENT {
        attempt();
    }
    let throttled = attempt();
    assert_eq!(
        (get.status, patch.status, wrong_secret.status, throttled.status),
        (200, 200, 401, 429)
    );
    Exercised {
        admin,
        token,
        client_request_id,
        get,
        patch,
        wrong_secret,
        throttled,
    }
}

/// The request ID the server gave `response`.
fn request_id_of(response: &TestResponse) -> &str {
    response.header("x-request-id").expect("an X-Request-ID")
}

/// The one line with `message` for the request `request_id`.
fn line_of<'a>(lines: &'a [Value], message: &str, request_id: &str) -> &'a Value {
    let mut found = lines
        .iter()
        .filter(|line| line["message"] == message && line["request_id"] == request_id);
    let line = found
        .next()
        .unwrap_or_else(|| panic!("no {message:?} line for {request_id}: {lines:#?}"));
    assert!(
        found.next().is_none(),
        "more than one {message:?} line for {request_id}"
    );
    line
}

/// Exercises `app`, started with the JSON log format, and checks what it logged.
fn assert_the_log_is_json_lines_with_typed_fields(app: &TestApp) {
    let done = exercise(app);
    let logs = app.logs_once_they_contain(request_id_of(&done.throttled));
    let lines = json_log_lines(&logs);

    let started = lines
        .iter()
        .find(|line| line["message"] == "keycred started")
        .unwrap_or_else(|| panic!("no start-up line: {logs}"));
    assert_eq!(started["address"], app.address.as_str());
    assert!(
        started["max_connections"].is_u64() && started["tls"].is_boolean(),
        "{started}"
    );

    let get = line_of(&lines, "request", request_id_of(&done.get));
    assert_eq!(get["level"], "INFO");
    assert_eq!(get["method"], "GET");
    assert_eq!(get["path"], credential_path(&done.admin).as_str());
    assert_eq!(get["status"], 200);
    assert!(get["status"].is_u64() && get["latency_ms"].is_f64(), "{get}");
    assert_eq!(get["client_request_id"], done.client_request_id.as_str());
    assert_eq!(get["client"], "127.0.0.1");
    let patch = line_of(&lines, "request", request_id_of(&done.patch));
    assert_eq!(patch["method"], "PATCH");
    assert_eq!(patch["status"], 200);

    let failed = line_of(
        &lines,
        "client authentication failed",
        request_id_of(&done.wrong_secret),
    );
    assert_eq!(failed["level"], "WARN");
    assert_eq!(failed["reason"], "wrong_secret");
    assert_eq!(failed["client"], "127.0.0.1");
    // The client_id is logged escaped (Rust's debug form), so it may come quoted.
    let client_id = failed["client_id"].as_str().map(|id| id.trim_matches('"'));
    assert_eq!(client_id, Some(done.admin.client_id.as_str()), "{failed}");
    let refused = line_of(&lines, "client authentication failed", request_id_of(&done.throttled));
    assert_eq!(refused["level"], "WARN");
    assert_eq!(refused["reason"], "throttled");
    let throttle = lines
        .iter()
        .find(|line| line["message"] == "client authentication throttled")
        .unwrap_or_else(|| panic!("no throttle line: {logs}"));
    assert_eq!(throttle["key"], "client_id_and_address");
    assert!(throttle["lasts_s"].is_f64(), "{throttle}");

    for secret in [WRONG_SECRET, &done.admin.client_secret, &done.token] {
        assert!(
            !logs.contains(secret),
            "a secret ({} characters) is in the log:\n{logs}",
            secret.len()
        );
    }
}

#[test]
fn with_log_format_json_every_line_is_a_json_object_with_its_fields_as_keys() {
    let app = spawn_app_with_args(&["--log-format", "json"]);

    assert_the_log_is_json_lines_with_typed_fields(&app);
}

#[test]
fn keycred_log_format_json_in_the_environment_does_the_same() {
    let app = spawn_app_with(ServeOptions {
        env: vec![("KEYCRED_LOG_FORMAT".to_owned(), "json".to_owned())],
        ..ServeOptions::default()
    });

    assert_the_log_is_json_lines_with_typed_fields(&app);
}

#[test]
fn without_a_log_format_the_log_stays_text() {
    let app = spawn_app();

    let done = exercise(&app);

    let logs = app.logs_once_they_contain(request_id_of(&done.throttled));
    assert!(
        logs.lines().all(|line| serde_json::from_str::<Value>(line).is_err()),
        "a JSON line in the text log:\n{logs}"
    );
    let get = logs
        .lines()
        .find(|line| line.contains(request_id_of(&done.get)))
        .unwrap_or_else(|| panic!("no line for the GET:\n{logs}"));
    for expected in [
        " INFO ",
        " request ",
        "method=GET",
        "status=200",
        &done.client_request_id,
    ] {
        assert!(get.contains(expected), "{expected:?} missing: {get}");
    }
    let failed = logs
        .lines()
        .find(|line| line.contains(request_id_of(&done.wrong_secret)) && line.contains(" WARN "))
        .unwrap_or_else(|| panic!("no warning for the wrong secret:\n{logs}"));
    assert!(
        failed.contains("client authentication failed") && failed.contains(r#"reason="wrong_secret""#),
        "{failed}"
    );
}

/// Runs `keycred serve` with `args` and `env` (it is expected to fail at once), on a
/// database in a new directory, returned to show whether anything was made there.
fn serve(args: &[&str], env: &[(&str, &str)]) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let output = Command::new(keycred_binary())
        .arg("serve")
        .arg("--database")
        .arg(dir.path().join("keycred.db"))
        .args(args)
        .env_remove("KEYCRED_METRICS_LISTEN")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run keycred serve");
    (output, dir)
}

#[test]
fn an_unknown_log_format_is_refused_at_start_naming_the_option() {
    for (args, env) in [
        (&["--listen", "127.0.0.1:0", "--log-format", "yaml"][..], &[][..]),
        (&["--listen", "127.0.0.1:0"][..], &[("KEYCRED_LOG_FORMAT", "yaml")][..]),
    ] {
        let (output, dir) = serve(args, env);

        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "keycred serve started: {stderr}");
        assert!(
            stderr
                .lines()
                .next()
                .is_some_and(|line| line.contains("--log-format") && line.contains("yaml")),
            "{stderr}"
        );
        assert!(stderr.contains("text, json"), "the formats are not listed: {stderr}");
        assert!(
            std::fs::read_dir(dir.path()).expect("list the dir").next().is_none(),
            "a database file was created"
        );
    }
}

#[test]
fn with_log_format_json_a_start_up_error_is_one_json_line() {
    let (output, _dir) = serve(&["--log-format", "json", "--listen", "nonsense"], &[]);

    assert!(!output.status.success(), "keycred serve started");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines = json_log_lines(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert_eq!(lines[0]["level"], "ERROR");
    assert_eq!(
        lines[0]["error"],
        "nonsense: not a valid address (expected HOST:PORT, e.g. 127.0.0.1:8080)"
    );
}
