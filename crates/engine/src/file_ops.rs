//! The file operations API callers run inside their root (listing, sizes, creating
//! directories and files, moving): every path goes through the receiver's [`Sandbox`] rules, so
//! none leaves the root and no symlink is followed. The receiver's own resume records
//! ([`RECORD_SUFFIX`]) are neither listed nor counted nor reachable by name.

use crate::error::{Code, Error, Result};
use crate::record::RECORD_SUFFIX;
use crate::sandbox::{check_path, unix_us, Access, Refusal, Sandbox, SandboxError, StatKind};
use serde::Serialize;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// What an entry is; a symlink is never followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryType {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link, described itself.
    Symlink,
    /// A FIFO, socket or device.
    Other,
}

/// One entry, as the file operations describe it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileEntry {
    /// Its last component (for a root, the root directory's own name).
    pub name: String,
    /// Relative to the caller's root (`""` for the root).
    pub path: String,
    /// What it is.
    #[serde(rename = "type")]
    pub kind: EntryType,
    /// In bytes (of the link itself for a symlink).
    pub size: u64,
    /// Unix µs.
    pub modification_time: i64,
}

/// What `duAsync` finds below a path.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskUsage {
    /// The path measured.
    pub path: String,
    /// Bytes of every regular file below it (itself, if a file).
    pub size: u64,
    /// Regular files counted.
    pub files: u64,
    /// Directories below it (itself included).
    pub directories: u64,
}

/// Opens the root a caller works in.
pub fn open_root(root: &Path) -> Result<Sandbox> {
    Sandbox::open(root).map_err(|e| Error::new(Code::Io, e.to_string()))
}

/// Checks `path` by the sandbox's rules before anything is done with it; a name of the
/// receiver's own records is refused.
pub fn check(path: &str) -> Result<()> {
    let rel = check_path(path).map_err(refused)?;
    if rel.ends_with(RECORD_SUFFIX) {
        return Err(Error::new(
            Code::PermissionDenied,
            format!(
                "path {path:?} refused: names ending in {RECORD_SUFFIX} are the receiver's own"
            ),
        ));
    }
    Ok(())
}

/// The entry at `path`.
pub fn stat(sandbox: &Sandbox, path: &str) -> Result<FileEntry> {
    let rel = check_path(path).map_err(refused)?;
    if rel.is_empty() {
        let meta = std::fs::metadata(sandbox.root()).map_err(|e| Error::from(e).context("root"))?;
        return Ok(FileEntry {
            name: root_name(sandbox),
            path: String::new(),
            kind: EntryType::Directory,
            size: meta.len(),
            modification_time: unix_us(meta.mtime(), meta.mtime_nsec()),
        });
    }
    let stat = sandbox
        .stat(rel)
        .map_err(|e| refused_at(sandbox, &[rel], e))?
        .ok_or_else(|| Error::new(Code::NotFound, format!("{path:?}: no such entry")))?;
    Ok(FileEntry {
        name: rel.rsplit('/').next().unwrap_or(rel).to_owned(),
        path: rel.to_owned(),
        kind: match stat.kind {
            StatKind::File => EntryType::File,
            StatKind::Directory => EntryType::Directory,
            StatKind::Symlink => EntryType::Symlink,
            StatKind::Other => EntryType::Other,
        },
        size: stat.size,
        modification_time: stat.mtime_us,
    })
}

/// The entries of the directory `path`, by name.
pub fn ls(sandbox: &Sandbox, path: &str) -> Result<Vec<FileEntry>> {
    let rel = check_path(path).map_err(refused)?;
    let mut names = sandbox
        .list_dir(rel)
        .map_err(|e| refused_at(sandbox, &[rel], e))?;
    names.retain(|name| !name.ends_with(RECORD_SUFFIX));
    names.sort();
    names
        .iter()
        .map(|name| stat(sandbox, &join(rel, name)))
        .collect()
}

