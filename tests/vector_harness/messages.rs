//! Protobuf message vectors: binary round trips, proto3 JSON both ways, and the
//! bodies of recorded HTTP exchanges.
//!
//! For each message vector: `binary_hex` decodes as `message_type` and
//! re-encodes byte-identical; its JSON encoding equals `json` as a JSON value
//! (see [`json_difference`]); `json`, `json_proto_names` and `json_text` all
//! decode to the same message. Vectors flagged `contains_struct_map` hold a
//! `google.protobuf.Struct` whose map order an encoder need not reproduce, so
//! messages decoded from their JSON are compared as JSON values.

use core::fmt::Debug;

use dispatch_core::connect::{Code, CodeSource, Codec, classify_response};
use dispatch_proto::prost::{Message, Name};
use dispatch_proto::prost_types::Any;
use dispatch_proto::sdk::python::v1::Pickled;
use dispatch_proto::sdk::v1::{
    Call, CallResult, DispatchRequest, DispatchResponse, Error, Exit, Poll, PollResult, RunRequest,
    RunResponse, Status, poll, run_response,
};
use dispatch_std::json;
use serde_json::Value;

/// The categories this module runs.
pub const CATEGORIES: &[&str] = &[
    "status",
    "any",
    "error",
    "call",
    "call_result",
    "exit",
    "poll",
    "poll_result",
    "run_request",
    "run_response",
    "dispatch_request",
    "dispatch_response",
    "client_http",
    "endpoint_http",
];

/// The message type every vector of a message category holds.
const CATEGORY_TYPES: &[(&str, &str)] = &[
    ("status", "dispatch.sdk.v1.RunResponse"),
    ("any", "google.protobuf.Any"),
    ("error", "dispatch.sdk.v1.Error"),
    ("call", "dispatch.sdk.v1.Call"),
    ("call_result", "dispatch.sdk.v1.CallResult"),
    ("exit", "dispatch.sdk.v1.Exit"),
    ("poll", "dispatch.sdk.v1.Poll"),
    ("poll_result", "dispatch.sdk.v1.PollResult"),
    ("run_request", "dispatch.sdk.v1.RunRequest"),
    ("run_response", "dispatch.sdk.v1.RunResponse"),
    ("dispatch_request", "dispatch.sdk.v1.DispatchRequest"),
    ("dispatch_response", "dispatch.sdk.v1.DispatchResponse"),
];

/// The fields every protobuf message vector may carry.
const MESSAGE_FIELDS: &[&str] = &[
    "id",
    "category",
    "description",
    "message_type",
    "binary_hex",
    "binary_len",
    "json",
    "json_proto_names",
    "json_text",
    "origin",
    "notes",
    "contains_struct_map",
];

/// The extra fields of some categories. `python_status` (the Status
/// dispatch-py gives an error of that type) is in the error vectors,
/// though not in the README's table.
const EXTRA_FIELDS: &[(&str, &[&str])] = &[
    (
        "status",
        &[
            "status_name",
            "status_number",
            "python_enum",
            "go_const",
            "temporary",
            "doc",
        ],
    ),
    (
        "any",
        &[
            "python_value_repr",
            "type_url",
            "inner_value_hex",
            "unmarshal_any_repr",
            "roundtrips_in_python",
        ],
    ),
    ("error", &["python_status"]),
];

type Check = Result<(), String>;

/// Fails on a field not in `known`.
pub fn only_known(v: &Value, known: &[&str], what: &str) -> Check {
    let obj = v
        .as_object()
        .ok_or_else(|| format!("{what} is not an object"))?;
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(format!("{what}: unknown field {k:?}")),
        None => Ok(()),
    }
}

pub fn run(category: &str, vectors: &[Value], tally: &mut super::Tally) {
    for v in vectors {
        let id = v.get("id").and_then(Value::as_str).unwrap_or("?");
        tally.ran(category);
        let outcome = match category {
            "client_http" => client_http(v),
            "endpoint_http" => endpoint_http(v),
            _ => message_vector(category, v),
        };
        if let Err(why) = outcome {
            tally.fail(id, &why);
        }
    }
}

/// What every generated message (and `Any`) offers that the checks need.
trait Checked: Message + Default + Name + PartialEq + Debug {}
impl<M: Message + Default + Name + PartialEq + Debug> Checked for M {}

