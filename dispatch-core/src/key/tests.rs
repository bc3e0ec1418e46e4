use super::der::*;
use super::*;
use base64ct::{Base64, Encoding};

use std::string::String;
use std::vec::Vec;
use std::{format, vec};

// RFC 9421 B.1.4 test-key-ed25519.
const RFC_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=\n-----END PUBLIC KEY-----\n";
const RFC_PRIVATE_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----\n";
const RFC_PUBLIC_RAW: &str = "JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=";
const RFC_SEED: &str = "n4Ni+HpISpVObnQMW0wOhCKROaIKqKtW/2ZYb2p9KcU=";

fn b64(bytes: &[u8]) -> String {
    let mut buf = vec![0u8; Base64::encoded_len(bytes)];
    String::from(Base64::encode(bytes, &mut buf).unwrap())
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

fn rfc_public() -> VerifyingKey {
    parse_public_key(RFC_PUBLIC_RAW).unwrap()
}

fn rfc_raw() -> [u8; 32] {
    rfc_public().to_bytes()
}

fn spki_der(raw: &[u8; 32]) -> Vec<u8> {
    [&SPKI_PREFIX[..], raw].concat()
}

fn pkcs8_der(seed: &[u8]) -> Vec<u8> {
    [&PKCS8_PREFIX[..], seed].concat()
}

#[test]
fn rfc_test_key_in_every_form() {
    let public = rfc_public();
    assert_eq!(public.as_bytes()[..], unb64(RFC_PUBLIC_RAW)[..]);
    assert_eq!(parse_public_key(RFC_PUBLIC_PEM), Ok(public));
    assert_eq!(parse_verification_key(RFC_PUBLIC_PEM), Ok(Some(public)));
    let signing = parse_signing_key(RFC_PRIVATE_PEM).unwrap();
    assert_eq!(signing.verifying_key(), public);
    assert_eq!(b64(signing.as_bytes()), RFC_SEED);
    assert_eq!(
        parse_signing_key(RFC_SEED).unwrap().to_bytes(),
        signing.to_bytes()
    );
}

#[test]
fn renders_rfc_test_key_exactly() {
    let public = rfc_public();
    let signing = parse_signing_key(RFC_SEED).unwrap();
    let mut text = String::new();
    write_public_key_pem(&public, &mut text).unwrap();
    write_public_key_base64(&public, &mut text).unwrap();
    write_private_key_pem(&signing, &mut text).unwrap();
    assert_eq!(
        text,
        format!("{RFC_PUBLIC_PEM}{RFC_PUBLIC_RAW}{RFC_PRIVATE_PEM}")
    );
    assert_eq!(RFC_PUBLIC_PEM.len(), PUBLIC_KEY_PEM_LEN);
    assert_eq!(RFC_PRIVATE_PEM.len(), PRIVATE_KEY_PEM_LEN);
    assert_eq!(RFC_PUBLIC_RAW.len(), PUBLIC_KEY_BASE64_LEN);
}

#[test]
fn renders_into_a_buffer_of_the_documented_length_and_no_shorter() {
    use crate::sfv::SliceWriter;
    let signing = parse_signing_key(RFC_SEED).unwrap();
    let mut exact = [0u8; PRIVATE_KEY_PEM_LEN];
    let mut w = SliceWriter::new(&mut exact);
    write_private_key_pem(&signing, &mut w).unwrap();
    assert_eq!(w.into_str(), RFC_PRIVATE_PEM);
    let mut short = [0u8; PRIVATE_KEY_PEM_LEN - 1];
    assert!(write_private_key_pem(&signing, &mut SliceWriter::new(&mut short)).is_err());
    let mut short = [0u8; PUBLIC_KEY_PEM_LEN - 1];
    assert!(write_public_key_pem(&rfc_public(), &mut SliceWriter::new(&mut short)).is_err());
    let mut short = [0u8; PUBLIC_KEY_BASE64_LEN - 1];
    assert!(write_public_key_base64(&rfc_public(), &mut SliceWriter::new(&mut short)).is_err());
}

#[test]
fn tolerated_pem_layouts() {
    let public = rfc_public();
    let body = "MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=";
    for text in [
        format!("-----BEGIN PUBLIC KEY-----\\n{body}\\n-----END PUBLIC KEY-----"),
        format!("-----BEGIN PUBLIC KEY-----\\n{body}\\n-----END PUBLIC KEY-----\\n"),
        format!("-----BEGIN PUBLIC KEY-----\r\n{body}\r\n-----END PUBLIC KEY-----\r\n"),
        format!("  \t\n-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n\n  "),
        format!("-----BEGIN PUBLIC KEY-----  \n{body}\t\n-----END PUBLIC KEY-----"),
        // The body wrapped over several lines.
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n{}\n-----END PUBLIC KEY-----",
            &body[..20],
            &body[20..]
        ),
    ] {
        assert_eq!(parse_public_key(&text), Ok(public), "{text:?}");
    }
    let private = RFC_PRIVATE_PEM.replace('\n', "\\n");
    assert!(parse_signing_key(&private).is_ok());
    assert_eq!(
        parse_public_key(&format!(" {RFC_PUBLIC_RAW}\n")),
        Ok(public)
    );
}

