//! Operations: one `…Params` struct and one `…Response` enum per operation, the `Api`
//! trait with a method per operation, the axum handlers that feed it, and the router.

use openapiv3::{
    OpenAPI, Operation, Parameter, ParameterSchemaOrContent, PathItem, ReferenceOr, SchemaKind, SecurityScheme,
    StatusCode, StringFormat, Type, VariantOrUnknownOrEmpty,
};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::models::{length_tokens, SchemaRef};
use crate::names::{doc_lines, field_ident, type_ident};
use crate::spec::{self, ref_name};
use crate::CodegenError;

/// Who may call an operation, as its `security` says.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Auth {
    /// No credentials (`security: []`).
    None,
    /// A bearer token is required.
    Bearer,
    /// HTTP Basic credentials, or none (the token endpoint also takes them in its body).
    OptionalBasic,
}

/// How an operation's errors are shaped (`x-error-style`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Api,
    OAuth,
}

/// Where an operation's request body comes from and what it decodes into.
struct Body<'a> {
    model: &'a str,
    form: bool,
}

/// One documented response of an operation.
struct Answer<'a> {
    code: u16,
    /// The named schema of its JSON body; `None` for an empty body.
    model: Option<&'a str>,
    /// Whether it declares an `ETag` header (success responses only), which the
    /// operation then must supply with the body.
    etag: bool,
}

/// One operation, with everything the generator needs already resolved.
struct Op<'a> {
    id: &'a str,
    method: &'static str,
    path: &'a str,
    operation: &'a Operation,
    params: Vec<&'a Parameter>,
    body: Option<Body<'a>>,
    responses: Vec<Answer<'a>>,
    auth: Auth,
    style: Style,
}

/// Generates the params structs, response enums, the `Api` trait, handlers and router.
pub fn generate(spec: &OpenAPI) -> Result<TokenStream, CodegenError> {
    let ops = collect(spec)?;
    let mut items = Vec::new();
    for op in &ops {
        items.push(params_struct(op)?);
        items.push(response_enum(op)?);
        items.push(handler(op));
    }
    let trait_methods = ops.iter().map(trait_method);
    let router = router(&ops);
    let listing = ops.iter().map(|op| {
        let (id, method, path) = (op.id, op.method, op.path);
        quote!((#id, #method, #path))
    });
    Ok(quote! {
        /// The server side of the API: one method per operation in `openapi.yaml`.
        ///
        /// Every method receives the request's context, its typed parameters and (where
        /// the operation has one) its decoded body, already checked against the spec.
        pub trait Api: Send + Sync + 'static {
            /// Who a valid bearer token speaks for.
            type Caller: Send + 'static;

            /// Resolves the bearer token of a request (`None` when there is none) to a
            /// caller, or answers 401.
            fn authenticate(
                &self,
                bearer_token: Option<&str>,
            ) -> impl std::future::Future<Output = Result<Self::Caller, crate::error::ApiError>> + Send;

            #( #trait_methods )*
        }

        /// Every operation as (operationId, method, path), in spec order.
        pub const OPERATIONS: &[(&str, &str, &str)] = &[ #( #listing ),* ];

        #( #items )*

        #router
    })
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

fn collect(spec: &OpenAPI) -> Result<Vec<Op<'_>>, CodegenError> {
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
            let Some(operation) = operation_for(item, method) else {
                continue;
            };
            let location = format!("{method} {path}");
            let id = operation
                .operation_id
                .as_deref()
                .ok_or_else(|| CodegenError::unsupported(&location, "every operation needs an operationId"))?;
            ops.push(Op {
                id,
                method,
                path,
                operation,
                params: params(spec, item, operation, &location)?,
                body: body(spec, operation, &location)?,
                responses: responses(spec, operation, &location)?,
                auth: auth(spec, operation, &location)?,
                style: style(operation, &location)?,
            });
        }
    }
    Ok(ops)
}

