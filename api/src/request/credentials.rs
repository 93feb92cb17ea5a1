//! Credentials read from the `Authorization` header: bearer tokens and HTTP Basic pairs.

use axum::http::{header, HeaderMap};
use base64::Engine as _;

use crate::error::{ApiError, ErrorCode};

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
}
