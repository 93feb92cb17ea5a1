//! Resolving an operation's parameters: which ones apply (the path item's and the
//! operation's), and how each is read, checked against what the runtime can enforce.
//! Anything the generated code would not honour (a pattern, a `default` it cannot
//! apply, a kind of parameter it cannot read) is refused here, naming the parameter.

use openapiv3::{
    ArrayType, IntegerType, OpenAPI, Operation, Parameter, ParameterData, ParameterSchemaOrContent, PathItem,
    ReferenceOr, Schema, SchemaKind, StringFormat, StringType, Type, VariantOrUnknownOrEmpty,
};

use crate::models::SchemaRef;
use crate::spec::{self, ref_name};
use crate::CodegenError;

/// The pattern of a UUID in its canonical 8-4-4-4-12 form. A header parameter with
/// exactly this pattern is read as a UUID (a plain string with a pattern, not
/// `format: uuid`, so that generated clients take a `str` they can send as it is).
pub const UUID_PATTERN: &str = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

/// One parameter of an operation, resolved and checked.
pub struct Param<'a> {
    /// Its name on the wire (`limit`, `X-Client-Request-ID`).
    pub name: &'a str,
    /// Its description, for the field's doc comment.
    pub description: Option<&'a str>,
    /// How the generated code reads it.
    pub reader: Reader<'a>,
}

/// How a parameter is read from the request, with the rules the runtime enforces.
pub enum Reader<'a> {
    /// A path segment: a string of bounded length.
    PathString(&'a StringType),
    /// An optional query string of bounded length.
    QueryString(&'a StringType),
    /// An optional query integer within a range; absent, it takes `default` if the spec gives one.
    QueryInteger {
        /// The smallest value accepted.
        minimum: Option<i64>,
        /// The largest value accepted.
        maximum: Option<i64>,
        /// The value of an absent parameter (the spec's `default`).
        default: Option<i64>,
    },
    /// An optional query parameter given at most once, one of a named enum's values.
    QueryEnum {
        /// The enum schema's name.
        item: &'a str,
    },
    /// An optional RFC 3339 date-time query parameter (`format: date-time`).
    QueryDateTime,
    /// A repeatable query parameter whose values are a named enum's.
    QueryEnumArray {
        /// The enum schema's name.
        item: &'a str,
        /// Whether values outside the enum are ignored rather than refused.
        ignore_unknown: bool,
    },
    /// An optional header holding a UUID ([`UUID_PATTERN`]).
    HeaderUuid,
    /// An optional header string of bounded length.
    HeaderString(&'a StringType),
}

/// The parameters of `operation` at `location` (`METHOD /path`; an operation's parameter replaces the path
/// item's of the same name and place), each checked; the path's template must name
/// exactly the path parameters.
pub fn resolve<'a>(
    spec: &'a OpenAPI,
    item: &'a PathItem,
    operation: &'a Operation,
    operation_id: &str,
    location: &str,
) -> Result<Vec<Param<'a>>, CodegenError> {
    let mut params: Vec<&Parameter> = Vec::new();
    for parameter in item.parameters.iter().chain(&operation.parameters) {
        let parameter = spec::parameter(spec, parameter)?;
        let name = &parameter.parameter_data_ref().name;
        params.retain(|existing| {
            existing.parameter_data_ref().name != *name
                || std::mem::discriminant(*existing) != std::mem::discriminant(parameter)
        });
        params.push(parameter);
    }
    check_path_template(&params, location)?;
    params
        .into_iter()
        .map(|parameter| resolve_one(spec, parameter, operation_id))
        .collect()
}

fn check_path_template(params: &[&Parameter], location: &str) -> Result<(), CodegenError> {
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
    Ok(())
}

