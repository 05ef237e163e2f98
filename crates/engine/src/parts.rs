//! Part files under a receiver's root: which transfer and session write each, giving back what
//! a session that did not complete holds, and removing what waits too long for its sender.
//!
//! A file being written belongs to one transfer (sender key and the sender's transfer id). A
//! sender that reconnects starts a new session of the same transfer while the receiver may
//! still hold the old one, which times out later: the newest session of the transfer takes the
//! files over, and a session that ends gives back or removes only the part files it still
//! owns. Another transfer is refused the file while a session writes it ([`Busy`]).
//!
//! A part file no session writes keeps its durable prefix for the sender's next session, for
//! at most the receiver's limit on its age, counted from the last durable write ([`sweep`] and
//! [`PartOwners::expire`]). A receiver killed before its sessions could give anything back
//! does it when it starts again ([`sweep`]).

use crate::record::{self, Record};
use crate::sandbox::{Access, Sandbox, SandboxError};
use crate::sink::PART_SUFFIX;
use jetstream_wire::crypto::handshake::PublicKey;
use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// A transfer as the receiver tells transfers apart: its sender's key and the sender's id of
/// it. Every session of one transfer (its reconnections) carries the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TransferId {
    /// The sender's identity key.
    pub sender: PublicKey,
    /// The sender's id of the transfer.
    pub id: u64,
}

/// Another transfer's session writes the file at `path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Busy {
    /// The file's path below the root (its final name, not its part file's).
    pub path: String,
}

impl fmt::Display for Busy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?}: another transfer is receiving it; send it again once that one ends",
            self.path
        )
    }
}

/// Who writes a file.
#[derive(Clone, Copy, Debug)]
struct Owner {
    session: u64,
    transfer: TransferId,
}

#[derive(Debug, Default)]
struct State {
    /// The owner of each file being written, by its final path below the root.
    owners: HashMap<Box<str>, Owner>,
    /// Part files no session writes that hold durable data, with their record's time (Unix
    /// µs): those the limit on their age removes while the receiver runs.
    left: HashMap<Box<str>, i64>,
}

/// The owner of each file being written, by its final path below the root, and the part files
/// left.
#[derive(Debug, Default)]
pub struct PartOwners {
    state: Mutex<State>,
    next: AtomicU64,
    /// How many times a session took a file over from another session of its transfer.
    takeovers: AtomicU64,
}

