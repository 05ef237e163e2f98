//! Shared support for the integration tests: the simulated network link, bulk flows that drive
//! the rate controllers across it, and whole transfers over it.

pub mod bulk;
pub mod link;
pub mod startup;
pub mod transfer;