fn message_vector(category: &str, v: &Value) -> Check {
    let extras = EXTRA_FIELDS
        .iter()
        .find(|(c, _)| *c == category)
        .map_or(&[][..], |(_, fields)| *fields);
    let known: Vec<&str> = MESSAGE_FIELDS.iter().chain(extras).copied().collect();
    only_known(v, &known, "vector")?;
    str_at(v, "origin")?;
    // Caveats: a string or a list of strings.
    let is_text =
        |n: &Value| n.is_string() || n.as_array().is_some_and(|l| l.iter().all(Value::is_string));
    if v.get("notes").is_some_and(|n| !is_text(n)) {
        return Err("notes is neither a string nor a list of strings".into());
    }
    if v.get("contains_struct_map")
        .is_some_and(|n| !n.is_boolean())
    {
        return Err("contains_struct_map is not a boolean".into());
    }
    let message_type = str_at(v, "message_type")?;
    let expected_type = CATEGORY_TYPES
        .iter()
        .find(|(c, _)| *c == category)
        .map(|(_, t)| *t);
    if expected_type != Some(message_type) {
        return Err(format!(
            "message_type {message_type:?} is not the type of category {category:?}"
        ));
    }
    match message_type {
        "dispatch.sdk.v1.RunResponse" => {
            let response = check_message::<RunResponse>(v)?;
            if category == "status" {
                check_status_extras(v, &response)?;
            }
            Ok(())
        }
        "google.protobuf.Any" => check_any_extras(v, &check_message::<Any>(v)?),
        "dispatch.sdk.v1.Error" => {
            check_message::<Error>(v)?;
            match v.get("python_status") {
                None | Some(Value::Null) => Ok(()),
                Some(Value::String(name))
                    if dispatch_core::status::Status::from_name(&format!("STATUS_{name}"))
                        .is_some() =>
                {
                    Ok(())
                }
                Some(other) => Err(format!("python_status {other} is not a Status name")),
            }
        }
        "dispatch.sdk.v1.Call" => check_message::<Call>(v).map(drop),
        "dispatch.sdk.v1.CallResult" => check_message::<CallResult>(v).map(drop),
        "dispatch.sdk.v1.Exit" => check_message::<Exit>(v).map(drop),
        "dispatch.sdk.v1.Poll" => check_message::<Poll>(v).map(drop),
        "dispatch.sdk.v1.PollResult" => check_message::<PollResult>(v).map(drop),
        "dispatch.sdk.v1.RunRequest" => check_message::<RunRequest>(v).map(drop),
        "dispatch.sdk.v1.DispatchRequest" => check_message::<DispatchRequest>(v).map(drop),
        "dispatch.sdk.v1.DispatchResponse" => check_message::<DispatchResponse>(v).map(drop),
        other => Err(format!("unknown message_type {other:?}")),
    }
    // `doc`, `notes` and `origin` are prose, read as strings.
}

/// Runs every check of a message vector; returns the binary-decoded message.
fn check_message<M: Checked>(v: &Value) -> Result<M, String> {
    let struct_map = v
        .get("contains_struct_map")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let bytes = hex_at(v, "binary_hex")?;
    let len = at(v, "binary_len")?;
    if len.as_u64() != Some(bytes.len() as u64) {
        return Err(format!("binary_len {len} but {} bytes", bytes.len()));
    }
    let message = check_binary::<M>(&bytes)?;
    check_json_both_ways(&message, at(v, "json")?, struct_map)?;
    let from_proto_names: M = json::from_json(at(v, "json_proto_names")?)
        .map_err(|e| format!("JSON decode of json_proto_names: {e}"))?;
    same_message(&from_proto_names, &message, struct_map)
        .map_err(|why| format!("json_proto_names decodes to another message: {why}"))?;
    let from_text: M = json::from_json_str(str_at(v, "json_text")?)
        .map_err(|e| format!("JSON decode of json_text: {e}"))?;
    same_message(&from_text, &message, struct_map)
        .map_err(|why| format!("json_text decodes to another message: {why}"))?;
    Ok(message)
}

/// Decodes `bytes` as `M` and checks that it re-encodes to the same bytes.
///
/// No exception for Struct maps here: an `Any`'s value is opaque bytes to the
/// binary codec, so a Struct inside one is carried through, never
/// re-serialized. (JSON decoding does rebuild it; see [`same_message`].)
fn check_binary<M: Checked>(bytes: &[u8]) -> Result<M, String> {
    let message =
        M::decode(bytes).map_err(|e| format!("binary decode as {}: {e}", M::full_name()))?;
    let encoded = message.encode_to_vec();
    if encoded != bytes {
        let at = encoded
            .iter()
            .zip(bytes)
            .position(|(a, b)| a != b)
            .unwrap_or(encoded.len().min(bytes.len()));
        let mut got_sorted = encoded.clone();
        let mut want_sorted = bytes.to_vec();
        got_sorted.sort_unstable();
        want_sorted.sort_unstable();
        let hint = if got_sorted == want_sorted {
            " (the same bytes in another order: likely fields out of field-number order)"
        } else {
            ""
        };
        return Err(format!(
            "re-encoded differently from byte {at}{hint}: {}",
            to_hex(&encoded)
        ));
    }
    Ok(message)
}

