//! Session keys and packet protection: the handshake that agrees on them, the traffic secrets
//! that key updates step forward, the AEAD that seals every datagram with them, the replay
//! window that refuses a packet number seen twice, and the address tokens that let a receiver
//! check a sender's address before any of that.
//!
//! Every key in this module is derived with `expand_label`, an HKDF-SHA256 expand whose info
//! is laid out like the TLS 1.3 `HkdfLabel`, so that no two uses of a secret share a label.

pub mod aead;
pub mod handshake;
pub mod replay;
pub mod token;
pub mod traffic;

pub use aead::{CipherLevel, CryptoError, PacketKey};
pub use handshake::{Identity, Initiator, PublicKey, Responder, SessionKeys};
pub use replay::ReplayWindow;
pub use traffic::TrafficSecret;

use ring::hkdf;

/// Prefix of every HKDF label, so keys derived here never collide with another protocol's.
const LABEL_PREFIX: &[u8] = b"jetstream ";

/// HKDF-Expand-Label: `N` bytes of HKDF-SHA256 expand of `prk` with the info
/// `u16(N) ‖ u8(len(prefix ‖ label)) ‖ "jetstream " ‖ label ‖ u8(len(context)) ‖ context`.
///
/// `label` and `context` are short constants and digests chosen in this module (each well
/// under 255 bytes).
pub(crate) fn expand_label<const N: usize>(
    prk: &hkdf::Prk,
    label: &[u8],
    context: &[u8],
) -> [u8; N] {
    // HKDF-SHA256 yields at most 255 × 32 bytes, which also keeps `N` within a u16.
    const { assert!(N <= 255 * 32) };
    debug_assert!(LABEL_PREFIX.len() + label.len() <= usize::from(u8::MAX));
    debug_assert!(context.len() <= usize::from(u8::MAX));
    // `N` fits in a u16 (checked at compile time); label and context lengths are bounded by the
    // callers in this module (debug-checked above), so these casts never truncate.
    let out_len = (N as u16).to_be_bytes();
    let label_len = [(LABEL_PREFIX.len() + label.len()) as u8];
    let context_len = [context.len() as u8];
    let info: [&[u8]; 6] = [
        &out_len,
        &label_len,
        LABEL_PREFIX,
        label,
        &context_len,
        context,
    ];
    let mut out = [0u8; N];
    // Invariant: HKDF-Expand fails only when asked for more than 255 × 32 bytes, which the
    // compile-time assertion above rules out.
    prk.expand(&info, OkmLen(N))
        .and_then(|okm| okm.fill(&mut out))
        .expect("HKDF-SHA256 expand within 255 × 32 bytes cannot fail");
    out
}

/// Output length for [`hkdf::Prk::expand`] when the output is plain bytes.
struct OkmLen(usize);

impl hkdf::KeyType for OkmLen {
    fn len(&self) -> usize {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prk(byte: u8) -> hkdf::Prk {
        hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, &[byte; 32])
    }

    #[test]
    fn labels_contexts_and_secrets_separate_outputs() {
        let a: [u8; 32] = expand_label(&prk(1), b"key", b"");
        assert_ne!(a, expand_label::<32>(&prk(1), b"iv", b""));
        assert_ne!(a, expand_label::<32>(&prk(1), b"key", b"x"));
        assert_ne!(a, expand_label::<32>(&prk(2), b"key", b""));
        assert_eq!(a, expand_label::<32>(&prk(1), b"key", b""));
    }

    #[test]
    fn output_length_is_part_of_the_info() {
        let long: [u8; 32] = expand_label(&prk(1), b"key", b"");
        let short: [u8; 16] = expand_label(&prk(1), b"key", b"");
        assert_ne!(&long[..16], &short[..]);
    }
}
