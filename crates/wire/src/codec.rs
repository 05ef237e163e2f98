//! Datagram layout and frame encoding.
//!
//! Every datagram starts with a plaintext header. Handshake datagrams carry one handshake
//! message after `[kind][version][connection id]`; a ClientHello may be followed by an address
//! token, and a Retry carries only a token (see [`crate::crypto::token`]). Protected datagrams
//! carry `[kind][connection id][packet number]` (authenticated as AAD; the packet number is the
//! AEAD nonce; the kind byte also carries the key phase) followed by sealed frames. All
//! integers are big-endian and fixed width, so a frame's size is known before it is written.
//! Decoding never trusts a length: hostile bytes give an error, never a panic.

use crate::crypto::handshake::CLIENT_HELLO_LEN;
use crate::crypto::token::{Token, TOKEN_LEN};
use crate::files::{EntryKind, FileMeta, SkipRule, TransferHeader};
use std::ops::Range;

/// The protocol version carried by handshake datagrams.
pub const VERSION: u8 = 5;
/// Length of a connection id.
pub const CID_LEN: usize = 8;
/// Length of the plaintext header of a protected datagram.
pub const PROTECTED_HEADER_LEN: usize = 1 + CID_LEN + 8;
/// Length of the header of a handshake datagram.
pub const HANDSHAKE_HEADER_LEN: usize = 2 + CID_LEN;
/// Bytes a DATA frame spends before its payload.
pub const DATA_FRAME_OVERHEAD: usize = 1 + 4 + 8 + 2;
/// Most ranges one ACK frame carries.
pub const MAX_ACK_RANGES: usize = 64;
/// Longest path a FILE frame may carry, in bytes; a link's path and target together are bounded
/// by it too.
pub const MAX_PATH_LEN: usize = 1024;
/// Longest message a CLOSE or RESULT frame carries, in bytes.
pub const MAX_MESSAGE_LEN: usize = 512;
/// Length of a file digest (BLAKE3).
pub const DIGEST_LEN: usize = 32;
/// Most answers one ANSWERS frame carries (a quarter byte each).
pub const MAX_ANSWERS: usize = 2048;

/// A connection id, chosen by the initiator.
pub type ConnectionId = [u8; CID_LEN];

/// What a datagram is, from its first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum DatagramKind {
    /// Initiator's first handshake message.
    ClientHello = 1,
    /// Responder's handshake answer.
    ServerHello = 2,
    /// Initiator's last handshake message.
    ClientFinish = 3,
    /// Frames sealed with the session keys. With key phase 1 the byte also has
    /// [`KEY_PHASE_BIT`] set.
    Protected = 4,
    /// The responder's demand that the initiator repeat its ClientHello with the address token
    /// this datagram carries.
    Retry = 5,
}

/// Set in the kind byte of a protected datagram sealed with the keys of an odd key phase.
pub const KEY_PHASE_BIT: u8 = 0x80;
/// The kind byte of a protected datagram of an odd key phase.
const PROTECTED_ODD_PHASE: u8 = DatagramKind::Protected as u8 | KEY_PHASE_BIT;

/// Decoding failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The input ended before the structure did.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// An unknown datagram or frame kind.
    #[error("unknown {what} kind {kind}")]
    UnknownKind {
        /// Datagram or frame.
        what: &'static str,
        /// The byte found.
        kind: u8,
    },
    /// A protocol version this build does not speak.
    #[error("unsupported protocol version {0}")]
    Version(u8),
    /// A field holds a value outside its domain.
    #[error("invalid {0}")]
    Invalid(&'static str),
}

/// The header of a received datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header {
    /// A handshake message; the message bytes follow at `HANDSHAKE_HEADER_LEN`.
    Handshake {
        /// Which handshake message.
        kind: DatagramKind,
        /// The connection.
        cid: ConnectionId,
    },
    /// Sealed frames follow at `PROTECTED_HEADER_LEN`.
    Protected {
        /// The connection.
        cid: ConnectionId,
        /// Packet number (AEAD nonce).
        pn: u64,
        /// Parity of the key phase the datagram was sealed in: `true` for odd phases.
        key_phase: bool,
    },
}

impl Header {
    /// Parses the plaintext header of a datagram.
    pub fn decode(datagram: &[u8]) -> Result<Header, CodecError> {
        let mut r = Reader::new(datagram);
        let kind = r.u8("datagram kind")?;
        match kind {
            1..=3 | 5 => {
                let version = r.u8("version")?;
                if version != VERSION {
                    return Err(CodecError::Version(version));
                }
                let kind = match kind {
                    1 => DatagramKind::ClientHello,
                    2 => DatagramKind::ServerHello,
                    3 => DatagramKind::ClientFinish,
                    _ => DatagramKind::Retry,
                };
                Ok(Header::Handshake {
                    kind,
                    cid: r.array("connection id")?,
                })
            }
            4 | PROTECTED_ODD_PHASE => Ok(Header::Protected {
                cid: r.array("connection id")?,
                pn: r.u64("packet number")?,
                key_phase: kind == PROTECTED_ODD_PHASE,
            }),
            kind => Err(CodecError::UnknownKind {
                what: "datagram",
                kind,
            }),
        }
    }

