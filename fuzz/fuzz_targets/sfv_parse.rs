//! The RFC 8941 parser: arbitrary bytes never panic; the core and the
//! reference parser agree on which dictionaries are valid (inside the core's
//! documented bounds) and on their member names; whatever parses serializes,
//! and the serialization is a fixed point (parse, write, parse, write).
#![no_main]

use core::fmt::Write as _;
use dispatch_core::sfv::{Dictionary, Error, InnerList, Item};
use dispatch_fuzz::reference::{ParseFail, parse_dictionary};
use libfuzzer_sys::fuzz_target;

fn canonical(value: &impl core::fmt::Display) -> String {
    let mut out = String::new();
    write!(out, "{value}").expect("a parsed value always serializes");
    out
}

fn is_bound(e: Error) -> bool {
    matches!(
        e,
        Error::TooLong | Error::TooManyMembers | Error::TooManyItems | Error::TooManyParameters
    )
}

fuzz_target!(|data: &[u8]| {
    let core = Dictionary::parse(data);
    match (&core, parse_dictionary(data)) {
        (_, Err(ParseFail::Bounds)) => {}
        (Err(e), _) if is_bound(*e) => {}
        (Ok(dict), Ok(reference)) => {
            let names: Vec<&str> = dict.iter().map(|(k, _)| k).collect();
            let reference: Vec<&str> = reference.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(names, reference, "member names differ");
        }
        // The reference refuses an empty field outright; the core returns an
        // empty dictionary and the verifier refuses it.
        (Ok(dict), Err(ParseFail::Syntax)) if dict.is_empty() => {}
        (Err(_), Err(ParseFail::Syntax)) => {}
        (core, reference) => panic!("core {core:?} but reference {reference:?}"),
    }
    if let Ok(dict) = core {
        let text = canonical(&dict);
        let again = Dictionary::parse(text.as_bytes()).expect("canonical text parses");
        assert_eq!(
            canonical(&again),
            text,
            "serialization is not a fixed point"
        );
    }
    if let Ok(item) = Item::parse(data) {
        let text = canonical(&item);
        let again = Item::parse(text.as_bytes()).expect("canonical item parses");
        assert_eq!(canonical(&again), text);
    }
    if let Ok(list) = InnerList::parse(data) {
        let text = canonical(&list);
        let again = InnerList::parse(text.as_bytes()).expect("canonical inner list parses");
        assert_eq!(canonical(&again), text);
    }
});
