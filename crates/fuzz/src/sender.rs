//! The sender session under attack: a real handshake as the receiver (the harness holds the
//! receiver's session keys), then the fuzzer's datagrams — authenticated hostile ACK, DURABLE,
//! PLACED, MISSING, RESULT, CLOSE... frames with wild ranges, raw bytes, replays, reordering,
//! honest acknowledgements of what it sent — interleaved with time and the application's calls.
//! The source checks every read ([`PatternSource`]); every frame the sender sends must describe
//! the planned files truthfully, and what it counts as acknowledged must stay inside them.

use std::time::Instant;

use arbitrary::Arbitrary;
use jetstream_wire::codec::{DatagramKind, Frame, Header, HANDSHAKE_HEADER_LEN, MAX_ACK_RANGES};
use jetstream_wire::files::{FileMeta, TransferHeader};
use jetstream_wire::rate::RateLimits;
use jetstream_wire::session::{ErrorCode, SenderConfig, SenderEvent, SenderSession};

use crate::frames::{Pick, Shape};
use crate::keys::{self, Level};
use crate::peer::{self, Driven, Outcome, Peer, Step, MAX_DATAGRAM};
use crate::receiver::PlannedFile;
use crate::storage::{digest_of, pattern, PatternSource, SourceSpec};

/// Most files a transfer plans.
const MAX_FILES: usize = 16;
/// Largest size a planned file gets unless the fuzzer picks a wild one.
const PLANNED_SIZE: u64 = 64 * 1024;
/// Largest datagram a probing sender may try.
const PROBE_LIMIT: usize = 9000;

/// Everything the fuzzer decides about one sender session.
#[derive(Arbitrary, Debug)]
pub struct SenderInput {
    cipher: Level,
    min_cipher: Level,
    files: Vec<PlannedFile>,
    verify: bool,
    resume: Vec<Pick>,
    probe_mtu: bool,
    rate_control: bool,
    source: SourceSpec,
    steps: Vec<Step<SenderStep>>,
}

/// What only a sender's peer, or the sender's application, does.
#[derive(Arbitrary, Debug)]
pub enum SenderStep {
    /// ACCEPT, as the receiver's verdict.
    Accept,
    /// An honest ACK of the newest ranges of packets received.
    AckAll { delay_us: u16 },
    /// PLACED for every file, then RESULT ok.
    PlaceAll,
    /// The application pings.
    Ping(u64),
    /// The application suspends the transfer.
    Suspend,
    /// The application resumes it.
    Resume,
    /// The application sets rate limits.
    Limits { min: u32, max: Option<u32> },
    /// The application turns rate control off (a fixed rate) or on.
    FixedRate(Option<u32>),
    /// The path refused a datagram as too large.
    TooLarge,
    /// The application ends the session.
    Close(u8),
}

/// Runs one input.
pub fn run(input: &SenderInput) -> Outcome {
    let metas = planned(&input.files);
    let sizes: Vec<u64> = metas.iter().map(|m| m.size).collect();
    let resume: Vec<u64> = input
        .resume
        .iter()
        .zip(&sizes)
        .map(|(pick, &size)| pick.within(size).min(size))
        .collect();
    let now = Instant::now();
    let config = SenderConfig {
        max_datagram: MAX_DATAGRAM,
        max_datagram_limit: if input.probe_mtu {
            PROBE_LIMIT
        } else {
            MAX_DATAGRAM
        },
        cipher: input.cipher.into(),
        expected_key: Some(keys::server().public_key()),
        auth: keys::auth(),
        rate_control: input.rate_control,
        resume: resume.clone(),
        ..SenderConfig::default()
    };
    let header = TransferHeader {
        id: 1,
        flags: 0,
        overwrite: 0,
        time_resolution_us: 1,
        sync_interval_ms: 0,
        verify: input.verify,
        shared_token: false,
        skip: jetstream_wire::files::SkipRule::QuickCheck,
        total_files: 0,
        total_bytes: 0,
        dest_dir: String::new(),
    };
    let fits = sizes
        .iter()
        .try_fold(0u64, |sum, &s| sum.checked_add(s))
        .is_some();
    let started = SenderSession::new(
        now,
        &keys::rng(keys::CLIENT_RNG),
        keys::client(),
        config,
        header,
        metas.clone(),
    );
    let session = match started {
        Ok(session) => session,
        Err(e) => {
            assert!(!fits, "a session does not start: {e}");
            return Outcome::default();
        }
    };
    let mut tx = Sender {
        session,
        source: PatternSource::new(sizes.clone(), input.source.clone()),
        metas,
        sizes,
        resume,
        verify: input.verify,
        outcome: Outcome::default(),
    };
    let keys = handshake(&mut tx, now, input.min_cipher);
    let cid = tx.session.connection_id();
    let mut peer = Peer::new(cid, keys, now);
    peer::drive(&mut tx, &mut peer, &input.steps);
    tx.outcome
}

