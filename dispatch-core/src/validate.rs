//! The protocol's validation rules, in code (docs/protocol/validation.md).
//!
//! The upstream `.proto` files express these with protovalidate options; this
//! project's `.proto` files carry them as comments, and these functions
//! enforce them. Each error names the field path (`calls[2].function`) and
//! the rule broken, without allocating.
//!
//! ```
//! use dispatch_core::proto::sdk::v1::{Call, DispatchRequest};
//! use dispatch_core::validate::{validate_dispatch_request, Violation};
//!
//! let good = Call {
//!     endpoint: "https://example.com".into(),
//!     function: "greet".into(),
//!     ..Default::default()
//! };
//! let bad = Call { function: "9lives".into(), ..good.clone() };
//! let request = DispatchRequest { calls: vec![good, bad] };
//! let error = validate_dispatch_request(&request).unwrap_err();
//! assert_eq!(error.to_string(), "calls[1].function: does not match ^[a-zA-Z_][a-zA-Z0-9_<>.]*$");
//! assert_eq!(error.violation, Violation::Pattern);
//! ```

use core::fmt;

use dispatch_proto::sdk::v1::{Call, DispatchRequest, Exit, Poll, RunResponse, run_response};
use prost_types::Duration;

/// The endpoint prefixes a `DispatchRequest` accepts.
pub const ENDPOINT_PREFIXES: [&str; 4] = ["http://", "https://", "bridge://", "arn:aws:lambda"];

/// The smallest and largest `Poll.min_results` / `Poll.max_results`.
pub const RESULTS_RANGE: core::ops::RangeInclusive<i32> = 1..=1000;

/// The message a field belongs to, relative to the validated message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Parent {
    /// The validated message itself.
    Root,
    /// `calls[i]` of a `DispatchRequest`.
    Calls(usize),
    /// `tail_call` of an `Exit`.
    TailCall,
    /// `exit` of a `RunResponse`.
    Exit,
    /// `exit.tail_call` of a `RunResponse`.
    ExitTailCall,
    /// `poll` of a `RunResponse`.
    Poll,
    /// `calls[i]` of a `Poll`.
    PollCalls(usize),
    /// `poll.calls[i]` of a `RunResponse`.
    RunResponsePollCalls(usize),
}

/// A field that carries a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// `Call.function`.
    Function,
    /// `Call.endpoint`.
    Endpoint,
    /// `Call.expiration`.
    Expiration,
    /// `Exit.result`.
    Result,
    /// `Poll.max_wait`.
    MaxWait,
    /// `Poll.max_results`.
    MaxResults,
    /// `Poll.min_results`.
    MinResults,
}

impl Field {
    /// The protobuf field name.
    pub const fn name(self) -> &'static str {
        match self {
            Field::Function => "function",
            Field::Endpoint => "endpoint",
            Field::Expiration => "expiration",
            Field::Result => "result",
            Field::MaxWait => "max_wait",
            Field::MaxResults => "max_results",
            Field::MinResults => "min_results",
        }
    }
}

/// Where a violation is: a field within a (possibly nested) message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldPath {
    /// The message holding the field.
    pub parent: Parent,
    /// The field.
    pub field: Field,
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.parent {
            Parent::Root => Ok(()),
            Parent::Calls(i) => write!(f, "calls[{i}]."),
            Parent::TailCall => f.write_str("tail_call."),
            Parent::Exit => f.write_str("exit."),
            Parent::ExitTailCall => f.write_str("exit.tail_call."),
            Parent::Poll => f.write_str("poll."),
            Parent::PollCalls(i) => write!(f, "calls[{i}]."),
            Parent::RunResponsePollCalls(i) => write!(f, "poll.calls[{i}]."),
        }?;
        f.write_str(self.field.name())
    }
}

/// The rule a field breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Violation {
    /// A required field is unset (or, for a scalar, zero or empty).
    Required,
    /// `Call.function` does not match `^[a-zA-Z_][a-zA-Z0-9_<>.]*$`.
    Pattern,
    /// `Call.endpoint` is not an absolute RFC 3986 URI.
    NotUri,
    /// A duration or number is below its minimum.
    BelowMinimum,
    /// A number is above its maximum.
    AboveMaximum,
    /// A `DispatchRequest` call has an empty endpoint.
    EmptyEndpoint,
    /// A `DispatchRequest` call's endpoint is not http, https, bridge or an
    /// AWS Lambda ARN.
    UnsupportedScheme,
}

