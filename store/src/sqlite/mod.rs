//! The embedded SQLite [`Store`]: one writer thread with group commit, a checkpointer
//! thread, a few reader threads with read-only connections, and the schema migrations. All of its SQL lives in
//! this module, the shared `sql` module and `store/migrations/sqlite/`.
//!
//! Layout: `connection` opens connections with their pragmas, `migrations` brings
//! the schema up to date, `writer` runs writes, `checkpointer` copies the log back
//! into the database file, `readers` runs reads, `queries` holds the SQL of each
//! operation and `error` maps SQLite errors.

mod backup;
mod checkpointer;
mod connection;
mod error;
mod migrations;
mod queries;
mod readers;
mod readiness;
mod writer;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Arc;

pub use self::backup::{backup, BackupSummary};
pub use self::checkpointer::{catch_up, Checkpointer};
pub use self::connection::{PRAGMAS, WRITER_PRAGMAS};
use self::error::{from_sqlite, is_foreign_key_violation};
use self::queries::{execute, query_all, query_opt, read_page, OwnedCredentialKey};
use self::readers::ReaderPool;
use self::writer::Writer;
use super::{
    AuditAction, AuditContext, AuditEvent, AuditFilter, ClientRecord, Credential, CredentialFilter, CredentialKey,
    CredentialPatch, IgnoreStorageEvents, Millis, NewCredential, NewToken, Organization, Page, PageRequest, Position,
    RevocationFeed, Revoked, Rotation, ServiceAccount, ServiceAccountPatch, StorageError, StorageObserver,
    StorageResult, Store, TokenDenial, TokenRecord,
};
use crate::rows::AuditRow;
use crate::{paging, rows, sql};

/// Reader threads, each with its own read-only connection: enough for reads to
/// overlap one another and the writer (four served GETs faster than two on two
/// cores), few enough to stay cheap.
const READER_COUNT: usize = 4;

/// A [`Store`] on one SQLite database file, shared safely with other processes
/// (such as the CLI) that open the same file. Dropping it waits for the writes
/// already queued to commit and then closes the database.
pub struct SqliteStore {
    /// The writer thread and its queue; every write goes through it.
    writer: Writer,
    /// The read-only connections; every read goes through them.
    readers: ReaderPool,
}

impl SqliteStore {
    /// Opens the database at `path`, creating it if needed, applies the pragmas
    /// and any pending migrations, and starts the writer, checkpointer and reader threads.
    /// Blocking (it may wait up to the busy timeout for another process's lock):
    /// call it at startup or from a blocking thread, not from async code.
    pub fn open(path: &Path) -> StorageResult<SqliteStore> {
        Self::open_observed(path, Arc::new(IgnoreStorageEvents))
    }

    /// [`SqliteStore::open`], reporting the writer's queue depth and batch sizes and
    /// every failed call to `observer` (the server's metrics).
    pub fn open_observed(path: &Path, observer: Arc<dyn StorageObserver>) -> StorageResult<SqliteStore> {
        Self::open_with_queue_capacity(path, writer::QUEUE_CAPACITY, observer)
    }

    /// [`SqliteStore::open_observed`] with a chosen write-queue capacity (tests use a tiny one).
    fn open_with_queue_capacity(
        path: &Path,
        queue_capacity: usize,
        observer: Arc<dyn StorageObserver>,
    ) -> StorageResult<SqliteStore> {
        let mut writer_conn = connection::open_writer(path)?;
        migrations::migrate(&mut writer_conn)?;
        // Readers open after migrating, so they never see a half-made schema.
        let readers = ReaderPool::open(path, READER_COUNT, Arc::clone(&observer))?;
        let checkpointer = Checkpointer::start(path, Arc::clone(&observer))?;
        let writer = Writer::start(writer_conn, checkpointer, queue_capacity, observer)?;
        Ok(SqliteStore { writer, readers })
    }
}

/// Maps an error from a write whose parent row may be missing: a foreign key
/// violation gets `missing_parent` as its message, anything else the usual mapping.
fn write_error(op: &str, missing_parent: &str, err: rusqlite::Error) -> StorageError {
    if is_foreign_key_violation(&err) {
        StorageError::Internal(format!("{op}: {missing_parent}"))
    } else {
        from_sqlite(op, err)
    }
}

