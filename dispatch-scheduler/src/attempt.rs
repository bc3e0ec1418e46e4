//! One attempt: a signed `FunctionService/Run` request and what it came to.

use core::time::Duration;

use dispatch_core::connect::{self, Codec};
use dispatch_core::proto::sdk::v1 as pb;
use dispatch_core::signature::{BorrowedRequest, SIGNING_BUFFER_LEN, sign_request};
use dispatch_core::status::Status;
use ed25519_dalek::SigningKey;
use prost::Message as _;
use reqwest::Url;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};

/// What an attempt failed with: the status it counts as, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) status: Status,
    pub(crate) message: String,
    /// How long the endpoint asked to be left alone (`Retry-After`, or a
    /// `RetryInfo` detail of the Connect error).
    pub(crate) retry_after: Option<Duration>,
    /// The HTTP status of a refusal.
    pub(crate) http_status: Option<u16>,
}

impl Failure {
    fn new(status: Status, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
            retry_after: None,
            http_status: None,
        }
    }
}

/// The URL of the Run RPC at `endpoint`, which must meet the endpoint URL
/// rule ([`crate::policy::check_endpoint_url`]; a base path is kept).
pub(crate) fn run_url(endpoint: &str) -> Result<Url, Failure> {
    crate::policy::check_endpoint_url(endpoint)
        .map_err(|e| Failure::new(Status::InvalidArgument, e.to_string()))?;
    let base = endpoint.trim_end_matches('/');
    Url::parse(&format!("{base}{}", connect::RUN_PATH)).map_err(|e| {
        Failure::new(
            Status::InvalidArgument,
            format!("endpoint {endpoint:?} gives no Run URL: {e}"),
        )
    })
}

/// The settings an attempt needs.
pub(crate) struct AttemptConfig<'a> {
    pub(crate) http: &'a reqwest::Client,
    pub(crate) signing_key: Option<&'a SigningKey>,
    pub(crate) timeout: Duration,
    pub(crate) body_limit: usize,
}

/// Sends `request` to the Run RPC at `url` and returns the endpoint's answer.
pub(crate) async fn attempt(
    config: &AttemptConfig<'_>,
    url: &Url,
    request: &pb::RunRequest,
) -> Result<pb::RunResponse, Failure> {
    let body = request.encode_to_vec();
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(connect::CONTENT_TYPE_PROTO),
    );
    headers.insert(
        connect::PROTOCOL_VERSION_HEADER,
        HeaderValue::from_static(connect::PROTOCOL_VERSION),
    );
    let timeout_ms = u64::try_from(config.timeout.as_millis())
        .unwrap_or(u64::MAX)
        .clamp(1, connect::MAX_TIMEOUT_MS);
    if let Ok(value) = HeaderValue::from_str(&connect::format_timeout_ms(timeout_ms)) {
        headers.insert(connect::TIMEOUT_HEADER, value);
    }
    if let Some(key) = config.signing_key {
        sign(&mut headers, url, &body, key, dispatch_std::unix_now())
            .map_err(|why| Failure::new(Status::InvalidArgument, why))?;
    }

    let response = config
        .http
        .post(url.clone())
        .headers(headers)
        .body(body)
        // A little over the header's value: the endpoint's own 504 is more telling.
        .timeout(config.timeout.saturating_add(Duration::from_millis(500)))
        .send()
        .await
        .map_err(|e| transport_failure(url, &e))?;

    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| dispatch_std::client::parse_retry_after(v, std::time::SystemTime::now()));
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let encoding = response
        .headers()
        .get(reqwest::header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?"));
    if let Err(code) = connect::check_response_encoding(encoding, &[]) {
        return Err(Failure::new(
            Status::InvalidResponse,
            format!(
                "{url}: the response is in an encoding this scheduler did not ask for ({})",
                code.name()
            ),
        ));
    }
    let body = read_limited(response, config.body_limit)
        .await
        .map_err(|why| why.in_context(url))?;

    // Room for a RetryInfo detail (4 to 14 bytes).
    let mut details = [0u8; 64];
    if let Err(error) =
        connect::classify_response::<256>(Codec::Proto, status, &content_type, &body, &mut details)
    {
        let message = if error.message.is_empty() {
            format!("HTTP {status} ({})", error.code.name())
        } else {
            format!("HTTP {status} ({}): {}", error.code.name(), error.message)
        };
        let http_status = status;
        let status = if status == 200 {
            Status::InvalidResponse
        } else {
            Status::from_connect_code(error.code)
        };
        // RetryInfo in the body is the more precise of the two.
        let retry_info = error
            .details
            .iter()
            .find(|detail| detail.type_name.as_str() == dispatch_std::client::RETRY_INFO)
            .and_then(|detail| dispatch_std::client::retry_info_delay(detail.value));
        return Err(Failure {
            retry_after: retry_info.or(retry_after),
            http_status: Some(http_status),
            ..Failure::new(status, format!("{url}: {message}"))
        });
    }
    pb::RunResponse::decode(body.as_slice()).map_err(|e| {
        Failure::new(
            Status::InvalidResponse,
            format!("{url}: the 200 response is not a dispatch.sdk.v1.RunResponse: {e}"),
        )
    })
}

