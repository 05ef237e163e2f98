//! File digests (BLAKE3): [`InOrder`] hashes files from bytes handed over in order (the
//! receiver's writes of small files), [`hash_file`] reads a whole file back (the receiver, for
//! any other file, before it calls it complete), and [`Digests`] follows the sender's reads so
//! that each file is hashed as it is read, with what the reads skipped (a resumed prefix) read
//! again on a worker thread.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use jetstream_wire::files::{Digest, StorageError};

use crate::workers::Workers;

/// Bytes read at a time when a file is read back to be hashed.
const READ_BYTES: usize = 1 << 20;

/// The digest of the first `size` bytes of `file`, read back with positioned reads.
pub fn hash_file(file: &File, size: u64) -> io::Result<Digest> {
    hash_range(blake3::Hasher::new(), 0, size, &mut |offset, buf| {
        file.read_exact_at(buf, offset)
    })
}

/// Feeds bytes `from..to` to `hasher`, fetched by `read` a chunk at a time.
fn hash_range(
    mut hasher: blake3::Hasher,
    from: u64,
    to: u64,
    read: &mut dyn FnMut(u64, &mut [u8]) -> io::Result<()>,
) -> io::Result<Digest> {
    let mut buf = vec![0u8; (to - from).min(READ_BYTES as u64) as usize];
    let mut at = from;
    while at < to {
        let n = (to - at).min(buf.len() as u64) as usize;
        read(at, &mut buf[..n])?;
        hasher.update(&buf[..n]);
        at += n as u64;
    }
    Ok(*hasher.finalize().as_bytes())
}

/// How a source fetches bytes of one of its files, for the hashing worker.
pub type Fetch = Arc<dyn Fn(u32, u64, &mut [u8]) -> io::Result<()> + Send + Sync>;

/// A hash left unfinished by the reads: the rest of a file, read on the worker.
struct CatchUp {
    file: u32,
    hasher: blake3::Hasher,
    from: u64,
    size: u64,
}

/// Hashes of files fed with their bytes in order from the start: a file whose bytes come out of
/// order (a repair, a resumed prefix) has no digest here and must be hashed another way.
#[derive(Default)]
pub struct InOrder {
    /// Hash state and the next offset it needs, for files whose bytes have begun.
    running: HashMap<u32, (blake3::Hasher, u64)>,
    done: HashMap<u32, Digest>,
}

impl InOrder {
    /// Bytes `data` at `offset` of `file`, of `size` bytes in all.
    pub fn on_bytes(&mut self, file: u32, size: u64, offset: u64, data: &[u8]) {
        if self.done.contains_key(&file) {
            return;
        }
        if offset == 0 && data.len() as u64 == size {
            self.done.insert(file, *blake3::hash(data).as_bytes());
            self.running.remove(&file);
            return;
        }
        let (hasher, next) = self
            .running
            .entry(file)
            .or_insert_with(|| (blake3::Hasher::new(), 0));
        let end = offset + data.len() as u64;
        if offset <= *next && *next < end {
            hasher.update(&data[(*next - offset) as usize..]);
            *next = end;
            if end == size {
                let (hasher, _) = self.running.remove(&file).expect("just updated");
                self.done.insert(file, *hasher.finalize().as_bytes());
            }
        }
    }

    /// The digest of `file` if all its bytes came in order (handed over once).
    pub fn take(&mut self, file: u32) -> Option<Digest> {
        self.running.remove(&file);
        self.done.remove(&file)
    }

    /// The unfinished hash of `file` and the offset it needs next, taken away.
    fn take_running(&mut self, file: u32) -> Option<(blake3::Hasher, u64)> {
        self.running.remove(&file)
    }
}

/// Per-file hashes of a sender's files, fed by the bytes it reads.
///
/// A file's hash advances while reads arrive in order from its start (the first pass of new
/// data does; repairs, which come later and out of order, are ignored). When its digest is
/// asked and some of it was never read in order, the rest is read and hashed on a worker
/// thread, and the digest is ready at a later ask.
pub struct Digests {
    sizes: Vec<u64>,
    hashes: InOrder,
    /// Digests the worker finished.
    done: HashMap<u32, Digest>,
    /// Files the worker is hashing.
    catching_up: HashSet<u32>,
    fetch: Fetch,
    worker: Option<Workers<CatchUp, (u32, io::Result<Digest>)>>,
}

impl Digests {
    /// Hashes of files of the given `sizes`, whose bytes `fetch` can read again.
    pub fn new(sizes: Vec<u64>, fetch: Fetch) -> Self {
        Digests {
            sizes,
            hashes: InOrder::default(),
            done: HashMap::new(),
            catching_up: HashSet::new(),
            fetch,
            worker: None,
        }
    }

    /// Bytes `data` of `file` at `offset` were read.
    pub fn on_read(&mut self, file: u32, offset: u64, data: &[u8]) {
        if self.catching_up.contains(&file) {
            return;
        }
        let size = self.sizes.get(file as usize).copied().unwrap_or(0);
        self.hashes.on_bytes(file, size, offset, data);
    }

    /// The digest of `file` if it is known (handed over once: it is not kept); otherwise the
    /// rest of the file is hashed in the background and `None` returned.
    pub fn digest(&mut self, file: u32) -> Result<Option<Digest>, StorageError> {
        self.collect()?;
        if let Some(digest) = self.hashes.done.remove(&file) {
            return Ok(Some(digest));
        }
        if let Some(digest) = self.done.remove(&file) {
            return Ok(Some(digest));
        }
        let size = self.sizes.get(file as usize).copied().unwrap_or(0);
        if size == 0 {
            return Ok(Some(*blake3::hash(&[]).as_bytes()));
        }
        if self.catching_up.insert(file) {
            let (hasher, from) = self
                .hashes
                .take_running(file)
                .unwrap_or_else(|| (blake3::Hasher::new(), 0));
            self.worker()?.submit(CatchUp {
                file,
                hasher,
                from,
                size,
            });
        }
        Ok(None)
    }

    /// Takes in the digests the worker finished.
    fn collect(&mut self) -> Result<(), StorageError> {
        while let Some((file, result)) = self.worker.as_mut().and_then(Workers::try_result) {
            let digest = result.map_err(|e| StorageError {
                file,
                message: format!("reading the file to hash it: {e}"),
            })?;
            self.catching_up.remove(&file);
            self.done.insert(file, digest);
        }
        Ok(())
    }

    fn worker(&mut self) -> Result<&mut Workers<CatchUp, (u32, io::Result<Digest>)>, StorageError> {
        if self.worker.is_none() {
            let fetch = self.fetch.clone();
            let worker = Workers::new(1, "jetstream-hash", move |job: CatchUp| {
                let mut read = |offset: u64, buf: &mut [u8]| fetch(job.file, offset, buf);
                (
                    job.file,
                    hash_range(job.hasher, job.from, job.size, &mut read),
                )
            })
            .map_err(|e| StorageError {
                file: 0,
                message: format!("cannot start the hashing thread: {e}"),
            })?;
            self.worker = Some(worker);
        }
        Ok(self.worker.as_mut().expect("just set"))
    }
}