/// The real handshake, the harness answering as the receiver; returns the receiver's keys.
fn handshake(
    tx: &mut Sender,
    now: Instant,
    min_cipher: Level,
) -> jetstream_wire::crypto::handshake::SessionKeys {
    let mut buf = vec![0u8; peer::BUF_LEN];
    let len = tx
        .session
        .poll_transmit(now, &mut buf, &mut tx.source)
        .expect("a ClientHello");
    let cid = match Header::decode(&buf[..len]) {
        Ok(Header::Handshake {
            kind: DatagramKind::ClientHello,
            cid,
        }) => cid,
        other => panic!("the sender starts with {other:?}"),
    };
    let (responder, hello) = keys::respond(&buf[HANDSHAKE_HEADER_LEN..len], min_cipher.into())
        .expect("a real ClientHello is accepted");
    let mut hello = peer::handshake_datagram(DatagramKind::ServerHello, &cid, &hello);
    tx.session.handle_datagram(now, &mut hello);
    match tx.session.poll_event() {
        Some(SenderEvent::Connected { peer, .. }) => assert_eq!(peer, keys::server().public_key()),
        other => panic!("a real ServerHello gives {other:?}"),
    }
    let len = tx
        .session
        .poll_transmit(now, &mut buf, &mut tx.source)
        .expect("a ClientFinish");
    let (keys, client, auth) = responder
        .finish(&buf[HANDSHAKE_HEADER_LEN..len])
        .expect("the real ClientFinish verifies");
    assert_eq!(client, keys::client().public_key());
    assert_eq!(auth, keys::auth().encode().expect("short credentials"));
    keys
}

/// The planned files, with their sizes resolved, times and executable bits set.
fn planned(files: &[PlannedFile]) -> Vec<FileMeta> {
    (0..)
        .zip(files.iter().take(MAX_FILES))
        .map(|(i, f)| FileMeta {
            mtime_us: i64::from(i),
            executable: i % 2 == 1,
            ..f.meta(format!("d/f{i}"), PLANNED_SIZE)
        })
        .collect()
}

/// The session, its source and what the harness planned.
struct Sender {
    session: SenderSession,
    source: PatternSource,
    metas: Vec<FileMeta>,
    sizes: Vec<u64>,
    resume: Vec<u64>,
    verify: bool,
    outcome: Outcome,
}

impl Sender {
    fn total(&self) -> u64 {
        self.sizes.iter().sum()
    }

    fn send(&mut self, peer: &mut Peer, frames: &[Frame]) {
        for datagram in peer.seal_all(frames) {
            peer::deliver(self, peer, datagram);
        }
    }
}

impl Driven for Sender {
    type Local = SenderStep;

