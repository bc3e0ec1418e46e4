//! The scheduler's HTTP side: `DispatchService/Dispatch` and the wait route.

use core::convert::Infallible;
use core::future::Future;
use core::task::{Context, Poll};
use core::time::Duration;
use std::sync::Arc;

use bytes::Bytes;
use dispatch_core::connect::{self, Code, Codec, ErrorBody};
use dispatch_core::proto::sdk::v1 as pb;
use dispatch_std::http::Close;
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
            let (parts, body) = request.into_parts();
            let mut body = RequestBody::Unread(body);
            let mut response = match route(&inner, &parts, &mut body).await {
                Ok(response) => response,
                Err(refusal) => refusal.into_response(),
            };
            // An answer given before the body was read (a refusal from the
            // headers) first reads and drops it, within the body limit and
            // the read timeout, so that an HTTP/1.1 client still writing it
            // reads the answer; when that fails, the answer closes the
            // connection instead of leaving unread bytes on it.
            let drained = body.finish(&parts, &inner.config).await;
            Close::unless_drained(parts.version, drained).apply(response.headers_mut());
            Ok(response)
        })
    }
}

/// A request body as the route left it.
enum RequestBody<B> {
    /// Not read: the route answered from the head.
    Unread(B),
    /// Read to its end.
    Read,
    /// Read in part (too large, stalled, unreadable).
    Abandoned,
}

impl<B> RequestBody<B>
where
    B: http_body::Body<Data = Bytes>,
{
    /// Takes the body for reading; `None` if it was already taken.
    fn take(&mut self) -> Option<B> {
        match core::mem::replace(self, RequestBody::Abandoned) {
            RequestBody::Unread(body) => Some(body),
            other => {
                *self = other;
                None
            }
        }
    }

    /// Whether the body has been read to its end, discarding what is left
    /// of an unread one first.
    async fn finish(self, parts: &http::request::Parts, config: &crate::SchedulerConfig) -> bool {
        match self {
            RequestBody::Read => true,
            RequestBody::Abandoned => false,
            RequestBody::Unread(body) => {
                let view = dispatch_std::http::HttpRequestView::from_parts(parts, None);
                match dispatch_core::run::check_content_length(&view, config.body_limit) {
                    Ok(length) => {
                        dispatch_std::http::discard_body(
                            body,
                            length,
                            config.body_limit,
                            config.read_timeout,
                        )
                        .await
                    }
                    Err(_) => false,
                }
            }
        }
    }
}

/// A refused request: a Connect error.
struct Refusal {
    status: u16,
    code: Code,
    message: String,
    /// An extra header the answer carries (`Accept-Encoding` for an
    /// encoding it does not take).
    header: Option<(&'static str, &'static str)>,
}

impl Refusal {
    fn new(code: Code, message: impl Into<String>) -> Self {
        Refusal::with_status(code.http_status(), code, message)
    }

    fn with_status(status: u16, code: Code, message: impl Into<String>) -> Self {
        Refusal {
            status,
            code,
            message: message.into(),
            header: None,
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
        if let Some((name, value)) = self.header {
            response
                .headers_mut()
                .insert(name, HeaderValue::from_static(value));
        }
        response
    }
}

/// The core's refusals (of a Connect head or body), with their status,
/// message and header.
impl From<dispatch_core::run::Refusal<'_>> for Refusal {
    fn from(refusal: dispatch_core::run::Refusal<'_>) -> Self {
        Refusal {
            status: refusal.status(),
            code: refusal.code(),
            message: refusal.to_string(),
            header: refusal.header(),
        }
    }
}

