//! A Python request object read into owned parts, so that the core can look
//! at it with the GIL released.
//!
//! A request is any object with `method` (str), `url` (str, or anything whose
//! `str()` is the absolute URL), `headers` (a mapping, or an iterable of
//! `(name, value)` pairs in which names may repeat; values `str` or `bytes`)
//! and `body` (`bytes`, `bytearray`, `memoryview` or `str`, encoded as UTF-8
//! as dispatch-py does). dispatch-py's `dispatch.signature.Request` is one.

use dispatch_core::signature::{BorrowedRequest, RequestView};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyMemoryView, PyString};

/// The parts of a request, copied out of Python.
pub(crate) struct OwnedRequest {
    pub(crate) method: String,
    pub(crate) url: String,
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    pub(crate) body: Vec<u8>,
}

impl OwnedRequest {
    /// Reads `request`'s four attributes.
    pub(crate) fn extract(request: &Bound<'_, PyAny>) -> PyResult<Self> {
        let method = request.getattr("method")?;
        let method = text(&method, "request.method")?;
        let url = request.getattr("url")?;
        let url = match url.cast::<PyString>() {
            Ok(s) => s.to_cow()?.into_owned(),
            Err(_) => url.str()?.to_cow()?.into_owned(),
        };
        let headers = headers(&request.getattr("headers")?)?;
        let body = bytes(&request.getattr("body")?, "request.body")?;
        Ok(OwnedRequest {
            method,
            url,
            headers,
            body,
        })
    }

    /// The core's view of the request; a `ValueError` when the URL has no
    /// scheme or authority.
    pub(crate) fn view(&self) -> PyResult<View<'_>> {
        let parts = BorrowedRequest::from_url(&self.method, &self.url, &[]).ok_or_else(|| {
            PyValueError::new_err(format!(
                "request.url must be an absolute URL (scheme://authority/path), got {:?}",
                self.url
            ))
        })?;
        Ok(View {
            parts,
            headers: &self.headers,
        })
    }
}

/// The request as the core reads it: the URL's parts, and the header lines
/// with their exact bytes.
pub(crate) struct View<'a> {
    parts: BorrowedRequest<'a>,
    headers: &'a [(String, Vec<u8>)],
}

impl RequestView for View<'_> {
    fn method(&self) -> &str {
        self.parts.method
    }
    fn scheme(&self) -> &str {
        self.parts.scheme
    }
    fn authority(&self) -> &str {
        self.parts.authority
    }
    fn path(&self) -> &str {
        self.parts.path
    }
    fn query(&self) -> Option<&str> {
        self.parts.query
    }
    fn field_line(&self, name: &str, index: usize) -> Option<&[u8]> {
        dispatch_core::signature::nth_field_line(self.headers, name, index)
    }
}

/// A `str` attribute, named in the error when it is not one.
fn text(value: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    match value.cast::<PyString>() {
        Ok(s) => Ok(s.to_cow()?.into_owned()),
        Err(_) => Err(PyTypeError::new_err(format!(
            "{what} must be str, not {}",
            value.get_type().name()?
        ))),
    }
}

/// Bytes from `bytes`, `bytearray`, `memoryview` or `str` (UTF-8).
pub(crate) fn bytes(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u8>> {
    if let Ok(b) = value.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(b) = value.cast::<PyByteArray>() {
        return Ok(b.to_vec());
    }
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(s.to_cow()?.as_bytes().to_vec());
    }
    // A memoryview is copied through bytes(); an int or another object is
    // refused (bytes(12) would make twelve zero bytes).
    if let Ok(view) = value.cast::<PyMemoryView>() {
        let copied = value.py().get_type::<PyBytes>().call1((view,))?;
        return Ok(copied.cast::<PyBytes>()?.as_bytes().to_vec());
    }
    let type_name = value.get_type().name()?;
    Err(PyTypeError::new_err(format!(
        "{what} must be bytes, bytearray, memoryview or str, not {type_name}"
    )))
}

/// A header value: `str` or bytes.
fn header_value(value: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    bytes(value, "a header value")
}

/// Header lines from a mapping (its `items()`, which for a multidict
/// repeats names) or from an iterable of pairs.
fn headers(value: &Bound<'_, PyAny>) -> PyResult<Vec<(String, Vec<u8>)>> {
    let pairs = if value.hasattr("items")? {
        value.call_method0("items")?
    } else {
        value.clone()
    };
    let mut lines = Vec::new();
    for pair in pairs.try_iter()? {
        let pair = pair?;
        let (name, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) = pair.extract().map_err(|_| {
            PyTypeError::new_err(
                "request.headers must be a mapping or an iterable of (name, value) pairs",
            )
        })?;
        let name = match name.cast::<PyString>() {
            Ok(s) => s.to_cow()?.into_owned(),
            Err(_) => String::from_utf8(header_value(&name)?)
                .map_err(|_| PyValueError::new_err("a header name is not UTF-8"))?,
        };
        lines.push((name, header_value(&value)?));
    }
    Ok(lines)
}
