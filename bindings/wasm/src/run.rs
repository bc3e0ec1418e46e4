//! The Run RPC (`POST /dispatch.sdk.v1.FunctionService/Run`) as the core
//! decides it (`dispatch_core::run`), for a JavaScript host that moves the
//! bytes: head in, an exchange or a refusal out; body in, the `RunRequest`
//! out; the function's `RunResponse` in, the answer's head and body out.
//!
//! Binary protobuf only: the core has no JSON codec of its own (the one in
//! dispatch-std needs a protobuf type registry, far beyond this package's
//! size budget), so an `application/json` request is refused by the core
//! with 415 (`Accept-Post: application/proto`). The scheduler sends
//! `application/proto`.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use dispatch_core::connect::Codec;
use dispatch_core::proto::sdk::v1 as pb;
use dispatch_core::run::{self, BodyCheck, Refusal};
use dispatch_core::signature::{self, Policy};
use js_sys::{Object, Uint8Array};
use prost::Message;
use wasm_bindgen::prelude::*;

use crate::convert;
use crate::keys::VerificationKey;
use crate::refusal::{self, set};
use crate::request::View;
use crate::signing;

/// The Run RPC's settings: the verification key (none: requests are not
/// verified), the body limit, and the signature policy. Build one per
/// endpoint.
#[wasm_bindgen]
pub struct RunRpc {
    key: Option<ed25519_dalek::VerifyingKey>,
    body_limit: usize,
    policy: Policy,
}

/// A Run request whose head (and signature headers, with a key) passed:
/// feed it the body with `update`, then `finish`.
#[wasm_bindgen]
pub struct RunExchange {
    check: Option<BodyCheck>,
    body: Vec<u8>,
    codec: Codec,
    timeout_ms: Option<f64>,
}

/// A Run request the core accepted: its head, signature and body passed,
/// and its body is a `RunRequest` that names a function and carries an
/// input or a poll result.
#[wasm_bindgen]
pub struct RunCall {
    request: pb::RunRequest,
    codec: Codec,
    body: Vec<u8>,
    timeout_ms: Option<f64>,
}

#[wasm_bindgen]
impl RunRpc {
    /// `key`: verify every request with it (`undefined`: no verification);
    /// `bodyLimit` in bytes (default 16 MB); `maxAge` and `skew` in seconds
    /// (the policy's defaults when `undefined`).
    #[wasm_bindgen(constructor)]
    pub fn new(
        key: Option<VerificationKey>,
        body_limit: Option<f64>,
        max_age: Option<u32>,
        skew: Option<u32>,
    ) -> Result<RunRpc, JsError> {
        let body_limit = match body_limit {
            None => run::DEFAULT_BODY_LIMIT,
            Some(n) => match signing::safe_integer(n).filter(|n| *n >= 0) {
                Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
                None => return Err(JsError::new("bodyLimit must be a whole number of bytes")),
            },
        };
        Ok(RunRpc {
            key: key.map(|k| k.key),
            body_limit,
            policy: signing::policy(max_age, skew),
        })
    }

