//! `mixed`: the mixed workload the README quotes. Over `--connections` HTTP/1.1
//! keep-alive connections, for `--seconds` after `--warmup-seconds`, each request is
//! picked at random: 80% a GET of a random credential, 10% a token mint (`POST
//! /service-account-token`, HTTP Basic with a random client's right secret), 10% a
//! PATCH of a random credential with a random body of the `--bodies` file (they must
//! differ: SQLite writes nothing for an unchanged cell). Every GET and PATCH carries a
//! bearer token picked at random from a pool minted first, one per client of the
//! `--clients` file, so no single token is hot.
//!
//! The credentials come from `seed --paths`, the clients from `seed --clients-out`
//! (seeded with `--role org_member`, so their tokens may PATCH). Prints one JSON
//! object on stdout (per operation: answers, statuses, p50/p99/max latency; with
//! `--server-pid`, the server's CPU time per request over the measured window) and a
//! summary line on stderr; exits non-zero if any answer was not 2xx or any request
//! failed, warm-up included.

use std::collections::BTreeMap;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use keycred_bench::{quantile, read_credential_paths};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// Errors that cross task boundaries.
type BoxError = Box<dyn Error + Send + Sync>;

/// The token endpoint.
const TOKEN_PATH: &str = "/service-account-token";
/// The token endpoint's form body.
const MINT_BODY: &str = "grant_type=client_credentials";

/// Drives keycred with the mixed workload: 80% GET, 10% token mint, 10% PATCH.
#[derive(Debug, Parser)]
struct Args {
    /// keycred's base URL, `http://HOST:PORT` (as `keycred serve` prints it).
    #[arg(long)]
    url: String,
    /// The credential paths to GET and PATCH, one a line (`seed --paths`).
    #[arg(long)]
    paths: PathBuf,
    /// The clients to mint tokens for, one JSON object a line with `client_id` and
    /// `client_secret` (`seed --clients-out`).
    #[arg(long)]
    clients: PathBuf,
    /// PATCH bodies, one JSON object a line; each PATCH sends one at random.
    #[arg(long)]
    bodies: PathBuf,
    /// Concurrent keep-alive connections, each with one request in flight.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// How long the measured window lasts.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// How long the same load runs, unrecorded, before the measured window.
    #[arg(long, default_value_t = 2.0)]
    warmup_seconds: f64,
    /// The server's process ID: its user + system CPU time over the measured window
    /// (from `/proc/PID/stat`) is reported per request.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Clock ticks per second of `/proc/PID/stat`'s CPU times (`getconf CLK_TCK`).
    #[arg(long, default_value_t = 100)]
    clock_ticks: u64,
}

/// What one request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    /// GET of a random credential with a random token.
    Get,
    /// POST /service-account-token with a random client's right secret.
    Mint,
    /// PATCH of a random credential's description with a random token.
    Patch,
}

impl Operation {
    /// Every operation, in the order of [`Operation::index`].
    const ALL: [Operation; 3] = [Operation::Get, Operation::Mint, Operation::Patch];

    /// Picks one: 80% GET, 10% mint, 10% PATCH.
    fn pick(rng: &mut impl Rng) -> Operation {
        match rng.random_range(0..100u32) {
            0..80 => Operation::Get,
            80..90 => Operation::Mint,
            _ => Operation::Patch,
        }
    }

    /// Its name in the report (`MINT` as in `bench.sh`'s other token workload).
    fn name(self) -> &'static str {
        match self {
            Operation::Get => "GET",
            Operation::Mint => "MINT",
            Operation::Patch => "PATCH",
        }
    }

    /// Its place in a [`Tallies`] array.
    fn index(self) -> usize {
        self as usize
    }
}

/// A line of the clients file (other fields, such as the credential's path, are ignored).
#[derive(Debug, Deserialize)]
struct Client {
    client_id: String,
    client_secret: String,
}

/// The token endpoint's answer, as far as it is needed here.
#[derive(Debug, Deserialize)]
struct MintedToken {
    access_token: String,
}

