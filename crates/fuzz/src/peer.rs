//! The harness's side of a session: it holds the peer's real session keys, seals the frames the
//! fuzzer describes into datagrams the session authenticates, opens what the session sends to
//! check it, and runs the session's clock. [`drive`] plays a fuzzer's [`Step`]s against any
//! session that implements [`Driven`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use jetstream_wire::codec::{
    self, ConnectionId, DatagramKind, Frame, Frames, Header, PROTECTED_HEADER_LEN,
};
use jetstream_wire::crypto::aead::CipherLevel;
use jetstream_wire::crypto::handshake::SessionKeys;
use jetstream_wire::ranges::RangeSet;
use jetstream_wire::session::{Protection, DEFAULT_KEY_UPDATE_INTERVAL};

use crate::frames::{encode_fitting, FrameSpec, Shape};

/// Largest datagram either side sends.
pub const MAX_DATAGRAM: usize = 1472;
/// Room for any datagram a session writes (path MTU probes included).
pub const BUF_LEN: usize = 65_536;
/// Most datagrams taken from a session after one step.
const TRANSMITS_PER_STEP: usize = 64;
/// Most timer rounds run after one step.
const TIMEOUTS_PER_STEP: usize = 8;
/// Datagrams kept for replays.
const HISTORY: usize = 16;

/// One thing the fuzzer makes happen.
#[derive(Arbitrary, Debug)]
pub enum Step<L> {
    /// A datagram of these frames, sealed with the peer's keys; held back when `hold`.
    Frames { frames: Vec<FrameSpec>, hold: bool },
    /// These bytes as the payload of a sealed datagram (frames the decoder must refuse).
    Sealed(Vec<u8>),
    /// A datagram of these bytes, unauthenticated, with the session's connection id when
    /// `own_cid`.
    Raw { bytes: Vec<u8>, own_cid: bool },
    /// A datagram delivered before, again.
    Replay(u8),
    /// A datagram held back, delivered now (reordering).
    Release(u8),
    /// Packet numbers used up by datagrams that are lost.
    Lose(u8),
    /// Time passes (milliseconds, squared to reach idle timeouts).
    Wait(u8),
    /// Something only this kind of session does.
    Local(L),
}

/// The keys, clock and memory of the harness's side.
#[derive(Debug)]
pub struct Peer {
    cid: ConnectionId,
    protection: Protection,
    /// The clock of both sides.
    pub now: Instant,
    /// Packet numbers received from the session.
    pub received: RangeSet,
    history: VecDeque<Vec<u8>>,
    held: Vec<Vec<u8>>,
}

impl Peer {
    /// The peer of connection `cid`, with its side's session keys.
    pub fn new(cid: ConnectionId, keys: SessionKeys, now: Instant) -> Self {
        Peer {
            cid,
            protection: Protection::new(cid, keys, DEFAULT_KEY_UPDATE_INTERVAL),
            now,
            received: RangeSet::new(),
            history: VecDeque::new(),
            held: Vec::new(),
        }
    }

    /// The agreed cipher level.
    pub fn level(&self) -> CipherLevel {
        self.protection.level()
    }

    /// Packet numbers the peer has sealed so far: `0..next_pn`.
    pub fn next_pn(&self) -> u64 {
        self.protection.next_pn()
    }

    /// A datagram carrying those of `frames` that fit.
    pub fn seal_frames(&mut self, frames: &[Frame]) -> Vec<u8> {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let end = PROTECTED_HEADER_LEN + self.protection.payload_capacity(MAX_DATAGRAM);
        let mut pos = PROTECTED_HEADER_LEN;
        encode_fitting(frames, &mut buf[..end], &mut pos);
        self.seal(buf, pos - PROTECTED_HEADER_LEN)
    }

    /// Datagrams carrying all of `frames`, in order, each as full as it can be.
    pub fn seal_all(&mut self, frames: &[Frame]) -> Vec<Vec<u8>> {
        let end = PROTECTED_HEADER_LEN + self.protection.payload_capacity(MAX_DATAGRAM);
        let mut datagrams = Vec::new();
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut pos = PROTECTED_HEADER_LEN;
        for frame in frames {
            if frame.encode(&mut buf[..end], &mut pos).is_none() {
                if pos > PROTECTED_HEADER_LEN {
                    datagrams.push(self.seal(buf, pos - PROTECTED_HEADER_LEN));
                    buf = vec![0u8; MAX_DATAGRAM];
                    pos = PROTECTED_HEADER_LEN;
                }
                // A frame larger than a datagram is left out.
                let _fits = frame.encode(&mut buf[..end], &mut pos).is_some();
            }
        }
        if pos > PROTECTED_HEADER_LEN {
            datagrams.push(self.seal(buf, pos - PROTECTED_HEADER_LEN));
        }
        datagrams
    }

    /// How many packet numbers the session has used, as far as the peer has seen.
    pub fn received_count(&self) -> u64 {
        self.received.max().map_or(0, |pn| pn + 1)
    }

    /// A datagram whose payload is `payload` (cut to what fits).
    fn seal_bytes(&mut self, payload: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let room = self.protection.payload_capacity(MAX_DATAGRAM);
        let len = payload.len().min(room);
        buf[PROTECTED_HEADER_LEN..PROTECTED_HEADER_LEN + len].copy_from_slice(&payload[..len]);
        self.seal(buf, len)
    }

