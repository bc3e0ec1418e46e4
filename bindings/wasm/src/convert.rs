//! The Run RPC's messages as plain JavaScript objects, both ways.
//!
//! Field names are the proto3 JSON names (camelCase); `bytes` are
//! `Uint8Array`s; 64-bit integers are `BigInt`s out and a `BigInt` or a
//! safe integer `Number` in; an `Any` is `{typeUrl, value}`; a `Timestamp`
//! or `Duration` is `{seconds, nanos}`; absent messages are `undefined`.
//! A `RunResponse`'s `status` is a number or a `STATUS_*` name.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use dispatch_core::proto::sdk::v1 as pb;
use dispatch_core::status::Status;
use js_sys::{Array, BigInt, Object, Reflect, Uint8Array};
use prost_types::Any;
use wasm_bindgen::prelude::*;

use crate::refusal::set;
use crate::signing;

type Read<T> = Result<T, JsError>;

fn bytes(value: &[u8]) -> JsValue {
    Uint8Array::from(value).into()
}

fn any_to_js(any: &Any) -> JsValue {
    let out = Object::new();
    set(&out, "typeUrl", any.type_url.as_str());
    set(&out, "value", bytes(&any.value));
    out.into()
}

fn seconds_nanos(seconds: i64, nanos: i32) -> JsValue {
    let out = Object::new();
    set(&out, "seconds", BigInt::from(seconds));
    set(&out, "nanos", nanos);
    out.into()
}

fn opt<T>(value: Option<&T>, to_js: impl Fn(&T) -> JsValue) -> JsValue {
    value.map_or(JsValue::UNDEFINED, to_js)
}

