//! The sending side of a session: handshake as initiator, then the transfer — the TRANSFER
//! header, the entries' FILE frames up to [`ANNOUNCE_AHEAD`] ahead of the data, and each file's
//! bytes once the receiver answered its FILE frame (ANSWERS: send it, it is kept, or check its
//! digest; a file kept costs no byte of data and is never read), at the paced rate without
//! waiting for acknowledgements, repair of exactly what was lost before any new data, each
//! file's DIGEST once it has been read, and the closing DONE/RESULT exchange that confirms
//! every file is in place. The first flight leaves right behind the ClientFinish, without
//! waiting a round trip for the receiver's ACCEPT: the receiver holds what comes before its
//! verdict on the sender's credentials (an ACK, like the ACCEPT, says the verdict was yes).
//!
//! Acknowledged bytes (ACK) drive repair; the receiver's DURABLE and PLACED frames say what is
//! on its stable storage, which is all a checkpoint may keep ([`SenderSession::durable`]). A
//! MISSING frame takes bytes back from the acknowledged set: the receiver could not confirm
//! a resume claim, or a file's digest did not match.

use super::recovery::{Content, ControlItem, Recovery};
use super::{ErrorCode, Protection, SessionError, HANDSHAKE_RTO, MAX_HANDSHAKE_RTO};
use crate::codec::{
    self, Answer, Auth, ConnectionId, DatagramKind, Frame, Frames, Header, DATA_FRAME_OVERHEAD,
    HANDSHAKE_HEADER_LEN, PROTECTED_HEADER_LEN,
};
use crate::crypto::aead::CipherLevel;
use crate::crypto::handshake::{Identity, Initiator, PublicKey};
use crate::crypto::token::{Token, TOKEN_LEN};
use crate::files::{DataSource, Digest, EntryKind, FileMeta, TransferHeader};
use crate::ranges::RangeSet;
use crate::rate::delivery::DeliverySampler;
use crate::rate::model::ModelController;
use crate::rate::pacer::Pacer;
use crate::rate::{FixedController, PathMemory, RateController, RateLimits, RatePolicy};
use ring::rand::SecureRandom;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// The longest burst of acknowledgements the window allows for.
const ACK_AGGREGATION: Duration = Duration::from_millis(4);
/// The longest an established session stays silent with nothing in flight (while suspended,
/// for one): a PING then keeps both ends from timing out. Never more than a third of the idle
/// timeout.
const KEEPALIVE: Duration = Duration::from_secs(1);
/// How soon a digest still being computed is asked for again.
const DIGEST_POLL: Duration = Duration::from_millis(5);
/// Digests wait for this many to share a datagram while new data is still being sent...
const DIGEST_BATCH: usize = 32;
/// ...but no longer than this: a file is complete only once its digest arrives.
const DIGEST_DELAY: Duration = Duration::from_millis(2);
/// Most Retry datagrams one handshake follows; a receiver asks once.
const MAX_RETRIES: u32 = 3;
/// How many entries are announced ahead of the one whose data goes out: the receiver answers
/// them while data flows, so a tree of unchanged files costs round trips by the thousand
/// files, not one each.
const ANNOUNCE_AHEAD: u32 = 4096;
/// Most FILE frames announced again at once when their answers were lost.
const REANNOUNCE: usize = 1024;

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
            max_ack_delay: super::receiver::DEFAULT_MAX_ACK_DELAY,
            resume: Vec::new(),
            token: None,
            key_update_interval: super::DEFAULT_KEY_UPDATE_INTERVAL,
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

#[derive(Debug)]
enum State {
    /// ClientHello sent, waiting for ServerHello.
    Hello {
        initiator: Initiator,
        hello: Vec<u8>,
    },
    /// ClientFinish sent, waiting for ACCEPT.
    Finish { finish: Vec<u8> },
    /// Data flows.
    Established,
    /// Over: complete or failed.
    Closed,
}

/// Path MTU probing: the sizes still to try, largest first, and the tries of the current one.
#[derive(Debug)]
struct MtuSearch {
    candidates: Vec<usize>,
    tries: u32,
    in_flight: bool,
}

impl MtuSearch {
    /// A probe size is given up after this many losses.
    const TRIES: u32 = 2;
    /// The jumbo-frame payload, tried when the largest size fails.
    const JUMBO: usize = 8972;

    fn new(base: usize, limit: usize) -> Self {
        let mut candidates = vec![Self::JUMBO, limit];
        candidates.retain(|&c| c > base && c <= limit);
        candidates.dedup();
        MtuSearch {
            candidates,
            tries: 0,
            in_flight: false,
        }
    }

    fn next_size(&self) -> Option<usize> {
        (!self.in_flight)
            .then(|| self.candidates.last().copied())
            .flatten()
    }

