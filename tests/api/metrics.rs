//! `GET /metrics` on the metrics listener (`--metrics-listen`): Prometheus text that
//! counts the requests answered, by operation and status, times them per operation, and
//! shows the database writer at work. The API listener never serves it.

use crate::helpers::{assert_error, credential_path, spawn_app, spawn_app_with, ServeOptions, TestApp};

/// The metrics text from the metrics listener, asserting a 200 in the Prometheus text format.
fn scrape(app: &TestApp) -> String {
    let response = app.metrics_request("GET", "/metrics");
    assert_eq!(response.status, 200, "{}", response.text());
    let content_type = response.header("content-type").unwrap_or_default();
    assert!(content_type.starts_with("text/plain"), "Content-Type: {content_type}");
    response.text()
}

/// The value of the sample line `name` (with its labels, exactly), if there is one.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .map(|value| value.parse().unwrap_or_else(|_| panic!("{name} has value {value:?}")))
}

/// The cumulative bucket counts of a histogram's label set, in the order written.
fn buckets(text: &str, prefix: &str) -> Vec<f64> {
    text.lines()
        .filter(|line| line.starts_with(prefix))
        .map(|line| line.rsplit(' ').next().unwrap_or_default().parse().unwrap())
        .collect()
}

#[test]
fn requests_are_counted_by_operation_id_and_status() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    for _ in 0..2 {
        assert_eq!(app.request("GET", "/healthz", &[], None).status, 200);
    }
    assert_eq!(app.request("HEAD", "/healthz", &[], None).status, 200);
    assert_eq!(app.request("GET", "/openapi.yaml", &[], None).status, 200);
    assert_eq!(
        app.patch_json(&credential_path(&admin), &token, r#"{"name":"n"}"#)
            .status,
        200
    );
    assert_error(&app.get(&credential_path(&admin), "garbage"), 401, "unauthorized");
    assert_error(&app.request("GET", "/no/such/route", &[], None), 404, "not_found");
    assert_error(&app.request("DELETE", "/healthz", &[], None), 405, "method_not_allowed");

    let text = scrape(&app);

    let counted = |operation: &str, status: u16| {
        let name = format!("keycred_http_requests_total{{operation=\"{operation}\",status=\"{status}\"}}");
        sample(&text, &name)
    };
    assert_eq!(counted("getHealthz", 200), Some(3.0), "{text}");
    assert_eq!(counted("getOpenapiYaml", 200), Some(1.0), "{text}");
    assert_eq!(counted("createServiceAccountToken", 200), Some(1.0), "{text}");
    assert_eq!(counted("updateServiceAccountCredential", 200), Some(1.0), "{text}");
    assert_eq!(counted("getServiceAccountCredential", 401), Some(1.0), "{text}");
    assert_eq!(counted("unknown", 404), Some(1.0), "{text}");
    assert_eq!(counted("unknown", 405), Some(1.0), "{text}");
    assert_eq!(counted("getServiceAccountCredential", 200), None, "{text}");
}

#[test]
fn request_durations_form_a_histogram_per_operation() {
    let app = spawn_app();
    for _ in 0..3 {
        assert_eq!(app.request("GET", "/healthz", &[], None).status, 200);
    }

    let text = scrape(&app);

    let prefix = "keycred_http_request_duration_seconds_bucket{operation=\"getHealthz\",le=";
    let counts = buckets(&text, prefix);
    assert!(counts.len() >= 10, "too few buckets: {text}");
    assert!(
        counts.windows(2).all(|pair| pair[0] <= pair[1]),
        "not cumulative: {counts:?}"
    );
    assert_eq!(counts.last(), Some(&3.0), "{text}");
    assert!(text.contains(&format!("{prefix}\"0.0005\"}} ")), "{text}");
    assert!(text.contains(&format!("{prefix}\"5\"}} ")), "{text}");
    assert!(text.contains(&format!("{prefix}\"+Inf\"}} 3\n")), "{text}");
    let count = "keycred_http_request_duration_seconds_count{operation=\"getHealthz\"}";
    assert_eq!(sample(&text, count), Some(3.0), "{text}");
    let sum = "keycred_http_request_duration_seconds_sum{operation=\"getHealthz\"}";
    assert!(sample(&text, sum).is_some_and(|sum| sum > 0.0 && sum < 30.0), "{text}");
    assert!(text.contains("# TYPE keycred_http_request_duration_seconds histogram\n"));
}

