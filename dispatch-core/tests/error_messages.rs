//! Every error type says what failed: a non-empty message, different for each
//! variant, carrying its detail where it has one. Users log these and build
//! responses from them; mutation testing found them unchecked. (`KeyError` is
//! checked in key.rs, `DigestError` and `BaseError` in hardening.rs.)

use core::fmt::{Debug, Display};
use std::collections::HashSet;

use dispatch_core::any::AnyError;
use dispatch_core::connect::{DecodeError, EncodeError, ProtocolVersionError, TimeoutError};
use dispatch_core::sfv;
use dispatch_core::signature::{BaseError, Malformed, SignError, VerifyError};
use dispatch_core::status::UnknownStatus;

/// Asserts that every message is non-empty and that no two are equal.
fn distinct_messages<E: Display + Debug>(errors: &[E]) -> Vec<String> {
    let mut seen = HashSet::new();
    errors
        .iter()
        .map(|error| {
            let message = error.to_string();
            assert!(message.len() > 10, "{error:?}: {message:?}");
            assert!(
                seen.insert(message.clone()),
                "{error:?} repeats {message:?}"
            );
            message
        })
        .collect()
}

#[test]
fn structured_field_errors() {
    let errors = [
        sfv::Error::TooLong,
        sfv::Error::NonAscii,
        sfv::Error::Empty,
        sfv::Error::InvalidKey,
        sfv::Error::ExpectedComma,
        sfv::Error::TrailingComma,
        sfv::Error::TooManyMembers,
        sfv::Error::TooManyItems,
        sfv::Error::TooManyParameters,
        sfv::Error::UnterminatedInnerList,
        sfv::Error::ExpectedItemSeparator,
        sfv::Error::InvalidBareItem,
        sfv::Error::NumberWithoutDigits,
        sfv::Error::IntegerTooLong,
        sfv::Error::DecimalTooLong,
        sfv::Error::DecimalFractionTooLong,
        sfv::Error::DecimalEndsWithDot,
        sfv::Error::InvalidStringCharacter,
        sfv::Error::InvalidEscape,
        sfv::Error::UnterminatedString,
        sfv::Error::InvalidByteSequenceCharacter,
        sfv::Error::UnterminatedByteSequence,
        sfv::Error::InvalidBase64,
        sfv::Error::InvalidBoolean,
        sfv::Error::TrailingCharacters,
    ];
    for (error, message) in errors.iter().zip(distinct_messages(&errors)) {
        assert_eq!(message, error.message());
    }
}

#[test]
fn verification_errors() {
    let malformed = [
        Malformed::Syntax(sfv::Error::TrailingComma),
        Malformed::Empty,
        Malformed::WrongType,
        Malformed::WrongLength,
    ];
    distinct_messages(&malformed);
    assert_eq!(
        Malformed::Syntax(sfv::Error::TrailingComma).to_string(),
        sfv::Error::TrailingComma.message()
    );

    let errors = [
        VerifyError::MissingSignatureInput,
        VerifyError::MissingSignature,
        VerifyError::MalformedSignatureInput(Malformed::Empty),
        VerifyError::MalformedSignature(Malformed::Empty),
        VerifyError::NotExactlyOneSignature,
        VerifyError::LabelMismatch,
        VerifyError::UnknownParameter,
        VerifyError::BadCreated,
        VerifyError::BadExpires,
        VerifyError::BadNonce,
        VerifyError::UnknownKeyid,
        VerifyError::UnsupportedAlg,
        VerifyError::MalformedComponent,
        VerifyError::DuplicateComponent,
        VerifyError::UnsupportedComponent,
        VerifyError::CoveredHeaderMissing,
        VerifyError::InsufficientCoverage,
        VerifyError::CreatedInFuture,
        VerifyError::Expired,
        VerifyError::SignatureMismatch,
        VerifyError::SignatureBaseUnbuildable,
        VerifyError::MalformedContentDigest(Malformed::Empty),
        VerifyError::UnsupportedDigestAlgorithm,
        VerifyError::DigestMismatch,
    ];
    for (error, message) in errors.iter().zip(distinct_messages(&errors)) {
        assert!(message.starts_with(error.message()), "{error:?}");
    }
    // A malformed header names what was wrong with it.
    for wrap in [
        VerifyError::MalformedSignatureInput,
        VerifyError::MalformedSignature,
        VerifyError::MalformedContentDigest,
    ] {
        let error = wrap(Malformed::WrongLength);
        assert_eq!(
            error.to_string(),
            format!("{}: {}", error.message(), Malformed::WrongLength)
        );
    }
    assert_eq!(
        VerifyError::Expired.to_string(),
        VerifyError::Expired.message()
    );
}

#[test]
fn signing_errors() {
    let sign = distinct_messages(&[
        SignError::BufferTooSmall,
        SignError::InvalidSpec,
        SignError::Base(BaseError::TooLarge),
    ]);
    assert!(sign[2].ends_with(&BaseError::TooLarge.to_string()));
}

#[test]
fn connect_errors() {
    distinct_messages(&[
        DecodeError::Malformed,
        DecodeError::InvalidEscape,
        DecodeError::IncompleteDetail,
        DecodeError::InvalidDetailValue,
    ]);
    distinct_messages(&[EncodeError::BufferTooSmall]);
    distinct_messages(&[
        TimeoutError::Empty,
        TimeoutError::TooLong,
        TimeoutError::NotDigits,
    ]);
    distinct_messages(&[
        ProtocolVersionError::Missing,
        ProtocolVersionError::Unsupported,
    ]);
}

#[test]
fn any_and_status_errors_name_the_type_or_value() {
    let messages = distinct_messages(&[
        AnyError::TypeMismatch {
            expected: "dispatch.sdk.v1.Poll",
        },
        AnyError::InvalidPayload {
            type_name: "dispatch.sdk.v1.Poll",
        },
    ]);
    assert!(messages.iter().all(|m| m.contains("dispatch.sdk.v1.Poll")));
    let unknown = UnknownStatus(42).to_string();
    assert!(unknown.starts_with("42 "), "{unknown}");
}