    fn on_lost(&mut self) {
        self.in_flight = false;
        self.tries += 1;
        if self.tries >= Self::TRIES {
            self.candidates.pop();
            self.tries = 0;
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Done {
    NotYet,
    Sent { resend_at: Instant },
    Confirmed,
}

/// How the receiver reported a file complete.
#[derive(Clone, Copy, Debug)]
enum Placed {
    /// Written by this transfer (PLACED, or every file at the final RESULT).
    Written,
    /// Already held (KEPT); `verified` when its bytes were checked to be the sender's.
    Kept { verified: bool },
}

/// The bytes of `file` already at the receiver when the session starts (see
/// [`SenderConfig::resume`]).
fn resumed(config: &SenderConfig, files: &[FileMeta], file: u32) -> u64 {
    let size = files.get(file as usize).map_or(0, |f| f.size);
    config.resume.get(file as usize).map_or(0, |&n| n.min(size))
}

/// The rate controller of a session: model-based under the configured policy, or fixed at
/// `fixed` bytes per second.
fn controller_for(
    fixed: Option<u64>,
    config: &SenderConfig,
    datagram: usize,
) -> Box<dyn RateController> {
    match fixed {
        None => Box::new(ModelController::with(
            datagram,
            config.rate_policy,
            config.path_memory,
        )),
        Some(rate) => Box::new(FixedController::new(rate)),
    }
}

/// A session sending one transfer.
#[derive(Debug)]
pub struct SenderSession {
    cid: ConnectionId,
    config: SenderConfig,
    state: State,
    handshake_resend_at: Instant,
    handshake_rto: Duration,
    protection: Option<Protection>,
    /// The receiver's identity key, once its ServerHello is verified.
    receiver_key: Option<PublicKey>,
    header: TransferHeader,
    files: Vec<FileMeta>,
    /// Position of each file's first byte in the transfer's byte space.
    bases: Vec<u64>,
    acked: RangeSet,
    /// Bytes on the receiver's stable storage, by its DURABLE, PLACED and KEPT frames.
    durable: RangeSet,
    meta_acked: RangeSet,
    /// Entries whose FILE frame the receiver answered: only their data is sent.
    answered: RangeSet,
    /// When FILE frames acknowledged but not answered are announced again (their answers
    /// may have been lost).
    reannounce_at: Option<Instant>,
    /// Entries the receiver holds a copy of to check against their digest (answered CHECK).
    checking: RangeSet,
    /// Bytes of the transfer never sent yet that a MISSING frame asked for (a copy that
    /// failed its check): sending them is no repair.
    unsent: RangeSet,
    /// Entries whose bytes, FILE frame and digest are all acknowledged.
    delivered: RangeSet,
    /// Entries the receiver reported complete.
    placed: RangeSet,
    transfer_acked: bool,
    /// Digests read, kept until their file is placed.
    digests: HashMap<u32, Digest>,
    digest_acked: RangeSet,
    /// The next file whose digest is to be asked of the source.
    digest_next: u32,
    /// When a digest still being computed is asked for again.
    digest_retry_at: Option<Instant>,
    /// When the oldest digest waiting to share a datagram was queued.
    digest_queued_at: Option<Instant>,
    control: VecDeque<ControlItem>,
    meta_next: u32,
    /// Ranges of the transfer's bytes to send again, oldest loss first.
    repair: VecDeque<std::ops::Range<u64>>,
    cursor_file: u32,
    cursor_offset: u64,
    done: Done,
    recovery: Recovery,
    sampler: DeliverySampler,
    controller: Box<dyn RateController>,
    pacer: Pacer,
    next_send_at: Option<Instant>,
    /// Size of the datagrams sent now.
    datagram: usize,
    mtu: MtuSearch,
    probe_pending: bool,
    close_pending: Option<(ErrorCode, String, Option<u32>)>,
    pings: VecDeque<(u64, Option<Instant>)>,
    suspended: bool,
    last_recv: Instant,
    /// When the last ack-eliciting datagram went out.
    last_sent: Instant,
    events: VecDeque<SenderEvent>,
    stats: SenderStats,
}

impl SenderSession {
    /// Starts a session for `files`, described to the receiver by `header`. The first datagram
    /// (the ClientHello) is ready from `poll_transmit` at once.
    pub fn new(
        now: Instant,
        rng: &dyn SecureRandom,
        identity: &Identity,
        config: SenderConfig,
        header: TransferHeader,
        files: Vec<FileMeta>,
    ) -> Result<SenderSession, SessionError> {
        let internal = |what: &str| SessionError::local(ErrorCode::Internal, what.to_string());
        let mut cid = [0u8; codec::CID_LEN];
        rng.fill(&mut cid).map_err(|_| internal("no randomness"))?;
        let (initiator, hello) = Initiator::start(rng, identity, config.cipher)
            .map_err(|e| internal(&format!("handshake: {e}")))?;
        if u32::try_from(files.len()).is_err() {
            return Err(SessionError::local(
                ErrorCode::Internal,
                "too many files in one transfer",
            ));
        }
        let answered = match config.await_answers {
            true => RangeSet::new(),
            false => std::iter::once(0..files.len() as u64).collect(),
        };
        let mut bases = Vec::with_capacity(files.len());
        let mut total = 0u64;
        for f in &files {
            bases.push(total);
            total = total
                .checked_add(f.size)
                .ok_or_else(|| internal("the files add up to more than 2^64 bytes"))?;
        }
        // What an earlier session left at the receiver counts as acknowledged from the start.
        let mut acked = RangeSet::new();
        for (file, &base) in (0u32..).zip(&bases) {
            let done = resumed(&config, &files, file);
            if done > 0 {
                acked.insert(base..base + done);
            }
        }
        let first_offset = resumed(&config, &files, 0);
        let header = TransferHeader {
            total_files: files.len() as u32,
            total_bytes: total,
            ..header
        };
        let fixed = (!config.rate_control).then(|| config.limits.max.unwrap_or(config.limits.min));
        let controller = controller_for(fixed, &config, config.max_datagram);
        Ok(SenderSession {
            cid,
            state: State::Hello { initiator, hello },
            handshake_resend_at: now,
            handshake_rto: HANDSHAKE_RTO,
            protection: None,
            receiver_key: None,
            header,
            files,
            bases,
            acked,
            durable: RangeSet::new(),
            meta_acked: RangeSet::new(),
            answered,
            reannounce_at: None,
            checking: RangeSet::new(),
            unsent: RangeSet::new(),
            delivered: RangeSet::new(),
            placed: RangeSet::new(),
            transfer_acked: false,
            digests: HashMap::new(),
            digest_acked: RangeSet::new(),
            digest_next: 0,
            digest_retry_at: None,
            digest_queued_at: None,
            control: VecDeque::from([ControlItem::Transfer]),
            meta_next: 0,
            repair: VecDeque::new(),
            cursor_file: 0,
            cursor_offset: first_offset,
            done: Done::NotYet,
            recovery: Recovery::new(0),
            sampler: DeliverySampler::new(),
            controller,
            pacer: Pacer::new(config.max_datagram),
            next_send_at: None,
            datagram: config.max_datagram,
            mtu: MtuSearch::new(config.max_datagram, config.max_datagram_limit),
            probe_pending: false,
            close_pending: None,
            pings: VecDeque::new(),
            suspended: false,
            last_recv: now,
            last_sent: now,
            events: VecDeque::new(),
            stats: SenderStats::default(),
            config,
        })
    }

    /// The size of the datagrams sent now: full data datagrams have exactly this length.
    pub fn max_datagram(&self) -> usize {
        self.datagram
    }

    /// The path refused a datagram as too large: go back to the starting size.
    pub fn on_datagram_too_large(&mut self) {
        if self.datagram > self.config.max_datagram {
            self.datagram = self.config.max_datagram;
            self.pacer = Pacer::new(self.datagram);
            self.controller.set_max_datagram(self.datagram);
        }
        self.mtu.candidates.clear();
    }

    /// The connection id the receiver demultiplexes this session by.
    pub fn connection_id(&self) -> ConnectionId {
        self.cid
    }

    /// The receiver's identity key, once its ServerHello is verified. Known before the
    /// ClientFinish (which carries the credentials) leaves: a caller that checks it before its
    /// next [`SenderSession::poll_transmit`], and closes the session if it does not trust the
    /// key, sends that receiver neither credentials nor file data.
    pub fn receiver_key(&self) -> Option<PublicKey> {
        self.receiver_key
    }

    /// The transfer header as sent (with totals filled in).
    pub fn header(&self) -> &TransferHeader {
        &self.header
    }

    /// Live counters.
    pub fn stats(&self) -> SenderStats {
        SenderStats {
            rtt: self.recovery.rtt().smoothed(),
            min_rtt: self.recovery.rtt().min(),
            send_rate: self.rate(),
            in_flight: self.recovery.in_flight(),
            bytes_acked: self.acked.len(),
            files_complete: self.placed.len() as u32,
            key_updates: self.protection.as_ref().map_or(0, |p| p.key_updates()),
            ..self.stats.clone()
        }
    }

    /// What rate control measured about the path so far (bottleneck rate, min RTT, loss), for
    /// the caller to keep per destination and pass to the next session's
    /// [`SenderConfig::path_memory`]; `None` until it measured anything worth keeping.
    pub fn path_memory(&self) -> Option<PathMemory> {
        self.controller.path_memory()
    }

    /// The byte ranges of the transfer the receiver acknowledged (files laid end to end in
    /// order).
    pub fn acked(&self) -> &RangeSet {
        &self.acked
    }

    /// The byte ranges of the transfer on the receiver's stable storage (files laid end to
    /// end in order): what a checkpoint may keep.
    pub fn durable(&self) -> &RangeSet {
        &self.durable
    }

    /// The indices of the entries complete at the receiver.
    pub fn complete_files(&self) -> &RangeSet {
        &self.placed
    }

    /// Whether the session is over (complete or failed).
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed) && self.close_pending.is_none()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<SenderEvent> {
        self.events.pop_front()
    }

    /// Stops sending file data (control frames and keep-alives continue).
    pub fn suspend(&mut self) {
        self.suspended = true;
    }

    /// Sends file data again after [`SenderSession::suspend`].
    pub fn resume(&mut self) {
        self.suspended = false;
    }

    /// New floor and cap of the sending rate.
    pub fn set_limits(&mut self, limits: RateLimits) {
        self.config.limits = limits;
    }

    /// Turns rate control on (`None`: the model-based controller, starting afresh) or off
    /// (`Some(rate)`: a fixed rate in bytes per second, still within the limits). Nothing
    /// changes if the session already runs that way.
    pub fn set_fixed_rate(&mut self, fixed: Option<u64>) {
        let current = (!self.config.rate_control).then(|| self.controller.pacing_rate());
        if current == fixed {
            return;
        }
        self.config.rate_control = fixed.is_none();
        self.controller = controller_for(fixed, &self.config, self.datagram);
    }

    /// Sends a PING; its PONG gives a [`SenderEvent::Pong`].
    pub fn ping(&mut self, id: u64) {
        self.pings.push_back((id, None));
    }

    /// Ends the session at once, telling the receiver why.
    pub fn close(&mut self, code: ErrorCode, message: impl Into<String>) {
        if !matches!(self.state, State::Closed) {
            let message = message.into();
            self.fail(SessionError::local(code, message));
        }
    }

    /// The most bytes in flight: the controller's window, but never less than what the current
    /// rate sends in [`ACK_AGGREGATION`], since ACKs arrive in bursts (receive batching, GRO)
    /// and a window smaller than one burst would stall the sender between them.
    fn window(&self) -> u64 {
        let burst = u128::from(self.rate()) * ACK_AGGREGATION.as_nanos() / 1_000_000_000;
        self.controller
            .window()
            .max(u64::try_from(burst).unwrap_or(u64::MAX))
    }

    fn rate(&self) -> u64 {
        self.config.limits.clamp(self.controller.pacing_rate())
    }

    fn fail(&mut self, error: SessionError) {
        if matches!(self.state, State::Established | State::Finish { .. }) && !error.remote {
            self.close_pending = Some((error.code, error.message.clone(), error.file));
        }
        self.state = State::Closed;
        self.events.push_back(SenderEvent::Failed(error));
    }

    /// When `handle_timeout` must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_closed() {
            return None;
        }
        let idle = self.last_recv + self.config.idle_timeout;
        let mut t = match self.state {
            State::Hello { .. } | State::Finish { .. } => self.handshake_resend_at.min(idle),
            _ => idle,
        };
        let mut consider = |x: Option<Instant>| {
            if let Some(x) = x {
                t = t.min(x);
            }
        };
        if matches!(self.state, State::Finish { .. }) {
            consider(self.next_send_at);
        }
        if matches!(self.state, State::Established) {
            consider(self.recovery.loss_time());
            consider(self.recovery.pto_deadline(self.config.max_ack_delay));
            consider(self.next_send_at);
            consider(self.keepalive_at());
            consider(self.digest_retry_at);
            consider(self.reannounce_at);
            if let Done::Sent { resend_at } = self.done {
                consider(Some(resend_at));
            }
        }
        Some(t)
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if matches!(self.state, State::Closed) {
            return;
        }
        if now >= self.last_recv + self.config.idle_timeout {
            let secs = self.config.idle_timeout.as_secs_f64();
            let message = match self.state {
                State::Hello { .. } => format!("receiver did not answer within {secs:.0} s"),
                _ => format!("receiver stopped answering for {secs:.0} s"),
            };
            self.fail(SessionError::local(ErrorCode::TimedOut, message));
            return;
        }
        if !matches!(self.state, State::Established) {
            return;
        }
        if self.recovery.loss_time().is_some_and(|t| now >= t) {
            let lost = self.recovery.on_loss_timeout(now);
            self.on_lost(now, lost);
        }
        if self
            .recovery
            .pto_deadline(self.config.max_ack_delay)
            .is_some_and(|t| now >= t)
        {
            self.recovery.on_pto();
            self.probe_pending = true;
        }
        if self.keepalive_at().is_some_and(|t| now >= t) {
            self.probe_pending = true;
        }
        if self.reannounce_at.is_some_and(|t| now >= t) {
            let unanswered = self.unanswered(REANNOUNCE);
            self.control
                .extend(unanswered.iter().map(|&file| ControlItem::Meta(file)));
            self.arm_reannounce(now);
        }
        if let Done::Sent { resend_at } = self.done {
            if now >= resend_at {
                self.done = Done::NotYet;
            }
        }
    }

