//! Models: one Rust type per component schema, serialisable, and decodable with the
//! spec's rules (required fields, no `null`, lengths in characters, ranges, enums).
//! The one exception to "no `null`" is an optional property marked `nullable: true`,
//! which becomes a tri-state `Option<Option<T>>`: absent, `null`, or a value.

use openapiv3::{
    AdditionalProperties, OpenAPI, ReferenceOr, Schema, SchemaKind, StringFormat, StringType, Type,
    VariantOrUnknownOrEmpty,
};
use proc_macro2::TokenStream;
use quote::quote;

use crate::names::{doc_lines, field_ident, type_ident};
use crate::spec::{ref_name, schema};
use crate::CodegenError;

/// A schema as the generator sees it: a named component, or written in place.
#[derive(Clone, Copy)]
pub enum SchemaRef<'a> {
    /// `$ref: '#/components/schemas/<name>'`
    Named(&'a str),
    /// A schema written where it is used.
    Inline(&'a Schema),
}

impl<'a> SchemaRef<'a> {
    /// From a property, item or parameter schema.
    pub fn of<S: std::borrow::Borrow<Schema>>(schema: &'a ReferenceOr<S>) -> Result<Self, CodegenError> {
        match schema {
            ReferenceOr::Reference { reference } => Ok(SchemaRef::Named(ref_name(reference, "schemas")?)),
            ReferenceOr::Item(schema) => Ok(SchemaRef::Inline(schema.borrow())),
        }
    }
}

/// What a named component schema becomes.
enum Shape<'a> {
    /// An object with declared properties: a struct.
    Struct,
    /// A string with an `enum`: a Rust enum.
    Enum(&'a StringType),
    /// Anything else (maps, arrays, plain values): a type alias.
    Alias,
}

fn shape(schema: &Schema) -> Shape<'_> {
    match &schema.schema_kind {
        SchemaKind::Type(Type::String(string)) if !string.enumeration.is_empty() => Shape::Enum(string),
        SchemaKind::Type(Type::Object(object))
            if !object.properties.is_empty()
                || matches!(
                    object.additional_properties,
                    None | Some(AdditionalProperties::Any(false))
                ) =>
        {
            Shape::Struct
        }
        _ => Shape::Alias,
    }
}

