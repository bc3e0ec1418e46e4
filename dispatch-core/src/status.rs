//! The `dispatch.sdk.v1.Status` of a run, and the rules around it: which
//! statuses the scheduler retries (temporary) and which it does not
//! (permanent), the HTTP status to Status table both SDKs share, and
//! dispatch-go's Connect code to Status table (docs/protocol/connect.md).
//!
//! The generated enum lives in `dispatch-proto`, which needs `alloc`, so this
//! module has its own mirror, [`Status`], with the same values. With the
//! `alloc` feature it converts to and from the generated enum.
//!
//! ```
//! use dispatch_core::status::{Retry, Status};
//!
//! let status = Status::from_http_status(503);
//! assert_eq!(status, Status::TemporaryError);
//! assert_eq!(status.retry(), Retry::Temporary);
//! assert!(Status::NotFound.is_permanent());
//! ```

use core::fmt;

use crate::connect::Code;

/// A run's status: the same values as `dispatch.sdk.v1.Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(i32)]
pub enum Status {
    /// `STATUS_UNSPECIFIED` (0): not set.
    #[default]
    Unspecified = 0,
    /// `STATUS_OK` (1): the run completed normally.
    Ok = 1,
    /// `STATUS_TIMEOUT` (2): a deadline was exceeded. Temporary.
    Timeout = 2,
    /// `STATUS_THROTTLED` (3): rate limited. Temporary.
    Throttled = 3,
    /// `STATUS_INVALID_ARGUMENT` (4): the input is not acceptable. Permanent.
    InvalidArgument = 4,
    /// `STATUS_INVALID_RESPONSE` (5): a dependency answered unexpectedly. Permanent.
    InvalidResponse = 5,
    /// `STATUS_TEMPORARY_ERROR` (6): a transient failure. Temporary.
    TemporaryError = 6,
    /// `STATUS_PERMANENT_ERROR` (7): retrying will not help. Permanent.
    PermanentError = 7,
    /// `STATUS_INCOMPATIBLE_STATE` (8): the saved state is unusable. Temporary.
    IncompatibleState = 8,
    /// `STATUS_DNS_ERROR` (9): name resolution failed. Temporary.
    DnsError = 9,
    /// `STATUS_TCP_ERROR` (10): a TCP connection failed. Temporary.
    TcpError = 10,
    /// `STATUS_TLS_ERROR` (11): TLS failed. Temporary.
    TlsError = 11,
    /// `STATUS_HTTP_ERROR` (12): an HTTP exchange failed. Temporary.
    HttpError = 12,
    /// `STATUS_UNAUTHENTICATED` (13): missing or invalid credentials. Permanent.
    Unauthenticated = 13,
    /// `STATUS_PERMISSION_DENIED` (14): not allowed. Permanent.
    PermissionDenied = 14,
    /// `STATUS_NOT_FOUND` (15): the target does not exist. Permanent.
    NotFound = 15,
}

/// Every status, by number.
const ALL_STATUSES: [Status; 16] = [
    Status::Unspecified,
    Status::Ok,
    Status::Timeout,
    Status::Throttled,
    Status::InvalidArgument,
    Status::InvalidResponse,
    Status::TemporaryError,
    Status::PermanentError,
    Status::IncompatibleState,
    Status::DnsError,
    Status::TcpError,
    Status::TlsError,
    Status::HttpError,
    Status::Unauthenticated,
    Status::PermissionDenied,
    Status::NotFound,
];

/// Whether the scheduler retries a run that ended with a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Retry {
    /// The failure may go away: the run is retried.
    Temporary,
    /// The failure will not go away: the run is not retried.
    Permanent,
    /// Not a failure (`OK`) or no status at all (`UNSPECIFIED`).
    NotApplicable,
}

impl Status {
    /// Every status, by number.
    pub const ALL: [Status; 16] = ALL_STATUSES;

    /// The protobuf enum number.
    pub const fn number(self) -> i32 {
        self as i32
    }

    /// The status with protobuf number `number`, if it is a known value.
    pub fn from_number(number: i32) -> Option<Status> {
        ALL_STATUSES
            .into_iter()
            .find(|status| status.number() == number)
    }

