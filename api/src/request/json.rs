//! Success answers with a JSON body, as the generated handlers give them.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::{ApiError, ErrorStyle};

/// Room for one resource's JSON without growing (a credential's is about 600 bytes);
/// a page of a list grows from there. axum's `Json` starts at 128 bytes, and grew
/// three times for every credential.
const INITIAL_CAPACITY: usize = 1024;

/// `status` with `body` as JSON. Should `body` fail to serialize (no model the
/// generator emits can), the answer is the spec's 500 in the operation's error
/// `style`, not a body cut short.
pub fn json_response<T: Serialize>(status: StatusCode, body: &T, style: ErrorStyle) -> Response {
    let mut bytes = Vec::with_capacity(INITIAL_CAPACITY);
    match serde_json::to_writer(&mut bytes, body) {
        Ok(()) => (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            bytes,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "a response body could not be serialized");
            ApiError::internal().into_response_with(style)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serializes as an error, as a map with a non-string key does.
    struct Unserializable;

    impl Serialize for Unserializable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("cannot"))
        }
    }

    async fn body_of(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("a body");
        serde_json::from_slice(&bytes).expect("a JSON body")
    }

    #[tokio::test]
    async fn a_body_is_answered_as_json_with_its_status() {
        let response = json_response(
            StatusCode::CREATED,
            &serde_json::json!({"name": "x".repeat(5000)}),
            ErrorStyle::Api,
        );
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(body_of(response).await["name"].as_str().map(str::len), Some(5000));
    }

    #[tokio::test]
    async fn a_body_that_cannot_be_serialized_is_the_spec_500_in_the_operations_style() {
        let response = json_response(StatusCode::OK, &Unserializable, ErrorStyle::Api);
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body_of(response).await["code"], "internal_error");

        let response = json_response(StatusCode::OK, &Unserializable, ErrorStyle::OAuth);
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body_of(response).await["error"], "server_error");
    }
}
