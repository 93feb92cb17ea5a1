//! `keycred backup`: a consistent, verified copy of a SQLite database, taken while
//! servers write to it. PostgreSQL has its own tool for this, and is pointed to it.

use crate::config::{BackupConfig, Database};

/// Runs the backup and prints what it wrote; the error is one line for the operator.
pub async fn backup(config: BackupConfig) -> Result<(), String> {
    let database = match config.database {
        Database::Sqlite(path) => path,
        // The URL is not repeated: it may carry a password.
        Database::Postgres(_) => {
            return Err("backup copies SQLite databases only; back up PostgreSQL with pg_dump \
                        (e.g. pg_dump --format=custom --file=keycred.dump \"$KEYCRED_DATABASE\")"
                .to_owned())
        }
    };
    if database.as_os_str().is_empty() {
        return Err("--database is empty: give the SQLite file to back up".to_owned());
    }
    let source = database.display().to_string();
    let output = config.output;
    let summary = tokio::task::spawn_blocking(move || keycred_store::sqlite::backup(&database, &output))
        .await
        .map_err(|error| format!("the backup panicked: {error}"))?
        .map_err(|error| format!("backup failed: {error}"))?;
    println!(
        "backed up {source} to {} ({} bytes; {} organizations, {} service accounts, {} credentials; \
         integrity check ok)",
        summary.output.display(),
        summary.bytes,
        summary.organizations,
        summary.service_accounts,
        summary.credentials
    );
    Ok(())
}