    /// The connection id of any datagram kind.
    pub fn cid(&self) -> ConnectionId {
        match *self {
            Header::Handshake { cid, .. } | Header::Protected { cid, .. } => cid,
        }
    }
}

/// Writes a handshake datagram: header then `message`. Returns its length.
pub fn encode_handshake(
    kind: DatagramKind,
    cid: &ConnectionId,
    message: &[u8],
    out: &mut [u8],
) -> Option<usize> {
    let mut w = Writer::new(out);
    w.u8(kind as u8)?;
    w.u8(VERSION)?;
    w.bytes(cid)?;
    w.bytes(message)?;
    Some(w.pos)
}

/// The ClientHello message of a ClientHello datagram and the address token after it (empty
/// when it carries none); `None` when the datagram is too short to hold a ClientHello or the
/// token has the wrong length.
pub fn client_hello_parts(datagram: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = datagram.get(HANDSHAKE_HEADER_LEN..)?;
    if rest.len() < CLIENT_HELLO_LEN {
        return None;
    }
    let (message, token) = rest.split_at(CLIENT_HELLO_LEN);
    matches!(token.len(), 0 | TOKEN_LEN).then_some((message, token))
}

/// Writes the plaintext header of a protected datagram into `out[..PROTECTED_HEADER_LEN]`;
/// `key_phase` is the parity of the key phase it is sealed in.
pub fn encode_protected_header(cid: &ConnectionId, pn: u64, key_phase: bool, out: &mut [u8]) {
    out[0] = if key_phase {
        PROTECTED_ODD_PHASE
    } else {
        DatagramKind::Protected as u8
    };
    out[1..1 + CID_LEN].copy_from_slice(cid);
    out[1 + CID_LEN..PROTECTED_HEADER_LEN].copy_from_slice(&pn.to_be_bytes());
}

/// A frame inside a protected datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// File bytes.
    Data {
        /// File index within the transfer.
        file: u32,
        /// Offset of `data` in the file.
        offset: u64,
        /// The bytes.
        data: &'a [u8],
    },
    /// Packet numbers the receiver holds, highest range first.
    Ack {
        /// Time between the newest packet's arrival and this ACK, in microseconds.
        delay_us: u32,
        /// Received packet-number ranges, highest first.
        ranges: Vec<Range<u64>>,
    },
    /// The transfer's parameters; first thing the sender sends.
    Transfer(TransferHeader),
    /// One entry of the transfer.
    File {
        /// File index within the transfer.
        file: u32,
        /// Path, kind, size, time, mode.
        meta: FileMeta,
        /// Bytes `0..resume` of the file are already at the receiver (acknowledged to an earlier
        /// session of the same transfer) and are not sent again.
        resume: u64,
    },
    /// The receiver accepts the session (credentials checked).
    Accept,
    /// The sender has had every byte acknowledged.
    Done,
    /// The receiver's verdict on the whole transfer once it has finished every file.
    Result {
        /// 0 = every file is in place; otherwise an error code.
        code: u8,
        /// Why, when `code` is not 0.
        message: String,
    },
    /// The session ends at once.
    Close {
        /// Error code (see [`crate::session::ErrorCode`]).
        code: u8,
        /// Why.
        message: String,
        /// The file (index within the transfer) the failure concerns, when it concerns one.
        file: Option<u32>,
    },
    /// Zero bytes that fill a datagram to a size (path MTU probes).
    Padding(usize),
    /// Asks for a PONG; also elicits an ACK.
    Ping {
        /// Echoed in the PONG.
        id: u64,
    },
    /// Answer to a PING.
    Pong {
        /// The PING's id.
        id: u64,
    },
    /// The receiver holds bytes `0..bytes` of `file` on stable storage. Sent in answer to a
    /// FILE frame when the receiver kept a prefix of the file from an earlier session (or the
    /// sender claimed one), and after each sync for every file whose durable prefix grew.
    Durable {
        /// File index within the transfer.
        file: u32,
        /// Length of the durable prefix.
        bytes: u64,
    },
    /// `file` is complete at the receiver: synced, its digest verified, in place, and its
    /// directory synced.
    Placed {
        /// File index within the transfer.
        file: u32,
    },
    /// `file` is complete at the receiver as [`Frame::Placed`] says, and none of it was written:
    /// the receiver already held it, so the file was skipped.
    Kept {
        /// File index within the transfer.
        file: u32,
        /// The target held the sender's bytes, checked against the digest when files are
        /// verified; otherwise it was left as it is for being as new as the source (only newer
        /// files are written), and differs.
        verified: bool,
    },
    /// The receiver lacks `range` of `file` although the sender counts it as delivered (a
    /// resume claim it could not confirm, or a file whose digest did not match): send it.
    Missing {
        /// File index within the transfer.
        file: u32,
        /// The bytes to send again.
        range: Range<u64>,
    },
    /// The BLAKE3 digest of a whole file as the sender read it.
    Digest {
        /// File index within the transfer.
        file: u32,
        /// The digest.
        hash: [u8; DIGEST_LEN],
    },
    /// A resumption token from the receiver: the sender's next ClientHello from the same
    /// address carries it and skips the retry round trip.
    NewToken(Token),
    /// The receiver's answers to the FILE frames of files `first..first + answers.len()`, in
    /// order: whether each is sent. The sender sends no byte of a file before its answer.
    Answers {
        /// The first file answered.
        first: u32,
        /// One answer per file, at most [`MAX_ANSWERS`].
        answers: Vec<Answer>,
    },
}

