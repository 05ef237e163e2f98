//! The sender's tree walk: turns `(destination, source)` mappings into the ordered entry list of
//! a transfer, applying include/exclude globs and the symlink policy.

use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};
use jetstream_wire::codec::MAX_PATH_LEN;
use jetstream_wire::files::{EntryKind, FileMeta};

use crate::sandbox::{check_path, unix_us, SandboxError};

/// What the walk does with a symbolic link found inside a mapped directory. A mapped source
/// that is itself a link is followed (the caller named it), except that under
/// [`SymlinkPolicy::Preserve`] a mapped link to a file is sent as the link it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SymlinkPolicy {
    /// Follow links and copy what they point to (`SYMLINKS_COPY_CONTENTS`, 0).
    #[default]
    CopyContents,
    /// Skip links to files, follow links to directories (1).
    IgnoreFiles,
    /// Skip links to directories, follow links to files (2).
    IgnoreDirectories,
    /// Skip every link (3).
    Ignore,
    /// Send the link itself, its target unresolved (4): the receiver recreates it only when
    /// the target stays inside the transfer's destination directory (see [`crate::links`]),
    /// and otherwise refuses it, writing nothing.
    Preserve,
}

impl SymlinkPolicy {
    /// The policy of an API `SYMLINKS_*` code.
    pub fn from_u8(code: u8) -> Option<SymlinkPolicy> {
        Some(match code {
            0 => SymlinkPolicy::CopyContents,
            1 => SymlinkPolicy::IgnoreFiles,
            2 => SymlinkPolicy::IgnoreDirectories,
            3 => SymlinkPolicy::Ignore,
            4 => SymlinkPolicy::Preserve,
            _ => return None,
        })
    }

    /// Whether a link whose target is (or is not) a directory is skipped.
    fn skips(self, target_is_dir: bool) -> bool {
        match self {
            SymlinkPolicy::CopyContents | SymlinkPolicy::Preserve => false,
            SymlinkPolicy::IgnoreFiles => !target_is_dir,
            SymlinkPolicy::IgnoreDirectories => target_is_dir,
            SymlinkPolicy::Ignore => true,
        }
    }
}

/// One entry of a transfer: where to read it and how the receiver sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalkEntry {
    /// The file to read; empty for directories.
    pub source: PathBuf,
    /// The entry as announced to the receiver.
    pub meta: FileMeta,
}

/// How to walk.
#[derive(Clone, Debug, Default)]
pub struct WalkOptions {
    /// What to do with symbolic links inside mapped directories.
    pub symlinks: SymlinkPolicy,
    /// Globs a file must match (any of them) to be sent; empty: every file. Directories are
    /// not filtered by `include`, so the tree's shape survives.
    pub include: Vec<String>,
    /// Globs of files and directories to leave out (a directory with all it contains).
    pub exclude: Vec<String>,
}

/// Error of [`walk`]; each names the path concerned.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// A mapped source does not exist.
    #[error("source {} does not exist", path.display())]
    Missing {
        /// The source path.
        path: PathBuf,
    },
    /// Reading a directory or a file's metadata failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path being read.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A name that cannot be sent (not UTF-8).
    #[error("{}: name is not valid UTF-8", path.display())]
    NonUtf8 {
        /// The path with the name.
        path: PathBuf,
    },
    /// The destination path of an entry would be refused by the receiver.
    #[error("{}: {reason}", path.display())]
    Destination {
        /// The source path of the entry.
        path: PathBuf,
        /// Why the destination is refused.
        reason: SandboxError,
    },
    /// A mapped file needs a non-empty destination name.
    #[error("{}: a file needs a destination name", path.display())]
    NoDestinationName {
        /// The source path.
        path: PathBuf,
    },
    /// A mapped source is neither a file nor a directory.
    #[error("{}: neither a file nor a directory", path.display())]
    Unsupported {
        /// The source path.
        path: PathBuf,
    },
    /// A link's target cannot be sent: not UTF-8, or too long with the link's path.
    #[error("{}: link target {reason}", path.display())]
    LinkTarget {
        /// The link.
        path: PathBuf,
        /// What is wrong with its target.
        reason: &'static str,
    },
    /// An include or exclude glob does not parse.
    #[error("glob {pattern:?}: {source}")]
    Glob {
        /// The glob.
        pattern: String,
        /// The parse error.
        source: globset::Error,
    },
}

