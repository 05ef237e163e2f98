//! The jetstream runtime: sockets, files and the drivers that run sessions over them.

pub mod udp;