fn error_to_js(error: &pb::Error) -> JsValue {
    let out = Object::new();
    set(&out, "type", error.r#type.as_str());
    set(&out, "message", error.message.as_str());
    set(&out, "value", bytes(&error.value));
    set(&out, "traceback", bytes(&error.traceback));
    out.into()
}

fn call_result_to_js(result: &pb::CallResult) -> JsValue {
    let out = Object::new();
    set(&out, "correlationId", BigInt::from(result.correlation_id));
    set(&out, "output", opt(result.output.as_ref(), any_to_js));
    set(&out, "error", opt(result.error.as_ref(), error_to_js));
    set(&out, "dispatchId", result.dispatch_id.as_str());
    out.into()
}

fn call_to_js(call: &pb::Call) -> JsValue {
    let out = Object::new();
    set(&out, "correlationId", BigInt::from(call.correlation_id));
    set(&out, "endpoint", call.endpoint.as_str());
    set(&out, "function", call.function.as_str());
    set(&out, "input", opt(call.input.as_ref(), any_to_js));
    set(
        &out,
        "expiration",
        opt(call.expiration.as_ref(), |d| {
            seconds_nanos(d.seconds, d.nanos)
        }),
    );
    set(&out, "version", call.version.as_str());
    out.into()
}

/// A `RunRequest` as a plain object: `{function, dispatchId,
/// parentDispatchId, rootDispatchId, creationTime, expirationTime}` and
/// either `input` (an Any) or `pollResult` (`{coroutineState,
/// typedCoroutineState, results, error}`).
pub(crate) fn run_request_to_js(request: &pb::RunRequest) -> JsValue {
    use pb::run_request::Directive;
    let out = Object::new();
    set(&out, "function", request.function.as_str());
    set(&out, "dispatchId", request.dispatch_id.as_str());
    set(
        &out,
        "parentDispatchId",
        request.parent_dispatch_id.as_str(),
    );
    set(&out, "rootDispatchId", request.root_dispatch_id.as_str());
    let time = |t: &prost_types::Timestamp| seconds_nanos(t.seconds, t.nanos);
    set(
        &out,
        "creationTime",
        opt(request.creation_time.as_ref(), time),
    );
    set(
        &out,
        "expirationTime",
        opt(request.expiration_time.as_ref(), time),
    );
    match &request.directive {
        Some(Directive::Input(input)) => set(&out, "input", any_to_js(input)),
        Some(Directive::PollResult(result)) => {
            use pb::poll_result::State;
            let poll = Object::new();
            match &result.state {
                Some(State::CoroutineState(state)) => set(&poll, "coroutineState", bytes(state)),
                Some(State::TypedCoroutineState(state)) => {
                    set(&poll, "typedCoroutineState", any_to_js(state))
                }
                None => {}
            }
            let results: Array = result.results.iter().map(call_result_to_js).collect();
            set(&poll, "results", results);
            set(&poll, "error", opt(result.error.as_ref(), error_to_js));
            set(&out, "pollResult", poll);
        }
        None => {}
    }
    out.into()
}

/// A `RunResponse` as a plain object, the shape [`run_response_from_js`]
/// reads (status as its number).
pub(crate) fn run_response_to_js(response: &pb::RunResponse) -> JsValue {
    use pb::run_response::Directive;
    let out = Object::new();
    set(&out, "status", response.status);
    match &response.directive {
        Some(Directive::Exit(exit)) => {
            let e = Object::new();
            set(&e, "result", opt(exit.result.as_ref(), call_result_to_js));
            set(&e, "tailCall", opt(exit.tail_call.as_ref(), call_to_js));
            set(&out, "exit", e);
        }
        Some(Directive::Poll(poll)) => {
            use pb::poll::State;
            let p = Object::new();
            match &poll.state {
                Some(State::CoroutineState(state)) => set(&p, "coroutineState", bytes(state)),
                Some(State::TypedCoroutineState(state)) => {
                    set(&p, "typedCoroutineState", any_to_js(state))
                }
                None => {}
            }
            let calls: Array = poll.calls.iter().map(call_to_js).collect();
            set(&p, "calls", calls);
            set(
                &p,
                "maxWait",
                opt(poll.max_wait.as_ref(), |d| {
                    seconds_nanos(d.seconds, d.nanos)
                }),
            );
            set(&p, "maxResults", poll.max_results);
            set(&p, "minResults", poll.min_results);
            set(&out, "poll", p);
        }
        None => {}
    }
    out.into()
}

// ---------------------------------------------------------------------------
// From JavaScript

/// `object[name]`, `undefined` and `null` as `None`.
fn field(object: &JsValue, name: &str) -> Option<JsValue> {
    Reflect::get(object, &JsValue::from_str(name))
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

fn wrong(path: &str, what: &str) -> JsError {
    JsError::new(&format!("{path} must be {what}"))
}

fn object_at(value: JsValue, path: &str) -> Read<JsValue> {
    if value.is_object() {
        Ok(value)
    } else {
        Err(wrong(path, "an object"))
    }
}

fn string_at(object: &JsValue, name: &str, path: &str) -> Read<String> {
    match field(object, name) {
        None => Ok(String::new()),
        Some(v) => v
            .as_string()
            .ok_or_else(|| wrong(&format!("{path}.{name}"), "a string")),
    }
}

fn bytes_at(object: &JsValue, name: &str, path: &str) -> Read<Option<Vec<u8>>> {
    match field(object, name) {
        None => Ok(None),
        Some(v) => v
            .dyn_into::<Uint8Array>()
            .map(|a| Some(a.to_vec()))
            .map_err(|_| wrong(&format!("{path}.{name}"), "a Uint8Array")),
    }
}

/// An integer field: a `BigInt`, or a `Number` that is a safe integer.
fn integer_at(object: &JsValue, name: &str, path: &str) -> Read<Option<i128>> {
    let Some(v) = field(object, name) else {
        return Ok(None);
    };
    let path = format!("{path}.{name}");
    if v.is_bigint() {
        return i128::try_from(v)
            .map(Some)
            .map_err(|_| wrong(&path, "an integer"));
    }
    match v.as_f64().and_then(signing::safe_integer) {
        Some(n) => Ok(Some(i128::from(n))),
        _ => Err(wrong(
            &path,
            "an integer (a BigInt or a safe integer Number)",
        )),
    }
}

fn int_in<T: TryFrom<i128>>(object: &JsValue, name: &str, path: &str) -> Read<T> {
    let value = integer_at(object, name, path)?.unwrap_or(0);
    T::try_from(value).map_err(|_| wrong(&format!("{path}.{name}"), "in range"))
}

fn message_at<T>(
    object: &JsValue,
    name: &str,
    path: &str,
    read: impl Fn(&JsValue, &str) -> Read<T>,
) -> Read<Option<T>> {
    match field(object, name) {
        None => Ok(None),
        Some(v) => {
            let path = format!("{path}.{name}");
            read(&object_at(v, &path)?, &path).map(Some)
        }
    }
}

fn list_at<T>(
    object: &JsValue,
    name: &str,
    path: &str,
    read: impl Fn(&JsValue, &str) -> Read<T>,
) -> Read<Vec<T>> {
    let Some(v) = field(object, name) else {
        return Ok(Vec::new());
    };
    let path = format!("{path}.{name}");
    let array = v
        .dyn_into::<Array>()
        .map_err(|_| wrong(&path, "an array"))?;
    array
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let path = format!("{path}[{i}]");
            read(&object_at(item, &path)?, &path)
        })
        .collect()
}

