//! JavaScript values in and out of `google.protobuf.Any`, packed as
//! dispatch-py packs them (`dispatch_core::any::AnyValue`), so a JavaScript
//! function and a Python one can exchange inputs and outputs.

use alloc::string::ToString;
use dispatch_core::any::AnyValue;
use js_sys::{Array, BigInt, Object, Uint8Array};
use prost_types::value::Kind;
use wasm_bindgen::prelude::*;

use crate::convert::any_from_js;
use crate::refusal::set;

/// The `Any` (`{typeUrl, value}`) of a JavaScript value: `null` or
/// `undefined` → `Empty`, a boolean → `BoolValue`, a safe integer `Number`
/// or a `BigInt` → `Int64Value` (`UInt64Value` past `i64`), another number
/// → `DoubleValue`, a string → `StringValue`, a `Uint8Array` →
/// `BytesValue`. Anything else throws: pack it yourself as `{typeUrl,
/// value}`.
#[wasm_bindgen(js_name = packValue)]
pub fn pack_value(value: JsValue) -> Result<JsValue, JsError> {
    let packed = if value.is_null() || value.is_undefined() {
        AnyValue::Empty
    } else if let Some(b) = value.as_bool() {
        AnyValue::Bool(b)
    } else if value.is_bigint() {
        let n = i128::try_from(value).map_err(|_| JsError::new("not an integer"))?;
        match (i64::try_from(n), u64::try_from(n)) {
            (Ok(n), _) => AnyValue::Int64(n),
            (_, Ok(n)) => AnyValue::UInt64(n),
            _ => return Err(JsError::new("a BigInt beyond 64 bits has no wrapper type")),
        }
    } else if let Some(n) = value.as_f64() {
        match crate::signing::safe_integer(n) {
            Some(n) => AnyValue::Int64(n),
            None => AnyValue::Double(n),
        }
    } else if let Some(s) = value.as_string() {
        AnyValue::String(s)
    } else if let Some(bytes) = value.dyn_ref::<Uint8Array>() {
        AnyValue::Bytes(bytes.to_vec())
    } else {
        return Err(JsError::new(
            "packValue takes null, a boolean, a number, a BigInt, a string or a Uint8Array",
        ));
    };
    let any = packed.to_any();
    let out = Object::new();
    set(&out, "typeUrl", any.type_url.as_str());
    set(&out, "value", Uint8Array::from(any.value.as_slice()));
    Ok(out.into())
}

/// The JavaScript value of an `Any` (`{typeUrl, value}`): the wrappers as
/// `packValue` makes them (64-bit integers as `BigInt`), `Empty` as `null`,
/// `Value`, `Struct` and `ListValue` as JSON-like values, `Timestamp` and
/// `Duration` as `{seconds, nanos}`; any other type is returned as the
/// `Any` itself. Throws when a known type's payload does not decode.
#[wasm_bindgen(js_name = unpackValue)]
pub fn unpack_value(any: JsValue) -> Result<JsValue, JsError> {
    let any = any_from_js(&any, "any")?;
    let value = AnyValue::from_any(&any).map_err(|e| JsError::new(&e.to_string()))?;
    Ok(match value {
        AnyValue::Empty => JsValue::NULL,
        AnyValue::Bool(b) => b.into(),
        AnyValue::Int32(n) => n.into(),
        AnyValue::Int64(n) => BigInt::from(n).into(),
        AnyValue::UInt32(n) => n.into(),
        AnyValue::UInt64(n) => BigInt::from(n).into(),
        AnyValue::Float(n) => n.into(),
        AnyValue::Double(n) => n.into(),
        AnyValue::String(s) => s.into(),
        AnyValue::Bytes(b) => Uint8Array::from(b.as_slice()).into(),
        AnyValue::Timestamp(t) => seconds_nanos(t.seconds, t.nanos),
        AnyValue::Duration(d) => seconds_nanos(d.seconds, d.nanos),
        AnyValue::Value(v) => value_to_js(&v),
        AnyValue::Struct(s) => struct_to_js(&s),
        AnyValue::List(l) => list_to_js(&l),
        _ => {
            let out = Object::new();
            set(&out, "typeUrl", any.type_url.as_str());
            set(&out, "value", Uint8Array::from(any.value.as_slice()));
            out.into()
        }
    })
}

fn seconds_nanos(seconds: i64, nanos: i32) -> JsValue {
    let out = Object::new();
    set(&out, "seconds", BigInt::from(seconds));
    set(&out, "nanos", nanos);
    out.into()
}

fn value_to_js(value: &prost_types::Value) -> JsValue {
    match &value.kind {
        None | Some(Kind::NullValue(_)) => JsValue::NULL,
        Some(Kind::NumberValue(n)) => (*n).into(),
        Some(Kind::StringValue(s)) => s.as_str().into(),
        Some(Kind::BoolValue(b)) => (*b).into(),
        Some(Kind::StructValue(s)) => struct_to_js(s),
        Some(Kind::ListValue(l)) => list_to_js(l),
    }
}

fn struct_to_js(value: &prost_types::Struct) -> JsValue {
    let out = Object::new();
    for (name, field) in &value.fields {
        set(&out, name, value_to_js(field));
    }
    out.into()
}

fn list_to_js(value: &prost_types::ListValue) -> JsValue {
    value
        .values
        .iter()
        .map(value_to_js)
        .collect::<Array>()
        .into()
}
