//! The checks, shared by the host and the Cortex-M entry points. `run`
//! returns 0 when every check passes, else the number of the first failure.

use base64ct::{Base64, Encoding};
use dispatch_core::digest::check;
use dispatch_core::key::parse_public_key;
use dispatch_core::sfv::{Dictionary, Member};
use dispatch_core::signature::{
    BorrowedRequest, Policy, VerifyError, verify, write_signature_base,
};
use ed25519_dalek::{Signature, VerifyingKey};

// RFC 9421 B.1.4 test-key-ed25519 and the B.2.6 request, as published.
const B26_KEY_PEM: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=\n-----END PUBLIC KEY-----\n";
const B26_URL: &str = "https://example.com/foo?param=Value&Pet=dog";
const B26_INPUT: &str = "sig-b26=(\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" \"content-length\");created=1618884473;keyid=\"test-key-ed25519\"";
const B26_SIGNATURE: &str = "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:";
const B26_HEADERS: [(&str, &str); 7] = [
    ("Host", "example.com"),
    ("Date", "Tue, 20 Apr 2021 02:07:55 GMT"),
    ("Content-Type", "application/json"),
    ("Content-Digest", RFC9530_SHA512),
    ("Content-Length", "18"),
    ("Signature-Input", B26_INPUT),
    ("Signature", B26_SIGNATURE),
];
const B26_BASE: &str = "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n\"@method\": POST\n\"@path\": /foo\n\"@authority\": example.com\n\"content-type\": application/json\n\"content-length\": 18\n\"@signature-params\": (\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" \"content-length\");created=1618884473;keyid=\"test-key-ed25519\"";
const B26_NOW: i64 = 1_618_884_483;

// RFC 9530 §2 / B.1: the body {"hello": "world"} and its digests.
const RFC9530_BODY: &[u8] = b"{\"hello\": \"world\"}";
const RFC9530_SHA512: &str = "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:";
const RFC9530_SHA256: &str = "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:";

// Vector valid-basic-002: a scheduler-signed Run request (Dispatch profile).
const RUN_KEY_B64: &str = "03FNpTgdxkZjpEPlpBYNm1WdUM3RwTiNETSTTKZAsTU=";
const RUN_URL: &str = "https://my-app.example.com/dispatch.sdk.v1.FunctionService/Run";
const RUN_BODY_B64: &str = "CgtteV9mdW5jdGlvbhI6Ci90eXBlLmdvb2dsZWFwaXMuY29tL2dvb2dsZS5wcm90b2J1Zi5TdHJpbmdWYWx1ZRIHCgVoZWxsbyIGZC0wMDAx";
const RUN_HEADERS: [(&str, &str); 6] = [
    ("Host", "my-app.example.com"),
    ("Content-Type", "application/proto"),
    ("Content-Length", "81"),
    (
        "Content-Digest",
        "sha-512=:I8i3AuWiHQ0vMSVP+wUBi7UrmdIPQcIrSQfveHg8CGgMMDZkceKYWKFG8Hmqqod1uaIgqis2GkX0r0omqM4HOw==:",
    ),
    (
        "Signature-Input",
        "dispatch=(\"@method\" \"@path\" \"@authority\" \"content-type\" \"content-digest\");created=1718236800;keyid=\"default\";alg=\"ed25519\"",
    ),
    (
        "Signature",
        "dispatch=:JPLk5t7HdAvhj85aFh6xVZfs9h0JCOlIIY0btDBW7QWuEH/4/7CIvE/Ef9r/b9AFIrjZt8bTqKxi4nAlKY02BA==:",
    ),
];
const RUN_NOW: i64 = 1_718_236_830;

/// Runs every check; 0 on success, else the number of the failed check.
pub fn run() -> i32 {
    if let Err(code) = rfc9421_b26() {
        return code;
    }
    if let Err(code) = dispatch_profile() {
        return code;
    }
    if let Err(code) = rfc9530() {
        return code;
    }
    #[cfg(feature = "messages")]
    if let Err(code) = messages() {
        return code;
    }
    0
}

