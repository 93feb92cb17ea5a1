//! Metrics in the Prometheus text format, served at `GET /metrics` beside the
//! generated router (it is not part of the API contract).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `keycred_http_requests_total` | counter | `operation`, `status` |
//! | `keycred_http_request_duration_seconds` | histogram | `operation` |
//! | `keycred_storage_writes_waiting` | gauge | |
//! | `keycred_storage_write_wait_seconds` | histogram | |
//! | `keycred_storage_commit_seconds` | histogram | |
//! | `keycred_storage_commit_writes` | histogram | |
//! | `keycred_storage_errors_total` | counter | `kind`: `unavailable`, `internal`, `conflict` |
//! | `keycred_revocations_heard_total` | counter | `kind`: `credential`, `service_account`, `token`, `everything` |
//!
//! `operation` is the operationId of the spec's operation that the request's route and
//! method name (`HEAD` counts as the `GET` it is answered by); a route served beside
//! the spec has a name of the same style (`getMetrics`); anything else, such as an
//! unknown path or a method a path does not allow, is `unknown`. The label set is
//! therefore fixed at build time, which is what lets every number be a plain atomic:
//! recording a request is a handful of relaxed atomic additions, with no lock and no
//! allocation, and only the rare scrape does any real work.
//!
//! The storage numbers come from the storage layer through [`StorageObserver`], so
//! storage stays free of HTTP; each backend fills them in its own terms (SQLite: the
//! writer thread's queue and group-commit batches; PostgreSQL: the wait for a pooled
//! connection and each write's own transaction). docs/operations.md says what each
//! means on each backend.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use keycred_store::{StorageError, StorageObserver};

/// Routes served beside the spec, as (name, method, path), named like operationIds.
const SERVED_BESIDE: &[(&str, &str, &str)] = &[
    ("getMetrics", "GET", "/metrics"),
    ("getOpenapiYaml", "GET", "/openapi.yaml"),
    ("getOpenapiJson", "GET", "/openapi.json"),
    ("getDocs", "GET", "/docs"),
];

/// The `operation` of requests that match no operation.
const UNKNOWN_OPERATION: &str = "unknown";

/// Upper bounds of the request duration buckets, in microseconds: 0.5 ms to 5 s, the
/// range between a cached read and a write stuck behind the busy timeout.
const DURATION_BOUNDS_MICROS: &[u64] = &[
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000,
];

/// Upper bounds of the storage wait and commit buckets, in microseconds: 50 µs (a
/// write that found the writer or a connection free) to 5 s (the busy timeout).
const STORAGE_BOUNDS_MICROS: &[u64] = &[
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 5_000_000,
];

/// Upper bounds of the writes-per-commit buckets: powers of two up to the SQLite
/// writer's largest batch (256).
const COMMIT_WRITES_BOUNDS: &[u64] = &[1, 2, 4, 8, 16, 32, 64, 128, 256];

/// The lowest HTTP status counted; statuses are counted in a dense table from here.
const FIRST_STATUS: u16 = 100;

/// How many statuses the table has room for (100 to 599).
const STATUS_SLOTS: usize = 500;

/// The `Content-Type` of the Prometheus text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Which `operation` a response is counted under: the request envelope reads it off
/// the response, from the [`keycred_api::Operation`] the spec's generated handlers
/// mark their answers with, or for the routes served beside, from this label itself,
/// which [`label_operation`] attaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationLabel(usize);

impl OperationLabel {
    /// The label of requests that match no operation.
    pub const UNKNOWN: OperationLabel = OperationLabel(label_count() - 1);

    /// The operation `method` on the route template `route` (as the router matched it).
    pub fn of(method: &Method, route: &str) -> OperationLabel {
        let method = if method == Method::HEAD { "GET" } else { method.as_str() };
        keycred_api::OPERATIONS
            .iter()
            .chain(SERVED_BESIDE)
            .position(|(_, op_method, op_path)| *op_method == method && *op_path == route)
            .map_or(OperationLabel::UNKNOWN, OperationLabel)
    }

    /// The label of the spec's operation that gave an answer, as its generated handler
    /// marked it.
    pub fn answering(operation: keycred_api::Operation) -> OperationLabel {
        if operation.0 < keycred_api::OPERATIONS.len() {
            OperationLabel(operation.0)
        } else {
            OperationLabel::UNKNOWN
        }
    }

