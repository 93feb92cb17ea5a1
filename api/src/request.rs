//! Request plumbing shared by the generated handlers: request IDs, credentials from
//! the `Authorization` header, raw parameters, and bodies read within a size limit.

use axum::body::Body;
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::{header, request::Parts, HeaderMap};
use base64::Engine as _;
use http_body_util::BodyExt as _;
use serde_json::{Map, Value};

use crate::decode::{check_length, Length, Problem, ValidationError, WireEnum};
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

/// The server-generated ID of one request, sent back as `X-Request-ID`.
///
/// The server's middleware puts it in the request's extensions; handlers copy it
/// into [`RequestContext`] so logs and errors can name the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// What every operation receives besides its parameters and body.
#[derive(Debug, Clone)]
pub struct RequestContext<C> {
    /// Who is calling: the authenticated caller for bearer-secured operations,
    /// the HTTP Basic credentials (if any) for the token endpoint, `()` otherwise.
    pub caller: C,
    /// This request's server-generated ID.
    pub request_id: RequestId,
}

/// A client_id/client_secret pair sent by HTTP Basic authentication.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    /// The user name: the client_id.
    pub username: String,
    /// The password: the client_secret.
    pub password: String,
}

impl std::fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password is a secret: keep it out of every debug print and log.
        f.debug_struct("BasicCredentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The request's ID as the middleware recorded it, or a fresh one if it did not run.
pub fn request_id(parts: &Parts) -> RequestId {
    parts
        .extensions
        .get::<RequestId>()
        .cloned()
        .unwrap_or_else(|| RequestId(uuid_like_id()))
}

fn uuid_like_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("local-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The bearer token of `Authorization: Bearer <token>`, if that is what was sent.
/// Any other or malformed `Authorization` counts as no token.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The HTTP Basic credentials of the `Authorization` header. `Ok(None)` when there is
/// no `Authorization` header; an error when there is one that is not valid Basic.
pub fn basic_credentials(headers: &HeaderMap) -> Result<Option<BasicCredentials>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || ApiError::new(ErrorCode::InvalidClient, "client authentication failed");
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, encoded) = value.split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(malformed());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (username, password) = decoded.split_once(':').ok_or_else(malformed)?;
    // RFC 6749 §2.3.1: client_id and client_secret are form-urlencoded before Basic encoding.
    let unescape = |text: &str| -> String {
        form_urlencoded::parse(format!("x={text}").as_bytes())
            .next()
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default()
    };
    Ok(Some(BasicCredentials {
        username: unescape(username),
        password: unescape(password),
    }))
}

/// The percent-decoded path parameters of a request, in route order.
pub async fn path_params(parts: &mut Parts) -> Result<Vec<(String, String)>, ApiError> {
    let params = RawPathParams::from_request_parts(parts, &())
        .await
        .map_err(|_| ApiError::invalid_request("path parameters must be valid percent-encoded UTF-8"))?;
    Ok(params
        .iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect())
}

/// Path, query and header values of one request, before the spec's rules are applied.
pub struct RawParams<'a> {
    path: Vec<(String, String)>,
    query: Vec<(String, String)>,
    headers: &'a HeaderMap,
}

