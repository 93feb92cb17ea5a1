//! The PostgreSQL [`Store`], for running several stateless keycred instances on one
//! database: a pool of connections (deadpool-postgres over tokio-postgres), the
//! schema migrations taken under an advisory lock, and the SQL of each operation.
//!
//! Every write is one transaction, committed before its future resolves: the change,
//! what it means for the tokens (a disable, an expiry, a rotation that revokes
//! them), and its audit event. A token mint is one statement doing all of that.
//! PostgreSQL's own durability settings apply; the default, `synchronous_commit =
//! on`, flushes the WAL before the commit is acknowledged.
//! A list page is read in one REPEATABLE READ, READ ONLY transaction, so its rows
//! and its "is there more?" answer come from one snapshot. Nothing is cached in the
//! process, so every instance reads what any instance wrote once that write was
//! acknowledged; only the token cache (keycred-impl's token cache) keeps anything,
//! for at most its TTL, and it hears every other instance's revocations at once:
//! [`Store::announce_revocation`] is a `NOTIFY` on a pooled connection, and
//! [`Store::subscribe_revocations`] starts a listener with a connection of its own.
//!
//! Layout: `migrations` brings the schema up to date, `queries` holds the SQL of
//! each operation, `listener` listens for revocations and `error` maps driver and
//! pool errors.
//!
//! PostgreSQL cannot store the NUL character in text. No stored identifier, label
//! or client_id can contain it, so a lookup by such a key finds nothing without
//! asking the database (exactly what SQLite answers); the handlers refuse it in
//! names and descriptions, on both backends alike.

mod error;
mod listener;
mod migrations;
mod queries;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::{IsolationLevel, NoTls};

use self::error::{from_pg, from_pool, is_foreign_key_violation};
use self::queries::{query_all, query_opt, record, PgRow};
use super::{
    AuditAction, AuditContext, AuditEvent, AuditFilter, ClientRecord, Credential, CredentialFilter, CredentialKey,
    CredentialPatch, Millis, NewCredential, NewToken, Organization, Page, PageRequest, Position, RevocationFeed,
    Revoked, Rotation, ServiceAccount, ServiceAccountPatch, StorageError, StorageObserver, StorageResult, Store,
    TokenDenial, TokenRecord,
};
use crate::paging::{self, PagePlan};
use crate::revocations;
use crate::rows::AuditRow;
use crate::rows::{self, Value};
use crate::sql::{self, Statement};

/// The most connections one instance opens. N instances open up to N times this,
/// which must stay under the server's `max_connections` (100 by default).
pub const POOL_SIZE: usize = 16;

/// How long a request waits for a free connection (or for a new one to be made)
/// before it is refused as `Unavailable` (a 503 with `Retry-After`).
const POOL_WAIT: Duration = Duration::from_secs(5);

/// How long opening one connection may take, unless the URL sets `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How the pool is sized and how long it waits; tests use a tiny one.
#[derive(Debug, Clone, Copy)]
struct PoolSettings {
    /// The most connections open at once.
    size: usize,
    /// How long a caller waits for one.
    wait: Duration,
}

/// A [`Store`] on one PostgreSQL database, shared safely with other keycred
/// instances (and `keycred bootstrap`) on the same database.
pub struct PgStore {
    /// The connections; every operation borrows one for its statement or transaction.
    pool: Pool,
    /// Told of writes waiting for a connection, of each write committed, and of every failure.
    observer: Arc<dyn StorageObserver>,
    /// How to connect, for the revocation listener's connection of its own.
    config: tokio_postgres::Config,
    /// Random, and sent with every revocation this store announces, so that its own
    /// listener can tell them from the other instances'.
    origin: Arc<str>,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://…` or `postgresql://…`; no TLS),
    /// applies any pending migrations under the migration lock, and keeps a pool of
    /// up to [`POOL_SIZE`] connections. Fails, as `Unavailable`, if the server cannot
    /// be reached.
    pub async fn connect(url: &str, observer: Arc<dyn StorageObserver>) -> StorageResult<PgStore> {
        let settings = PoolSettings {
            size: POOL_SIZE,
            wait: POOL_WAIT,
        };
        Self::connect_with(url, settings, observer).await
    }

