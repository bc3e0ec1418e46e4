//! The wire model: every element of the `.proto` files whose change could break
//! the binary wire format or proto3 JSON, built from compiled descriptors, and
//! its lock-file form (render and parse).
//!
//! Lock format: one element per line, `kind full.name attributes...`, attributes
//! as `key=value`. Lines come in a fixed order: packages, files, then each
//! message followed by its fields (by number), each enum followed by its values
//! (by number, then name), each service followed by its methods (by name). Names
//! are sorted byte-wise, so the order never depends on the order of the sources.

use std::collections::{BTreeMap, BTreeSet};

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorProto,
};

/// The header written at the top of `proto/wire.lock`.
pub(crate) const LOCK_HEADER: &str = "\
# proto/wire.lock: the wire and proto3-JSON surface of proto/, checked by tests/wire_guard.rs.
# Generated; do not edit by hand. After an addition, refresh it with:
#   DISPATCH_UPDATE_WIRE_LOCK=1 cargo test --test wire_guard
# Breaking changes are never written here by the refresh (see docs/wire-guard.md).
";

/// Every wire-relevant element of a set of `.proto` files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct WireModel {
    /// Proto package names.
    pub(crate) packages: BTreeSet<String>,
    /// File path (relative to `proto/`) to its facts.
    pub(crate) files: BTreeMap<String, FileEntry>,
    /// Message full name (no leading dot) to its facts, nested messages included.
    pub(crate) messages: BTreeMap<String, MessageEntry>,
    /// Enum full name to its facts, nested enums included.
    pub(crate) enums: BTreeMap<String, EnumEntry>,
    /// Service full name to its facts.
    pub(crate) services: BTreeMap<String, ServiceEntry>,
}

/// One `.proto` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileEntry {
    /// Its `package`.
    pub(crate) package: String,
    /// Its `syntax` (`proto2` when the file declares none).
    pub(crate) syntax: String,
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MessageEntry {
    /// The file that declares it.
    pub(crate) file: String,
    /// Its fields by number: the number is a field's identity on the wire.
    pub(crate) fields: BTreeMap<i32, FieldEntry>,
}

/// One field of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldEntry {
    /// Its name, as written (JSON parsers accept it).
    pub(crate) name: String,
    /// `uint64`, `bytes`, ..., `message:full.Name`, `enum:full.Name` or `group:full.Name`.
    pub(crate) ty: String,
    /// `singular` (proto3 implicit presence, or a message), `optional`
    /// (explicit presence), `repeated` or `required`.
    pub(crate) label: String,
    /// The real oneof it belongs to (synthetic proto3-optional oneofs excluded).
    pub(crate) oneof: Option<String>,
    /// Its proto3 JSON name.
    pub(crate) json_name: String,
}

/// One enum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EnumEntry {
    /// The file that declares it.
    pub(crate) file: String,
    /// Its values as `(number, name)`; a number may carry aliases.
    pub(crate) values: BTreeSet<(i32, String)>,
}

/// One service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceEntry {
    /// The file that declares it.
    pub(crate) file: String,
    /// Its methods by name (the name is part of the RPC path).
    pub(crate) methods: BTreeMap<String, MethodEntry>,
}

/// One RPC method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MethodEntry {
    /// Request message full name.
    pub(crate) input: String,
    /// Response message full name.
    pub(crate) output: String,
    /// Whether the client streams.
    pub(crate) client_streaming: bool,
    /// Whether the server streams.
    pub(crate) server_streaming: bool,
}

