//! The credential operations under `…/service-accounts/{service_account_id}/credentials`,
//! one file each: `create` (POST), `get` (GET), `update` (PATCH) and `delete` (DELETE).
//! Listing is in `pagination`, `expand=permissions` in `expand`, If-Match in `etags`.

mod create;
mod delete;
mod get;
mod update;