/// Checks that `message` encodes as `expected` and `expected` decodes back.
fn check_json_both_ways<M: Checked>(message: &M, expected: &Value, struct_map: bool) -> Check {
    let encoded = json::to_json(message).map_err(|e| format!("JSON encode: {e}"))?;
    if let Some(difference) = json_difference(&encoded, expected, "$") {
        return Err(format!(
            "JSON encoding differs at {difference}; got {encoded}"
        ));
    }
    let decoded: M = json::from_json(expected).map_err(|e| format!("JSON decode: {e}"))?;
    same_message(&decoded, message, struct_map)
        .map_err(|why| format!("JSON decodes to another message: {why}"))
}

/// Equal messages; with a Struct map (whose encoded order may differ), equal
/// JSON values instead.
fn same_message<M: Checked>(got: &M, want: &M, struct_map: bool) -> Check {
    if got == want {
        return Ok(());
    }
    if struct_map {
        let got_json = json::to_json(got).map_err(|e| e.to_string())?;
        let want_json = json::to_json(want).map_err(|e| e.to_string())?;
        return match json_difference(&got_json, &want_json, "$") {
            None => Ok(()),
            Some(difference) => Err(format!("JSON differs at {difference}")),
        };
    }
    Err(format!("{got:?} != {want:?}"))
}

/// The first place where two JSON values differ, or `None` when they are
/// equal as proto3 JSON: numbers compare numerically (Python prints Struct
/// numbers as `1.0`), object members in any order.
fn json_difference(got: &Value, want: &Value, path: &str) -> Option<String> {
    match (got, want) {
        (Value::Number(a), Value::Number(b)) => {
            let same = match (a.as_i64(), b.as_i64(), a.as_u64(), b.as_u64()) {
                (Some(x), Some(y), _, _) => x == y,
                (_, _, Some(x), Some(y)) => x == y,
                _ => a.as_f64() == b.as_f64(),
            };
            (!same).then(|| format!("{path}: {a} vs {b}"))
        }
        (Value::Object(a), Value::Object(b)) => {
            if let Some(key) = a
                .keys()
                .chain(b.keys())
                .find(|k| a.contains_key(*k) != b.contains_key(*k))
            {
                let side = if a.contains_key(key) {
                    "only got"
                } else {
                    "only expected"
                };
                return Some(format!("{path}.{key}: {side} has it"));
            }
            a.iter()
                .find_map(|(key, value)| json_difference(value, &b[key], &format!("{path}.{key}")))
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return Some(format!("{path}: {} items vs {}", a.len(), b.len()));
            }
            a.iter()
                .zip(b)
                .enumerate()
                .find_map(|(i, (x, y))| json_difference(x, y, &format!("{path}[{i}]")))
        }
        _ if got == want => None,
        _ => Some(format!("{path}: {got} vs {want}")),
    }
}

fn check_status_extras(v: &Value, response: &RunResponse) -> Check {
    let name = str_at(v, "status_name")?;
    let number = at(v, "status_number")?
        .as_i64()
        .ok_or("status_number is not an integer")?;
    if i64::from(response.status) != number {
        return Err(format!(
            "status {} but status_number {number}",
            response.status
        ));
    }
    let status = Status::try_from(response.status)
        .map_err(|_| format!("status {} is not a known Status", response.status))?;
    if status.as_str_name() != name || Status::from_str_name(name) != Some(status) {
        return Err(format!(
            "status_name {name:?} but the enum says {:?}",
            status.as_str_name()
        ));
    }
    // dispatch-py's enum member and dispatch-go's constant name the same value.
    let short = name
        .strip_prefix("STATUS_")
        .ok_or("status_name lacks STATUS_")?;
    let python_enum = str_at(v, "python_enum")?;
    if python_enum != format!("dispatch.Status.{short}") {
        return Err(format!(
            "python_enum {python_enum:?} is not dispatch.Status.{short}"
        ));
    }
    let go_const = str_at(v, "go_const")?;
    let go_name = go_const
        .strip_prefix("dispatchproto.")
        .and_then(|c| c.strip_suffix("Status"))
        .ok_or_else(|| format!("go_const {go_const:?} is not dispatchproto.<Name>Status"))?;
    if !go_name.eq_ignore_ascii_case(&short.replace('_', "")) {
        return Err(format!("go_const {go_const:?} does not name {name}"));
    }
    // The set the SDK retries is the core's temporary set.
    let core = dispatch_core::status::Status::from_number(response.status)
        .ok_or_else(|| format!("status {} is not a core Status", response.status))?;
    let temporary = at(v, "temporary")?
        .as_bool()
        .ok_or("temporary is not a boolean")?;
    if core.is_temporary() != temporary {
        return Err(format!(
            "temporary {temporary}, but the core says {}",
            core.is_temporary()
        ));
    }
    if str_at(v, "doc")?.is_empty() {
        return Err("empty doc".into());
    }
    Ok(())
}

