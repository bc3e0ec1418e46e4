//! Style lint of the `.proto` files: the parts of `buf lint` DEFAULT that
//! matter here, with buf's rule names (plus `FILE_SYNTAX_PROTO3`, ours).

use std::collections::BTreeMap;
use std::path::Path;

use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorProto};

/// One style problem: `RULE element: detail`.
pub(crate) type Finding = String;

/// Lints the given files (the project's own, not their imports).
pub(crate) fn lint(files: &[FileDescriptorProto]) -> Vec<Finding> {
    let mut findings = Vec::new();
    // Message full name to the RPCs that use it as request or response.
    let mut rpc_uses: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // By path, so the report does not depend on the compiler's file order.
    let mut sorted: Vec<&FileDescriptorProto> = files.iter().collect();
    sorted.sort_by_key(|file| file.name());
    for file in sorted {
        lint_file(file, &mut findings, &mut rpc_uses);
    }
    for (message, uses) in rpc_uses {
        if uses.len() > 1 {
            findings.push(format!(
                "RPC_REQUEST_RESPONSE_UNIQUE {message}: used by more than one RPC: {}",
                uses.join(", ")
            ));
        }
    }
    findings
}

fn lint_file(
    file: &FileDescriptorProto,
    findings: &mut Vec<Finding>,
    rpc_uses: &mut BTreeMap<String, Vec<String>>,
) {
    let path = file.name();
    let package = file.package();
    let mut find = |rule: &str, element: &str, detail: String| {
        findings.push(format!("{rule} {element}: {detail}"));
    };

    if file.syntax() != "proto3" {
        find(
            "FILE_SYNTAX_PROTO3",
            path,
            format!("syntax is `{}`, not proto3", file.syntax()),
        );
    }
    if !file.public_dependency.is_empty() {
        find(
            "IMPORT_NO_PUBLIC",
            path,
            "`import public` is not allowed".to_owned(),
        );
    }
    let stem = Path::new(path)
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or_default();
    if !is_lower_snake(stem) {
        find(
            "FILE_LOWER_SNAKE_CASE",
            path,
            "file name is not lower_snake_case".to_owned(),
        );
    }
    if package.is_empty() {
        find("PACKAGE_DEFINED", path, "file has no package".to_owned());
    } else {
        if !package.split('.').all(is_lower_snake) {
            find(
                "PACKAGE_LOWER_SNAKE_CASE",
                package,
                "package is not lower_snake.case".to_owned(),
            );
        }
        let last = package.rsplit('.').next().unwrap_or_default();
        if !is_version(last) {
            find(
                "PACKAGE_VERSION_SUFFIX",
                package,
                "package does not end in a version such as v1 or v1beta1".to_owned(),
            );
        }
        let directory = Path::new(path)
            .parent()
            .and_then(|dir| dir.to_str())
            .unwrap_or_default();
        if directory != package.replace('.', "/") {
            find(
                "PACKAGE_DIRECTORY_MATCH",
                path,
                format!(
                    "package {package} belongs in directory {}/",
                    package.replace('.', "/")
                ),
            );
        }
    }

    for message in &file.message_type {
        lint_message(package, message, findings);
    }
    for enumeration in &file.enum_type {
        lint_enum(package, enumeration, findings);
    }
    for service in &file.service {
        let full = format!("{package}.{}", service.name());
        if !is_pascal(service.name()) {
            findings.push(format!(
                "SERVICE_PASCAL_CASE {full}: service name is not PascalCase"
            ));
        }
        let Some(base) = service.name().strip_suffix("Service") else {
            findings.push(format!(
                "SERVICE_SUFFIX {full}: service name does not end in Service"
            ));
            continue;
        };
        for method in &service.method {
            let rpc = format!("{full}.{}", method.name());
            if !is_pascal(method.name()) {
                findings.push(format!("RPC_PASCAL_CASE {rpc}: RPC name is not PascalCase"));
            }
            for (rule, suffix, type_name) in [
                ("RPC_REQUEST_STANDARD_NAME", "Request", method.input_type()),
                (
                    "RPC_RESPONSE_STANDARD_NAME",
                    "Response",
                    method.output_type(),
                ),
            ] {
                let type_name = type_name.strip_prefix('.').unwrap_or(type_name);
                let simple = type_name.rsplit('.').next().unwrap_or_default();
                let plain = format!("{}{suffix}", method.name());
                let qualified = format!("{base}{}{suffix}", method.name());
                if simple != plain && simple != qualified {
                    findings.push(format!(
                        "{rule} {rpc}: {simple} should be named {plain} or {qualified}"
                    ));
                }
                rpc_uses
                    .entry(type_name.to_owned())
                    .or_default()
                    .push(rpc.clone());
            }
        }
    }
}

