//! The engine a command runs on: a server in this process, on a state directory of its own that
//! lasts as long as the command. Nothing a run needs later is kept there: a receiver's partial
//! files live in its root, a sender's identity and known receivers in the user's configuration
//! directory. A private directory per run keeps two commands of one user apart (each server
//! restarts the unfinished transfers of its store); it is removed when the command ends, on
//! SIGINT and SIGTERM too, and one left by a killed command is removed by the next command.

use jetstream_engine::command;
use jetstream_engine::error::{Code, Error};
use jetstream_engine::server::{
    EngineOptions, Reader, Receiving, Server, ServerEvent, ServerInfo, ServerOptions,
};
use serde_json::{json, Value};
use std::path::Path;
use tokio::sync::broadcast;

/// The name of a command's state directory starts with this, then the command's process id.
const STATE_PREFIX: &str = "jetstream-run-";

/// Removes the state directories in `temp` of commands no longer running (killed with
/// SIGKILL, which leaves no chance to clean up). A directory that cannot be removed stays.
fn sweep(temp: &Path) {
    let Ok(entries) = std::fs::read_dir(temp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|name| name.strip_prefix(STATE_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        if pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// An engine running in this process, with its state directory.
pub struct Engine {
    server: Server,
    reader: Reader,
    /// Removed when the engine is dropped.
    _state: tempfile::TempDir,
}

impl Engine {
    /// Opens an engine with `options`; its state directory is made here.
    pub async fn open(mut options: EngineOptions) -> Result<Engine, Error> {
        let temp = std::env::temp_dir();
        sweep(&temp);
        let state = tempfile::Builder::new()
            .prefix(&format!("{STATE_PREFIX}{}-", std::process::id()))
            .tempdir_in(&temp)
            .map_err(|e| Error::from(e).context("a state directory for the engine"))?;
        options.state_dir = state.path().to_path_buf();
        let server = Server::open(ServerOptions::try_from(options)?).await?;
        let reader = server.reader()?;
        Ok(Engine {
            server,
            reader,
            _state: state,
        })
    }

    /// Runs `method` with `params` and returns its JSON result.
    pub async fn execute(&self, method: &str, params: Value) -> Result<Value, Error> {
        let command = command::parse(&json!({ "method": method, "params": params }))?;
        self.server.execute(command).await
    }

    /// Answers a command that only reads the store, on this thread.
    pub fn read(&self, method: &str, params: Value) -> Result<Value, Error> {
        let request = json!({ "method": method, "params": params }).to_string();
        let answer = self.reader.execute_json(&request).ok_or_else(|| {
            Error::new(
                Code::Internal,
                format!("{method} is not answered by the reader"),
            )
        })??;
        serde_json::from_str(&answer).map_err(|e| Error::new(Code::Internal, e.to_string()))
    }

    /// What the server is.
    pub fn info(&self) -> &ServerInfo {
        self.server.info()
    }

    /// Its receiver, for an engine opened to receive.
    pub fn receiving(&self) -> Result<Receiving, Error> {
        self.server
            .receiving()
            .cloned()
            .ok_or_else(|| Error::new(Code::Internal, "the engine does not receive"))
    }

    /// The server's events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ServerEvent> {
        self.server.subscribe()
    }

    /// Stops the engine's sessions and receiver.
    pub async fn close(&self) {
        self.server.close().await;
    }
}

/// Waits for SIGINT or SIGTERM; the signal's number.
pub async fn terminated() -> i32 {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // Without handlers the signals keep their default action.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => SignalKind::interrupt().as_raw_value(),
        _ = terminate.recv() => SignalKind::terminate().as_raw_value(),
    }
}
