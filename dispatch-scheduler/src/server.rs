//! The scheduler's HTTP side: `DispatchService/Dispatch` and the wait route.

use core::convert::Infallible;
use core::future::Future;
use core::task::{Context, Poll};
use core::time::Duration;
use std::sync::Arc;

use bytes::Bytes;
use dispatch_core::connect::{self, Code, Codec, ErrorBody};
use dispatch_core::proto::sdk::v1 as pb;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use prost::Message as _;
use subtle::ConstantTimeEq as _;
use tower_service::Service;

use crate::Inner;
use dispatch_std::BoxFuture;

/// The prefix of the scheduler's own wait route (not part of the Dispatch
/// protocol): `GET /_dispatch/v1/runs/<dispatch id>?wait_ms=<n>`.
pub const WAIT_PATH_PREFIX: &str = "/_dispatch/v1/runs/";

/// The longest a wait request may wait, in milliseconds.
const MAX_WAIT_MS: u64 = 60_000;

/// The scheduler as a tower service; see [`crate::Scheduler::service`].
#[derive(Clone)]
pub struct SchedulerService {
    inner: Arc<Inner>,
}

impl core::fmt::Debug for SchedulerService {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SchedulerService").finish_non_exhaustive()
    }
}

impl SchedulerService {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        SchedulerService { inner }
    }
}

impl<B> Service<Request<B>> for SchedulerService
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<dispatch_std::BoxError>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            Ok(match route(&inner, request).await {
                Ok(response) => response,
                Err(refusal) => refusal.into_response(),
            })
        })
    }
}

/// A refused request: a Connect error.
struct Refusal {
    status: u16,
    code: Code,
    message: String,
}

impl Refusal {
    fn new(code: Code, message: impl Into<String>) -> Self {
        Refusal {
            status: code.http_status(),
            code,
            message: message.into(),
        }
    }

    fn into_response(self) -> Response<Full<Bytes>> {
        let body = ErrorBody::new(self.code, &self.message);
        let mut buf = vec![0u8; self.message.len() * 6 + 64];
        let json = match body.encode_json(&mut buf) {
            Ok(len) => buf.get(..len).unwrap_or_default().to_vec(),
            Err(_) => format!(r#"{{"code":"{}"}}"#, self.code.name()).into_bytes(),
        };
        let mut response = Response::new(Full::new(Bytes::from(json)));
        *response.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(connect::CONTENT_TYPE_JSON),
        );
        response
    }
}

async fn route<B>(inner: &Arc<Inner>, request: Request<B>) -> Result<Response<Full<Bytes>>, Refusal>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<dispatch_std::BoxError>,
{
    let path = request.uri().path().to_owned();
    if path == connect::DISPATCH_PATH {
        if request.method() != Method::POST {
            return Err(Refusal {
                status: 405,
                code: Code::Unimplemented,
                message: format!(
                    "{} is not allowed; the Dispatch RPC takes POST",
                    request.method()
                ),
            });
        }
        authenticate(inner, &request)?;
        return dispatch(inner, request).await;
    }
    if let Some(id) = path.strip_prefix(WAIT_PATH_PREFIX) {
        if request.method() != Method::GET {
            return Err(Refusal {
                status: 405,
                code: Code::Unimplemented,
                message: format!(
                    "{} is not allowed; the wait route takes GET",
                    request.method()
                ),
            });
        }
        authenticate(inner, &request)?;
        let wait_ms = wait_ms(request.uri().query())?;
        let scheduler = crate::Scheduler {
            inner: Arc::clone(inner),
        };
        let info = scheduler
            .wait(id, Some(Duration::from_millis(wait_ms)))
            .await
            .ok_or_else(|| {
                Refusal::new(
                    Code::NotFound,
                    format!(
                        "no run {id:?}: this scheduler never started it, or it finished \
                         longer ago than the retention (--retain)"
                    ),
                )
            })?;
        let body = serde_json::to_vec(&info.to_json())
            .map_err(|e| Refusal::new(Code::Internal, e.to_string()))?;
        return Ok(ok_response(body, connect::CONTENT_TYPE_JSON));
    }
    Err(Refusal::new(
        Code::NotFound,
        format!("no such route: {path}"),
    ))
}

