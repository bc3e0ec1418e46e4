//! The RFC 9421 signature base (§2.5), for the components this crate supports.

use core::fmt::Write as _;

use super::request::{FieldLines, RequestView, write_field_value};
use crate::sfv::{BareItem, InnerList, Item, MAX_INNER_LIST_ITEMS, SliceWriter};

/// A covered component this crate can derive.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Component<'a> {
    /// `@method`: the method, upper-cased.
    Method,
    /// `@authority`: the authority, lower-cased, port kept as given.
    Authority,
    /// `@path`: the raw path; empty is `/`.
    Path,
    /// `@query`: `?` and the raw query; `?` when there is none.
    Query,
    /// `@target-uri`: `scheme://authority path[?query]` as received (empty path is `/`).
    TargetUri,
    /// `@scheme`: the scheme, lower-cased.
    Scheme,
    /// An HTTP field, by its lower-case name.
    Field(&'a str),
}

/// Why a component identifier cannot be used.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ComponentFault {
    /// Not a String, not lower-case, empty, not a field name, or with parameters.
    Malformed,
    /// A derived component (`@…`) this crate does not support.
    Unsupported,
}

impl<'a> Component<'a> {
    /// The component an inner-list item names. Component parameters (`sf`,
    /// `key`, `bs`, `req`, `tr`) are not supported and make it malformed.
    pub(crate) fn from_item(item: &Item<'a>) -> Result<Self, ComponentFault> {
        let BareItem::String(name) = item.bare else {
            return Err(ComponentFault::Malformed);
        };
        if !item.params.is_empty() {
            return Err(ComponentFault::Malformed);
        }
        let name = name.as_plain_str().ok_or(ComponentFault::Malformed)?;
        Self::from_name(name)
    }

    /// The component called `name`.
    pub(crate) fn from_name(name: &'a str) -> Result<Self, ComponentFault> {
        if name.is_empty() || name.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(ComponentFault::Malformed);
        }
        if let Some(derived) = name.strip_prefix('@') {
            return match derived {
                "method" => Ok(Component::Method),
                "authority" => Ok(Component::Authority),
                "path" => Ok(Component::Path),
                "query" => Ok(Component::Query),
                "target-uri" => Ok(Component::TargetUri),
                "scheme" => Ok(Component::Scheme),
                _ => Err(ComponentFault::Unsupported),
            };
        }
        if name.bytes().all(crate::sfv::is_tchar) {
            Ok(Component::Field(name))
        } else {
            Err(ComponentFault::Malformed)
        }
    }

    /// `"name": ` for a derived component (the start of its base line).
    const fn line_prefix(&self) -> Option<&'static str> {
        Some(match self {
            Component::Method => "\"@method\": ",
            Component::Authority => "\"@authority\": ",
            Component::Path => "\"@path\": ",
            Component::Query => "\"@query\": ",
            Component::TargetUri => "\"@target-uri\": ",
            Component::Scheme => "\"@scheme\": ",
            Component::Field(_) => return None,
        })
    }

    /// The component identifier's name.
    pub(crate) const fn name(&self) -> &'a str {
        match self {
            Component::Method => "@method",
            Component::Authority => "@authority",
            Component::Path => "@path",
            Component::Query => "@query",
            Component::TargetUri => "@target-uri",
            Component::Scheme => "@scheme",
            Component::Field(name) => name,
        }
    }
}

/// Why a signature base could not be built.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BaseError {
    /// A component identifier is malformed: not a lower-case String naming
    /// a field or a derived component, or with parameters.
    MalformedComponent,
    /// A derived component (`@…`) this crate does not support.
    UnsupportedComponent,
    /// A component is listed twice.
    Duplicate,
    /// A covered field is absent from the request.
    FieldMissing,
    /// A component value holds a character a signature base cannot carry
    /// (a control character other than HTAB, or non-ASCII).
    InvalidValue,
    /// The base does not fit in the buffer.
    TooLarge,
}

