//! A receiver session against a sender that breaks the rules with authenticated frames: the
//! harness makes a real handshake, keeps the sender's keys and seals whatever it likes.

#[allow(dead_code)]
mod support;

use jetstream_wire::codec::{
    self, Auth, DatagramKind, Frame, Frames, HANDSHAKE_HEADER_LEN, PROTECTED_HEADER_LEN,
};
use jetstream_wire::crypto::aead::CipherLevel;
use jetstream_wire::crypto::handshake::{Identity, Initiator};
use jetstream_wire::files::TransferHeader;
use jetstream_wire::session::SessionError;
use jetstream_wire::session::{
    ErrorCode, Protection, ReceiverConfig, ReceiverEvent, ReceiverSession,
    DEFAULT_KEY_UPDATE_INTERVAL,
};
use std::time::Instant;
use support::transfer::{file, generate, CheckingSink};

/// A receiver session past its handshake, and the keys of the sender it accepted.
struct Hostile {
    receiver: ReceiverSession,
    sink: CheckingSink,
    sender: Protection,
    now: Instant,
}

impl Hostile {
    fn new() -> Hostile {
        let mut hostile = Hostile::awaiting_verdict();
        hostile.authorize(Ok(()));
        hostile
    }

    /// A receiver session that has the sender's ClientFinish and waits for the verdict on it.
    fn awaiting_verdict() -> Hostile {
        let rng = ring::rand::SystemRandom::new();
        let (client, server) = (
            Identity::generate(&rng).unwrap(),
            Identity::generate(&rng).unwrap(),
        );
        let now = Instant::now();
        let cid = [9; codec::CID_LEN];
        let (initiator, hello) = Initiator::start(&rng, &client, CipherLevel::Aes128Gcm).unwrap();
        let mut datagram = vec![0u8; 2048];
        let n = codec::encode_handshake(DatagramKind::ClientHello, &cid, &hello, &mut datagram)
            .unwrap();
        let config = ReceiverConfig::default();
        let mut receiver =
            ReceiverSession::accept(now, &rng, &server, config, &datagram[..n]).unwrap();
        let n = receiver.poll_transmit(now, &mut datagram).unwrap();
        let auth = Auth::default().encode().unwrap();
        let (keys, _, finish) = initiator
            .finish(&datagram[HANDSHAKE_HEADER_LEN..n], None, &auth)
            .unwrap();
        let n = codec::encode_handshake(DatagramKind::ClientFinish, &cid, &finish, &mut datagram)
            .unwrap();
        let mut sink = CheckingSink::default();
        receiver.handle_datagram(now, &mut datagram[..n], &mut sink);
        assert!(matches!(
            receiver.poll_event(),
            Some(ReceiverEvent::Authenticate { .. })
        ));
        Hostile {
            receiver,
            sink,
            sender: Protection::new(cid, keys, DEFAULT_KEY_UPDATE_INTERVAL),
            now,
        }
    }

    fn authorize(&mut self, verdict: Result<(), SessionError>) {
        self.receiver.authorize(self.now, verdict, &mut self.sink);
    }

    /// What the receiver sends now, opened: the frames of each datagram.
    fn replies(&mut self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        let mut datagram = vec![0u8; 2048];
        while let Some(n) = self.receiver.poll_transmit(self.now, &mut datagram) {
            let (_, payload) = self.sender.open(self.now, &mut datagram[..n]).unwrap();
            let frames = Frames::new(&datagram[payload])
                .map(|f| format!("{:?}", f.unwrap()))
                .collect();
            out.push(frames);
        }
        out
    }

    /// Seals `frames` into one datagram and hands it to the receiver.
    fn send(&mut self, frames: &[Frame]) {
        let mut datagram = vec![0u8; 1472];
        let end = PROTECTED_HEADER_LEN + self.sender.payload_capacity(datagram.len());
        let mut pos = PROTECTED_HEADER_LEN;
        for frame in frames {
            frame.encode(&mut datagram[..end], &mut pos).unwrap();
        }
        self.deliver(&mut datagram, pos);
    }

    fn deliver(&mut self, datagram: &mut [u8], pos: usize) {
        let (_, len) = self.sender.seal(datagram, pos - PROTECTED_HEADER_LEN);
        self.receiver
            .handle_datagram(self.now, &mut datagram[..len], &mut self.sink);
    }