/// Everything the requests are built from, shared by every connection.
struct Workload {
    /// `HOST:PORT`, to connect to and for the `Host` header.
    authority: String,
    /// The credentials' paths.
    credentials: Vec<Uri>,
    /// `Basic …` for each client, with its right secret.
    client_logins: Vec<HeaderValue>,
    /// `Bearer …`, one minted per client.
    bearer_tokens: Vec<HeaderValue>,
    /// The PATCH bodies.
    bodies: Vec<Bytes>,
}

impl Workload {
    /// A request for `operation`, its credential, token, client or body picked at random.
    fn request(&self, operation: Operation, rng: &mut impl Rng) -> Result<Request<Full<Bytes>>, BoxError> {
        let builder = Request::builder().header(HOST, &self.authority);
        let request = match operation {
            Operation::Get => builder
                .method(Method::GET)
                .uri(pick(&self.credentials, rng).clone())
                .header(AUTHORIZATION, pick(&self.bearer_tokens, rng))
                .body(Full::new(Bytes::new()))?,
            Operation::Patch => builder
                .method(Method::PATCH)
                .uri(pick(&self.credentials, rng).clone())
                .header(AUTHORIZATION, pick(&self.bearer_tokens, rng))
                .header(CONTENT_TYPE, "application/json")
                .body(Full::new(pick(&self.bodies, rng).clone()))?,
            Operation::Mint => mint_request(&self.authority, pick(&self.client_logins, rng))?,
        };
        Ok(request)
    }
}

/// A random element of a non-empty slice.
fn pick<'a, T>(items: &'a [T], rng: &mut impl Rng) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// A token mint for the client whose `Basic …` login is `login`.
fn mint_request(authority: &str, login: &HeaderValue) -> Result<Request<Full<Bytes>>, BoxError> {
    Ok(Request::builder()
        .method(Method::POST)
        .uri(TOKEN_PATH)
        .header(HOST, authority)
        .header(AUTHORIZATION, login)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from_static(MINT_BODY.as_bytes())))?)
}

/// One HTTP/1.1 keep-alive connection to the server, one request at a time.
struct KeepAlive {
    sender: SendRequest<Full<Bytes>>,
}

impl KeepAlive {
    /// Connects to `authority` (`HOST:PORT`).
    async fn open(authority: &str) -> Result<KeepAlive, BoxError> {
        let stream = TcpStream::connect(authority).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        // Ends by itself when `sender` is dropped or the server closes the connection.
        tokio::spawn(connection);
        Ok(KeepAlive { sender })
    }

    /// Waits until the connection can take a request.
    async fn ready(&mut self) -> Result<(), hyper::Error> {
        self.sender.ready().await
    }

    /// Sends `request` and reads the whole answer (so the connection can be reused).
    async fn send(&mut self, request: Request<Full<Bytes>>) -> Result<(u16, Bytes), hyper::Error> {
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

/// One operation's answers in one phase.
#[derive(Debug, Default)]
struct Tally {
    /// Latency of each answered request, in milliseconds.
    latencies_ms: Vec<f64>,
    /// Answers by status code.
    statuses: BTreeMap<u16, u64>,
    /// Requests that got no answer (connection errors).
    errors: u64,
}

impl Tally {
    fn answered(&self) -> u64 {
        self.statuses.values().sum()
    }

    fn non_2xx(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(status, _)| !(200..300).contains(*status))
            .map(|(_, count)| count)
            .sum()
    }

    fn merge(&mut self, other: Tally) {
        self.latencies_ms.extend(other.latencies_ms);
        for (status, count) in other.statuses {
            *self.statuses.entry(status).or_default() += count;
        }
        self.errors += other.errors;
    }
}

/// A tally per operation, indexed by [`Operation::index`].
type Tallies = [Tally; 3];

/// What one connection saw: the warm-up and the measured window apart.
#[derive(Debug, Default)]
struct ConnectionTallies {
    warmup: Tallies,
    measured: Tallies,
    /// The first connection error, for the report.
    first_error: Option<String>,
}

/// When the warm-up ends and the measured window ends.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    measure_from: Instant,
    end: Instant,
}

