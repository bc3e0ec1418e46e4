//! The API client over gRPC (`grpc` feature).
//!
//! The protocol lets a client call Dispatch, and the scheduler call an
//! endpoint, over Connect or gRPC. The endpoint serves gRPC without this
//! feature ([`Endpoint::serve`] answers `application/grpc` requests on HTTP/2
//! from the core's Run handler); this module is the client side, on tonic's
//! codec and unary cores over HTTP/2: cleartext (h2c) for `http://` API URLs,
//! TLS (rustls) for `https://` ones ([`GrpcClient::with_tls`] for a private
//! CA, [`GrpcClient::with_service`] for any other transport).
//!
//! [`GrpcClient`] calls `DispatchService/Dispatch` with the same
//! configuration, validation, ids-in-order semantics, retry policy and
//! [`ClientError`](crate::client::ClientError) as the Connect
//! [`Client`](crate::client::Client).
//!
//! [`Endpoint::serve`]: crate::endpoint::Endpoint::serve

mod client;

use dispatch_core::connect::Code;

pub use client::{GrpcChannel, GrpcClient};

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
    fn codes_come_from_tonic_statuses() {
        for code in [
            Code::NotFound,
            Code::Unauthenticated,
            Code::PermissionDenied,
            Code::Unknown,
        ] {
            let number = i32::try_from(code.grpc_number()).unwrap();
            let status = tonic::Status::new(tonic::Code::from_i32(number), "x");
            assert_eq!(code_of(&status), code);
        }
    }
}