/// Generates every component schema's type.
pub fn generate(spec: &OpenAPI) -> Result<TokenStream, CodegenError> {
    let mut items = Vec::new();
    let Some(components) = &spec.components else {
        return Ok(TokenStream::new());
    };
    let mut decodable = Vec::new();
    for name in components.schemas.keys() {
        let schema = schema(spec, name)?;
        let location = format!("#/components/schemas/{name}");
        check_plain(schema, &location)?;
        let docs = doc_lines(schema.schema_data.description.as_deref(), name);
        let item = match shape(schema) {
            Shape::Struct => struct_item(spec, name, schema, &docs, &mut items, &mut decodable)?,
            Shape::Enum(string) => enum_item(name, string, &docs, &location)?,
            Shape::Alias => {
                let ident = type_ident(name);
                let target = rust_type(SchemaRef::Inline(schema), name, &location)?;
                quote! { #( #[doc = #docs] )* pub type #ident = #target; }
            }
        };
        if !matches!(shape(schema), Shape::Alias) {
            decodable.push(name.clone());
        }
        items.push(item);
    }
    let listing = models_listing(&decodable);
    Ok(quote! { #( #items )* #listing })
}

/// Refuses what a schema may say but decoding would not honour: `nullable` (this API
/// accepts null only for an optional property, see [`nullable_property`]) and `default` (an absent field stays absent; the only default
/// honoured is an integer query parameter's).
fn check_plain(schema: &Schema, location: &str) -> Result<(), CodegenError> {
    if schema.schema_data.nullable {
        return Err(CodegenError::unsupported(
            location,
            "nullable is not supported here: this API accepts null only for an optional property of an object",
        ));
    }
    if schema.schema_data.default.is_some() {
        return Err(CodegenError::unsupported(
            location,
            "a default is only supported on an integer query parameter, not in a schema",
        ));
    }
    Ok(())
}

/// `MODELS`: every generated type with a `Decode` (structs and enums, named or made
/// from a property's enum), so that tests covering every model cannot miss one.
fn models_listing(names: &[String]) -> TokenStream {
    let entries = names.iter().map(|name| {
        let ident = type_ident(name);
        let label = ident.to_string();
        quote!((#label, crate::decode::check_decodes::<#ident>))
    });
    quote! {
        /// Every model the spec defines that decodes (structs and enums), with its decoder.
        pub const MODELS: &[(&str, crate::decode::CheckDecodes)] = &[ #( #entries ),* ];
    }
}

fn struct_item(
    spec: &OpenAPI,
    name: &str,
    schema: &Schema,
    docs: &[String],
    extra_items: &mut Vec<TokenStream>,
    decodable: &mut Vec<String>,
) -> Result<TokenStream, CodegenError> {
    let SchemaKind::Type(Type::Object(object)) = &schema.schema_kind else {
        unreachable!("shape() said struct")
    };
    let ident = type_ident(name);
    let mut fields = Vec::new();
    let mut decoders = Vec::new();
    for (property, property_schema) in &object.properties {
        let location = format!("#/components/schemas/{name}/properties/{property}");
        let required = object.required.iter().any(|required| required == property);
        let nullable = nullable_property(property_schema, required, &location)?;
        let property_ref = match &nullable {
            Some(plain) => SchemaRef::Inline(plain),
            None => SchemaRef::of(property_schema)?,
        };
        let context = format!("{name}_{property}");
        if let SchemaRef::Inline(inline) = property_ref {
            check_plain(inline, &location)?;
            if let Shape::Enum(string) = shape(inline) {
                let enum_docs = doc_lines(inline.schema_data.description.as_deref(), &context);
                extra_items.push(enum_item(&context, string, &enum_docs, &location)?);
                decodable.push(context.clone());
            }
        }
        let property = Property {
            name: property,
            schema: property_ref,
            required,
            nullable: nullable.is_some(),
        };
        let (field, decoder) = property_tokens(spec, &property, &context, &location)?;
        fields.push(field);
        decoders.push(decoder);
    }
    let fields_binding = if object.properties.is_empty() {
        quote!(_fields)
    } else {
        quote!(mut fields)
    };
    Ok(quote! {
        #( #[doc = #docs] )*
        #[derive(Debug, Clone, PartialEq, serde::Serialize)]
        pub struct #ident {
            #( #fields )*
        }

        // Nested maps and arrays decode through closures that are sometimes plain calls.
        #[allow(clippy::redundant_closure)]
        impl crate::decode::Decode for #ident {
            fn decode(value: serde_json::Value, parent: &str) -> Result<Self, crate::decode::ValidationError> {
                let #fields_binding = crate::decode::decode_object(value, parent)?;
                Ok(Self { #( #decoders )* })
            }
        }
    })
}

/// For a property marked `nullable: true`, the same schema without the mark (what a
/// value of it must be); `None` for any other property. Only an optional property
/// written in place, and not an enum, may be nullable: there "absent", `null` and a
/// value are three different requests, and the decoded type keeps them apart.
fn nullable_property(
    schema: &ReferenceOr<Box<Schema>>,
    required: bool,
    location: &str,
) -> Result<Option<Schema>, CodegenError> {
    let ReferenceOr::Item(inline) = schema else {
        return Ok(None);
    };
    if !inline.schema_data.nullable {
        return Ok(None);
    }
    let refuse = |why: &str| {
        Err(CodegenError::unsupported(
            location,
            format!("nullable is not supported {why}"),
        ))
    };
    if required {
        return refuse("on a required property: only an optional one can be absent, null or a value");
    }
    if let Shape::Enum(_) = shape(inline) {
        return refuse("on an enum: write the values it takes instead");
    }
    let mut plain = inline.as_ref().clone();
    plain.schema_data.nullable = false;
    Ok(Some(plain))
}

/// One property of an object schema, as its struct field is generated.
struct Property<'a> {
    /// Its name in the JSON.
    name: &'a str,
    /// Its schema (without `nullable`, for a nullable one).
    schema: SchemaRef<'a>,
    /// Whether the object requires it.
    required: bool,
    /// Whether it takes `null` (then it is optional: absent, `null` or a value).
    nullable: bool,
}

/// A struct's field for one property, and the expression decoding it from `fields`.
fn property_tokens(
    spec: &OpenAPI,
    property: &Property<'_>,
    context: &str,
    location: &str,
) -> Result<(TokenStream, TokenStream), CodegenError> {
    let Property {
        name: property,
        schema: property_ref,
        required,
        nullable,
    } = *property;
    let field = field_ident(property);
    let docs_field = doc_lines(property_description(spec, property_ref)?, property);
    let value_type = rust_type(property_ref, context, location)?;
    let decode = decode_expr(spec, property_ref, context, quote!(value), quote!(&field), location)?;
    let rename = (field.to_string().trim_start_matches("r#") != property).then(|| quote!(#[serde(rename = #property)]));
    if required {
        return Ok((
            quote! { #( #[doc = #docs_field] )* #rename pub #field: #value_type, },
            quote! {
                #field: {
                    let field = crate::decode::field_path(parent, #property);
                    let value = crate::decode::required(&mut fields, parent, #property)?;
                    #decode?
                },
            },
        ));
    }
    if nullable {
        return Ok((
            quote! {
                #( #[doc = #docs_field] )*
                #[doc = ""]
                #[doc = " `None` when absent, `Some(None)` when `null`, `Some(Some(value))` otherwise."]
                #rename
                #[serde(skip_serializing_if = "Option::is_none")]
                pub #field: Option<Option<#value_type>>,
            },
            quote! {
                #field: match fields.remove(#property) {
                    Some(serde_json::Value::Null) => Some(None),
                    Some(value) => {
                        let field = crate::decode::field_path(parent, #property);
                        Some(Some(#decode?))
                    }
                    None => None,
                },
            },
        ));
    }
    Ok((
        quote! {
            #( #[doc = #docs_field] )*
            #rename
            #[serde(skip_serializing_if = "Option::is_none")]
            pub #field: Option<#value_type>,
        },
        quote! {
            #field: match fields.remove(#property) {
                Some(value) => {
                    let field = crate::decode::field_path(parent, #property);
                    Some(#decode?)
                }
                None => None,
            },
        },
    ))
}

fn property_description<'a>(spec: &'a OpenAPI, schema_ref: SchemaRef<'a>) -> Result<Option<&'a str>, CodegenError> {
    Ok(match schema_ref {
        SchemaRef::Inline(schema) => schema.schema_data.description.as_deref(),
        SchemaRef::Named(name) => schema(spec, name)?.schema_data.description.as_deref(),
    })
}

fn enum_item(name: &str, string: &StringType, docs: &[String], location: &str) -> Result<TokenStream, CodegenError> {
    let ident = type_ident(name);
    let values: Vec<&str> = string
        .enumeration
        .iter()
        .map(|value| {
            value
                .as_deref()
                .ok_or_else(|| CodegenError::unsupported(location, "null is not an enum value here"))
        })
        .collect::<Result<_, _>>()?;
    let variants: Vec<_> = values.iter().map(|value| type_ident(value)).collect();
    let allowed = values.join(", ");
    Ok(quote! {
        #( #[doc = #docs] )*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
        pub enum #ident {
            #(
                #[doc = concat!(" `", #values, "`")]
                #[serde(rename = #values)]
                #variants,
            )*
        }

        impl crate::decode::WireEnum for #ident {
            const ALLOWED: &'static str = #allowed;

            fn from_wire(value: &str) -> Option<Self> {
                match value {
                    #( #values => Some(Self::#variants), )*
                    _ => None,
                }
            }

            fn as_wire(self) -> &'static str {
                match self {
                    #( Self::#variants => #values, )*
                }
            }
        }

        impl crate::decode::Decode for #ident {
            fn decode(value: serde_json::Value, field: &str) -> Result<Self, crate::decode::ValidationError> {
                crate::decode::decode_enum(value, field)
            }
        }
    })
}

/// The Rust type of a schema. `context` names an inline enum's generated type.
pub fn rust_type(schema_ref: SchemaRef<'_>, context: &str, location: &str) -> Result<TokenStream, CodegenError> {
    let schema = match schema_ref {
        SchemaRef::Named(name) => {
            let ident = type_ident(name);
            return Ok(quote!(#ident));
        }
        SchemaRef::Inline(schema) => schema,
    };
    match &schema.schema_kind {
        SchemaKind::Type(Type::String(string)) if !string.enumeration.is_empty() => {
            let ident = type_ident(context);
            Ok(quote!(#ident))
        }
        SchemaKind::Type(Type::String(string)) => match &string.format {
            VariantOrUnknownOrEmpty::Item(StringFormat::DateTime) => Ok(quote!(crate::decode::Timestamp)),
            _ => Ok(quote!(String)),
        },
        SchemaKind::Type(Type::Integer(_)) => Ok(quote!(i64)),
        SchemaKind::Type(Type::Boolean(_)) => Ok(quote!(bool)),
        SchemaKind::Type(Type::Array(array)) => {
            let items = array.items.as_ref().ok_or_else(|| CodegenError::unsupported(location, "arrays need items"))?;
            let item_type = rust_type(SchemaRef::of(items)?, context, location)?;
            Ok(quote!(Vec<#item_type>))
        }
        SchemaKind::Type(Type::Object(object)) if object.properties.is_empty() => match &object.additional_properties {
            Some(AdditionalProperties::Schema(values)) => {
                let value_type = rust_type(SchemaRef::of(values)?, context, location)?;
                Ok(quote!(std::collections::BTreeMap<String, #value_type>))
            }
            _ => Err(CodegenError::unsupported(location, "a map needs an additionalProperties schema")),
        },
        _ => Err(CodegenError::unsupported(location, "only strings, integers, booleans, arrays, maps and named schemas are supported here; name object schemas in components")),
    }
}

/// An expression decoding `value` (a `serde_json::Value`) reported as `field` (a `&str`),
/// of type `Result<T, ValidationError>` where `T` is [`rust_type`] of the same schema.
pub fn decode_expr(
    spec: &OpenAPI,
    schema_ref: SchemaRef<'_>,
    context: &str,
    value: TokenStream,
    field: TokenStream,
    location: &str,
) -> Result<TokenStream, CodegenError> {
    let schema = match schema_ref {
        SchemaRef::Named(name) => {
            let named = schema(spec, name)?;
            if let Shape::Alias = shape(named) {
                return decode_expr(spec, SchemaRef::Inline(named), name, value, field, location);
            }
            let ident = type_ident(name);
            return Ok(quote!(<#ident as crate::decode::Decode>::decode(#value, #field)));
        }
        SchemaRef::Inline(schema) => schema,
    };
    check_plain(schema, location)?;
    match &schema.schema_kind {
        SchemaKind::Type(Type::String(string)) if !string.enumeration.is_empty() => {
            let ident = type_ident(context);
            Ok(quote!(crate::decode::decode_enum::<#ident>(#value, #field)))
        }
        SchemaKind::Type(Type::String(string)) => string_decode_expr(string, value, field, location),
        SchemaKind::Type(Type::Integer(integer)) => {
            let minimum = option_tokens(integer.minimum);
            let maximum = option_tokens(integer.maximum);
            Ok(quote!(crate::decode::decode_integer(#value, #field, #minimum, #maximum)))
        }
        SchemaKind::Type(Type::Boolean(_)) => Ok(quote!(crate::decode::decode_bool(#value, #field))),
        SchemaKind::Type(Type::Array(array)) => {
            let items = array
                .items
                .as_ref()
                .ok_or_else(|| CodegenError::unsupported(location, "arrays need items"))?;
            let item = decode_expr(
                spec,
                SchemaRef::of(items)?,
                context,
                quote!(item),
                quote!(item_field),
                location,
            )?;
            Ok(quote!(crate::decode::decode_array(#value, #field, |item, item_field| #item)))
        }
        SchemaKind::Type(Type::Object(object)) if object.properties.is_empty() => match &object.additional_properties {
            Some(AdditionalProperties::Schema(values)) => {
                let item = decode_expr(
                    spec,
                    SchemaRef::of(values)?,
                    context,
                    quote!(item),
                    quote!(item_field),
                    location,
                )?;
                Ok(quote!(crate::decode::decode_map(#value, #field, |item, item_field| #item)))
            }
            _ => Err(CodegenError::unsupported(
                location,
                "a map needs an additionalProperties schema",
            )),
        },
        _ => Err(CodegenError::unsupported(
            location,
            "this schema cannot be decoded; name object schemas in components",
        )),
    }
}

/// [`decode_expr`] of a string without an enum: a timestamp, or a string of bounded
/// length, perhaps without NUL or not blank (the patterns enforced).
fn string_decode_expr(
    string: &StringType,
    value: TokenStream,
    field: TokenStream,
    location: &str,
) -> Result<TokenStream, CodegenError> {
    let decoder = match string.pattern.as_deref() {
        None => quote!(decode_string),
        Some(NO_NUL_PATTERN) => quote!(decode_string_without_nul),
        Some(NON_BLANK_PATTERN) => quote!(decode_non_blank_string),
        Some(_) => {
            return Err(CodegenError::unsupported(
                location,
                format!(
                    "the only string patterns this generator enforces are {NO_NUL_PATTERN} and {NON_BLANK_PATTERN}"
                ),
            ))
        }
    };
    if let VariantOrUnknownOrEmpty::Item(StringFormat::DateTime) = &string.format {
        return Ok(quote!(<crate::decode::Timestamp as crate::decode::Decode>::decode(#value, #field)));
    }
    let length = length_tokens(string);
    Ok(quote!(crate::decode::#decoder(#value, #field, #length)))
}

/// The pattern of a string that holds no NUL character (U+0000), which PostgreSQL
/// cannot store: the one string pattern the generator enforces.
const NO_NUL_PATTERN: &str = "^[^\\u0000]*$";

/// The pattern of a string with no NUL character and something besides ASCII spaces,
/// tabs and line breaks: what a name must be.
const NON_BLANK_PATTERN: &str = "^[^\\u0000]*[^\\u0000\\t\\n\\u000b\\f\\r ][^\\u0000]*$";

/// `crate::decode::Length { … }` for a string's limits.
pub fn length_tokens(string: &StringType) -> TokenStream {
    let min = option_tokens(string.min_length.map(|length| length as u64));
    let max = option_tokens(string.max_length.map(|length| length as u64));
    quote!(crate::decode::Length { min: #min, max: #max })
}

fn option_tokens<T: quote::ToTokens>(value: Option<T>) -> TokenStream {
    match value {
        Some(value) => quote!(Some(#value)),
        None => quote!(None),
    }
}