/// keycred's credential PATCH as SQLite runs it, the second of its two statements in
/// the writer's transaction (the first is [`find_credential_sql`], whose row and the
/// patch give the answer): `?1` credential ID, `?2` service account ID, `?3`
/// organization ID, `?4` name, `?5` description, `?6` status, `?7` 1 if the expiry
/// is to be set, `?8` the new expiry, `?9` now (epoch milliseconds), `?10`–`?15` the
/// expected `updated_at`, name, description, status, expiry and
/// `secret_rotated_at` of a conditional update (all NULL otherwise), `?16` the
/// row's rowid as [`find_credential_sql`] answers it; it returns no rows. (A change of status or expiry also runs a statement on the credential's
/// tokens, and every change records an audit event, in the same transaction.)
/// Public so that the benchmark's raw-SQLite ceiling runs exactly keycred's
/// statements rather than copies.
pub fn update_credential_sql() -> &'static str {
    sql::UPDATE_CREDENTIAL_IN_PLACE.sqlite()
}

/// keycred's read of one credential before its update: `?1` credential ID, `?2`
/// service account ID, `?3` organization ID; its columns are
/// [`sql::CREDENTIAL_COLUMNS`], then the row's rowid. Public for the benchmark, as
/// [`update_credential_sql`].
pub fn find_credential_sql() -> &'static str {
    sql::FIND_CREDENTIAL_AND_ROWID.sqlite()
}

impl Store for SqliteStore {
    async fn find_organization(&self, id_or_label: &str) -> StorageResult<Option<Organization>> {
        let id_or_label = id_or_label.to_owned();
        self.readers
            .read("find organization", move |conn| {
                query_opt(conn, &sql::FIND_ORGANIZATION, &rows::one_key(&id_or_label), |row| {
                    rows::organization(row)
                })
            })
            .await
    }

    async fn create_organization(&self, organization: Organization) -> StorageResult<()> {
        self.writer
            .write(move |conn| {
                execute(conn, &sql::INSERT_ORGANIZATION, &rows::new_organization(&organization))
                    .map(drop)
                    .map_err(|err| from_sqlite("create organization", err))
            })
            .await
    }

    async fn create_service_account(&self, service_account: ServiceAccount, audit: AuditContext) -> StorageResult<()> {
        self.writer
            .write(move |conn| {
                let params = rows::new_service_account(&service_account);
                execute(conn, &sql::INSERT_SERVICE_ACCOUNT, &params)
                    .map(|_| {
                        conn.record(audit.service_account_event(AuditAction::ServiceAccountCreated, &service_account));
                    })
                    .map_err(|err| {
                        let missing = format!("organization {} does not exist", service_account.organization_id);
                        write_error("create service account", &missing, err)
                    })
            })
            .await
    }

    async fn list_service_accounts(
        &self,
        organization_id: &str,
        page: PageRequest,
    ) -> StorageResult<Page<ServiceAccount>> {
        let organization_id = organization_id.to_owned();
        self.readers
            .read_snapshot("list service accounts", move |conn| {
                let filter = rows::one_key(&organization_id);
                let plan = paging::plan(&paging::SERVICE_ACCOUNT_LIST, &filter, &page);
                read_page(conn, &plan, |row| rows::service_account(row))
            })
            .await
    }

    async fn find_service_account(
        &self,
        organization_id: &str,
        service_account_id: &str,
    ) -> StorageResult<Option<ServiceAccount>> {
        let organization_id = organization_id.to_owned();
        let service_account_id = service_account_id.to_owned();
        self.readers
            .read("find service account", move |conn| {
                let params = rows::service_account_key(&organization_id, &service_account_id);
                query_opt(conn, &sql::FIND_SERVICE_ACCOUNT, &params, |row| {
                    rows::service_account(row)
                })
            })
            .await
    }

    async fn update_service_account(
        &self,
        organization_id: &str,
        service_account_id: &str,
        patch: ServiceAccountPatch,
        now: Millis,
        expected: Option<ServiceAccount>,
        audit: AuditContext,
    ) -> StorageResult<Option<ServiceAccount>> {
        let organization_id = organization_id.to_owned();
        let service_account_id = service_account_id.to_owned();
        self.writer
            .write(move |conn| {
                queries::update_service_account(
                    conn,
                    &organization_id,
                    &service_account_id,
                    &patch,
                    now,
                    expected.as_ref(),
                    &audit,
                )
                .map_err(|err| from_sqlite("update service account", err))
            })
            .await
    }

    async fn delete_service_account(
        &self,
        organization_id: &str,
        service_account_id: &str,
        expected: Option<ServiceAccount>,
        audit: AuditContext,
    ) -> StorageResult<bool> {
        let organization_id = organization_id.to_owned();
        let service_account_id = service_account_id.to_owned();
        self.writer
            .write(move |conn| {
                queries::delete_service_account(conn, &organization_id, &service_account_id, expected.as_ref(), &audit)
                    .map_err(|err| from_sqlite("delete service account", err))
            })
            .await
    }

