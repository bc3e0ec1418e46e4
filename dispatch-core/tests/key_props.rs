//! Property tests for `dispatch_core::key`: no key text panics a parser, and
//! every key survives rendering and reading back.

mod common;

use base64ct::{Base64, Encoding};
use dispatch_core::key::{
    KeyError, MAX_KEY_TEXT_LEN, PRIVATE_KEY_PEM_LEN, PUBLIC_KEY_PEM_LEN, parse_public_key,
    parse_signing_key, parse_verification_key, write_private_key_pem, write_public_key_base64,
    write_public_key_pem,
};
use ed25519_dalek::SigningKey;
use proptest::prelude::*;

const RFC_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=\n-----END PUBLIC KEY-----\n";
const RFC_PRIVATE_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----\n";
const RFC_SPKI_B64: &str = "MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=";
const RFC_PKCS8_B64: &str = "MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF";

/// Runs every parser; they must return (not panic), and the two public
/// readers must agree except that "empty" means "no key".
fn all_parsers(text: &str) {
    let public = parse_public_key(text);
    let configured = parse_verification_key(text);
    let _ = parse_signing_key(text);
    match (public, configured) {
        (Err(KeyError::Empty), Ok(None)) => {}
        (Ok(a), Ok(Some(b))) => assert_eq!(a, b),
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!("parse_public_key {a:?} but parse_verification_key {b:?}"),
    }
}

fn b64(bytes: &[u8]) -> String {
    let mut buf = vec![0u8; Base64::encoded_len(bytes)];
    Base64::encode(bytes, &mut buf).unwrap().to_owned()
}

fn unb64(text: &str) -> Vec<u8> {
    let mut buf = vec![0u8; text.len()];
    Base64::decode(text, &mut buf).unwrap().to_vec()
}

fn pem(label: &str, der: &[u8]) -> String {
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        b64(der)
    )
}

/// Strings built from the pieces that reach the interesting paths: both base64
/// alphabets, padding, dashes, PEM lines, whitespace and the literal `\n`.
fn key_like_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            "[A-Za-z0-9+/=_-]{1,8}",
            Just("-----BEGIN PUBLIC KEY-----".to_owned()),
            Just("-----END PUBLIC KEY-----".to_owned()),
            Just("-----BEGIN PRIVATE KEY-----".to_owned()),
            Just("-----END PRIVATE KEY-----".to_owned()),
            Just("\n".to_owned()),
            Just("\r\n".to_owned()),
            Just("\\n".to_owned()),
            Just(" ".to_owned()),
            Just("MCowBQYDK2VwAyEA".to_owned()),
        ],
        0..24,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::proptest_cases(2000)))]

    #[test]
    fn arbitrary_strings_never_panic(text in any::<String>()) {
        all_parsers(&text);
    }

    #[test]
    fn key_like_strings_never_panic(text in key_like_text()) {
        all_parsers(&text);
    }

    #[test]
    fn arbitrary_der_never_panics(der in prop::collection::vec(any::<u8>(), 0..120)) {
        all_parsers(&pem("PUBLIC KEY", &der));
        all_parsers(&pem("PRIVATE KEY", &der));
        all_parsers(&b64(&der));
    }

    #[test]
    fn mutated_rfc_key_text_never_panics(
        at in any::<prop::sample::Index>(),
        byte in 0u8..0x80,
        private in any::<bool>(),
    ) {
        let base = if private { RFC_PRIVATE_PEM } else { RFC_PUBLIC_PEM };
        let at = at.index(base.len());
        let mut bytes = base.as_bytes().to_vec();
        bytes[at] = byte;
        all_parsers(core::str::from_utf8(&bytes).unwrap());
        all_parsers(&base[..at]);
    }

    #[test]
    fn oversized_text_is_refused(extra in 1usize..64) {
        let text = "A".repeat(MAX_KEY_TEXT_LEN + extra);
        prop_assert_eq!(parse_public_key(&text), Err(KeyError::TooLong));
        prop_assert_eq!(parse_signing_key(&text).err(), Some(KeyError::TooLong));
    }

}

proptest! {
    // Each case derives public keys (scalar multiplications, slow in debug builds).
    #![proptest_config(ProptestConfig::with_cases(common::proptest_cases(128)))]

    #[test]
    fn mutated_rfc_der_never_panics(at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut der = unb64(RFC_PKCS8_B64);
        let i = at.index(der.len());
        der[i] = byte;
        all_parsers(&pem("PRIVATE KEY", &der));
        let mut der = unb64(RFC_SPKI_B64);
        let i = at.index(der.len());
        der[i] = byte;
        all_parsers(&pem("PUBLIC KEY", &der));
    }

    #[test]
    fn keys_round_trip(seed in any::<[u8; 32]>()) {
        let signing = SigningKey::from_bytes(&seed);
        let public = signing.verifying_key();
        let mut text = String::new();
        write_public_key_pem(&public, &mut text).unwrap();
        let text = text.as_str();
        prop_assert_eq!(text.len(), PUBLIC_KEY_PEM_LEN);
        prop_assert_eq!(parse_public_key(text), Ok(public));
        prop_assert_eq!(parse_signing_key(text).err(), Some(KeyError::PublicKeyGiven));

        let mut text = String::new();
        write_public_key_base64(&public, &mut text).unwrap();
        prop_assert_eq!(parse_verification_key(&text), Ok(Some(public)));

        let mut text = String::new();
        write_private_key_pem(&signing, &mut text).unwrap();
        let text = text.as_str();
        prop_assert_eq!(text.len(), PRIVATE_KEY_PEM_LEN);
        prop_assert_eq!(parse_signing_key(text).map(|k| k.to_bytes()), Ok(seed));
        prop_assert_eq!(parse_public_key(text), Err(KeyError::PrivateKeyGiven));

        prop_assert_eq!(parse_signing_key(&b64(&seed)).map(|k| k.to_bytes()), Ok(seed));
    }
}
