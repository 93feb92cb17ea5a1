//! The PostgreSQL [`Store`], for running several stateless keycred instances on one
//! database: a pool of connections (deadpool-postgres over tokio-postgres), the
//! schema migrations taken under an advisory lock, and the SQL of each operation.
//!
//! Every write is one statement, and so one transaction, committed before its
//! future resolves (PostgreSQL's own durability settings then apply; the default,
//! `synchronous_commit = on`, flushes the WAL before the commit is acknowledged).
//! A list page is read in one REPEATABLE READ, READ ONLY transaction, so its rows
//! and its "is there more?" answer come from one snapshot. Nothing is cached in the
//! process, so every instance reads what any instance wrote once that write was
//! acknowledged; only the token cache (keycred-impl's token cache) keeps anything,
//! for at most its TTL.
//!
//! Layout: `migrations` brings the schema up to date, `queries` holds the SQL of
//! each operation and `error` maps driver and pool errors.
//!
//! PostgreSQL cannot store the NUL character in text. No stored identifier, label
//! or client_id can contain it, so a lookup by such a key finds nothing without
//! asking the database (exactly what SQLite answers); the handlers refuse it in
//! names and descriptions, on both backends alike.

mod error;
mod migrations;
mod queries;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::{IsolationLevel, NoTls};

use self::error::{from_pg, from_pool};
use super::{
    ClientRecord, Credential, CredentialKey, CredentialPatch, Millis, NewCredential, NewToken, Organization, Page,
    PageRequest, ServiceAccount, ServiceAccountPatch, StorageError, StorageObserver, StorageResult, Store, TokenRecord,
};

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
            config,
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
        Ok(PgStore { pool, observer })
    }

    /// A connection for a read.
    async fn reader(&self, op: &str) -> StorageResult<Object> {
        self.pool.get().await.map_err(|err| from_pool(op, err))
    }

    /// A connection for a write, counted as a queued write while it is awaited and
    /// as a batch of one once it is had (each write commits on its own): the same
    /// metrics as the SQLite writer's queue and batches, with the pool in the queue's place.
    async fn writer(&self, op: &str) -> StorageResult<Object> {
        self.observer.write_queue_changed(1);
        let connection = self.pool.get().await;
        self.observer.write_queue_changed(-1);
        let connection = connection.map_err(|err| from_pool(op, err))?;
        self.observer.write_batch(1);
        Ok(connection)
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
        sql: &queries::ListSql,
        filter: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        page: &PageRequest,
        from_row: fn(&tokio_postgres::Row, &str) -> StorageResult<T>,
    ) -> StorageResult<Page<T>> {
        let mut client = self.reader(op).await?;
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(|err| from_pg(op, err))?;
        let page = queries::read_page(&tx, op, sql, filter, page, from_row).await?;
        tx.commit().await.map_err(|err| from_pg(op, err))?;
        Ok(page)
    }
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
        self.observed(async {
            let client = self.reader("find organization").await?;
            queries::find_organization(&client, id_or_label).await
        })
        .await
    }

    async fn create_organization(&self, organization: Organization) -> StorageResult<()> {
        self.observed(async {
            let client = self.writer("create organization").await?;
            queries::insert_organization(&client, &organization).await
        })
        .await
    }

    async fn create_service_account(&self, service_account: ServiceAccount) -> StorageResult<()> {
        self.observed(async {
            let client = self.writer("create service account").await?;
            queries::insert_service_account(&client, &service_account).await
        })
        .await
    }

    async fn list_service_accounts(
        &self,
        organization_id: &str,
        page: PageRequest,
    ) -> StorageResult<Page<ServiceAccount>> {
        if unstorable(&[organization_id]) {
            return Ok(Page {
                items: Vec::new(),
                has_next_page: false,
                has_prev_page: false,
            });
        }
        self.observed(self.list(
            "list service accounts",
            &queries::SERVICE_ACCOUNT_LIST,
            &[&organization_id],
            &page,
            queries::service_account_from_row,
        ))
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
        self.observed(async {
            let client = self.reader("find service account").await?;
            queries::find_service_account(&client, organization_id, service_account_id).await
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
    ) -> StorageResult<Option<ServiceAccount>> {
        if unstorable(&[organization_id, service_account_id]) {
            return Ok(None);
        }
        self.observed(async {
            let client = self.writer("update service account").await?;
            let expected = expected.as_ref();
            queries::update_service_account(&client, organization_id, service_account_id, &patch, now, expected).await
        })
        .await
    }

    async fn delete_service_account(&self, organization_id: &str, service_account_id: &str) -> StorageResult<bool> {
        if unstorable(&[organization_id, service_account_id]) {
            return Ok(false);
        }
        self.observed(async {
            let client = self.writer("delete service account").await?;
            queries::delete_service_account(&client, organization_id, service_account_id).await
        })
        .await
    }

    async fn create_credential(&self, credential: NewCredential) -> StorageResult<bool> {
        let parent = &credential.credential;
        if unstorable(&[&parent.organization_id, &parent.service_account_id]) {
            return Ok(false);
        }
        self.observed(async {
            let client = self.writer("create credential").await?;
            queries::insert_credential(&client, &credential).await
        })
        .await
    }

    async fn list_credentials(
        &self,
        organization_id: &str,
        service_account_id: &str,
        page: PageRequest,
    ) -> StorageResult<Page<Credential>> {
        if unstorable(&[organization_id, service_account_id]) {
            return Ok(Page {
                items: Vec::new(),
                has_next_page: false,
                has_prev_page: false,
            });
        }
        self.observed(self.list(
            "list credentials",
            &queries::CREDENTIAL_LIST,
            &[&organization_id, &service_account_id],
            &page,
            queries::credential_from_row,
        ))
        .await
    }

    async fn delete_credential(&self, key: CredentialKey<'_>) -> StorageResult<bool> {
        if unstorable(&key_parts(&key)) {
            return Ok(false);
        }
        self.observed(async {
            let client = self.writer("delete credential").await?;
            queries::delete_credential(&client, key).await
        })
        .await
    }

    async fn find_credential(&self, key: CredentialKey<'_>) -> StorageResult<Option<Credential>> {
        if unstorable(&key_parts(&key)) {
            return Ok(None);
        }
        self.observed(async {
            let client = self.reader("find credential").await?;
            queries::find_credential(&client, key).await
        })
        .await
    }

    async fn update_credential(
        &self,
        key: CredentialKey<'_>,
        patch: CredentialPatch,
        now: Millis,
        expected: Option<Credential>,
    ) -> StorageResult<Option<Credential>> {
        if unstorable(&key_parts(&key)) {
            return Ok(None);
        }
        self.observed(async {
            let client = self.writer("update credential").await?;
            queries::update_credential(&client, key, &patch, now, expected.as_ref()).await
        })
        .await
    }

    async fn find_client(&self, client_id: &str) -> StorageResult<Option<ClientRecord>> {
        if unstorable(&[client_id]) {
            return Ok(None);
        }
        self.observed(async {
            let client = self.reader("find client").await?;
            queries::find_client(&client, client_id).await
        })
        .await
    }

    async fn insert_token(&self, token: NewToken) -> StorageResult<()> {
        self.observed(async {
            let client = self.writer("insert token").await?;
            queries::insert_token(&client, &token).await
        })
        .await
    }

    async fn find_token(&self, token_id: &str) -> StorageResult<Option<TokenRecord>> {
        if unstorable(&[token_id]) {
            return Ok(None);
        }
        self.observed(async {
            let client = self.reader("find token").await?;
            queries::find_token(&client, token_id).await
        })
        .await
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