    /// The label's text.
    pub fn name(self) -> &'static str {
        keycred_api::OPERATIONS
            .iter()
            .chain(SERVED_BESIDE)
            .nth(self.0)
            .map_or(UNKNOWN_OPERATION, |(name, _, _)| *name)
    }
}

/// Every operation label: the spec's operations, the routes beside them, and `unknown`.
const fn label_count() -> usize {
    keycred_api::OPERATIONS.len() + SERVED_BESIDE.len() + 1
}

/// A histogram of whole numbers with fixed buckets, made of atomics only.
struct Histogram {
    /// Upper bounds of the buckets, inclusive, ascending.
    bounds: &'static [u64],
    /// Observations per bucket (not cumulative); the last one is above every bound.
    counts: Box<[AtomicU64]>,
    /// The sum of all observations.
    sum: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [u64]) -> Histogram {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
        }
    }

    fn observe(&self, value: u64) {
        let bucket = self.bounds.partition_point(|bound| *bound < value);
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    /// Appends the `_bucket`, `_sum` and `_count` lines, dividing values by `unit` (so
    /// microseconds render as seconds). Nothing if there was no observation, as there
    /// is then nothing to say about this label set.
    fn render(&self, out: &mut String, name: &str, labels: &str, unit: f64) {
        let counts: Vec<u64> = self.counts.iter().map(|count| count.load(Ordering::Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return;
        }
        let separator = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, count) in self.bounds.iter().zip(&counts) {
            cumulative += count;
            let le = *bound as f64 / unit;
            let _ = writeln!(out, "{name}_bucket{{{labels}{separator}le=\"{le}\"}} {cumulative}");
        }
        // +Inf and _count are the same sum of the buckets read above, so a scrape that
        // races an observation is still self-consistent.
        let _ = writeln!(out, "{name}_bucket{{{labels}{separator}le=\"+Inf\"}} {total}");
        let sum = self.sum.load(Ordering::Relaxed) as f64 / unit;
        let labels = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{labels} {sum}");
        let _ = writeln!(out, "{name}_count{labels} {total}");
    }
}

/// The numbers of one operation label.
struct OperationMetrics {
    /// Requests answered, by status (index = status − 100).
    statuses: Box<[AtomicU64]>,
    /// How long requests took, in microseconds.
    duration: Histogram,
}

/// Everything `/metrics` reports; shared by the request envelope, the storage layer
/// and the `/metrics` route.
pub struct Metrics {
    /// Per operation label, in [`OperationLabel`] order.
    operations: Box<[OperationMetrics]>,
    /// What the store reports.
    storage: StorageMetrics,
    /// Revocations heard from other instances, by kind, in [`REVOCATION_KINDS`] order.
    revocations_heard: [AtomicU64; 4],
}

/// The `kind` labels of `keycred_revocations_heard_total`: what a revocation names
/// (`everything` is heard when the listener (re)connects).
pub const REVOCATION_KINDS: [&str; 4] = ["credential", "service_account", "token", "everything"];

/// The storage layer's numbers (see [`StorageObserver`] for what each event is on
/// each backend).
struct StorageMetrics {
    /// Writes waiting to run: for the SQLite writer, or for a pooled connection.
    writes_waiting: AtomicI64,
    /// How long each write waited before it ran, in microseconds.
    write_wait: Histogram,
    /// How long each committed transaction took, in microseconds.
    commit_duration: Histogram,
    /// Writes per committed transaction.
    commit_writes: Histogram,
    /// Failed storage calls, by kind, in [`STORAGE_ERROR_KINDS`] order.
    errors: [AtomicU64; 3],
}

