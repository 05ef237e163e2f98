//! The receiver session under attack: a real handshake as the sender (the harness holds the
//! sender's session keys), then the fuzzer's datagrams — authenticated hostile frames, raw
//! bytes, replays, reordering, honest deliveries of planned files — interleaved with time. The
//! sink checks every byte placed ([`CheckingSink`]); after each step the session's counters
//! must agree with it, and every frame it sends must make sense to the sender.

use std::time::Instant;

use arbitrary::Arbitrary;
use jetstream_wire::codec::{DatagramKind, Frame, Header, HANDSHAKE_HEADER_LEN};
use jetstream_wire::crypto::aead::CipherLevel;
use jetstream_wire::files::{EntryKind, FileMeta};
use jetstream_wire::session::{
    ErrorCode, ReceiverConfig, ReceiverEvent, ReceiverSession, SessionError,
};

use crate::frames::{HeaderSpec, Pick, Shape};
use crate::keys::{self, Level};
use crate::peer::{self, Driven, Outcome, Peer, Step, MAX_DATAGRAM};
use crate::storage::{digest_of, pattern, CheckingSink, SinkSpec};

/// Most files a transfer plans.
const MAX_FILES: usize = 16;
/// Largest size a planned file gets unless the fuzzer picks a wild one.
const PLANNED_SIZE: u64 = 4096;
/// Most bytes one honest delivery carries.
const DELIVERY: u64 = 16 * 1024;
/// Bytes per DATA frame of an honest delivery.
const CHUNK: u64 = 1024;
/// The connection id of the session.
const CID: [u8; 8] = *b"fuzz-rx!";

/// A file of the transfer as a well-behaved sender would announce it.
#[derive(Arbitrary, Clone, Debug)]
pub struct PlannedFile {
    /// Its size, up to [`PLANNED_SIZE`] unless wild.
    pub size: Pick,
    /// A directory (announced with size 0).
    pub directory: bool,
}

impl PlannedFile {
    /// The file as announced at `path`, its size resolved up to `largest`, no time, not
    /// executable.
    pub fn meta(&self, path: String, largest: u64) -> FileMeta {
        let (kind, size) = if self.directory {
            (EntryKind::Directory, 0)
        } else {
            (EntryKind::File, self.size.within(largest))
        };
        FileMeta {
            path,
            kind,
            size,
            mtime_us: 0,
            executable: false,
        }
    }
}

/// Everything the fuzzer decides about one receiver session.
#[derive(Arbitrary, Debug)]
pub struct ReceiverInput {
    offered: Level,
    min_cipher: Level,
    files: Vec<PlannedFile>,
    header: HeaderSpec,
    refuse: bool,
    sink: SinkSpec,
    steps: Vec<Step<ReceiverStep>>,
}

/// What only a receiver's peer does.
#[derive(Arbitrary, Debug)]
pub enum ReceiverStep {
    /// The TRANSFER frame and every planned FILE frame, as a real sender opens.
    Open,
    /// The bytes of a planned file from an offset on (at most [`DELIVERY`]), then its digest.
    Deliver { file: Pick, from: Pick },
    /// The application ends the session.
    Close(u8),
}

/// Runs one input.
pub fn run(input: &ReceiverInput) -> Outcome {
    let metas = planned(&input.files);
    let sizes: Vec<u64> = metas.iter().map(|m| m.size).collect();
    let now = Instant::now();
    let config = ReceiverConfig {
        max_datagram: MAX_DATAGRAM,
        min_cipher: input.min_cipher.into(),
        ..ReceiverConfig::default()
    };
    let (initiator, hello) = keys::initiator(input.offered.into());
    let hello = peer::handshake_datagram(DatagramKind::ClientHello, &CID, &hello);
    let session = ReceiverSession::accept(
        now,
        &keys::rng(keys::SERVER_RNG),
        keys::server(),
        config,
        &hello,
    )
    .expect("a real ClientHello is accepted");
    let mut rx = Receiver {
        session,
        sink: CheckingSink::new(input.sink.clone()),
        header: input.header.clone(),
        metas,
        sizes,
        outcome: Outcome::default(),
    };
    let mut buf = vec![0u8; peer::BUF_LEN];
    let len = rx
        .session
        .poll_transmit(now, &mut buf)
        .expect("a ServerHello");
    assert!(
        matches!(
            Header::decode(&buf[..len]),
            Ok(Header::Handshake {
                kind: DatagramKind::ServerHello,
                ..
            })
        ),
        "the receiver answers with a ServerHello"
    );
    let auth = keys::auth().encode().expect("short credentials");
    let (keys, server, finish) = initiator
        .finish(&buf[HANDSHAKE_HEADER_LEN..len], None, &auth)
        .expect("the real ServerHello verifies");
    assert_eq!(server, keys::server().public_key());
    let mut finish = peer::handshake_datagram(DatagramKind::ClientFinish, &CID, &finish);
    rx.session.handle_datagram(now, &mut finish, &mut rx.sink);
    match rx.session.poll_event() {
        Some(ReceiverEvent::Authenticate { peer, auth }) => {
            assert_eq!(peer, keys::client().public_key());
            assert_eq!(auth, keys::auth());
        }
        other => panic!("a real ClientFinish gives {other:?}"),
    }
    let verdict = match input.refuse {
        false => Ok(()),
        true => Err(SessionError {
            code: ErrorCode::AuthFailed,
            message: "refused".into(),
            remote: false,
            file: None,
        }),
    };
    rx.session.authorize(now, verdict, &mut rx.sink);
    let mut peer = Peer::new(CID, keys, now);
    peer::drive(&mut rx, &mut peer, &input.steps);
    rx.outcome
}

