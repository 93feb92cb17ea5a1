//! Rust names for spec names: types in UpperCamelCase, fields and functions in snake_case.

use heck::{ToSnakeCase, ToUpperCamelCase};
use proc_macro2::{Ident, Span};

/// A type name, e.g. `ServiceAccountCredential`, `UpdateServiceAccountCredentialParams`.
pub fn type_ident(name: &str) -> Ident {
    Ident::new(&name.to_upper_camel_case(), Span::call_site())
}

/// A field or function name, e.g. `x_client_request_id`; keywords become raw identifiers.
pub fn field_ident(name: &str) -> Ident {
    let snake = name.to_snake_case();
    if syn::parse_str::<Ident>(&snake).is_ok() {
        Ident::new(&snake, Span::call_site())
    } else {
        Ident::new_raw(&snake, Span::call_site())
    }
}

/// A doc attribute's text for an optional description, trimmed.
pub fn doc_lines(description: Option<&str>, fallback: &str) -> Vec<String> {
    let text = description
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .unwrap_or(fallback);
    text.lines().map(|line| format!(" {}", line.trim_end())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_become_snake_case_fields() {
        assert_eq!(field_ident("X-Client-Request-ID").to_string(), "x_client_request_id");
    }

    #[test]
    fn keywords_become_raw_identifiers() {
        assert_eq!(field_ident("type").to_string(), "r#type");
    }

    #[test]
    fn operation_ids_become_type_names() {
        assert_eq!(
            type_ident("updateServiceAccountCredential").to_string(),
            "UpdateServiceAccountCredential"
        );
    }
}