pub(crate) fn any_from_js(object: &JsValue, path: &str) -> Read<Any> {
    Ok(Any {
        type_url: string_at(object, "typeUrl", path)?,
        value: bytes_at(object, "value", path)?.unwrap_or_default(),
    })
}

fn duration_from_js(object: &JsValue, path: &str) -> Read<prost_types::Duration> {
    Ok(prost_types::Duration {
        seconds: int_in(object, "seconds", path)?,
        nanos: int_in(object, "nanos", path)?,
    })
}

fn error_from_js(object: &JsValue, path: &str) -> Read<pb::Error> {
    Ok(pb::Error {
        r#type: string_at(object, "type", path)?,
        message: string_at(object, "message", path)?,
        value: bytes_at(object, "value", path)?.unwrap_or_default(),
        traceback: bytes_at(object, "traceback", path)?.unwrap_or_default(),
    })
}

fn call_result_from_js(object: &JsValue, path: &str) -> Read<pb::CallResult> {
    Ok(pb::CallResult {
        correlation_id: int_in(object, "correlationId", path)?,
        output: message_at(object, "output", path, any_from_js)?,
        error: message_at(object, "error", path, error_from_js)?,
        dispatch_id: string_at(object, "dispatchId", path)?,
    })
}

fn call_from_js(object: &JsValue, path: &str) -> Read<pb::Call> {
    Ok(pb::Call {
        correlation_id: int_in(object, "correlationId", path)?,
        endpoint: string_at(object, "endpoint", path)?,
        function: string_at(object, "function", path)?,
        input: message_at(object, "input", path, any_from_js)?,
        expiration: message_at(object, "expiration", path, duration_from_js)?,
        version: string_at(object, "version", path)?,
    })
}

fn exit_from_js(object: &JsValue, path: &str) -> Read<pb::Exit> {
    Ok(pb::Exit {
        result: message_at(object, "result", path, call_result_from_js)?,
        tail_call: message_at(object, "tailCall", path, call_from_js)?,
    })
}

fn poll_from_js(object: &JsValue, path: &str) -> Read<pb::Poll> {
    use pb::poll::State;
    let coroutine = bytes_at(object, "coroutineState", path)?;
    let typed = message_at(object, "typedCoroutineState", path, any_from_js)?;
    let state = match (coroutine, typed) {
        (Some(_), Some(_)) => {
            return Err(JsError::new(&format!(
                "{path} has both coroutineState and typedCoroutineState (one of them at most)"
            )));
        }
        (Some(bytes), None) => Some(State::CoroutineState(bytes)),
        (None, Some(any)) => Some(State::TypedCoroutineState(any)),
        (None, None) => None,
    };
    Ok(pb::Poll {
        state,
        calls: list_at(object, "calls", path, call_from_js)?,
        max_wait: message_at(object, "maxWait", path, duration_from_js)?,
        max_results: int_in(object, "maxResults", path)?,
        min_results: int_in(object, "minResults", path)?,
    })
}

/// A `RunResponse` from its plain object: `status` (a number or a
/// `STATUS_*` name) and `exit` or `poll` (one at most). Throws a `TypeError`
/// naming the field that is not of its type.
pub(crate) fn run_response_from_js(object: &JsValue) -> Read<pb::RunResponse> {
    use pb::run_response::Directive;
    let path = "response";
    let object = object_at(object.clone(), path)?;
    let status = match field(&object, "status") {
        None => 0,
        Some(v) => match v.as_string() {
            Some(name) => Status::from_name(&name)
                .ok_or_else(|| JsError::new(&format!("\"{name}\" is not a Status name")))?
                .number(),
            None => int_in(&object, "status", path)?,
        },
    };
    let exit = message_at(&object, "exit", path, exit_from_js)?;
    let poll = message_at(&object, "poll", path, poll_from_js)?;
    let directive = match (exit, poll) {
        (Some(_), Some(_)) => {
            return Err(JsError::new(
                "response has both exit and poll (one of them at most)",
            ));
        }
        (Some(exit), None) => Some(Directive::Exit(exit)),
        (None, Some(poll)) => Some(Directive::Poll(poll)),
        (None, None) => None,
    };
    Ok(pb::RunResponse { status, directive })
}