impl WireModel {
    /// Builds the model of the given files (pass only the project's own files,
    /// not the well-known types they import).
    pub(crate) fn from_files<'a>(files: impl IntoIterator<Item = &'a FileDescriptorProto>) -> Self {
        let mut model = Self::default();
        for file in files {
            let package = file.package().to_owned();
            let syntax = match file.syntax() {
                "" => "proto2".to_owned(),
                other => other.to_owned(),
            };
            let proto3 = syntax == "proto3";
            model.packages.insert(package.clone());
            model.files.insert(
                file.name().to_owned(),
                FileEntry {
                    package: package.clone(),
                    syntax,
                },
            );
            for message in &file.message_type {
                model.add_message(file.name(), &package, message, proto3);
            }
            for enumeration in &file.enum_type {
                model.add_enum(file.name(), &package, enumeration);
            }
            for service in &file.service {
                let full = qualify(&package, service.name());
                let methods = service
                    .method
                    .iter()
                    .map(|method| {
                        let entry = MethodEntry {
                            input: strip_dot(method.input_type()).to_owned(),
                            output: strip_dot(method.output_type()).to_owned(),
                            client_streaming: method.client_streaming(),
                            server_streaming: method.server_streaming(),
                        };
                        (method.name().to_owned(), entry)
                    })
                    .collect();
                model.services.insert(
                    full,
                    ServiceEntry {
                        file: file.name().to_owned(),
                        methods,
                    },
                );
            }
        }
        model
    }

    fn add_message(&mut self, file: &str, scope: &str, message: &DescriptorProto, proto3: bool) {
        let full = qualify(scope, message.name());
        let fields = message
            .field
            .iter()
            .map(|field| (field.number(), field_entry(message, field, proto3)))
            .collect();
        self.messages.insert(
            full.clone(),
            MessageEntry {
                file: file.to_owned(),
                fields,
            },
        );
        for nested in &message.nested_type {
            self.add_message(file, &full, nested, proto3);
        }
        for enumeration in &message.enum_type {
            self.add_enum(file, &full, enumeration);
        }
    }

    fn add_enum(&mut self, file: &str, scope: &str, enumeration: &EnumDescriptorProto) {
        let values = enumeration
            .value
            .iter()
            .map(|value| (value.number(), value.name().to_owned()))
            .collect();
        self.enums.insert(
            qualify(scope, enumeration.name()),
            EnumEntry {
                file: file.to_owned(),
                values,
            },
        );
    }

    /// The lock-file text of this model, header included.
    pub(crate) fn render(&self) -> String {
        let mut lines = Vec::new();
        for package in &self.packages {
            lines.push(format!("package {package}"));
        }
        for (path, file) in &self.files {
            lines.push(format!(
                "file {path} package={} syntax={}",
                file.package, file.syntax
            ));
        }
        for (name, message) in &self.messages {
            lines.push(format!("message {name} file={}", message.file));
            for (number, field) in &message.fields {
                lines.push(render_field(name, *number, field));
            }
        }
        for (name, enumeration) in &self.enums {
            lines.push(format!("enum {name} file={}", enumeration.file));
            for (number, value) in &enumeration.values {
                lines.push(format!("value {name}.{value} = {number}"));
            }
        }
        for (name, service) in &self.services {
            lines.push(format!("service {name} file={}", service.file));
            for (method_name, method) in &service.methods {
                lines.push(format!(
                    "method {name}.{method_name} input={} output={} client_streaming={} server_streaming={}",
                    method.input, method.output, method.client_streaming, method.server_streaming
                ));
            }
        }
        let mut text = LOCK_HEADER.to_owned();
        for line in lines {
            text.push_str(&line);
            text.push('\n');
        }
        text
    }

    /// Parses a lock file written by [`WireModel::render`]. Comment (`#`) and
    /// blank lines are skipped; anything else that does not fit is an error
    /// naming the line, so a hand-mangled lock never compares as empty.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut model = Self::default();
        // Children must follow their parent, as render writes them.
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            parse_line(&mut model, line)
                .map_err(|why| format!("line {}: {why}: {line}", index + 1))?;
        }
        Ok(model)
    }
}

fn render_field(message: &str, number: i32, field: &FieldEntry) -> String {
    let mut line = format!(
        "field {message}.{} = {number} type={} label={}",
        field.name, field.ty, field.label
    );
    if let Some(oneof) = &field.oneof {
        line.push_str(&format!(" oneof={oneof}"));
    }
    line.push_str(&format!(" json={}", field.json_name));
    line
}

