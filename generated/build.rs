//! Generates the API crate's code from `../openapi.yaml` into OUT_DIR.

use std::{env, fs, path::Path};

fn main() {
    let spec_path = Path::new("../openapi.yaml");
    println!("cargo:rerun-if-changed={}", spec_path.display());

    let spec = fs::read_to_string(spec_path).expect("read ../openapi.yaml");
    let code = match keycred_codegen::generate(&spec) {
        Ok(code) => code,
        Err(error) => panic!("openapi.yaml cannot be turned into Rust: {error}"),
    };

    let out_dir = env::var_os("OUT_DIR").expect("cargo sets OUT_DIR");
    fs::write(Path::new(&out_dir).join("api.rs"), code).expect("write generated api.rs");
}
