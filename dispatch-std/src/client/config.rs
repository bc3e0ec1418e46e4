//! The client's configuration: API key, API URL, timeout and retry policy,
//! read from `DISPATCH_API_KEY` / `DISPATCH_API_URL` the way the SDKs read them.

use core::fmt;
use core::time::Duration;
use std::ffi::OsString;

use reqwest::Url;

use super::retry::RetryPolicy;

/// The environment variable that holds the API key (required).
pub const API_KEY_ENV: &str = "DISPATCH_API_KEY";
/// The environment variable that overrides the API URL.
pub const API_URL_ENV: &str = "DISPATCH_API_URL";
/// The API URL used when neither the builder nor the environment sets one.
pub const DEFAULT_API_URL: &str = "https://api.dispatch.run";
/// The per-request timeout used unless one is configured (dispatch-py's 5 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A Dispatch API key. Its `Debug` and `Display` show only [`ApiKey::redacted`].
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key. It must be non-empty visible ASCII, as it goes into the
    /// `Authorization` header as is.
    ///
    /// ```
    /// use dispatch_std::client::ApiKey;
    /// assert!(ApiKey::new("abc-secret").is_ok());
    /// assert!(ApiKey::new("").is_err());
    /// ```
    pub fn new(key: impl Into<String>) -> Result<Self, ConfigError> {
        let key = key.into();
        if key.is_empty() {
            return Err(ConfigError::MissingApiKey);
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::InvalidApiKey);
        }
        Ok(Self(key))
    }

    /// The key itself, for the `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The key as it may appear in messages: at most its first 3 characters
    /// (none for keys shorter than 8), then a fixed run of `*` that does not
    /// reveal the length.
    ///
    /// ```
    /// use dispatch_std::client::ApiKey;
    /// assert_eq!(ApiKey::new("abcdefghijkl").unwrap().redacted(), "abc********");
    /// assert_eq!(ApiKey::new("short").unwrap().redacted(), "********");
    /// ```
    pub fn redacted(&self) -> String {
        // Short keys would be mostly revealed by three characters.
        let shown = if self.0.len() >= 8 { 3 } else { 0 };
        let mut out: String = self.0.chars().take(shown).collect();
        out.push_str("********");
        out
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ApiKey").field(&self.redacted()).finish()
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Why a client could not be configured.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// No API key: neither set on the builder nor in `DISPATCH_API_KEY` (or it is empty).
    MissingApiKey,
    /// The API key holds characters that cannot go into an HTTP header.
    InvalidApiKey,
    /// `DISPATCH_API_URL` is set but empty.
    EmptyApiUrl,
    /// An environment variable is not valid UTF-8 (its name).
    NotUnicode(&'static str),
    /// The API URL does not parse as an absolute URL.
    InvalidApiUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The API URL's scheme is neither `http` nor `https`.
    UnsupportedScheme {
        /// The URL as given.
        url: String,
    },
    /// The timeout is zero or does not fit `Connect-Timeout-Ms` (10 digits of ms).
    InvalidTimeout,
    /// The HTTP client could not be built (TLS setup).
    HttpClient(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingApiKey => write!(
                f,
                "missing Dispatch API key: set {API_KEY_ENV} or pass one to ClientBuilder::api_key"
            ),
            Self::InvalidApiKey => write!(
                f,
                "invalid Dispatch API key: it must be visible ASCII (check {API_KEY_ENV})"
            ),
            Self::EmptyApiUrl => write!(
                f,
                "{API_URL_ENV} is set but empty: unset it to use {DEFAULT_API_URL}"
            ),
            Self::NotUnicode(name) => write!(f, "{name} is not valid UTF-8"),
            Self::InvalidApiUrl { url, reason } => {
                write!(f, "invalid Dispatch API URL {url:?}: {reason}")
            }
            Self::UnsupportedScheme { url } => write!(
                f,
                "invalid Dispatch API URL {url:?}: the scheme must be http or https"
            ),
            Self::InvalidTimeout => {
                f.write_str("invalid timeout: it must be at least 1 ms and at most 9999999999 ms")
            }
            Self::HttpClient(reason) => write!(f, "cannot build the HTTP client: {reason}"),
        }
    }
}

impl core::error::Error for ConfigError {}

/// A complete, checked client configuration.
///
/// Usually built by [`ClientBuilder`](super::ClientBuilder); exposed so that
/// the values in use can be inspected.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The API key sent as `Authorization: Bearer <key>`.
    pub api_key: ApiKey,
    /// The API base URL (any path is a Connect routing prefix).
    pub api_url: Url,
    /// The per-attempt timeout, also sent as `Connect-Timeout-Ms`.
    pub timeout: Duration,
    /// What to do when Dispatch is unavailable or throttles.
    pub retry: RetryPolicy,
}

/// Reads one variable through `lookup`: `None` when unset.
fn read_var(
    lookup: &mut impl FnMut(&str) -> Option<OsString>,
    name: &'static str,
) -> Result<Option<String>, ConfigError> {
    match lookup(name) {
        None => Ok(None),
        Some(value) => value
            .into_string()
            .map(Some)
            .map_err(|_| ConfigError::NotUnicode(name)),
    }
}

/// The API key: the explicit one, else `DISPATCH_API_KEY`; empty counts as missing.
pub(super) fn resolve_api_key(
    explicit: Option<String>,
    lookup: &mut impl FnMut(&str) -> Option<OsString>,
) -> Result<ApiKey, ConfigError> {
    let key = match explicit {
        Some(key) => key,
        None => read_var(lookup, API_KEY_ENV)?.ok_or(ConfigError::MissingApiKey)?,
    };
    ApiKey::new(key)
}

/// The API URL: the explicit one, else `DISPATCH_API_URL` (set-but-empty is an
/// error), else [`DEFAULT_API_URL`].
pub(super) fn resolve_api_url(
    explicit: Option<String>,
    lookup: &mut impl FnMut(&str) -> Option<OsString>,
) -> Result<Url, ConfigError> {
    let raw = match explicit {
        Some(url) => url,
        None => match read_var(lookup, API_URL_ENV)? {
            Some(url) if url.is_empty() => return Err(ConfigError::EmptyApiUrl),
            Some(url) => url,
            None => DEFAULT_API_URL.to_owned(),
        },
    };
    parse_api_url(&raw)
}

/// Parses and checks an API base URL: absolute, http or https, with a host,
/// no query or fragment.
pub(super) fn parse_api_url(raw: &str) -> Result<Url, ConfigError> {
    let invalid = |reason: &str| ConfigError::InvalidApiUrl {
        url: raw.to_owned(),
        reason: reason.to_owned(),
    };
    if raw.is_empty() {
        return Err(ConfigError::EmptyApiUrl);
    }
    let url = Url::parse(raw).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError::UnsupportedScheme {
            url: raw.to_owned(),
        });
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("a query or fragment has no meaning here"));
    }
    Ok(url)
}

/// Checks that a timeout can be sent as `Connect-Timeout-Ms` (1..=10 digits).
pub(super) fn check_timeout(timeout: Duration) -> Result<Duration, ConfigError> {
    let ms = timeout.as_millis();
    if ms == 0 || ms > u128::from(dispatch_core::connect::MAX_TIMEOUT_MS) {
        return Err(ConfigError::InvalidTimeout);
    }
    Ok(timeout)
}
