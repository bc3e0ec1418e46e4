//! Dispatch on real HTTP stacks.
//!
//! Everything that touches sockets, clocks, the environment or files lives
//! here; every protocol rule lives in [`dispatch_core`], which this crate only
//! adapts.
//!
//! | module | what |
//! |---|---|
//! | [`json`] | proto3 canonical JSON for every message, `Any` through a type registry |
//! | [`client`] | the Dispatch API client (`DispatchService/Dispatch` over reqwest) |
#![forbid(unsafe_code)]

#[cfg(feature = "client")]
pub mod client;
pub mod json;
