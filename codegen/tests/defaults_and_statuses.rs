//! What the generator makes of `default` values and error responses: an integer query
//! parameter's default becomes the value of an absent parameter, any other default is
//! refused, and an operation's documented error statuses become the list its handler
//! checks every error against.

const HEAD: &str = r#"
openapi: 3.0.3
info: {title: t, version: '1'}
components:
  schemas:
    Thing:
      type: object
      properties:
        name: {type: string}
    Error:
      type: object
      properties:
        message: {type: string}
paths:
  /things:
    get:
      operationId: listThings
      security: []
"#;

const OK_AND_ERRORS: &str = "      responses:
        '200': {description: ok}
        '404':
          description: none
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Error'}
        '400':
          description: bad
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Error'}
";

/// A spec whose one operation has `parameter` (a YAML flow mapping).
fn with_parameter(parameter: &str) -> String {
    format!("{HEAD}      parameters:\n        - {parameter}\n{OK_AND_ERRORS}")
}

#[test]
fn an_integer_query_parameters_default_is_the_value_of_an_absent_parameter() {
    let code = keycred_codegen::generate(&with_parameter(
        "{name: size, in: query, schema: {type: integer, minimum: 1, maximum: 30, default: 7}}",
    ))
    .unwrap();

    assert!(code.contains("pub size: i64,"), "{code}");
    let squeezed: String = code.split_whitespace().collect();
    assert!(
        squeezed.contains("raw.query_integer(\"size\",Some(1i64),Some(30i64))?.unwrap_or(7i64)"),
        "{code}"
    );
}

#[test]
fn an_integer_query_parameter_without_a_default_stays_optional() {
    let code = keycred_codegen::generate(&with_parameter(
        "{name: size, in: query, schema: {type: integer, minimum: 1}}",
    ))
    .unwrap();

    assert!(code.contains("pub size: Option<i64>,"), "{code}");
    assert!(!code.contains("unwrap_or"), "{code}");
}

#[test]
fn a_default_outside_the_parameters_range_is_refused() {
    let error = keycred_codegen::generate(&with_parameter(
        "{name: size, in: query, schema: {type: integer, minimum: 1, maximum: 30, default: 31}}",
    ))
    .unwrap_err();

    assert!(error.to_string().contains("listThings parameter size"), "{error}");
    assert!(error.to_string().contains("default 31 is outside"), "{error}");
}

#[test]
fn a_default_that_is_not_an_integer_is_refused() {
    let error = keycred_codegen::generate(&with_parameter(
        "{name: size, in: query, schema: {type: integer, default: 'ten'}}",
    ))
    .unwrap_err();

    assert!(error.to_string().contains("must be an integer"), "{error}");
}

#[test]
fn a_default_on_a_string_parameter_is_refused() {
    let error = keycred_codegen::generate(&with_parameter(
        "{name: q, in: query, schema: {type: string, default: 'all'}}",
    ))
    .unwrap_err();

    assert!(error.to_string().contains("listThings parameter q"), "{error}");
    assert!(error.to_string().contains("default is only supported"), "{error}");
}

#[test]
fn a_default_in_a_schema_is_refused() {
    let spec =
        format!("{HEAD}{OK_AND_ERRORS}").replace("name: {type: string}", "name: {type: string, default: nobody}");

    let error = keycred_codegen::generate(&spec).unwrap_err();

    assert!(
        error.to_string().contains("#/components/schemas/Thing/properties/name"),
        "{error}"
    );
    assert!(error.to_string().contains("default is only supported"), "{error}");
}

#[test]
fn the_documented_error_statuses_are_listed_and_checked_and_are_not_variants() {
    let code = keycred_codegen::generate(&format!("{HEAD}{OK_AND_ERRORS}")).unwrap();

    assert!(
        code.contains("pub const ERROR_STATUSES: &'static [u16] = &[400u16, 404u16];"),
        "{code}"
    );
    assert!(code.contains("crate::error::check_documented("), "{code}");
    assert!(!code.contains("Status404"), "{code}");
}

#[test]
fn an_error_response_whose_body_is_not_the_error_schema_is_refused() {
    let spec = format!("{HEAD}{OK_AND_ERRORS}").replace(
        "schema: {$ref: '#/components/schemas/Error'}\n        '400'",
        "schema: {$ref: '#/components/schemas/Thing'}\n        '400'",
    );

    let error = keycred_codegen::generate(&spec).unwrap_err();

    assert!(
        error
            .to_string()
            .contains("404 response's body must be the Error schema"),
        "{error}"
    );
}
