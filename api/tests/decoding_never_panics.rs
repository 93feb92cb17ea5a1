//! Property tests of request decoding: whatever a client sends, the decoding helpers,
//! every generated model's `Decode`, HTTP Basic parsing, query and path parameters and
//! the generated router never panic, and every refusal is a spec-shaped error.

mod common;

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request};
use base64::Engine as _;
use common::RefusingApi;
use keycred_api::decode::{self, Decode, Length, Timestamp, ValidationError, BODY};
use keycred_api::request::{self, RawParams};
use keycred_api::*;
use proptest::prelude::*;
use serde_json::Value;

/// Every property name of the spec's schemas, so that generated objects often get past
/// the first check of a model and into its fields.
fn field_names() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let spec: Value = serde_json::from_str(OPENAPI_JSON).expect("the served spec is JSON");
        let schemas = spec["components"]["schemas"].as_object().expect("the spec has schemas");
        let mut names: Vec<String> = schemas
            .values()
            .filter_map(|schema| schema["properties"].as_object())
            .flat_map(|properties| properties.keys().cloned())
            .collect();
        names.sort();
        names.dedup();
        names
    })
}

/// Strings that sit on the spec's edges: enum values, limits, dates, odd characters.
fn edge_strings() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            "\u{0}",
            "org_admin",
            "org_member",
            "org_viewer",
            "client_credentials",
            "bearer",
            "permissions",
            "2019-12-27T18:11:19.117Z",
            "9999-12-31T23:59:59.999+23:59",
            "-0001-01-01T00:00:00Z",
            "2019-02-30T00:00:00Z",
        ])
        .prop_map(str::to_owned),
        (0usize..600, prop::sample::select(vec!["a", "é", "🦀", "\u{0}"])).prop_map(|(n, unit)| unit.repeat(n)),
        "[0-9]{1,6}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,12})?(Z|[+-][0-9]{2}:[0-9]{2})",
    ]
}

/// A string that, if it showed up in an error message, could only have been echoed:
/// error messages must name fields and rules, never values.
fn marker() -> impl Strategy<Value = String> {
    "[A-Z]{24}"
}

/// Any JSON value, leaning towards objects with the spec's field names.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |x| serde_json::Number::from_f64(x).map(Value::Number)),
        any::<String>().prop_map(Value::String),
        edge_strings().prop_map(Value::String),
        marker().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        let key = prop_oneof![
            4 => prop::sample::select(field_names()),
            1 => any::<String>(),
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..8).prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// The marker strings anywhere in `value`.
fn markers_in(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::String(text) if text.len() == 24 && text.bytes().all(|byte| byte.is_ascii_uppercase()) => {
            found.push(text.clone());
        }
        Value::Array(items) => items.iter().for_each(|item| markers_in(item, found)),
        Value::Object(fields) => fields.values().for_each(|item| markers_in(item, found)),
        _ => {}
    }
}

/// Checks that a decoding failure is a 400 `invalid_request` whose message starts
/// with the field and never repeats a value of the input.
fn assert_spec_shaped(error: ValidationError, input: &Value) -> Result<(), TestCaseError> {
    let field = error.field.clone();
    let api_error = ApiError::from(error);
    prop_assert_eq!(api_error.code, ErrorCode::InvalidRequest);
    prop_assert_eq!(api_error.code.status().as_u16(), 400);
    prop_assert!(
        api_error.message.starts_with(&format!("{field}: ")),
        "{}",
        api_error.message
    );
    let mut markers = Vec::new();
    markers_in(input, &mut markers);
    for marker in markers {
        prop_assert!(
            !api_error.message.contains(&marker),
            "{} echoes a value",
            api_error.message
        );
    }
    Ok(())
}

/// Decodes `value` as each of the listed models, checking every refusal.
fn decode_as_every_model(value: &Value, models: &[(&str, decode::CheckDecodes)]) -> Result<(), TestCaseError> {
    for (_, check_decodes) in models {
        if let Err(error) = check_decodes(value.clone(), BODY) {
            assert_spec_shaped(error, value)?;
        }
    }
    Ok(())
}