    /// When a keep-alive PING is due: an established session with nothing in flight (so no
    /// acknowledgement to wait for) that has been silent too long.
    fn keepalive_at(&self) -> Option<Instant> {
        let quiet = matches!(self.state, State::Established)
            && self.recovery.in_flight() == 0
            && !self.probe_pending;
        quiet.then(|| self.last_sent + KEEPALIVE.min(self.config.idle_timeout / 3))
    }

    /// Processes one received datagram (modified in place while it is opened).
    pub fn handle_datagram(&mut self, now: Instant, datagram: &mut [u8]) {
        let header = match Header::decode(datagram) {
            Ok(h) if h.cid() == self.cid => h,
            _ => {
                self.stats.packets_dropped += 1;
                return;
            }
        };
        match (&self.state, header) {
            (
                State::Hello { .. },
                Header::Handshake {
                    kind: DatagramKind::ServerHello,
                    ..
                },
            ) => self.on_server_hello(now, &datagram[HANDSHAKE_HEADER_LEN..]),
            (
                State::Hello { .. },
                Header::Handshake {
                    kind: DatagramKind::Retry,
                    ..
                },
            ) => self.on_retry(now, &datagram[HANDSHAKE_HEADER_LEN..]),
            (State::Finish { .. } | State::Established, Header::Protected { .. }) => {
                self.on_protected(now, datagram)
            }
            _ => self.stats.packets_dropped += 1,
        }
    }

