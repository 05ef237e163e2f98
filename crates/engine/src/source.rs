//! The sender's file reader: [`FileSource`] serves the session's small reads from a few large,
//! aligned extents read with `pread`, and [`GeneratedSource`] serves position-pure generated
//! bytes when reading is off. Also the small LRU both this reader and the writer use.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use jetstream_wire::files::{DataSource, StorageError};

/// Size and alignment of the extents the reader fetches, in bytes.
pub const EXTENT_BYTES: usize = 1 << 20;
/// How many extents the reader keeps.
const EXTENT_SLOTS: usize = 4;
/// How many files the reader keeps open.
const OPEN_FILES: usize = 32;

/// A fixed-capacity least-recently-used map for a handful of entries (descriptors, extents):
/// a linear scan over a few slots beats hashing at these sizes.
#[derive(Debug)]
pub(crate) struct Lru<K, V> {
    slots: Vec<(K, V, u64)>,
    capacity: usize,
    clock: u64,
}

impl<K: Copy + PartialEq, V> Lru<K, V> {
    /// An empty map holding at most `capacity` entries (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Lru {
            slots: Vec::with_capacity(capacity),
            capacity,
            clock: 0,
        }
    }

    /// The slot of `key`, marked as just used.
    pub(crate) fn find(&mut self, key: K) -> Option<usize> {
        let i = self.slots.iter().position(|(k, _, _)| *k == key)?;
        self.clock += 1;
        self.slots[i].2 = self.clock;
        Some(i)
    }

    /// The value in slot `i`, as returned by [`Lru::find`] or [`Lru::insert`].
    pub(crate) fn get(&mut self, i: usize) -> &mut V {
        &mut self.slots[i].1
    }

    /// Removes and returns the least recently used entry if the map is full.
    pub(crate) fn evict_if_full(&mut self) -> Option<(K, V)> {
        if self.slots.len() < self.capacity {
            return None;
        }
        let (i, _) = self
            .slots
            .iter()
            .enumerate()
            .min_by_key(|(_, (_, _, used))| *used)?;
        let (k, v, _) = self.slots.swap_remove(i);
        Some((k, v))
    }

    /// Inserts `key` (which must not be present), evicting the least recently used entry when
    /// full; returns the new slot.
    pub(crate) fn insert(&mut self, key: K, value: V) -> usize {
        drop(self.evict_if_full());
        self.clock += 1;
        self.slots.push((key, value, self.clock));
        self.slots.len() - 1
    }

    /// Removes `key`'s entry.
    pub(crate) fn remove(&mut self, key: K) -> Option<V> {
        let i = self.slots.iter().position(|(k, _, _)| *k == key)?;
        Some(self.slots.swap_remove(i).1)
    }

    /// How many entries are held.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }
}

/// One cached extent: `len` valid bytes of the file from the extent's aligned start.
struct Extent {
    buf: Box<[u8]>,
    len: usize,
}

/// Reads source files for a sending session.
///
/// Each `read_at` is served from a pool of [`EXTENT_BYTES`]-aligned extents (least recently used
/// replaced), so a stream of packet-sized reads costs one `pread` per extent; descriptors are
/// opened at first use and a few are kept open.
pub struct FileSource {
    paths: Vec<PathBuf>,
    files: Lru<u32, File>,
    extents: Lru<(u32, u64), Extent>,
}

impl FileSource {
    /// A reader of `files`, indexed by file number; a directory entry is an empty path and is
    /// never read.
    pub fn new(files: Vec<PathBuf>) -> Self {
        FileSource {
            paths: files,
            files: Lru::new(OPEN_FILES),
            extents: Lru::new(EXTENT_SLOTS),
        }
    }

    fn error(&self, file: u32, what: impl std::fmt::Display) -> StorageError {
        let message = match self.paths.get(file as usize) {
            Some(path) => format!("{}: {what}", path.display()),
            None => format!("no file number {file}: {what}"),
        };
        StorageError { file, message }
    }