    /// Steps 1 and 2's head: the path, `POST`, the Connect headers, the
    /// content type, timeout and length, then (with a key) the signature
    /// headers at `now` (Unix seconds). Returns a `RunExchange`, or the
    /// refusal object to answer with.
    #[wasm_bindgen(js_name = checkHead)]
    pub fn check_head(
        &self,
        method: &str,
        url: &str,
        headers: Vec<String>,
        now: f64,
    ) -> Result<JsValue, JsError> {
        let now = signing::unix_seconds(now, "now")?;
        let view = View::new(method, url, &headers)?;
        let rpc = run::RunRpc::new().body_limit(self.body_limit);
        let decided = (|| -> Result<_, Refusal<'_>> {
            let head = rpc.check_head(&view)?;
            let verified = match &self.key {
                Some(key) => Some(signature::verify_headers(&view, key, now, &self.policy)?),
                None => None,
            };
            Ok((head, rpc.body_check(verified)))
        })();
        Ok(match decided {
            Ok((head, check)) => RunExchange {
                check: Some(check),
                body: Vec::with_capacity(
                    head.content_length
                        .and_then(|n| usize::try_from(n).ok())
                        .unwrap_or(0),
                ),
                codec: head.codec,
                timeout_ms: head.timeout.map(|t| t.as_millis() as f64),
            }
            .into(),
            Err(refusal) => refusal::refusal(&refusal),
        })
    }

    /// Whether requests are verified (a key was given).
    #[wasm_bindgen(getter)]
    pub fn verifies(&self) -> bool {
        self.key.is_some()
    }

    /// The body limit, in bytes.
    #[wasm_bindgen(getter, js_name = bodyLimit)]
    pub fn body_limit(&self) -> f64 {
        self.body_limit as f64
    }
}

#[wasm_bindgen]
impl RunExchange {
    /// Takes the next body chunk: `undefined`, or the 413 refusal when the
    /// body would pass the limit with it.
    pub fn update(&mut self, chunk: &[u8]) -> Result<JsValue, JsError> {
        let check = self
            .check
            .as_mut()
            .ok_or_else(|| JsError::new("this exchange is finished"))?;
        Ok(match check.update(chunk) {
            Ok(()) => {
                self.body.extend_from_slice(chunk);
                JsValue::UNDEFINED
            }
            Err(refusal) => {
                self.check = None;
                refusal::refusal(&refusal)
            }
        })
    }

    /// Ends the body: the `Content-Digest` check (with a key), then the
    /// `RunRequest` decoded and checked. Returns a `RunCall`, or the
    /// refusal object (403 for a body that is not the signed one, 400 for
    /// one that is not a `RunRequest`).
    pub fn finish(&mut self) -> Result<JsValue, JsError> {
        let check = self
            .check
            .take()
            .ok_or_else(|| JsError::new("this exchange is finished"))?;
        let body = core::mem::take(&mut self.body);
        let decided = check
            .finish()
            .and_then(|()| run::RunRpc::new().decode_request(self.codec, &body));
        Ok(match decided {
            Ok(request) => RunCall {
                request,
                codec: self.codec,
                body,
                timeout_ms: self.timeout_ms,
            }
            .into(),
            Err(refusal) => refusal::refusal(&refusal),
        })
    }

    /// How long the function may run, in milliseconds (`Connect-Timeout-Ms`);
    /// `undefined` when the client set no limit.
    #[wasm_bindgen(getter, js_name = timeoutMs)]
    pub fn timeout_ms(&self) -> Option<f64> {
        self.timeout_ms
    }
}

#[wasm_bindgen]
impl RunCall {
    /// The function's name.
    #[wasm_bindgen(getter)]
    pub fn function(&self) -> String {
        self.request.function.clone()
    }

    /// The call's dispatch id.
    #[wasm_bindgen(getter, js_name = dispatchId)]
    pub fn dispatch_id(&self) -> String {
        self.request.dispatch_id.clone()
    }

    /// Whether this call resumes a suspended function (a poll result)
    /// rather than starting it (an input).
    #[wasm_bindgen(getter, js_name = isPollResult)]
    pub fn is_poll_result(&self) -> bool {
        matches!(
            self.request.directive,
            Some(pb::run_request::Directive::PollResult(_))
        )
    }

    /// The content type of the request, and of the answer.
    #[wasm_bindgen(getter, js_name = contentType)]
    pub fn content_type(&self) -> String {
        self.codec.content_type().to_owned()
    }

    /// How long the function may run, in milliseconds; `undefined`: no limit.
    #[wasm_bindgen(getter, js_name = timeoutMs)]
    pub fn timeout_ms(&self) -> Option<f64> {
        self.timeout_ms
    }

