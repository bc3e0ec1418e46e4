//! The messages of the Dispatch protocol (`dispatch.sdk.v1`, `dispatch.sdk.python.v1`)
//! and of this project's own durable-function journal (`dispatch.journal.v1`),
//! generated at build time from this repository's own `proto/` files.
//!
//! The types build without std (prost with default features off, `alloc` only).
//! Most users reach them through `dispatch_core::proto`, which re-exports this crate.
//!
//! ```
//! use dispatch_proto::sdk::v1::{RunResponse, Status};
//! use prost::Message;
//!
//! let response = RunResponse { status: Status::Ok as i32, directive: None };
//! let bytes = response.encode_to_vec();
//! assert_eq!(bytes, [0x08, 0x01]);
//! assert_eq!(RunResponse::decode(bytes.as_slice()).unwrap(), response);
//! ```
#![no_std]
#![forbid(unsafe_code)]
// The generated items' docs are the .proto files' comments, protocol text
// written for every language: a validation pattern such as `[a-zA-Z_]` is
// no intra-doc link.
#![allow(rustdoc::broken_intra_doc_links)]

#[cfg(feature = "std")]
extern crate std;

pub use prost;
pub use prost_types;

mod field_order;

/// The `dispatch.sdk` protobuf packages.
pub mod sdk {
    /// `dispatch.sdk.v1`: calls, runs, polls, results, errors and statuses.
    #[allow(missing_docs, clippy::all)]
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/dispatch.sdk.v1.rs"));
        pub use crate::field_order::{Poll, PollResult, poll, poll_result};
    }
    /// `dispatch.sdk.python.*`: types the Python SDK puts inside `Any` values.
    pub mod python {
        /// `dispatch.sdk.python.v1`: the `Pickled` wrapper.
        #[allow(missing_docs, clippy::all)]
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/dispatch.sdk.python.v1.rs"));
        }
    }
}

/// `dispatch.journal`: this project's own packages (not part of the upstream
/// protocol), language-neutral so that SDKs in any language can share them.
pub mod journal {
    /// `dispatch.journal.v1`: the journal a durable function's replay is
    /// answered from, carried in `Poll.typed_coroutine_state`.
    #[allow(missing_docs, clippy::all)]
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/dispatch.journal.v1.rs"));
    }
}

/// The compiled `FileDescriptorSet` of every message, well-known types included
/// (protobuf binary). Used by the proto3 JSON codec and by the wire guard.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/dispatch_descriptor_set.bin"));
