//! Sealing and opening protected datagrams with a session's keys: packet numbering and the
//! key phase on send, replay refusal, key phase and authentication on receive. Packet numbers
//! count from 0 across key phases (see [`super::key_phase`] for how phases change).

use std::ops::Range;
use std::time::Instant;

use super::key_phase::KeyPhases;
use crate::codec::{self, ConnectionId, Header, PROTECTED_HEADER_LEN};
use crate::crypto::aead::CipherLevel;
use crate::crypto::handshake::SessionKeys;
use crate::crypto::replay::ReplayWindow;

/// Why a received datagram was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drop {
    /// Not a protected datagram of this connection, or too short.
    Malformed,
    /// A packet number seen before, too old for the replay window or too far ahead of it.
    Replayed,
    /// From a key phase whose keys are gone (retired longer ago than the grace time).
    Stale,
    /// Authentication failed: forged or corrupted, or a key phase the peer may not be in.
    Forged,
}

/// The keys of an established session and the packet-number state of both directions.
#[derive(Debug)]
pub struct Protection {
    cid: ConnectionId,
    phases: KeyPhases,
    next_pn: u64,
    replay: ReplayWindow,
}

impl Protection {
    /// Protection for connection `cid` with the agreed `keys`, moving to new keys every
    /// `key_update_interval` datagrams sealed.
    pub fn new(cid: ConnectionId, keys: SessionKeys, key_update_interval: u64) -> Self {
        Protection {
            cid,
            phases: KeyPhases::new(keys, key_update_interval),
            next_pn: 0,
            replay: ReplayWindow::new(),
        }
    }

    /// The agreed cipher level.
    pub fn level(&self) -> CipherLevel {
        self.phases.level()
    }

    /// Key updates so far, by either side.
    pub fn key_updates(&self) -> u64 {
        self.phases.updates()
    }

    /// Payload bytes available in a datagram of `max_datagram` bytes.
    pub fn payload_capacity(&self, max_datagram: usize) -> usize {
        max_datagram - PROTECTED_HEADER_LEN - self.phases.tag_len()
    }

    /// The packet number the next sealed datagram gets.
    pub fn next_pn(&self) -> u64 {
        self.next_pn
    }

    /// Seals `buf[PROTECTED_HEADER_LEN..PROTECTED_HEADER_LEN + payload_len]` (frames already
    /// written there) into a datagram; returns its packet number and length.
    pub fn seal(&mut self, buf: &mut [u8], payload_len: usize) -> (u64, usize) {
        let pn = self.next_pn;
        // Invariant: at a billion datagrams a second, 2^64 - 1 of them take five centuries.
        self.next_pn = pn
            .checked_add(1)
            .expect("a session never seals 2^64 - 1 datagrams");
        let (key_phase, key) = self.phases.sealing_key();
        codec::encode_protected_header(&self.cid, pn, key_phase, buf);
        let len = key.seal(pn, buf, PROTECTED_HEADER_LEN, payload_len);
        (pn, len)
    }