    /// The request body as received: the `RunRequest`'s binary protobuf.
    #[wasm_bindgen(js_name = requestBytes)]
    pub fn request_bytes(&self) -> Vec<u8> {
        self.body.clone()
    }

    /// The `RunRequest` as a plain object.
    pub fn request(&self) -> JsValue {
        convert::run_request_to_js(&self.request)
    }

    /// Step 4: `undefined` when `registered`, else the 404 refusal
    /// (`not_found`) naming the function.
    #[wasm_bindgen(js_name = checkFunction)]
    pub fn check_function(&self, registered: bool) -> JsValue {
        match run::check_function(&self.request, registered) {
            Ok(()) => JsValue::UNDEFINED,
            Err(refusal) => refusal::refusal(&refusal),
        }
    }

    /// The refusal for a function that threw instead of answering: 500
    /// `internal`.
    pub fn crashed(&self) -> JsValue {
        refusal::refusal(&Refusal::FunctionCrashed {
            function: &self.request.function,
        })
    }

    /// The refusal for a function that did not answer within the request's
    /// timeout: 504 `deadline_exceeded`.
    #[wasm_bindgen(js_name = deadlineExceeded)]
    pub fn deadline_exceeded(&self) -> JsValue {
        let timeout = core::time::Duration::from_millis(self.timeout_ms.unwrap_or(0.0) as u64);
        refusal::refusal(&Refusal::DeadlineExceeded {
            function: &self.request.function,
            timeout,
        })
    }

    /// Step 5: the answer for the function's `RunResponse`, given as its
    /// binary protobuf (a `Uint8Array`) or as a plain object. The core
    /// checks it (an invalid one becomes the function's own
    /// `STATUS_INVALID_RESPONSE` failure) and encodes it. Returns `{status,
    /// contentType, body, outputReplaced}`; throws a `TypeError`-like error
    /// when `response` is not a `RunResponse` at all.
    #[wasm_bindgen(js_name = encodeResponse)]
    pub fn encode_response(&self, response: JsValue) -> Result<JsValue, JsError> {
        let response = response_of(&response)?;
        let mut out = Vec::new();
        let head = run::RunRpc::new().encode_response(self.codec, response, &mut out);
        let answer = Object::new();
        set(&answer, "status", head.status);
        set(&answer, "contentType", head.content_type);
        set(&answer, "body", Uint8Array::from(out.as_slice()));
        set(&answer, "outputReplaced", head.output_replaced);
        Ok(answer.into())
    }
}

/// A `RunResponse` from its bytes or its plain object.
fn response_of(response: &JsValue) -> Result<pb::RunResponse, JsError> {
    match response.dyn_ref::<Uint8Array>() {
        Some(bytes) => pb::RunResponse::decode(bytes.to_vec().as_slice())
            .map_err(|e| JsError::new(&format!("not a RunResponse: {e}"))),
        None => convert::run_response_from_js(response),
    }
}

/// The binary protobuf of a `RunResponse` plain object.
#[wasm_bindgen(js_name = encodeRunResponse)]
pub fn encode_run_response(response: JsValue) -> Result<Vec<u8>, JsError> {
    Ok(response_of(&response)?.encode_to_vec())
}

/// A `RunResponse`'s binary protobuf as a plain object.
#[wasm_bindgen(js_name = decodeRunResponse)]
pub fn decode_run_response(bytes: &[u8]) -> Result<JsValue, JsError> {
    pb::RunResponse::decode(bytes)
        .map(|r| convert::run_response_to_js(&r))
        .map_err(|e| JsError::new(&format!("not a RunResponse: {e}")))
}

/// A `RunRequest`'s binary protobuf as a plain object.
#[wasm_bindgen(js_name = decodeRunRequest)]
pub fn decode_run_request(bytes: &[u8]) -> Result<JsValue, JsError> {
    pb::RunRequest::decode(bytes)
        .map(|r| convert::run_request_to_js(&r))
        .map_err(|e| JsError::new(&format!("not a RunRequest: {e}")))
}
