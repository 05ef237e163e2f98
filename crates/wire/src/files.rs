//! What a session needs from the storage on either side: the description of a file on the wire
//! and the two traits through which the sender reads and the receiver writes file data.

use crate::session::SessionError;
use std::fmt;

/// Kind of a manifest entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file with `size` bytes of data.
    File,
    /// A directory (created even when empty).
    Directory,
    /// A symbolic link, sent as itself (`SYMLINKS_PRESERVE`); its size is 0. The receiver
    /// recreates it only when `target` keeps it inside the transfer's destination directory.
    Symlink {
        /// The link's target as the sender's file system holds it, not resolved.
        target: String,
    },
}

/// One entry of a transfer as the receiver learns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileMeta {
    /// Path relative to the transfer's destination directory, `/`-separated, never absolute.
    pub path: String,
    /// File, directory or symbolic link.
    pub kind: EntryKind,
    /// Size in bytes (0 for directories and links).
    pub size: u64,
    /// Modification time, Unix microseconds.
    pub mtime_us: i64,
    /// Whether the executable bit is set.
    pub executable: bool,
}

/// Error from a [`DataSource`] or a [`DataSink`], carried into the session's close reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageError {
    /// The file index the error concerns.
    pub file: u32,
    /// What went wrong, for the peer and the user.
    pub message: String,
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "file {}: {}", self.file, self.message)
    }
}

impl std::error::Error for StorageError {}

/// What the sender asks of the receiver for one transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferHeader {
    /// The sender's id of the transfer.
    pub id: u64,
    /// `TRANSFER_FLAG_*` bits.
    pub flags: u32,
    /// `OVERWRITE_*` mode.
    pub overwrite: u8,
    /// Modification times this close are equal (microseconds).
    pub time_resolution_us: u64,
    /// How often the receiver makes what it received durable and reports it, in milliseconds
    /// (0: the receiver's default).
    pub sync_interval_ms: u32,
    /// Whether every file's digest is checked before it is complete.
    pub verify: bool,
    /// Whether the transfer is a download: sent to the holder of one of the sender's shared
    /// tokens, which the sender checked (the receiver keeps it in its records).
    pub shared_token: bool,
    /// Which announced files the receiver keeps as they are, so that none of their data is
    /// sent.
    pub skip: SkipRule,
    /// How many entries the transfer has.
    pub total_files: u32,
    /// Sum of the entries' sizes.
    pub total_bytes: u64,
    /// Directory below the receiver's root that receives the entries ("" for the root).
    pub dest_dir: String,
}

#[cfg(test)]
impl TransferHeader {
    /// The header of a plain transfer of `total_files` entries and `total_bytes`, for tests.
    pub(crate) fn plain(total_files: u32, total_bytes: u64) -> TransferHeader {
        TransferHeader {
            id: 1,
            flags: 0,
            overwrite: 0,
            time_resolution_us: 1,
            sync_interval_ms: 0,
            verify: false,
            shared_token: false,
            skip: SkipRule::QuickCheck,
            total_files,
            total_bytes,
            dest_dir: String::new(),
        }
    }
}

/// How the receiver decides, when a file is announced, that its target already holds it: such a
/// file is kept as it is and none of its data is sent. Only a complete target counts (never a
/// part file); `TRANSFER_FLAG_WRITE_ONLY_NEWER` keeps a target as new as the source whatever
/// the rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SkipRule {
    /// Every file is sent.
    #[default]
    Whole,
    /// A target of the source's size and modification time (within the transfer's time
    /// resolution) is kept: rsync's quick check.
    QuickCheck,
    /// A target of the source's size is hashed and kept when its digest matches the sender's
    /// (the transfer's files are verified).
    Checksum,
    /// Any existing target is kept.
    Existing,
}

impl SkipRule {
    /// The rule of its code on the wire.
    pub fn from_u8(code: u8) -> Option<SkipRule> {
        Some(match code {
            0 => SkipRule::Whole,
            1 => SkipRule::QuickCheck,
            2 => SkipRule::Checksum,
            3 => SkipRule::Existing,
            _ => return None,
        })
    }

    /// The rule's code on the wire.
    pub fn code(self) -> u8 {
        match self {
            SkipRule::Whole => 0,
            SkipRule::QuickCheck => 1,
            SkipRule::Checksum => 2,
            SkipRule::Existing => 3,
        }
    }
}