    /// The slot of extent `index` of `file`, read from disk if it is not cached.
    fn extent(&mut self, file: u32, index: u64) -> Result<usize, StorageError> {
        if let Some(slot) = self.extents.find((file, index)) {
            return Ok(slot);
        }
        let path = match self.paths.get(file as usize) {
            Some(path) if path.as_os_str().is_empty() => {
                return Err(self.error(file, "a directory has no data"))
            }
            Some(path) => path,
            None => return Err(self.error(file, "not in the transfer")),
        };
        let fd = match self.files.find(file) {
            Some(slot) => slot,
            None => {
                let opened = File::open(path).map_err(|e| self.error(file, e))?;
                self.files.insert(file, opened)
            }
        };
        let mut buf = match self.extents.evict_if_full() {
            Some((_, extent)) => extent.buf,
            None => vec![0; EXTENT_BYTES].into_boxed_slice(),
        };
        let start = index * EXTENT_BYTES as u64;
        let len =
            read_full(self.files.get(fd), &mut buf, start).map_err(|e| self.error(file, e))?;
        Ok(self.extents.insert((file, index), Extent { buf, len }))
    }
}

/// Reads from `offset` until `buf` is full or the file ends; returns the bytes read.
fn read_full(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

impl DataSource for FileSource {
    fn read_at(&mut self, file: u32, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        let mut done = 0;
        while done < buf.len() {
            let pos = offset
                .checked_add(done as u64)
                .ok_or_else(|| self.error(file, "offset out of range"))?;
            let index = pos / EXTENT_BYTES as u64;
            let within = (pos % EXTENT_BYTES as u64) as usize;
            let slot = self.extent(file, index)?;
            let len = self.extents.get(slot).len;
            if within >= len {
                let why = format!("file ends before byte {pos}, shorter than announced");
                return Err(self.error(file, why));
            }
            let n = (len - within).min(buf.len() - done);
            let extent = self.extents.get(slot);
            buf[done..done + n].copy_from_slice(&extent.buf[within..within + n]);
            done += n;
        }
        Ok(())
    }
}

/// A source of generated bytes (transfers with `TRANSFER_FLAG_READ` off): each byte is a pure
/// function of its file number and offset, see [`generated_bytes`].
#[derive(Clone, Copy, Debug, Default)]
pub struct GeneratedSource;

impl DataSource for GeneratedSource {
    fn read_at(&mut self, file: u32, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        generated_bytes(file, offset, buf);
        Ok(())
    }
}

/// The eight generated bytes of 8-byte word `index` of `file` (SplitMix64 of the position).
fn generated_word(file: u32, index: u64) -> [u8; 8] {
    let mut z = index.wrapping_add(u64::from(file).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)).to_le_bytes()
}

/// Fills `buf` with the generated bytes of `file` from `offset`: byte `p` is byte `p % 8` of
/// a 64-bit mix of `(file, p / 8)`, so any range can be produced (or checked) on its own.
pub fn generated_bytes(file: u32, offset: u64, buf: &mut [u8]) {
    let head = ((8 - offset % 8) % 8) as usize;
    let (head_buf, rest) = buf.split_at_mut(head.min(buf.len()));
    if !head_buf.is_empty() {
        let word = generated_word(file, offset / 8);
        let start = (offset % 8) as usize;
        head_buf.copy_from_slice(&word[start..start + head_buf.len()]);
    }
    let mut index = offset.div_ceil(8);
    let mut chunks = rest.chunks_exact_mut(8);
    for chunk in &mut chunks {
        chunk.copy_from_slice(&generated_word(file, index));
        index = index.wrapping_add(1);
    }
    let tail = chunks.into_remainder();
    let tail_len = tail.len();
    tail.copy_from_slice(&generated_word(file, index)[..tail_len]);
}
