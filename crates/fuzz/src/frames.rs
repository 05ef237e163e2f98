//! Frames built from structured fuzzer input. Every [`FrameSpec`] resolves to a frame the codec
//! accepts (lengths and ranges within their domains) whose numbers are picked either inside
//! what the peer knows ([`Shape`]: the files' sizes, the packets it received) or anywhere.
//! Bytes the decoder must refuse reach the sessions through the harness's raw payloads instead.

use arbitrary::Arbitrary;
use jetstream_wire::codec::{
    Answer, Frame, Frames, DIGEST_LEN, MAX_ACK_RANGES, MAX_ANSWERS, MAX_MESSAGE_LEN, MAX_PATH_LEN,
};
use jetstream_wire::files::{EntryKind, FileMeta, SkipRule, TransferHeader};

/// Longest DATA payload a spec picks inside a file: it fits an ordinary datagram.
const DATA_WITHIN: u64 = 1024;

/// The bytes every DATA frame built here carries (a prefix of them).
static PAYLOAD: [u8; u16::MAX as usize] = [0xa5; u16::MAX as usize];

/// A number picked by the fuzzer relative to a bound the harness knows.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Pick {
    /// The bound itself (a file's announced size, the next packet number).
    Exact,
    /// Up to the bound: the value modulo `bound + 1`.
    Within(u32),
    /// Anything.
    Wild(u64),
}

impl Pick {
    /// The value, given the bound.
    pub fn within(self, bound: u64) -> u64 {
        match self {
            Pick::Exact => bound,
            Pick::Within(n) => u64::from(n) % bound.saturating_add(1),
            Pick::Wild(v) => v,
        }
    }
}

/// What the peer knows when it picks numbers.
#[derive(Clone, Copy, Debug)]
pub struct Shape<'a> {
    /// Announced size of each file of the transfer.
    pub sizes: &'a [u64],
    /// Packets received from the session (their numbers are `0..received`).
    pub received: u64,
}

impl Shape<'_> {
    /// No knowledge: every number is picked from its whole type.
    pub const UNBOUNDED: Shape<'static> = Shape {
        sizes: &[],
        received: u64::MAX,
    };

    fn file(&self, pick: Pick) -> u32 {
        match (pick, self.sizes.len() as u64) {
            (Pick::Wild(v), _) => v as u32,
            (_, 0) => pick.within(u64::from(u32::MAX)) as u32,
            (_, n) => pick.within(n - 1) as u32,
        }
    }

    fn size(&self, file: u32) -> u64 {
        self.sizes.get(file as usize).copied().unwrap_or(u64::MAX)
    }
}

/// What a FILE frame announces: a file, a directory, or a link and its target (any text,
/// inside or outside the destination).
#[derive(Arbitrary, Clone, Debug)]
pub enum KindSpec {
    File,
    Directory,
    Symlink { target: String },
}

/// The parameters of a TRANSFER frame.
#[derive(Arbitrary, Clone, Debug)]
pub struct HeaderSpec {
    id: u64,
    flags: u32,
    overwrite: u8,
    time_resolution_us: u64,
    total_files: Pick,
    total_bytes: u64,
    sync_interval_ms: u32,
    verify: bool,
    shared_token: bool,
    skip: u8,
    dest_dir: String,
}

impl HeaderSpec {
    /// The header, `total_files` picked against the files the shape knows.
    pub fn resolve(&self, shape: &Shape) -> TransferHeader {
        let known = shape.sizes.len() as u64;
        TransferHeader {
            id: self.id,
            flags: self.flags,
            overwrite: self.overwrite,
            time_resolution_us: self.time_resolution_us,
            total_files: self.total_files.within(known.min(u64::from(u32::MAX))) as u32,
            total_bytes: self.total_bytes,
            sync_interval_ms: self.sync_interval_ms,
            verify: self.verify,
            shared_token: self.shared_token,
            skip: SkipRule::from_u8(self.skip % 4).unwrap_or_default(),
            dest_dir: clip(&self.dest_dir, MAX_PATH_LEN),
        }
    }
}

