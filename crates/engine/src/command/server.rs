//! The parameters of the ServerInterface methods: echo, the event log, bandwidth limits, the
//! sandbox's file operations and its per-user mappings.

use super::args::{Args, NonBlank, Number, Ref, StringList, Text};
use super::error::CommandError;
use super::params::{FromArgs, LIMIT, POSITIVE};
use serde::Serialize;
use serde_json::Value;

/// An event id or an event (`after` of getEventLog).
const EVENT_ID: Ref<super::args::Int<u64>> = Ref {
    id: POSITIVE,
    what: "an event id",
    field: "eventId",
};
/// A bandwidth cap in kbit/s.
const KBPS: Number = Number { minus_one: false };

/// `echo(value)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Echo {
    /// Any JSON but null (which, as for every required parameter, means it is missing),
    /// returned as it is.
    pub value: Value,
}

impl FromArgs for Echo {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(Echo {
            value: args.req_with("value", |_, value| Ok(value.clone()))?,
        })
    }
}

/// `getEventLog(limit, after)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetEventLog {
    /// At most this many events; all kept when `None` or 0.
    pub limit: Option<usize>,
    /// Only events after this one (oldest first); without it, the newest.
    pub after: Option<u64>,
}

impl FromArgs for GetEventLog {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(GetEventLog {
            limit: args.opt("limit", &LIMIT)?,
            after: args.opt("after", &EVENT_ID)?,
        })
    }
}

/// `updateBandwidthLimits(incomingKbps, outgoingKbps)`: a cap left out stays as it is, a
/// null one is removed.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateBandwidthLimits {
    /// The new incoming cap: `Some(None)` removes it (and serializes as null; `None` is left
    /// out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incoming_kbps: Option<Option<f64>>,
    /// The new outgoing cap: `Some(None)` removes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outgoing_kbps: Option<Option<f64>>,
}

impl FromArgs for UpdateBandwidthLimits {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        let params = UpdateBandwidthLimits {
            incoming_kbps: args.opt_or_null("incomingKbps", &KBPS)?,
            outgoing_kbps: args.opt_or_null("outgoingKbps", &KBPS)?,
        };
        let zero = |cap: Option<Option<f64>>| cap.flatten().is_some_and(|c| c <= 0.0);
        if zero(params.incoming_kbps) || zero(params.outgoing_kbps) {
            return Err(args.conflict("a cap must be above 0 kbit/s; null removes it".into()));
        }
        Ok(params)
    }
}

/// `(path)`: lsAsync, duAsync, mkdirAsync.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PathRef {
    /// Relative to the caller's root (`""` is the root itself).
    pub path: String,
}

impl FromArgs for PathRef {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(PathRef {
            path: args.req("path", &Text)?,
        })
    }
}

/// `lsListAsync(paths)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Paths {
    /// Each relative to the caller's root.
    pub paths: Vec<String>,
}

impl FromArgs for Paths {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(Paths {
            paths: args.req("paths", &StringList)?,
        })
    }
}

/// `mkFileAsync(path, content)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MkFile {
    /// The new file, relative to the caller's root.
    pub path: String,
    /// Its content (UTF-8); empty when `None`.
    pub content: Option<String>,
}

impl FromArgs for MkFile {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(MkFile {
            path: args.req("path", &NonBlank)?,
            content: args.opt("content", &Text)?,
        })
    }
}

/// `mvAsync(src, dst)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Mv {
    /// What to move, relative to the caller's root.
    pub src: String,
    /// Where to, relative to the caller's root; must not exist.
    pub dst: String,
}

impl FromArgs for Mv {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(Mv {
            src: args.req("src", &NonBlank)?,
            dst: args.req("dst", &NonBlank)?,
        })
    }
}

/// `createSandboxMapping(userName, path)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateSandboxMapping {
    /// The user.
    pub user_name: String,
    /// The user's root below the sandbox; `%u` stands for the user's name.
    pub path: String,
}

impl FromArgs for CreateSandboxMapping {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(CreateSandboxMapping {
            user_name: args.req("userName", &NonBlank)?,
            path: args.req("path", &Text)?,
        })
    }
}

/// `deleteSandboxMapping(name)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SandboxMappingRef {
    /// The user whose mapping goes.
    pub name: String,
}

impl FromArgs for SandboxMappingRef {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(SandboxMappingRef {
            name: args.req("name", &NonBlank)?,
        })
    }
}
