//! Property tests of the trust layer: signing then verifying round-trips; any
//! change to a covered component, the body or the signature headers is
//! refused; arbitrary header values never panic; the RFC 8941 serializer is a
//! fixed point of the parser.

mod common;

use dispatch_core::sfv::{Dictionary, InnerList, Item};
use dispatch_core::signature::{
    BorrowedRequest, Policy, REQUIRED_COMPONENTS, SIGNING_BUFFER_LEN, sign_in_order, verify,
};
use ed25519_dalek::{SigningKey, VerifyingKey};
use proptest::prelude::*;

const NOW: i64 = 1_718_236_830;

#[derive(Clone, Debug)]
struct Generated {
    method: String,
    scheme: &'static str,
    authority: String,
    path: String,
    query: Option<String>,
    content_type: String,
    extra: Vec<(String, String)>,
    body: Vec<u8>,
    created: i64,
    order: Vec<&'static str>,
    seed: [u8; 32],
}

fn generated() -> impl Strategy<Value = Generated> {
    (
        prop_oneof![
            Just("POST".to_owned()),
            Just("post".to_owned()),
            "[A-Z]{1,8}"
        ],
        prop_oneof![Just("https"), Just("http")],
        "[a-zA-Z0-9.-]{1,24}(:[0-9]{1,5})?",
        "/[A-Za-z0-9/%._~!$&'()*+,;=:@-]{0,40}",
        proptest::option::of("[A-Za-z0-9=&%/._-]{0,20}"),
        "[ -~]{0,40}",
        proptest::collection::vec(("x-[a-z]{1,8}", "[ -~]{0,20}"), 0..3),
        proptest::collection::vec(any::<u8>(), 0..2048),
        (NOW - 300)..=(NOW + 5),
        Just(REQUIRED_COMPONENTS.to_vec()).prop_shuffle(),
        any::<[u8; 32]>(),
    )
        .prop_map(
            |(
                method,
                scheme,
                authority,
                path,
                query,
                content_type,
                extra,
                body,
                created,
                order,
                seed,
            )| {
                Generated {
                    method,
                    scheme,
                    authority,
                    path,
                    query,
                    content_type,
                    extra,
                    body,
                    created,
                    order,
                    seed,
                }
            },
        )
}

/// A request with its three signature headers, as owned parts.
#[derive(Clone, Debug)]
struct Signed {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    key: VerifyingKey,
}

impl Signed {
    fn verify(&self) -> Result<(), dispatch_core::signature::VerifyError> {
        self.try_verify().expect("the URL parses")
    }

    /// Whether the request is accepted; a mutation that leaves no valid URL
    /// (a non-ASCII byte in the path, say) cannot even be presented.
    fn accepted(&self) -> bool {
        self.try_verify().is_some_and(|verdict| verdict.is_ok())
    }

    /// The verdict, or `None` when the URL does not parse.
    fn try_verify(&self) -> Option<Result<(), dispatch_core::signature::VerifyError>> {
        let pairs: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let req = BorrowedRequest::from_url(&self.method, &self.url, &pairs)?;
        Some(verify(&req, &self.body, &self.key, NOW, &Policy::default()))
    }

    fn header_mut(&mut self, name: &str) -> &mut String {
        &mut self
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .unwrap()
            .1
    }
}

fn url_of(scheme: &str, authority: &str, path: &str, query: Option<&str>) -> String {
    match query {
        Some(q) => format!("{scheme}://{authority}{path}?{q}"),
        None => format!("{scheme}://{authority}{path}"),
    }
}

fn sign(g: &Generated) -> Signed {
    let key = SigningKey::from_bytes(&g.seed);
    let url = url_of(g.scheme, &g.authority, &g.path, g.query.as_deref());
    let mut headers: Vec<(String, String)> = vec![("Content-Type".into(), g.content_type.clone())];
    headers.extend(g.extra.iter().cloned());
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let req = BorrowedRequest::from_url(&g.method, &url, &pairs).unwrap();
    let mut buf = vec![0u8; SIGNING_BUFFER_LEN];
    let signed = sign_in_order(&req, &g.body, &key, g.created, &g.order, &mut buf).unwrap();
    headers.push(("Content-Digest".into(), signed.content_digest.into()));
    headers.push(("Signature-Input".into(), signed.signature_input.into()));
    headers.push(("Signature".into(), signed.signature.into()));
    Signed {
        method: g.method.clone(),
        url,
        headers,
        body: g.body.clone(),
        key: key.verifying_key(),
    }
}

