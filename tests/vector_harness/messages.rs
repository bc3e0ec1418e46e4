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
    if go_name.to_ascii_lowercase() != short.replace('_', "").to_ascii_lowercase() {
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

/// What `dispatch.Client.dispatch` sent and how the server answered.
fn client_http(v: &Value) -> Check {
    let request = at(v, "request")?;
    let content_type = at(at(request, "sdk_headers")?, "Content-Type")?;
    if content_type != "application/proto" {
        return Err(format!(
            "request Content-Type {content_type} is not application/proto"
        ));
    }
    let body = hex_at(request, "body_hex")?;
    let dispatch = check_binary::<DispatchRequest>(&body)?;
    check_json_both_ways(&dispatch, at(request, "body_json")?, false)
        .map_err(|why| format!("request body_json: {why}"))?;

    let response = at(v, "server_response")?;
    let result = at(v, "sdk_result")?;
    let status = at(response, "status")?
        .as_u64()
        .ok_or("status is not a number")?;
    if status == 200 {
        if at(response, "content_type")? != "application/proto" {
            return Err("200 response is not application/proto".to_owned());
        }
        let reply = check_binary::<DispatchResponse>(&hex_at(response, "body_hex")?)?;
        let returns: Vec<&str> = at(result, "returns")?
            .as_array()
            .ok_or("sdk_result.returns is not an array")?
            .iter()
            .map(|id| id.as_str().ok_or("a returned id is not a string"))
            .collect::<Result<_, _>>()?;
        if reply.dispatch_ids != returns {
            return Err(format!(
                "dispatch_ids {:?} but the SDK returned {returns:?}",
                reply.dispatch_ids
            ));
        }
    } else {
        // A non-200 reply carries no message; which Connect code the client
        // surfaces is the connect_http_inference vectors' subject. Here: the
        // SDK raised, with the reply's status.
        if at(result, "raises").is_err() || at(result, "status")?.as_u64() != Some(status) {
            return Err(format!(
                "a {status} reply must make the SDK raise with that status"
            ));
        }
        hex_at(response, "body_hex")?;
    }
    Ok(())
}

/// A live exchange with dispatch-py's function endpoint.
fn endpoint_http(v: &Value) -> Check {
    let request = at(v, "request")?;
    // The signed vector records no headers (they varied); its body is proto.
    let content_type = match request.get("headers") {
        Some(Value::Object(headers)) => headers
            .get("Content-Type")
            .and_then(Value::as_str)
            .unwrap_or("application/proto"),
        _ => "application/proto",
    };
    let body = hex_at(request, "body_hex")?;
    match content_type {
        "application/proto" => {
            let run = check_binary::<RunRequest>(&body)?;
            if let Some(body_json) = request.get("body_json") {
                check_json_both_ways(&run, body_json, false)
                    .map_err(|why| format!("request body_json: {why}"))?;
            }
        }
        // Sent to show dispatch-py's reaction; it is still a valid RunRequest.
        "application/json" => {
            json::from_json_slice::<RunRequest>(&body)
                .map_err(|e| format!("JSON request body: {e}"))?;
        }
        other => return Err(format!("request Content-Type {other:?} is not understood")),
    }

    let response = at(v, "response")?;
    let status = at(response, "status")?
        .as_u64()
        .ok_or("status is not a number")?;
    if status != 200 {
        return check_error_reply(response);
    }
    let expected_json = at(response, "run_response_json")?;
    let deterministic = at(v, "body_deterministic")?
        .as_bool()
        .ok_or("body_deterministic is not a boolean")?;
    let run_response = if deterministic {
        let reply = check_binary::<RunResponse>(&hex_at(response, "body_hex")?)?;
        check_json_both_ways(&reply, expected_json, false)?;
        reply
    } else {
        // The recorded body embeds a pickled coroutine state or exception
        // (with file paths and interpreter details) that differs run to run,
        // so its bytes are not recorded and cannot be compared. What can be:
        // the recorded JSON decodes, re-encodes equal, and meets `expect`.
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
    match v.get("expect") {
        Some(expect) if !expect.is_null() => check_expectations(&run_response, expect),
        _ => Ok(()),
    }
}

/// A non-200 reply: the error body as recorded. (The Connect code a client
/// surfaces, `connect_client_code`, is the connect module's subject.)
fn check_error_reply(response: &Value) -> Check {
    let text = str_at(response, "body_text")?;
    if at(response, "content_type")? != "application/json" {
        return Ok(());
    }
    let parsed = serde_json::from_str::<Value>(text).ok();
    let valid = at(response, "body_is_valid_json")?
        .as_bool()
        .ok_or("body_is_valid_json is not a boolean")?;
    if parsed.is_some() != valid {
        return Err(format!("body_is_valid_json is {valid} for {text:?}"));
    }
    match parsed {
        Some(body) if Some(&body) != response.get("body_json") => {
            Err("body_json is not body_text parsed".to_owned())
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
            "max_wait" => match &poll()?.max_wait {
                None => want.is_null(),
                Some(wait) => json::to_json(wait).map_err(|e| e.to_string())? == *want,
            },
            "calls" => {
                let calls = &poll()?.calls;
                let wants = want.as_array().ok_or("expect.calls is not an array")?;
                calls.len() == wants.len()
                    && calls
                        .iter()
                        .zip(wants)
                        .all(|(call, w)| call_matches(call, w))
            }
            "state_type_url" => match &poll()?.state {
                Some(poll::State::TypedCoroutineState(state)) => {
                    want.as_str() == Some(&state.type_url)
                }
                _ => false,
            },
            "output" => match &exit_result()?.output {
                Some(output) => {
                    let got = json::to_json(output).map_err(|e| e.to_string())?;
                    json_difference(&got, want, "$").is_none()
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

/// An expected call lists only the members it asserts.
fn call_matches(call: &Call, want: &Value) -> bool {
    let Some(want) = want.as_object() else {
        return false;
    };
    want.iter().all(|(key, value)| match key.as_str() {
        "function" => value.as_str() == Some(call.function.as_str()),
        "endpoint" => value.as_str() == Some(call.endpoint.as_str()),
        "correlation_id" => value.as_str() == Some(call.correlation_id.to_string().as_str()),
        _ => false,
    })
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
