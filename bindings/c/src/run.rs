//! The Run RPC (`POST /dispatch.sdk.v1.FunctionService/Run`) as the core
//! decides it (`dispatch_core::run`), for a C host that moves the bytes.
//!
//! Binary protobuf only: the core lends no JSON codec and this crate brings
//! none, so `application/json` is refused with 415 and `Accept-Post:
//! application/proto` (the core's own answer for a host without a codec).

use dispatch_core::connect::Codec;
use dispatch_core::proto::sdk::v1 as pb;
use dispatch_core::run::{self, BodyCheck};
use dispatch_core::signature::{self, Policy};
use prost::Message;

use crate::keys::{DispatchVerificationKey, into_handle};
use crate::types::{
    DispatchBuffer, DispatchBytes, DispatchError, DispatchPolicy, DispatchRefusal, DispatchRequest,
    DispatchResult, DispatchStr, Failure, View, clear_refusal, guard, in_arg, out_arg, slice_arg,
    write_refusal,
};

/// The core's default body limit, 16 MB (as dispatch-py).
pub const DISPATCH_DEFAULT_BODY_LIMIT: usize = 16_000_000;
// A literal, so that the header can state it; the core's value rules.
const _: () = assert!(DISPATCH_DEFAULT_BODY_LIMIT == run::DEFAULT_BODY_LIMIT);

/// The Run RPC's settings: the verification key (none: requests are not
/// verified), the body limit and the signature policy. Immutable: one
/// handle may serve many threads at once. Freed by `dispatch_run_rpc_free`.
pub struct DispatchRunRpc {
    key: Option<ed25519_dalek::VerifyingKey>,
    policy: Policy,
    body_limit: usize,
}

/// Where an exchange stands.
enum Stage {
    /// The head passed; the body is being read.
    Body(BodyCheck),
    /// The request was accepted.
    Accepted(pb::RunRequest),
    /// A step refused (or a previous step failed): nothing more to do.
    Done,
}

/// One Run request being handled, from an accepted head to its answer:
/// `dispatch_run_exchange_update` for every body chunk,
/// `dispatch_run_exchange_finish`, `dispatch_run_check_function`,
/// `dispatch_run_encode_response`; freed by `dispatch_run_exchange_free`.
/// One thread at a time.
pub struct DispatchRunExchange {
    rpc: run::RunRpc<'static>,
    codec: Codec,
    body: Vec<u8>,
    stage: Stage,
}

/// What an accepted head tells the host.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DispatchRunHead {
    /// The request's content type, which is also the answer's (static).
    pub content_type: DispatchStr,
    /// Whether the client set a deadline (`Connect-Timeout-Ms`).
    pub has_timeout: bool,
    /// The deadline in milliseconds, when `has_timeout`.
    pub timeout_ms: u64,
    /// Whether the request declared a `Content-Length`.
    pub has_content_length: bool,
    /// The declared length (already within the body limit).
    pub content_length: u64,
}

/// An accepted Run request; every string and the body borrow the exchange
/// and stay valid until it is freed.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DispatchRunCall {
    /// The function's name.
    pub function: DispatchStr,
    /// The call's dispatch id.
    pub dispatch_id: DispatchStr,
    /// The dispatch id of the call that made this one (empty at the root).
    pub parent_dispatch_id: DispatchStr,
    /// The dispatch id of the root of this call's tree.
    pub root_dispatch_id: DispatchStr,
    /// Whether this call resumes a suspended function (a poll result)
    /// rather than starting it (an input).
    pub is_poll_result: bool,
    /// The request body as received: a `dispatch.sdk.v1.RunRequest` in
    /// binary protobuf, for the host's own decoder.
    pub run_request: DispatchBytes,
}