    /// The protobuf value name, e.g. `"STATUS_TEMPORARY_ERROR"`.
    pub const fn name(self) -> &'static str {
        match self {
            Status::Unspecified => "STATUS_UNSPECIFIED",
            Status::Ok => "STATUS_OK",
            Status::Timeout => "STATUS_TIMEOUT",
            Status::Throttled => "STATUS_THROTTLED",
            Status::InvalidArgument => "STATUS_INVALID_ARGUMENT",
            Status::InvalidResponse => "STATUS_INVALID_RESPONSE",
            Status::TemporaryError => "STATUS_TEMPORARY_ERROR",
            Status::PermanentError => "STATUS_PERMANENT_ERROR",
            Status::IncompatibleState => "STATUS_INCOMPATIBLE_STATE",
            Status::DnsError => "STATUS_DNS_ERROR",
            Status::TcpError => "STATUS_TCP_ERROR",
            Status::TlsError => "STATUS_TLS_ERROR",
            Status::HttpError => "STATUS_HTTP_ERROR",
            Status::Unauthenticated => "STATUS_UNAUTHENTICATED",
            Status::PermissionDenied => "STATUS_PERMISSION_DENIED",
            Status::NotFound => "STATUS_NOT_FOUND",
        }
    }

    /// The status with protobuf value name `name` (exact match).
    pub fn from_name(name: &str) -> Option<Status> {
        ALL_STATUSES
            .into_iter()
            .find(|status| status.name() == name)
    }

    /// Temporary or permanent: the set dispatch-py's `Status.temporary`
    /// names (TIMEOUT, THROTTLED, TEMPORARY_ERROR, INCOMPATIBLE_STATE,
    /// DNS_ERROR, TCP_ERROR, TLS_ERROR, HTTP_ERROR) is temporary; every
    /// other failure is permanent.
    pub const fn retry(self) -> Retry {
        match self {
            Status::Unspecified | Status::Ok => Retry::NotApplicable,
            Status::Timeout
            | Status::Throttled
            | Status::TemporaryError
            | Status::IncompatibleState
            | Status::DnsError
            | Status::TcpError
            | Status::TlsError
            | Status::HttpError => Retry::Temporary,
            Status::InvalidArgument
            | Status::InvalidResponse
            | Status::PermanentError
            | Status::Unauthenticated
            | Status::PermissionDenied
            | Status::NotFound => Retry::Permanent,
        }
    }

    /// Whether the scheduler retries a run that ended with this status.
    pub const fn is_temporary(self) -> bool {
        matches!(self.retry(), Retry::Temporary)
    }

    /// Whether this status is a failure that is not retried.
    pub const fn is_permanent(self) -> bool {
        matches!(self.retry(), Retry::Permanent)
    }

    /// The status of an outbound HTTP call from its response status: the
    /// table dispatch-py (`integrations/http.py`) and dispatch-go
    /// (`dispatchhttp/response.go`) share.
    ///
    /// ```
    /// use dispatch_core::status::Status;
    /// assert_eq!(Status::from_http_status(204), Status::Ok);
    /// assert_eq!(Status::from_http_status(408), Status::Timeout);
    /// assert_eq!(Status::from_http_status(501), Status::PermanentError);
    /// assert_eq!(Status::from_http_status(507), Status::TemporaryError);
    /// assert_eq!(Status::from_http_status(600), Status::Unspecified);
    /// ```
    pub const fn from_http_status(status: u16) -> Status {
        match status {
            400 => Status::InvalidArgument,
            401 => Status::Unauthenticated,
            403 => Status::PermissionDenied,
            404 => Status::NotFound,
            408 => Status::Timeout,
            429 => Status::Throttled,
            501 => Status::PermanentError,
            200..=299 => Status::Ok,
            100..=199 | 300..=499 => Status::PermanentError,
            500..=599 => Status::TemporaryError,
            _ => Status::Unspecified,
        }
    }

    /// The status of a failed Connect call, by its code: dispatch-go's
    /// `connectErrorStatus` (docs/protocol/connect.md). A code outside the protocol
    /// cannot occur here; dispatch-go maps one to `PERMANENT_ERROR`.
    pub const fn from_connect_code(code: Code) -> Status {
        match code {
            Code::Canceled | Code::DeadlineExceeded => Status::Timeout,
            Code::Unknown | Code::Internal | Code::Unavailable => Status::TemporaryError,
            Code::InvalidArgument | Code::OutOfRange => Status::InvalidArgument,
            Code::NotFound | Code::Unimplemented => Status::NotFound,
            Code::AlreadyExists | Code::FailedPrecondition | Code::Aborted | Code::DataLoss => {
                Status::PermanentError
            }
            Code::PermissionDenied => Status::PermissionDenied,
            Code::ResourceExhausted => Status::Throttled,
            Code::Unauthenticated => Status::Unauthenticated,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<Status> for i32 {
    fn from(status: Status) -> i32 {
        status.number()
    }
}

/// A protobuf status number that is not a known `Status` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownStatus(pub i32);

impl fmt::Display for UnknownStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is not a dispatch.sdk.v1.Status value", self.0)
    }
}

impl core::error::Error for UnknownStatus {}

impl TryFrom<i32> for Status {
    type Error = UnknownStatus;

    fn try_from(number: i32) -> Result<Status, UnknownStatus> {
        Status::from_number(number).ok_or(UnknownStatus(number))
    }
}

