//! Breaking-change detection between the locked model and the current one,
//! with `buf breaking --use WIRE_JSON` semantics made stricter where full names
//! reach the wire in this protocol: message names travel in `Any` type URLs
//! (`Pickled`, the typed coroutine state) and service and method names form the
//! Connect paths, so removing or renaming them breaks peers too.
//!
//! Rule names follow buf's where buf has one.

use core::fmt;
use std::collections::BTreeSet;

use super::model::{MessageEntry, WireModel};

/// One wire- or JSON-breaking change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Break {
    /// The rule broken, e.g. `FIELD_SAME_TYPE`.
    pub(crate) rule: &'static str,
    /// The element, e.g. `dispatch.sdk.v1.Call.function (3)`.
    pub(crate) element: String,
    /// What changed.
    pub(crate) detail: String,
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.rule, self.element, self.detail)
    }
}

/// Every break from `locked` to `current`, in lock order. Additions are not
/// breaks; the caller notices them as a lock that differs.
pub(crate) fn breaking_changes(locked: &WireModel, current: &WireModel) -> Vec<Break> {
    let mut breaks = Vec::new();
    let mut push = |rule, element: String, detail: String| {
        breaks.push(Break {
            rule,
            element,
            detail,
        });
    };

    for package in &locked.packages {
        if !current.packages.contains(package) {
            push(
                "PACKAGE_NO_DELETE",
                package.clone(),
                "package was removed or renamed".to_owned(),
            );
        }
    }

    for (path, old) in &locked.files {
        match current.files.get(path) {
            None => push(
                "FILE_NO_DELETE",
                path.clone(),
                "file was removed or renamed".to_owned(),
            ),
            Some(new) => {
                if new.package != old.package {
                    push(
                        "FILE_SAME_PACKAGE",
                        path.clone(),
                        format!("package changed from {} to {}", old.package, new.package),
                    );
                }
                if new.syntax != old.syntax {
                    push(
                        "FILE_SAME_SYNTAX",
                        path.clone(),
                        format!("syntax changed from {} to {}", old.syntax, new.syntax),
                    );
                }
            }
        }
    }

    for (name, old) in &locked.messages {
        let Some(new) = current.messages.get(name) else {
            push(
                "MESSAGE_NO_DELETE",
                name.clone(),
                "message was removed or renamed (its full name is part of Any type URLs)"
                    .to_owned(),
            );
            continue;
        };
        for (number, old_field) in &old.fields {
            let element = format!("{name}.{} ({number})", old_field.name);
            let Some(new_field) = new.fields.get(number) else {
                match new.fields.iter().find(|(_, f)| f.name == old_field.name) {
                    Some((new_number, _)) => push(
                        "FIELD_SAME_NUMBER",
                        element,
                        format!("field was renumbered from {number} to {new_number}"),
                    ),
                    None => push("FIELD_NO_DELETE", element, "field was removed".to_owned()),
                }
                continue;
            };
            if new_field.name != old_field.name {
                push(
                    "FIELD_SAME_NAME",
                    element.clone(),
                    format!(
                        "name changed from {} to {} (JSON parsers accept the original name)",
                        old_field.name, new_field.name
                    ),
                );
            }
            if new_field.json_name != old_field.json_name {
                push(
                    "FIELD_SAME_JSON_NAME",
                    element.clone(),
                    format!(
                        "JSON name changed from {} to {}",
                        old_field.json_name, new_field.json_name
                    ),
                );
            }
            if new_field.ty != old_field.ty {
                push(
                    "FIELD_SAME_TYPE",
                    element.clone(),
                    format!("type changed from {} to {}", old_field.ty, new_field.ty),
                );
            }
            if new_field.label != old_field.label {
                push(
                    "FIELD_SAME_LABEL",
                    element.clone(),
                    format!(
                        "label changed from {} to {}",
                        old_field.label, new_field.label
                    ),
                );
            }
            if new_field.oneof != old_field.oneof && !moved_alone_into_new_oneof(old, new, *number)
            {
                push(
                    "FIELD_SAME_ONEOF",
                    element,
                    format!(
                        "oneof changed from {} to {}",
                        oneof_text(old_field.oneof.as_deref()),
                        oneof_text(new_field.oneof.as_deref())
                    ),
                );
            }
        }
    }

    for (name, old) in &locked.enums {
        let Some(new) = current.enums.get(name) else {
            push(
                "ENUM_NO_DELETE",
                name.clone(),
                "enum was removed or renamed".to_owned(),
            );
            continue;
        };
        for (number, value) in &old.values {
            let element = format!("{name}.{value} ({number})");
            let names_now: Vec<&str> = new
                .values
                .iter()
                .filter(|(n, _)| n == number)
                .map(|(_, v)| v.as_str())
                .collect();
            if names_now.is_empty() {
                match new.values.iter().find(|(_, v)| v == value) {
                    Some((new_number, _)) => push(
                        "ENUM_VALUE_SAME_NUMBER",
                        element,
                        format!("value was renumbered from {number} to {new_number}"),
                    ),
                    None => push(
                        "ENUM_VALUE_NO_DELETE",
                        element,
                        "value was removed".to_owned(),
                    ),
                }
            } else if !names_now.contains(&value.as_str()) {
                push(
                    "ENUM_VALUE_SAME_NAME",
                    element,
                    format!(
                        "name changed from {value} to {} (proto3 JSON carries the name)",
                        names_now.join("/")
                    ),
                );
            }
        }
    }

    for (name, old) in &locked.services {
        let Some(new) = current.services.get(name) else {
            push(
                "SERVICE_NO_DELETE",
                name.clone(),
                "service was removed or renamed (its name is part of every RPC path)".to_owned(),
            );
            continue;
        };
        for (method_name, old_method) in &old.methods {
            let element = format!("{name}.{method_name}");
            let Some(new_method) = new.methods.get(method_name) else {
                push(
                    "RPC_NO_DELETE",
                    element,
                    "method was removed or renamed (its name is part of the RPC path)".to_owned(),
                );
                continue;
            };
            if new_method.input != old_method.input {
                push(
                    "RPC_SAME_REQUEST_TYPE",
                    element.clone(),
                    format!(
                        "request changed from {} to {}",
                        old_method.input, new_method.input
                    ),
                );
            }
            if new_method.output != old_method.output {
                push(
                    "RPC_SAME_RESPONSE_TYPE",
                    element.clone(),
                    format!(
                        "response changed from {} to {}",
                        old_method.output, new_method.output
                    ),
                );
            }
            if new_method.client_streaming != old_method.client_streaming {
                push(
                    "RPC_SAME_CLIENT_STREAMING",
                    element.clone(),
                    format!(
                        "client streaming changed from {} to {}",
                        old_method.client_streaming, new_method.client_streaming
                    ),
                );
            }
            if new_method.server_streaming != old_method.server_streaming {
                push(
                    "RPC_SAME_SERVER_STREAMING",
                    element,
                    format!(
                        "server streaming changed from {} to {}",
                        old_method.server_streaming, new_method.server_streaming
                    ),
                );
            }
        }
    }

    breaks
}

