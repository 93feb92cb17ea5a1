//! Running the statements of [`crate::sql`] on a PostgreSQL connection: binding
//! [`Value`]s, reading rows through [`Columns`], and a page's two queries.
//!
//! No write reads a row in one statement to write it back in another: a PATCH is a
//! single `UPDATE … RETURNING` whose right-hand sides see the row as it is when the
//! row lock is taken (PostgreSQL re-reads a row that a concurrent transaction
//! changed before updating it), so two PATCHes of different fields can never undo
//! each other. The state read before a write, to record what it changed in its
//! audit event, is read with the row locked (`FOR UPDATE`) in the write's own
//! transaction, so no other write can come between the two.

use deadpool_postgres::GenericClient;
use tokio_postgres::types::{FromSql, ToSql};
use tokio_postgres::Row;

use super::error::from_pg;
use crate::audit::AuditEvent;
use crate::paging::PagePlan;
use crate::rows::{self, AuditRow, Columns, Value};
use crate::sql::{self, Statement};
use crate::{Page, StorageError, StorageResult};

/// A row, with the operation it answers, so that a column of the wrong type
/// is an error naming the operation.
pub(super) struct PgRow<'a> {
    /// The row.
    row: &'a Row,
    /// The operation, e.g. "find credential".
    op: &'a str,
}

impl PgRow<'_> {
    /// Reads column `index` as a `T`.
    fn get<'b, T: FromSql<'b>>(&'b self, index: usize) -> StorageResult<T> {
        self.row.try_get(index).map_err(|err| from_pg(self.op, err))
    }
}

impl Columns for PgRow<'_> {
    type Error = StorageError;

    fn text(&self, index: usize) -> StorageResult<String> {
        self.get(index)
    }

    fn optional_text(&self, index: usize) -> StorageResult<Option<String>> {
        self.get(index)
    }

    fn integer(&self, index: usize) -> StorageResult<i64> {
        self.get(index)
    }

    fn optional_integer(&self, index: usize) -> StorageResult<Option<i64>> {
        self.get(index)
    }

    fn bytes(&self, index: usize) -> StorageResult<Vec<u8>> {
        self.get(index)
    }

    fn optional_bytes(&self, index: usize) -> StorageResult<Option<Vec<u8>>> {
        self.get(index)
    }

    fn boolean(&self, index: usize) -> StorageResult<bool> {
        self.get(index)
    }

    fn corrupt(&self, index: usize, problem: String) -> StorageError {
        StorageError::Internal(format!("{}: column {index}: {problem}", self.op))
    }
}

/// The driver's view of `params`: each value as the type it holds.
fn bind<'a>(params: &'a [Value<'_>]) -> Vec<&'a (dyn ToSql + Sync)> {
    params
        .iter()
        .map(|value| -> &(dyn ToSql + Sync) {
            match value {
                Value::Text(text) => text,
                Value::Integer(number) => number,
                Value::Bytes(bytes) => bytes,
            }
        })
        .collect()
}

/// Runs a statement that returns at most one row, through the connection's
/// statement cache.
pub(super) async fn query_opt<T>(
    client: &impl GenericClient,
    op: &str,
    statement: &Statement,
    params: &[Value<'_>],
    read: impl FnOnce(&PgRow<'_>) -> StorageResult<T>,
) -> StorageResult<Option<T>> {
    let prepared = client
        .prepare_cached(statement.postgres())
        .await
        .map_err(|err| from_pg(op, err))?;
    let row = client
        .query_opt(&prepared, &bind(params))
        .await
        .map_err(|err| from_pg(op, err))?;
    row.map(|row| read(&PgRow { row: &row, op })).transpose()
}

/// Runs a statement and returns its rows.
pub(super) async fn query_all<T>(
    client: &impl GenericClient,
    op: &str,
    statement: &Statement,
    params: &[Value<'_>],
    read: impl Fn(&PgRow<'_>) -> StorageResult<T>,
) -> StorageResult<Vec<T>> {
    let prepared = client
        .prepare_cached(statement.postgres())
        .await
        .map_err(|err| from_pg(op, err))?;
    let found = client
        .query(&prepared, &bind(params))
        .await
        .map_err(|err| from_pg(op, err))?;
    found.iter().map(|row| read(&PgRow { row, op })).collect()
}

/// Records an audit event in the write's transaction `tx`.
pub(super) async fn record(tx: &impl GenericClient, op: &str, event: AuditEvent) -> StorageResult<()> {
    let row = AuditRow::new(event, None);
    execute(tx, &sql::INSERT_AUDIT_EVENT, &row.params())
        .await
        .map(drop)
        .map_err(|err| from_pg(op, err))
}

/// Runs a statement and returns how many rows it changed; the raw driver error,
/// so that callers can tell a missing parent row from other failures.
pub(super) async fn execute(
    client: &impl GenericClient,
    statement: &Statement,
    params: &[Value<'_>],
) -> Result<u64, tokio_postgres::Error> {
    let prepared = client.prepare_cached(statement.postgres()).await?;
    client.execute(&prepared, &bind(params)).await
}

/// Reads the page `plan` describes in transaction `tx`, which must be one snapshot
/// (REPEATABLE READ) so that the page and its `EXISTS` query agree.
pub(super) async fn read_page<T>(
    tx: &impl GenericClient,
    op: &str,
    plan: &PagePlan<'_>,
    read: impl Fn(&PgRow<'_>) -> StorageResult<T>,
) -> StorageResult<Page<T>> {
    let prepared = tx
        .prepare_cached(plan.rows.postgres())
        .await
        .map_err(|err| from_pg(op, err))?;
    let found = tx
        .query(&prepared, &bind(&plan.rows_params))
        .await
        .map_err(|err| from_pg(op, err))?;
    let items = found
        .iter()
        .map(|row| read(&PgRow { row, op }))
        .collect::<StorageResult<Vec<T>>>()?;
    let beyond = match &plan.beyond {
        Some((statement, params)) => query_opt(tx, op, statement, params, |row| rows::exists(row)).await?,
        None => None,
    };
    Ok(plan.page(items, beyond.unwrap_or(false)))
}
