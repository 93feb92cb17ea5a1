//! The generated code of the real spec, kept as a snapshot so every change to the
//! generator or to `openapi.yaml` shows up in review as a diff of the Rust it produces.
//!
//! After an intended change: `EXPECTORATE=overwrite cargo test -p keycred-codegen`.

#[test]
fn generated_code_for_openapi_yaml_matches_the_snapshot() {
    let spec = std::fs::read_to_string("../openapi.yaml").expect("read ../openapi.yaml");
    let generated = keycred_codegen::generate(&spec).expect("the spec generates");
    expectorate::assert_contents("tests/output/keycred_api.rs", &generated);
}
