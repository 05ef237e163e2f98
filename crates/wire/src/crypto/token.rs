//! Stateless address validation: tokens a receiver hands to an address and later checks without
//! having kept anything, so that it spends no asymmetric work and no memory on an address it
//! has not heard back from (QUIC's Retry and NEW_TOKEN, RFC 9000 §8.1).
//!
//! ```text
//! token = kind ‖ issued ‖ HMAC-SHA256(key, kind ‖ issued ‖ address ‖ cid)   (37 bytes)
//! ```
//!
//! `issued` is a big-endian u32 count of seconds since the key was made; the key is random and
//! lives as long as the receiver's process, so a restart invalidates every token (a sender then
//! pays one more round trip). A *retry* token (kind 0) answers a ClientHello that carried none:
//! it binds the whole source address (IP and port) and the connection id and is good for
//! [`RETRY_LIFETIME`]. A *resumption* token (kind 1) is handed to a sender inside an
//! established session, binds only the IP address (a sender's next session may use another
//! port) and no connection id, and is good for [`RESUMPTION_LIFETIME`], so reconnections and
//! later transfers skip the extra round trip.

use super::aead::CryptoError;
use crate::codec::{ConnectionId, CID_LEN};
use ring::hmac;
use ring::rand::SecureRandom;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Length of every token.
pub const TOKEN_LEN: usize = 1 + 4 + TAG_LEN;
/// How long a retry token is accepted.
pub const RETRY_LIFETIME: Duration = Duration::from_secs(10);
/// How long a resumption token is accepted.
pub const RESUMPTION_LIFETIME: Duration = Duration::from_secs(24 * 3600);

const TAG_LEN: usize = 32;
const KIND_RETRY: u8 = 0;
const KIND_RESUMPTION: u8 = 1;

/// An address token: `TOKEN_LEN` bytes.
pub type Token = [u8; TOKEN_LEN];

/// The receiver's token key and clock.
pub struct AddressTokens {
    key: hmac::Key,
    epoch: Instant,
}

impl std::fmt::Debug for AddressTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddressTokens").finish_non_exhaustive()
    }
}

impl AddressTokens {
    /// A fresh random key; tokens are dated from `now`.
    pub fn new(rng: &dyn SecureRandom, now: Instant) -> Result<Self, CryptoError> {
        let key = hmac::Key::generate(hmac::HMAC_SHA256, rng).map_err(|_| CryptoError::Rng)?;
        Ok(AddressTokens { key, epoch: now })
    }

    /// The token that makes `peer` prove it receives what is sent to it, for the handshake
    /// of connection `cid`.
    pub fn retry(&self, now: Instant, peer: SocketAddr, cid: &ConnectionId) -> Token {
        self.make(KIND_RETRY, self.seconds(now), &Input::retry(peer, cid))
    }

    /// The token a validated sender at `ip` presents to skip the retry next time.
    pub fn resumption(&self, now: Instant, ip: IpAddr) -> Token {
        self.make(KIND_RESUMPTION, self.seconds(now), &Input::resumption(ip))
    }

    /// Whether `token` was made by this key for `peer` (and, for a retry token, for `cid`)
    /// and is still within its lifetime.
    pub fn validate(
        &self,
        now: Instant,
        peer: SocketAddr,
        cid: &ConnectionId,
        token: &[u8],
    ) -> bool {
        let Ok(token) = <&Token>::try_from(token) else {
            return false;
        };
        let issued = u32::from_be_bytes([token[1], token[2], token[3], token[4]]);
        let (bound, lifetime) = match token[0] {
            KIND_RETRY => (Input::retry(peer, cid), RETRY_LIFETIME),
            KIND_RESUMPTION => (Input::resumption(peer.ip()), RESUMPTION_LIFETIME),
            _ => return false,
        };
        let age = u64::from(self.seconds(now).saturating_sub(issued));
        if issued > self.seconds(now) || age > lifetime.as_secs() {
            return false;
        }
        let message = Self::message(token[0], issued, &bound);
        hmac::verify(&self.key, &message.bytes[..message.len], &token[5..]).is_ok()
    }

    fn seconds(&self, now: Instant) -> u32 {
        // A receiver running for more than 136 years keeps its last second.
        u32::try_from(now.saturating_duration_since(self.epoch).as_secs()).unwrap_or(u32::MAX)
    }

    fn make(&self, kind: u8, issued: u32, bound: &Input) -> Token {
        let message = Self::message(kind, issued, bound);
        let tag = hmac::sign(&self.key, &message.bytes[..message.len]);
        let mut token = [0u8; TOKEN_LEN];
        token[0] = kind;
        token[1..5].copy_from_slice(&issued.to_be_bytes());
        token[5..].copy_from_slice(tag.as_ref());
        token
    }

