//! The receiving side of a session: handshake as responder, the credentials verdict, then
//! placing file bytes through a [`DataSink`] exactly once per byte, acknowledging packet
//! numbers in ranges, finishing each file when its last byte lands, and answering DONE with
//! the transfer's RESULT.

use super::{ErrorCode, Protection, SessionError};
use crate::codec::{
    self, Auth, ConnectionId, DatagramKind, Frame, Frames, Header, HANDSHAKE_HEADER_LEN,
    MAX_ACK_RANGES, PROTECTED_HEADER_LEN,
};
use crate::crypto::aead::CipherLevel;
use crate::crypto::handshake::{Identity, PublicKey, Responder};
use crate::files::{DataSink, EntryKind, FileMeta, StorageError, TransferHeader};
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
    /// Every byte of an entry arrived and was handed to [`DataSink::finish`].
    FileComplete(u32),
    /// Every entry is in place and the sender knows it.
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
    /// Datagrams dropped as replays.
    pub packets_replayed: u64,
    /// Datagrams dropped as forged (authentication failed).
    pub packets_forged: u64,
    /// Datagrams left unacknowledged because they arrived before what they depend on.
    pub packets_deferred: u64,
    /// Entries complete.
    pub files_complete: u32,
    /// ACK frames sent.
    pub acks_sent: u64,
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