/// What is below `path`: its files' total size, and how many files and directories.
pub fn du(sandbox: &Sandbox, path: &str) -> Result<DiskUsage> {
    let top = stat(sandbox, path)?;
    let mut usage = DiskUsage {
        path: top.path.clone(),
        ..DiskUsage::default()
    };
    let mut pending = vec![top];
    while let Some(entry) = pending.pop() {
        match entry.kind {
            EntryType::File => {
                usage.files += 1;
                usage.size += entry.size;
            }
            EntryType::Directory => {
                usage.directories += 1;
                pending.extend(ls(sandbox, &entry.path)?);
            }
            EntryType::Symlink | EntryType::Other => {}
        }
    }
    Ok(usage)
}

/// Creates the directory `path` and its missing parents; the directory's entry.
pub fn mkdir(sandbox: &Sandbox, path: &str) -> Result<FileEntry> {
    sandbox
        .create_dirs(path)
        .map_err(|e| refused_at(sandbox, &[path], e))?;
    stat(sandbox, path)
}

/// Creates the file `path` (which must not exist; its directory must) holding `content`; the
/// file's entry.
pub fn mk_file(sandbox: &Sandbox, path: &str, content: &str) -> Result<FileEntry> {
    let mut file = sandbox
        .open_file(path, Access::CreateNew)
        .map_err(|e| refused_at(sandbox, &[path], e))?;
    file.write_all(content.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::from(e).context(format_args!("writing {path:?}")))?;
    stat(sandbox, path)
}

/// Moves `src` to `dst` (which must not exist); the moved entry.
pub fn mv(sandbox: &Sandbox, src: &str, dst: &str) -> Result<FileEntry> {
    sandbox
        .move_to(src, dst)
        .map_err(|e| refused_at(sandbox, &[src, dst], e))?;
    stat(sandbox, dst)
}

/// `rel/name`, or `name` at the root.
fn join(rel: &str, name: &str) -> String {
    if rel.is_empty() {
        name.to_owned()
    } else {
        format!("{rel}/{name}")
    }
}

/// The name of the root directory itself.
fn root_name(sandbox: &Sandbox) -> String {
    sandbox
        .root()
        .file_name()
        .map_or_else(|| "/".to_owned(), |n| n.to_string_lossy().into_owned())
}

/// [`refused`] of an operation on `paths`, where a component found not to be a directory is a
/// symlink one of the paths would go through: that is an escape like any other.
fn refused_at(sandbox: &Sandbox, paths: &[&str], e: SandboxError) -> Error {
    let not_a_directory = matches!(
        e,
        SandboxError::Refused {
            reason: Refusal::NotADirectory,
            ..
        }
    );
    let through_symlink = |path: &&str| {
        prefixes(path).any(|prefix| {
            matches!(sandbox.stat(prefix), Ok(Some(stat)) if stat.kind == StatKind::Symlink)
        })
    };
    match paths.iter().find(|path| through_symlink(path)) {
        Some(path) if not_a_directory => Error::new(
            Code::PermissionDenied,
            format!("path {path:?} refused: symlink on the path"),
        ),
        _ => refused(e),
    }
}

/// `a`, `a/b`, `a/b/c` of `a/b/c`.
fn prefixes(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/')
        .map(|(at, _)| &path[..at])
        .chain(std::iter::once(path))
}

/// A sandbox failure with the code callers see: a path that would leave the root (absolute,
/// `..`, through a symlink) is `PERMISSION_DENIED`, a malformed one `INVALID_ARGUMENT`.
fn refused(e: SandboxError) -> Error {
    let code = match &e {
        SandboxError::Refused { reason, .. } => match reason {
            Refusal::Absolute | Refusal::ParentComponent | Refusal::Symlink | Refusal::Escapes => {
                Code::PermissionDenied
            }
            _ => Code::InvalidArgument,
        },
        SandboxError::Io { source, .. } => match source.kind() {
            std::io::ErrorKind::NotFound => Code::NotFound,
            std::io::ErrorKind::AlreadyExists => Code::AlreadyExists,
            std::io::ErrorKind::PermissionDenied => Code::PermissionDenied,
            _ => Code::Io,
        },
        SandboxError::Root { .. } => Code::Io,
    };
    Error::new(code, e.to_string())
}
