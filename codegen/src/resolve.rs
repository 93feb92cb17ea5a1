//! Resolving the spec's operations: following references and checking every construct
//! against what the generated code and its runtime enforce, so that emitting code
//! (`operations.rs`) works from facts already checked. What cannot be honoured is
//! refused here with where and why.

use openapiv3::{OpenAPI, Operation, PathItem, ReferenceOr, Response, SecurityScheme, StatusCode};

use crate::parameters::{self, Param};
use crate::spec::{self, ref_name};
use crate::CodegenError;

/// Who may call an operation, as its `security` says.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// No credentials (`security: []`).
    None,
    /// A bearer token is required.
    Bearer,
    /// HTTP Basic credentials, or none (the token endpoint also takes them in its body).
    OptionalBasic,
}

/// How an operation's errors are shaped (`x-error-style`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// The spec's `Error` schema.
    Api,
    /// RFC 6749 §5.2, the spec's `TokenError` schema.
    OAuth,
}

impl Style {
    /// The schema every error response of an operation of this style must have: the
    /// shape the runtime renders `ApiError` in.
    fn error_schema(self) -> &'static str {
        match self {
            Style::Api => "Error",
            Style::OAuth => "TokenError",
        }
    }
}

/// Where an operation's request body comes from and what it decodes into.
pub struct Body<'a> {
    /// The named schema of the body.
    pub model: &'a str,
    /// Whether it is a form (`application/x-www-form-urlencoded`) rather than JSON.
    pub form: bool,
    /// Whether the request must have it. An optional body reaches the handler as an
    /// `Option`: `None` for no body or an empty one (nothing but white space).
    pub required: bool,
}

/// One documented success (2xx) response of an operation.
pub struct Success<'a> {
    /// Its status.
    pub code: u16,
    /// The named schema of its JSON body; `None` for an empty body.
    pub model: Option<&'a str>,
    /// Whether it declares an `ETag` header, which the operation then must supply with the body.
    pub etag: bool,
}

/// One operation, with everything the generator needs already resolved.
pub struct Op<'a> {
    /// The operationId.
    pub id: &'a str,
    /// The HTTP method, upper case.
    pub method: &'static str,
    /// The path template.
    pub path: &'a str,
    /// The operation as the spec has it (for its summary).
    pub operation: &'a Operation,
    /// Its parameters, checked.
    pub params: Vec<Param<'a>>,
    /// Its request body, if it has one.
    pub body: Option<Body<'a>>,
    /// Its success responses: what the handler builds.
    pub successes: Vec<Success<'a>>,
    /// The error statuses it documents, ascending: the only ones it may answer with.
    pub error_statuses: Vec<u16>,
    /// Who may call it.
    pub auth: Auth,
    /// How its errors are shaped.
    pub style: Style,
}

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

fn operation_for<'a>(item: &'a PathItem, method: &str) -> Option<&'a Operation> {
    match method {
        "GET" => item.get.as_ref(),
        "POST" => item.post.as_ref(),
        "PUT" => item.put.as_ref(),
        "PATCH" => item.patch.as_ref(),
        "DELETE" => item.delete.as_ref(),
        _ => None,
    }
}

/// Every operation of the spec, in spec order, resolved and checked.
pub fn operations(spec: &OpenAPI) -> Result<Vec<Op<'_>>, CodegenError> {
    let mut ops = Vec::new();
    for (path, item) in &spec.paths.paths {
        let ReferenceOr::Item(item) = item else {
            return Err(CodegenError::unsupported(path, "path items must be written in place"));
        };
        if item.head.is_some() || item.options.is_some() || item.trace.is_some() {
            return Err(CodegenError::unsupported(
                path,
                "HEAD, OPTIONS and TRACE operations are not supported",
            ));
        }
        for method in METHODS {
            if let Some(operation) = operation_for(item, method) {
                ops.push(operation_of(spec, path, item, method, operation)?);
            }
        }
    }
    Ok(ops)
}

fn operation_of<'a>(
    spec: &'a OpenAPI,
    path: &'a str,
    item: &'a PathItem,
    method: &'static str,
    operation: &'a Operation,
) -> Result<Op<'a>, CodegenError> {
    let location = format!("{method} {path}");
    let id = operation
        .operation_id
        .as_deref()
        .ok_or_else(|| CodegenError::unsupported(&location, "every operation needs an operationId"))?;
    let style = style(operation, &location)?;
    let (successes, error_statuses) = responses(spec, operation, style, &location)?;
    Ok(Op {
        id,
        method,
        path,
        operation,
        params: parameters::resolve(spec, item, operation, id, &location)?,
        body: body(spec, operation, &location)?,
        successes,
        error_statuses,
        auth: auth(spec, operation, &location)?,
        style,
    })
}

fn body<'a>(spec: &'a OpenAPI, operation: &'a Operation, location: &str) -> Result<Option<Body<'a>>, CodegenError> {
    let Some(body) = &operation.request_body else {
        return Ok(None);
    };
    let body = spec::request_body(spec, body)?;
    let (media_type, content) = match body.content.iter().collect::<Vec<_>>().as_slice() {
        [(media_type, content)] => (media_type.as_str(), *content),
        _ => {
            return Err(CodegenError::unsupported(
                location,
                "a request body needs exactly one media type",
            ))
        }
    };
    let form = match media_type {
        "application/json" => false,
        "application/x-www-form-urlencoded" => true,
        other => {
            return Err(CodegenError::unsupported(
                location,
                format!("media type {other} is not supported"),
            ))
        }
    };
    let model = match &content.schema {
        Some(ReferenceOr::Reference { reference }) => ref_name(reference, "schemas")?,
        _ => {
            return Err(CodegenError::unsupported(
                location,
                "a request body's schema must be a named component",
            ))
        }
    };
    if form && !body.required {
        return Err(CodegenError::unsupported(
            location,
            "an optional request body must be JSON",
        ));
    }
    Ok(Some(Body {
        model,
        form,
        required: body.required,
    }))
}

