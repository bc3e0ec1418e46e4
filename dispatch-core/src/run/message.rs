//! Steps 3 to 5: the decoded request, the registry's answer, the encoded
//! response (`alloc`).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use prost::Message;

use super::{Refusal, RunRpc};
use crate::connect::Codec;
use crate::proto::sdk::v1::{self as pb, RunRequest, RunResponse};
use crate::status::Status;
use crate::validate::validate_run_response;

/// A proto3 JSON mapping of the Run RPC's two messages, which a host that
/// has one lends to the handler ([`RunRpc::with_json`]); the core itself
/// has none (it needs a type registry for the `Any` payloads).
pub trait JsonCodec: Sync {
    /// Decodes a `RunRequest` from proto3 JSON; `None` if it is not one.
    fn decode_run_request(&self, body: &[u8]) -> Option<RunRequest>;
    /// Appends the proto3 JSON of `response` to `out`, or says why it
    /// cannot be written (an `Any` of a type the registry does not know).
    fn encode_run_response(&self, response: &RunResponse, out: &mut Vec<u8>) -> Result<(), String>;
}

/// The head of a Run response the core wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResponseHead {
    /// The HTTP status: always 200 (a function's failure travels in the
    /// `RunResponse`'s status).
    pub status: u16,
    /// The `Content-Type`, the request's codec.
    pub content_type: &'static str,
    /// Whether the function's response was invalid (or could not be
    /// written in the request's codec) and was replaced by the function's
    /// own `STATUS_INVALID_RESPONSE` failure, for the host's log.
    pub output_replaced: bool,
    /// The `Accept-Encoding` a Connect response carries, naming the
    /// request encodings this RPC inflates besides identity (`gzip` where
    /// [`RunRpc::accept_gzip`] was set); `None`: nothing to add.
    pub accept_encoding: Option<&'static str>,
}

impl RunRpc<'_> {
    /// Step 3: decodes the body in the head's codec and checks it with
    /// [`check_request`]; [`Refusal::MalformedBody`] if it is not a
    /// `RunRequest`.
    pub fn decode_request(
        &self,
        codec: Codec,
        body: &[u8],
    ) -> Result<RunRequest, Refusal<'static>> {
        let decoded = match (codec, self.json) {
            (Codec::Proto, _) => RunRequest::decode(body).ok(),
            (Codec::Json, Some(json)) => json.decode_run_request(body),
            (Codec::Json, None) => return Err(Refusal::UnsupportedContentType { json: false }),
        };
        let request = decoded.ok_or(Refusal::MalformedBody)?;
        check_request(&request)?;
        Ok(request)
    }

    /// Step 5: checks the function's response (an invalid one becomes the
    /// function's own `STATUS_INVALID_RESPONSE` failure, which is what the
    /// scheduler would make of it) and appends its encoding in `codec` to
    /// `out`.
    ///
    /// ```
    /// use dispatch_core::connect::Codec;
    /// use dispatch_core::proto::sdk::v1::RunResponse;
    /// use dispatch_core::run::RunRpc;
    ///
    /// let mut body = Vec::new();
    /// // A response that neither exits nor polls is valid (and empty).
    /// let head = RunRpc::new().encode_response(Codec::Proto, RunResponse::default(), &mut body);
    /// assert_eq!((head.status, head.content_type), (200, "application/proto"));
    /// ```
    pub fn encode_response(
        &self,
        codec: Codec,
        response: RunResponse,
        out: &mut Vec<u8>,
    ) -> ResponseHead {
        let (response, mut output_replaced) = match validate_run_response(&response) {
            Ok(()) => (response, false),
            Err(violation) => (
                invalid_output(format!("the function's output is invalid: {violation}")),
                true,
            ),
        };
        let start = out.len();
        let codec = match (codec, self.json) {
            (Codec::Json, Some(json)) => {
                if let Err(why) = json.encode_run_response(&response, out) {
                    out.truncate(start);
                    output_replaced = true;
                    let failure = invalid_output(format!(
                        "the function's output cannot be written as JSON: {why}"
                    ));
                    if json.encode_run_response(&failure, out).is_err() {
                        // Strings and a status always encode; should the host's
                        // codec still fail, the answer is at least well-formed.
                        out.truncate(start);
                        failure.encode(out).ok();
                        return self.head(Codec::Proto, output_replaced);
                    }
                }
                Codec::Json
            }
            // A JSON request without a codec never passes `check_head`; a host
            // that skipped it gets binary protobuf, labelled as such.
            (_, _) => {
                // Encoding into a Vec cannot run out of room.
                response.encode(out).ok();
                Codec::Proto
            }
        };
        self.head(codec, output_replaced)
    }

    fn head(&self, codec: Codec, output_replaced: bool) -> ResponseHead {
        ResponseHead {
            status: 200,
            content_type: codec.content_type(),
            output_replaced,
            accept_encoding: self.offers_gzip().then_some("gzip"),
        }
    }
}

