//! Configuration from the environment, read the way the Dispatch SDKs read it.
//!
//! The endpoint side is [`EndpointConfig`]: `DISPATCH_ENDPOINT_URL` (required,
//! `http://`, `https://` or `bridge://`), `DISPATCH_ENDPOINT_ADDR` (default
//! `127.0.0.1:8000`), `DISPATCH_VERIFICATION_KEY` and
//! [`ALLOW_UNVERIFIED_VAR`].
//!
//! It fails closed: a value that is not UTF-8, a verification key that does
//! not parse (or is a private key, or a key of another type) stops the
//! endpoint at start, and so does a missing key unless unsigned requests
//! are expected there: a `bridge://` URL (the CLI's local bridge), a
//! loopback host (`localhost`, `127.0.0.0/8`, `[::1]`), or an operator who
//! set `DISPATCH_ALLOW_UNVERIFIED=1`.

use core::fmt;
use core::net::IpAddr;
use std::ffi::OsString;

pub use dispatch_core::key::KeyError;
use dispatch_core::key::parse_verification_key;
use ed25519_dalek::VerifyingKey;

/// The bind address used when `DISPATCH_ENDPOINT_ADDR` is not set.
pub const DEFAULT_ENDPOINT_ADDR: &str = "127.0.0.1:8000";

/// The operator's opt-out: `1` (or `true`) lets an endpoint whose URL is
/// neither `bridge://` nor loopback start without a verification key, and
/// so accept unsigned requests; `0`, `false` or empty leave the rule on;
/// any other value stops the endpoint.
pub const ALLOW_UNVERIFIED_VAR: &str = "DISPATCH_ALLOW_UNVERIFIED";

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
    /// [`ALLOW_UNVERIFIED_VAR`]: the operator accepts unsigned requests at
    /// an endpoint that is neither `bridge://` nor loopback.
    pub allow_unverified: bool,
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
    /// A variable is set to bytes that are not UTF-8.
    NotUnicode {
        /// The variable's name.
        variable: &'static str,
    },
    /// No verification key, and the endpoint URL is neither `bridge://` nor
    /// loopback, and [`ALLOW_UNVERIFIED_VAR`] is not set.
    VerificationKeyRequired {
        /// `DISPATCH_ENDPOINT_URL`.
        url: String,
    },
    /// [`ALLOW_UNVERIFIED_VAR`] is neither `1`, `true`, `0`, `false` nor empty.
    InvalidAllowUnverified(String),
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
            ConfigError::NotUnicode { variable } => {
                write!(f, "{variable} is not valid UTF-8")
            }
            ConfigError::VerificationKeyRequired { url } => write!(
                f,
                "DISPATCH_VERIFICATION_KEY is not set, and DISPATCH_ENDPOINT_URL {url:?} is \
                 neither bridge:// nor loopback: set the key requests are signed with, or set \
                 {ALLOW_UNVERIFIED_VAR}=1 to accept unsigned requests"
            ),
            ConfigError::InvalidAllowUnverified(value) => write!(
                f,
                "{ALLOW_UNVERIFIED_VAR} {value:?} is not 1, true, 0, false or empty"
            ),
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
        EndpointConfig::from_lookup(|name| std::env::var_os(name))
    }

    /// Reads the configuration from `lookup` (a variable's value, or `None`
    /// when it is unset), for tests and for configuration kept elsewhere
    /// (the CLI's flags).
    ///
    /// ```
    /// use dispatch_std::config::{ConfigError, EndpointConfig};
    /// let config = EndpointConfig::from_lookup(|name| match name {
    ///     "DISPATCH_ENDPOINT_URL" => Some("bridge://session".into()),
    ///     _ => None,
    /// })
    /// .unwrap();
    /// assert_eq!(config.addr, "127.0.0.1:8000");
    /// assert!(config.verification_key.is_none());
    ///
    /// // A public endpoint without a key does not start.
    /// let refused = EndpointConfig::from_lookup(|name| match name {
    ///     "DISPATCH_ENDPOINT_URL" => Some("https://my-app.example.com".into()),
    ///     _ => None,
    /// });
    /// assert!(matches!(refused, Err(ConfigError::VerificationKeyRequired { .. })));
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> Result<Self, ConfigError> {
        let text = |variable: &'static str| -> Result<Option<String>, ConfigError> {
            lookup(variable)
                .map(|value| value.into_string())
                .transpose()
                .map_err(|_| ConfigError::NotUnicode { variable })
        };
        let url = text("DISPATCH_ENDPOINT_URL")?
            .filter(|url| !url.is_empty())
            .ok_or(ConfigError::MissingEndpointUrl)?;
        let addr = match text("DISPATCH_ENDPOINT_ADDR")? {
            None => DEFAULT_ENDPOINT_ADDR.to_owned(),
            Some(addr) if addr.trim().is_empty() => return Err(ConfigError::EmptyEndpointAddr),
            Some(addr) => addr,
        };
        let verification_key = match text("DISPATCH_VERIFICATION_KEY")? {
            None => None,
            Some(text) => {
                parse_verification_key(&text).map_err(ConfigError::InvalidVerificationKey)?
            }
        };
        let allow_unverified = match text(ALLOW_UNVERIFIED_VAR)?.as_deref().map(str::trim) {
            None | Some("" | "0" | "false") => false,
            Some("1" | "true") => true,
            Some(other) => return Err(ConfigError::InvalidAllowUnverified(other.to_owned())),
        };
        let config = EndpointConfig {
            url,
            addr,
            verification_key,
            allow_unverified,
        };
        config.check()?;
        Ok(config)
    }

    /// Checks the rules [`EndpointConfig::from_lookup`] applies, for a
    /// configuration changed after it was read: the URL's form, and a
    /// verification key wherever unsigned requests are not expected.
    pub fn check(&self) -> Result<(), ConfigError> {
        if !endpoint_url_is_valid(&self.url) {
            return Err(ConfigError::InvalidEndpointUrl(self.url.clone()));
        }
        if self.verification_key.is_none() && !self.allow_unverified && !self.expects_unsigned() {
            return Err(ConfigError::VerificationKeyRequired {
                url: self.url.clone(),
            });
        }
        Ok(())
    }

    /// Whether the endpoint is reached through the CLI's bridge (local
    /// development: requests arrive unsigned, and that is expected).
    pub fn is_bridge(&self) -> bool {
        self.url.starts_with("bridge://")
    }

    /// Whether unsigned requests are expected here without an opt-out: a
    /// `bridge://` URL, or one whose host is loopback (`localhost`,
    /// `127.0.0.0/8`, `[::1]`).
    pub fn expects_unsigned(&self) -> bool {
        self.is_bridge() || url_host_is_loopback(&self.url)
    }
}