    fn message(kind: u8, issued: u32, bound: &Input) -> Input {
        let mut message = Input::default();
        message.push(&[kind]);
        message.push(&issued.to_be_bytes());
        message.push(&bound.bytes[..bound.len]);
        message
    }
}

/// What a token is bound to, laid out without ambiguity: an address family tag, the IP, and
/// for retry tokens the port and connection id.
struct Input {
    bytes: [u8; 64],
    len: usize,
}

impl Default for Input {
    fn default() -> Self {
        Input {
            bytes: [0; 64],
            len: 0,
        }
    }
}

impl Input {
    fn retry(peer: SocketAddr, cid: &ConnectionId) -> Input {
        let mut bound = Input::resumption(peer.ip());
        bound.push(&peer.port().to_be_bytes());
        bound.push(cid);
        bound
    }

    fn resumption(ip: IpAddr) -> Input {
        let mut bound = Input::default();
        // A dual-stack socket reports IPv4 senders as IPv4-mapped IPv6 addresses.
        match ip.to_canonical() {
            IpAddr::V4(v4) => {
                bound.push(&[4]);
                bound.push(&v4.octets());
            }
            IpAddr::V6(v6) => {
                bound.push(&[6]);
                bound.push(&v6.octets());
            }
        }
        bound
    }

    fn push(&mut self, bytes: &[u8]) {
        // The largest message is 1 + 4 + 1 + 16 + 2 + CID_LEN bytes.
        const { assert!(1 + 4 + 1 + 16 + 2 + CID_LEN <= 64) };
        self.bytes[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;

    fn tokens(now: Instant) -> AddressTokens {
        AddressTokens::new(&SystemRandom::new(), now).expect("randomness")
    }

    const CID: ConnectionId = [7; CID_LEN];

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("address")
    }

    #[test]
    fn a_retry_token_is_good_only_for_its_address_port_and_connection() {
        let now = Instant::now();
        let t = tokens(now);
        let token = t.retry(now, addr("192.0.2.1:4000"), &CID);
        assert!(t.validate(now, addr("192.0.2.1:4000"), &CID, &token));
        assert!(!t.validate(now, addr("192.0.2.2:4000"), &CID, &token));
        assert!(!t.validate(now, addr("192.0.2.1:4001"), &CID, &token));
        assert!(!t.validate(now, addr("192.0.2.1:4000"), &[8; CID_LEN], &token));
    }

    #[test]
    fn a_resumption_token_binds_the_ip_alone() {
        let now = Instant::now();
        let t = tokens(now);
        let token = t.resumption(now, addr("[2001:db8::1]:1").ip());
        assert!(t.validate(now, addr("[2001:db8::1]:9"), &[1; CID_LEN], &token));
        assert!(!t.validate(now, addr("[2001:db8::2]:9"), &CID, &token));
    }

    #[test]
    fn ipv4_mapped_addresses_are_the_same_sender() {
        let now = Instant::now();
        let t = tokens(now);
        let token = t.retry(now, addr("192.0.2.1:4000"), &CID);
        assert!(t.validate(now, addr("[::ffff:192.0.2.1]:4000"), &CID, &token));
    }

    #[test]
    fn tokens_expire_and_are_never_accepted_from_the_future() {
        let start = Instant::now();
        let t = tokens(start);
        let peer = addr("192.0.2.1:4000");
        let retry = t.retry(start, peer, &CID);
        let later = start + RETRY_LIFETIME + Duration::from_secs(1);
        assert!(t.validate(start + RETRY_LIFETIME, peer, &CID, &retry));
        assert!(!t.validate(later, peer, &CID, &retry));
        let resumption = t.resumption(later, peer.ip());
        assert!(!t.validate(start, peer, &CID, &resumption));
        assert!(t.validate(later + RESUMPTION_LIFETIME, peer, &CID, &resumption));
        assert!(!t.validate(
            later + RESUMPTION_LIFETIME + Duration::from_secs(1),
            peer,
            &CID,
            &resumption
        ));
    }

    #[test]
    fn forged_truncated_and_foreign_tokens_are_refused() {
        let now = Instant::now();
        let (t, other) = (tokens(now), tokens(now));
        let peer = addr("192.0.2.1:4000");
        let mut token = t.retry(now, peer, &CID);
        assert!(!other.validate(now, peer, &CID, &token));
        assert!(!t.validate(now, peer, &CID, &token[..TOKEN_LEN - 1]));
        assert!(!t.validate(now, peer, &CID, &[]));
        token[TOKEN_LEN - 1] ^= 1;
        assert!(!t.validate(now, peer, &CID, &token));
        let mut kind = t.retry(now, peer, &CID);
        kind[0] = 9;
        assert!(!t.validate(now, peer, &CID, &kind));
    }
}
