//! `keycred audit export`: the audit trail as JSON Lines on stdout, oldest first, each
//! event shaped as the API shows it, read page by page so that any size fits in memory.

use std::io::{BufWriter, Write};
use std::sync::Arc;

use keycred_store::postgres::PgStore;
use keycred_store::{IgnoreStorageEvents, Position, StorageObserver, Store};

use crate::config::{AuditExportConfig, Database};
use crate::handlers::audit_event_model;

/// How many events are read from the database at a time.
const EXPORT_PAGE: usize = 1_000;

/// Writes the events `config` selects to stdout; how many it wrote. Stops quietly if
/// stdout is closed (a pipe into `head`).
pub async fn export(config: AuditExportConfig) -> Result<u64, String> {
    let observer: Arc<dyn StorageObserver> = Arc::new(IgnoreStorageEvents);
    match &config.database {
        Database::Sqlite(path) => {
            let path = path.clone();
            let store =
                tokio::task::spawn_blocking(move || keycred_store::sqlite::SqliteStore::open_observed(&path, observer))
                    .await
                    .map_err(|error| format!("cannot open the database: {error}"))?
                    .map_err(|error| format!("cannot open the database: {error}"))?;
            export_from(&store, &config).await
        }
        Database::Postgres(url) => {
            let store = PgStore::connect(url, observer)
                .await
                .map_err(|error| format!("cannot open the database: {error}"))?;
            export_from(&store, &config).await
        }
    }
}

/// [`export`] from an open store.
async fn export_from<S: Store>(store: &S, config: &AuditExportConfig) -> Result<u64, String> {
    let organization_id = match &config.organization {
        None => None,
        Some(id_or_label) => {
            let found = store
                .find_organization(id_or_label)
                .await
                .map_err(|error| format!("cannot read the organization: {error}"))?;
            let organization = found.ok_or_else(|| format!("no organization has the ID or label {id_or_label:?}"))?;
            Some(organization.id)
        }
    };
    // Strictly after (since, ""): every event of that millisecond or later.
    let mut after = Position {
        created_at: config.since.unwrap_or(i64::MIN),
        id: String::new(),
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut written = 0;
    loop {
        let events = store
            .export_audit_events(organization_id.as_deref(), after.clone(), EXPORT_PAGE)
            .await
            .map_err(|error| format!("cannot read the audit events: {error}"))?;
        let last_page = events.len() < EXPORT_PAGE;
        if let Some(last) = events.last() {
            after = Position {
                created_at: last.occurred_at,
                id: last.id.clone(),
            };
        }
        for event in events {
            let line = serde_json::to_string(&audit_event_model(event)).map_err(|error| error.to_string())?;
            if let Err(error) = writeln!(out, "{line}") {
                return stdout_closed(error, written);
            }
            written += 1;
        }
        if last_page {
            break;
        }
    }
    match out.flush() {
        Ok(()) => Ok(written),
        Err(error) => stdout_closed(error, written),
    }
}

/// A closed stdout ends the export without an error; any other write error is one.
fn stdout_closed(error: std::io::Error, written: u64) -> Result<u64, String> {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(written)
    } else {
        Err(format!("cannot write to stdout: {error}"))
    }
}