#[test]
fn the_storage_reports_its_waits_commits_and_errors() {
    let app = spawn_app();
    let admin = app.admin("acme");
    let token = app.token_for(&admin);
    let before = scrape(&app);
    let waited_before = sample(&before, "keycred_storage_write_wait_seconds_count").unwrap_or_default();
    let written_before = sample(&before, "keycred_storage_commit_writes_sum").unwrap_or_default();
    for name in ["one", "two"] {
        let body = format!(r#"{{"name":"{name}"}}"#);
        assert_eq!(app.patch_json(&credential_path(&admin), &token, &body).status, 200);
    }

    let text = scrape(&app);

    // Two updates: two more writes, each waited for and committed, in as many
    // transactions or fewer (SQLite may commit them together; PostgreSQL never does).
    let waited = sample(&text, "keycred_storage_write_wait_seconds_count").unwrap_or_else(|| panic!("{text}"));
    assert_eq!(waited - waited_before, 2.0, "{text}");
    let written = sample(&text, "keycred_storage_commit_writes_sum").unwrap_or_else(|| panic!("{text}"));
    assert_eq!(written - written_before, 2.0, "{text}");
    let commits = sample(&text, "keycred_storage_commit_writes_count").unwrap_or_default();
    assert!((1.0..=written).contains(&commits), "{text}");
    assert_eq!(
        buckets(&text, "keycred_storage_commit_writes_bucket{le=").last(),
        Some(&commits)
    );
    assert_eq!(
        sample(&text, "keycred_storage_commit_seconds_count"),
        Some(commits),
        "{text}"
    );
    assert!(text.contains("# TYPE keycred_storage_commit_seconds histogram\n"));
    assert!(text.contains("# TYPE keycred_storage_write_wait_seconds histogram\n"));
    assert!(text.contains("# TYPE keycred_storage_writes_waiting gauge\n"));
    assert_eq!(sample(&text, "keycred_storage_writes_waiting"), Some(0.0), "{text}");
    for kind in ["unavailable", "internal", "conflict"] {
        let name = format!("keycred_storage_errors_total{{kind=\"{kind}\"}}");
        assert_eq!(sample(&text, &name), Some(0.0), "{text}");
    }
}

#[test]
fn metrics_are_served_to_get_only_and_count_their_own_scrapes() {
    let app = spawn_app();
    scrape(&app);

    let response = app.metrics_request("POST", "/metrics");

    assert_error(&response, 405, "method_not_allowed");
    assert_eq!(response.header("allow"), Some("GET, HEAD"));
    let text = scrape(&app);
    let scrapes = "keycred_http_requests_total{operation=\"getMetrics\",status=\"200\"}";
    assert_eq!(
        sample(&text, scrapes),
        Some(1.0),
        "the scrape before, not this one: {text}"
    );
    assert!(
        response.header("x-request-id").is_some(),
        "the envelope wraps /metrics too"
    );
}

#[test]
fn the_metrics_listener_prints_its_real_address_and_serves_nothing_else() {
    let app = spawn_app();

    let address = app.metrics_address.clone().expect("a metrics listener");
    let response = app.metrics_request("GET", "/healthz");

    assert!(!address.ends_with(":0"), "the real port, not 0: {address}");
    assert_ne!(address, app.address);
    assert!(
        app.stdout().contains(&format!("metrics on http://{address}\n")),
        "{}",
        app.stdout()
    );
    assert_error(&response, 404, "not_found");
}

#[test]
fn the_api_listener_never_serves_metrics() {
    let app = spawn_app();

    let response = app.request("GET", "/metrics", &[], None);

    assert_error(&response, 404, "not_found");
    assert!(!response.text().contains("keycred_http_requests_total"));
}

#[test]
fn without_a_metrics_listen_address_there_is_no_metrics_listener() {
    let app = spawn_app_with(ServeOptions {
        env: vec![("KEYCRED_METRICS_LISTEN".to_owned(), String::new())],
        ..ServeOptions::default()
    });

    let response = app.request("GET", "/metrics", &[], None);

    assert_eq!(app.metrics_address, None);
    assert!(!app.stdout().contains("metrics on"), "{}", app.stdout());
    assert_error(&response, 404, "not_found");
}
