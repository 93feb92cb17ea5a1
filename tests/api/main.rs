//! End-to-end tests of keycred: every test starts the real `keycred serve` binary on a
//! loopback port with a fresh SQLite database, makes credentials with `keycred
//! bootstrap`, and talks plain HTTP/1.1 to it.

mod auth;
mod cli;
mod credential_get;
mod credential_update;
mod errors;
mod expand;
mod health;
mod helpers;
mod lifecycle;
mod request_ids;
mod roles;
mod secrets;
mod tenancy;
mod token;
mod validation;
