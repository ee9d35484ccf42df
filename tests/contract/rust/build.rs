//! Generates the client from the committed document: converted to OpenAPI 3.0 (progenitor reads
//! only 3.0; see openapi30.rs), then handed to progenitor.

#[path = "openapi30.rs"]
mod openapi30;

use std::path::Path;

fn main() {
    // The committed document of this repository, or the one BILLING_OPENAPI names (a copy of
    // this crate in a partner's tree, next to its copy of the document).
    println!("cargo:rerun-if-env-changed=BILLING_OPENAPI");
    let source = match std::env::var_os("BILLING_OPENAPI") {
        Some(path) => std::path::PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../openapi/openapi.json"),
    };
    println!("cargo:rerun-if-changed={}", source.display());
    println!("cargo:rerun-if-changed=openapi30.rs");
    let text = std::fs::read_to_string(&source).expect("the committed OpenAPI document");
    let document: serde_json::Value = serde_json::from_str(&text).expect("a JSON document");
    let converted = openapi30::convert(&document).expect("the document converts to OpenAPI 3.0");
    let spec: openapiv3::OpenAPI =
        serde_json::from_value(converted).expect("an OpenAPI 3.0 document");
    let mut generator = progenitor::Generator::default();
    let tokens = generator
        .generate_tokens(&spec)
        .expect("progenitor generates the client");
    let file = syn::parse2(tokens).expect("the generated code parses");
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("client.rs");
    std::fs::write(out, prettyplease::unparse(&file)).expect("the client is written");
}
