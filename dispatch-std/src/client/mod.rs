//! The client of the Dispatch API: `dispatch.sdk.v1.DispatchService/Dispatch`
//! over the Connect protocol (unary, `application/proto`) with reqwest.
//!
//! ```no_run
//! use dispatch_std::client::Client;
//! use dispatch_std::client::proto::Call;
//!
//! # async fn run() -> Result<(), Box<dyn core::error::Error>> {
//! // DISPATCH_API_KEY is required; DISPATCH_API_URL defaults to https://api.dispatch.run.
//! let client = Client::from_env()?;
//! let id = client
//!     .dispatch(Call {
//!         endpoint: "https://my-app.example.com".into(),
//!         function: "greet".into(),
//!         ..Default::default()
//!     })
//!     .await?;
//! println!("dispatched {id}");
//! # Ok(())
//! # }
//! ```
//!
//! What it does, per docs/protocol/connect.md:
//! * sends `Authorization: Bearer <key>`, `Content-Type: application/proto`,
//!   `Connect-Protocol-Version: 1` and `Connect-Timeout-Ms` (the configured
//!   timeout, 5000 by default, as dispatch-py);
//! * checks the calls before sending anything;
//! * returns one id per call, in order; an empty batch returns `[]` without a request;
//! * decodes errors per the Connect rules, inferring the code from the HTTP
//!   status when the body is not a Connect error;
//! * reports a refused key naming `DISPATCH_API_KEY` with at most its first 3 characters;
//! * never retries unless given a [`RetryPolicy`], and then only `unavailable`
//!   and `resource_exhausted`, waiting at least as long as the server asks
//!   (`Retry-After`, `google.rpc.RetryInfo`; [`ClientError::retry_after`]).

mod config;
mod error;
pub(crate) mod retry;

use core::fmt;
use core::time::Duration;
use std::ffi::OsString;
use std::time::SystemTime;

use dispatch_core::connect::{self, Codec, ResponseError};
use dispatch_core::validate::validate_dispatch_request;
use dispatch_proto::sdk::v1::{DispatchRequest, DispatchResponse};
use prost::Message as _;
use reqwest::Url;
use reqwest::header::{
    AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, DATE, HeaderValue, RETRY_AFTER,
};

pub use config::{
    API_KEY_ENV, API_URL_ENV, ApiKey, ClientConfig, ConfigError, DEFAULT_API_URL, DEFAULT_TIMEOUT,
};
pub use dispatch_core::connect::Code;
pub use error::ClientError;
pub use retry::{RETRY_INFO, RetryPolicy, parse_retry_after, retry_info_delay};

/// The messages a client sends and receives.
pub mod proto {
    pub use dispatch_proto::sdk::v1::{Call, DispatchRequest, DispatchResponse};
}

use proto::Call;

/// The largest response body read; a `DispatchResponse` holds only ids.
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// How much of a non-Connect error body is quoted in the error message.
const QUOTED_BODY_CHARS: usize = 256;
/// The longest server error message kept, in bytes (longer ones are cut).
const MESSAGE_CAPACITY: usize = 4096;

/// The id Dispatch gives a dispatched call.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DispatchId(String);