    /// Authenticates and decrypts a protected datagram received at `now` in place; returns its
    /// packet number and the range of `buf` holding the plaintext frames.
    pub fn open(&mut self, now: Instant, buf: &mut [u8]) -> Result<(u64, Range<usize>), Drop> {
        let (pn, key_phase) = match Header::decode(buf) {
            Ok(Header::Protected { cid, pn, key_phase }) if cid == self.cid => (pn, key_phase),
            _ => return Err(Drop::Malformed),
        };
        if !self.replay.check(pn) {
            return Err(Drop::Replayed);
        }
        let n = self
            .phases
            .open(now, pn, key_phase, buf, PROTECTED_HEADER_LEN)?;
        self.replay.commit(pn);
        Ok((pn, PROTECTED_HEADER_LEN..PROTECTED_HEADER_LEN + n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::KEY_PHASE_BIT;
    use crate::crypto::replay::MAX_ADVANCE;
    use crate::crypto::TrafficSecret;
    use crate::session::RETIRED_KEY_GRACE;
    use std::time::Duration;

    const CID: ConnectionId = [9; 8];

    /// The initiator's and the responder's protection, as a handshake at `level` leaves them.
    fn pair(level: CipherLevel, interval: u64) -> (Protection, Protection) {
        let client = TrafficSecret::new([1; 32]);
        let server = TrafficSecret::new([2; 32]);
        let keys = |send: &TrafficSecret, recv: &TrafficSecret| SessionKeys {
            level,
            send: send.clone(),
            recv: recv.clone(),
        };
        (
            Protection::new(CID, keys(&client, &server), interval),
            Protection::new(CID, keys(&server, &client), interval),
        )
    }

    /// A datagram sealed by `from` carrying `payload`.
    fn sealed(from: &mut Protection, payload: &[u8]) -> Vec<u8> {
        let mut buf = vec![0; PROTECTED_HEADER_LEN + payload.len() + 16];
        buf[PROTECTED_HEADER_LEN..PROTECTED_HEADER_LEN + payload.len()].copy_from_slice(payload);
        let (_, len) = from.seal(&mut buf, payload.len());
        buf.truncate(len);
        buf
    }

    /// Opens `datagram` at `to`; returns the payload.
    fn opened(to: &mut Protection, now: Instant, datagram: &[u8]) -> Result<Vec<u8>, Drop> {
        let mut buf = datagram.to_vec();
        let (_, range) = to.open(now, &mut buf)?;
        Ok(buf[range].to_vec())
    }

    /// `from` seals a datagram and `to` opens it at `now`.
    fn exchange(from: &mut Protection, to: &mut Protection, now: Instant) {
        let payload = from.next_pn().to_be_bytes();
        let datagram = sealed(from, &payload);
        assert_eq!(opened(to, now, &datagram), Ok(payload.to_vec()));
    }

    #[test]
    fn both_sides_follow_every_update_and_keys_keep_matching() {
        let now = Instant::now();
        let (mut a, mut b) = pair(CipherLevel::Aes128Gcm, 4);
        for round in 0..40 {
            for _ in 0..3 {
                exchange(&mut a, &mut b, now);
            }
            exchange(&mut b, &mut a, now);
            assert_eq!(a.key_updates(), b.key_updates(), "round {round}");
        }
        assert!(a.key_updates() >= 25, "{} updates", a.key_updates());
    }

    #[test]
    fn an_update_waits_until_the_peer_was_heard_in_the_current_phase() {
        let now = Instant::now();
        let (mut a, mut b) = pair(CipherLevel::Aes128Gcm, 2);
        for _ in 0..10 {
            exchange(&mut a, &mut b, now);
        }
        assert_eq!((a.key_updates(), b.key_updates()), (0, 0));
        exchange(&mut b, &mut a, now);
        exchange(&mut a, &mut b, now);
        assert_eq!((a.key_updates(), b.key_updates()), (1, 1));
        for _ in 0..10 {
            exchange(&mut a, &mut b, now);
        }
        assert_eq!(a.key_updates(), 1, "phase 1 not heard from b yet");
    }

    #[test]
    fn a_reordered_datagram_of_the_previous_phase_opens_within_the_grace_time_only() {
        let t0 = Instant::now();
        let (mut a, mut b) = pair(CipherLevel::Aes256Gcm, 3);
        exchange(&mut b, &mut a, t0);
        let late: Vec<_> = (0..3).map(|i| sealed(&mut a, &[i; 20])).collect();
        exchange(&mut a, &mut b, t0);
        assert_eq!(b.key_updates(), 1, "the fourth datagram starts phase 1");
        let within = t0 + RETIRED_KEY_GRACE - Duration::from_millis(1);
        assert_eq!(opened(&mut b, within, &late[0]), Ok(vec![0; 20]));
        assert_eq!(opened(&mut b, within, &late[1]), Ok(vec![1; 20]));
        assert_eq!(
            opened(&mut b, t0 + RETIRED_KEY_GRACE, &late[2]),
            Err(Drop::Stale)
        );
        exchange(&mut a, &mut b, t0 + RETIRED_KEY_GRACE);
    }

    #[test]
    fn old_keys_stay_until_the_first_datagram_of_the_new_phase_arrives() {
        let t0 = Instant::now();
        let (mut a, mut b) = pair(CipherLevel::Aes128Gcm, 2);
        exchange(&mut a, &mut b, t0);
        exchange(&mut b, &mut a, t0);
        exchange(&mut a, &mut b, t0);
        let from_b = sealed(&mut b, b"phase 0");
        // a starts phase 1; b's datagrams of phase 0 still open at a, however late.
        exchange(&mut a, &mut b, t0);
        assert_eq!((a.key_updates(), b.key_updates()), (1, 1));
        let much_later = t0 + RETIRED_KEY_GRACE * 10;
        assert_eq!(opened(&mut a, much_later, &from_b), Ok(b"phase 0".to_vec()));
        exchange(&mut b, &mut a, much_later);
        assert_eq!((a.key_updates(), b.key_updates()), (1, 1));
    }

    #[test]
    fn the_key_phase_bit_is_authenticated() {
        let now = Instant::now();
        let (mut a, mut b) = pair(CipherLevel::Aes128Gcm, 1);
        let mut flipped = sealed(&mut a, b"phase 0");
        flipped[0] ^= KEY_PHASE_BIT;
        assert_eq!(opened(&mut b, now, &flipped), Err(Drop::Forged));
        assert_eq!(b.key_updates(), 0);
        exchange(&mut b, &mut a, now);
        let mut flipped = sealed(&mut a, b"phase 1");
        assert_eq!(a.key_updates(), 1);
        flipped[0] ^= KEY_PHASE_BIT;
        assert_eq!(opened(&mut b, now, &flipped), Err(Drop::Forged));
        assert_eq!(b.key_updates(), 0);
    }

    #[test]
    fn a_peer_cannot_start_an_update_before_this_side_sealed_in_the_current_phase() {
        let now = Instant::now();
        let (mut a, mut b) = pair(CipherLevel::Aes128Gcm, 1);
        exchange(&mut b, &mut a, now);
        exchange(&mut a, &mut b, now);
        exchange(&mut a, &mut b, now);
        assert_eq!(b.key_updates(), 1);
        // A dishonest `a` seals in phase 2 before hearing from b in phase 1.
        let phase_2 = SessionKeys {
            level: CipherLevel::Aes128Gcm,
            send: TrafficSecret::new([1; 32]).next().next(),
            recv: TrafficSecret::new([2; 32]).next().next(),
        };
        let mut skipping = Protection::new(CID, phase_2, u64::MAX);
        skipping.next_pn = a.next_pn();
        let early = sealed(&mut skipping, b"too early");
        assert_eq!(opened(&mut b, now, &early), Err(Drop::Forged));
        assert_eq!(b.key_updates(), 1);
        sealed(&mut b, b"b seals in phase 1");
        let allowed = sealed(&mut skipping, b"now allowed");
        assert_eq!(opened(&mut b, now, &allowed), Ok(b"now allowed".to_vec()));
        assert_eq!(b.key_updates(), 2);
    }

    #[test]
    fn a_peer_that_moved_on_while_its_whole_phase_was_lost_is_followed() {
        let now = Instant::now();
        let (mut a, mut b) = pair(CipherLevel::Aes128Gcm, 2);
        exchange(&mut b, &mut a, now);
        exchange(&mut a, &mut b, now);
        exchange(&mut a, &mut b, now);
        exchange(&mut a, &mut b, now);
        assert_eq!((a.key_updates(), b.key_updates()), (1, 1));
        // b's datagrams of phase 1 are all lost; a hears nothing of phase 1.
        sealed(&mut b, b"lost");
        sealed(&mut b, b"lost");
        let phase_2 = sealed(&mut b, b"phase 2");
        assert_eq!(b.key_updates(), 2);
        assert_eq!(opened(&mut a, now, &phase_2), Ok(b"phase 2".to_vec()));
        assert_eq!(a.key_updates(), 2);
        exchange(&mut a, &mut b, now);
    }

    #[test]
    fn level_none_stays_in_phase_0_and_refuses_the_other_parity() {
        let now = Instant::now();
        let (mut a, mut b) = pair(CipherLevel::None, 1);
        for _ in 0..10 {
            exchange(&mut a, &mut b, now);
            exchange(&mut b, &mut a, now);
        }
        assert_eq!((a.key_updates(), b.key_updates()), (0, 0));
        let mut flipped = sealed(&mut a, b"phase 1?");
        flipped[0] ^= KEY_PHASE_BIT;
        assert_eq!(opened(&mut b, now, &flipped), Err(Drop::Forged));
        exchange(&mut a, &mut b, now);
    }

    #[test]
    fn forged_extreme_packet_numbers_at_level_none_do_not_block_later_datagrams() {
        let now = Instant::now();
        let (mut a, mut b) = pair(CipherLevel::None, 1);
        exchange(&mut a, &mut b, now);
        for pn in [u64::MAX, u64::MAX - 1, 1 << 63, MAX_ADVANCE + 1] {
            // At level none a datagram is its header and its frames: anyone can write one.
            let mut forged = vec![0; PROTECTED_HEADER_LEN + 4];
            codec::encode_protected_header(&CID, pn, false, &mut forged);
            assert_eq!(opened(&mut b, now, &forged), Err(Drop::Replayed), "pn {pn}");
        }
        for _ in 0..100 {
            exchange(&mut a, &mut b, now);
        }
    }
}
