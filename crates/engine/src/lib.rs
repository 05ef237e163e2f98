//! The jetstream runtime: sockets, files and the drivers that run sessions over them.

pub mod sandbox;
pub mod sink;
pub mod source;
pub mod udp;
pub mod walk;