/// `type_url` and `inner_value_hex` are the Any's two fields, and the inner
/// value decodes as the type the URL names; `unmarshal_any_repr` is what the
/// Any holds (see [`super::python`]; a pickled value or another message is
/// read, not compared); `python_value_repr` is a string and
/// `roundtrips_in_python` a boolean.
fn check_any_extras(v: &Value, any: &Any) -> Check {
    str_at(v, "python_value_repr")?;
    at(v, "roundtrips_in_python")?
        .as_bool()
        .ok_or("roundtrips_in_python is not a boolean")?;
    super::python::repr_matches(any, str_at(v, "unmarshal_any_repr")?)?;
    let type_url = str_at(v, "type_url")?;
    if any.type_url != type_url {
        return Err(format!(
            "type_url {:?} but the Any holds {:?}",
            type_url, any.type_url
        ));
    }
    if any.value != hex_at(v, "inner_value_hex")? {
        return Err("inner_value_hex is not the Any's value".to_owned());
    }
    let registry = json::registry().map_err(|e| e.to_string())?;
    let full_name = type_url.rsplit_once('/').map_or(type_url, |(_, name)| name);
    let descriptor = registry
        .get_message_by_name(full_name)
        .ok_or_else(|| format!("{full_name} is not in the registry"))?;
    prost_reflect::DynamicMessage::decode(descriptor, any.value.as_slice())
        .map_err(|e| format!("inner value does not decode as {full_name}: {e}"))?;
    if full_name == "dispatch.sdk.python.v1.Pickled" {
        Pickled::decode(any.value.as_slice()).map_err(|e| format!("Pickled: {e}"))?;
    }
    Ok(())
}

/// The Run path, and the Dispatch path.
const RUN_PATH: &str = "/dispatch.sdk.v1.FunctionService/Run";
const DISPATCH_PATH: &str = "/dispatch.sdk.v1.DispatchService/Dispatch";

/// A header object's values, by name (case-insensitive lookup).
fn header<'a>(headers: &'a Value, name: &str) -> Option<&'a str> {
    headers
        .as_object()?
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
}

/// A `{name: value}` header object whose values are all strings.
fn check_header_object(headers: &Value, what: &str) -> Check {
    let obj = headers
        .as_object()
        .ok_or_else(|| format!("{what} is not an object"))?;
    match obj.iter().find(|(_, v)| !v.is_string()) {
        Some((name, _)) => Err(format!("{what}.{name} is not a string")),
        None => Ok(()),
    }
}

/// How a Connect client (ours) classifies a recorded response: `Ok` for a
/// success, else the code and message it surfaces.
fn our_client_view(
    status: u64,
    content_type: &str,
    body: &[u8],
) -> Result<Result<(), (Code, String, CodeSource)>, String> {
    let status = u16::try_from(status).map_err(|_| format!("HTTP status {status}"))?;
    let mut buf = vec![0u8; 4096];
    Ok(
        classify_response::<1024>(Codec::Proto, status, content_type, body, &mut buf)
            .map_err(|e| (e.code, e.message.as_str().to_owned(), e.source)),
    )
}

