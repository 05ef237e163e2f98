//! Admission of new sessions at a receiver's endpoint. A quiet receiver (fewer than
//! [`QUIET_HALF_OPEN`] sessions in their handshake, none of them the address's) admits a
//! ClientHello at once, a few a second in all ([`UNPROVEN_PER_SECOND`]): a new sender pays no
//! extra round trip. Otherwise a ClientHello starts a session only once its source address is
//! proven by a token — a Retry (smaller than the ClientHello it answers, sent only to the
//! datagram's source, a few a second to any one address) hands one out — and only while the
//! half-open sessions of that address, and in all, are under their limits. A flood of spoofed
//! ClientHellos thus costs the receiver a few key agreements a second at most and an HMAC and
//! at most a small datagram for each of the rest; it can neither fill the session table nor
//! turn the receiver into an amplifier (a ServerHello is no longer than the ClientHello it
//! answers, and only a whole ClientHello draws one).

use jetstream_wire::codec::{self, ConnectionId, DatagramKind, HANDSHAKE_HEADER_LEN};
use jetstream_wire::crypto::aead::CryptoError;
use jetstream_wire::crypto::token::{AddressTokens, Token, TOKEN_LEN};
use ring::rand::SecureRandom;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Most sessions still in their handshake at once.
pub const MAX_HALF_OPEN: usize = 256;
/// Most sessions one IP address has in their handshake at once.
pub const MAX_HALF_OPEN_PER_ADDRESS: usize = 8;
/// Length of a Retry datagram.
pub const RETRY_LEN: usize = HANDSHAKE_HEADER_LEN + TOKEN_LEN;
/// Most Retries sent to one IP address in a second: a real sender repeats its ClientHello a few
/// times a second at most, while each Retry sent costs the receiver a datagram.
pub const RETRIES_PER_ADDRESS_PER_SECOND: u16 = 8;
/// Sessions in their handshake below which a receiver is quiet: it admits a ClientHello
/// without a token, sparing a new sender the Retry's round trip.
pub const QUIET_HALF_OPEN: usize = 4;
/// Most ClientHellos admitted without a token in a second, from all addresses together: what
/// spoofed ones can cost in key agreements, whatever becomes of their sessions.
pub const UNPROVEN_PER_SECOND: u16 = 4;
/// Slots of the table that counts Retries per address (addresses share slots by hash).
const RETRY_SLOTS: usize = 1 << 16;

/// What the endpoint does with a ClientHello for a connection it does not serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The address is proven and there is room: start the session.
    Admit,
    /// Send this Retry datagram to the ClientHello's source.
    Retry([u8; RETRY_LEN]),
    /// Ignore it.
    Drop,
}

/// What the endpoint did with datagrams for connections it did not serve. Shared, so that a
/// caller can read it while the receiver runs.
#[derive(Debug, Default)]
pub struct AdmissionCounters {
    /// ClientHellos without a token, answered with a Retry.
    pub retries: AtomicU64,
    /// ClientHellos whose token was forged, expired, for another address or from before a
    /// restart, answered with a Retry too.
    pub bad_tokens: AtomicU64,
    /// ClientHellos left unanswered: their address had had its Retries for the second.
    pub retries_withheld: AtomicU64,
    /// ClientHellos from proven addresses refused because too many handshakes were open.
    pub over_limit: AtomicU64,
    /// Other datagrams dropped: malformed, or not a ClientHello.
    pub dropped: AtomicU64,
    /// Sessions started: the only datagrams that cost a key agreement and a signature.
    pub admitted: AtomicU64,
    /// Of those, the ones started without a token, by a quiet receiver.
    pub admitted_unproven: AtomicU64,
}

impl AdmissionCounters {
    fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The receiver's token key, limits and counters.
#[derive(Debug)]
pub struct Admission {
    tokens: AddressTokens,
    counters: Arc<AdmissionCounters>,
    /// Per slot (an address's hash): the second of its last Retry and the Retries in it.
    retries_sent: Box<[(u32, u16)]>,
    /// The second of the last session admitted without a token, and how many were in it.
    unproven: (u32, u16),
    hasher: RandomState,
    epoch: Instant,
}

impl Admission {
    /// A fresh token key.
    pub fn new(rng: &dyn SecureRandom) -> Result<Self, CryptoError> {
        let now = Instant::now();
        Ok(Admission {
            tokens: AddressTokens::new(rng, now)?,
            counters: Arc::default(),
            retries_sent: vec![(0, 0); RETRY_SLOTS].into_boxed_slice(),
            unproven: (0, 0),
            hasher: RandomState::new(),
            epoch: now,
        })
    }

