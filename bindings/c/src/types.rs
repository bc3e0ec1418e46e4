//! The types every function shares: the result code, borrowed strings and
//! bytes, owned buffers, the error and refusal records, the request, and
//! the one guard every exported function runs its body in.

use core::panic::AssertUnwindSafe;

use dispatch_core::run::{MAX_JSON_LEN, MAX_MESSAGE_LEN, Refusal};
use dispatch_core::signature::{self, Policy, RequestView};

/// What a function did. Every function returns one; `DISPATCH_RESULT_OK`
/// is 0 and every other value is a failure whose details, when the caller
/// passed a `DispatchError`, are written there.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DispatchResult {
    /// Done; the outputs are written.
    Ok = 0,
    /// The core refused the request: the `DispatchRefusal` argument holds
    /// the answer to send (status, code, reason, message, JSON body).
    Refused = 1,
    /// A key text or key bytes are not a valid key of the kind asked for.
    InvalidKey = 2,
    /// A verification key text was empty or blank: "no key" (the output
    /// key is NULL). Not an error for a host that makes verification optional.
    NoKey = 3,
    /// A required pointer was NULL, or a NULL pointer came with a non-zero
    /// length.
    NullPointer = 4,
    /// An argument is out of range: a length over `PTRDIFF_MAX`, text that
    /// is not UTF-8, an unknown code, status or message type, bytes that are
    /// not the message they should be.
    InvalidArgument = 5,
    /// The request cannot be signed (the message says why).
    SignFailed = 6,
    /// A handle was used out of order (e.g. a Run exchange after it was
    /// refused, or its response asked for before its request was accepted).
    BadState = 7,
    /// A bug: a panic inside the library was caught and stopped here. The
    /// outputs are unspecified but safe to free.
    Internal = 8,
}

/// Borrowed UTF-8 text: `ptr` to `len` bytes, never NUL-terminated by
/// contract. `ptr` may be NULL only when `len` is 0. Strings the library
/// returns in a `DispatchStr` are static (never freed) unless the function
/// says they borrow a handle.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DispatchStr {
    /// The first byte, or NULL when `len` is 0.
    pub ptr: *const u8,
    /// The number of bytes.
    pub len: usize,
}

/// Borrowed bytes: `ptr` to `len` bytes. `ptr` may be NULL only when `len` is 0.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DispatchBytes {
    /// The first byte, or NULL when `len` is 0.
    pub ptr: *const u8,
    /// The number of bytes.
    pub len: usize,
}

/// Bytes the library allocated and the caller owns: free them with
/// `dispatch_buffer_free`, exactly once. An empty buffer has `data` NULL.
#[repr(C)]
#[derive(Debug)]
pub struct DispatchBuffer {
    /// The first byte, or NULL when empty.
    pub data: *mut u8,
    /// The number of bytes.
    pub len: usize,
}

/// The longest message a `DispatchError` holds; longer ones are cut on a
/// character boundary.
pub const DISPATCH_ERROR_MESSAGE_LEN: usize = 512;
/// The room a `DispatchRefusal` has for its message (the core's bound).
pub const DISPATCH_REFUSAL_MESSAGE_LEN: usize = 512;
/// The room a `DispatchRefusal` has for its Connect JSON body (the core's
/// bound, which always suffices).
pub const DISPATCH_REFUSAL_BODY_LEN: usize = 3136;
// Literals, so that the header can state them; the core's values rule.
const _: () = assert!(DISPATCH_REFUSAL_MESSAGE_LEN == MAX_MESSAGE_LEN);
const _: () = assert!(DISPATCH_REFUSAL_BODY_LEN == MAX_JSON_LEN);

/// Why a call failed, in words: optional (pass NULL to every function that
/// takes one when you do not want it), caller-allocated, never freed.
#[repr(C)]
pub struct DispatchError {
    /// The same value the function returned.
    pub result: DispatchResult,
    /// The length of `message`.
    pub message_len: usize,
    /// UTF-8, not NUL-terminated.
    pub message: [u8; DISPATCH_ERROR_MESSAGE_LEN],
}

