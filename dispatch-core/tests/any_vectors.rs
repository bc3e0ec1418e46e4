//! The `any` vectors (dispatch-py's `marshal_any`) against this crate's
//! packers: every vector's Any decodes, unpacks and re-packs byte-identically,
//! and every value Rust can express packs to the vector's exact type URL and
//! payload.

#![cfg(feature = "alloc")]
#![allow(missing_docs)]

use dispatch_core::any::{AnyValue, pack, unpack};
use dispatch_core::proto::sdk::python::v1::Pickled;
use dispatch_core::proto::sdk::v1::Error;
use prost::Message;

mod common;
use common::{hex, message_vectors};
use prost_types::{Any, Duration, ListValue, Struct, Value, value::Kind};

fn number(n: f64) -> Value {
    Value {
        kind: Some(Kind::NumberValue(n)),
    }
}

/// The Rust value of each vector whose Python value Rust can express.
fn expected(id: &str) -> Option<Any> {
    let value = match id {
        "any/none" => AnyValue::Empty,
        "any/bool_false" => AnyValue::Bool(false),
        "any/bool_true" => AnyValue::Bool(true),
        "any/int_42" => AnyValue::Int64(42),
        "any/int_negative" => AnyValue::Int64(-1),
        "any/int_min" => AnyValue::Int64(i64::MIN),
        "any/int_max" => AnyValue::Int64(i64::MAX),
        "any/float" => AnyValue::Double(3.5),
        "any/float_nan" => AnyValue::Double(f64::NAN),
        "any/str_empty" => AnyValue::String(String::new()),
        "any/str_unicode" => AnyValue::String("héllo ✓ 🚀".into()),
        "any/bytes" => AnyValue::Bytes(vec![0x00, 0x01, 0xfe, 0xff]),
        "any/timedelta" => AnyValue::Duration(Duration {
            seconds: 90,
            nanos: 500_000_000,
        }),
        "any/foreign_message_int32" => AnyValue::Int32(7),
        "any/go_volatile_coroutine_ref" => AnyValue::UInt64(1_311_768_467_294_899_695),
        "any/dict_json" => {
            let inner = Struct {
                fields: [(
                    "d".to_owned(),
                    Value {
                        kind: Some(Kind::NullValue(0)),
                    },
                )]
                .into(),
            };
            AnyValue::Value(Value {
                kind: Some(Kind::StructValue(Struct {
                    fields: [
                        ("a".to_owned(), number(1.0)),
                        (
                            "b".to_owned(),
                            Value {
                                kind: Some(Kind::ListValue(ListValue {
                                    values: vec![number(1.0), number(2.0)],
                                })),
                            },
                        ),
                        (
                            "c".to_owned(),
                            Value {
                                kind: Some(Kind::StructValue(inner)),
                            },
                        ),
                    ]
                    .into(),
                })),
            })
        }
        "any/dispatch_message" => {
            return Some(pack(&Error {
                r#type: "T".into(),
                message: "m".into(),
                ..Default::default()
            }));
        }
        _ => return None,
    };
    Some(value.to_any())
}

#[test]
fn any_vectors_match_the_packers() {
    let mut expressed = 0;
    for v in message_vectors("any") {
        let id = v["id"].as_str().expect("id");
        let any = Any::decode(hex(v["binary_hex"].as_str().expect("binary_hex")).as_slice())
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(
            any.type_url,
            v["type_url"].as_str().expect("type_url"),
            "{id}"
        );
        assert_eq!(
            any.value,
            hex(v["inner_value_hex"].as_str().expect("inner_value_hex")),
            "{id}"
        );

        // Unpack and re-pack: identical bytes (Struct maps re-encode in key
        // order, as the vectors were re-serialized).
        let value = AnyValue::from_any(&any).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(value.to_any(), any, "{id}: re-pack");
        if any.type_url.ends_with("/dispatch.sdk.python.v1.Pickled") {
            assert_eq!(
                value,
                AnyValue::Other(any.clone()),
                "{id}: Pickled is opaque"
            );
            let pickled = unpack::<Pickled>(&any).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(pack(&pickled), any, "{id}: Pickled re-pack");
        }

        if let Some(want) = expected(id) {
            expressed += 1;
            assert_eq!(want, any, "{id}: packed from the Rust value");
        }
    }
    assert!(
        expressed >= 10,
        "only {expressed} vectors were expressed in Rust"
    );
}