/// What the receiver wants of an announced file ([`Frame::Answers`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Send it (but for a prefix a DURABLE frame before the answer says the receiver holds).
    Send,
    /// The receiver keeps its own copy as it is: the file is complete, nothing is sent.
    Kept,
    /// The receiver holds a copy of the file's size and checks it against the file's digest:
    /// send the digest, and the data only if a MISSING frame asks for it.
    Check,
}

impl Answer {
    fn code(self) -> u8 {
        match self {
            Answer::Send => 0,
            Answer::Kept => 1,
            Answer::Check => 2,
        }
    }
}

const FRAME_PADDING: u8 = 0x00;
const FRAME_DATA: u8 = 0x11;
const FRAME_ACK: u8 = 0x12;
const FRAME_TRANSFER: u8 = 0x13;
const FRAME_FILE: u8 = 0x14;
const FRAME_ACCEPT: u8 = 0x15;
const FRAME_DONE: u8 = 0x16;
const FRAME_RESULT: u8 = 0x17;
const FRAME_CLOSE: u8 = 0x18;
const FRAME_PING: u8 = 0x19;
const FRAME_PONG: u8 = 0x1a;
const FRAME_DURABLE: u8 = 0x1b;
const FRAME_PLACED: u8 = 0x1c;
const FRAME_MISSING: u8 = 0x1d;
const FRAME_DIGEST: u8 = 0x1e;
const FRAME_NEW_TOKEN: u8 = 0x1f;
const FRAME_KEPT: u8 = 0x20;
const FRAME_ANSWERS: u8 = 0x21;

/// A transfer header's bits: every file's digest is checked...
const HEADER_VERIFY: u8 = 1;
/// ...and the transfer is a download by shared token.
const HEADER_SHARED_TOKEN: u8 = 2;

/// A CLOSE frame's file index when the failure concerns no file (no transfer has that many).
const NO_FILE: u32 = u32::MAX;

