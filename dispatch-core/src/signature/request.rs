//! The request view: what the signature layer reads from an HTTP request,
//! without copying it and without touching its body.

/// A read-only view of an HTTP request, for any HTTP stack.
///
/// Implement it over your request type (the std adapters do so for
/// `http::Request`); [`BorrowedRequest`] implements it over plain borrowed
/// parts. Values are borrowed, so nothing is copied.
pub trait RequestView {
    /// The method, as received (`@method` upper-cases it).
    fn method(&self) -> &str;
    /// The scheme of the target URI, e.g. `https`.
    fn scheme(&self) -> &str;
    /// The authority of the target URI (`host[:port]`), as received.
    fn authority(&self) -> &str;
    /// The raw (not percent-decoded) path; may be empty.
    fn path(&self) -> &str;
    /// The raw query without its `?`, or `None` when the URI has no `?`.
    fn query(&self) -> Option<&str>;
    /// The value of the `index`-th field line named `name` (given in ASCII
    /// lower case; implementations compare names case-insensitively), in the
    /// order received, or `None` past the last one.
    fn field_line(&self, name: &str, index: usize) -> Option<&[u8]>;
}

/// The `index`-th field line named `name` (case-insensitively) of a list of
/// `(name, value)` pairs in the order received: the one way a
/// [`RequestView`] over such a list answers
/// [`field_line`](RequestView::field_line).
///
/// ```
/// use dispatch_core::signature::nth_field_line;
/// let headers = [("Accept", "a"), ("x", "1"), ("ACCEPT", "b")];
/// assert_eq!(nth_field_line(&headers, "accept", 1), Some(&b"b"[..]));
/// assert_eq!(nth_field_line(&headers, "accept", 2), None);
/// ```
pub fn nth_field_line<'h, N: AsRef<str>, V: AsRef<[u8]>>(
    headers: &'h [(N, V)],
    name: &str,
    index: usize,
) -> Option<&'h [u8]> {
    headers
        .iter()
        .filter(|(n, _)| n.as_ref().eq_ignore_ascii_case(name))
        .nth(index)
        .map(|(_, v)| v.as_ref())
}

impl<T: RequestView + ?Sized> RequestView for &T {
    fn method(&self) -> &str {
        (**self).method()
    }
    fn scheme(&self) -> &str {
        (**self).scheme()
    }
    fn authority(&self) -> &str {
        (**self).authority()
    }
    fn path(&self) -> &str {
        (**self).path()
    }
    fn query(&self) -> Option<&str> {
        (**self).query()
    }
    fn field_line(&self, name: &str, index: usize) -> Option<&[u8]> {
        (**self).field_line(name, index)
    }
}

/// A request made of borrowed parts: the simplest [`RequestView`].
///
/// ```
/// use dispatch_core::signature::{BorrowedRequest, RequestView};
/// let headers = [("Content-Type", "application/proto")];
/// let req = BorrowedRequest::from_url("POST", "https://example.com/a/b?x=1", &headers).ok_or("bad URL")?;
/// assert_eq!(req.authority(), "example.com");
/// assert_eq!(req.path(), "/a/b");
/// assert_eq!(req.query(), Some("x=1"));
/// assert_eq!(req.field_line("content-type", 0), Some(&b"application/proto"[..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct BorrowedRequest<'a> {
    /// The method.
    pub method: &'a str,
    /// The scheme.
    pub scheme: &'a str,
    /// The authority (`host[:port]`).
    pub authority: &'a str,
    /// The raw path.
    pub path: &'a str,
    /// The raw query, without `?`.
    pub query: Option<&'a str>,
    /// The header field lines, `(name, value)`, in order; names in any case.
    pub headers: &'a [(&'a str, &'a str)],
}

impl<'a> BorrowedRequest<'a> {
    /// Splits an absolute URL (`scheme://authority[path][?query][#fragment]`)
    /// into the parts; `None` if its first `:` does not start `://` (a
    /// scheme holds no `:`) or its authority is empty. User information
    /// before `@` in the authority is dropped.
    pub fn from_url(
        method: &'a str,
        url: &'a str,
        headers: &'a [(&'a str, &'a str)],
    ) -> Option<Self> {
        // By the first `:`, not by a search for "://": the same for every
        // URL with a scheme, and no substring searcher in embedded builds.
        let (scheme, rest) = url.split_once(':')?;
        let rest = rest.strip_prefix("//")?;
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at_checked(authority_end)?;
        let authority = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        if authority.is_empty() || scheme.is_empty() {
            return None;
        }
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (target, None),
        };
        Some(BorrowedRequest {
            method,
            scheme,
            authority,
            path,
            query,
            headers,
        })
    }
}

impl RequestView for BorrowedRequest<'_> {
    fn method(&self) -> &str {
        self.method
    }
    fn scheme(&self) -> &str {
        self.scheme
    }
    fn authority(&self) -> &str {
        self.authority
    }
    fn path(&self) -> &str {
        self.path
    }
    fn query(&self) -> Option<&str> {
        self.query
    }
    fn field_line(&self, name: &str, index: usize) -> Option<&[u8]> {
        nth_field_line(self.headers, name, index)
    }
}

/// A view that replaces every field line named `name` by one `value`
/// (the signer uses it to add the `Content-Digest` it computed).
pub(crate) struct WithField<'a, R: ?Sized> {
    pub(crate) inner: &'a R,
    pub(crate) name: &'a str,
    pub(crate) value: &'a [u8],
}