/// The `wait_ms` query parameter: 0 when absent, at most [`MAX_WAIT_MS`].
fn wait_ms(query: Option<&str>) -> Result<u64, Refusal> {
    let Some(value) = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("wait_ms="))
    else {
        return Ok(0);
    };
    value
        .parse::<u64>()
        .map(|ms| ms.min(MAX_WAIT_MS))
        .map_err(|_| Refusal::new(Code::InvalidArgument, "wait_ms must be a whole number"))
}

/// The Bearer check: `Authorization: Bearer <api key>`, the scheme in any
/// case (RFC 9110 section 11.1), one or more spaces before the token, the
/// token compared in constant time. Two Authorization headers are refused
/// (400), never judged by the first.
fn authenticate<B>(inner: &Inner, request: &Request<B>) -> Result<(), Refusal> {
    let Some(expected) = inner.config.api_key.as_deref() else {
        return Ok(());
    };
    let mut values = request.headers().get_all(header::AUTHORIZATION).iter();
    let presented = values
        .next()
        .ok_or_else(|| {
            Refusal::new(
                Code::Unauthenticated,
                "missing Authorization header: send Authorization: Bearer <DISPATCH_API_KEY>",
            )
        })?
        .as_bytes();
    if values.next().is_some() {
        return Err(Refusal::new(
            Code::InvalidArgument,
            "more than one Authorization header: send exactly one",
        ));
    }
    let not_bearer = || Refusal::new(Code::Unauthenticated, "the Authorization is not Bearer");
    let space = presented
        .iter()
        .position(|&b| b == b' ')
        .ok_or_else(not_bearer)?;
    let (scheme, rest) = presented.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Err(not_bearer());
    }
    let token = rest.trim_ascii_start();
    if bool::from(token.ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(Refusal::new(
            Code::Unauthenticated,
            "invalid API key (check DISPATCH_API_KEY)",
        ))
    }
}

enum BodyFailure {
    TooLarge,
    Stalled(Duration),
    Unreadable,
}

/// The whole body, at most `limit` bytes, each frame within `timeout` of
/// the one before, so that a client that stalls cannot hold the request.
async fn read_body<B>(body: B, limit: usize, timeout: Duration) -> Result<Vec<u8>, BodyFailure>
where
    B: http_body::Body<Data = Bytes>,
{
    let mut body = core::pin::pin!(body);
    let mut collected = Vec::new();
    loop {
        let frame = match tokio::time::timeout(timeout, body.as_mut().frame()).await {
            Err(_) => return Err(BodyFailure::Stalled(timeout)),
            Ok(None) => return Ok(collected),
            Ok(Some(Err(_))) => return Err(BodyFailure::Unreadable),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if collected.len().saturating_add(data.len()) > limit {
                return Err(BodyFailure::TooLarge);
            }
            collected.extend_from_slice(&data);
        }
    }
}

