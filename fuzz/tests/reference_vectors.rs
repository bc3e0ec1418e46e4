//! The reference verifier must itself agree with every request vector's
//! `expected_project` before its disagreements with the core mean anything.

use base64ct::{Base64, Encoding};
use dispatch_fuzz::input::split_url;
use dispatch_fuzz::reference::{Request, Verdict, verify};
use serde_json::Value;

/// Every request vector of every signature set: (id, vector).
pub fn request_vectors() -> Vec<(String, Value)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/signatures");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let set: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        for v in set["vectors"].as_array().unwrap() {
            if v.get("request").is_some() {
                out.push((v["id"].as_str().unwrap().to_string(), v.clone()));
            }
        }
    }
    out
}

#[test]
fn reference_matches_expected_project() {
    let vectors = request_vectors();
    assert!(
        vectors.len() > 100,
        "found {} request vectors",
        vectors.len()
    );
    let mut failures = Vec::new();
    for (id, v) in &vectors {
        let r = &v["request"];
        let (scheme, authority, path, query) = split_url(r["url"].as_str().unwrap()).unwrap();
        let headers: Vec<(&str, &str)> = r["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| (h[0].as_str().unwrap(), h[1].as_str().unwrap()))
            .collect();
        let body = Base64::decode_vec(r["body_b64"].as_str().unwrap()).unwrap();
        let key_b64 = v["verification_key"]["public_raw_b64"].as_str().unwrap();
        let key: [u8; 32] = Base64::decode_vec(key_b64).unwrap().try_into().unwrap();
        let req = Request {
            method: r["method"].as_str().unwrap(),
            scheme,
            authority,
            path,
            query,
            headers: &headers,
            body: &body,
        };
        let got = verify(&req, &key, v["now"].as_i64().unwrap());
        let e = &v["expected_project"];
        let want = match e["verdict"].as_str().unwrap() {
            "valid" => Verdict::Accept,
            _ => Verdict::Reject(
                e["http_status"].as_u64().unwrap() as u16,
                // Leak: test-only, to compare with the &'static str reasons.
                Box::leak(e["reason"].as_str().unwrap().to_string().into_boxed_str()),
            ),
        };
        if got != want {
            failures.push(format!("{id}: got {got:?}, want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The reference mirrors the core's bounds as the core documents them:
/// members and parameters are counted as written, repeated keys included (a
/// differential run once compared 17 `d=` members, refused by the core as too
/// many, against the reference's one distinct key).
#[test]
fn bounds_count_members_and_parameters_as_written() {
    use dispatch_fuzz::reference::{MAX_MEMBERS, MAX_PARAMETERS, ParseFail, parse_dictionary};

    let repeated = |count: usize, item: &str| vec![item; count].join(", ");
    assert!(parse_dictionary(repeated(MAX_MEMBERS, "d=1").as_bytes()).is_ok());
    assert!(matches!(
        parse_dictionary(repeated(MAX_MEMBERS + 1, "d=1").as_bytes()),
        Err(ParseFail::Bounds)
    ));
    let params = |count: usize| format!("d=1{}", ";p".repeat(count));
    assert!(parse_dictionary(params(MAX_PARAMETERS).as_bytes()).is_ok());
    assert!(matches!(
        parse_dictionary(params(MAX_PARAMETERS + 1).as_bytes()),
        Err(ParseFail::Bounds)
    ));
    // The core agrees on both sides of each bound.
    use dispatch_core::sfv::{Dictionary, Error};
    assert!(Dictionary::parse(repeated(MAX_MEMBERS, "d=1").as_bytes()).is_ok());
    assert_eq!(
        Dictionary::parse(repeated(MAX_MEMBERS + 1, "d=1").as_bytes()),
        Err(Error::TooManyMembers)
    );
    assert!(Dictionary::parse(params(MAX_PARAMETERS).as_bytes()).is_ok());
    assert_eq!(
        Dictionary::parse(params(MAX_PARAMETERS + 1).as_bytes()),
        Err(Error::TooManyParameters)
    );
}
