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
//!
//! On wasm32 the crate is `no_std` (with `alloc`): a panic traps at once
//! (`unreachable`) instead of going through std's panic machinery, which
//! with its message formatting is a large share of a small `.wasm`
//! (README: the size budget). Nothing here is meant to panic; a trap shows
//! up in JavaScript as a `RuntimeError: unreachable`.

#![cfg_attr(all(target_arch = "wasm32", not(test)), no_std)]

extern crate alloc;

/// The allocator std would bring on wasm32 (dlmalloc), declared here
/// because the crate is `no_std` there.
#[cfg(all(target_arch = "wasm32", not(test)))]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

/// A panic (none is expected) traps: no message is formatted.
#[cfg(all(target_arch = "wasm32", not(test)))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

mod connect;
mod convert;
mod keys;
mod refusal;
mod request;
mod run;
mod signing;
mod values;
