//! The function endpoint: `POST /dispatch.sdk.v1.FunctionService/Run`.
//!
//! A [`Registry`] maps function names to async handlers; an [`Endpoint`]
//! serves it on hyper 1 ([`Endpoint::serve`]), as a tower service
//! ([`Endpoint::service`]), or in an axum `Router` (`Endpoint::router`, with
//! the `axum` feature).
//!
//! Server rules (connect.md §7): an unknown function is 404 `not_found`, an
//! empty one 400 `invalid_argument`, a body that is not a `RunRequest` 400
//! `invalid_argument`; `application/proto` and `application/json` (proto3
//! JSON, answered in JSON) are accepted, other content types get 415; bodies
//! over the limit get 413 before they are read; `Connect-Timeout-Ms` bounds
//! the function's run (504 `deadline_exceeded`); every error body is Connect
//! error JSON.
//!
//! ```no_run
//! use dispatch_std::endpoint::{Endpoint, Outcome, Registry, Run, Directive};
//! use prost_types::Any;
//!
//! # async fn run() -> std::io::Result<()> {
//! let mut registry = Registry::new();
//! registry.register_any("echo", |run: Run<Any>| async move {
//!     match run.directive {
//!         Directive::Input(input) => Ok(Outcome::any(input)),
//!         Directive::Resume(_) => Ok(Outcome::none()),
//!     }
//! });
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! Endpoint::new(registry)
//!     .serve(listener, async { tokio::signal::ctrl_c().await.ok(); })
//!     .await
//! # }
//! ```

mod function;
mod registry;

pub use function::{
    DEFAULT_MAX_WAIT, Directive, FunctionError, Outcome, Poll, Resume, Run, call, classify_error,
};
pub use registry::{BoxFuture, FunctionResult, Registry};

use core::convert::Infallible;
use core::future::Future;
use core::task::{Context, Poll as TaskPoll};
use core::time::Duration;
use std::sync::{Arc, Once};

use bytes::Bytes;
use dispatch_core::proto::sdk::v1 as pb;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use prost::Message;
use tower_layer::Layer;
use tower_service::Service;
use tracing::Instrument;

use crate::config::EndpointConfig;
use crate::http::{PublicUrl, connect_error};
use crate::layer::{VerifyLayer, VerifyService};
use dispatch_core::connect::{self, Code, Codec};
use dispatch_core::status::Status;
use dispatch_core::validate::validate_run_response;
use ed25519_dalek::VerifyingKey;

pub use dispatch_core::connect::RUN_PATH;

/// The body type of every response the endpoint writes.
pub type ResponseBody = Full<Bytes>;

/// The endpoint as one tower service: the verifying [`VerifyLayer`] in front
/// of [`RunService`].
pub type EndpointService = VerifyService<RunService>;

/// A function registry with the settings to serve it; see the [module](self).
#[derive(Clone, Debug)]
pub struct Endpoint {
    registry: Arc<Registry>,
    key: Option<VerifyingKey>,
    endpoint_url: Option<Arc<str>>,
    public_url: Option<PublicUrl>,
    body_limit: usize,
    read_timeout: Option<Duration>,
}

impl Endpoint {
    /// Serves `registry` without signature verification, with the default
    /// body limit and read timeout.
    pub fn new(registry: Registry) -> Self {
        Endpoint {
            registry: Arc::new(registry),
            key: None,
            endpoint_url: None,
            public_url: None,
            body_limit: crate::layer::DEFAULT_BODY_LIMIT,
            read_timeout: Some(crate::layer::DEFAULT_READ_TIMEOUT),
        }
    }

    /// Serves `registry` with the endpoint URL and verification key of
    /// `config` (see [`EndpointConfig::from_env`]).
    pub fn from_config(registry: Registry, config: &EndpointConfig) -> Self {
        Endpoint::new(registry)
            .endpoint_url(Some(config.url.clone()))
            .verification_key(config.verification_key)
    }

