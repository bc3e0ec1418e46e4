//! The Python side of the message vectors: `repr` texts of the values
//! dispatch-py's `unmarshal_any` returns, and the values a generator asserted
//! (`expect.output`), both compared with what an `Any` holds.
//!
//! The `Any` is compared through its proto3 JSON: for a well-known type that
//! is `{"@type", "value": <the type's JSON>}`, and the unwrapped value is that
//! `"value"` (absent for `Empty`, Python's `None`). A pickled value or another
//! message is a Python object this harness cannot rebuild, so its repr is
//! read but not compared ([`Compared::Informative`]).

use dispatch_proto::prost::Message;
use dispatch_proto::prost_types::{Any, Duration, Timestamp};
use dispatch_std::json;
use serde_json::Value;

/// A Python literal, as `repr` writes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Py {
    None,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Py>),
    Tuple(Vec<Py>),
    Dict(Vec<(Py, Py)>),
    /// A dotted name (`datetime.timezone.utc`).
    Name(String),
    /// `name(args, key=value)`, as `datetime.timedelta(seconds=1)` prints.
    Call {
        name: String,
        args: Vec<Py>,
        kwargs: Vec<(String, Py)>,
    },
}

/// Whether a repr was compared with the `Any`, or only read.
#[derive(Debug, PartialEq, Eq)]
pub enum Compared {
    Equal,
    Informative,
}

/// Parses one Python literal; trailing text is an error.
pub fn parse(text: &str) -> Result<Py, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        at: 0,
    };
    let value = p.value()?;
    p.space();
    if p.at != p.s.len() {
        return Err(format!("trailing text at {} in {text:?}", p.at));
    }
    Ok(value)
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn space(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.space();
        if self.peek() == Some(c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected {:?} at {}", c as char, self.at))
        }
    }

    fn value(&mut self) -> Result<Py, String> {
        self.space();
        match self.peek().ok_or("unexpected end")? {
            b'[' => {
                self.at += 1;
                Ok(Py::List(self.items(b']')?.0))
            }
            b'(' => {
                self.at += 1;
                let (items, trailing_comma) = self.items(b')')?;
                // `(x)` is x; `(x,)` is a tuple.
                if items.len() == 1 && !trailing_comma {
                    Ok(items.into_iter().next().unwrap_or(Py::None))
                } else {
                    Ok(Py::Tuple(items))
                }
            }
            b'{' => {
                self.at += 1;
                let mut entries = Vec::new();
                while !self.eat(b'}') {
                    let key = self.value()?;
                    self.expect(b':')?;
                    entries.push((key, self.value()?));
                    if !self.eat(b',') {
                        self.expect(b'}')?;
                        break;
                    }
                }
                Ok(Py::Dict(entries))
            }
            b'\'' | b'"' => Ok(Py::Str(self.string()?)),
            b'b' if matches!(self.s.get(self.at + 1), Some(b'\'' | b'"')) => {
                self.at += 1;
                let text = self.string()?;
                text.chars()
                    .map(|c| u8::try_from(u32::from(c)).map_err(|_| "non-byte in bytes".into()))
                    .collect::<Result<_, String>>()
                    .map(Py::Bytes)
            }
            b'-' | b'0'..=b'9' => self.number(),
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let name = self.name();
                match name.as_str() {
                    "None" => Ok(Py::None),
                    "True" => Ok(Py::Bool(true)),
                    "False" => Ok(Py::Bool(false)),
                    "nan" => Ok(Py::Float(f64::NAN)),
                    "inf" => Ok(Py::Float(f64::INFINITY)),
                    _ if self.eat(b'(') => self.call(name),
                    _ => Ok(Py::Name(name)),
                }
            }
            c => Err(format!("unexpected {:?} at {}", c as char, self.at)),
        }
    }

    /// Comma-separated values up to `close`; whether a comma ended the list.
    fn items(&mut self, close: u8) -> Result<(Vec<Py>, bool), String> {
        let mut items = Vec::new();
        let mut trailing = false;
        while !self.eat(close) {
            items.push(self.value()?);
            trailing = self.eat(b',');
            if !trailing {
                self.expect(close)?;
                break;
            }
        }
        Ok((items, trailing))
    }

    fn call(&mut self, name: String) -> Result<Py, String> {
        let (mut args, mut kwargs) = (Vec::new(), Vec::new());
        while !self.eat(b')') {
            self.space();
            let start = self.at;
            let key = self.name();
            if !key.is_empty() && self.eat(b'=') {
                kwargs.push((key, self.value()?));
            } else {
                self.at = start;
                args.push(self.value()?);
            }
            if !self.eat(b',') {
                self.expect(b')')?;
                break;
            }
        }
        Ok(Py::Call { name, args, kwargs })
    }

    fn name(&mut self) -> String {
        let start = self.at;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
        {
            self.at += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.at]).into_owned()
    }

    fn number(&mut self) -> Result<Py, String> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
            if self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
                return match self.name().as_str() {
                    "inf" => Ok(Py::Float(f64::NEG_INFINITY)),
                    other => Err(format!("-{other} is not a number")),
                };
            }
        }
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            self.at += 1;
        }
        let text = core::str::from_utf8(&self.s[start..self.at]).map_err(|e| e.to_string())?;
        if text.contains(['.', 'e', 'E']) {
            text.parse()
                .map(Py::Float)
                .map_err(|e| format!("{text:?}: {e}"))
        } else {
            text.parse()
                .map(Py::Int)
                .map_err(|e| format!("{text:?}: {e}"))
        }
    }

    /// A quoted string with Python's escapes; the parser is on the quote.
    fn string(&mut self) -> Result<String, String> {
        let quote = self.peek().ok_or("no quote")?;
        self.at += 1;
        let rest = core::str::from_utf8(&self.s[self.at..]).map_err(|e| e.to_string())?;
        let mut out = String::new();
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                c if c as u32 == u32::from(quote) => {
                    self.at += i + 1;
                    return Ok(out);
                }
                '\\' => {
                    let (_, e) = chars.next().ok_or("dangling escape")?;
                    let mut hex = |n: usize| -> Result<char, String> {
                        let digits: String = (0..n)
                            .filter_map(|_| chars.next().map(|(_, c)| c))
                            .collect();
                        u32::from_str_radix(&digits, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or(format!("bad escape \\{e}{digits}"))
                    };
                    out.push(match e {
                        'n' => '\n',
                        'r' => '\r',
                        't' => '\t',
                        '0' => '\0',
                        'a' => '\x07',
                        'b' => '\x08',
                        'f' => '\x0c',
                        'v' => '\x0b',
                        '\\' | '\'' | '"' => e,
                        'x' => hex(2)?,
                        'u' => hex(4)?,
                        'U' => hex(8)?,
                        other => return Err(format!("unknown escape \\{other}")),
                    });
                }
                c => out.push(c),
            }
        }
        Err("unterminated string".into())
    }
}

