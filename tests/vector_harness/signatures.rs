//! Request-signature vectors: verification verdicts (policy `expected_project`),
//! signing byte for byte, Content-Digest, RFC 9421 B.2.6 and RFC 9530 values,
//! and dispatch-py's signing vectors. Verification keys are routed to `keys`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64ct::{Base64, Encoding};
use dispatch_core::digest::{self, Algorithm, ContentDigest};
use dispatch_core::key::{parse_public_key, parse_signing_key};
use dispatch_core::sfv::{BareItem, Dictionary, InnerList, Member};
use dispatch_core::signature::{
    self, BorrowedRequest, Policy, SIGNING_BUFFER_LEN, SignatureSpec, VerifyError,
};
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde_json::Value;

/// The request-vector sets this harness knows.
const REQUEST_SETS: &[&str] = &[
    "valid-basic",
    "valid-paths-methods",
    "valid-authority",
    "valid-bodies",
    "valid-coverage",
    "valid-params",
    "valid-mutations",
    "tamper",
    "missing",
    "malformed",
    "time-window",
    "params",
    "duplicate-headers",
    "rfc9421",
];

const REQUEST_VECTOR_FIELDS: &[&str] = &[
    "id",
    "set",
    "category",
    "description",
    "tricky",
    "expected",
    "cross_checks",
    "agreement",
    "expected_project",
    "request",
    "verification_key",
    "now",
    "max_age_s",
    "signing",
    "signature_base",
    "rfc9421_conformant_signer",
    "e2e_aiohttp",
    "notes",
    "expected_handler_precheck",
    "always_public",
    "library_level_verdict",
];

const DIGEST_VECTOR_FIELDS: &[&str] = &[
    "id",
    "set",
    "category",
    "description",
    "tricky",
    "body_b64",
    "body_len",
    "content_digest",
    "sha256_b64",
    "sha512_b64",
    "expected",
    "cross_checks",
    "agreement",
    "expected_project",
];

type Check = Result<(), String>;

pub fn run(file: &Path, set: &str, vectors: &[Value], tally: &mut super::Tally) {
    if set == "verification-keys" {
        return super::keys::run(vectors, tally);
    }
    let is_digest_set = set == "content-digest";
    if !is_digest_set && !REQUEST_SETS.contains(&set) {
        tally.fail(
            &file.display().to_string(),
            &format!("unknown signature vector set {set:?}"),
        );
        return;
    }
    let seeds = signing_seeds(file);
    let mut signed = BTreeMap::<&str, usize>::new();
    for v in vectors {
        let id = v.get("id").and_then(Value::as_str).unwrap_or("?");
        tally.ran(set);
        let result = if is_digest_set {
            run_digest_vector(v, set)
        } else {
            run_request_vector(v, set, &seeds).map(|outcome| {
                let kind = match outcome {
                    None => "unsigned",
                    Some(Signed::Reproduced) => "reproduced byte for byte",
                    Some(Signed::NotReproducible) => "as signed by a non-conformant signer",
                    Some(Signed::NotAsSigned(_)) => "not as signed (and refused)",
                };
                *signed.entry(kind).or_default() += 1;
            })
        };
        if let Err(why) = result {
            tally.fail(id, &why);
        }
    }
    if !signed.is_empty() {
        println!("signatures/{set}: {signed:?}");
    }
}

// ---------------------------------------------------------------------------
// JSON helpers

fn field<'v>(v: &'v Value, name: &str) -> Result<&'v Value, String> {
    v.get(name).ok_or_else(|| format!("missing field {name:?}"))
}

fn str_field<'v>(v: &'v Value, name: &str) -> Result<&'v str, String> {
    field(v, name)?
        .as_str()
        .ok_or_else(|| format!("field {name:?} is not a string"))
}

fn int_field(v: &Value, name: &str) -> Result<i64, String> {
    field(v, name)?
        .as_i64()
        .ok_or_else(|| format!("field {name:?} is not an integer"))
}

fn b64(text: &str) -> Result<Vec<u8>, String> {
    Base64::decode_vec(text).map_err(|e| format!("bad base64 in vector: {e}"))
}

fn hex(text: &str) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) {
        return Err("odd-length hex".into());
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(|e| e.to_string()))
        .collect()
}

fn only_known_fields(v: &Value, known: &[&str]) -> Check {
    let obj = v.as_object().ok_or("vector is not an object")?;
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(format!("unknown field {k:?}")),
        None => Ok(()),
    }
}

fn verifying_key(raw_b64: &str) -> Result<VerifyingKey, String> {
    let raw: [u8; 32] = b64(raw_b64)?
        .try_into()
        .map_err(|_| "public key is not 32 bytes".to_string())?;
    VerifyingKey::from_bytes(&raw).map_err(|e| format!("bad public key: {e}"))
}