/// One frame, as the fuzzer describes it.
#[derive(Arbitrary, Clone, Debug)]
pub enum FrameSpec {
    /// DATA: offset and length inside the file, or wild.
    Data { file: Pick, offset: Pick, len: Pick },
    /// ACK of ranges (start, length) of packet numbers.
    Ack {
        delay_us: u32,
        first: (Pick, Pick),
        more: Vec<(Pick, Pick)>,
    },
    /// TRANSFER.
    Transfer(HeaderSpec),
    /// FILE with any size, kind and path.
    File {
        file: Pick,
        kind: KindSpec,
        executable: bool,
        size: Pick,
        mtime_us: i64,
        resume: Pick,
        path: String,
    },
    /// ACCEPT.
    Accept,
    /// DONE.
    Done,
    /// RESULT.
    Result { code: u8, message: String },
    /// CLOSE.
    Close { code: u8, message: String },
    /// PADDING of `1 + n` bytes.
    Padding(u8),
    /// PING.
    Ping(u64),
    /// PONG.
    Pong(u64),
    /// DURABLE.
    Durable { file: Pick, bytes: Pick },
    /// PLACED.
    Placed { file: Pick },
    /// KEPT.
    Kept { file: Pick, verified: bool },
    /// MISSING of (start, length).
    Missing { file: Pick, start: Pick, len: Pick },
    /// DIGEST.
    Digest { file: Pick, hash: [u8; DIGEST_LEN] },
    /// ANSWERS from a file on, each answer a code picked among the three.
    Answers { first: Pick, answers: Vec<u8> },
}

impl FrameSpec {
    /// The frame, its numbers picked against `shape`.
    pub fn resolve(&self, shape: &Shape) -> Frame<'static> {
        match self {
            FrameSpec::Data { file, offset, len } => {
                let file = shape.file(*file);
                let size = shape.size(file);
                let offset = offset.within(size);
                let len = match len {
                    Pick::Wild(v) => *v as u16,
                    within => within.within(size.saturating_sub(offset).min(DATA_WITHIN)) as u16,
                };
                Frame::Data {
                    file,
                    offset: offset.min(u64::MAX - u64::from(len)),
                    data: &PAYLOAD[..usize::from(len)],
                }
            }
            FrameSpec::Ack {
                delay_us,
                first,
                more,
            } => {
                let ranges = std::iter::once(first)
                    .chain(more)
                    .take(MAX_ACK_RANGES)
                    .map(|&(start, len)| {
                        let start = start.within(shape.received.saturating_sub(1));
                        let len = len.within(shape.received.saturating_sub(start)).max(1);
                        nonempty(start, len)
                    })
                    .collect();
                Frame::Ack {
                    delay_us: *delay_us,
                    ranges,
                }
            }
            FrameSpec::Transfer(header) => Frame::Transfer(header.resolve(shape)),
            FrameSpec::File {
                file,
                kind,
                executable,
                size,
                mtime_us,
                resume,
                path,
            } => {
                let file = shape.file(*file);
                // A link carries no data, and its target (not empty, no NUL: the codec refuses
                // those) shares the path's room.
                let (path, kind, size) = match kind {
                    KindSpec::File => (
                        clip(path, MAX_PATH_LEN),
                        EntryKind::File,
                        size.within(shape.size(file)),
                    ),
                    KindSpec::Directory => (
                        clip(path, MAX_PATH_LEN),
                        EntryKind::Directory,
                        size.within(shape.size(file)),
                    ),
                    KindSpec::Symlink { target } => {
                        let path = clip(path, MAX_PATH_LEN - 1);
                        let target: String = target.chars().filter(|&c| c != '\0').collect();
                        let target = match clip(&target, MAX_PATH_LEN - path.len()) {
                            t if t.is_empty() => ".".to_owned(),
                            t => t,
                        };
                        (path, EntryKind::Symlink { target }, 0)
                    }
                };
                Frame::File {
                    file,
                    meta: FileMeta {
                        path,
                        kind,
                        size,
                        mtime_us: *mtime_us,
                        executable: *executable,
                    },
                    resume: resume.within(size).min(size),
                }
            }
            FrameSpec::Accept => Frame::Accept,
            FrameSpec::Done => Frame::Done,
            FrameSpec::Result { code, message } => Frame::Result {
                code: *code,
                message: clip(message, MAX_MESSAGE_LEN),
            },
            FrameSpec::Close { code, message } => Frame::Close {
                code: *code,
                message: clip(message, MAX_MESSAGE_LEN),
                file: None,
            },
            FrameSpec::Padding(n) => Frame::Padding(1 + usize::from(*n)),
            FrameSpec::Ping(id) => Frame::Ping { id: *id },
            FrameSpec::Pong(id) => Frame::Pong { id: *id },
            FrameSpec::Durable { file, bytes } => {
                let file = shape.file(*file);
                Frame::Durable {
                    file,
                    bytes: bytes.within(shape.size(file)),
                }
            }
            FrameSpec::Placed { file } => Frame::Placed {
                file: shape.file(*file),
            },
            FrameSpec::Kept { file, verified } => Frame::Kept {
                file: shape.file(*file),
                verified: *verified,
            },
            FrameSpec::Missing { file, start, len } => {
                let file = shape.file(*file);
                let size = shape.size(file);
                let start = start.within(size.saturating_sub(1));
                let range = nonempty(start, len.within(size.saturating_sub(start)).max(1));
                Frame::Missing { file, range }
            }
            FrameSpec::Digest { file, hash } => Frame::Digest {
                file: shape.file(*file),
                hash: *hash,
            },
            FrameSpec::Answers { first, answers } => {
                let first = shape.file(*first);
                let room = (u64::from(u32::MAX) - u64::from(first) + 1).min(MAX_ANSWERS as u64);
                let mut answers: Vec<Answer> = answers
                    .iter()
                    .take(room as usize)
                    .map(|code| match code % 3 {
                        0 => Answer::Send,
                        1 => Answer::Kept,
                        _ => Answer::Check,
                    })
                    .collect();
                if answers.is_empty() {
                    answers.push(Answer::Send);
                }
                Frame::Answers { first, answers }
            }
        }
    }
}

