//! What a dispatch can fail with.

use core::fmt;
use core::time::Duration;

use super::config::API_KEY_ENV;
use dispatch_core::connect::Code;
use dispatch_core::validate::ValidationError;

/// Why a dispatch failed. Every variant has a Connect [`Code`]
/// ([`ClientError::code`]); those that got an HTTP response also have its
/// status ([`ClientError::http_status`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// The calls break a protocol rule (which rule, on which call); nothing
    /// was sent (`invalid_argument`).
    InvalidRequest(ValidationError),
    /// Dispatch refused the API key (`unauthenticated`, usually HTTP 401).
    Unauthenticated {
        /// The key as it may be shown: at most its first 3 characters.
        key_hint: String,
        /// The server's message, if it sent one.
        server_message: Option<String>,
        /// The HTTP status.
        http_status: u16,
    },
    /// Dispatch answered with an error: a Connect error body, or a code
    /// inferred from the HTTP status when the body is not one.
    Api {
        /// The Connect code.
        code: Code,
        /// The server's message, or a description of the response.
        message: String,
        /// The HTTP status.
        http_status: u16,
        /// How long the server asked the client to wait before trying again
        /// (`Retry-After` in seconds or as an HTTP-date, or a `google.rpc.RetryInfo`
        /// detail).
        retry_after: Option<Duration>,
    },
    /// An HTTP 200 whose body cannot be the answer: wrong content type or
    /// encoding, undecodable, or not one id per call.
    InvalidResponse {
        /// `unknown` for a content type that is not `application/*`, else `internal`.
        code: Code,
        /// What is wrong.
        message: String,
        /// The HTTP status.
        http_status: u16,
    },
    /// No usable HTTP response: connection refused, TLS failure, timeout,
    /// or the connection broke while reading.
    Transport {
        /// `deadline_exceeded` for a timeout, `unavailable` when the
        /// connection could not be made (nothing was sent), else `unknown`.
        code: Code,
        /// The underlying error.
        source: reqwest::Error,
    },
    /// A gRPC call failed: the code of its `grpc-status` (or of the
    /// transport failure tonic reports as one: `unavailable` when the
    /// connection could not be made, so nothing was sent;
    /// `deadline_exceeded` when no answer came within the timeout) and its
    /// message.
    #[cfg(feature = "grpc")]
    Grpc {
        /// The code, from the gRPC status number.
        code: Code,
        /// The `grpc-message`, or what went wrong.
        message: String,
        /// How long the server asked the client to wait before trying again
        /// (a `google.rpc.RetryInfo` in `grpc-status-details-bin`).
        retry_after: Option<Duration>,
    },
}

impl ClientError {
    /// The Connect code.
    pub fn code(&self) -> Code {
        match self {
            Self::InvalidRequest(_) => Code::InvalidArgument,
            Self::Unauthenticated { .. } => Code::Unauthenticated,
            Self::Api { code, .. }
            | Self::InvalidResponse { code, .. }
            | Self::Transport { code, .. } => *code,
            #[cfg(feature = "grpc")]
            Self::Grpc { code, .. } => *code,
        }
    }

    /// The HTTP status, when a response was received.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Unauthenticated { http_status, .. }
            | Self::Api { http_status, .. }
            | Self::InvalidResponse { http_status, .. } => Some(*http_status),
            Self::InvalidRequest(_) | Self::Transport { .. } => None,
            #[cfg(feature = "grpc")]
            Self::Grpc { .. } => None,
        }
    }

    /// The error's message, without the code (what `Display` shows after it).
    pub fn message(&self) -> String {
        match self {
            Self::InvalidRequest(error) => error.to_string(),
            Self::Api { message, .. } | Self::InvalidResponse { message, .. } => message.clone(),
            Self::Unauthenticated {
                key_hint,
                server_message,
                ..
            } => {
                let mut out = format!("invalid {API_KEY_ENV}: {key_hint}");
                if let Some(said) = server_message.as_deref().filter(|m| !m.is_empty()) {
                    out.push_str(" (");
                    out.push_str(said);
                    out.push(')');
                }
                out
            }
            Self::Transport { source, .. } => source.to_string(),
            #[cfg(feature = "grpc")]
            Self::Grpc { message, .. } => message.clone(),
        }
    }

    /// How long the server asked the client to wait before trying again, if
    /// it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Api { retry_after, .. } => *retry_after,
            #[cfg(feature = "grpc")]
            Self::Grpc { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether Dispatch certainly did not take the calls and asks to try
    /// again later: `unavailable` or `resource_exhausted`. Only these are
    /// retried, and only with a [`RetryPolicy`](super::RetryPolicy) that allows it.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Api { code, .. } | Self::Transport { code, .. } => {
                matches!(code, Code::Unavailable | Code::ResourceExhausted)
            }
            #[cfg(feature = "grpc")]
            Self::Grpc { code, .. } => matches!(code, Code::Unavailable | Code::ResourceExhausted),
            _ => false,
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dispatch failed ({}", self.code())?;
        if let Some(status) = self.http_status() {
            write!(f, ", HTTP {status}")?;
        }
        write!(f, "): {}", self.message())
    }
}

impl core::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::InvalidRequest(error) => Some(error),
            Self::Transport { source, .. } => Some(source),
            _ => None,
        }
    }
}