impl DispatchId {
    /// An id as Dispatch sent it (for the other transports of the crate).
    #[cfg(feature = "grpc")]
    pub(crate) fn new(id: String) -> Self {
        DispatchId(id)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DispatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<DispatchId> for String {
    fn from(id: DispatchId) -> Self {
        id.0
    }
}

impl AsRef<str> for DispatchId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for DispatchId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for DispatchId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// Builds a [`Client`]; values not set here come from the environment.
///
/// ```
/// use core::time::Duration;
/// use dispatch_std::client::{Client, RetryPolicy};
///
/// let client = Client::builder()
///     .api_key("my-key-0123456789")
///     .api_url("http://127.0.0.1:4450")
///     .timeout(Duration::from_secs(2))
///     .retry(RetryPolicy::exponential(3))
///     .build()
///     .unwrap();
/// assert_eq!(
///     client.dispatch_url().as_str(),
///     "http://127.0.0.1:4450/dispatch.sdk.v1.DispatchService/Dispatch"
/// );
/// ```
#[derive(Debug, Default, Clone)]
#[must_use]
pub struct ClientBuilder {
    api_key: Option<String>,
    api_url: Option<String>,
    timeout: Option<Duration>,
    retry: RetryPolicy,
    http: Option<reqwest::Client>,
}

impl ClientBuilder {
    /// Uses this API key instead of `DISPATCH_API_KEY`.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Uses this API URL instead of `DISPATCH_API_URL` or the default.
    pub fn api_url(mut self, url: impl Into<String>) -> Self {
        self.api_url = Some(url.into());
        self
    }

    /// Sets the per-attempt timeout (default [`DEFAULT_TIMEOUT`]), also sent
    /// as `Connect-Timeout-Ms`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the retry policy (default: no retry).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Uses this reqwest client (its TLS, proxy and pool settings) instead of
    /// the built-in one. Its redirect policy should be `none`: an RPC is not
    /// redirected.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Builds the client, reading what was not set from the process environment.
    pub fn build(self) -> Result<Client, ConfigError> {
        self.build_with_env(|name| std::env::var_os(name))
    }

    /// Builds the client, reading what was not set through `lookup` (the
    /// variable's value, or `None` when unset) instead of the process
    /// environment.
    ///
    /// ```
    /// use dispatch_std::client::{Client, ConfigError};
    ///
    /// let err = Client::builder().build_with_env(|_| None).unwrap_err();
    /// assert_eq!(err, ConfigError::MissingApiKey);
    /// ```
    pub fn build_with_env(
        mut self,
        lookup: impl FnMut(&str) -> Option<OsString>,
    ) -> Result<Client, ConfigError> {
        let http = self.http.take();
        let config = self.config_with_env(lookup)?;
        match http {
            Some(http) => Client::with_http_client(config, http),
            None => Client::from_config(config),
        }
    }

    /// The configuration: what was set here, the rest read through `lookup`
    /// (shared by the Connect and the gRPC clients).
    pub(crate) fn config_with_env(
        self,
        mut lookup: impl FnMut(&str) -> Option<OsString>,
    ) -> Result<ClientConfig, ConfigError> {
        Ok(ClientConfig {
            api_key: config::resolve_api_key(self.api_key, &mut lookup)?,
            api_url: config::resolve_api_url(self.api_url, &mut lookup)?,
            timeout: config::check_timeout(self.timeout.unwrap_or(DEFAULT_TIMEOUT))?,
            retry: self.retry,
        })
    }
}

/// The built-in reqwest client: rustls (ring unless the process installed
/// another provider), HTTP/1.1 and HTTP/2, no redirects.
fn default_http_client() -> Result<reqwest::Client, ConfigError> {
    http_client("dispatch-rs").map_err(|e| ConfigError::HttpClient(e.to_string()))
}

/// The one way this crate builds an HTTP client (the API client, the
/// scheduler and the CLI alike): rustls with the ring provider unless the
/// process installed another, HTTP/1.1 and HTTP/2, no redirects, and a
/// `User-Agent` of `product/version`.
pub fn http_client(product: &str) -> Result<reqwest::Client, reqwest::Error> {
    http_client_builder(product).build()
}

/// The builder [`http_client`] builds, for a caller that adds settings of
/// its own (the scheduler installs its DNS resolver).
pub fn http_client_builder(product: &str) -> reqwest::ClientBuilder {
    ensure_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(format!("{product}/{}", env!("CARGO_PKG_VERSION")))
}

/// Installs rustls's ring provider as the process default, unless one is
/// installed already.
pub(crate) fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: a provider is then installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// A client of the Dispatch API. Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    config: ClientConfig,
    dispatch_url: Url,
    authorization: HeaderValue,
    timeout_ms: HeaderValue,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .field("dispatch_url", &self.dispatch_url.as_str())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A builder; see [`ClientBuilder`].
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client configured from `DISPATCH_API_KEY` and `DISPATCH_API_URL`,
    /// with the default timeout and no retry.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::builder().build()
    }

    /// A client from a complete configuration, with the built-in HTTP client
    /// (rustls; it installs the ring crypto provider as the process default
    /// when no provider is installed yet).
    pub fn from_config(config: ClientConfig) -> Result<Self, ConfigError> {
        Self::with_http_client(config, default_http_client()?)
    }

