//! Admission of new sessions at a receiver's endpoint. A ClientHello starts a session only once
//! its source address is proven by a token — a Retry (smaller than the ClientHello it answers,
//! sent only to the datagram's source, a few a second to any one address) hands one out — and
//! only while the half-open sessions of that address, and in all, are under their limits. Until
//! then the receiver keeps no session and does no asymmetric work for the address, so spoofed
//! ClientHellos cost it an HMAC and at most a small datagram each, and can neither fill its
//! session table nor turn it into an amplifier.

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
        if !self.tokens.validate(now, peer, cid, token) {
            // A token from before a restart of this receiver, or another's, is as good as
            // none: the sender is asked again.
            if !self.may_retry(now, peer.ip()) {
                AdmissionCounters::count(&self.counters.retries_withheld);
                return Verdict::Drop;
            }
            let counter = if token.is_empty() {
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
            return Verdict::Retry(retry);
        }
        let (of_address, total) = half_open(peer.ip());
        if of_address >= MAX_HALF_OPEN_PER_ADDRESS || total >= MAX_HALF_OPEN {
            AdmissionCounters::count(&self.counters.over_limit);
            return Verdict::Drop;
        }
        AdmissionCounters::count(&self.counters.admitted);
        Verdict::Admit
    }

    /// Whether `ip` may have another Retry this second; counts it if so.
    fn may_retry(&mut self, now: Instant, ip: IpAddr) -> bool {
        // A receiver running for more than 136 years keeps its last second.
        let second =
            u32::try_from(now.saturating_duration_since(self.epoch).as_secs()).unwrap_or(u32::MAX);
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
