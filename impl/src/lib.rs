//! keycred's hand-written side: the [`keycred_api::Api`] implementation, auth, the token
//! cache, storage, metrics, configuration and startup.

pub mod auth;
pub mod bootstrap;
pub mod config;
pub mod handlers;
pub mod ids;
pub mod metrics;
pub mod served_contract;
pub mod startup;
pub mod storage;
pub mod token_cache;
