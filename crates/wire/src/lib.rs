//! The jetstream protocol, without I/O and without a clock.
//!
//! Every entry point takes the current time and caller-owned buffers; nothing here opens a
//! socket, reads a file or reads the clock. The engine drives these types over real sockets and
//! files; the simulator in `tests/` drives the very same code over a virtual network.

pub mod codec;
pub mod crypto;
pub mod files;
pub mod ranges;
pub mod rate;
pub mod session;
