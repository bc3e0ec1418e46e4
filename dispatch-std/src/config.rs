//! Configuration from the environment, read the way the Dispatch SDKs read it.
//!
//! The endpoint side is [`EndpointConfig`]: `DISPATCH_ENDPOINT_URL` (required,
//! `http://`, `https://` or `bridge://`), `DISPATCH_ENDPOINT_ADDR` (default
//! `127.0.0.1:8000`) and `DISPATCH_VERIFICATION_KEY` (optional; empty means
//! no key).

use core::fmt;

pub use dispatch_core::key::KeyError;
use dispatch_core::key::parse_verification_key;
use ed25519_dalek::VerifyingKey;

/// The bind address used when `DISPATCH_ENDPOINT_ADDR` is not set.
pub const DEFAULT_ENDPOINT_ADDR: &str = "127.0.0.1:8000";

/// How a function endpoint is reached and whom it trusts.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EndpointConfig {
    /// `DISPATCH_ENDPOINT_URL`: the public URL the scheduler calls.
    pub url: String,
    /// `DISPATCH_ENDPOINT_ADDR`: the `host:port` to listen on.
    pub addr: String,
    /// `DISPATCH_VERIFICATION_KEY`: the key requests must be signed with;
    /// `None` when unset or empty (requests are then not verified).
    pub verification_key: Option<VerifyingKey>,
}

/// Why the endpoint configuration could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// `DISPATCH_ENDPOINT_URL` is unset or empty.
    MissingEndpointUrl,
    /// `DISPATCH_ENDPOINT_URL` is not an `http://`, `https://` or
    /// `bridge://` URL with a host.
    InvalidEndpointUrl(String),
    /// `DISPATCH_ENDPOINT_ADDR` is set but empty.
    EmptyEndpointAddr,
    /// `DISPATCH_VERIFICATION_KEY` is not an Ed25519 public key.
    InvalidVerificationKey(KeyError),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::MissingEndpointUrl => f.write_str(
                "DISPATCH_ENDPOINT_URL is not set: set it to the public URL of this endpoint",
            ),
            ConfigError::InvalidEndpointUrl(url) => write!(
                f,
                "DISPATCH_ENDPOINT_URL {url:?} is not an http://, https:// or bridge:// URL with a host"
            ),
            ConfigError::EmptyEndpointAddr => f.write_str("DISPATCH_ENDPOINT_ADDR is empty"),
            ConfigError::InvalidVerificationKey(error) => {
                write!(f, "DISPATCH_VERIFICATION_KEY is not valid: {error}")
            }
        }
    }
}

impl core::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            ConfigError::InvalidVerificationKey(error) => Some(error),
            _ => None,
        }
    }
}

impl EndpointConfig {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        EndpointConfig::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration from `lookup` (a variable's value, or `None`
    /// when it is unset), for tests and for configuration kept elsewhere.
    ///
    /// ```
    /// use dispatch_std::config::EndpointConfig;
    /// let config = EndpointConfig::from_lookup(|name| match name {
    ///     "DISPATCH_ENDPOINT_URL" => Some("bridge://session".into()),
    ///     _ => None,
    /// })
    /// .unwrap();
    /// assert_eq!(config.addr, "127.0.0.1:8000");
    /// assert!(config.verification_key.is_none());
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let url = lookup("DISPATCH_ENDPOINT_URL")
            .filter(|url| !url.is_empty())
            .ok_or(ConfigError::MissingEndpointUrl)?;
        if !endpoint_url_is_valid(&url) {
            return Err(ConfigError::InvalidEndpointUrl(url));
        }
        let addr = match lookup("DISPATCH_ENDPOINT_ADDR") {
            None => DEFAULT_ENDPOINT_ADDR.to_owned(),
            Some(addr) if addr.trim().is_empty() => return Err(ConfigError::EmptyEndpointAddr),
            Some(addr) => addr,
        };
        let verification_key = match lookup("DISPATCH_VERIFICATION_KEY") {
            None => None,
            Some(text) => {
                parse_verification_key(&text).map_err(ConfigError::InvalidVerificationKey)?
            }
        };
        Ok(EndpointConfig {
            url,
            addr,
            verification_key,
        })
    }

    /// Whether the endpoint is reached through the CLI's bridge (local
    /// development: requests arrive unsigned, and that is expected).
    pub fn is_bridge(&self) -> bool {
        self.url.starts_with("bridge://")
    }
}

/// `http://host…`, `https://host…` or `bridge://session…`.
fn endpoint_url_is_valid(url: &str) -> bool {
    ["http://", "https://", "bridge://"].iter().any(|scheme| {
        url.strip_prefix(scheme)
            .and_then(|rest| rest.split(['/', '?', '#']).next())
            .is_some_and(|host| !host.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<EndpointConfig, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        EndpointConfig::from_lookup(|name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn the_url_is_required_and_checked() {
        assert!(matches!(config(&[]), Err(ConfigError::MissingEndpointUrl)));
        assert!(matches!(
            config(&[("DISPATCH_ENDPOINT_URL", "ftp://x")]),
            Err(ConfigError::InvalidEndpointUrl(_))
        ));
        assert!(matches!(
            config(&[("DISPATCH_ENDPOINT_URL", "https://")]),
            Err(ConfigError::InvalidEndpointUrl(_))
        ));
        let ok = config(&[
            ("DISPATCH_ENDPOINT_URL", "https://my-app.example.com"),
            ("DISPATCH_ENDPOINT_ADDR", "0.0.0.0:9000"),
        ])
        .unwrap();
        assert_eq!(ok.addr, "0.0.0.0:9000");
        assert!(!ok.is_bridge());
    }

    #[test]
    fn an_empty_key_means_no_key() {
        let ok = config(&[
            ("DISPATCH_ENDPOINT_URL", "bridge://abc"),
            ("DISPATCH_VERIFICATION_KEY", ""),
        ])
        .unwrap();
        assert!(ok.verification_key.is_none());
        assert!(ok.is_bridge());
    }
}
