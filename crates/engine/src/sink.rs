//! The receiver's file writer: [`FileSink`] puts a session's file data on disk beneath the
//! sandbox root, and makes each file final (mode, times, rename) according to the overwrite mode.
//!
//! Hot path: contiguous small writes of one file are gathered in one reusable buffer and leave
//! in one `pwrite` per run, so a stream of packets costs neither a syscall nor an allocation
//! each; a write of [`DIRECT_WRITE_BYTES`] or more (a large datagram's payload) is one `pwrite`
//! straight from the caller's bytes, without that copy.
//! Creating a file, syncing it and making it final cost far more than writing a small one, so
//! they run on a worker thread: the first [`PREPARED_AHEAD`] announced files not yet written
//! are created and sized ahead of their data, within the space the receiver lets one session
//! reserve ([`SinkOptions::reserve_ahead`]); a sync asked by the session is an `fdatasync`
//! followed by the file's durable [`Record`]; a finished file is checked against the sender's
//! digest (read back from disk), given its mode and times, synced, renamed into place, and its
//! directory synced, in that order — only then is it reported placed. A few descriptors are kept
//! in an LRU for writing; each is handed to the worker that finishes its file.
//!
//! What an earlier session left is found when a file is announced: a part file (or in-place
//! target) with a matching record gives its durable prefix. What the target already holds is
//! decided then too, by the transfer's [`SkipRule`]: a complete target (never a part file) of
//! the source's size and time is kept as it is, or, comparing digests, offered whole to be
//! checked against the sender's digest.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::fs::{File, Permissions};
use std::io;
use std::mem;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::sync::{Arc, Mutex, PoisonError};

use jetstream_wire::files::{
    DataSink, Digest, EntryKind, FileMeta, Kept, SinkReport, SkipRule, StorageError,
};

use crate::digest::{HashAhead, Partial, Shared};
use crate::links::{self, Existing};
use crate::overwrite::OverwriteMode;
use crate::parts::{self, TransferId};
use crate::record::{Record, RECORD_SUFFIX};
use crate::sandbox::{check_path, set_file_mtime, Access, Sandbox, SandboxError, Stat, StatKind};
use crate::source::Lru;
use crate::umask::umask;
use crate::workers::Workers;

/// Size of the buffer that gathers contiguous writes.
pub const WRITE_BUFFER_BYTES: usize = 1 << 20;
/// Writes at least this long bypass the buffer.
pub const DIRECT_WRITE_BYTES: usize = 16 << 10;
/// How many files the writer keeps open at once for writing.
pub const OPEN_FILES: usize = 64;
/// How many announced files are created (and hold a descriptor) ahead of their data.
pub const PREPARED_AHEAD: usize = 32;
/// What [`SinkOptions::reserve_ahead`] is unless the receiver says otherwise.
pub const RESERVE_AHEAD: u64 = 1 << 30;
/// A file's written prefix is read back and hashed by [`HashAhead`], off the receiving thread
/// that bounds the rate, each time it has grown by this much, become durable or reached the
/// file's end, so that little or nothing is left to hash when the file is finished.
const HASH_AHEAD_BYTES: u64 = 64 << 20;
/// Finished files handed to the worker together: they share one sync of each directory.
const FINISH_BATCH: usize = 64;
/// Threads that create and finish files. One: creations and renames in one directory take its
/// lock in turn, and on two cores a second thread mostly spun waiting for it.
const FILE_WORKERS: usize = 1;
/// Suffix of the file written in place of `NAME` until it is complete.
pub const PART_SUFFIX: &str = ".jetpart";
/// Suffix under which [`OverwriteMode::Backup`] keeps the replaced `NAME`.
pub const BACKUP_SUFFIX: &str = ".jetbak";

/// How a [`FileSink`] writes one transfer.
#[derive(Clone, Debug)]
pub struct SinkOptions {
    /// Directory below the root that receives the entries; `""` for the root itself.
    pub dest_dir: String,
    /// What to do with existing files.
    pub overwrite: OverwriteMode,
    /// Write files (`TRANSFER_FLAG_WRITE`); when false, data is checked against the announced
    /// sizes and discarded, and no file is touched.
    pub write: bool,
    /// Set each file's modification time to the source's (`TRANSFER_FLAG_WRITE_MTIME`). A
    /// directory gets its time at its own finish, once the files finished before it are in
    /// place; entries created in it later change it again.
    pub write_mtime: bool,
    /// `Some(resolution_us)`: skip a file whose destination's mtime is as new as the source's
    /// or newer, within `resolution_us` (`TRANSFER_FLAG_WRITE_ONLY_NEWER`).
    pub only_newer: Option<i64>,
    /// Files are checked against the sender's digests.
    pub verify: bool,
    /// Which existing targets are kept as they are instead of being written.
    pub skip: SkipRule,
    /// Modification times this close (microseconds) are equal, for [`SkipRule::QuickCheck`].
    pub time_resolution_us: i64,
    /// Most bytes reserved for files ahead of their data (a larger file is still reserved when
    /// it is the only one ahead): the space one session can hold before it sends anything.
    pub reserve_ahead: u64,
    /// The transfer this session is part of: a later session of it takes over the files this
    /// one writes, and a session of another transfer is refused them meanwhile.
    pub transfer: TransferId,
}

/// A file announced and not finished yet.
struct Active {
    /// Final path, relative to the root.
    target: Box<str>,
    /// Whether data goes to `target` + [`PART_SUFFIX`] rather than `target`.
    part: bool,
    size: u64,
    mtime_us: i64,
    executable: bool,
    /// Created, sized and checked for space (see [`prepare`]).
    prepared: bool,
    /// The file being written may carry a durable [`Record`] (it existed when announced, or
    /// was synced since), to be removed when it is finished.
    recorded: bool,
    /// A newer session of the transfer writes this file now: this one must not touch it.
    taken_over: bool,
    /// How far from the start the file is written without a gap, as this sink knows.
    written_to: u64,
    /// How far [`HashAhead`] was asked to hash it (see [`HASH_AHEAD_BYTES`]).
    hash_asked: u64,
    /// Its hash so far, carried ahead by [`HashAhead`].
    hashed: Option<Shared>,
}

