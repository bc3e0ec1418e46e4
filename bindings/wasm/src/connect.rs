//! Connect codes and error bodies, `Status` classification, and the binary
//! protobuf of the protocol's messages.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use dispatch_core::connect::{self, Code, Codec, ErrorBody};
use dispatch_core::proto::sdk::v1 as pb;
use dispatch_core::status::Status;
use js_sys::{Array, Object};
use prost::Message;
use wasm_bindgen::prelude::*;

use crate::refusal::set;

/// A Connect code by its name (`"permission_denied"`), or an error.
fn code_named(name: &str) -> Result<Code, JsError> {
    Code::from_name(name).ok_or_else(|| JsError::new(&format!("\"{name}\" is not a Connect code")))
}

/// The 16 Connect codes in gRPC number order, each `{name, grpcNumber,
/// httpStatus}`.
#[wasm_bindgen(js_name = connectCodes)]
pub fn connect_codes() -> Array {
    Code::ALL
        .iter()
        .map(|code| {
            let entry = Object::new();
            set(&entry, "name", code.name());
            set(&entry, "grpcNumber", code.grpc_number());
            set(&entry, "httpStatus", code.http_status());
            JsValue::from(entry)
        })
        .collect()
}

/// The Connect code a client infers from an HTTP status alone (404 →
/// `"unimplemented"`).
#[wasm_bindgen(js_name = codeFromHttpStatus)]
pub fn code_from_http_status(status: u16) -> String {
    Code::from_http_status(status).name().to_owned()
}

/// The Connect error body `{"code":"...","message":"..."}` (no message
/// when empty), escaped as JSON requires.
#[wasm_bindgen(js_name = errorJson)]
pub fn error_json(code: &str, message: &str) -> Result<Vec<u8>, JsError> {
    let body = ErrorBody::new(code_named(code)?, message);
    // Six bytes per message byte is the worst escaping, plus the frame.
    let mut out = vec![0u8; message.len() * 6 + 64];
    let n = body
        .encode_json(&mut out)
        .map_err(|e| JsError::new(&e.to_string()))?;
    out.truncate(n);
    Ok(out)
}

/// How a Connect client classifies a unary response: `undefined` for a
/// success, else `{code, message}` (the code of a valid JSON error body, or
/// the one the status implies). `requestContentType` is the request's codec.
#[wasm_bindgen(js_name = classifyResponse)]
pub fn classify_response(
    http_status: u16,
    content_type: &str,
    body: &[u8],
    request_content_type: &str,
) -> Result<JsValue, JsError> {
    let codec = Codec::from_content_type(request_content_type).ok_or_else(|| {
        JsError::new(&format!(
            "\"{request_content_type}\" is not a Connect unary content type"
        ))
    })?;
    let mut details: [u8; 0] = [];
    Ok(
        match connect::classify_response::<4096>(
            codec,
            http_status,
            content_type,
            body,
            &mut details,
        ) {
            Ok(()) => JsValue::UNDEFINED,
            Err(error) => {
                let out = Object::new();
                set(&out, "code", error.code.name());
                set(&out, "message", error.message.as_str());
                out.into()
            }
        },
    )
}

/// Every `dispatch.sdk.v1.Status`, each `{name, number, temporary}`
/// (`temporary`: the scheduler retries a call that ends so).
#[wasm_bindgen(js_name = statuses)]
pub fn statuses() -> Array {
    Status::ALL
        .iter()
        .map(|status| {
            let entry = Object::new();
            set(&entry, "name", status.name());
            set(&entry, "number", status.number());
            set(&entry, "temporary", status.is_temporary());
            JsValue::from(entry)
        })
        .collect()
}

/// The status number of an outbound HTTP call from its response status.
#[wasm_bindgen(js_name = statusFromHttpStatus)]
pub fn status_from_http_status(status: u16) -> i32 {
    Status::from_http_status(status).number()
}

/// The status number of a failed Connect call from its code name.
#[wasm_bindgen(js_name = statusFromConnectCode)]
pub fn status_from_connect_code(code: &str) -> Result<i32, JsError> {
    Ok(Status::from_connect_code(code_named(code)?).number())
}

/// Decodes `data` as the binary protobuf of `messageType` (a full name such
/// as `dispatch.sdk.v1.RunRequest`) and encodes it again (canonical bytes);
/// throws for an unknown type or bytes that are not that message.
#[wasm_bindgen(js_name = reencodeMessage)]
pub fn reencode_message(message_type: &str, data: &[u8]) -> Result<Vec<u8>, JsError> {
    fn again<M: Message + Default>(data: &[u8]) -> Result<Vec<u8>, prost::DecodeError> {
        M::decode(data).map(|m| m.encode_to_vec())
    }
    match message_type {
        "dispatch.sdk.v1.RunRequest" => again::<pb::RunRequest>(data),
        "dispatch.sdk.v1.RunResponse" => again::<pb::RunResponse>(data),
        "dispatch.sdk.v1.Error" => again::<pb::Error>(data),
        "dispatch.sdk.v1.Call" => again::<pb::Call>(data),
        "dispatch.sdk.v1.CallResult" => again::<pb::CallResult>(data),
        "dispatch.sdk.v1.Exit" => again::<pb::Exit>(data),
        "dispatch.sdk.v1.Poll" => again::<pb::Poll>(data),
        "dispatch.sdk.v1.PollResult" => again::<pb::PollResult>(data),
        "dispatch.sdk.v1.DispatchRequest" => again::<pb::DispatchRequest>(data),
        "dispatch.sdk.v1.DispatchResponse" => again::<pb::DispatchResponse>(data),
        "google.protobuf.Any" => again::<prost_types::Any>(data),
        other => {
            return Err(JsError::new(&format!(
                "\"{other}\" is not a message of the Dispatch protocol"
            )));
        }
    }
    .map_err(|e| JsError::new(&format!("not a {message_type}: {e}")))
}