fn field_entry(
    message: &DescriptorProto,
    field: &FieldDescriptorProto,
    proto3: bool,
) -> FieldEntry {
    let type_name = strip_dot(field.type_name());
    let ty = match field.r#type() {
        Type::Message => format!("message:{type_name}"),
        Type::Enum => format!("enum:{type_name}"),
        Type::Group => format!("group:{type_name}"),
        scalar => scalar_name(scalar).to_owned(),
    };
    let label = match field.label() {
        Label::Repeated => "repeated",
        Label::Required => "required",
        Label::Optional if field.proto3_optional() => "optional",
        Label::Optional if proto3 || field.r#type() == Type::Message => "singular",
        Label::Optional => "optional",
    };
    let oneof = field
        .oneof_index
        .filter(|_| !field.proto3_optional())
        .and_then(|index| usize::try_from(index).ok())
        .and_then(|index| message.oneof_decl.get(index))
        .map(|oneof| oneof.name().to_owned());
    let json_name = field
        .json_name
        .clone()
        .unwrap_or_else(|| default_json_name(field.name()));
    FieldEntry {
        name: field.name().to_owned(),
        ty,
        label: label.to_owned(),
        oneof,
        json_name,
    }
}

/// The proto type name of a scalar field type, as written in `.proto` source.
fn scalar_name(ty: Type) -> &'static str {
    match ty {
        Type::Double => "double",
        Type::Float => "float",
        Type::Int64 => "int64",
        Type::Uint64 => "uint64",
        Type::Int32 => "int32",
        Type::Fixed64 => "fixed64",
        Type::Fixed32 => "fixed32",
        Type::Bool => "bool",
        Type::String => "string",
        Type::Bytes => "bytes",
        Type::Uint32 => "uint32",
        Type::Sfixed32 => "sfixed32",
        Type::Sfixed64 => "sfixed64",
        Type::Sint32 => "sint32",
        Type::Sint64 => "sint64",
        Type::Group => "group",
        Type::Message => "message",
        Type::Enum => "enum",
    }
}

/// protoc's default JSON name: underscores dropped, the letter after each one
/// upper-cased. Only used when a descriptor does not carry `json_name`.
pub(crate) fn default_json_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper_next = false;
    for c in name.chars() {
        if c == '_' {
            upper_next = true;
        } else if upper_next {
            out.push(c.to_ascii_uppercase());
            upper_next = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn qualify(scope: &str, name: &str) -> String {
    if scope.is_empty() {
        name.to_owned()
    } else {
        format!("{scope}.{name}")
    }
}

fn strip_dot(name: &str) -> &str {
    name.strip_prefix('.').unwrap_or(name)
}

/// Splits `a.b.C.name` into (`a.b.C`, `name`).
fn split_last(full: &str) -> Result<(&str, &str), String> {
    full.rsplit_once('.')
        .filter(|(parent, child)| !parent.is_empty() && !child.is_empty())
        .ok_or_else(|| format!("`{full}` has no parent"))
}

/// `key=value` attributes of a line, each key allowed once and all consumed.
struct Attributes<'a>(BTreeMap<&'a str, &'a str>);

impl<'a> Attributes<'a> {
    fn parse(tokens: &[&'a str]) -> Result<Self, String> {
        let mut map = BTreeMap::new();
        for token in tokens {
            let (key, value) = token
                .split_once('=')
                .ok_or_else(|| format!("`{token}` is not key=value"))?;
            if map.insert(key, value).is_some() {
                return Err(format!("`{key}` appears twice"));
            }
        }
        Ok(Self(map))
    }

    fn take(&mut self, key: &str) -> Result<&'a str, String> {
        self.0
            .remove(key)
            .ok_or_else(|| format!("`{key}=` is missing"))
    }

    fn take_bool(&mut self, key: &str) -> Result<bool, String> {
        match self.take(key)? {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(format!("`{key}={other}` is not true or false")),
        }
    }

    fn finish(self) -> Result<(), String> {
        match self.0.keys().next() {
            Some(key) => Err(format!("unknown attribute `{key}`")),
            None => Ok(()),
        }
    }
}

/// Parses `name = number rest...` (field and enum value lines).
fn numbered<'a>(tokens: &[&'a str]) -> Result<(&'a str, i32, Vec<&'a str>), String> {
    match tokens {
        [name, "=", number, rest @ ..] => {
            let number = number
                .parse()
                .map_err(|_| format!("`{number}` is not a number"))?;
            Ok((name, number, rest.to_vec()))
        }
        _ => Err("expected `name = number`".to_owned()),
    }
}

