//! Traffic secrets: the 32-byte secret behind one direction's packet keys, and the key update
//! that replaces it with the next one.
//!
//! A session starts from the secrets the handshake agrees (`c ap`, `s ap`); every key update
//! moves both directions one step along their chains, as TLS 1.3 and QUIC do (RFC 8446 §7.2,
//! RFC 9001 §6):
//!
//! ```text
//! secret_{n+1} = Expand-Label(secret_n, "ku", "")      (32 bytes)
//! ```
//!
//! and [`PacketKey::new`] derives the AEAD key and IV of each step from its secret. The chain
//! only goes forward: the keys of one phase tell nothing about those of earlier phases.

use std::fmt;

use ring::hkdf;

use super::aead::{CipherLevel, PacketKey};
use super::expand_label;

/// Length of a traffic secret (SHA-256 output).
const SECRET_LEN: usize = 32;

/// The secret one direction of a session derives its packet keys from. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct TrafficSecret([u8; SECRET_LEN]);

impl fmt::Debug for TrafficSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TrafficSecret(..)")
    }
}

impl TrafficSecret {
    /// Wraps secret bytes agreed by the handshake.
    pub(crate) fn new(bytes: [u8; SECRET_LEN]) -> TrafficSecret {
        TrafficSecret(bytes)
    }

    /// The packet key protecting this direction at `level` with this secret.
    pub fn packet_key(&self, level: CipherLevel) -> PacketKey {
        PacketKey::new(level, &self.0)
    }

    /// The secret of the next key phase: `Expand-Label(secret, "ku", "")`.
    pub fn next(&self) -> TrafficSecret {
        let prk = hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, &self.0);
        TrafficSecret(expand_label(&prk, b"ku", b""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::CryptoError;

    /// Seals one packet with `send` and opens it with `recv`.
    fn opens(send: &PacketKey, recv: &PacketKey) -> bool {
        let mut buf = [&[1u8; 17][..], &[2; 40], &[0; 16]].concat();
        let n = send.seal(9, &mut buf, 17, 40);
        recv.open(9, &mut buf[..n], 17) != Err(CryptoError::Decrypt)
    }

    #[test]
    fn each_update_gives_a_new_secret_and_new_keys() {
        let level = CipherLevel::Aes128Gcm;
        let mut chain = vec![TrafficSecret::new([7; 32])];
        for _ in 0..4 {
            let next = chain
                .last()
                .expect("the chain starts with one secret")
                .next();
            chain.push(next);
        }
        for (i, a) in chain.iter().enumerate() {
            for (j, b) in chain.iter().enumerate() {
                assert_eq!(a == b, i == j, "secrets {i} and {j}");
                assert_eq!(
                    opens(&a.packet_key(level), &b.packet_key(level)),
                    i == j,
                    "keys {i} and {j}"
                );
            }
        }
    }

    #[test]
    fn updates_are_deterministic() {
        let a = TrafficSecret::new([3; 32]).next().next();
        let b = TrafficSecret::new([3; 32]).next().next();
        assert_eq!(a, b);
        assert!(opens(
            &a.packet_key(CipherLevel::Aes256Gcm),
            &b.packet_key(CipherLevel::Aes256Gcm)
        ));
    }

    #[test]
    fn debug_hides_the_secret() {
        assert_eq!(
            format!("{:?}", TrafficSecret::new([3; 32])),
            "TrafficSecret(..)"
        );
    }
}