#[test]
fn every_struct_and_enum_schema_of_the_spec_is_among_the_models_tested() {
    let spec: Value = serde_json::from_str(OPENAPI_JSON).expect("the served spec is JSON");
    let schemas = spec["components"]["schemas"].as_object().expect("the spec has schemas");
    let decodable = schemas
        .iter()
        .filter(|(_, schema)| schema.get("properties").is_some() || schema.get("enum").is_some());

    for (name, _) in decodable {
        assert!(MODELS.iter().any(|(model, _)| model == name), "{name} is not in MODELS");
    }
}

proptest! {
    // A failing case is printed, minimised; CI has nowhere to keep a regression file.
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_generated_model_decodes_any_json_without_panicking(value in any_json()) {
        decode_as_every_model(&value, MODELS)?;
        if let Err(error) = Timestamp::decode(value.clone(), BODY) {
            assert_spec_shaped(error, &value)?;
        }
    }

    #[test]
    fn a_request_body_with_the_right_keys_and_any_values_decodes_or_names_its_field(
        name in any_json(),
        description in any_json(),
        role in any_json(),
        grant_type in any_json(),
    ) {
        let body = serde_json::json!({
            "name": name, "description": description, "role": role,
            "grant_type": grant_type, "client_id": "id", "client_secret": "secret",
        });
        decode_as_every_model(&body, REQUEST_BODY_MODELS)?;
    }

    #[test]
    fn the_decoding_helpers_never_panic_and_report_the_field_they_were_given(
        value in any_json(),
        min in proptest::option::of(0u64..600),
        max in proptest::option::of(0u64..600),
        low in proptest::option::of(any::<i64>()),
        high in proptest::option::of(any::<i64>()),
    ) {
        let length = Length { min, max };
        let results: Vec<Result<(), ValidationError>> = vec![
            decode::decode_string(value.clone(), "f", length).map(drop),
            decode::decode_integer(value.clone(), "f", low, high).map(drop),
            decode::decode_bool(value.clone(), "f").map(drop),
            decode::decode_enum::<ServiceAccountRole>(value.clone(), "f").map(drop),
            decode::decode_object(value.clone(), "f").map(drop),
            decode::decode_array(value.clone(), "f", |item, field| decode::decode_string(item, field, length)).map(drop),
            decode::decode_map(value.clone(), "f", decode::decode_bool).map(drop),
            Timestamp::decode(value.clone(), "f").map(drop),
        ];
        for error in results.into_iter().filter_map(Result::err) {
            prop_assert!(error.field.starts_with('f'), "{}", error);
            assert_spec_shaped(error, &value)?;
        }
    }

    #[test]
    fn length_and_range_checks_agree_with_a_plain_count(
        text in prop_oneof![any::<String>(), edge_strings()],
        min in proptest::option::of(0u64..600),
        max in proptest::option::of(0u64..600),
        number in any::<i64>(),
        low in proptest::option::of(any::<i64>()),
        high in proptest::option::of(any::<i64>()),
    ) {
        let count = text.chars().count() as u64;
        let fits = min.is_none_or(|min| count >= min) && max.is_none_or(|max| count <= max);
        prop_assert_eq!(decode::check_length(&text, "f", Length { min, max }).is_ok(), fits);
        let in_range = low.is_none_or(|low| number >= low) && high.is_none_or(|high| number <= high);
        prop_assert_eq!(decode::check_range(number, "f", low, high).is_ok(), in_range);
        let _ = Timestamp(number).to_rfc3339();
    }

    #[test]
    fn any_authorization_header_is_basic_credentials_or_invalid_client(
        value in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            (prop::sample::select(vec!["Basic ", "basic ", "BASIC  ", "Bearer ", "Basic"]),
             prop::collection::vec(any::<u8>(), 0..120))
                .prop_map(|(scheme, raw)| {
                    let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
                    format!("{scheme}{encoded}").into_bytes()
                }),
            ("[%:a-zA-Z0-9+=]{0,40}", "[%:a-zA-Z0-9+=]{0,40}").prop_map(|(user, password)| {
                let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                format!("Basic {encoded}").into_bytes()
            }),
        ]
    ) {
        let Ok(header) = HeaderValue::from_bytes(&value) else {
            // hyper never hands over a header value it could not hold.
            return Ok(());
        };
        let mut headers = HeaderMap::new();
        headers.insert(axum::http::header::AUTHORIZATION, header);
        let _ = request::bearer_token(&headers);
        match request::basic_credentials(&headers) {
            Ok(credentials) => prop_assert!(credentials.is_some()),
            Err(error) => {
                prop_assert_eq!(error.code, ErrorCode::InvalidClient);
                prop_assert_eq!(error.code.status().as_u16(), 401);
            }
        }
    }

    #[test]
    fn query_parameters_decode_or_are_refused_with_a_400(
        pairs in prop::collection::vec((query_key(), query_value()), 0..40),
        path_values in prop::collection::vec(path_value(), 3),
    ) {
        let query: Vec<String> = pairs.iter().map(|(key, value)| format!("{key}={value}")).collect();
        let uri = format!("/anything?{}", query.join("&"));
        let (parts, ()) = Request::builder().uri(uri.as_str()).body(()).expect("a valid URI").into_parts();
        let path: Vec<(String, String)> = ["organization_id", "service_account_id", "credential_id"]
            .iter()
            .zip(&path_values)
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect();
        let raw = RawParams::new(path, &parts);

        // The path parameters that fit the spec's 1 to 255 characters, counted from the first.
        let fitting = path_values.iter().take_while(|value| (1..=255).contains(&value.chars().count())).count();
        let outcome = ListServiceAccountCredentialsParams::from_raw(&raw);
        if let Ok(params) = &outcome {
            prop_assert!(fitting >= 2);
            let decoded: Vec<(String, String)> =
                form_urlencoded_pairs(&uri).into_iter().filter(|(key, _)| key == "expand" || key == "expand[]").collect();
            let asked_for_permissions = decoded.iter().any(|(_, value)| value == "permissions");
            prop_assert_eq!(params.expand.contains(&ExpandValue::Permissions), asked_for_permissions);
            let mut unique = params.expand.clone();
            unique.dedup();
            prop_assert_eq!(unique.len(), params.expand.len());
        }
        for error in [
            outcome.err(),
            ListServiceAccountsParams::from_raw(&raw).err(),
            ListOrganizationsParams::from_raw(&raw).err(),
            GetServiceAccountCredentialParams::from_raw(&raw).err(),
            UpdateServiceAccountCredentialParams::from_raw(&raw).err(),
            DeleteServiceAccountCredentialParams::from_raw(&raw).err(),
            GetOrganizationParams::from_raw(&raw).err(),
        ].into_iter().flatten() {
            assert_spec_shaped(error, &Value::Null)?;
        }
        prop_assert_eq!(GetServiceAccountCredentialParams::from_raw(&raw).is_ok(), fitting == 3);
    }

    #[test]
    fn any_request_through_the_generated_router_gets_a_spec_shaped_answer(
        method in prop::sample::select(vec!["GET", "HEAD", "POST", "PATCH", "DELETE", "PUT", "OPTIONS"]),
        segments in prop::collection::vec(path_segment(), 0..6),
        query in prop::collection::vec((query_key(), query_value()), 0..6),
        authorization in proptest::option::of(prop::collection::vec(any::<u8>(), 0..60)),
        content_type in proptest::option::of(prop::sample::select(vec![
            "application/json", "application/x-www-form-urlencoded", "text/plain", "application/json; charset=utf-8",
        ])),
        client_request_id in proptest::option::of("[a-f0-9-]{0,40}"),
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            any_json().prop_map(|value| value.to_string().into_bytes()),
        ],
    ) {
        let mut path = String::new();
        let mut names = ["organizations", "service-accounts", "credentials"].iter().cycle();
        for segment in &segments {
            path.push('/');
            path.push_str(names.next().expect("cycled"));
            path.push('/');
            path.push_str(segment);
        }
        let query: Vec<String> = query.iter().map(|(key, value)| format!("{key}={value}")).collect();
        let uri = format!("{}?{}", if path.is_empty() { "/" } else { &path }, query.join("&"));
        let mut builder = Request::builder().method(method).uri(uri);
        if let Some(value) = authorization.and_then(|raw| HeaderValue::from_bytes(&raw).ok()) {
            builder = builder.header("Authorization", value);
        }
        if let Some(content_type) = content_type {
            builder = builder.header("Content-Type", content_type);
        }
        if let Some(id) = client_request_id {
            builder = builder.header("X-Client-Request-ID", id);
        }
        let request = builder.body(Body::from(body)).expect("a valid request");

        let (status, body) = common::answer(RefusingApi::with_a_documented_status(), request);

        prop_assert!(
            matches!(status, 400 | 401 | 404 | 405 | 413 | 415),
            "status {} for {} {}",
            status,
            method,
            path
        );
        if method != "HEAD" {
            let body: Value = serde_json::from_slice(&body).map_err(|error| TestCaseError::fail(error.to_string()))?;
            prop_assert!(body["message"].as_str().is_some_and(|message| !message.is_empty()), "{}", body);
            prop_assert!(body["code"].is_string(), "{}", body);
            prop_assert_eq!(body["status"].as_u64(), Some(u64::from(status)), "{}", body);
        }
    }
}