/// The full name an `Any`'s type URL names.
fn full_name(any: &Any) -> &str {
    any.type_url
        .rsplit_once('/')
        .map_or(&any.type_url, |(_, n)| n)
}

/// The unwrapped value of a well-known type in proto3 JSON (`null` for
/// `Empty`), or `None` for another type.
fn unwrapped_json(any: &Any) -> Result<Option<Value>, String> {
    if !full_name(any).starts_with("google.protobuf.") {
        return Ok(None);
    }
    let json = json::to_json(any).map_err(|e| format!("JSON encode of the Any: {e}"))?;
    Ok(Some(json.get("value").cloned().unwrap_or(Value::Null)))
}

/// Whether a JSON number or numeric string (proto3 JSON writes 64-bit
/// integers and non-finite doubles as strings) holds the number `want`.
fn same_number(got: &Value, want: f64, want_int: Option<i128>) -> bool {
    let text = match got {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return false,
    };
    if let (Some(want), Ok(got)) = (want_int, text.parse::<i128>()) {
        return got == want;
    }
    let got = match text.as_str() {
        "NaN" => f64::NAN,
        "Infinity" => f64::INFINITY,
        "-Infinity" => f64::NEG_INFINITY,
        other => match other.parse::<f64>() {
            Ok(v) => v,
            Err(_) => return false,
        },
    };
    (got.is_nan() && want.is_nan()) || got == want
}