/// What `dispatch.Client.dispatch` sent and how the server answered.
///
/// The request is what our client sends too (path, method, the Connect and
/// authorization headers, a DispatchRequest body); the SDK's result is what
/// our client makes of the response: the same ids, or a refusal with the
/// same status and, when the body is a Connect error, the same code and
/// message.
fn client_http(v: &Value) -> Check {
    only_known(
        v,
        &[
            "id",
            "category",
            "description",
            "request",
            "server_response",
            "sdk_result",
        ],
        "vector",
    )?;
    let request = at(v, "request")?;
    only_known(
        request,
        &[
            "method",
            "path",
            "sdk_headers",
            "transport_headers",
            "body_hex",
            "body_json",
        ],
        "request",
    )?;
    if str_at(request, "method")? != "POST" || str_at(request, "path")? != DISPATCH_PATH {
        return Err(format!(
            "the client sent {} {}, not POST {DISPATCH_PATH}",
            request["method"], request["path"]
        ));
    }
    let sdk = at(request, "sdk_headers")?;
    check_header_object(sdk, "sdk_headers")?;
    if header(sdk, "Content-Type") != Some("application/proto") {
        return Err("request Content-Type is not application/proto".to_owned());
    }
    if !header(sdk, "Authorization").is_some_and(|a| a.starts_with("Bearer ") && a.len() > 7) {
        return Err("request Authorization is not a Bearer key".to_owned());
    }
    dispatch_core::connect::check_protocol_version(header(sdk, "Connect-Protocol-Version"), false)
        .map_err(|e| format!("request Connect-Protocol-Version: {e:?}"))?;
    if let Some(timeout) = header(sdk, "Connect-Timeout-Ms") {
        dispatch_core::connect::parse_timeout_ms(timeout)
            .map_err(|e| format!("request Connect-Timeout-Ms {timeout:?}: {e:?}"))?;
    }
    let body = hex_at(request, "body_hex")?;
    let transport = at(request, "transport_headers")?;
    check_header_object(transport, "transport_headers")?;
    if let Some(length) = header(transport, "Content-Length")
        && length.parse::<usize>().ok() != Some(body.len())
    {
        return Err(format!(
            "Content-Length {length} for {} body bytes",
            body.len()
        ));
    }
    let dispatch = check_binary::<DispatchRequest>(&body)?;
    check_json_both_ways(&dispatch, at(request, "body_json")?, false)
        .map_err(|why| format!("request body_json: {why}"))?;

    let response = at(v, "server_response")?;
    only_known(
        response,
        &["status", "content_type", "body_hex"],
        "server_response",
    )?;
    let status = at(response, "status")?
        .as_u64()
        .ok_or("status is not a number")?;
    let content_type = str_at(response, "content_type")?;
    let reply_body = hex_at(response, "body_hex")?;
    let view = our_client_view(status, content_type, &reply_body)?;
    let decoded = match &view {
        Ok(()) => DispatchResponse::decode(reply_body.as_slice()).ok(),
        Err(_) => None,
    };

    let result = at(v, "sdk_result")?;
    match (result.get("returns"), result.get("raises")) {
        (Some(returns), None) => {
            only_known(result, &["returns"], "sdk_result")?;
            let returns: Vec<&str> = returns
                .as_array()
                .ok_or("sdk_result.returns is not an array")?
                .iter()
                .map(|id| id.as_str().ok_or("a returned id is not a string"))
                .collect::<Result<_, _>>()?;
            let reply = decoded.ok_or_else(|| {
                format!("the SDK returned ids, but our client refuses the reply: {view:?}")
            })?;
            check_binary::<DispatchResponse>(&reply_body)?;
            if reply.dispatch_ids != returns {
                return Err(format!(
                    "dispatch_ids {:?} but the SDK returned {returns:?}",
                    reply.dispatch_ids
                ));
            }
        }
        (None, Some(raises)) => {
            only_known(
                result,
                &["raises", "status", "code", "message"],
                "sdk_result",
            )?;
            if raises.as_str().is_none_or(|r| r.is_empty()) {
                return Err("sdk_result.raises is not an exception name".to_owned());
            }
            // The SDK raised: our client refuses too.
            if decoded.is_some() {
                return Err("the SDK raised, but our client accepts the reply".to_owned());
            }
            // A status, when the exception carries one, is the reply's.
            match result.get("status") {
                None | Some(Value::Null) => {}
                Some(s) if s.as_u64() == Some(status) => {}
                Some(s) => {
                    return Err(format!(
                        "sdk_result.status {s}, but the reply is a {status}"
                    ));
                }
            }
            let code = match result.get("code") {
                None | Some(Value::Null) => None,
                Some(Value::String(name)) => Some(
                    Code::from_name(name)
                        .ok_or_else(|| format!("sdk_result.code {name:?} is not a Connect code"))?,
                ),
                Some(other) => return Err(format!("sdk_result.code {other} is not a string")),
            };
            let message = match result.get("message") {
                None | Some(Value::Null) => None,
                Some(Value::String(m)) => Some(m.as_str()),
                Some(other) => return Err(format!("sdk_result.message {other} is not a string")),
            };
            // From a Connect error body, the SDK's code and message are ours.
            // (Without one, dispatch-py says `unknown` with the body's repr,
            // where a Connect client infers the code from the status.)
            if let Err((ours, our_message, CodeSource::Body)) = &view {
                if code.is_some_and(|c| c != *ours) {
                    return Err(format!("the SDK surfaced {code:?}, our client {ours:?}"));
                }
                if message.is_some_and(|m| m != our_message) {
                    return Err(format!(
                        "the SDK's message {message:?}, ours {our_message:?}"
                    ));
                }
            }
        }
        _ => return Err("sdk_result holds neither returns nor raises (or both)".to_owned()),
    }
    Ok(())
}

