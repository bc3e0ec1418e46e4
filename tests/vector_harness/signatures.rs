//! Request-signature vectors: verification verdicts (policy `expected_project`),
//! signing byte for byte, Content-Digest, RFC 9421 B.2.6 and RFC 9530 values,
//! and dispatch-py's signing vectors. Verification keys are routed to `keys`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64ct::{Base64, Encoding};
use dispatch_core::digest::{self, Algorithm, ContentDigest};
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

/// The policy reasons a refused vector may have when the Signature header
/// itself is not what the signer produced.
const SIGNATURE_SIDE_REASONS: &[&str] = &[
    "missing-signature",
    "missing-signature-input",
    "malformed-signature",
    "malformed-signature-input",
    "not-exactly-one-signature",
    "label-mismatch",
    "signature-mismatch",
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
    let mut reproduced = 0usize;
    let mut signed = 0usize;
    for v in vectors {
        let id = v.get("id").and_then(Value::as_str).unwrap_or("?");
        tally.ran(set);
        let result = if is_digest_set {
            run_digest_vector(v)
        } else {
            run_request_vector(v, &seeds, &mut signed, &mut reproduced)
        };
        if let Err(why) = result {
            tally.fail(id, &why);
        }
    }
    if signed > 0 {
        println!(
            "signatures/{set}: {reproduced} of {signed} signed vectors reproduced byte for byte \
             from the request (the rest were changed after signing and are refused)"
        );
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

fn run_digest_vector(v: &Value) -> Check {
    only_known_fields(v, DIGEST_VECTOR_FIELDS)?;
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

struct Vector {
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

fn run_request_vector(
    v: &Value,
    seeds: &BTreeMap<String, String>,
    signed: &mut usize,
    reproduced: &mut usize,
) -> Check {
    only_known_fields(v, REQUEST_VECTOR_FIELDS)?;
    let vector = parse_request(v)?;
    let pairs = header_pairs(&vector.headers);
    let req = BorrowedRequest::from_url(&vector.method, &vector.url, &pairs)
        .ok_or_else(|| format!("cannot split URL {:?}", vector.url))?;
    let verification_key = field(v, "verification_key")?;
    only_known_fields(
        verification_key,
        &[
            "name",
            "public_raw_b64",
            "public_pem",
            "private_seed_b64",
            "private_pem",
        ],
    )
    .map_err(|e| format!("verification_key: {e}"))?;
    let key = verifying_key(str_field(verification_key, "public_raw_b64")?)?;
    let now = int_field(v, "now")?;
    let max_age = u32::try_from(int_field(v, "max_age_s")?).map_err(|e| e.to_string())?;
    let policy = Policy::default().with_max_age(max_age);
    let expected = field(v, "expected_project")?;

    // One shot.
    let got = signature::verify(&req, &vector.body, &key, now, &policy);
    check_outcome(expected, got)?;
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

    if let Some(verdict) = v.get("library_level_verdict") {
        check_library_level(&req, &key, verdict)?;
    }
    match field(v, "signing")? {
        Value::Null => Ok(()),
        signing => {
            *signed += 1;
            if reproduce_signing(v, &vector, signing, seeds, expected)? {
                *reproduced += 1;
            }
            Ok(())
        }
    }
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

/// Re-signs the vector from its `signing` fields and the request minus the
/// three signature headers. Returns whether our base and signature reproduced
/// the vector's byte for byte; where they do not, the vector must be one that
/// the policy refuses (it was changed after signing).
fn reproduce_signing(
    v: &Value,
    vector: &Vector,
    signing: &Value,
    seeds: &BTreeMap<String, String>,
    expected: &Value,
) -> Result<bool, String> {
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
    if str_field(v, "signature_base")? != signed_base {
        return Err("signature_base differs from signing.signature_base".into());
    }
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
        _ => false,
    };
    if !created_matches {
        return Err(format!(
            "signing.created {created} is not the signed created"
        ));
    }

    // Ed25519 over the signed base reproduces the Signature bytes.
    let label = request_label(&vector.headers).unwrap_or_else(|| signature::LABEL.to_owned());
    let sent = sent_signature(&vector.headers, &label);
    let ours = Base64::encode_string(
        &ed25519_dalek::Signer::sign(&key, signed_base.as_bytes()).to_bytes(),
    );
    if sent.as_deref() != Some(ours.as_str())
        && (expected_valid || !SIGNATURE_SIDE_REASONS.contains(&expected_reason))
    {
        return Err(format!(
            "our signature over signing.signature_base is {ours}, the request carries {sent:?}"
        ));
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
    let result = if signer == "dispatch.signature.sign_request" {
        let params_are_dispatch = format!("{}", list.params())
            == format!(";created={};keyid=\"default\";alg=\"ed25519\"", created);
        if !params_are_dispatch {
            return Err(format!(
                "sign_request vector with parameters {}",
                list.params()
            ));
        }
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
            if expected_valid {
                return Err(format!(
                    "our signer did not reproduce the signed base of a valid vector: {other:?}"
                ));
            }
            return Ok(false);
        }
    };
    let ours = headers
        .signature
        .strip_prefix(&format!("{label}=:"))
        .and_then(|s| s.strip_suffix(':'))
        .ok_or("our Signature header is not label=:b64:")?;
    if sent.as_deref() != Some(ours) {
        if expected_valid || !SIGNATURE_SIDE_REASONS.contains(&expected_reason) {
            return Err(format!(
                "our Signature {ours} differs from the request's {sent:?}"
            ));
        }
        return Ok(false);
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
    Ok(true)
}

/// The label of the request's Signature-Input, if it parses.
fn request_label(headers: &[(String, String)]) -> Option<String> {
    let value = joined(headers, "signature-input")?;
    let dict = Dictionary::parse(value.as_bytes()).ok()?;
    dict.iter().next().map(|(label, _)| label.to_owned())
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
