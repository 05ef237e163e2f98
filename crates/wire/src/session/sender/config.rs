//! What the caller sets and reads of a sender session: its configuration, its events and its
//! counters.

use crate::codec::Auth;
use crate::crypto::aead::CipherLevel;
use crate::crypto::handshake::PublicKey;
use crate::crypto::token::Token;
use crate::files::Digest;
use crate::rate::{PathMemory, RateLimits, RatePolicy};
use crate::session::SessionError;
use std::time::Duration;

/// How a sender session behaves.
#[derive(Clone, Debug)]
pub struct SenderConfig {
    /// Datagram size to start with (UDP payload bytes), safe on any path it is meant for.
    pub max_datagram: usize,
    /// Largest datagram the path might carry; above `max_datagram`, the session probes for it
    /// (packetization-layer path MTU discovery, RFC 8899) and uses it once one is acknowledged.
    pub max_datagram_limit: usize,
    /// The lowest cipher level acceptable; the receiver may raise it.
    pub cipher: CipherLevel,
    /// The receiver's identity key, when it must be checked.
    pub expected_key: Option<PublicKey>,
    /// Credentials presented to the receiver.
    pub auth: Auth,
    /// Floor and cap of the sending rate, bytes per second.
    pub limits: RateLimits,
    /// `false` sends at `limits.max` (or `limits.min` without a cap) with no rate control.
    pub rate_control: bool,
    /// What rate control does with loss and shared queues.
    pub rate_policy: RatePolicy,
    /// What an earlier transfer measured about the path to this receiver: rate control starts
    /// from it (and checks it) instead of starting up.
    pub path_memory: Option<PathMemory>,
    /// Fail when the receiver has not been heard for this long.
    pub idle_timeout: Duration,
    /// The receiver's longest acknowledgement delay.
    pub max_ack_delay: Duration,
    /// Per file (in order), the bytes `0..n` already at the receiver from an earlier session
    /// of the same transfer: they count as acknowledged and are not sent. Empty: none.
    pub resume: Vec<u64>,
    /// A resumption token an earlier session to the same receiver was given
    /// ([`SenderEvent::NewToken`]): the ClientHello carries it and skips the retry.
    pub token: Option<Token>,
    /// Datagrams sealed under one key before the session moves to fresh keys.
    pub key_update_interval: u64,
    /// Whether a file's data waits for the receiver's answer to its FILE frame. Without a
    /// skip rule (and without a rule that keeps newer targets) every answer is "send": the
    /// data follows its FILE frame at once, a round trip earlier.
    pub await_answers: bool,
}

impl Default for SenderConfig {
    fn default() -> Self {
        SenderConfig {
            max_datagram: 1472,
            max_datagram_limit: 1472,
            cipher: CipherLevel::Aes128Gcm,
            expected_key: None,
            auth: Auth::default(),
            limits: RateLimits::default(),
            rate_control: true,
            rate_policy: RatePolicy::default(),
            path_memory: None,
            idle_timeout: Duration::from_secs(10),
            max_ack_delay: crate::session::receiver::DEFAULT_MAX_ACK_DELAY,
            resume: Vec::new(),
            token: None,
            key_update_interval: crate::session::DEFAULT_KEY_UPDATE_INTERVAL,
            await_answers: true,
        }
    }
}

/// What happened, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SenderEvent {
    /// The receiver proved its identity; keys are agreed.
    Connected {
        /// The receiver's identity key.
        peer: PublicKey,
        /// The agreed cipher level.
        cipher: CipherLevel,
    },
    /// The receiver accepted the credentials; data flows.
    Accepted,
    /// A file (or directory) is complete at the receiver: durable, verified and in place.
    FileComplete {
        /// The file.
        file: u32,
        /// The digest it was verified against (none for directories, empty files, transfers
        /// without verification, and files kept for being as new as the source).
        digest: Option<Digest>,
        /// The receiver already held it and wrote none of it (KEPT rather than PLACED).
        kept: bool,
    },
    /// The receiver confirmed every file is in place.
    Complete,
    /// The session failed.
    Failed(SessionError),
    /// The receiver handed out a resumption token: the next session to the same receiver
    /// presents it in [`SenderConfig::token`] and skips the address check's round trip.
    NewToken(Token),
    /// A PING was answered.
    Pong {
        /// The PING's id.
        id: u64,
        /// Time from PING to PONG.
        rtt: Duration,
    },
}

/// Counters and live figures of a sender session.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SenderStats {
    /// File bytes sent, repairs included.
    pub bytes_sent: u64,
    /// File bytes acknowledged.
    pub bytes_acked: u64,
    /// File bytes sent again after a loss.
    pub bytes_retransmitted: u64,
    /// Datagrams sent.
    pub packets_sent: u64,
    /// Datagrams declared lost.
    pub packets_lost: u64,
    /// Datagrams received and authenticated.
    pub packets_received: u64,
    /// Datagrams dropped: malformed, replayed or forged.
    pub packets_dropped: u64,
    /// Retry datagrams followed: the receiver asked the sender to prove its address.
    pub retries: u32,
    /// Entries complete at the receiver.
    pub files_complete: u32,
    /// Entries the receiver kept as they were (it held them, or newer ones): none of their
    /// data was sent, and none read unless digests were compared.
    pub files_skipped: u32,
    /// Sum of the sizes of those entries.
    pub bytes_skipped: u64,
    /// Smoothed RTT.
    pub rtt: Duration,
    /// Smallest RTT seen.
    pub min_rtt: Option<Duration>,
    /// Current pacing rate after caps, bytes per second.
    pub send_rate: u64,
    /// Bytes in flight.
    pub in_flight: u64,
    /// Key updates of the session, started by either side.
    pub key_updates: u64,
}
