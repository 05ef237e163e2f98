//! What a session needs from the storage on either side: the description of a file on the wire
//! and the two traits through which the sender reads and the receiver writes file data.

use std::fmt;

/// Kind of a manifest entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file with `size` bytes of data.
    File,
    /// A directory (created even when empty).
    Directory,
}

/// One entry of a transfer as the receiver learns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileMeta {
    /// Path relative to the transfer's destination directory, `/`-separated, never absolute.
    pub path: String,
    /// File or directory.
    pub kind: EntryKind,
    /// Size in bytes (0 for directories).
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
    /// How many entries the transfer has.
    pub total_files: u32,
    /// Sum of the entries' sizes.
    pub total_bytes: u64,
    /// Directory below the receiver's root that receives the entries ("" for the root).
    pub dest_dir: String,
}

/// Where a sending session takes file bytes from.
pub trait DataSource {
    /// Fills `buf` with the bytes of file `file` starting at `offset`. The range is always
    /// inside the file's announced size.
    fn read_at(&mut self, file: u32, offset: u64, buf: &mut [u8]) -> Result<(), StorageError>;
}

/// Where a receiving session puts file bytes.
pub trait DataSink {
    /// A transfer begins: its header arrives before any of its entries.
    fn begin(&mut self, header: &TransferHeader) -> Result<(), StorageError> {
        let _ = header;
        Ok(())
    }
    /// A new entry was announced. Called once per file index before any of its data.
    fn open(&mut self, file: u32, meta: &FileMeta) -> Result<(), StorageError>;
    /// Bytes of `file` at `offset`. The same range may arrive more than once.
    fn write_at(&mut self, file: u32, offset: u64, data: &[u8]) -> Result<(), StorageError>;
    /// Every byte of `file` has arrived: make it final (flush, set times and mode, rename),
    /// at once or in the background (see [`DataSink::settled`]).
    fn finish(&mut self, file: u32) -> Result<(), StorageError>;
    /// Whether every finished file is in place. A sink that makes files final in the
    /// background answers false while it is still at work, and returns that work's failures
    /// here at the latest; the session confirms the transfer only once this is true.
    fn settled(&mut self) -> Result<bool, StorageError> {
        Ok(true)
    }
}
