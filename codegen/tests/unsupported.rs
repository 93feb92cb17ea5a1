//! The generator refuses what it cannot honour, naming where and why, instead of
//! producing a server that silently ignores part of the spec.

const HEAD: &str = r#"
openapi: 3.0.3
info: {title: t, version: '1'}
components:
  schemas:
    Thing:
      type: object
      properties:
        name: {type: string}
paths:
"#;

fn generate_with_paths(paths: &str) -> Result<String, keycred_codegen::CodegenError> {
    keycred_codegen::generate(&format!("{HEAD}{paths}"))
}

#[test]
fn a_minimal_operation_generates() {
    let code = generate_with_paths(
        "  /things:\n    get:\n      operationId: listThings\n      security: []\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {$ref: '#/components/schemas/Thing'}\n",
    )
    .unwrap();
    assert!(code.contains("fn list_things("));
    assert!(code.contains("pub enum ListThingsResponse"));
    assert!(code.contains("Status200(Thing)"));
}

#[test]
fn an_operation_without_an_operation_id_is_refused() {
    let error = generate_with_paths(
        "  /things:\n    get:\n      security: []\n      responses:\n        '200': {description: ok}\n",
    )
    .unwrap_err();
    assert!(error.to_string().contains("operationId"), "{error}");
}

#[test]
fn a_pattern_in_a_request_schema_is_refused_rather_than_ignored() {
    let spec = format!(
        "{}{}",
        HEAD.replace("name: {type: string}", "name: {type: string, pattern: '^[a-z]+$'}"),
        "  /things:\n    post:\n      operationId: makeThing\n      security: []\n      requestBody:\n        required: true\n        content:\n          application/json:\n            schema: {$ref: '#/components/schemas/Thing'}\n      responses:\n        '200': {description: ok}\n",
    );
    let error = keycred_codegen::generate(&spec).unwrap_err();
    assert!(error.to_string().contains("pattern"), "{error}");
}

#[test]
fn default_responses_are_refused() {
    let error = generate_with_paths(
        "  /things:\n    get:\n      operationId: listThings\n      security: []\n      responses:\n        default: {description: anything}\n",
    )
    .unwrap_err();
    assert!(error.to_string().contains("default"), "{error}");
}

#[test]
fn an_openapi_3_1_document_is_refused() {
    let error = keycred_codegen::generate(&HEAD.replace("3.0.3", "3.1.0")).unwrap_err();
    assert!(error.to_string().contains("3.0"), "{error}");
}

/// `HEAD` plus one enum schema and a GET with one query parameter `expand` whose
/// `items` and extensions are given.
fn spec_with_expand(items: &str, extension: &str) -> String {
    let head = HEAD.replace("paths:\n", "");
    format!(
        "{head}    Field:\n      type: string\n      enum: [a, b]\npaths:\n  /things:\n    get:\n      operationId: listThings\n      security: []\n      parameters:\n        - name: expand\n          in: query\n{extension}          schema:\n            type: array\n            items: {items}\n      responses:\n        '200': {{description: ok}}\n"
    )
}

#[test]
fn ignored_unknown_values_need_items_that_admit_any_string() {
    let open = "{anyOf: [{$ref: '#/components/schemas/Field'}, {type: string}]}";
    let closed = "{$ref: '#/components/schemas/Field'}";
    let ignore = "          x-ignore-unknown-values: true\n";
    assert!(keycred_codegen::generate(&spec_with_expand(open, ignore)).is_ok());
    assert!(keycred_codegen::generate(&spec_with_expand(closed, "")).is_ok());
    for (items, extension) in [(closed, ignore), (open, "")] {
        let error = keycred_codegen::generate(&spec_with_expand(items, extension)).unwrap_err();
        assert!(error.to_string().contains("x-ignore-unknown-values"), "{error}");
    }
}

