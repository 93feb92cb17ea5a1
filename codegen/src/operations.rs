//! Emitting the operations' code: one `…Params` struct and one `…Response` enum per
//! operation, the `Api` trait with a method per operation, the axum handlers that feed
//! it, and the router. Everything here works from operations `resolve.rs` has checked.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::models::length_tokens;
use crate::names::{doc_lines, field_ident, type_ident};
use crate::parameters::{Param, Reader};
use crate::resolve::{self, Auth, Op, Style, Success};
use crate::CodegenError;

/// Generates the params structs, response enums, the `Api` trait, handlers and router.
pub fn generate(spec: &openapiv3::OpenAPI) -> Result<TokenStream, CodegenError> {
    let ops = resolve::operations(spec)?;
    let mut items = Vec::new();
    for (index, op) in ops.iter().enumerate() {
        items.push(params_struct(op));
        items.push(response_enum(op));
        items.push(handler(op, index));
    }
    let trait_methods = ops.iter().map(trait_method);
    let router = router(&ops);
    let listing = ops.iter().map(|op| {
        let (id, method, path) = (op.id, op.method, op.path);
        quote!((#id, #method, #path))
    });
    let request_bodies = request_body_models(&ops);
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

        #request_bodies

        #( #items )*

        #router
    })
}