    /// [`PgStore::connect`] with a chosen pool.
    async fn connect_with(
        url: &str,
        settings: PoolSettings,
        observer: Arc<dyn StorageObserver>,
    ) -> StorageResult<PgStore> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|err| StorageError::Internal(format!("not a valid PostgreSQL URL: {err}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("keycred");
        }
        // Fast recycling: a connection that broke is noticed (it reports closed) and
        // replaced; one that breaks mid-request fails that request as Unavailable.
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(settings.size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(settings.wait))
            .create_timeout(Some(settings.wait))
            .recycle_timeout(Some(settings.wait))
            .build()
            .map_err(|err| StorageError::Internal(format!("build the connection pool: {err}")))?;

        let mut client = pool
            .get()
            .await
            .map_err(|err| from_pool("connect to the database", err))?;
        migrations::migrate(&mut client, chrono::Utc::now().timestamp_millis()).await?;
        drop(client);
        Ok(PgStore {
            pool,
            observer,
            config,
            origin: uuid::Uuid::new_v4().simple().to_string().into(),
        })
    }

    /// A connection for a read.
    async fn reader(&self, op: &str) -> StorageResult<Object> {
        self.pool.get().await.map_err(|err| from_pool(op, err))
    }

    /// A connection for a write, counted as a waiting write while it is awaited
    /// (the pool takes the place of SQLite's writer queue), and the wait reported.
    async fn writer(&self, op: &str) -> StorageResult<Object> {
        self.observer.write_queue_changed(1);
        let waiting = Instant::now();
        let connection = self.pool.get().await;
        self.observer.write_queue_changed(-1);
        let connection = connection.map_err(|err| from_pool(op, err))?;
        self.observer.write_waited(waiting.elapsed());
        Ok(connection)
    }

    /// Awaits one write's statement, which is its own transaction, and reports
    /// its commit.
    async fn commit<T, E>(&self, statement: impl Future<Output = Result<T, E>>) -> Result<T, E> {
        let began = Instant::now();
        let result = statement.await;
        if result.is_ok() {
            self.observer.committed(1, began.elapsed());
        }
        result
    }

    /// Awaits `work` and reports its failure, if any, to the observer.
    async fn observed<T>(&self, work: impl Future<Output = StorageResult<T>>) -> StorageResult<T> {
        let result = work.await;
        if let Err(error) = &result {
            self.observer.storage_failed(error);
        }
        result
    }