/// Query keys: the spec's, their bracketed and percent-encoded forms, and junk.
fn query_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "expand",
            "expand[]",
            "expand%5B%5D",
            "limit",
            "after",
            "before",
            "",
            "%",
            "%FF"
        ])
        .prop_map(str::to_owned),
        any::<String>().prop_map(|key| percent_encode(&key)),
    ]
}

/// Query values: the spec's, numbers at and past their limits, bad escapes, and junk.
fn query_value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "permissions",
            "unknown",
            "PERMISSIONS",
            "",
            "0",
            "1",
            "100",
            "101",
            "-1",
            "99999999999999999999",
            "%",
            "%G0",
            "%FF",
            "%00",
            "permissions%00",
        ])
        .prop_map(str::to_owned),
        any::<String>().prop_map(|value| percent_encode(&value)),
    ]
}

/// Path parameter values, before percent-encoding.
fn path_value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            "/",
            "\u{0}",
            "..",
            "é",
            "🦀",
            "acme",
            "zzzzzzzzzzzzzzzzzzzzzzzzzz"
        ])
        .prop_map(str::to_owned),
        (0usize..300).prop_map(|n| "a".repeat(n)),
        any::<String>(),
    ]
}

/// Path segments as sent: encoded values, and escapes that are not UTF-8 or not escapes.
fn path_segment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => path_value().prop_map(|value| percent_encode(&value)),
        1 => prop::sample::select(vec!["%FF", "%C3", "%E2%82", "%", "%G1", "%2F", "%00", "%ED%A0%80"]).prop_map(str::to_owned),
        1 => prop::collection::vec(any::<u8>(), 1..8).prop_map(|bytes| bytes.iter().map(|byte| format!("%{byte:02X}")).collect()),
    ]
}

/// Percent-encodes every byte outside `[A-Za-z0-9._~-]`, so any string fits in a URI.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'~' | b'-' => (byte as char).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// The query pairs of `uri`, decoded as the server decodes them.
fn form_urlencoded_pairs(uri: &str) -> Vec<(String, String)> {
    let query = uri.split_once('?').map(|(_, query)| query).unwrap_or_default();
    url_decode_pairs(query)
}

/// `application/x-www-form-urlencoded` decoding, done independently of the server's.
fn url_decode_pairs(query: &str) -> Vec<(String, String)> {
    let decode = |text: &str| {
        let bytes = text.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut index = 0;
        while index < bytes.len() {
            let hex = |at: usize| bytes.get(at).and_then(|byte| (*byte as char).to_digit(16));
            match (bytes[index], hex(index + 1), hex(index + 2)) {
                (b'%', Some(high), Some(low)) => {
                    out.push((high * 16 + low) as u8);
                    index += 3;
                }
                (b'+', _, _) => {
                    out.push(b' ');
                    index += 1;
                }
                (byte, _, _) => {
                    out.push(byte);
                    index += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key), decode(value))
        })
        .collect()
}
