//! Cursor pagination: `limit`/`after`/`before` in, `page_info` out.
//!
//! A cursor is the base64url of `<list>:<scope>:<created_at>:<id>`, the list it
//! belongs to (`o`, `s`, `c`, and `a` for an organization's credentials), the parent
//! it lists (so a cursor of one service account's credentials is refused for
//! another's; for a filtered list, the parent with the filters, so a cursor is
//! refused with filters other than its own) and the position of an item,
//! followed by a 128-bit HMAC-SHA256 tag of all that under the [`CursorKey`]. A client
//! cannot make a cursor the server did not issue: any byte changed is a 400. The key
//! is kept in the database, so every instance and every restart agree on it.
//! Positions are immutable, so a cursor keeps working after its item is deleted.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use keycred_api::{ApiError, PageInfoCursor};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use keycred_store::{Page, PageRequest, PageStart, Position};

/// How many bytes of the HMAC-SHA256 a cursor carries: 128 bits, beyond any guessing.
const TAG_BYTES: usize = 16;

/// The secret cursors are signed with: kept in the database, the same for every
/// instance and across restarts.
#[derive(Clone)]
pub struct CursorKey(Vec<u8>);

impl CursorKey {
    /// A key of these bytes (as the store keeps them).
    pub fn new(bytes: Vec<u8>) -> Self {
        CursorKey(bytes)
    }

    /// A random key, for an API built without a store-provided one (its cursors work
    /// only within this process).
    pub fn random() -> Self {
        CursorKey(rand::random::<[u8; 32]>().to_vec())
    }

    /// The first [`TAG_BYTES`] of HMAC-SHA256(key, `message`) (RFC 2104).
    fn tag(&self, message: &[u8]) -> [u8; TAG_BYTES] {
        let mut block = [0u8; 64];
        if self.0.len() > block.len() {
            block[..32].copy_from_slice(&Sha256::digest(&self.0));
        } else {
            block[..self.0.len()].copy_from_slice(&self.0);
        }
        let pad = |byte: u8| block.map(|key_byte| key_byte ^ byte);
        let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
        let outer = Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize();
        let mut tag = [0u8; TAG_BYTES];
        tag.copy_from_slice(&outer[..TAG_BYTES]);
        tag
    }
}

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("CursorKey(…)")
    }
}

/// A list that can be paged, and the parent whose items it lists.
#[derive(Debug, Clone, Copy)]
pub struct ListScope<'a> {
    /// One letter naming the list: `o` organizations, `s` service accounts, `c` a
    /// service account's credentials, `a` an organization's credentials.
    pub list: &'static str,
    /// The parent's ID (the organization's, the service account's), or `""`; for a
    /// filtered list, followed by the filters. A `:` in it makes its cursors unreadable.
    pub parent: &'a str,
    /// What the list's cursors are signed with.
    pub key: &'a CursorKey,
}

impl ListScope<'_> {
    fn encode(&self, position: &Position) -> String {
        let mut raw = format!("{}:{}:{}:{}", self.list, self.parent, position.created_at, position.id).into_bytes();
        let tag = self.key.tag(&raw);
        raw.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(raw)
    }

    fn decode(&self, parameter: &str, cursor: &str) -> Result<Position, ApiError> {
        let malformed = || ApiError::invalid_request(format!("{parameter}: is not a cursor of this list"));
        let mut bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| malformed())?;
        let payload_length = bytes.len().checked_sub(TAG_BYTES).ok_or_else(malformed)?;
        let tag = bytes.split_off(payload_length);
        if !bool::from(self.key.tag(&bytes).ct_eq(&tag)) {
            return Err(malformed());
        }
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

    static KEY: std::sync::LazyLock<CursorKey> = std::sync::LazyLock::new(|| CursorKey::new(b"test key".to_vec()));
    static CREDENTIALS: std::sync::LazyLock<ListScope<'static>> = std::sync::LazyLock::new(|| ListScope {
        list: "c",
        parent: "sa1",
        key: &KEY,
    });

    /// A cursor signed with the test key for any payload, as only the server could make.
    fn signed(payload: &str) -> String {
        let mut raw = payload.as_bytes().to_vec();
        raw.extend_from_slice(&KEY.tag(payload.as_bytes()));
        URL_SAFE_NO_PAD.encode(raw)
    }

    #[test]
    fn the_tag_is_hmac_sha256() {
        // RFC 4231, test case 2.
        let key = CursorKey::new(b"Jefe".to_vec());
        let tag = key.tag(b"what do ya want for nothing?");
        assert_eq!(tag[..4], [0x5b, 0xdc, 0xc1, 0x46]);
        assert_eq!(tag[12..16], [0x08, 0x95, 0x75, 0xc7]);
    }

    #[test]
    fn a_cursor_with_any_byte_changed_is_refused() {
        let cursor = CREDENTIALS.encode(&position(1_577_470_279_117, "abc"));
        let mut raw = URL_SAFE_NO_PAD.decode(&cursor).unwrap();
        for index in 0..raw.len() {
            raw[index] ^= 1;
            let forged = URL_SAFE_NO_PAD.encode(&raw);
            assert!(CREDENTIALS.decode("after", &forged).is_err(), "byte {index}");
            raw[index] ^= 1;
        }
        let unsigned = URL_SAFE_NO_PAD.encode("c:sa1:1:abc");
        assert!(CREDENTIALS.decode("after", &unsigned).is_err());
        let other_key = CursorKey::new(b"another key".to_vec());
        let elsewhere = ListScope {
            key: &other_key,
            ..*CREDENTIALS
        };
        assert!(elsewhere.decode("after", &cursor).is_err());
    }

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
            parent: "sa2",
            ..*CREDENTIALS
        };
        let other_list = ListScope {
            list: "s",
            ..*CREDENTIALS
        };
        assert_eq!(
            other_parent.decode("after", &cursor).unwrap_err().message,
            "after: is not a cursor of this list"
        );
        assert!(other_list.decode("before", &cursor).is_err());
    }

    #[test]
    fn malformed_cursors_are_refused() {
        let with_nul = signed("c:sa1:1:a\0b");
        let bad_time = signed("c:sa1:x:a");
        let no_id = signed("c:sa1:1:");
        for cursor in ["!!!", "Zm9v", "", &bad_time, &no_id, &with_nul] {
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