    /// Verifies request signatures with `key` (`None`: accept unsigned
    /// requests, with one warning unless the endpoint URL is `bridge://`).
    pub fn verification_key(mut self, key: Option<VerifyingKey>) -> Self {
        self.key = key;
        self
    }

    /// This endpoint's public URL (`DISPATCH_ENDPOINT_URL`), handed to
    /// functions in [`Run::endpoint_url`].
    pub fn endpoint_url(mut self, url: Option<String>) -> Self {
        self.endpoint_url = url.map(Arc::from);
        self
    }

    /// Verifies `@authority` against this public URL's authority rather
    /// than the request's, for endpoints behind a proxy that rewrites `Host`
    /// (see [`PublicUrl::parse`]).
    pub fn public_url(mut self, url: Option<PublicUrl>) -> Self {
        self.public_url = url;
        self
    }

    /// Refuses request bodies over this many bytes with 413 (default 16 MB).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Refuses, with 408, a request whose client sends nothing for this long
    /// while its headers or body are expected (`None`: wait forever).
    ///
    /// The body timer runs while the request's task waits for data, so on a
    /// server whose threads are all busy it also counts the time data sat
    /// unread: keep it well above the worst scheduling delay under load.
    pub fn read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// The registered functions.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The endpoint as a tower service taking requests with any body.
    pub fn service(&self) -> EndpointService {
        self.verified(self.run_service())
    }

    /// `inner` behind this endpoint's [`VerifyLayer`] (key, public URL, body
    /// limit, read timeout); the one place those settings are applied, for
    /// every transport.
    pub(crate) fn verified<S>(&self, inner: S) -> VerifyService<S> {
        if self.key.is_none() {
            warn_unverified_once(self.endpoint_url.as_deref());
        }
        VerifyLayer::new(self.key)
            .public_url(self.public_url.clone())
            .body_limit(self.body_limit)
            .read_timeout(self.read_timeout)
            .layer(inner)
    }

    /// The function-running core, without verification or HTTP framing.
    pub(crate) fn run_service(&self) -> RunService {
        RunService {
            registry: Arc::clone(&self.registry),
            endpoint_url: self.endpoint_url.clone(),
        }
    }

    /// The body limit in bytes.
    #[cfg(feature = "grpc")]
    pub(crate) fn limit(&self) -> usize {
        self.body_limit
    }

    /// An axum `Router` with the endpoint at [`RUN_PATH`], to merge into an
    /// application's router.
    #[cfg(feature = "axum")]
    pub fn router(&self) -> axum::Router {
        axum::Router::new().route_service(RUN_PATH, self.service())
    }

    /// Serves HTTP/1.1 and HTTP/2 (cleartext) connections from `listener`
    /// until `shutdown` completes, then stops accepting and waits for the
    /// requests in flight to finish.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let service = self.service();
        self.serve_service(service, listener, shutdown).await
    }

    /// The accept loop of [`Endpoint::serve`] around any service (the gRPC
    /// module serves Connect and gRPC through it).
    pub(crate) async fn serve_service<S, B>(
        self,
        service: S,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()>
    where
        S: Service<Request<hyper::body::Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<crate::layer::BoxError>,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<crate::layer::BoxError>,
    {
        if let Ok(address) = listener.local_addr() {
            tracing::info!(%address, functions = ?self.registry, "dispatch endpoint listening");
        }
        let options = crate::serve::ServeOptions {
            name: "dispatch endpoint",
            header_read_timeout: self.read_timeout,
            shutdown_grace: None,
        };
        crate::serve::serve_connections(service, listener, shutdown, options).await
    }
}

/// Logs, once per process, that requests are not verified (unless the
/// endpoint is reached through the CLI's `bridge://`, which sends no
/// signatures).
fn warn_unverified_once(endpoint_url: Option<&str>) {
    static WARNED: Once = Once::new();
    if endpoint_url.is_some_and(|url| url.starts_with("bridge://")) {
        return;
    }
    WARNED.call_once(|| {
        tracing::warn!(
            "request signature verification is disabled: set DISPATCH_VERIFICATION_KEY \
             to accept only requests signed by Dispatch"
        );
    });
}