/// Checks one parameter and works out how it is read.
fn resolve_one<'a>(spec: &'a OpenAPI, parameter: &'a Parameter, operation_id: &str) -> Result<Param<'a>, CodegenError> {
    let data = parameter.parameter_data_ref();
    let location = format!("{operation_id} parameter {}", data.name);
    check_required(parameter, &location)?;
    let schema = match parameter_schema(data, &location)? {
        SchemaRef::Inline(schema) => schema,
        SchemaRef::Named(name) => {
            return Ok(Param {
                name: &data.name,
                description: data.description.as_deref(),
                reader: named_enum_reader(spec, parameter, name, &location)?,
            })
        }
    };
    let reader = match (parameter, &schema.schema_kind) {
        (_, SchemaKind::Type(Type::String(string))) => string_reader(parameter, string, &location)?,
        (Parameter::Query { .. }, SchemaKind::Type(Type::Integer(integer))) => {
            integer_reader(integer, schema.schema_data.default.as_ref(), &location)?
        }
        (Parameter::Query { .. }, SchemaKind::Type(Type::Array(array))) => array_reader(data, array, &location)?,
        _ => {
            return Err(CodegenError::unsupported(
                location,
                "this kind of parameter is not supported",
            ))
        }
    };
    if schema.schema_data.nullable {
        // A parameter is absent or has a value; no query string or header says `null`.
        return Err(CodegenError::unsupported(
            location,
            "nullable is not supported on a parameter",
        ));
    }
    if schema.schema_data.default.is_some() && !matches!(reader, Reader::QueryInteger { .. }) {
        return Err(CodegenError::unsupported(
            location,
            "a default is only supported on an integer query parameter",
        ));
    }
    Ok(Param {
        name: &data.name,
        description: data.description.as_deref(),
        reader,
    })
}

fn parameter_schema<'a>(data: &'a ParameterData, location: &str) -> Result<SchemaRef<'a>, CodegenError> {
    let ParameterSchemaOrContent::Schema(schema) = &data.format else {
        return Err(CodegenError::unsupported(location, "parameters need a schema"));
    };
    SchemaRef::of(schema)
}

/// A query parameter whose schema names a component: only a string enum (with no
/// default) is read, as one of its values; any other named schema is refused.
fn named_enum_reader<'a>(
    spec: &'a OpenAPI,
    parameter: &Parameter,
    name: &'a str,
    location: &str,
) -> Result<Reader<'a>, CodegenError> {
    let schema = spec::schema(spec, name)?;
    let is_enum =
        matches!(&schema.schema_kind, SchemaKind::Type(Type::String(string)) if !string.enumeration.is_empty());
    if !matches!(parameter, Parameter::Query { .. }) || !is_enum || schema.schema_data.default.is_some() {
        return Err(CodegenError::unsupported(
            location,
            "a parameter schema may name only a string enum, without a default, and only in the query",
        ));
    }
    Ok(Reader::QueryEnum { item: name })
}

fn check_required(parameter: &Parameter, location: &str) -> Result<(), CodegenError> {
    let required = parameter.parameter_data_ref().required;
    match (parameter, required) {
        (Parameter::Path { .. }, false) => Err(CodegenError::unsupported(
            location,
            "path parameters are always required",
        )),
        (Parameter::Query { .. } | Parameter::Header { .. } | Parameter::Cookie { .. }, true) => Err(
            CodegenError::unsupported(location, "required query and header parameters are not supported"),
        ),
        _ => Ok(()),
    }
}

/// A string parameter: the only pattern the runtime enforces is the UUID one (by
/// parsing, in a header); any other would be documented but not checked, so it is refused.
fn string_reader<'a>(
    parameter: &Parameter,
    string: &'a StringType,
    location: &str,
) -> Result<Reader<'a>, CodegenError> {
    if matches!(string.format, VariantOrUnknownOrEmpty::Item(StringFormat::DateTime)) {
        return date_time_reader(parameter, string, location);
    }
    if !string.enumeration.is_empty() {
        return Err(CodegenError::unsupported(
            location,
            "this kind of parameter is not supported",
        ));
    }
    match (parameter, string.pattern.as_deref()) {
        (Parameter::Header { .. }, Some(UUID_PATTERN)) => Ok(Reader::HeaderUuid),
        (_, Some(_)) => Err(CodegenError::unsupported(
            location,
            format!("the only parameter pattern supported is a header's {UUID_PATTERN}"),
        )),
        (Parameter::Path { .. }, None) => Ok(Reader::PathString(string)),
        (Parameter::Query { .. }, None) => Ok(Reader::QueryString(string)),
        (Parameter::Header { .. }, None) => Ok(Reader::HeaderString(string)),
        (Parameter::Cookie { .. }, None) => Err(CodegenError::unsupported(
            location,
            "this kind of parameter is not supported",
        )),
    }
}

