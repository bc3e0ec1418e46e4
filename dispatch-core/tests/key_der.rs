//! DER length forms in PKCS#8 keys: the long forms a key with attributes
//! needs are read, and every non-minimal length is refused (DER allows one
//! encoding only). Built by hand, because Ed25519 keys alone never need a
//! length over 127.

use base64ct::{Base64, Encoding};
use dispatch_core::key::{KeyError, parse_public_key, parse_signing_key};
use ed25519_dalek::SigningKey;

const SEED: [u8; 32] = [7; 32];

/// `tag`, a DER length in the given form, then `contents`.
fn element(tag: u8, length: &[u8], contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(length);
    out.extend_from_slice(contents);
    out
}

/// The minimal DER length of `len`.
fn minimal(len: usize) -> Vec<u8> {
    match len {
        0..=0x7f => vec![len as u8],
        0x80..=0xff => vec![0x81, len as u8],
        _ => vec![0x82, (len >> 8) as u8, len as u8],
    }
}

/// A PKCS#8 v1 Ed25519 key with an attributes field of `attributes_len`
/// bytes, its outer SEQUENCE length written as `outer_length` (minimal when
/// `None`).
fn pkcs8_with_attributes(attributes_len: usize, outer_length: Option<&[u8]>) -> String {
    let mut fields = vec![0x02, 0x01, 0x00]; // version 0
    fields.extend_from_slice(&[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70]); // id-Ed25519
    let seed = element(0x04, &[0x20], &SEED);
    fields.extend(element(0x04, &[0x22], &seed));
    let attributes = vec![0x31; attributes_len];
    fields.extend(element(0xa0, &minimal(attributes_len), &attributes));
    let outer = match outer_length {
        Some(length) => element(0x30, length, &fields),
        None => element(0x30, &minimal(fields.len()), &fields),
    };
    let body = Base64::encode_string(&outer);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|line| core::str::from_utf8(line).unwrap())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

#[test]
fn long_form_lengths_are_read() {
    let expected = SigningKey::from_bytes(&SEED);
    // 0x81 (one length byte) for the attributes and the outer SEQUENCE.
    for attributes_len in [0, 0x7f, 0x80, 0x90] {
        let pem = pkcs8_with_attributes(attributes_len, None);
        assert_eq!(
            parse_signing_key(&pem).map(|k| k.to_bytes()),
            Ok(expected.to_bytes()),
            "{attributes_len}"
        );
    }
    // 0x82 (two length bytes) for both.
    let pem = pkcs8_with_attributes(0x100, None);
    assert_eq!(
        parse_signing_key(&pem).map(|k| k.to_bytes()),
        Ok(expected.to_bytes())
    );
}

#[test]
fn non_minimal_lengths_are_refused() {
    // The fields of a key with 0x20 bytes of attributes: 3 + 7 + 36 + 2 + 0x20.
    let len = 48 + 0x20;
    assert_eq!(
        parse_signing_key(&pkcs8_with_attributes(0x20, Some(&[len as u8]))).map(|_| ()),
        Ok(())
    );
    for length in [
        vec![0x81, len as u8],             // fits in the short form
        vec![0x82, 0x00, len as u8],       // fits in one byte
        vec![0x83, 0x00, 0x00, len as u8], // three length bytes
        vec![0x80],                        // indefinite
    ] {
        assert_eq!(
            parse_signing_key(&pkcs8_with_attributes(0x20, Some(&length))).map(|_| ()),
            Err(KeyError::MalformedDer),
            "{length:02x?}"
        );
    }
}

/// The character before the padding must leave the unused bits zero
/// (canonical base64): a key that differs only there is refused.
#[test]
fn non_zero_trailing_bits_are_refused() {
    let key = Base64::encode_string(SigningKey::from_bytes(&SEED).verifying_key().as_bytes());
    assert!(parse_public_key(&key).is_ok());
    let (head, _) = key.split_at(42);
    for last in ['/', '+', '1', 'z', 'B'] {
        let text = format!("{head}{last}=");
        assert_eq!(parse_public_key(&text), Err(KeyError::Base64), "{text}");
    }
}