async fn route<B>(
    inner: &Arc<Inner>,
    request: &http::request::Parts,
    body: &mut RequestBody<B>,
) -> Result<Response<Full<Bytes>>, Refusal>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<dispatch_std::BoxError>,
{
    let path = request.uri.path();
    if path == connect::DISPATCH_PATH {
        if request.method != Method::POST {
            return Err(Refusal::with_status(
                405,
                Code::Unimplemented,
                format!(
                    "{} is not allowed; the Dispatch RPC takes POST",
                    request.method
                ),
            ));
        }
        authenticate(inner, &request.headers)?;
        return dispatch(inner, request, body).await;
    }
    if let Some(id) = path.strip_prefix(WAIT_PATH_PREFIX) {
        if request.method != Method::GET {
            return Err(Refusal::with_status(
                405,
                Code::Unimplemented,
                format!(
                    "{} is not allowed; the wait route takes GET",
                    request.method
                ),
            ));
        }
        authenticate(inner, &request.headers)?;
        let wait_ms = wait_ms(request.uri.query())?;
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
    // As Connect servers answer a procedure they do not serve, and as the
    // endpoint does (docs/protocol/connect.md): 404 `unimplemented`.
    Err(Refusal::with_status(
        404,
        Code::Unimplemented,
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
fn authenticate(inner: &Inner, headers: &http::HeaderMap) -> Result<(), Refusal> {
    let Some(expected) = inner.config.api_key.as_deref() else {
        return Ok(());
    };
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
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
    request: &http::request::Parts,
    body: &mut RequestBody<B>,
) -> Result<Response<Full<Bytes>>, Refusal>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<dispatch_std::BoxError>,
{
    let headers = &request.headers;
    if let Some(version) = headers.get(connect::PROTOCOL_VERSION_HEADER)
        && version.as_bytes() != connect::PROTOCOL_VERSION.as_bytes()
    {
        return Err(Refusal::new(
            Code::InvalidArgument,
            "Connect-Protocol-Version must be 1",
        ));
    }
    let view = dispatch_std::http::HttpRequestView::from_parts(request, None);
    let encoding = dispatch_core::run::check_content_encoding(&view, true)?;
    let codec = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(Codec::from_content_type)
        .ok_or_else(|| {
            Refusal::with_status(
                415,
                Code::Unimplemented,
                "the content type must be application/proto or application/json",
            )
        })?;
    let limit = inner.config.body_limit;
    let too_large = || {
        Refusal::with_status(
            413,
            Code::ResourceExhausted,
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    };
    // A declared length over the limit is refused before a byte is read.
    dispatch_core::run::check_content_length(&view, limit).map_err(|refusal| match refusal {
        dispatch_core::run::Refusal::BodyTooLarge { .. } => too_large(),
        other => Refusal::from(other),
    })?;
    let unread = body
        .take()
        .ok_or_else(|| Refusal::new(Code::Internal, "the request body was already read"))?;
    let read = read_body(unread, limit, inner.config.read_timeout).await;
    if read.is_ok() {
        *body = RequestBody::Read;
    }
    let sent = read.map_err(|failure| match failure {
        BodyFailure::TooLarge => too_large(),
        BodyFailure::Stalled(timeout) => Refusal::with_status(
            408,
            Code::DeadlineExceeded,
            format!("the client sent no data for {} ms", timeout.as_millis()),
        ),
        BodyFailure::Unreadable => {
            Refusal::new(Code::InvalidArgument, "the request body could not be read")
        }
    })?;
    // The inflated body counts against the same limit as a plain one.
    let inflated = match encoding {
        dispatch_core::run::ContentEncoding::Gzip => dispatch_core::gzip::inflate(&sent, limit)
            .map_err(|error| match error {
                dispatch_core::gzip::GzipError::TooLarge { .. } => too_large(),
                other => Refusal::from(dispatch_core::run::Refusal::MalformedGzip {
                    why: other.message(),
                }),
            })?,
        _ => sent,
    };
    let decoded = match codec {
        Codec::Proto => pb::DispatchRequest::decode(inflated.as_ref()).map_err(|e| e.to_string()),
        Codec::Json => dispatch_std::json::from_json_slice::<pb::DispatchRequest>(&inflated)
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
    let (body, content_type) = match codec {
        Codec::Proto => (response.encode_to_vec(), connect::CONTENT_TYPE_PROTO),
        Codec::Json => {
            let body = dispatch_std::json::to_json_string(&response)
                .map_err(|e| Refusal::new(Code::Internal, e.to_string()))?;
            (body.into_bytes(), connect::CONTENT_TYPE_JSON)
        }
    };
    let mut answer = if dispatch_core::run::accepts_gzip(&view)
        && body.len() >= dispatch_core::run::COMPRESS_MIN_BYTES
    {
        let mut answer = ok_response(dispatch_core::gzip::compress(&body), content_type);
        answer
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        answer
    } else {
        ok_response(body, content_type)
    };
    // Connect servers say which request encodings they take.
    answer
        .headers_mut()
        .insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
    Ok(answer)
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
    let config = &service.inner.config;
    let mut options = dispatch_std::serve::ServeOptions::new("dispatch scheduler");
    options.header_read_timeout = Some(config.read_timeout);
    options.idle_timeout = config.idle_timeout;
    options.max_connections = config.max_connections;
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