/// An operation's success responses, and the statuses of its error responses.
fn responses<'a>(
    spec: &'a OpenAPI,
    operation: &'a Operation,
    style: Style,
    location: &str,
) -> Result<(Vec<Success<'a>>, Vec<u16>), CodegenError> {
    if operation.responses.default.is_some() {
        return Err(CodegenError::unsupported(
            location,
            "default responses are not supported; list each status",
        ));
    }
    let mut successes = Vec::new();
    let mut error_statuses = Vec::new();
    for (status, response) in &operation.responses.responses {
        let code = match status {
            StatusCode::Code(code) if (200..=599).contains(code) => *code,
            StatusCode::Code(code) => {
                return Err(CodegenError::unsupported(
                    location,
                    format!("status {code} is not a response status"),
                ))
            }
            StatusCode::Range(_) => {
                return Err(CodegenError::unsupported(
                    location,
                    "status ranges are not supported; list each status",
                ))
            }
        };
        let response = spec::response(spec, response)?;
        let model = response_model(response, location)?;
        if (200..300).contains(&code) {
            successes.push(success(code, model, response, location)?);
        } else {
            check_error_model(code, model, style, location)?;
            error_statuses.push(code);
        }
    }
    if successes.is_empty() {
        return Err(CodegenError::unsupported(location, "an operation needs a 2xx response"));
    }
    error_statuses.sort_unstable();
    Ok((successes, error_statuses))
}

/// The named schema of a response's JSON body, or `None` for an empty body.
fn response_model<'a>(response: &'a Response, location: &str) -> Result<Option<&'a str>, CodegenError> {
    match response.content.iter().collect::<Vec<_>>().as_slice() {
        [] => Ok(None),
        [(media_type, content)] if media_type.as_str() == "application/json" => match &content.schema {
            Some(ReferenceOr::Reference { reference }) => Ok(Some(ref_name(reference, "schemas")?)),
            _ => Err(CodegenError::unsupported(
                location,
                "a response's schema must be a named component",
            )),
        },
        _ => Err(CodegenError::unsupported(
            location,
            "responses must be application/json or empty",
        )),
    }
}

/// A success response. Its headers come from the operation, and the only one supported
/// is an `ETag` that goes with a body. (Error responses' headers, `WWW-Authenticate`
/// and `Retry-After`, are the runtime's to set.)
fn success<'a>(
    code: u16,
    model: Option<&'a str>,
    response: &Response,
    location: &str,
) -> Result<Success<'a>, CodegenError> {
    let etag = !response.headers.is_empty();
    if etag && (model.is_none() || response.headers.keys().any(|name| name != "ETag")) {
        return Err(CodegenError::unsupported(
            location,
            "the only header a success response may declare is ETag, and only with a body",
        ));
    }
    Ok(Success { code, model, etag })
}

/// Handlers answer errors with an `ApiError`, which the runtime renders in the
/// operation's style; a documented error body of any other shape would be a lie.
fn check_error_model(code: u16, model: Option<&str>, style: Style, location: &str) -> Result<(), CodegenError> {
    let expected = style.error_schema();
    if model != Some(expected) {
        return Err(CodegenError::unsupported(
            location,
            format!("the {code} response's body must be the {expected} schema, the shape errors are answered in"),
        ));
    }
    Ok(())
}

fn auth(spec: &OpenAPI, operation: &Operation, location: &str) -> Result<Auth, CodegenError> {
    let requirements = operation
        .security
        .as_ref()
        .or(spec.security.as_ref())
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut schemes = Vec::new();
    let mut anonymous = requirements.is_empty();
    for requirement in requirements {
        if requirement.is_empty() {
            anonymous = true;
        }
        for name in requirement.keys() {
            let scheme = spec
                .components
                .as_ref()
                .and_then(|components| components.security_schemes.get(name))
                .ok_or_else(|| CodegenError::unsupported(location, format!("no security scheme {name}")))?;
            match scheme {
                ReferenceOr::Item(SecurityScheme::HTTP { scheme, .. }) => schemes.push(scheme.to_ascii_lowercase()),
                _ => {
                    return Err(CodegenError::unsupported(
                        location,
                        "only http bearer and basic security schemes are supported",
                    ))
                }
            }
        }
    }
    match (schemes.as_slice(), anonymous) {
        ([], _) => Ok(Auth::None),
        ([scheme], false) if scheme == "bearer" => Ok(Auth::Bearer),
        ([scheme], true) if scheme == "basic" => Ok(Auth::OptionalBasic),
        _ => Err(CodegenError::unsupported(
            location,
            "security must be bearer, or basic-or-none, or none",
        )),
    }
}

fn style(operation: &Operation, location: &str) -> Result<Style, CodegenError> {
    match operation.extensions.get("x-error-style").map(|value| value.as_str()) {
        None => Ok(Style::Api),
        Some(Some("oauth")) => Ok(Style::OAuth),
        Some(_) => Err(CodegenError::unsupported(
            location,
            "x-error-style must be oauth when given",
        )),
    }
}