    /// The receiver wants the sender to prove its address: the ClientHello goes again at once,
    /// carrying `token`. A handshake follows a few Retries at most, so that forged ones cannot
    /// keep it going for ever.
    fn on_retry(&mut self, now: Instant, token: &[u8]) {
        match Token::try_from(token) {
            Ok(token) if self.stats.retries < MAX_RETRIES => {
                self.stats.retries += 1;
                self.config.token = Some(token);
                self.handshake_resend_at = now;
            }
            _ => self.stats.packets_dropped += 1,
        }
    }

    fn on_server_hello(&mut self, now: Instant, message: &[u8]) {
        let State::Hello { initiator, .. } = &self.state else {
            return;
        };
        let Some(auth) = self.config.auth.encode() else {
            self.fail(SessionError::local(
                ErrorCode::AuthFailed,
                "credentials are too long",
            ));
            return;
        };
        match initiator.finish(message, self.config.expected_key.as_ref(), &auth) {
            Ok((keys, peer, finish)) => {
                let cipher = keys.level;
                self.protection = Some(Protection::new(
                    self.cid,
                    keys,
                    self.config.key_update_interval,
                ));
                self.receiver_key = Some(peer);
                self.state = State::Finish { finish };
                self.handshake_resend_at = now;
                self.handshake_rto = HANDSHAKE_RTO;
                self.last_recv = now;
                self.stats.packets_received += 1;
                self.events
                    .push_back(SenderEvent::Connected { peer, cipher });
            }
            Err(crate::crypto::aead::CryptoError::KeyMismatch) => {
                let expected = self
                    .config
                    .expected_key
                    .map(|k| k.to_string())
                    .unwrap_or_default();
                self.fail(SessionError::local(
                    ErrorCode::AuthFailed,
                    format!("receiver's key does not match the expected key {expected}"),
                ));
            }
            // Forged or corrupted: ignore it, the genuine answer may still come.
            Err(_) => self.stats.packets_dropped += 1,
        }
    }

    /// The receiver accepted the sender's credentials.
    fn on_accepted(&mut self) {
        if !matches!(self.state, State::Finish { .. }) {
            return;
        }
        self.state = State::Established;
        self.events.push_back(SenderEvent::Accepted);
    }

    fn on_protected(&mut self, now: Instant, datagram: &mut [u8]) {
        let Some(protection) = self.protection.as_mut() else {
            return;
        };
        let Ok((_, payload)) = protection.open(now, datagram) else {
            self.stats.packets_dropped += 1;
            return;
        };
        self.stats.packets_received += 1;
        self.last_recv = now;
        for frame in Frames::new(&datagram[payload]) {
            let frame = match frame {
                Ok(f) => f,
                Err(e) => {
                    self.protocol_error(format!("bad frame from receiver: {e}"));
                    return;
                }
            };
            match frame {
                Frame::Accept => self.on_accepted(),
                Frame::Ack { delay_us, ranges } => {
                    // Only an accepting receiver acknowledges: its ACCEPT was lost.
                    self.on_accepted();
                    if matches!(self.state, State::Established) {
                        self.on_ack(now, &ranges, Duration::from_micros(delay_us.into()));
                    }
                }
                Frame::Result { code, message } => {
                    if self.done == Done::Confirmed || matches!(self.state, State::Closed) {
                        continue;
                    }
                    if code == ErrorCode::Ok as u8 {
                        // Every file is in place: those whose PLACED was lost too.
                        for file in 0..self.files.len() as u32 {
                            self.mark_placed(file, Placed::Written);
                        }
                        self.done = Done::Confirmed;
                        self.state = State::Closed;
                        // Lets the receiver stop lingering at once; harmless if lost.
                        self.close_pending = Some((ErrorCode::Ok, "complete".into(), None));
                        self.events.push_back(SenderEvent::Complete);
                    } else {
                        self.fail(SessionError {
                            code: ErrorCode::from_u8(code),
                            message,
                            remote: true,
                            file: None,
                        });
                    }
                }
                Frame::Close {
                    code,
                    message,
                    file,
                } => {
                    if !matches!(self.state, State::Closed) {
                        self.fail(SessionError {
                            code: ErrorCode::from_u8(code),
                            message,
                            remote: true,
                            file,
                        });
                    }
                    return;
                }
                Frame::Pong { id } => {
                    if let Some(i) = self.pings.iter().position(|p| p.0 == id) {
                        if let (_, Some(sent)) = self.pings[i] {
                            self.pings.remove(i);
                            self.events.push_back(SenderEvent::Pong {
                                id,
                                rtt: now.saturating_duration_since(sent),
                            });
                        }
                    }
                }
                Frame::Durable { file, bytes } => {
                    let Some(range) = self.file_range(file, 0..bytes) else {
                        self.protocol_error(format!("DURABLE beyond file {file}"));
                        return;
                    };
                    self.durable.insert(range.clone());
                    self.acked.insert(range);
                    self.check_delivered(file);
                }
                Frame::Placed { file } | Frame::Kept { file, .. } => {
                    let Some(range) = self.file_range(file, 0..self.file_size(file)) else {
                        self.protocol_error(format!("PLACED or KEPT for unknown file {file}"));
                        return;
                    };
                    self.durable.insert(range);
                    let placed = match frame {
                        Frame::Kept { verified, .. } => Placed::Kept { verified },
                        _ => Placed::Written,
                    };
                    self.mark_placed(file, placed);
                }
                Frame::Missing { file, range } => {
                    let Some(range) = self.file_range(file, range) else {
                        self.protocol_error(format!("MISSING beyond file {file}"));
                        return;
                    };
                    self.on_missing(file, range);
                }
                Frame::NewToken(token) => self.events.push_back(SenderEvent::NewToken(token)),
                Frame::Answers { first, answers } => {
                    if u64::from(first) + answers.len() as u64 > self.files.len() as u64 {
                        self.protocol_error(format!("ANSWERS beyond file {first}"));
                        return;
                    }
                    for (file, answer) in (first..).zip(answers) {
                        self.on_answer(file, answer);
                    }
                    if self.unanswered(1).is_empty() {
                        self.reannounce_at = None;
                    }
                }
                Frame::Ping { .. } | Frame::Padding(_) => {}
                other => {
                    self.protocol_error(format!("unexpected frame from receiver: {other:?}"));
                    return;
                }
            }
        }
    }

