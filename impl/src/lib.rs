//! keycred's hand-written side: the [`keycred_api::Api`] implementation, auth, storage,
//! configuration and startup.

pub mod auth;
pub mod bootstrap;
pub mod config;
pub mod handlers;
pub mod ids;
pub mod served_contract;
pub mod startup;
pub mod storage;
