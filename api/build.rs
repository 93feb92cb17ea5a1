//! Generates the API crate's code, its JSON spec and its HTML reference from
//! `../openapi.yaml` into OUT_DIR.

use std::{env, fs, path::Path};

fn main() {
    let spec_path = Path::new("../openapi.yaml");
    println!("cargo:rerun-if-changed={}", spec_path.display());
    let spec = fs::read_to_string(spec_path).expect("read ../openapi.yaml");
    let out_dir = env::var_os("OUT_DIR").expect("cargo sets OUT_DIR");

    let outputs = [
        ("api.rs", keycred_codegen::generate(&spec)),
        ("openapi.json", keycred_codegen::spec_json(&spec)),
        ("docs.html", keycred_codegen::docs_html(&spec)),
    ];
    for (name, output) in outputs {
        let text = output.unwrap_or_else(|error| panic!("openapi.yaml cannot be turned into {name}: {error}"));
        fs::write(Path::new(&out_dir).join(name), text).unwrap_or_else(|error| panic!("write {name}: {error}"));
    }
}
