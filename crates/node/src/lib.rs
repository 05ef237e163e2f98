//! Node.js binding of the jetstream engine.
//!
//! This crate owns the boundary between JavaScript and the Rust engine: every `#[napi]` item
//! here becomes part of the generated loader and type declarations (`ts/binding.cjs` and
//! `ts/binding.d.cts`, written by `napi build`). The binding stays thin: an [`Engine`] opens a
//! server, runs JSON commands through the engine's one dispatcher and closes it; the
//! hand-written TypeScript facade in `ts/` is the public API and never re-exports these types.
//! Engine errors reach JavaScript as errors whose `code` property is the engine's code and
//! whose message is the engine's message; the facade turns them into `CommandError`s.

use jetstream_engine::error::{Code, Error, Result};
use jetstream_engine::overwrite::{OverwriteLimit, OverwriteMode};
use jetstream_engine::server::{Reader, Server, ServerOptions};
use jetstream_wire::crypto::aead::CipherLevel;
use napi::bindgen_prelude::{JsError, PromiseRaw, ToNapiValue};
use napi::Env;
use napi_derive::napi;
use serde::Deserialize;
use std::future::Future;
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
    max_overwrite_mode: Option<u8>,
    transfer_log_dir: Option<PathBuf>,
}

/// An engine running in this process.
#[napi]
pub struct Engine {
    server: Arc<Server>,
    reader: Reader,
}

/// Opens an engine from its options as JSON (`stateDir`, and optionally `sandboxDir`,
/// `recvAddress`, `recvPort`, `minCipher`, `maxOverwriteMode`, `transferLogDir`).
#[napi]
pub fn open_engine<'env>(
    env: &'env Env,
    options: String,
) -> napi::Result<PromiseRaw<'env, Engine>> {
    promise(env, async move {
        let server = Server::open(server_options(&options)?).await?;
        let reader = server.reader()?;
        Ok(Engine {
            server: Arc::new(server),
            reader,
        })
    })
}

/// The server options [`open_engine`] describes in JSON.
fn server_options(options: &str) -> Result<ServerOptions> {
    let options: EngineOptions = serde_json::from_str(options).map_err(|e| {
        Error::new(Code::InvalidArgument, format!("engine options: {e}")).with_source(e)
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
            Error::new(
                Code::InvalidArgument,
                format!("engine options: minCipher {level} is not a MIN_CIPHER_* level"),
            )
        })?;
    }
    if let Some(code) = options.max_overwrite_mode {
        let mode = OverwriteMode::from_u8(code).ok_or_else(|| {
            Error::new(
                Code::InvalidArgument,
                format!("engine options: maxOverwriteMode {code} is not an OVERWRITE_* mode"),
            )
        })?;
        opts.max_overwrite = OverwriteLimit::of(mode);
    }
    Ok(opts)
}

#[napi]
impl Engine {
    /// Runs one command (`{"method": ..., "params": {...}}`) and resolves to its JSON result.
    #[napi]
    pub fn execute<'env>(
        &self,
        env: &'env Env,
        request: String,
    ) -> napi::Result<PromiseRaw<'env, String>> {
        let server = self.server.clone();
        promise(env, async move { server.execute_json(&request).await })
    }

    /// Answers a command that only reads the store at once, on this thread; `null` for any
    /// other command (run it with `execute`).
    #[napi]
    pub fn read(&self, request: String) -> napi::Result<Option<String>, &'static str> {
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

/// An engine error as a JavaScript error: napi-rs makes the status its `code` property, so the
/// code is the engine's and the message is the engine's message alone.
fn to_js(e: Error) -> napi::Error<&'static str> {
    napi::Error::new(e.code.as_str(), e.message)
}

/// Runs `work` on napi-rs's runtime and returns its promise, rejected with [`to_js`]'s error
/// when `work` fails. An `async fn` cannot do this: napi-rs rejects those with a
/// `napi::Status` as the code, so here the work ends in a plain result and the error object
/// is made afterwards, on the JavaScript thread.
fn promise<T>(
    env: &Env,
    work: impl Future<Output = Result<T>> + Send + 'static,
) -> napi::Result<PromiseRaw<'_, T>>
where
    T: ToNapiValue + Send + 'static,
{
    env.spawn_future_with_callback(async move { Ok(work.await) }, |env, result| {
        result.map_err(|e| napi::Error::from(JsError::from(to_js(e)).into_unknown(*env)))
    })
}
