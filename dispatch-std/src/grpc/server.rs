//! The endpoint's `Run` RPC over gRPC, and the service routing gRPC and
//! Connect requests on one port.

use core::convert::Infallible;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use bytes::Bytes;
use dispatch_core::connect::{self, Code, Codec};
use dispatch_core::proto::sdk::v1 as pb;
use http::{Method, Request, Response, Version, header};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use tonic_prost::ProstCodec;
use tower_service::Service;

use super::{TIMEOUT_HEADER, status};
use crate::endpoint::{BoxFuture, Endpoint, EndpointService, RUN_PATH, RunService};
use crate::layer::{BoxError, VerifyService};

/// The longest refusal body of the verifying layer read to translate it.
const REFUSAL_BODY_LIMIT: usize = 64 * 1024;
/// The longest Connect error message kept in a translated refusal.
const REFUSAL_MESSAGE_CAPACITY: usize = 1024;

impl Endpoint {
    /// The `Run` RPC over gRPC as a tower service: signature verification,
    /// body limit and read timeout as [`Endpoint::service`], then tonic's
    /// deframing and the same function-running core. Every answer is a gRPC
    /// response (HTTP 200, `grpc-status`).
    pub fn grpc_service(&self) -> GrpcEndpointService {
        GrpcEndpointService {
            inner: self.verified(GrpcRunService {
                run: self.run_service(),
                limit: self.limit(),
            }),
        }
    }

    /// One service for both transports: HTTP/2 requests with `Content-Type:
    /// application/grpc` or `application/grpc+proto` go to
    /// [`Endpoint::grpc_service`], all others (including gRPC-Web and
    /// `application/grpc+json`, which get 415) to [`Endpoint::service`].
    pub fn service_with_grpc(&self) -> ConnectAndGrpcService {
        ConnectAndGrpcService {
            connect: self.service(),
            grpc: self.grpc_service(),
        }
    }

    /// As [`Endpoint::serve`], with [`Endpoint::service_with_grpc`]: Connect
    /// and gRPC requests on the same port.
    pub async fn serve_with_grpc(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let service = self.service_with_grpc();
        self.serve_service(service, listener, shutdown).await
    }
}

/// Whether a request is gRPC this endpoint speaks: HTTP/2 and the proto codec.
fn is_grpc<B>(request: &Request<B>) -> bool {
    request.version() == Version::HTTP_2
        && request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| {
                let value = value.trim();
                value.eq_ignore_ascii_case("application/grpc")
                    || value.eq_ignore_ascii_case("application/grpc+proto")
            })
}

/// Routes each request to the gRPC or the Connect endpoint; see
/// [`Endpoint::service_with_grpc`].
#[derive(Clone, Debug)]
pub struct ConnectAndGrpcService {
    connect: EndpointService,
    grpc: GrpcEndpointService,
}

impl<B> Service<Request<B>> for ConnectAndGrpcService
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Both sides are always ready (each call runs on a clone).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if is_grpc(&request) {
            return self.grpc.call(request);
        }
        let future = self.connect.call(request);
        Box::pin(async move { Ok(future.await?.map(tonic::body::Body::new)) })
    }
}

/// The gRPC endpoint: [`GrpcRunService`] behind the verifying layer, whose
/// refusals (Connect errors with an HTTP status) it turns into gRPC statuses.
#[derive(Clone, Debug)]
pub struct GrpcEndpointService {
    inner: VerifyService<GrpcRunService>,
}

impl<B> Service<Request<B>> for GrpcEndpointService
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            if response.status() == http::StatusCode::OK {
                return Ok(response.map(|body| body.0));
            }
            Ok(grpc_refusal(response).await)
        })
    }
}

/// A refusal of the verifying layer (an HTTP error status and a Connect
/// error JSON body) as a trailers-only gRPC response with the same code and
/// message, read by the core's Connect error decoder.
async fn grpc_refusal(response: Response<GrpcBody>) -> Response<tonic::body::Body> {
    let (parts, body) = response.into_parts();
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let body = http_body_util::Limited::new(body, REFUSAL_BODY_LIMIT)
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    let mut no_details = [0u8; 0];
    let (code, message) = match connect::classify_response::<REFUSAL_MESSAGE_CAPACITY>(
        Codec::Proto,
        parts.status.as_u16(),
        content_type,
        &body,
        &mut no_details,
    ) {
        Err(error) => (error.code, error.message.as_str().to_owned()),
        Ok(()) => (Code::Unknown, String::new()),
    };
    status(code, message).into_http()
}

/// The `Run` RPC on a request whose body the verifying layer has read:
/// path, `grpc-timeout`, tonic's deframing and decoding (proto codec, no
/// compression, messages up to the body limit), then the endpoint's
/// function-running core.
#[derive(Clone, Debug)]
pub struct GrpcRunService {
    run: RunService,
    limit: usize,
}

impl Service<Request<Full<Bytes>>> for GrpcRunService {
    type Response = Response<GrpcBody>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Full<Bytes>>) -> Self::Future {
        let service = self.clone();
        Box::pin(async move { Ok(GrpcBody::wrap(service.run(request).await)) })
    }
}

impl GrpcRunService {
    async fn run(self, request: Request<Full<Bytes>>) -> Response<tonic::body::Body> {
        if request.uri().path() != RUN_PATH || request.method() != Method::POST {
            return status(
                Code::Unimplemented,
                format!("no such RPC: {} {}", request.method(), request.uri().path()),
            )
            .into_http();
        }
        let timeout = match request.headers().get(TIMEOUT_HEADER) {
            None => None,
            Some(value) => match value.to_str().ok().and_then(super::parse_timeout) {
                Some(timeout) => Some(timeout),
                None => {
                    return status(Code::InvalidArgument, "malformed grpc-timeout header")
                        .into_http();
                }
            },
        };
        let mut grpc =
            tonic::server::Grpc::new(ProstCodec::<pb::RunResponse, pb::RunRequest>::default())
                .max_decoding_message_size(self.limit);
        grpc.unary(
            RunUnary {
                run: self.run,
                timeout,
            },
            request,
        )
        .await
    }
}

/// One unary call of `Run`, for tonic.
struct RunUnary {
    run: RunService,
    timeout: Option<Duration>,
}

impl tonic::server::UnaryService<pb::RunRequest> for RunUnary {
    type Response = pb::RunResponse;
    type Future = BoxFuture<Result<tonic::Response<pb::RunResponse>, tonic::Status>>;

    fn call(&mut self, request: tonic::Request<pb::RunRequest>) -> Self::Future {
        let run = self.run.clone();
        let timeout = self.timeout;
        Box::pin(async move {
            run.run_request(request.into_inner(), timeout)
                .await
                .map(tonic::Response::new)
                .map_err(|(code, message)| {
                    tracing::debug!(code = code.name(), %message, "grpc run refused");
                    status(code, message)
                })
        })
    }
}

/// The body of [`GrpcRunService`]'s responses: tonic's, made from bytes when
/// the verifying layer answers itself.
#[derive(Debug, Default)]
pub struct GrpcBody(tonic::body::Body);

impl GrpcBody {
    fn wrap(response: Response<tonic::body::Body>) -> Response<GrpcBody> {
        response.map(GrpcBody)
    }
}

impl From<Bytes> for GrpcBody {
    fn from(bytes: Bytes) -> Self {
        GrpcBody(tonic::body::Body::new(Full::new(bytes)))
    }
}

impl Body for GrpcBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        Pin::new(&mut self.0).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
    }
}
