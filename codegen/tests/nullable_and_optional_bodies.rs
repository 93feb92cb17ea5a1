//! What the generator makes of `nullable` and of an optional request body: an optional
//! property marked `nullable: true` decodes into a tri-state (absent, `null`, a value),
//! `nullable` anywhere else is refused, and an optional JSON body reaches the handler
//! as an `Option`.

const HEAD: &str = r#"
openapi: 3.0.3
info: {title: t, version: '1'}
components:
  schemas:
    Thing:
      type: object
      OBJECT_REQUIRED
      properties:
        name: {type: string}
        until: PROPERTY
paths:
  /things:
    post:
      operationId: makeThing
      security: []
      requestBody:
        required: BODY_REQUIRED
        content:
          MEDIA_TYPE:
            schema: {$ref: '#/components/schemas/Thing'}
      responses:
        '200': {description: ok}
"#;

/// The spec with `until`'s schema, the object's `required` line, whether the body is
/// required and its media type.
fn spec(property: &str, required: &str, body_required: bool, media_type: &str) -> String {
    HEAD.replace("PROPERTY", property)
        .replace("BODY_REQUIRED", &body_required.to_string())
        .replace("OBJECT_REQUIRED", required)
        .replace("MEDIA_TYPE", media_type)
}

/// The generated code with its white space removed, for matching fragments.
fn squeezed(code: &str) -> String {
    code.split_whitespace().collect()
}

#[test]
fn an_optional_nullable_property_is_a_tri_state() {
    let nullable = "{type: string, format: date-time, nullable: true}";
    let code = keycred_codegen::generate(&spec(nullable, "", true, "application/json")).unwrap();
    let code = squeezed(&code);

    assert!(
        code.contains("pubuntil:Option<Option<crate::decode::Timestamp>>,"),
        "{code}"
    );
    assert!(code.contains("Some(serde_json::Value::Null)=>Some(None),"), "{code}");
    assert!(
        code.contains("Some(Some(<crate::decode::Timestampascrate::decode::Decode>::decode(value,&field,)?,),)"),
        "{code}"
    );
    // Every other property still refuses null.
    assert!(code.contains("pubname:Option<String>,"), "{code}");
}

#[test]
fn nullable_on_a_required_property_is_refused() {
    let nullable = "{type: string, nullable: true}";
    let error = keycred_codegen::generate(&spec(nullable, "required: [until]", true, "application/json")).unwrap_err();
    assert!(error.to_string().contains("nullable"), "{error}");
    assert!(error.to_string().contains("required"), "{error}");
}

#[test]
fn nullable_on_an_enum_is_refused() {
    let nullable = "{type: string, enum: [a, b], nullable: true}";
    let error = keycred_codegen::generate(&spec(nullable, "", true, "application/json")).unwrap_err();
    assert!(error.to_string().contains("nullable"), "{error}");
}

#[test]
fn nullable_on_a_named_schema_or_an_array_item_is_refused() {
    let named = spec("{type: string}", "", true, "application/json").replace(
        "    Thing:\n      type: object\n",
        "    Thing:\n      type: object\n      nullable: true\n",
    );
    let item = spec(
        "{type: array, items: {type: string, nullable: true}}",
        "",
        true,
        "application/json",
    );
    for spec in [named, item] {
        let error = keycred_codegen::generate(&spec).unwrap_err();
        assert!(error.to_string().contains("nullable"), "{error}");
    }
}

#[test]
fn an_optional_json_body_reaches_the_handler_as_an_option() {
    let code = keycred_codegen::generate(&spec("{type: string}", "", false, "application/json")).unwrap();
    let code = squeezed(&code);

    assert!(code.contains("body:Option<Thing>"), "{code}");
    assert!(code.contains("crate::request::parse_optional_body("), "{code}");
    let required = keycred_codegen::generate(&spec("{type: string}", "", true, "application/json")).unwrap();
    assert!(squeezed(&required).contains("body:Thing"), "{required}");
    assert!(!squeezed(&required).contains("parse_optional_body"), "{required}");
}

#[test]
fn an_optional_form_body_is_refused() {
    let form = spec("{type: string}", "", false, "application/x-www-form-urlencoded");
    let error = keycred_codegen::generate(&form).unwrap_err();
    assert!(error.to_string().contains("optional request body"), "{error}");
}

#[test]
fn nullable_on_a_parameter_is_refused() {
    let with_parameter = spec("{type: string}", "", true, "application/json").replace(
        "      security: []\n",
        "      security: []\n      parameters:\n        - {name: q, in: query, schema: {type: string, nullable: true}}\n",
    );
    let error = keycred_codegen::generate(&with_parameter).unwrap_err();
    assert!(error.to_string().contains("nullable"), "{error}");
}