fn signing_key(seed: &[u8]) -> Result<SigningKey, String> {
    let seed: [u8; 32] = seed
        .try_into()
        .map_err(|_| "seed is not 32 bytes".to_string())?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Key name → private seed (base64), from every vector file next to `file`
/// and in the built-in signature vectors; a vector may be signed with a key
/// named only in another vector.
fn signing_seeds(file: &Path) -> BTreeMap<String, String> {
    let builtin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/signatures");
    let mut seeds = seeds_in(&builtin);
    seeds.extend(seeds_in(file.parent().unwrap_or(Path::new("."))));
    seeds
}

fn seeds_in(dir: &Path) -> BTreeMap<String, String> {
    static CACHE: Mutex<BTreeMap<PathBuf, BTreeMap<String, String>>> = Mutex::new(BTreeMap::new());
    let dir = dir.to_path_buf();
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    cache
        .entry(dir.clone())
        .or_insert_with(|| {
            let mut seeds = BTreeMap::new();
            let Ok(entries) = std::fs::read_dir(&dir) else {
                return seeds;
            };
            for path in entries.flatten().map(|e| e.path()) {
                if path.extension().is_none_or(|e| e != "json") {
                    continue;
                }
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                let Ok(doc) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                for v in doc["vectors"].as_array().into_iter().flatten() {
                    let key = &v["verification_key"];
                    if let (Some(name), Some(seed)) =
                        (key["name"].as_str(), key["private_seed_b64"].as_str())
                    {
                        seeds.insert(name.to_owned(), seed.to_owned());
                    }
                }
            }
            seeds
        })
        .clone()
}

// ---------------------------------------------------------------------------
// Expected outcomes

fn check_outcome(expected: &Value, got: Result<(), VerifyError>) -> Check {
    let verdict = str_field(expected, "verdict")?;
    let known = ["verdict", "http_status", "code", "reason"];
    only_known_fields(expected, &known).map_err(|e| format!("expected_project: {e}"))?;
    match (verdict, got) {
        ("valid", Ok(())) => Ok(()),
        ("valid", Err(e)) => Err(format!("expected valid, got {} ({e})", e.reason_name())),
        ("invalid", Ok(())) => Err(format!(
            "expected {:?}, but it verified",
            expected["reason"].as_str().unwrap_or("?")
        )),
        ("invalid", Err(e)) => {
            let reason = str_field(expected, "reason")?;
            let status = int_field(expected, "http_status")?;
            let code = str_field(expected, "code")?;
            if e.reason_name() != reason
                || i64::from(e.http_status()) != status
                || e.code().name() != code
            {
                return Err(format!(
                    "expected {reason} {status} {code}, got {} {} {} ({e})",
                    e.reason_name(),
                    e.http_status(),
                    e.code()
                ));
            }
            let mut json = [0u8; 256];
            let n = e
                .write_connect_json(&mut json)
                .ok_or("Connect JSON body does not fit 256 bytes")?;
            let body: Value = serde_json::from_slice(&json[..n])
                .map_err(|err| format!("Connect JSON body is not JSON: {err}"))?;
            if body["code"] != code || body["message"] != e.message() {
                return Err(format!("bad Connect JSON body {body}"));
            }
            Ok(())
        }
        (other, _) => Err(format!("unknown verdict {other:?}")),
    }
}

// ---------------------------------------------------------------------------
// content-digest vectors

fn run_digest_vector(v: &Value, set: &str) -> Check {
    only_known_fields(v, DIGEST_VECTOR_FIELDS)?;
    check_identification(v, set)?;
    check_dispatch_py_verdict(field(v, "expected")?, false)
        .map_err(|e| format!("expected: {e}"))?;
    check_cross_checks(v, "verdict")?;
    let body = b64(str_field(v, "body_b64")?)?;
    if body.len() as i64 != int_field(v, "body_len")? {
        return Err("body_len does not match body_b64".into());
    }
    // The digests themselves (RFC 9530 values among them).
    for (alg, name) in [
        (Algorithm::Sha256, "sha256_b64"),
        (Algorithm::Sha512, "sha512_b64"),
    ] {
        let ours = ContentDigest::of(alg, &body);
        if Base64::encode_string(ours.as_bytes()) != str_field(v, name)? {
            return Err(format!("our {} differs from {name}", alg.key()));
        }
        let mut out = [0u8; digest::MAX_HEADER_VALUE_LEN];
        let rendered = digest::write_header_value(&ours, &mut out).ok_or("render failed")?;
        if digest::check(rendered.as_bytes(), &body).is_err() {
            return Err(format!("our own {} header does not check", alg.key()));
        }
    }
    let header = str_field(v, "content_digest")?;
    let got = digest::check(header.as_bytes(), &body).map_err(VerifyError::from);
    check_outcome(field(v, "expected_project")?, got)
}

// ---------------------------------------------------------------------------
// Request vectors

pub struct Vector {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn parse_request(v: &Value) -> Result<Vector, String> {
    let r = field(v, "request")?;
    only_known_fields(r, &["method", "url", "headers", "body_b64", "body_len"])
        .map_err(|e| format!("request: {e}"))?;
    let headers = field(r, "headers")?
        .as_array()
        .ok_or("request.headers is not an array")?
        .iter()
        .map(|line| match line.as_array().map(Vec::as_slice) {
            Some([Value::String(n), Value::String(v)]) => Ok((n.clone(), v.clone())),
            _ => Err(format!("bad header line {line}")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let body = b64(str_field(r, "body_b64")?)?;
    if body.len() as i64 != int_field(r, "body_len")? {
        return Err("body_len does not match body_b64".into());
    }
    Ok(Vector {
        method: str_field(r, "method")?.to_owned(),
        url: str_field(r, "url")?.to_owned(),
        headers,
        body,
    })
}

fn header_pairs(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

/// The joined value of a header (lines joined with ", "), if present.
fn joined(headers: &[(String, String)], name: &str) -> Option<String> {
    let values: Vec<&str> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim_matches([' ', '\t']))
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

/// The outcome the project's verifier gives a request vector, one shot and
/// streamed (which must agree).
fn verify_vector(v: &Value, vector: &Vector) -> Result<Result<(), VerifyError>, String> {
    let pairs = header_pairs(&vector.headers);
    let req = BorrowedRequest::from_url(&vector.method, &vector.url, &pairs)
        .ok_or_else(|| format!("cannot split URL {:?}", vector.url))?;
    let key = verifying_key(str_field(field(v, "verification_key")?, "public_raw_b64")?)?;
    let now = int_field(v, "now")?;
    let max_age = u32::try_from(int_field(v, "max_age_s")?).map_err(|e| e.to_string())?;
    let policy = Policy::default().with_max_age(max_age);
    let got = signature::verify(&req, &vector.body, &key, now, &policy);
    // Headers first, then the body streamed in chunks: the same outcome.
    let streamed = signature::verify_headers(&req, &key, now, &policy).and_then(|verified| {
        let mut hasher = verified.body_digest();
        for chunk in vector.body.chunks(1000) {
            hasher.update(chunk);
        }
        verified.finish(&hasher.finish())
    });
    if streamed != got {
        return Err(format!(
            "streamed verification gave {streamed:?}, one-shot {got:?}"
        ));
    }
    Ok(got)
}

/// What the harness learnt about one signed vector.
#[derive(Debug, PartialEq, Eq)]
pub enum Signed {
    /// Our signer rebuilt the signed base and the Signature bytes from the request.
    Reproduced,
    /// The request is as signed, but its signer is not RFC 9421 conformant
    /// (`rfc9421_conformant_signer: false`), so our signer need not rebuild it.
    NotReproducible,
    /// The request, as our verifier reads it, is not what was signed (the
    /// reason says where): it was changed after signing, or its signer built
    /// the base otherwise than RFC 9421 (untrimmed field values). Such a
    /// vector must be refused.
    #[allow(clippy::enum_variant_names)] // "not as signed" is the state's name
    NotAsSigned(String),
}

fn run_request_vector(
    v: &Value,
    set: &str,
    seeds: &BTreeMap<String, String>,
) -> Result<Option<Signed>, String> {
    only_known_fields(v, REQUEST_VECTOR_FIELDS)?;
    check_identification(v, set)?;
    let vector = parse_request(v)?;
    check_verification_key(field(v, "verification_key")?)?;
    let expected = field(v, "expected_project")?;
    let got = verify_vector(v, &vector)?;
    check_outcome(expected, got)?;
    check_other_verdicts(v, &vector)?;

    let signing = field(v, "signing")?;
    let signed_base = v.get("signature_base").unwrap_or(&Value::Null);
    if signing.is_null() {
        if !signed_base.is_null() {
            return Err("an unsigned vector with a signature_base".into());
        }
        if str_field(expected, "verdict")? == "valid" {
            return Err("an unsigned vector is expected valid".into());
        }
        return Ok(None);
    }
    if signed_base.as_str() != Some(str_field(signing, "signature_base")?) {
        return Err("signature_base differs from signing.signature_base".into());
    }
    let outcome = check_signing(v, &vector, signing, seeds, expected)?;
    if let Some(verdict) = v.get("library_level_verdict") {
        let pairs = header_pairs(&vector.headers);
        let req = BorrowedRequest::from_url(&vector.method, &vector.url, &pairs)
            .ok_or("cannot split URL")?;
        let key = verifying_key(str_field(field(v, "verification_key")?, "public_raw_b64")?)?;
        check_library_level(&req, &key, verdict)?;
    }
    Ok(Some(outcome))
}

/// RFC 9421 B.2.6 as a library: the base rebuilt from the request's own
/// Signature-Input verifies with the key, whatever the Dispatch policy says.
fn check_library_level(req: &BorrowedRequest<'_>, key: &VerifyingKey, verdict: &Value) -> Check {
    let want_valid = str_field(verdict, "verdict")? == "valid";
    let si = req
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("signature-input"))
        .ok_or("no Signature-Input")?
        .1;
    let dict = Dictionary::parse(si.as_bytes()).map_err(|e| e.to_string())?;
    let (label, Member::InnerList(list)) = dict.iter().next().ok_or("empty Signature-Input")?
    else {
        return Err("Signature-Input member is not an inner list".into());
    };
    let sig_header = req
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("signature"))
        .ok_or("no Signature")?
        .1;
    let sigs = Dictionary::parse(sig_header.as_bytes()).map_err(|e| e.to_string())?;
    let Some(Member::Item(item)) = sigs.get(label) else {
        return Err("no signature under the label".into());
    };
    let mut sig = [0u8; 64];
    item.bare
        .as_byte_sequence()
        .and_then(|b| b.decode_into(&mut sig).map(|_| ()))
        .ok_or("signature is not 64 bytes")?;
    let mut buf = [0u8; 4096];
    let base = signature::write_signature_base(req, &list, &mut buf)
        .map_err(|e| format!("base: {e:?}"))?;
    let valid = key
        .verify_strict(base.as_bytes(), &ed25519_dalek::Signature::from_bytes(&sig))
        .is_ok();
    if valid != want_valid {
        return Err(format!(
            "library-level verdict {valid}, expected {want_valid}"
        ));
    }
    Ok(())
}

/// `id`, `set`, `category`, `description`, `tricky`, `notes`.
fn check_identification(v: &Value, set: &str) -> Check {
    let id = str_field(v, "id")?;
    if id.is_empty() {
        return Err("empty id".into());
    }
    if str_field(v, "set")? != set {
        return Err(format!("set {:?} in a file of set {set:?}", v["set"]));
    }
    str_field(v, "category")?;
    str_field(v, "description")?;
    optional(v, "tricky", Value::is_boolean, "a boolean")?;
    optional(v, "notes", Value::is_string, "a string")?;
    optional(
        v,
        "rfc9421_conformant_signer",
        Value::is_boolean,
        "a boolean",
    )?;
    optional(v, "always_public", Value::is_boolean, "a boolean")
}

/// A field that may be absent, but is of the given kind when present.
fn optional(v: &Value, name: &str, is: fn(&Value) -> bool, kind: &str) -> Check {
    match v.get(name) {
        Some(value) if !is(value) => Err(format!("field {name:?} is not {kind}")),
        _ => Ok(()),
    }
}

/// The verifier's key in each of its forms: all name the same key pair.
fn check_verification_key(key: &Value) -> Check {
    only_known_fields(
        key,
        &[
            "name",
            "public_raw_b64",
            "public_pem",
            "private_seed_b64",
            "private_pem",
        ],
    )
    .map_err(|e| format!("verification_key: {e}"))?;
    str_field(key, "name")?;
    let public = verifying_key(str_field(key, "public_raw_b64")?)?;
    if let Some(pem) = key.get("public_pem") {
        let parsed = parse_public_key(pem.as_str().ok_or("public_pem is not a string")?)
            .map_err(|e| format!("verification_key.public_pem: {e}"))?;
        if parsed != public {
            return Err("verification_key.public_pem is another key".into());
        }
    }
    if let Some(seed) = key.get("private_seed_b64") {
        let seed = b64(seed.as_str().ok_or("private_seed_b64 is not a string")?)?;
        if signing_key(&seed)?.verifying_key() != public {
            return Err("verification_key.private_seed_b64 is not the public key's".into());
        }
    }
    if let Some(pem) = key.get("private_pem") {
        let parsed = parse_signing_key(pem.as_str().ok_or("private_pem is not a string")?)
            .map_err(|e| format!("verification_key.private_pem: {e}"))?;
        if parsed.verifying_key() != public {
            return Err("verification_key.private_pem is not the public key's".into());
        }
    }
    Ok(())
}

/// The verdicts of the other implementations (`expected`, `cross_checks`,
/// `agreement`, `expected_handler_precheck`, `e2e_aiohttp`): each in the
/// shape the README gives, and consistent with each other and the request.
fn check_other_verdicts(v: &Value, vector: &Vector) -> Check {
    let expected = field(v, "expected")?;
    let repeats = repeated_header(&vector.headers);
    check_dispatch_py_verdict(expected, true).map_err(|e| format!("expected: {e}"))?;
    match (expected.get("by_header_mode"), repeats) {
        (None, None) => {}
        (Some(modes), Some(_)) => {
            only_known_fields(modes, &["combined", "first", "last"])
                .map_err(|e| format!("expected.by_header_mode: {e}"))?;
            for mode in ["combined", "first", "last"] {
                check_dispatch_py_verdict(field(modes, mode)?, false)
                    .map_err(|e| format!("expected.by_header_mode.{mode}: {e}"))?;
            }
            // The top-level verdict is the combined one.
            if modes["combined"]["verdict"] != expected["verdict"] {
                return Err("by_header_mode.combined is not the top-level verdict".into());
            }
        }
        (Some(_), None) => return Err("by_header_mode without a repeated header name".into()),
        (None, Some(name)) => {
            return Err(format!("header {name:?} repeats, but no by_header_mode"));
        }
    }
    // dispatch-py accepted ⇒ its verifier rebuilt the very base that was signed.
    if expected["verdict"] == "valid"
        && let Some(base) = expected
            .get("verifier_signature_base")
            .and_then(Value::as_str)
        && Some(base) != v.get("signature_base").and_then(Value::as_str)
    {
        return Err(
            "dispatch-py accepted, yet its verifier_signature_base is not the signed base".into(),
        );
    }
    check_cross_checks(v, "verdict")?;

    match (v.get("expected_handler_precheck"), vector.body.is_empty()) {
        (None, false) => {}
        (Some(precheck), true) => {
            only_known_fields(precheck, &["http_status", "code", "message"])
                .map_err(|e| format!("expected_handler_precheck: {e}"))?;
            if int_field(precheck, "http_status")? != 400
                || str_field(precheck, "code")? != "invalid_argument"
            {
                return Err("expected_handler_precheck is not a 400 invalid_argument".into());
            }
            str_field(precheck, "message")?;
        }
        (Some(_), false) => return Err("expected_handler_precheck with a body".into()),
        (None, true) => return Err("an empty body without expected_handler_precheck".into()),
    }

    if let Some(e2e) = v.get("e2e_aiohttp") {
        only_known_fields(e2e, &["http_status", "body"])
            .map_err(|e| format!("e2e_aiohttp: {e}"))?;
        let path = BorrowedRequest::from_url(&vector.method, &vector.url, &[]).map(|r| r.path);
        if path != Some("/dispatch.sdk.v1.FunctionService/Run") {
            return Err(format!("e2e_aiohttp for the path {path:?}"));
        }
        let status = int_field(e2e, "http_status")?;
        let body = str_field(e2e, "body")?;
        // A signature refusal is dispatch-py's Connect error body.
        let code = match status {
            401 => Some("unauthenticated"),
            403 => Some("permission_denied"),
            _ => None,
        };
        // dispatch-py writes its message into the JSON unescaped (a quirk
        // the README names), so only the body's start is certain.
        if let Some(code) = code
            && !body.starts_with(&format!("{{\"code\":\"{code}\""))
        {
            return Err(format!(
                "e2e_aiohttp: a {status} whose body is not a {code} error"
            ));
        }
    }
    if let Some(verdict) = v.get("library_level_verdict") {
        only_known_fields(verdict, &["verdict", "verifier"])
            .map_err(|e| format!("library_level_verdict: {e}"))?;
        str_field(verdict, "verifier")?;
        if !matches!(str_field(verdict, "verdict")?, "valid" | "invalid") {
            return Err("library_level_verdict.verdict is not valid or invalid".into());
        }
    }
    Ok(())
}

/// The first header name sent on more than one field line, if any.
fn repeated_header(headers: &[(String, String)]) -> Option<&str> {
    headers.iter().enumerate().find_map(|(i, (name, _))| {
        headers[..i]
            .iter()
            .any(|(earlier, _)| earlier.eq_ignore_ascii_case(name))
            .then_some(name.as_str())
    })
}

/// dispatch-py's verdict: the README's shape, and the exception-to-status
/// mapping (ValueError 401, InvalidSignature 403, anything else 500).
fn check_dispatch_py_verdict(verdict: &Value, top_level: bool) -> Check {
    let mut known = vec!["verdict", "http_status", "code", "message", "exception"];
    if top_level {
        known.extend(["verifier_signature_base", "by_header_mode"]);
    }
    only_known_fields(verdict, &known)?;
    let status = field(verdict, "http_status")?;
    let code = field(verdict, "code")?;
    let consistent = match (
        str_field(verdict, "verdict")?,
        status.as_i64(),
        code.as_str(),
    ) {
        ("valid", None, None) => status.is_null() && code.is_null(),
        ("invalid", Some(401), Some("unauthenticated"))
        | ("invalid", Some(403), Some("permission_denied")) => true,
        ("invalid", Some(500), None) => code.is_null(),
        _ => false,
    };
    if !consistent {
        return Err(format!(
            "verdict {} with status {status} and code {code}",
            verdict["verdict"]
        ));
    }
    for name in ["message", "exception", "verifier_signature_base"] {
        optional(
            verdict,
            name,
            |m| m.is_string() || m.is_null(),
            "a string or null",
        )?;
    }
    if verdict["verdict"] == "invalid" && !verdict["exception"].is_string() {
        return Err("an invalid verdict names no exception".into());
    }
    Ok(())
}

/// `cross_checks` (each implementation's `verdict` or, for keys, `result`,
/// and its error) and `agreement` (every implementation's verdict, and
/// whether all agree), which must say the same as `expected` and `cross_checks`.
pub fn check_cross_checks(v: &Value, verdict_name: &str) -> Check {
    const IMPLEMENTATIONS: &[&str] = &[
        "http_message_signatures_3_0_0",
        "go_offblocks_httpsig_0_8_1",
    ];
    let cross = field(v, "cross_checks")?;
    let cross = cross.as_object().ok_or("cross_checks is not an object")?;
    let mut verdicts = BTreeMap::new();
    let expected = field(v, "expected")?;
    let dispatch_py = match str_field(expected, verdict_name)? {
        // dispatch-py's 500s: the exception escaped the handler.
        "invalid" if expected["http_status"] == 500 => "error",
        verdict => verdict,
    };
    verdicts.insert("dispatch_py_0_8_0".to_owned(), dispatch_py.to_owned());
    for (name, check) in cross {
        if !IMPLEMENTATIONS.contains(&name.as_str()) {
            return Err(format!("cross_checks.{name} is not a known implementation"));
        }
        only_known_fields(
            check,
            &[
                verdict_name,
                "error",
                "http_status",
                "host",
                "escaped_path",
                "public_raw_b64",
            ],
        )
        .map_err(|e| format!("cross_checks.{name}: {e}"))?;
        let verdict = str_field(check, verdict_name)?;
        for text in ["error", "host", "escaped_path", "public_raw_b64"] {
            optional(
                check,
                text,
                |m| m.is_string() || m.is_null(),
                "a string or null",
            )?;
        }
        // dispatch-go answers every failure with a bare 403.
        if let Some(status) = check.get("http_status")
            && !(verdict == "invalid" && status == 403)
        {
            return Err(format!(
                "cross_checks.{name}: {verdict} with HTTP status {status}"
            ));
        }
        if verdict == "ok" {
            verifying_key(str_field(check, "public_raw_b64")?)?;
        }
        verdicts.insert(name.clone(), verdict.to_owned());
    }
    let agreement = field(v, "agreement")?;
    only_known_fields(agreement, &["verdicts", "all_agree"])
        .map_err(|e| format!("agreement: {e}"))?;
    let listed: BTreeMap<String, String> =
        serde_json::from_value(field(agreement, "verdicts")?.clone())
            .map_err(|e| format!("agreement.verdicts: {e}"))?;
    // Where a dispatch-py error is recorded as a verdict, either name fits.
    let same = |a: &str, b: &str| {
        a == b || (a == "error" && b == "invalid") || (a == "invalid" && b == "error")
    };
    if listed.len() != verdicts.len()
        || listed
            .iter()
            .any(|(name, verdict)| verdicts.get(name).is_none_or(|ours| !same(ours, verdict)))
    {
        return Err(format!(
            "agreement.verdicts {listed:?}, but the checks say {verdicts:?}"
        ));
    }
    let all_agree = listed.values().all(|v| Some(v) == listed.values().next());
    if field(agreement, "all_agree")?.as_bool() != Some(all_agree) {
        return Err(format!("agreement.all_agree is not {all_agree}"));
    }
    Ok(())
}

/// Whether the request is still what its signer signed.
///
/// Intact means: some member of the request's `Signature-Input` gives, from
/// the request as it is now, exactly the signed base; the `Signature` member
/// of that label holds the signer's Ed25519 signature of that base; and the
/// body matches any `Content-Digest`. Anything else (a changed label, a
/// changed, added or removed parameter, a changed covered component, a
/// changed body or signature) is a change after signing: `Err(what)`.
/// `Ok(label)` names the member that matched.
pub fn integrity(
    vector: &Vector,
    signed_base: &str,
    signer: &SigningKey,
) -> Result<String, String> {
    let pairs = header_pairs(&vector.headers);
    let req = BorrowedRequest::from_url(&vector.method, &vector.url, &pairs)
        .ok_or("the URL does not split")?;
    let input = joined(&vector.headers, "signature-input").ok_or("no Signature-Input")?;
    let inputs = Dictionary::parse(input.as_bytes())
        .map_err(|e| format!("the Signature-Input does not parse ({e})"))?;
    let mut buf = vec![0u8; 16 * 1024 + vector.headers.len() * 256];
    let mut nearest = String::from("no Signature-Input member");
    let label = inputs
        .iter()
        .find(|(label, member)| {
            let Member::InnerList(list) = member else {
                nearest = format!("Signature-Input member {label:?} is not an inner list");
                return false;
            };
            match signature::write_signature_base(&req, list, &mut buf) {
                Ok(base) if base == signed_base => true,
                Ok(base) => {
                    nearest = format!(
                        "the base from the request differs: {}",
                        first_difference(base, signed_base)
                    );
                    false
                }
                Err(e) => {
                    nearest = format!("no signature base can be built from the request ({e:?})");
                    false
                }
            }
        })
        .map(|(label, _)| label.to_owned())
        .ok_or(nearest)?;
    let sent = sent_signature(&vector.headers, &label)
        .ok_or_else(|| format!("no signature under the label {label:?}"))?;
    let ours = Base64::encode_string(
        &ed25519_dalek::Signer::sign(signer, signed_base.as_bytes()).to_bytes(),
    );
    if sent != ours {
        return Err(format!(
            "the signature bytes under {label:?} are not the signer's"
        ));
    }
    if let Some(digest_header) = joined(&vector.headers, "content-digest")
        && digest::check(digest_header.as_bytes(), &vector.body).is_err()
    {
        return Err("the body does not match the Content-Digest".into());
    }
    Ok(label)
}

/// The first line where two signature bases differ.
fn first_difference(got: &str, signed: &str) -> String {
    let mut lines = got.split('\n').zip(signed.split('\n'));
    match lines.find(|(a, b)| a != b) {
        Some((a, b)) => format!("{a:?} where {b:?} was signed"),
        None => "one has more lines".into(),
    }
}

/// The vector's `signing` fields, checked against the request:
///
/// - a request changed after signing (see [`integrity`]) must be refused;
/// - an intact request signed with the verification key cannot fail the
///   signature or the digest check (our verifier rebuilds the signed base);
/// - an intact request whose signer is RFC 9421 conformant is re-signed by
///   our signer from the request minus the three signature headers, with the
///   signer's label, component order and parameters: the base and the
///   Signature bytes must come out the same (and, for a valid vector, the
///   Content-Digest and the Signature-Input too).
fn check_signing(
    v: &Value,
    vector: &Vector,
    signing: &Value,
    seeds: &BTreeMap<String, String>,
    expected: &Value,
) -> Result<Signed, String> {
    only_known_fields(
        signing,
        &[
            "signer",
            "key",
            "created",
            "component_order",
            "signature_base",
        ],
    )
    .map_err(|e| format!("signing: {e}"))?;
    let signer = str_field(signing, "signer")?;
    let key_name = str_field(signing, "key")?;
    let seed = seeds
        .get(key_name)
        .ok_or_else(|| format!("no private seed for key {key_name:?}"))?;
    let key = signing_key(&b64(seed)?)?;
    let signed_base = str_field(signing, "signature_base")?;
    let order: Vec<&str> = field(signing, "component_order")?
        .as_array()
        .ok_or("component_order is not an array")?
        .iter()
        .map(|c| c.as_str().ok_or("component name is not a string"))
        .collect::<Result<_, _>>()?;
    let expected_valid = str_field(expected, "verdict")? == "valid";
    let expected_reason = expected["reason"].as_str().unwrap_or("");

    // The parameters the signer used: the inner list of the signed base's
    // last line, which must agree with `component_order` and `created`.
    let params_line = signed_base
        .rsplit_once("\n\"@signature-params\": ")
        .map(|(_, p)| p)
        .or_else(|| signed_base.strip_prefix("\"@signature-params\": "))
        .ok_or("signature base has no @signature-params line")?;
    let list = InnerList::parse(params_line.as_bytes())
        .map_err(|e| format!("signed @signature-params does not parse: {e}"))?;
    let listed: Vec<String> = list
        .items()
        .map(|item| match item.bare {
            BareItem::String(s) => String::from_utf8(s.chars().collect()).unwrap_or_default(),
            _ => String::new(),
        })
        .collect();
    if listed != order {
        return Err(format!(
            "component_order {order:?} differs from the signed base {listed:?}"
        ));
    }
    let created = &signing["created"];
    let created_matches = match list.params().get("created") {
        Some(BareItem::Integer(i)) => created.as_i64() == Some(i),
        Some(BareItem::String(s)) => created.as_str().is_some_and(|c| s.eq_str(c)),
        Some(BareItem::Boolean(b)) => created.as_bool() == Some(b),
        None => created.is_null(),
        _ => false,
    };
    if !created_matches {
        return Err(format!(
            "signing.created {created} is not the signed created"
        ));
    }

    let label = match integrity(vector, signed_base, &key) {
        Err(change) if expected_valid => {
            return Err(format!(
                "the request was changed after signing ({change}), yet expected_project says valid"
            ));
        }
        Err(change) => return Ok(Signed::NotAsSigned(change)),
        Ok(label) => label,
    };
    let verification_key =
        verifying_key(str_field(field(v, "verification_key")?, "public_raw_b64")?)?;
    if key.verifying_key() == verification_key
        && matches!(expected_reason, "signature-mismatch" | "digest-mismatch")
    {
        return Err(format!(
            "the request is as signed with the verification key, yet expected_project says {expected_reason}"
        ));
    }
    if v.get("rfc9421_conformant_signer") == Some(&Value::Bool(false)) {
        return Ok(Signed::NotReproducible);
    }

    // The request as signed: without the three signature headers.
    let unsigned: Vec<(String, String)> = vector
        .headers
        .iter()
        .filter(|(n, _)| {
            !["content-digest", "signature-input", "signature"]
                .iter()
                .any(|s| n.eq_ignore_ascii_case(s))
        })
        .cloned()
        .collect();
    let pairs = header_pairs(&unsigned);
    let req =
        BorrowedRequest::from_url(&vector.method, &vector.url, &pairs).ok_or("cannot split URL")?;
    let mut buf = vec![0u8; SIGNING_BUFFER_LEN + vector.headers.len() * 256];
    if signer == "dispatch.signature.sign_request" {
        let params_are_dispatch = format!("{}", list.params())
            == format!(";created={};keyid=\"default\";alg=\"ed25519\"", created);
        if !params_are_dispatch {
            return Err(format!(
                "sign_request vector with parameters {}",
                list.params()
            ));
        }
    }
    let result = if signer == "dispatch.signature.sign_request" && label == signature::LABEL {
        let created = created.as_i64().ok_or("created is not an integer")?;
        signature::sign_in_order(&req, &vector.body, &key, created, &order, &mut buf)
    } else {
        let params: Vec<(&str, BareItem<'_>)> = list.params().iter().collect();
        let spec = SignatureSpec {
            label: &label,
            components: &order,
            params: &params,
        };
        signature::sign_with(&req, &vector.body, &key, &spec, &mut buf)
    };
    let headers = match result {
        Ok(headers) if headers.signature_base == signed_base => headers,
        other => {
            return Err(format!(
                "the request is as signed, but our signer did not reproduce the signed base: {other:?}"
            ));
        }
    };
    let ours = headers
        .signature
        .strip_prefix(&format!("{label}=:"))
        .and_then(|s| s.strip_suffix(':'))
        .ok_or("our Signature header is not label=:b64:")?;
    let sent = sent_signature(&vector.headers, &label);
    if sent.as_deref() != Some(ours) {
        return Err(format!(
            "our Signature {ours} differs from the request's {sent:?}"
        ));
    }
    if expected_valid {
        // The other two headers, as sent (Signature-Input compared canonically).
        if joined(&vector.headers, "content-digest").as_deref() != Some(headers.content_digest) {
            return Err(format!(
                "our Content-Digest {} differs",
                headers.content_digest
            ));
        }
        let canonical = |text: &str| {
            Dictionary::parse(text.as_bytes())
                .map(|d| d.to_string())
                .map_err(|e| e.to_string())
        };
        let sent_input = joined(&vector.headers, "signature-input").ok_or("no Signature-Input")?;
        if canonical(&sent_input)? != canonical(headers.signature_input)? {
            return Err(format!(
                "our Signature-Input {} differs",
                headers.signature_input
            ));
        }
    }
    Ok(Signed::Reproduced)
}

/// The base64 of the request's signature under `label`, if any.
fn sent_signature(headers: &[(String, String)], label: &str) -> Option<String> {
    let value = joined(headers, "signature")?;
    let dict = Dictionary::parse(value.as_bytes()).ok()?;
    match dict.get(label)? {
        Member::Item(item) => item.bare.as_byte_sequence().map(|b| b.base64().to_owned()),
        Member::InnerList(_) => None,
    }
}

// ---------------------------------------------------------------------------
// messages/signature.json

/// `messages/signature.json`: how dispatch-py signs.
pub fn run_dispatch_py_signing(vectors: &[Value], tally: &mut super::Tally) {
    for v in vectors {
        let id = v.get("id").and_then(Value::as_str).unwrap_or("?");
        tally.ran("signature");
        if let Err(why) = run_dispatch_py_vector(v) {
            tally.fail(id, &why);
        }
    }
}

fn run_dispatch_py_vector(v: &Value) -> Check {
    only_known_fields(
        v,
        &[
            "id",
            "description",
            "private_key_seed_hex",
            "public_key_b64",
            "request",
            "created_unix",
            "headers_out",
            "signature_label",
            "signature_base",
            "tampered_body_result",
            "category",
        ],
    )?;
    let key = signing_key(&hex(str_field(v, "private_key_seed_hex")?)?)?;
    let public = verifying_key(str_field(v, "public_key_b64")?)?;
    if key.verifying_key() != public {
        return Err("public_key_b64 is not the seed's public key".into());
    }
    let r = field(v, "request")?;
    only_known_fields(r, &["method", "url", "headers_in", "body_hex"])?;
    let method = str_field(r, "method")?;
    let url = str_field(r, "url")?;
    let body = hex(str_field(r, "body_hex")?)?;
    let headers_in: Vec<(String, String)> = field(r, "headers_in")?
        .as_object()
        .ok_or("headers_in is not an object")?
        .iter()
        .map(|(n, v)| Ok((n.clone(), v.as_str().ok_or("header value")?.to_owned())))
        .collect::<Result<_, String>>()?;
    let created = int_field(v, "created_unix")?;
    let out = field(v, "headers_out")?;
    only_known_fields(out, &["Content-Digest", "Signature-Input", "Signature"])?;
    let label = str_field(v, "signature_label")?;
    if label != signature::LABEL {
        return Err(format!("label {label:?} is not the scheduler's"));
    }
    // dispatch-py's per-process component order, as its Signature-Input shows.
    let sent_input = str_field(out, "Signature-Input")?;
    let dict = Dictionary::parse(sent_input.as_bytes()).map_err(|e| e.to_string())?;
    let Some(Member::InnerList(list)) = dict.get(label) else {
        return Err("Signature-Input has no inner list under the label".into());
    };
    let names: Vec<String> = list
        .items()
        .filter_map(|i| i.bare.as_string())
        .map(|s| String::from_utf8(s.chars().collect()).unwrap_or_default())
        .collect();
    let order: Vec<&str> = names.iter().map(String::as_str).collect();

    let pairs = header_pairs(&headers_in);
    let req = BorrowedRequest::from_url(method, url, &pairs).ok_or("cannot split URL")?;
    let mut buf = [0u8; SIGNING_BUFFER_LEN];
    let signed = signature::sign_in_order(&req, &body, &key, created, &order, &mut buf)
        .map_err(|e| format!("signing failed: {e:?}"))?;
    for (ours, theirs) in [
        (signed.content_digest, str_field(out, "Content-Digest")?),
        (signed.signature_input, sent_input),
        (signed.signature, str_field(out, "Signature")?),
        (signed.signature_base, str_field(v, "signature_base")?),
    ] {
        if ours != theirs {
            return Err(format!(
                "ours {ours:?} differs from dispatch-py's {theirs:?}"
            ));
        }
    }
    // The signed request verifies at its creation time, and a changed body does not.
    let mut all = headers_in.clone();
    for (n, value) in [
        ("Content-Digest", signed.content_digest),
        ("Signature-Input", signed.signature_input),
        ("Signature", signed.signature),
    ] {
        all.push((n.to_owned(), value.to_owned()));
    }
    let pairs = header_pairs(&all);
    let req = BorrowedRequest::from_url(method, url, &pairs).ok_or("cannot split URL")?;
    signature::verify(&req, &body, &public, created, &Policy::default())
        .map_err(|e| format!("our verifier refuses it: {e}"))?;
    let mut tampered = body.clone();
    tampered.push(0);
    let got = signature::verify(&req, &tampered, &public, created, &Policy::default());
    match (str_field(v, "tampered_body_result")?, got) {
        // dispatch-py's InvalidSignature is a 403 permission_denied.
        ("InvalidSignature", Err(e)) if e.http_status() == 403 => Ok(()),
        (want, got) => Err(format!("tampered body: expected {want}, got {got:?}")),
    }
}

// ---------------------------------------------------------------------------
// Synthesised variants of a valid vector: each part changed after signing.

#[cfg(test)]
mod changed_after_signing {
    use super::*;

    const FILE: &str = "tests/vectors/signatures/valid-coverage.json";
    /// A valid vector covering the five components and `@query`.
    const ID: &str = "valid-coverage-006";

    fn file() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(FILE)
    }

    fn valid_vector() -> Value {
        let text = std::fs::read_to_string(file()).expect("the vector file reads");
        let doc: Value = serde_json::from_str(&text).expect("the vector file is JSON");
        doc["vectors"]
            .as_array()
            .and_then(|vs| vs.iter().find(|v| v["id"] == ID))
            .cloned()
            .expect("the vector is in its file")
    }

    fn run(v: &Value) -> Result<Option<Signed>, String> {
        run_request_vector(v, "valid-coverage", &signing_seeds(&file()))
    }

    /// Rewrites the value of the (single) header line `name`.
    fn edit_header(v: &mut Value, name: &str, edit: impl FnOnce(&str) -> String) {
        let line = v["request"]["headers"]
            .as_array_mut()
            .and_then(|lines| {
                lines.iter_mut().find(|line| {
                    line[0]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(name))
                })
            })
            .expect("the header is sent");
        line[1] = Value::String(edit(line[1].as_str().expect("a header value")));
    }

    fn replace_in_header(v: &mut Value, name: &str, from: &str, to: &str) {
        edit_header(v, name, |value| {
            assert!(value.contains(from), "{name}: {value:?} holds no {from:?}");
            value.replacen(from, to, 1)
        });
    }

    fn set_body(v: &mut Value, body: &[u8]) {
        v["request"]["body_b64"] = Value::String(Base64::encode_string(body));
        v["request"]["body_len"] = Value::from(body.len());
    }

    /// The changed vector is recognised as not what was signed, our verifier
    /// refuses it for `reason`, the harness fails it while it is still
    /// expected valid, and passes it once the refusal is expected.
    fn assert_refused(what: &str, mut changed: Value, reason: &str) {
        let vector = parse_request(&changed).expect("the request parses");
        let seed = &signing_seeds(&file())[changed["signing"]["key"].as_str().expect("a key")];
        let key = signing_key(&b64(seed).expect("base64")).expect("a seed");
        let base = changed["signature_base"].as_str().expect("a base");
        assert!(
            integrity(&vector, base, &key).is_err(),
            "{what}: not recognised as changed after signing"
        );
        let got = verify_vector(&changed, &vector).expect("the vector verifies");
        let error = got.expect_err(what);
        assert_eq!(error.reason_name(), reason, "{what}");
        let still_valid = run(&changed);
        assert!(
            still_valid.is_err(),
            "{what}: the harness passes it as valid: {still_valid:?}"
        );
        changed["expected_project"] = serde_json::json!({
            "verdict": "invalid",
            "http_status": error.http_status(),
            "code": error.code().name(),
            "reason": reason,
        });
        match run(&changed) {
            Ok(Some(Signed::NotAsSigned(_))) => {}
            other => panic!("{what}: expected a refused, changed vector, got {other:?}"),
        }
    }

    #[test]
    fn the_unchanged_vector_is_reproduced() {
        assert_eq!(run(&valid_vector()), Ok(Some(Signed::Reproduced)));
    }

    #[test]
    fn the_same_new_label_in_both_headers_is_still_as_signed() {
        // The label is not in the signature base: renaming it everywhere
        // changes nothing that was signed, and the policy accepts any label.
        let mut v = valid_vector();
        replace_in_header(&mut v, "signature-input", "dispatch=", "other=");
        replace_in_header(&mut v, "signature", "dispatch=", "other=");
        assert_eq!(run(&v), Ok(Some(Signed::Reproduced)));
    }

    #[test]
    fn a_changed_label() {
        let mut v = valid_vector();
        replace_in_header(&mut v, "signature-input", "dispatch=", "other=");
        assert_refused("label in Signature-Input", v, "label-mismatch");
        let mut v = valid_vector();
        replace_in_header(&mut v, "signature", "dispatch=", "other=");
        assert_refused("label in Signature", v, "label-mismatch");
    }

    #[test]
    fn changed_parameters() {
        let cases: &[(&str, &str, &str, &str)] = &[
            (
                "created moved",
                "created=1718236800",
                "created=1718236801",
                "signature-mismatch",
            ),
            (
                "created far back",
                "created=1718236800",
                "created=1718230000",
                "expired",
            ),
            ("created removed", ";created=1718236800", "", "bad-created"),
            (
                "created as a string",
                "created=1718236800",
                "created=\"1718236800\"",
                "bad-created",
            ),
            (
                "expires added",
                ";keyid",
                ";expires=1718239999;keyid",
                "signature-mismatch",
            ),
            (
                "expires in the past",
                ";keyid",
                ";expires=1718236801;keyid",
                "expired",
            ),
            (
                "keyid changed",
                "keyid=\"default\"",
                "keyid=\"other\"",
                "unknown-keyid",
            ),
            ("keyid removed", ";keyid=\"default\"", "", "unknown-keyid"),
            (
                "alg changed",
                "alg=\"ed25519\"",
                "alg=\"rsa-v1_5-sha256\"",
                "unsupported-alg",
            ),
            ("alg removed", ";alg=\"ed25519\"", "", "signature-mismatch"),
            (
                "nonce added",
                ";keyid",
                ";nonce=\"n-1\";keyid",
                "signature-mismatch",
            ),
            (
                "nonce not a string",
                ";keyid",
                ";nonce=1;keyid",
                "bad-nonce",
            ),
            (
                "tag added",
                ";keyid",
                ";tag=\"app\";keyid",
                "unknown-parameter",
            ),
            (
                "parameters reordered",
                ";keyid=\"default\";alg=\"ed25519\"",
                ";alg=\"ed25519\";keyid=\"default\"",
                "signature-mismatch",
            ),
        ];
        for (what, from, to, reason) in cases {
            let mut v = valid_vector();
            replace_in_header(&mut v, "signature-input", from, to);
            assert_refused(what, v, reason);
        }
    }

    #[test]
    fn changed_component_list() {
        let cases: &[(&str, &str, &str, &str)] = &[
            ("@query dropped", " \"@query\"", "", "signature-mismatch"),
            (
                "content-type dropped",
                " \"content-type\"",
                "",
                "insufficient-coverage",
            ),
            (
                "content-length added",
                "\"@query\"",
                "\"@query\" \"content-length\"",
                "signature-mismatch",
            ),
            (
                "components reordered",
                "\"@method\" \"@path\"",
                "\"@path\" \"@method\"",
                "signature-mismatch",
            ),
            (
                "a component twice",
                "\"@query\"",
                "\"@query\" \"@query\"",
                "duplicate-component",
            ),
        ];
        for (what, from, to, reason) in cases {
            let mut v = valid_vector();
            replace_in_header(&mut v, "signature-input", from, to);
            assert_refused(what, v, reason);
        }
    }

    #[test]
    fn changed_covered_components() {
        let url = |v: &mut Value, from: &str, to: &str| {
            let old = v["request"]["url"].as_str().expect("a URL").to_owned();
            assert!(old.contains(from));
            v["request"]["url"] = Value::String(old.replacen(from, to, 1));
        };
        let mut v = valid_vector();
        v["request"]["method"] = Value::String("PUT".into());
        assert_refused("method", v, "signature-mismatch");

        let mut v = valid_vector();
        url(&mut v, "/Run", "/Run2");
        // dispatch-py's app is recorded only for the Run path.
        v.as_object_mut().map(|o| o.remove("e2e_aiohttp"));
        assert_refused("path", v, "signature-mismatch");

        let mut v = valid_vector();
        url(&mut v, "my-app.example.com", "other.example.com");
        assert_refused("authority", v, "signature-mismatch");

        let mut v = valid_vector();
        url(&mut v, "b=two", "b=three");
        assert_refused("query", v, "signature-mismatch");

        let mut v = valid_vector();
        replace_in_header(
            &mut v,
            "content-type",
            "application/proto",
            "application/json",
        );
        assert_refused("content-type", v, "signature-mismatch");

        // The body and its digest both replaced: the digest is covered.
        let mut v = valid_vector();
        let other = b"another body";
        let digest = ContentDigest::of(Algorithm::Sha512, other);
        let mut out = [0u8; digest::MAX_HEADER_VALUE_LEN];
        let header = digest::write_header_value(&digest, &mut out)
            .expect("fits")
            .to_owned();
        edit_header(&mut v, "content-digest", |_| header);
        set_body(&mut v, other);
        assert_refused("content-digest and body", v, "signature-mismatch");

        // The body alone: the signature holds, the digest does not.
        let mut v = valid_vector();
        set_body(&mut v, b"another body");
        assert_refused("body", v, "digest-mismatch");
    }

    #[test]
    fn changed_signature_bytes() {
        let mut v = valid_vector();
        edit_header(&mut v, "signature", |value| {
            let (label, rest) = value.split_once("=:").expect("label=:b64:");
            let mut bytes = b64(rest.trim_end_matches(':')).expect("base64");
            bytes[0] ^= 1;
            format!("{label}=:{}:", Base64::encode_string(&bytes))
        });
        assert_refused("signature bytes", v, "signature-mismatch");
    }

    #[test]
    fn an_uncovered_change_is_still_as_signed() {
        // valid-mutations: what the signature does not cover may change.
        let mut v = valid_vector();
        replace_in_header(&mut v, "content-length", "81", "82");
        assert_eq!(run(&v), Ok(Some(Signed::Reproduced)));
    }
}
