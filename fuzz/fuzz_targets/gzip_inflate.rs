//! Bounded gzip inflation (`dispatch_core::gzip::inflate`): never panics,
//! never returns more than the limit, and agrees with flate2 on its zlib-rs
//! backend (a port of zlib, independent of the miniz_oxide we inflate with)
//! on every input: what one inflates, the other inflates to the same bytes,
//! and a member followed by anything else is refused.
#![no_main]

use std::io::{BufRead, Read};

use dispatch_core::gzip::{GzipError, inflate};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 1 << 16;

/// flate2's reading of `data`: one member, inflated, and nothing after it.
fn reference(data: &[u8]) -> Option<Vec<u8>> {
    let mut input = data;
    let mut decoder = flate2::bufread::GzDecoder::new(&mut input);
    let mut out = Vec::new();
    // One byte past the limit tells "at the limit" from "over it".
    decoder.by_ref().take(LIMIT as u64 + 1).read_to_end(&mut out).ok()?;
    if out.len() > LIMIT {
        return Some(out);
    }
    let rest = decoder.into_inner();
    rest.fill_buf().ok()?.is_empty().then_some(out)
}

fuzz_target!(|data: &[u8]| {
    let ours = inflate(data, LIMIT);
    if let Ok(out) = &ours {
        assert!(out.len() <= LIMIT);
    }
    match (ours, reference(data)) {
        (Ok(out), Some(theirs)) => assert_eq!(out, theirs),
        (Err(GzipError::TooLarge { .. }), Some(theirs)) => assert!(theirs.len() > LIMIT),
        (Ok(_), None) => panic!("accepted what flate2 refuses"),
        (Err(error), Some(theirs)) if theirs.len() <= LIMIT => {
            // Both check the optional header CRC (FHCRC) and the trailer,
            // so any disagreement is a bug on one side.
            panic!("refused ({error}) what flate2 inflates")
        }
        _ => {}
    }
});