/// Walks `mappings` in order and returns the transfer's entries.
///
/// A file maps to `dest`; a directory maps its contents below `dest` and becomes a directory
/// entry itself (unless `dest` is `""`, the destination root), so empty directories survive.
/// Within a directory, entries come in byte order of their names, each directory right before
/// its contents. Links are handled by [`SymlinkPolicy`]; a dangling link, a link back to a
/// directory being walked (a loop) and special files (FIFOs, sockets, devices) are skipped with
/// a warning. A name the receiver would refuse (see [`check_path`]) is an error.
pub fn walk(
    mappings: &[(String, PathBuf)],
    opts: &WalkOptions,
) -> Result<Vec<WalkEntry>, WalkError> {
    let mut entries = Vec::new();
    walk_each(mappings, opts, &mut |entry| entries.push(entry))?;
    Ok(entries)
}

/// [`walk`], handing each entry to `emit` as soon as it is found (in the same order), so a
/// caller can store or send entries while the walk goes on.
pub fn walk_each(
    mappings: &[(String, PathBuf)],
    opts: &WalkOptions,
    emit: &mut dyn FnMut(WalkEntry),
) -> Result<(), WalkError> {
    let mut walker = Walker {
        include: (!opts.include.is_empty())
            .then(|| globs(&opts.include))
            .transpose()?,
        exclude: globs(&opts.exclude)?,
        symlinks: opts.symlinks,
        ancestors: Vec::new(),
        emit,
    };
    for (dest, source) in mappings {
        let meta = fs::metadata(source).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => WalkError::Missing {
                path: source.clone(),
            },
            _ => WalkError::Io {
                path: source.clone(),
                source: e,
            },
        })?;
        let dest = check_path(dest).map_err(|reason| WalkError::Destination {
            path: source.clone(),
            reason,
        })?;
        if meta.is_dir() {
            if !dest.is_empty() {
                walker.push(source, dest.to_owned(), &meta);
            }
            walker.ancestors.push((meta.dev(), meta.ino()));
            walker.dir(source, dest, "")?;
            walker.ancestors.pop();
        } else if meta.is_file() {
            if dest.is_empty() {
                return Err(WalkError::NoDestinationName {
                    path: source.clone(),
                });
            }
            let name = source
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if walker.wanted_file(name) {
                let link = (opts.symlinks == SymlinkPolicy::Preserve)
                    .then(|| fs::symlink_metadata(source).ok())
                    .flatten()
                    .filter(|m| m.file_type().is_symlink());
                match link {
                    Some(link) => (walker.emit)(link_entry(source, dest.to_owned(), &link)?),
                    None => walker.push(source, dest.to_owned(), &meta),
                }
            }
        } else {
            return Err(WalkError::Unsupported {
                path: source.clone(),
            });
        }
    }
    Ok(())
}

/// The set of `patterns`; a pattern that does not parse is [`WalkError::Glob`].
pub(crate) fn globs(patterns: &[String]) -> Result<GlobSet, WalkError> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = Glob::new(pattern).map_err(|source| WalkError::Glob {
            pattern: pattern.clone(),
            source,
        })?;
        builder.add(glob);
    }
    builder.build().map_err(|source| WalkError::Glob {
        pattern: patterns.join(" "),
        source,
    })
}

/// The entry sending the link at `source` itself to `dest` (`SYMLINKS_PRESERVE`); `meta` is
/// the link's own metadata (not its target's).
pub fn link_entry(source: &Path, dest: String, meta: &Metadata) -> Result<WalkEntry, WalkError> {
    let target = fs::read_link(source).map_err(|e| WalkError::Io {
        path: source.to_owned(),
        source: e,
    })?;
    let bad = |reason| WalkError::LinkTarget {
        path: source.to_owned(),
        reason,
    };
    let target = target
        .into_os_string()
        .into_string()
        .map_err(|_| bad("is not valid UTF-8"))?;
    if dest.len() + target.len() > MAX_PATH_LEN {
        return Err(bad("is too long to send with the link's path"));
    }
    Ok(WalkEntry {
        source: source.to_owned(),
        meta: FileMeta {
            path: dest,
            kind: EntryKind::Symlink { target },
            size: 0,
            mtime_us: unix_us(meta.mtime(), meta.mtime_nsec()),
            executable: false,
        },
    })
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    }
}