impl<'a> RawParams<'a> {
    /// Gathers a request's raw parameters; `path` comes from [`path_params`].
    pub fn new(path: Vec<(String, String)>, parts: &'a Parts) -> RawParams<'a> {
        let query = parts
            .uri
            .query()
            .map(|query| form_urlencoded::parse(query.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        RawParams {
            path,
            query,
            headers: &parts.headers,
        }
    }

    /// A required string path parameter within length limits.
    pub fn path_string(&self, name: &str, length: Length) -> Result<String, ValidationError> {
        let value = self
            .path
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .ok_or_else(|| ValidationError::new(name, Problem::Missing))?;
        check_length(&value, name, length)?;
        Ok(value)
    }

    /// An optional query parameter given at most once.
    pub fn query_single(&self, name: &str) -> Result<Option<&str>, ValidationError> {
        let mut values = self
            .query
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(ValidationError::new(name, Problem::Repeated));
        }
        Ok(first)
    }

    /// An optional string query parameter within length limits.
    pub fn query_string(&self, name: &str, length: Length) -> Result<Option<String>, ValidationError> {
        let Some(value) = self.query_single(name)? else {
            return Ok(None);
        };
        check_length(value, name, length)?;
        Ok(Some(value.to_owned()))
    }

    /// An optional integer query parameter within an optional range.
    pub fn query_integer(
        &self,
        name: &str,
        minimum: Option<i64>,
        maximum: Option<i64>,
    ) -> Result<Option<i64>, ValidationError> {
        let Some(value) = self.query_single(name)? else {
            return Ok(None);
        };
        let number = value
            .parse::<i64>()
            .map_err(|_| ValidationError::new(name, Problem::WrongType("an integer")))?;
        crate::decode::check_range(number, name, minimum, maximum)?;
        Ok(Some(number))
    }

    /// A repeatable enum query parameter, accepted as `name=v` and `name[]=v`.
    /// With `ignore_unknown`, values the enum does not know are dropped, not refused.
    pub fn query_enum_array<E: WireEnum>(&self, name: &str, ignore_unknown: bool) -> Result<Vec<E>, ValidationError> {
        let bracketed = format!("{name}[]");
        let mut values = Vec::new();
        for (key, value) in &self.query {
            if key != name && *key != bracketed {
                continue;
            }
            match E::from_wire(value) {
                Some(known) if !values.contains(&known.as_wire()) => values.push(known.as_wire()),
                Some(_) => {}
                None if ignore_unknown => {}
                None => return Err(ValidationError::new(name, Problem::NotOneOf(E::ALLOWED))),
            }
        }
        Ok(values.into_iter().filter_map(E::from_wire).collect())
    }

    /// An optional string header within length limits. A value that is not visible
    /// ASCII (RFC 9110 field values may carry other bytes) is refused rather than guessed at.
    pub fn header_string(&self, name: &str, length: Length) -> Result<Option<String>, ValidationError> {
        let Some(value) = self.headers.get(name) else {
            return Ok(None);
        };
        let text = value
            .to_str()
            .map_err(|_| ValidationError::new(name, Problem::WrongType("visible ASCII text")))?;
        check_length(text, name, length)?;
        Ok(Some(text.to_owned()))
    }

    /// An optional UUID header, in the canonical form the spec's pattern describes.
    pub fn header_uuid(&self, name: &str) -> Result<Option<uuid::Uuid>, ValidationError> {
        let Some(value) = self.headers.get(name) else {
            return Ok(None);
        };
        let invalid = || ValidationError::new(name, Problem::BadFormat("a UUID"));
        let text = value.to_str().map_err(|_| invalid())?;
        parse_canonical_uuid(text).map(Some).ok_or_else(invalid)
    }
}

/// A UUID in its canonical hyphenated 8-4-4-4-12 form (hex digits in either case), and
/// nothing else: not the simple, braced or URN forms `uuid` also parses, since the spec's
/// pattern allows only this one.
pub fn parse_canonical_uuid(text: &str) -> Option<uuid::Uuid> {
    // 36 characters can only be the hyphenated form, which `try_parse` then checks fully.
    if text.len() != 36 {
        return None;
    }
    uuid::Uuid::try_parse(text).ok()
}

/// An entity tag as sent in an `ETag` header, quotes included (`"…"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityTag(pub String);

impl EntityTag {
    /// Whether an `If-Match` value (RFC 9110 §13.1.1) matches this tag: `*`, or a
    /// comma-separated list holding this tag, compared strongly (a weak `W/` tag never
    /// matches). Anything malformed matches nothing, so it fails safe with a 412.
    pub fn matches(&self, if_match: &str) -> bool {
        let if_match = if_match.trim();
        if_match == "*" || if_match.split(',').any(|candidate| candidate.trim() == self.0)
    }
}

/// Adds an `ETag` header to a success response. Tags are made by the server from hex
/// digits, so one that is not a valid header value is a bug: it is left out, not sent broken.
pub fn with_etag(mut response: axum::response::Response, etag: EntityTag) -> axum::response::Response {
    if let Ok(value) = axum::http::HeaderValue::try_from(etag.0) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
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

/// The answer to a path that exists but not with the request's method.
pub fn method_not_allowed(allow: &'static str) -> axum::response::Response {
    axum::response::IntoResponse::into_response(ApiError::method_not_allowed(allow))
}

/// The answer to a path no operation has.
pub async fn not_found() -> axum::response::Response {
    axum::response::IntoResponse::into_response(ApiError::not_found("no such route"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers_with_authorization(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn bearer_tokens_are_read_case_insensitively_and_nothing_else_counts() {
        assert_eq!(bearer_token(&headers_with_authorization("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&headers_with_authorization("bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&headers_with_authorization("Basic abc")), None);
        assert_eq!(bearer_token(&headers_with_authorization("Bearer ")), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }

    #[test]
    fn basic_credentials_are_decoded_and_unescaped() {
        let encoded = base64::engine::general_purpose::STANDARD.encode("client%3Aid:se%2Bcret");
        let credentials = basic_credentials(&headers_with_authorization(&format!("Basic {encoded}")))
            .unwrap()
            .unwrap();
        assert_eq!(credentials.username, "client:id");
        assert_eq!(credentials.password, "se+cret");
    }

    #[test]
    fn malformed_basic_credentials_are_a_client_authentication_failure() {
        for value in ["Basic !!!", "Bearer abc", "Basic", "Basic bm9jb2xvbg=="] {
            let error = basic_credentials(&headers_with_authorization(value)).unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidClient, "{value}");
        }
    }

    #[test]
    fn the_debug_print_of_basic_credentials_hides_the_password() {
        let credentials = BasicCredentials {
            username: "id".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{credentials:?}").contains("hunter2"));
    }

    #[test]
    fn only_canonical_uuids_are_accepted() {
        let canonical = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
        assert!(parse_canonical_uuid(canonical).is_some());
        assert!(parse_canonical_uuid(&canonical.to_uppercase()).is_some());
        for other in [
            "3fa85f6457174562b3fc2c963f66afa6",
            "{3fa85f64-5717-4562-b3fc-2c963f66afa6}",
            "urn:uuid:3fa85f64-5717-4562-b3fc-2c963f66afa6",
            "3fa85f64-5717-4562-b3fc-2c963f66afaz",
            "",
        ] {
            assert!(parse_canonical_uuid(other).is_none(), "{other}");
        }
    }

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
    fn repeated_form_fields_are_refused() {
        let error = parse_form(b"grant_type=a&grant_type=b").unwrap_err();
        assert_eq!(error.message, "grant_type: must be given only once");
    }
}
