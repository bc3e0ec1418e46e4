//! Connect error bodies, HTTP-to-code inference, and status mappings.

use dispatch_core::connect::{
    Code, Codec, Detail, ErrorBody, classify_response, decode_error_json,
};
use dispatch_core::status::Status;
use serde_json::Value;

use super::messages::only_known;

/// The fields the README documents for each category (with the base fields
/// every vector has); any other field fails the vector.
const CONNECT_ERROR_FIELDS: &[&str] = &[
    "id",
    "category",
    "description",
    "code",
    "code_number",
    "http_status",
    "content_type",
    "body",
    "body_text",
    "go_dispatch_status",
    "http_status_reverse_inference",
];
const HTTP_INFERENCE_FIELDS: &[&str] = &[
    "id",
    "category",
    "description",
    "http_status",
    "content_type",
    "body_text",
    "expected_code",
    "expected_message",
];
const STATUS_MAPPING_FIELDS: &[&str] = &[
    "id",
    "category",
    "description",
    "kind",
    "input",
    "expected_status",
    "temporary",
    "source",
    "mro",
];

/// The fields of a status_mapping vector, every kind: the documented ones
/// only, `source` saying how the mapping was found, `mro` (the exception's
/// class chain) only for exceptions, and `temporary` agreeing with the
/// core's set for the expected status.
fn status_mapping_fields(v: &Value, id: &str) -> Result<(), String> {
    only_known(v, STATUS_MAPPING_FIELDS, id)?;
    let source = str_field(v, "source")?;
    if !(source.starts_with("executed") || source.starts_with("transcribed")) {
        return Err(format!(
            "source {source:?} is neither executed nor transcribed"
        ));
    }
    let kind = str_field(v, "kind")?;
    match v.get("mro") {
        None => {}
        Some(Value::Array(classes))
            if kind == "python_exception"
                && !classes.is_empty()
                && classes.iter().all(Value::is_string) => {}
        Some(_) => {
            return Err(format!(
                "mro on a {kind} vector, or not a list of class names"
            ));
        }
    }
    let status = status_field(v, "expected_status")?;
    check_temporary(v, status)
}

pub fn run(category: &str, vectors: &[Value], tally: &mut super::Tally) {
    for v in vectors {
        let id = v.get("id").and_then(Value::as_str).unwrap_or("?");
        let result = match category {
            "connect_error" => {
                only_known(v, CONNECT_ERROR_FIELDS, id).and_then(|()| connect_error(v))
            }
            "connect_http_inference" => {
                only_known(v, HTTP_INFERENCE_FIELDS, id).and_then(|()| http_inference(v))
            }
            "status_mapping" => {
                if let Err(why) = status_mapping_fields(v, id) {
                    tally.ran(category);
                    tally.fail(id, &why);
                    continue;
                }
                let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
                match kind {
                    "http_status" => status_from_http(v),
                    "connect_code" => status_from_connect_code(v),
                    other => {
                        tally.not_applicable(category, other, id);
                        continue;
                    }
                }
            }
            other => Err(format!("category {other:?} is not a connect category")),
        };
        tally.ran(category);
        if let Err(why) = result {
            tally.fail(id, &why);
        }
    }
}

fn str_field<'a>(v: &'a Value, key: &str) -> Result<&'a str, String> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("no string {key:?}"))
}

fn u16_field(v: &Value, key: &str) -> Result<u16, String> {
    v.get(key)
        .and_then(Value::as_u64)
        .and_then(|n| u16::try_from(n).ok())
        .ok_or_else(|| format!("no HTTP status {key:?}"))
}

fn code_field(v: &Value, key: &str) -> Result<Code, String> {
    let name = str_field(v, key)?;
    Code::from_name(name).ok_or_else(|| format!("{key} {name:?} is not a Connect code"))
}

fn status_field(v: &Value, key: &str) -> Result<Status, String> {
    let name = str_field(v, key)?;
    Status::from_name(name).ok_or_else(|| format!("{key} {name:?} is not a Status"))
}

fn check<T: PartialEq + core::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, want {want:?}"))
    }
}

/// Standard base64, padded or not (the vectors' detail values are unpadded).
fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    use base64ct::{Base64, Base64Unpadded, Encoding};
    if text.ends_with('=') {
        Base64::decode_vec(text)
    } else {
        Base64Unpadded::decode_vec(text)
    }
    .map_err(|e| format!("detail value {text:?}: {e}"))
}

