//! Sessions: one encrypted connection carrying one transfer, from the sender's side
//! ([`SenderSession`]) and the receiver's ([`ReceiverSession`]).
//!
//! Both are driven the same way, quinn-proto style, with the caller's clock and buffers:
//! `handle_datagram(now, ..)` for every datagram received, `handle_timeout(now)` once
//! `poll_timeout()` is reached, `poll_transmit(now, buf, ..)` until it returns `None` after
//! either of those, and `poll_event()` to learn what happened.

mod key_phase;
mod protection;
mod receiver;
mod recovery;
mod sender;

pub use key_phase::{DEFAULT_KEY_UPDATE_INTERVAL, RETIRED_KEY_GRACE};
pub use protection::Protection;
pub use receiver::{ReceiverConfig, ReceiverEvent, ReceiverSession, ReceiverStats};
pub use sender::{SenderConfig, SenderEvent, SenderSession, SenderStats};

use crate::files::StorageError;
use std::fmt;
use std::time::Duration;

/// Why a session ended, as carried by CLOSE and RESULT frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ErrorCode {
    /// Not an error.
    Ok = 0,
    /// The peer broke the protocol.
    Protocol = 1,
    /// Credentials or keys were refused.
    AuthFailed = 2,
    /// The request is not allowed (for instance a path outside the receiver's root).
    PermissionDenied = 3,
    /// Reading or writing a file failed.
    Io = 4,
    /// The peer stopped answering.
    TimedOut = 5,
    /// The transfer was stopped on purpose.
    Cancelled = 6,
    /// Anything else.
    Internal = 7,
    /// The sender stopped and will resume later: what arrived is kept. (A transfer given up
    /// for good is `Cancelled`: the receiver then removes its part files.)
    Stopped = 8,
}

impl ErrorCode {
    /// The code for a byte received from the peer; unknown values are `Internal`.
    pub fn from_u8(v: u8) -> ErrorCode {
        match v {
            0 => ErrorCode::Ok,
            1 => ErrorCode::Protocol,
            2 => ErrorCode::AuthFailed,
            3 => ErrorCode::PermissionDenied,
            4 => ErrorCode::Io,
            5 => ErrorCode::TimedOut,
            6 => ErrorCode::Cancelled,
            8 => ErrorCode::Stopped,
            _ => ErrorCode::Internal,
        }
    }
}

/// Why a session failed: a code and a sentence for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionError {
    /// Stable code.
    pub code: ErrorCode,
    /// What happened.
    pub message: String,
    /// Whether the peer reported it (rather than this side finding it).
    pub remote: bool,
    /// The file it concerns (its index in the session), when it concerns one.
    pub file: Option<u32>,
}

impl SessionError {
    pub(crate) fn local(code: ErrorCode, message: impl Into<String>) -> Self {
        SessionError {
            code,
            message: message.into(),
            remote: false,
            file: None,
        }
    }
}

impl From<StorageError> for SessionError {
    fn from(e: StorageError) -> Self {
        SessionError {
            file: Some(e.file),
            ..SessionError::local(ErrorCode::Io, e.to_string())
        }
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.remote {
            write!(f, "receiver reported: {}", self.message)
        } else {
            f.write_str(&self.message)
        }
    }
}

impl std::error::Error for SessionError {}

/// Handshake retransmission starts at this interval and doubles.
pub(crate) const HANDSHAKE_RTO: Duration = Duration::from_millis(250);
/// Longest handshake retransmission interval.
pub(crate) const MAX_HANDSHAKE_RTO: Duration = Duration::from_secs(2);