    /// Reads one page of a list in one REPEATABLE READ, READ ONLY transaction.
    async fn list<T>(
        &self,
        op: &str,
        plan: PagePlan<'_>,
        read: impl Fn(&PgRow<'_>) -> StorageResult<T>,
    ) -> StorageResult<Page<T>> {
        let mut client = self.reader(op).await?;
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(|err| from_pg(op, err))?;
        let page = queries::read_page(&tx, op, &plan, read).await?;
        tx.commit().await.map_err(|err| from_pg(op, err))?;
        Ok(page)
    }

    /// Runs the credential write `statement` with `params` on the credential at `key`
    /// and then, if it returned the credential, the token statement `consequence`
    /// picks for it and the audit event `event` makes of the credential before and
    /// after, in one transaction (READ COMMITTED: the token statement's snapshot is
    /// taken after the credential's row lock was, so it sees every token minted
    /// before that lock was released).
    async fn write_credential(
        &self,
        op: &str,
        key: CredentialKey<'_>,
        (statement, params): (&Statement, &[Value<'_>]),
        consequence: rows::TokenConsequence,
        event: impl FnOnce(&Credential, &Credential) -> Option<AuditEvent>,
    ) -> StorageResult<Option<Credential>> {
        let mut client = self.writer(op).await?;
        let work = async {
            let tx = client.transaction().await.map_err(|err| from_pg(op, err))?;
            let key = rows::credential_key(&key);
            let found = query_opt(&tx, op, &sql::FIND_CREDENTIAL_FOR_UPDATE, &key, |row| {
                rows::credential(row)
            });
            let Some(before) = found.await? else {
                return Ok(None);
            };
            let written = query_opt(&tx, op, statement, params, |row| rows::credential(row)).await?;
            if let Some((statement, params)) = written.as_ref().and_then(consequence) {
                queries::execute(&tx, statement, &params)
                    .await
                    .map_err(|err| from_pg(op, err))?;
            }
            if let Some(event) = written.as_ref().and_then(|after| event(&before, after)) {
                record(&tx, op, event).await?;
            }
            tx.commit().await.map_err(|err| from_pg(op, err))?;
            Ok(written)
        };
        self.commit(work).await
    }

    /// Runs the write `statement` and, if it changed a row, records the event
    /// `event` makes, in one transaction: whether it changed a row, or, for a
    /// foreign key that refused it, `missing_parent`'s answer.
    async fn write_recorded(
        &self,
        op: &str,
        (statement, params): (&Statement, &[Value<'_>]),
        event: impl FnOnce() -> AuditEvent,
        missing_parent: impl FnOnce() -> StorageResult<bool>,
    ) -> StorageResult<bool> {
        let mut client = self.writer(op).await?;
        let work = async {
            let tx = client.transaction().await.map_err(|err| from_pg(op, err))?;
            match queries::execute(&tx, statement, params).await {
                Ok(0) => return Ok(false),
                Ok(_) => {}
                Err(err) if is_foreign_key_violation(&err) => return missing_parent(),
                Err(err) => return Err(from_pg(op, err)),
            }
            record(&tx, op, event()).await?;
            tx.commit().await.map_err(|err| from_pg(op, err))?;
            Ok(true)
        };
        self.commit(work).await
    }

    /// Runs the write `statement`: the number of rows it changed, or, for a
    /// foreign key that refused it, `missing_parent`'s answer.
    async fn write(
        &self,
        op: &str,
        statement: &Statement,
        params: &[Value<'_>],
        missing_parent: impl FnOnce() -> StorageResult<u64>,
    ) -> StorageResult<u64> {
        let client = self.writer(op).await?;
        match self.commit(queries::execute(&client, statement, params)).await {
            Ok(changed) => Ok(changed),
            Err(err) if is_foreign_key_violation(&err) => missing_parent(),
            Err(err) => Err(from_pg(op, err)),
        }
    }
}

/// The answer for a write that must never meet a missing parent: an `Internal`
/// error naming it (as on SQLite).
fn parent_missing(op: &str, missing: String) -> StorageResult<u64> {
    Err(StorageError::Internal(format!("{op}: {missing}")))
}

/// An empty page, for a list under a key no row can have.
fn empty_page<T>() -> StorageResult<Page<T>> {
    Ok(Page {
        items: Vec::new(),
        has_next_page: false,
        has_prev_page: false,
    })
}

/// True if any of `keys` contains NUL, which no stored key can (see the module docs).
fn unstorable(keys: &[&str]) -> bool {
    keys.iter().any(|key| key.contains('\0'))
}

/// The three IDs of `key`, for [`unstorable`].
fn key_parts<'a>(key: &CredentialKey<'a>) -> [&'a str; 3] {
    [key.organization_id, key.service_account_id, key.credential_id]
}

impl Store for PgStore {
    async fn find_organization(&self, id_or_label: &str) -> StorageResult<Option<Organization>> {
        if unstorable(&[id_or_label]) {
            return Ok(None);
        }
        let op = "find organization";
        self.observed(async {
            let client = self.reader(op).await?;
            let params = rows::one_key(id_or_label);
            query_opt(&client, op, &sql::FIND_ORGANIZATION, &params, |row| {
                rows::organization(row)
            })
            .await
        })
        .await
    }

    async fn create_organization(&self, organization: Organization) -> StorageResult<()> {
        let params = rows::new_organization(&organization);
        let op = "create organization";
        let write = self.write(op, &sql::INSERT_ORGANIZATION, &params, || Ok(0));
        self.observed(write).await.map(drop)
    }

    async fn create_service_account(&self, service_account: ServiceAccount, audit: AuditContext) -> StorageResult<()> {
        let params = rows::new_service_account(&service_account);
        let op = "create service account";
        let missing = || {
            parent_missing(
                op,
                format!("organization {} does not exist", service_account.organization_id),
            )
            .map(|_| false)
        };
        let event = || audit.service_account_event(AuditAction::ServiceAccountCreated, &service_account);
        let write = self.write_recorded(op, (&sql::INSERT_SERVICE_ACCOUNT, &params), event, missing);
        self.observed(write).await.map(drop)
    }

    async fn list_service_accounts(
        &self,
        organization_id: &str,
        page: PageRequest,
    ) -> StorageResult<Page<ServiceAccount>> {
        if unstorable(&[organization_id]) {
            return empty_page();
        }
        let filter = rows::one_key(organization_id);
        let plan = paging::plan(&paging::SERVICE_ACCOUNT_LIST, &filter, &page);
        self.observed(self.list("list service accounts", plan, |row| rows::service_account(row)))
            .await
    }

    async fn find_service_account(
        &self,
        organization_id: &str,
        service_account_id: &str,
    ) -> StorageResult<Option<ServiceAccount>> {
        if unstorable(&[organization_id, service_account_id]) {
            return Ok(None);
        }
        let op = "find service account";
        let params = rows::service_account_key(organization_id, service_account_id);
        self.observed(async {
            let client = self.reader(op).await?;
            query_opt(&client, op, &sql::FIND_SERVICE_ACCOUNT, &params, |row| {
                rows::service_account(row)
            })
            .await
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
        if unstorable(&[organization_id, service_account_id]) {
            return Ok(None);
        }
        let op = "update service account";
        let key = rows::service_account_key(organization_id, service_account_id);
        let params = rows::service_account_update(organization_id, service_account_id, &patch, now, expected.as_ref());
        self.observed(async {
            let mut client = self.writer(op).await?;
            let work = async {
                let tx = client.transaction().await.map_err(|err| from_pg(op, err))?;
                let found = query_opt(&tx, op, &sql::FIND_SERVICE_ACCOUNT_FOR_UPDATE, &key, |row| {
                    rows::service_account(row)
                });
                let Some(before) = found.await? else {
                    return Ok(None);
                };
                let updated = query_opt(&tx, op, &sql::UPDATE_SERVICE_ACCOUNT, &params, |row| {
                    rows::service_account(row)
                })
                .await?;
                if let Some(event) = updated
                    .as_ref()
                    .and_then(|after| audit.service_account_update_event(&before, after))
                {
                    record(&tx, op, event).await?;
                }
                tx.commit().await.map_err(|err| from_pg(op, err))?;
                Ok(updated)
            };
            self.commit(work).await
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
        if unstorable(&[organization_id, service_account_id]) {
            return Ok(false);
        }
        let op = "delete service account";
        let key = rows::service_account_key(organization_id, service_account_id);
        let params = rows::service_account_delete(organization_id, service_account_id, expected.as_ref());
        self.observed(async {
            let mut client = self.writer(op).await?;
            let work = async {
                let tx = client.transaction().await.map_err(|err| from_pg(op, err))?;
                // Locking the service account first holds off new credentials of it
                // (see FIND_SERVICE_ACCOUNT_FOR_UPDATE), so the list read next is
                // every credential the delete takes with it.
                let found = query_opt(&tx, op, &sql::FIND_SERVICE_ACCOUNT_FOR_UPDATE, &key, |row| {
                    rows::service_account(row)
                });
                let Some(before) = found.await? else {
                    return Ok(false);
                };
                let credentials = query_all(&tx, op, &sql::CREDENTIALS_OF_SERVICE_ACCOUNT, &key, |row| {
                    rows::credential(row)
                })
                .await?;
                let deleted = queries::execute(&tx, &sql::DELETE_SERVICE_ACCOUNT, &params)
                    .await
                    .map_err(|err| from_pg(op, err))?;
                if deleted == 0 {
                    return Ok(false);
                }
                for credential in &credentials {
                    let event = audit.credential_event(AuditAction::CredentialDeleted, credential.key());
                    record(&tx, op, event).await?;
                }
                let event = audit.service_account_event(AuditAction::ServiceAccountDeleted, &before);
                record(&tx, op, event).await?;
                tx.commit().await.map_err(|err| from_pg(op, err))?;
                Ok(true)
            };
            self.commit(work).await
        })
        .await
    }

    async fn create_credential(&self, credential: NewCredential, audit: AuditContext) -> StorageResult<bool> {
        let parent = &credential.credential;
        if unstorable(&[&parent.organization_id, &parent.service_account_id]) {
            return Ok(false);
        }
        // A service account deleted between the statement's check and its insert
        // makes the foreign key refuse the row: the same "not there" as the check.
        let params = rows::new_credential(&credential);
        let event = || audit.credential_event(AuditAction::CredentialCreated, parent.key());
        let write = self.write_recorded("create credential", (&sql::INSERT_CREDENTIAL, &params), event, || {
            Ok(false)
        });
        self.observed(write).await
    }

    async fn list_credentials(
        &self,
        organization_id: &str,
        service_account_id: &str,
        page: PageRequest,
    ) -> StorageResult<Page<Credential>> {
        if unstorable(&[organization_id, service_account_id]) {
            return empty_page();
        }
        let [service_account_id, organization_id] = rows::service_account_key(organization_id, service_account_id);
        let filter = [organization_id, service_account_id];
        let plan = paging::plan(&paging::CREDENTIAL_LIST, &filter, &page);
        self.observed(self.list("list credentials", plan, |row| rows::credential(row)))
            .await
    }

    async fn list_organization_credentials(
        &self,
        organization_id: &str,
        filter: CredentialFilter,
        now: Millis,
        page: PageRequest,
    ) -> StorageResult<Page<Credential>> {
        if unstorable(&[organization_id]) {
            return empty_page();
        }
        let (list, filter) = paging::organization_credentials(organization_id, &filter, now);
        let plan = paging::plan(list, &filter, &page);
        self.observed(self.list("list organization credentials", plan, |row| rows::credential(row)))
            .await
    }

    async fn delete_credential(
        &self,
        key: CredentialKey<'_>,
        expected: Option<Credential>,
        audit: AuditContext,
    ) -> StorageResult<bool> {
        if unstorable(&key_parts(&key)) {
            return Ok(false);
        }
        let params = rows::credential_delete(&key, expected.as_ref());
        let event = || audit.credential_event(AuditAction::CredentialDeleted, key);
        let write = self.write_recorded("delete credential", (&sql::DELETE_CREDENTIAL, &params), event, || {
            Ok(false)
        });
        self.observed(write).await
    }

    async fn find_credential(&self, key: CredentialKey<'_>) -> StorageResult<Option<Credential>> {
        if unstorable(&key_parts(&key)) {
            return Ok(None);
        }
        let op = "find credential";
        let params = rows::credential_key(&key);
        self.observed(async {
            let client = self.reader(op).await?;
            query_opt(&client, op, &sql::FIND_CREDENTIAL, &params, |row| rows::credential(row)).await
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
        if unstorable(&key_parts(&key)) {
            return Ok(None);
        }
        let params = rows::credential_update(&key, &patch, now, expected.as_ref());
        let write = self.write_credential(
            "update credential",
            key,
            (&sql::UPDATE_CREDENTIAL, &params),
            rows::token_consequence,
            |before, after| audit.credential_update_event(before, after),
        );
        self.observed(write).await
    }

    async fn rotate_credential(
        &self,
        key: CredentialKey<'_>,
        rotation: Rotation,
        expected: Option<Credential>,
        audit: AuditContext,
    ) -> StorageResult<Option<Credential>> {
        if unstorable(&key_parts(&key)) {
            return Ok(None);
        }
        let params = rows::credential_rotation(&key, &rotation, expected.as_ref());
        let consequence: rows::TokenConsequence = if rotation.revoke_tokens {
            rows::every_token_revoked
        } else {
            rows::tokens_untouched
        };
        let write = self.write_credential(
            "rotate credential",
            key,
            (&sql::ROTATE_CREDENTIAL, &params),
            consequence,
            |_, after| Some(audit.credential_event(AuditAction::CredentialRotated, after.key())),
        );
        self.observed(write).await
    }

    async fn find_client(&self, client_id: &str) -> StorageResult<Option<ClientRecord>> {
        if unstorable(&[client_id]) {
            return Ok(None);
        }
        let op = "find client";
        self.observed(async {
            let client = self.reader(op).await?;
            query_opt(&client, op, &sql::FIND_CLIENT, &rows::one_key(client_id), |row| {
                rows::client(row)
            })
            .await
        })
        .await
    }

    async fn insert_token(&self, token: NewToken, audit: AuditContext) -> StorageResult<bool> {
        if unstorable(&key_parts(&token.credential())) {
            return Ok(false);
        }
        let event = AuditRow::new(
            audit.credential_event(AuditAction::TokenIssued, token.credential()),
            None,
        );
        let params: Vec<Value<'_>> = rows::new_token(&token).into_iter().chain(event.params()).collect();
        // A credential deleted since it was looked up fails the foreign key: the
        // client no longer exists, which is an answer, not an error.
        let write = self.write("insert token", &sql::INSERT_TOKEN, &params, || Ok(0));
        self.observed(write).await.map(|inserted| inserted > 0)
    }

    async fn find_token(&self, token_id: &str) -> StorageResult<Option<TokenRecord>> {
        if unstorable(&[token_id]) {
            return Ok(None);
        }
        let op = "find token";
        self.observed(async {
            let client = self.reader(op).await?;
            query_opt(&client, op, &sql::FIND_TOKEN, &rows::one_key(token_id), |row| {
                rows::token(row)
            })
            .await
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
        if unstorable(&[token_id, credential.credential_id]) {
            return Ok(false);
        }
        let params = rows::token_revocation(token_id, credential.credential_id, &secret_hash);
        let event = || audit.credential_event(AuditAction::TokenRevoked, credential);
        let write = self.write_recorded("revoke token", (&sql::REVOKE_TOKEN, &params), event, || Ok(false));
        self.observed(write).await
    }

    async fn record_token_denials(&self, denials: Vec<TokenDenial>) -> StorageResult<()> {
        let op = "record token denials";
        // In the order of their keys, so that two instances folding the same
        // denials can never wait for each other's rows in turn.
        let mut rows: Vec<AuditRow> = denials
            .iter()
            .map(|denial| AuditRow::new(denial.event(), Some(denial.fold_key())))
            .collect();
        rows.sort_by(|one, other| one.fold_key().cmp(&other.fold_key()));
        self.observed(async {
            let mut client = self.writer(op).await?;
            let work = async {
                let tx = client.transaction().await.map_err(|err| from_pg(op, err))?;
                for row in &rows {
                    queries::execute(&tx, &sql::RECORD_TOKEN_DENIAL, &row.params())
                        .await
                        .map_err(|err| from_pg(op, err))?;
                }
                tx.commit().await.map_err(|err| from_pg(op, err))
            };
            self.commit(work).await
        })
        .await
    }

    async fn list_audit_events(
        &self,
        organization_id: &str,
        filter: AuditFilter,
        page: PageRequest,
    ) -> StorageResult<Page<AuditEvent>> {
        let unstorable_filter = [&filter.target_id, &filter.actor_service_account_id]
            .into_iter()
            .flatten()
            .any(|key| key.contains('\0'));
        if unstorable(&[organization_id]) || unstorable_filter {
            return empty_page();
        }
        let leading = paging::audit_events(organization_id, &filter);
        let plan = paging::plan(&paging::AUDIT_EVENT_LIST, &leading, &page);
        self.observed(self.list("list audit events", plan, |row| rows::audit_event(row)))
            .await
    }

    async fn export_audit_events(
        &self,
        organization_id: Option<&str>,
        after: Position,
        limit: usize,
    ) -> StorageResult<Vec<AuditEvent>> {
        if unstorable(&[organization_id.unwrap_or_default(), &after.id]) {
            return Ok(Vec::new());
        }
        let op = "export audit events";
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let start = rows::audit_export_start(&after);
        let params = rows::audit_export(organization_id, &start, limit);
        self.observed(async {
            let client = self.reader(op).await?;
            query_all(&client, op, &sql::EXPORT_AUDIT_EVENTS, &params, |row| {
                rows::audit_event(row)
            })
            .await
        })
        .await
    }

    async fn prune_audit_events(&self, before: Millis, limit: usize) -> StorageResult<usize> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let below = rows::audit_prune_below(before);
        let params = rows::audit_prune(&below, limit);
        let write = self.write("prune audit events", &sql::PRUNE_AUDIT_EVENTS, &params, || Ok(0));
        self.observed(write)
            .await
            .map(|deleted| usize::try_from(deleted).unwrap_or(usize::MAX))
    }

    async fn announce_revocation(&self, revoked: Revoked) -> StorageResult<()> {
        let op = "announce revocation";
        let payload = revocations::payload(&revoked, &self.origin);
        let params = [Value::Text(Some(sql::REVOCATION_CHANNEL)), Value::Text(Some(&payload))];
        self.observed(async {
            // Not counted as a write: it changes nothing stored.
            let client = self.reader(op).await?;
            queries::execute(&client, &sql::ANNOUNCE_REVOCATION, &params)
                .await
                .map(drop)
                .map_err(|err| from_pg(op, err))
        })
        .await
    }

    fn subscribe_revocations(&self) -> RevocationFeed {
        listener::spawn(self.config.clone(), Arc::clone(&self.origin))
    }

    async fn cursor_key(&self) -> StorageResult<Vec<u8>> {
        let op = "read cursor key";
        let key = self.observed(async {
            let client = self.reader(op).await?;
            query_opt(&client, op, &sql::CURSOR_KEY, &[], |row| rows::cursor_key(row)).await
        });
        key.await?
            .ok_or_else(|| StorageError::Internal(format!("{op}: no key (migration 3 not applied?)")))
    }

    async fn check_ready(&self) -> StorageResult<()> {
        self.observed(async {
            let client = self.reader("readiness check").await?;
            client
                .query_one("SELECT 1", &[])
                .await
                .map(|_| ())
                .map_err(|err| error::from_pg("readiness check", err))
        })
        .await
    }
}
