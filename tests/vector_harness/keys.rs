//! `signatures/verification-keys.json`: parsing verification keys.
//!
//! Each vector's `input` goes through `parse_verification_key` when its
//! `source` is `argument`, and through the endpoint's configuration
//! (`EndpointConfig::from_lookup`, as `DISPATCH_VERIFICATION_KEY`) when it
//! is `env`; the outcome must match `expected_project`: `result` ok / error /
//! none, and for ok the key's raw bytes as `public_raw_b64`. dispatch-py's
//! `expected` and the cross-checks are read for their shape and agreement.

use base64ct::{Base64, Encoding};
use dispatch_core::key::{parse_verification_key, write_public_key_base64};
use dispatch_std::config::{ConfigError, EndpointConfig};

const FIELDS: &[&str] = &[
    "id",
    "set",
    "category",
    "description",
    "tricky",
    "source",
    "input",
    "expected",
    "cross_checks",
    "agreement",
    "expected_project",
];

pub fn run(vectors: &[serde_json::Value], tally: &mut super::Tally) {
    for v in vectors {
        let id = v.get("id").and_then(|i| i.as_str()).unwrap_or("?");
        tally.ran("verification-keys");
        if let Err(why) = check(v) {
            tally.fail(id, &why);
        }
    }
}

fn check(v: &serde_json::Value) -> Result<(), String> {
    let obj = v.as_object().ok_or("vector is not an object")?;
    if let Some(unknown) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(format!("unknown field {unknown:?}"));
    }
    for text in ["id", "set", "category", "description"] {
        v.get(text)
            .and_then(|t| t.as_str())
            .ok_or(format!("no string {text:?}"))?;
    }
    if v.get("tricky").is_some_and(|t| !t.is_boolean()) {
        return Err("tricky is not a boolean".into());
    }
    let source = v.get("source").and_then(|s| s.as_str());
    let input = v
        .get("input")
        .and_then(|i| i.as_str())
        .ok_or("no string \"input\"")?;
    check_result_shape(v.get("expected").ok_or("no \"expected\"")?, &["error"])
        .map_err(|e| format!("expected: {e}"))?;
    super::signatures::check_cross_checks(v, "result")?;
    let expected = v.get("expected_project").ok_or("no \"expected_project\"")?;
    check_result_shape(expected, &[]).map_err(|e| format!("expected_project: {e}"))?;
    let want_result = expected
        .get("result")
        .and_then(|r| r.as_str())
        .ok_or("no expected_project.result")?;
    let want_raw = expected.get("public_raw_b64").and_then(|r| r.as_str());

    let got = match source {
        Some("argument") => parse_verification_key(input),
        // The endpoint reads the variable; a bridge URL lets it start without a key.
        Some("env") => match EndpointConfig::from_lookup(|name| match name {
            "DISPATCH_VERIFICATION_KEY" => Some(input.into()),
            "DISPATCH_ENDPOINT_URL" => Some("bridge://vectors".into()),
            _ => None,
        }) {
            Ok(config) => Ok(config.verification_key),
            Err(ConfigError::InvalidVerificationKey(e)) => Err(e),
            Err(other) => return Err(format!("the configuration fails otherwise: {other}")),
        },
        other => return Err(format!("unknown source {other:?}")),
    };
    match (want_result, got) {
        ("ok", Ok(Some(key))) => {
            let want_raw = want_raw.ok_or("result ok without public_raw_b64")?;
            let mut want_bytes = [0u8; 32];
            let want_bytes = Base64::decode(want_raw, &mut want_bytes)
                .map_err(|e| format!("vector's public_raw_b64 does not decode: {e}"))?;
            if key.as_bytes()[..] != *want_bytes {
                return Err(format!("parsed a different key than {want_raw}"));
            }
            let mut rendered = String::new();
            write_public_key_base64(&key, &mut rendered)
                .map_err(|e| format!("rendering the key failed: {e}"))?;
            if rendered != want_raw {
                return Err(format!("key renders as {rendered}, expected {want_raw}"));
            }
            Ok(())
        }
        ("error", Err(_)) | ("none", Ok(None)) => {
            if want_raw.is_some() {
                return Err(format!("result {want_result} with a public_raw_b64"));
            }
            Ok(())
        }
        (want, got) => Err(format!("expected {want}, got {got:?}")),
    }
}

/// `{"result": "ok" | "error" | "none", "public_raw_b64"[, extra]}`, with a
/// key exactly when the result is ok.
fn check_result_shape(result: &serde_json::Value, extra: &[&str]) -> Result<(), String> {
    let obj = result.as_object().ok_or("not an object")?;
    if let Some(unknown) = obj.keys().find(|k| {
        !["result", "public_raw_b64"].contains(&k.as_str()) && !extra.contains(&k.as_str())
    }) {
        return Err(format!("unknown field {unknown:?}"));
    }
    let key = obj.get("public_raw_b64").filter(|k| !k.is_null());
    match (obj.get("result").and_then(|r| r.as_str()), key) {
        (Some("ok"), Some(key)) => {
            let text = key.as_str().ok_or("public_raw_b64 is not a string")?;
            let mut raw = [0u8; 32];
            Base64::decode(text, &mut raw).map_err(|e| format!("public_raw_b64: {e}"))?;
            Ok(())
        }
        (Some("error" | "none"), None) => Ok(()),
        (result, key) => Err(format!("result {result:?} with key {key:?}")),
    }
}
