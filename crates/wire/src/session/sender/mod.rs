//! The sending side of a session: handshake as initiator, then the transfer — the TRANSFER
//! header, the entries' FILE frames up to [`ANNOUNCE_AHEAD`](transmit::ANNOUNCE_AHEAD) ahead
//! of the data, and each file's bytes once the receiver answered its FILE frame (ANSWERS: send
//! it, it is kept, or check its digest; a file kept costs no byte of data and is never read),
//! at the paced rate without waiting for acknowledgements, repair of exactly what was lost
//! before any new data, each file's DIGEST once it has been read, and the closing DONE/RESULT
//! exchange that confirms every file is in place. The first flight leaves right behind the
//! ClientFinish, without waiting a round trip for the receiver's ACCEPT: the receiver holds
//! what comes before its verdict on the sender's credentials (an ACK, like the ACCEPT, says
//! the verdict was yes).
//!
//! Acknowledged bytes (ACK) drive repair; the receiver's DURABLE and PLACED frames say what is
//! on its stable storage, which is all a checkpoint may keep ([`SenderSession::durable`]). A
//! MISSING frame takes bytes back from the acknowledged set: the receiver could not confirm
//! a resume claim, or a file's digest did not match.
//!
//! This module owns the session itself: its state, construction, accessors and timers; the
//! handshake, what arrives, what the receiver holds, MTU search and what leaves have their own.

mod config;
mod handshake;
mod inbound;
mod mtu;
mod progress;
mod transmit;

pub use config::{SenderConfig, SenderEvent, SenderStats};

use super::recovery::{ControlItem, Recovery};
use super::{ErrorCode, Protection, SessionError, HANDSHAKE_RTO};
use crate::codec::{self, ConnectionId};
use crate::crypto::handshake::{Identity, Initiator, PublicKey};
use crate::files::{Digest, FileMeta, TransferHeader};
use crate::ranges::RangeSet;
use crate::rate::delivery::DeliverySampler;
use crate::rate::model::ModelController;
use crate::rate::pacer::Pacer;
use crate::rate::{FixedController, PathMemory, RateController, RateLimits};
use mtu::MtuSearch;
use progress::resumed;
use ring::rand::SecureRandom;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// The longest an established session stays silent with nothing in flight (while suspended,
/// for one): a PING then keeps both ends from timing out. Never more than a third of the idle
/// timeout.
const KEEPALIVE: Duration = Duration::from_secs(1);
/// Most FILE frames announced again at once when their answers were lost.
const REANNOUNCE: usize = 1024;

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

#[derive(Debug, PartialEq, Eq)]
enum Done {
    NotYet,
    Sent { resend_at: Instant },
    Confirmed,
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
    /// Bytes of padding the first flight may still carry to measure the path while the data
    /// waits for the receiver's answers (see [`SenderSession::rate_probe`]).
    rate_probe_left: u64,
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
        // A path remembered needs no measuring; without answers to wait for, the first flight
        // is data and measures the path itself.
        let rate_probe_left = if config.await_answers && config.path_memory.is_none() {
            controller.window()
        } else {
            0
        };
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
            rate_probe_left,
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::EntryKind;
    use ring::rand::SystemRandom;

    pub(super) fn file(size: u64) -> FileMeta {
        FileMeta {
            path: "f".into(),
            kind: EntryKind::File,
            size,
            mtime_us: 0,
            executable: false,
        }
    }

    pub(super) fn session(files: Vec<FileMeta>) -> Result<SenderSession, SessionError> {
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
}
