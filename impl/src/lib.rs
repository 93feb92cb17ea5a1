//! keycred's hand-written side: the [`keycred_api::Api`] implementation, auth, the token
//! cache, the limits on failed client authentication, metrics, configuration,
//! the HTTP server, TLS and startup.

pub mod audit;
pub mod audit_export;
pub mod auth;
pub mod backup;
pub mod bootstrap;
pub mod client_address;
pub mod config;
pub mod database_files;
pub mod handlers;
pub mod ids;
pub mod listeners;
pub mod log_line;
pub mod log_writer;
pub mod metrics;
pub mod probe;
pub mod rate_limit;
pub mod served_contract;
pub mod server;
pub mod startup;
pub mod tls;
pub mod token_cache;
