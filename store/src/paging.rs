//! Keyset pagination, planned once for both databases.
//!
//! A list is ordered by `(created_at, id)` ascending. A page is at most two
//! queries, which the backend runs in one snapshot (one read transaction): the rows
//! in the reading direction, one more than the limit to learn whether the list goes
//! on that way, and, for a page that starts at a position, an `EXISTS` asking
//! whether anything lies the other way. [`plan`] says which queries with which
//! parameters; [`PagePlan::page`] turns their answers into a [`Page`].

use std::sync::LazyLock;

use crate::audit::{AuditAction, AuditFilter};
use crate::rows::{self, Value};
use crate::sql::{Statement, AUDIT_EVENT_COLUMNS, CREDENTIAL_COLUMNS, SERVICE_ACCOUNT_COLUMNS};
use crate::{CredentialFilter, CredentialStatusFilter, Millis, Page, PageRequest, PageStart};

/// The statements of one list. Parameters are numbered in one order in every
/// statement: the list's filter columns first, then the position's `created_at`
/// and `id` (where the statement has a position), then the row limit (where it has
/// one). Positions are compared as row values, which both databases turn into a
/// range on the list's `(…, created_at, id)` index.
#[derive(Debug)]
pub(crate) struct ListSql {
    /// The first rows of the list, in list order.
    pub(crate) first: Statement,
    /// The first rows strictly after a position, in list order.
    pub(crate) after: Statement,
    /// The last rows strictly before a position, in reverse list order (nearest first).
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
    /// `conditions`, which use the first `parameters` parameters, oldest first.
    fn with_conditions(table: &str, columns: &str, clauses: Vec<String>, parameters: usize) -> ListSql {
        ListSql::in_order(table, columns, clauses, parameters, OLDEST_FIRST)
    }

    /// [`ListSql::with_conditions`] in `order`.
    fn in_order(table: &str, columns: &str, mut clauses: Vec<String>, parameters: usize, order: ListOrder) -> ListSql {
        let rows_in_list = clauses.join(" AND ");
        let time = order.time_column;
        let (position_time, position_id, limit) = (parameters + 1, parameters + 2, parameters + 3);
        clauses.push(format!("({time}, id) COMPARE (${position_time}, ${position_id})"));
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
        let ascending = format!("{time}, id");
        let descending = format!("{time} DESC, id DESC");
        // "After" and "before" are in list order: for a newest-first list, after a
        // position means older, so every comparison and direction flips.
        let (list_order, reverse_order, later, earlier) = if order.newest_first {
            (&descending, &ascending, "<", ">")
        } else {
            (&ascending, &descending, ">", "<")
        };
        ListSql {
            first: Statement::new(format!(
                "SELECT {columns} FROM {table} WHERE {rows_in_list} ORDER BY {list_order} LIMIT ${position_time}"
            )),
            after: rows(later, list_order, limit),
            before: rows(earlier, reverse_order, limit),
            any_at_or_before: exists(&format!("{earlier}=")),
            any_at_or_after: exists(&format!("{later}=")),
        }
    }
}

/// Which way a list runs, and by which time column (then `id`, the same way).
#[derive(Debug, Clone, Copy)]
struct ListOrder {
    /// The column holding each row's time.
    time_column: &'static str,
    /// Whether the newest row comes first.
    newest_first: bool,
}

/// The order of the resource lists: by `created_at`, oldest first.
const OLDEST_FIRST: ListOrder = ListOrder {
    time_column: "created_at",
    newest_first: false,
};

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

/// The most actions one audit list may filter by: every action there is. The
/// filter's statement has this many slots; fewer actions repeat the first.
const ACTION_SLOTS: usize = AuditAction::ALL.len();

/// An organization's audit events, newest first. Parameters: `$1` the organization
/// ID, `$2` since (inclusive) and `$3` until (exclusive; the widest times when not
/// filtered), `$4` the target ID and `$5` the actor's service account ID (NULL: not
/// filtered), `$6`–`$17` the actions (NULL in `$6`: not filtered).
///
/// It reads the `(organization_id, occurred_at, id)` index in list order, between
/// since and until, and tests the other filters on each row it reaches, as
/// [`ORGANIZATION_CREDENTIAL_LISTS`] does.
pub(crate) static AUDIT_EVENT_LIST: LazyLock<ListSql> = LazyLock::new(|| {
    let actions: Vec<String> = (6..6 + ACTION_SLOTS).map(|slot| format!("${slot}::text")).collect();
    let conditions = vec![
        "organization_id = $1".to_owned(),
        "occurred_at >= $2::bigint".to_owned(),
        "occurred_at < $3::bigint".to_owned(),
        "($4::text IS NULL OR target_id = $4::text)".to_owned(),
        "($5::text IS NULL OR actor_service_account_id = $5::text)".to_owned(),
        format!("($6::text IS NULL OR action IN ({}))", actions.join(", ")),
    ];
    let order = ListOrder {
        time_column: "occurred_at",
        newest_first: true,
    };
    ListSql::in_order("audit_events", AUDIT_EVENT_COLUMNS, conditions, 5 + ACTION_SLOTS, order)
});

/// The leading parameters of [`AUDIT_EVENT_LIST`] for `organization_id`'s events
/// under `filter`.
pub(crate) fn audit_events<'a>(organization_id: &'a str, filter: &'a AuditFilter) -> Vec<Value<'a>> {
    let mut values = vec![
        rows::one_key(organization_id)[0],
        Value::Integer(Some(filter.since.unwrap_or(Millis::MIN))),
        Value::Integer(Some(filter.until.unwrap_or(Millis::MAX))),
        Value::Text(filter.target_id.as_deref()),
        Value::Text(filter.actor_service_account_id.as_deref()),
    ];
    let first = filter.actions.first().map(|action| action.as_str());
    values.extend(
        (0..ACTION_SLOTS).map(|slot| Value::Text(filter.actions.get(slot).map(|action| action.as_str()).or(first))),
    );
    values
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