    fn protocol_error(&mut self, message: String) {
        self.fail(SessionError::local(ErrorCode::Protocol, message));
    }

    fn on_ack(&mut self, now: Instant, ranges: &[std::ops::Range<u64>], delay: Duration) {
        let outcome = self.recovery.on_ack(now, ranges, delay);
        let mut acked_bytes = 0u64;
        for (content, state, size) in outcome.acked {
            self.sampler.on_acked(now, &state, u64::from(size));
            acked_bytes += u64::from(size);
            match content {
                Content::Data { start, len, .. } => {
                    self.acked.insert(start..start + u64::from(len));
                    let first = self.file_at(start);
                    let last = self.file_at(start + u64::from(len) - 1);
                    for file in first..=last {
                        self.check_delivered(file);
                    }
                }
                Content::Control(items) => {
                    for item in items.iter() {
                        match *item {
                            ControlItem::Transfer => self.transfer_acked = true,
                            ControlItem::Meta(file) => {
                                self.meta_acked.insert(u64::from(file)..u64::from(file) + 1);
                                self.check_delivered(file);
                                if self.reannounce_at.is_none()
                                    && !self.answered.contains(u64::from(file))
                                {
                                    self.arm_reannounce(now);
                                }
                            }
                            ControlItem::Digest(file) => {
                                self.digest_acked
                                    .insert(u64::from(file)..u64::from(file) + 1);
                                self.check_delivered(file);
                            }
                        }
                    }
                }
                Content::MtuProbe(size) => {
                    self.mtu.in_flight = false;
                    self.mtu.candidates.retain(|&c| c > size);
                    if size > self.datagram {
                        self.datagram = size;
                        self.pacer = Pacer::new(size);
                        self.controller.set_max_datagram(size);
                    }
                }
                Content::Probe => {}
            }
        }
        let lost_bytes: u64 = outcome.lost.iter().map(|(_, size)| u64::from(*size)).sum();
        if outcome.rtt_sampled {
            if let Some(mut sample) = self
                .sampler
                .take_sample(now, self.recovery.rtt().latest_adjusted())
            {
                sample.acked_bytes = acked_bytes;
                sample.lost_bytes = lost_bytes;
                self.controller
                    .on_ack(now, &sample, self.recovery.in_flight());
            }
        }
        self.on_lost(now, outcome.lost);
    }

    fn on_lost(&mut self, now: Instant, lost: Vec<(Content, u32)>) {
        if lost.is_empty() {
            return;
        }
        // A lost MTU probe says the path is narrower, not congested (RFC 8899, 3).
        let bytes: u64 = lost
            .iter()
            .filter(|(c, _)| !matches!(c, Content::MtuProbe(_)))
            .map(|(_, s)| u64::from(*s))
            .sum();
        self.stats.packets_lost += lost.len() as u64;
        if bytes > 0 {
            self.controller
                .on_loss(now, bytes, self.recovery.in_flight());
        }
        let requeued = self.control.len();
        for (content, _) in lost {
            match content {
                Content::Data { start, len, repair } => {
                    let range = start..start + u64::from(len);
                    if repair && self.all_sent() {
                        // Lost twice, at the end of the transfer, when each loss costs a round
                        // trip and nothing else waits: two copies go.
                        self.repair.push_back(range.clone());
                    }
                    self.repair.push_back(range);
                }
                Content::Control(items) => {
                    for item in items.iter() {
                        let needed = match *item {
                            ControlItem::Transfer => !self.transfer_acked,
                            ControlItem::Meta(f) => !self.meta_acked.contains(u64::from(f)),
                            ControlItem::Digest(f) => !self.digest_acked.contains(u64::from(f)),
                        };
                        if needed {
                            self.control.push_back(*item);
                        }
                    }
                }
                Content::MtuProbe(_) => self.mtu.on_lost(),
                Content::Probe => {}
            }
        }
        if self.control.len() > requeued {
            // Losses are found in the order things were sent, which can put a file's DIGEST
            // ahead of the FILE frame it depends on (sent again later, lost again): repaired in
            // that order they would be dropped together for good.
            let mut queue = Vec::from(std::mem::take(&mut self.control));
            queue.sort_unstable();
            queue.dedup();
            self.control = queue.into();
        }
    }

    /// The file holding byte `pos` of the transfer's byte space.
    fn file_at(&self, pos: u64) -> u32 {
        (self.bases.partition_point(|&b| b <= pos) - 1) as u32
    }

    fn file_size(&self, file: u32) -> u64 {
        self.files.get(file as usize).map_or(0, |f| f.size)
    }

    /// `range` of `file` in the transfer's byte space; `None` when it is not inside the file.
    fn file_range(&self, file: u32, range: std::ops::Range<u64>) -> Option<std::ops::Range<u64>> {
        let meta = self.files.get(file as usize)?;
        let base = self.bases[file as usize];
        (range.start <= range.end && range.end <= meta.size)
            .then(|| base + range.start..base + range.end)
    }

    /// Whether the receiver checks `file` against its digest.
    fn needs_digest(&self, file: u32) -> bool {
        let meta = &self.files[file as usize];
        self.header.verify && meta.kind == EntryKind::File && meta.size > 0
    }