impl Active {
    /// Whether this file is written to a part file that `owner` still owns (a later session
    /// of the same transfer may have taken it over).
    fn owned_part(&self, sandbox: &Sandbox, owner: u64) -> bool {
        self.part && sandbox.part_owners().owns(&self.target, owner)
    }

    /// The path data is written to.
    fn write_path(&self) -> String {
        if self.part {
            format!("{}{PART_SUFFIX}", self.target)
        } else {
            self.target.to_string()
        }
    }
}

/// What the sink knows of one file number.
enum Slot {
    File(Box<Active>),
    Directory {
        path: Box<str>,
        mtime_us: i64,
    },
    /// Writing is off: data is checked against the size and dropped.
    Discard {
        size: u64,
    },
    /// Kept as found, for the reason given: nothing is written.
    Skipped(Kept),
    /// The target already has the source's size: offered whole, and placed once its digest
    /// matches; otherwise written as `fallback` says (none: refused).
    Verify {
        target: Box<str>,
        fallback: Option<Box<Active>>,
    },
    /// A symbolic link, made when it is finished over what was found at its place.
    Link {
        path: Box<str>,
        target: Box<str>,
        found: Existing,
        mtime_us: i64,
    },
    /// Refused, nothing written: reported as such when it is finished.
    Refused {
        reason: String,
    },
    /// Finished: late duplicates are dropped.
    Done,
}

/// The buffered run: bytes `offset..offset + buf.len()` of `file`.
struct Run {
    file: u32,
    offset: u64,
    /// The file's announced size, so the fast path checks bounds without a lookup.
    size: u64,
}

/// Writes a receiving session's files beneath a [`Sandbox`]; see the module documentation.
pub struct FileSink {
    sandbox: Arc<Sandbox>,
    /// `dest_dir`, checked and without a trailing slash.
    dest: String,
    opts: SinkOptions,
    slots: HashMap<u32, Slot>,
    /// Descriptors of files being written.
    files: Lru<u32, File>,
    run: Option<Run>,
    buf: Vec<u8>,
    /// Directories known to exist (created or checked by this sink).
    made_dirs: HashSet<Box<str>>,
    /// Threads that create and finish files; none when writing is off.
    workers: Option<Workers<Job, Outcome>>,
    /// Announced files with data to come, in order, not yet handed to a worker for creation.
    to_prepare: VecDeque<u32>,
    /// Files a worker is creating.
    preparing: HashSet<u32>,
    /// Files created ahead of their data, with their descriptors (not yet in `files`).
    prepared: HashMap<u32, File>,
    /// Hashes files as they are written; started when first needed.
    ahead: Option<HashAhead>,
    /// Finished files not handed to a worker yet (see [`FINISH_BATCH`]).
    to_finish: Vec<Finishing>,
    /// Finishes and syncs the workers have not reported yet.
    finishing: usize,
    /// Failures of the workers' jobs, not reported yet.
    failures: VecDeque<StorageError>,
    /// What the workers' jobs came to, not reported yet.
    reports: VecDeque<SinkReport>,
    skipped: Vec<u32>,
    /// This sink's id among the writers of part files below the root.
    owner: u64,
    /// How many files newer sessions had taken over from older ones when this sink last
    /// looked (see [`FileSink::check_owned`]).
    takeovers: u64,
}

/// Blocking file-system work done by the workers.
enum Job {
    /// Create the file an announced entry is written to, sized, ahead of its data.
    Create { file: u32, path: String, size: u64 },
    /// Make bytes `0..record.durable` of the file at `path` durable and record it.
    Sync {
        file: u32,
        path: String,
        record: Record,
    },
    /// Make written files final, each directory synced once for all of them.
    Finish(Vec<Finishing>),
    /// Check a target offered whole against the sender's digest.
    Verify {
        file: u32,
        target: Box<str>,
        digest: Option<Digest>,
        fallback: Option<Box<Active>>,
    },
}

/// What a [`Job`] came to.
enum Outcome {
    Created {
        file: u32,
        result: Result<File, StorageError>,
    },
    Synced {
        file: u32,
        result: Result<u64, StorageError>,
    },
    /// Each finished (or verified) file's end.
    Finished(Vec<(u32, Result<Finished, StorageError>)>),
}

/// A written file to be made final; `handle` is its descriptor when the writer held one.
struct Finishing {
    file: u32,
    handle: Option<File>,
    active: Box<Active>,
    digest: Option<Digest>,
}

/// A finished file checked and given its metadata, before its sync.
enum Ready {
    /// To be synced (still open), then placed.
    Synced(File, Box<Active>),
    /// Its bytes do not match the digest.
    Mismatch(Box<Active>),
}

/// How a finished file ended.
enum Finished {
    /// Durable, verified and in place at this path.
    Placed(Box<str>),
    /// Its bytes do not match the digest: written again as this says.
    Mismatch(Box<Active>),
}

/// What the workers know of the transfer.
struct Finisher {
    sandbox: Arc<Sandbox>,
    overwrite: OverwriteMode,
    write_mtime: bool,
}

impl Finisher {
    fn run(&self, job: Job) -> Outcome {
        match job {
            Job::Create { file, path, size } => Outcome::Created {
                file,
                result: open_write(&self.sandbox, file, &path, size, false),
            },
            Job::Sync { file, path, record } => Outcome::Synced {
                file,
                result: self.sync(file, &path, &record),
            },
            Job::Finish(files) => Outcome::Finished(self.complete_all(files)),
            Job::Verify {
                file,
                target,
                digest,
                fallback,
            } => Outcome::Finished(vec![(file, self.verify(file, &target, digest, fallback))]),
        }
    }