fn params_struct(op: &Op<'_>) -> TokenStream {
    let ident = format_ident!("{}Params", type_ident(op.id));
    let doc = format!(" The parameters of `{}`.", op.id);
    let fields = op.params.iter().map(|param| {
        let field = field_ident(param.name);
        let docs = doc_lines(param.description, param.name);
        let value_type = value_type(&param.reader);
        quote! { #( #[doc = #docs] )* pub #field: #value_type, }
    });
    let readers = op.params.iter().map(|param| {
        let field = field_ident(param.name);
        let reader = reader(param);
        quote! { #field: #reader, }
    });
    let raw_binding = if op.params.is_empty() {
        quote!(_raw)
    } else {
        quote!(raw)
    };
    quote! {
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
    }
}

/// The Rust type of a parameter's field: optional unless the parameter is always there
/// (a path parameter) or has a default.
fn value_type(reader: &Reader<'_>) -> TokenStream {
    match reader {
        Reader::PathString(_) => quote!(String),
        Reader::QueryString(_) | Reader::HeaderString(_) => quote!(Option<String>),
        Reader::QueryInteger { default: Some(_), .. } => quote!(i64),
        Reader::QueryInteger { default: None, .. } => quote!(Option<i64>),
        Reader::QueryEnum { item } => {
            let item = type_ident(item);
            quote!(Option<#item>)
        }
        Reader::QueryDateTime => quote!(Option<crate::decode::Timestamp>),
        Reader::QueryEnumArray { item, .. } => {
            let item = type_ident(item);
            quote!(Vec<#item>)
        }
        Reader::HeaderUuid => quote!(Option<uuid::Uuid>),
    }
}

/// The expression reading a parameter from `raw`, with the spec's rules and default.
fn reader(param: &Param<'_>) -> TokenStream {
    let name = param.name;
    match &param.reader {
        Reader::PathString(string) => {
            let length = length_tokens(string);
            quote!(raw.path_string(#name, #length)?)
        }
        Reader::QueryString(string) => {
            let length = length_tokens(string);
            quote!(raw.query_string(#name, #length)?)
        }
        Reader::HeaderString(string) => {
            let length = length_tokens(string);
            quote!(raw.header_string(#name, #length)?)
        }
        Reader::QueryInteger {
            minimum,
            maximum,
            default,
        } => {
            let minimum = minimum.map_or(quote!(None), |value| quote!(Some(#value)));
            let maximum = maximum.map_or(quote!(None), |value| quote!(Some(#value)));
            let read = quote!(raw.query_integer(#name, #minimum, #maximum)?);
            match default {
                Some(default) => quote!(#read.unwrap_or(#default)),
                None => read,
            }
        }
        Reader::QueryEnum { item } => {
            let item = type_ident(item);
            quote!(raw.query_enum::<#item>(#name)?)
        }
        Reader::QueryDateTime => quote!(raw.query_date_time(#name)?),
        Reader::QueryEnumArray { item, ignore_unknown } => {
            let item = type_ident(item);
            quote!(raw.query_enum_array::<#item>(#name, #ignore_unknown)?)
        }
        Reader::HeaderUuid => quote!(raw.header_uuid(#name)?),
    }
}

fn style_tokens(style: Style) -> TokenStream {
    match style {
        Style::Api => quote!(crate::error::ErrorStyle::Api),
        Style::OAuth => quote!(crate::error::ErrorStyle::OAuth),
    }
}

/// The success answers of an operation, one variant per documented 2xx status, and the
/// error statuses it documents. Errors are not variants: handlers answer them with an
/// `ApiError`, which the generated handler checks against `ERROR_STATUSES`.
fn response_enum(op: &Op<'_>) -> TokenStream {
    let ident = format_ident!("{}Response", type_ident(op.id));
    let doc = format!(
        " The successful answers of `{}`, one variant per documented 2xx status.",
        op.id
    );
    let (variants, arms): (Vec<_>, Vec<_>) = op
        .successes
        .iter()
        .map(|success| success_variant(success, op.style))
        .unzip();
    let statuses = &op.error_statuses;
    let statuses_doc = format!(
        " The error statuses `{}` documents: the only ones an `ApiError` it returns may have.",
        op.id
    );
    quote! {
        #[doc = #doc]
        #[must_use]
        #[derive(Debug, Clone, PartialEq)]
        pub enum #ident {
            #( #variants )*
        }

        impl #ident {
            #[doc = #statuses_doc]
            pub const ERROR_STATUSES: &'static [u16] = &[ #( #statuses ),* ];
        }

        impl axum::response::IntoResponse for #ident {
            fn into_response(self) -> axum::response::Response {
                match self {
                    #( #arms )*
                }
            }
        }
    }
}

/// One success variant and its arm of `into_response`; a body that cannot be
/// serialized is answered as an error in the operation's `style`.
fn success_variant(success: &Success<'_>, style: Style) -> (TokenStream, TokenStream) {
    let Success { code, model, etag } = success;
    let variant = format_ident!("Status{}", code);
    let status = quote!(axum::http::StatusCode::from_u16(#code).expect("the generator checked this status"));
    let style = style_tokens(style);
    match model {
        Some(model) if *etag => {
            let model = type_ident(model);
            let doc = format!(" {code}, with the `ETag` the response carries");
            (
                quote! { #[doc = #doc] #variant(#model, crate::request::EntityTag), },
                quote! {
                    Self::#variant(body, etag) => crate::request::with_etag(crate::request::json_response(#status, &body, #style), etag),
                },
            )
        }
        Some(model) => {
            let model = type_ident(model);
            let doc = format!(" {code}");
            (
                quote! { #[doc = #doc] #variant(#model), },
                quote! { Self::#variant(body) => crate::request::json_response(#status, &body, #style), },
            )
        }
        None => {
            let doc = format!(" {code}");
            (
                quote! { #[doc = #doc] #variant, },
                quote! { Self::#variant => #status.into_response(), },
            )
        }
    }
}

/// Every model an operation takes as its request body, once each, in spec order.
fn request_body_models(ops: &[Op<'_>]) -> TokenStream {
    let mut models: Vec<&str> = Vec::new();
    for op in ops {
        if let Some(body) = &op.body {
            if !models.contains(&body.model) {
                models.push(body.model);
            }
        }
    }
    let entries = models.iter().map(|model| {
        let ident = type_ident(model);
        quote!((#model, crate::decode::check_decodes::<#ident>))
    });
    quote! {
        /// Every model a request body decodes into, with its decoder, so that tests
        /// covering every request body cannot miss one the spec adds.
        pub const REQUEST_BODY_MODELS: &[(&str, crate::decode::CheckDecodes)] = &[ #( #entries ),* ];
    }
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
        if body.required {
            quote!(, body: #model)
        } else {
            quote!(, body: Option<#model>)
        }
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

/// The axum handler of `op`, the `index`-th operation (its place in `OPERATIONS`).
fn handler(op: &Op<'_>, index: usize) -> TokenStream {
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
            let decode = if body.required {
                quote! {
                    let body = crate::request::parse_body(&parts.headers, &body, crate::request::BodyKind::#kind)?;
                    let body = <#model as crate::decode::Decode>::decode(body, crate::decode::BODY).map_err(#to_error)?;
                }
            } else {
                quote! {
                    let body = crate::request::parse_optional_body(&parts.headers, &body, crate::request::BodyKind::#kind)?;
                    let body = body
                        .map(|body| <#model as crate::decode::Decode>::decode(body, crate::decode::BODY))
                        .transpose()
                        .map_err(#to_error)?;
                }
            };
            (
                quote! { let body = crate::request::read_body_bytes(&parts.headers, body).await?; },
                decode,
                quote!(, body),
            )
        }
    };
    let id = op.id;
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
            let mut response = match result {
                Ok(response) => axum::response::IntoResponse::into_response(response),
                Err(error) => {
                    crate::error::check_documented(&error, #id, #response::ERROR_STATUSES);
                    error.into_response_with(#style)
                }
            };
            response.extensions_mut().insert(crate::request::Operation(#index));
            response
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