    fn check_delivered(&mut self, file: u32) {
        let f = u64::from(file);
        if self.delivered.contains(f) || !self.meta_acked.contains(f) {
            return;
        }
        if self.needs_digest(file) && !self.digest_acked.contains(f) {
            return;
        }
        let base = self.bases[file as usize];
        if self
            .acked
            .covers(base..base + self.files[file as usize].size)
        {
            self.delivered.insert(f..f + 1);
        }
    }

    /// The receiver answered `file`'s FILE frame.
    fn on_answer(&mut self, file: u32, answer: Answer) {
        let f = u64::from(file);
        self.answered.insert(f..f + 1);
        if answer == Answer::Send {
            return;
        }
        // Kept, or held whole to be checked: none of it is sent (unless a MISSING asks).
        let size = self.file_size(file);
        if let Some(range) = self.file_range(file, 0..size) {
            self.durable.insert(range.clone());
            self.acked.insert(range);
        }
        match answer {
            Answer::Kept => self.mark_placed(file, Placed::Kept { verified: false }),
            Answer::Check => {
                self.checking.insert(f..f + 1);
            }
            Answer::Send => {}
        }
        self.check_delivered(file);
    }

    /// Up to `max` entries whose FILE frame was acknowledged and is still unanswered.
    fn unanswered(&self, max: usize) -> Vec<u32> {
        let mut files = Vec::new();
        for announced in self.meta_acked.iter() {
            for gap in self.answered.gaps(announced) {
                files.extend(
                    gap.take(max - files.len())
                        .filter(|&f| !self.placed.contains(f))
                        .map(|f| f as u32),
                );
                if files.len() == max {
                    return files;
                }
            }
        }
        files
    }

    /// Announces again, after twice the probe timeout without their answers, the entries
    /// acknowledged and unanswered, if any.
    fn arm_reannounce(&mut self, now: Instant) {
        self.reannounce_at = (!self.unanswered(1).is_empty())
            .then(|| now + self.recovery.rtt().pto(self.config.max_ack_delay) * 2);
    }

    /// Records `file` complete at the receiver, as `placed` says.
    fn mark_placed(&mut self, file: u32, placed: Placed) {
        let f = u64::from(file);
        if !self.placed.contains(f) {
            self.placed.insert(f..f + 1);
            // Complete implies answered and delivered: a kept file has no data to send.
            self.answered.insert(f..f + 1);
            self.delivered.insert(f..f + 1);
            // In place at the receiver: every byte of it is there, and durably, whatever ACKs
            // are still on their way (a receiver that discards what it gets places at once).
            if let Some(range) = self.file_range(file, 0..self.file_size(file)) {
                self.acked.insert(range.clone());
                self.durable.insert(range);
            }
            let digest = self.digests.remove(&file);
            let (digest, kept) = match placed {
                Placed::Written => (digest, false),
                Placed::Kept { verified } => {
                    self.stats.files_skipped += 1;
                    self.stats.bytes_skipped += self.file_size(file);
                    (digest.filter(|_| verified), true)
                }
            };
            self.events
                .push_back(SenderEvent::FileComplete { file, digest, kept });
        }
    }

    /// The receiver lacks `range` (transfer byte space) of `file`: it goes out again.
    fn on_missing(&mut self, file: u32, range: std::ops::Range<u64>) {
        let f = u64::from(file);
        if self.placed.contains(f) {
            return;
        }
        self.acked.remove(range.clone());
        self.durable.remove(range.clone());
        self.delivered.remove(f..f + 1);
        if self.checking.contains(f) {
            self.checking.remove(f..f + 1);
            self.unsent.insert(range.clone());
        }
        // One entry, however long: `data_datagram` takes a datagram's worth at a time.
        self.repair.push_back(range);
    }

    /// Asks the source for the digests of the files read through, in order, and queues them.
    fn poll_digests(&mut self, now: Instant, source: &mut dyn DataSource) {
        self.digest_retry_at = None;
        while self.digest_next < self.cursor_file {
            let file = self.digest_next;
            // A file kept by the receiver is never read, not even to be hashed.
            if self.needs_digest(file) && !self.placed.contains(u64::from(file)) {
                match source.digest(file) {
                    Ok(Some(hash)) => {
                        self.digests.insert(file, hash);
                        self.control.push_back(ControlItem::Digest(file));
                        self.digest_queued_at.get_or_insert(now);
                    }
                    Ok(None) => {
                        self.digest_retry_at = Some(now + DIGEST_POLL);
                        return;
                    }
                    Err(e) => {
                        self.fail(SessionError::from(e));
                        return;
                    }
                }
            }
            self.digest_next += 1;
        }
    }

    fn all_complete(&self) -> bool {
        self.transfer_acked && self.delivered.len() == self.files.len() as u64
    }