    fn seal(&mut self, mut buf: Vec<u8>, payload_len: usize) -> Vec<u8> {
        let (_, len) = self.protection.seal(&mut buf, payload_len);
        buf.truncate(len);
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(buf.clone());
        buf
    }

    /// Opens a datagram the session sent and returns its payload; handshake datagrams
    /// (retransmissions) give `None`. The session must seal what it sends with the agreed keys.
    pub fn open_sent(&mut self, datagram: &[u8]) -> Option<Vec<u8>> {
        if let Ok(Header::Handshake { .. }) = Header::decode(datagram) {
            return None;
        }
        let mut buf = datagram.to_vec();
        let (pn, payload) = self
            .protection
            .open(self.now, &mut buf)
            .expect("the session seals what it sends with the agreed keys");
        self.received.insert(pn..pn + 1);
        Some(buf[payload].to_vec())
    }
}

/// How far a run got, for choosing seeds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Files the session reported complete.
    pub files_complete: u64,
    /// Whether the whole transfer completed.
    pub complete: bool,
}

/// A session under test, as [`drive`] sees it.
pub trait Driven {
    /// The steps only this session has.
    type Local;
    /// Hands the session one datagram.
    fn deliver(&mut self, now: Instant, datagram: &mut [u8]);
    /// When the session's next timer is due.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Runs the session's timers.
    fn handle_timeout(&mut self, now: Instant);
    /// The next datagram the session sends, written into `buf`.
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize>;
    /// Checks a frame the session sent.
    fn check_sent(&mut self, frame: &Frame, peer: &Peer);
    /// Checks the session's state after a step (and takes its events).
    fn check(&mut self);
    /// What the peer knows when it picks numbers.
    fn shape(&self, peer: &Peer) -> Shape<'_>;
    /// Does a local step.
    fn local(&mut self, step: &Self::Local, peer: &mut Peer);
}

/// Plays `steps` against `session`, letting it send and run its timers after each.
pub fn drive<S: Driven>(session: &mut S, peer: &mut Peer, steps: &[Step<S::Local>]) {
    let mut buf = vec![0u8; BUF_LEN];
    settle(session, peer, &mut buf);
    for step in steps {
        match step {
            Step::Frames { frames, hold } => {
                let shape = session.shape(peer);
                let frames: Vec<Frame> = frames.iter().map(|f| f.resolve(&shape)).collect();
                let datagram = peer.seal_frames(&frames);
                if *hold {
                    peer.held.push(datagram);
                } else {
                    deliver(session, peer, datagram);
                }
            }
            Step::Sealed(payload) => {
                let datagram = peer.seal_bytes(payload);
                deliver(session, peer, datagram);
            }
            Step::Raw { bytes, own_cid } => {
                let mut datagram = bytes.clone();
                // The connection id follows the kind byte, and the version in handshakes.
                let at = match datagram.first() {
                    Some(&kind) if kind == DatagramKind::Protected as u8 => 1,
                    _ => 2,
                };
                if *own_cid && datagram.len() >= at + codec::CID_LEN {
                    datagram[at..at + codec::CID_LEN].copy_from_slice(&peer.cid);
                }
                deliver(session, peer, datagram);
            }
            Step::Replay(i) => {
                if let Some(datagram) = nth(&peer.history, *i).cloned() {
                    deliver(session, peer, datagram);
                }
            }
            Step::Release(i) => {
                if !peer.held.is_empty() {
                    let datagram = peer.held.remove(usize::from(*i) % peer.held.len());
                    deliver(session, peer, datagram);
                }
            }
            Step::Lose(n) => {
                for _ in 0..*n {
                    peer.seal_frames(&[Frame::Ping { id: 0 }]);
                }
            }
            Step::Wait(ms) => {
                let ms = u64::from(*ms);
                peer.now += Duration::from_millis(ms * ms);
            }
            Step::Local(local) => session.local(local, peer),
        }
        settle(session, peer, &mut buf);
    }
}

/// Hands `datagram` to the session.
pub fn deliver<S: Driven>(session: &mut S, peer: &Peer, mut datagram: Vec<u8>) {
    session.deliver(peer.now, &mut datagram);
}

fn nth(history: &VecDeque<Vec<u8>>, i: u8) -> Option<&Vec<u8>> {
    match history.len() {
        0 => None,
        n => history.get(usize::from(i) % n),
    }
}

/// Runs the timers that are due, then takes and checks what the session sends.
fn settle<S: Driven>(session: &mut S, peer: &mut Peer, buf: &mut [u8]) {
    for _ in 0..TIMEOUTS_PER_STEP {
        match session.poll_timeout() {
            Some(at) if at <= peer.now => session.handle_timeout(peer.now),
            _ => break,
        }
    }
    for _ in 0..TRANSMITS_PER_STEP {
        let Some(len) = session.poll_transmit(peer.now, buf) else {
            break;
        };
        let Some(payload) = peer.open_sent(&buf[..len]) else {
            continue;
        };
        for frame in Frames::new(&payload) {
            let frame = frame.expect("the session sends only frames that decode");
            session.check_sent(&frame, peer);
        }
    }
    session.check();
}

/// Handshake datagram of `kind` for connection `cid` carrying `message`.
pub fn handshake_datagram(kind: DatagramKind, cid: &ConnectionId, message: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; codec::HANDSHAKE_HEADER_LEN + message.len()];
    let len = codec::encode_handshake(kind, cid, message, &mut buf)
        .expect("the buffer holds header and message");
    buf.truncate(len);
    buf
}