/// A validation failure: which field, and which rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ValidationError {
    /// The field.
    pub path: FieldPath,
    /// The rule it breaks.
    pub violation: Violation,
}

impl ValidationError {
    const fn new(parent: Parent, field: Field, violation: Violation) -> Self {
        ValidationError {
            path: FieldPath { parent, field },
            violation,
        }
    }

    /// The protovalidate rule id the upstream protocol uses for this rule
    /// (e.g. `string.pattern`, `dispatch.request.calls.endpoint.scheme`).
    pub const fn rule_id(&self) -> &'static str {
        match (self.violation, self.path.field) {
            (Violation::Required, _) => "required",
            (Violation::Pattern, _) => "string.pattern",
            (Violation::NotUri, _) => "string.uri",
            (Violation::EmptyEndpoint, _) => "dispatch.request.calls.endpoint.nonempty",
            (Violation::UnsupportedScheme, _) => "dispatch.request.calls.endpoint.scheme",
            (Violation::BelowMinimum, Field::Expiration | Field::MaxWait) => "duration.gte",
            (Violation::BelowMinimum, _) => "int32.gte",
            (Violation::AboveMaximum, _) => "int32.lte",
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match (self.violation, self.path.field) {
            (Violation::Required, _) => "is required",
            (Violation::Pattern, _) => "does not match ^[a-zA-Z_][a-zA-Z0-9_<>.]*$",
            (Violation::NotUri, _) => "is not an absolute URI",
            (Violation::EmptyEndpoint, _) => "cannot be empty",
            (Violation::UnsupportedScheme, _) => {
                "must be a http, https or a bridge URL or an AWS Lambda ARN"
            }
            (Violation::BelowMinimum, Field::Expiration) => "must be at least 0s",
            (Violation::BelowMinimum, Field::MaxWait) => "must be at least 1s",
            (Violation::BelowMinimum, _) => "must be at least 1",
            (Violation::AboveMaximum, _) => "must be at most 1000",
        };
        write!(f, "{}: {why}", self.path)
    }
}

impl core::error::Error for ValidationError {}

/// Whether `name` matches `^[a-zA-Z_][a-zA-Z0-9_<>.]*$` (so is non-empty).
///
/// ```
/// use dispatch_core::validate::is_valid_function_name;
/// assert!(is_valid_function_name("module.Class.method<locals>.f"));
/// assert!(!is_valid_function_name("my-function"));
/// assert!(!is_valid_function_name(""));
/// ```
pub fn is_valid_function_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    first_ok && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'<' | b'>' | b'.'))
}

/// Whether `text` is an absolute URI per RFC 3986:
/// `scheme ":" hier-part [ "?" query ] [ "#" fragment ]`, ASCII only, with
/// well-formed percent escapes, and when there is an authority a valid host
/// (reg-name or bracketed IP literal) and numeric port.
///
/// ```
/// use dispatch_core::validate::is_absolute_uri;
/// assert!(is_absolute_uri("https://example.com:8443/path?q=1#f"));
/// assert!(is_absolute_uri("bridge://0123abc"));
/// assert!(is_absolute_uri("arn:aws:lambda:us-east-1:123456789012:function:f"));
/// assert!(!is_absolute_uri("/relative/path"));
/// assert!(!is_absolute_uri("http://exa mple.com"));
/// ```
pub fn is_absolute_uri(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once(':') else {
        return false;
    };
    let mut scheme_bytes = scheme.bytes();
    let scheme_ok = scheme_bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && scheme_bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_ok {
        return false;
    }
    let (rest, fragment) = match rest.split_once('#') {
        Some((rest, fragment)) => (rest, Some(fragment)),
        None => (rest, None),
    };
    let (hier, query) = match rest.split_once('?') {
        Some((hier, query)) => (hier, Some(query)),
        None => (rest, None),
    };
    let query_or_fragment_ok =
        |part: &str| all_uri_chars(part, |b| is_pchar(b) || matches!(b, b'/' | b'?'));
    if !query.is_none_or(query_or_fragment_ok) || !fragment.is_none_or(query_or_fragment_ok) {
        return false;
    }
    let path = match hier.strip_prefix("//") {
        Some(after) => {
            let (authority, path) = after.split_at(after.find('/').unwrap_or(after.len()));
            if !is_authority(authority) {
                return false;
            }
            path
        }
        None => hier,
    };
    all_uri_chars(path, |b| is_pchar(b) || b == b'/')
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

fn is_pchar(b: u8) -> bool {
    is_unreserved(b) || is_sub_delim(b) || matches!(b, b':' | b'@')
}

/// Every byte satisfies `allowed`, except well-formed `%XX` escapes.
fn all_uri_chars(text: &str, allowed: impl Fn(u8) -> bool) -> bool {
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex_ok = |d: Option<u8>| d.is_some_and(|d| d.is_ascii_hexdigit());
            if !hex_ok(bytes.next()) || !hex_ok(bytes.next()) {
                return false;
            }
        } else if !allowed(b) {
            return false;
        }
    }
    true
}

