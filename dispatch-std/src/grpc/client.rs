//! The Dispatch API client over gRPC.

use core::fmt;
use std::ffi::OsString;

use bytes::Bytes;
use dispatch_core::connect::{self, Code};
use dispatch_proto::sdk::v1::{DispatchRequest, DispatchResponse};
use http::uri::PathAndQuery;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tonic::client::GrpcService;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic_prost::ProstCodec;

use super::code_of;
use crate::BoxError;
use crate::client::proto::Call;
use crate::client::retry::{grpc_retry_delay, with_retries};
use crate::client::{
    ClientBuilder, ClientConfig, ClientError, ConfigError, DispatchId, checked_request,
};

/// The built-in transport of [`GrpcClient`]: hyper's pooled HTTP/2 client,
/// cleartext (h2c) for `http://` API URLs and TLS (rustls, ALPN `h2`) for
/// `https://` ones.
pub type GrpcChannel = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<HttpConnector>,
    tonic::body::Body,
>;

/// A client of the Dispatch API over gRPC: `DispatchService/Dispatch` with
/// `authorization: Bearer <key>` metadata and the timeout as `grpc-timeout`
/// (also enforced here). Same configuration, checks, answers and errors as
/// the Connect [`Client`](crate::client::Client); a gRPC failure is
/// [`ClientError::Grpc`], except a refused key, which is
/// [`ClientError::Unauthenticated`] (HTTP status 200, as gRPC answers).
///
/// ```
/// use dispatch_std::client::Client;
/// use dispatch_std::grpc::GrpcClient;
///
/// let client = GrpcClient::from_builder(
///     Client::builder()
///         .api_key("my-key-0123456789")
///         .api_url("http://127.0.0.1:4450"),
/// )
/// .unwrap();
/// assert_eq!(client.config().api_url.as_str(), "http://127.0.0.1:4450/");
/// ```
#[derive(Clone)]
pub struct GrpcClient<T = GrpcChannel> {
    grpc: tonic::client::Grpc<T>,
    config: ClientConfig,
    authorization: AsciiMetadataValue,
}

impl<T> fmt::Debug for GrpcClient<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl GrpcClient {
    /// A client configured from `DISPATCH_API_KEY` and `DISPATCH_API_URL`,
    /// which must be an `http://` URL (see [`GrpcClient::from_config`]).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_builder(ClientBuilder::default())
    }

    /// A client with what `builder` sets, the rest from the environment (its
    /// reqwest client, if any, is not used).
    pub fn from_builder(builder: ClientBuilder) -> Result<Self, ConfigError> {
        Self::from_builder_with_env(builder, |name| std::env::var_os(name))
    }

    /// As [`GrpcClient::from_builder`], reading variables through `lookup`.
    pub fn from_builder_with_env(
        builder: ClientBuilder,
        lookup: impl FnMut(&str) -> Option<OsString>,
    ) -> Result<Self, ConfigError> {
        Self::from_config(builder.config_with_env(lookup)?)
    }

    /// A client over the built-in transport: h2c for an `http://` API URL,
    /// TLS for an `https://` one, trusting the platform's roots (as the
    /// Connect client does). For a private CA, see [`GrpcClient::with_tls`].
    pub fn from_config(config: ClientConfig) -> Result<Self, ConfigError> {
        use rustls_platform_verifier::BuilderVerifierExt as _;
        crate::client::ensure_crypto_provider();
        let tls = rustls::ClientConfig::builder()
            .with_platform_verifier()
            .map_err(|e| ConfigError::HttpClient(format!("the platform's TLS roots: {e}")))?
            .with_no_client_auth();
        Self::with_tls(config, tls)
    }

    /// A client over the built-in transport whose TLS connections use
    /// `tls` (its roots, its client certificate if any). Its ALPN list is
    /// replaced by `h2`, which gRPC needs.
    ///
    /// ```
    /// use dispatch_std::client::Client;
    /// use dispatch_std::grpc::GrpcClient;
    ///
    /// # dispatch_std::client::http_client("doc").unwrap(); // installs a provider
    /// let mut roots = rustls::RootCertStore::empty();
    /// // roots.add(my_private_ca)?;
    /// let tls = rustls::ClientConfig::builder()
    ///     .with_root_certificates(roots)
    ///     .with_no_client_auth();
    /// let config = Client::builder()
    ///     .api_key("my-key-0123456789")
    ///     .api_url("https://dispatch.internal.example")
    ///     .build_with_env(|_| None)
    ///     .unwrap()
    ///     .config()
    ///     .clone();
    /// let client = GrpcClient::with_tls(config, tls).unwrap();
    /// assert_eq!(client.config().api_url.scheme(), "https");
    /// ```
    pub fn with_tls(
        config: ClientConfig,
        mut tls: rustls::ClientConfig,
    ) -> Result<Self, ConfigError> {
        // The builder insists on setting ALPN itself.
        tls.alpn_protocols.clear();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http2()
            .build();
        let channel = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .http2_only(true)
            .build(connector);
        Self::with_service(config, channel)
    }
}