/// Adds `Content-Digest`, `Signature-Input` and `Signature` to `headers` for
/// a POST of `body` to `url` with `Content-Type: application/proto`, signed
/// by the core signer exactly as the hosted scheduler signs.
pub(crate) fn sign(
    headers: &mut HeaderMap,
    url: &Url,
    body: &[u8],
    key: &SigningKey,
    created: i64,
) -> Result<(), String> {
    let fields = [("content-type", connect::CONTENT_TYPE_PROTO)];
    let view = BorrowedRequest::from_url("POST", url.as_str(), &fields)
        .ok_or_else(|| format!("{url} cannot be signed: it has no authority"))?;
    let mut buf = vec![0u8; SIGNING_BUFFER_LEN + url.as_str().len() * 2];
    let signed = sign_request(&view, body, key, created, &mut buf)
        .map_err(|e| format!("signing the request to {url} failed: {e:?}"))?;
    for (name, value) in [
        ("content-digest", signed.content_digest),
        ("signature-input", signed.signature_input),
        ("signature", signed.signature),
    ] {
        let value = HeaderValue::from_str(value)
            .map_err(|_| format!("the signer produced an invalid {name} header"))?;
        headers.insert(name, value);
    }
    Ok(())
}

/// Why reading a response body failed.
struct ReadFailure(Failure);

impl ReadFailure {
    fn in_context(self, url: &Url) -> Failure {
        Failure::new(self.0.status, format!("{url}: {}", self.0.message))
    }
}

/// Reads the whole body, refusing more than `limit` bytes.
async fn read_limited(response: reqwest::Response, limit: usize) -> Result<Vec<u8>, ReadFailure> {
    match dispatch_std::client::read_limited(response, limit).await {
        Ok((body, true)) => Ok(body),
        Ok((_, false)) => Err(ReadFailure(Failure::new(
            Status::InvalidResponse,
            format!("the response body is over {limit} bytes"),
        ))),
        Err(e) => {
            let status = if e.is_timeout() {
                Status::Timeout
            } else {
                Status::HttpError
            };
            Err(ReadFailure(Failure::new(
                status,
                format!("reading the response failed: {}", error_chain(&e)),
            )))
        }
    }
}

/// The status of a request that got no response: a timeout, a refused or
/// failed connection (a name that does not resolve included), or a broken
/// exchange.
fn transport_failure(url: &Url, error: &reqwest::Error) -> Failure {
    if let Some(refusal) = crate::policy::refusal_in(error) {
        return refused(url, refusal);
    }
    let chain = error_chain(error);
    let status = if error.is_timeout() {
        Status::Timeout
    } else if chain.contains("dns error") || chain.contains("failed to lookup address") {
        Status::DnsError
    } else if error.is_connect() {
        Status::TcpError
    } else {
        Status::HttpError
    };
    Failure::new(status, format!("{url}: {chain}"))
}

/// A request the endpoint policy refused: `STATUS_PERMISSION_DENIED`, a
/// permanent failure that ends the run.
pub(crate) fn refused(url: &Url, refusal: &crate::policy::PolicyRefusal) -> Failure {
    Failure::new(Status::PermissionDenied, format!("{url}: {refusal}"))
}

/// An error and its sources, `: `-separated.
fn error_chain(error: &(dyn core::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}