/// A live exchange with dispatch-py's function endpoint: the request is a
/// RunRequest in its recorded codec, the response is what was recorded (its
/// bytes, or, where they vary, its JSON and the generator's `expect`), and a
/// Connect client (ours) surfaces `connect_client_code` from it.
fn endpoint_http(v: &Value) -> Check {
    only_known(
        v,
        &[
            "id",
            "category",
            "description",
            "request",
            "response",
            "body_deterministic",
            "connect_client_code",
            "expect",
            "notes",
        ],
        "vector",
    )?;
    let request = at(v, "request")?;
    only_known(
        request,
        &["method", "path", "headers", "body_hex", "body_json"],
        "request",
    )?;
    str_at(request, "method")?;
    let path = str_at(request, "path")?;
    // The signed vector records no headers (they varied), only why; its body is proto.
    let content_type = match at(request, "headers")? {
        headers @ Value::Object(_) => {
            check_header_object(headers, "request.headers")?;
            header(headers, "Content-Type").unwrap_or("application/proto")
        }
        Value::String(_) => "application/proto",
        other => {
            return Err(format!(
                "request.headers {other} is neither headers nor a note"
            ));
        }
    };
    let body = hex_at(request, "body_hex")?;
    let body_json = request.get("body_json");
    let response = at(v, "response")?;
    only_known(
        response,
        &[
            "status",
            "content_type",
            "body_hex",
            "run_response_json",
            "body_text",
            "body_json",
            "body_is_valid_json",
        ],
        "response",
    )?;
    let status = at(response, "status")?
        .as_u64()
        .ok_or("status is not a number")?;
    match Codec::from_content_type(content_type) {
        Some(Codec::Proto) => {
            // An empty body is the empty message; dispatch-py refuses it first.
            let run = check_binary::<RunRequest>(&body)?;
            if let Some(body_json) = body_json {
                check_json_both_ways(&run, body_json, false)
                    .map_err(|why| format!("request body_json: {why}"))?;
            }
            // A function ran: the request passes the core's checks.
            if status == 200 && path == RUN_PATH {
                dispatch_core::run::check_request(&run)
                    .map_err(|e| format!("dispatch-py ran it, the core refuses it: {e:?}"))?;
            }
        }
        Some(Codec::Json) => {
            let run = json::from_json_slice::<RunRequest>(&body)
                .map_err(|e| format!("JSON request body: {e}"))?;
            if let Some(body_json) = body_json {
                check_json_both_ways(&run, body_json, false)
                    .map_err(|why| format!("request body_json: {why}"))?;
            }
        }
        None => {
            return Err(format!(
                "request Content-Type {content_type:?} is not understood"
            ));
        }
    }

    let deterministic = at(v, "body_deterministic")?
        .as_bool()
        .ok_or("body_deterministic is not a boolean")?;
    let response_type = str_at(response, "content_type")?;
    // A body that varies from run to run (body_deterministic false) is not
    // recorded; a 200's classification does not read the body.
    let reply_body = if status == 200 {
        match response.get("body_hex") {
            Some(_) => hex_at(response, "body_hex")?,
            None if !deterministic => Vec::new(),
            None => return Err("a deterministic 200 without body_hex".into()),
        }
    } else {
        str_at(response, "body_text")?.as_bytes().to_vec()
    };
    // The code a Connect client surfaces.
    let view = our_client_view(status, response_type, &reply_body)?;
    match (&view, at(v, "connect_client_code")?) {
        (Ok(()), Value::Null) => {}
        (Err((code, ..)), Value::String(want)) if code.name() == want => {}
        (got, want) => {
            return Err(format!(
                "connect_client_code {want}, our client gives {got:?}"
            ));
        }
    }
    let expect = v.get("expect").filter(|e| !e.is_null());
    if status != 200 {
        if expect.is_some() {
            return Err("expect on a refused request".into());
        }
        return check_error_reply(response);
    }
    let expected_json = at(response, "run_response_json")?;
    let run_response = if deterministic {
        let reply = check_binary::<RunResponse>(&reply_body)?;
        check_json_both_ways(&reply, expected_json, false)?;
        reply
    } else {
        // The recorded body embeds a pickled coroutine state or exception
        // (with file paths and interpreter details) that differs run to run,
        // so its bytes are not comparable. What can be: the recorded JSON
        // decodes, re-encodes equal, and meets `expect`.
        let reply: RunResponse = json::from_json(expected_json)
            .map_err(|e| format!("JSON decode of run_response_json: {e}"))?;
        let encoded = json::to_json(&reply).map_err(|e| format!("JSON encode: {e}"))?;
        if let Some(difference) = json_difference(&encoded, expected_json, "$") {
            return Err(format!(
                "run_response_json re-encodes differently at {difference}"
            ));
        }
        check_binary::<RunResponse>(&reply.encode_to_vec())?
    };
    match expect {
        Some(expect) => check_expectations(&run_response, expect),
        None => Ok(()),
    }
}