/// `[ userinfo "@" ] host [ ":" port ]`.
fn is_authority(authority: &str) -> bool {
    let host_port = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) => {
            if !all_uri_chars(userinfo, |b| {
                is_unreserved(b) || is_sub_delim(b) || b == b':'
            }) {
                return false;
            }
            host_port
        }
        None => authority,
    };
    let (host, port) = if let Some(literal) = host_port.strip_prefix('[') {
        let Some((inside, after)) = literal.split_once(']') else {
            return false;
        };
        let inside_ok = !inside.is_empty()
            && inside
                .bytes()
                .all(|b| is_unreserved(b) || is_sub_delim(b) || b == b':');
        if !inside_ok {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => (None, port),
                None => return false,
            },
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) => (Some(host), port),
            None => (Some(host_port), ""),
        }
    };
    let host_ok =
        host.is_none_or(|host| all_uri_chars(host, |b| is_unreserved(b) || is_sub_delim(b)));
    host_ok && port.bytes().all(|b| b.is_ascii_digit())
}

/// A duration's total nanoseconds (exact, also for unnormalized values).
fn total_nanos(duration: &Duration) -> i128 {
    i128::from(duration.seconds) * 1_000_000_000 + i128::from(duration.nanos)
}

fn check_call(call: &Call, parent: Parent) -> Result<(), ValidationError> {
    if call.function.is_empty() {
        return Err(ValidationError::new(
            parent,
            Field::Function,
            Violation::Required,
        ));
    }
    if !is_valid_function_name(&call.function) {
        return Err(ValidationError::new(
            parent,
            Field::Function,
            Violation::Pattern,
        ));
    }
    // An empty endpoint means "the current service" (Call's own doc); a
    // DispatchRequest rejects it with its own rule.
    if !call.endpoint.is_empty() && !is_absolute_uri(&call.endpoint) {
        return Err(ValidationError::new(
            parent,
            Field::Endpoint,
            Violation::NotUri,
        ));
    }
    if call.expiration.as_ref().is_some_and(|d| total_nanos(d) < 0) {
        return Err(ValidationError::new(
            parent,
            Field::Expiration,
            Violation::BelowMinimum,
        ));
    }
    Ok(())
}

/// Checks a `Call`: `function` required and matching its pattern, `endpoint`
/// an absolute URI when set, `expiration` at least 0 s when set.
pub fn validate_call(call: &Call) -> Result<(), ValidationError> {
    check_call(call, Parent::Root)
}

/// Checks a `DispatchRequest`: every call as [`validate_call`], with a
/// non-empty endpoint starting `http://`, `https://`, `bridge://` or
/// `arn:aws:lambda`. The first failing call, in order, is reported.
pub fn validate_dispatch_request(request: &DispatchRequest) -> Result<(), ValidationError> {
    for (index, call) in request.calls.iter().enumerate() {
        let parent = Parent::Calls(index);
        if call.endpoint.is_empty() {
            return Err(ValidationError::new(
                parent,
                Field::Endpoint,
                Violation::EmptyEndpoint,
            ));
        }
        if !ENDPOINT_PREFIXES
            .iter()
            .any(|prefix| call.endpoint.starts_with(prefix))
        {
            return Err(ValidationError::new(
                parent,
                Field::Endpoint,
                Violation::UnsupportedScheme,
            ));
        }
        check_call(call, parent)?;
    }
    Ok(())
}

fn check_poll(
    poll: &Poll,
    parent: Parent,
    call_parent: fn(usize) -> Parent,
) -> Result<(), ValidationError> {
    for (index, call) in poll.calls.iter().enumerate() {
        check_call(call, call_parent(index))?;
    }
    match &poll.max_wait {
        None => {
            return Err(ValidationError::new(
                parent,
                Field::MaxWait,
                Violation::Required,
            ));
        }
        Some(max_wait) if total_nanos(max_wait) < 1_000_000_000 => {
            return Err(ValidationError::new(
                parent,
                Field::MaxWait,
                Violation::BelowMinimum,
            ));
        }
        Some(_) => {}
    }
    for (field, value) in [
        (Field::MaxResults, poll.max_results),
        (Field::MinResults, poll.min_results),
    ] {
        let violation = if value == 0 {
            Violation::Required
        } else if value < *RESULTS_RANGE.start() {
            Violation::BelowMinimum
        } else if value > *RESULTS_RANGE.end() {
            Violation::AboveMaximum
        } else {
            continue;
        };
        return Err(ValidationError::new(parent, field, violation));
    }
    Ok(())
}