/// B.2.6 with the core's primitives: the sfv parser, the base builder, the
/// key parser and Ed25519; then the policy verifier refuses its keyid.
fn rfc9421_b26() -> Result<(), i32> {
    let req = BorrowedRequest::from_url("POST", B26_URL, &B26_HEADERS).ok_or(10)?;
    let input = Dictionary::parse(B26_INPUT.as_bytes()).map_err(|_| 11)?;
    let Some(Member::InnerList(params)) = input.get("sig-b26") else {
        return Err(12);
    };
    let mut buf = [0u8; 1024];
    let base = write_signature_base(&req, &params, &mut buf).map_err(|_| 13)?;
    if base != B26_BASE {
        return Err(14);
    }
    let key = parse_public_key(B26_KEY_PEM).map_err(|_| 15)?;
    let signature = Dictionary::parse(B26_SIGNATURE.as_bytes()).map_err(|_| 16)?;
    let Some(Member::Item(item)) = signature.get("sig-b26") else {
        return Err(17);
    };
    let mut raw = [0u8; 64];
    let bytes = item.bare.as_byte_sequence().ok_or(18)?;
    let raw: [u8; 64] = bytes
        .decode_into(&mut raw)
        .ok_or(18)?
        .try_into()
        .map_err(|_| 18)?;
    let signature = Signature::from_bytes(&raw);
    key.verify_strict(base.as_bytes(), &signature)
        .map_err(|_| 19)?;
    let mut tampered = [0u8; 1024];
    let tampered = tampered.get_mut(..base.len()).ok_or(20)?;
    tampered.copy_from_slice(base.as_bytes());
    if let Some(first) = tampered.first_mut() {
        *first ^= 1;
    }
    if key.verify_strict(tampered, &signature).is_ok() {
        return Err(20);
    }
    match verify(&req, RFC9530_BODY, &key, B26_NOW, &Policy::default()) {
        Err(VerifyError::UnknownKeyid) => Ok(()),
        _ => Err(21),
    }
}

/// A Dispatch-profile request verified end to end, then tampered with.
fn dispatch_profile() -> Result<(), i32> {
    let mut key = [0u8; 32];
    Base64::decode(RUN_KEY_B64, &mut key).map_err(|_| 30)?;
    let key = VerifyingKey::from_bytes(&key).map_err(|_| 30)?;
    let mut body = [0u8; 81];
    let body = Base64::decode(RUN_BODY_B64, &mut body).map_err(|_| 31)?;
    let req = BorrowedRequest::from_url("POST", RUN_URL, &RUN_HEADERS).ok_or(32)?;
    let policy = Policy::default();
    verify(&req, body, &key, RUN_NOW, &policy).map_err(|_| 33)?;
    if verify(&req, &body[1..], &key, RUN_NOW, &policy) != Err(VerifyError::DigestMismatch) {
        return Err(34);
    }
    let moved = BorrowedRequest {
        path: "/other",
        ..req
    };
    if verify(&moved, body, &key, RUN_NOW, &policy) != Err(VerifyError::SignatureMismatch) {
        return Err(35);
    }
    if verify(&req, body, &key, RUN_NOW + 600, &policy) != Err(VerifyError::Expired) {
        return Err(36);
    }
    #[cfg(feature = "messages")]
    {
        use prost::Message as _;
        let run = dispatch_core::proto::sdk::v1::RunRequest::decode(body).map_err(|_| 37)?;
        if run.function != "my_function" {
            return Err(37);
        }
    }
    Ok(())
}

/// RFC 9530 Content-Digest examples, both algorithms, and a changed body.
fn rfc9530() -> Result<(), i32> {
    check(RFC9530_SHA512.as_bytes(), RFC9530_BODY).map_err(|_| 40)?;
    check(RFC9530_SHA256.as_bytes(), RFC9530_BODY).map_err(|_| 41)?;
    if check(RFC9530_SHA512.as_bytes(), b"{\"hello\": \"World\"}").is_ok() {
        return Err(42);
    }
    Ok(())
}

/// The generated messages and the alloc side of the core.
#[cfg(feature = "messages")]
fn messages() -> Result<(), i32> {
    use alloc::string::String;
    use dispatch_core::proto::sdk::v1::{RunRequest, RunResponse, Status, run_request::Directive};
    use prost::Message as _;
    let req = RunRequest {
        function: String::from("my_function"),
        dispatch_id: String::from("d-0001"),
        directive: Some(Directive::Input(prost_types_any())),
        ..Default::default()
    };
    let bytes = req.encode_to_vec();
    if RunRequest::decode(bytes.as_slice()).map_err(|_| 50)? != req {
        return Err(51);
    }
    if RunRequest::decode(&b"\xff\xff\xff"[..]).is_ok() {
        return Err(52);
    }
    let response = RunResponse {
        status: Status::Ok as i32,
        directive: None,
    };
    let back = RunResponse::decode(response.encode_to_vec().as_slice()).map_err(|_| 53)?;
    if back != response {
        return Err(54);
    }
    Ok(())
}

#[cfg(feature = "messages")]
fn prost_types_any() -> dispatch_core::proto::prost_types::Any {
    dispatch_core::proto::prost_types::Any {
        type_url: alloc::string::String::from("type.googleapis.com/google.protobuf.StringValue"),
        value: alloc::vec::Vec::from(&b"\n\x05hello"[..]),
    }
}
