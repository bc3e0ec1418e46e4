//! `signatures/verification-keys.json`: parsing verification keys.
//!
//! Each vector's `input` goes through `parse_verification_key`, whether its
//! `source` is an argument or `DISPATCH_VERIFICATION_KEY` (the environment
//! value is read the same way), and the outcome must match `expected_project`:
//! `result` ok / error / none, and for ok the key's raw bytes as `public_raw_b64`.

use base64ct::{Base64, Encoding};
use dispatch_core::key::{parse_verification_key, write_public_key_base64};

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
    let source = v.get("source").and_then(|s| s.as_str());
    if !matches!(source, Some("argument" | "env")) {
        return Err(format!("unknown source {source:?}"));
    }
    let input = v
        .get("input")
        .and_then(|i| i.as_str())
        .ok_or("no string \"input\"")?;
    let expected = v.get("expected_project").ok_or("no \"expected_project\"")?;
    let want_result = expected
        .get("result")
        .and_then(|r| r.as_str())
        .ok_or("no expected_project.result")?;
    let want_raw = expected.get("public_raw_b64").and_then(|r| r.as_str());

    let got = parse_verification_key(input);
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
