//! Builds `fuzz/corpus/<target>/` from the vectors.
//!
//! `cargo test --test seed_corpus -- --ignored` rewrites the committed seed
//! corpus; the plain run checks that every committed request seed still
//! reads back as the vector it came from.

use base64ct::{Base64, Encoding};
use dispatch_fuzz::input::{RequestInput, encode};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn vectors(dir: &str, file: &str) -> Vec<Value> {
    let path = root().join("../tests/vectors").join(dir).join(file);
    let set: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    set["vectors"].as_array().unwrap().clone()
}

fn signature_sets() -> Vec<Value> {
    let dir = root().join("../tests/vectors/signatures");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| vectors("signatures", f))
        .collect()
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn name(id: &str) -> String {
    id.replace(['/', ' '], "_")
}

/// Every request vector in the fuzz input format, by id.
fn request_seeds() -> Vec<(String, Vec<u8>)> {
    signature_sets()
        .iter()
        .filter(|v| v.get("request").is_some())
        .map(|v| {
            let r = &v["request"];
            let headers: Vec<(String, String)> = r["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| (h[0].as_str().unwrap().into(), h[1].as_str().unwrap().into()))
                .collect();
            let body = Base64::decode_vec(r["body_b64"].as_str().unwrap()).unwrap();
            let bytes = encode(
                v["now"].as_i64().unwrap(),
                v["verification_key"]["public_raw_b64"].as_str().unwrap(),
                r["method"].as_str().unwrap(),
                r["url"].as_str().unwrap(),
                &headers,
                &body,
            );
            (name(v["id"].as_str().unwrap()), bytes)
        })
        .collect()
}

fn header_values(v: &Value, wanted: &str) -> Vec<String> {
    v["request"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h[0].as_str().unwrap().eq_ignore_ascii_case(wanted))
        .map(|h| h[1].as_str().unwrap().to_string())
        .collect()
}

/// All seeds of all targets: (target, file name, bytes).
fn all_seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut seeds = Vec::new();
    for (id, bytes) in request_seeds() {
        // The 64 KiB bodies are kept out of the fuzzing seeds: they only slow
        // the mutations down and the digest has its own target.
        if bytes.len() > 8192 {
            continue;
        }
        seeds.push(("verify_request", id.clone(), bytes.clone()));
        seeds.push(("differential_verify", id, bytes));
    }
    for v in signature_sets()
        .iter()
        .filter(|v| v.get("request").is_some())
    {
        let id = name(v["id"].as_str().unwrap());
        let input = header_values(v, "signature-input").join(", ");
        let signature = header_values(v, "signature").join(", ");
        seeds.push((
            "signature_headers",
            id.clone(),
            format!("{input}\n{signature}").into_bytes(),
        ));
        for (i, field) in ["signature-input", "signature", "content-digest"]
            .iter()
            .enumerate()
        {
            let value = header_values(v, field).join(", ");
            if !value.is_empty() {
                seeds.push(("sfv_parse", format!("{id}-{i}"), value.into_bytes()));
            }
        }
    }
    for v in vectors("signatures", "content-digest.json") {
        let mut bytes = v["content_digest"]
            .as_str()
            .unwrap_or_default()
            .as_bytes()
            .to_vec();
        bytes.push(b'\n');
        bytes.extend(Base64::decode_vec(v["body_b64"].as_str().unwrap()).unwrap());
        seeds.push(("content_digest", name(v["id"].as_str().unwrap()), bytes));
    }
    for v in vectors("signatures", "verification-keys.json") {
        let input = v["input"].as_str().unwrap_or_default().as_bytes().to_vec();
        seeds.push(("key_parse", name(v["id"].as_str().unwrap()), input));
    }
    for v in vectors("messages", "connect_error.json") {
        if let Some(text) = v["body_text"].as_str() {
            seeds.push((
                "connect_error_json",
                name(v["id"].as_str().unwrap()),
                text.into(),
            ));
        }
    }
    for (file, target, selector) in [
        ("run_request.json", "proto_run_request", 0u8),
        ("run_response.json", "proto_run_response", 1),
        ("dispatch_request.json", "", 2),
        ("dispatch_response.json", "", 3),
        ("poll.json", "", 4),
        ("poll_result.json", "", 5),
    ] {
        for v in vectors("messages", file) {
            let id = name(v["id"].as_str().unwrap());
            if let (false, Some(binary)) = (target.is_empty(), v["binary_hex"].as_str()) {
                seeds.push((target, id.clone(), hex(binary)));
            }
            if let Some(json) = v.get("json") {
                let mut bytes = vec![selector];
                bytes.extend(serde_json::to_vec(json).unwrap());
                seeds.push(("proto_json", id, bytes));
            }
        }
    }
    for (id, bytes) in journal_seeds() {
        seeds.push(("journal_decode", id, bytes));
    }
    seeds
}

