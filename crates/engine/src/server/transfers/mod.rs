//! Transfers: created and steered by the API ([`commands`]), started when their manifest is
//! ready ([`queue`]), their figures recorded as they run ([`progress`]) and their ends
//! ([`ends`]), each destination's rate shared among them ([`rates`]), and the transfer log of
//! those that keep one ([`log`]).

mod commands;
mod ends;
mod log;
mod progress;
mod queue;
mod rates;

pub(super) use queue::StartQueue;
pub(super) use rates::RatePlan;

/// Bytes per block, as transfers count their data.
pub const BLOCK_SIZE: u32 = 256;
