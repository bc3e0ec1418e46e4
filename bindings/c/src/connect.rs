//! Connect codes and error bodies, and `dispatch.sdk.v1.Status`
//! classification (`dispatch_core::connect`, `dispatch_core::status`).
//!
//! A Connect code crosses the boundary as its gRPC number (1 `canceled` to
//! 16 `unauthenticated`); a `Status` as its protobuf number.

use dispatch_core::connect::{self, Code, Codec, ErrorBody};
use dispatch_core::status::Status;

use crate::types::{
    DispatchBuffer, DispatchBytes, DispatchError, DispatchResult, DispatchStr, Failure, guard,
    out_arg,
};

/// The longest message `dispatch_connect_classify_response` and
/// `dispatch_connect_error_parse` keep; longer ones are cut on a character boundary.
pub const DISPATCH_CONNECT_MESSAGE_LEN: usize = 4096;

fn code_of(number: u32) -> Result<Code, Failure> {
    Code::from_grpc_number(number)
        .ok_or_else(|| Failure::invalid(format!("{number} is not a Connect code")))
}

fn status_of(number: i32) -> Result<Status, Failure> {
    Status::from_number(number)
        .ok_or_else(|| Failure::invalid(format!("{number} is not a dispatch.sdk.v1.Status")))
}

/// The Connect code named `name` (`"not_found"` gives 5).
///
/// # Safety
/// `name` valid for its length; `code` and `error` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_connect_code_from_name(
    name: DispatchStr,
    code: *mut u32,
    error: *mut DispatchError,
) -> DispatchResult {
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        // SAFETY: the caller's contract on `code` and `name`.
        let (out, name) = unsafe { (out_arg(code, "code")?, name.get("name")?) };
        *out = Code::from_name(name)
            .ok_or_else(|| Failure::invalid(format!("{name:?} is not a Connect code")))?
            .grpc_number();
        Ok(())
    })
}

/// The name of a Connect code (static).
///
/// # Safety
/// `name` and `error` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_connect_code_name(
    code: u32,
    name: *mut DispatchStr,
    error: *mut DispatchError,
) -> DispatchResult {
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        // SAFETY: the caller gives `name` NULL or writable.
        let out = unsafe { out_arg(name, "name") }?;
        *out = DispatchStr::of(code_of(code)?.name());
        Ok(())
    })
}

/// The HTTP status a Connect server answers with for `code` (5 → 404).
///
/// # Safety
/// `http_status` and `error` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_connect_code_http_status(
    code: u32,
    http_status: *mut u16,
    error: *mut DispatchError,
) -> DispatchResult {
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        // SAFETY: the caller gives `http_status` NULL or writable.
        let out = unsafe { out_arg(http_status, "http_status") }?;
        *out = code_of(code)?.http_status();
        Ok(())
    })
}

/// The Connect code a client infers from an HTTP status alone (404 →
/// 12 `unimplemented`, 503 → 14 `unavailable`).
///
/// # Safety
/// `code` and `error` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_connect_code_from_http_status(
    http_status: u16,
    code: *mut u32,
    error: *mut DispatchError,
) -> DispatchResult {
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        // SAFETY: the caller gives `code` NULL or writable.
        let out = unsafe { out_arg(code, "code") }?;
        *out = Code::from_http_status(http_status).grpc_number();
        Ok(())
    })
}

/// The status of an outbound HTTP call from its response status (the table
/// dispatch-py and dispatch-go share), as its number.
///
/// # Safety
/// `status` and `error` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_status_from_http_status(
    http_status: u16,
    status: *mut i32,
    error: *mut DispatchError,
) -> DispatchResult {
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        // SAFETY: the caller gives `status` NULL or writable.
        let out = unsafe { out_arg(status, "status") }?;
        *out = Status::from_http_status(http_status).number();
        Ok(())
    })
}

/// The status of a failed Connect call from its code, as its number.
///
/// # Safety
/// `status` and `error` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_status_from_connect_code(
    code: u32,
    status: *mut i32,
    error: *mut DispatchError,
) -> DispatchResult {
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        // SAFETY: the caller gives `status` NULL or writable.
        let out = unsafe { out_arg(status, "status") }?;
        *out = Status::from_connect_code(code_of(code)?).number();
        Ok(())
    })
}