/// The answer to a function's response; `body` is owned: free it with
/// `dispatch_run_answer_free`.
#[repr(C)]
#[derive(Debug)]
pub struct DispatchRunAnswer {
    /// The HTTP status (200: a function's failure travels in the body).
    pub http_status: u16,
    /// The `Content-Type` to send (static).
    pub content_type: DispatchStr,
    /// Whether the function's response was invalid and the core replaced it
    /// by the function's own `STATUS_INVALID_RESPONSE` failure (worth a log line).
    pub output_replaced: bool,
    /// The `RunResponse` to send, binary protobuf.
    pub body: DispatchBuffer,
}

/// Makes the Run RPC's settings: `key` NULL to accept unsigned requests
/// (the handle keeps its own copy of the key), `body_limit` 0 for the
/// default, `policy` NULL for the default policy.
///
/// # Safety
/// `key` is NULL or live; `policy` NULL or readable; `out` and `error` NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_run_rpc_new(
    key: *const DispatchVerificationKey,
    body_limit: usize,
    policy: *const DispatchPolicy,
    out: *mut *mut DispatchRunRpc,
    error: *mut DispatchError,
) -> DispatchResult {
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        // SAFETY: the caller's contract on every argument.
        let (out, key, policy) = unsafe {
            (
                out_arg(out, "out")?,
                key.as_ref().map(|k| k.key),
                policy.as_ref().copied(),
            )
        };
        *out = into_handle(DispatchRunRpc {
            key,
            policy: policy.map(|p| p.core()).unwrap_or_default(),
            body_limit: if body_limit == 0 {
                run::DEFAULT_BODY_LIMIT
            } else {
                body_limit
            },
        });
        Ok(())
    })
}

/// Frees the Run RPC's settings; NULL is accepted. Exchanges made from it
/// stay valid.
///
/// # Safety
/// `rpc` is NULL or a live handle, not used again (by any thread) after this call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_run_rpc_free(rpc: *mut DispatchRunRpc) -> DispatchResult {
    guard(None, || {
        if !rpc.is_null() {
            // SAFETY: a non-NULL `rpc` came from `into_handle`, freed once.
            drop(unsafe { Box::from_raw(rpc) });
        }
        Ok(())
    })
}

/// Step 1 and 2a: checks the head in the core's order (path, `POST`,
/// `Connect-Protocol-Version`, `Content-Encoding`, `Content-Type`,
/// `Connect-Timeout-Ms`, `Content-Length`), then the signature when the RPC
/// has a key (`now` in Unix seconds). On `DISPATCH_RESULT_OK`, `*head` is
/// written and `*out` is a new exchange waiting for the body; on
/// `DISPATCH_RESULT_REFUSED`, `*out` is NULL and `*refusal` is the answer.
///
/// # Safety
/// `rpc` NULL or live; `request` NULL or a valid request; `head`, `out`,
/// `refusal` and `error` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_run_check_head(
    rpc: *const DispatchRunRpc,
    request: *const DispatchRequest,
    now: i64,
    head: *mut DispatchRunHead,
    out: *mut *mut DispatchRunExchange,
    refusal: *mut DispatchRefusal,
    error: *mut DispatchError,
) -> DispatchResult {
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        // SAFETY: the caller's contract on every argument.
        let (out, head_out, refusal, rpc, view) = unsafe {
            let out = out_arg(out, "out")?;
            *out = core::ptr::null_mut();
            (
                out,
                out_arg(head, "head")?,
                out_arg(refusal, "refusal")?,
                in_arg(rpc, "rpc")?,
                View::new(in_arg(request, "request")?)?,
            )
        };
        clear_refusal(refusal);
        let core = run::RunRpc::new().body_limit(rpc.body_limit);
        let head = core
            .check_head(&view)
            .map_err(|r| write_refusal(refusal, &r))?;
        let verified = match &rpc.key {
            Some(key) => Some(
                signature::verify_headers(&view, key, now, &rpc.policy)
                    .map_err(|e| write_refusal(refusal, &run::Refusal::Signature(e)))?,
            ),
            None => None,
        };
        *head_out = DispatchRunHead {
            content_type: DispatchStr::of(head.codec.content_type()),
            has_timeout: head.timeout.is_some(),
            timeout_ms: head
                .timeout
                .map_or(0, |t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
            has_content_length: head.content_length.is_some(),
            content_length: head.content_length.unwrap_or(0),
        };
        *out = into_handle(DispatchRunExchange {
            rpc: core,
            codec: head.codec,
            body: Vec::new(),
            stage: Stage::Body(core.body_check(verified)),
        });
        Ok(())
    })
}

