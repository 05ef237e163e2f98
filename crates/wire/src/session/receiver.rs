//! The receiving side of a session: handshake as responder, the credentials verdict (the
//! sender's first flight, which follows its ClientFinish at once, is opened and held for it, up
//! to a bound), then placing file bytes through a [`DataSink`] exactly once per byte, acknowledging packet
//! numbers in ranges, and answering DONE with the transfer's RESULT.
//!
//! Two levels of acknowledgement: ACK frames say a packet's bytes were *received* (they drive
//! repair and rate control); DURABLE frames say a file's prefix is on stable storage, PLACED
//! that a whole file is synced, verified against the sender's digest and in place (KEPT: in
//! place already, as the sink found it, nothing written). Only the
//! second level may outlive a crash, so only it goes into the sender's checkpoints. What an
//! earlier session left is taken from the sink's own durable record, never from the sender's
//! resume claim: a claim the sink cannot confirm is answered with MISSING.

use super::protection::Drop;
use super::{ErrorCode, Protection, SessionError};
use crate::codec::{
    self, Answer, Auth, ConnectionId, DatagramKind, Frame, Frames, Header, HANDSHAKE_HEADER_LEN,
    MAX_ACK_RANGES, MAX_ANSWERS, PROTECTED_HEADER_LEN,
};
use crate::crypto::aead::CipherLevel;
use crate::crypto::handshake::{Identity, PublicKey, Responder};
use crate::crypto::token::Token;
use crate::files::{DataSink, Digest, EntryKind, Kept, SinkReport, StorageError, TransferHeader};
use crate::ranges::RangeSet;
use ring::rand::SecureRandom;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Longest the receiver waits before acknowledging what it received.
pub const DEFAULT_MAX_ACK_DELAY: Duration = Duration::from_millis(2);
/// Received packet-number ranges remembered for acknowledgements.
const MAX_TRACKED_RANGES: usize = 4 * MAX_ACK_RANGES;
/// Most PONGs waiting to be sent.
const MAX_PENDING_PONGS: usize = 16;
/// Most separate pieces of one file held at once: far more than a real sender's losses leave
/// (each is a lost datagram still in flight), and a bound on what a sender that leaves every
/// other byte out can make the receiver remember.
const MAX_RANGES_PER_FILE: usize = 1 << 16;
/// Most files a DONE that came too early is answered about with MISSING frames.
const MISSING_PER_DONE: usize = 16;
/// Bytes of the sender's first flight held while the verdict on its credentials is pending:
/// an initial window of full-size datagrams and some room.
const EARLY_BYTES: usize = 128 * 1024;

/// How a receiver session behaves.
#[derive(Clone, Debug)]
pub struct ReceiverConfig {
    /// Largest datagram to send.
    pub max_datagram: usize,
    /// The lowest cipher level this receiver accepts.
    pub min_cipher: CipherLevel,
    /// Fail when the sender has not been heard for this long.
    pub idle_timeout: Duration,
    /// Acknowledge once this many bytes arrived...
    pub ack_every_bytes: u64,
    /// ...or this long after the first unacknowledged one.
    pub max_ack_delay: Duration,
    /// How long to keep answering a repeated DONE after the RESULT.
    pub linger: Duration,
    /// How often received data is made durable when the sender does not say.
    pub sync_interval: Duration,
    /// Datagrams sealed under one key before the session moves to fresh keys.
    pub key_update_interval: u64,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            max_datagram: 1472,
            min_cipher: CipherLevel::None,
            idle_timeout: Duration::from_secs(10),
            ack_every_bytes: 32 * 1472,
            max_ack_delay: DEFAULT_MAX_ACK_DELAY,
            linger: Duration::from_secs(3),
            sync_interval: Duration::from_secs(1),
            key_update_interval: super::DEFAULT_KEY_UPDATE_INTERVAL,
        }
    }
}

/// What happened, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReceiverEvent {
    /// The sender proved its key and presented credentials: call
    /// [`ReceiverSession::authorize`] with the verdict.
    Authenticate {
        /// The sender's identity key.
        peer: PublicKey,
        /// Its credentials.
        auth: Auth,
    },
    /// The transfer's header arrived.
    TransferStarted(TransferHeader),
    /// An entry is complete: durable, verified and in place.
    FileComplete(u32),
    /// Every entry is in place; the RESULT that tells the sender so is on its way (and is
    /// sent again while the session lingers, should the sender ask with a DONE).
    Complete,
    /// The session failed.
    Failed(SessionError),
}

/// Counters of a receiver session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReceiverStats {
    /// File bytes placed (each byte once).
    pub bytes_received: u64,
    /// File bytes that arrived again and were ignored.
    pub bytes_duplicate: u64,
    /// Datagrams authenticated and processed.
    pub packets_received: u64,
    /// Datagrams dropped as malformed (wrong connection, truncated, unknown kind).
    pub packets_malformed: u64,
    /// Datagrams dropped as replays, or as too old: behind the replay window, or from a key
    /// phase retired longer ago than the grace time.
    pub packets_replayed: u64,
    /// Datagrams dropped as forged (authentication failed).
    pub packets_forged: u64,
    /// Datagrams left unacknowledged because they arrived before what they depend on, or
    /// before the verdict on the sender's credentials beyond what is held for it.
    pub packets_deferred: u64,
    /// Entries complete.
    pub files_complete: u32,
    /// Bytes an earlier session had left on stable storage, kept instead of received again.
    pub bytes_resumed: u64,
    /// Files whose digest did not match the sender's (each was received again).
    pub digest_mismatches: u32,
    /// Entries kept as they were when announced (the sink already held them, or held newer
    /// ones): none of their data was sent.
    pub files_kept: u32,
    /// Sum of the sizes of those entries.
    pub bytes_kept: u64,
    /// The session failed and could not make what it had received durable (or, given up by
    /// the sender, remove it).
    pub final_sync_failed: bool,
    /// ACK frames sent.
    pub acks_sent: u64,
    /// Key updates of the session, started by either side.
    pub key_updates: u64,
}