/// The `kind` labels of `keycred_storage_errors_total`.
const STORAGE_ERROR_KINDS: [&str; 3] = ["unavailable", "internal", "conflict"];

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// All counters at zero.
    pub fn new() -> Metrics {
        Metrics {
            operations: (0..label_count())
                .map(|_| OperationMetrics {
                    statuses: (0..STATUS_SLOTS).map(|_| AtomicU64::new(0)).collect(),
                    duration: Histogram::new(DURATION_BOUNDS_MICROS),
                })
                .collect(),
            storage: StorageMetrics {
                writes_waiting: AtomicI64::new(0),
                write_wait: Histogram::new(STORAGE_BOUNDS_MICROS),
                commit_duration: Histogram::new(STORAGE_BOUNDS_MICROS),
                commit_writes: Histogram::new(COMMIT_WRITES_BOUNDS),
                errors: Default::default(),
            },
            revocations_heard: Default::default(),
        }
    }

    /// Counts one revocation heard from another instance, by its kind (one of
    /// [`REVOCATION_KINDS`]; anything else is not counted). An instance never hears
    /// its own, so nothing is counted twice.
    pub fn revocation_heard(&self, kind: &str) {
        if let Some(index) = REVOCATION_KINDS.iter().position(|known| *known == kind) {
            self.revocations_heard[index].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one answered request.
    pub fn observe_request(&self, operation: OperationLabel, status: StatusCode, elapsed: Duration) {
        let Some(operation) = self.operations.get(operation.0) else {
            return;
        };
        let slot = usize::from(status.as_u16().saturating_sub(FIRST_STATUS));
        if let Some(counter) = operation.statuses.get(slot) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        operation.duration.observe(micros);
    }

    /// Everything, in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        self.render_requests(&mut out);
        self.storage.render(&mut out);
        self.render_revocations(&mut out);
        out
    }

    fn render_revocations(&self, out: &mut String) {
        out.push_str(
            "# HELP keycred_revocations_heard_total Token revocations heard from other instances, by what they \
             name (everything: the listener (re)connected and the token cache was emptied).\n",
        );
        out.push_str("# TYPE keycred_revocations_heard_total counter\n");
        for (kind, count) in REVOCATION_KINDS.iter().zip(&self.revocations_heard) {
            let count = count.load(Ordering::Relaxed);
            let _ = writeln!(out, "keycred_revocations_heard_total{{kind=\"{kind}\"}} {count}");
        }
    }

    fn render_requests(&self, out: &mut String) {
        out.push_str("# HELP keycred_http_requests_total HTTP requests answered, by operation and status.\n");
        out.push_str("# TYPE keycred_http_requests_total counter\n");
        for (index, operation) in self.operations.iter().enumerate() {
            let name = OperationLabel(index).name();
            for (slot, count) in operation.statuses.iter().enumerate() {
                let count = count.load(Ordering::Relaxed);
                if count > 0 {
                    let status = usize::from(FIRST_STATUS) + slot;
                    let _ = writeln!(
                        out,
                        "keycred_http_requests_total{{operation=\"{name}\",status=\"{status}\"}} {count}"
                    );
                }
            }
        }
        out.push_str("# HELP keycred_http_request_duration_seconds Time to answer a request, by operation.\n");
        out.push_str("# TYPE keycred_http_request_duration_seconds histogram\n");
        for (index, operation) in self.operations.iter().enumerate() {
            let labels = format!("operation=\"{}\"", OperationLabel(index).name());
            operation
                .duration
                .render(out, "keycred_http_request_duration_seconds", &labels, 1e6);
        }
    }
}

impl StorageMetrics {
    /// The storage lines, in the Prometheus text exposition format.
    fn render(&self, out: &mut String) {
        out.push_str(
            "# HELP keycred_storage_writes_waiting Writes waiting to run \
             (SQLite: for the writer thread; PostgreSQL: for a pooled connection).\n",
        );
        out.push_str("# TYPE keycred_storage_writes_waiting gauge\n");
        let waiting = self.writes_waiting.load(Ordering::Relaxed).max(0);
        let _ = writeln!(out, "keycred_storage_writes_waiting {waiting}");
        out.push_str(
            "# HELP keycred_storage_write_wait_seconds Time each write waited before it ran \
             (SQLite: queued until its batch began; PostgreSQL: for a pooled connection).\n",
        );
        out.push_str("# TYPE keycred_storage_write_wait_seconds histogram\n");
        self.write_wait
            .render(out, "keycred_storage_write_wait_seconds", "", 1e6);
        out.push_str(
            "# HELP keycred_storage_commit_seconds Time each write transaction took to commit durably \
             (SQLite: one group-commit batch; PostgreSQL: one write's statement).\n",
        );
        out.push_str("# TYPE keycred_storage_commit_seconds histogram\n");
        self.commit_duration
            .render(out, "keycred_storage_commit_seconds", "", 1e6);
        out.push_str(
            "# HELP keycred_storage_commit_writes Writes per committed transaction \
             (SQLite: the group-commit batch; PostgreSQL: always 1).\n",
        );
        out.push_str("# TYPE keycred_storage_commit_writes histogram\n");
        self.commit_writes.render(out, "keycred_storage_commit_writes", "", 1.0);
        out.push_str("# HELP keycred_storage_errors_total Storage calls that failed, by kind.\n");
        out.push_str("# TYPE keycred_storage_errors_total counter\n");
        for (kind, count) in STORAGE_ERROR_KINDS.iter().zip(&self.errors) {
            let count = count.load(Ordering::Relaxed);
            let _ = writeln!(out, "keycred_storage_errors_total{{kind=\"{kind}\"}} {count}");
        }
    }
}