/// A status's wire name (`"STATUS_TIMEOUT"`, static) and whether the
/// scheduler retries a call that ends so (`*temporary`); either output may
/// be NULL when not wanted.
///
/// # Safety
/// `name`, `temporary` and `error` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_status_describe(
    status: i32,
    name: *mut DispatchStr,
    temporary: *mut bool,
    error: *mut DispatchError,
) -> DispatchResult {
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        let status = status_of(status)?;
        // SAFETY: the caller gives `name` NULL or writable.
        if let Some(name) = unsafe { name.as_mut() } {
            *name = DispatchStr::of(status.name());
        }
        // SAFETY: the caller gives `temporary` NULL or writable.
        if let Some(temporary) = unsafe { temporary.as_mut() } {
            *temporary = status.is_temporary();
        }
        Ok(())
    })
}

/// The Connect error body `{"code":"...","message":"..."}` (the message
/// omitted when empty), escaped as JSON requires, into `*out` (owned).
///
/// # Safety
/// `message` valid for its length; `out` and `error` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_connect_error_json(
    code: u32,
    message: DispatchStr,
    out: *mut DispatchBuffer,
    error: *mut DispatchError,
) -> DispatchResult {
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        // SAFETY: the caller's contract on `out` and `message`.
        let (out, message) = unsafe { (out_arg(out, "out")?, message.get("message")?) };
        *out = DispatchBuffer::EMPTY;
        let body = ErrorBody::new(code_of(code)?, message);
        // Six bytes per message byte is the worst escaping, plus the frame.
        let mut json = vec![0u8; message.len().saturating_mul(6).saturating_add(64)];
        let n = body
            .encode_json(&mut json)
            .map_err(|e| Failure::invalid(e.to_string()))?;
        json.truncate(n);
        *out = DispatchBuffer::from_vec(json);
        Ok(())
    })
}

/// Reads a Connect error JSON body: `*code` is its code (0 when missing,
/// `null` or unknown: take it from the HTTP status), `*message` its
/// unescaped message (owned; empty when absent). Details are not surfaced.
/// `DISPATCH_RESULT_INVALID_ARGUMENT` when the body is not such JSON.
///
/// # Safety
/// `body` valid for its length; `code`, `message` and `error` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_connect_error_parse(
    body: DispatchBytes,
    code: *mut u32,
    message: *mut DispatchBuffer,
    error: *mut DispatchError,
) -> DispatchResult {
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        // SAFETY: the caller's contract on every argument.
        let (code, message, body) = unsafe {
            (
                out_arg(code, "code")?,
                out_arg(message, "message")?,
                body.get("body")?,
            )
        };
        *code = 0;
        *message = DispatchBuffer::EMPTY;
        let mut details: [u8; 0] = [];
        let decoded =
            connect::decode_error_json::<DISPATCH_CONNECT_MESSAGE_LEN>(body, &mut details)
                .map_err(|e| Failure::invalid(e.to_string()))?;
        *code = decoded.code.map_or(0, Code::grpc_number);
        *message = DispatchBuffer::from_vec(decoded.message.as_bytes().to_vec());
        Ok(())
    })
}

/// How a Connect client classifies a unary response to a request sent in
/// `request_content_type` (`application/proto` or `application/json`):
/// `*code` 0 for a success (HTTP 200 in the request's codec), else the code
/// of a valid JSON error body or the one the status implies, with the
/// body's message in `*message` (owned; empty when none).
///
/// # Safety
/// The strings and `body` valid for their lengths; `code`, `message` and
/// `error` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_connect_classify_response(
    http_status: u16,
    content_type: DispatchStr,
    body: DispatchBytes,
    request_content_type: DispatchStr,
    code: *mut u32,
    message: *mut DispatchBuffer,
    error: *mut DispatchError,
) -> DispatchResult {
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        // SAFETY: the caller's contract on every argument.
        let (code, message, content_type, body, request_content_type) = unsafe {
            (
                out_arg(code, "code")?,
                out_arg(message, "message")?,
                content_type.get("content_type")?,
                body.get("body")?,
                request_content_type.get("request_content_type")?,
            )
        };
        *code = 0;
        *message = DispatchBuffer::EMPTY;
        let codec = Codec::from_content_type(request_content_type).ok_or_else(|| {
            Failure::invalid(format!(
                "{request_content_type:?} is not a Connect unary content type"
            ))
        })?;
        let mut details: [u8; 0] = [];
        if let Err(refused) = connect::classify_response::<DISPATCH_CONNECT_MESSAGE_LEN>(
            codec,
            http_status,
            content_type,
            body,
            &mut details,
        ) {
            *code = refused.code.grpc_number();
            *message = DispatchBuffer::from_vec(refused.message.as_bytes().to_vec());
        }
        Ok(())
    })
}