/// A refusal of the core, as the answer to send: caller-allocated (it needs
/// no freeing: the strings are static, the message and body are inline).
/// Written when a function returns `DISPATCH_RESULT_REFUSED`.
#[repr(C)]
pub struct DispatchRefusal {
    /// The HTTP status to answer with (401, 403, 404, 413, 415, ...).
    pub http_status: u16,
    /// The Connect code, as its gRPC number (16 = unauthenticated).
    pub code: u32,
    /// The Connect code's name (`"unauthenticated"`), static.
    pub code_name: DispatchStr,
    /// The kebab-case reason (`"signature-mismatch"`), static, stable for
    /// logs and branching.
    pub reason: DispatchStr,
    /// The one extra response header the status needs (`allow`,
    /// `accept-post`, `accept-encoding`), lower case, static; empty when none.
    pub header_name: DispatchStr,
    /// That header's value, static; empty when none.
    pub header_value: DispatchStr,
    /// The length of `message`.
    pub message_len: usize,
    /// The message, UTF-8, not NUL-terminated.
    pub message: [u8; DISPATCH_REFUSAL_MESSAGE_LEN],
    /// The length of `body`.
    pub body_len: usize,
    /// The Connect error body `{"code":"...","message":"..."}` to send with
    /// `Content-Type: application/json`.
    pub body: [u8; DISPATCH_REFUSAL_BODY_LEN],
}

/// One header field line: a name (ASCII in practice, UTF-8 required) and
/// its value's exact bytes. Names may repeat; order is kept.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DispatchHeader {
    /// The field name, in any case.
    pub name: DispatchStr,
    /// The field value, as received.
    pub value: DispatchBytes,
}

/// An HTTP request's head, borrowed for the duration of one call.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DispatchRequest {
    /// The method, as received.
    pub method: DispatchStr,
    /// The target URI's scheme (`https`).
    pub scheme: DispatchStr,
    /// The target URI's authority (`host[:port]`).
    pub authority: DispatchStr,
    /// The raw path, not percent-decoded.
    pub path: DispatchStr,
    /// The raw query without its `?` (only read when `has_query`).
    pub query: DispatchStr,
    /// Whether the target had a `?` (an empty query differs from none).
    pub has_query: bool,
    /// `headers_len` field lines in the order received; NULL when 0.
    pub headers: *const DispatchHeader,
    /// The number of field lines.
    pub headers_len: usize,
}

/// The signature policy's time rules, in seconds.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DispatchPolicy {
    /// How old a signature may be (`created` no earlier than `now - max_age - skew`).
    pub max_age_s: u32,
    /// How far the signer's clock may be ahead of or behind ours.
    pub max_clock_skew_s: u32,
}

impl DispatchPolicy {
    pub(crate) fn core(&self) -> Policy {
        Policy::default()
            .with_max_age(self.max_age_s)
            .with_max_clock_skew(self.max_clock_skew_s)
    }
}

/// Writes the core's default policy (300 s of age, 5 s of skew) into `out`.
///
/// # Safety
/// `out` is NULL or points to writable memory for one `DispatchPolicy`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_policy_default(
    out: *mut DispatchPolicy,
    error: *mut DispatchError,
) -> DispatchResult {
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        // SAFETY: the caller gives `out` NULL or writable.
        let out = unsafe { out_arg(out, "out") }?;
        let policy = Policy::default();
        *out = DispatchPolicy {
            max_age_s: policy.max_age(),
            max_clock_skew_s: policy.max_clock_skew(),
        };
        Ok(())
    })
}