/// One connection's loop: requests back to back until the end of the schedule;
/// a request started before the deadline is finished and counted.
async fn drive(workload: Arc<Workload>, schedule: Schedule) -> Result<ConnectionTallies, BoxError> {
    let mut rng = SmallRng::from_rng(&mut rand::rng());
    let mut connection = KeepAlive::open(&workload.authority).await?;
    let mut tallies = ConnectionTallies::default();
    loop {
        let ready = connection.ready().await;
        let started = Instant::now();
        if started >= schedule.end {
            break;
        }
        let operation = Operation::pick(&mut rng);
        let outcome = match ready {
            Ok(()) => connection.send(workload.request(operation, &mut rng)?).await,
            Err(err) => Err(err),
        };
        let phase = if started >= schedule.measure_from {
            &mut tallies.measured
        } else {
            &mut tallies.warmup
        };
        let tally = &mut phase[operation.index()];
        match outcome {
            Ok((status, _body)) => {
                tally.latencies_ms.push(started.elapsed().as_secs_f64() * 1000.0);
                *tally.statuses.entry(status).or_default() += 1;
            }
            Err(err) => {
                tally.errors += 1;
                tallies.first_error.get_or_insert_with(|| err.to_string());
                connection = KeepAlive::open(&workload.authority).await?;
            }
        }
    }
    Ok(tallies)
}

/// Mints one token per client over up to `connections` connections; every mint must
/// succeed. Returns the `Bearer …` header values.
async fn mint_tokens(
    authority: &str,
    logins: &[HeaderValue],
    connections: usize,
) -> Result<Vec<HeaderValue>, BoxError> {
    let lanes = connections.clamp(1, logins.len());
    let mut tasks = JoinSet::new();
    for lane in 0..lanes {
        let authority = authority.to_owned();
        let logins: Vec<HeaderValue> = logins.iter().skip(lane).step_by(lanes).cloned().collect();
        tasks.spawn(async move {
            let mut connection = KeepAlive::open(&authority).await?;
            let mut tokens = Vec::with_capacity(logins.len());
            for login in &logins {
                connection.ready().await?;
                let (status, body) = connection.send(mint_request(&authority, login)?).await?;
                if !(200..300).contains(&status) {
                    return Err(format!("minting a client's token answered {status}").into());
                }
                let minted: MintedToken = serde_json::from_slice(&body)?;
                tokens.push(HeaderValue::try_from(format!("Bearer {}", minted.access_token))?);
            }
            Ok::<_, BoxError>(tokens)
        });
    }
    let mut tokens = Vec::with_capacity(logins.len());
    while let Some(joined) = tasks.join_next().await {
        tokens.extend(joined??);
    }
    Ok(tokens)
}