fn invalid_output(message: String) -> RunResponse {
    error_response(Status::InvalidResponse, "InvalidOutput", message)
}

/// Step 3's checks of a decoded request: it names a function
/// ([`Refusal::MissingFunction`]) and carries an input or a poll result
/// ([`Refusal::MissingDirective`]). Hosts that decode the message
/// themselves call it directly.
pub fn check_request(request: &RunRequest) -> Result<(), Refusal<'static>> {
    if request.function.is_empty() {
        return Err(Refusal::MissingFunction);
    }
    if request.directive.is_none() {
        return Err(Refusal::MissingDirective);
    }
    Ok(())
}

/// Step 4: the host's answer to "is this function registered", as the
/// refusal when it is not ([`Refusal::UnknownFunction`], 404).
pub fn check_function(request: &RunRequest, registered: bool) -> Result<(), Refusal<'_>> {
    if registered {
        Ok(())
    } else {
        Err(Refusal::UnknownFunction {
            name: &request.function,
        })
    }
}

/// The `RunResponse` of a function that failed: `status`, and an `Exit`
/// whose result holds the error's type and message.
///
/// ```
/// use dispatch_core::run::error_response;
/// use dispatch_core::status::Status;
/// let response = error_response(Status::TemporaryError, "Busy", "try later");
/// assert_eq!(response.status, Status::TemporaryError.number());
/// ```
pub fn error_response(
    status: Status,
    type_name: impl Into<String>,
    message: impl Into<String>,
) -> RunResponse {
    RunResponse {
        status: status.number(),
        directive: Some(pb::run_response::Directive::Exit(pb::Exit {
            result: Some(pb::CallResult {
                error: Some(pb::Error {
                    r#type: type_name.into(),
                    message: message.into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            tail_call: None,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::sdk::v1::run_request::Directive;

    fn request(function: &str) -> RunRequest {
        RunRequest {
            function: function.into(),
            directive: Some(Directive::Input(prost_types::Any::default())),
            ..Default::default()
        }
    }

    #[test]
    fn requests_are_decoded_and_checked() {
        let rpc = RunRpc::new();
        let body = request("f").encode_to_vec();
        assert_eq!(rpc.decode_request(Codec::Proto, &body), Ok(request("f")));
        assert_eq!(
            rpc.decode_request(Codec::Proto, &request("").encode_to_vec()),
            Err(Refusal::MissingFunction)
        );
        let no_directive = RunRequest {
            function: "f".into(),
            ..Default::default()
        };
        assert_eq!(
            rpc.decode_request(Codec::Proto, &no_directive.encode_to_vec()),
            Err(Refusal::MissingDirective)
        );
        assert_eq!(
            rpc.decode_request(Codec::Proto, b"\xff\xff"),
            Err(Refusal::MalformedBody)
        );
        assert_eq!(
            rpc.decode_request(Codec::Json, b"{}"),
            Err(Refusal::UnsupportedContentType { json: false })
        );
        let known = request("f");
        assert_eq!(check_function(&known, true), Ok(()));
        assert_eq!(
            check_function(&known, false),
            Err(Refusal::UnknownFunction { name: "f" })
        );
    }

    #[test]
    fn an_invalid_response_becomes_the_functions_failure() {
        let poll_without_wait = RunResponse {
            status: Status::Ok.number(),
            directive: Some(pb::run_response::Directive::Poll(pb::Poll::default())),
        };
        let mut out = Vec::new();
        let head = RunRpc::new().encode_response(Codec::Proto, poll_without_wait, &mut out);
        assert!(head.output_replaced);
        let sent = RunResponse::decode(out.as_slice()).unwrap();
        assert_eq!(sent.status, Status::InvalidResponse.number());
    }

    struct FailingJson;

    impl JsonCodec for FailingJson {
        fn decode_run_request(&self, _body: &[u8]) -> Option<RunRequest> {
            None
        }
        fn encode_run_response(
            &self,
            response: &RunResponse,
            out: &mut Vec<u8>,
        ) -> Result<(), String> {
            if response.status == Status::InvalidResponse.number() {
                out.extend_from_slice(b"{\"status\":\"STATUS_INVALID_RESPONSE\"}");
                Ok(())
            } else {
                Err("no such type".into())
            }
        }
    }

    #[test]
    fn a_response_json_cannot_write_is_replaced() {
        let rpc = RunRpc::new().with_json(&FailingJson);
        let mut out = b"kept".to_vec();
        let head = rpc.encode_response(Codec::Json, error_response(Status::Ok, "x", "y"), &mut out);
        assert_eq!(head.content_type, "application/json");
        assert!(head.output_replaced);
        assert_eq!(out, b"kept{\"status\":\"STATUS_INVALID_RESPONSE\"}");
        assert_eq!(
            rpc.decode_request(Codec::Json, b"{}"),
            Err(Refusal::MalformedBody)
        );
    }
}
