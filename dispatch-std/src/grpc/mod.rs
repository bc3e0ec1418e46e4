//! The function endpoint and the API client over gRPC (`grpc` feature).
//!
//! The protocol lets the scheduler call an endpoint, and a client call
//! Dispatch, over Connect or gRPC; this module is the gRPC transport, on
//! tonic's codec and unary cores over cleartext HTTP/2 (h2c). TLS is the
//! deployer's choice: terminate it in front of the endpoint, or give the
//! client a TLS-capable service ([`GrpcClient::with_service`]).
//!
//! * Endpoint: [`Endpoint::grpc_service`] is the gRPC `Run` RPC as a tower
//!   service, [`Endpoint::service_with_grpc`] routes HTTP/2 requests with
//!   `Content-Type: application/grpc` (or `application/grpc+proto`) to it and
//!   everything else to the Connect endpoint, and
//!   [`Endpoint::serve_with_grpc`] serves both on one port. Requests go
//!   through the same [`VerifyLayer`](crate::layer::VerifyLayer) as Connect
//!   ones: the signature (whose `Content-Digest` covers the framed gRPC body,
//!   as sent) is checked over the raw body before it is deframed, under the
//!   same body limit. Failures are gRPC statuses with the core's
//!   [`Code`] numbers: unknown function
//!   `NOT_FOUND` (5), missing or malformed signature `UNAUTHENTICATED` (16),
//!   a signature that does not verify `PERMISSION_DENIED` (7), body over the
//!   limit `RESOURCE_EXHAUSTED` (8), run past its `grpc-timeout`
//!   `DEADLINE_EXCEEDED` (4), empty function name or malformed
//!   `grpc-timeout` `INVALID_ARGUMENT` (3), a message that does not decode
//!   `INTERNAL` (13, as gRPC servers report it, where Connect answers 400),
//!   another path `UNIMPLEMENTED` (12). A function's own failure is, as over
//!   Connect, a `RunResponse` with its status (gRPC status OK).
//! * Client: [`GrpcClient`] calls `DispatchService/Dispatch` with the same
//!   configuration, validation, ids-in-order semantics, retry policy and
//!   [`ClientError`](crate::client::ClientError) as the Connect
//!   [`Client`](crate::client::Client).
//!
//! ```no_run
//! use dispatch_std::endpoint::{Endpoint, Registry};
//!
//! # async fn run(registry: Registry) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! // Connect (HTTP/1.1 and HTTP/2) and gRPC (HTTP/2) on the same port.
//! Endpoint::new(registry)
//!     .serve_with_grpc(listener, async { tokio::signal::ctrl_c().await.ok(); })
//!     .await
//! # }
//! ```
//!
//! [`Endpoint::grpc_service`]: crate::endpoint::Endpoint::grpc_service
//! [`Endpoint::service_with_grpc`]: crate::endpoint::Endpoint::service_with_grpc
//! [`Endpoint::serve_with_grpc`]: crate::endpoint::Endpoint::serve_with_grpc

mod client;
mod server;

use core::time::Duration;

use dispatch_core::connect::Code;

pub use client::{GrpcClient, H2cChannel};
pub use server::{ConnectAndGrpcService, GrpcBody, GrpcEndpointService, GrpcRunService};

/// The `grpc-timeout` request header.
pub const TIMEOUT_HEADER: &str = "grpc-timeout";

/// Parses a `grpc-timeout` value: 1 to 8 ASCII digits and a unit, `H`
/// (hours), `M` (minutes), `S` (seconds), `m` (milliseconds), `u`
/// (microseconds) or `n` (nanoseconds). `None` for anything else.
///
/// ```
/// use core::time::Duration;
/// use dispatch_std::grpc::parse_timeout;
///
/// assert_eq!(parse_timeout("250m"), Some(Duration::from_millis(250)));
/// assert_eq!(parse_timeout("2H"), Some(Duration::from_secs(7200)));
/// assert_eq!(parse_timeout("123456789S"), None); // nine digits
/// assert_eq!(parse_timeout("5"), None); // no unit
/// ```
pub fn parse_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at_checked(value.len().checked_sub(1)?)?;
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // At most 99 999 999: no product below overflows.
    let count: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(count * 3600),
        "M" => Duration::from_secs(count * 60),
        "S" => Duration::from_secs(count),
        "m" => Duration::from_millis(count),
        "u" => Duration::from_micros(count),
        "n" => Duration::from_nanos(count),
        _ => return None,
    })
}

/// A tonic status for a core code.
fn status(code: Code, message: impl Into<String>) -> tonic::Status {
    let number = i32::try_from(code.grpc_number()).unwrap_or(2);
    tonic::Status::new(tonic::Code::from_i32(number), message)
}

/// The core code for a tonic status (`unknown` for a number gRPC does not
/// define; OK is never an error here).
fn code_of(status: &tonic::Status) -> Code {
    u32::try_from(i32::from(status.code()))
        .ok()
        .and_then(Code::from_grpc_number)
        .unwrap_or(Code::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse_in_every_unit_and_refuse_the_malformed() {
        assert_eq!(parse_timeout("1M"), Some(Duration::from_secs(60)));
        assert_eq!(parse_timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse_timeout("7u"), Some(Duration::from_micros(7)));
        assert_eq!(
            parse_timeout("99999999n"),
            Some(Duration::from_nanos(99_999_999))
        );
        assert_eq!(
            parse_timeout("99999999H"),
            Some(Duration::from_secs(99_999_999 * 3600))
        );
        for bad in ["", "m", "1x", "-1S", "+1S", "1 S", "1.5S", "１S"] {
            assert_eq!(parse_timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn codes_round_trip_through_tonic() {
        for code in [
            Code::NotFound,
            Code::Unauthenticated,
            Code::PermissionDenied,
            Code::Unknown,
        ] {
            assert_eq!(code_of(&status(code, "x")), code);
        }
        assert_eq!(status(Code::NotFound, "x").code(), tonic::Code::NotFound);
    }
}
