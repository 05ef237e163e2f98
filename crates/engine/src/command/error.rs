//! Why a command was refused: every reason names the method and, where there is one, the
//! parameter; all of them become `INVALID_ARGUMENT`.

use crate::error::{Code, Error};

/// A command that cannot be accepted as given.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The text is not JSON.
    #[error("a command must be JSON: {reason}")]
    NotJson {
        /// The parser's complaint.
        reason: String,
    },
    /// The JSON is not `{ "method": "...", "params": { ... } }`.
    #[error("a command must be an object {{ \"method\": string, \"params\": object }}: {reason}")]
    Malformed {
        /// What is wrong with its shape.
        reason: String,
    },
    /// No method has this name.
    #[error("unknown method {method}")]
    UnknownMethod {
        /// The name given (shortened when long).
        method: String,
    },
    /// The method has no parameter of this name.
    #[error("{method}: unknown parameter {param}")]
    UnknownParameter {
        /// The method.
        method: &'static str,
        /// The name given (shortened when long).
        param: String,
    },
    /// A required parameter is absent or null.
    #[error("{method}: missing required parameter {param}")]
    Missing {
        /// The method.
        method: &'static str,
        /// The parameter.
        param: String,
    },
    /// A parameter has the wrong type or an out-of-range value.
    #[error("{method}: {param} must be {expected}, got {got}")]
    Invalid {
        /// The method.
        method: &'static str,
        /// The parameter, with the path inside it for nested values.
        param: String,
        /// What a valid value looks like.
        expected: String,
        /// The value given, as JSON (shortened when long).
        got: String,
    },
    /// Parameters that are fine alone but not together.
    #[error("{method}: {reason}")]
    Conflict {
        /// The method.
        method: &'static str,
        /// Which parameters clash and why; names them.
        reason: String,
    },
}

impl CommandError {
    /// The parameter the error is about, when it is about one.
    pub fn param(&self) -> Option<&str> {
        match self {
            CommandError::UnknownParameter { param, .. }
            | CommandError::Missing { param, .. }
            | CommandError::Invalid { param, .. } => Some(param),
            _ => None,
        }
    }
}

impl From<CommandError> for Error {
    fn from(e: CommandError) -> Self {
        Error::new(Code::InvalidArgument, e.to_string()).with_source(e)
    }
}