    /// The error the session failed with, if it did.
    fn failure(&mut self) -> Option<(ErrorCode, String)> {
        std::iter::from_fn(|| self.receiver.poll_event()).find_map(|event| match event {
            ReceiverEvent::Failed(e) => Some((e.code, e.message)),
            _ => None,
        })
    }
}

fn header() -> TransferHeader {
    TransferHeader {
        id: 1,
        flags: 0,
        overwrite: 0,
        time_resolution_us: 0,
        sync_interval_ms: 0,
        verify: false,
        shared_token: false,
        skip: jetstream_wire::files::SkipRule::QuickCheck,
        total_files: 1,
        total_bytes: 1 << 30,
        dest_dir: String::new(),
    }
}

#[test]
fn a_sender_that_leaves_every_other_byte_out_is_failed_before_the_receiver_remembers_too_much() {
    let mut hostile = Hostile::new();
    hostile.send(&[
        Frame::Transfer(header()),
        Frame::File {
            file: 0,
            meta: file("holes", 1 << 30),
            resume: 0,
        },
    ]);
    // One byte in two: each byte a piece of its own.
    for piece in 0..=(1u64 << 16) {
        let mut byte = [0u8; 1];
        generate(0, piece * 2, &mut byte);
        hostile.send(&[Frame::Data {
            file: 0,
            offset: piece * 2,
            data: &byte,
        }]);
        if hostile.receiver.is_closed() {
            break;
        }
    }
    let (code, message) = hostile.failure().expect("the session failed");
    assert_eq!(code, ErrorCode::Protocol);
    assert!(message.contains("pieces"), "{message}");
}

/// The first datagrams of a transfer, as a sender sends them right after its ClientFinish: the
/// TRANSFER and FILE frames, then `chunks` datagrams of 1,000 bytes of data each.
fn first_flight(hostile: &mut Hostile, chunks: u64) {
    hostile.send(&[
        Frame::Transfer(header()),
        Frame::File {
            file: 0,
            meta: file("early", 1 << 30),
            resume: 0,
        },
    ]);
    let mut data = [0u8; 1000];
    for chunk in 0..chunks {
        generate(0, chunk * 1000, &mut data);
        hostile.send(&[Frame::Data {
            file: 0,
            offset: chunk * 1000,
            data: &data,
        }]);
    }
}

#[test]
fn a_first_flight_that_comes_before_the_verdict_is_taken_in_once_it_comes() {
    let mut hostile = Hostile::awaiting_verdict();
    first_flight(&mut hostile, 50);
    assert_eq!(
        hostile.sink.bytes, 0,
        "nothing is written before the verdict"
    );
    assert!(
        hostile.replies().is_empty(),
        "nothing is acknowledged before it"
    );
    hostile.authorize(Ok(()));
    assert_eq!(hostile.sink.bytes, 50_000);
    assert_eq!(hostile.receiver.stats().bytes_received, 50_000);
    let replies = hostile.replies().concat();
    assert_eq!(replies.first().map(String::as_str), Some("Accept"));
    // Every packet of the flight (the first one, with the FILE frame, is number 0) is in the
    // acknowledgement.
    assert!(
        replies
            .iter()
            .any(|f| f.starts_with("Ack") && f.contains("0..51")),
        "{replies:?}"
    );
}

#[test]
fn a_refused_sender_s_first_flight_is_dropped_unread() {
    let mut hostile = Hostile::awaiting_verdict();
    first_flight(&mut hostile, 20);
    hostile.authorize(Err(SessionError {
        code: ErrorCode::AuthFailed,
        message: "unknown sender".into(),
        remote: false,
        file: None,
    }));
    assert_eq!(hostile.sink.bytes, 0);
    assert!(hostile.sink.header.is_none(), "the transfer never began");
    let (code, _) = hostile.failure().expect("the session failed");
    assert_eq!(code, ErrorCode::AuthFailed);
}

#[test]
fn what_comes_before_the_verdict_is_held_only_up_to_a_bound() {
    let mut hostile = Hostile::awaiting_verdict();
    first_flight(&mut hostile, 1000);
    hostile.authorize(Ok(()));
    let held = hostile.receiver.stats().bytes_received;
    assert!(held > 50_000 && held < 200_000, "held {held} bytes");
    assert!(hostile.receiver.stats().packets_deferred > 800);
}
