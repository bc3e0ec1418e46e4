//! The endpoint as a tower service: a driver of the core's Run handler
//! ([`dispatch_core::run`]) over Connect and gRPC. It moves bytes and runs
//! functions; every answer is the core's.

use core::convert::Infallible;
use core::task::{Context, Poll as TaskPoll};
use core::time::Duration;
use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use dispatch_core::proto::sdk::v1 as pb;
use dispatch_core::run::{
    self, GRPC_CONTENT_TYPE, GRPC_FRAME_PREFIX_LEN, MAX_MESSAGE_LEN, Refusal, RunHead, RunRpc,
};
use dispatch_core::status::Status;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Version, header};
use http_body::Body;
use tower_service::Service;
use tracing::Instrument;

use super::body::ResponseBody;
use super::function::{Directive, FunctionError, Resume, Run};
use super::registry::Registry;
use crate::http::{Close, HttpRequestView, refusal_response};
use crate::json::ProtoJson;
use crate::layer::VerifyLayer;
use crate::{BoxError, BoxFuture};

/// What the endpoint serves, shared by every clone of its service.
#[derive(Clone, Debug)]
pub(crate) struct Shared {
    pub(crate) registry: Registry,
    pub(crate) verify: VerifyLayer,
    pub(crate) endpoint_url: Option<Arc<str>>,
    /// How [`Endpoint::serve`](super::Endpoint::serve) treats connections.
    pub(crate) max_connections: usize,
    pub(crate) idle_timeout: Duration,
}

/// The endpoint as one tower service, for Connect (HTTP/1.1 and HTTP/2) and
/// gRPC (HTTP/2 with `Content-Type: application/grpc` or
/// `application/grpc+proto`); see [`Endpoint::service`](super::Endpoint::service).
#[derive(Clone, Debug)]
pub struct EndpointService {
    shared: Arc<Shared>,
}

impl EndpointService {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        EndpointService { shared }
    }
}

/// The transport a request came over, which decides how a refusal and a
/// response are framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    Connect,
    Grpc,
}

impl<B> Service<Request<B>> for EndpointService
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> TaskPoll<Result<(), Infallible>> {
        TaskPoll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let service = self.clone();
        Box::pin(async move { Ok(service.handle(request).await) })
    }
}

/// Why a function gave no response.
enum Failure {
    Deadline(Duration),
    Crashed,
    Unknown,
}

impl EndpointService {
    fn rpc(&self) -> RunRpc<'static> {
        RunRpc::new()
            .body_limit(self.shared.verify.limit())
            .with_json(&ProtoJson)
            .accept_gzip()
    }

    /// The core's steps, in order.
    async fn handle<B>(&self, request: Request<B>) -> Response<ResponseBody>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let transport = if is_grpc(&request) {
            Transport::Grpc
        } else {
            Transport::Connect
        };
        let (parts, body) = request.into_parts();
        let rpc = self.rpc();
        let routed = HttpRequestView::routed(&parts);
        let head = match transport {
            Transport::Connect => rpc.check_head(&routed),
            Transport::Grpc => rpc.check_grpc_head(&routed),
        };
        let head = match head {
            Ok(head) => head,
            Err(refusal) => {
                // A length over the limit (or unreadable) is not drained.
                let drained = match run::check_content_length(&routed, rpc.limit()) {
                    Ok(length) => self.shared.verify.discard(body, length).await,
                    Err(_) => false,
                };
                let close = Close::unless_drained(parts.version, drained);
                return refuse_closing(transport, &refusal, close);
            }
        };
        let body = match self
            .shared
            .verify
            .read_verified(&parts, body, head.content_length)
            .await
        {
            Ok(body) => body,
            Err(refused) => {
                let close = Close::unless_drained(parts.version, refused.drained);
                return refuse_closing(transport, &refused.refusal, close);
            }
        };
        // The digest covered the body as sent; the codec reads it inflated.
        let message = match transport {
            Transport::Connect => rpc.inflate(&head, &body),
            Transport::Grpc => run::grpc_message(&body).map(Cow::Borrowed),
        };
        let request = match message.and_then(|message| rpc.decode_request(head.codec, &message)) {
            Ok(request) => request,
            Err(refusal) => return refuse(transport, &refusal),
        };
        let function = request.function.clone();
        let registered = self.shared.registry.contains(&request.function);
        if let Err(refusal) = run::check_function(&request, registered) {
            return refuse(transport, &refusal);
        }
        match self.run_function(request, head.timeout).await {
            Ok(response) => respond(transport, &rpc, &head, response),
            Err(Failure::Deadline(timeout)) => refuse(
                transport,
                &Refusal::DeadlineExceeded {
                    function: &function,
                    timeout,
                },
            ),
            Err(Failure::Crashed) => refuse(
                transport,
                &Refusal::FunctionCrashed {
                    function: &function,
                },
            ),
            Err(Failure::Unknown) => {
                refuse(transport, &Refusal::UnknownFunction { name: &function })
            }
        }
    }

    /// Runs a registered function under an optional deadline, in a task of
    /// its own so that a panic is contained and the deadline can abort it.
    async fn run_function(
        &self,
        request: pb::RunRequest,
        timeout: Option<Duration>,
    ) -> Result<pb::RunResponse, Failure> {
        let span = tracing::info_span!(
            "run",
            function = %request.function,
            dispatch_id = %request.dispatch_id,
        );
        let directive = match request.directive {
            Some(pb::run_request::Directive::Input(input)) => Directive::Input(input),
            Some(pb::run_request::Directive::PollResult(result)) => match result.state {
                Some(pb::poll_result::State::TypedCoroutineState(state)) => {
                    Directive::Resume(Resume::new(state, result.results, result.error))
                }
                // Legacy bytes state (or none) is nothing a Rust function wrote.
                _ => {
                    return Ok(FunctionError::new(
                        Status::IncompatibleState,
                        "IncompatibleState",
                        "the poll result carries no typed coroutine state",
                    )
                    .into_response());
                }
            },
            // The core's check_request has refused this already.
            None => return Err(Failure::Unknown),
        };
        let run = Run {
            function: request.function,
            dispatch_id: request.dispatch_id,
            parent_dispatch_id: request.parent_dispatch_id,
            root_dispatch_id: request.root_dispatch_id,
            creation_time: request.creation_time,
            expiration_time: request.expiration_time,
            endpoint_url: self.shared.endpoint_url.clone(),
            directive,
        };
        let future = self.shared.registry.start(run).ok_or(Failure::Unknown)?;
        let mut task = tokio::spawn(future.instrument(span.clone()));
        let joined = match timeout {
            Some(timeout) => match tokio::time::timeout(timeout, &mut task).await {
                Ok(joined) => joined,
                Err(_elapsed) => {
                    task.abort();
                    span.in_scope(|| {
                        tracing::warn!(?timeout, "run exceeded the request's timeout")
                    });
                    return Err(Failure::Deadline(timeout));
                }
            },
            None => task.await,
        };
        let result = joined.map_err(|error| {
            span.in_scope(|| tracing::error!(%error, "function panicked"));
            Failure::Crashed
        })?;
        Ok(match result {
            Ok(outcome) => outcome.into_response(),
            Err(error) => {
                span.in_scope(|| tracing::info!(%error, "function failed"));
                error.into_response()
            }
        })
    }
}