async fn dispatch<B>(
    inner: &Arc<Inner>,
    request: Request<B>,
) -> Result<Response<Full<Bytes>>, Refusal>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<dispatch_std::BoxError>,
{
    let headers = request.headers();
    if let Some(version) = headers.get(connect::PROTOCOL_VERSION_HEADER)
        && version.as_bytes() != connect::PROTOCOL_VERSION.as_bytes()
    {
        return Err(Refusal::new(
            Code::InvalidArgument,
            "Connect-Protocol-Version must be 1",
        ));
    }
    if let Some(encoding) = headers.get(header::CONTENT_ENCODING)
        && !encoding.as_bytes().eq_ignore_ascii_case(b"identity")
    {
        return Err(Refusal::new(
            Code::Unimplemented,
            "compressed requests are not supported; send identity",
        ));
    }
    let codec = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(Codec::from_content_type)
        .ok_or_else(|| Refusal {
            status: 415,
            code: Code::Unimplemented,
            message: "the content type must be application/proto or application/json".into(),
        })?;
    let limit = inner.config.body_limit;
    let too_large = || Refusal {
        status: 413,
        code: Code::ResourceExhausted,
        message: format!("the request body is larger than the limit of {limit} bytes"),
    };
    // A declared length over the limit is refused before a byte is read.
    let view = dispatch_std::http::HttpRequestView::new(
        request.method(),
        request.uri(),
        request.headers(),
        None,
    );
    dispatch_core::run::check_content_length(&view, limit).map_err(|refusal| match refusal {
        dispatch_core::run::Refusal::BodyTooLarge { .. } => too_large(),
        other => Refusal::new(other.code(), other.to_string()),
    })?;
    let body = read_body(request.into_body(), limit, inner.config.read_timeout)
        .await
        .map_err(|failure| match failure {
            BodyFailure::TooLarge => too_large(),
            BodyFailure::Stalled(timeout) => Refusal {
                status: 408,
                code: Code::DeadlineExceeded,
                message: format!("the client sent no data for {} ms", timeout.as_millis()),
            },
            BodyFailure::Unreadable => {
                Refusal::new(Code::InvalidArgument, "the request body could not be read")
            }
        })?;
    let decoded = match codec {
        Codec::Proto => pb::DispatchRequest::decode(body.as_ref()).map_err(|e| e.to_string()),
        Codec::Json => dispatch_std::json::from_json_slice::<pb::DispatchRequest>(&body)
            .map_err(|e| e.to_string()),
    };
    let dispatch_request = decoded.map_err(|why| {
        Refusal::new(
            Code::InvalidArgument,
            format!("the body is not a dispatch.sdk.v1.DispatchRequest: {why}"),
        )
    })?;
    let scheduler = crate::Scheduler {
        inner: Arc::clone(inner),
    };
    let ids = scheduler
        .dispatch(dispatch_request.calls)
        .await
        .map_err(|error| match error {
            crate::DispatchError::InvalidCalls(why) => Refusal::new(Code::InvalidArgument, why),
            crate::DispatchError::Stopped(why) => Refusal::new(Code::Unavailable, why),
            other => Refusal::new(Code::Internal, other.to_string()),
        })?;
    let response = pb::DispatchResponse { dispatch_ids: ids };
    match codec {
        Codec::Proto => Ok(ok_response(
            response.encode_to_vec(),
            connect::CONTENT_TYPE_PROTO,
        )),
        Codec::Json => {
            let body = dispatch_std::json::to_json_string(&response)
                .map_err(|e| Refusal::new(Code::Internal, e.to_string()))?;
            Ok(ok_response(body.into_bytes(), connect::CONTENT_TYPE_JSON))
        }
    }
}

fn ok_response(body: Vec<u8>, content_type: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Serves `service` on `listener` until `shutdown` completes, then stops
/// accepting and lets requests in flight finish.
pub(crate) async fn serve(
    service: SchedulerService,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    if let Ok(address) = listener.local_addr() {
        tracing::info!(target: "dispatch::scheduler", %address, "dispatch scheduler listening");
    }
    let mut options = dispatch_std::serve::ServeOptions::new("dispatch scheduler");
    // Wait requests can be long: give requests in flight a bounded grace.
    options.shutdown_grace = Some(Duration::from_secs(5));
    dispatch_std::serve::serve_connections(service, listener, shutdown, options).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_ms_is_optional_and_capped() {
        assert_eq!(wait_ms(None).ok(), Some(0));
        assert_eq!(wait_ms(Some("a=b")).ok(), Some(0));
        assert_eq!(wait_ms(Some("wait_ms=250")).ok(), Some(250));
        assert_eq!(wait_ms(Some("x=1&wait_ms=999999")).ok(), Some(MAX_WAIT_MS));
        assert!(wait_ms(Some("wait_ms=soon")).is_err());
    }

    #[test]
    fn refusals_are_connect_json_with_escaping() {
        let response = Refusal::new(Code::InvalidArgument, "a \"quoted\"\nline").into_response();
        assert_eq!(response.status(), 400);
        let body = futures_body(response);
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["code"], "invalid_argument");
        assert_eq!(json["message"], "a \"quoted\"\nline");
    }

    fn futures_body(response: Response<Full<Bytes>>) -> Bytes {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async { response.into_body().collect().await.unwrap().to_bytes() })
    }
}