/// Compares the repr of what `unmarshal_any` returned with the `Any`.
pub fn repr_matches(any: &Any, repr: &str) -> Result<Compared, String> {
    let name = full_name(any);
    if name.starts_with("google.protobuf.") {
        let py = parse(repr).map_err(|e| format!("unmarshal_any_repr {repr:?}: {e}"))?;
        let same = match name {
            "google.protobuf.Duration" => {
                let d = Duration::decode(any.value.as_slice()).map_err(|e| e.to_string())?;
                timedelta_micros(&py)
                    == Some(i128::from(d.seconds) * 1_000_000 + i128::from(d.nanos / 1000))
            }
            "google.protobuf.Timestamp" => {
                let t = Timestamp::decode(any.value.as_slice()).map_err(|e| e.to_string())?;
                datetime_micros(&py)
                    == Some(i128::from(t.seconds) * 1_000_000 + i128::from(t.nanos / 1000))
            }
            "google.protobuf.BytesValue" => {
                let inner = unwrapped_json(any)?.unwrap_or(Value::Null);
                let want = <base64ct::Base64 as base64ct::Encoding>::encode_string;
                matches!(&py, Py::Bytes(b) if inner.as_str() == Some(want(b).as_str()))
            }
            _ => py_matches_json(&py, &unwrapped_json(any)?.unwrap_or(Value::Null)),
        };
        return if same {
            Ok(Compared::Equal)
        } else {
            Err(format!(
                "unmarshal_any_repr {repr:?} is not what the Any holds ({:?})",
                unwrapped_json(any)
            ))
        };
    }
    Ok(Compared::Informative)
}

/// A Python value against the proto3 JSON of a wrapper or `Value`.
fn py_matches_json(py: &Py, json: &Value) -> bool {
    match (py, json) {
        (Py::None, Value::Null) => true,
        (Py::Bool(a), Value::Bool(b)) => a == b,
        (Py::Int(i), _) => same_number(json, *i as f64, Some(*i)),
        (Py::Float(f), _) => same_number(json, *f, None),
        (Py::Str(a), Value::String(b)) => a == b,
        (Py::List(items) | Py::Tuple(items), Value::Array(values)) => {
            items.len() == values.len()
                && items.iter().zip(values).all(|(p, v)| py_matches_json(p, v))
        }
        (Py::Dict(entries), Value::Object(map)) => {
            entries.len() == map.len()
                && entries.iter().all(|(k, v)| match k {
                    Py::Str(k) => map.get(k).is_some_and(|j| py_matches_json(v, j)),
                    _ => false,
                })
        }
        _ => false,
    }
}

fn int_arg(py: &Py) -> Option<i128> {
    match py {
        Py::Int(i) => Some(*i),
        _ => None,
    }
}

/// `datetime.timedelta(days, seconds, microseconds)` in microseconds.
fn timedelta_micros(py: &Py) -> Option<i128> {
    let Py::Call { name, args, kwargs } = py else {
        return None;
    };
    if name != "datetime.timedelta" {
        return None;
    }
    let mut parts = [0i128; 3];
    for (slot, arg) in parts.iter_mut().zip(args) {
        *slot = int_arg(arg)?;
    }
    for (key, value) in kwargs {
        let index = ["days", "seconds", "microseconds"]
            .iter()
            .position(|k| k == key)?;
        parts[index] = int_arg(value)?;
    }
    Some(parts[0] * 86_400_000_000 + parts[1] * 1_000_000 + parts[2])
}

/// `datetime.datetime(y, m, d[, H, M, S, us], tzinfo=datetime.timezone.utc)`
/// in microseconds since the Unix epoch.
fn datetime_micros(py: &Py) -> Option<i128> {
    let Py::Call { name, args, kwargs } = py else {
        return None;
    };
    let utc = kwargs
        .iter()
        .any(|(k, v)| k == "tzinfo" && *v == Py::Name("datetime.timezone.utc".into()));
    if name != "datetime.datetime" || !utc || kwargs.len() != 1 || !(3..=7).contains(&args.len()) {
        return None;
    }
    let mut parts = [0i128, 1, 1, 0, 0, 0, 0];
    for (slot, arg) in parts.iter_mut().zip(args) {
        *slot = int_arg(arg)?;
    }
    let [y, m, d, hour, minute, second, micro] = parts;
    // Days from the civil date (proleptic Gregorian), after H. Hinnant.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hour) * 60 + minute) * 60_000_000 + second * 1_000_000 + micro)
}