#[test]
fn empty_means_no_key() {
    for text in ["", " ", "\n\t \r\n"] {
        assert_eq!(parse_verification_key(text), Ok(None));
        assert_eq!(parse_public_key(text), Err(KeyError::Empty));
        assert_eq!(parse_signing_key(text).err(), Some(KeyError::Empty));
    }
}

#[test]
fn too_long() {
    let long = format!("{RFC_PUBLIC_RAW}{}", " ".repeat(MAX_KEY_TEXT_LEN));
    assert_eq!(parse_public_key(&long), Err(KeyError::TooLong));
    assert_eq!(parse_verification_key(&long), Err(KeyError::TooLong));
    assert_eq!(parse_signing_key(&long).err(), Some(KeyError::TooLong));
    let at_limit = format!("{RFC_PUBLIC_RAW}{}", " ".repeat(MAX_KEY_TEXT_LEN - 44));
    assert!(parse_public_key(&at_limit).is_ok());
}

#[test]
fn base64url() {
    let url = "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs=";
    assert_eq!(parse_public_key(url), Err(KeyError::Base64Url));
    assert_eq!(parse_public_key(&url[..43]), Err(KeyError::Base64Url));
    assert_eq!(
        parse_signing_key("n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU").err(),
        Some(KeyError::Base64Url)
    );
    // Dashes alone do not make base64url.
    assert_eq!(parse_public_key("not-a-key"), Err(KeyError::Base64));
}

#[test]
fn hex() {
    let hex: String = rfc_raw().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(parse_public_key(&hex), Err(KeyError::Hex));
    assert_eq!(parse_public_key(&format!("0x{hex}")), Err(KeyError::Hex));
    assert_eq!(parse_public_key(&hex.to_uppercase()), Err(KeyError::Hex));
    assert_eq!(parse_signing_key(&hex).err(), Some(KeyError::Hex));
}

#[test]
fn missing_padding() {
    assert_eq!(
        parse_public_key(&RFC_PUBLIC_RAW[..43]),
        Err(KeyError::MissingPadding)
    );
    assert_eq!(
        parse_signing_key(&RFC_SEED[..43]).err(),
        Some(KeyError::MissingPadding)
    );
}

#[test]
fn bad_base64() {
    for text in [
        "foo",
        "JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs==",
        "JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=A",
        "JrQLj5P/89iXES9+vFgrIy29 clF9CC/oPPsw3c5D0bs=",
        "JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0b=s",
        // Non-zero trailing bits: a non-canonical encoding.
        "JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bt=",
        "JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0R==",
        "JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=é",
    ] {
        assert_eq!(parse_public_key(text), Err(KeyError::Base64), "{text:?}");
    }
    let broken_body = RFC_PUBLIC_PEM.replace("MCow", "MC*w");
    assert_eq!(parse_public_key(&broken_body), Err(KeyError::Base64));
    let url_body = RFC_PRIVATE_PEM.replace("Vv9", "Vv_");
    assert_eq!(parse_signing_key(&url_body).err(), Some(KeyError::Base64));
}

