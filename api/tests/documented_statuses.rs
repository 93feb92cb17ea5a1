//! An operation answers only the error statuses its spec entry lists: the generated
//! handler checks every `ApiError` against the operation's `…Response::ERROR_STATUSES`,
//! and debug builds (every test and fuzzing run) panic on a status the spec does not list.

mod common;

use axum::body::Body;
use axum::http::Request;
use common::RefusingApi;
use keycred_api::*;
use serde_json::Value;

fn get_healthz() -> Request<Body> {
    Request::builder()
        .uri("/healthz")
        .body(Body::empty())
        .expect("a valid request")
}

/// The error statuses the spec lists for the operation at `path` and `method`.
fn documented_error_statuses(path: &str, method: &str) -> Vec<u16> {
    let spec: Value = serde_json::from_str(OPENAPI_JSON).expect("the served spec is JSON");
    let responses = spec["paths"][path][method]["responses"]
        .as_object()
        .expect("the operation has responses");
    responses
        .keys()
        .map(|status| status.parse::<u16>().expect("statuses are numbers"))
        .filter(|status| *status >= 400)
        .collect()
}

#[test]
fn the_generated_error_statuses_are_the_ones_the_spec_lists() {
    assert_eq!(
        GetHealthzResponse::ERROR_STATUSES,
        documented_error_statuses("/healthz", "get")
    );
    assert_eq!(
        CreateServiceAccountTokenResponse::ERROR_STATUSES,
        documented_error_statuses("/service-account-token", "post")
    );
}

#[test]
fn an_error_status_the_operation_documents_is_answered() {
    let (status, body) = common::answer(RefusingApi::with_a_documented_status(), get_healthz());

    assert_eq!(status, 400);
    let body: Value = serde_json::from_slice(&body).expect("a JSON error");
    assert_eq!(body["code"], "invalid_request");
}

#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "getHealthz answered 404 (not_found), which openapi.yaml does not list for it")]
fn an_error_status_the_operation_does_not_document_panics_in_debug_builds() {
    let undocumented = RefusingApi {
        refusal: ApiError::not_found("getHealthz documents no 404"),
    };

    common::answer(undocumented, get_healthz());
}