/// Frees a buffer the library gave, and empties it (so a second call is
/// harmless). NULL, or an empty buffer, is accepted.
///
/// # Safety
/// `buffer` is NULL or points to a `DispatchBuffer` the library filled and
/// that was not freed since (or one zero-initialised by the caller).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_buffer_free(buffer: *mut DispatchBuffer) -> DispatchResult {
    guard(None, || {
        // SAFETY: the caller gives `buffer` NULL or a live `DispatchBuffer`.
        if let Some(buffer) = unsafe { buffer.as_mut() } {
            buffer.free();
        }
        Ok(())
    })
}

impl DispatchBuffer {
    /// The empty buffer.
    pub(crate) const EMPTY: DispatchBuffer = DispatchBuffer {
        data: core::ptr::null_mut(),
        len: 0,
    };

    /// Hands `bytes` to the caller.
    pub(crate) fn from_vec(bytes: Vec<u8>) -> Self {
        if bytes.is_empty() {
            return Self::EMPTY;
        }
        let boxed = bytes.into_boxed_slice();
        let len = boxed.len();
        let data = Box::into_raw(boxed).cast::<u8>();
        DispatchBuffer { data, len }
    }

    pub(crate) fn free(&mut self) {
        if !self.data.is_null() {
            let slice = core::ptr::slice_from_raw_parts_mut(self.data, self.len);
            // SAFETY: a non-NULL `data` was made by `from_vec` from a boxed
            // slice of exactly `len` bytes, and is emptied below so that it
            // is never reclaimed twice.
            drop(unsafe { Box::from_raw(slice) });
        }
        *self = Self::EMPTY;
    }
}

impl DispatchStr {
    /// The empty string.
    pub(crate) const EMPTY: DispatchStr = DispatchStr {
        ptr: core::ptr::null(),
        len: 0,
    };

    /// A `DispatchStr` over `text`, which must outlive the caller's use
    /// (static, or owned by a handle).
    pub(crate) const fn of(text: &str) -> Self {
        DispatchStr {
            ptr: text.as_ptr(),
            len: text.len(),
        }
    }
}

/// A failure on its way to the caller: the code and its words.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) result: DispatchResult,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(result: DispatchResult, message: impl Into<String>) -> Self {
        Failure {
            result,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Failure::new(DispatchResult::InvalidArgument, message)
    }

    /// A refusal already written into the caller's `DispatchRefusal`.
    pub(crate) fn refused(refusal: &Refusal<'_>) -> Self {
        let mut text = [0u8; MAX_MESSAGE_LEN];
        Failure::new(DispatchResult::Refused, refusal.message_into(&mut text))
    }
}

/// Runs an exported function's body: a panic becomes
/// `DISPATCH_RESULT_INTERNAL`, a failure its code, and both are described
/// in `error` when it is not NULL.
///
/// `error` comes from the caller's pointer (`error.as_mut()`).
pub(crate) fn guard(
    error: Option<&mut DispatchError>,
    body: impl FnOnce() -> Result<(), Failure>,
) -> DispatchResult {
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| {
        Err(Failure::new(
            DispatchResult::Internal,
            "internal error: a panic in dispatch-ffi was caught (a bug; please report it)",
        ))
    });
    let (result, message) = match outcome {
        Ok(()) => (DispatchResult::Ok, String::new()),
        Err(failure) => (failure.result, failure.message),
    };
    if let Some(error) = error {
        error.result = result;
        error.message_len = copy_cut(&message, &mut error.message);
    }
    result
}