/// `start..start + len` (len ≥ 1), moved down where it would pass `u64::MAX`.
fn nonempty(start: u64, len: u64) -> std::ops::Range<u64> {
    let start = start.min(u64::MAX - len);
    start..start + len
}

/// `s` cut to at most `max` bytes on a character boundary.
fn clip(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// Appends the frames that fit to `out[*pos..]`, in order; those that do not fit are left out.
pub fn encode_fitting(frames: &[Frame], out: &mut [u8], pos: &mut usize) {
    for frame in frames {
        let _fits = frame.encode(out, pos).is_some();
    }
}

/// Decodes every frame of hostile `bytes`: errors are expected, panics are bugs. After the
/// first error the iterator must end.
pub fn decode_all(bytes: &[u8]) {
    let mut frames = Frames::new(bytes);
    for frame in frames.by_ref() {
        if frame.is_err() {
            break;
        }
    }
    assert!(frames.next().is_none(), "frames after a malformed one");
}

/// Encodes the frames of `specs` (resolved without bounds) and checks that each takes exactly
/// its `encoded_len` and that they decode to themselves (runs of padding decode as one).
pub fn check_round_trip(specs: &[FrameSpec]) {
    let frames: Vec<Frame> = specs.iter().map(|s| s.resolve(&Shape::UNBOUNDED)).collect();
    let mut buf = vec![0u8; frames.iter().map(Frame::encoded_len).sum()];
    let mut pos = 0;
    for frame in &frames {
        let before = pos;
        frame
            .encode(&mut buf, &mut pos)
            .unwrap_or_else(|| panic!("a valid frame does not encode: {frame:?}"));
        assert_eq!(pos - before, frame.encoded_len(), "{frame:?}");
    }
    let decoded: Vec<Frame> = Frames::new(&buf)
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("encoded frames do not decode: {e}"));
    assert_eq!(decoded, merge_padding(frames));
}

/// `frames` with each run of padding merged into one.
fn merge_padding(frames: Vec<Frame>) -> Vec<Frame> {
    let mut merged: Vec<Frame> = Vec::with_capacity(frames.len());
    for frame in frames {
        match (merged.last_mut(), frame) {
            (Some(Frame::Padding(run)), Frame::Padding(n)) => *run += n,
            (_, frame) => merged.push(frame),
        }
    }
    merged
}
