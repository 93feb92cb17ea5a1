//! `seed`: fills a new keycred database with N credentials for the benchmark.
//!
//! The database is opened with keycred's own `SqliteStore::open` (so its schema and
//! migrations are keycred's, kept in one place) and every row is written through the
//! `Store` trait, as the server writes it: many writes are kept in flight at once so
//! the store's writer thread commits them in large groups. An `org_admin` credential
//! is made with keycred's `bootstrap`, to mint the bearer token the load generator
//! sends. Writes a JSON file with that credential and the numbers of what was made,
//! and a file of credential paths (a uniform sample of at most `--max-paths`).
//!
//! For the mixed workload (`mixed`), `--clients-out` also writes the client_id and
//! the real client_secret of `--clients` credentials spread evenly over all of them,
//! and `--role` gives the seeded service accounts a role whose tokens may change
//! credentials. Without those options the database is what it always was.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use keycred_bench::CredentialKey;
use keycred_impl::auth::hash_secret;
use keycred_impl::config::BootstrapConfig;
use keycred_impl::ids;
use keycred_store::sqlite::SqliteStore;
use keycred_store::{AuditContext, Credential, CredentialStatus, NewCredential, Role, ServiceAccount, Store};
use serde::Serialize;
use tokio::task::JoinSet;

/// Fills a new keycred database with credentials for the benchmark.
#[derive(Debug, Parser)]
struct Args {
    /// The database file to create (must not exist yet).
    #[arg(long)]
    database: PathBuf,
    /// How many credentials to create (besides the admin's).
    #[arg(long)]
    credentials: u64,
    /// Credentials per service account.
    #[arg(long, default_value_t = 10)]
    per_service_account: u64,
    /// Service accounts being filled at once (each keeps one write in flight); the
    /// store's queue holds 1024 writes, so keep this well below that.
    #[arg(long, default_value_t = 512)]
    in_flight: usize,
    /// Where to write the JSON summary (with the admin's client_id and client_secret).
    #[arg(long)]
    out: PathBuf,
    /// Where to write the sampled credential paths, one a line.
    #[arg(long)]
    paths: PathBuf,
    /// At most this many paths are written, sampled evenly over all credentials.
    #[arg(long, default_value_t = 100_000)]
    max_paths: u64,
    /// The seeded service accounts' role (the admin's is always `org_admin`).
    #[arg(long, default_value = "org_viewer", value_parser = ["org_admin", "org_member", "org_viewer"])]
    role: String,
    /// Where to write the client_id and client_secret of `--clients` credentials, one
    /// JSON object a line; without it every seeded secret is thrown away once hashed.
    #[arg(long)]
    clients_out: Option<PathBuf>,
    /// How many credentials `--clients-out` lists, spread evenly over all of them.
    #[arg(long, default_value_t = 1_000)]
    clients: u64,
}

/// One seeded credential whose secret is kept, a line of the `--clients-out` file.
#[derive(Debug, Serialize)]
struct SeededClient {
    client_id: String,
    client_secret: String,
    /// The credential's path in the API.
    path: String,
}

/// What one service account's task made: credentials, sampled paths, kept clients.
type Filled = (u64, Vec<String>, Vec<SeededClient>);

