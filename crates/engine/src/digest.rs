//! File digests (BLAKE3): [`Partial`] is a file's hash carried over its first bytes;
//! [`HashAhead`] is a thread of the lowest priority that carries the receiver's hashes of files
//! over their written prefixes while they are written, and [`Partial::finish`] reads back what
//! is left when a file is finished; [`Digests`] follows the sender's reads so that each file is
//! hashed as it is read ([`InOrder`]), with what the reads skipped (a resumed prefix) read again
//! on a worker thread.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::{mpsc, Arc, Mutex, PoisonError, Weak};
use std::thread;

use jetstream_wire::files::{Digest, StorageError};

use crate::workers::Workers;

/// Bytes read at a time when a file is read back to be hashed.
const READ_BYTES: usize = 1 << 20;

/// The hash of a file's first `hashed` bytes, to be carried on.
#[derive(Default)]
pub struct Partial {
    hasher: blake3::Hasher,
    hashed: u64,
}

impl Partial {
    /// The digest of the first `size` bytes of `file`, reading back (with positioned reads)
    /// what is not hashed yet.
    pub fn finish(mut self, file: &File, size: u64) -> io::Result<Digest> {
        self.read_to(size, &mut |offset, buf| file.read_exact_at(buf, offset))?;
        Ok(self.digest())
    }

    fn digest(&self) -> Digest {
        *self.hasher.finalize().as_bytes()
    }

    /// Hashes the bytes up to `to` not hashed yet, fetched by `read` a chunk at a time.
    fn read_to(
        &mut self,
        to: u64,
        read: &mut dyn FnMut(u64, &mut [u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut buf = vec![0u8; to.saturating_sub(self.hashed).min(READ_BYTES as u64) as usize];
        while self.hashed < to {
            let n = (to - self.hashed).min(buf.len() as u64) as usize;
            read(self.hashed, &mut buf[..n])?;
            self.hasher.update(&buf[..n]);
            self.hashed += n as u64;
        }
        Ok(())
    }

    /// Bytes `data` at `offset`: what of them follows the hashed prefix is hashed.
    fn update(&mut self, offset: u64, data: &[u8]) {
        let end = offset + data.len() as u64;
        if offset <= self.hashed && self.hashed < end {
            self.hasher.update(&data[(self.hashed - offset) as usize..]);
            self.hashed = end;
        }
    }
}

/// A file's hash carried ahead while it is written: advanced by [`HashAhead`], taken (leaving
/// `None`, which stops any advance still asked) when the file is finished.
pub type Shared = Arc<Mutex<Option<Partial>>>;

/// A thread of the lowest CPU priority that carries files' hashes over their written prefixes:
/// it runs on the time the transfer leaves idle, so that little is left to hash when a file is
/// finished, and it never takes a core from the threads that move the data.
pub struct HashAhead {
    jobs: mpsc::Sender<Ahead>,
}

/// How [`HashAhead`] opens the file at a path to read it.
pub type Open = Box<dyn Fn(&str) -> io::Result<File> + Send>;

/// Carry `partial` over the first `to` bytes of the file at `path`.
struct Ahead {
    /// Gone once its file is finished or its writer has ended: nothing is left to do.
    partial: Weak<Mutex<Option<Partial>>>,
    path: String,
    to: u64,
}

impl HashAhead {
    /// Starts the thread, which opens files with `open`; it ends when this is dropped and the
    /// hashes asked before are done.
    pub fn new(open: Open) -> io::Result<Self> {
        let (jobs, asked) = mpsc::channel::<Ahead>();
        thread::Builder::new()
            .name("jetstream-hash".into())
            .spawn(move || {
                // SAFETY: setpriority has no memory effects; on Linux a thread id names this
                // thread alone.
                let tid = unsafe { libc::gettid() };
                if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19) } != 0 {
                    tracing::debug!(error = %io::Error::last_os_error(), "hashing at normal priority");
                }
                let mut buf = vec![0u8; READ_BYTES];
                for ahead in asked {
                    ahead.run(&open, &mut buf);
                }
            })?;
        Ok(HashAhead { jobs })
    }

    /// Asks that `partial` be carried over the first `to` bytes of the file at `path`, which
    /// are written and final.
    pub fn ask(&self, partial: &Shared, path: String, to: u64) {
        // The thread only ends with this sender.
        let _ = self.jobs.send(Ahead {
            partial: Arc::downgrade(partial),
            path,
            to,
        });
    }
}

impl Ahead {
    /// Hashes a chunk at a time, each under the lock, so that a finish waits for one at most.
    /// A file that cannot be opened (placed under its final name since) is left to its finish.
    fn run(self, open: &Open, buf: &mut [u8]) {
        let mut file = None;
        loop {
            let Some(partial) = self.partial.upgrade() else {
                return;
            };
            let mut partial = partial.lock().unwrap_or_else(PoisonError::into_inner);
            let Some(partial) = partial.as_mut() else {
                return;
            };
            let at = partial.hashed;
            if at >= self.to {
                return;
            }
            let n = (self.to - at).min(buf.len() as u64) as usize;
            let file = match &file {
                Some(file) => file,
                None => match open(&self.path) {
                    Ok(opened) => file.insert(opened),
                    Err(_) => return,
                },
            };
            if let Err(e) = file.read_exact_at(&mut buf[..n], at) {
                // Started again when it is finished, from the file as it is then.
                tracing::debug!(error = %e, "hashing ahead");
                *partial = Partial::default();
                return;
            }
            partial.update(at, &buf[..n]);
        }
    }
}

/// How a source fetches bytes of one of its files, for the hashing worker.
pub type Fetch = Arc<dyn Fn(u32, u64, &mut [u8]) -> io::Result<()> + Send + Sync>;

/// A hash left unfinished by the reads: the rest of a file, read on the worker.
struct CatchUp {
    file: u32,
    partial: Partial,
    size: u64,
}

/// Hashes of files fed with their bytes in order from the start (the sender's reads): a file
/// whose bytes come out of order (a repair, a resumed prefix) has no digest here and must be
/// hashed another way.
#[derive(Default)]
struct InOrder {
    /// Hashes of files whose bytes have begun.
    running: HashMap<u32, Partial>,
    done: HashMap<u32, Digest>,
}

impl InOrder {
    /// Bytes `data` at `offset` of `file`, of `size` bytes in all.
    fn on_bytes(&mut self, file: u32, size: u64, offset: u64, data: &[u8]) {
        if self.done.contains_key(&file) {
            return;
        }
        if offset == 0 && data.len() as u64 == size {
            self.done.insert(file, *blake3::hash(data).as_bytes());
            self.running.remove(&file);
            return;
        }
        let partial = self.running.entry(file).or_default();
        partial.update(offset, data);
        if partial.hashed == size {
            self.done.insert(file, partial.digest());
            self.running.remove(&file);
        }
    }

    /// The unfinished hash of `file`, taken away.
    fn take_running(&mut self, file: u32) -> Option<Partial> {
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
            let partial = self.hashes.take_running(file).unwrap_or_default();
            self.worker()?.submit(CatchUp {
                file,
                partial,
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
                let CatchUp {
                    file,
                    mut partial,
                    size,
                } = job;
                let mut read = |offset: u64, buf: &mut [u8]| fetch(file, offset, buf);
                let digest = partial.read_to(size, &mut read).map(|()| partial.digest());
                (file, digest)
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
