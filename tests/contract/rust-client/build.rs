//! Generates the keycred client from the repository's openapi.yaml into
//! `$OUT_DIR/keycred_client.rs`, as progenitor's own example-build does.
//!
//! One construct of the spec needs help. Each `expand` item is
//! `anyOf: [$ref ExpandValue, {type: string}]` (a known value, or any other
//! string, which the server ignores). typify turns an `anyOf` into a struct
//! of optional `#[serde(flatten)]` fields, one per branch, and a flattened
//! enum or string cannot be serialized, so every call with `expand` would
//! fail before it is sent. The client therefore maps that schema to its own
//! `expand::ExpandItem` (an untagged enum: the same strings on the wire).

use std::{env, fs, path::Path};

use openapiv3::{OpenAPI, Parameter, ParameterSchemaOrContent, ReferenceOr, SchemaKind, Type};

/// The contract, three levels up: tests/contract/rust-client -> the repository.
const SPEC: &str = "../../../openapi.yaml";

/// The Rust type that stands for one `expand` item (see the module doc).
const EXPAND_ITEM_TYPE: &str = "crate::expand::ExpandItem";

fn main() {
    println!("cargo:rerun-if-changed={SPEC}");
    let yaml = fs::read_to_string(SPEC).expect("read openapi.yaml");
    let spec: OpenAPI = serde_saphyr::from_str(&yaml).expect("parse openapi.yaml");

    let mut settings = progenitor::GenerationSettings::default();
    settings.with_conversion(expand_item_schema(&spec), EXPAND_ITEM_TYPE, std::iter::empty());
    let mut generator = progenitor::Generator::new(&settings);
    let tokens = generator
        .generate_tokens(&spec)
        .unwrap_or_else(|error| panic!("progenitor cannot generate a client from openapi.yaml: {error}"));
    let code = prettyplease::unparse(&syn::parse2(tokens).expect("progenitor's output parses as Rust"));
    // typify matches a conversion by the schema's exact shape: if the spec's
    // `expand` item changes, say so here rather than at the first request.
    assert!(
        code.contains(EXPAND_ITEM_TYPE) && !code.contains("struct ExpandItem"),
        "the expand item schema in openapi.yaml no longer matches the conversion in build.rs"
    );

    let out = Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("keycred_client.rs");
    fs::write(out, code).expect("write the generated client");
}

/// The items schema of the spec's shared `Expand` query parameter, in the
/// JSON Schema form typify compares conversions against.
fn expand_item_schema(spec: &OpenAPI) -> schemars::schema::SchemaObject {
    let components = spec.components.as_ref().expect("openapi.yaml has components");
    let Some(ReferenceOr::Item(Parameter::Query { parameter_data, .. })) = components.parameters.get("Expand") else {
        panic!("openapi.yaml has no query parameter Expand in components.parameters");
    };
    let ParameterSchemaOrContent::Schema(ReferenceOr::Item(schema)) = &parameter_data.format else {
        panic!("the Expand parameter has no inline schema");
    };
    let SchemaKind::Type(Type::Array(array)) = &schema.schema_kind else {
        panic!("the Expand parameter is not an array");
    };
    let items = array.items.as_ref().expect("the Expand parameter's array has items");
    let json = serde_json::to_value(items).expect("the Expand item schema serializes");
    serde_json::from_value(json).expect("the Expand item schema is a JSON Schema object")
}
