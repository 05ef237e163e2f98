//! Per-packet protection at the four cipher levels, and the error type of the whole `crypto`
//! module.
//!
//! A [`PacketKey`] protects one direction of a session. The plaintext packet header is always
//! authenticated as AAD; the payload after it is encrypted (AES-128-GCM, AES-256-GCM), only
//! authenticated (a GMAC tag over header and payload) or left alone (level `None`). The nonce
//! is the per-key IV XOR the packet number, as in QUIC, so a key must never seal two packets
//! under one packet number. Sealing and opening work in place on the caller's buffer and never
//! allocate: they are the hot path of a transfer.

use ring::aead::{Aad, Algorithm, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM};
use ring::hkdf;

use super::expand_label;

/// Length of every AEAD tag used here (AES-GCM).
const TAG_LEN: usize = 16;
/// Length of an AEAD nonce and of the IV it is derived from.
const NONCE_LEN: usize = 12;

/// How the packets of a session are protected, from none to AES-256-GCM.
///
/// The order is meaningful: a higher level is at least as strong as a lower one, which is how
/// the handshake picks `max(offered, minimum)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum CipherLevel {
    /// No protection: the payload travels as it is, without a tag.
    None = 0,
    /// The payload travels in clear but header and payload carry a GMAC tag (AES-128-GCM over an
    /// empty plaintext), so tampering is detected. The tag covers header ‖ payload as one
    /// string: where the header ends is left to the packet parser. ring hashes AAD one block at
    /// a time, so this level costs more CPU per packet than `Aes128Gcm`.
    Authenticated = 1,
    /// AES-128-GCM over the payload, header authenticated.
    Aes128Gcm = 2,
    /// AES-256-GCM over the payload, header authenticated.
    Aes256Gcm = 3,
}

impl CipherLevel {
    /// Every level, weakest first.
    pub const ALL: [CipherLevel; 4] = [
        CipherLevel::None,
        CipherLevel::Authenticated,
        CipherLevel::Aes128Gcm,
        CipherLevel::Aes256Gcm,
    ];

    /// The level whose wire value is `v`, if any.
    pub fn from_u8(v: u8) -> Option<CipherLevel> {
        match v {
            0 => Some(CipherLevel::None),
            1 => Some(CipherLevel::Authenticated),
            2 => Some(CipherLevel::Aes128Gcm),
            3 => Some(CipherLevel::Aes256Gcm),
            _ => None,
        }
    }

    /// Bytes a sealed packet carries after its payload: 0 for `None`, 16 otherwise.
    pub fn tag_len(self) -> usize {
        match self {
            CipherLevel::None => 0,
            _ => TAG_LEN,
        }
    }
}

/// Why a cryptographic operation failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The packet or message failed authentication: it was tampered with, truncated, replayed
    /// from another session or sealed under another key.
    #[error("authentication failed")]
    Decrypt,
    /// The peer proved an identity key other than the one expected.
    #[error("peer identity key does not match the expected key")]
    KeyMismatch,
    /// A handshake message or a key encoding does not have the expected shape.
    #[error("malformed input: {0}")]
    Malformed(&'static str),
    /// The peer's identity signature over the transcript does not verify.
    #[error("identity signature does not verify")]
    BadSignature,
    /// The peer's MAC over its identity does not verify.
    #[error("identity MAC does not verify")]
    BadMac,
    /// The peer speaks another protocol version, offers an unknown cipher level or chose a level
    /// below the one offered.
    #[error("unsupported protocol version or cipher level")]
    Unsupported,
    /// A key was rejected: an invalid PKCS#8 identity or an unusable ephemeral public key.
    #[error("invalid key")]
    InvalidKey,
    /// The application's `auth` payload is longer than a ClientFinish can carry.
    #[error("auth payload of {0} bytes exceeds the 1024-byte limit")]
    AuthTooLong(usize),
    /// `Initiator::finish` was called again for the same ServerHello with another `auth`
    /// payload; sealing it would reuse a nonce.
    #[error("handshake already finished with a different auth payload")]
    AuthChanged,
    /// The message belongs to another handshake than the one this state is running.
    #[error("message belongs to another handshake")]
    WrongHandshake,
    /// The random number generator failed.
    #[error("random number generator failed")]
    Rng,
}

/// What a [`PacketKey`] does to a payload.
enum Protection {
    /// Level `None`.
    Plain,
    /// Level `Authenticated`: GMAC tag over header ‖ payload.
    Mac(LessSafeKey),
    /// Levels `Aes128Gcm` and `Aes256Gcm`: payload encrypted, header as AAD.
    Encrypt(LessSafeKey),
}