/// Runs functions for requests whose body has been read: routing, codecs,
/// decoding, the registry lookup, the timeout and the response.
#[derive(Clone, Debug)]
pub struct RunService {
    registry: Arc<Registry>,
    endpoint_url: Option<Arc<str>>,
}

impl Service<Request<Full<Bytes>>> for RunService {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> TaskPoll<Result<(), Infallible>> {
        TaskPoll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Full<Bytes>>) -> Self::Future {
        let service = self.clone();
        Box::pin(async move { Ok(service.run(request).await) })
    }
}

/// A refusal of the Run RPC: an HTTP status and a Connect error.
struct Refusal(u16, Code, String);

impl Refusal {
    fn code(code: Code, message: impl Into<String>) -> Self {
        Refusal(code.http_status(), code, message.into())
    }
}

impl RunService {
    async fn run(&self, request: Request<Full<Bytes>>) -> Response<ResponseBody> {
        match self.try_run(request).await {
            Ok(response) => response,
            Err(Refusal(status, code, message)) => {
                tracing::debug!(status, code = code.name(), %message, "run refused");
                let mut response = connect_error(status, code, &message);
                if status == 405 {
                    response
                        .headers_mut()
                        .insert(header::ALLOW, HeaderValue::from_static("POST"));
                } else if status == 415 {
                    response.headers_mut().insert(
                        "accept-post",
                        HeaderValue::from_static("application/proto, application/json"),
                    );
                }
                response
            }
        }
    }