/// The digest of a whole file (BLAKE3).
pub type Digest = [u8; crate::codec::DIGEST_LEN];

/// Where a sending session takes file bytes from.
pub trait DataSource {
    /// Fills `buf` with the bytes of file `file` starting at `offset`. The range is always
    /// inside the file's announced size.
    fn read_at(&mut self, file: u32, offset: u64, buf: &mut [u8]) -> Result<(), StorageError>;
    /// The digest of the whole of `file`, asked once the session has read all it will send of
    /// it for the first time. `Ok(None)`: not known yet (it is being computed); the session asks
    /// again later.
    fn digest(&mut self, file: u32) -> Result<Option<Digest>, StorageError>;
}

/// What a sink's background work came to, reported through [`DataSink::poll_report`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SinkReport {
    /// Bytes `0..bytes` of `file` are on stable storage.
    Durable {
        /// File index.
        file: u32,
        /// Length of the durable prefix.
        bytes: u64,
    },
    /// `file` is complete: durable, verified and in place.
    Placed(u32),
    /// `file`'s bytes do not match the sender's digest; the sink writes it anew.
    Mismatch(u32),
    /// `file` was refused and nothing of it written (a symbolic link leading out of the
    /// destination directory); the transfer completes its other files and then fails, naming
    /// every refusal.
    Refused {
        /// File index.
        file: u32,
        /// Why, naming the entry.
        reason: String,
    },
}

/// Why a sink leaves a file as it found it ([`DataSink::kept`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kept {
    /// Its target holds the file by the transfer's [`SkipRule`]: it stays as it is, complete
    /// at once.
    Same,
    /// Its target is as new as the source and only newer files are written: it stays as it
    /// is, different from the source, complete at once.
    Newer,
    /// Its target has the source's size and is checked against the sender's digest: kept
    /// when it matches, written otherwise.
    Check,
}

/// Where a receiving session puts file bytes.
///
/// Every [`DataSink::finish`] leads to exactly one [`SinkReport::Placed`],
/// [`SinkReport::Mismatch`] or [`SinkReport::Refused`] (or an error), at once or once
/// background work is done.
pub trait DataSink {
    /// A transfer begins: its header arrives before any of its entries. An error refuses the
    /// transfer: the session fails with that code and message (the receiver's policy on what a
    /// sender may ask for is applied here, before anything is written).
    fn begin(&mut self, header: &TransferHeader) -> Result<(), SessionError> {
        let _ = header;
        Ok(())
    }
    /// A new entry was announced. Called once per file index before any of its data. Returns
    /// how many bytes from the start of the file the sink already holds on stable storage from
    /// an earlier session (0 for none): they are not written again.
    fn open(&mut self, file: u32, meta: &FileMeta) -> Result<u64, StorageError>;
    /// Whether `file`, just opened, is to be left as the sink found it, and why; `None` when
    /// it is written. A file kept [`Kept::Same`] or [`Kept::Newer`] is complete at once and
    /// never finished; one to [`Kept::Check`] is held whole, finished with the sender's digest
    /// and reported KEPT, unless its digest check fails and it is written after all.
    fn kept(&self, file: u32) -> Option<Kept> {
        let _ = file;
        None
    }
    /// Bytes of `file` at `offset`. The same range may arrive more than once.
    fn write_at(&mut self, file: u32, offset: u64, data: &[u8]) -> Result<(), StorageError>;
    /// Every byte of `file` has arrived: make it final (sync, check `digest` when given, set
    /// times and mode, rename into place, sync its directory), at once or in the background.
    fn finish(&mut self, file: u32, digest: Option<&Digest>) -> Result<(), StorageError>;
    /// Makes bytes `0..prefix` of each listed file durable, in the background; each one
    /// made durable is reported as [`SinkReport::Durable`].
    fn sync(&mut self, files: &[(u32, u64)]) -> Result<(), StorageError>;
    /// What the background work came to since the last call; returns that work's failures.
    fn poll_report(&mut self) -> Result<Option<SinkReport>, StorageError>;
    /// The sender gave the transfer up for good: remove what was written of the files not
    /// complete (their part files).
    fn abandon(&mut self) -> Result<(), StorageError>;
    /// The session failed and its sender may come back: after the syncs asked before, keep
    /// what is durable and give back the rest — files holding nothing durable are removed, and
    /// space reserved beyond a durable prefix is freed.
    fn release(&mut self) -> Result<(), StorageError>;
}