#[test]
fn wrong_lengths() {
    assert_eq!(
        parse_public_key("JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0Q=="),
        Err(KeyError::WrongLength { len: 31 })
    );
    assert_eq!(
        parse_public_key("JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bsA"),
        Err(KeyError::WrongLength { len: 33 })
    );
    assert_eq!(
        parse_public_key(&b64(&[7u8; 64])),
        Err(KeyError::WrongLength { len: 64 })
    );
    assert_eq!(
        parse_signing_key(&b64(&[7u8; 31])).err(),
        Some(KeyError::WrongLength { len: 31 })
    );
    // Inside DER: a 31-byte BIT STRING key, a 33-byte seed.
    let mut spki = spki_der(&rfc_raw());
    spki.pop();
    spki[1] -= 1;
    spki[10] -= 1;
    assert_eq!(
        parse_public_key(&pem("PUBLIC KEY", &spki)),
        Err(KeyError::WrongLength { len: 31 })
    );
    let mut pkcs8 = pkcs8_der(&[1u8; 33]);
    pkcs8[1] += 1;
    pkcs8[13] += 1;
    pkcs8[15] += 1;
    assert_eq!(
        parse_signing_key(&pem("PRIVATE KEY", &pkcs8)).err(),
        Some(KeyError::WrongLength { len: 33 })
    );
}

#[test]
fn missing_pem_armour() {
    let spki_body = b64(&spki_der(&rfc_raw()));
    assert_eq!(parse_public_key(&spki_body), Err(KeyError::MissingPemArmor));
    assert_eq!(
        parse_signing_key(&spki_body).err(),
        Some(KeyError::PublicKeyGiven)
    );
    let pkcs8_body = "MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF";
    assert_eq!(
        parse_signing_key(pkcs8_body).err(),
        Some(KeyError::MissingPemArmor)
    );
    assert_eq!(parse_public_key(pkcs8_body), Err(KeyError::PrivateKeyGiven));
}

#[test]
fn bad_pem_armour() {
    let body = "MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=";
    for text in [
        format!("-----BEGIN PUBLIC KEY-----\n{body}\n"),
        format!("-----BEGIN PUBLIC KEY-----\n{body}\n-----END PRIVATE KEY-----"),
        format!("-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY----"),
        format!("-----BEGIN PUBLIC KEY----\n{body}\n-----END PUBLIC KEY-----"),
        format!("-----BEGIN PUBLIC KEY-----{body}\n-----END PUBLIC KEY-----"),
        format!("-----BEGIN -----\n{body}\n-----END -----"),
        format!("-----END PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----"),
        format!("key: -----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----"),
        format!("-----BEGIN PUBLIC KEY-----\n{body}\n-----BEGIN PUBLIC KEY-----\n"),
        String::from("-----"),
        format!("-----BEGIN PUBLIC KEY-----{body}-----END PUBLIC KEY-----"),
    ] {
        assert_eq!(parse_public_key(&text), Err(KeyError::PemArmor), "{text:?}");
    }
}

#[test]
fn unexpected_pem_label() {
    let text = pem("CERTIFICATE", &spki_der(&rfc_raw()));
    assert_eq!(parse_public_key(&text), Err(KeyError::UnexpectedPemLabel));
    assert_eq!(
        parse_signing_key(&text).err(),
        Some(KeyError::UnexpectedPemLabel)
    );
}

#[test]
fn trailing_data() {
    let twice = format!("{RFC_PUBLIC_PEM}{RFC_PUBLIC_PEM}");
    assert_eq!(parse_public_key(&twice), Err(KeyError::TrailingData));
    let comment = format!("{RFC_PUBLIC_PEM}comment");
    assert_eq!(parse_public_key(&comment), Err(KeyError::TrailingData));
    // DER bytes after the SubjectPublicKeyInfo.
    let mut der = spki_der(&rfc_raw());
    der.extend_from_slice(&[0, 0]);
    assert_eq!(
        parse_public_key(&pem("PUBLIC KEY", &der)),
        Err(KeyError::TrailingData)
    );
    let mut der = pkcs8_der(&[1u8; 32]);
    der.push(0);
    assert_eq!(
        parse_signing_key(&pem("PRIVATE KEY", &der)).err(),
        Some(KeyError::TrailingData)
    );
}