    /// Syncs the data of the file at `path`, then records how much of it is durable.
    fn sync(&self, file: u32, path: &str, record: &Record) -> Result<u64, StorageError> {
        let handle = self
            .sandbox
            .open_file(path, Access::Read)
            .map_err(|e| error(file, e))?;
        let fs_error = |what: &str, e: io::Error| error(file, format!("{what} {path:?}: {e}"));
        handle.sync_data().map_err(|e| fs_error("sync", e))?;
        record
            .write(&self.sandbox, path, &handle)
            .map_err(|e| fs_error("record the durable bytes of", e))?;
        Ok(record.durable)
    }

    /// Whether the first `size` bytes of `handle` have `digest` (always, without one), going on
    /// from `partial`, the hash carried over its prefix while it was written.
    fn matches(
        &self,
        file: u32,
        handle: &File,
        size: u64,
        digest: Option<Digest>,
        partial: Option<Partial>,
    ) -> Result<bool, StorageError> {
        let Some(digest) = digest else {
            return Ok(true);
        };
        let found = partial
            .unwrap_or_default()
            .finish(handle, size)
            .map_err(|e| error(file, format!("hashing: {e}")))?;
        Ok(found == digest)
    }

    /// Checks a target offered whole: placed (synced with its directory) if it has the
    /// sender's digest, otherwise to be written as `fallback` says.
    fn verify(
        &self,
        file: u32,
        target: &str,
        digest: Option<Digest>,
        fallback: Option<Box<Active>>,
    ) -> Result<Finished, StorageError> {
        let handle = self
            .sandbox
            .open_file(target, Access::Read)
            .map_err(|e| error(file, e))?;
        let size = handle.metadata().map_err(|e| error(file, e))?.len();
        if !self.matches(file, &handle, size, digest, None)? {
            return fallback.map(Finished::Mismatch).ok_or_else(|| {
                error(
                    file,
                    format!("{target:?} exists, differs and the overwrite mode is never"),
                )
            });
        }
        handle
            .sync_all()
            .map_err(|e| error(file, format!("sync {target:?}: {e}")))?;
        self.sync_parent(file, target)?;
        Ok(Finished::Placed(target.into()))
    }

    fn sync_parent(&self, file: u32, path: &str) -> Result<(), StorageError> {
        self.sandbox
            .sync_dir(parent_of(path))
            .map_err(|e| error(file, e))
    }

    /// Makes written files final, then syncs each of their directories once: a file is placed
    /// only once its directory is synced.
    fn complete_all(&self, files: Vec<Finishing>) -> Vec<(u32, Result<Finished, StorageError>)> {
        let mut results = Vec::with_capacity(files.len());
        let mut ready = Vec::with_capacity(files.len());
        for finishing in files {
            let file = finishing.file;
            match self.ready(finishing) {
                Ok(Ready::Synced(handle, active)) => ready.push((file, handle, active)),
                Ok(Ready::Mismatch(active)) => results.push((file, Ok(Finished::Mismatch(active)))),
                Err(e) => results.push((file, Err(e))),
            }
        }
        // Group commit: one file is synced alone, several with one sync of their file system.
        let synced = match ready.as_slice() {
            [] => Ok(()),
            [(_, handle, _)] => handle.sync_all(),
            [(_, handle, _), ..] => sync_file_system(handle),
        };
        for (file, handle, active) in ready {
            drop(handle);
            let placed = match &synced {
                Ok(()) => self.place(file, *active),
                Err(e) => Err(error(file, format!("sync {:?}: {e}", active.target))),
            };
            results.push((file, placed));
        }
        let mut dirs: HashMap<String, Result<(), SandboxError>> = HashMap::new();
        for (file, result) in &mut results {
            let Ok(Finished::Placed(target)) = result else {
                continue;
            };
            let parent = parent_of(target);
            let dir = dirs
                .entry(parent.to_owned())
                .or_insert_with(|| self.sandbox.sync_dir(parent));
            if let Err(e) = dir {
                *result = Err(error(*file, e.to_string()));
            }
        }
        results
    }

    /// Readies a written file to be placed: its digest checked, its mode and times set, its
    /// record removed. The caller syncs it.
    fn ready(&self, finishing: Finishing) -> Result<Ready, StorageError> {
        let Finishing {
            file,
            handle,
            mut active,
            digest,
        } = finishing;
        let handle = match handle {
            Some(handle) => handle,
            None => open_write(
                &self.sandbox,
                file,
                &active.write_path(),
                active.size,
                active.prepared,
            )?,
        };
        let partial = (active.hashed.take())
            .and_then(|shared| shared.lock().unwrap_or_else(PoisonError::into_inner).take());
        let matches = self.matches(file, &handle, active.size, digest, partial)?;
        if !matches {
            return Ok(Ready::Mismatch(active));
        }
        let target = &active.target;
        let fs_error = |what: &str, e: io::Error| error(file, format!("{what} {target:?}: {e}"));
        let mode = if active.executable { 0o755 } else { 0o644 } & !umask();
        handle
            .set_permissions(Permissions::from_mode(mode))
            .map_err(|e| fs_error("chmod", e))?;
        if self.write_mtime {
            set_file_mtime(&handle, active.mtime_us).map_err(|e| fs_error("set times of", e))?;
        }
        if active.recorded {
            Record::clear(&self.sandbox, &active.write_path(), &handle)
                .map_err(|e| fs_error("clear the record of", e))?;
        }
        Ok(Ready::Synced(handle, active))
    }

    /// Renames a synced file into place (its directory is synced by the caller).
    fn place(&self, file: u32, active: Active) -> Result<Finished, StorageError> {
        let target = &active.target;
        if active.part {
            let name = target.rsplit_once('/').map_or(&**target, |(_, name)| name);
            if self.overwrite == OverwriteMode::Backup {
                match self
                    .sandbox
                    .rename(target, &format!("{name}{BACKUP_SUFFIX}"), true)
                {
                    Err(e) if !e.is_not_found() => return Err(error(file, e)),
                    _ => {}
                }
            }
            let replace = !self.overwrite.keeps_existing();
            self.sandbox
                .rename(&active.write_path(), name, replace)
                .map_err(|e| error(file, e))?;
        }
        Ok(Finished::Placed(active.target))
    }
}