    fn deliver(&mut self, now: Instant, datagram: &mut [u8]) {
        self.session.handle_datagram(now, datagram);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.session.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.session.handle_timeout(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let len = self.session.poll_transmit(now, buf, &mut self.source)?;
        assert!(len <= PROBE_LIMIT, "a datagram of {len} bytes");
        Some(len)
    }

    fn check_sent(&mut self, frame: &Frame, _peer: &Peer) {
        match frame {
            Frame::Data { file, offset, data } => {
                let size = self.sizes.get(*file as usize).copied();
                let end = offset + data.len() as u64;
                assert!(
                    size.is_some_and(|s| end <= s),
                    "DATA {offset}..{end} of {file}"
                );
                assert!(
                    (0u64..)
                        .zip(data.iter())
                        .all(|(i, &b)| b == pattern(*file, offset + i)),
                    "DATA {offset}..{end} of {file} is not the file's"
                );
            }
            Frame::File { file, meta, resume } => {
                let i = *file as usize;
                assert_eq!(Some(meta), self.metas.get(i), "FILE {file}");
                assert_eq!(
                    *resume,
                    self.resume.get(i).copied().unwrap_or(0),
                    "FILE {file}"
                );
            }
            Frame::Transfer(header) => {
                assert_eq!(header.total_files as usize, self.metas.len());
                assert_eq!(header.total_bytes, self.total());
            }
            Frame::Digest { file, hash } => {
                assert!(self.verify, "DIGEST without verification");
                assert_eq!(*hash, digest_of(*file), "DIGEST of {file}");
            }
            Frame::Done | Frame::Ping { .. } | Frame::Padding(_) | Frame::Close { .. } => {}
            other => panic!("a sender sent {other:?}"),
        }
    }

    fn check(&mut self) {
        let total = self.total();
        for (what, set) in [
            ("acked", self.session.acked()),
            ("durable", self.session.durable()),
        ] {
            assert!(
                set.max().is_none_or(|m| m < total),
                "{what} {set:?} of {total} bytes"
            );
        }
        let files = self.metas.len() as u64;
        let complete = self.session.complete_files();
        assert!(
            complete.max().is_none_or(|f| f < files),
            "complete {complete:?}"
        );
        while let Some(event) = self.session.poll_event() {
            match event {
                SenderEvent::FileComplete { file, .. } => {
                    assert!(u64::from(file) < files, "file {file} complete");
                    self.outcome.files_complete += 1;
                }
                SenderEvent::Complete => self.outcome.complete = true,
                SenderEvent::Connected { .. } => panic!("connected twice"),
                SenderEvent::Accepted
                | SenderEvent::Failed(_)
                | SenderEvent::Pong { .. }
                | SenderEvent::NewToken(_) => {}
            }
        }
    }

    fn shape(&self, peer: &Peer) -> Shape<'_> {
        Shape {
            sizes: &self.sizes,
            received: peer.received_count(),
        }
    }

    fn local(&mut self, step: &SenderStep, peer: &mut Peer) {
        match step {
            SenderStep::Accept => self.send(peer, &[Frame::Accept]),
            SenderStep::AckAll { delay_us } => {
                let ranges: Vec<_> = peer.received.iter().rev().take(MAX_ACK_RANGES).collect();
                if !ranges.is_empty() {
                    let ack = Frame::Ack {
                        delay_us: (*delay_us).into(),
                        ranges,
                    };
                    self.send(peer, &[ack]);
                }
            }
            SenderStep::PlaceAll => {
                let mut frames: Vec<Frame> = (0..self.metas.len() as u32)
                    .map(|file| Frame::Placed { file })
                    .collect();
                frames.push(Frame::Result {
                    code: 0,
                    message: String::new(),
                });
                self.send(peer, &frames);
            }
            SenderStep::Ping(id) => self.session.ping(*id),
            SenderStep::Suspend => self.session.suspend(),
            SenderStep::Resume => self.session.resume(),
            SenderStep::Limits { min, max } => self.session.set_limits(RateLimits {
                min: (*min).into(),
                max: max.map(u64::from),
            }),
            SenderStep::FixedRate(rate) => self.session.set_fixed_rate(rate.map(u64::from)),
            SenderStep::TooLarge => self.session.on_datagram_too_large(),
            SenderStep::Close(code) => self
                .session
                .close(ErrorCode::from_u8(*code), "closed by the application"),
        }
    }
}