#[test]
fn malformed_der() {
    let good = spki_der(&rfc_raw());
    let mut cases: Vec<Vec<u8>> = Vec::new();
    // Truncated.
    cases.push(good[..good.len() - 1].to_vec());
    // Outer tag not a SEQUENCE.
    cases.push([&[0x31], &good[1..]].concat());
    // Parameters present (an explicit NULL), which RFC 8410 forbids.
    let mut with_null = vec![
        0x30, 0x2c, 0x30, 0x07, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x05, 0x00,
    ];
    with_null.extend_from_slice(&good[9..]);
    cases.push(with_null);
    // Unused bits in the BIT STRING.
    let mut unused = good.clone();
    unused[11] = 1;
    cases.push(unused);
    // A non-minimal long-form length.
    let mut long_len = vec![0x30, 0x81, 0x2a];
    long_len.extend_from_slice(&good[2..]);
    cases.push(long_len);
    // Indefinite length.
    cases.push([&[0x30, 0x80], &good[2..], &[0, 0]].concat());
    // BIT STRING replaced by an OCTET STRING.
    let mut octets = good.clone();
    octets[9] = 0x04;
    cases.push(octets);
    // Empty.
    cases.push(Vec::new());
    for der in cases {
        assert_eq!(
            parse_public_key(&pem("PUBLIC KEY", &der)),
            Err(KeyError::MalformedDer),
            "{der:02x?}"
        );
    }
    // PKCS#8 with an unknown version, or a bare seed where the inner OCTET STRING belongs.
    let mut v3 = pkcs8_der(&[1u8; 32]);
    v3[4] = 2;
    assert_eq!(
        parse_signing_key(&pem("PRIVATE KEY", &v3)).err(),
        Some(KeyError::MalformedDer)
    );
    let mut flat = vec![
        0x30, 0x2c, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x20,
    ];
    flat.extend_from_slice(&[1u8; 32]);
    assert_eq!(
        parse_signing_key(&pem("PRIVATE KEY", &flat)).err(),
        Some(KeyError::MalformedDer)
    );
}

#[test]
fn other_key_types() {
    // A P-256 SubjectPublicKeyInfo (id-ecPublicKey, prime256v1).
    let p256 = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqIVYZVLCrPZHGHjP17CTW0/+D9Lf\nw0EkjqF7xB4FivAxzic30tMM4GF+hR6Dxh71Z50VGGdldkkDXZCnTNnoXQ==\n-----END PUBLIC KEY-----\n";
    assert_eq!(parse_public_key(p256), Err(KeyError::UnsupportedKeyType));
    // X25519 (1.3.101.110) and Ed448 (1.3.101.113) have the same shape as Ed25519.
    for last in [0x6e, 0x71] {
        let mut der = spki_der(&rfc_raw());
        der[8] = last;
        assert_eq!(
            parse_public_key(&pem("PUBLIC KEY", &der)),
            Err(KeyError::UnsupportedKeyType)
        );
        let mut der = pkcs8_der(&[1u8; 32]);
        der[11] = last;
        assert_eq!(
            parse_signing_key(&pem("PRIVATE KEY", &der)).err(),
            Some(KeyError::UnsupportedKeyType)
        );
    }
    let rsa = pem("RSA PUBLIC KEY", &[0x30, 0x00]);
    assert_eq!(parse_public_key(&rsa), Err(KeyError::UnsupportedKeyType));
    let openssh = pem("OPENSSH PRIVATE KEY", &[0x30, 0x00]);
    assert_eq!(
        parse_signing_key(&openssh).err(),
        Some(KeyError::UnsupportedKeyType)
    );
}

#[test]
fn encrypted_private_key() {
    let text = pem("ENCRYPTED PRIVATE KEY", &[0x30, 0x00]);
    assert_eq!(
        parse_signing_key(&text).err(),
        Some(KeyError::EncryptedPrivateKey)
    );
    assert_eq!(parse_public_key(&text), Err(KeyError::PrivateKeyGiven));
}

#[test]
fn private_key_where_public_expected() {
    assert_eq!(
        parse_public_key(RFC_PRIVATE_PEM),
        Err(KeyError::PrivateKeyGiven)
    );
    assert_eq!(
        parse_verification_key(RFC_PRIVATE_PEM),
        Err(KeyError::PrivateKeyGiven)
    );
    let ec = pem("EC PRIVATE KEY", &[0x30, 0x00]);
    assert_eq!(parse_public_key(&ec), Err(KeyError::PrivateKeyGiven));
    // PKCS#8 DER under a PUBLIC KEY label.
    let body = RFC_PRIVATE_PEM.replace("PRIVATE", "PUBLIC");
    assert_eq!(parse_public_key(&body), Err(KeyError::PrivateKeyGiven));
    // Seed followed by its public key, as libsodium and Go store it.
    let signing = parse_signing_key(RFC_SEED).unwrap();
    assert_eq!(
        parse_public_key(&b64(&signing.to_keypair_bytes())),
        Err(KeyError::PrivateKeyGiven)
    );
}