impl PartOwners {
    /// A new session's id.
    pub fn new_owner(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// Session `owner` of `transfer` writes the file `target` (at that path below the root, or
    /// at its part file) from now on; a session of another transfer writing it keeps it, and
    /// this one is refused.
    pub fn claim(&self, target: &str, owner: u64, transfer: TransferId) -> Result<(), Busy> {
        let mut state = self.lock();
        if let Some(current) = state.owners.get(target) {
            if current.transfer != transfer {
                return Err(Busy {
                    path: target.to_owned(),
                });
            }
            if current.session != owner {
                self.takeovers.fetch_add(1, Ordering::Release);
            }
        }
        state.left.remove(&*format!("{target}{PART_SUFFIX}"));
        let owner = Owner {
            session: owner,
            transfer,
        };
        state.owners.insert(target.into(), owner);
        Ok(())
    }

    /// How many times a session took a file over from another session of its transfer: when
    /// it has not changed, every session still writes all it claimed.
    pub fn takeovers(&self) -> u64 {
        self.takeovers.load(Ordering::Acquire)
    }

    /// Whether session `owner` still writes the file `target`.
    pub fn owns(&self, target: &str, owner: u64) -> bool {
        self.lock()
            .owners
            .get(target)
            .is_some_and(|o| o.session == owner)
    }

    /// Whether any session writes the file `target`.
    pub fn is_claimed(&self, target: &str) -> bool {
        self.lock().owners.contains_key(target)
    }

    /// Whether any session writes the file whose part file is at `path`.
    fn is_part_claimed(&self, path: &str) -> bool {
        path.strip_suffix(PART_SUFFIX)
            .is_some_and(|target| self.is_claimed(target))
    }

    /// Session `owner` is done with the file `target` (it is in place), if it still owns it.
    pub fn release(&self, target: &str, owner: u64) {
        let mut state = self.lock();
        if state.owners.get(target).is_some_and(|o| o.session == owner) {
            state.owners.remove(target);
        }
    }

    /// Session `owner` is done with every file it owns.
    pub fn release_all(&self, owner: u64) {
        self.lock().owners.retain(|_, o| o.session != owner);
    }

    /// The part file at `path`, given back by its session (or found without one), holds
    /// durable data recorded at `written_us`: it is removed once older than the limit, unless
    /// a session claims it first.
    fn left(&self, path: &str, written_us: i64) {
        self.lock().left.insert(path.into(), written_us);
    }

    /// Removes the part files left (no session writes them) whose last durable write is older
    /// than `max_age`, as of `now_us`; returns how many. Only the files given back while the
    /// receiver runs (and those its start kept) are looked at, so this costs nothing but a
    /// look at a short list when there is nothing to remove.
    pub fn expire(&self, sandbox: &Sandbox, max_age: Duration, now_us: i64) -> usize {
        let cutoff = cutoff(max_age, now_us);
        let old: Vec<Box<str>> = self
            .lock()
            .left
            .iter()
            .filter(|(_, &at)| at < cutoff)
            .map(|(path, _)| path.clone())
            .collect();
        let mut removed = 0;
        for path in old {
            // A session may have claimed it since; the list says what to look at, the file's
            // record (as it is now) whether it goes.
            if self.is_part_claimed(&path) {
                continue;
            }
            match expire_one(sandbox, &path, cutoff) {
                Ok(Some(written_us)) => self.left(&path, written_us),
                Ok(None) => {
                    self.lock().left.remove(&*path);
                    removed += 1;
                }
                Err(e) => tracing::warn!(%path, "cannot remove an expired part file: {e}"),
            }
        }
        removed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Records written before this time (Unix µs) are too old for `max_age` as of `now_us`.
fn cutoff(max_age: Duration, now_us: i64) -> i64 {
    now_us.saturating_sub(i64::try_from(max_age.as_micros()).unwrap_or(i64::MAX))
}

/// Removes the part file at `path` if its record is older than `cutoff` (or it has none);
/// otherwise returns its record's time.
fn expire_one(sandbox: &Sandbox, path: &str, cutoff: i64) -> Result<Option<i64>, SandboxError> {
    let written = match sandbox.open_file(path, Access::Read) {
        Ok(file) => record::read(sandbox, path, &file).map(|r| r.written_us),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e),
    };
    match written {
        Some(at) if at >= cutoff => Ok(Some(at)),
        _ => remove(sandbox, path).map(|()| None),
    }
}

/// Removes the file at `path` and the sidecar of its record: the sidecar first, so that a
/// crash in between leaves a file without a record (written again from nothing) and never a
/// record without its file.
pub(crate) fn remove(sandbox: &Sandbox, path: &str) -> Result<(), SandboxError> {
    record::forget(sandbox, path)?;
    sandbox.remove_file(path)
}

/// Keeps the durable prefix of the part file at `path` (as its record says, for a source of
/// `source`'s size and time, or for any source when `None`) and frees the space beyond it;
/// removes the file when nothing of it is durable. Returns the record kept.
pub(crate) fn give_back(
    sandbox: &Sandbox,
    path: &str,
    source: Option<(u64, i64)>,
) -> Result<Option<Record>, SandboxError> {
    if sandbox.stat(path)?.is_none() {
        return Ok(None);
    }
    let handle = sandbox.open_file(path, Access::ReadWriteCreate)?;
    let kept = record::read(sandbox, path, &handle)
        .filter(|r| source.is_none_or(|(size, mtime_us)| r.size == size && r.mtime_us == mtime_us));
    let len = handle
        .metadata()
        .map_err(|e| SandboxError::os("stat", path, e))?
        .len();
    let held = kept.map_or(0, |r| r.durable.min(r.size).min(len));
    if held == 0 {
        drop(handle);
        remove(sandbox, path)?;
        return Ok(None);
    }
    free_beyond(&handle, held, len).map_err(|e| SandboxError::os("free", path, e))?;
    if let Some(r) = kept {
        sandbox.part_owners().left(path, r.written_us);
    }
    Ok(kept)
}

/// Frees the blocks of `file` from `from` to `size` (written or reserved, never made durable),
/// keeping its size. A file system that cannot punch holes keeps them.
fn free_beyond(file: &File, from: u64, size: u64) -> io::Result<()> {
    let (Ok(offset), Ok(len)) = (
        libc::off_t::try_from(from),
        libc::off_t::try_from(size.saturating_sub(from)),
    ) else {
        return Ok(());
    };
    if len == 0 {
        return Ok(());
    }
    let mode = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
    // SAFETY: `file` is an open descriptor; fallocate only reads its arguments.
    if unsafe { libc::fallocate(file.as_raw_fd(), mode, offset, len) } == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EOPNOTSUPP) => Ok(()),
        _ => Err(e),
    }
}

/// Gives back what part files below the root hold beyond their durable prefix, removing those
/// with nothing durable and, with `max_age`, those whose last durable write is older than it
/// — except the files a session writes. Returns how many files were removed and how many
/// kept. Symbolic links are never followed; a directory that cannot be read is passed over.
pub fn sweep(sandbox: &Sandbox, max_age: Option<Duration>) -> (usize, usize) {
    let mut found = Vec::new();
    part_files(sandbox.root(), "", &mut found);
    let cutoff = max_age.map(|age| cutoff(age, record::unix_now_us()));
    let (mut removed, mut kept) = (0, 0);
    for path in found {
        if sandbox.part_owners().is_part_claimed(&path) {
            continue;
        }
        let result = match cutoff {
            Some(cutoff) => expire_one(sandbox, &path, cutoff).map(|found| found.is_some()),
            None => Ok(true),
        }
        .and_then(|young| {
            if young {
                give_back(sandbox, &path, None).map(|kept| kept.is_some())
            } else {
                Ok(false)
            }
        });
        match result {
            Ok(true) => kept += 1,
            Ok(false) => removed += 1,
            Err(e) => tracing::warn!(%path, "cannot give back a part file: {e}"),
        }
    }
    (removed, kept)
}

