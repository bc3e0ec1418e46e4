//! The 16 Connect codes and their tables: names, gRPC numbers, and HTTP
//! statuses both ways.

use core::fmt;

/// A Connect error code: the 16 codes of the protocol (gRPC numbers 1..=16).
///
/// `Unknown` is itself one of them: it is what a client reports when it
/// cannot tell better (see [`Code::from_http_status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    /// `canceled` (1): the operation was canceled, typically by the caller.
    Canceled,
    /// `unknown` (2): an error of no other kind.
    Unknown,
    /// `invalid_argument` (3): the request is invalid whatever the system state.
    InvalidArgument,
    /// `deadline_exceeded` (4): the deadline passed before completion.
    DeadlineExceeded,
    /// `not_found` (5): a requested entity does not exist.
    NotFound,
    /// `already_exists` (6): the entity to create already exists.
    AlreadyExists,
    /// `permission_denied` (7): the caller may not do this.
    PermissionDenied,
    /// `resource_exhausted` (8): a quota or resource ran out.
    ResourceExhausted,
    /// `failed_precondition` (9): the system is not in the state required.
    FailedPrecondition,
    /// `aborted` (10): the operation was aborted (concurrency conflict).
    Aborted,
    /// `out_of_range` (11): the operation went past a valid range.
    OutOfRange,
    /// `unimplemented` (12): the operation is not implemented or supported.
    Unimplemented,
    /// `internal` (13): an invariant of the system is broken.
    Internal,
    /// `unavailable` (14): the service is unavailable for now; retrying may help.
    Unavailable,
    /// `data_loss` (15): unrecoverable data loss or corruption.
    DataLoss,
    /// `unauthenticated` (16): no valid authentication credentials.
    Unauthenticated,
}

/// Every code, in gRPC number order.
const ALL_CODES: [Code; 16] = [
    Code::Canceled,
    Code::Unknown,
    Code::InvalidArgument,
    Code::DeadlineExceeded,
    Code::NotFound,
    Code::AlreadyExists,
    Code::PermissionDenied,
    Code::ResourceExhausted,
    Code::FailedPrecondition,
    Code::Aborted,
    Code::OutOfRange,
    Code::Unimplemented,
    Code::Internal,
    Code::Unavailable,
    Code::DataLoss,
    Code::Unauthenticated,
];

impl Code {
    /// Every code, in gRPC number order.
    pub const ALL: [Code; 16] = ALL_CODES;

    /// The snake_case name used in error JSON, e.g. `"invalid_argument"`.
    pub const fn name(self) -> &'static str {
        match self {
            Code::Canceled => "canceled",
            Code::Unknown => "unknown",
            Code::InvalidArgument => "invalid_argument",
            Code::DeadlineExceeded => "deadline_exceeded",
            Code::NotFound => "not_found",
            Code::AlreadyExists => "already_exists",
            Code::PermissionDenied => "permission_denied",
            Code::ResourceExhausted => "resource_exhausted",
            Code::FailedPrecondition => "failed_precondition",
            Code::Aborted => "aborted",
            Code::OutOfRange => "out_of_range",
            Code::Unimplemented => "unimplemented",
            Code::Internal => "internal",
            Code::Unavailable => "unavailable",
            Code::DataLoss => "data_loss",
            Code::Unauthenticated => "unauthenticated",
        }
    }

    /// The code named `name` (exact snake_case match), if any.
    ///
    /// ```
    /// use dispatch_core::connect::Code;
    /// assert_eq!(Code::from_name("not_found"), Some(Code::NotFound));
    /// assert_eq!(Code::from_name("NOT_FOUND"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Code> {
        ALL_CODES.into_iter().find(|code| code.name() == name)
    }

    /// The gRPC status number, 1 (`canceled`) to 16 (`unauthenticated`).
    pub const fn grpc_number(self) -> u32 {
        match self {
            Code::Canceled => 1,
            Code::Unknown => 2,
            Code::InvalidArgument => 3,
            Code::DeadlineExceeded => 4,
            Code::NotFound => 5,
            Code::AlreadyExists => 6,
            Code::PermissionDenied => 7,
            Code::ResourceExhausted => 8,
            Code::FailedPrecondition => 9,
            Code::Aborted => 10,
            Code::OutOfRange => 11,
            Code::Unimplemented => 12,
            Code::Internal => 13,
            Code::Unavailable => 14,
            Code::DataLoss => 15,
            Code::Unauthenticated => 16,
        }
    }

    /// The code with gRPC number `number`; `None` for 0 (OK) and above 16.
    pub fn from_grpc_number(number: u32) -> Option<Code> {
        let index = usize::try_from(number.checked_sub(1)?).ok()?;
        ALL_CODES.get(index).copied()
    }

    /// The HTTP status a server sends with this code (docs/protocol/connect.md).
    pub const fn http_status(self) -> u16 {
        match self {
            Code::Canceled => 499,
            Code::Unknown | Code::Internal | Code::DataLoss => 500,
            Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => 400,
            Code::DeadlineExceeded => 504,
            Code::NotFound => 404,
            Code::AlreadyExists | Code::Aborted => 409,
            Code::PermissionDenied => 403,
            Code::ResourceExhausted => 429,
            Code::Unimplemented => 501,
            Code::Unavailable => 503,
            Code::Unauthenticated => 401,
        }
    }

    /// The code a client infers from the HTTP status of a response that
    /// carries no valid Connect error body (docs/protocol/connect.md).
    ///
    /// This is *not* the inverse of [`Code::http_status`]: `400` gives
    /// `internal`, `404` gives `unimplemented`, and so on.
    ///
    /// ```
    /// use dispatch_core::connect::Code;
    /// assert_eq!(Code::from_http_status(404), Code::Unimplemented);
    /// assert_eq!(Code::from_http_status(Code::NotFound.http_status()), Code::Unimplemented);
    /// assert_eq!(Code::from_http_status(418), Code::Unknown);
    /// ```
    pub const fn from_http_status(status: u16) -> Code {
        match status {
            400 => Code::Internal,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::Unimplemented,
            429 | 502 | 503 | 504 => Code::Unavailable,
            _ => Code::Unknown,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_by_name_and_number() {
        for (i, code) in Code::ALL.into_iter().enumerate() {
            assert_eq!(Code::from_name(code.name()), Some(code));
            assert_eq!(code.grpc_number() as usize, i + 1);
            assert_eq!(Code::from_grpc_number(code.grpc_number()), Some(code));
        }
        assert_eq!(Code::from_grpc_number(0), None);
        assert_eq!(Code::from_grpc_number(17), None);
        assert_eq!(Code::from_name(""), None);
    }

    #[test]
    fn codes_inferred_from_http_statuses() {
        for (http, code) in [
            (400, Code::Internal),
            (401, Code::Unauthenticated),
            (403, Code::PermissionDenied),
            (404, Code::Unimplemented),
            (429, Code::Unavailable),
            (502, Code::Unavailable),
            (503, Code::Unavailable),
            (504, Code::Unavailable),
            (200, Code::Unknown),
            (405, Code::Unknown),
            (500, Code::Unknown),
        ] {
            assert_eq!(Code::from_http_status(http), code, "{http}");
        }
    }
}
