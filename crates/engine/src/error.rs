//! The engine's error: one type with a stable code for every failure a caller can see.

use jetstream_wire::session::{ErrorCode as WireCode, SessionError};
use std::fmt;
use std::sync::Arc;

/// Stable error codes, shared with the TypeScript API (`CommandError.code`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    /// Unknown object.
    NotFound,
    /// A parameter is missing, of the wrong type or out of range.
    InvalidArgument,
    /// The object is not in a state that allows the operation.
    InvalidState,
    /// The object exists already.
    AlreadyExists,
    /// Credentials or keys were refused.
    AuthFailed,
    /// Not allowed (for instance a path outside the receiver's root).
    PermissionDenied,
    /// The peer stopped answering.
    TimedOut,
    /// Reading or writing a file failed.
    Io,
    /// The peer broke the protocol.
    Protocol,
    /// The engine is closed or the peer unreachable.
    Unavailable,
    /// Anything else.
    Internal,
}

impl Code {
    /// Every code.
    pub const ALL: [Code; 11] = [
        Code::NotFound,
        Code::InvalidArgument,
        Code::InvalidState,
        Code::AlreadyExists,
        Code::AuthFailed,
        Code::PermissionDenied,
        Code::TimedOut,
        Code::Io,
        Code::Protocol,
        Code::Unavailable,
        Code::Internal,
    ];

    /// The code named `name` (as [`Code::as_str`] writes it).
    pub fn parse(name: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|code| code.as_str() == name)
    }

    /// The code's name as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::NotFound => "NOT_FOUND",
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::InvalidState => "INVALID_STATE",
            Code::AlreadyExists => "ALREADY_EXISTS",
            Code::AuthFailed => "AUTH_FAILED",
            Code::PermissionDenied => "PERMISSION_DENIED",
            Code::TimedOut => "TIMED_OUT",
            Code::Io => "IO",
            Code::Protocol => "PROTOCOL",
            Code::Unavailable => "UNAVAILABLE",
            Code::Internal => "INTERNAL",
        }
    }
}

/// An engine failure: a stable code and a message saying what and why.
///
/// The message stands alone (it is what API callers see, and it already includes the text of
/// any underlying failure); the underlying error itself stays reachable through
/// [`std::error::Error::source`] for Rust callers that inspect it (a SQLite or I/O error kind).
#[derive(Clone, Debug)]
pub struct Error {
    /// Stable code.
    pub code: Code,
    /// What went wrong and why.
    pub message: String,
    /// The failure this one comes from, shared so that an error can be cloned to several
    /// waiters.
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    /// An error with `code` and `message`.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
            source: None,
        }
    }

    /// The same error, caused by `source`.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// The same error (code and source), its message prefixed with `what` was being done.
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<SessionError> for Error {
    fn from(e: SessionError) -> Self {
        let code = match e.code {
            WireCode::Ok | WireCode::Internal => Code::Internal,
            WireCode::Protocol => Code::Protocol,
            WireCode::AuthFailed => Code::AuthFailed,
            WireCode::PermissionDenied => Code::PermissionDenied,
            WireCode::Io => Code::Io,
            WireCode::TimedOut => Code::TimedOut,
            WireCode::Cancelled | WireCode::Stopped => Code::InvalidState,
        };
        Error::new(code, e.to_string()).with_source(e)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::new(Code::Io, e.to_string()).with_source(e)
    }
}

/// The engine's result type.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn an_error_made_from_another_keeps_it_as_its_source() {
        let io = std::io::Error::new(std::io::ErrorKind::StorageFull, "disk full");
        let e = Error::from(io).context("saving the key");
        assert_eq!(e.code, Code::Io);
        assert_eq!(e.message, "saving the key: disk full");
        let source = e.source().and_then(|s| s.downcast_ref::<std::io::Error>());
        assert_eq!(
            source.map(std::io::Error::kind),
            Some(std::io::ErrorKind::StorageFull)
        );
        // Clones share it.
        assert!(e.clone().source().is_some());
        assert!(Error::new(Code::Internal, "no cause").source().is_none());
    }
}
