//! Reading the spec and following its `$ref`s.

use openapiv3::{OpenAPI, Parameter, ReferenceOr, RequestBody, Response, Schema};

use crate::CodegenError;

/// Parses OpenAPI 3.0 YAML (via JSON, which is what `openapiv3` reads).
pub fn parse_spec(yaml: &str) -> Result<OpenAPI, CodegenError> {
    let value: serde_json::Value =
        serde_saphyr::from_str(yaml).map_err(|error| CodegenError::Parse(error.to_string()))?;
    let spec: OpenAPI = serde_json::from_value(value).map_err(|error| CodegenError::Parse(error.to_string()))?;
    if !spec.openapi.starts_with("3.0.") {
        return Err(CodegenError::Parse(format!("version {} is not 3.0.x", spec.openapi)));
    }
    Ok(spec)
}

/// The marker of an operation the server serves by hand (the contract documents, `/docs`):
/// it is described in the spec but gets no generated code.
const HAND_WRITTEN: &str = "x-hand-written";

/// `spec` without the operations marked `x-hand-written: true`, and without the paths
/// left empty by that: what the generator turns into Rust.
pub fn without_hand_written(mut spec: OpenAPI) -> OpenAPI {
    let is_hand_written = |operation: &Option<openapiv3::Operation>| {
        operation
            .as_ref()
            .is_some_and(|operation| operation.extensions.get(HAND_WRITTEN) == Some(&serde_json::Value::Bool(true)))
    };
    spec.paths.paths.retain(|_, item| {
        let ReferenceOr::Item(item) = item else { return true };
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ] {
            if is_hand_written(operation) {
                *operation = None;
            }
        }
        item.iter().next().is_some()
    });
    spec
}

/// The name a `#/components/<kind>/<name>` reference points at.
pub fn ref_name<'a>(reference: &'a str, kind: &str) -> Result<&'a str, CodegenError> {
    reference
        .strip_prefix("#/components/")
        .and_then(|rest| rest.strip_prefix(kind))
        .and_then(|rest| rest.strip_prefix('/'))
        .ok_or_else(|| {
            CodegenError::unsupported(
                reference,
                format!("only local references to #/components/{kind} are supported"),
            )
        })
}

/// A named component schema.
pub fn schema<'a>(spec: &'a OpenAPI, name: &str) -> Result<&'a Schema, CodegenError> {
    let schema = spec
        .components
        .as_ref()
        .and_then(|components| components.schemas.get(name))
        .ok_or_else(|| CodegenError::unsupported(format!("#/components/schemas/{name}"), "no such schema"))?;
    match schema {
        ReferenceOr::Item(schema) => Ok(schema),
        ReferenceOr::Reference { reference } => Err(CodegenError::unsupported(
            reference,
            "a component schema may not be a bare reference",
        )),
    }
}

/// A parameter, following a `#/components/parameters` reference.
pub fn parameter<'a>(spec: &'a OpenAPI, parameter: &'a ReferenceOr<Parameter>) -> Result<&'a Parameter, CodegenError> {
    match parameter {
        ReferenceOr::Item(parameter) => Ok(parameter),
        ReferenceOr::Reference { reference } => {
            let name = ref_name(reference, "parameters")?;
            match spec
                .components
                .as_ref()
                .and_then(|components| components.parameters.get(name))
            {
                Some(ReferenceOr::Item(parameter)) => Ok(parameter),
                _ => Err(CodegenError::unsupported(reference, "no such parameter")),
            }
        }
    }
}

/// A request body, following a `#/components/requestBodies` reference.
pub fn request_body<'a>(
    spec: &'a OpenAPI,
    body: &'a ReferenceOr<RequestBody>,
) -> Result<&'a RequestBody, CodegenError> {
    match body {
        ReferenceOr::Item(body) => Ok(body),
        ReferenceOr::Reference { reference } => {
            let name = ref_name(reference, "requestBodies")?;
            match spec
                .components
                .as_ref()
                .and_then(|components| components.request_bodies.get(name))
            {
                Some(ReferenceOr::Item(body)) => Ok(body),
                _ => Err(CodegenError::unsupported(reference, "no such request body")),
            }
        }
    }
}

/// A response, following a `#/components/responses` reference.
pub fn response<'a>(spec: &'a OpenAPI, response: &'a ReferenceOr<Response>) -> Result<&'a Response, CodegenError> {
    match response {
        ReferenceOr::Item(response) => Ok(response),
        ReferenceOr::Reference { reference } => {
            let name = ref_name(reference, "responses")?;
            match spec
                .components
                .as_ref()
                .and_then(|components| components.responses.get(name))
            {
                Some(ReferenceOr::Item(response)) => Ok(response),
                _ => Err(CodegenError::unsupported(reference, "no such response")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_marked_hand_written_are_dropped_with_the_paths_they_leave_empty() {
        let spec = parse_spec(
            "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  \
             /docs:\n    get:\n      x-hand-written: true\n      responses: {'200': {description: page}}\n  \
             /both:\n    get:\n      x-hand-written: true\n      responses: {'200': {description: by hand}}\n    \
             post:\n      operationId: generated\n      responses: {'200': {description: generated}}\n",
        )
        .expect("a valid spec");

        let spec = without_hand_written(spec);

        let paths: Vec<&String> = spec.paths.paths.keys().collect();
        assert_eq!(paths, ["/both"]);
        let ReferenceOr::Item(both) = &spec.paths.paths["/both"] else {
            panic!("an item")
        };
        assert!(both.get.is_none() && both.post.is_some());
    }
}
