//! keycred's API surface, generated from `openapi.yaml` by `build.rs`, plus the small
//! hand-written runtime the generated code calls (errors, decoding, request plumbing).
//!
//! The generated part (models, one `…Params` struct and one `…Response` enum per
//! operation, the [`Api`] trait and [`router`]) lives in OUT_DIR and is never committed.
//! This crate knows nothing about storage.

pub mod decode;
pub mod error;
pub mod request;

pub use error::{ApiError, ErrorCode};
pub use request::{BasicCredentials, ClientAddress, Operation, RequestContext, RequestId};

/// The contract this crate was generated from, byte for byte.
pub const OPENAPI_YAML: &str = include_str!("../../openapi.yaml");

/// The same contract as JSON.
pub const OPENAPI_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

/// The human-readable API reference, rendered from the contract (self-contained HTML).
pub const DOCS_HTML: &str = include_str!(concat!(env!("OUT_DIR"), "/docs.html"));

include!(concat!(env!("OUT_DIR"), "/api.rs"));