impl Frame<'_> {
    /// Bytes this frame takes once encoded.
    pub fn encoded_len(&self) -> usize {
        match self {
            Frame::Data { data, .. } => DATA_FRAME_OVERHEAD + data.len(),
            Frame::Ack { ranges, .. } => 1 + 4 + 2 + 16 * ranges.len(),
            Frame::Transfer(t) => 1 + 8 + 4 + 1 + 8 + 4 + 8 + 4 + 1 + 1 + 2 + t.dest_dir.len(),
            Frame::File { meta, .. } => {
                let target = match &meta.kind {
                    EntryKind::Symlink { target } => 2 + target.len(),
                    EntryKind::File | EntryKind::Directory => 0,
                };
                1 + 4 + 1 + 1 + 8 + 8 + 8 + 2 + meta.path.len() + target
            }
            Frame::Accept | Frame::Done => 1,
            Frame::Padding(len) => *len,
            Frame::Result { message, .. } => 1 + 1 + 2 + message.len().min(MAX_MESSAGE_LEN),
            Frame::Close { message, .. } => 1 + 1 + 2 + message.len().min(MAX_MESSAGE_LEN) + 4,
            Frame::Ping { .. } | Frame::Pong { .. } => 1 + 8,
            Frame::Durable { .. } => 1 + 4 + 8,
            Frame::Placed { .. } => 1 + 4,
            Frame::Kept { .. } => 1 + 4 + 1,
            Frame::Missing { .. } => 1 + 4 + 8 + 8,
            Frame::Digest { .. } => 1 + 4 + DIGEST_LEN,
            Frame::NewToken(_) => 1 + TOKEN_LEN,
            Frame::Answers { answers, .. } => 1 + 4 + 2 + answers.len().div_ceil(4),
        }
    }

    /// Appends the frame to `out` at `*pos`; `None` (and nothing written) if it does not fit.
    pub fn encode(&self, out: &mut [u8], pos: &mut usize) -> Option<()> {
        if out.len().saturating_sub(*pos) < self.encoded_len() {
            return None;
        }
        let mut w = Writer {
            buf: out,
            pos: *pos,
        };
        match self {
            Frame::Data { file, offset, data } => {
                w.u8(FRAME_DATA)?;
                w.u32(*file)?;
                w.u64(*offset)?;
                w.u16(u16::try_from(data.len()).ok()?)?;
                w.bytes(data)?;
            }
            Frame::Ack { delay_us, ranges } => {
                w.u8(FRAME_ACK)?;
                w.u32(*delay_us)?;
                w.u16(u16::try_from(ranges.len()).ok()?)?;
                for r in ranges {
                    w.u64(r.start)?;
                    w.u64(r.end)?;
                }
            }
            Frame::Transfer(t) => {
                w.u8(FRAME_TRANSFER)?;
                w.u64(t.id)?;
                w.u32(t.flags)?;
                w.u8(t.overwrite)?;
                w.u64(t.time_resolution_us)?;
                w.u32(t.total_files)?;
                w.u64(t.total_bytes)?;
                w.u32(t.sync_interval_ms)?;
                let mut bits = 0;
                if t.verify {
                    bits |= HEADER_VERIFY;
                }
                if t.shared_token {
                    bits |= HEADER_SHARED_TOKEN;
                }
                w.u8(bits)?;
                w.u8(t.skip.code())?;
                w.str16(&t.dest_dir)?;
            }
            Frame::File { file, meta, resume } => {
                w.u8(FRAME_FILE)?;
                w.u32(*file)?;
                w.u8(match meta.kind {
                    EntryKind::File => 0,
                    EntryKind::Directory => 1,
                    EntryKind::Symlink { .. } => 2,
                })?;
                w.u8(u8::from(meta.executable))?;
                w.u64(meta.size)?;
                w.u64(meta.mtime_us as u64)?;
                w.u64(*resume)?;
                w.str16(&meta.path)?;
                if let EntryKind::Symlink { target } = &meta.kind {
                    w.str16(target)?;
                }
            }
            Frame::Accept => w.u8(FRAME_ACCEPT)?,
            Frame::Padding(len) => {
                let end = w.pos + len;
                w.buf.get_mut(w.pos..end)?.fill(FRAME_PADDING);
                w.pos = end;
            }
            Frame::Done => w.u8(FRAME_DONE)?,
            Frame::Result { code, message } => {
                w.u8(FRAME_RESULT)?;
                w.u8(*code)?;
                w.str16(truncate_utf8(message, MAX_MESSAGE_LEN))?;
            }
            Frame::Close {
                code,
                message,
                file,
            } => {
                w.u8(FRAME_CLOSE)?;
                w.u8(*code)?;
                w.str16(truncate_utf8(message, MAX_MESSAGE_LEN))?;
                w.u32(file.unwrap_or(NO_FILE))?;
            }
            Frame::Ping { id } => {
                w.u8(FRAME_PING)?;
                w.u64(*id)?;
            }
            Frame::Pong { id } => {
                w.u8(FRAME_PONG)?;
                w.u64(*id)?;
            }
            Frame::Durable { file, bytes } => {
                w.u8(FRAME_DURABLE)?;
                w.u32(*file)?;
                w.u64(*bytes)?;
            }
            Frame::Placed { file } => {
                w.u8(FRAME_PLACED)?;
                w.u32(*file)?;
            }
            Frame::Kept { file, verified } => {
                w.u8(FRAME_KEPT)?;
                w.u32(*file)?;
                w.u8(u8::from(*verified))?;
            }
            Frame::Missing { file, range } => {
                w.u8(FRAME_MISSING)?;
                w.u32(*file)?;
                w.u64(range.start)?;
                w.u64(range.end)?;
            }
            Frame::Digest { file, hash } => {
                w.u8(FRAME_DIGEST)?;
                w.u32(*file)?;
                w.bytes(hash)?;
            }
            Frame::NewToken(token) => {
                w.u8(FRAME_NEW_TOKEN)?;
                w.bytes(token)?;
            }
            Frame::Answers { first, answers } => {
                if answers.len() > MAX_ANSWERS {
                    return None;
                }
                w.u8(FRAME_ANSWERS)?;
                w.u32(*first)?;
                w.u16(answers.len() as u16)?;
                // Four to a byte, the first in the highest bits.
                for four in answers.chunks(4) {
                    let byte = four
                        .iter()
                        .enumerate()
                        .fold(0u8, |b, (i, a)| b | a.code() << (6 - 2 * i));
                    w.u8(byte)?;
                }
            }
        }
        *pos = w.pos;
        Some(())
    }
}

/// Writes the header of a DATA frame carrying `len` bytes at `out[pos..]`; the caller fills
/// the `len` bytes that follow. Returns the position of the payload.
pub fn encode_data_header(out: &mut [u8], pos: usize, file: u32, offset: u64, len: u16) -> usize {
    out[pos] = FRAME_DATA;
    out[pos + 1..pos + 5].copy_from_slice(&file.to_be_bytes());
    out[pos + 5..pos + 13].copy_from_slice(&offset.to_be_bytes());
    out[pos + 13..pos + 15].copy_from_slice(&len.to_be_bytes());
    pos + DATA_FRAME_OVERHEAD
}

fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Iterates over the frames of a decrypted payload.
pub struct Frames<'a> {
    reader: Reader<'a>,
}

impl<'a> Frames<'a> {
    /// Frames of `payload`.
    pub fn new(payload: &'a [u8]) -> Self {
        Frames {
            reader: Reader::new(payload),
        }
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<Frame<'a>, CodecError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.reader.is_empty() {
            return None;
        }
        let frame = decode_frame(&mut self.reader);
        if frame.is_err() {
            // Nothing after a malformed frame can be trusted.
            self.reader.buf = &[];
        }
        Some(frame)
    }
}

