//! The server: one actor owning the object store and every running transfer, fed by
//! [`Command`]s from any client (the napi binding, the control port, the CLI). [`Server`] is the
//! handle clients hold; the actor itself lives in [`actor`], the per-method work in the modules
//! named after the objects they act on, how a server starts in [`options`], what it tells
//! its subscribers in [`events`] and what it keeps in its event log in [`event_log`].

mod accounts;
mod actor;
mod bandwidth;
mod caller;
mod collect;
mod destinations;
mod event_log;
mod events;
mod files;
mod info;
mod logins;
mod manifests;
mod metrics;
mod objects;
mod options;
mod password_checks;
mod pings;
mod reads;
mod receiving;
mod requests;
mod runner;
mod sandbox_mappings;
mod sessions;
mod transfers;

pub use caller::Caller;
pub use events::{EventError, ServerEvent, TransferReport};
pub use info::{host_name, ServerInfo};
pub use metrics::{Admission, ConnectionFigures, Metrics};
pub use options::{EngineOptions, RelayAddress, ServerOptions, MIN_MTU, RELAY_PORT};
pub use reads::Reader;
pub use receiving::Receiving;
pub use sessions::SESSION_LIFETIME_US;

use crate::admission::AdmissionCounters;
use crate::command::{self, Command};
use crate::error::{Code, Error, Result};
use actor::{Actor, Msg};
use events::Events;
use serde_json::Value;
use sessions::Sessions;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

/// The object store's file in the state directory.
const STORE_FILE: &str = "jetstream.db";

/// The object store's file of the server whose state directory is `state_dir` (for tools that
/// edit what the server keeps, such as its users).
pub fn store_file(state_dir: &std::path::Path) -> PathBuf {
    state_dir.join(STORE_FILE)
}

/// What a server shares with its readers.
struct Shared {
    /// The sessions of the users logged in.
    sessions: Arc<Sessions>,
    /// The sandbox directory, symbolic links resolved.
    sandbox_root: PathBuf,
    /// The receiver's admission counters (all zero for a server that only sends).
    admission: Arc<AdmissionCounters>,
}

/// A running server: runs commands until closed. Cloning is not needed; share it by reference.
pub struct Server {
    db: PathBuf,
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Msg>,
    task: Mutex<Option<JoinHandle<()>>>,
    info: ServerInfo,
    receiving: Option<Receiving>,
    events: Events,
}

impl Server {
    /// Opens the store in the state directory, binds the receiver and starts the actor on the
    /// current tokio runtime. Transfers left queued or sending by a previous run start again.
    pub async fn open(opts: ServerOptions) -> Result<Server> {
        let (tx, rx) = mpsc::unbounded_channel();
        let db = opts.state_dir.join(STORE_FILE);
        let sessions = Arc::new(Sessions::default());
        let events = Events::new();
        let actor = Actor::open(opts, tx.clone(), Arc::clone(&sessions), events.clone())?;
        let info = actor.info().clone();
        let receiving = actor.receiver.receiving().cloned();
        let shared = Arc::new(Shared {
            sessions,
            sandbox_root: actor.sandbox_root.clone(),
            admission: receiving
                .as_ref()
                .map(|r| Arc::clone(&r.admission))
                .unwrap_or_default(),
        });
        let task = tokio::spawn(actor.run(rx));
        Ok(Server {
            db,
            shared,
            tx,
            task: Mutex::new(Some(task)),
            info,
            receiving,
            events,
        })
    }

    /// What this server is (its id, key, addresses and settings).
    pub fn info(&self) -> &ServerInfo {
        &self.info
    }

    /// The receiver: its address, authorized-keys file and admission counters; `None` for a
    /// server that only sends.
    pub fn receiving(&self) -> Option<&Receiving> {
        self.receiving.as_ref()
    }

    /// Events from now on (see [`ServerEvent`]).
    pub fn subscribe(&self) -> broadcast::Receiver<ServerEvent> {
        self.events.subscribe()
    }

    /// A read-only view of the server's store that answers the reading commands on the
    /// caller's thread.
    pub fn reader(&self) -> Result<Reader> {
        Reader::open(&self.db, Arc::clone(&self.shared))
    }

    /// Runs one command for the embedding process and returns its JSON result.
    pub async fn execute(&self, command: Command) -> Result<Value> {
        self.execute_as(Caller::local(), command).await
    }

    /// Runs one command on behalf of `caller` and returns its JSON result.
    pub async fn execute_as(&self, caller: Caller, command: Command) -> Result<Value> {
        caller.check(&command)?;
        let wait = match &command {
            Command::GetRequestResult(p) => p.timeout_seconds,
            _ => None,
        };
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Msg::Execute {
                caller,
                command,
                reply,
            })
            .map_err(|_| closed())?;
        match wait {
            Some(seconds) => tokio::time::timeout(Duration::from_secs_f64(seconds), answer)
                .await
                .map_err(|_| {
                    Error::new(
                        Code::TimedOut,
                        format!("getRequestResult: the request did not end within {seconds} s"),
                    )
                })?,
            None => answer.await,
        }
        .map_err(|_| closed())?
    }

    /// Parses a JSON command (`{"method": ..., "params": {...}}`), runs it and returns its
    /// JSON result as text.
    pub async fn execute_json(&self, json: &str) -> Result<String> {
        let command = command::parse_str(json)?;
        let value = self.execute(command).await?;
        serde_json::to_string(&value).map_err(|e| Error::new(Code::Internal, e.to_string()))
    }

    /// Stops every transfer (they stay queued in the store and start again at the next open)
    /// and the receiver, and closes the store. Commands after this fail with `UNAVAILABLE`.
    pub async fn close(&self) {
        let (reply, done) = oneshot::channel();
        if self.tx.send(Msg::Close { reply }).is_ok() {
            let _ = done.await;
        }
        let task = self.task.lock().ok().and_then(|mut task| task.take());
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(task) = self.task.get_mut().ok().and_then(|task| task.take()) {
            task.abort();
        }
    }
}

fn closed() -> Error {
    Error::new(Code::Unavailable, "the engine is closed")
}
