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
use crate::{CredentialFilter, CredentialStatusFilter, Millis, Page, PageRequest, PageStart};

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
        let conditions: Vec<String> = filter
            .iter()
            .enumerate()
            .map(|(index, column)| format!("{column} = ${}", index + 1))
            .collect();
        ListSql::with_conditions(table, columns, conditions, filter.len())
    }

    /// The statements listing `columns` of `table`'s rows that meet every one of
    /// `conditions`, which use the first `parameters` parameters.
    fn with_conditions(table: &str, columns: &str, mut clauses: Vec<String>, parameters: usize) -> ListSql {
        let rows_in_list = clauses.join(" AND ");
        let (created_at, id, limit) = (parameters + 1, parameters + 2, parameters + 3);
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

/// The statuses the organization-wide list can filter by, in the order of
/// [`ORGANIZATION_CREDENTIAL_LISTS`]' blocks of four.
const STATUS_FILTERS: [Option<CredentialStatusFilter>; 4] = [
    None,
    Some(CredentialStatusFilter::Active),
    Some(CredentialStatusFilter::Disabled),
    Some(CredentialStatusFilter::Expired),
];

/// An organization's credentials across its service accounts, one [`ListSql`] for
/// each combination of filters (status, `expires_before`, `last_used_before`: 4 × 2
/// × 2), so that every statement holds only the conditions it needs and each
/// database plans it once. `$1` is the organization ID; each filter given adds its
/// parameter, in that order, `now` for the `active` and `expired` statuses.
///
/// All of them read the `(organization_id, created_at, id)` index in list order and
/// test the filters on each row they reach (the filtered columns are not in the
/// index): a page costs the rows between its ends, which, under a filter few
/// credentials meet, can be most of the organization's. That is bounded by the
/// organization's size and never sorts; an index per filter would be needed to do
/// better, and the list is an administrator's, not a hot path.
pub(crate) static ORGANIZATION_CREDENTIAL_LISTS: LazyLock<Vec<ListSql>> =
    LazyLock::new(|| (0..16).map(organization_credential_list).collect());

/// The statements of combination `shape` (see [`ORGANIZATION_CREDENTIAL_LISTS`]).
fn organization_credential_list(shape: usize) -> ListSql {
    let mut conditions = vec!["organization_id = $1".to_owned()];
    let mut parameters = 1;
    let mut next = || {
        parameters += 1;
        parameters
    };
    match STATUS_FILTERS[shape / 4] {
        None => {}
        Some(CredentialStatusFilter::Active) => conditions.push(format!(
            "status = 'active' AND (expires_at IS NULL OR expires_at > ${})",
            next()
        )),
        Some(CredentialStatusFilter::Disabled) => conditions.push("status = 'disabled'".to_owned()),
        Some(CredentialStatusFilter::Expired) => {
            conditions.push(format!("status = 'active' AND expires_at <= ${}", next()));
        }
    }
    if shape & 2 != 0 {
        conditions.push(format!("expires_at < ${}", next()));
    }
    if shape & 1 != 0 {
        conditions.push(format!("(last_used_at IS NULL OR last_used_at < ${})", next()));
    }
    ListSql::with_conditions("credentials", CREDENTIAL_COLUMNS, conditions, parameters)
}

/// The statements of organization `organization_id`'s credentials under `filter` as
/// of `now`, with their leading parameters (for [`plan`]).
pub(crate) fn organization_credentials<'a>(
    organization_id: &'a str,
    filter: &CredentialFilter,
    now: Millis,
) -> (&'static ListSql, Vec<Value<'a>>) {
    let mut values = vec![rows::one_key(organization_id)[0]];
    let status = STATUS_FILTERS
        .iter()
        .position(|status| *status == filter.status)
        .expect("every status has its statements");
    if matches!(
        filter.status,
        Some(CredentialStatusFilter::Active | CredentialStatusFilter::Expired)
    ) {
        values.push(Value::Integer(Some(now)));
    }
    values.extend(filter.expires_before.map(|time| Value::Integer(Some(time))));
    values.extend(filter.last_used_before.map(|time| Value::Integer(Some(time))));
    let shape =
        status * 4 + usize::from(filter.expires_before.is_some()) * 2 + usize::from(filter.last_used_before.is_some());
    (&ORGANIZATION_CREDENTIAL_LISTS[shape], values)
}

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

    #[test]
    fn organization_credential_filters_number_their_parameters_in_order() {
        let filter = CredentialFilter {
            status: Some(CredentialStatusFilter::Expired),
            expires_before: Some(7),
            last_used_before: Some(8),
        };
        let (list, values) = organization_credentials("org", &filter, 6);
        let integers: Vec<Option<i64>> = values[1..]
            .iter()
            .map(|value| match value {
                Value::Integer(number) => *number,
                _ => None,
            })
            .collect();
        assert_eq!(integers, [Some(6), Some(7), Some(8)]);
        assert_eq!(
            list.after.postgres(),
            format!(
                "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE organization_id = $1 AND \
                 status = 'active' AND expires_at <= $2 AND expires_at < $3 AND \
                 (last_used_at IS NULL OR last_used_at < $4) AND (created_at, id) > ($5, $6) \
                 ORDER BY created_at, id LIMIT $7"
            )
        );
        let (unfiltered, values) = organization_credentials("org", &CredentialFilter::default(), 6);
        assert_eq!(values.len(), 1);
        assert!(unfiltered
            .first
            .sqlite()
            .ends_with("WHERE organization_id = ?1 ORDER BY created_at, id LIMIT ?2"));
    }
}