impl<R: RequestView + ?Sized> RequestView for WithField<'_, R> {
    fn method(&self) -> &str {
        self.inner.method()
    }
    fn scheme(&self) -> &str {
        self.inner.scheme()
    }
    fn authority(&self) -> &str {
        self.inner.authority()
    }
    fn path(&self) -> &str {
        self.inner.path()
    }
    fn query(&self) -> Option<&str> {
        self.inner.query()
    }
    fn field_line(&self, name: &str, index: usize) -> Option<&[u8]> {
        if name.eq_ignore_ascii_case(self.name) {
            (index == 0).then_some(self.value)
        } else {
            self.inner.field_line(name, index)
        }
    }
}

/// Trims surrounding SP and HTAB (RFC 9110 OWS).
pub(crate) fn trim_ows(value: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    value.get(start..end).unwrap_or_default()
}

/// What the first two lookups of a field name tell: enough to use a single
/// line without looking the name up again (each lookup may hash the name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FieldLines<'r> {
    /// No field line has the name.
    Absent,
    /// Exactly one line, trimmed: it is the field value.
    One(&'r [u8]),
    /// Several lines, to be joined.
    Several,
}

/// Looks `name` up (at most twice).
pub(crate) fn field_lines<'r, R: RequestView + ?Sized>(req: &'r R, name: &str) -> FieldLines<'r> {
    match req.field_line(name, 0) {
        None => FieldLines::Absent,
        Some(first) if req.field_line(name, 1).is_none() => FieldLines::One(trim_ows(first)),
        Some(_) => FieldLines::Several,
    }
}

/// The field value of `name` as RFC 9421 §2.1 defines it (each line trimmed,
/// lines joined with `", "`), handed to `f`: borrowed when there is one line,
/// joined into a stack buffer of `sfv::MAX_INPUT_LEN` bytes otherwise.
/// `f` gets `None` when the field is absent and `Err(())` when the joined
/// value does not fit.
pub(crate) fn with_field_value<R: RequestView + ?Sized, T>(
    req: &R,
    name: &str,
    f: impl FnOnce(Option<Result<&[u8], ()>>) -> T,
) -> T {
    with_field_lines(req, name, field_lines(req, name), f)
}

/// [`with_field_value`] when `lines` for `name` were already looked up.
pub(crate) fn with_field_lines<R: RequestView + ?Sized, T>(
    req: &R,
    name: &str,
    lines: FieldLines<'_>,
    f: impl FnOnce(Option<Result<&[u8], ()>>) -> T,
) -> T {
    match lines {
        FieldLines::Absent => return f(None),
        FieldLines::One(value) => return f(Some(Ok(value))),
        FieldLines::Several => {}
    }
    let mut buf = [0u8; crate::sfv::MAX_INPUT_LEN];
    let mut w = crate::sfv::SliceWriter::new(&mut buf);
    match write_field_value(req, name, &mut w) {
        Ok(_) => f(Some(Ok(w.into_bytes()))),
        Err(_) => f(Some(Err(()))),
    }
}

/// Writes the field value of `name` (lines trimmed, joined with `", "`),
/// returning the number of field lines.
pub(crate) fn write_field_value<R: RequestView + ?Sized>(
    req: &R,
    name: &str,
    w: &mut crate::sfv::SliceWriter<'_>,
) -> Result<usize, core::fmt::Error> {
    let mut index = 0;
    while let Some(line) = req.field_line(name, index) {
        if index > 0 {
            w.write_bytes(b", ")?;
        }
        w.write_bytes(trim_ows(line))?;
        index += 1;
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_splitting() {
        let r = BorrowedRequest::from_url("GET", "http://u@[::1]:80?q#f", &[]).unwrap();
        assert_eq!((r.authority, r.path, r.query), ("[::1]:80", "", Some("q")));
        let r = BorrowedRequest::from_url("GET", "https://h/p?", &[]).unwrap();
        assert_eq!((r.path, r.query), ("/p", Some("")));
        assert!(BorrowedRequest::from_url("GET", "/p", &[]).is_none());
        assert!(BorrowedRequest::from_url("GET", "https:///p", &[]).is_none());
        // The scheme ends at the first `:`, which must start `://`.
        assert!(BorrowedRequest::from_url("GET", "a:b://h/p", &[]).is_none());
        assert!(BorrowedRequest::from_url("GET", "mailto:x@h", &[]).is_none());
        let r = BorrowedRequest::from_url("GET", "http://h:8080/a://b", &[]).unwrap();
        assert_eq!(
            (r.scheme, r.authority, r.path),
            ("http", "h:8080", "/a://b")
        );
    }

    #[test]
    fn field_values_are_trimmed_and_joined() {
        let headers = [("A", " x \t"), ("b", "y"), ("a", "z")];
        let r = BorrowedRequest::from_url("GET", "https://h/", &headers).unwrap();
        with_field_value(&r, "a", |v| assert_eq!(v, Some(Ok(&b"x, z"[..]))));
        with_field_value(&r, "b", |v| assert_eq!(v, Some(Ok(&b"y"[..]))));
        with_field_value(&r, "c", |v| assert_eq!(v, None));
        assert_eq!(trim_ows(b" \t "), b"");
    }
}
