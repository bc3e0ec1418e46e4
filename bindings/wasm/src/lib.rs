//! `dispatch-core` for JavaScript: wasm-bindgen exports over the sans-IO
//! core. Every decision is the core's (`dispatch-core`); this crate only
//! converts JavaScript values to the core's inputs and the core's answers to
//! JavaScript values. The npm package's `index.js` wraps these exports in
//! the documented API (`verifyRequest`, `RunRpc`, ...); nothing here reads a
//! clock: times are parameters.
//!
//! A request crosses the boundary as its method, its absolute URL, its
//! header lines flattened into one array `[name0, value0, name1, value1,
//! ...]` (names may repeat; values are taken as UTF-8) and its body bytes.

mod connect;
mod convert;
mod keys;
mod refusal;
mod request;
mod run;
mod signing;
mod values;