/// Replaces the byte at `index % len` of `text` by a printable byte that differs
/// from it, and (when `differs` says so) differs after the normalisation the
/// component applies.
fn mutate(
    text: &str,
    index: usize,
    replacement: u8,
    differs: impl Fn(u8, u8) -> bool,
) -> Option<String> {
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return None;
    }
    let i = index % bytes.len();
    let old = bytes[i];
    let new = (0x21..=0x7eu8)
        .cycle()
        .skip(usize::from(replacement % 94))
        .take(94)
        .find(|&b| b != old && differs(old, b))?;
    let mut out = bytes.to_vec();
    out[i] = new;
    String::from_utf8(out).ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::proptest_cases(96)))]

    #[test]
    fn sign_then_verify_round_trips(g in generated()) {
        let signed = sign(&g);
        prop_assert_eq!(signed.verify(), Ok(()));
    }

    #[test]
    fn any_change_to_a_covered_component_is_refused(
        g in generated(),
        which in 0usize..5,
        index in any::<usize>(),
        replacement in any::<u8>(),
    ) {
        let mut signed = sign(&g);
        let any_change = |_: u8, _: u8| true;
        match which {
            0 => {
                let upper = |a: u8, b: u8| !a.eq_ignore_ascii_case(&b);
                let Some(m) = mutate(&g.method, index, replacement, upper) else { return Ok(()) };
                signed.method = m;
            }
            1 => {
                let Some(p) = mutate(&g.path, index, replacement, |_, b| b != b'?' && b != b'#') else { return Ok(()) };
                signed.url = url_of(g.scheme, &g.authority, &p, g.query.as_deref());
            }
            2 => {
                let lower = |a: u8, b: u8| {
                    !a.eq_ignore_ascii_case(&b) && !b"/?#@".contains(&b)
                };
                let Some(a) = mutate(&g.authority, index, replacement, lower) else { return Ok(()) };
                signed.url = url_of(g.scheme, &a, &g.path, g.query.as_deref());
            }
            3 => {
                let Some(v) = mutate(&g.content_type, index, replacement, any_change) else { return Ok(()) };
                *signed.header_mut("content-type") = v;
            }
            _ => {
                let old = signed.header_mut("content-digest").clone();
                let Some(v) = mutate(&old, index, replacement, any_change) else { return Ok(()) };
                *signed.header_mut("content-digest") = v;
            }
        }
        prop_assert!(!signed.accepted());
    }

    #[test]
    fn any_change_to_the_body_is_refused(g in generated(), index in any::<usize>(), bit in 0u8..8) {
        let mut signed = sign(&g);
        if signed.body.is_empty() {
            signed.body.push(0);
        } else {
            let i = index % signed.body.len();
            signed.body[i] ^= 1 << bit;
        }
        prop_assert_eq!(
            signed.verify().map_err(|e| e.reason_name()),
            Err("digest-mismatch")
        );
    }

    #[test]
    fn any_change_to_the_signature_headers_is_refused(
        g in generated(),
        input in any::<bool>(),
        index in any::<usize>(),
        replacement in any::<u8>(),
    ) {
        let mut signed = sign(&g);
        let name = if input { "signature-input" } else { "signature" };
        let old = signed.header_mut(name).clone();
        let Some(v) = mutate(&old, index, replacement, |_, _| true) else { return Ok(()) };
        *signed.header_mut(name) = v;
        prop_assert!(signed.verify().is_err());
    }

    #[test]
    fn arbitrary_headers_never_panic(
        method in ".{0,8}",
        url_tail in ".{0,40}",
        lines in proptest::collection::vec(
            (prop_oneof![
                Just("signature-input".to_owned()),
                Just("signature".to_owned()),
                Just("content-digest".to_owned()),
                Just("content-type".to_owned()),
                ".{0,12}",
            ], ".{0,120}"),
            0..8,
        ),
        body in proptest::collection::vec(any::<u8>(), 0..64),
        now in any::<i64>(),
        seed in any::<[u8; 32]>(),
    ) {
        let url = format!("https://h{url_tail}");
        let pairs: Vec<(&str, &str)> = lines.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let key = SigningKey::from_bytes(&seed).verifying_key();
        if let Some(req) = BorrowedRequest::from_url(&method, &url, &pairs)
            && let Err(e) = verify(&req, &body, &key, now, &Policy::default())
        {
            let mut json = [0u8; 256];
            prop_assert!(e.write_connect_json(&mut json).is_some());
            prop_assert!([401, 403].contains(&e.http_status()));
        }
    }

    #[test]
    fn signature_shaped_headers_never_panic(
        members in proptest::collection::vec(
            ("[a-z*][a-z0-9*_.-]{0,6}", "[(\" @a-z;=:?0-9)*+/,-]{0,40}"),
            0..4,
        ),
        now in any::<i64>(),
    ) {
        let input: Vec<String> = members.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let input = input.join(", ");
        let headers = [
            ("Content-Type", "application/proto"),
            ("Content-Digest", "sha-512=:AAAA:"),
            ("Signature-Input", input.as_str()),
            ("Signature", input.as_str()),
        ];
        let req = BorrowedRequest::from_url("POST", "https://h/p", &headers).unwrap();
        let key = SigningKey::from_bytes(&[1; 32]).verifying_key();
        let _ = verify(&req, b"", &key, now, &Policy::default());
    }

    #[test]
    fn serialization_is_a_fixed_point(input in "[ -~\t]{0,80}") {
        if let Ok(dict) = Dictionary::parse(input.as_bytes()) {
            let once = dict.to_string();
            let again = Dictionary::parse(once.as_bytes()).expect("canonical output parses");
            prop_assert_eq!(again.to_string(), once);
        }
        if let Ok(item) = Item::parse(input.as_bytes()) {
            let once = item.to_string();
            let again = Item::parse(once.as_bytes()).expect("canonical output parses");
            prop_assert_eq!(again.to_string(), once);
        }
        if let Ok(list) = InnerList::parse(input.as_bytes()) {
            let once = list.to_string();
            let again = InnerList::parse(once.as_bytes()).expect("canonical output parses");
            prop_assert_eq!(again.to_string(), once);
        }
    }

    #[test]
    fn structured_fields_shaped_inputs_round_trip(
        input in r#"[a-z*][a-z0-9]{0,3}(=(\(((("[a-z@ ]{0,5}"|[0-9]{1,3}|\?[01]|:[A-Za-z0-9+/]{4}:|[a-z]{1,4}) ?){0,3})\)|[0-9.-]{1,6}))?(;[a-z]{1,3}(=[0-9"a-z]{1,4})?){0,3}(, ?[a-z]{1,3}=[0-9]{1,3})?"#
    ) {
        if let Ok(dict) = Dictionary::parse(input.as_bytes()) {
            let once = dict.to_string();
            let again = Dictionary::parse(once.as_bytes()).expect("canonical output parses");
            prop_assert_eq!(again.to_string(), once);
        }
    }
}
