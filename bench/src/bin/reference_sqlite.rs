//! `reference-sqlite`: the ceiling for keycred's PATCH. Raw rusqlite on one
//! connection with exactly keycred's pragmas (WAL, synchronous=FULL, SQLite's
//! default page and cache sizes) and keycred's checkpointing (its checkpointer
//! thread, and the writer's catch-up checkpoint when that asks for one), running
//! keycred's own two statements of a PATCH (the point read of the credential, whose
//! row and the patch give the answer, then the `UPDATE` in place) on credentials
//! picked at random from a paths file, each with a body picked at random
//! from a bodies file (the PATCH bodies the load generator sends), `--batch` updates
//! per durable transaction (`BEGIN IMMEDIATE … COMMIT`), for `--seconds` each.
//!
//! The bodies must differ from one another: SQLite does not write a cell whose new
//! content equals the old, so an UPDATE that changes nothing dirties no page and
//! its COMMIT syncs nothing. Rewriting one fixed value would measure no disk at all.
//!
//! Prints one JSON object per batch size: updates/s, and the transaction and
//! COMMIT (fsync) latencies. No HTTP, no savepoints, no queue, no audit event:
//! this is what the disk and SQLite allow one writer.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use std::sync::Arc;

use keycred_bench::{apply_keycred_pragmas, effective_settings, now_millis, quantile, read_credential_paths};
use keycred_store::sqlite::{catch_up, find_credential_sql, update_credential_sql, Checkpointer};
use keycred_store::IgnoreStorageEvents;
use rand::Rng;
use rusqlite::{params, Connection, OpenFlags};
use serde::Serialize;

/// Measures raw durable batched PATCH throughput (read, then UPDATE) on a keycred database.
#[derive(Debug, Parser)]
struct Args {
    /// A keycred database (as made by `seed`); its rows are updated.
    #[arg(long)]
    database: PathBuf,
    /// The file of credential paths to pick rows from (as written by `seed`).
    #[arg(long)]
    paths: PathBuf,
    /// Updates per transaction; repeat for several runs (default: 64, then 1).
    #[arg(long = "batch")]
    batches: Vec<usize>,
    /// How long each run lasts.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// A pragma applied after keycred's, as NAME=VALUE (repeatable). Only for what-if
    /// experiments (see BENCHMARKS.md); the benchmark never passes it, and the
    /// figures it prints are then not keycred's settings.
    #[arg(long = "extra-pragma")]
    extra_pragmas: Vec<String>,
    /// PATCH bodies, one JSON object a line (`{"description": …}`, optionally with
    /// `name`), as the load generator sends them; each update uses one at random.
    #[arg(long)]
    bodies: PathBuf,
}

/// A credential's columns and rowid, as keycred reads them before an update.
type ReturnedRow = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    i64,
    Option<i64>,
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    // The rowid, which the update names.
    i64,
);

/// One run's figures.
#[derive(Debug, Serialize)]
struct RunResult {
    batch: usize,
    updates: u64,
    transactions: u64,
    seconds: f64,
    updates_per_sec: f64,
    /// CPU time (user and system) this thread spent per update, where Linux tells it.
    cpu_us_per_update: Option<f64>,
    transaction_ms_p50: f64,
    transaction_ms_p99: f64,
    commit_ms_p50: f64,
    commit_ms_p99: f64,
    settings: Vec<(String, String)>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = Args::parse();
    if args.batches.is_empty() {
        args.batches = vec![64, 1];
    }
    if args.batches.contains(&0) {
        return Err("--batch must be at least 1".into());
    }
    let keys = read_credential_paths(&args.paths)?;
    let patches = read_bodies(&args.bodies)?;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(&args.database, flags)?;
    apply_keycred_pragmas(&conn)?;
    for pragma in &args.extra_pragmas {
        let (name, value) = pragma
            .split_once('=')
            .ok_or_else(|| format!("--extra-pragma wants NAME=VALUE, not {pragma:?}"))?;
        conn.pragma_update(None, name, value)?;
    }
    let settings = effective_settings(&conn)?;
    let checkpointer = Checkpointer::start(&args.database, Arc::new(IgnoreStorageEvents))?;
    for &batch in &args.batches {
        let result = run(
            &conn,
            &checkpointer,
            &keys,
            &patches,
            batch,
            Duration::from_secs_f64(args.seconds),
        )?;
        println!(
            "{}",
            serde_json::to_string(&RunResult {
                settings: settings.clone(),
                ..result
            })?
        );
    }
    Ok(())
}