    /// The counters, live.
    pub fn counters(&self) -> Arc<AdmissionCounters> {
        self.counters.clone()
    }

    /// The verdict on `datagram` from `peer`, for connection `cid` that has no session, given
    /// the half-open sessions of `peer`'s address and in all (`half_open(ip)` returns both).
    pub fn judge(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        cid: &ConnectionId,
        kind: DatagramKind,
        datagram: &[u8],
        half_open: impl FnOnce(IpAddr) -> (usize, usize),
    ) -> Verdict {
        let parts = codec::client_hello_parts(datagram);
        let Some((_, token)) = parts.filter(|_| kind == DatagramKind::ClientHello) else {
            AdmissionCounters::count(&self.counters.dropped);
            return Verdict::Drop;
        };
        let proven = self.tokens.validate(now, peer, cid, token);
        // A token from before a restart of this receiver, or another's, is as good as none, but
        // only a ClientHello without one may be admitted unproven.
        let unproven_allowed = token.is_empty() && self.unproven_left(now);
        if !proven && !unproven_allowed {
            return self.retry(now, peer, cid, token.is_empty());
        }
        let (of_address, total) = half_open(peer.ip());
        if !proven {
            if of_address > 0 || total >= QUIET_HALF_OPEN {
                return self.retry(now, peer, cid, true);
            }
            self.unproven.1 += 1;
            AdmissionCounters::count(&self.counters.admitted_unproven);
        } else if of_address >= MAX_HALF_OPEN_PER_ADDRESS || total >= MAX_HALF_OPEN {
            AdmissionCounters::count(&self.counters.over_limit);
            return Verdict::Drop;
        }
        AdmissionCounters::count(&self.counters.admitted);
        Verdict::Admit
    }

    /// The Retry that asks the sender at `peer` to prove its address, unless it had its
    /// Retries for this second.
    fn retry(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        cid: &ConnectionId,
        tokenless: bool,
    ) -> Verdict {
        if !self.may_retry(now, peer.ip()) {
            AdmissionCounters::count(&self.counters.retries_withheld);
            return Verdict::Drop;
        }
        let counter = if tokenless {
            &self.counters.retries
        } else {
            &self.counters.bad_tokens
        };
        AdmissionCounters::count(counter);
        let token = self.tokens.retry(now, peer, cid);
        let mut retry = [0u8; RETRY_LEN];
        // Invariant: RETRY_LEN is exactly a handshake header and a token.
        codec::encode_handshake(DatagramKind::Retry, cid, &token, &mut retry)
            .expect("a Retry fits RETRY_LEN bytes");
        Verdict::Retry(retry)
    }

    /// Whether another session may start without a token this second.
    fn unproven_left(&mut self, now: Instant) -> bool {
        let second = self.second(now);
        if self.unproven.0 != second {
            self.unproven = (second, 0);
        }
        self.unproven.1 < UNPROVEN_PER_SECOND
    }

    /// Seconds since the key was made; a receiver running for more than 136 years keeps its
    /// last second.
    fn second(&self, now: Instant) -> u32 {
        u32::try_from(now.saturating_duration_since(self.epoch).as_secs()).unwrap_or(u32::MAX)
    }

    /// Whether `ip` may have another Retry this second; counts it if so.
    fn may_retry(&mut self, now: Instant, ip: IpAddr) -> bool {
        let second = self.second(now);
        // The slot index is the hash modulo the table's length, so the cast never truncates.
        let slot = (self.hasher.hash_one(ip.to_canonical()) % RETRY_SLOTS as u64) as usize;
        let (last, sent) = &mut self.retries_sent[slot];
        if *last != second {
            (*last, *sent) = (second, 0);
        }
        *sent = sent.saturating_add(1);
        *sent <= RETRIES_PER_ADDRESS_PER_SECOND
    }

    /// The token an admitted sender at `ip` presents next time to skip the Retry.
    pub fn resumption_token(&self, now: Instant, ip: IpAddr) -> Token {
        self.tokens.resumption(now, ip)
    }
}
