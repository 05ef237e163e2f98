//! Key phases: a session moves both directions to fresh keys long before AES-GCM wears out
//! (2^23 packets per key for confidentiality, RFC 9001 §6.6), as QUIC does (RFC 9001 §6).
//!
//! # Protocol
//!
//! Phase 0 uses the traffic secrets of the handshake; phase n + 1 the secrets
//! `Expand-Label(secret_n, "ku", "")` of both directions (`crypto::traffic`), with packet keys
//! derived from them as from any secret. A side seals and opens with the keys of its current
//! phase, one phase for both directions, and each protected datagram carries the parity of the
//! phase it was sealed in: odd phases set `codec::KEY_PHASE_BIT` in the kind byte, which the
//! AEAD authenticates with the rest of the header. Packet numbers run on across phases; each
//! phase has its own IV, so no nonce repeats under a key.
//!
//! - **Starting an update.** Before sealing, a side moves to phase n + 1 once it has sealed
//!   `interval` datagrams in phase n (2^22 by default) *and* received a datagram of phase n
//!   from its peer, which proves the peer has the keys of n. This is QUIC's rule that an update
//!   waits until the previous one is acknowledged; the sender of a transfer acknowledges
//!   nothing, so the proof is the peer's own datagrams, which is why the two directions share
//!   a phase.
//! - **Following an update.** A datagram of the other parity, numbered at or above the first
//!   datagram received in phase n, comes from phase n + 1: it is opened with the keys of n + 1,
//!   derived in advance, and once it authenticates this side moves to n + 1, for sending too.
//!   Such a datagram is considered only if this side has sealed one in phase n: an honest peer
//!   moves on only after receiving one, and a dishonest one cannot make this side derive keys
//!   faster than it sends.
//! - **Reordering.** A datagram of the other parity numbered below the first one of phase n is
//!   from phase n − 1 and is opened with the previous receive keys. They are kept until
//!   [`RETIRED_KEY_GRACE`] after the first datagram of phase n arrived, or until the next
//!   update; afterwards such a datagram is dropped unopened, as stale. At this layer there is no
//!   RTT estimate to scale the grace by (QUIC keeps old keys for three PTOs), so it is a fixed
//!   time, longer than any reordering a path inflicts on a live session.
//! - **Before the peer's first datagram of a phase.** A datagram of the other parity is tried
//!   with the previous keys, then with the next ones: the peer may have moved on to n + 1 with
//!   every datagram it sealed in n lost.
//!
//! At level `none` there is no key to wear out and nothing would authenticate a phase change,
//! so the phase stays 0 and a datagram of the other parity is dropped as forged.
//!
//! Sealing `interval` datagrams in a phase starts an update but does not stop a side that
//! cannot start one: while its peer is silent, the phase goes on. A sender cannot run far past
//! the interval that way, since without acknowledgements its congestion window closes, and a
//! receiver only answers what it receives.

use std::time::{Duration, Instant};

use super::protection::Drop;
use crate::crypto::aead::{CipherLevel, PacketKey};
use crate::crypto::handshake::SessionKeys;

/// Datagrams sealed in a key phase before the next one starts, unless configured otherwise:
/// half of AES-GCM's confidentiality limit of 2^23.
pub const DEFAULT_KEY_UPDATE_INTERVAL: u64 = 1 << 22;
/// How long the receive keys of the previous phase stay after the first datagram of the
/// current phase arrived.
pub const RETIRED_KEY_GRACE: Duration = Duration::from_secs(2);

/// The secrets of one phase and the packet keys derived from them.
#[derive(Debug)]
struct PhaseKeys {
    secrets: SessionKeys,
    send: PacketKey,
    recv: PacketKey,
}

impl PhaseKeys {
    fn new(secrets: SessionKeys) -> PhaseKeys {
        PhaseKeys {
            send: secrets.send_key(),
            recv: secrets.recv_key(),
            secrets,
        }
    }

    fn next(&self) -> PhaseKeys {
        PhaseKeys::new(self.secrets.next())
    }
}

/// The receive key of the previous phase, kept for reordered datagrams.
#[derive(Debug)]
struct Retired {
    recv: PacketKey,
    /// When it goes; `None` until the first datagram of the current phase arrives.
    until: Option<Instant>,
}

/// The keys of the current, previous and next phases, and when to move between them.
#[derive(Debug)]
pub struct KeyPhases {
    /// Number of the current phase: key updates so far.
    phase: u64,
    current: PhaseKeys,
    /// The keys of the next phase, derived in advance; `None` at level `none`.
    next: Option<PhaseKeys>,
    previous: Option<Retired>,
    /// Datagrams sealed in the current phase.
    sealed: u64,
    /// Packet number of the first datagram of the current phase received from the peer.
    first_received: Option<u64>,
    /// Datagrams sealed in a phase before the next one may start.
    interval: u64,
    /// A datagram's bytes, kept while a first attempt to open it may fail (opening a datagram
    /// in place destroys it on failure).
    scratch: Vec<u8>,
}