impl core::fmt::Display for BaseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            BaseError::MalformedComponent => "a component identifier is malformed",
            BaseError::UnsupportedComponent => "a derived component is not supported",
            BaseError::Duplicate => "a component is listed twice",
            BaseError::FieldMissing => "a covered field is absent",
            BaseError::InvalidValue => "a component value holds a character a base cannot carry",
            BaseError::TooLarge => "the signature base does not fit the buffer",
        })
    }
}

impl core::error::Error for BaseError {}

impl From<ComponentFault> for BaseError {
    fn from(fault: ComponentFault) -> Self {
        match fault {
            ComponentFault::Malformed => BaseError::MalformedComponent,
            ComponentFault::Unsupported => BaseError::UnsupportedComponent,
        }
    }
}

/// The default capacity for a signature base, in bytes.
pub const DEFAULT_BASE_CAPACITY: usize = 4096;

/// Writes the signature base for the component list and parameters of
/// `signature_params` (a parsed `Signature-Input` member) into `out`,
/// returning it. The `@signature-params` line is the canonical
/// re-serialisation of `signature_params`, never its source text.
///
/// ```
/// use dispatch_core::sfv::InnerList;
/// use dispatch_core::signature::{BorrowedRequest, write_signature_base};
/// let req = BorrowedRequest::from_url("post", "https://Example.com/foo", &[]).ok_or("bad URL")?;
/// let params = InnerList::parse(br#"( "@method" "@authority" );created=1"#)?;
/// let mut buf = [0u8; 256];
/// let base = write_signature_base(&req, &params, &mut buf)?;
/// assert_eq!(base, "\"@method\": POST\n\"@authority\": example.com\n\"@signature-params\": (\"@method\" \"@authority\");created=1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_signature_base<'o, R: RequestView + ?Sized>(
    req: &R,
    signature_params: &InnerList<'_>,
    out: &'o mut [u8],
) -> Result<&'o str, BaseError> {
    let mut components = [Component::Method; MAX_INNER_LIST_ITEMS];
    let count = identify_components(signature_params, &mut components)?;
    let components = components.get(..count).unwrap_or_default();
    write_base_for(req, components, &[], signature_params, out)
}

/// Identifies every component of the list (one parse), refusing unusable and
/// duplicate ones; returns how many were written into `components`.
pub(crate) fn identify_components<'l>(
    signature_params: &InnerList<'l>,
    components: &mut [Component<'l>; MAX_INNER_LIST_ITEMS],
) -> Result<usize, BaseError> {
    let mut count = 0;
    for item in signature_params.items() {
        let component = Component::from_item(&item).map_err(BaseError::from)?;
        let earlier = components.get(..count).unwrap_or_default();
        if earlier.iter().any(|c| c.name() == component.name()) {
            return Err(BaseError::Duplicate);
        }
        // The parser bounds inner lists to MAX_INNER_LIST_ITEMS items.
        let slot = components.get_mut(count).ok_or(BaseError::TooLarge)?;
        *slot = component;
        count += 1;
    }
    Ok(count)
}

/// Writes the base for `components`, already identified from `signature_params`.
/// `fields`, when not empty, holds the looked-up lines of each component
/// that is a field (by the same index), so they are not looked up again.
pub(crate) fn write_base_for<'o, R: RequestView + ?Sized>(
    req: &R,
    components: &[Component<'_>],
    fields: &[FieldLines<'_>],
    signature_params: &InnerList<'_>,
    out: &'o mut [u8],
) -> Result<&'o str, BaseError> {
    let too_large = |_| BaseError::TooLarge;
    let mut w = SliceWriter::new(out);
    for (i, &component) in components.iter().enumerate() {
        match component.line_prefix() {
            // Derived components: the whole `"@name": ` in one copy.
            Some(prefix) => w.write_str(prefix).map_err(too_large)?,
            None => {
                w.write_bytes(b"\"").map_err(too_large)?;
                w.write_str(component.name()).map_err(too_large)?;
                w.write_bytes(b"\": ").map_err(too_large)?;
            }
        }
        let value_start = w.len();
        write_value(req, component, fields.get(i).copied(), &mut w)?;
        let line = w.len();
        w.write_bytes(b"\n").map_err(too_large)?;
        check_value(&w, value_start, line)?;
    }
    w.write_bytes(b"\"@signature-params\": ")
        .map_err(too_large)?;
    crate::sfv::write_inner_list(&mut w, signature_params).map_err(too_large)?;
    Ok(w.into_str())
}

