//! The committed header is what cbindgen generates from the code now.

#![allow(clippy::expect_used, clippy::panic)]

use std::path::Path;

/// The one command that refreshes the header, from the repository root.
const REFRESH: &str = "cbindgen --config bindings/c/cbindgen.toml --crate dispatch-ffi --output bindings/c/include/dispatch.h";

#[test]
fn the_committed_header_is_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config =
        cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml reads");
    let bindings = cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let committed = std::fs::read(dir.join("include/dispatch.h")).unwrap_or_default();
    if committed != generated {
        let generated = String::from_utf8_lossy(&generated);
        let committed = String::from_utf8_lossy(&committed);
        let line = generated
            .lines()
            .zip(committed.lines())
            .position(|(a, b)| a != b)
            .map_or(
                generated.lines().count().min(committed.lines().count()),
                |n| n,
            )
            + 1;
        panic!(
            "bindings/c/include/dispatch.h is out of date (first difference at line {line}); \
             refresh it from the repository root with\n  {REFRESH}\n(cbindgen 0.29.4: \
             cargo install --locked cbindgen --version 0.29.4)"
        );
    }
}
