//! The jetstream runtime: sockets, files and the drivers that run sessions over them.

pub mod address_tokens;
pub mod admission;
pub mod authorized_keys;
pub mod clients;
pub mod command;
pub mod digest;
pub mod error;
pub mod flags;
pub mod identity;
pub mod known_receivers;
pub mod overwrite;
mod pace;
pub mod parts;
pub mod receive;
mod record;
mod resume;
pub mod sandbox;
pub mod schedule;
pub mod send;
pub mod server;
pub mod sink;
pub mod source;
pub mod store;
pub mod udp;
pub mod umask;
pub mod walk;
mod workers;
