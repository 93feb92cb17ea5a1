//! The human-readable API reference served at `/docs`: one self-contained HTML page
//! (inline CSS, no scripts, no fonts, no network) rendered from the spec at build time.

use std::fmt::Write as _;

use openapiv3::{
    AdditionalProperties, OpenAPI, Operation, Parameter, ParameterSchemaOrContent, ReferenceOr, Schema, SchemaKind,
    StatusCode, Type, VariantOrUnknownOrEmpty,
};

use crate::spec::{self, ref_name};
use crate::CodegenError;

const STYLE: &str = "
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d2125;background:#fafbfc}
header,main,nav{max-width:960px;margin:0 auto;padding:0 1.5rem}
header{padding-top:1.5rem}h1 small{font-weight:normal;color:#5b6570;font-size:.6em}
h2{border-bottom:1px solid #d8dde3;padding-bottom:.3rem;margin-top:2.5rem}
section{background:#fff;border:1px solid #d8dde3;border-radius:6px;padding:.5rem 1.25rem;margin:1.25rem 0}
code{background:#eef1f4;padding:0 .25rem;border-radius:3px;font-size:.92em}
.method{display:inline-block;min-width:4.5rem;text-align:center;font:bold 12px monospace;border-radius:3px;
padding:.15rem .4rem;color:#fff;background:#5b6570;margin-right:.5rem}
.GET{background:#2f7d32}.POST{background:#1f5fa8}.PATCH{background:#a86a12}.DELETE{background:#b0302c}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}th,td{text-align:left;vertical-align:top;
border-bottom:1px solid #e4e8ec;padding:.35rem .5rem}th{font-size:.85em;color:#5b6570}
nav ul{list-style:none;padding:0}nav li{margin:.2rem 0}.muted{color:#5b6570}
";

/// Escapes text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Escapes prose and turns its `code spans` into `<code>`; blank lines make paragraphs.
fn prose(text: &str) -> String {
    text.split("\n\n")
        .filter(|paragraph| !paragraph.trim().is_empty())
        .map(|paragraph| {
            let mut html = String::new();
            for (index, piece) in escape(paragraph.trim()).split('`').enumerate() {
                if index % 2 == 1 {
                    let _ = write!(html, "<code>{piece}</code>");
                } else {
                    html.push_str(piece);
                }
            }
            format!("<p>{html}</p>")
        })
        .collect()
}

fn schema_link(name: &str) -> String {
    format!("<a href=\"#schema-{0}\"><code>{0}</code></a>", escape(name))
}

/// A short description of a schema's type and rules, e.g. `string, at most 500 characters`.
fn describe<S: std::borrow::Borrow<Schema>>(schema: &ReferenceOr<S>) -> String {
    let schema = match schema {
        ReferenceOr::Reference { reference } => {
            return ref_name(reference, "schemas")
                .map(schema_link)
                .unwrap_or_else(|_| escape(reference))
        }
        ReferenceOr::Item(schema) => schema.borrow(),
    };
    match &schema.schema_kind {
        SchemaKind::Type(Type::String(string)) => {
            let mut parts = vec!["string".to_owned()];
            match &string.format {
                VariantOrUnknownOrEmpty::Item(format) => parts.push(format!("{format:?}").to_lowercase()),
                VariantOrUnknownOrEmpty::Unknown(format) => parts.push(escape(format)),
                VariantOrUnknownOrEmpty::Empty => {}
            }
            if !string.enumeration.is_empty() {
                let values: Vec<String> = string
                    .enumeration
                    .iter()
                    .flatten()
                    .map(|value| format!("<code>{}</code>", escape(value)))
                    .collect();
                parts.push(format!("one of {}", values.join(", ")));
            }
            if let Some(pattern) = &string.pattern {
                parts.push(format!("matching <code>{}</code>", escape(pattern)));
            }
            if let Some(min) = string.min_length {
                parts.push(format!("at least {min} characters"));
            }
            if let Some(max) = string.max_length {
                parts.push(format!("at most {max} characters"));
            }
            parts.join(", ")
        }
        SchemaKind::Type(Type::Integer(integer)) => {
            let mut parts = vec!["integer".to_owned()];
            if let Some(min) = integer.minimum {
                parts.push(format!("at least {min}"));
            }
            if let Some(max) = integer.maximum {
                parts.push(format!("at most {max}"));
            }
            if let Some(default) = &schema.schema_data.default {
                parts.push(format!("default {}", escape(&default.to_string())));
            }
            parts.join(", ")
        }
        SchemaKind::Type(Type::Boolean(_)) => "boolean".to_owned(),
        SchemaKind::Type(Type::Number(_)) => "number".to_owned(),
        SchemaKind::Type(Type::Array(array)) => match &array.items {
            Some(items) => format!("array of {}", describe(items)),
            None => "array".to_owned(),
        },
        SchemaKind::Type(Type::Object(object)) => match &object.additional_properties {
            Some(AdditionalProperties::Schema(values)) if object.properties.is_empty() => {
                format!("map of string to {}", describe(values.as_ref()))
            }
            _ => "object".to_owned(),
        },
        SchemaKind::AnyOf { any_of } | SchemaKind::OneOf { one_of: any_of } => {
            any_of.iter().map(describe).collect::<Vec<_>>().join(" or ")
        }
        _ => "any".to_owned(),
    }
}

fn operation_list(spec: &OpenAPI) -> Vec<(&str, &str, &Operation)> {
    let mut operations = Vec::new();
    for (path, item) in &spec.paths.paths {
        let ReferenceOr::Item(item) = item else { continue };
        for (method, operation) in item.iter() {
            operations.push((path.as_str(), method, operation));
        }
    }
    operations
}

fn security_text(spec: &OpenAPI, operation: &Operation) -> String {
    let requirements = operation
        .security
        .as_ref()
        .or(spec.security.as_ref())
        .cloned()
        .unwrap_or_default();
    let options: Vec<String> = requirements
        .iter()
        .map(|requirement| {
            if requirement.is_empty() {
                "none".to_owned()
            } else {
                requirement
                    .keys()
                    .map(|name| format!("<code>{}</code>", escape(name)))
                    .collect::<Vec<_>>()
                    .join(" + ")
            }
        })
        .collect();
    if options.is_empty() {
        "none".to_owned()
    } else {
        options.join(" or ")
    }
}

fn write_parameters(html: &mut String, parameters: &[&Parameter]) {
    if parameters.is_empty() {
        return;
    }
    html.push_str("<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th><th>description</th></tr>");
    for parameter in parameters {
        let data = parameter.parameter_data_ref();
        let place = match parameter {
            Parameter::Path { .. } => "path",
            Parameter::Query { .. } => "query",
            Parameter::Header { .. } => "header",
            Parameter::Cookie { .. } => "cookie",
        };
        let kind = match &data.format {
            ParameterSchemaOrContent::Schema(schema) => describe(schema),
            ParameterSchemaOrContent::Content(_) => "content".to_owned(),
        };
        let required = if data.required {
            " <span class=\"muted\">(required)</span>"
        } else {
            ""
        };
        let _ = write!(
            html,
            "<tr><td><code>{}</code>{required}</td><td>{place}</td><td>{kind}</td><td>{}</td></tr>",
            escape(&data.name),
            prose(data.description.as_deref().unwrap_or(""))
        );
    }
    html.push_str("</table>");
}

fn write_operation(
    html: &mut String,
    spec: &OpenAPI,
    path: &str,
    method: &str,
    operation: &Operation,
) -> Result<(), CodegenError> {
    let id = operation.operation_id.as_deref().unwrap_or("");
    let method = method.to_uppercase();
    let _ = write!(
        html,
        "<section id=\"op-{id}\" data-operation-id=\"{id}\"><h3><span class=\"method {method}\">{method}</span><code>{path}</code></h3>\
         <p><strong>{summary}</strong> <span class=\"muted\">operationId <code>{id}</code> · auth: {auth}</span></p>{description}",
        id = escape(id),
        path = escape(path),
        summary = escape(operation.summary.as_deref().unwrap_or("")),
        auth = security_text(spec, operation),
        description = prose(operation.description.as_deref().unwrap_or("")),
    );
    let path_item = match spec.paths.paths.get(path) {
        Some(ReferenceOr::Item(item)) => Some(item),
        _ => None,
    };
    let mut parameters = Vec::new();
    for parameter in path_item
        .map(|item| item.parameters.iter())
        .into_iter()
        .flatten()
        .chain(&operation.parameters)
    {
        parameters.push(spec::parameter(spec, parameter)?);
    }
    write_parameters(html, &parameters);
    if let Some(body) = &operation.request_body {
        let body = spec::request_body(spec, body)?;
        let heading = if body.required {
            "<h4>Request body</h4>"
        } else {
            "<h4>Request body <span class=\"muted\">(optional)</span></h4>"
        };
        html.push_str(heading);
        html.push_str("<table><tr><th>media type</th><th>schema</th></tr>");
        for (media_type, content) in &body.content {
            let schema = content.schema.as_ref().map(describe).unwrap_or_default();
            let _ = write!(
                html,
                "<tr><td><code>{}</code></td><td>{schema}</td></tr>",
                escape(media_type)
            );
        }
        html.push_str("</table>");
    }
    html.push_str("<h4>Responses</h4><table><tr><th>status</th><th>description</th><th>body</th></tr>");
    for (status, response) in &operation.responses.responses {
        let status = match status {
            StatusCode::Code(code) => code.to_string(),
            StatusCode::Range(range) => format!("{range}XX"),
        };
        let response = spec::response(spec, response)?;
        let body = response
            .content
            .values()
            .filter_map(|content| content.schema.as_ref().map(describe))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = write!(
            html,
            "<tr><td>{status}</td><td>{}</td><td>{body}</td></tr>",
            prose(&response.description)
        );
    }
    html.push_str("</table></section>");
    Ok(())
}

fn write_schemas(html: &mut String, spec: &OpenAPI) -> Result<(), CodegenError> {
    let Some(components) = &spec.components else {
        return Ok(());
    };
    html.push_str("<h2 id=\"schemas\">Schemas</h2>");
    for name in components.schemas.keys() {
        let schema = spec::schema(spec, name)?;
        let _ = write!(
            html,
            "<section id=\"schema-{0}\"><h3><code>{0}</code></h3><p class=\"muted\">{1}</p>{2}",
            escape(name),
            describe(&ReferenceOr::Item(schema.clone())),
            prose(schema.schema_data.description.as_deref().unwrap_or(""))
        );
        if let SchemaKind::Type(Type::Object(object)) = &schema.schema_kind {
            if !object.properties.is_empty() {
                html.push_str("<table><tr><th>field</th><th>type</th><th>description</th></tr>");
                for (property, property_schema) in &object.properties {
                    let required = if object.required.contains(property) {
                        " <span class=\"muted\">(required)</span>"
                    } else {
                        ""
                    };
                    let description = match property_schema {
                        ReferenceOr::Item(inner) => prose(inner.schema_data.description.as_deref().unwrap_or("")),
                        ReferenceOr::Reference { .. } => String::new(),
                    };
                    let nullable = match property_schema {
                        ReferenceOr::Item(inner) if inner.schema_data.nullable => " or <code>null</code>",
                        _ => "",
                    };
                    let _ = write!(
                        html,
                        "<tr><td><code>{}</code>{required}</td><td>{}{nullable}</td><td>{description}</td></tr>",
                        escape(property),
                        describe(property_schema)
                    );
                }
                html.push_str("</table>");
            }
        }
        html.push_str("</section>");
    }
    Ok(())
}

/// Renders the API reference page for a spec.
pub fn render(spec: &OpenAPI) -> Result<String, CodegenError> {
    let operations = operation_list(spec);
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title} API reference</title><style>{STYLE}</style></head><body>\
         <header><h1>{title} <small>{version}</small></h1>{description}\
         <p class=\"muted\">The contract itself: <a href=\"/openapi.yaml\">openapi.yaml</a> · \
         <a href=\"/openapi.json\">openapi.json</a></p></header><nav><h2>Operations</h2><ul>",
        title = escape(&spec.info.title),
        version = escape(&spec.info.version),
        description = prose(spec.info.description.as_deref().unwrap_or("")),
    );
    for (path, method, operation) in &operations {
        let method = method.to_uppercase();
        let _ = write!(
            html,
            "<li><a href=\"#op-{id}\"><span class=\"method {method}\">{method}</span><code>{path}</code></a> {summary}</li>",
            id = escape(operation.operation_id.as_deref().unwrap_or("")),
            path = escape(path),
            summary = escape(operation.summary.as_deref().unwrap_or("")),
        );
    }
    html.push_str("</ul></nav><main>");
    for tag in &spec.tags {
        let _ = write!(
            html,
            "<h2>{}</h2>{}",
            escape(&tag.name),
            prose(tag.description.as_deref().unwrap_or(""))
        );
        for (path, method, operation) in operations
            .iter()
            .filter(|(_, _, operation)| operation.tags.first() == Some(&tag.name))
        {
            write_operation(&mut html, spec, path, method, operation)?;
        }
    }
    let untagged: Vec<_> = operations
        .iter()
        .filter(|(_, _, operation)| !spec.tags.iter().any(|tag| operation.tags.first() == Some(&tag.name)))
        .collect();
    if !untagged.is_empty() {
        html.push_str("<h2>Other operations</h2>");
        for (path, method, operation) in untagged {
            write_operation(&mut html, spec, path, method, operation)?;
        }
    }
    write_schemas(&mut html, spec)?;
    html.push_str("</main></body></html>\n");
    Ok(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_special_characters_are_escaped() {
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }

    #[test]
    fn code_spans_become_code_elements() {
        assert_eq!(
            prose("use `expand` <now>"),
            "<p>use <code>expand</code> &lt;now&gt;</p>"
        );
    }
}
