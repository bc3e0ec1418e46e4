//! Edges of the RFC 8941 parser and serializer that mutation testing found
//! untested (docs/assurance.md): bounds hit exactly, canonical forms that two
//! items break at once, and the serializer's refusals.

use dispatch_core::sfv::{
    BareItem, ByteSequence, Decimal, Dictionary, Error, InnerList, Item, MAX_INNER_LIST_ITEMS,
    MAX_INPUT_LEN, MAX_PARAMETERS, SfString, SliceWriter, Token, write_bare_item, write_key,
    write_to,
};

#[test]
fn an_inner_list_holds_exactly_the_maximum_items() {
    let items = |n: usize| format!("({})", vec!["a"; n].join(" "));
    let full = items(MAX_INNER_LIST_ITEMS);
    let list = InnerList::parse(full.as_bytes()).expect("the maximum parses");
    assert_eq!(list.len(), MAX_INNER_LIST_ITEMS);
    assert_eq!(
        InnerList::parse(items(MAX_INNER_LIST_ITEMS + 1).as_bytes()),
        Err(Error::TooManyItems)
    );
}

#[test]
fn emptiness_of_inner_lists() {
    assert!(InnerList::parse(b"()").expect("empty list").is_empty());
    assert!(!InnerList::parse(b"(a)").expect("one item").is_empty());
}

/// Two non-canonical numbers in one inner list: the second must not cancel
/// the first, or the source would be copied out as if it were canonical.
#[test]
fn two_noncanonical_numbers_still_serialize_canonically() {
    for (source, canonical) in [
        ("(-0 -0)", "(0 0)"),
        ("(01 02)", "(1 2)"),
        ("(1.10 1.20)", "(1.1 1.2)"),
        ("(-0.0 -0.0)", "(0.0 0.0)"),
        ("(a;x=?1 b;y=?1)", "(a;x b;y)"),
    ] {
        let list = InnerList::parse(source.as_bytes()).expect(source);
        assert_eq!(list.to_string(), canonical, "{source}");
    }
}