#[test]
fn a_parameter_pattern_other_than_the_uuid_header_is_refused() {
    let error = generate_with_paths(
        "  /things:\n    get:\n      operationId: listThings\n      security: []\n      parameters:\n        - name: q\n          in: query\n          schema: {type: string, pattern: '^[a-z]+$'}\n      responses:\n        '200': {description: ok}\n",
    )
    .unwrap_err();
    assert!(error.to_string().contains("pattern"), "{error}");
}

/// `HEAD` plus one enum schema `Field` and a GET with one parameter `q`, given in
/// flow style.
fn spec_with_parameter(parameter: &str) -> String {
    let head = HEAD.replace("paths:\n", "");
    format!(
        "{head}    Field:\n      type: string\n      enum: [a, b]\npaths:\n  /things:\n    get:\n      operationId: listThings\n      security: []\n      parameters:\n        - {parameter}\n      responses:\n        '200': {{description: ok}}\n"
    )
}

#[test]
fn a_query_parameter_naming_an_enum_is_one_of_its_values() {
    let code = keycred_codegen::generate(&spec_with_parameter(
        "{name: q, in: query, schema: {$ref: '#/components/schemas/Field'}}",
    ))
    .unwrap();
    assert!(code.contains("pub q: Option<Field>"), "{code}");
    assert!(code.contains(".query_enum::<Field>("), "{code}");
    for refused in [
        "{name: q, in: query, schema: {$ref: '#/components/schemas/Thing'}}",
        "{name: q, in: header, schema: {$ref: '#/components/schemas/Field'}}",
    ] {
        let error = keycred_codegen::generate(&spec_with_parameter(refused)).unwrap_err();
        assert!(error.to_string().contains("string enum"), "{refused}: {error}");
    }
}

#[test]
fn a_date_time_query_parameter_is_a_timestamp_and_takes_no_other_rule() {
    let code = keycred_codegen::generate(&spec_with_parameter(
        "{name: since, in: query, schema: {type: string, format: date-time}}",
    ))
    .unwrap();
    assert!(code.contains("pub since: Option<crate::decode::Timestamp>"), "{code}");
    assert!(code.contains(".query_date_time("), "{code}");
    for refused in [
        "{name: since, in: query, schema: {type: string, format: date-time, maxLength: 30}}",
        "{name: since, in: header, schema: {type: string, format: date-time}}",
    ] {
        let error = keycred_codegen::generate(&spec_with_parameter(refused)).unwrap_err();
        assert!(error.to_string().contains("date-time"), "{refused}: {error}");
    }
}

#[test]
fn a_plain_string_header_parameter_is_an_optional_string() {
    let code = generate_with_paths(
        "  /things:\n    get:\n      operationId: listThings\n      security: []\n      parameters:\n        - {name: If-Match, in: header, required: false, schema: {type: string, maxLength: 9}}\n      responses:\n        '200': {description: ok}\n",
    )
    .unwrap();
    assert!(code.contains("pub if_match: Option<String>"), "{code}");
    assert!(code.contains(".header_string("), "{code}");
}

#[test]
fn an_etag_on_a_success_response_comes_with_the_body() {
    let code = generate_with_paths(
        "  /things:\n    get:\n      operationId: listThings\n      security: []\n      responses:\n        '200':\n          description: ok\n          headers:\n            ETag: {required: true, schema: {type: string}}\n          content:\n            application/json:\n              schema: {$ref: '#/components/schemas/Thing'}\n",
    )
    .unwrap();
    assert!(code.contains("Status200(Thing, crate::request::EntityTag)"), "{code}");
    assert!(code.contains("crate::request::with_etag("), "{code}");
}

#[test]
fn other_headers_on_a_success_response_are_refused_rather_than_ignored() {
    let error = generate_with_paths(
        "  /things:\n    get:\n      operationId: listThings\n      security: []\n      responses:\n        '200':\n          description: ok\n          headers:\n            Location: {schema: {type: string}}\n          content:\n            application/json:\n              schema: {$ref: '#/components/schemas/Thing'}\n",
    )
    .unwrap_err();
    assert!(error.to_string().contains("ETag"), "{error}");
}
