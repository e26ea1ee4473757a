//! The README's table of supported layers and ops names every class the converter supports.

use keras2ov::lower::{supported_layers, supported_ops};

#[test]
fn readme_lists_every_supported_class() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let table = readme
        .split("## Supported layers and ops")
        .nth(1)
        .expect("a 'Supported layers and ops' section");
    let table = table.split("\n## ").next().unwrap();
    let missing: Vec<&str> = supported_layers()
        .chain(supported_ops())
        .filter(|name| !table.contains(name))
        .collect();
    assert!(
        missing.is_empty(),
        "README's supported table lacks: {missing:?}"
    );
}
