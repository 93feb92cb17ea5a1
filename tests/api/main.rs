//! End-to-end tests of keycred: every test starts the real `keycred serve` binary on a
//! loopback port with a fresh database, makes credentials with `keycred bootstrap`, and
//! talks plain HTTP/1.1 to it — or HTTP/1.1 over TLS, with `KEYCRED_TEST_TLS=1`, which
//! starts every server on HTTPS with a test certificate (`helpers/tls.rs`; `scripts/test.sh`
//! runs the hostile-input and slow-client tests that way too). `tls` tests HTTPS itself.
//!
//! The whole suite runs on either backend: a SQLite file per test by default, or a
//! PostgreSQL database per test with `KEYCRED_TEST_BACKEND=postgres` (see
//! `helpers/database.rs`); `scripts/test.sh` runs it both ways. The few tests that only
//! make sense on PostgreSQL (`multi_instance`) are `#[ignore]`d with that reason, and run
//! with `-- --include-ignored` on PostgreSQL.

mod audit;
mod auth;
mod backup;
mod cli;
mod container;
mod crash_consistency;
mod credentials;
mod database_files;
mod errors;
mod etags;
mod expand;
mod health;
mod helpers;
mod lifecycle;
mod log_format;
mod metrics;
mod multi_instance;
mod organizations;
mod pagination;
mod request_ids;
mod roles;
mod secrets;
mod service_accounts;
mod slow_clients;
mod startup_errors;
mod storage_faults;
mod tenancy;
mod tls;
mod token;
