//! The protocol's messages as binary protobuf: decoded by the core's own
//! types and encoded again, so a host can check bytes it made.

use dispatch_core::proto::sdk::v1 as pb;
use prost::Message;

use crate::types::{
    DispatchBuffer, DispatchBytes, DispatchError, DispatchResult, DispatchStr, Failure, guard,
    out_arg,
};

/// Decodes `data` as the binary protobuf of `message_type` (a full name:
/// `dispatch.sdk.v1.RunRequest`, `RunResponse`, `Error`, `Call`,
/// `CallResult`, `Exit`, `Poll`, `PollResult`, `DispatchRequest`,
/// `DispatchResponse`, or `google.protobuf.Any`) and encodes it again into
/// `*out` (owned): canonical bytes, fields in number order.
/// `DISPATCH_RESULT_INVALID_ARGUMENT` for another type or bytes that are
/// not that message.
///
/// # Safety
/// `message_type` and `data` valid for their lengths; `out` and `error`
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_message_reencode(
    message_type: DispatchStr,
    data: DispatchBytes,
    out: *mut DispatchBuffer,
    error: *mut DispatchError,
) -> DispatchResult {
    fn again<M: Message + Default>(data: &[u8]) -> Result<Vec<u8>, prost::DecodeError> {
        M::decode(data).map(|m| m.encode_to_vec())
    }
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        // SAFETY: the caller's contract on every argument.
        let (out, message_type, data) = unsafe {
            (
                out_arg(out, "out")?,
                message_type.get("message_type")?,
                data.get("data")?,
            )
        };
        *out = DispatchBuffer::EMPTY;
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
                return Err(Failure::invalid(format!(
                    "{other:?} is not a message of the Dispatch protocol"
                )));
            }
        }
        .map_err(|e| Failure::invalid(format!("not a {message_type}: {e}")))?;
        *out = DispatchBuffer::from_vec(encoded);
        Ok(())
    })
}
