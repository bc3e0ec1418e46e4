//! A request from JavaScript, as the core's `RequestView`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use dispatch_core::signature::{BorrowedRequest, RequestView, nth_field_line};
use wasm_bindgen::JsError;

/// The request as the core reads it: the URL's parts, and the header lines
/// (`[name0, value0, ...]` from JavaScript, paired here).
pub(crate) struct View<'a> {
    parts: BorrowedRequest<'a>,
    headers: Vec<(&'a str, &'a [u8])>,
}

impl<'a> View<'a> {
    /// The view of `method`, `url` and the flattened header lines; an error
    /// when the URL has no scheme or authority, or a name has no value.
    pub(crate) fn new(method: &'a str, url: &'a str, flat: &'a [String]) -> Result<Self, JsError> {
        let parts = BorrowedRequest::from_url(method, url, &[]).ok_or_else(|| {
            JsError::new(&format!(
                "request.url must be an absolute URL (scheme://authority/path), got \"{url}\""
            ))
        })?;
        if !flat.len().is_multiple_of(2) {
            return Err(JsError::new(
                "the header lines must come in (name, value) pairs",
            ));
        }
        let headers = flat
            .chunks_exact(2)
            .filter_map(|pair| match pair {
                [name, value] => Some((name.as_str(), value.as_bytes())),
                _ => None,
            })
            .collect();
        Ok(View { parts, headers })
    }
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
        nth_field_line(&self.headers, name, index)
    }
}