/// Whether the URL's host is `localhost`, in `127.0.0.0/8` or `[::1]`.
fn url_host_is_loopback(url: &str) -> bool {
    let Ok(uri) = url.parse::<http::Uri>() else {
        return false;
    };
    let Some(host) = uri.host() else {
        return false;
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
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
            vars.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone().into())
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
            (ALLOW_UNVERIFIED_VAR, "1"),
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

    const PUBLIC_KEY: &str = "JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=";

    #[test]
    fn a_key_that_does_not_parse_stops_the_endpoint() {
        let private = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINQ7r3X8Q2t7v1hJm+zMZnP5d2zv8pJvQm7fZ2xJ2Z5M\n-----END PRIVATE KEY-----\n";
        for (key, expected) in [
            ("not a key", "DISPATCH_VERIFICATION_KEY is not valid: "),
            (private, "a private key was given"),
            (
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                "does not hold a key",
            ),
        ] {
            let error = config(&[
                ("DISPATCH_ENDPOINT_URL", "http://127.0.0.1:8000"),
                ("DISPATCH_VERIFICATION_KEY", key),
            ])
            .unwrap_err();
            assert!(matches!(error, ConfigError::InvalidVerificationKey(_)));
            let message = error.to_string();
            assert!(
                message.starts_with("DISPATCH_VERIFICATION_KEY"),
                "{message}"
            );
            assert!(message.contains(expected), "{message}");
        }
        let ok = config(&[
            ("DISPATCH_ENDPOINT_URL", "https://my-app.example.com"),
            ("DISPATCH_VERIFICATION_KEY", PUBLIC_KEY),
        ])
        .unwrap();
        assert!(ok.verification_key.is_some());
    }

    #[cfg(unix)]
    #[test]
    fn a_value_that_is_not_utf8_is_an_error_not_unset() {
        use std::os::unix::ffi::OsStringExt as _;
        let error = EndpointConfig::from_lookup(|name| match name {
            "DISPATCH_ENDPOINT_URL" => Some("http://localhost:8000".into()),
            "DISPATCH_VERIFICATION_KEY" => Some(OsString::from_vec(vec![0x4a, 0xff, 0x3d])),
            _ => None,
        })
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "DISPATCH_VERIFICATION_KEY is not valid UTF-8"
        );
    }

    #[test]
    fn no_key_only_where_unsigned_requests_are_expected() {
        for url in [
            "bridge://abc",
            "http://localhost:8000",
            "http://LOCALHOST",
            "http://127.0.0.1:8000/",
            "http://127.9.8.7",
            "http://[::1]:8000",
        ] {
            let ok = config(&[("DISPATCH_ENDPOINT_URL", url)]).unwrap();
            assert!(ok.expects_unsigned(), "{url}");
        }
        for url in [
            "https://my-app.example.com",
            "http://0.0.0.0:8000",
            "http://10.0.0.1",
            "http://[::2]:8000",
            "http://localhost.example.com",
            "http://127.0.0.1.nip.io",
        ] {
            let error = config(&[("DISPATCH_ENDPOINT_URL", url)]).unwrap_err();
            assert!(
                matches!(&error, ConfigError::VerificationKeyRequired { url: u } if u == url),
                "{url}: {error:?}"
            );
            assert!(error.to_string().contains(ALLOW_UNVERIFIED_VAR));
            let opted_out = config(&[
                ("DISPATCH_ENDPOINT_URL", url),
                (ALLOW_UNVERIFIED_VAR, "true"),
            ])
            .unwrap();
            assert!(opted_out.allow_unverified && opted_out.verification_key.is_none());
            for off in ["0", "false", ""] {
                assert!(
                    config(&[("DISPATCH_ENDPOINT_URL", url), (ALLOW_UNVERIFIED_VAR, off)]).is_err()
                );
            }
        }
        let error = config(&[
            ("DISPATCH_ENDPOINT_URL", "https://my-app.example.com"),
            (ALLOW_UNVERIFIED_VAR, "yes"),
        ])
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "DISPATCH_ALLOW_UNVERIFIED \"yes\" is not 1, true, 0, false or empty"
        );
    }

    #[test]
    fn a_changed_configuration_is_checked_again() {
        let mut config = config(&[
            ("DISPATCH_ENDPOINT_URL", "https://my-app.example.com"),
            ("DISPATCH_VERIFICATION_KEY", PUBLIC_KEY),
        ])
        .unwrap();
        config.verification_key = None;
        assert!(matches!(
            config.check(),
            Err(ConfigError::VerificationKeyRequired { .. })
        ));
    }
}