/// Packet protection for one direction of a session.
pub struct PacketKey {
    level: CipherLevel,
    protection: Protection,
    iv: [u8; NONCE_LEN],
}

impl std::fmt::Debug for PacketKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketKey")
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

impl PacketKey {
    /// Derives the AEAD key and a 12-byte IV from a 32-byte traffic secret with HKDF-SHA256
    /// expand (labels `"key"` and `"iv"`). The key is AES-128 for `Authenticated` and
    /// `Aes128Gcm`, AES-256 for `Aes256Gcm`; `None` derives nothing.
    pub fn new(level: CipherLevel, secret: &[u8; 32]) -> PacketKey {
        let prk = hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, secret);
        let protection = match level {
            CipherLevel::None => Protection::Plain,
            CipherLevel::Authenticated => Protection::Mac(aead_key(
                &AES_128_GCM,
                &expand_label::<16>(&prk, b"key", b""),
            )),
            CipherLevel::Aes128Gcm => Protection::Encrypt(aead_key(
                &AES_128_GCM,
                &expand_label::<16>(&prk, b"key", b""),
            )),
            CipherLevel::Aes256Gcm => Protection::Encrypt(aead_key(
                &AES_256_GCM,
                &expand_label::<32>(&prk, b"key", b""),
            )),
        };
        let iv = match protection {
            Protection::Plain => [0; NONCE_LEN],
            _ => expand_label(&prk, b"iv", b""),
        };
        PacketKey {
            level,
            protection,
            iv,
        }
    }

    /// The cipher level this key protects at.
    pub fn level(&self) -> CipherLevel {
        self.level
    }

    /// Bytes [`seal`](Self::seal) appends after the payload.
    pub fn tag_len(&self) -> usize {
        self.level.tag_len()
    }

    /// Protects the packet numbered `pn` in place.
    ///
    /// `buf[..header_len]` is the plaintext header (authenticated as AAD), followed by
    /// `payload_len` bytes of payload; `buf` has at least [`tag_len`](Self::tag_len) bytes after
    /// them. `Aes128Gcm`/`Aes256Gcm` encrypt the payload in place and append the tag;
    /// `Authenticated` leaves the payload as it is and appends a GMAC tag over header ‖ payload;
    /// `None` does nothing. Returns the datagram length, `header_len + payload_len + tag_len()`.
    ///
    /// The nonce is the IV XOR `pn` (big-endian in its last 8 bytes): never seal twice under
    /// one `pn` with one key.
    ///
    /// # Panics
    /// If `buf` is shorter than `header_len + payload_len + tag_len()`.
    pub fn seal(&self, pn: u64, buf: &mut [u8], header_len: usize, payload_len: usize) -> usize {
        let end = header_len + payload_len;
        let sealed = match &self.protection {
            Protection::Plain => return end,
            Protection::Mac(key) => {
                key.seal_in_place_separate_tag(self.nonce(pn), Aad::from(&buf[..end]), &mut [])
            }
            Protection::Encrypt(key) => {
                let (header, rest) = buf.split_at_mut(header_len);
                key.seal_in_place_separate_tag(
                    self.nonce(pn),
                    Aad::from(&*header),
                    &mut rest[..payload_len],
                )
            }
        };
        // Invariant: AES-GCM refuses only plaintexts longer than about 64 GiB, and a packet
        // lives in a datagram-sized buffer.
        let tag = sealed.expect("AES-GCM seals any datagram-sized payload");
        buf[end..end + TAG_LEN].copy_from_slice(tag.as_ref());
        end + TAG_LEN
    }

    /// The reverse of [`seal`](Self::seal): `buf` = header ‖ payload (ciphertext) ‖ tag. On
    /// success the plaintext is at `buf[header_len..header_len + n]` and `n` is returned.
    ///
    /// Any tampering with header, payload or tag, a wrong `pn`, a wrong key or a buffer too
    /// short to hold the header and a tag gives [`CryptoError::Decrypt`]. On failure the
    /// payload bytes are unspecified.
    pub fn open(&self, pn: u64, buf: &mut [u8], header_len: usize) -> Result<usize, CryptoError> {
        let payload_len = buf
            .len()
            .checked_sub(header_len)
            .and_then(|n| n.checked_sub(self.tag_len()))
            .ok_or(CryptoError::Decrypt)?;
        let opened = match &self.protection {
            Protection::Plain => return Ok(payload_len),
            Protection::Mac(key) => {
                let (data, tag) = buf.split_at_mut(header_len + payload_len);
                key.open_in_place(self.nonce(pn), Aad::from(&*data), tag)
            }
            Protection::Encrypt(key) => {
                let (header, rest) = buf.split_at_mut(header_len);
                key.open_in_place(self.nonce(pn), Aad::from(&*header), rest)
            }
        };
        opened.map_err(|_| CryptoError::Decrypt)?;
        Ok(payload_len)
    }

    /// IV XOR the big-endian packet number in the last 8 bytes.
    fn nonce(&self, pn: u64) -> Nonce {
        let mut nonce = self.iv;
        for (n, p) in nonce[NONCE_LEN - 8..].iter_mut().zip(pn.to_be_bytes()) {
            *n ^= p;
        }
        Nonce::assume_unique_for_key(nonce)
    }
}

