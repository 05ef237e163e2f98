//! Sealing and opening protected datagrams with a session's keys: packet numbering on send,
//! replay refusal and authentication on receive.

use crate::codec::{self, ConnectionId, Header, PROTECTED_HEADER_LEN};
use crate::crypto::aead::CipherLevel;
use crate::crypto::handshake::SessionKeys;
use crate::crypto::replay::ReplayWindow;

/// Why a received datagram was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drop {
    /// Not a protected datagram of this connection, or too short.
    Malformed,
    /// A packet number seen before, or too old.
    Replayed,
    /// Authentication failed: forged or corrupted.
    Forged,
}

/// The keys of an established session and the packet-number state of both directions.
#[derive(Debug)]
pub struct Protection {
    cid: ConnectionId,
    keys: SessionKeys,
    next_pn: u64,
    replay: ReplayWindow,
}

impl Protection {
    /// Protection for connection `cid` with the agreed `keys`.
    pub fn new(cid: ConnectionId, keys: SessionKeys) -> Self {
        Protection {
            cid,
            keys,
            next_pn: 0,
            replay: ReplayWindow::new(),
        }
    }

    /// The agreed cipher level.
    pub fn level(&self) -> CipherLevel {
        self.keys.level
    }

    /// Payload bytes available in a datagram of `max_datagram` bytes.
    pub fn payload_capacity(&self, max_datagram: usize) -> usize {
        max_datagram - PROTECTED_HEADER_LEN - self.keys.send.tag_len()
    }

    /// The packet number the next sealed datagram gets.
    pub fn next_pn(&self) -> u64 {
        self.next_pn
    }

    /// Seals `buf[PROTECTED_HEADER_LEN..PROTECTED_HEADER_LEN + payload_len]` (frames already
    /// written there) into a datagram; returns its packet number and length.
    pub fn seal(&mut self, buf: &mut [u8], payload_len: usize) -> (u64, usize) {
        let pn = self.next_pn;
        self.next_pn += 1;
        codec::encode_protected_header(&self.cid, pn, buf);
        let len = self
            .keys
            .send
            .seal(pn, buf, PROTECTED_HEADER_LEN, payload_len);
        (pn, len)
    }

    /// Authenticates and decrypts a protected datagram in place; returns its packet number and
    /// the range of `buf` holding the plaintext frames.
    pub fn open(&mut self, buf: &mut [u8]) -> Result<(u64, std::ops::Range<usize>), Drop> {
        let pn = match Header::decode(buf) {
            Ok(Header::Protected { cid, pn }) if cid == self.cid => pn,
            _ => return Err(Drop::Malformed),
        };
        if !self.replay.check(pn) {
            return Err(Drop::Replayed);
        }
        let n = self
            .keys
            .recv
            .open(pn, buf, PROTECTED_HEADER_LEN)
            .map_err(|_| Drop::Forged)?;
        self.replay.commit(pn);
        Ok((pn, PROTECTED_HEADER_LEN..PROTECTED_HEADER_LEN + n))
    }
}