#[derive(Debug)]
enum State {
    /// ServerHello sent, waiting for ClientFinish.
    AwaitFinish {
        responder: Responder,
        hello: Vec<u8>,
    },
    /// Credentials handed to the application, waiting for its verdict.
    AwaitVerdict,
    /// Receiving.
    Established,
    /// RESULT sent; answering repeats until `until`.
    Draining { until: Instant },
    /// Over.
    Closed,
}

/// A file announced and not complete yet.
#[derive(Debug)]
struct FileRx {
    path: String,
    size: u64,
    received: RangeSet,
    /// Whether the file waits for the sender's digest before it is finished.
    verify: bool,
    digest: Option<Digest>,
    /// Handed to [`DataSink::finish`]; its report is awaited.
    finishing: bool,
    /// The durable prefix last asked of [`DataSink::sync`].
    sync_asked: u64,
    /// Its digest did not match once already.
    mismatched: bool,
    /// The sink holds it whole and checks it against the sender's digest ([`Kept::Check`]).
    checking: bool,
}

impl FileRx {
    /// Whether every byte arrived.
    fn received_all(&self) -> bool {
        self.received.len() == self.size
    }
}

/// A session receiving one transfer.
#[derive(Debug)]
pub struct ReceiverSession {
    cid: ConnectionId,
    config: ReceiverConfig,
    state: State,
    protection: Option<Protection>,
    peer: Option<PublicKey>,
    header: Option<TransferHeader>,
    files: HashMap<u32, FileRx>,
    completed: RangeSet,
    /// Entries complete as soon as announced: the sink kept them as they were.
    kept: RangeSet,
    /// DURABLE, PLACED, KEPT, MISSING, ANSWERS and NEW_TOKEN frames to send.
    reports: VecDeque<Frame<'static>>,
    next_sync: Option<Instant>,
    /// A failed session made what it had received durable (or abandoned it).
    final_sync_done: bool,
    /// The sender gave the transfer up for good.
    abandoned: bool,
    received_pns: RangeSet,
    largest_received_at: Option<Instant>,
    unacked_bytes: u64,
    ack_deadline: Option<Instant>,
    last_ack_sent: Option<Instant>,
    hello_pending: bool,
    accept_pending: bool,
    /// Datagrams that came with or right after the ClientFinish, opened and held until the
    /// verdict on the sender's credentials: its first flight, at most [`EARLY_BYTES`].
    early: Vec<Early>,
    early_bytes: usize,
    /// The sender's DONE came while files were still being put in place: the RESULT goes
    /// as soon as the last one is, without waiting for the DONE to be sent again.
    done_early: bool,
    result_pending: Option<(ErrorCode, String)>,
    /// Why each entry the sink refused was refused, in the order refused.
    refused: Vec<String>,
    close_pending: Option<(ErrorCode, String, Option<u32>)>,
    pongs: Vec<u64>,
    last_recv: Instant,
    events: VecDeque<ReceiverEvent>,
    stats: ReceiverStats,
}

/// A packet opened before the verdict on the sender's credentials, held until it comes.
#[derive(Debug)]
struct Early {
    pn: u64,
    payload: Vec<u8>,
    wire_len: usize,
}

impl ReceiverSession {
    /// Answers the ClientHello `datagram`; the ServerHello is ready from `poll_transmit`.
    pub fn accept(
        now: Instant,
        rng: &dyn SecureRandom,
        identity: &Identity,
        config: ReceiverConfig,
        datagram: &[u8],
    ) -> Result<ReceiverSession, SessionError> {
        let cid = match Header::decode(datagram) {
            Ok(Header::Handshake {
                kind: DatagramKind::ClientHello,
                cid,
            }) => cid,
            _ => {
                return Err(SessionError::local(
                    ErrorCode::Protocol,
                    "not a ClientHello",
                ))
            }
        };
        let (message, _token) = codec::client_hello_parts(datagram).ok_or_else(|| {
            SessionError::local(ErrorCode::Protocol, "ClientHello of the wrong length")
        })?;
        let (responder, hello) = Responder::accept(rng, identity, message, config.min_cipher)
            .map_err(|e| SessionError::local(ErrorCode::Protocol, format!("handshake: {e}")))?;
        Ok(ReceiverSession {
            cid,
            config,
            state: State::AwaitFinish { responder, hello },
            protection: None,
            peer: None,
            header: None,
            files: HashMap::new(),
            completed: RangeSet::new(),
            kept: RangeSet::new(),
            reports: VecDeque::new(),
            next_sync: None,
            final_sync_done: false,
            abandoned: false,
            received_pns: RangeSet::new(),
            largest_received_at: None,
            unacked_bytes: 0,
            ack_deadline: None,
            last_ack_sent: None,
            hello_pending: true,
            accept_pending: false,
            early: Vec::new(),
            early_bytes: 0,
            done_early: false,
            result_pending: None,
            refused: Vec::new(),
            close_pending: None,
            pongs: Vec::new(),
            last_recv: now,
            events: VecDeque::new(),
            stats: ReceiverStats::default(),
        })
    }