struct Walker<'e> {
    include: Option<GlobSet>,
    exclude: GlobSet,
    symlinks: SymlinkPolicy,
    /// `(device, inode)` of the directories from the mapped root down to the current one.
    ancestors: Vec<(u64, u64)>,
    /// Where entries go.
    emit: &'e mut dyn FnMut(WalkEntry),
}

impl Walker<'_> {
    /// Whether a file at `rel` (relative to its mapped source) is sent.
    fn wanted_file(&self, rel: &str) -> bool {
        !self.exclude.is_match(rel) && self.include.as_ref().is_none_or(|set| set.is_match(rel))
    }

    fn push(&mut self, source: &Path, dest: String, meta: &Metadata) {
        let is_dir = meta.is_dir();
        (self.emit)(WalkEntry {
            source: if is_dir {
                PathBuf::new()
            } else {
                source.to_owned()
            },
            meta: FileMeta {
                path: dest,
                kind: if is_dir {
                    EntryKind::Directory
                } else {
                    EntryKind::File
                },
                size: if is_dir { 0 } else { meta.len() },
                mtime_us: unix_us(meta.mtime(), meta.mtime_nsec()),
                executable: !is_dir && meta.mode() & 0o111 != 0,
            },
        });
    }

    /// Walks the contents of directory `dir`, mapped to `dest`, at `rel` below its mapping.
    fn dir(&mut self, dir: &Path, dest: &str, rel: &str) -> Result<(), WalkError> {
        let io_err = |path: &Path| {
            let path = path.to_owned();
            move |source| WalkError::Io { path, source }
        };
        let mut children = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_err(dir))? {
            let entry = entry.map_err(io_err(dir))?;
            let path = entry.path();
            let name = match entry.file_name().into_string() {
                Ok(name) => name,
                Err(_) => return Err(WalkError::NonUtf8 { path }),
            };
            // Read beside the open directory (fstatat), not by resolving the whole path again.
            let meta = entry.metadata().map_err(io_err(&path))?;
            children.push((name, path, meta));
        }
        children.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (name, path, meta) in children {
            let child_rel = join(rel, &name);
            if meta.file_type().is_symlink() && self.symlinks == SymlinkPolicy::Preserve {
                let child_dest = join(dest, &name);
                if let Err(reason) = check_path(&child_dest) {
                    return Err(WalkError::Destination { path, reason });
                }
                if self.wanted_file(&child_rel) {
                    (self.emit)(link_entry(&path, child_dest, &meta)?);
                }
                continue;
            }
            let meta = if meta.file_type().is_symlink() {
                match fs::metadata(&path) {
                    Ok(target) if self.symlinks.skips(target.is_dir()) => continue,
                    Ok(target) => target,
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "skipping dangling link");
                        continue;
                    }
                }
            } else {
                meta
            };
            let child_dest = join(dest, &name);
            if let Err(reason) = check_path(&child_dest) {
                return Err(WalkError::Destination { path, reason });
            }
            if meta.is_dir() {
                if self.exclude.is_match(&child_rel) {
                    continue;
                }
                let id = (meta.dev(), meta.ino());
                if self.ancestors.contains(&id) {
                    tracing::warn!(path = %path.display(), "skipping a directory loop");
                    continue;
                }
                self.push(&path, child_dest.clone(), &meta);
                self.ancestors.push(id);
                self.dir(&path, &child_dest, &child_rel)?;
                self.ancestors.pop();
            } else if meta.is_file() {
                if self.wanted_file(&child_rel) {
                    self.push(&path, child_dest, &meta);
                }
            } else {
                tracing::warn!(path = %path.display(), "skipping a special file");
            }
        }
        Ok(())
    }
}