    /// Writes the next datagram into `buf` (at least `max_datagram` bytes) and returns its
    /// length, or `None` when nothing may be sent now (see `poll_timeout`). File bytes are read
    /// from `source` straight into `buf` and sealed in place.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        source: &mut dyn DataSource,
    ) -> Option<usize> {
        match &self.state {
            State::Hello { hello, .. } => return self.handshake_datagram(now, buf, hello.clone()),
            // The receiver has the keys as soon as it has the ClientFinish: the first flight
            // follows it at once rather than a round trip later, after the ACCEPT.
            State::Finish { finish } if now >= self.handshake_resend_at => {
                return self.handshake_datagram(now, buf, finish.clone())
            }
            State::Closed => return self.close_datagram(buf),
            State::Finish { .. } | State::Established => {}
        }
        let payload_cap = self.protection.as_ref()?.payload_capacity(self.datagram);
        let start = PROTECTED_HEADER_LEN;
        let end = start + payload_cap;
        // Probes and PINGs go out whatever the window and the pacer say.
        if self.probe_pending || self.pings.iter().any(|p| p.1.is_none()) {
            self.probe_pending = false;
            let mut pos = start;
            for ping in self.pings.iter_mut().filter(|p| p.1.is_none()) {
                if (Frame::Ping { id: ping.0 })
                    .encode(&mut buf[..end], &mut pos)
                    .is_none()
                {
                    break;
                }
                ping.1 = Some(now);
            }
            if pos == start {
                (Frame::Ping { id: 0 }).encode(&mut buf[..end], &mut pos)?;
            }
            return Some(self.seal(now, buf, pos - start, Content::Probe));
        }
        if self.recovery.in_flight() + self.datagram as u64 > self.window() {
            self.next_send_at = None;
            return None;
        }
        let rate = self.rate();
        if let Some(at) = self.pacer.delay(now, rate, self.datagram) {
            self.next_send_at = Some(at);
            return None;
        }
        self.next_send_at = None;
        if rate < self.controller.pacing_rate() {
            // Capped below what the path could take: samples are not the path's.
            self.sampler.on_app_limited(self.recovery.in_flight());
        }
        self.poll_digests(now, source);
        if matches!(self.state, State::Closed) {
            return self.close_datagram(buf);
        }
        if self.awaiting_answer() && self.repair.is_empty() {
            // What goes out now is announcements and the like, less than the path could take:
            // their acknowledgements do not measure it.
            self.sampler.on_app_limited(self.recovery.in_flight());
        }
        if let Some(len) = self.control_datagram(now, buf, end, false) {
            return Some(len);
        }
        if let Some(len) = self.mtu_probe(now, buf) {
            return Some(len);
        }
        if !self.suspended {
            match self.data_datagram(now, buf, end, source) {
                Ok(Some(len)) => return Some(len),
                Ok(None) => {}
                Err(e) => {
                    self.fail(SessionError::from(e));
                    return self.close_datagram(buf);
                }
            }
        }
        // No new data went out: digests waiting for company go now.
        if let Some(len) = self.control_datagram(now, buf, end, true) {
            return Some(len);
        }
        if self.done == Done::NotYet && self.all_complete() {
            let mut pos = start;
            Frame::Done.encode(&mut buf[..end], &mut pos)?;
            let resend_at = now + self.recovery.rtt().pto(self.config.max_ack_delay) * 2;
            self.done = Done::Sent { resend_at };
            return Some(self.seal(now, buf, pos - start, Content::Probe));
        }
        self.sampler.on_app_limited(self.recovery.in_flight());
        None
    }

    /// A PING padded to the next size to try, when one is due and `buf` can hold it.
    fn mtu_probe(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let size = self.mtu.next_size()?;
        let protection = self.protection.as_ref()?;
        if buf.len() < size || self.suspended {
            return None;
        }
        let end = PROTECTED_HEADER_LEN + protection.payload_capacity(size);
        let mut pos = PROTECTED_HEADER_LEN;
        Frame::Ping { id: 0 }.encode(&mut buf[..end], &mut pos)?;
        Frame::Padding(end - pos).encode(&mut buf[..end], &mut pos)?;
        self.mtu.in_flight = true;
        Some(self.seal(
            now,
            buf,
            pos - PROTECTED_HEADER_LEN,
            Content::MtuProbe(size),
        ))
    }

    fn handshake_datagram(&mut self, now: Instant, buf: &mut [u8], msg: Vec<u8>) -> Option<usize> {
        if now < self.handshake_resend_at {
            return None;
        }
        let kind = match self.state {
            State::Hello { .. } => DatagramKind::ClientHello,
            _ => DatagramKind::ClientFinish,
        };
        self.handshake_resend_at = now + self.handshake_rto;
        self.handshake_rto = (self.handshake_rto * 2).min(MAX_HANDSHAKE_RTO);
        self.stats.packets_sent += 1;
        let len = codec::encode_handshake(kind, &self.cid, &msg, buf)?;
        match self.config.token {
            Some(token) if kind == DatagramKind::ClientHello => {
                buf.get_mut(len..len + TOKEN_LEN)?.copy_from_slice(&token);
                Some(len + TOKEN_LEN)
            }
            _ => Some(len),
        }
    }

    fn close_datagram(&mut self, buf: &mut [u8]) -> Option<usize> {
        let (code, message, file) = self.close_pending.take()?;
        let protection = self.protection.as_mut()?;
        let end = PROTECTED_HEADER_LEN + protection.payload_capacity(self.config.max_datagram);
        let mut pos = PROTECTED_HEADER_LEN;
        Frame::Close {
            code: code as u8,
            message,
            file,
        }
        .encode(&mut buf[..end], &mut pos)?;
        let (_, len) = protection.seal(buf, pos - PROTECTED_HEADER_LEN);
        self.stats.packets_sent += 1;
        Some(len)
    }

    fn seal(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        payload_len: usize,
        content: Content,
    ) -> usize {
        let protection = self
            .protection
            .as_mut()
            .expect("established sessions have keys");
        let (pn, len) = protection.seal(buf, payload_len);
        let in_flight = self.recovery.in_flight();
        let state = self.sampler.on_sent(now, len as u64, in_flight);
        self.recovery.on_sent(pn, now, len as u32, state, content);
        self.controller
            .on_sent(now, len as u64, in_flight + len as u64);
        self.pacer.on_sent(len);
        self.stats.packets_sent += 1;
        self.last_sent = now;
        len
    }

    /// Control frames that must be (re)sent, and the FILE frames the data cursor needs next.
    /// Unless `flush`, digests alone wait until [`DIGEST_BATCH`] of them share a datagram.
    fn control_datagram(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        end: usize,
        flush: bool,
    ) -> Option<usize> {
        let needs_meta = !self.suspended
            && (self.meta_next as usize) < self.files.len()
            && self.meta_next <= self.cursor_file.saturating_add(ANNOUNCE_AHEAD);
        if self.control.is_empty() && !needs_meta {
            return None;
        }
        // Digests alone wait for company while data flows: one each would double the
        // datagrams of a tree of small files.
        if !flush
            && !needs_meta
            && self.control.len() < DIGEST_BATCH
            && self
                .digest_queued_at
                .is_some_and(|t| now < t + DIGEST_DELAY)
            && self
                .control
                .iter()
                .all(|item| matches!(item, ControlItem::Digest(_)))
        {
            return None;
        }
        let start = PROTECTED_HEADER_LEN;
        let mut pos = start;
        let mut items = Vec::new();
        while let Some(&item) = self.control.front() {
            if self
                .encode_control(item, &mut buf[..end], &mut pos)
                .is_none()
            {
                break;
            }
            self.control.pop_front();
            items.push(item);
        }
        while needs_meta
            && (self.meta_next as usize) < self.files.len()
            && self.meta_next <= self.cursor_file.saturating_add(ANNOUNCE_AHEAD)
        {
            let item = ControlItem::Meta(self.meta_next);
            if self
                .encode_control(item, &mut buf[..end], &mut pos)
                .is_none()
            {
                break;
            }
            self.meta_next += 1;
            items.push(item);
        }
        if items.is_empty() {
            return None;
        }
        if !self
            .control
            .iter()
            .any(|item| matches!(item, ControlItem::Digest(_)))
        {
            self.digest_queued_at = None;
        }
        Some(self.seal(now, buf, pos - start, Content::Control(items.into())))
    }

    fn encode_control(&self, item: ControlItem, out: &mut [u8], pos: &mut usize) -> Option<()> {
        match item {
            ControlItem::Transfer => Frame::Transfer(self.header.clone()).encode(out, pos),
            ControlItem::Meta(file) => Frame::File {
                file,
                meta: self.files[file as usize].clone(),
                resume: resumed(&self.config, &self.files, file),
            }
            .encode(out, pos),
            ControlItem::Digest(file) => match self.digests.get(&file) {
                Some(&hash) if !self.digest_acked.contains(u64::from(file)) => {
                    Frame::Digest { file, hash }.encode(out, pos)
                }
                // Acknowledged (or placed) meanwhile: nothing to send.
                _ => Some(()),
            },
        }
    }

    /// A datagram of DATA frames: a repair first, else new bytes at the cursor. It carries one
    /// contiguous range of the transfer's bytes, which may run across the ends of files (one
    /// frame per file), so small files and the tails of large ones share datagrams.
    fn data_datagram(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        end: usize,
        source: &mut dyn DataSource,
    ) -> Result<Option<usize>, crate::files::StorageError> {
        let room = (end - PROTECTED_HEADER_LEN - DATA_FRAME_OVERHEAD) as u64;
        // The bytes to carry, from `start` up to `limit`, and for a repair the end of the lost
        // range it belongs to.
        let (start, limit, repair) = loop {
            if let Some(range) = self.repair.pop_front() {
                if let Some(gap) = self.acked.gaps(range.clone()).next() {
                    break (gap.start, gap.end, Some(range.end));
                }
                continue;
            }
            match self.new_data(room) {
                Some((start, limit)) => break (start, limit, None),
                None => return Ok(None),
            }
        };
        let mut pos = PROTECTED_HEADER_LEN;
        let mut at = start;
        while at < limit && end - pos > DATA_FRAME_OVERHEAD {
            let file = self.file_at(at);
            let offset = at - self.bases[file as usize];
            let n = (self.files[file as usize].size - offset)
                .min(limit - at)
                .min((end - pos - DATA_FRAME_OVERHEAD) as u64);
            let payload = codec::encode_data_header(buf, pos, file, offset, n as u16);
            source.read_at(file, offset, &mut buf[payload..payload + n as usize])?;
            pos = payload + n as usize;
            at += n;
        }
        let len = at - start;
        match repair {
            Some(range_end) => {
                // What did not fit of the lost range goes next.
                if at < range_end {
                    self.repair.push_front(at..range_end);
                }
                let again: u64 = self.unsent.gaps(start..at).map(|g| g.end - g.start).sum();
                self.unsent.remove(start..at);
                self.stats.bytes_retransmitted += again;
            }
            None => {
                let file = self.file_at(start + len.saturating_sub(1));
                self.cursor_file = file;
                self.cursor_offset = at - self.bases[file as usize];
            }
        }
        self.stats.bytes_sent += len;
        let content = Content::Data {
            start,
            len: len as u32,
            repair: repair.is_some(),
        };
        Ok(Some(self.seal(
            now,
            buf,
            pos - PROTECTED_HEADER_LEN,
            content,
        )))
    }

    /// Whether every new byte has been sent once.
    fn all_sent(&self) -> bool {
        self.cursor_file as usize >= self.files.len()
    }

    /// Whether the next new bytes wait for their file's FILE frame to go or to be answered.
    fn awaiting_answer(&self) -> bool {
        (self.cursor_file as usize) < self.files.len() && !self.may_send(self.cursor_file)
    }

    /// Whether `file`'s data may go: its FILE frame went (data ahead of it would be dropped)
    /// and the receiver answered that it wants it (or, without a skip rule, will).
    fn may_send(&self, file: u32) -> bool {
        file < self.meta_next && self.answered.contains(u64::from(file))
    }

    /// The range of new bytes the next datagram may carry, about `room` long: from the cursor
    /// on through the following files while they are answered and start from their first byte
    /// (a resumed file leaves a gap in the transfer's bytes). None when nothing new can go.
    fn new_data(&mut self, room: u64) -> Option<(u64, u64)> {
        let start = loop {
            while (self.cursor_file as usize) < self.files.len()
                && self.cursor_offset >= self.files[self.cursor_file as usize].size
            {
                self.cursor_file += 1;
                self.cursor_offset = resumed(&self.config, &self.files, self.cursor_file);
            }
            if self.cursor_file as usize >= self.files.len() || !self.may_send(self.cursor_file) {
                return None;
            }
            let base = self.bases[self.cursor_file as usize];
            let start = base + self.cursor_offset;
            // Bytes the receiver already holds (it said so in a DURABLE frame) are skipped.
            let held_to = self.acked.run_from(start);
            if held_to == start {
                break start;
            }
            self.cursor_offset = held_to - base;
        };
        let mut file = self.cursor_file as usize;
        loop {
            let limit = self.bases[file] + self.files[file].size;
            file += 1;
            if limit - start >= room
                || file >= self.files.len()
                || !self.may_send(file as u32)
                || resumed(&self.config, &self.files, file as u32) > 0
            {
                // Up to the next bytes the receiver already holds.
                let limit = self
                    .acked
                    .gaps(start..limit)
                    .next()
                    .map_or(limit, |g| g.end);
                return Some((start, limit));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;

    fn file(size: u64) -> FileMeta {
        FileMeta {
            path: "f".into(),
            kind: EntryKind::File,
            size,
            mtime_us: 0,
            executable: false,
        }
    }

    fn session(files: Vec<FileMeta>) -> Result<SenderSession, SessionError> {
        let rng = SystemRandom::new();
        let identity = Identity::generate(&rng).expect("identity");
        let header = TransferHeader::plain(0, 0);
        SenderSession::new(
            Instant::now(),
            &rng,
            &identity,
            SenderConfig::default(),
            header,
            files,
        )
    }

    #[test]
    fn files_adding_up_past_u64_are_refused_not_overflowed() {
        let result = session(vec![file(u64::MAX), file(1)]);
        assert_eq!(result.err().map(|e| e.code), Some(ErrorCode::Internal));
    }

    #[test]
    fn a_missing_range_of_any_length_is_queued_as_one_repair() {
        let size = 1 << 62;
        let mut sender = session(vec![file(size)]).expect("session");
        sender.on_missing(0, 1..size);
        assert_eq!(sender.repair.len(), 1);
        assert_eq!(sender.repair.front(), Some(&(1..size)));
    }
}