/// The one oneof move allowed (upstream needed it for `Poll.coroutine_state`):
/// a field that was in no oneof joins a oneof that did not exist before, and
/// is the only field of that oneof that existed before. Old writers then never
/// set two members of the oneof, so no reader loses data, and neither binary
/// nor JSON encodings change. Leaving a oneof, switching oneofs, or joining an
/// existing oneof (or one with other old fields) still breaks.
fn moved_alone_into_new_oneof(old: &MessageEntry, new: &MessageEntry, number: i32) -> bool {
    let (Some(old_field), Some(new_field)) = (old.fields.get(&number), new.fields.get(&number))
    else {
        return false;
    };
    let (None, Some(oneof)) = (&old_field.oneof, &new_field.oneof) else {
        return false;
    };
    let oneof_is_new = old
        .fields
        .values()
        .all(|field| field.oneof.as_ref() != Some(oneof));
    let old_members: BTreeSet<i32> = new
        .fields
        .iter()
        .filter(|(n, field)| field.oneof.as_ref() == Some(oneof) && old.fields.contains_key(n))
        .map(|(n, _)| *n)
        .collect();
    oneof_is_new && old_field.label != "repeated" && old_members.len() == 1
}

fn oneof_text(oneof: Option<&str>) -> String {
    oneof.map_or_else(|| "none".to_owned(), |name| format!("`{name}`"))
}