/// A date-time query parameter, read as RFC 3339; any other rule on it (a length, a
/// pattern, an enum) would go unchecked, so it is refused.
fn date_time_reader<'a>(
    parameter: &Parameter,
    string: &StringType,
    location: &str,
) -> Result<Reader<'a>, CodegenError> {
    let plain = string.enumeration.is_empty()
        && string.pattern.is_none()
        && string.min_length.is_none()
        && string.max_length.is_none();
    if !matches!(parameter, Parameter::Query { .. }) || !plain {
        return Err(CodegenError::unsupported(
            location,
            "a date-time parameter must be a query parameter with no other rule (length, pattern, enum)",
        ));
    }
    Ok(Reader::QueryDateTime)
}

/// An integer query parameter; its `default`, if any, must be an integer the
/// parameter's own range accepts, since the server answers with it as if it were sent.
fn integer_reader<'a>(
    integer: &IntegerType,
    default: Option<&serde_json::Value>,
    location: &str,
) -> Result<Reader<'a>, CodegenError> {
    let default = match default {
        None => None,
        Some(value) => {
            let value = value.as_i64().ok_or_else(|| {
                CodegenError::unsupported(location, "the default of an integer parameter must be an integer")
            })?;
            let fits = integer.minimum.is_none_or(|minimum| value >= minimum)
                && integer.maximum.is_none_or(|maximum| value <= maximum);
            if !fits || integer.exclusive_minimum || integer.exclusive_maximum {
                return Err(CodegenError::unsupported(
                    location,
                    format!("the default {value} is outside the parameter's minimum and maximum"),
                ));
            }
            Some(value)
        }
    };
    Ok(Reader::QueryInteger {
        minimum: integer.minimum,
        maximum: integer.maximum,
        default,
    })
}

/// A repeatable enum query parameter. The schema must say what the server does: if
/// unknown values are ignored, any string is valid, so the items must admit any string
/// (and the other way round), or clients and fuzzers would take accepted values for
/// invalid ones.
fn array_reader<'a>(data: &'a ParameterData, array: &'a ArrayType, location: &str) -> Result<Reader<'a>, CodegenError> {
    let (reference, open) = enum_array_items(array.items.as_ref(), location)?;
    let ignore_unknown = data
        .extensions
        .get("x-ignore-unknown-values")
        .and_then(|value| value.as_bool())
        .unwrap_or(false);
    if ignore_unknown != open {
        return Err(CodegenError::unsupported(
            location,
            "x-ignore-unknown-values: true goes with items `anyOf: [$ref enum, {type: string}]`, \
             and items that are only the enum with no (or a false) x-ignore-unknown-values",
        ));
    }
    Ok(Reader::QueryEnumArray {
        item: ref_name(reference, "schemas")?,
        ignore_unknown,
    })
}

/// The enum an array parameter's items name, and whether the items are "open": the enum
/// or any other string (`anyOf: [$ref enum, {type: string}]`) rather than only the enum.
fn enum_array_items<'a>(
    items: Option<&'a ReferenceOr<Box<Schema>>>,
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
                [ReferenceOr::Reference { reference }, ReferenceOr::Item(other)] if is_any_string(other) => {
                    Ok((reference, true))
                }
                _ => Err(unsupported()),
            },
            _ => Err(unsupported()),
        },
        None => Err(unsupported()),
    }
}

/// Whether a schema admits every string: a plain `type: string` with no rule.
fn is_any_string(schema: &Schema) -> bool {
    matches!(&schema.schema_kind, SchemaKind::Type(Type::String(string))
        if string.enumeration.is_empty() && string.pattern.is_none()
            && string.min_length.is_none() && string.max_length.is_none()
            && matches!(string.format, VariantOrUnknownOrEmpty::Empty))
}