#[test]
fn public_key_where_private_expected() {
    assert_eq!(
        parse_signing_key(RFC_PUBLIC_PEM).err(),
        Some(KeyError::PublicKeyGiven)
    );
    // SubjectPublicKeyInfo DER under a PRIVATE KEY label.
    let text = RFC_PUBLIC_PEM.replace("PUBLIC", "PRIVATE");
    assert_eq!(
        parse_signing_key(&text).err(),
        Some(KeyError::PublicKeyGiven)
    );
}

#[test]
fn invalid_point() {
    // y = 2 has no x on the curve.
    let mut raw = [0u8; 32];
    raw[0] = 2;
    assert_eq!(parse_public_key(&b64(&raw)), Err(KeyError::InvalidPoint));
    assert_eq!(
        parse_public_key(&pem("PUBLIC KEY", &spki_der(&raw))),
        Err(KeyError::InvalidPoint)
    );
}

#[test]
fn weak_key() {
    // The identity point (y = 1) has order 1.
    let mut raw = [0u8; 32];
    raw[0] = 1;
    assert_eq!(parse_public_key(&b64(&raw)), Err(KeyError::WeakKey));
}

#[test]
fn pkcs8_v2_with_public_key() {
    let signing = parse_signing_key(RFC_SEED).unwrap();
    let build = |public: &[u8; 32]| {
        let mut der = vec![0x30, 0x51, 0x02, 0x01, 0x01];
        der.extend_from_slice(&PKCS8_PREFIX[5..]);
        der.extend_from_slice(signing.as_bytes());
        der.extend_from_slice(&[0x81, 0x21, 0x00]);
        der.extend_from_slice(public);
        pem("PRIVATE KEY", &der)
    };
    let good = parse_signing_key(&build(signing.verifying_key().as_bytes())).unwrap();
    assert_eq!(good.to_bytes(), signing.to_bytes());
    assert_eq!(
        parse_signing_key(&build(&[9u8; 32])).err(),
        Some(KeyError::KeyPairMismatch)
    );
    // Version 0 must not carry a public key.
    let mut v1 = build(signing.verifying_key().as_bytes());
    v1 = v1.replace("MFECAQEw", "MFECAQAw");
    assert_eq!(parse_signing_key(&v1).err(), Some(KeyError::MalformedDer));
    // Attributes are skipped.
    let mut der = vec![0x30, 0x32];
    der.extend_from_slice(&PKCS8_PREFIX[2..]);
    der.extend_from_slice(signing.as_bytes());
    der.extend_from_slice(&[0xa0, 0x02, 0x05, 0x00]);
    assert!(parse_signing_key(&pem("PRIVATE KEY", &der)).is_ok());
}

#[test]
fn every_error_has_a_message() {
    let all = [
        KeyError::Empty,
        KeyError::TooLong,
        KeyError::Base64Url,
        KeyError::Hex,
        KeyError::MissingPadding,
        KeyError::Base64,
        KeyError::WrongLength { len: 31 },
        KeyError::MissingPemArmor,
        KeyError::PemArmor,
        KeyError::UnexpectedPemLabel,
        KeyError::TrailingData,
        KeyError::MalformedDer,
        KeyError::UnsupportedKeyType,
        KeyError::EncryptedPrivateKey,
        KeyError::PrivateKeyGiven,
        KeyError::PublicKeyGiven,
        KeyError::InvalidPoint,
        KeyError::WeakKey,
        KeyError::KeyPairMismatch,
    ];
    let messages: Vec<String> = all.iter().map(|e| format!("{e}")).collect();
    for (i, m) in messages.iter().enumerate() {
        assert!(!m.is_empty());
        assert!(messages[i + 1..].iter().all(|other| other != m), "{m}");
    }
    assert!(messages[6].contains("31"));
}

#[test]
fn raw_bytes_take_the_same_checks_as_the_text_forms() {
    assert_eq!(public_key_from_bytes(&rfc_raw()), Ok(rfc_public()));
    // The same bytes in base64 give the same key, and the same refusals.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert_eq!(public_key_from_bytes(&identity), Err(KeyError::WeakKey));
    assert_eq!(parse_public_key(&b64(&identity)), Err(KeyError::WeakKey));
    // y = 2 is not the encoding of a point on the curve.
    let mut off_curve = [0u8; 32];
    off_curve[0] = 2;
    assert_eq!(
        public_key_from_bytes(&off_curve),
        parse_public_key(&b64(&off_curve))
    );
    assert!(public_key_from_bytes(&off_curve).is_err());
}