impl<T> GrpcClient<T>
where
    T: GrpcService<tonic::body::Body> + Clone,
    T::ResponseBody: http_body::Body<Data = Bytes> + Send + 'static,
    <T::ResponseBody as http_body::Body>::Error: Into<BoxError>,
{
    /// A client sending through `service` (any tower service of HTTP
    /// requests with tonic bodies: a TLS-capable hyper client, a tonic
    /// `Channel`, a test double), to the configured API URL.
    pub fn with_service(config: ClientConfig, service: T) -> Result<Self, ConfigError> {
        let invalid_url = |reason: &str| ConfigError::InvalidApiUrl {
            url: config.api_url.to_string(),
            reason: reason.to_owned(),
        };
        let origin: http::Uri = config
            .api_url
            .as_str()
            .trim_end_matches('/')
            .parse()
            .map_err(|_| invalid_url("not a URI"))?;
        if config.api_url.query().is_some() {
            return Err(invalid_url("a gRPC origin takes no query"));
        }
        let mut authorization: AsciiMetadataValue =
            MetadataValue::try_from(format!("Bearer {}", config.api_key.expose()))
                .map_err(|_| ConfigError::InvalidApiKey)?;
        authorization.set_sensitive(true);
        Ok(Self {
            grpc: tonic::client::Grpc::with_origin(service, origin),
            config,
            authorization,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Dispatches one call and returns its id.
    pub async fn dispatch(&self, call: Call) -> Result<DispatchId, ClientError> {
        let ids = self.dispatch_batch([call]).await?;
        ids.into_iter().next().ok_or_else(|| ClientError::Grpc {
            code: Code::Internal,
            message: "the response holds no dispatch id".to_owned(),
            retry_after: None,
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
        with_retries(&self.config.retry, || self.send_once(request.clone())).await
    }

    /// One unary call and the reading of its answer.
    async fn send_once(&self, request: DispatchRequest) -> Result<Vec<DispatchId>, ClientError> {
        let expected = request.calls.len();
        let mut request = tonic::Request::new(request);
        request.set_timeout(self.config.timeout);
        request
            .metadata_mut()
            .insert("authorization", self.authorization.clone());
        let mut grpc = self.grpc.clone();
        let call = async {
            grpc.ready()
                .await
                .map_err(|error| tonic::Status::unavailable(error.into().to_string()))?;
            grpc.unary(
                request,
                PathAndQuery::from_static(connect::DISPATCH_PATH),
                ProstCodec::<DispatchRequest, DispatchResponse>::default(),
            )
            .await
        };
        let response = match tokio::time::timeout(self.config.timeout, call).await {
            Ok(Ok(response)) => response.into_inner(),
            Ok(Err(status)) => return Err(self.status_error(&status)),
            Err(_elapsed) => {
                return Err(ClientError::Grpc {
                    code: Code::DeadlineExceeded,
                    message: format!("no answer within {} ms", self.config.timeout.as_millis()),
                    retry_after: None,
                });
            }
        };
        if response.dispatch_ids.len() != expected {
            return Err(ClientError::Grpc {
                code: Code::Internal,
                message: format!(
                    "sent {expected} calls but got {} dispatch ids",
                    response.dispatch_ids.len()
                ),
                retry_after: None,
            });
        }
        Ok(response
            .dispatch_ids
            .into_iter()
            .map(DispatchId::new)
            .collect())
    }

    /// The error for a gRPC status.
    fn status_error(&self, status: &tonic::Status) -> ClientError {
        let code = if never_connected(status) {
            // Nothing was sent: safe to retry, as the Connect client says.
            Code::Unavailable
        } else {
            code_of(status)
        };
        if code == Code::Unauthenticated {
            return ClientError::Unauthenticated {
                key_hint: self.config.api_key.redacted(),
                server_message: Some(status.message().to_owned()).filter(|m| !m.is_empty()),
                http_status: 200,
            };
        }
        ClientError::Grpc {
            code,
            message: status.message().to_owned(),
            retry_after: grpc_retry_delay(status.details()),
        }
    }
}

/// Whether the status reports that the built-in transport could not connect.
fn never_connected(status: &tonic::Status) -> bool {
    let mut source: Option<&(dyn core::error::Error + 'static)> =
        core::error::Error::source(status);
    while let Some(error) = source {
        if error
            .downcast_ref::<hyper_util::client::legacy::Error>()
            .is_some_and(hyper_util::client::legacy::Error::is_connect)
        {
            return true;
        }
        source = error.source();
    }
    false
}