    /// The connection id of this session.
    pub fn connection_id(&self) -> ConnectionId {
        self.cid
    }

    /// The sender's identity key, once proven.
    pub fn peer_key(&self) -> Option<PublicKey> {
        self.peer
    }

    /// The transfer's header, once received.
    pub fn header(&self) -> Option<&TransferHeader> {
        self.header.as_ref()
    }

    /// Counters.
    pub fn stats(&self) -> ReceiverStats {
        ReceiverStats {
            files_complete: self.completed.len() as u32,
            key_updates: self.protection.as_ref().map_or(0, |p| p.key_updates()),
            ..self.stats.clone()
        }
    }

    /// Whether the handshake is still under way (the ServerHello sent, no ClientFinish yet).
    pub fn is_half_open(&self) -> bool {
        matches!(self.state, State::AwaitFinish { .. })
    }

    /// Whether the session is over and has nothing left to send.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed) && self.close_pending.is_none()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<ReceiverEvent> {
        self.events.pop_front()
    }

    /// Hands the sender a resumption token with the session's first protected datagram, so
    /// that its next session skips the address check's round trip.
    pub fn offer_token(&mut self, token: Token) {
        self.reports.push_back(Frame::NewToken(token));
    }

    /// Whether the session waits for [`ReceiverSession::authorize`].
    pub fn awaits_verdict(&self) -> bool {
        matches!(self.state, State::AwaitVerdict)
    }

    /// The application's verdict on the credentials of [`ReceiverEvent::Authenticate`]. When
    /// it accepts, the datagrams that arrived meanwhile are taken in now, into `sink`.
    pub fn authorize(
        &mut self,
        now: Instant,
        verdict: Result<(), SessionError>,
        sink: &mut dyn DataSink,
    ) {
        if !matches!(self.state, State::AwaitVerdict) {
            return;
        }
        let early = std::mem::take(&mut self.early);
        self.early_bytes = 0;
        match verdict {
            Ok(()) => {
                self.state = State::Established;
                self.accept_pending = true;
                for held in early {
                    self.on_payload(now, held.pn, &held.payload, held.wire_len, sink);
                    if matches!(self.state, State::Closed) {
                        break;
                    }
                }
            }
            Err(e) => self.fail(e),
        }
    }

    /// Ends the session at once, telling the sender why.
    pub fn close(&mut self, code: ErrorCode, message: impl Into<String>) {
        if !matches!(self.state, State::Closed) {
            self.fail(SessionError::local(code, message.into()));
        }
    }

    fn fail(&mut self, error: SessionError) {
        if !error.remote && self.protection.is_some() {
            self.close_pending = Some((error.code, error.message.clone(), error.file));
        }
        self.state = State::Closed;
        self.events.push_back(ReceiverEvent::Failed(error));
    }

    /// When `handle_timeout` must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Closed => None,
            State::Draining { until } => Some(until),
            _ => {
                let idle = self.last_recv + self.config.idle_timeout;
                [self.ack_deadline, self.next_sync]
                    .into_iter()
                    .flatten()
                    .min()
                    .map_or(Some(idle), |t| Some(t.min(idle)))
            }
        }
    }

    /// Takes in what the sink's background work came to (files made durable, placed, or
    /// found different from the sender's) and asks it for the next sync when one is due.
    /// Call it after `handle_timeout` and whenever the sink may have news, before
    /// `poll_transmit`; a failed session uses it once more to make what it received durable.
    pub fn poll_sink(&mut self, now: Instant, sink: &mut dyn DataSink) {
        loop {
            match sink.poll_report() {
                Ok(Some(report)) => self.on_report(report),
                Ok(None) => break,
                Err(e) => {
                    if !matches!(self.state, State::Closed) {
                        self.fail(SessionError::from(e));
                    }
                    break;
                }
            }
        }
        let closed = matches!(self.state, State::Closed);
        if self.next_sync.is_none() && self.header.is_some() && !closed {
            self.next_sync = Some(now + self.sync_interval());
        }
        let due = self.next_sync.is_some_and(|t| now >= t);
        if closed && !self.final_sync_done {
            // What arrived before the end outlives this session, for the next one, and only
            // that: what was reserved for bytes that never came is given back. The session
            // has already failed with its own error; a sink that cannot sync now leaves those
            // bytes unconfirmed, and the next session receives them again.
            self.final_sync_done = true;
            let ended = if self.abandoned {
                sink.abandon()
            } else {
                self.sync(sink).and_then(|()| sink.release())
            };
            if ended.is_err() {
                self.stats.final_sync_failed = true;
            }
        } else if due && !closed {
            self.next_sync = Some(now + self.sync_interval());
            if let Err(e) = self.sync(sink) {
                self.fail(SessionError::from(e));
            }
        }
    }

    /// Asks the sink to make durable every prefix received since the last sync.
    fn sync(&mut self, sink: &mut dyn DataSink) -> Result<(), StorageError> {
        let mut asks = Vec::new();
        for (&file, rx) in self.files.iter_mut() {
            let prefix = rx.received.run_from(0);
            if !rx.finishing && prefix > rx.sync_asked {
                rx.sync_asked = prefix;
                asks.push((file, prefix));
            }
        }
        if asks.is_empty() {
            return Ok(());
        }
        sink.sync(&asks)
    }

    fn sync_interval(&self) -> Duration {
        match self.header.as_ref().map_or(0, |h| h.sync_interval_ms) {
            0 => self.config.sync_interval,
            ms => Duration::from_millis(ms.into()),
        }
    }

    fn on_report(&mut self, report: SinkReport) {
        self.take_report(report);
        self.finish_when_complete();
    }

    /// Answers as a DONE would once the sender's DONE came early, or once every entry the
    /// header announced is complete: the sender then learns that the transfer is complete
    /// half a round trip after the last file was placed, instead of after its DONE went out
    /// and the RESULT came back. (A lost RESULT is asked for again by the sender's DONE.)
    fn finish_when_complete(&mut self) {
        if !self.files.is_empty() || !matches!(self.state, State::Established) {
            return;
        }
        let all_complete = self
            .header
            .as_ref()
            .is_some_and(|h| self.completed.len() == u64::from(h.total_files));
        if self.done_early || all_complete {
            self.on_done();
        }
    }

    fn take_report(&mut self, report: SinkReport) {
        match report {
            SinkReport::Durable { file, bytes } => {
                if self.files.contains_key(&file) {
                    self.reports.push_back(Frame::Durable { file, bytes });
                }
            }
            SinkReport::Placed(file) => {
                if let Some(rx) = self.files.remove(&file) {
                    self.completed.insert(u64::from(file)..u64::from(file) + 1);
                    self.events.push_back(ReceiverEvent::FileComplete(file));
                    // A file whose digest did not match was written after all.
                    self.reports.push_back(if rx.checking && !rx.mismatched {
                        Frame::Kept {
                            file,
                            verified: true,
                        }
                    } else {
                        Frame::Placed { file }
                    });
                }
            }
            SinkReport::Refused { file, reason } => {
                // Done with: nothing of it is written, and the transfer fails at its end.
                if self.files.remove(&file).is_some() {
                    self.completed.insert(u64::from(file)..u64::from(file) + 1);
                    self.refused.push(reason);
                }
            }
            SinkReport::Mismatch(file) => {
                let Some(rx) = self.files.get_mut(&file) else {
                    return;
                };
                self.stats.digest_mismatches += 1;
                if rx.mismatched {
                    let message = format!(
                        "{}: the data written does not match the sender's digest, twice",
                        rx.path
                    );
                    self.fail(SessionError {
                        file: Some(file),
                        ..SessionError::local(ErrorCode::Io, message)
                    });
                    return;
                }
                rx.mismatched = true;
                rx.finishing = false;
                rx.received = RangeSet::new();
                rx.sync_asked = 0;
                let range = 0..rx.size;
                self.reports.push_back(Frame::Missing { file, range });
            }
        }
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Closed => {}
            State::Draining { until } => {
                if now >= until {
                    self.state = State::Closed;
                }
            }
            _ => {
                if now >= self.last_recv + self.config.idle_timeout {
                    let secs = self.config.idle_timeout.as_secs_f64();
                    self.fail(SessionError::local(
                        ErrorCode::TimedOut,
                        format!("sender stopped answering for {secs:.0} s"),
                    ));
                }
            }
        }
    }

    /// Processes one received datagram (decrypted in place), placing file bytes in `sink`.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &mut [u8], sink: &mut dyn DataSink) {
        let header = match Header::decode(datagram) {
            Ok(h) if h.cid() == self.cid => h,
            _ => {
                self.stats.packets_malformed += 1;
                return;
            }
        };
        match header {
            Header::Handshake {
                kind: DatagramKind::ClientHello,
                ..
            } => {
                // Only a whole ClientHello is answered again, so no datagram draws more bytes
                // than it carries.
                if matches!(self.state, State::AwaitFinish { .. })
                    && codec::client_hello_parts(datagram).is_some()
                {
                    self.hello_pending = true;
                }
            }
            Header::Handshake {
                kind: DatagramKind::ClientFinish,
                ..
            } => self.on_client_finish(now, &datagram[HANDSHAKE_HEADER_LEN..]),
            Header::Protected { .. } => self.on_protected(now, datagram, sink),
            Header::Handshake { .. } => self.stats.packets_malformed += 1,
        }
    }

    fn on_client_finish(&mut self, now: Instant, message: &[u8]) {
        match &self.state {
            State::AwaitFinish { responder, .. } => match responder.finish(message) {
                Ok((keys, peer, auth)) => match Auth::decode(&auth) {
                    Ok(auth) => {
                        self.protection = Some(Protection::new(
                            self.cid,
                            keys,
                            self.config.key_update_interval,
                        ));
                        self.peer = Some(peer);
                        self.last_recv = now;
                        self.state = State::AwaitVerdict;
                        self.events
                            .push_back(ReceiverEvent::Authenticate { peer, auth });
                    }
                    Err(e) => {
                        self.protection = Some(Protection::new(
                            self.cid,
                            keys,
                            self.config.key_update_interval,
                        ));
                        self.fail(SessionError::local(
                            ErrorCode::Protocol,
                            format!("bad credentials field: {e}"),
                        ));
                    }
                },
                Err(_) => self.stats.packets_forged += 1,
            },
            // The ACCEPT was lost: the sender repeats its last handshake message.
            State::Established => self.accept_pending = true,
            _ => {}
        }
    }

    fn on_protected(&mut self, now: Instant, datagram: &mut [u8], sink: &mut dyn DataSink) {
        let Some(protection) = self.protection.as_mut() else {
            self.stats.packets_malformed += 1;
            return;
        };
        let early = matches!(self.state, State::AwaitVerdict);
        if !early && !matches!(self.state, State::Established | State::Draining { .. }) {
            return;
        }
        let (pn, payload) = match protection.open(now, datagram) {
            Ok(x) => x,
            Err(Drop::Malformed) => {
                self.stats.packets_malformed += 1;
                return;
            }
            Err(Drop::Replayed | Drop::Stale) => {
                self.stats.packets_replayed += 1;
                return;
            }
            Err(Drop::Forged) => {
                self.stats.packets_forged += 1;
                return;
            }
        };
        if early {
            // The sender's first flight follows its ClientFinish at once: held for the
            // verdict, up to a bound; what does not fit is repaired like any loss.
            if self.early_bytes + datagram.len() <= EARLY_BYTES {
                self.early_bytes += datagram.len();
                self.early.push(Early {
                    pn,
                    payload: datagram[payload].to_vec(),
                    wire_len: datagram.len(),
                });
            } else {
                self.stats.packets_deferred += 1;
            }
            self.last_recv = now;
            return;
        }
        let wire_len = datagram.len();
        self.on_payload(now, pn, &datagram[payload], wire_len, sink);
    }

    /// Takes in the opened payload of packet `pn`, which came in a datagram of `wire_len` bytes.
    fn on_payload(
        &mut self,
        now: Instant,
        pn: u64,
        payload: &[u8],
        wire_len: usize,
        sink: &mut dyn DataSink,
    ) {
        self.stats.packets_received += 1;
        self.last_recv = now;
        let mut placed = true;
        for frame in Frames::new(payload) {
            let frame = match frame {
                Ok(f) => f,
                Err(e) => {
                    self.fail(SessionError::local(
                        ErrorCode::Protocol,
                        format!("bad frame from sender: {e}"),
                    ));
                    return;
                }
            };
            match self.on_frame(frame, sink) {
                Ok(true) => {}
                Ok(false) => {
                    placed = false;
                    break;
                }
                Err(e) => {
                    self.fail(e);
                    return;
                }
            }
            if matches!(self.state, State::Closed) {
                return;
            }
        }
        if !placed {
            // Depends on a frame not received yet: the sender will repair it.
            self.stats.packets_deferred += 1;
            return;
        }
        // The replay window never accepts `u64::MAX`, so `pn + 1` exists.
        self.received_pns.insert(pn..pn + 1);
        self.received_pns.truncate_oldest(MAX_TRACKED_RANGES);
        if self.received_pns.max() == Some(pn) {
            self.largest_received_at = Some(now);
        }
        self.unacked_bytes += wire_len as u64;
        if self.unacked_bytes >= self.config.ack_every_bytes {
            self.ack_deadline = Some(now);
        } else if self.ack_deadline.is_none() {
            // After a quiet spell (a slow sender) acknowledge at once: a delayed ACK would
            // stretch every RTT sample and hold the sender's rate estimate down.
            let quiet = self
                .last_ack_sent
                .is_none_or(|t| now.saturating_duration_since(t) >= self.config.max_ack_delay);
            self.ack_deadline = Some(if quiet {
                now
            } else {
                now + self.config.max_ack_delay
            });
        }
        // The last entries may complete on their announcement (kept, empty, directories).
        self.finish_when_complete();
    }

    /// Returns Ok(false) when the frame depends on one not received yet.
    fn on_frame(
        &mut self,
        frame: Frame<'_>,
        sink: &mut dyn DataSink,
    ) -> Result<bool, SessionError> {
        let protocol = |m: String| SessionError::local(ErrorCode::Protocol, m);
        match frame {
            Frame::Transfer(header) => match &self.header {
                Some(known) if *known == header => {}
                Some(_) => return Err(protocol("transfer header changed".into())),
                None => {
                    sink.begin(&header)?;
                    self.events
                        .push_back(ReceiverEvent::TransferStarted(header.clone()));
                    self.header = Some(header);
                }
            },
            Frame::File { file, meta, resume } => {
                let Some(header) = &self.header else {
                    return Ok(false);
                };
                if file >= header.total_files {
                    return Err(protocol(format!("file index {file} out of range")));
                }
                // Announced again: the answer (or the PLACED frame) may have been lost.
                if self.kept.contains(file.into()) {
                    self.answer(file, Answer::Kept);
                    return Ok(true);
                }
                if self.completed.contains(file.into()) {
                    self.reports.push_back(Frame::Placed { file });
                    return Ok(true);
                }
                if let Some(rx) = self.files.get(&file) {
                    let answer = if rx.checking {
                        Answer::Check
                    } else {
                        Answer::Send
                    };
                    self.answer(file, answer);
                    return Ok(true);
                }
                if meta.kind != EntryKind::File && meta.size != 0 {
                    return Err(protocol(format!("{} with a size: not a file", meta.path)));
                }
                let verify = header.verify && meta.kind == EntryKind::File && meta.size > 0;
                let held = sink
                    .open(file, &meta)
                    .map_err(SessionError::from)?
                    .min(meta.size);
                let checking = match sink.kept(file) {
                    Some(Kept::Same | Kept::Newer) => {
                        let f = u64::from(file);
                        self.completed.insert(f..f + 1);
                        self.kept.insert(f..f + 1);
                        self.stats.files_kept += 1;
                        self.stats.bytes_kept = self.stats.bytes_kept.saturating_add(meta.size);
                        self.events.push_back(ReceiverEvent::FileComplete(file));
                        self.answer(file, Answer::Kept);
                        return Ok(true);
                    }
                    Some(Kept::Check) => true,
                    None => false,
                };
                // A copy to check is held whole; otherwise what an earlier session left.
                let held = if checking { meta.size } else { held };
                let mut received = RangeSet::new();
                received.insert(0..held);
                if checking {
                    self.answer(file, Answer::Check);
                } else {
                    // The sink vouches for `held`, but the sizes it is clamped to are the
                    // sender's.
                    self.stats.bytes_resumed = self.stats.bytes_resumed.saturating_add(held);
                    if held > 0 || resume > 0 {
                        // The sender learns what this side holds, whatever it claimed.
                        self.reports.push_back(Frame::Durable { file, bytes: held });
                    }
                    if resume > held {
                        self.reports.push_back(Frame::Missing {
                            file,
                            range: held..resume,
                        });
                    }
                    self.answer(file, Answer::Send);
                }
                self.files.insert(
                    file,
                    FileRx {
                        path: meta.path,
                        size: meta.size,
                        received,
                        verify: verify || checking,
                        digest: None,
                        finishing: false,
                        sync_asked: held,
                        mismatched: false,
                        checking,
                    },
                );
                self.maybe_finish(file, sink)?;
            }
            Frame::Data { file, offset, data } => {
                if self.completed.contains(file.into()) {
                    self.stats.bytes_duplicate += data.len() as u64;
                    return Ok(true);
                }
                let Some(rx) = self.files.get_mut(&file) else {
                    return Ok(false);
                };
                let range = offset..offset + data.len() as u64;
                if range.end > rx.size {
                    return Err(protocol(format!("data beyond the end of file {file}")));
                }
                if rx.finishing {
                    self.stats.bytes_duplicate += data.len() as u64;
                    return Ok(true);
                }
                let mut fresh = 0u64;
                for gap in rx.received.gaps(range.clone()) {
                    let from = (gap.start - offset) as usize;
                    let to = (gap.end - offset) as usize;
                    sink.write_at(file, gap.start, &data[from..to])
                        .map_err(SessionError::from)?;
                    fresh += gap.end - gap.start;
                }
                self.stats.bytes_received += fresh;
                self.stats.bytes_duplicate += data.len() as u64 - fresh;
                rx.received.insert(range);
                if rx.received.range_count() > MAX_RANGES_PER_FILE {
                    return Err(protocol(format!(
                        "file {file} arrived in more than {MAX_RANGES_PER_FILE} pieces"
                    )));
                }
                self.maybe_finish(file, sink)?;
            }
            Frame::Digest { file, hash } => {
                if self.completed.contains(file.into()) {
                    return Ok(true);
                }
                let Some(rx) = self.files.get_mut(&file) else {
                    return Ok(false);
                };
                if rx.digest.is_some_and(|known| known != hash) {
                    return Err(protocol(format!("the digest of file {file} changed")));
                }
                rx.digest = Some(hash);
                self.maybe_finish(file, sink)?;
            }
            Frame::Done => self.on_done(),
            Frame::Padding(_) => {}
            Frame::Ping { id } => {
                if self.pongs.len() < MAX_PENDING_PONGS {
                    self.pongs.push(id);
                }
            }
            Frame::Close {
                code,
                message,
                file,
            } => {
                if code == ErrorCode::Ok as u8 && matches!(self.state, State::Draining { .. }) {
                    self.state = State::Closed;
                } else {
                    self.abandoned = code == ErrorCode::Cancelled as u8;
                    self.fail(SessionError {
                        code: ErrorCode::from_u8(code),
                        message,
                        remote: true,
                        file,
                    });
                }
            }
            other => return Err(protocol(format!("unexpected frame from sender: {other:?}"))),
        }
        Ok(true)
    }

    /// Queues the answer to `file`'s announcement, in the ANSWERS frame of the files just
    /// before it when there is one still to send, so that a tree of small files is answered
    /// a few thousand files a frame.
    fn answer(&mut self, file: u32, answer: Answer) {
        if let Some(Frame::Answers { first, answers }) = self.reports.back_mut() {
            if u64::from(*first) + answers.len() as u64 == u64::from(file)
                && answers.len() < MAX_ANSWERS
            {
                answers.push(answer);
                return;
            }
        }
        self.reports.push_back(Frame::Answers {
            first: file,
            answers: vec![answer],
        });
    }

    /// Hands `file` to the sink to be made final once every byte and (when it is verified)
    /// the sender's digest are in.
    fn maybe_finish(&mut self, file: u32, sink: &mut dyn DataSink) -> Result<(), SessionError> {
        let Some(rx) = self.files.get_mut(&file) else {
            return Ok(());
        };
        if rx.finishing || !rx.received_all() || (rx.verify && rx.digest.is_none()) {
            return Ok(());
        }
        rx.finishing = true;
        let digest = rx.digest.filter(|_| rx.verify);
        sink.finish(file, digest.as_ref())
            .map_err(SessionError::from)
    }

    /// The sender has had everything acknowledged. Answers with the RESULT once every file is
    /// complete; before that, says which bytes are missing, or (while files are still being
    /// made final) remembers the DONE and answers when the last file is.
    fn on_done(&mut self) {
        let total = self.header.as_ref().map_or(0, |h| u64::from(h.total_files));
        let announced = self.completed.len() + self.files.len() as u64;
        if announced != total || self.header.is_none() {
            let missing = total.saturating_sub(announced);
            self.fail(SessionError::local(
                ErrorCode::Protocol,
                format!("sender finished with {missing} entries never announced"),
            ));
            return;
        }
        if !self.files.is_empty() {
            let mut gaps = Vec::new();
            for (&file, rx) in &self.files {
                if let Some(range) = rx.received.gaps(0..rx.size).next() {
                    gaps.push(Frame::Missing { file, range });
                }
            }
            if gaps.is_empty() {
                // Every byte is here; the files are still being synced, checked and renamed.
                self.done_early = true;
                return;
            }
            gaps.sort_by_key(|f| match f {
                Frame::Missing { file, .. } => *file,
                _ => 0,
            });
            self.reports.extend(gaps.into_iter().take(MISSING_PER_DONE));
            return;
        }
        let verdict = refusals(&self.refused);
        if matches!(self.state, State::Established) {
            self.events.push_back(match &verdict {
                None => ReceiverEvent::Complete,
                Some(message) => ReceiverEvent::Failed(SessionError::local(
                    ErrorCode::PermissionDenied,
                    message.clone(),
                )),
            });
            self.state = State::Draining {
                until: self.last_recv + self.config.linger,
            };
        }
        self.result_pending = Some(match verdict {
            None => (ErrorCode::Ok, String::new()),
            Some(message) => (ErrorCode::PermissionDenied, message),
        });
        self.ack_deadline = Some(self.last_recv);
    }

    /// Writes the next datagram into `buf` and returns its length, or `None`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if let State::AwaitFinish { hello, .. } = &self.state {
            if !self.hello_pending {
                return None;
            }
            self.hello_pending = false;
            return codec::encode_handshake(DatagramKind::ServerHello, &self.cid, hello, buf);
        }
        let protection = self.protection.as_mut()?;
        let end = PROTECTED_HEADER_LEN + protection.payload_capacity(self.config.max_datagram);
        let out = &mut buf[..end];
        let mut pos = PROTECTED_HEADER_LEN;
        if let Some((code, message, file)) = self.close_pending.take() {
            Frame::Close {
                code: code as u8,
                message,
                file,
            }
            .encode(out, &mut pos)?;
        } else if matches!(self.state, State::Closed | State::AwaitVerdict) {
            return None;
        } else {
            if self.accept_pending && Frame::Accept.encode(out, &mut pos).is_some() {
                self.accept_pending = false;
            }
            while let Some(report) = self.reports.front() {
                if report.encode(out, &mut pos).is_none() {
                    break;
                }
                self.reports.pop_front();
            }
            while let Some(&id) = self.pongs.last() {
                if (Frame::Pong { id }).encode(out, &mut pos).is_none() {
                    break;
                }
                self.pongs.pop();
            }
            if self.ack_deadline.is_some_and(|d| now >= d) && !self.received_pns.is_empty() {
                let ranges: Vec<_> = self
                    .received_pns
                    .iter()
                    .rev()
                    .take(MAX_ACK_RANGES)
                    .collect();
                let delay = self
                    .largest_received_at
                    .map_or(0, |t| now.saturating_duration_since(t).as_micros());
                let frame = Frame::Ack {
                    delay_us: u32::try_from(delay).unwrap_or(u32::MAX),
                    ranges,
                };
                if frame.encode(out, &mut pos).is_some() {
                    self.unacked_bytes = 0;
                    self.ack_deadline = None;
                    self.last_ack_sent = Some(now);
                    self.stats.acks_sent += 1;
                }
            }
            // The RESULT comes last: after the reports of the last files (a KEPT among them),
            // since the sender takes a RESULT OK for every file in place, written unless it
            // heard otherwise; and after the ACK, which a closed sender no longer reads.
            if self.reports.is_empty() {
                if let Some((code, message)) = self.result_pending.take() {
                    let frame = Frame::Result {
                        code: code as u8,
                        message,
                    };
                    if frame.encode(out, &mut pos).is_none() {
                        if let Frame::Result { message, .. } = frame {
                            self.result_pending = Some((code, message));
                        }
                    }
                }
            }
            if pos == PROTECTED_HEADER_LEN {
                return None;
            }
        }
        let (_, len) = protection.seal(buf, pos - PROTECTED_HEADER_LEN);
        Some(len)
    }
}