fn bad_state(what: &str) -> Failure {
    Failure::new(DispatchResult::BadState, what.to_owned())
}

/// Step 2b: the next chunk of the body, checked against the body limit
/// (413) and hashed for the `Content-Digest`, then kept by the exchange.
/// After a refusal the exchange can only be freed.
///
/// # Safety
/// `exchange` NULL or live, not used by another thread during the call;
/// `chunk` valid for `chunk_len` bytes (or NULL with 0); `refusal` and
/// `error` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_run_exchange_update(
    exchange: *mut DispatchRunExchange,
    chunk: *const u8,
    chunk_len: usize,
    refusal: *mut DispatchRefusal,
    error: *mut DispatchError,
) -> DispatchResult {
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        // SAFETY: the caller's contract on every argument.
        let (exchange, chunk, refusal) = unsafe {
            (
                out_arg(exchange, "exchange")?,
                slice_arg(chunk, chunk_len, "chunk")?,
                out_arg(refusal, "refusal")?,
            )
        };
        clear_refusal(refusal);
        let Stage::Body(check) = &mut exchange.stage else {
            return Err(bad_state("the exchange is not reading a body"));
        };
        if let Err(refused) = check.update(chunk) {
            exchange.stage = Stage::Done;
            return Err(write_refusal(refusal, &refused));
        }
        exchange.body.extend_from_slice(chunk);
        Ok(())
    })
}

/// Steps 2c and 3: the end of the body (its `Content-Digest`), then the
/// `RunRequest` itself (decoded, naming a function, with an input or a poll
/// result). On `DISPATCH_RESULT_OK`, `*call` borrows the exchange.
///
/// # Safety
/// `exchange` NULL or live, not used by another thread during the call;
/// `call`, `refusal` and `error` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_run_exchange_finish(
    exchange: *mut DispatchRunExchange,
    call: *mut DispatchRunCall,
    refusal: *mut DispatchRefusal,
    error: *mut DispatchError,
) -> DispatchResult {
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        // SAFETY: the caller's contract on every argument.
        let (exchange, call, refusal) = unsafe {
            (
                out_arg(exchange, "exchange")?,
                out_arg(call, "call")?,
                out_arg(refusal, "refusal")?,
            )
        };
        clear_refusal(refusal);
        let Stage::Body(check) = core::mem::replace(&mut exchange.stage, Stage::Done) else {
            return Err(bad_state("the exchange is not reading a body"));
        };
        check.finish().map_err(|r| write_refusal(refusal, &r))?;
        let request = exchange
            .rpc
            .decode_request(exchange.codec, &exchange.body)
            .map_err(|r| write_refusal(refusal, &r))?;
        exchange.stage = Stage::Accepted(request);
        let Stage::Accepted(request) = &exchange.stage else {
            return Err(bad_state("unreachable"));
        };
        *call = DispatchRunCall {
            function: DispatchStr::of(&request.function),
            dispatch_id: DispatchStr::of(&request.dispatch_id),
            parent_dispatch_id: DispatchStr::of(&request.parent_dispatch_id),
            root_dispatch_id: DispatchStr::of(&request.root_dispatch_id),
            is_poll_result: matches!(
                request.directive,
                Some(pb::run_request::Directive::PollResult(_))
            ),
            run_request: DispatchBytes {
                ptr: exchange.body.as_ptr(),
                len: exchange.body.len(),
            },
        };
        Ok(())
    })
}

