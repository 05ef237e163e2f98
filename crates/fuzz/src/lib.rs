//! The harness shared by the fuzz targets in `fuzz_targets/`.
//!
//! Each target is a few lines that hand the fuzzer's bytes to one entry point of `jetstream-wire`
//! or `jetstream-engine`. What the targets need beyond that lives here: deterministic keys
//! ([`keys`]), frames built from structured input ([`frames`]), in-memory file storage that
//! checks how the sessions use it ([`storage`]), and the drivers that run a real handshake and
//! then feed a session authenticated hostile datagrams ([`peer`], [`receiver`], [`sender`]).

pub mod frames;
pub mod keys;
pub mod peer;
pub mod receiver;
pub mod sender;
pub mod storage;