impl KeyPhases {
    /// Phase 0 with the handshake's `keys`; a new phase every `interval` datagrams sealed.
    pub fn new(keys: SessionKeys, interval: u64) -> KeyPhases {
        let current = PhaseKeys::new(keys);
        let next = (current.secrets.level != CipherLevel::None).then(|| current.next());
        KeyPhases {
            phase: 0,
            current,
            next,
            previous: None,
            sealed: 0,
            first_received: None,
            interval,
            scratch: Vec::new(),
        }
    }

    /// The cipher level of every phase.
    pub fn level(&self) -> CipherLevel {
        self.current.secrets.level
    }

    /// Key updates so far (the number of the current phase).
    pub fn updates(&self) -> u64 {
        self.phase
    }

    /// Bytes a sealed datagram carries after its payload.
    pub fn tag_len(&self) -> usize {
        self.current.send.tag_len()
    }

    /// The key-phase bit and key of the next datagram to seal, after moving to the next phase
    /// when it is due; counts the datagram as sealed.
    pub fn sealing_key(&mut self) -> (bool, &PacketKey) {
        if self.sealed >= self.interval && self.first_received.is_some() {
            self.advance(None);
        }
        self.sealed = self.sealed.saturating_add(1);
        (self.parity(), &self.current.send)
    }

    /// Opens the datagram `buf` numbered `pn`, whose header (`buf[..header_len]`) says it was
    /// sealed with key-phase bit `key_phase`, at `now`; returns the payload length. Moves to
    /// the next phase when the datagram proves the peer did.
    pub fn open(
        &mut self,
        now: Instant,
        pn: u64,
        key_phase: bool,
        buf: &mut [u8],
        header_len: usize,
    ) -> Result<usize, Drop> {
        if self
            .previous
            .as_ref()
            .is_some_and(|p| p.until.is_some_and(|until| now >= until))
        {
            self.previous = None;
        }
        if key_phase == self.parity() {
            let len = open(&self.current.recv, pn, buf, header_len)?;
            if self.first_received.is_none() {
                self.first_received = Some(pn);
                if let Some(previous) = self.previous.as_mut() {
                    previous.until = Some(now + RETIRED_KEY_GRACE);
                }
            }
            return Ok(len);
        }
        match self.first_received {
            Some(first) if pn >= first => self.open_next(now, pn, buf, header_len),
            Some(_) => self.open_previous(pn, buf, header_len),
            None => {
                self.scratch.clear();
                self.scratch.extend_from_slice(buf);
                self.open_previous(pn, buf, header_len).or_else(|_| {
                    buf.copy_from_slice(&self.scratch);
                    self.open_next(now, pn, buf, header_len)
                })
            }
        }
    }

    /// Opens a datagram of the previous phase, while its keys are kept.
    fn open_previous(&self, pn: u64, buf: &mut [u8], header_len: usize) -> Result<usize, Drop> {
        let previous = self.previous.as_ref().ok_or(Drop::Stale)?;
        open(&previous.recv, pn, buf, header_len)
    }

    /// Opens a datagram of the next phase, and moves to that phase when it authenticates.
    fn open_next(
        &mut self,
        now: Instant,
        pn: u64,
        buf: &mut [u8],
        header_len: usize,
    ) -> Result<usize, Drop> {
        let next = self.next.as_ref().filter(|_| self.sealed > 0);
        let len = open(&next.ok_or(Drop::Forged)?.recv, pn, buf, header_len)?;
        self.advance(Some((now, pn)));
        Ok(len)
    }

    /// Moves to the next phase: on sealing (`received` is `None`), or on receiving datagram
    /// `pn` of the next phase at `now`.
    fn advance(&mut self, received: Option<(Instant, u64)>) {
        let Some(next) = self.next.take() else {
            return;
        };
        let after = next.next();
        let retired = std::mem::replace(&mut self.current, next);
        self.next = Some(after);
        self.previous = Some(Retired {
            recv: retired.recv,
            until: received.map(|(now, _)| now + RETIRED_KEY_GRACE),
        });
        self.first_received = received.map(|(_, pn)| pn);
        self.sealed = 0;
        self.phase += 1;
    }

    /// The key-phase bit of the current phase.
    fn parity(&self) -> bool {
        self.phase % 2 == 1
    }
}

/// Opens `buf` with `key`; an authentication failure is a forgery.
fn open(key: &PacketKey, pn: u64, buf: &mut [u8], header_len: usize) -> Result<usize, Drop> {
    key.open(pn, buf, header_len).map_err(|_| Drop::Forged)
}
