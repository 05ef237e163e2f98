//! Node.js binding of the jetstream engine.
//!
//! This crate owns the boundary between JavaScript and the Rust engine: every `#[napi]` item
//! here becomes part of the generated loader and type declarations (`ts/binding.cjs` and
//! `ts/binding.d.cts`, written by `napi build`). The binding stays thin: an [`Engine`] opens a
//! server, runs JSON commands through the engine's one dispatcher and closes it; the
//! hand-written TypeScript facade in `ts/` is the public API and never re-exports these types.
//! Engine errors reach JavaScript as errors whose `code` property is the engine's code and
//! whose message is the engine's message; the facade turns them into `CommandError`s.

use jetstream_engine::error::{Error, Result};
use jetstream_engine::server::{Reader, Server, ServerOptions};
use napi::bindgen_prelude::{JsError, PromiseRaw, ToNapiValue};
use napi::Env;
use napi_derive::napi;
use std::future::Future;
use std::sync::Arc;

/// The version of the native engine: the `jetstream-node` crate version, which is the
/// workspace version shared by every crate.
#[napi]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// An engine running in this process.
#[napi]
pub struct Engine {
    server: Arc<Server>,
    reader: Reader,
}

/// Opens an engine from its options as JSON (the engine's `EngineOptions`: `stateDir`, and
/// optionally `sandboxDir`, `recvAddress`, `recvPort`, `minCipher`, `maxOverwriteMode`,
/// `transferLogDir`, ...).
#[napi]
pub fn open_engine<'env>(
    env: &'env Env,
    options: String,
) -> napi::Result<PromiseRaw<'env, Engine>> {
    promise(env, async move {
        let server = Server::open(ServerOptions::from_json(&options)?).await?;
        let reader = server.reader()?;
        Ok(Engine {
            server: Arc::new(server),
            reader,
        })
    })
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
