//! The control port: a jetstream server's API over HTTP/1.1. One endpoint runs commands,
//! `POST /api` with `{"method": NAME, "params": {...}}`, answered with the method's JSON
//! result or `{"code", "message"}` and an HTTP status chosen by the code ([`status_of`]).
//!
//! [`Control`] serves a [`jetstream_engine::server::Server`] on a TCP listener the caller
//! bound (so that the server can report the port before it opens).

mod api;
mod reply;
mod serve;

pub use reply::status_of;
pub use serve::{Control, ControlOptions};
