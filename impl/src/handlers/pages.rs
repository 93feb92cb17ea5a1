//! Cursor pagination: `limit`/`after`/`before` in, `page_info` out.
//!
//! A cursor is the base64url of `<list>:<scope>:<created_at>:<id>`: the list it
//! belongs to (`o`, `s`, `c`), the parent it lists (so a cursor of one service
//! account's credentials is refused for another's), and the position of an item.
//! Positions are immutable, so a cursor keeps working after its item is deleted.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use keycred_api::{ApiError, PageInfoCursor};

use keycred_store::{Page, PageRequest, PageStart, Position};

/// A list that can be paged, and the parent whose items it lists.
#[derive(Debug, Clone, Copy)]
pub struct ListScope<'a> {
    /// One letter naming the list: `o` organizations, `s` service accounts, `c` credentials.
    pub list: &'static str,
    /// The parent's ID (the organization's, the service account's), or `""`.
    pub parent: &'a str,
}

impl ListScope<'_> {
    fn encode(&self, position: &Position) -> String {
        let raw = format!("{}:{}:{}:{}", self.list, self.parent, position.created_at, position.id);
        URL_SAFE_NO_PAD.encode(raw)
    }

    fn decode(&self, parameter: &str, cursor: &str) -> Result<Position, ApiError> {
        let malformed = || ApiError::invalid_request(format!("{parameter}: is not a cursor of this list"));
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| malformed())?;
        let text = String::from_utf8(bytes).map_err(|_| malformed())?;
        let mut parts = text.splitn(4, ':');
        let (Some(list), Some(parent), Some(created_at), Some(id)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed());
        };
        // No ID holds NUL, and PostgreSQL could not compare one that did: such a
        // cursor is forged, and refused alike on both backends.
        if list != self.list || parent != self.parent || id.is_empty() || id.contains('\0') {
            return Err(malformed());
        }
        let created_at = created_at.parse().map_err(|_| malformed())?;
        Ok(Position {
            created_at,
            id: id.to_owned(),
        })
    }

    /// The page a request asks for; 400 for a malformed or foreign cursor, or both cursors.
    /// `limit` is already checked against the spec, which also gives its default.
    pub fn request(&self, limit: i64, after: Option<&str>, before: Option<&str>) -> Result<PageRequest, ApiError> {
        let limit = usize::try_from(limit).map_err(|_| ApiError::invalid_request("limit: must be at least 1"))?;
        let start = match (after, before) {
            (Some(_), Some(_)) => return Err(ApiError::invalid_request("after, before: give one cursor, not both")),
            (Some(after), None) => PageStart::After(self.decode("after", after)?),
            (None, Some(before)) => PageStart::Before(self.decode("before", before)?),
            (None, None) => PageStart::First,
        };
        Ok(PageRequest { start, limit })
    }

    /// The `page_info` of a page, with cursors for its first and last items.
    pub fn page_info<T>(&self, page: &Page<T>, position: impl Fn(&T) -> Position) -> PageInfoCursor {
        PageInfoCursor {
            has_next_page: page.has_next_page,
            has_prev_page: page.has_prev_page,
            start_cursor: page.items.first().map(|item| self.encode(&position(item))),
            end_cursor: page.items.last().map(|item| self.encode(&position(item))),
        }
    }
}

/// Pages a list that is already in memory and in order (the caller's organizations).
pub fn page_in_memory<T: Clone>(items: &[T], request: &PageRequest, position: impl Fn(&T) -> Position) -> Page<T> {
    let (start, end) = match &request.start {
        PageStart::First => (0, items.len().min(request.limit)),
        PageStart::After(after) => {
            let start = items.partition_point(|item| position(item) <= *after);
            (start, (start + request.limit).min(items.len()))
        }
        PageStart::Before(before) => {
            let end = items.partition_point(|item| position(item) < *before);
            (end.saturating_sub(request.limit), end)
        }
    };
    Page {
        items: items[start..end].to_vec(),
        has_next_page: end < items.len(),
        has_prev_page: start > 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREDENTIALS: ListScope<'static> = ListScope {
        list: "c",
        parent: "sa1",
    };

    fn position(created_at: i64, id: &str) -> Position {
        Position {
            created_at,
            id: id.to_owned(),
        }
    }

    #[test]
    fn a_cursor_round_trips_to_its_position() {
        let cursor = CREDENTIALS.encode(&position(1_577_470_279_117, "abc"));
        assert_eq!(
            CREDENTIALS.decode("after", &cursor).unwrap(),
            position(1_577_470_279_117, "abc")
        );
    }

    #[test]
    fn a_cursor_of_another_list_or_parent_is_refused() {
        let cursor = CREDENTIALS.encode(&position(1, "abc"));
        let other_parent = ListScope {
            list: "c",
            parent: "sa2",
        };
        let other_list = ListScope {
            list: "s",
            parent: "sa1",
        };
        assert_eq!(
            other_parent.decode("after", &cursor).unwrap_err().message,
            "after: is not a cursor of this list"
        );
        assert!(other_list.decode("before", &cursor).is_err());
    }

    #[test]
    fn malformed_cursors_are_refused() {
        let with_nul = URL_SAFE_NO_PAD.encode("c:sa1:1:a\0b");
        for cursor in ["!!!", "Zm9v", "YzpzYTE6eDph", "YzpzYTE6MTo", &with_nul] {
            assert!(CREDENTIALS.decode("after", cursor).is_err(), "{cursor}");
        }
    }

    #[test]
    fn both_cursors_at_once_are_refused() {
        let cursor = CREDENTIALS.encode(&position(1, "abc"));
        assert!(CREDENTIALS.request(50, Some(&cursor), Some(&cursor)).is_err());
    }

    #[test]
    fn in_memory_pages_walk_both_ways() {
        let items: Vec<Position> = (0..5).map(|n| position(n, "x")).collect();
        let first = page_in_memory(
            &items,
            &PageRequest {
                start: PageStart::First,
                limit: 2,
            },
            Clone::clone,
        );
        assert_eq!(
            (first.items.len(), first.has_prev_page, first.has_next_page),
            (2, false, true)
        );
        let after = PageStart::After(position(3, "x"));
        let last = page_in_memory(&items, &PageRequest { start: after, limit: 2 }, Clone::clone);
        assert_eq!(
            (last.items, last.has_prev_page, last.has_next_page),
            (vec![position(4, "x")], true, false)
        );
        let before = PageStart::Before(position(1, "x"));
        let back = page_in_memory(
            &items,
            &PageRequest {
                start: before,
                limit: 2,
            },
            Clone::clone,
        );
        assert_eq!(
            (back.items, back.has_prev_page, back.has_next_page),
            (vec![position(0, "x")], false, true)
        );
    }
}