    async fn try_run(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<Response<ResponseBody>, Refusal> {
        let (parts, body) = request.into_parts();
        if parts.uri.path() != RUN_PATH {
            return Err(Refusal::code(
                Code::NotFound,
                format!("no such RPC: {}", parts.uri.path()),
            ));
        }
        if parts.method != Method::POST {
            return Err(Refusal(
                405,
                Code::Unimplemented,
                format!("{} is not allowed; the Run RPC takes POST", parts.method),
            ));
        }
        let headers = &parts.headers;
        let text = |name: &str| {
            headers
                .get(name)
                .map(|value| value.to_str().unwrap_or("\u{fffd}"))
        };
        connect::check_protocol_version(text(connect::PROTOCOL_VERSION_HEADER), false)
            .map_err(|error| Refusal::code(error.code(), error.to_string()))?;
        if headers
            .get(header::CONTENT_ENCODING)
            .is_some_and(|encoding| !encoding.as_bytes().eq_ignore_ascii_case(b"identity"))
        {
            return Err(Refusal::code(
                Code::Unimplemented,
                "compressed requests are not supported; send identity",
            ));
        }
        let codec = text(connect::CONTENT_TYPE_HEADER)
            .and_then(Codec::from_content_type)
            .ok_or_else(|| {
                Refusal(
                    415,
                    Code::Unimplemented,
                    "the content type must be application/proto or application/json".into(),
                )
            })?;
        let timeout = match text(connect::TIMEOUT_HEADER) {
            Some(value) => Some(
                connect::parse_timeout_ms(value)
                    .map(Duration::from_millis)
                    .map_err(|error| Refusal::code(error.code(), error.to_string()))?,
            ),
            None => None,
        };

        // The layer in front has read the whole body already.
        let body = body
            .collect()
            .await
            .map(|collected| collected.to_bytes())
            .unwrap_or_else(|never| match never {});
        let request = decode_request(codec, &body)?;
        let response = self
            .run_request(request, timeout)
            .await
            .map_err(|(code, message)| Refusal::code(code, message))?;
        encode_response(codec, &response)
    }

    /// Runs a decoded request under an optional deadline: the checks of the
    /// function name, the registry lookup, the run and its classification,
    /// for any transport. An error is the RPC's code and message.
    pub(crate) async fn run_request(
        &self,
        request: pb::RunRequest,
        timeout: Option<Duration>,
    ) -> Result<pb::RunResponse, (Code, String)> {
        if request.function.is_empty() {
            return Err((
                Code::InvalidArgument,
                "the request names no function".to_owned(),
            ));
        }
        if !self.registry.contains(&request.function) {
            return Err((
                Code::NotFound,
                format!("function {:?} does not exist", request.function),
            ));
        }

        let span = tracing::info_span!(
            "run",
            function = %request.function,
            dispatch_id = %request.dispatch_id,
        );
        self.run_function(request, timeout)
            .instrument(span)
            .await
            .map_err(|Refusal(_status, code, message)| (code, message))
    }

    async fn run_function(
        &self,
        request: pb::RunRequest,
        timeout: Option<Duration>,
    ) -> Result<pb::RunResponse, Refusal> {
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
            None => {
                return Err(Refusal::code(
                    Code::InvalidArgument,
                    "the request has neither an input nor a poll result",
                ));
            }
        };
        let function = request.function.clone();
        let run = Run {
            function: request.function,
            dispatch_id: request.dispatch_id,
            parent_dispatch_id: request.parent_dispatch_id,
            root_dispatch_id: request.root_dispatch_id,
            creation_time: request.creation_time,
            expiration_time: request.expiration_time,
            endpoint_url: self.endpoint_url.clone(),
            directive,
        };
        let Some(future) = self.registry.start(run) else {
            return Err(Refusal::code(
                Code::NotFound,
                format!("function {function:?} does not exist"),
            ));
        };

        // Its own task, so a panic is contained and a timeout can abort it.
        let mut task = tokio::spawn(future.in_current_span());
        let joined = match timeout {
            Some(timeout) => match tokio::time::timeout(timeout, &mut task).await {
                Ok(joined) => joined,
                Err(_elapsed) => {
                    task.abort();
                    tracing::warn!(?timeout, "run exceeded the request's timeout");
                    return Err(Refusal::code(
                        Code::DeadlineExceeded,
                        format!(
                            "function {function:?} did not finish within {} ms",
                            timeout.as_millis()
                        ),
                    ));
                }
            },
            None => task.await,
        };
        let result = joined.map_err(|error| {
            tracing::error!(%error, "function panicked");
            Refusal::code(Code::Internal, format!("function {function:?} panicked"))
        })?;
        let response = match result {
            Ok(outcome) => outcome.into_response(),
            Err(error) => {
                tracing::info!(%error, "function failed");
                error.into_response()
            }
        };
        // What the scheduler would refuse is reported as the function's own
        // failure, not sent.
        let response = match validate_run_response(&response) {
            Ok(()) => response,
            Err(violation) => {
                tracing::warn!(%violation, "function output is invalid");
                FunctionError::new(
                    Status::InvalidResponse,
                    "InvalidOutput",
                    format!("the function's output is invalid: {violation}"),
                )
                .into_response()
            }
        };
        tracing::debug!(status = ?Status::try_from(response.status), "run done");
        Ok(response)
    }
}

fn decode_request(codec: Codec, body: &[u8]) -> Result<pb::RunRequest, Refusal> {
    let decoded = match codec {
        Codec::Proto => pb::RunRequest::decode(body).ok(),
        Codec::Json => crate::json::from_json_slice(body).ok(),
    };
    decoded.ok_or_else(|| {
        Refusal::code(
            Code::InvalidArgument,
            "the request body is not a dispatch.sdk.v1.RunRequest",
        )
    })
}

fn encode_response(
    codec: Codec,
    response: &pb::RunResponse,
) -> Result<Response<ResponseBody>, Refusal> {
    let body = match codec {
        Codec::Proto => response.encode_to_vec(),
        Codec::Json => crate::json::to_json_string(response)
            .map_err(|error| {
                Refusal::code(
                    Code::Internal,
                    format!("the response could not be encoded as JSON: {error}"),
                )
            })?
            .into_bytes(),
    };
    let mut http_response = Response::new(Full::new(Bytes::from(body)));
    *http_response.status_mut() = StatusCode::OK;
    http_response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(codec.content_type()),
    );
    Ok(http_response)
}
