//! Node.js binding of the jetstream engine.
//!
//! This crate owns the boundary between JavaScript and the Rust engine: every `#[napi]` item
//! here becomes part of the generated loader and type declarations (`ts/binding.cjs` and
//! `ts/binding.d.cts`, written by `napi build`). The binding stays thin: an [`Engine`] opens a
//! server, runs JSON commands through the engine's one dispatcher and closes it; the
//! hand-written TypeScript facade in `ts/` is the public API and never re-exports these types.
//! Engine errors reach JavaScript as `CODE: message`, which the facade turns into
//! `CommandError`s.

use jetstream_engine::error::{Code, Error};
use jetstream_engine::server::{Reader, Server, ServerOptions};
use jetstream_wire::crypto::aead::CipherLevel;
use napi_derive::napi;
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

/// The version of the native engine: the `jetstream-node` crate version, which is the
/// workspace version shared by every crate.
#[napi]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// The options of [`open_engine`], as JSON.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EngineOptions {
    state_dir: PathBuf,
    sandbox_dir: Option<PathBuf>,
    recv_address: Option<IpAddr>,
    recv_port: Option<u16>,
    min_cipher: Option<u8>,
    transfer_log_dir: Option<PathBuf>,
}

/// An engine running in this process.
#[napi]
pub struct Engine {
    server: Arc<Server>,
    reader: Reader,
}

/// Opens an engine from its options as JSON (`stateDir`, and optionally `sandboxDir`,
/// `recvAddress`, `recvPort`, `minCipher`, `transferLogDir`).
#[napi]
pub async fn open_engine(options: String) -> napi::Result<Engine> {
    let options: EngineOptions = serde_json::from_str(&options).map_err(|e| {
        to_js(Error::new(
            Code::InvalidArgument,
            format!("engine options: {e}"),
        ))
    })?;
    let mut opts = ServerOptions::new(options.state_dir);
    if let Some(dir) = options.sandbox_dir {
        opts.sandbox_dir = dir;
    }
    if let Some(dir) = options.transfer_log_dir {
        opts.transfer_log_dir = dir;
    }
    let ip = options
        .recv_address
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    opts.recv_listen = SocketAddr::new(ip, options.recv_port.unwrap_or(0));
    if let Some(level) = options.min_cipher {
        opts.min_cipher = CipherLevel::from_u8(level).ok_or_else(|| {
            to_js(Error::new(
                Code::InvalidArgument,
                format!("engine options: minCipher {level} is not a MIN_CIPHER_* level"),
            ))
        })?;
    }
    let server = Server::open(opts).await.map_err(to_js)?;
    let reader = server.reader().map_err(to_js)?;
    Ok(Engine {
        server: Arc::new(server),
        reader,
    })
}

#[napi]
impl Engine {
    /// Runs one command (`{"method": ..., "params": {...}}`) and resolves to its JSON result.
    #[napi]
    pub async fn execute(&self, request: String) -> napi::Result<String> {
        self.server.execute_json(&request).await.map_err(to_js)
    }

    /// Answers a command that only reads the store at once, on this thread; `null` for any
    /// other command (run it with `execute`).
    #[napi]
    pub fn read(&self, request: String) -> napi::Result<Option<String>> {
        self.reader
            .execute_json(&request)
            .transpose()
            .map_err(to_js)
    }

    /// Stops the engine; later commands fail with `UNAVAILABLE`.
    #[napi]
    pub async fn close(&self) {
        self.server.close().await;
    }
}

/// An engine error as a JavaScript error whose message starts with its code.
fn to_js(e: Error) -> napi::Error {
    napi::Error::from_reason(format!("{}: {}", e.code.as_str(), e.message))
}