fn error(file: u32, what: impl fmt::Display) -> StorageError {
    StorageError {
        file,
        message: what.to_string(),
    }
}

/// Gives `file` its final size and makes sure it fits: a file larger than the free space is
/// refused before any of it is written, and on a disk its blocks are reserved (`fallocate`). A
/// memory file system (tmpfs) is only checked: `fallocate` there allocates every page of the
/// file in one long call that stalls the receiver, while writes allocate them as data comes.
/// File systems without `fallocate` get a sparse file.
fn prepare(file: &File, size: u64) -> io::Result<()> {
    let meta = file.metadata()?;
    if size > 0 {
        let stats = fs_stats(file)?;
        let held = meta.blocks() * 512;
        let free = stats.f_bavail.saturating_mul(stats.f_bsize as u64);
        // A file system that states no size (ramfs, tmpfs without a limit) has no free space
        // to check against.
        if stats.f_blocks > 0 && size.saturating_sub(held) > free {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                format!("{size} bytes do not fit in the {free} bytes free"),
            ));
        }
        if stats.f_type != libc::TMPFS_MAGIC {
            let len = libc::off_t::try_from(size)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "size out of range"))?;
            // SAFETY: `file` is an open descriptor; fallocate only reads its arguments.
            if unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len) } == 0 {
                // It also made the file at least `size` long.
                if meta.len() <= size {
                    return Ok(());
                }
            } else {
                let e = io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EOPNOTSUPP) {
                    return Err(e);
                }
            }
        }
    }
    if meta.len() != size {
        file.set_len(size)?;
    }
    Ok(())
}