    async fn create_credential(&self, credential: NewCredential, audit: AuditContext) -> StorageResult<bool> {
        self.writer
            .write(move |conn| {
                execute(conn, &sql::INSERT_CREDENTIAL, &rows::new_credential(&credential))
                    .map(|inserted| {
                        if inserted > 0 {
                            let key = credential.credential.key();
                            conn.record(audit.credential_event(AuditAction::CredentialCreated, key));
                        }
                        inserted > 0
                    })
                    .map_err(|err| {
                        // The service account was checked in this same statement, so
                        // a foreign key error here means something is badly wrong.
                        let missing = format!(
                            "service account {} does not exist in organization {}",
                            credential.credential.service_account_id, credential.credential.organization_id
                        );
                        write_error("create credential", &missing, err)
                    })
            })
            .await
    }

    async fn list_credentials(
        &self,
        organization_id: &str,
        service_account_id: &str,
        page: PageRequest,
    ) -> StorageResult<Page<Credential>> {
        let organization_id = organization_id.to_owned();
        let service_account_id = service_account_id.to_owned();
        self.readers
            .read_snapshot("list credentials", move |conn| {
                let filter = [&organization_id, &service_account_id].map(|id| rows::one_key(id)[0]);
                let plan = paging::plan(&paging::CREDENTIAL_LIST, &filter, &page);
                read_page(conn, &plan, |row| rows::credential(row))
            })
            .await
    }

    async fn list_organization_credentials(
        &self,
        organization_id: &str,
        filter: CredentialFilter,
        now: Millis,
        page: PageRequest,
    ) -> StorageResult<Page<Credential>> {
        let organization_id = organization_id.to_owned();
        self.readers
            .read_snapshot("list organization credentials", move |conn| {
                let (list, filter) = paging::organization_credentials(&organization_id, &filter, now);
                let plan = paging::plan(list, &filter, &page);
                read_page(conn, &plan, |row| rows::credential(row))
            })
            .await
    }

    async fn delete_credential(
        &self,
        key: CredentialKey<'_>,
        expected: Option<Credential>,
        audit: AuditContext,
    ) -> StorageResult<bool> {
        let key = owned_key(key);
        self.writer
            .write(move |conn| {
                let params = rows::credential_delete(&key.borrow(), expected.as_ref());
                execute(conn, &sql::DELETE_CREDENTIAL, &params)
                    .map(|deleted| {
                        if deleted > 0 {
                            conn.record(audit.credential_event(AuditAction::CredentialDeleted, key.borrow()));
                        }
                        deleted > 0
                    })
                    .map_err(|err| from_sqlite("delete credential", err))
            })
            .await
    }

    async fn find_credential(&self, key: CredentialKey<'_>) -> StorageResult<Option<Credential>> {
        let key = owned_key(key);
        self.readers
            .read("find credential", move |conn| {
                let params = rows::credential_key(&key.borrow());
                query_opt(conn, &sql::FIND_CREDENTIAL, &params, |row| rows::credential(row))
            })
            .await
    }

    async fn update_credential(
        &self,
        key: CredentialKey<'_>,
        patch: CredentialPatch,
        now: Millis,
        expected: Option<Credential>,
        audit: AuditContext,
    ) -> StorageResult<Option<Credential>> {
        let key = owned_key(key);
        self.writer
            .write(move |conn| {
                queries::update_credential(conn, key.borrow(), &patch, now, expected.as_ref(), &audit)
                    .map_err(|err| from_sqlite("update credential", err))
            })
            .await
    }

    async fn rotate_credential(
        &self,
        key: CredentialKey<'_>,
        rotation: Rotation,
        expected: Option<Credential>,
        audit: AuditContext,
    ) -> StorageResult<Option<Credential>> {
        let key = owned_key(key);
        self.writer
            .write(move |conn| {
                queries::rotate_credential(conn, key.borrow(), &rotation, expected.as_ref(), &audit)
                    .map_err(|err| from_sqlite("rotate credential", err))
            })
            .await
    }

    async fn find_client(&self, client_id: &str) -> StorageResult<Option<ClientRecord>> {
        let client_id = client_id.to_owned();
        self.readers
            .read("find client", move |conn| {
                query_opt(conn, &sql::FIND_CLIENT, &rows::one_key(&client_id), |row| {
                    rows::client(row)
                })
            })
            .await
    }

