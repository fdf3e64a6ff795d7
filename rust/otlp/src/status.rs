//! gRPC status codes and failed calls: the one vocabulary of outcomes that both
//! transports (OTLP/HTTP statuses are mapped onto it) and the retry rules speak.

use std::time::Duration;

/// gRPC status codes (`google.rpc.Code`).
///
/// The OTLP specification says which are retried
/// ([`crate::resilience::retry::is_retryable`]); failures found on our side get the
/// code that makes them retried, or not, as they should be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Code {
    /// Success.
    Ok = 0,
    /// The call was cancelled. Retryable.
    Cancelled = 1,
    /// An error with no better code (also an unknown `grpc-status` value).
    Unknown = 2,
    /// The request is invalid: retrying it cannot help.
    InvalidArgument = 3,
    /// No answer before the deadline. Retryable.
    DeadlineExceeded = 4,
    /// The service or resource does not exist.
    NotFound = 5,
    /// The entity already exists.
    AlreadyExists = 6,
    /// The caller may not do this (authenticated, but not authorized).
    PermissionDenied = 7,
    /// A quota or limit was hit; retryable only with a server-provided delay.
    ResourceExhausted = 8,
    /// The system is not in a state for the call; also failures that retrying cannot
    /// mend (a refused certificate, a server speaking the other HTTP version).
    FailedPrecondition = 9,
    /// The call was aborted. Retryable.
    Aborted = 10,
    /// Out of a valid range. Retryable.
    OutOfRange = 11,
    /// The method or path is not served (HTTP 404).
    Unimplemented = 12,
    /// The server broke; also answers that cannot be read, which a retry would only
    /// get again.
    Internal = 13,
    /// The server cannot be reached or is not coping (connection failures, HTTP 429,
    /// 502, 503, 504). Retryable.
    Unavailable = 14,
    /// Data was lost or corrupted. Retryable.
    DataLoss = 15,
    /// The request lacks valid credentials.
    Unauthenticated = 16,
}

impl Code {
    /// The code of a `grpc-status` value; unknown values are `Unknown`.
    pub fn from_u32(v: u32) -> Self {
        use Code::*;
        match v {
            0 => Ok,
            1 => Cancelled,
            3 => InvalidArgument,
            4 => DeadlineExceeded,
            5 => NotFound,
            6 => AlreadyExists,
            7 => PermissionDenied,
            8 => ResourceExhausted,
            9 => FailedPrecondition,
            10 => Aborted,
            11 => OutOfRange,
            12 => Unimplemented,
            13 => Internal,
            14 => Unavailable,
            15 => DataLoss,
            16 => Unauthenticated,
            _ => Unknown,
        }
    }

    /// The code gRPC synthesizes when a response has no `grpc-status`
    /// (`doc/http-grpc-status-mapping.md`).
    pub fn from_http_status(status: u16) -> Self {
        match status {
            400 => Code::Internal,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::Unimplemented,
            429 | 502 | 503 | 504 => Code::Unavailable,
            _ => Code::Unknown,
        }
    }

    /// The code's canonical name (`UNAVAILABLE`).
    pub fn name(self) -> &'static str {
        use Code::*;
        match self {
            Ok => "OK",
            Cancelled => "CANCELLED",
            Unknown => "UNKNOWN",
            InvalidArgument => "INVALID_ARGUMENT",
            DeadlineExceeded => "DEADLINE_EXCEEDED",
            NotFound => "NOT_FOUND",
            AlreadyExists => "ALREADY_EXISTS",
            PermissionDenied => "PERMISSION_DENIED",
            ResourceExhausted => "RESOURCE_EXHAUSTED",
            FailedPrecondition => "FAILED_PRECONDITION",
            Aborted => "ABORTED",
            OutOfRange => "OUT_OF_RANGE",
            Unimplemented => "UNIMPLEMENTED",
            Internal => "INTERNAL",
            Unavailable => "UNAVAILABLE",
            DataLoss => "DATA_LOSS",
            Unauthenticated => "UNAUTHENTICATED",
        }
    }
}

/// A failed call: the status and what the server said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// What kind of failure.
    pub code: Code,
    /// What went wrong (may be empty); text from the server is bounded by
    /// [`crate::decode::peer_text`].
    pub message: String,
    /// Server-provided retry delay (`google.rpc.RetryInfo`), when present.
    pub retry_delay: Option<Duration>,
}

impl Status {
    /// A status without a server-provided delay.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_delay: None,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.code.name())?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}
