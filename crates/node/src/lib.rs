//! Node.js binding of the jetstream engine.
//!
//! This crate owns the boundary between JavaScript and the Rust engine: every `#[napi]` item
//! here becomes part of the generated loader and type declarations (`ts/binding.js` and
//! `ts/binding.d.ts`, written by `napi build`). The binding stays thin: it converts arguments,
//! calls the engine and converts results; the hand-written TypeScript facade in `ts/` is the
//! public API and never re-exports these generated types.

use napi_derive::napi;

/// The version of the native engine: the `jetstream-node` crate version, which is the
/// workspace version shared by every crate.
#[napi]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}
