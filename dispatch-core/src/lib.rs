//! The sans-IO core of the Dispatch protocol.
//!
//! Everything here is a pure function of its inputs: no sockets, no clock (the
//! time is a parameter), no environment, and no heap on the verification path.
//! It builds with `#![no_std]`; the `alloc` feature (on by default) adds the
//! generated messages, their validation and the `Any` helpers.
//!
//! | module | what |
//! |---|---|
//! | [`sfv`] | RFC 8941 structured fields: the one parser and serializer |
//! | [`signature`] | RFC 9421 request view, signature base, verification policy, signing |
//! | [`digest`] | RFC 9530 `Content-Digest`, incremental |
//! | [`key`] | Ed25519 public and private key parsing |
//! | [`connect`] | Connect codes, HTTP tables both ways, error JSON, unary rules |
//! | [`run`] | the Run RPC as a sans-IO handler: head, body, request, response, one [`Refusal`](run::Refusal) |
//! | [`status`] | `Status` classification and mappings |
//! | `validate` | the protocol's validation rules, in code (`alloc`) |
//! | `any` | packing and unpacking `google.protobuf.Any` values (`alloc`) |
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    warn(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod connect;
pub mod digest;
pub mod key;
pub mod run;
pub mod sfv;
pub mod signature;
pub mod status;

#[cfg(feature = "alloc")]
pub mod any;
#[cfg(feature = "alloc")]
pub mod validate;

/// The generated protocol messages (`dispatch-proto`), re-exported.
#[cfg(feature = "alloc")]
pub use dispatch_proto as proto;