    /// A client from a complete configuration and a reqwest client of your
    /// own (its TLS, proxy and pool settings; its redirect policy should be
    /// `none`: an RPC is not redirected).
    pub fn with_http_client(
        config: ClientConfig,
        http: reqwest::Client,
    ) -> Result<Self, ConfigError> {
        let mut authorization =
            HeaderValue::try_from(format!("Bearer {}", config.api_key.expose()))
                .map_err(|_| ConfigError::InvalidApiKey)?;
        authorization.set_sensitive(true);
        let timeout_ms = u64::try_from(config::check_timeout(config.timeout)?.as_millis())
            .map_err(|_| ConfigError::InvalidTimeout)?;
        let timeout_ms = HeaderValue::from_str(&connect::format_timeout_ms(timeout_ms))
            .map_err(|_| ConfigError::InvalidTimeout)?;
        // The fields are public, so a hand-made config gets the same checks.
        config::parse_api_url(config.api_url.as_str())?;
        let dispatch_url = join_dispatch_path(&config.api_url)?;
        Ok(Self {
            http,
            config,
            dispatch_url,
            authorization,
            timeout_ms,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The full URL requests go to.
    pub fn dispatch_url(&self) -> &Url {
        &self.dispatch_url
    }

    /// Dispatches one call and returns its id.
    pub async fn dispatch(&self, call: Call) -> Result<DispatchId, ClientError> {
        let ids = self.dispatch_batch([call]).await?;
        // dispatch_batch checked that there is exactly one id per call.
        ids.into_iter()
            .next()
            .ok_or_else(|| ClientError::InvalidResponse {
                code: Code::Internal,
                message: "the response holds no dispatch id".to_owned(),
                http_status: 200,
            })
    }

    /// Dispatches calls atomically (all or none) and returns their ids in
    /// the order of the calls. No calls: `[]`, and no request is made.
    pub async fn dispatch_batch(
        &self,
        calls: impl IntoIterator<Item = Call>,
    ) -> Result<Vec<DispatchId>, ClientError> {
        let Some(request) = checked_request(calls)? else {
            return Ok(Vec::new());
        };
        let expected = request.calls.len();
        let body = bytes_of(&request);
        retry::with_retries(&self.config.retry, || {
            self.send_once(reqwest::Body::from(body.clone()), expected)
        })
        .await
    }

    /// A batch bound to this client; see [`Batch`].
    pub fn batch(&self) -> Batch<'_> {
        Batch {
            client: self,
            calls: Vec::new(),
        }
    }

    /// One POST and the reading of its answer.
    async fn send_once(
        &self,
        body: reqwest::Body,
        expected: usize,
    ) -> Result<Vec<DispatchId>, ClientError> {
        let response = self
            .http
            .post(self.dispatch_url.clone())
            .header(AUTHORIZATION, self.authorization.clone())
            .header(CONTENT_TYPE, Codec::Proto.content_type())
            .header(connect::PROTOCOL_VERSION_HEADER, connect::PROTOCOL_VERSION)
            .header(connect::TIMEOUT_HEADER, self.timeout_ms.clone())
            .timeout(self.config.timeout)
            .body(body)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header(CONTENT_TYPE);
        let content_encoding = header(CONTENT_ENCODING);
        let retry_after = header(RETRY_AFTER).and_then(|value| {
            // An HTTP-date counts from the response's Date, so clock skew does not.
            let server_now = header(DATE)
                .and_then(|date| httpdate::parse_http_date(&date).ok())
                .unwrap_or_else(SystemTime::now);
            retry::parse_retry_after(&value, server_now)
        });
        let (body, complete) = read_limited(response, MAX_RESPONSE_BYTES)
            .await
            .map_err(transport_error)?;

        let invalid = |code, message: String| ClientError::InvalidResponse {
            code,
            message,
            http_status: 200,
        };
        // An error body cut short is not read as a Connect error.
        let classified_body = if complete { body.as_slice() } else { &[] };
        // Room for the details this client reads: a RetryInfo is 4 to 14 bytes.
        let mut details = [0u8; 64];
        if let Err(error) = connect::classify_response::<MESSAGE_CAPACITY>(
            Codec::Proto,
            status.as_u16(),
            content_type.as_deref().unwrap_or(""),
            classified_body,
            &mut details,
        ) {
            if status == reqwest::StatusCode::OK {
                return Err(invalid(
                    error.code,
                    format!("unexpected response content type {content_type:?}"),
                ));
            }
            return Err(self.error_response(status, &error, classified_body, retry_after));
        }
        if let Err(code) = connect::check_response_encoding(content_encoding.as_deref(), &[]) {
            return Err(invalid(
                code,
                format!("unexpected response content encoding {content_encoding:?}"),
            ));
        }
        if !complete {
            return Err(invalid(
                Code::Internal,
                format!("the response body is over {MAX_RESPONSE_BYTES} bytes"),
            ));
        }
        let decoded = DispatchResponse::decode(body.as_slice()).map_err(|e| {
            invalid(
                Code::Internal,
                format!("the response is not a DispatchResponse: {e}"),
            )
        })?;
        if decoded.dispatch_ids.len() != expected {
            return Err(invalid(
                Code::Internal,
                format!(
                    "sent {expected} calls but got {} dispatch ids",
                    decoded.dispatch_ids.len()
                ),
            ));
        }
        Ok(decoded.dispatch_ids.into_iter().map(DispatchId).collect())
    }

    /// The error for a non-200 response, from the core's classification.
    fn error_response(
        &self,
        status: reqwest::StatusCode,
        error: &ResponseError<'_, MESSAGE_CAPACITY>,
        body: &[u8],
        retry_after_header: Option<Duration>,
    ) -> ClientError {
        let http_status = status.as_u16();
        let mut server_message = error.message.as_str().to_owned();
        if error.message_truncated {
            server_message.push('…');
        }
        if error.code == Code::Unauthenticated {
            return ClientError::Unauthenticated {
                key_hint: self.config.api_key.redacted(),
                server_message: Some(server_message).filter(|m| !m.is_empty()),
                http_status,
            };
        }
        let message = if !server_message.is_empty() {
            server_message
        } else if error.source == connect::CodeSource::Body {
            // A valid Connect error without a message: the status says enough.
            describe_response(status, &[])
        } else {
            describe_response(status, body)
        };
        // RetryInfo in the body is the more precise of the two.
        let retry_info = error
            .details
            .iter()
            .find(|detail| detail.type_name.as_str() == retry::RETRY_INFO)
            .and_then(|detail| retry::retry_info_delay(detail.value));
        ClientError::Api {
            code: error.code,
            message,
            http_status,
            retry_after: retry_info.or(retry_after_header),
        }
    }
}

/// The request for `calls`, checked against the protocol's rules; `None`
/// when there are no calls (nothing is sent then).
pub(crate) fn checked_request(
    calls: impl IntoIterator<Item = Call>,
) -> Result<Option<DispatchRequest>, ClientError> {
    let request = DispatchRequest {
        calls: calls.into_iter().collect(),
    };
    if request.calls.is_empty() {
        return Ok(None);
    }
    validate_dispatch_request(&request).map_err(ClientError::InvalidRequest)?;
    Ok(Some(request))
}

/// Calls gathered to be dispatched together, like the SDKs' `Batch`.
///
/// ```no_run
/// # async fn run(client: dispatch_std::client::Client) -> Result<(), dispatch_std::client::ClientError> {
/// use dispatch_std::client::proto::Call;
/// let mut batch = client.batch();
/// batch.add(Call { endpoint: "https://my-app.example.com".into(), function: "a".into(), ..Default::default() });
/// batch.add(Call { endpoint: "https://my-app.example.com".into(), function: "b".into(), ..Default::default() });
/// let ids = batch.dispatch().await?; // two ids, in order; the batch is now empty
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Batch<'a> {
    client: &'a Client,
    calls: Vec<Call>,
}

impl Batch<'_> {
    /// Adds a call.
    pub fn add(&mut self, call: Call) -> &mut Self {
        self.calls.push(call);
        self
    }

