//! `dispatch-ffi`: the C ABI of `dispatch-core`, for SDKs in other languages.
//!
//! Every function here converts C arguments to the core's inputs, calls the
//! core, and writes the core's answer back: no rule of the protocol is
//! re-implemented. The boundary rules (ownership, status codes, panics,
//! threads, pointers) are stated at the top of `include/dispatch.h`, which
//! cbindgen generates from this crate (`cbindgen.toml` holds that preamble).
//!
//! The Run RPC offers binary protobuf only: the core lends no JSON codec
//! and this crate brings none, so an `application/json` Run request is
//! refused with 415 and `Accept-Post: application/proto`.

mod connect;
mod digest;
mod keys;
mod messages;
mod run;
mod sign;
mod types;
mod verify;

pub use connect::*;
pub use digest::*;
pub use keys::*;
pub use messages::*;
pub use run::*;
pub use sign::*;
pub use types::*;
pub use verify::*;