/// A non-200 reply: the error body as recorded.
fn check_error_reply(response: &Value) -> Check {
    let text = str_at(response, "body_text")?;
    if response
        .get("run_response_json")
        .is_some_and(|j| !j.is_null())
    {
        return Err("run_response_json on an error reply".into());
    }
    let parsed = serde_json::from_str::<Value>(text).ok();
    match response.get("body_is_valid_json") {
        Some(Value::Bool(valid)) if parsed.is_some() != *valid => {
            return Err(format!("body_is_valid_json is {valid} for {text:?}"));
        }
        Some(Value::Bool(_)) | None => {}
        Some(other) => return Err(format!("body_is_valid_json {other} is not a boolean")),
    }
    match (parsed, response.get("body_json")) {
        (Some(body), Some(recorded)) if body != *recorded => {
            Err("body_json is not body_text parsed".to_owned())
        }
        (None, Some(recorded)) if !recorded.is_null() => {
            Err("body_json for a body that is not JSON".to_owned())
        }
        _ => Ok(()),
    }
}

/// The generator's semantic assertions about a reply whose bytes vary.
fn check_expectations(reply: &RunResponse, expect: &Value) -> Check {
    let expect = expect.as_object().ok_or("expect is not an object")?;
    let exit_result = || match &reply.directive {
        Some(run_response::Directive::Exit(Exit {
            result: Some(result),
            ..
        })) => Ok(result),
        _ => Err("expected an exit with a result".to_owned()),
    };
    let poll = || match &reply.directive {
        Some(run_response::Directive::Poll(poll)) => Ok(poll),
        _ => Err("expected a poll".to_owned()),
    };
    for (key, want) in expect {
        let ok = match key.as_str() {
            "status" => {
                let name = Status::try_from(reply.status).map(|s| s.as_str_name());
                name.ok() == want.as_str()
            }
            "directive" => {
                let got = match &reply.directive {
                    Some(run_response::Directive::Exit(_)) => "exit",
                    Some(run_response::Directive::Poll(_)) => "poll",
                    None => "none",
                };
                want.as_str() == Some(got)
            }
            "min_results" => want.as_i64() == Some(i64::from(poll()?.min_results)),
            "max_results" => want.as_i64() == Some(i64::from(poll()?.max_results)),
            // null means the field is absent.
            "max_wait" => match &poll()?.max_wait {
                None => want.is_null(),
                Some(wait) => json::to_json(wait).map_err(|e| e.to_string())? == *want,
            },
            "calls" => {
                let calls = &poll()?.calls;
                let wants = want.as_array().ok_or("expect.calls is not an array")?;
                if calls.len() != wants.len() {
                    false
                } else {
                    for (call, w) in calls.iter().zip(wants) {
                        call_matches(call, w)?;
                    }
                    true
                }
            }
            "state_type_url" => match &poll()?.state {
                Some(poll::State::TypedCoroutineState(state)) => {
                    want.as_str() == Some(&state.type_url)
                }
                _ => false,
            },
            // As the generator asserted it: the output's proto3 JSON, or for
            // a well-known type its unwrapped value (null: no output or Empty).
            "output" => match &exit_result()?.output {
                Some(output) => {
                    super::python::output_matches(output, want, |a, b| {
                        json_difference(a, b, "$").is_none()
                    })?;
                    true
                }
                None => want.is_null(),
            },
            "error_type" | "error_message" => match &exit_result()?.error {
                Some(error) => {
                    let got = if key == "error_type" {
                        &error.r#type
                    } else {
                        &error.message
                    };
                    want.as_str() == Some(got.as_str())
                }
                None => false,
            },
            other => return Err(format!("expect.{other} is not understood")),
        };
        if !ok {
            return Err(format!("expect.{key} = {want} does not hold for {reply:?}"));
        }
    }
    Ok(())
}

/// An expected call lists only the members it asserts; an unknown member fails.
fn call_matches(call: &Call, want: &Value) -> Check {
    let want = want
        .as_object()
        .ok_or("an expected call is not an object")?;
    for (key, value) in want {
        let got = match key.as_str() {
            "function" => call.function.clone(),
            "endpoint" => call.endpoint.clone(),
            "correlation_id" => call.correlation_id.to_string(),
            other => return Err(format!("expect.calls[].{other} is not understood")),
        };
        let same = match value {
            Value::String(s) => *s == got,
            Value::Number(n) => n.to_string() == got,
            _ => false,
        };
        if !same {
            return Err(format!("expected call {key} {value}, got {got:?}"));
        }
    }
    Ok(())
}

