//! The control port: a jetstream server's API over HTTP/1.1. One endpoint runs commands,
//! `POST /api` with `{"method": NAME, "params": {...}}`, answered with the method's JSON
//! result or `{"code", "message"}` and an HTTP status chosen by the code ([`status_of`]);
//! `GET /metrics` reads the server's figures in the Prometheus text format.
//!
//! [`Control`] serves a [`jetstream_engine::server::Server`] on a TCP listener the caller
//! bound (so that the server can report the port before it opens), over TLS with a
//! [`TlsIdentity`] or plain HTTP; [`Client`] is its Rust client.

mod api;
mod auth;
mod client;
mod metrics;
mod pin;
mod reply;
mod serve;
mod tls;

pub use client::{Client, ClientOptions};
pub use pin::parse as parse_fingerprint;
pub use reply::status_of;
pub use serve::{Control, ControlOptions};
pub use tls::{fingerprint, TlsIdentity, CERT_FILE, KEY_FILE};