/// One operation's figures over the measured window.
#[derive(Debug, Serialize)]
struct OperationReport {
    requests: u64,
    requests_per_sec: f64,
    non_2xx: u64,
    errors: u64,
    statuses: BTreeMap<u16, u64>,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

/// The JSON printed on stdout.
#[derive(Debug, Serialize)]
struct Report {
    /// Length of the measured window, until its last request was answered.
    seconds: f64,
    connections: usize,
    credentials: usize,
    tokens: usize,
    /// Answered requests in the measured window, every operation.
    requests: u64,
    requests_per_sec: f64,
    non_2xx: u64,
    errors: u64,
    /// The server's user + system CPU time over the measured window per request.
    server_cpu_us_per_request: Option<f64>,
    /// This load generator's own CPU time per request (it shares the machine).
    client_cpu_us_per_request: Option<f64>,
    warmup_requests: u64,
    warmup_non_2xx: u64,
    warmup_errors: u64,
    first_error: Option<String>,
    operations: BTreeMap<&'static str, OperationReport>,
}

#[tokio::main]
async fn main() -> Result<ExitCode, BoxError> {
    let args = Args::parse();
    if args.connections == 0 || args.seconds <= 0.0 || args.warmup_seconds < 0.0 {
        return Err("--connections and --seconds must be positive".into());
    }
    let authority = authority_of(&args.url)?;
    let credentials = read_credential_paths(&args.paths)?
        .iter()
        .map(|key| key.path().parse::<Uri>())
        .collect::<Result<Vec<_>, _>>()?;
    let client_logins = read_client_logins(&args.clients)?;
    let bodies = read_bodies(&args.bodies)?;

    let minting = Instant::now();
    let bearer_tokens = mint_tokens(&authority, &client_logins, args.connections).await?;
    eprintln!(
        "mixed: {} tokens minted in {:.1} s; {} credentials; {} s warm-up, then {} s at {} connections",
        bearer_tokens.len(),
        minting.elapsed().as_secs_f64(),
        credentials.len(),
        args.warmup_seconds,
        args.seconds,
        args.connections
    );
    let workload = Arc::new(Workload {
        authority,
        credentials,
        client_logins,
        bearer_tokens,
        bodies,
    });

    let measure_from = Instant::now() + Duration::from_secs_f64(args.warmup_seconds);
    let schedule = Schedule {
        measure_from,
        end: measure_from + Duration::from_secs_f64(args.seconds),
    };
    let mut connections = JoinSet::new();
    for _ in 0..args.connections {
        connections.spawn(drive(Arc::clone(&workload), schedule));
    }
    tokio::time::sleep_until(schedule.measure_from.into()).await;
    let server_before = args.server_pid.and_then(|pid| cpu_ticks(&pid.to_string()));
    let client_before = cpu_ticks("self");
    let mut all = ConnectionTallies::default();
    while let Some(joined) = connections.join_next().await {
        let tallies = joined??;
        for (total, part) in all.warmup.iter_mut().zip(tallies.warmup) {
            total.merge(part);
        }
        for (total, part) in all.measured.iter_mut().zip(tallies.measured) {
            total.merge(part);
        }
        all.first_error = all.first_error.or(tallies.first_error);
    }
    let seconds = schedule.measure_from.elapsed().as_secs_f64();
    let server_ticks = args
        .server_pid
        .and_then(|pid| cpu_ticks(&pid.to_string()))
        .zip(server_before)
        .map(|(after, before)| after.saturating_sub(before));
    let client_ticks = cpu_ticks("self")
        .zip(client_before)
        .map(|(after, before)| after.saturating_sub(before));

    let report = build_report(&workload, &args, all, seconds, server_ticks, client_ticks);
    println!("{}", serde_json::to_string(&report)?);
    eprintln!("{}", summary_line(&report));
    let failed = report.non_2xx + report.errors + report.warmup_non_2xx + report.warmup_errors;
    if failed != 0 {
        eprintln!("mixed: {failed} requests were not answered 2xx (statuses per operation above)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// `HOST:PORT` of an `http://HOST:PORT` URL (a trailing `/` allowed, nothing else).
fn authority_of(url: &str) -> Result<String, BoxError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("--url must be http://HOST:PORT, not {url:?}"))?;
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains('/') {
        return Err(format!("--url must be http://HOST:PORT, not {url:?}").into());
    }
    Ok(authority.to_owned())
}

/// The `Basic …` header value of each client in a clients file.
fn read_client_logins(file: &Path) -> Result<Vec<HeaderValue>, BoxError> {
    let text = std::fs::read_to_string(file).map_err(|err| format!("cannot read {}: {err}", file.display()))?;
    let mut logins = Vec::new();
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let client: Client = serde_json::from_str(line)?;
        // RFC 6749 §2.3.1 form-encodes both halves; seeded IDs and secrets are alphanumeric.
        let pair = format!("{}:{}", client.client_id, client.client_secret);
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
        logins.push(HeaderValue::try_from(format!("Basic {encoded}"))?);
    }
    if logins.is_empty() {
        return Err(format!("{} lists no clients", file.display()).into());
    }
    Ok(logins)
}

/// The PATCH bodies, one a line, sent as they are.
fn read_bodies(file: &Path) -> Result<Vec<Bytes>, BoxError> {
    let text = std::fs::read_to_string(file).map_err(|err| format!("cannot read {}: {err}", file.display()))?;
    let bodies: Vec<Bytes> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| Bytes::from(line.to_owned()))
        .collect();
    if bodies.is_empty() {
        return Err(format!("{} lists no bodies", file.display()).into());
    }
    Ok(bodies)
}

/// A process's user + system CPU time so far, in clock ticks (`PID` or `self`).
fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after it start at `state`.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some(user + system)
}