/// An AEAD key of `algorithm` from raw bytes.
fn aead_key(algorithm: &'static Algorithm, bytes: &[u8]) -> LessSafeKey {
    // Invariant: every caller passes exactly `algorithm.key_len()` bytes, the only condition
    // under which ring refuses a key.
    let key = UnboundKey::new(algorithm, bytes).expect("key length matches its algorithm");
    LessSafeKey::new(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LEVELS: [CipherLevel; 4] = CipherLevel::ALL;
    const PROTECTED: [CipherLevel; 3] = [
        CipherLevel::Authenticated,
        CipherLevel::Aes128Gcm,
        CipherLevel::Aes256Gcm,
    ];

    /// header ‖ payload ‖ room for the tag, sealed; returns the datagram.
    fn sealed(key: &PacketKey, pn: u64, header: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut buf = [header, payload, &[0; TAG_LEN]].concat();
        let n = key.seal(pn, &mut buf, header.len(), payload.len());
        assert_eq!(n, header.len() + payload.len() + key.tag_len());
        buf.truncate(n);
        buf
    }

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + 3) as u8).collect()
    }

    #[test]
    fn levels_round_trip_through_u8() {
        for v in 0..=u8::MAX {
            match CipherLevel::from_u8(v) {
                Some(level) => assert_eq!(level as u8, v),
                None => assert!(v > 3),
            }
        }
        assert_eq!(LEVELS.map(|l| l.tag_len()), [0, 16, 16, 16]);
        assert!(LEVELS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn encrypting_levels_hide_the_payload() {
        let (header, payload) = (sample(17), sample(200));
        for level in [CipherLevel::Aes128Gcm, CipherLevel::Aes256Gcm] {
            let packet = sealed(&PacketKey::new(level, &[9; 32]), 5, &header, &payload);
            assert_eq!(
                &packet[..17],
                &header[..],
                "{level:?} keeps the header readable"
            );
            assert_ne!(
                &packet[17..217],
                &payload[..],
                "{level:?} encrypts the payload"
            );
        }
    }

    #[test]
    fn authenticated_level_leaves_the_payload_readable() {
        let (header, payload) = (sample(17), sample(200));
        let key = PacketKey::new(CipherLevel::Authenticated, &[9; 32]);
        let packet = sealed(&key, 5, &header, &payload);
        assert_eq!(packet.len(), 17 + 200 + 16);
        assert_eq!(
            &packet[..217],
            &[header.clone(), payload.clone()].concat()[..]
        );
        assert_ne!(&packet[217..], &[0; TAG_LEN]);
    }

    #[test]
    fn authenticated_level_detects_tag_tampering() {
        let key = PacketKey::new(CipherLevel::Authenticated, &[9; 32]);
        let packet = sealed(&key, 5, &sample(17), &sample(200));
        for i in 217..packet.len() {
            let mut bad = packet.clone();
            bad[i] ^= 0x80;
            assert_eq!(key.open(5, &mut bad, 17), Err(CryptoError::Decrypt));
        }
        let mut good = packet.clone();
        assert_eq!(key.open(5, &mut good, 17), Ok(200));
    }

    #[test]
    fn level_none_adds_nothing_and_changes_nothing() {
        let key = PacketKey::new(CipherLevel::None, &[9; 32]);
        let (header, payload) = (sample(17), sample(100));
        let mut packet = sealed(&key, 1, &header, &payload);
        assert_eq!(packet, [header, payload].concat());
        assert_eq!(key.open(1, &mut packet, 17), Ok(100));
        assert_eq!(key.open(1, &mut [0; 4], 17), Err(CryptoError::Decrypt));
    }

    #[test]
    fn every_single_bit_flip_is_rejected() {
        for level in PROTECTED {
            let key = PacketKey::new(level, &[3; 32]);
            let packet = sealed(&key, 77, &sample(17), &sample(64));
            for bit in 0..packet.len() * 8 {
                let mut bad = packet.clone();
                bad[bit / 8] ^= 1 << (bit % 8);
                assert_eq!(
                    key.open(77, &mut bad, 17),
                    Err(CryptoError::Decrypt),
                    "{level:?}, bit {bit}"
                );
            }
        }
    }

    #[test]
    fn wrong_packet_number_key_or_level_is_rejected() {
        for level in PROTECTED {
            let key = PacketKey::new(level, &[3; 32]);
            let packet = sealed(&key, 1000, &sample(17), &sample(64));
            assert_eq!(
                key.open(1001, &mut packet.clone(), 17),
                Err(CryptoError::Decrypt)
            );
            let other = PacketKey::new(level, &[4; 32]);
            assert_eq!(
                other.open(1000, &mut packet.clone(), 17),
                Err(CryptoError::Decrypt)
            );
            for other_level in PROTECTED.into_iter().filter(|&l| l != level) {
                let other = PacketKey::new(other_level, &[3; 32]);
                assert_eq!(
                    other.open(1000, &mut packet.clone(), 17),
                    Err(CryptoError::Decrypt)
                );
            }
            // Encrypting levels bind the header length; GMAC covers header ‖ payload as one
            // string, so there the split is the parser's business.
            let resplit = key.open(1000, &mut packet.clone(), 18);
            match level {
                CipherLevel::Authenticated => assert_eq!(resplit, Ok(63)),
                _ => assert_eq!(resplit, Err(CryptoError::Decrypt)),
            }
            assert_eq!(key.open(1000, &mut packet.clone(), 17), Ok(64));
        }
    }

    #[test]
    fn truncated_packets_are_rejected() {
        for level in PROTECTED {
            let key = PacketKey::new(level, &[3; 32]);
            let packet = sealed(&key, 1, &sample(17), &sample(10));
            for len in 0..packet.len() {
                let mut short = packet[..len].to_vec();
                assert_eq!(
                    key.open(1, &mut short, 17),
                    Err(CryptoError::Decrypt),
                    "{len}"
                );
            }
        }
    }

    #[test]
    fn debug_shows_only_the_level() {
        let key = PacketKey::new(CipherLevel::Aes256Gcm, &[3; 32]);
        assert_eq!(format!("{key:?}"), "PacketKey { level: Aes256Gcm, .. }");
    }

    fn level() -> impl Strategy<Value = CipherLevel> {
        prop::sample::select(LEVELS.to_vec())
    }

    fn protected_level() -> impl Strategy<Value = CipherLevel> {
        prop::sample::select(PROTECTED.to_vec())
    }

    proptest! {
        #[test]
        fn seal_then_open_round_trips(
            level in level(),
            secret in any::<[u8; 32]>(),
            pn in any::<u64>(),
            header in prop::collection::vec(any::<u8>(), 0..40),
            payload in prop::collection::vec(any::<u8>(), 0..1500),
        ) {
            let key = PacketKey::new(level, &secret);
            let mut packet = sealed(&key, pn, &header, &payload);
            prop_assert_eq!(key.open(pn, &mut packet, header.len()), Ok(payload.len()));
            prop_assert_eq!(&packet[..header.len()], &header[..]);
            prop_assert_eq!(&packet[header.len()..header.len() + payload.len()], &payload[..]);
        }

        #[test]
        fn a_flipped_bit_anywhere_is_rejected(
            level in protected_level(),
            pn in any::<u64>(),
            payload in prop::collection::vec(any::<u8>(), 0..1400),
            bit in any::<prop::sample::Index>(),
        ) {
            let key = PacketKey::new(level, &[1; 32]);
            let mut packet = sealed(&key, pn, &sample(17), &payload);
            let bit = bit.index(packet.len() * 8);
            packet[bit / 8] ^= 1 << (bit % 8);
            prop_assert_eq!(key.open(pn, &mut packet, 17), Err(CryptoError::Decrypt));
        }

        #[test]
        fn random_bytes_never_open(
            level in protected_level(),
            pn in any::<u64>(),
            mut bytes in prop::collection::vec(any::<u8>(), 0..1500),
            header_len in 0usize..64,
        ) {
            let key = PacketKey::new(level, &[1; 32]);
            prop_assert_eq!(key.open(pn, &mut bytes, header_len), Err(CryptoError::Decrypt));
        }
    }
}