fn decode_frame<'a>(r: &mut Reader<'a>) -> Result<Frame<'a>, CodecError> {
    let kind = r.u8("frame kind")?;
    Ok(match kind {
        FRAME_PADDING => {
            let run = 1 + r.buf.iter().take_while(|&&b| b == FRAME_PADDING).count();
            r.take(run - 1, "padding")?;
            Frame::Padding(run)
        }
        FRAME_DATA => {
            let file = r.u32("data file")?;
            let offset = r.u64("data offset")?;
            let len = r.u16("data length")? as usize;
            let data = r.take(len, "data")?;
            offset
                .checked_add(len as u64)
                .ok_or(CodecError::Invalid("data offset"))?;
            Frame::Data { file, offset, data }
        }
        FRAME_ACK => {
            let delay_us = r.u32("ack delay")?;
            let count = r.u16("ack range count")? as usize;
            if count == 0 || count > MAX_ACK_RANGES {
                return Err(CodecError::Invalid("ack range count"));
            }
            let mut ranges = Vec::with_capacity(count);
            for _ in 0..count {
                let start = r.u64("ack range")?;
                let end = r.u64("ack range")?;
                if start >= end {
                    return Err(CodecError::Invalid("ack range"));
                }
                ranges.push(start..end);
            }
            Frame::Ack { delay_us, ranges }
        }
        FRAME_TRANSFER => {
            let id = r.u64("transfer id")?;
            let flags = r.u32("transfer flags")?;
            let overwrite = r.u8("overwrite mode")?;
            let time_resolution_us = r.u64("time resolution")?;
            let total_files = r.u32("total files")?;
            let total_bytes = r.u64("total bytes")?;
            let sync_interval_ms = r.u32("sync interval")?;
            let header_bits = r.u8("header bits")?;
            if header_bits & !(HEADER_VERIFY | HEADER_SHARED_TOKEN) != 0 {
                return Err(CodecError::Invalid("header bits"));
            }
            let skip =
                SkipRule::from_u8(r.u8("skip rule")?).ok_or(CodecError::Invalid("skip rule"))?;
            Frame::Transfer(TransferHeader {
                id,
                flags,
                overwrite,
                time_resolution_us,
                total_files,
                total_bytes,
                sync_interval_ms,
                verify: header_bits & HEADER_VERIFY != 0,
                shared_token: header_bits & HEADER_SHARED_TOKEN != 0,
                skip,
                dest_dir: r.str16("destination directory", MAX_PATH_LEN)?,
            })
        }
        FRAME_FILE => {
            let file = r.u32("file index")?;
            let kind = r.u8("entry kind")?;
            if kind > 2 {
                return Err(CodecError::Invalid("entry kind"));
            }
            let executable = match r.u8("file mode")? {
                0 => false,
                1 => true,
                _ => return Err(CodecError::Invalid("file mode")),
            };
            let size = r.u64("file size")?;
            let mtime_us = r.u64("file time")? as i64;
            let resume = r.u64("resume offset")?;
            if resume > size {
                return Err(CodecError::Invalid("resume offset"));
            }
            let path = r.str16("file path", MAX_PATH_LEN)?;
            let kind = match kind {
                0 => EntryKind::File,
                1 => EntryKind::Directory,
                _ => {
                    // Path and target together are bounded as one path is: the frame must
                    // fit the smallest datagram.
                    let room = MAX_PATH_LEN - path.len();
                    let target = r.str16("link target", room)?;
                    // A link has no data, and no target would name nothing.
                    if size != 0 || target.is_empty() || target.contains('\0') {
                        return Err(CodecError::Invalid("link target"));
                    }
                    EntryKind::Symlink { target }
                }
            };
            Frame::File {
                file,
                meta: FileMeta {
                    path,
                    kind,
                    size,
                    mtime_us,
                    executable,
                },
                resume,
            }
        }
        FRAME_ACCEPT => Frame::Accept,
        FRAME_DONE => Frame::Done,
        FRAME_RESULT | FRAME_CLOSE => {
            let code = r.u8("code")?;
            let message = r.str16("message", MAX_MESSAGE_LEN)?;
            if kind == FRAME_RESULT {
                Frame::Result { code, message }
            } else {
                let file = Some(r.u32("close file")?).filter(|&f| f != NO_FILE);
                Frame::Close {
                    code,
                    message,
                    file,
                }
            }
        }
        FRAME_PING => Frame::Ping { id: r.u64("ping")? },
        FRAME_PONG => Frame::Pong { id: r.u64("pong")? },
        FRAME_DURABLE => Frame::Durable {
            file: r.u32("durable file")?,
            bytes: r.u64("durable bytes")?,
        },
        FRAME_PLACED => Frame::Placed {
            file: r.u32("placed file")?,
        },
        FRAME_KEPT => Frame::Kept {
            file: r.u32("kept file")?,
            verified: match r.u8("kept check")? {
                0 => false,
                1 => true,
                _ => return Err(CodecError::Invalid("kept check")),
            },
        },
        FRAME_MISSING => {
            let file = r.u32("missing file")?;
            let start = r.u64("missing range")?;
            let end = r.u64("missing range")?;
            if start >= end {
                return Err(CodecError::Invalid("missing range"));
            }
            Frame::Missing {
                file,
                range: start..end,
            }
        }
        FRAME_DIGEST => Frame::Digest {
            file: r.u32("digest file")?,
            hash: r.array("digest")?,
        },
        FRAME_NEW_TOKEN => Frame::NewToken(r.array("token")?),
        FRAME_ANSWERS => {
            let first = r.u32("first answered file")?;
            let count = usize::from(r.u16("answer count")?);
            if count == 0 || count > MAX_ANSWERS || u64::from(first) + count as u64 > 1 << 32 {
                return Err(CodecError::Invalid("answer count"));
            }
            let packed = r.take(count.div_ceil(4), "answers")?;
            let mut answers = Vec::with_capacity(count);
            for i in 0..packed.len() * 4 {
                let code = packed[i / 4] >> (6 - 2 * (i % 4)) & 3;
                answers.push(match code {
                    // Bits past the last answer are zero.
                    0 if i >= count => continue,
                    _ if i >= count => return Err(CodecError::Invalid("answers")),
                    0 => Answer::Send,
                    1 => Answer::Kept,
                    2 => Answer::Check,
                    _ => return Err(CodecError::Invalid("answer")),
                });
            }
            Frame::Answers { first, answers }
        }
        kind => {
            return Err(CodecError::UnknownKind {
                what: "frame",
                kind,
            })
        }
    })
}