/// Copies `text` into `out`, cut on a character boundary; returns the length.
pub(crate) fn copy_cut(text: &str, out: &mut [u8]) -> usize {
    let mut end = text.len().min(out.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let (Some(from), Some(to)) = (text.as_bytes().get(..end), out.get_mut(..end)) else {
        return 0;
    };
    to.copy_from_slice(from);
    end
}

/// A required output pointer, as a reference.
///
/// # Safety
/// `ptr` is NULL or valid for writes of one `T`, and not aliased for the call.
pub(crate) unsafe fn out_arg<'a, T>(ptr: *mut T, what: &str) -> Result<&'a mut T, Failure> {
    // SAFETY: the caller's contract.
    unsafe { ptr.as_mut() }
        .ok_or_else(|| Failure::new(DispatchResult::NullPointer, format!("{what} is NULL")))
}

/// A required input pointer, as a reference.
///
/// # Safety
/// `ptr` is NULL or valid for reads of one `T` for `'a`.
pub(crate) unsafe fn in_arg<'a, T>(ptr: *const T, what: &str) -> Result<&'a T, Failure> {
    // SAFETY: the caller's contract.
    unsafe { ptr.as_ref() }
        .ok_or_else(|| Failure::new(DispatchResult::NullPointer, format!("{what} is NULL")))
}

/// `len` elements at `ptr`, checked: NULL only with length 0, at most
/// `isize::MAX` bytes.
///
/// # Safety
/// A non-NULL `ptr` is valid for reads of `len` elements for `'a`.
pub(crate) unsafe fn slice_arg<'a, T>(
    ptr: *const T,
    len: usize,
    what: &str,
) -> Result<&'a [T], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Failure::new(
            DispatchResult::NullPointer,
            format!("{what} is NULL with a length of {len}"),
        ));
    }
    if len.saturating_mul(size_of::<T>().max(1)) > isize::MAX as usize {
        return Err(Failure::invalid(format!(
            "{what}: the length {len} is too large"
        )));
    }
    if !ptr.is_aligned() {
        return Err(Failure::invalid(format!("{what} is not aligned")));
    }
    // SAFETY: non-NULL, aligned, within isize::MAX bytes; the caller
    // guarantees `len` readable elements that live for `'a`.
    Ok(unsafe { core::slice::from_raw_parts(ptr, len) })
}

impl DispatchBytes {
    /// The bytes.
    ///
    /// # Safety
    /// A non-NULL `ptr` is valid for reads of `len` bytes for `'a`.
    pub(crate) unsafe fn get<'a>(self, what: &str) -> Result<&'a [u8], Failure> {
        // SAFETY: forwarded contract.
        unsafe { slice_arg(self.ptr, self.len, what) }
    }
}

impl DispatchStr {
    /// The text, which must be UTF-8.
    ///
    /// # Safety
    /// A non-NULL `ptr` is valid for reads of `len` bytes for `'a`.
    pub(crate) unsafe fn get<'a>(self, what: &str) -> Result<&'a str, Failure> {
        // SAFETY: forwarded contract.
        let bytes = unsafe { slice_arg(self.ptr, self.len, what) }?;
        core::str::from_utf8(bytes).map_err(|_| Failure::invalid(format!("{what} is not UTF-8")))
    }
}

/// Writes `refusal` into the caller's record and returns the failure that
/// says so.
pub(crate) fn write_refusal(out: &mut DispatchRefusal, refusal: &Refusal<'_>) -> Failure {
    let (header_name, header_value) = refusal.header().unwrap_or(("", ""));
    out.http_status = refusal.status();
    out.code = refusal.code().grpc_number();
    out.code_name = DispatchStr::of(refusal.code().name());
    out.reason = DispatchStr::of(refusal.reason());
    out.header_name = DispatchStr::of(header_name);
    out.header_value = DispatchStr::of(header_value);
    let mut text = [0u8; MAX_MESSAGE_LEN];
    let message = refusal.message_into(&mut text);
    out.message_len = copy_cut(message, &mut out.message);
    // MAX_JSON_LEN always suffices (the core's bound); should it not, the
    // body is empty and the status still says what happened.
    out.body_len = refusal.write_json(&mut out.body).unwrap_or(0);
    Failure::refused(refusal)
}

