//! Keyset pagination, planned once for both databases.
//!
//! A list is ordered by `(created_at, id)` ascending. A page is at most two
//! queries, which the backend runs in one snapshot (one read transaction): the rows
//! in the reading direction, one more than the limit to learn whether the list goes
//! on that way, and, for a page that starts at a position, an `EXISTS` asking
//! whether anything lies the other way. [`plan`] says which queries with which
//! parameters; [`PagePlan::page`] turns their answers into a [`Page`].

use std::sync::LazyLock;

use crate::rows::{self, Value};
use crate::sql::{Statement, CREDENTIAL_COLUMNS, SERVICE_ACCOUNT_COLUMNS};
use crate::{Page, PageRequest, PageStart};

/// The statements of one list. Parameters are numbered in one order in every
/// statement: the list's filter columns first, then the position's `created_at`
/// and `id` (where the statement has a position), then the row limit (where it has
/// one). Positions are compared as row values, which both databases turn into a
/// range on the list's `(…, created_at, id)` index.
#[derive(Debug)]
pub(crate) struct ListSql {
    /// The first rows of the list, ascending.
    pub(crate) first: Statement,
    /// The first rows strictly after a position, ascending.
    pub(crate) after: Statement,
    /// The last rows strictly before a position, DESCENDING (nearest first).
    pub(crate) before: Statement,
    /// Whether any row sits at or before a position.
    pub(crate) any_at_or_before: Statement,
    /// Whether any row sits at or after a position.
    pub(crate) any_at_or_after: Statement,
}

impl ListSql {
    /// The statements listing `columns` of `table`'s rows whose `filter` columns
    /// equal the leading parameters.
    fn new(table: &str, columns: &str, filter: &[&str]) -> ListSql {
        let mut clauses: Vec<String> = filter
            .iter()
            .enumerate()
            .map(|(index, column)| format!("{column} = ${}", index + 1))
            .collect();
        let rows_in_list = clauses.join(" AND ");
        let (created_at, id, limit) = (filter.len() + 1, filter.len() + 2, filter.len() + 3);
        clauses.push(format!("(created_at, id) COMPARE (${created_at}, ${id})"));
        let near = clauses.join(" AND ");
        let rows = |compare: &str, order: &str, limit: usize| {
            let filter = near.replace("COMPARE", compare);
            Statement::new(format!(
                "SELECT {columns} FROM {table} WHERE {filter} ORDER BY {order} LIMIT ${limit}"
            ))
        };
        let exists = |compare: &str| {
            let filter = near.replace("COMPARE", compare);
            Statement::new(format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE {filter})"))
        };
        ListSql {
            first: Statement::new(format!(
                "SELECT {columns} FROM {table} WHERE {rows_in_list} ORDER BY created_at, id LIMIT ${created_at}"
            )),
            after: rows(">", "created_at, id", limit),
            before: rows("<", "created_at DESC, id DESC", limit),
            any_at_or_before: exists("<="),
            any_at_or_after: exists(">="),
        }
    }
}

/// An organization's service accounts; filter `$1` = organization ID.
pub(crate) static SERVICE_ACCOUNT_LIST: LazyLock<ListSql> =
    LazyLock::new(|| ListSql::new("service_accounts", SERVICE_ACCOUNT_COLUMNS, &["organization_id"]));

/// A service account's credentials; filters `$1` = organization ID and `$2` =
/// service account ID, both required so no list reaches across organizations.
pub(crate) static CREDENTIAL_LIST: LazyLock<ListSql> = LazyLock::new(|| {
    ListSql::new(
        "credentials",
        CREDENTIAL_COLUMNS,
        &["organization_id", "service_account_id"],
    )
});

/// What to ask the database for one page, and how to read its answers.
#[derive(Debug)]
pub(crate) struct PagePlan<'a> {
    /// The rows query, in the reading direction.
    pub(crate) rows: &'a Statement,
    /// Its parameters.
    pub(crate) rows_params: Vec<Value<'a>>,
    /// The `EXISTS` query about the other direction and its parameters; none for
    /// the first page, which has nothing before it.
    pub(crate) beyond: Option<(&'a Statement, Vec<Value<'a>>)>,
    /// The page's size.
    limit: usize,
    /// Where the page starts.
    start: &'a PageStart,
}

/// Plans the page `request` asks for of `list`, restricted by `filter` (the
/// list's leading parameters).
pub(crate) fn plan<'a>(list: &'a ListSql, filter: &[Value<'a>], request: &'a PageRequest) -> PagePlan<'a> {
    // One row past the page says whether the list goes on; a huge limit simply
    // means "everything".
    let fetch = rows::limit(i64::try_from(request.limit.saturating_add(1)).unwrap_or(i64::MAX));
    let with = |extra: &[Value<'a>]| -> Vec<Value<'a>> { filter.iter().chain(extra).copied().collect() };
    let (rows, rows_params, beyond) = match &request.start {
        PageStart::First => (&list.first, with(&[fetch]), None),
        PageStart::After(position) => {
            let [created_at, id] = rows::position(position);
            // Nothing lies between the position and the page's first item, so
            // "before the page" is "at or before the position".
            let beyond = (&list.any_at_or_before, with(&[created_at, id]));
            (&list.after, with(&[created_at, id, fetch]), Some(beyond))
        }
        PageStart::Before(position) => {
            let [created_at, id] = rows::position(position);
            let beyond = (&list.any_at_or_after, with(&[created_at, id]));
            (&list.before, with(&[created_at, id, fetch]), Some(beyond))
        }
    };
    PagePlan {
        rows,
        rows_params,
        beyond,
        limit: request.limit,
        start: &request.start,
    }
}

impl PagePlan<'_> {
    /// The page, from the rows query's `items` (in the order it returned them) and
    /// the `EXISTS` query's answer (`false` where there was none).
    pub(crate) fn page<T>(&self, mut items: Vec<T>, beyond: bool) -> Page<T> {
        let more = items.len() > self.limit;
        items.truncate(self.limit);
        match self.start {
            PageStart::First => Page {
                items,
                has_next_page: more,
                has_prev_page: false,
            },
            PageStart::After(_) => Page {
                items,
                has_next_page: more,
                has_prev_page: beyond,
            },
            PageStart::Before(_) => {
                // Read nearest first: the extra row, if any, was the farthest one.
                items.reverse();
                Page {
                    items,
                    has_next_page: beyond,
                    has_prev_page: more,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_statements_number_filters_then_position_then_limit() {
        let list = &*CREDENTIAL_LIST;
        assert_eq!(
            list.after.postgres(),
            format!(
                "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE organization_id = $1 AND \
                 service_account_id = $2 AND (created_at, id) > ($3, $4) ORDER BY created_at, id LIMIT $5"
            )
        );
        assert_eq!(
            SERVICE_ACCOUNT_LIST.any_at_or_after.sqlite(),
            "SELECT EXISTS (SELECT 1 FROM service_accounts WHERE organization_id = ?1 AND (created_at, id) >= (?2, ?3))"
        );
        assert!(list.first.sqlite().ends_with("ORDER BY created_at, id LIMIT ?3"));
    }
}