fn connect_error(v: &Value) -> Result<(), String> {
    let code = code_field(v, "code")?;
    let number = v
        .get("code_number")
        .and_then(Value::as_u64)
        .ok_or("no code_number")?;
    check("code_number", u64::from(code.grpc_number()), number)?;
    check(
        "from_grpc_number",
        Code::from_grpc_number(number as u32),
        Some(code),
    )?;
    check(
        "http_status",
        code.http_status(),
        u16_field(v, "http_status")?,
    )?;
    check(
        "http_status_reverse_inference",
        Code::from_http_status(code.http_status()),
        code_field(v, "http_status_reverse_inference")?,
    )?;
    check(
        "go_dispatch_status",
        Status::from_connect_code(code),
        status_field(v, "go_dispatch_status")?,
    )?;
    check(
        "content_type is JSON",
        dispatch_core::connect::is_json_content_type(str_field(v, "content_type")?),
        true,
    )?;

    // Encode from the parsed body; compare as JSON values (debug is never
    // written, so it is removed from the expectation).
    let body = v.get("body").ok_or("no body")?;
    let message = body.get("message").and_then(Value::as_str).unwrap_or("");
    let empty = Vec::new();
    let raw_details = body
        .get("details")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let mut values = Vec::new();
    for detail in raw_details {
        values.push(base64_decode(str_field(detail, "value")?)?);
    }
    let mut details = Vec::new();
    for (detail, value) in raw_details.iter().zip(&values) {
        details.push(Detail {
            type_name: str_field(detail, "type")?,
            value,
        });
    }
    let error = ErrorBody {
        code,
        message,
        details: &details,
    };
    let mut out = vec![0u8; 4096];
    let n = error
        .encode_json(&mut out)
        .map_err(|e| format!("encode: {e}"))?;
    let encoded: Value =
        serde_json::from_slice(&out[..n]).map_err(|e| format!("encoded body is not JSON: {e}"))?;
    let mut expected = body.clone();
    if let Some(list) = expected.get_mut("details").and_then(Value::as_array_mut) {
        for detail in list {
            if let Some(map) = detail.as_object_mut() {
                map.remove("debug");
                // Values are written unpadded; a padded expectation means the same.
                if let Some(Value::String(value)) = map.get_mut("value") {
                    *value = value.trim_end_matches('=').to_owned();
                }
            }
        }
    }
    check("encoded body", encoded, expected)?;

    // Decode body_text.
    let text = str_field(v, "body_text")?;
    let mut buf = vec![0u8; 4096];
    let decoded = decode_error_json::<1024>(text.as_bytes(), &mut buf)
        .map_err(|e| format!("decode body_text: {e}"))?;
    check("decoded code", decoded.code, Some(code))?;
    check("decoded message", decoded.message.as_str(), message)?;
    check("message truncated", decoded.message_truncated, false)?;
    check("skipped details", decoded.skipped_details, 0)?;
    check("detail count", decoded.details.len(), details.len())?;
    for (got, want) in decoded.details.iter().zip(&details) {
        check("detail type", got.type_name.as_str(), want.type_name)?;
        check("detail value", got.value, want.value)?;
    }

    // And the client's view of the whole response.
    let mut buf = vec![0u8; 4096];
    let classified = classify_response::<1024>(
        Codec::Proto,
        code.http_status(),
        str_field(v, "content_type")?,
        text.as_bytes(),
        &mut buf,
    );
    match classified {
        Ok(()) => Err("classified as a success".to_owned()),
        Err(e) => {
            check("classified code", e.code, code)?;
            check("classified message", e.message.as_str(), message)
        }
    }
}

fn http_inference(v: &Value) -> Result<(), String> {
    let status = u16_field(v, "http_status")?;
    let content_type = str_field(v, "content_type")?;
    let body = str_field(v, "body_text")?;
    let want = code_field(v, "expected_code")?;
    let mut buf = vec![0u8; 4096];
    match classify_response::<1024>(
        Codec::Proto,
        status,
        content_type,
        body.as_bytes(),
        &mut buf,
    ) {
        Ok(()) => Err("classified as a success".to_owned()),
        Err(e) => {
            check("code", e.code, want)?;
            match v.get("expected_message") {
                Some(Value::String(message)) => check("message", e.message.as_str(), message),
                Some(Value::Null) | None => Ok(()),
                Some(other) => Err(format!("expected_message {other} is not a string")),
            }
        }
    }
}

fn check_temporary(v: &Value, status: Status) -> Result<(), String> {
    let want = v
        .get("temporary")
        .and_then(Value::as_bool)
        .ok_or("no temporary flag")?;
    check("temporary", status.is_temporary(), want)
}

fn status_from_http(v: &Value) -> Result<(), String> {
    let input = v
        .get("input")
        .and_then(Value::as_i64)
        .ok_or("input is not an integer HTTP status")?;
    let want = status_field(v, "expected_status")?;
    // Anything outside u16 is outside 100..=599, like u16::MAX.
    let status = Status::from_http_status(u16::try_from(input).unwrap_or(u16::MAX));
    check("status", status, want)?;
    check_temporary(v, status)
}

fn status_from_connect_code(v: &Value) -> Result<(), String> {
    let code = code_field(v, "input")?;
    let want = status_field(v, "expected_status")?;
    let status = Status::from_connect_code(code);
    check("status", status, want)?;
    check_temporary(v, status)
}
