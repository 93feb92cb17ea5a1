//! Request bodies: read within a size limit and a deadline, then parsed by media type.

use axum::body::Body;
use axum::http::{header, HeaderMap};
use http_body_util::BodyExt as _;
use serde_json::{Map, Value};

use crate::decode::{Problem, ValidationError};
use crate::error::{ApiError, ErrorCode};

/// The largest request body accepted, in bytes (64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What a request body fails with when it does not arrive in time. The server wraps
/// each body in a deadline that ends with this error; [`read_body_bytes`] answers it
/// with a 408 `request_timeout` instead of the 400 of a body that broke off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyTimedOut {
    /// How long the body was given, from the end of the request head.
    pub limit: std::time::Duration,
}

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let limit = self.limit;
        if limit.subsec_millis() == 0 {
            write!(f, "request body was not received within {} seconds", limit.as_secs())
        } else {
            write!(f, "request body was not received within {} ms", limit.as_millis())
        }
    }
}

impl std::error::Error for BodyTimedOut {}

/// The [`BodyTimedOut`] somewhere in `error`'s chain of sources, if there is one: the
/// body types in between (axum's, `Limited`'s) each wrap the error once more.
fn body_timed_out<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a BodyTimedOut> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(timed_out) = error.downcast_ref::<BodyTimedOut>() {
            return Some(timed_out);
        }
        current = error.source();
    }
    None
}

/// The media types a request body may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// `application/json`
    Json,
    /// `application/x-www-form-urlencoded`
    Form,
}

impl BodyKind {
    fn media_type(self) -> &'static str {
        match self {
            BodyKind::Json => "application/json",
            BodyKind::Form => "application/x-www-form-urlencoded",
        }
    }
}

/// Reads a request body (at most [`MAX_BODY_BYTES`]) before anything else is decided,
/// so that every answer, even an early 401, leaves the connection clean for keep-alive.
pub async fn read_body_bytes(headers: &HeaderMap, body: Body) -> Result<axum::body::Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("request body must be at most {MAX_BODY_BYTES} bytes"),
        )
    };
    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared_length.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    match http_body_util::Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(error) => match body_timed_out(error.as_ref()) {
            Some(timed_out) => Err(ApiError::new(ErrorCode::RequestTimeout, timed_out.to_string())),
            None => Err(ApiError::invalid_request("request body could not be read")),
        },
    }
}

/// Parses a body read by [`read_body_bytes`] as the given kind into a JSON value, ready
/// for the body model's [`Decode`](crate::decode::Decode).
pub fn parse_body(headers: &HeaderMap, bytes: &[u8], kind: BodyKind) -> Result<Value, ApiError> {
    if !has_media_type(headers, kind.media_type()) {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!("request body must be {}", kind.media_type()),
        ));
    }
    match kind {
        BodyKind::Json => parse_json(bytes),
        BodyKind::Form => parse_form(bytes),
    }
}

/// [`parse_body`] for an optional body: `None` when there is none, or only white
/// space (whatever its declared type, since there is nothing to read); otherwise the
/// body must have the right media type and parse, as for a required one.
pub fn parse_optional_body(headers: &HeaderMap, bytes: &[u8], kind: BodyKind) -> Result<Option<Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    parse_body(headers, bytes, kind).map(Some)
}

fn has_media_type(headers: &HeaderMap, expected: &str) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case(expected)
}

fn parse_json(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid_request("request body: is required"));
    }
    serde_json::from_slice(bytes).map_err(|error| {
        // serde_json's message names a position, never the input itself.
        let kind = if error.is_syntax() || error.is_eof() {
            "is not valid JSON"
        } else {
            "could not be parsed"
        };
        ApiError::invalid_request(format!(
            "request body: {kind} (line {}, column {})",
            error.line(),
            error.column()
        ))
    })
}

fn parse_form(bytes: &[u8]) -> Result<Value, ApiError> {
    if std::str::from_utf8(bytes).is_err() {
        return Err(ApiError::invalid_request("request body: must be valid UTF-8"));
    }
    let mut fields = Map::new();
    for (name, value) in form_urlencoded::parse(bytes) {
        // RFC 6749 §3.2: request parameters must not be included more than once.
        if fields
            .insert(name.to_string(), Value::String(value.into_owned()))
            .is_some()
        {
            return Err(ValidationError::new(name.into_owned(), Problem::Repeated).into());
        }
    }
    Ok(Value::Object(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_timeout_is_found_under_the_wrappers_of_the_body_types() {
        let timed_out = BodyTimedOut {
            limit: std::time::Duration::from_millis(1500),
        };
        let wrapped: Box<dyn std::error::Error + Send + Sync> = Box::new(axum::Error::new(timed_out));
        assert_eq!(body_timed_out(wrapped.as_ref()), Some(&timed_out));
        let other: Box<dyn std::error::Error + Send + Sync> = Box::new(axum::Error::new(std::fmt::Error));
        assert_eq!(body_timed_out(other.as_ref()), None);
    }

    #[test]
    fn an_optional_body_may_be_missing_or_empty_but_not_of_another_type() {
        let mut json = HeaderMap::new();
        json.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        assert_eq!(
            parse_optional_body(&HeaderMap::new(), b"", BodyKind::Json).unwrap(),
            None
        );
        assert_eq!(parse_optional_body(&json, b" \n", BodyKind::Json).unwrap(), None);
        assert_eq!(
            parse_optional_body(&json, b"{}", BodyKind::Json).unwrap(),
            Some(Value::Object(Map::new()))
        );
        let error = parse_optional_body(&HeaderMap::new(), b"{}", BodyKind::Json).unwrap_err();
        assert_eq!(error.code, ErrorCode::UnsupportedMediaType);
        assert!(parse_optional_body(&json, b"{", BodyKind::Json).is_err());
    }

    #[test]
    fn repeated_form_fields_are_refused() {
        let error = parse_form(b"grant_type=a&grant_type=b").unwrap_err();
        assert_eq!(error.message, "grant_type: must be given only once");
    }
}