#[test]
fn strings_compare_by_their_characters() {
    let parsed = |text: &'static str| {
        Item::parse(text.as_bytes())
            .expect(text)
            .bare
            .as_string()
            .expect("a string")
    };
    assert_eq!(parsed(r#""a\"b""#), parsed(r#""a\"b""#));
    assert_eq!(parsed(r#""a\"b""#), SfString::new("a\"b").expect("plain"));
    assert_ne!(parsed(r#""a""#), parsed(r#""b""#));
    // Plain text from a caller is returned as is; parsed text only when it
    // holds no escape.
    assert_eq!(SfString::new("a\\b").unwrap().as_plain_str(), Some("a\\b"));
    assert_eq!(parsed(r#""a b""#).as_plain_str(), Some("a b"));
    assert_eq!(parsed(r#""a\\b""#).as_plain_str(), None);
}

#[test]
fn the_serializer_refuses_what_it_cannot_write() {
    let mut buf = [0u8; 64];
    for key in ["a b", "a!", "ab ", "A"] {
        let mut out = String::new();
        assert!(write_key(&mut out, key).is_err(), "{key:?}");
    }
    let mut out = String::new();
    write_key(&mut out, "a-b.c*").expect("a valid key");
    assert_eq!(out, "a-b.c*");

    let largest = BareItem::Decimal(Decimal {
        thousandths: 999_999_999_999_999,
    });
    assert_eq!(write_to(&mut buf, &largest), Some("999999999999.999"));
    for (thousandths, text) in [(0, "0.0"), (-1, "-0.001"), (-1500, "-1.5"), (20, "0.02")] {
        let value = BareItem::Decimal(Decimal { thousandths });
        assert_eq!(write_to(&mut buf, &value), Some(text));
    }
    for too_large in [1_000_000_000_000_000, -1_000_000_000_000_000, i64::MIN] {
        let value = BareItem::Decimal(Decimal {
            thousandths: too_large,
        });
        let mut out = String::new();
        assert!(write_bare_item(&mut out, &value).is_err(), "{too_large}");
    }
}

#[test]
fn padded_byte_sequences_decode_exactly() {
    for (text, bytes) in [
        ("AA==", &[0u8][..]),
        ("AAA=", &[0, 0]),
        ("AAAA", &[0, 0, 0]),
        ("/w==", &[0xff]),
        ("AQID", &[1, 2, 3]),
        ("AQIDBA==", &[1, 2, 3, 4]),
        ("AQIDBAU=", &[1, 2, 3, 4, 5]),
    ] {
        let sequence = ByteSequence::from_base64(text).expect(text);
        assert_eq!(sequence.decoded_len(), bytes.len(), "{text}");
        let mut out = [0u8; 8];
        assert_eq!(sequence.decode_into(&mut out), Some(bytes), "{text}");
        let field = format!(":{text}:");
        let parsed = Item::parse(field.as_bytes()).expect(text);
        let parsed = parsed.bare.as_byte_sequence().expect("a byte sequence");
        assert_eq!(parsed.decode_into(&mut out), Some(bytes), "{text}");
    }
}

#[test]
fn a_bad_base64_character_is_named_even_before_padding() {
    for text in ["AB!=", "A!==", "!AAA", "AAA!", "A!!A", "!!!!"] {
        assert_eq!(
            ByteSequence::from_base64(text),
            Err(Error::InvalidByteSequenceCharacter),
            "{text}"
        );
    }
    for text in ["AB=A", "A===", "AAA", "AB===", "AB==", "AAB=", "Ah=="] {
        assert_eq!(
            ByteSequence::from_base64(text),
            Err(Error::InvalidBase64),
            "{text}"
        );
    }
}

#[test]
fn dictionaries_parse_members_of_every_shape() {
    let dict = Dictionary::parse(b"a=1, b;x=?0, c=(1 2);p").expect("dictionary");
    assert_eq!(dict.len(), 3);
    assert_eq!(dict.to_string(), "a=1, b;x=?0, c=(1 2);p");
}

#[test]
fn a_field_value_and_its_parameters_may_reach_their_bounds() {
    let longest = "a".repeat(MAX_INPUT_LEN);
    assert!(Item::parse(longest.as_bytes()).is_ok());
    assert_eq!(
        Item::parse(format!("{longest}a").as_bytes()),
        Err(Error::TooLong)
    );

    let params = |n: usize| (0..n).map(|i| format!(";p{i}")).collect::<String>();
    let item = format!("a{}", params(MAX_PARAMETERS));
    let parsed = Item::parse(item.as_bytes()).expect("the maximum parses");
    assert_eq!(parsed.params.len(), MAX_PARAMETERS);
    assert_eq!(
        Item::parse(format!("a{}", params(MAX_PARAMETERS + 1)).as_bytes()),
        Err(Error::TooManyParameters)
    );
}

#[test]
fn tokens_and_byte_sequences_keep_their_text() {
    let item = Item::parse(b"ed25519:a/b").expect("token");
    assert_eq!(
        item.bare,
        BareItem::Token(Token::new("ed25519:a/b").expect("token"))
    );
    match item.bare {
        BareItem::Token(token) => assert_eq!(token.as_str(), "ed25519:a/b"),
        other => panic!("{other:?}"),
    }
    let item = Item::parse(b":AQID:").expect("byte sequence");
    assert_eq!(
        item.bare.as_byte_sequence().map(|b| b.base64()),
        Some("AQID")
    );
    assert_eq!(
        ByteSequence::from_base64("AA==").map(|b| b.base64()),
        Ok("AA==")
    );
}

#[test]
fn the_slice_writer_counts_what_it_wrote() {
    let mut buf = [0u8; 4];
    let mut w = SliceWriter::new(&mut buf);
    assert!(w.is_empty());
    w.write_bytes(b"ab").expect("fits");
    assert!(!w.is_empty());
    assert_eq!(w.len(), 2);
    assert!(w.write_bytes(b"abc").is_err());
    assert_eq!(w.written(), b"ab");
}

#[test]
fn decimals_may_have_twelve_integer_digits() {
    let item = Item::parse(b"123456789012.5").expect("twelve digits");
    assert_eq!(
        item.bare,
        BareItem::Decimal(Decimal {
            thousandths: 123_456_789_012_500
        })
    );
    assert_eq!(Item::parse(b"1234567890123.5"), Err(Error::DecimalTooLong));
    assert_eq!(Item::parse(b"1.123"), Ok(Item::parse(b"1.123").unwrap()));
    assert_eq!(Item::parse(b"1.1234"), Err(Error::DecimalFractionTooLong));
}