    /// The calls gathered so far.
    pub fn calls(&self) -> &[Call] {
        &self.calls
    }

    /// Drops the gathered calls.
    pub fn reset(&mut self) {
        self.calls.clear();
    }

    /// Dispatches the gathered calls; on success the batch is emptied, on
    /// failure it keeps them.
    pub async fn dispatch(&mut self) -> Result<Vec<DispatchId>, ClientError> {
        let ids = self.client.dispatch_batch(self.calls.clone()).await?;
        self.calls.clear();
        Ok(ids)
    }
}

/// The API URL with the RPC path appended (the URL's own path is a routing prefix).
fn join_dispatch_path(api_url: &Url) -> Result<Url, ConfigError> {
    let mut url = api_url.clone();
    let prefix = api_url.path().trim_end_matches('/');
    url.set_path(&format!("{prefix}{}", connect::DISPATCH_PATH));
    if url.cannot_be_a_base() {
        return Err(ConfigError::InvalidApiUrl {
            url: api_url.to_string(),
            reason: "not a base URL".to_owned(),
        });
    }
    Ok(url)
}

/// The encoded request, shared between attempts without copying.
fn bytes_of(request: &DispatchRequest) -> bytes::Bytes {
    bytes::Bytes::from(request.encode_to_vec())
}

/// Maps an error that left no usable response.
fn transport_error(source: reqwest::Error) -> ClientError {
    let code = if source.is_timeout() {
        Code::DeadlineExceeded
    } else if source.is_connect() {
        // The connection was never made, so nothing was sent: safe to retry.
        Code::Unavailable
    } else {
        Code::Unknown
    };
    ClientError::Transport { code, source }
}

/// Reads a response body, stopping once it would pass `limit` bytes: the
/// bytes read, and `false` when the body was cut short. The one bounded
/// reader of responses (the API client's, the scheduler's).
pub async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len().saturating_add(chunk.len()) > limit {
            return Ok((body, false));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, true))
}

/// A message for an error response without a Connect message: the status and
/// the start of the body.
fn describe_response(status: reqwest::StatusCode, body: &[u8]) -> String {
    let mut out = format!("HTTP {}", status.as_u16());
    if let Some(reason) = status.canonical_reason() {
        out.push(' ');
        out.push_str(reason);
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if !text.is_empty() {
        out.push_str(": ");
        out.extend(text.chars().take(QUOTED_BODY_CHARS));
    }
    out
}
