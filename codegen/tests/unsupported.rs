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
fn nullable_schemas_are_refused() {
    let spec = format!(
        "{}{}",
        HEAD.replace("name: {type: string}", "name: {type: string, nullable: true}"),
        "  {}\n"
    );
    let error = keycred_codegen::generate(&spec).unwrap_err();
    assert!(error.to_string().contains("nullable"), "{error}");
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