fn parse_line(model: &mut WireModel, line: &str) -> Result<(), String> {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let (kind, rest) = tokens.split_first().ok_or("empty line")?;
    match *kind {
        "package" => match rest {
            [name] => {
                model.packages.insert((*name).to_owned());
                Ok(())
            }
            _ => Err("expected `package name`".to_owned()),
        },
        "file" => {
            let (path, attrs) = rest.split_first().ok_or("file without a path")?;
            let mut attrs = Attributes::parse(attrs)?;
            let entry = FileEntry {
                package: attrs.take("package")?.to_owned(),
                syntax: attrs.take("syntax")?.to_owned(),
            };
            attrs.finish()?;
            insert_new(&mut model.files, (*path).to_owned(), entry)
        }
        "message" | "enum" | "service" => {
            let (name, attrs) = rest.split_first().ok_or("missing name")?;
            let mut attrs = Attributes::parse(attrs)?;
            let file = attrs.take("file")?.to_owned();
            attrs.finish()?;
            match *kind {
                "message" => insert_new(
                    &mut model.messages,
                    (*name).to_owned(),
                    MessageEntry {
                        file,
                        fields: BTreeMap::new(),
                    },
                ),
                "enum" => insert_new(
                    &mut model.enums,
                    (*name).to_owned(),
                    EnumEntry {
                        file,
                        values: BTreeSet::new(),
                    },
                ),
                _ => insert_new(
                    &mut model.services,
                    (*name).to_owned(),
                    ServiceEntry {
                        file,
                        methods: BTreeMap::new(),
                    },
                ),
            }
        }
        "field" => {
            let (full, number, attrs) = numbered(rest)?;
            let (message, name) = split_last(full)?;
            let mut attrs = Attributes::parse(&attrs)?;
            let entry = FieldEntry {
                name: name.to_owned(),
                ty: attrs.take("type")?.to_owned(),
                label: attrs.take("label")?.to_owned(),
                oneof: attrs.take("oneof").ok().map(str::to_owned),
                json_name: attrs.take("json")?.to_owned(),
            };
            attrs.finish()?;
            let parent = model
                .messages
                .get_mut(message)
                .ok_or_else(|| format!("field before its message `{message}`"))?;
            insert_new(&mut parent.fields, number, entry)
        }
        "value" => {
            let (full, number, attrs) = numbered(rest)?;
            if !attrs.is_empty() {
                return Err("enum values take no attributes".to_owned());
            }
            let (enumeration, name) = split_last(full)?;
            let parent = model
                .enums
                .get_mut(enumeration)
                .ok_or_else(|| format!("value before its enum `{enumeration}`"))?;
            if parent.values.insert((number, name.to_owned())) {
                Ok(())
            } else {
                Err("duplicate enum value".to_owned())
            }
        }
        "method" => {
            let (full, attrs) = rest.split_first().ok_or("missing name")?;
            let (service, name) = split_last(full)?;
            let mut attrs = Attributes::parse(attrs)?;
            let entry = MethodEntry {
                input: attrs.take("input")?.to_owned(),
                output: attrs.take("output")?.to_owned(),
                client_streaming: attrs.take_bool("client_streaming")?,
                server_streaming: attrs.take_bool("server_streaming")?,
            };
            attrs.finish()?;
            let parent = model
                .services
                .get_mut(service)
                .ok_or_else(|| format!("method before its service `{service}`"))?;
            insert_new(&mut parent.methods, name.to_owned(), entry)
        }
        other => Err(format!("unknown kind `{other}`")),
    }
}

fn insert_new<K: Ord, V>(map: &mut BTreeMap<K, V>, key: K, value: V) -> Result<(), String> {
    if map.insert(key, value).is_some() {
        Err("duplicate element".to_owned())
    } else {
        Ok(())
    }
}