/// The JSON summary.
#[derive(Debug, Serialize)]
struct Summary {
    organization_id: String,
    organization_label: String,
    service_account_id: String,
    credential_id: String,
    client_id: String,
    client_secret: String,
    credentials: u64,
    service_accounts: u64,
    paths: usize,
    seconds: f64,
    rows_per_second: f64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    if args.database.exists() {
        return Err(format!("{} already exists; seed makes a new database", args.database.display()).into());
    }
    if args.per_service_account == 0 || args.in_flight == 0 {
        return Err("--per-service-account and --in-flight must be at least 1".into());
    }
    if args.clients_out.is_some() && !(1..=args.credentials).contains(&args.clients) {
        return Err("--clients must be between 1 and --credentials".into());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let started = Instant::now();
    let store = Arc::new(SqliteStore::open(&args.database)?);
    let summary = runtime.block_on(fill(Arc::clone(&store), &args, started))?;
    // Dropping the last handle waits for the writer to commit and close the file.
    drop(store);
    std::fs::write(&args.out, serde_json::to_string_pretty(&summary.0)? + "\n")?;
    std::fs::write(&args.paths, summary.1.join("\n") + "\n")?;
    if let Some(clients_out) = &args.clients_out {
        let mut lines = String::new();
        for client in &summary.2 {
            lines += &(serde_json::to_string(client)? + "\n");
        }
        std::fs::write(clients_out, lines)?;
        eprintln!(
            "seed: {} client secrets kept in {}",
            summary.2.len(),
            clients_out.display()
        );
    }
    eprintln!(
        "seed: {} credentials in {} service accounts in {:.1} s ({:.0} rows/s), {} paths",
        summary.0.credentials,
        summary.0.service_accounts,
        summary.0.seconds,
        summary.0.rows_per_second,
        summary.0.paths
    );
    Ok(())
}

/// Bootstraps the admin, then creates the service accounts and their credentials.
async fn fill(
    store: Arc<SqliteStore>,
    args: &Args,
    started: Instant,
) -> Result<(Summary, Vec<String>, Vec<SeededClient>), Box<dyn std::error::Error>> {
    let admin = keycred_impl::bootstrap::bootstrap(
        store.as_ref(),
        &BootstrapConfig {
            database: keycred_impl::config::Database::Sqlite(args.database.clone()),
            org_label: "bench".to_owned(),
            org_name: None,
            role: "org_admin".to_owned(),
            service_account_name: "bench-admin".to_owned(),
            json: true,
        },
    )
    .await?;

    let total = args.credentials;
    let per = args.per_service_account;
    let service_accounts = total.div_ceil(per);
    let stride = total.div_ceil(args.max_paths.max(1)).max(1);
    let base_time = chrono_now() - i64::try_from(total).unwrap_or(0);
    let organization_id = admin.organization_id.clone();
    let plan = AccountPlan {
        role: Role::parse(&args.role).ok_or("unknown --role")?,
        client_stride: args.clients_out.as_ref().map(|_| total.div_ceil(args.clients).max(1)),
    };

    let mut tasks = JoinSet::new();
    let mut paths = Vec::new();
    let mut clients = Vec::new();
    let mut done = 0u64;
    let mut next_report = 100_000u64;
    for account in 0..service_accounts {
        while tasks.len() >= args.in_flight {
            let (made, sampled, kept) = next_result(&mut tasks).await?;
            done += made;
            paths.extend(sampled);
            clients.extend(kept);
            report(&mut next_report, done, total, started);
        }
        let first = account * per;
        let count = per.min(total - first);
        let store = Arc::clone(&store);
        let organization_id = organization_id.clone();
        tasks.spawn(async move {
            fill_service_account(store.as_ref(), organization_id, first, count, stride, base_time, plan).await
        });
    }
    while !tasks.is_empty() {
        let (made, sampled, kept) = next_result(&mut tasks).await?;
        done += made;
        paths.extend(sampled);
        clients.extend(kept);
        report(&mut next_report, done, total, started);
    }
    paths.sort();
    clients.sort_by(|a: &SeededClient, b| a.path.cmp(&b.path));

    let seconds = started.elapsed().as_secs_f64();
    let summary = Summary {
        organization_id: admin.organization_id,
        organization_label: admin.organization_label,
        service_account_id: admin.service_account_id,
        credential_id: admin.credential_id,
        client_id: admin.client_id,
        client_secret: admin.client_secret,
        credentials: total,
        service_accounts,
        paths: paths.len(),
        seconds,
        rows_per_second: (total + service_accounts) as f64 / seconds,
    };
    Ok((summary, paths, clients))
}

/// The result of one finished task, or its error.
async fn next_result(tasks: &mut JoinSet<Result<Filled, String>>) -> Result<Filled, Box<dyn std::error::Error>> {
    match tasks.join_next().await {
        Some(joined) => Ok(joined??),
        None => Ok((0, Vec::new(), Vec::new())),
    }
}

/// Prints progress to stderr every 100,000 credentials.
fn report(next_report: &mut u64, done: u64, total: u64, started: Instant) {
    if done >= *next_report {
        eprintln!(
            "seed: {done}/{total} credentials, {:.1} s",
            started.elapsed().as_secs_f64()
        );
        *next_report += 100_000;
    }
}

/// What the options ask of every seeded service account beyond the defaults.
#[derive(Debug, Clone, Copy)]
struct AccountPlan {
    /// The service account's role.
    role: Role,
    /// Keep the secret of every credential whose number is a multiple of this.
    client_stride: Option<u64>,
}

/// Creates one service account and its `count` credentials (numbered from `first`),
/// one write at a time; returns how many were made, the paths sampled from them and
/// the clients whose secrets were kept.
async fn fill_service_account(
    store: &SqliteStore,
    organization_id: String,
    first: u64,
    count: u64,
    stride: u64,
    base_time: i64,
    plan: AccountPlan,
) -> Result<Filled, String> {
    let created_at = base_time + i64::try_from(first).unwrap_or(0);
    let service_account = ServiceAccount {
        id: ids::resource_id(),
        organization_id: organization_id.clone(),
        name: format!("bench-sa-{first}"),
        description: None,
        role: plan.role,
        created_at,
        updated_at: created_at,
    };
    store
        .create_service_account(service_account.clone(), AuditContext::cli(created_at))
        .await
        .map_err(|err| err.to_string())?;
    let mut sampled = Vec::new();
    let mut kept = Vec::new();
    for number in first..first + count {
        let created_at = base_time + i64::try_from(number).unwrap_or(0);
        let credential = Credential {
            id: ids::resource_id(),
            organization_id: organization_id.clone(),
            service_account_id: service_account.id.clone(),
            client_id: ids::client_id(),
            name: format!("bench-{number}"),
            description: Some("seeded".to_owned()),
            created_at,
            updated_at: created_at,
            last_used_at: None,
            status: CredentialStatus::Active,
            expires_at: None,
            secret_rotated_at: None,
            previous_secret_expires_at: None,
        };
        let key = CredentialKey {
            organization_id: organization_id.clone(),
            service_account_id: service_account.id.clone(),
            credential_id: credential.id.clone(),
        };
        let client_secret = ids::client_secret();
        if plan.client_stride.is_some_and(|every| number % every == 0) {
            kept.push(SeededClient {
                client_id: credential.client_id.clone(),
                client_secret: client_secret.clone(),
                path: key.path(),
            });
        }
        let new_credential = NewCredential {
            credential,
            secret_hash: hash_secret(&client_secret),
        };
        if !store
            .create_credential(new_credential, AuditContext::cli(created_at))
            .await
            .map_err(|err| err.to_string())?
        {
            return Err(format!("service account {} vanished", service_account.id));
        }
        if number % stride == 0 {
            sampled.push(key.path());
        }
    }
    Ok((count, sampled, kept))
}

/// The current time in epoch milliseconds.
fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
