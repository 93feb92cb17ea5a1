//! The credential operations under `…/service-accounts/{service_account_id}/credentials`,
//! one file each: `create` (POST), `get` (GET), `update` (PATCH) and `delete` (DELETE).
//! Listing is in `pagination`, `expand=permissions` in `expand`, If-Match in `etags`;
//! `organization_list` is the organization-wide list
//! (`GET /organizations/{organization_id}/credentials`) with its filters;
//! `lifecycle` has status, expiry and rotation (`POST …/{credential_id}/rotate`).

mod create;
mod delete;
mod get;
mod lifecycle;
mod organization_list;
mod update;