/// The report of the measured window.
fn build_report(
    workload: &Workload,
    args: &Args,
    tallies: ConnectionTallies,
    seconds: f64,
    server_ticks: Option<u64>,
    client_ticks: Option<u64>,
) -> Report {
    let count = |phase: &Tallies, what: fn(&Tally) -> u64| phase.iter().map(what).sum::<u64>();
    let requests = count(&tallies.measured, Tally::answered);
    let warmup_requests = count(&tallies.warmup, Tally::answered);
    let per_request = |ticks: u64| ticks as f64 / args.clock_ticks.max(1) as f64 * 1e6 / requests.max(1) as f64;
    let mut operations = BTreeMap::new();
    let ConnectionTallies {
        warmup,
        measured,
        first_error,
    } = tallies;
    for (operation, mut tally) in Operation::ALL.into_iter().zip(measured) {
        tally.latencies_ms.sort_by(f64::total_cmp);
        let answered = tally.answered();
        operations.insert(
            operation.name(),
            OperationReport {
                requests: answered,
                requests_per_sec: answered as f64 / seconds,
                non_2xx: tally.non_2xx(),
                errors: tally.errors,
                p50_ms: quantile(&tally.latencies_ms, 0.5),
                p99_ms: quantile(&tally.latencies_ms, 0.99),
                max_ms: quantile(&tally.latencies_ms, 1.0),
                statuses: tally.statuses,
            },
        );
    }
    Report {
        seconds,
        connections: args.connections,
        credentials: workload.credentials.len(),
        tokens: workload.bearer_tokens.len(),
        requests,
        requests_per_sec: requests as f64 / seconds,
        non_2xx: operations.values().map(|operation| operation.non_2xx).sum(),
        errors: operations.values().map(|operation| operation.errors).sum(),
        server_cpu_us_per_request: server_ticks.map(per_request),
        client_cpu_us_per_request: client_ticks.map(per_request),
        warmup_requests,
        warmup_non_2xx: count(&warmup, Tally::non_2xx),
        warmup_errors: warmup.iter().map(|tally| tally.errors).sum(),
        first_error,
        operations,
    }
}

/// The human summary of a report.
fn summary_line(report: &Report) -> String {
    let mut line = format!(
        "mixed: {:.0} req/s ({} requests in {:.1} s)",
        report.requests_per_sec, report.requests, report.seconds
    );
    for (name, operation) in &report.operations {
        line += &format!(
            "; {name} {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, statuses {:?}",
            operation.requests_per_sec, operation.p50_ms, operation.p99_ms, operation.max_ms, operation.statuses
        );
    }
    if let Some(cpu) = report.server_cpu_us_per_request {
        line += &format!("; server CPU {cpu:.1} µs/request");
    }
    if let Some(error) = &report.first_error {
        line += &format!("; first connection error: {error}");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_is_80_10_10() {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut counts = [0u32; 3];
        for _ in 0..100_000 {
            counts[Operation::pick(&mut rng).index()] += 1;
        }
        for (count, expected) in counts.into_iter().zip([80_000, 10_000, 10_000]) {
            assert!(count.abs_diff(expected) < 1_000, "{counts:?}");
        }
    }

    #[test]
    fn authority_comes_from_an_http_url_only() {
        assert_eq!(authority_of("http://127.0.0.1:8080").unwrap(), "127.0.0.1:8080");
        assert_eq!(authority_of("http://127.0.0.1:8080/").unwrap(), "127.0.0.1:8080");
        assert!(authority_of("https://127.0.0.1:8080").is_err());
        assert!(authority_of("http://127.0.0.1:8080/v1").is_err());
    }

    #[test]
    fn non_2xx_counts_every_other_status() {
        let mut tally = Tally::default();
        tally.statuses.insert(200, 5);
        tally.statuses.insert(204, 1);
        tally.statuses.insert(401, 2);
        tally.statuses.insert(503, 1);
        assert_eq!((tally.answered(), tally.non_2xx()), (9, 3));
    }

    #[test]
    fn cpu_ticks_of_this_process_are_readable() {
        assert!(cpu_ticks("self").is_some());
    }
}