/// Microseconds, saturating, for the histograms.
fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

impl StorageObserver for Metrics {
    fn write_queue_changed(&self, delta: isize) {
        let delta = i64::try_from(delta).unwrap_or(0);
        self.storage.writes_waiting.fetch_add(delta, Ordering::Relaxed);
    }

    fn write_waited(&self, wait: Duration) {
        self.storage.write_wait.observe(micros(wait));
    }

    fn committed(&self, writes: usize, latency: Duration) {
        self.storage.commit_duration.observe(micros(latency));
        let writes = u64::try_from(writes).unwrap_or(u64::MAX);
        self.storage.commit_writes.observe(writes);
    }

    fn storage_failed(&self, error: &StorageError) {
        let kind = match error {
            StorageError::Unavailable(_) => 0,
            StorageError::Internal(_) => 1,
            StorageError::Conflict(_) => 2,
        };
        self.storage.errors[kind].fetch_add(1, Ordering::Relaxed);
    }
}

/// The `/metrics` route; any other method on it is a 405 in the spec's error shape.
pub fn routes(metrics: Arc<Metrics>) -> Router {
    Router::new().route(
        "/metrics",
        get(serve_metrics)
            .fallback(|| async { keycred_api::request::method_not_allowed("GET, HEAD") })
            .with_state(metrics),
    )
}

async fn serve_metrics(State(metrics): State<Arc<Metrics>>) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.render()).into_response()
}