/// Whether a request is gRPC this endpoint speaks: HTTP/2 and a gRPC
/// content type with the proto codec (others, gRPC-Web and
/// `application/grpc+json` among them, are Connect requests the core
/// answers with 415).
fn is_grpc<B>(request: &Request<B>) -> bool {
    request.version() == Version::HTTP_2
        && request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(run::is_grpc_content_type)
}

/// The answer to a refusal, framed for the transport.
fn refuse(transport: Transport, refusal: &Refusal<'_>) -> Response<ResponseBody> {
    refuse_closing(transport, refusal, Close::KeepAlive)
}

/// [`refuse`], closing an HTTP/1.1 connection whose request body was left
/// unread.
fn refuse_closing(
    transport: Transport,
    refusal: &Refusal<'_>,
    close: Close,
) -> Response<ResponseBody> {
    match transport {
        Transport::Connect => refusal_response(refusal, close),
        Transport::Grpc => {
            // A trailers-only response: the status in the headers, no body
            // (gRPC is HTTP/2 only: nothing to close).
            let mut response = refusal_response::<ResponseBody>(refusal, Close::KeepAlive);
            *response.status_mut() = StatusCode::OK;
            *response.body_mut() = ResponseBody::default();
            let headers = response.headers_mut();
            headers.clear();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(GRPC_CONTENT_TYPE),
            );
            headers.insert(
                "grpc-status",
                HeaderValue::from(refusal.code().grpc_number()),
            );
            let mut message = [0u8; 3 * MAX_MESSAGE_LEN];
            if let Ok(written) = refusal.write_grpc_message(&mut message)
                && let Ok(value) =
                    HeaderValue::from_bytes(message.get(..written).unwrap_or_default())
            {
                headers.insert("grpc-message", value);
            }
            response
        }
    }
}

/// The function's response, as the core encodes it for the transport.
fn respond(
    transport: Transport,
    rpc: &RunRpc<'_>,
    head: &RunHead,
    response: pb::RunResponse,
) -> Response<ResponseBody> {
    let mut out = Vec::new();
    if transport == Transport::Grpc {
        out.resize(GRPC_FRAME_PREFIX_LEN, 0);
    }
    let written = rpc.encode_response(head.codec, response, &mut out);
    if written.output_replaced {
        tracing::warn!(
            "the function's output was invalid; reported as its STATUS_INVALID_RESPONSE failure"
        );
    }
    let mut trailers = None;
    if transport == Transport::Grpc {
        let prefix = run::grpc_frame_prefix(out.len() - GRPC_FRAME_PREFIX_LEN);
        match (prefix, out.get_mut(..GRPC_FRAME_PREFIX_LEN)) {
            (Some(prefix), Some(slot)) => slot.copy_from_slice(&prefix),
            _ => {
                return refuse(
                    transport,
                    &Refusal::BodyTooLarge {
                        limit: u32::MAX as usize,
                    },
                );
            }
        }
        let mut grpc_status = HeaderMap::new();
        grpc_status.insert("grpc-status", HeaderValue::from_static("0"));
        trailers = Some(grpc_status);
    }
    let content_encoding = match transport {
        Transport::Connect if written.status == 200 => rpc.compress_response(head, &mut out),
        _ => None,
    };
    let content_type = match transport {
        Transport::Connect => written.content_type,
        Transport::Grpc => GRPC_CONTENT_TYPE,
    };
    let body = Bytes::from(out);
    let mut response = Response::new(match trailers {
        Some(trailers) => ResponseBody::with_trailers(body, trailers),
        None => ResponseBody::from(body),
    });
    *response.status_mut() = StatusCode::from_u16(written.status).unwrap_or(StatusCode::OK);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(coding) = content_encoding {
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
    }
    if let (Transport::Connect, Some(accepted)) = (transport, written.accept_encoding) {
        response
            .headers_mut()
            .insert(header::ACCEPT_ENCODING, HeaderValue::from_static(accepted));
    }
    response
}
