//! Deterministic identities and randomness, so that every run of an input makes the same
//! handshake: a crash reproduces, and the seed corpus can hold handshake messages that really
//! verify (the fuzzer mutates from there).

use std::sync::LazyLock;

use jetstream_wire::codec::Auth;
use jetstream_wire::crypto::aead::{CipherLevel, CryptoError};
use jetstream_wire::crypto::handshake::{Identity, Initiator, Responder};

// ring's `SecureRandom` is sealed: its fixed generators are the only deterministic ones. They
// are deprecated as internal API, and ring is pinned to an exact version.
#[allow(deprecated)]
use ring::test::rand::FixedByteRandom;

/// A generator that repeats `byte`: the same keys on every run.
pub fn rng(byte: u8) -> impl ring::rand::SecureRandom {
    #[allow(deprecated)]
    FixedByteRandom { byte }
}

/// The initiator's (sender's) long-term identity.
pub fn client() -> &'static Identity {
    static CLIENT: LazyLock<Identity> = LazyLock::new(|| identity(0x11));
    &CLIENT
}

/// The responder's (receiver's) long-term identity.
pub fn server() -> &'static Identity {
    static SERVER: LazyLock<Identity> = LazyLock::new(|| identity(0x22));
    &SERVER
}

fn identity(byte: u8) -> Identity {
    Identity::generate(&rng(byte)).expect("a fixed generator always yields a key")
}

/// Randomness of the initiator's handshakes (ephemeral key, connection id).
pub const CLIENT_RNG: u8 = 0x01;
/// Randomness of the responder's handshakes (ephemeral key).
pub const SERVER_RNG: u8 = 0x02;

/// A fresh initiator offering `offered`, and the ClientHello message it sends.
pub fn initiator(offered: CipherLevel) -> (Initiator, Vec<u8>) {
    Initiator::start(&rng(CLIENT_RNG), client(), offered).expect("a fixed generator never fails")
}

/// The responder's answer to `client_hello` with minimum level `min_level`.
pub fn respond(
    client_hello: &[u8],
    min_level: CipherLevel,
) -> Result<(Responder, Vec<u8>), CryptoError> {
    Responder::accept(&rng(SERVER_RNG), server(), client_hello, min_level)
}

/// The credentials every harness presents.
pub fn auth() -> Auth {
    Auth {
        user: "fuzz".into(),
        password: "pw".into(),
        token: String::new(),
    }
}

/// A cipher level chosen by the fuzzer.
#[derive(arbitrary::Arbitrary, Clone, Copy, Debug)]
pub enum Level {
    /// [`CipherLevel::None`].
    None,
    /// [`CipherLevel::Authenticated`].
    Authenticated,
    /// [`CipherLevel::Aes128Gcm`].
    Aes128,
    /// [`CipherLevel::Aes256Gcm`].
    Aes256,
}

impl From<Level> for CipherLevel {
    fn from(level: Level) -> CipherLevel {
        match level {
            Level::None => CipherLevel::None,
            Level::Authenticated => CipherLevel::Authenticated,
            Level::Aes128 => CipherLevel::Aes128Gcm,
            Level::Aes256 => CipherLevel::Aes256Gcm,
        }
    }
}

/// The level whose index is `byte % 4`, for targets that read plain bytes.
pub fn level_of(byte: u8) -> CipherLevel {
    CipherLevel::ALL[usize::from(byte % 4)]
}