fn at<'a>(v: &'a Value, key: &str) -> Result<&'a Value, String> {
    v.get(key).ok_or_else(|| format!("no {key:?}"))
}

fn str_at<'a>(v: &'a Value, key: &str) -> Result<&'a str, String> {
    at(v, key)?
        .as_str()
        .ok_or_else(|| format!("{key:?} is not a string"))
}

fn hex_at(v: &Value, key: &str) -> Result<Vec<u8>, String> {
    let text = str_at(v, key)?;
    if text.len() % 2 != 0 {
        return Err(format!("{key:?} has an odd number of hex digits"));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| format!("{key:?} is not hex"))
        })
        .collect()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod forms {
    //! Forms the README allows that the public files may not show.
    use super::*;
    use serde_json::json;

    fn vector(category: &str, id: &str) -> Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("tests/vectors/messages/{category}.json"));
        let doc: Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("reads")).expect("JSON");
        doc["vectors"]
            .as_array()
            .and_then(|vs| vs.iter().find(|v| v["id"] == id))
            .cloned()
            .expect("the vector exists")
    }

    #[test]
    fn an_sdk_result_that_raises_without_a_status() {
        let mut v = vector("client_http", "client_http/ok");
        v["server_response"] = json!({
            "status": 401, "content_type": "text/plain", "body_hex": "756e617574686f72697a6564"
        });
        v["sdk_result"] = json!({"raises": "PermissionError", "message": "invalid API key"});
        assert_eq!(client_http(&v), Ok(()));
        // The SDK cannot return ids from a 401.
        v["sdk_result"] = json!({"returns": ["id-a", "id-b"]});
        assert!(client_http(&v).is_err());
        // Nor raise with another status.
        v["sdk_result"] = json!({"raises": "dispatch.ClientError", "status": 400});
        assert!(client_http(&v).is_err());
        // Nor both, nor neither.
        v["sdk_result"] = json!({"raises": "X", "returns": []});
        assert!(client_http(&v).is_err());
        v["sdk_result"] = json!({});
        assert!(client_http(&v).is_err());
    }

    #[test]
    fn a_connect_error_body_gives_the_sdk_code_and_message() {
        let mut v = vector("client_http", "client_http/invalid_argument_400");
        assert_eq!(client_http(&v), Ok(()));
        v["sdk_result"]["code"] = json!("not_found");
        assert!(client_http(&v).is_err());
        let mut v = vector("client_http", "client_http/invalid_argument_400");
        v["sdk_result"]["message"] = json!("another message");
        assert!(client_http(&v).is_err());
    }

    #[test]
    fn expect_output_as_asserted() {
        let mut v = vector("endpoint_http", "endpoint_http/add_ok");
        for output in [
            json!(5),
            json!("5"),
            json!({"@type": "type.googleapis.com/google.protobuf.Int64Value", "value": "5"}),
        ] {
            v["expect"] = json!({"status": "STATUS_OK", "directive": "exit", "output": output});
            assert_eq!(endpoint_http(&v), Ok(()), "{output}");
        }
        for output in [json!(6), json!(null), json!("five")] {
            v["expect"] = json!({"output": output});
            assert!(endpoint_http(&v).is_err(), "{output}");
        }
        let mut v = vector("endpoint_http", "endpoint_http/greet_ok");
        v["expect"] = json!({"output": "Hello, World!"});
        assert_eq!(endpoint_http(&v), Ok(()));
        let mut v = vector("endpoint_http", "endpoint_http/none_output");
        v["expect"] = json!({"output": null});
        assert_eq!(endpoint_http(&v), Ok(()));
        let mut v = vector("endpoint_http", "endpoint_http/primitive_resume");
        v["expect"] = json!({"output": [1, "two"]});
        assert_eq!(endpoint_http(&v), Ok(()));
    }

    #[test]
    fn unknown_fields_and_forms_fail() {
        let mut v = vector("endpoint_http", "endpoint_http/add_ok");
        v["expect"] = json!({"outputs": 5});
        assert!(endpoint_http(&v).is_err());
        let mut v = vector("endpoint_http", "endpoint_http/add_ok");
        v["response"]["trailers"] = json!({});
        assert!(endpoint_http(&v).is_err());
        let mut v = vector("endpoint_http", "endpoint_http/add_ok");
        v["connect_client_code"] = json!("internal");
        assert!(endpoint_http(&v).is_err());
        let mut v = vector("client_http", "client_http/ok");
        v["sdk_result"]["retries"] = json!(1);
        assert!(client_http(&v).is_err());
        let mut v = vector("call", "call/sdk_build_call");
        assert_eq!(message_vector("call", &v), Ok(()));
        v["extra"] = json!(1);
        assert!(message_vector("call", &v).is_err());
    }
}
