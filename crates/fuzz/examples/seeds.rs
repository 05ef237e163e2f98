//! Writes the seed corpus, `corpus/<target>/`: real encoded frames, handshake messages that
//! verify (the keys are deterministic), range blobs, and for the two sessions the first inputs
//! of a seeded random search that reach a completed file and a completed transfer.
//!
//! `cargo run --manifest-path crates/fuzz/Cargo.toml --example seeds`

use std::fs;
use std::path::Path;

use arbitrary::{Arbitrary, Unstructured};
use jetstream_engine::store::encode_range_blob;
use jetstream_fuzz::keys;
use jetstream_fuzz::peer::Outcome;
use jetstream_fuzz::receiver::{self, ReceiverInput};
use jetstream_fuzz::sender::{self, SenderInput};
use jetstream_wire::codec::{self, Frame, PROTECTED_HEADER_LEN};
use jetstream_wire::crypto::aead::CipherLevel;
use jetstream_wire::files::{EntryKind, FileMeta, TransferHeader};
use jetstream_wire::ranges::RangeSet;

/// Random inputs tried per session target before giving up on a milestone.
const TRIES: u32 = 200_000;

fn main() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    write(&corpus, "codec", codec_seeds());
    write(&corpus, "client_hello", client_hellos());
    write(&corpus, "server_hello", server_hellos());
    write(&corpus, "client_finish", client_finishes());
    write(&corpus, "store_codec", range_blobs());
    write(
        &corpus,
        "receiver_session",
        search(|u| Some(receiver::run(&ReceiverInput::arbitrary_take_rest(u).ok()?))),
    );
    write(
        &corpus,
        "sender_session",
        search(|u| Some(sender::run(&SenderInput::arbitrary_take_rest(u).ok()?))),
    );
}

/// Replaces `corpus/<target>/` with `seeds`, named by their index.
fn write(corpus: &Path, target: &str, seeds: Vec<Vec<u8>>) {
    let dir = corpus.join(target);
    let _absent = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("corpus directory");
    for (i, seed) in seeds.iter().enumerate() {
        fs::write(dir.join(format!("seed-{i:02}")), seed).expect("seed file");
    }
    println!("{target}: {} seeds", seeds.len());
}

fn codec_seeds() -> Vec<Vec<u8>> {
    let meta = FileMeta {
        path: "dir/file.bin".into(),
        kind: EntryKind::File,
        size: 5000,
        mtime_us: 1_700_000_000_000_000,
        executable: true,
    };
    let header = TransferHeader {
        id: 7,
        flags: 1,
        overwrite: 2,
        time_resolution_us: 1_000_000,
        sync_interval_ms: 1000,
        verify: true,
        shared_token: false,
        skip: jetstream_wire::files::SkipRule::QuickCheck,
        total_files: 1,
        total_bytes: 5000,
        dest_dir: "inbox".into(),
    };
    let frames = [
        vec![
            Frame::Transfer(header),
            Frame::File {
                file: 0,
                meta,
                resume: 0,
            },
        ],
        vec![
            Frame::Data {
                file: 0,
                offset: 4096,
                data: &[0xa5; 64],
            },
            Frame::Padding(3),
        ],
        vec![
            Frame::Ack {
                delay_us: 250,
                ranges: vec![10..20, 0..5],
            },
            Frame::Durable {
                file: 0,
                bytes: 4096,
            },
            Frame::Missing {
                file: 0,
                range: 4096..5000,
            },
            Frame::Placed { file: 1 },
            Frame::Kept {
                file: 2,
                verified: true,
            },
        ],
        vec![
            Frame::Digest {
                file: 0,
                hash: [3; 32],
            },
            Frame::Done,
            Frame::Ping { id: 9 },
        ],
        vec![
            Frame::Accept,
            Frame::Pong { id: 9 },
            Frame::Result {
                code: 0,
                message: String::new(),
            },
            Frame::Close {
                code: 3,
                message: "refused".into(),
                file: Some(0),
            },
        ],
    ];
    let mut seeds: Vec<Vec<u8>> = frames.iter().map(|f| encoded(f)).collect();
    let mut header = vec![0u8; PROTECTED_HEADER_LEN];
    codec::encode_protected_header(b"12345678", 42, false, &mut header);
    seeds.push(header);
    seeds.push(keys::auth().encode().expect("short credentials"));
    seeds.push(encoded(&[Frame::File {
        file: 1,
        meta: FileMeta {
            path: "dir/link".into(),
            kind: EntryKind::Symlink {
                target: "file.bin".into(),
            },
            size: 0,
            mtime_us: 1_700_000_000_000_000,
            executable: false,
        },
        resume: 0,
    }]));
    seeds
}

fn encoded(frames: &[Frame]) -> Vec<u8> {
    let mut buf = vec![0u8; frames.iter().map(Frame::encoded_len).sum()];
    let mut pos = 0;
    for frame in frames {
        frame
            .encode(&mut buf, &mut pos)
            .expect("room for every frame");
    }
    buf
}

fn client_hellos() -> Vec<Vec<u8>> {
    (0..4u8)
        .map(|level| [vec![3 - level], keys::initiator(keys::level_of(level)).1].concat())
        .collect()
}

/// For each level, flags (offered level, expected key, twice) ‖ the responder's real answer.
fn server_hellos() -> Vec<Vec<u8>> {
    (0..4u8)
        .map(|level| {
            let (_, hello) = keys::initiator(keys::level_of(level));
            let (_, answer) = keys::respond(&hello, CipherLevel::None).expect("real hello");
            [vec![level | (level & 1) << 2 | (level & 2) << 2], answer].concat()
        })
        .collect()
}

/// For each level, the level ‖ the initiator's real ClientFinish.
fn client_finishes() -> Vec<Vec<u8>> {
    let auth = keys::auth().encode().expect("short credentials");
    (0..4u8)
        .map(|level| {
            let (initiator, hello) = keys::initiator(keys::level_of(level));
            let (_, answer) = keys::respond(&hello, CipherLevel::None).expect("real hello");
            let (_, _, finish) = initiator.finish(&answer, None, &auth).expect("real answer");
            [vec![level], finish].concat()
        })
        .collect()
}

fn range_blobs() -> Vec<Vec<u8>> {
    let sets: [&[(u64, u64)]; 3] = [
        &[(0, 1 << 20)],
        &[(0, 1472), (2944, 4416), (1 << 30, (1 << 30) + 1)],
        &[(5, 6), (u64::MAX - 2, u64::MAX)],
    ];
    sets.iter()
        .map(|ranges| {
            let set: RangeSet = ranges.iter().map(|&(a, b)| a..b).collect();
            encode_range_blob(&set)
        })
        .collect()
}

/// The first inputs of a seeded random search that complete a file, and a whole transfer.
fn search(run: impl Fn(Unstructured) -> Option<Outcome>) -> Vec<Vec<u8>> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let milestones: [fn(&Outcome) -> bool; 2] = [|o| o.files_complete > 0, |o| o.complete];
    let mut found: Vec<Option<Vec<u8>>> = vec![None; milestones.len()];
    for _ in 0..TRIES {
        let len = 32 + (next() % 480) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let Some(outcome) = run(Unstructured::new(&bytes)) else {
            continue;
        };
        for (slot, reached) in found.iter_mut().zip(milestones) {
            if slot.is_none() && reached(&outcome) {
                *slot = Some(bytes.clone());
            }
        }
        if found.iter().all(Option::is_some) {
            break;
        }
    }
    found.into_iter().flatten().collect()
}