/// Makes everything written to the file system holding `file` durable (`syncfs`): one flush
/// for a batch of finished files instead of one each.
fn sync_file_system(file: &File) -> io::Result<()> {
    // SAFETY: `file` is an open descriptor.
    if unsafe { libc::syncfs(file.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The statistics of the file system holding `file`.
fn fs_stats(file: &File) -> io::Result<libc::statfs> {
    let mut stats = mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `file` is an open descriptor and `stats` is writable for one `statfs`.
    if unsafe { libc::fstatfs(file.as_raw_fd(), stats.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fstatfs succeeded, so it filled `stats`.
    Ok(unsafe { stats.assume_init() })
}

/// Opens `path` (file `file`) for writing, creating it if needed; unless it was `prepared`
/// before, it is given its final `size`.
fn open_write(
    sandbox: &Sandbox,
    file: u32,
    path: &str,
    size: u64,
    prepared: bool,
) -> Result<File, StorageError> {
    let handle = sandbox
        .open_file(path, Access::ReadWriteCreate)
        .map_err(|e| error(file, e))?;
    if !prepared {
        prepare(&handle, size).map_err(|e| error(file, format!("{path:?}: {e}")))?;
    }
    Ok(handle)
}

impl FileSink {
    /// A writer of one transfer into `opts.dest_dir` beneath `sandbox`'s root; the destination
    /// directory is created (and its worker thread started) when writing is on. A malformed
    /// `dest_dir` is refused.
    pub fn new(sandbox: Arc<Sandbox>, opts: SinkOptions) -> Result<FileSink, StorageError> {
        let dest = check_path(&opts.dest_dir)
            .map_err(|e| error(0, e))?
            .to_owned();
        let mut made_dirs = HashSet::new();
        let (buf, workers) = if opts.write {
            sandbox.create_dirs(&dest).map_err(|e| error(0, e))?;
            made_dirs.insert(dest.clone().into_boxed_str());
            let finisher = Finisher {
                sandbox: sandbox.clone(),
                overwrite: opts.overwrite,
                write_mtime: opts.write_mtime,
            };
            let workers = Workers::new(FILE_WORKERS, "jetstream-files", move |job| {
                finisher.run(job)
            })
            .map_err(|e| error(0, format!("cannot start the file threads: {e}")))?;
            (Vec::with_capacity(WRITE_BUFFER_BYTES), Some(workers))
        } else {
            (Vec::new(), None)
        };
        Ok(FileSink {
            owner: sandbox.part_owners().new_owner(),
            takeovers: sandbox.part_owners().takeovers(),
            sandbox,
            dest,
            opts,
            slots: HashMap::new(),
            files: Lru::new(OPEN_FILES),
            run: None,
            buf,
            made_dirs,
            workers,
            to_prepare: VecDeque::new(),
            preparing: HashSet::new(),
            prepared: HashMap::new(),
            ahead: None,
            to_finish: Vec::new(),
            finishing: 0,
            failures: VecDeque::new(),
            reports: VecDeque::new(),
            skipped: Vec::new(),
        })
    }

    /// File numbers skipped because their destination was as new or newer
    /// ([`SinkOptions::only_newer`]), in the order they were announced.
    pub fn skipped(&self) -> &[u32] {
        &self.skipped
    }

    /// How many file descriptors the sink holds open for writing (at most [`OPEN_FILES`]);
    /// files created ahead of their data hold up to [`PREPARED_AHEAD`] more.
    pub fn open_files(&self) -> usize {
        self.files.len()
    }

    /// Writes out the buffered run.
    pub fn flush(&mut self) -> Result<(), StorageError> {
        let Some(run) = self.run.take() else {
            return Ok(());
        };
        let buf = mem::take(&mut self.buf);
        let result = self.write_out(run.file, run.offset, &buf);
        self.buf = buf;
        self.buf.clear();
        result
    }

    /// Waits until every finished file is in place and every creation begun is done; returns
    /// the first failure of that work not reported yet.
    pub fn settle(&mut self) -> Result<(), StorageError> {
        self.submit_finishes();
        while (self.finishing > 0 || !self.preparing.is_empty()) && self.wait_one() {}
        self.poll()
    }

    /// Takes in what the workers have done, without waiting, and starts more creations;
    /// returns a failure not reported yet.
    fn poll(&mut self) -> Result<(), StorageError> {
        while let Some(outcome) = self.workers.as_mut().and_then(Workers::try_result) {
            self.absorb(outcome);
        }
        self.prepare_ahead();
        self.failures.pop_front().map_or(Ok(()), Err)
    }

    /// Waits for the next outcome of the workers; false when none is pending.
    fn wait_one(&mut self) -> bool {
        match self.workers.as_mut().and_then(Workers::wait_result) {
            Some(outcome) => {
                self.absorb(outcome);
                true
            }
            None => false,
        }
    }

    fn absorb(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Created { file, result } => {
                self.preparing.remove(&file);
                match result {
                    Ok(handle) => {
                        if let Some(Slot::File(active)) = self.slots.get_mut(&file) {
                            active.prepared = true;
                            self.prepared.insert(file, handle);
                        }
                    }
                    Err(e) => self.failures.push_back(e),
                }
            }
            Outcome::Synced { file, result } => {
                self.finishing -= 1;
                match result {
                    Ok(bytes) => self.reports.push_back(SinkReport::Durable { file, bytes }),
                    Err(e) => self.failures.push_back(e),
                }
            }
            Outcome::Finished(results) => {
                for (file, result) in results {
                    self.finishing -= 1;
                    match result {
                        Ok(Finished::Placed(target)) => {
                            // In place: another transfer may write it from now on.
                            self.sandbox.part_owners().release(&target, self.owner);
                            self.reports.push_back(SinkReport::Placed(file));
                        }
                        Ok(Finished::Mismatch(mut active)) => {
                            // Written again from the start, into the same file.
                            active.written_to = 0;
                            active.hash_asked = 0;
                            active.hashed = None;
                            self.slots.insert(file, Slot::File(active));
                            self.reports.push_back(SinkReport::Mismatch(file));
                        }
                        Err(e) => self.failures.push_back(e),
                    }
                }
            }
        }
    }

    /// Hands announced files to the workers for creation until [`PREPARED_AHEAD`] are created
    /// or being created.
    fn prepare_ahead(&mut self) {
        let Some(workers) = self.workers.as_mut() else {
            return;
        };
        let size_of = |file: &u32| match self.slots.get(file) {
            Some(Slot::File(active)) => active.size,
            _ => 0,
        };
        let mut ahead: u64 = (self.preparing.iter())
            .chain(self.prepared.keys())
            .map(size_of)
            .sum();
        while self.preparing.len() + self.prepared.len() < PREPARED_AHEAD {
            let Some(&file) = self.to_prepare.front() else {
                break;
            };
            // Written (and so opened) or finished since it was announced: nothing to prepare.
            let Some(Slot::File(active)) = self
                .slots
                .get(&file)
                .filter(|slot| !matches!(slot, Slot::File(active) if active.prepared))
            else {
                self.to_prepare.pop_front();
                continue;
            };
            if ahead > 0 && ahead.saturating_add(active.size) > self.opts.reserve_ahead {
                break;
            }
            ahead = ahead.saturating_add(active.size);
            self.to_prepare.pop_front();
            workers.submit(Job::Create {
                file,
                path: active.write_path(),
                size: active.size,
            });
            self.preparing.insert(file);
        }
    }

    /// The descriptor a worker created ahead for `file`, waiting for it while its creation
    /// runs; `None` when there is none.
    fn take_prepared(&mut self, file: u32) -> Result<Option<File>, StorageError> {
        while self.preparing.contains(&file) && self.wait_one() {}
        match self.prepared.remove(&file) {
            Some(handle) => Ok(Some(handle)),
            None => self.failures.pop_front().map_or(Ok(None), Err),
        }
    }

    /// The slot in `files` of the descriptor of active file `file`, opening it if needed.
    fn handle(&mut self, file: u32) -> Result<usize, StorageError> {
        if let Some(slot) = self.files.find(file) {
            return Ok(slot);
        }
        let handle = match self.take_prepared(file)? {
            Some(handle) => handle,
            None => {
                let Some(Slot::File(active)) = self.slots.get_mut(&file) else {
                    return Err(error(file, "no file is being written under this number"));
                };
                let handle = open_write(
                    &self.sandbox,
                    file,
                    &active.write_path(),
                    active.size,
                    active.prepared,
                )?;
                active.prepared = true;
                handle
            }
        };
        Ok(self.files.insert(file, handle))
    }

    /// Fails when a newer session of the transfer took file `file` over: its sender came back
    /// in that session, and this one must leave the file to it. Costs one atomic load unless
    /// some session took a file over since the last look.
    fn check_owned(&mut self, file: u32) -> Result<(), StorageError> {
        let owners = self.sandbox.part_owners();
        let takeovers = owners.takeovers();
        if takeovers != self.takeovers {
            self.takeovers = takeovers;
            for slot in self.slots.values_mut() {
                if let Slot::File(active) = slot {
                    active.taken_over |= !owners.owns(&active.target, self.owner);
                }
            }
        }
        match self.slots.get(&file) {
            Some(Slot::File(active)) if active.taken_over => Err(error(
                file,
                format!(
                    "{:?}: a newer session of this transfer writes it now",
                    active.target
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Writes `data` at `offset` of active file `file`.
    fn write_out(&mut self, file: u32, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        self.check_owned(file)?;
        let slot = self.handle(file)?;
        let Some(Slot::File(active)) = self.slots.get_mut(&file) else {
            return Err(error(file, "no file is being written under this number"));
        };
        self.files
            .get(slot)
            .write_all_at(data, offset)
            .map_err(|e| {
                let path = active.write_path();
                error(file, format!("writing {path:?}: {e}"))
            })?;
        let end = offset + data.len() as u64;
        if offset <= active.written_to && active.written_to < end {
            active.written_to = end;
            if end == active.size || end - active.hash_asked >= HASH_AHEAD_BYTES {
                self.hash_ahead(file, end)?;
            }
        }
        Ok(())
    }

    /// Asks [`HashAhead`] to carry the hash of `file` over its first `to` bytes, which are
    /// written and final, when its digest is checked and it is hashed from disk.
    fn hash_ahead(&mut self, file: u32, to: u64) -> Result<(), StorageError> {
        if !self.opts.verify {
            return Ok(());
        }
        let ahead =
            match &mut self.ahead {
                Some(ahead) => ahead,
                none => {
                    let sandbox = self.sandbox.clone();
                    let open = move |path: &str| {
                        (sandbox.open_file(path, Access::Read)).map_err(io::Error::other)
                    };
                    none.insert(HashAhead::new(Box::new(open)).map_err(|e| {
                        error(file, format!("cannot start the hashing thread: {e}"))
                    })?)
                }
            };
        match self.slots.get_mut(&file) {
            Some(Slot::File(active)) if to > active.hash_asked => {
                active.hash_asked = to;
                let path = active.write_path();
                let hashed = active
                    .hashed
                    .get_or_insert_with(|| Arc::new(Mutex::new(Some(Partial::default()))));
                ahead.ask(hashed, path, to);
            }
            _ => {}
        }
        Ok(())
    }

    /// Hands a written file to a worker, with its descriptor, to be made final.
    fn complete(
        &mut self,
        file: u32,
        active: Box<Active>,
        digest: Option<&Digest>,
    ) -> Result<(), StorageError> {
        let handle = match self.files.remove(file) {
            Some(handle) => Some(handle),
            None => self.take_prepared(file)?,
        };
        self.to_finish.push(Finishing {
            file,
            handle,
            active,
            digest: digest.copied(),
        });
        self.finishing += 1;
        if self.to_finish.len() >= FINISH_BATCH {
            self.submit_finishes();
        }
        Ok(())
    }

    /// Hands the finished files gathered so far to a worker, as one batch.
    fn submit_finishes(&mut self) {
        if self.to_finish.is_empty() {
            return;
        }
        let workers = self
            .workers
            .as_mut()
            .expect("a sink that writes has workers");
        workers.submit(Job::Finish(mem::take(&mut self.to_finish)));
    }

    /// Creates `dir` (and its parents) unless this sink already has.
    fn make_dirs(&mut self, file: u32, dir: &str) -> Result<(), StorageError> {
        if !self.made_dirs.contains(dir) {
            self.sandbox.create_dirs(dir).map_err(|e| error(file, e))?;
            self.made_dirs.insert(dir.into());
        }
        Ok(())
    }

    /// The checked destination path of an announced entry, relative to the root.
    fn target(&self, file: u32, meta: &FileMeta) -> Result<String, StorageError> {
        let rel = check_path(&meta.path).map_err(|e| error(file, e))?;
        if rel.is_empty() {
            return Err(error(file, "empty path"));
        }
        if rel.ends_with(RECORD_SUFFIX) {
            return Err(error(
                file,
                format!("{rel:?}: names ending in {RECORD_SUFFIX} are the receiver's own"),
            ));
        }
        let target = if self.dest.is_empty() {
            rel.to_owned()
        } else {
            format!("{}/{rel}", self.dest)
        };
        check_path(&target).map_err(|e| error(file, e))?;
        Ok(target)
    }

    /// Decides how an announced file is written, or whether it is skipped.
    fn open_file(
        &mut self,
        file: u32,
        meta: &FileMeta,
        target: String,
    ) -> Result<Slot, StorageError> {
        let parent = target.rsplit_once('/').map_or("", |(parent, _)| parent);
        self.make_dirs(file, parent)?;
        let existing = self.sandbox.stat(&target).map_err(|e| error(file, e))?;
        if let Some(found) = existing {
            if found.kind == StatKind::Directory {
                return Err(error(file, format!("{target:?} exists and is a directory")));
            }
            if let Some(kept) = self.keeps(meta, found) {
                self.skipped.push(file);
                return Ok(Slot::Skipped(kept));
            }
        }
        if self.is_offered_whole(meta, existing) {
            let fallback = self.write_slot(file, meta, &target, existing).ok();
            return Ok(Slot::Verify {
                target: target.into(),
                fallback,
            });
        }
        Ok(Slot::File(self.write_slot(file, meta, &target, existing)?))
    }

    /// Decides whether an announced link is made (see [`links`]): refused, with nothing
    /// written, when its target leads out of the destination directory.
    fn open_link(
        &mut self,
        file: u32,
        meta: &FileMeta,
        path: String,
        to: &str,
    ) -> Result<Slot, StorageError> {
        if let Err(why) = links::check_target(&meta.path, to) {
            let reason = format!("link {:?} -> {to:?} not made: {why}", meta.path);
            tracing::warn!("{reason}");
            return Ok(Slot::Refused { reason });
        }
        self.make_dirs(file, parent_of(&path))?;
        let found = links::existing(&self.sandbox, &path, to, self.opts.overwrite)
            .map_err(|e| error(file, e))?;
        Ok(Slot::Link {
            path: path.into(),
            target: to.into(),
            found,
            mtime_us: meta.mtime_us,
        })
    }

    /// Whether the `found` target is kept as it is, and why: as new as the source when only
    /// newer files are written, or holding the file by the skip rule. The target is complete:
    /// data is only ever written to a part file or (in place) before the time is set.
    fn keeps(&self, meta: &FileMeta, found: Stat) -> Option<Kept> {
        if found.kind != StatKind::File {
            return None;
        }
        if let Some(resolution) = self.opts.only_newer {
            if found.mtime_us.saturating_add(resolution) >= meta.mtime_us {
                return Some(Kept::Newer);
            }
        }
        let same_time =
            found.mtime_us.abs_diff(meta.mtime_us) <= self.opts.time_resolution_us.unsigned_abs();
        match self.opts.skip {
            SkipRule::QuickCheck if found.size == meta.size && same_time => Some(Kept::Same),
            SkipRule::Existing => Some(Kept::Same),
            _ => None,
        }
    }

    /// Whether the existing target is offered whole for a digest check instead of being
    /// written: digests are compared and it has the source's size.
    fn is_offered_whole(&self, meta: &FileMeta, existing: Option<Stat>) -> bool {
        self.opts.skip == SkipRule::Checksum
            && self.opts.verify
            && existing.is_some_and(|st| st.kind == StatKind::File && st.size == meta.size)
    }

    /// How an announced file is written over the `existing` target, by the overwrite mode.
    fn write_slot(
        &self,
        file: u32,
        meta: &FileMeta,
        target: &str,
        existing: Option<Stat>,
    ) -> Result<Box<Active>, StorageError> {
        let mode = self.opts.overwrite;
        if existing.is_some() && mode.keeps_existing() {
            return Err(error(
                file,
                format!("{target:?} exists and the overwrite mode is never"),
            ));
        }
        if mode == OverwriteMode::InPlaceSameSize {
            if let Some(found) = existing.filter(|st| st.size != meta.size) {
                return Err(error(
                    file,
                    format!(
                        "{target:?} exists with {} bytes, not {}, and the overwrite mode is \
                         {mode}",
                        found.size, meta.size
                    ),
                ));
            }
        }
        let part = match mode {
            OverwriteMode::InPlaceNever | OverwriteMode::InPlaceAlways => false,
            OverwriteMode::InPlaceSameSize => existing.is_none(),
            OverwriteMode::Never | OverwriteMode::Always | OverwriteMode::Backup => true,
        };
        // Writing in place through a target with other hard links would change every other
        // name of it too: such a target is replaced instead (part file renamed over it).
        let part = part || existing.is_some_and(|st| st.links > 1);
        if !part && existing.is_some_and(|st| st.kind != StatKind::File) {
            return Err(error(
                file,
                format!("{target:?} exists and is not a regular file"),
            ));
        }
        Ok(Box::new(Active {
            target: target.into(),
            part,
            size: meta.size,
            mtime_us: meta.mtime_us,
            executable: meta.executable,
            prepared: false,
            recorded: false,
            taken_over: false,
            written_to: 0,
            hash_asked: 0,
            hashed: None,
        }))
    }

    /// How many bytes from the start of `active`'s file an earlier session left durable, by
    /// the file's record; `None` when there is no such file yet.
    fn held(&self, active: &Active) -> Option<u64> {
        let path = active.write_path();
        let handle = self.sandbox.open_file(&path, Access::Read).ok()?;
        Some(Record::held(
            &self.sandbox,
            &path,
            &handle,
            active.size,
            active.mtime_us,
        ))
    }
}

impl DataSink for FileSink {
    fn open(&mut self, file: u32, meta: &FileMeta) -> Result<u64, StorageError> {
        self.poll()?;
        if self.slots.contains_key(&file) {
            return Err(error(file, "announced twice"));
        }
        let target = self.target(file, meta)?;
        let mut slot = match (self.opts.write, &meta.kind) {
            // Nothing is written, but what would be kept is decided as ever (a dry run).
            (false, EntryKind::File) => match self.sandbox.stat(&target) {
                Ok(Some(found)) => self
                    .keeps(meta, found)
                    .map_or(Slot::Discard { size: meta.size }, Slot::Skipped),
                _ => Slot::Discard { size: meta.size },
            },
            (false, EntryKind::Directory | EntryKind::Symlink { .. }) => Slot::Discard { size: 0 },
            (true, EntryKind::Directory) => {
                self.make_dirs(file, &target)?;
                Slot::Directory {
                    path: target.into(),
                    mtime_us: meta.mtime_us,
                }
            }
            (true, EntryKind::File) => self.open_file(file, meta, target)?,
            (true, EntryKind::Symlink { target: to }) => self.open_link(file, meta, target, to)?,
        };
        // The protocol fails a session as a whole, and a sender cannot be told to wait for
        // one file: a file another transfer is receiving fails this transfer at once, with an
        // error naming it, rather than holding every other file of the transfer back (or
        // interleaving two sources in one file). The sender sends it again later.
        let claim = match &slot {
            Slot::File(active) => Some(&active.target),
            Slot::Verify { target, .. } => Some(target),
            _ => None,
        };
        if let Some(target) = claim {
            self.sandbox
                .part_owners()
                .claim(target, self.owner, self.opts.transfer)
                .map_err(|busy| error(file, busy))?;
        }
        let found = match &slot {
            Slot::File(active) if active.size > 0 => self.held(active),
            Slot::Verify { .. } => Some(meta.size),
            _ => None,
        };
        let held = found.unwrap_or(0);
        // An empty file is finished at once: its worker creates it then.
        let ahead = matches!(&slot, Slot::File(active) if active.size > 0);
        if let Slot::File(active) = &mut slot {
            // A kept file is already created and sized; any file found may carry a record.
            active.prepared = held > 0;
            active.recorded = found.is_some();
            active.written_to = held;
        }
        self.slots.insert(file, slot);
        if ahead && held == 0 {
            self.to_prepare.push_back(file);
            self.prepare_ahead();
        }
        Ok(held)
    }

    fn kept(&self, file: u32) -> Option<Kept> {
        match self.slots.get(&file) {
            Some(Slot::Verify { .. }) => Some(Kept::Check),
            Some(Slot::Skipped(kept)) => Some(*kept),
            _ => None,
        }
    }

    fn write_at(&mut self, file: u32, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or_else(|| error(file, "offset out of range"))?;
        let beyond = |size: u64| {
            error(
                file,
                format!("data up to byte {end} beyond the size {size}"),
            )
        };
        if let Some(run) = self
            .run
            .as_ref()
            .filter(|_| data.len() < DIRECT_WRITE_BYTES)
        {
            if run.file == file {
                if end > run.size {
                    return Err(beyond(run.size));
                }
                let run_end = run.offset + self.buf.len() as u64;
                if offset >= run.offset
                    && offset <= run_end
                    && end - run.offset <= WRITE_BUFFER_BYTES as u64
                {
                    // Overwrites what overlaps the run (a duplicate), appends the rest.
                    let start = (offset - run.offset) as usize;
                    let overlap = (self.buf.len() - start).min(data.len());
                    self.buf[start..start + overlap].copy_from_slice(&data[..overlap]);
                    self.buf.extend_from_slice(&data[overlap..]);
                    return Ok(());
                }
            }
        }
        let size = match self.slots.get(&file) {
            None => return Err(error(file, "data for a file that was never announced")),
            Some(Slot::Done | Slot::Skipped(_) | Slot::Verify { .. }) => return Ok(()),
            Some(Slot::Directory { .. }) => return Err(error(file, "data for a directory")),
            Some(Slot::Link { .. } | Slot::Refused { .. }) => {
                return Err(error(file, "data for a link"))
            }
            Some(Slot::Discard { size }) => {
                return if end > *size {
                    Err(beyond(*size))
                } else {
                    Ok(())
                };
            }
            Some(Slot::File(active)) => active.size,
        };
        if end > size {
            return Err(beyond(size));
        }
        self.flush()?;
        self.poll()?;
        if data.len() >= DIRECT_WRITE_BYTES {
            return self.write_out(file, offset, data);
        }
        self.run = Some(Run { file, offset, size });
        self.buf.extend_from_slice(data);
        Ok(())
    }

    fn finish(&mut self, file: u32, digest: Option<&Digest>) -> Result<(), StorageError> {
        if self.run.as_ref().is_some_and(|run| run.file == file) {
            self.flush()?;
        }
        self.poll()?;
        self.check_owned(file)?;
        let slot = self
            .slots
            .get_mut(&file)
            .ok_or_else(|| error(file, "finish of a file that was never announced"))?;
        match mem::replace(slot, Slot::Done) {
            Slot::Done | Slot::Skipped(_) | Slot::Discard { .. } => {}
            Slot::Directory { path, mtime_us } => {
                // Files finished before the directory are renamed into it first.
                self.submit_finishes();
                while self.finishing > 0 && self.wait_one() {}
                if self.opts.write_mtime {
                    self.sandbox
                        .set_mtime(&path, mtime_us)
                        .map_err(|e| error(file, e))?;
                }
                self.sandbox
                    .sync_dir(parent_of(&path))
                    .map_err(|e| error(file, e))?;
            }
            Slot::Link {
                path,
                target,
                found,
                mtime_us,
            } => {
                links::place(&self.sandbox, &path, &target, found, self.opts.overwrite)
                    .map_err(|e| error(file, e))?;
                if self.opts.write_mtime {
                    self.sandbox
                        .set_mtime(&path, mtime_us)
                        .map_err(|e| error(file, e))?;
                }
                self.sandbox
                    .sync_dir(parent_of(&path))
                    .map_err(|e| error(file, e))?;
            }
            Slot::Refused { reason } => {
                self.reports.push_back(SinkReport::Refused { file, reason });
                return Ok(());
            }
            Slot::File(active) => return self.complete(file, active, digest),
            Slot::Verify { target, fallback } => {
                let workers = self
                    .workers
                    .as_mut()
                    .expect("a sink that writes has workers");
                workers.submit(Job::Verify {
                    file,
                    target,
                    digest: digest.copied(),
                    fallback,
                });
                self.finishing += 1;
                return Ok(());
            }
        }
        self.reports.push_back(SinkReport::Placed(file));
        Ok(())
    }

    fn sync(&mut self, files: &[(u32, u64)]) -> Result<(), StorageError> {
        self.flush()?;
        self.poll()?;
        for &(file, durable) in files {
            self.check_owned(file)?;
            let active = match self.slots.get_mut(&file) {
                Some(Slot::File(active)) => active,
                // Nothing is kept of a file not written: what arrived is all there is.
                Some(Slot::Discard { .. }) => {
                    self.reports.push_back(SinkReport::Durable {
                        file,
                        bytes: durable,
                    });
                    continue;
                }
                _ => continue,
            };
            let workers = self
                .workers
                .as_mut()
                .expect("a sink that writes has workers");
            active.recorded = true;
            active.written_to = active.written_to.max(durable);
            workers.submit(Job::Sync {
                file,
                path: active.write_path(),
                record: Record::now(active.size, active.mtime_us, durable),
            });
            self.finishing += 1;
            self.hash_ahead(file, durable)?;
        }
        Ok(())
    }

    fn poll_report(&mut self) -> Result<Option<SinkReport>, StorageError> {
        self.submit_finishes();
        self.poll()?;
        Ok(self.reports.pop_front())
    }

    fn release(&mut self) -> Result<(), StorageError> {
        // No file is created from now on: one made while the files are given back would hold
        // its space until its worker let go of it.
        self.to_prepare.clear();
        // The syncs asked for last first: then each file's record says what is durable. What
        // failed before (a write, a creation, a sync) only leaves less of it durable, and the
        // session that failed has reported its own error.
        if let Err(e) = self.flush().and_then(|()| self.settle()) {
            tracing::debug!(error = %e, "an earlier failure of the session's files");
        }
        self.files = Lru::new(OPEN_FILES);
        self.prepared.clear();
        let mut first_error = None;
        for (&file, slot) in &self.slots {
            if let Slot::File(active) = slot {
                if active.owned_part(&self.sandbox, self.owner) {
                    let source = Some((active.size, active.mtime_us));
                    if let Err(e) = parts::give_back(&self.sandbox, &active.write_path(), source) {
                        first_error.get_or_insert(error(file, e));
                    }
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn abandon(&mut self) -> Result<(), StorageError> {
        self.run = None;
        self.to_prepare.clear();
        // Files being created or finished first: then every part file is known.
        let settled = self.settle();
        self.files = Lru::new(OPEN_FILES);
        self.prepared.clear();
        let mut first_error = settled.err();
        for slot in self.slots.values_mut() {
            if let Slot::File(active) = slot {
                if active.owned_part(&self.sandbox, self.owner) {
                    if let Err(e) = parts::remove(&self.sandbox, &active.write_path()) {
                        first_error.get_or_insert(error(0, e));
                    }
                }
                *slot = Slot::Done;
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for FileSink {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::warn!(error = %e, "buffered file data lost when the writer closed");
        }
        // Dropping the workers runs what they were given to the end.
        self.submit_finishes();
        self.sandbox.part_owners().release_all(self.owner);
    }
}

/// The directory holding `path` (`""` for the root).
fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(parent, _)| parent)
}
