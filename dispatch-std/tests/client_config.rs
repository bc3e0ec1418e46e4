//! Client configuration from DISPATCH_API_KEY / DISPATCH_API_URL and the builder.

use core::time::Duration;
use std::ffi::OsString;

use dispatch_std::client::{Client, ConfigError, DEFAULT_TIMEOUT};

/// An environment holding exactly these variables.
fn env(vars: &[(&str, &str)]) -> impl FnMut(&str) -> Option<OsString> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| {
        vars.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| OsString::from(v))
    }
}

#[test]
fn key_is_required() {
    let err = Client::builder().build_with_env(env(&[])).unwrap_err();
    assert_eq!(err, ConfigError::MissingApiKey);
    assert!(err.to_string().contains("DISPATCH_API_KEY"), "{err}");
    let err = Client::builder()
        .build_with_env(env(&[("DISPATCH_API_KEY", "")]))
        .unwrap_err();
    assert_eq!(err, ConfigError::MissingApiKey);
    let err = Client::builder()
        .build_with_env(env(&[("DISPATCH_API_KEY", "has space")]))
        .unwrap_err();
    assert_eq!(err, ConfigError::InvalidApiKey);
}

#[test]
fn defaults() {
    let client = Client::builder()
        .build_with_env(env(&[("DISPATCH_API_KEY", "key-from-env")]))
        .unwrap();
    assert_eq!(client.config().api_key.expose(), "key-from-env");
    assert_eq!(
        client.dispatch_url().as_str(),
        "https://api.dispatch.run/dispatch.sdk.v1.DispatchService/Dispatch"
    );
    assert_eq!(client.config().timeout, DEFAULT_TIMEOUT);
    assert_eq!(DEFAULT_TIMEOUT, Duration::from_secs(5));
    assert_eq!(client.config().retry.max_attempts(), 1);
}

#[test]
fn url_from_env() {
    let client = Client::builder()
        .build_with_env(env(&[
            ("DISPATCH_API_KEY", "k"),
            ("DISPATCH_API_URL", "http://localhost:4450"),
        ]))
        .unwrap();
    assert_eq!(
        client.dispatch_url().as_str(),
        "http://localhost:4450/dispatch.sdk.v1.DispatchService/Dispatch"
    );
}

#[test]
fn builder_wins_over_env() {
    let client = Client::builder()
        .api_key("from-builder")
        .api_url("https://example.com/base")
        .build_with_env(env(&[
            ("DISPATCH_API_KEY", "from-env"),
            ("DISPATCH_API_URL", "ftp://ignored"),
        ]))
        .unwrap();
    assert_eq!(client.config().api_key.expose(), "from-builder");
    assert_eq!(
        client.dispatch_url().as_str(),
        "https://example.com/base/dispatch.sdk.v1.DispatchService/Dispatch"
    );
}

#[test]
fn bad_urls() {
    let build = |url: &str| {
        Client::builder()
            .build_with_env(env(&[("DISPATCH_API_KEY", "k"), ("DISPATCH_API_URL", url)]))
            .unwrap_err()
    };
    assert_eq!(build(""), ConfigError::EmptyApiUrl);
    assert!(matches!(
        build("ftp://example.com"),
        ConfigError::UnsupportedScheme { .. }
    ));
    assert!(matches!(
        build("bridge://x"),
        ConfigError::UnsupportedScheme { .. }
    ));
    assert!(matches!(
        build("not a url"),
        ConfigError::InvalidApiUrl { .. }
    ));
    assert!(matches!(
        build("https://example.com/?q=1"),
        ConfigError::InvalidApiUrl { .. }
    ));
}

#[test]
fn bad_timeouts() {
    for timeout in [
        Duration::ZERO,
        Duration::from_micros(999),
        Duration::from_secs(10_000_000),
    ] {
        let err = Client::builder()
            .api_key("k")
            .timeout(timeout)
            .build_with_env(env(&[]))
            .unwrap_err();
        assert_eq!(err, ConfigError::InvalidTimeout, "{timeout:?}");
    }
}

#[test]
fn key_never_shown_in_debug() {
    let client = Client::builder()
        .api_key("abcdef-very-secret-key")
        .build_with_env(env(&[]))
        .unwrap();
    let shown = format!("{client:?}");
    assert!(shown.contains("abc********"), "{shown}");
    assert!(!shown.contains("abcd"), "{shown}");
}

#[test]
fn from_config_checks_the_url_too() {
    use dispatch_std::client::{ApiKey, ClientConfig, RetryPolicy};
    let config = ClientConfig {
        api_key: ApiKey::new("key-0123456789").unwrap(),
        api_url: "ftp://example.com".parse().unwrap(),
        timeout: DEFAULT_TIMEOUT,
        retry: RetryPolicy::none(),
    };
    let err = Client::from_config(config).unwrap_err();
    assert!(
        matches!(err, ConfigError::UnsupportedScheme { .. }),
        "{err}"
    );
}