fn check_value(w: &SliceWriter<'_>, start: usize, end: usize) -> Result<(), BaseError> {
    let written = w.written().get(start..end).unwrap_or_default();
    // No early exit, so the loop vectorizes; values are short and usually clean.
    let invalid = written.iter().fold(false, |acc, &b| {
        acc | ((b < 0x20 && b != b'\t') | (b > 0x7e))
    });
    if !invalid {
        Ok(())
    } else {
        Err(BaseError::InvalidValue)
    }
}

fn write_value<R: RequestView + ?Sized>(
    req: &R,
    component: Component<'_>,
    lines: Option<FieldLines<'_>>,
    w: &mut SliceWriter<'_>,
) -> Result<(), BaseError> {
    let too_large = |_| BaseError::TooLarge;
    match component {
        Component::Method => write_mapped(w, req.method(), u8::to_ascii_uppercase),
        Component::Authority => write_mapped(w, req.authority(), u8::to_ascii_lowercase),
        Component::Scheme => write_mapped(w, req.scheme(), u8::to_ascii_lowercase),
        Component::Path => w.write_str(non_empty_path(req.path())).map_err(too_large),
        Component::Query => {
            w.write_char('?').map_err(too_large)?;
            w.write_str(req.query().unwrap_or_default())
                .map_err(too_large)
        }
        Component::TargetUri => {
            write!(
                w,
                "{}://{}{}",
                req.scheme(),
                req.authority(),
                non_empty_path(req.path())
            )
            .map_err(too_large)?;
            match req.query() {
                Some(q) => write!(w, "?{q}").map_err(too_large),
                None => Ok(()),
            }
        }
        Component::Field(name) => match lines {
            Some(FieldLines::Absent) => Err(BaseError::FieldMissing),
            Some(FieldLines::One(value)) => w.write_bytes(value).map_err(too_large),
            Some(FieldLines::Several) | None => write_joined(req, name, w),
        },
    }
}

fn write_joined<R: RequestView + ?Sized>(
    req: &R,
    name: &str,
    w: &mut SliceWriter<'_>,
) -> Result<(), BaseError> {
    match write_field_value(req, name, w).map_err(|_| BaseError::TooLarge)? {
        0 => Err(BaseError::FieldMissing),
        _ => Ok(()),
    }
}

fn non_empty_path(path: &str) -> &str {
    if path.is_empty() { "/" } else { path }
}

fn write_mapped(w: &mut SliceWriter<'_>, text: &str, map: fn(&u8) -> u8) -> Result<(), BaseError> {
    w.write_mapped(text.as_bytes(), map)
        .map_err(|_| BaseError::TooLarge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_prefixes_quote_the_names() {
        for component in [
            Component::Method,
            Component::Authority,
            Component::Path,
            Component::Query,
            Component::TargetUri,
            Component::Scheme,
        ] {
            let expected = std::format!("\"{}\": ", component.name());
            assert_eq!(component.line_prefix(), Some(expected.as_str()));
        }
        assert_eq!(Component::Field("a").line_prefix(), None);
    }

    #[test]
    fn every_derived_component_is_recognised_by_name() {
        let derived = [
            ("@method", Component::Method),
            ("@authority", Component::Authority),
            ("@path", Component::Path),
            ("@query", Component::Query),
            ("@target-uri", Component::TargetUri),
            ("@scheme", Component::Scheme),
        ];
        for (name, component) in derived {
            assert_eq!(Component::from_name(name), Ok(component), "{name}");
            assert_eq!(component.name(), name);
        }
        assert_eq!(
            Component::from_name("content-type"),
            Ok(Component::Field("content-type"))
        );
        assert_eq!(
            Component::from_name("@request-target"),
            Err(ComponentFault::Unsupported)
        );
        for malformed in ["", "Content-Type", "@Method", "a b", "a:b"] {
            assert_eq!(
                Component::from_name(malformed),
                Err(ComponentFault::Malformed),
                "{malformed:?}"
            );
        }
    }
}