/// Journals as the engine writes them, from scripted runs: calls pending and
/// answered (one failed), a sleep, a clock reading and a choice.
fn journal_seeds() -> Vec<(String, Vec<u8>)> {
    use dispatch_core::any::pack;
    use dispatch_core::journal::{Replay, SelectRule};
    use dispatch_proto::sdk::v1::{CallResult, Error, poll, run_response};
    use prost_types::Timestamp;

    let now = Timestamp {
        seconds: 1_700_000_000,
        nanos: 0,
    };
    let journal_of = |replay: Replay| -> Vec<u8> {
        match replay.suspend(1).directive {
            Some(run_response::Directive::Poll(pb)) => match pb.state {
                Some(poll::State::TypedCoroutineState(state)) => state.value,
                other => panic!("no journal: {other:?}"),
            },
            other => panic!("not a poll: {other:?}"),
        }
    };
    let mut seeds = Vec::new();

    let mut replay = Replay::first_run(pack(&3i64), now);
    for i in 1..=3i64 {
        replay.call("http://app", "square", pack(&i)).unwrap();
    }
    let first = journal_of(replay);
    seeds.push(("three_calls_pending".to_string(), first.clone()));

    let state = prost_types::Any {
        type_url: dispatch_core::any::type_url(dispatch_core::journal::JOURNAL_FULL_NAME),
        value: first,
    };
    let results = vec![
        CallResult {
            correlation_id: 1,
            output: Some(pack(&1i64)),
            ..CallResult::default()
        },
        CallResult {
            correlation_id: 3,
            error: Some(Error {
                r#type: "ValueError".into(),
                message: "no".into(),
                ..Error::default()
            }),
            ..CallResult::default()
        },
    ];
    let mut replay = Replay::resume(&state, results, None, now).unwrap();
    let calls: Vec<_> = (1..=3i64)
        .map(|i| replay.call("http://app", "square", pack(&i)).unwrap())
        .collect();
    replay.select(&calls, SelectRule::FirstSuccess).unwrap();
    replay.choice(calls[0]);
    replay.now().unwrap();
    replay.sleep(core::time::Duration::from_secs(60)).unwrap();
    replay.call("", "greet", pack(&"Ada".to_string())).unwrap();
    seeds.push(("answered_failed_select_now_sleep".to_string(), journal_of(replay)));

    let mut replay = Replay::first_run(pack(&()), now);
    replay.sleep(core::time::Duration::from_millis(1500)).unwrap();
    seeds.push(("one_sleep".to_string(), journal_of(replay)));
    seeds
}

#[test]
fn journal_seeds_decode() {
    let dir = root().join("corpus/journal_decode");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        dispatch_core::journal::decode_journal(&bytes).unwrap();
        count += 1;
    }
    assert_eq!(count, journal_seeds().len());
}

#[test]
#[ignore = "rewrites fuzz/corpus; run on purpose"]
fn write_seed_corpus() {
    for (target, file, bytes) in all_seeds() {
        let dir = root().join("corpus").join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(file), bytes).unwrap();
    }
}

#[test]
fn request_seeds_read_back() {
    for (id, bytes) in request_seeds() {
        assert!(
            RequestInput::parse(&bytes).is_some(),
            "{id} does not read back"
        );
    }
}