fn lint_message(scope: &str, message: &DescriptorProto, findings: &mut Vec<Finding>) {
    let full = format!("{scope}.{}", message.name());
    let is_map_entry = message
        .options
        .as_ref()
        .is_some_and(|options| options.map_entry());
    if !is_pascal(message.name()) {
        findings.push(format!(
            "MESSAGE_PASCAL_CASE {full}: message name is not PascalCase"
        ));
    }
    for field in &message.field {
        if !is_lower_snake(field.name()) {
            findings.push(format!(
                "FIELD_LOWER_SNAKE_CASE {full}.{} ({}): field name is not lower_snake_case",
                field.name(),
                field.number()
            ));
        }
    }
    for oneof in &message.oneof_decl {
        if !is_lower_snake(oneof.name()) {
            findings.push(format!(
                "ONEOF_LOWER_SNAKE_CASE {full}.{}: oneof name is not lower_snake_case",
                oneof.name()
            ));
        }
    }
    if is_map_entry {
        return;
    }
    for nested in &message.nested_type {
        lint_message(&full, nested, findings);
    }
    for enumeration in &message.enum_type {
        lint_enum(&full, enumeration, findings);
    }
}

fn lint_enum(scope: &str, enumeration: &EnumDescriptorProto, findings: &mut Vec<Finding>) {
    let full = format!("{scope}.{}", enumeration.name());
    if !is_pascal(enumeration.name()) {
        findings.push(format!(
            "ENUM_PASCAL_CASE {full}: enum name is not PascalCase"
        ));
    }
    let prefix = format!("{}_", upper_snake(enumeration.name()));
    for value in &enumeration.value {
        let element = format!("{full}.{} ({})", value.name(), value.number());
        if !is_upper_snake(value.name()) {
            findings.push(format!(
                "ENUM_VALUE_UPPER_SNAKE_CASE {element}: value name is not UPPER_SNAKE_CASE"
            ));
        }
        if !value.name().starts_with(&prefix) {
            findings.push(format!(
                "ENUM_VALUE_PREFIX {element}: value name does not start with {prefix}"
            ));
        }
        if value.number() == 0 && !value.name().ends_with("_UNSPECIFIED") {
            findings.push(format!(
                "ENUM_ZERO_VALUE_SUFFIX {element}: the zero value does not end in _UNSPECIFIED"
            ));
        }
    }
}

/// `lower_snake_case`: lower-case letters and digits in words joined by single
/// underscores, starting with a letter.
pub(crate) fn is_lower_snake(name: &str) -> bool {
    is_snake(name, |c| c.is_ascii_lowercase())
}

/// `UPPER_SNAKE_CASE`, the same shape in capitals.
pub(crate) fn is_upper_snake(name: &str) -> bool {
    is_snake(name, |c| c.is_ascii_uppercase())
}

fn is_snake(name: &str, letter: impl Fn(char) -> bool) -> bool {
    name.chars().next().is_some_and(&letter)
        && name
            .split('_')
            .all(|word| !word.is_empty() && word.chars().all(|c| letter(c) || c.is_ascii_digit()))
}

/// `PascalCase`: an upper-case letter, then letters and digits, no underscores.
pub(crate) fn is_pascal(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && name.chars().all(|c| c.is_ascii_alphanumeric())
}

/// `v1`, `v2`, `v1beta1`, `v1alpha`: buf's stable and unstable version suffixes.
fn is_version(component: &str) -> bool {
    let Some(rest) = component.strip_prefix('v') else {
        return false;
    };
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    let (major, tail) = rest.split_at(digits);
    if major.is_empty() || major.starts_with('0') {
        return false;
    }
    let channel = tail
        .strip_prefix("alpha")
        .or_else(|| tail.strip_prefix("beta"));
    match channel {
        None => tail.is_empty(),
        Some(number) => number.chars().all(|c| c.is_ascii_digit()),
    }
}

/// `PascalCase` to `UPPER_SNAKE`: `Status` to `STATUS`, `HTTPMethod` to
/// `HTTP_METHOD`, the prefix buf expects on enum values.
pub(crate) fn upper_snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (index, c) in chars.iter().enumerate() {
        let previous = index.checked_sub(1).and_then(|i| chars.get(i));
        let next = chars.get(index + 1);
        let starts_word = c.is_ascii_uppercase()
            && previous.is_some_and(|p| {
                p.is_ascii_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_ascii_uppercase() && next.is_some_and(char::is_ascii_lowercase))
            });
        if starts_word {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}
