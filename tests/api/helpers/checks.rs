//! Checks shared by the tests: the error shapes, timestamps, JSON log lines, and raw
//! byte searches.

use std::collections::BTreeSet;

use serde_json::Value;

use super::TestResponse;

/// Asserts the response is `status` with exactly `{message, code, status}`: a
/// non-empty message, the given code and the HTTP status repeated.
pub fn assert_error(response: &TestResponse, status: u16, code: &str) {
    assert_eq!(response.status, status, "status of {}", response.text());
    let body = response.json();
    let object = body
        .as_object()
        .unwrap_or_else(|| panic!("error body is not an object: {body}"));
    let keys: BTreeSet<&str> = object.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from(["message", "code", "status"]),
        "error body keys: {body}"
    );
    assert_eq!(body["code"], code, "error body: {body}");
    assert_eq!(body["status"].as_u64(), Some(u64::from(status)), "error body: {body}");
    assert!(
        body["message"].as_str().is_some_and(|message| !message.is_empty()),
        "error body: {body}"
    );
}

/// Asserts a token endpoint error: `status` with exactly `{error, error_description,
/// message, code, status}`, the RFC 6749 `error` and the API `code` given.
pub fn assert_token_error(response: &TestResponse, status: u16, error: &str, code: &str) {
    assert_eq!(response.status, status, "status of {}", response.text());
    let body = response.json();
    let object = body
        .as_object()
        .unwrap_or_else(|| panic!("error body is not an object: {body}"));
    let keys: BTreeSet<&str> = object.keys().map(String::as_str).collect();
    let expected = BTreeSet::from(["error", "error_description", "message", "code", "status"]);
    assert_eq!(keys, expected, "token error body keys: {body}");
    assert_eq!(body["error"], error, "token error body: {body}");
    assert_eq!(body["code"], code, "token error body: {body}");
    assert_eq!(
        body["status"].as_u64(),
        Some(u64::from(status)),
        "token error body: {body}"
    );
    assert!(
        body["message"].as_str().is_some_and(|message| !message.is_empty()),
        "token error body: {body}"
    );
    assert_eq!(body["message"], body["error_description"], "token error body: {body}");
}

/// The error's message.
pub fn message_of(response: &TestResponse) -> String {
    response.json()["message"].as_str().unwrap_or_default().to_owned()
}

/// The keys of a JSON object, sorted.
pub fn keys_of(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .cloned()
        .collect()
}

/// Whether `text` is an RFC 3339 UTC time with milliseconds: `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn is_utc_millis_timestamp(text: &str) -> bool {
    let pattern = b"dddd-dd-ddTdd:dd:dd.dddZ";
    text.len() == pattern.len()
        && text.bytes().zip(pattern.iter()).all(|(byte, &want)| match want {
            b'd' => byte.is_ascii_digit(),
            literal => byte == literal,
        })
}

/// Every line of a `--log-format json` log, each asserted to be one JSON object with
/// a `timestamp`, a `level` and a `message`. A last line without its newline is still
/// being written, and is left out.
pub fn json_log_lines(logs: &str) -> Vec<Value> {
    logs.split_inclusive('\n')
        .filter(|line| line.ends_with('\n'))
        .map(|line| {
            let object: Value = serde_json::from_str(line).unwrap_or(Value::Null);
            assert!(
                object.is_object(),
                "a log line is not one JSON object: {line:?}\n--- log ---\n{logs}"
            );
            for key in ["timestamp", "level", "message"] {
                assert!(object[key].is_string(), "a log line has no {key} string: {line:?}");
            }
            object
        })
        .collect()
}

/// Whether `needle` occurs in `haystack` as raw bytes.
pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|window| window == needle)
}