/// Whether `want` (a generator's `expect.output`) is the output: its
/// proto3 JSON as a whole, or, for a well-known type, its unwrapped value
/// (`null` for `Empty`).
pub fn output_matches(
    any: &Any,
    want: &Value,
    same_json: impl Fn(&Value, &Value) -> bool,
) -> Result<(), String> {
    let whole = json::to_json(any).map_err(|e| e.to_string())?;
    if same_json(&whole, want) {
        return Ok(());
    }
    let Some(inner) = unwrapped_json(any)? else {
        return Err(format!("expect.output {want} is not the output {whole}"));
    };
    let same = match (&inner, want) {
        // Numbers as Python sees them: 64-bit integers and non-finite
        // doubles are strings in proto3 JSON and numbers (or names) in Python.
        (Value::String(_) | Value::Number(_), Value::Number(n)) => match n.as_i64() {
            Some(i) => same_number(&inner, i as f64, Some(i128::from(i))),
            None => n.as_u64().map_or_else(
                || n.as_f64().is_some_and(|f| same_number(&inner, f, None)),
                |u| same_number(&inner, u as f64, Some(i128::from(u))),
            ),
        },
        _ => same_json(&inner, want),
    };
    if same {
        Ok(())
    } else {
        Err(format!(
            "expect.output {want} is neither the output {whole} nor its value {inner}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reprs_parse() {
        assert_eq!(parse("None"), Ok(Py::None));
        assert_eq!(
            parse("-9223372036854775808"),
            Ok(Py::Int(-9223372036854775808))
        );
        assert_eq!(parse("'h\\xe9llo \\u2713'"), Ok(Py::Str("héllo ✓".into())));
        assert_eq!(
            parse("b'\\x00\\x01\\xfe\\xff'"),
            Ok(Py::Bytes(vec![0, 1, 0xfe, 0xff]))
        );
        assert_eq!(parse("1e+16"), Ok(Py::Float(1e16)));
        assert!(matches!(parse("nan"), Ok(Py::Float(f)) if f.is_nan()));
        assert_eq!(parse("-inf"), Ok(Py::Float(f64::NEG_INFINITY)));
        assert_eq!(
            parse("{'a': [1.0, (2,)], 'b': None}"),
            Ok(Py::Dict(vec![
                (
                    Py::Str("a".into()),
                    Py::List(vec![Py::Float(1.0), Py::Tuple(vec![Py::Int(2)])])
                ),
                (Py::Str("b".into()), Py::None),
            ]))
        );
        assert_eq!(
            timedelta_micros(
                &parse("datetime.timedelta(seconds=90, microseconds=500000)").unwrap()
            ),
            Some(90_500_000)
        );
        assert_eq!(
            timedelta_micros(&parse("datetime.timedelta(0)").unwrap()),
            Some(0)
        );
        assert_eq!(
            timedelta_micros(&parse("datetime.timedelta(days=-1, seconds=86399)").unwrap()),
            Some(-1_000_000)
        );
        assert_eq!(
            datetime_micros(
                &parse("datetime.datetime(2024, 6, 13, 0, 0, tzinfo=datetime.timezone.utc)")
                    .unwrap()
            ),
            Some(1_718_236_800_000_000)
        );
        assert!(parse("[1, 2").is_err());
        assert!(parse("1 2").is_err());
    }

    #[test]
    fn outputs_match_whole_or_unwrapped() {
        let same = |a: &Value, b: &Value| a == b;
        let int = Any {
            type_url: "type.googleapis.com/google.protobuf.Int64Value".into(),
            value: vec![0x08, 0x05],
        };
        assert!(output_matches(&int, &serde_json::json!(5), same).is_ok());
        assert!(output_matches(&int, &serde_json::json!("5"), same).is_ok());
        assert!(
            output_matches(
                &int,
                &serde_json::json!({"@type": "type.googleapis.com/google.protobuf.Int64Value", "value": "5"}),
                same
            )
            .is_ok()
        );
        assert!(output_matches(&int, &serde_json::json!(6), same).is_err());
        assert!(output_matches(&int, &serde_json::json!(null), same).is_err());
        let empty = Any {
            type_url: "type.googleapis.com/google.protobuf.Empty".into(),
            value: vec![],
        };
        assert!(output_matches(&empty, &Value::Null, same).is_ok());
        assert!(output_matches(&empty, &serde_json::json!(0), same).is_err());
    }
}
