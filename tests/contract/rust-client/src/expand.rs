//! One `expand` value, as the spec describes it: a known `ExpandValue` or any
//! other string (which the server ignores). build.rs maps the spec's `anyOf`
//! to this type, which progenitor cannot serialize as it generates it.

use crate::client::types::ExpandValue;

/// One item of an `expand` query parameter; both variants go on the wire as
/// the plain string (`expand=permissions`).
#[derive(Clone, Debug, serde::Serialize)]
#[serde(untagged)]
pub enum ExpandItem {
    /// A value the server knows, such as `permissions`.
    Known(ExpandValue),
    /// Any other string; the server ignores it.
    Other(String),
}
