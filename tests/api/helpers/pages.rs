//! Reading cursor-paginated lists: one page at a time, or a whole walk forwards with
//! `after` or backwards with `before`.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{with_query, TestApp};

/// Enough pages for any list a test makes; a walk longer than this is a cursor loop.
const MAX_PAGES: usize = 200;

/// One page of a list as the API returned it.
#[derive(Debug, Clone)]
pub struct Page {
    /// The whole response body.
    pub body: Value,
    /// The IDs of the items, in the order returned.
    pub ids: Vec<String>,
    /// `page_info.has_next_page`.
    pub has_next: bool,
    /// `page_info.has_prev_page`.
    pub has_prev: bool,
    /// `page_info.start_cursor`, if present.
    pub start_cursor: Option<String>,
    /// `page_info.end_cursor`, if present.
    pub end_cursor: Option<String>,
}

impl Page {
    /// Parses a list body, checking the shape every page has.
    pub fn from_body(body: Value) -> Page {
        let items = body["items"]
            .as_array()
            .unwrap_or_else(|| panic!("items is not an array: {body}"));
        let ids = items
            .iter()
            .map(|item| {
                item["id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("an item without an id: {body}"))
                    .to_owned()
            })
            .collect();
        let info = &body["page_info"];
        let flag = |name: &str| {
            info[name]
                .as_bool()
                .unwrap_or_else(|| panic!("page_info.{name} is not a boolean: {body}"))
        };
        let cursor = |name: &str| match &info[name] {
            Value::Null => None,
            Value::String(cursor) => Some(cursor.clone()),
            other => panic!("page_info.{name} is not a string: {other}"),
        };
        Page {
            has_next: flag("has_next_page"),
            has_prev: flag("has_prev_page"),
            start_cursor: cursor("start_cursor"),
            end_cursor: cursor("end_cursor"),
            ids,
            body,
        }
    }

    /// The end cursor, which every non-empty page has.
    pub fn end(&self) -> &str {
        self.end_cursor
            .as_deref()
            .unwrap_or_else(|| panic!("no end_cursor: {}", self.body))
    }

    /// The start cursor, which every non-empty page has.
    pub fn start(&self) -> &str {
        self.start_cursor
            .as_deref()
            .unwrap_or_else(|| panic!("no start_cursor: {}", self.body))
    }
}

impl TestApp {
    /// GETs one page of the list at `path` with `query`, asserting a 200.
    pub fn page(&self, path: &str, query: &str, token: &str) -> Page {
        Page::from_body(self.get_ok(&with_query(path, query), token))
    }

    /// Follows `end_cursor` from the first page until `has_next_page` is false.
    pub fn walk_forward(&self, path: &str, limit: usize, token: &str) -> Vec<Page> {
        let mut pages = vec![self.page(path, &format!("limit={limit}"), token)];
        while pages.last().is_some_and(|page| page.has_next) {
            assert!(pages.len() < MAX_PAGES, "the walk forward of {path} does not end");
            let after = pages.last().map(|page| page.end().to_owned()).unwrap_or_default();
            pages.push(self.page(path, &format!("limit={limit}&after={after}"), token));
        }
        pages
    }

    /// Follows `start_cursor` backwards from `before` until `has_prev_page` is false;
    /// the pages come back in the order they were read (last page of the list first).
    pub fn walk_backward(&self, path: &str, limit: usize, before: &str, token: &str) -> Vec<Page> {
        let mut pages = vec![self.page(path, &format!("limit={limit}&before={before}"), token)];
        while pages.last().is_some_and(|page| page.has_prev) {
            assert!(pages.len() < MAX_PAGES, "the walk backward of {path} does not end");
            let before = pages.last().map(|page| page.start().to_owned()).unwrap_or_default();
            pages.push(self.page(path, &format!("limit={limit}&before={before}"), token));
        }
        pages
    }

    /// The IDs of every item of the list at `path`, read with the largest page size.
    pub fn all_ids(&self, path: &str, token: &str) -> Vec<String> {
        self.walk_forward(path, 100, token)
            .into_iter()
            .flat_map(|page| page.ids)
            .collect()
    }
}

/// The IDs of `pages` in order, front to back.
pub fn ids_of(pages: &[Page]) -> Vec<String> {
    pages.iter().flat_map(|page| page.ids.iter().cloned()).collect()
}

/// The IDs that occur more than once in `ids`.
pub fn duplicates(ids: &[String]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    ids.iter().filter(|id| !seen.insert(id.as_str())).cloned().collect()
}