/// The part files below `dir` (`rel` below the root), as paths relative to the root.
fn part_files(dir: &Path, rel: &str, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if kind.is_dir() {
            part_files(&entry.path(), &path, out);
        } else if kind.is_file() && name.ends_with(PART_SUFFIX) {
            out.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transfer(sender: u8, id: u64) -> TransferId {
        TransferId {
            sender: PublicKey([sender; 32]),
            id,
        }
    }

    #[test]
    fn a_later_session_of_the_same_transfer_takes_a_file_over_and_another_transfer_is_refused() {
        let parts = PartOwners::default();
        let (old, new, other) = (parts.new_owner(), parts.new_owner(), parts.new_owner());
        let t = transfer(1, 7);
        parts.claim("a", old, t).unwrap();
        parts.claim("b", old, t).unwrap();
        assert_eq!(parts.takeovers(), 0);
        parts.claim("a", new, t).unwrap();
        assert_eq!(parts.takeovers(), 1);
        parts.claim("a", new, t).unwrap();
        assert_eq!(parts.takeovers(), 1, "its own claim again");
        assert!(!parts.owns("a", old));
        assert!(parts.owns("a", new));
        // Same sender, another transfer; another sender, same transfer id.
        for stranger in [transfer(1, 8), transfer(2, 7)] {
            let refused = parts.claim("a", other, stranger).unwrap_err();
            assert_eq!(refused.path, "a");
            assert_eq!(
                refused.to_string(),
                "\"a\": another transfer is receiving it; send it again once that one ends"
            );
            assert!(parts.owns("a", new));
        }
        parts.release("a", old);
        assert!(
            parts.owns("a", new),
            "released by a session that no longer owned it"
        );
        parts.release_all(old);
        assert!(parts.owns("a", new));
        assert!(!parts.owns("b", old));
        assert!(!parts.is_claimed("b"));
        // Once the file is in place, or its session done, another transfer may write it.
        parts.release("a", new);
        parts.claim("a", other, transfer(2, 7)).unwrap();
        assert!(parts.owns("a", other));
        parts.release_all(other);
        parts.claim("a", new, t).unwrap();
    }

    /// A part file at `path` holding `durable` bytes recorded at `written_us`.
    fn part_file(sandbox: &Sandbox, path: &str, durable: u64, written_us: i64) {
        std::fs::write(sandbox.root().join(path), vec![5u8; 100]).unwrap();
        let file = sandbox.open_file(path, Access::Read).unwrap();
        let record = Record {
            size: 100,
            mtime_us: 1,
            durable,
            written_us,
        };
        record.write(sandbox, path, &file).unwrap();
    }

    #[test]
    fn part_files_left_longer_than_the_limit_are_removed_and_the_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = Sandbox::open(dir.path()).unwrap();
        let now = record::unix_now_us();
        let hour = 3_600_000_000;
        part_file(&sandbox, "old.jetpart", 40, now - 2 * hour);
        part_file(&sandbox, "young.jetpart", 40, now - hour / 2);
        part_file(&sandbox, "empty.jetpart", 0, now);
        let parts = sandbox.part_owners();
        let writer = parts.new_owner();
        parts
            .claim("old-but-written", writer, transfer(1, 1))
            .unwrap();
        part_file(&sandbox, "old-but-written.jetpart", 40, now - 2 * hour);
        let limit = Some(Duration::from_secs(3600));
        assert_eq!(sweep(&sandbox, limit), (2, 1));
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["old-but-written.jetpart", "young.jetpart"]);
        // Without a limit an old one stays.
        part_file(&sandbox, "old.jetpart", 40, now - 2 * hour);
        assert_eq!(sweep(&sandbox, None), (0, 2));

        // While the receiver runs, the files left are removed once their time comes.
        assert_eq!(parts.expire(&sandbox, Duration::from_secs(3600), now), 1);
        assert!(!dir.path().join("old.jetpart").exists());
        assert!(dir.path().join("young.jetpart").exists());
        assert_eq!(parts.expire(&sandbox, Duration::from_secs(3600), now), 0);
        assert_eq!(
            parts.expire(&sandbox, Duration::from_secs(3600), now + hour),
            1
        );
        assert!(!dir.path().join("young.jetpart").exists());
        assert!(dir.path().join("old-but-written.jetpart").exists());
    }
}