    async fn insert_token(&self, token: NewToken, audit: AuditContext) -> StorageResult<bool> {
        self.writer
            .write(move |conn| {
                queries::insert_token(conn, &token, &audit).map_err(|err| {
                    let missing = format!("credential {} does not exist", token.credential_id);
                    write_error("insert token", &missing, err)
                })
            })
            .await
    }

    async fn find_token(&self, token_id: &str) -> StorageResult<Option<TokenRecord>> {
        let token_id = token_id.to_owned();
        self.readers
            .read("find token", move |conn| {
                query_opt(conn, &sql::FIND_TOKEN, &rows::one_key(&token_id), |row| {
                    rows::token(row)
                })
            })
            .await
    }

    async fn revoke_token(
        &self,
        token_id: &str,
        secret_hash: [u8; 32],
        credential: CredentialKey<'_>,
        audit: AuditContext,
    ) -> StorageResult<bool> {
        let (token_id, key) = (token_id.to_owned(), owned_key(credential));
        self.writer
            .write(move |conn| {
                let params = rows::token_revocation(&token_id, &key.credential_id, &secret_hash);
                execute(conn, &sql::REVOKE_TOKEN, &params)
                    .map(|deleted| {
                        if deleted > 0 {
                            conn.record(audit.credential_event(AuditAction::TokenRevoked, key.borrow()));
                        }
                        deleted > 0
                    })
                    .map_err(|err| from_sqlite("revoke token", err))
            })
            .await
    }

    async fn record_token_denials(&self, denials: Vec<TokenDenial>) -> StorageResult<()> {
        self.writer
            .write(move |conn| {
                for denial in &denials {
                    let row = AuditRow::new(denial.event(), Some(denial.fold_key()));
                    execute(conn, &sql::RECORD_TOKEN_DENIAL, &row.params())
                        .map_err(|err| from_sqlite("record token denials", err))?;
                }
                Ok(())
            })
            .await
    }

    async fn list_audit_events(
        &self,
        organization_id: &str,
        filter: AuditFilter,
        page: PageRequest,
    ) -> StorageResult<Page<AuditEvent>> {
        let organization_id = organization_id.to_owned();
        self.readers
            .read_snapshot("list audit events", move |conn| {
                let leading = paging::audit_events(&organization_id, &filter);
                let plan = paging::plan(&paging::AUDIT_EVENT_LIST, &leading, &page);
                read_page(conn, &plan, |row| rows::audit_event(row))
            })
            .await
    }

    async fn export_audit_events(
        &self,
        organization_id: Option<&str>,
        after: Position,
        limit: usize,
    ) -> StorageResult<Vec<AuditEvent>> {
        let organization_id = organization_id.map(str::to_owned);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.readers
            .read("export audit events", move |conn| {
                let start = rows::audit_export_start(&after);
                let params = rows::audit_export(organization_id.as_deref(), &start, limit);
                query_all(conn, &sql::EXPORT_AUDIT_EVENTS, &params, |row| rows::audit_event(row))
            })
            .await
    }

    async fn prune_audit_events(&self, before: Millis, limit: usize) -> StorageResult<usize> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.writer
            .write(move |conn| {
                let below = rows::audit_prune_below(before);
                execute(conn, &sql::PRUNE_AUDIT_EVENTS, &rows::audit_prune(&below, limit))
                    .map_err(|err| from_sqlite("prune audit events", err))
            })
            .await
    }

    /// Nothing to do: this process is the only server of the file (see the trait).
    async fn announce_revocation(&self, _revoked: Revoked) -> StorageResult<()> {
        Ok(())
    }

    /// A feed that has already ended: no other instance can share a SQLite file.
    fn subscribe_revocations(&self) -> RevocationFeed {
        let (_announcer, feed) = tokio::sync::mpsc::unbounded_channel();
        feed
    }

    async fn cursor_key(&self) -> StorageResult<Vec<u8>> {
        self.readers
            .read("read cursor key", |conn| {
                query_opt(conn, &sql::CURSOR_KEY, &[], |row| rows::cursor_key(row))
            })
            .await?
            .ok_or_else(|| StorageError::Internal("read cursor key: no key (migration 3 not applied?)".to_owned()))
    }

    async fn check_ready(&self) -> StorageResult<()> {
        self.readers.read("readiness query", readiness::read_check).await?;
        self.writer.write(|conn| readiness::write_check(conn)).await
    }
}

/// Copies a borrowed key so it can move to the writer thread or a reader thread.
fn owned_key(key: CredentialKey<'_>) -> OwnedCredentialKey {
    OwnedCredentialKey {
        organization_id: key.organization_id.to_owned(),
        service_account_id: key.service_account_id.to_owned(),
        credential_id: key.credential_id.to_owned(),
    }
}