/// One timed run of `batch` updates per transaction.
fn run(
    conn: &Connection,
    checkpointer: &Checkpointer,
    keys: &[keycred_bench::CredentialKey],
    patches: &[Patch],
    batch: usize,
    duration: Duration,
) -> rusqlite::Result<RunResult> {
    let mut rng = rand::rng();
    let mut transaction_ms = Vec::new();
    let mut commit_ms = Vec::new();
    let mut updates = 0u64;
    let cpu_before = thread_cpu_ns();
    let started = Instant::now();
    while started.elapsed() < duration {
        let transaction_started = Instant::now();
        conn.execute_batch("BEGIN IMMEDIATE")?;
        for _ in 0..batch {
            let key = &keys[rng.random_range(0..keys.len())];
            let patch = &patches[rng.random_range(0..patches.len())];
            let now = now_millis();
            // Read every column of the row before, as keycred does to answer the PATCH.
            let mut find = conn.prepare_cached(find_credential_sql())?;
            let row: ReturnedRow = find.query_row(
                params![key.credential_id, key.service_account_id, key.organization_id],
                |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                        row.get(5)?,
                        row.get(6)?,
                        row.get(7)?,
                        row.get(8)?,
                        row.get(9)?,
                        row.get(10)?,
                        row.get(11)?,
                        row.get(12)?,
                        row.get(13)?,
                    ))
                },
            )?;
            let mut update = conn.prepare_cached(update_credential_sql())?;
            let changed = update.execute(params![
                key.credential_id,
                key.service_account_id,
                key.organization_id,
                patch.name,
                patch.description,
                // Neither status nor expiry: the PATCH of a name or description.
                None::<&str>,
                None::<i64>,
                None::<i64>,
                now,
                // No If-Match: the unconditional update keycred's plain PATCH runs.
                None::<i64>,
                None::<&str>,
                None::<&str>,
                None::<&str>,
                None::<i64>,
                None::<i64>,
                row.13
            ])?;
            assert_eq!(changed, 1, "the credential read was not updated");
            std::hint::black_box(row);
            updates += 1;
        }
        let commit_started = Instant::now();
        conn.execute_batch("COMMIT")?;
        commit_ms.push(commit_started.elapsed().as_secs_f64() * 1000.0);
        if checkpointer.committed() {
            catch_up(conn, &IgnoreStorageEvents);
        }
        transaction_ms.push(transaction_started.elapsed().as_secs_f64() * 1000.0);
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu_us_per_update = match (cpu_before, thread_cpu_ns()) {
        (Some(before), Some(after)) if updates > 0 => Some((after - before) as f64 / 1000.0 / updates as f64),
        _ => None,
    };
    let transactions = transaction_ms.len() as u64;
    transaction_ms.sort_by(f64::total_cmp);
    commit_ms.sort_by(f64::total_cmp);
    Ok(RunResult {
        batch,
        updates,
        transactions,
        seconds,
        updates_per_sec: updates as f64 / seconds,
        cpu_us_per_update,
        transaction_ms_p50: quantile(&transaction_ms, 0.5),
        transaction_ms_p99: quantile(&transaction_ms, 0.99),
        commit_ms_p50: quantile(&commit_ms, 0.5),
        commit_ms_p99: quantile(&commit_ms, 0.99),
        settings: Vec::new(),
    })
}

/// A PATCH body's fields, as keycred's handler passes them to the store.
#[derive(Debug, serde::Deserialize)]
struct Patch {
    /// New name, if any.
    name: Option<String>,
    /// New description, if any.
    description: Option<String>,
}

/// Reads the bodies file: one JSON object a line.
fn read_bodies(file: &std::path::Path) -> Result<Vec<Patch>, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(file).map_err(|err| format!("cannot read {}: {err}", file.display()))?;
    let patches = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<Vec<Patch>, _>>()?;
    if patches.is_empty() {
        return Err(format!("{} holds no bodies", file.display()).into());
    }
    Ok(patches)
}

/// CPU time this thread has used, in nanoseconds (Linux's schedstat), if available.
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}
