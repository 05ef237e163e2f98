//! The sandbox file operations (`lsAsync`, `lsListAsync`, `lsRootsAsync`, `duAsync`,
//! `mkdirAsync`, `mkFileAsync`, `mvAsync`): queued requests run off the actor's thread inside
//! the caller's root (the server's sandbox for a caller that is not confined), through
//! [`file_ops`]. The ones that change something are recorded in the event log.

use super::actor::{to_json, Actor, Msg, Responder};
use super::caller::Caller;
use crate::error::Result;
use crate::file_ops;
use crate::sandbox::Sandbox;
use crate::store::{EventKind, NewEvent};
use serde_json::Value;

/// One file operation and its paths, relative to the caller's root.
pub(super) enum FileOp {
    Ls(String),
    LsList(Vec<String>),
    LsRoots,
    Du(String),
    Mkdir(String),
    MkFile { path: String, content: String },
    Mv { src: String, dst: String },
}

impl FileOp {
    /// Every path the operation names.
    fn paths(&self) -> Vec<&str> {
        match self {
            FileOp::Ls(path) | FileOp::Du(path) | FileOp::Mkdir(path) => vec![path],
            FileOp::MkFile { path, .. } => vec![path],
            FileOp::LsList(paths) => paths.iter().map(String::as_str).collect(),
            FileOp::LsRoots => Vec::new(),
            FileOp::Mv { src, dst } => vec![src, dst],
        }
    }

    fn run(&self, sandbox: &Sandbox) -> Result<Value> {
        match self {
            FileOp::Ls(path) => to_json(&file_ops::ls(sandbox, path)?),
            FileOp::LsList(paths) => to_json(
                &paths
                    .iter()
                    .map(|path| file_ops::stat(sandbox, path))
                    .collect::<Result<Vec<_>>>()?,
            ),
            FileOp::LsRoots => to_json(&[file_ops::stat(sandbox, "")?]),
            FileOp::Du(path) => to_json(&file_ops::du(sandbox, path)?),
            FileOp::Mkdir(path) => to_json(&file_ops::mkdir(sandbox, path)?),
            FileOp::MkFile { path, content } => {
                to_json(&file_ops::mk_file(sandbox, path, content)?)
            }
            FileOp::Mv { src, dst } => to_json(&file_ops::mv(sandbox, src, dst)?),
        }
    }

    /// The event an operation that changed something leaves: what, and the path concerned.
    fn change(&self) -> Option<(String, &str)> {
        match self {
            FileOp::Mkdir(path) => Some((format!("created directory {path:?}"), path)),
            FileOp::MkFile { path, content } => Some((
                format!("created file {path:?} ({} bytes)", content.len()),
                path,
            )),
            FileOp::Mv { src, dst } => Some((format!("moved {src:?} to {dst:?}"), dst)),
            _ => None,
        }
    }
}

impl Actor {
    /// Runs `op` for `caller`: a path refused by the sandbox rules fails the call itself;
    /// otherwise the request is queued and its result comes through `getRequestResult`.
    pub(super) fn file_op(&mut self, caller: &Caller, op: FileOp, responder: Responder) {
        if let Err(e) = op.paths().into_iter().try_for_each(file_ops::check) {
            return self.respond(responder, Err(e));
        }
        let root = caller
            .root
            .clone()
            .unwrap_or_else(|| self.opts.sandbox_dir.clone());
        let responder = self.defer(responder);
        let tx = self.tx.clone();
        let user_name = caller.user.clone();
        tokio::task::spawn_blocking(move || {
            let result = file_ops::open_root(&root).and_then(|sandbox| op.run(&sandbox));
            let event = op
                .change()
                .filter(|_| result.is_ok())
                .map(|(message, path)| NewEvent {
                    path: Some(path.to_owned()),
                    user_name,
                    ..NewEvent::new(EventKind::FileChanged, message)
                });
            let _ = tx.send(Msg::Worked {
                responder,
                result,
                event,
            });
        });
    }
}
