//! `reference-axum`: the ceiling for keycred's GET. An axum server, on the same
//! runtime keycred uses (tokio multi-thread, default worker count), whose handler
//! for keycred's credential route answers a fixed JSON body shaped like a
//! credential: no auth, no database, no logging. Prints `listening on http://ADDR`
//! like keycred, and stops on SIGTERM or ctrl-c.
//!
//! Two what-ifs, not used by `bench.sh` (see BENCHMARKS.md):
//! - `--blocking-hops N` makes each request first await N empty `spawn_blocking`
//!   calls, as keycred's handlers once awaited one per database read: what those
//!   thread hand-offs cost by themselves;
//! - `--store DB` makes each GET first read the credential its path names through
//!   keycred's own `SqliteStore` (its reader threads, its SQL), and each PATCH
//!   first apply its body's `description` through the same store (its writer
//!   thread, group commit, durable before the answer); 404 if there is no such
//!   credential: the fixed-JSON server plus exactly keycred's database work, with
//!   no auth, validation, logging or metrics.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use clap::Parser;
use keycred_bench::{now_millis, CREDENTIAL_ROUTE};
use keycred_store::sqlite::SqliteStore;
use keycred_store::{Actor, AuditContext, CredentialKey, CredentialPatch, Store};

/// What keycred answers to a GET of one credential, with made-up values.
const CREDENTIAL_JSON: &str = concat!(
    r#"{"id":"0a1b2c3d4e5f6g7h8i9j0k1l2m","client_id":"AbCdEfGhIjKlMnOpQrStU","#,
    r#""created_at":"2026-01-01T00:00:00.000Z","name":"bench-1","description":"bench","#,
    r#""last_used_at":"2026-01-01T00:00:01.000Z"}"#
);

/// Serves a fixed credential-shaped JSON body.
#[derive(Debug, Parser)]
struct Args {
    /// Address to listen on; a port of 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Empty `spawn_blocking` round trips awaited before each answer (profiling only).
    #[arg(long, default_value_t = 0)]
    blocking_hops: usize,
    /// A keycred database to read each requested credential from first (profiling only).
    #[arg(long)]
    store: Option<PathBuf>,
}

/// What each request does before answering.
struct Setup {
    /// Empty blocking-pool round trips.
    blocking_hops: usize,
    /// keycred's store, to read the credential from.
    store: Option<SqliteStore>,
}

/// The path of keycred's credential route.
type CredentialPath = Path<(String, String, String)>;

/// A PATCH body as the benchmark sends it.
#[derive(serde::Deserialize)]
struct DescriptionPatch {
    /// The new description.
    description: String,
}

/// GET: the fixed answer, after the hops and the read `setup` asks for.
async fn read_credential(State(setup): State<Arc<Setup>>, Path(ids): CredentialPath) -> Response {
    blocking_hops(setup.blocking_hops).await;
    if let Some(store) = &setup.store {
        let found = store.find_credential(key(&ids)).await.map(|found| found.is_some());
        if let Some(refusal) = refusal(found) {
            return refusal;
        }
    }
    fixed_answer()
}

/// PATCH: the fixed answer, after the hops and the update `setup` asks for.
async fn update_credential(State(setup): State<Arc<Setup>>, Path(ids): CredentialPath, body: String) -> Response {
    blocking_hops(setup.blocking_hops).await;
    if let Some(store) = &setup.store {
        let Ok(DescriptionPatch { description }) = serde_json::from_str(&body) else {
            return StatusCode::BAD_REQUEST.into_response();
        };
        let patch = CredentialPatch {
            name: None,
            description: Some(description),
            ..Default::default()
        };
        // What keycred's PATCH records with its event: the caller's identity, the
        // request's IDs and the client address.
        let now = now_millis();
        let audit = AuditContext {
            actor: Actor::ServiceAccount {
                service_account_id: ids.1.clone(),
                credential_id: ids.2.clone(),
            },
            occurred_at: now,
            request_id: Some(keycred_impl::ids::request_id()),
            client_request_id: None,
            source_address: Some("127.0.0.1".to_owned()),
        };
        let updated = store
            .update_credential(key(&ids), patch, now, None, audit)
            .await
            .map(|updated| updated.is_some());
        if let Some(refusal) = refusal(updated) {
            return refusal;
        }
    }
    fixed_answer()
}

/// Awaits `hops` empty blocking-pool round trips.
async fn blocking_hops(hops: usize) {
    for _ in 0..hops {
        let _ = tokio::task::spawn_blocking(|| ()).await;
    }
}

/// The store's key for the IDs of a path.
fn key(ids: &(String, String, String)) -> CredentialKey<'_> {
    CredentialKey {
        organization_id: &ids.0,
        service_account_id: &ids.1,
        credential_id: &ids.2,
    }
}

/// The answer for a store call that found nothing (404) or failed (500).
fn refusal<E>(found: Result<bool, E>) -> Option<Response> {
    match found {
        Ok(true) => None,
        Ok(false) => Some(StatusCode::NOT_FOUND.into_response()),
        Err(_) => Some(StatusCode::INTERNAL_SERVER_ERROR.into_response()),
    }
}

/// The fixed credential-shaped JSON.
fn fixed_answer() -> Response {
    ([(CONTENT_TYPE, "application/json")], CREDENTIAL_JSON).into_response()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let store = match &args.store {
        Some(path) => Some(SqliteStore::open(path)?),
        None => None,
    };
    let setup = Arc::new(Setup {
        blocking_hops: args.blocking_hops,
        store,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let router = Router::new()
            .route(CREDENTIAL_ROUTE, get(read_credential).patch(update_credential))
            .with_state(setup);
        let listener = tokio::net::TcpListener::bind(&args.listen).await?;
        println!("listening on http://{}", listener.local_addr()?);
        axum::serve(listener, router)
            .with_graceful_shutdown(keycred_impl::startup::shutdown_signal())
            .await?;
        Ok(())
    })
}