#[derive(Debug)]
struct FileRx {
    size: u64,
    received: RangeSet,
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
    received_pns: RangeSet,
    largest_received_at: Option<Instant>,
    unacked_bytes: u64,
    ack_deadline: Option<Instant>,
    last_ack_sent: Option<Instant>,
    hello_pending: bool,
    accept_pending: bool,
    result_pending: Option<(ErrorCode, String)>,
    close_pending: Option<(ErrorCode, String)>,
    pongs: Vec<u64>,
    last_recv: Instant,
    events: VecDeque<ReceiverEvent>,
    stats: ReceiverStats,
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
        let (responder, hello) = Responder::accept(
            rng,
            identity,
            &datagram[HANDSHAKE_HEADER_LEN..],
            config.min_cipher,
        )
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
            received_pns: RangeSet::new(),
            largest_received_at: None,
            unacked_bytes: 0,
            ack_deadline: None,
            last_ack_sent: None,
            hello_pending: true,
            accept_pending: false,
            result_pending: None,
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
            ..self.stats.clone()
        }
    }

    /// Whether the session is over and has nothing left to send.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed) && self.close_pending.is_none()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<ReceiverEvent> {
        self.events.pop_front()
    }

    /// The application's verdict on the credentials of [`ReceiverEvent::Authenticate`].
    pub fn authorize(&mut self, verdict: Result<(), SessionError>) {
        if !matches!(self.state, State::AwaitVerdict) {
            return;
        }
        match verdict {
            Ok(()) => {
                self.state = State::Established;
                self.accept_pending = true;
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
            self.close_pending = Some((error.code, error.message.clone()));
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
                Some(self.ack_deadline.map_or(idle, |a| a.min(idle)))
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
                if matches!(self.state, State::AwaitFinish { .. }) {
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
                        self.protection = Some(Protection::new(self.cid, keys));
                        self.peer = Some(peer);
                        self.last_recv = now;
                        self.state = State::AwaitVerdict;
                        self.events
                            .push_back(ReceiverEvent::Authenticate { peer, auth });
                    }
                    Err(e) => {
                        self.protection = Some(Protection::new(self.cid, keys));
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
        if !matches!(self.state, State::Established | State::Draining { .. }) {
            return;
        }
        let (pn, payload) = match protection.open(datagram) {
            Ok(x) => x,
            Err(super::protection::Drop::Malformed) => {
                self.stats.packets_malformed += 1;
                return;
            }
            Err(super::protection::Drop::Replayed) => {
                self.stats.packets_replayed += 1;
                return;
            }
            Err(super::protection::Drop::Forged) => {
                self.stats.packets_forged += 1;
                return;
            }
        };
        self.stats.packets_received += 1;
        self.last_recv = now;
        let mut placed = true;
        for frame in Frames::new(&datagram[payload]) {
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
        self.received_pns.insert(pn..pn + 1);
        self.received_pns.truncate_oldest(MAX_TRACKED_RANGES);
        if self.received_pns.max() == Some(pn) {
            self.largest_received_at = Some(now);
        }
        self.unacked_bytes += datagram.len() as u64;
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
                    sink.begin(&header).map_err(storage_error)?;
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
                if self.completed.contains(file.into()) || self.files.contains_key(&file) {
                    return Ok(true);
                }
                if meta.kind == EntryKind::Directory && meta.size != 0 {
                    return Err(protocol(format!("directory {} with a size", meta.path)));
                }
                self.open_file(file, &meta, sink)?;
                if resume > 0 {
                    // Bytes an earlier session of this transfer put in place: reopened, the
                    // file still holds them (files are never truncated when opened).
                    self.mark_received(file, 0..resume, sink)?;
                }
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
                let mut fresh = 0u64;
                for gap in rx.received.gaps(range.clone()) {
                    let from = (gap.start - offset) as usize;
                    let to = (gap.end - offset) as usize;
                    sink.write_at(file, gap.start, &data[from..to])
                        .map_err(storage_error)?;
                    fresh += gap.end - gap.start;
                }
                self.stats.bytes_received += fresh;
                self.stats.bytes_duplicate += data.len() as u64 - fresh;
                self.mark_received(file, range, sink)?;
            }
            Frame::Done => {
                if !sink.settled().map_err(storage_error)? {
                    // Files are still being put in place: the sender repeats its DONE.
                    return Ok(false);
                }
                self.on_done();
            }
            Frame::Padding(_) => {}
            Frame::Ping { id } => {
                if self.pongs.len() < MAX_PENDING_PONGS {
                    self.pongs.push(id);
                }
            }
            Frame::Close { code, message } => {
                if code == ErrorCode::Ok as u8 && matches!(self.state, State::Draining { .. }) {
                    self.state = State::Closed;
                } else {
                    self.fail(SessionError {
                        code: ErrorCode::from_u8(code),
                        message,
                        remote: true,
                    });
                }
            }
            other => return Err(protocol(format!("unexpected frame from sender: {other:?}"))),
        }
        Ok(true)
    }

    fn open_file(
        &mut self,
        file: u32,
        meta: &FileMeta,
        sink: &mut dyn DataSink,
    ) -> Result<(), SessionError> {
        sink.open(file, meta).map_err(storage_error)?;
        if meta.size == 0 {
            self.finish_file(file, sink)
        } else {
            self.files.insert(
                file,
                FileRx {
                    size: meta.size,
                    received: RangeSet::new(),
                },
            );
            Ok(())
        }
    }

    /// Records `range` of `file` as in place; the file is finished once all of it is.
    fn mark_received(
        &mut self,
        file: u32,
        range: std::ops::Range<u64>,
        sink: &mut dyn DataSink,
    ) -> Result<(), SessionError> {
        let Some(rx) = self.files.get_mut(&file) else {
            return Ok(());
        };
        rx.received.insert(range);
        if rx.received.len() == rx.size {
            self.files.remove(&file);
            self.finish_file(file, sink)?;
        }
        Ok(())
    }

    fn finish_file(&mut self, file: u32, sink: &mut dyn DataSink) -> Result<(), SessionError> {
        sink.finish(file).map_err(storage_error)?;
        self.completed.insert(u64::from(file)..u64::from(file) + 1);
        self.events.push_back(ReceiverEvent::FileComplete(file));
        Ok(())
    }

    fn on_done(&mut self) {
        let total = self.header.as_ref().map_or(0, |h| h.total_files);
        if self.completed.len() != u64::from(total) || self.header.is_none() {
            let missing = u64::from(total) - self.completed.len().min(u64::from(total));
            self.fail(SessionError::local(
                ErrorCode::Protocol,
                format!("sender finished with {missing} entries missing"),
            ));
            return;
        }
        if matches!(self.state, State::Established) {
            self.events.push_back(ReceiverEvent::Complete);
            self.state = State::Draining {
                until: self.last_recv + self.config.linger,
            };
        }
        self.result_pending = Some((ErrorCode::Ok, String::new()));
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
        if let Some((code, message)) = self.close_pending.take() {
            Frame::Close {
                code: code as u8,
                message,
            }
            .encode(out, &mut pos)?;
        } else if matches!(self.state, State::Closed | State::AwaitVerdict) {
            return None;
        } else {
            if self.accept_pending && Frame::Accept.encode(out, &mut pos).is_some() {
                self.accept_pending = false;
            }
            if let Some((code, message)) = self.result_pending.take() {
                let frame = Frame::Result {
                    code: code as u8,
                    message,
                };
                frame.encode(out, &mut pos)?;
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
            if pos == PROTECTED_HEADER_LEN {
                return None;
            }
        }
        let (_, len) = protection.seal(buf, pos - PROTECTED_HEADER_LEN);
        Some(len)
    }
}

fn storage_error(e: StorageError) -> SessionError {
    SessionError::local(ErrorCode::Io, e.to_string())
}