/// Route layer for the routes served beside the spec's (`/metrics`, the contract and
/// its docs): attaches to each response the [`OperationLabel`] of the route and
/// method that served it. It runs inside the router, the only place that knows the
/// matched route. The spec's operations need no such layer: their generated handlers
/// mark each answer with its [`keycred_api::Operation`] ([`OperationLabel::answering`]),
/// which costs nothing, where this layer, as every route layer, boxes each request's
/// service and future once more.
pub async fn label_operation(request: Request, next: Next) -> Response {
    let operation = match request.extensions().get::<MatchedPath>() {
        Some(route) => OperationLabel::of(request.method(), route.as_str()),
        None => OperationLabel::UNKNOWN,
    };
    let mut response = next.run(request).await;
    response.extensions_mut().insert(operation);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_starting(text: &str, prefix: &str) -> Vec<String> {
        text.lines()
            .filter(|line| line.starts_with(prefix))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn routes_and_methods_map_to_operation_ids() {
        let credential =
            "/organizations/{organization_id}/service-accounts/{service_account_id}/credentials/{credential_id}";
        assert_eq!(
            OperationLabel::of(&Method::PATCH, credential).name(),
            "updateServiceAccountCredential"
        );
        assert_eq!(OperationLabel::of(&Method::HEAD, "/healthz").name(), "getHealthz");
        assert_eq!(OperationLabel::of(&Method::GET, "/metrics").name(), "getMetrics");
        assert_eq!(OperationLabel::of(&Method::POST, "/healthz"), OperationLabel::UNKNOWN);
        assert_eq!(OperationLabel::of(&Method::GET, "/nowhere").name(), "unknown");
    }

    #[test]
    fn revocations_heard_are_counted_by_kind() {
        let metrics = Metrics::new();
        for kind in ["credential", "token", "token", "everything", "not-a-kind"] {
            metrics.revocation_heard(kind);
        }

        let counters = lines_starting(&metrics.render(), "keycred_revocations_heard_total{");
        assert_eq!(
            counters,
            [
                "keycred_revocations_heard_total{kind=\"credential\"} 1",
                "keycred_revocations_heard_total{kind=\"service_account\"} 0",
                "keycred_revocations_heard_total{kind=\"token\"} 2",
                "keycred_revocations_heard_total{kind=\"everything\"} 1",
            ]
        );
    }

    #[test]
    fn every_operation_of_the_spec_has_a_label_of_its_own() {
        for (id, method, path) in keycred_api::OPERATIONS {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            assert_eq!(OperationLabel::of(&method, path).name(), *id);
        }
    }

    #[test]
    fn requests_are_counted_by_operation_and_status() {
        let metrics = Metrics::new();
        let healthz = OperationLabel::of(&Method::GET, "/healthz");
        metrics.observe_request(healthz, StatusCode::OK, Duration::from_micros(300));
        metrics.observe_request(healthz, StatusCode::OK, Duration::from_millis(30));
        metrics.observe_request(OperationLabel::UNKNOWN, StatusCode::NOT_FOUND, Duration::ZERO);

        let text = metrics.render();
        let counters = lines_starting(&text, "keycred_http_requests_total{");
        assert_eq!(
            counters,
            [
                "keycred_http_requests_total{operation=\"getHealthz\",status=\"200\"} 2",
                "keycred_http_requests_total{operation=\"unknown\",status=\"404\"} 1",
            ]
        );
        let healthz_buckets = lines_starting(
            &text,
            "keycred_http_request_duration_seconds_bucket{operation=\"getHealthz\"",
        );
        assert_eq!(healthz_buckets.len(), DURATION_BOUNDS_MICROS.len() + 1);
        assert_eq!(
            healthz_buckets[0],
            "keycred_http_request_duration_seconds_bucket{operation=\"getHealthz\",le=\"0.0005\"} 1"
        );
        assert!(text.contains("keycred_http_request_duration_seconds_bucket{operation=\"getHealthz\",le=\"0.05\"} 2\n"));
        assert!(text.contains("keycred_http_request_duration_seconds_bucket{operation=\"getHealthz\",le=\"+Inf\"} 2\n"));
        assert!(text.contains("keycred_http_request_duration_seconds_sum{operation=\"getHealthz\"} 0.0303\n"));
        assert!(text.contains("keycred_http_request_duration_seconds_count{operation=\"getHealthz\"} 2\n"));
        assert!(
            !text.contains("operation=\"listOrganizations\""),
            "an operation never requested has no lines"
        );
    }

    #[test]
    fn the_storage_numbers_come_from_the_storage_observer() {
        let metrics = Metrics::new();
        metrics.write_queue_changed(3);
        metrics.write_queue_changed(-2);
        metrics.write_waited(Duration::from_micros(40));
        metrics.write_waited(Duration::from_millis(3));
        metrics.committed(1, Duration::from_millis(2));
        metrics.committed(3, Duration::from_millis(2));
        metrics.committed(300, Duration::from_secs(9));
        metrics.storage_failed(&StorageError::Unavailable("queue full".to_owned()));
        metrics.storage_failed(&StorageError::Unavailable("locked".to_owned()));
        metrics.storage_failed(&StorageError::Conflict("label".to_owned()));

        let text = metrics.render();
        let has = |line: &str| assert!(text.contains(&format!("\n{line}\n")), "{line}\n{text}");
        has("keycred_storage_writes_waiting 1");
        has("keycred_storage_write_wait_seconds_bucket{le=\"0.00005\"} 1");
        has("keycred_storage_write_wait_seconds_bucket{le=\"0.005\"} 2");
        has("keycred_storage_write_wait_seconds_count 2");
        has("keycred_storage_write_wait_seconds_sum 0.00304");
        has("keycred_storage_commit_seconds_bucket{le=\"0.0025\"} 2");
        has("keycred_storage_commit_seconds_bucket{le=\"5\"} 2");
        has("keycred_storage_commit_seconds_bucket{le=\"+Inf\"} 3");
        has("keycred_storage_commit_writes_bucket{le=\"1\"} 1");
        has("keycred_storage_commit_writes_bucket{le=\"4\"} 2");
        has("keycred_storage_commit_writes_bucket{le=\"256\"} 2");
        has("keycred_storage_commit_writes_bucket{le=\"+Inf\"} 3");
        has("keycred_storage_commit_writes_sum 304");
        has("keycred_storage_errors_total{kind=\"unavailable\"} 2");
        has("keycred_storage_errors_total{kind=\"internal\"} 0");
        has("keycred_storage_errors_total{kind=\"conflict\"} 1");
    }

    #[test]
    fn every_metric_has_help_and_type_lines() {
        let text = Metrics::new().render();
        for (name, kind) in [
            ("keycred_http_requests_total", "counter"),
            ("keycred_http_request_duration_seconds", "histogram"),
            ("keycred_storage_writes_waiting", "gauge"),
            ("keycred_storage_write_wait_seconds", "histogram"),
            ("keycred_storage_commit_seconds", "histogram"),
            ("keycred_storage_commit_writes", "histogram"),
            ("keycred_storage_errors_total", "counter"),
            ("keycred_revocations_heard_total", "counter"),
        ] {
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
            assert!(text.contains(&format!("# TYPE {name} {kind}\n")), "{name}");
        }
    }
}