/// Step 4: the host's answer to "is the call's function registered":
/// `DISPATCH_RESULT_OK` when `registered`, else `DISPATCH_RESULT_REFUSED`
/// with the 404 `not_found` answer in `*refusal`.
///
/// # Safety
/// `exchange` NULL or live; `refusal` and `error` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_run_check_function(
    exchange: *const DispatchRunExchange,
    registered: bool,
    refusal: *mut DispatchRefusal,
    error: *mut DispatchError,
) -> DispatchResult {
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        // SAFETY: the caller's contract on every argument.
        let (exchange, refusal) =
            unsafe { (in_arg(exchange, "exchange")?, out_arg(refusal, "refusal")?) };
        clear_refusal(refusal);
        let Stage::Accepted(request) = &exchange.stage else {
            return Err(bad_state("the exchange has no accepted request"));
        };
        run::check_function(request, registered).map_err(|r| write_refusal(refusal, &r))
    })
}

/// Step 5: the answer for the function's `RunResponse` (binary protobuf):
/// the core checks it (an invalid one becomes the function's own
/// `STATUS_INVALID_RESPONSE` failure) and encodes it in the request's codec.
/// `DISPATCH_RESULT_INVALID_ARGUMENT` when `response` is not a `RunResponse`.
///
/// # Safety
/// `exchange` NULL or live; `response` valid for `response_len` bytes (or
/// NULL with 0); `out` and `error` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_run_encode_response(
    exchange: *const DispatchRunExchange,
    response: *const u8,
    response_len: usize,
    out: *mut DispatchRunAnswer,
    error: *mut DispatchError,
) -> DispatchResult {
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        // SAFETY: the caller's contract on every argument.
        let (exchange, response, out) = unsafe {
            let out = out_arg(out, "out")?;
            *out = DispatchRunAnswer {
                http_status: 0,
                content_type: DispatchStr::EMPTY,
                output_replaced: false,
                body: DispatchBuffer::EMPTY,
            };
            (
                in_arg(exchange, "exchange")?,
                slice_arg(response, response_len, "response")?,
                out,
            )
        };
        if !matches!(exchange.stage, Stage::Accepted(_)) {
            return Err(bad_state("the exchange has no accepted request"));
        }
        let response = pb::RunResponse::decode(response)
            .map_err(|e| Failure::invalid(format!("not a RunResponse: {e}")))?;
        let mut body = Vec::new();
        let head = exchange
            .rpc
            .encode_response(exchange.codec, response, &mut body);
        *out = DispatchRunAnswer {
            http_status: head.status,
            content_type: DispatchStr::of(head.content_type),
            output_replaced: head.output_replaced,
            body: DispatchBuffer::from_vec(body),
        };
        Ok(())
    })
}

/// Frees an answer's body and empties it; NULL is accepted.
///
/// # Safety
/// `answer` is NULL or was filled by `dispatch_run_encode_response` (or zeroed).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_run_answer_free(
    answer: *mut DispatchRunAnswer,
) -> DispatchResult {
    guard(None, || {
        // SAFETY: the caller gives `answer` NULL or filled by the library.
        if let Some(answer) = unsafe { answer.as_mut() } {
            answer.body.free();
        }
        Ok(())
    })
}

/// Frees an exchange (and what its `DispatchRunCall` borrowed); NULL is accepted.
///
/// # Safety
/// `exchange` is NULL or a live handle, not used again after this call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_run_exchange_free(
    exchange: *mut DispatchRunExchange,
) -> DispatchResult {
    guard(None, || {
        if !exchange.is_null() {
            // SAFETY: a non-NULL `exchange` came from `into_handle`, freed once.
            drop(unsafe { Box::from_raw(exchange) });
        }
        Ok(())
    })
}
