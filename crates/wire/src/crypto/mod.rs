//! Session keys and packet protection: the handshake that agrees on them and the AEAD that
//! seals every datagram with them.

pub mod aead;
pub mod handshake;
pub mod replay;