fn params<'a>(
    spec: &'a OpenAPI,
    item: &'a PathItem,
    operation: &'a Operation,
    location: &str,
) -> Result<Vec<&'a Parameter>, CodegenError> {
    let mut params: Vec<&Parameter> = Vec::new();
    for parameter in item.parameters.iter().chain(&operation.parameters) {
        let parameter = spec::parameter(spec, parameter)?;
        let name = &parameter.parameter_data_ref().name;
        // An operation's parameter overrides the path item's one of the same name and place.
        params.retain(|existing| {
            existing.parameter_data_ref().name != *name
                || std::mem::discriminant(*existing) != std::mem::discriminant(parameter)
        });
        params.push(parameter);
    }
    let path_names: Vec<&str> = params
        .iter()
        .filter(|parameter| matches!(parameter, Parameter::Path { .. }))
        .map(|parameter| parameter.parameter_data_ref().name.as_str())
        .collect();
    let template_names: Vec<&str> = location
        .split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
        .collect();
    if path_names.len() != template_names.len() || !template_names.iter().all(|name| path_names.contains(name)) {
        return Err(CodegenError::unsupported(
            location,
            "path parameters must match the path template exactly",
        ));
    }
    Ok(params)
}

fn body<'a>(spec: &'a OpenAPI, operation: &'a Operation, location: &str) -> Result<Option<Body<'a>>, CodegenError> {
    let Some(body) = &operation.request_body else {
        return Ok(None);
    };
    let body = spec::request_body(spec, body)?;
    if !body.required {
        return Err(CodegenError::unsupported(location, "request bodies must be required"));
    }
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
    Ok(Some(Body { model, form }))
}