/// The planned files, with their sizes resolved.
fn planned(files: &[PlannedFile]) -> Vec<FileMeta> {
    (0..)
        .zip(files.iter().take(MAX_FILES))
        .map(|(i, f)| f.meta(format!("f{i}"), PLANNED_SIZE))
        .collect()
}

/// The session, its sink and what the harness planned.
struct Receiver {
    session: ReceiverSession,
    sink: CheckingSink,
    header: HeaderSpec,
    metas: Vec<FileMeta>,
    sizes: Vec<u64>,
    outcome: Outcome,
}

impl Receiver {
    fn send(&mut self, peer: &mut Peer, frames: &[Frame]) {
        for datagram in peer.seal_all(frames) {
            peer::deliver(self, peer, datagram);
        }
    }
}

impl Driven for Receiver {
    type Local = ReceiverStep;

    fn deliver(&mut self, now: Instant, datagram: &mut [u8]) {
        self.session.handle_datagram(now, datagram, &mut self.sink);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.session.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.session.handle_timeout(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.session.poll_sink(now, &mut self.sink);
        let len = self.session.poll_transmit(now, buf)?;
        assert!(len <= MAX_DATAGRAM, "a datagram of {len} bytes");
        Some(len)
    }

    fn check_sent(&mut self, frame: &Frame, peer: &Peer) {
        match frame {
            Frame::Ack { ranges, .. } => {
                // At level None anyone can forge a packet, and the receiver acknowledges it.
                if peer.level() != CipherLevel::None {
                    let sent = peer.next_pn();
                    assert!(
                        ranges.iter().all(|r| r.end <= sent),
                        "ACK of {ranges:?}, {sent} packets sent"
                    );
                }
            }
            Frame::Durable { file, bytes } => {
                let size = self.sink.size_of(*file);
                assert!(
                    size.is_some_and(|s| *bytes <= s),
                    "DURABLE {bytes} of {file}"
                );
            }
            Frame::Missing { file, range } => {
                let size = self.sink.size_of(*file);
                assert!(
                    size.is_some_and(|s| range.end <= s),
                    "MISSING {range:?} of {file}"
                );
            }
            Frame::Placed { file } | Frame::Kept { file, .. } => {
                assert!(self.sink.is_placed(*file), "PLACED {file}");
            }
            Frame::Answers { first, answers } => {
                // Only announced files are answered.
                for file in (*first..).take(answers.len()) {
                    assert!(
                        self.sink.size_of(file).is_some(),
                        "ANSWERS about file {file}"
                    );
                }
            }
            Frame::Accept
            | Frame::Result { .. }
            | Frame::Close { .. }
            | Frame::Pong { .. }
            | Frame::Padding(_) => {}
            other => panic!("a receiver sent {other:?}"),
        }
    }

    fn check(&mut self) {
        let stats = self.session.stats();
        assert!(
            stats.bytes_received <= self.sink.announced_bytes(),
            "{} bytes received of {} announced",
            stats.bytes_received,
            self.sink.announced_bytes()
        );
        while let Some(event) = self.session.poll_event() {
            match event {
                ReceiverEvent::FileComplete(file) => {
                    assert!(
                        self.sink.is_placed(file),
                        "file {file} complete, not placed"
                    );
                    self.outcome.files_complete += 1;
                }
                ReceiverEvent::Complete => self.outcome.complete = true,
                ReceiverEvent::Authenticate { .. } => panic!("a second Authenticate"),
                ReceiverEvent::TransferStarted(_) | ReceiverEvent::Failed(_) => {}
            }
        }
    }

    fn shape(&self, peer: &Peer) -> Shape<'_> {
        Shape {
            sizes: &self.sizes,
            received: peer.received_count(),
        }
    }

    fn local(&mut self, step: &ReceiverStep, peer: &mut Peer) {
        match step {
            ReceiverStep::Open => {
                let shape = self.shape(peer);
                let mut header = self.header.resolve(&shape);
                header.total_files = self.metas.len() as u32;
                let mut frames = vec![Frame::Transfer(header)];
                frames.extend((0..).zip(&self.metas).map(|(file, meta)| Frame::File {
                    file,
                    meta: meta.clone(),
                    resume: 0,
                }));
                self.send(peer, &frames);
            }
            ReceiverStep::Deliver { file, from } => {
                let count = self.metas.len() as u64;
                if count == 0 {
                    return;
                }
                let file = (file.within(count - 1) % count) as u32;
                let size = self.sizes[file as usize];
                let from = from.within(size).min(size);
                let to = size.min(from.saturating_add(DELIVERY));
                let bytes: Vec<u8> = (from..to).map(|at| pattern(file, at)).collect();
                let mut frames: Vec<Frame> = (from..to)
                    .step_by(CHUNK as usize)
                    .map(|offset| {
                        let at = (offset - from) as usize;
                        let end = (at + CHUNK as usize).min(bytes.len());
                        Frame::Data {
                            file,
                            offset,
                            data: &bytes[at..end],
                        }
                    })
                    .collect();
                frames.push(Frame::Digest {
                    file,
                    hash: digest_of(file),
                });
                self.send(peer, &frames);
            }
            ReceiverStep::Close(code) => self
                .session
                .close(ErrorCode::from_u8(*code), "closed by the application"),
        }
    }
}