/// The verdict on a transfer whose every file is done, when the sink refused some: how many,
/// and the first few reasons (the RESULT frame's message is bounded).
fn refusals(refused: &[String]) -> Option<String> {
    const SHOWN: usize = 3;
    let (first, rest) = refused.split_first()?;
    let mut message = match refused.len() {
        1 => format!("1 entry refused: {first}"),
        n => format!("{n} entries refused: {first}"),
    };
    for reason in rest.iter().take(SHOWN - 1) {
        message.push_str("; ");
        message.push_str(reason);
    }
    if refused.len() > SHOWN {
        message.push_str("; ...");
    }
    Some(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::encode_handshake;
    use crate::crypto::handshake::Initiator;
    use crate::files::FileMeta;
    use ring::rand::SystemRandom;

    /// A sink that holds every byte of every file from an earlier session.
    struct HoldsEverything;

    impl DataSink for HoldsEverything {
        fn open(&mut self, _: u32, _: &FileMeta) -> Result<u64, StorageError> {
            Ok(u64::MAX)
        }
        fn write_at(&mut self, _: u32, _: u64, _: &[u8]) -> Result<(), StorageError> {
            Ok(())
        }
        fn finish(&mut self, _: u32, _: Option<&Digest>) -> Result<(), StorageError> {
            Ok(())
        }
        fn sync(&mut self, _: &[(u32, u64)]) -> Result<(), StorageError> {
            Ok(())
        }
        fn poll_report(&mut self) -> Result<Option<SinkReport>, StorageError> {
            Ok(None)
        }
        fn abandon(&mut self) -> Result<(), StorageError> {
            Ok(())
        }
        fn release(&mut self) -> Result<(), StorageError> {
            Ok(())
        }
    }

    /// A session past its handshake and verdict, with `header` received.
    fn established(header: TransferHeader) -> ReceiverSession {
        let rng = SystemRandom::new();
        let client = Identity::generate(&rng).expect("identity");
        let server = Identity::generate(&rng).expect("identity");
        let (_, hello) = Initiator::start(&rng, &client, CipherLevel::None).expect("hello");
        let mut datagram = vec![0u8; HANDSHAKE_HEADER_LEN + hello.len()];
        encode_handshake(DatagramKind::ClientHello, &[1; 8], &hello, &mut datagram);
        let now = Instant::now();
        let config = ReceiverConfig::default();
        let mut rx =
            ReceiverSession::accept(now, &rng, &server, config, &datagram).expect("accepted");
        rx.state = State::Established;
        rx.header = Some(header);
        rx
    }

    #[test]
    fn resumed_bytes_of_huge_files_saturate_instead_of_overflowing() {
        let mut rx = established(TransferHeader::plain(2, u64::MAX));
        for file in 0..2 {
            let meta = FileMeta {
                path: format!("f{file}"),
                kind: EntryKind::File,
                size: u64::MAX,
                mtime_us: 0,
                executable: false,
            };
            let frame = Frame::File {
                file,
                meta,
                resume: 0,
            };
            assert_eq!(rx.on_frame(frame, &mut HoldsEverything), Ok(true));
        }
        assert_eq!(rx.stats().bytes_resumed, u64::MAX);
    }

    /// A sink that puts finished files in place only when told to.
    #[derive(Default)]
    struct PlacesWhenTold {
        finished: Vec<u32>,
        place: bool,
    }

    impl DataSink for PlacesWhenTold {
        fn open(&mut self, _: u32, _: &FileMeta) -> Result<u64, StorageError> {
            Ok(0)
        }
        fn write_at(&mut self, _: u32, _: u64, _: &[u8]) -> Result<(), StorageError> {
            Ok(())
        }
        fn finish(&mut self, file: u32, _: Option<&Digest>) -> Result<(), StorageError> {
            self.finished.push(file);
            Ok(())
        }
        fn sync(&mut self, _: &[(u32, u64)]) -> Result<(), StorageError> {
            Ok(())
        }
        fn poll_report(&mut self) -> Result<Option<SinkReport>, StorageError> {
            if !self.place {
                return Ok(None);
            }
            Ok(self.finished.pop().map(SinkReport::Placed))
        }
        fn abandon(&mut self) -> Result<(), StorageError> {
            Ok(())
        }
        fn release(&mut self) -> Result<(), StorageError> {
            Ok(())
        }
    }

    #[test]
    fn a_done_that_comes_before_the_last_file_is_in_place_is_answered_when_it_is() {
        let mut rx = established(TransferHeader {
            skip: crate::files::SkipRule::Whole,
            ..TransferHeader::plain(1, 10)
        });
        let mut sink = PlacesWhenTold::default();
        let meta = FileMeta {
            path: "f".into(),
            kind: EntryKind::File,
            size: 10,
            mtime_us: 0,
            executable: false,
        };
        let file = Frame::File {
            file: 0,
            meta,
            resume: 0,
        };
        assert_eq!(rx.on_frame(file, &mut sink), Ok(true));
        let data = Frame::Data {
            file: 0,
            offset: 0,
            data: &[7; 10],
        };
        assert_eq!(rx.on_frame(data, &mut sink), Ok(true));
        assert_eq!(
            sink.finished,
            [0],
            "every byte is here: the file is being finished"
        );
        // The DONE is taken in (acknowledged) though the file is not in place yet.
        assert_eq!(rx.on_frame(Frame::Done, &mut sink), Ok(true));
        rx.poll_sink(Instant::now(), &mut sink);
        assert_eq!(rx.result_pending, None);
        sink.place = true;
        rx.poll_sink(Instant::now(), &mut sink);
        assert_eq!(rx.result_pending, Some((ErrorCode::Ok, String::new())));
        assert!(std::iter::from_fn(|| rx.poll_event())
            .any(|event| matches!(event, ReceiverEvent::Complete)));
    }
}