fn responses<'a>(spec: &'a OpenAPI, operation: &'a Operation, location: &str) -> Result<Vec<Answer<'a>>, CodegenError> {
    if operation.responses.default.is_some() {
        return Err(CodegenError::unsupported(
            location,
            "default responses are not supported; list each status",
        ));
    }
    let mut variants = Vec::new();
    for (status, response) in &operation.responses.responses {
        let StatusCode::Code(code) = status else {
            return Err(CodegenError::unsupported(
                location,
                "status ranges are not supported; list each status",
            ));
        };
        if !(200..=599).contains(code) {
            return Err(CodegenError::unsupported(
                location,
                format!("status {code} is not a response status"),
            ));
        }
        let response = spec::response(spec, response)?;
        let model = match response.content.iter().collect::<Vec<_>>().as_slice() {
            [] => None,
            [(media_type, content)] if media_type.as_str() == "application/json" => match &content.schema {
                Some(ReferenceOr::Reference { reference }) => Some(ref_name(reference, "schemas")?),
                _ => {
                    return Err(CodegenError::unsupported(
                        location,
                        "a response's schema must be a named component",
                    ))
                }
            },
            _ => {
                return Err(CodegenError::unsupported(
                    location,
                    "responses must be application/json or empty",
                ))
            }
        };
        // Error responses' headers (WWW-Authenticate, Retry-After) are the runtime's to
        // set; a success response's headers come from the operation, and the only one
        // supported is an `ETag` that goes with a body.
        let success = (200..300).contains(code);
        let etag = success && !response.headers.is_empty();
        if etag && (model.is_none() || response.headers.keys().any(|name| name != "ETag")) {
            return Err(CodegenError::unsupported(
                location,
                "the only header a success response may declare is ETag, and only with a body",
            ));
        }
        variants.push(Answer {
            code: *code,
            model,
            etag,
        });
    }
    if !variants.iter().any(|answer| (200..300).contains(&answer.code)) {
        return Err(CodegenError::unsupported(location, "an operation needs a 2xx response"));
    }
    Ok(variants)
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

fn params_struct(op: &Op<'_>) -> Result<TokenStream, CodegenError> {
    let ident = format_ident!("{}Params", type_ident(op.id));
    let doc = format!(" The parameters of `{}`.", op.id);
    let mut fields = Vec::new();
    let mut readers = Vec::new();
    for parameter in &op.params {
        let data = parameter.parameter_data_ref();
        let location = format!("{} parameter {}", op.id, data.name);
        let ParameterSchemaOrContent::Schema(schema) = &data.format else {
            return Err(CodegenError::unsupported(location, "parameters need a schema"));
        };
        let schema_ref = SchemaRef::of(schema)?;
        let field = field_ident(&data.name);
        let name = data.name.as_str();
        let docs = doc_lines(data.description.as_deref(), name);
        let inline = match schema_ref {
            SchemaRef::Inline(schema) => &schema.schema_kind,
            SchemaRef::Named(_) => {
                return Err(CodegenError::unsupported(
                    location,
                    "parameter schemas must be written in place",
                ))
            }
        };
        if !data.required && matches!(parameter, Parameter::Path { .. }) {
            return Err(CodegenError::unsupported(
                location,
                "path parameters are always required",
            ));
        }
        if data.required && !matches!(parameter, Parameter::Path { .. }) {
            return Err(CodegenError::unsupported(
                location,
                "required query and header parameters are not supported",
            ));
        }
        if let SchemaKind::Type(Type::String(string)) = inline {
            // The only pattern the runtime enforces is the UUID one (by parsing); any other
            // would be documented but not checked, so it is refused.
            let uuid_header =
                matches!(parameter, Parameter::Header { .. }) && string.pattern.as_deref() == Some(UUID_PATTERN);
            if string.pattern.is_some() && !uuid_header {
                return Err(CodegenError::unsupported(
                    location,
                    format!("the only parameter pattern supported is a header's {UUID_PATTERN}"),
                ));
            }
        }
        let (value_type, reader) = match (parameter, inline) {
            (Parameter::Path { .. }, SchemaKind::Type(Type::String(string))) if string.enumeration.is_empty() => {
                let length = length_tokens(string);
                (quote!(String), quote!(raw.path_string(#name, #length)?))
            }
            (Parameter::Query { .. }, SchemaKind::Type(Type::String(string))) if string.enumeration.is_empty() => {
                let length = length_tokens(string);
                (quote!(Option<String>), quote!(raw.query_string(#name, #length)?))
            }
            (Parameter::Query { .. }, SchemaKind::Type(Type::Integer(integer))) => {
                let minimum = integer.minimum.map_or(quote!(None), |value| quote!(Some(#value)));
                let maximum = integer.maximum.map_or(quote!(None), |value| quote!(Some(#value)));
                (
                    quote!(Option<i64>),
                    quote!(raw.query_integer(#name, #minimum, #maximum)?),
                )
            }
            (Parameter::Query { .. }, SchemaKind::Type(Type::Array(array))) => {
                let (reference, open) = enum_array_items(array.items.as_ref(), &location)?;
                let item = type_ident(ref_name(reference, "schemas")?);
                let ignore_unknown = data
                    .extensions
                    .get("x-ignore-unknown-values")
                    .and_then(|value| value.as_bool())
                    .unwrap_or(false);
                // The schema must say what the server does: if unknown values are ignored,
                // any string is valid, so the items must admit any string (and the other way
                // round), or clients and fuzzers would take accepted values for invalid ones.
                if ignore_unknown != open {
                    return Err(CodegenError::unsupported(
                        location,
                        "x-ignore-unknown-values: true goes with items `anyOf: [$ref enum, {type: string}]`, \
                         and items that are only the enum with no (or a false) x-ignore-unknown-values",
                    ));
                }
                (
                    quote!(Vec<#item>),
                    quote!(raw.query_enum_array::<#item>(#name, #ignore_unknown)?),
                )
            }
            (Parameter::Header { .. }, SchemaKind::Type(Type::String(string)))
                if string.pattern.as_deref() == Some(UUID_PATTERN) && string.enumeration.is_empty() =>
            {
                (quote!(Option<uuid::Uuid>), quote!(raw.header_uuid(#name)?))
            }
            (Parameter::Header { .. }, SchemaKind::Type(Type::String(string)))
                if string.pattern.is_none() && string.enumeration.is_empty() =>
            {
                let length = length_tokens(string);
                (quote!(Option<String>), quote!(raw.header_string(#name, #length)?))
            }
            _ => {
                return Err(CodegenError::unsupported(
                    location,
                    "this kind of parameter is not supported",
                ))
            }
        };
        if matches!(&inline, SchemaKind::Type(Type::String(string)) if matches!(string.format, VariantOrUnknownOrEmpty::Item(StringFormat::DateTime)))
        {
            return Err(CodegenError::unsupported(
                location,
                "date-time parameters are not supported",
            ));
        }
        fields.push(quote! { #( #[doc = #docs] )* pub #field: #value_type, });
        readers.push(quote! { #field: #reader, });
    }
    let raw_binding = if op.params.is_empty() {
        quote!(_raw)
    } else {
        quote!(raw)
    };
    Ok(quote! {
        #[doc = #doc]
        #[derive(Debug, Clone, PartialEq)]
        pub struct #ident {
            #( #fields )*
        }

        impl #ident {
            /// Reads the parameters from a request, enforcing the spec's rules.
            pub fn from_raw(#raw_binding: &crate::request::RawParams<'_>) -> Result<Self, crate::decode::ValidationError> {
                Ok(Self { #( #readers )* })
            }
        }
    })
}

/// The pattern of a UUID in its canonical 8-4-4-4-12 form. A header parameter with
/// exactly this pattern is read as a UUID (a plain string with a pattern, not
/// `format: uuid`, so that generated clients take a `str` they can send as it is).
const UUID_PATTERN: &str = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

/// The enum an array parameter's items name, and whether the items are "open": the enum
/// or any other string (`anyOf: [$ref enum, {type: string}]`) rather than only the enum.
fn enum_array_items<'a>(
    items: Option<&'a ReferenceOr<Box<openapiv3::Schema>>>,
    location: &str,
) -> Result<(&'a str, bool), CodegenError> {
    let unsupported = || {
        CodegenError::unsupported(
            location,
            "array parameters need items that name an enum schema, or `anyOf: [$ref enum, {type: string}]`",
        )
    };
    match items {
        Some(ReferenceOr::Reference { reference }) => Ok((reference, false)),
        Some(ReferenceOr::Item(schema)) => match &schema.schema_kind {
            SchemaKind::AnyOf { any_of } => match any_of.as_slice() {
                [ReferenceOr::Reference { reference }, ReferenceOr::Item(other)]
                    if matches!(&other.schema_kind, SchemaKind::Type(Type::String(string))
                        if string.enumeration.is_empty() && string.pattern.is_none()
                            && string.min_length.is_none() && string.max_length.is_none()
                            && matches!(string.format, VariantOrUnknownOrEmpty::Empty)) =>
                {
                    Ok((reference, true))
                }
                _ => Err(unsupported()),
            },
            _ => Err(unsupported()),
        },
        None => Err(unsupported()),
    }
}

fn status_tokens(code: u16) -> TokenStream {
    quote!(axum::http::StatusCode::from_u16(#code).expect("the generator checked this status"))
}

fn style_tokens(style: Style) -> TokenStream {
    match style {
        Style::Api => quote!(crate::error::ErrorStyle::Api),
        Style::OAuth => quote!(crate::error::ErrorStyle::OAuth),
    }
}

fn response_enum(op: &Op<'_>) -> Result<TokenStream, CodegenError> {
    let ident = format_ident!("{}Response", type_ident(op.id));
    let doc = format!(" The documented answers of `{}`, one variant per status.", op.id);
    let style = style_tokens(op.style);
    let mut variants = Vec::new();
    let mut arms = Vec::new();
    for Answer { code, model, etag } in &op.responses {
        let variant = format_ident!("Status{}", code);
        let variant_doc = format!(" {code}");
        let status = status_tokens(*code);
        let success = (200..300).contains(code);
        match model {
            Some(model) if *etag => {
                let model = type_ident(model);
                let variant_doc = format!(" {code}, with the `ETag` the response carries");
                variants.push(quote! { #[doc = #variant_doc] #variant(#model, crate::request::EntityTag), });
                arms.push(quote! {
                    Self::#variant(body, etag) => crate::request::with_etag((#status, axum::Json(body)).into_response(), etag),
                });
            }
            Some(model) => {
                let model = type_ident(model);
                variants.push(quote! { #[doc = #variant_doc] #variant(#model), });
                arms.push(if success {
                    quote! { Self::#variant(body) => (#status, axum::Json(body)).into_response(), }
                } else {
                    quote! { Self::#variant(body) => crate::error::error_model_response(#status, #style, body), }
                });
            }
            None => {
                variants.push(quote! { #[doc = #variant_doc] #variant, });
                arms.push(quote! { Self::#variant => #status.into_response(), });
            }
        }
    }
    Ok(quote! {
        #[doc = #doc]
        #[must_use]
        #[derive(Debug, Clone, PartialEq)]
        pub enum #ident {
            #( #variants )*
        }

        impl axum::response::IntoResponse for #ident {
            fn into_response(self) -> axum::response::Response {
                match self {
                    #( #arms )*
                }
            }
        }
    })
}

fn caller_type(auth: Auth) -> TokenStream {
    match auth {
        Auth::None => quote!(()),
        Auth::Bearer => quote!(Self::Caller),
        Auth::OptionalBasic => quote!(Option<crate::request::BasicCredentials>),
    }
}

fn trait_method(op: &Op<'_>) -> TokenStream {
    let method = field_ident(op.id);
    let type_name = type_ident(op.id);
    let params = format_ident!("{}Params", type_name);
    let response = format_ident!("{}Response", type_name);
    let caller = caller_type(op.auth);
    let summary = op.operation.summary.as_deref().unwrap_or(op.id);
    let heading = format!(" {} - {} {}", op.id, op.method, op.path);
    let summary = format!(" {summary}.");
    let body = op.body.as_ref().map(|body| {
        let model = type_ident(body.model);
        quote!(, body: #model)
    });
    quote! {
        #[doc = #heading]
        #[doc = ""]
        #[doc = #summary]
        fn #method(
            &self,
            context: crate::request::RequestContext<#caller>,
            params: #params
            #body
        ) -> impl std::future::Future<Output = Result<#response, crate::error::ApiError>> + Send;
    }
}

fn handler_ident(op: &Op<'_>) -> proc_macro2::Ident {
    format_ident!("handle_{}", field_ident(op.id).to_string().trim_start_matches("r#"))
}

fn handler(op: &Op<'_>) -> TokenStream {
    let ident = handler_ident(op);
    let method = field_ident(op.id);
    let type_name = type_ident(op.id);
    let params = format_ident!("{}Params", type_name);
    let response = format_ident!("{}Response", type_name);
    let style = style_tokens(op.style);
    let caller = match op.auth {
        Auth::None => quote!(()),
        Auth::Bearer => quote!(api.authenticate(crate::request::bearer_token(&parts.headers)).await?),
        Auth::OptionalBasic => quote!(crate::request::basic_credentials(&parts.headers)?),
    };
    let (read_bytes, decode_body, body_arg) = match &op.body {
        None => (quote!(drop(body);), quote!(), quote!()),
        Some(body) => {
            let model = type_ident(body.model);
            let kind = if body.form { quote!(Form) } else { quote!(Json) };
            let to_error = match op.style {
                Style::Api => quote!(crate::error::ApiError::from),
                Style::OAuth => quote!(crate::error::oauth_body_error),
            };
            (
                quote! { let body = crate::request::read_body_bytes(&parts.headers, body).await?; },
                quote! {
                    let body = crate::request::parse_body(&parts.headers, &body, crate::request::BodyKind::#kind)?;
                    let body = <#model as crate::decode::Decode>::decode(body, crate::decode::BODY).map_err(#to_error)?;
                },
                quote!(, body),
            )
        }
    };
    let doc = format!(" Serves `{}` ({} {}).", op.id, op.method, op.path);
    quote! {
        #[doc = #doc]
        async fn #ident<A: Api>(
            axum::extract::State(api): axum::extract::State<std::sync::Arc<A>>,
            request: axum::extract::Request,
        ) -> axum::response::Response {
            let result: Result<#response, crate::error::ApiError> = async {
                let (mut parts, body) = request.into_parts();
                #read_bytes
                let request_id = crate::request::request_id(&parts);
                let caller = #caller;
                let path = crate::request::path_params(&mut parts).await?;
                let raw = crate::request::RawParams::new(path, &parts);
                let params = #params::from_raw(&raw)?;
                #decode_body
                let client_address = crate::request::client_address(&parts);
                let context = crate::request::RequestContext { caller, request_id, client_address };
                api.#method(context, params #body_arg).await
            }
            .await;
            match result {
                Ok(response) => axum::response::IntoResponse::into_response(response),
                Err(error) => error.into_response_with(#style),
            }
        }
    }
}

fn router(ops: &[Op<'_>]) -> TokenStream {
    let mut paths: Vec<&str> = Vec::new();
    for op in ops {
        if !paths.contains(&op.path) {
            paths.push(op.path);
        }
    }
    let routes = paths.iter().map(|path| {
        let on_path: Vec<&Op> = ops.iter().filter(|op| op.path == *path).collect();
        let mut allowed: Vec<&str> = on_path.iter().map(|op| op.method).collect();
        if allowed.contains(&"GET") {
            // axum answers HEAD with the GET handler, minus the body.
            allowed.insert(
                allowed.iter().position(|method| *method == "GET").unwrap_or(0) + 1,
                "HEAD",
            );
        }
        let allow = allowed.join(", ");
        let methods = on_path.iter().map(|op| {
            let handler = handler_ident(op);
            let method = format_ident!("{}", op.method.to_ascii_lowercase());
            quote!(.#method(#handler::<A>))
        });
        quote! {
            .route(
                #path,
                axum::routing::MethodRouter::new()
                    #( #methods )*
                    .fallback(|| async { crate::request::method_not_allowed(#allow) }),
            )
        }
    });
    quote! {
        /// The axum router serving every operation of the spec with `api`. Unknown paths
        /// answer 404 and known paths with another method 405, both in the spec's error shape.
        pub fn router<A: Api>(api: std::sync::Arc<A>) -> axum::Router {
            axum::Router::new()
                #( #routes )*
                .fallback(crate::request::not_found)
                .with_state(api)
        }
    }
}
