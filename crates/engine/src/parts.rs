//! Part files under a receiver's root: which session owns each, and giving back what a session
//! that did not complete holds. A sender that reconnects starts a new session on the same part
//! files while the receiver may still hold the old one, which times out later: the newest
//! session takes the files over, and a session that ends gives back or removes only the part
//! files it still owns. A receiver killed before its sessions could give anything back does it
//! when it starts again ([`sweep`]).

use crate::record;
use crate::sandbox::{Access, Sandbox, SandboxError};
use crate::sink::PART_SUFFIX;
use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// The owner of each part file being written, by path below the root.
#[derive(Debug, Default)]
pub struct PartOwners {
    owners: Mutex<HashMap<Box<str>, u64>>,
    next: AtomicU64,
}

impl PartOwners {
    /// A new owner's id.
    pub fn new_owner(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// `owner` writes the part file at `path` from now on.
    pub fn claim(&self, path: &str, owner: u64) {
        self.lock().insert(path.into(), owner);
    }

    /// Whether `owner` still writes the part file at `path`.
    pub fn owns(&self, path: &str, owner: u64) -> bool {
        self.lock().get(path) == Some(&owner)
    }

    /// Whether any session writes the part file at `path`.
    pub fn is_claimed(&self, path: &str) -> bool {
        self.lock().contains_key(path)
    }

    /// `owner` is done with every part file it owns.
    pub fn release_all(&self, owner: u64) {
        self.lock().retain(|_, o| *o != owner);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, u64>> {
        self.owners.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Keeps the durable prefix of the part file at `path` (as `durable` reads it from the open
/// file) and frees the space beyond it; removes the file when nothing of it is durable.
pub(crate) fn give_back(
    sandbox: &Sandbox,
    path: &str,
    durable: impl FnOnce(&File) -> u64,
) -> Result<(), SandboxError> {
    if sandbox.stat(path)?.is_none() {
        return Ok(());
    }
    let handle = sandbox.open_file(path, Access::ReadWriteCreate)?;
    let held = durable(&handle);
    if held == 0 {
        drop(handle);
        return sandbox.remove_file(path);
    }
    let len = handle
        .metadata()
        .map_err(|e| SandboxError::os("stat", path, e))?
        .len();
    free_beyond(&handle, held, len).map_err(|e| SandboxError::os("free", path, e))
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
/// with nothing durable, except the files a session writes. Returns how many files were removed
/// and how many kept. Symbolic links are never followed; a directory that cannot be read is
/// passed over.
pub fn sweep(sandbox: &Sandbox) -> (usize, usize) {
    let mut found = Vec::new();
    part_files(sandbox.root(), "", &mut found);
    let (mut removed, mut kept) = (0, 0);
    for path in found {
        if sandbox.part_owners().is_claimed(&path) {
            continue;
        }
        let mut held = 0;
        let durable = |f: &File| {
            held = record::read(f).map_or(0, |r| r.durable);
            held
        };
        match give_back(sandbox, &path, durable) {
            Ok(()) if held == 0 => removed += 1,
            Ok(()) => kept += 1,
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

    #[test]
    fn the_newest_claim_wins_and_an_owner_lets_go_of_its_own_alone() {
        let parts = PartOwners::default();
        let (old, new) = (parts.new_owner(), parts.new_owner());
        parts.claim("a.jetpart", old);
        parts.claim("b.jetpart", old);
        parts.claim("a.jetpart", new);
        assert!(!parts.owns("a.jetpart", old));
        assert!(parts.owns("a.jetpart", new));
        parts.release_all(old);
        assert!(parts.owns("a.jetpart", new));
        assert!(!parts.owns("b.jetpart", old));
    }
}
