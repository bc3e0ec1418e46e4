//! PLACEHOLDER until the core's `connect` and `validate` modules land
//! (branch `connect`). Everything here is a rule that belongs to
//! `dispatch_core`; this file is deleted and its users switched to the core's
//! API as soon as it is merged. Do not build on it.

use core::fmt;

use dispatch_proto::sdk::v1::DispatchRequest;

/// A Connect error code (placeholder for `dispatch_core::connect::Code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(missing_docs)]
pub enum Code {
    Canceled,
    Unknown,
    InvalidArgument,
    DeadlineExceeded,
    NotFound,
    AlreadyExists,
    PermissionDenied,
    ResourceExhausted,
    FailedPrecondition,
    Aborted,
    OutOfRange,
    Unimplemented,
    Internal,
    Unavailable,
    DataLoss,
    Unauthenticated,
}

const NAMES: [(Code, &str); 16] = [
    (Code::Canceled, "canceled"),
    (Code::Unknown, "unknown"),
    (Code::InvalidArgument, "invalid_argument"),
    (Code::DeadlineExceeded, "deadline_exceeded"),
    (Code::NotFound, "not_found"),
    (Code::AlreadyExists, "already_exists"),
    (Code::PermissionDenied, "permission_denied"),
    (Code::ResourceExhausted, "resource_exhausted"),
    (Code::FailedPrecondition, "failed_precondition"),
    (Code::Aborted, "aborted"),
    (Code::OutOfRange, "out_of_range"),
    (Code::Unimplemented, "unimplemented"),
    (Code::Internal, "internal"),
    (Code::Unavailable, "unavailable"),
    (Code::DataLoss, "data_loss"),
    (Code::Unauthenticated, "unauthenticated"),
];

impl Code {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        NAMES
            .iter()
            .find(|(c, _)| *c == self)
            .map_or("unknown", |(_, n)| n)
    }

    /// The code of a snake_case name.
    pub fn from_name(name: &str) -> Option<Self> {
        NAMES.iter().find(|(_, n)| *n == name).map(|(c, _)| *c)
    }

    /// The code a client infers from an HTTP status alone.
    pub fn from_http_status(status: u16) -> Self {
        match status {
            400 => Self::Internal,
            401 => Self::Unauthenticated,
            403 => Self::PermissionDenied,
            404 => Self::Unimplemented,
            429 | 502..=504 => Self::Unavailable,
            _ => Self::Unknown,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Code and message of a non-200 unary response (placeholder for the core classifier).
pub(crate) fn classify_error(
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> (Code, Option<String>) {
    let inferred = Code::from_http_status(status);
    let is_json = content_type.is_some_and(|ct| {
        let ct = ct.trim().to_ascii_lowercase();
        ct == "application/json" || ct == "application/json; charset=utf-8"
    });
    if !is_json {
        return (inferred, None);
    }
    let Ok(serde_json::Value::Object(obj)) = serde_json::from_slice(body) else {
        return (inferred, None);
    };
    let code = obj
        .get("code")
        .and_then(|c| c.as_str())
        .and_then(Code::from_name)
        .unwrap_or(inferred);
    let message = obj
        .get("message")
        .and_then(|m| m.as_str())
        .map(str::to_owned);
    (code, message)
}

/// Placeholder for `dispatch_core::validate` on a `DispatchRequest`.
pub(crate) fn validate_dispatch_request(request: &DispatchRequest) -> Result<(), String> {
    for (i, call) in request.calls.iter().enumerate() {
        let endpoint_ok = ["http://", "https://", "bridge://", "arn:aws:lambda"]
            .iter()
            .any(|p| call.endpoint.starts_with(p));
        if !endpoint_ok {
            return Err(format!("calls[{i}].endpoint: not a supported endpoint URL"));
        }
        let mut chars = call.function.chars();
        let function_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || "_<>.".contains(c));
        if !function_ok {
            return Err(format!("calls[{i}].function: empty or invalid name"));
        }
        if call
            .expiration
            .is_some_and(|d| d.seconds < 0 || d.nanos < 0)
        {
            return Err(format!("calls[{i}].expiration: negative"));
        }
    }
    Ok(())
}