/// Credentials and other application data carried inside the encrypted handshake.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Auth {
    /// Account name, empty for anonymous.
    pub user: String,
    /// Account password.
    pub password: String,
    /// Shared token.
    pub token: String,
}

impl Auth {
    /// Longest field, in bytes.
    pub const MAX_FIELD: usize = 256;

    /// Encodes the credentials; `None` if a field is longer than [`Auth::MAX_FIELD`].
    pub fn encode(&self) -> Option<Vec<u8>> {
        let mut out = vec![0u8; 6 + self.user.len() + self.password.len() + self.token.len()];
        let mut w = Writer::new(&mut out);
        for field in [&self.user, &self.password, &self.token] {
            if field.len() > Self::MAX_FIELD {
                return None;
            }
            w.str16(field)?;
        }
        Some(out)
    }

    /// Decodes credentials sent by [`Auth::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Auth, CodecError> {
        let mut r = Reader::new(bytes);
        let auth = Auth {
            user: r.str16("user name", Self::MAX_FIELD)?,
            password: r.str16("password", Self::MAX_FIELD)?,
            token: r.str16("token", Self::MAX_FIELD)?,
        };
        if !r.is_empty() {
            return Err(CodecError::Invalid("credentials"));
        }
        Ok(auth)
    }
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], CodecError> {
        if self.buf.len() < n {
            return Err(CodecError::Truncated(what));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], CodecError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, CodecError> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, CodecError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, CodecError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, CodecError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    fn str16(&mut self, what: &'static str, max: usize) -> Result<String, CodecError> {
        let len = self.u16(what)? as usize;
        if len > max {
            return Err(CodecError::Invalid(what));
        }
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| CodecError::Invalid(what))
    }
}

struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf, pos: 0 }
    }

    fn bytes(&mut self, b: &[u8]) -> Option<()> {
        let end = self.pos.checked_add(b.len())?;
        self.buf.get_mut(self.pos..end)?.copy_from_slice(b);
        self.pos = end;
        Some(())
    }

    fn u8(&mut self, v: u8) -> Option<()> {
        self.bytes(&[v])
    }

    fn u16(&mut self, v: u16) -> Option<()> {
        self.bytes(&v.to_be_bytes())
    }

    fn u32(&mut self, v: u32) -> Option<()> {
        self.bytes(&v.to_be_bytes())
    }

    fn u64(&mut self, v: u64) -> Option<()> {
        self.bytes(&v.to_be_bytes())
    }

    fn str16(&mut self, s: &str) -> Option<()> {
        self.u16(u16::try_from(s.len()).ok()?)?;
        self.bytes(s.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample_frames() -> Vec<Frame<'static>> {
        vec![
            Frame::Data {
                file: 7,
                offset: 1 << 40,
                data: b"hello",
            },
            Frame::Ack {
                delay_us: 250,
                ranges: vec![100..200, 10..20],
            },
            Frame::Transfer(TransferHeader {
                id: 9,
                flags: 3,
                overwrite: 4,
                time_resolution_us: 1_000_000,
                total_files: 2,
                total_bytes: 5,
                sync_interval_ms: 1500,
                verify: true,
                shared_token: true,
                skip: SkipRule::QuickCheck,
                dest_dir: "in/box".into(),
            }),
            Frame::File {
                file: 1,
                meta: FileMeta {
                    path: "a/b/ünïcode.txt".into(),
                    kind: EntryKind::File,
                    size: 5,
                    mtime_us: -5,
                    executable: true,
                },
                resume: 3,
            },
            Frame::File {
                file: 2,
                meta: FileMeta {
                    path: "a/link".into(),
                    kind: EntryKind::Symlink {
                        target: "../b/ünïcode.txt".into(),
                    },
                    size: 0,
                    mtime_us: 1_700_000_000_000_000,
                    executable: false,
                },
                resume: 0,
            },
            Frame::Accept,
            Frame::Done,
            Frame::Result {
                code: 0,
                message: String::new(),
            },
            Frame::Close {
                code: 3,
                message: "no".into(),
                file: None,
            },
            Frame::Close {
                code: 4,
                message: "file 2: no room".into(),
                file: Some(2),
            },
            Frame::Ping { id: 1 },
            Frame::Padding(7),
            Frame::Pong { id: 2 },
            Frame::Durable {
                file: 3,
                bytes: 1 << 33,
            },
            Frame::Placed { file: 4 },
            Frame::Kept {
                file: 9,
                verified: true,
            },
            Frame::Kept {
                file: 10,
                verified: false,
            },
            Frame::Missing {
                file: 5,
                range: 10..20,
            },
            Frame::Digest {
                file: 6,
                hash: [7; DIGEST_LEN],
            },
            Frame::NewToken([8; TOKEN_LEN]),
            Frame::Answers {
                first: 11,
                answers: vec![
                    Answer::Send,
                    Answer::Kept,
                    Answer::Check,
                    Answer::Kept,
                    Answer::Send,
                ],
            },
            Frame::Answers {
                first: u32::MAX,
                answers: vec![Answer::Check],
            },
        ]
    }

    #[test]
    fn frames_round_trip() {
        let frames = sample_frames();
        let mut buf = vec![0u8; 4096];
        let mut pos = 0;
        for f in &frames {
            let before = pos;
            f.encode(&mut buf, &mut pos).unwrap();
            assert_eq!(pos - before, f.encoded_len());
        }
        let decoded: Vec<_> = Frames::new(&buf[..pos]).collect::<Result<_, _>>().unwrap();
        assert_eq!(decoded, frames);
    }

    #[test]
    fn a_resume_offset_beyond_the_file_is_refused() {
        let frame = Frame::File {
            file: 0,
            meta: FileMeta {
                path: "f".into(),
                kind: EntryKind::File,
                size: 5,
                mtime_us: 0,
                executable: false,
            },
            resume: 6,
        };
        let mut buf = vec![0u8; 64];
        let mut pos = 0;
        frame.encode(&mut buf, &mut pos).unwrap();
        let decoded: Result<Vec<_>, _> = Frames::new(&buf[..pos]).collect();
        assert_eq!(decoded, Err(CodecError::Invalid("resume offset")));
    }

    #[test]
    fn a_link_entry_has_no_data_a_target_and_room_for_both_names() {
        let link = |path: &str, target: &str, size: u64| Frame::File {
            file: 0,
            meta: FileMeta {
                path: path.into(),
                kind: EntryKind::Symlink {
                    target: target.into(),
                },
                size,
                mtime_us: 0,
                executable: false,
            },
            resume: 0,
        };
        // The frame decoded from its encoding is itself, or fails with `error`.
        let decodes = |frame: Frame<'_>, error: Option<CodecError>| {
            let mut buf = vec![0u8; frame.encoded_len()];
            let mut pos = 0;
            frame.encode(&mut buf, &mut pos).unwrap();
            assert_eq!(pos, buf.len());
            let decoded = Frames::new(&buf).collect::<Result<Vec<_>, _>>();
            match error {
                None => assert_eq!(decoded, Ok(vec![frame])),
                Some(error) => assert_eq!(decoded, Err(error)),
            }
        };
        decodes(link("l", &"t".repeat(MAX_PATH_LEN - 1), 0), None);
        let invalid = || Some(CodecError::Invalid("link target"));
        decodes(link("l", "t", 1), invalid());
        decodes(link("l", "", 0), invalid());
        decodes(link("l", "a\0b", 0), invalid());
        decodes(link("l", &"t".repeat(MAX_PATH_LEN), 0), invalid());
        // Kind 3 is no kind.
        let mut buf = vec![0u8; link("l", "t", 0).encoded_len()];
        link("l", "t", 0).encode(&mut buf, &mut 0).unwrap();
        buf[5] = 3;
        assert_eq!(
            Frames::new(&buf).collect::<Result<Vec<_>, _>>(),
            Err(CodecError::Invalid("entry kind"))
        );
    }

    #[test]
    fn answers_are_packed_four_to_a_byte_and_malformed_ones_refused() {
        let frame = Frame::Answers {
            first: 3,
            answers: vec![
                Answer::Kept,
                Answer::Check,
                Answer::Send,
                Answer::Kept,
                Answer::Kept,
            ],
        };
        let mut buf = [0u8; 16];
        let mut pos = 0;
        frame.encode(&mut buf, &mut pos).unwrap();
        assert_eq!(
            &buf[..pos],
            [FRAME_ANSWERS, 0, 0, 0, 3, 0, 5, 0b0110_0001, 0b0100_0000]
        );
        let decode = |bytes: &[u8]| Frames::new(bytes).next().unwrap().map(|_| ());
        assert_eq!(decode(&buf[..pos]), Ok(()));
        let mut bad = buf[..pos].to_vec();
        bad[8] |= 1; // a bit past the last answer
        assert_eq!(decode(&bad), Err(CodecError::Invalid("answers")));
        let mut bad = buf[..pos].to_vec();
        bad[7] |= 0b1100_0000; // no answer has code 3
        assert_eq!(decode(&bad), Err(CodecError::Invalid("answer")));
        let none = [FRAME_ANSWERS, 0, 0, 0, 3, 0, 0];
        assert_eq!(decode(&none), Err(CodecError::Invalid("answer count")));
        // Files past the last index a transfer can have.
        let past = [FRAME_ANSWERS, 255, 255, 255, 255, 0, 2, 0];
        assert_eq!(decode(&past), Err(CodecError::Invalid("answer count")));
        let many = Frame::Answers {
            first: 0,
            answers: vec![Answer::Send; MAX_ANSWERS + 1],
        };
        let mut big = vec![0u8; 4096];
        let mut pos = 0;
        assert!(many.encode(&mut big, &mut pos).is_none());
        assert_eq!(pos, 0);
    }

    #[test]
    fn frame_that_does_not_fit_writes_nothing() {
        let mut buf = [0u8; 8];
        let mut pos = 2;
        let frame = Frame::Ping { id: 1 };
        assert!(frame.encode(&mut buf, &mut pos).is_none());
        assert_eq!(pos, 2);
        assert_eq!(buf, [0u8; 8]);
    }

    #[test]
    fn headers_round_trip() {
        let cid = [1, 2, 3, 4, 5, 6, 7, 8];
        let mut buf = [0u8; 64];
        for key_phase in [false, true] {
            encode_protected_header(&cid, 42, key_phase, &mut buf);
            assert_eq!(
                Header::decode(&buf).unwrap(),
                Header::Protected {
                    cid,
                    pn: 42,
                    key_phase
                }
            );
        }
        let n = encode_handshake(DatagramKind::ServerHello, &cid, b"msg", &mut buf).unwrap();
        assert_eq!(
            Header::decode(&buf[..n]).unwrap(),
            Header::Handshake {
                kind: DatagramKind::ServerHello,
                cid
            }
        );
        assert_eq!(&buf[HANDSHAKE_HEADER_LEN..n], b"msg");
        buf[1] = 9;
        assert_eq!(Header::decode(&buf[..n]), Err(CodecError::Version(9)));
        let n = encode_handshake(DatagramKind::Retry, &cid, &[3; TOKEN_LEN], &mut buf).unwrap();
        assert_eq!(
            Header::decode(&buf[..n]).unwrap(),
            Header::Handshake {
                kind: DatagramKind::Retry,
                cid
            }
        );
    }

    #[test]
    fn a_client_hello_carries_no_token_or_a_whole_one() {
        let cid = [1; CID_LEN];
        let mut buf = [0u8; 512];
        let hello = [9u8; CLIENT_HELLO_LEN];
        let n = encode_handshake(DatagramKind::ClientHello, &cid, &hello, &mut buf).unwrap();
        assert_eq!(client_hello_parts(&buf[..n]), Some((&hello[..], &[][..])));
        assert_eq!(client_hello_parts(&buf[..n - 1]), None);
        let token = [4u8; TOKEN_LEN];
        let with = [&hello[..], &token].concat();
        let n = encode_handshake(DatagramKind::ClientHello, &cid, &with, &mut buf).unwrap();
        assert_eq!(
            client_hello_parts(&buf[..n]),
            Some((&hello[..], &token[..]))
        );
        assert_eq!(client_hello_parts(&buf[..n - 1]), None);
        assert_eq!(client_hello_parts(&buf[..n + 1]), None);
    }

    #[test]
    fn only_known_kind_bytes_decode_and_the_phase_bit_only_on_protected_datagrams() {
        let mut datagram = [0u8; 64];
        datagram[1] = VERSION;
        for kind in 0..=u8::MAX {
            datagram[0] = kind;
            let decoded = Header::decode(&datagram);
            match kind {
                1..=3 | 5 => assert!(matches!(decoded, Ok(Header::Handshake { .. }))),
                4 | 0x84 => assert!(matches!(
                    decoded,
                    Ok(Header::Protected { key_phase, .. }) if key_phase == (kind == 0x84)
                )),
                _ => assert_eq!(
                    decoded,
                    Err(CodecError::UnknownKind {
                        what: "datagram",
                        kind
                    })
                ),
            }
        }
    }

    #[test]
    fn auth_round_trip_and_limits() {
        let auth = Auth {
            user: "alice".into(),
            password: "pw".into(),
            token: String::new(),
        };
        assert_eq!(Auth::decode(&auth.encode().unwrap()).unwrap(), auth);
        let long = Auth {
            user: "x".repeat(Auth::MAX_FIELD + 1),
            ..Auth::default()
        };
        assert!(long.encode().is_none());
    }

    proptest! {
        #[test]
        fn hostile_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
            let _ = Header::decode(&bytes);
            for frame in Frames::new(&bytes) {
                let _ = frame;
            }
            let _ = Auth::decode(&bytes);
        }

        #[test]
        fn truncation_is_an_error(cut in 0usize..200) {
            // Padding has no length of its own: a cut one is still padding.
            let frames: Vec<_> = sample_frames()
                .into_iter()
                .filter(|f| !matches!(f, Frame::Padding(_)))
                .collect();
            let mut buf = vec![0u8; 4096];
            let mut pos = 0;
            let mut boundaries = vec![0];
            for f in &frames {
                f.encode(&mut buf, &mut pos).unwrap();
                boundaries.push(pos);
            }
            let end = pos - cut.min(pos);
            let decoded: Result<Vec<_>, _> = Frames::new(&buf[..end]).collect();
            match boundaries.iter().position(|&b| b == end) {
                Some(n) => prop_assert_eq!(decoded.unwrap(), frames[..n].to_vec()),
                None => prop_assert!(decoded.is_err()),
            }
        }
    }
}