#[cfg(feature = "alloc")]
mod generated {
    use super::Status;
    use dispatch_proto::sdk::v1::Status as Generated;

    impl From<Status> for Generated {
        fn from(status: Status) -> Generated {
            match status {
                Status::Unspecified => Generated::Unspecified,
                Status::Ok => Generated::Ok,
                Status::Timeout => Generated::Timeout,
                Status::Throttled => Generated::Throttled,
                Status::InvalidArgument => Generated::InvalidArgument,
                Status::InvalidResponse => Generated::InvalidResponse,
                Status::TemporaryError => Generated::TemporaryError,
                Status::PermanentError => Generated::PermanentError,
                Status::IncompatibleState => Generated::IncompatibleState,
                Status::DnsError => Generated::DnsError,
                Status::TcpError => Generated::TcpError,
                Status::TlsError => Generated::TlsError,
                Status::HttpError => Generated::HttpError,
                Status::Unauthenticated => Generated::Unauthenticated,
                Status::PermissionDenied => Generated::PermissionDenied,
                Status::NotFound => Generated::NotFound,
            }
        }
    }

    impl From<Generated> for Status {
        fn from(status: Generated) -> Status {
            match status {
                Generated::Unspecified => Status::Unspecified,
                Generated::Ok => Status::Ok,
                Generated::Timeout => Status::Timeout,
                Generated::Throttled => Status::Throttled,
                Generated::InvalidArgument => Status::InvalidArgument,
                Generated::InvalidResponse => Status::InvalidResponse,
                Generated::TemporaryError => Status::TemporaryError,
                Generated::PermanentError => Status::PermanentError,
                Generated::IncompatibleState => Status::IncompatibleState,
                Generated::DnsError => Status::DnsError,
                Generated::TcpError => Status::TcpError,
                Generated::TlsError => Status::TlsError,
                Generated::HttpError => Status::HttpError,
                Generated::Unauthenticated => Status::Unauthenticated,
                Generated::PermissionDenied => Status::PermissionDenied,
                Generated::NotFound => Status::NotFound,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names_round_trip() {
        for (i, status) in Status::ALL.into_iter().enumerate() {
            assert_eq!(status.number() as usize, i);
            assert_eq!(Status::from_number(status.number()), Some(status));
            assert_eq!(Status::from_name(status.name()), Some(status));
        }
        assert_eq!(Status::try_from(16), Err(UnknownStatus(16)));
        assert_eq!(Status::from_number(-1), None);
    }

    #[test]
    fn classification_partitions_failures() {
        let temporary = Status::ALL.iter().filter(|s| s.is_temporary()).count();
        let permanent = Status::ALL.iter().filter(|s| s.is_permanent()).count();
        assert_eq!((temporary, permanent), (8, 6));
        assert_eq!(Status::Ok.retry(), Retry::NotApplicable);
        assert_eq!(Status::Unspecified.retry(), Retry::NotApplicable);
        assert!(Status::IncompatibleState.is_temporary());
        assert!(Status::InvalidResponse.is_permanent());
    }

    #[test]
    fn http_table_edges() {
        assert_eq!(Status::from_http_status(99), Status::Unspecified);
        assert_eq!(Status::from_http_status(100), Status::PermanentError);
        assert_eq!(Status::from_http_status(299), Status::Ok);
        assert_eq!(Status::from_http_status(304), Status::PermanentError);
        assert_eq!(Status::from_http_status(499), Status::PermanentError);
        assert_eq!(Status::from_http_status(500), Status::TemporaryError);
        assert_eq!(Status::from_http_status(599), Status::TemporaryError);
        assert_eq!(Status::from_http_status(u16::MAX), Status::Unspecified);
        // The statuses with a mapping of their own (docs/protocol/connect.md).
        for (http, status) in [
            (400, Status::InvalidArgument),
            (401, Status::Unauthenticated),
            (403, Status::PermissionDenied),
            (404, Status::NotFound),
            (408, Status::Timeout),
            (429, Status::Throttled),
            (501, Status::PermanentError),
            (502, Status::TemporaryError),
        ] {
            assert_eq!(Status::from_http_status(http), status, "{http}");
        }
        assert_eq!(i32::from(Status::NotFound), 15);
        assert_eq!(std::format!("{}", Status::NotFound), "STATUS_NOT_FOUND");
        assert_eq!(i32::from(Status::Unspecified), 0);
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn converts_with_the_generated_enum() {
        use dispatch_proto::sdk::v1::Status as Generated;
        for status in Status::ALL {
            let generated = Generated::from(status);
            assert_eq!(generated as i32, status.number());
            assert_eq!(generated.as_str_name(), status.name());
            assert_eq!(Status::from(generated), status);
        }
    }
}
