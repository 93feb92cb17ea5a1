//! `reference-axum`: the ceiling for keycred's GET. An axum server, on the same
//! runtime keycred uses (tokio multi-thread, default worker count), whose handler
//! for keycred's credential route answers a fixed JSON body shaped like a
//! credential: no auth, no database, no logging. Prints `listening on http://ADDR`
//! like keycred, and stops on SIGTERM or ctrl-c.
//!
//! `--blocking-hops N` (not used by the benchmark) makes each request first await N
//! empty `spawn_blocking` calls, as keycred's handlers await one per database read:
//! it measures what those thread hand-offs cost by themselves (see BENCHMARKS.md).

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use clap::Parser;
use keycred_bench::CREDENTIAL_ROUTE;

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
}

/// The fixed answer, for GET and PATCH alike, after `hops` empty blocking-pool round trips.
async fn credential(State(hops): State<usize>) -> impl IntoResponse {
    for _ in 0..hops {
        let _ = tokio::task::spawn_blocking(|| ()).await;
    }
    ([(CONTENT_TYPE, "application/json")], CREDENTIAL_JSON)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let router = Router::new()
            .route(CREDENTIAL_ROUTE, get(credential).patch(credential))
            .with_state(args.blocking_hops);
        let listener = tokio::net::TcpListener::bind(&args.listen).await?;
        println!("listening on http://{}", listener.local_addr()?);
        axum::serve(listener, router)
            .with_graceful_shutdown(keycred_impl::startup::shutdown_signal())
            .await?;
        Ok(())
    })
}
