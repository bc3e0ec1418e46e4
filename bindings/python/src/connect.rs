//! Connect codes and error bodies, `Status` classification, and the binary
//! protobuf of the protocol's messages: the core's `connect`, `status` and
//! `proto` modules.

use dispatch_core::connect::{self, Code, Codec, ErrorBody};
use dispatch_core::proto::sdk::v1 as pb;
use dispatch_core::status::Status;
use prost::Message;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// A Connect code by its name (`"permission_denied"`), or a `ValueError`.
pub(crate) fn code_named(name: &str) -> PyResult<Code> {
    Code::from_name(name)
        .ok_or_else(|| PyValueError::new_err(format!("{name:?} is not a Connect code")))
}

/// The HTTP status a Connect server answers with for `code`
/// (`"not_found"` → 404).
#[pyfunction]
pub(crate) fn code_http_status(code: &str) -> PyResult<u16> {
    Ok(code_named(code)?.http_status())
}

/// The gRPC status number of `code` (`"not_found"` → 5).
#[pyfunction]
pub(crate) fn code_grpc_number(code: &str) -> PyResult<u32> {
    Ok(code_named(code)?.grpc_number())
}

/// The Connect code a client infers from an HTTP status alone (404 →
/// `"unimplemented"`, 503 → `"unavailable"`).
#[pyfunction]
pub(crate) fn code_from_http_status(status: u16) -> &'static str {
    Code::from_http_status(status).name()
}

/// The 16 Connect code names, in gRPC number order.
#[pyfunction]
pub(crate) fn connect_codes() -> Vec<&'static str> {
    Code::ALL.iter().map(|code| code.name()).collect()
}

/// The Connect error body `{"code":"...","message":"..."}` (the message is
/// omitted when empty), escaped as JSON requires.
#[pyfunction]
pub(crate) fn error_json<'py>(
    py: Python<'py>,
    code: &str,
    message: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let body = ErrorBody::new(code_named(code)?, message);
    // Six bytes per message byte is the worst escaping, plus the frame.
    let mut out = vec![0u8; message.len() * 6 + 64];
    let n = body
        .encode_json(&mut out)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(PyBytes::new(py, out.get(..n).unwrap_or_default()))
}

/// How a Connect client classifies a unary response: `None` for a success
/// (HTTP 200 in the request's codec), else `(code, message)`: the code of a
/// valid JSON error body, or the one the status implies.
/// `request_content_type` is the codec the request was sent in.
#[pyfunction]
#[pyo3(signature = (http_status, content_type, body, request_content_type = "application/proto"))]
pub(crate) fn classify_response(
    http_status: u16,
    content_type: &str,
    body: &[u8],
    request_content_type: &str,
) -> PyResult<Option<(&'static str, String)>> {
    let codec = Codec::from_content_type(request_content_type).ok_or_else(|| {
        PyValueError::new_err(format!(
            "{request_content_type:?} is not a Connect unary content type"
        ))
    })?;
    // Details are not surfaced here, so they get no room.
    let mut details: [u8; 0] = [];
    Ok(
        match connect::classify_response::<4096>(
            codec,
            http_status,
            content_type,
            body,
            &mut details,
        ) {
            Ok(()) => None,
            Err(error) => Some((error.code.name(), error.message.as_str().to_owned())),
        },
    )
}

/// Every `dispatch.sdk.v1.Status`: `(name, number, temporary)`, where
/// `temporary` says whether the scheduler retries a call that ends so.
#[pyfunction]
pub(crate) fn status_table() -> Vec<(&'static str, i32, bool)> {
    Status::ALL
        .iter()
        .map(|s| (s.name(), s.number(), s.is_temporary()))
        .collect()
}

/// The status of an outbound HTTP call from its response status (the
/// table dispatch-py and dispatch-go share), as its number.
#[pyfunction]
pub(crate) fn status_from_http_status(status: u16) -> i32 {
    Status::from_http_status(status).number()
}

/// The status of a failed Connect call from its code name, as its number.
#[pyfunction]
pub(crate) fn status_from_connect_code(code: &str) -> PyResult<i32> {
    Ok(Status::from_connect_code(code_named(code)?).number())
}

/// Decodes `data` as the binary protobuf of `message_type` (a full name,
/// e.g. `dispatch.sdk.v1.RunRequest`) and encodes it again: canonical bytes,
/// fields in number order. Raises `ValueError` for an unknown type or bytes
/// that are not that message.
#[pyfunction]
pub(crate) fn reencode_message<'py>(
    py: Python<'py>,
    message_type: &str,
    data: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    fn again<M: Message + Default>(data: &[u8]) -> Result<Vec<u8>, prost::DecodeError> {
        M::decode(data).map(|m| m.encode_to_vec())
    }
    let encoded = match message_type {
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
            return Err(PyValueError::new_err(format!(
                "{other:?} is not a message of the Dispatch protocol"
            )));
        }
    }
    .map_err(|e| PyValueError::new_err(format!("not a {message_type}: {e}")))?;
    Ok(PyBytes::new(py, &encoded))
}
