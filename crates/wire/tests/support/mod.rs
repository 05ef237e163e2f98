//! Shared support for the integration tests: the simulated network and whole transfers over it.

pub mod link;
pub mod transfer;
