//! Content-Digest parsing and checking: the first line is the header value,
//! the rest the body. Never panics; the digest we write for a body is always
//! accepted for that body; and the incremental hasher agrees with one-shot.
#![no_main]

use dispatch_core::digest::{
    Algorithm, ContentDigest, ExpectedDigest, MAX_HEADER_VALUE_LEN, check, write_header_value,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let (header, body) = data.split_at(split);
    let body = body.get(1..).unwrap_or_default();
    let result = check(header, body);
    if let Ok(expected) = ExpectedDigest::from_header(header) {
        let mut hasher = expected.hasher();
        for chunk in body.chunks(13) {
            hasher.update(chunk);
        }
        assert_eq!(expected.matches(&hasher.finish()), result.is_ok());
    }
    for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
        let digest = ContentDigest::of(algorithm, body);
        let mut incremental = ContentDigest::new(algorithm);
        for chunk in body.chunks(5) {
            incremental.update(chunk);
        }
        assert_eq!(incremental.finish(), digest);
        let mut out = [0u8; MAX_HEADER_VALUE_LEN];
        let value = write_header_value(&digest, &mut out).expect("fits");
        assert_eq!(check(value.as_bytes(), body), Ok(()));
    }
});
