//! Helpers shared by the integration tests that read the message vectors.

#![allow(dead_code, unreachable_pub)]

/// Bytes of a lowercase or uppercase hex string.
pub fn hex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd hex length");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The `vectors` array of `tests/vectors/messages/<category>.json`.
pub fn message_vectors(category: &str) -> Vec<serde_json::Value> {
    let path = format!(
        "{}/../tests/vectors/messages/{category}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    doc["vectors"].as_array().expect("vectors").clone()
}

/// How many cases a property test runs: `PROPTEST_CASES` when set (mutation
/// runs lower it to stay fast), else the test's own `default`.
pub fn proptest_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
