//! Shared pieces of keycred's benchmark tools: the credential paths the load
//! generator hits, and the copies of keycred's SQLite pragmas and UPDATE statement
//! that the raw SQLite reference runs.
//!
//! The copies are checked against keycred's sources by this crate's tests, so the
//! reference cannot silently drift from what keycred really does.

use std::path::Path;

use rusqlite::Connection;

/// The route of one credential, with `{…}` where the IDs go (as in `openapi.yaml`).
pub const CREDENTIAL_ROUTE: &str =
    "/organizations/{organization_id}/service-accounts/{service_account_id}/credentials/{credential_id}";

/// The three IDs that reach one credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialKey {
    /// The organization's ID.
    pub organization_id: String,
    /// The service account's ID.
    pub service_account_id: String,
    /// The credential's ID.
    pub credential_id: String,
}

impl CredentialKey {
    /// The credential's path in the API (no host, no query).
    pub fn path(&self) -> String {
        format!(
            "/organizations/{}/service-accounts/{}/credentials/{}",
            self.organization_id, self.service_account_id, self.credential_id
        )
    }

    /// Parses a path made by [`CredentialKey::path`]; `None` for anything else.
    pub fn from_path(path: &str) -> Option<CredentialKey> {
        let parts: Vec<&str> = path.trim().trim_start_matches('/').split('/').collect();
        match parts.as_slice() {
            ["organizations", organization_id, "service-accounts", service_account_id, "credentials", credential_id] => {
                Some(CredentialKey {
                    organization_id: (*organization_id).to_owned(),
                    service_account_id: (*service_account_id).to_owned(),
                    credential_id: (*credential_id).to_owned(),
                })
            }
            _ => None,
        }
    }
}

/// Reads a file of credential paths (one a line, as `seed` writes them).
pub fn read_credential_paths(file: &Path) -> Result<Vec<CredentialKey>, String> {
    let text = std::fs::read_to_string(file).map_err(|err| format!("cannot read {}: {err}", file.display()))?;
    let keys = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| CredentialKey::from_path(line).ok_or_else(|| format!("not a credential path: {line:?}")))
        .collect::<Result<Vec<_>, _>>()?;
    if keys.is_empty() {
        return Err(format!("{} lists no credential paths", file.display()));
    }
    Ok(keys)
}

/// Applies the pragmas of keycred's writer connection ([`keycred_store::sqlite::PRAGMAS`]
/// then [`keycred_store::sqlite::WRITER_PRAGMAS`], in keycred's order) to `conn` and
/// checks that WAL mode took hold. keycred sets no `page_size` or `mmap_size`, so
/// neither does the reference: both run with SQLite's defaults for those. With
/// `wal_autocheckpoint` off, the reference checkpoints as keycred does, with
/// keycred's own checkpointer thread.
pub fn apply_keycred_pragmas(conn: &Connection) -> rusqlite::Result<()> {
    let writer_pragmas = keycred_store::sqlite::PRAGMAS
        .into_iter()
        .chain(keycred_store::sqlite::WRITER_PRAGMAS);
    for (name, value) in writer_pragmas {
        if name == "journal_mode" {
            let mode: String = conn.pragma_update_and_check(None, name, value, |row| row.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(rusqlite::Error::InvalidParameterName(format!(
                    "journal_mode is {mode}, expected wal"
                )));
            }
        } else {
            conn.pragma_update(None, name, value)?;
        }
    }
    Ok(())
}

/// The settings a connection actually runs with, as `name=value` pairs, for the report.
pub fn effective_settings(conn: &Connection) -> rusqlite::Result<Vec<(String, String)>> {
    let names = [
        "journal_mode",
        "synchronous",
        "foreign_keys",
        "busy_timeout",
        "page_size",
        "cache_size",
        "mmap_size",
        "wal_autocheckpoint",
        "journal_size_limit",
    ];
    names
        .iter()
        .map(|name| {
            let value: rusqlite::types::Value = conn.pragma_query_value(None, name, |row| row.get(0))?;
            let shown = match value {
                rusqlite::types::Value::Integer(number) => number.to_string(),
                rusqlite::types::Value::Text(text) => text,
                other => format!("{other:?}"),
            };
            Ok(((*name).to_owned(), shown))
        })
        .collect()
}

/// Milliseconds since the Unix epoch, as keycred stamps `updated_at`.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The value at the `fraction` quantile (0.0–1.0) of `sorted`, by nearest rank.
pub fn quantile(sorted: &[f64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (fraction * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip() {
        let key = CredentialKey {
            organization_id: "o".repeat(26),
            service_account_id: "s".repeat(26),
            credential_id: "c".repeat(26),
        };
        assert_eq!(CredentialKey::from_path(&key.path()), Some(key));
        assert_eq!(CredentialKey::from_path("/organizations/o"), None);
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&sorted, 0.5), 50.0);
        assert_eq!(quantile(&sorted, 0.99), 99.0);
        assert_eq!(quantile(&sorted, 1.0), 100.0);
    }
}