/// Checks a `Poll`: its calls as [`validate_call`]; `max_wait` set and at
/// least 1 s; `max_results` and `min_results` set (non-zero) and in 1..=1000.
///
/// The protocol sets no rule relating `min_results` to `max_results`.
pub fn validate_poll(poll: &Poll) -> Result<(), ValidationError> {
    check_poll(poll, Parent::Root, Parent::PollCalls)
}

fn check_exit(exit: &Exit, parent: Parent, tail_parent: Parent) -> Result<(), ValidationError> {
    if exit.result.is_none() {
        return Err(ValidationError::new(
            parent,
            Field::Result,
            Violation::Required,
        ));
    }
    match &exit.tail_call {
        Some(call) => check_call(call, tail_parent),
        None => Ok(()),
    }
}

/// Checks an `Exit`: `result` set; a `tail_call` as [`validate_call`].
pub fn validate_exit(exit: &Exit) -> Result<(), ValidationError> {
    check_exit(exit, Parent::Root, Parent::TailCall)
}

/// Checks a `RunResponse`'s directive: an `exit` as [`validate_exit`], a
/// `poll` as [`validate_poll`]. A response without a directive is valid (the
/// protocol sets no rule on it).
pub fn validate_run_response(response: &RunResponse) -> Result<(), ValidationError> {
    match &response.directive {
        Some(run_response::Directive::Exit(exit)) => {
            check_exit(exit, Parent::Exit, Parent::ExitTailCall)
        }
        Some(run_response::Directive::Poll(poll)) => {
            check_poll(poll, Parent::Poll, Parent::RunResponsePollCalls)
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;
    use dispatch_proto::sdk::v1::CallResult;

    fn call(function: &str, endpoint: &str) -> Call {
        Call {
            function: function.into(),
            endpoint: endpoint.into(),
            ..Default::default()
        }
    }

    fn poll() -> Poll {
        Poll {
            max_wait: Some(Duration {
                seconds: 1,
                nanos: 0,
            }),
            max_results: 1,
            min_results: 1000,
            ..Default::default()
        }
    }

    #[test]
    fn function_names() {
        for good in ["f", "_", "A9", "a.b<c>", "my_function"] {
            assert!(is_valid_function_name(good), "{good}");
        }
        for bad in ["", "1f", ".a", "<a>", "a b", "a-b", "é", "a\n"] {
            assert!(!is_valid_function_name(bad), "{bad}");
        }
    }

    #[test]
    fn uris() {
        for good in [
            "http://localhost:8000",
            "https://user:pw@example.com/a/b%20c?x=1&y=/?#frag",
            "http://[::1]:8080/",
            "http://[v1.fe80::a+en1]",
            "bridge://session",
            "arn:aws:lambda:us-east-1:123456789012:function:my-function",
            "mailto:someone@example.com",
            "http://",
        ] {
            assert!(is_absolute_uri(good), "{good}");
        }
        for bad in [
            "",
            "example.com",
            ":no-scheme",
            "1http://x",
            "http://exa mple.com",
            "http://x/%zz",
            "http://x/%1z",
            "http://x/%z1",
            "http://x/%1",
            "http://[]/",
            "http://[a<b]/",
            "http://x:80a",
            "http://[::1",
            "http://[::1]x",
            "http://x/é",
            "http://x/a#b#c",
            "http://x/a\"b",
        ] {
            assert!(!is_absolute_uri(bad), "{bad}");
        }
    }

    #[test]
    fn call_rules() {
        assert_eq!(validate_call(&call("f", "")), Ok(()));
        let err = validate_call(&call("", "https://x")).unwrap_err();
        assert_eq!(err.to_string(), "function: is required");
        assert_eq!(err.rule_id(), "required");
        let err = validate_call(&call("f", "not a uri")).unwrap_err();
        assert_eq!(
            (err.path.field, err.violation),
            (Field::Endpoint, Violation::NotUri)
        );
        let mut negative = call("f", "https://x");
        negative.expiration = Some(Duration {
            seconds: 0,
            nanos: -1,
        });
        let err = validate_call(&negative).unwrap_err();
        assert_eq!(err.to_string(), "expiration: must be at least 0s");
        assert_eq!(err.rule_id(), "duration.gte");
        negative.expiration = Some(Duration {
            seconds: 0,
            nanos: 0,
        });
        assert_eq!(validate_call(&negative), Ok(()));
    }

    #[test]
    fn dispatch_request_rules() {
        let request = |endpoint: &str| DispatchRequest {
            calls: vec![call("ok", "https://a"), call("f", endpoint)],
        };
        for good in [
            "http://a",
            "https://a",
            "bridge://s",
            "arn:aws:lambda:x:1:function:f",
        ] {
            assert_eq!(validate_dispatch_request(&request(good)), Ok(()), "{good}");
        }
        let err = validate_dispatch_request(&request("")).unwrap_err();
        assert_eq!(err.to_string(), "calls[1].endpoint: cannot be empty");
        assert_eq!(err.rule_id(), "dispatch.request.calls.endpoint.nonempty");
        let err = validate_dispatch_request(&request("ftp://a")).unwrap_err();
        assert_eq!(err.violation, Violation::UnsupportedScheme);
        assert_eq!(err.path.parent, Parent::Calls(1));
        let err = validate_dispatch_request(&request("https://a b")).unwrap_err();
        assert_eq!(err.to_string(), "calls[1].endpoint: is not an absolute URI");
        assert_eq!(
            validate_dispatch_request(&DispatchRequest { calls: vec![] }),
            Ok(())
        );
    }

    #[test]
    fn poll_rules() {
        assert_eq!(validate_poll(&poll()), Ok(()));
        let mut p = poll();
        p.max_wait = None;
        assert_eq!(
            validate_poll(&p).unwrap_err().to_string(),
            "max_wait: is required"
        );
        p.max_wait = Some(Duration {
            seconds: 0,
            nanos: 999_999_999,
        });
        assert_eq!(
            validate_poll(&p).unwrap_err().to_string(),
            "max_wait: must be at least 1s"
        );
        let mut p = poll();
        p.max_results = 0;
        assert_eq!(
            validate_poll(&p).unwrap_err().to_string(),
            "max_results: is required"
        );
        p.max_results = -3;
        assert_eq!(
            validate_poll(&p).unwrap_err().violation,
            Violation::BelowMinimum
        );
        let mut p = poll();
        p.min_results = 1001;
        let err = validate_poll(&p).unwrap_err();
        assert_eq!(err.to_string(), "min_results: must be at most 1000");
        assert_eq!(err.rule_id(), "int32.lte");
        let mut p = poll();
        p.calls = vec![call("f", ""), call("bad name", "")];
        assert_eq!(
            validate_poll(&p).unwrap_err().to_string(),
            "calls[1].function: does not match ^[a-zA-Z_][a-zA-Z0-9_<>.]*$"
        );
    }

    #[test]
    fn exit_and_run_response_rules() {
        let exit = Exit {
            result: Some(CallResult::default()),
            tail_call: None,
        };
        assert_eq!(validate_exit(&exit), Ok(()));
        let err = validate_exit(&Exit::default()).unwrap_err();
        assert_eq!(err.to_string(), "result: is required");
        let tail = Exit {
            tail_call: Some(call("", "")),
            ..exit.clone()
        };
        assert_eq!(
            validate_exit(&tail).unwrap_err().to_string(),
            "tail_call.function: is required"
        );
        let response = |directive| RunResponse {
            status: 1,
            directive: Some(directive),
        };
        assert_eq!(
            validate_run_response(&response(run_response::Directive::Exit(tail)))
                .unwrap_err()
                .to_string(),
            "exit.tail_call.function: is required"
        );
        assert_eq!(
            validate_run_response(&response(run_response::Directive::Exit(Exit::default())))
                .unwrap_err()
                .to_string(),
            "exit.result: is required"
        );
        let mut p = poll();
        p.calls = vec![call("f", "::")];
        assert_eq!(
            validate_run_response(&response(run_response::Directive::Poll(p)))
                .unwrap_err()
                .to_string(),
            "poll.calls[0].endpoint: is not an absolute URI"
        );
        let mut p = poll();
        p.min_results = 0;
        assert_eq!(
            validate_run_response(&response(run_response::Directive::Poll(p)))
                .unwrap_err()
                .to_string(),
            "poll.min_results: is required"
        );
        assert_eq!(validate_run_response(&RunResponse::default()), Ok(()));
    }
}
