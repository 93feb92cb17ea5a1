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

/// keycred's per-connection pragmas, in the order keycred sets them
/// (`store/src/sqlite/connection.rs`, `apply_pragmas`). keycred sets no
/// `page_size`, `cache_size` or `mmap_size`, so neither does the reference: both run
/// with SQLite's defaults for those. With `wal_autocheckpoint` off, the reference
/// checkpoints as keycred does, with keycred's own checkpointer thread.
pub const KEYCRED_PRAGMAS: [(&str, &str); 6] = [
    ("busy_timeout", "5000"),
    ("journal_mode", "WAL"),
    ("synchronous", "FULL"),
    ("foreign_keys", "ON"),
    ("wal_autocheckpoint", "0"),
    ("journal_size_limit", "67108864"),
];

/// Applies [`KEYCRED_PRAGMAS`] to `conn` and checks that WAL mode took hold.
pub fn apply_keycred_pragmas(conn: &Connection) -> rusqlite::Result<()> {
    for (name, value) in KEYCRED_PRAGMAS {
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

/// keycred's PATCH statement, byte for byte as in `queries::update_credential`:
/// `?1` credential ID, `?2` service account ID, `?3` organization ID, `?4` name,
/// `?5` description, `?6` now (epoch milliseconds), `?7`–`?9` the expected
/// `updated_at`, name and description of an `If-Match` update (all NULL otherwise).
pub const UPDATE_CREDENTIAL_SQL: &str = "UPDATE credentials
         SET name = COALESCE(?4, name),
             description = COALESCE(?5, description),
             updated_at = CASE
                 WHEN (?4 IS NOT NULL AND ?4 IS NOT name)
                   OR (?5 IS NOT NULL AND ?5 IS NOT description)
                 THEN ?6
                 ELSE updated_at
             END
         WHERE id = ?1 AND service_account_id = ?2 AND organization_id = ?3
           AND (?7 IS NULL OR (updated_at = ?7 AND name = ?8 AND description IS ?9))
         RETURNING id, organization_id, service_account_id, client_id, name, description,
                   created_at, updated_at, last_used_at";

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

    /// Collapses runs of whitespace, so indentation changes do not matter.
    fn squash(text: &str) -> String {
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn the_update_statement_is_keycreds() {
        let queries = include_str!("../../store/src/sqlite/queries.rs");
        assert!(
            squash(queries).contains(&squash(UPDATE_CREDENTIAL_SQL)),
            "keycred's update_credential SQL changed: copy it into UPDATE_CREDENTIAL_SQL"
        );
    }

    #[test]
    fn the_pragmas_are_keycreds() {
        let connection = squash(include_str!("../../store/src/sqlite/connection.rs"));
        // Every pragma keycred sets, with its value (in the source's order, which is
        // not the order they run in; compared sorted below).
        let mut found = Vec::new();
        let mut rest = connection.as_str();
        while let Some(start) = rest.find("pragma_update") {
            rest = &rest[start..];
            let call = &rest[..rest.find(')').unwrap_or(rest.len())];
            let strings: Vec<&str> = call.split('"').skip(1).step_by(2).collect();
            if let Some(name) = strings.first() {
                let value = match strings.get(1) {
                    Some(value) => (*value).to_owned(),
                    // `busy_timeout` is set from a constant.
                    None if *name == "busy_timeout" => {
                        let constant = connection
                            .split("const BUSY_TIMEOUT_MS: u64 = ")
                            .nth(1)
                            .and_then(|tail| tail.split(';').next())
                            .expect("BUSY_TIMEOUT_MS");
                        constant.to_owned()
                    }
                    None => String::new(),
                };
                found.push(((*name).to_owned(), value));
            }
            rest = &rest["pragma_update".len()..];
        }
        // The reader's extra `query_only` is not a writer pragma.
        found.retain(|(name, _)| name != "query_only");
        found.sort();
        let mut expected: Vec<(String, String)> = KEYCRED_PRAGMAS
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        expected.sort();
        assert_eq!(found, expected, "keycred's pragmas changed: update KEYCRED_PRAGMAS");
        for setting in ["page_size", "cache_size", "mmap_size"] {
            assert!(
                !connection.contains(&format!("\"{setting}\"")),
                "keycred now sets {setting}: the reference must set it too"
            );
        }
    }

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
