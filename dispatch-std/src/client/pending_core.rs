//! PLACEHOLDER until the core's `validate` module lands (branch `connect`).
//! The rule here belongs to `dispatch_core`; this file is deleted and its
//! user switched to the core's API as soon as it is merged. Do not build on it.

use dispatch_proto::sdk::v1::DispatchRequest;

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