/// Clears a refusal record, so that a caller never reads a stale one.
pub(crate) fn clear_refusal(out: &mut DispatchRefusal) {
    out.http_status = 0;
    out.code = 0;
    out.code_name = DispatchStr::EMPTY;
    out.reason = DispatchStr::EMPTY;
    out.header_name = DispatchStr::EMPTY;
    out.header_value = DispatchStr::EMPTY;
    out.message_len = 0;
    out.body_len = 0;
}

/// A `DispatchRequest` checked and read into the core's view.
pub(crate) struct View<'a> {
    method: &'a str,
    scheme: &'a str,
    authority: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    headers: Vec<(&'a str, &'a [u8])>,
}

impl<'a> View<'a> {
    /// Checks every pointer, length and string of `request`.
    ///
    /// # Safety
    /// Every non-NULL pointer in `request` is valid for its length for `'a`.
    pub(crate) unsafe fn new(request: &DispatchRequest) -> Result<Self, Failure> {
        // SAFETY: forwarded contract, for each part.
        unsafe {
            let lines = slice_arg(request.headers, request.headers_len, "request.headers")?;
            let mut headers = Vec::with_capacity(lines.len());
            for line in lines {
                headers.push((
                    line.name.get("a header name")?,
                    line.value.get("a header value")?,
                ));
            }
            Ok(View {
                method: request.method.get("request.method")?,
                scheme: request.scheme.get("request.scheme")?,
                authority: request.authority.get("request.authority")?,
                path: request.path.get("request.path")?,
                query: if request.has_query {
                    Some(request.query.get("request.query")?)
                } else {
                    None
                },
                headers,
            })
        }
    }
}

impl RequestView for View<'_> {
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
        signature::nth_field_line(&self.headers, name, index)
    }
}

/// The parts of an absolute URL, borrowed from the caller's URL text.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DispatchUrl {
    /// The scheme.
    pub scheme: DispatchStr,
    /// The authority (`host[:port]`, user information dropped).
    pub authority: DispatchStr,
    /// The raw path (may be empty).
    pub path: DispatchStr,
    /// The raw query, without `?` (only meaningful when `has_query`).
    pub query: DispatchStr,
    /// Whether the URL had a `?`.
    pub has_query: bool,
}

/// Splits an absolute URL (`scheme://authority[path][?query][#fragment]`)
/// as the core does, into parts that borrow `url`'s bytes (valid as long as
/// they are). `DISPATCH_RESULT_INVALID_ARGUMENT` when it has no `://` or an
/// empty authority.
///
/// # Safety
/// `url.ptr` is valid for `url.len` bytes; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_url_split(
    url: DispatchStr,
    out: *mut DispatchUrl,
    error: *mut DispatchError,
) -> DispatchResult {
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        // SAFETY: the caller's contract on `out` and `url`.
        let (out, url) = unsafe { (out_arg(out, "out")?, url.get("url")?) };
        let parts = signature::BorrowedRequest::from_url("", url, &[])
            .ok_or_else(|| Failure::invalid("the URL is not absolute (scheme://authority/path)"))?;
        *out = DispatchUrl {
            scheme: DispatchStr::of(parts.scheme),
            authority: DispatchStr::of(parts.authority),
            path: DispatchStr::of(parts.path),
            query: DispatchStr::of(parts.query.unwrap_or("")),
            has_query: parts.query.is_some(),
        };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::panic)]
    fn a_panic_is_caught_and_reported_as_internal() {
        let mut error = DispatchError {
            result: DispatchResult::Ok,
            message_len: 0,
            message: [0; DISPATCH_ERROR_MESSAGE_LEN],
        };
        let result = guard(Some(&mut error), || panic!("a bug"));
        assert_eq!(result, DispatchResult::Internal);
        assert_eq!(error.result, DispatchResult::Internal);
        assert!(error.message_len > 0);
    }

    #[test]
    fn messages_are_cut_on_a_character_boundary() {
        let mut out = [0u8; 3];
        assert_eq!(copy_cut("aé b", &mut out), 3);
        assert_eq!(copy_cut("ééé", &mut out), 2);
    }
}
