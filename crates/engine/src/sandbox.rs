//! The receiver's sandbox: every path that arrives from the network is checked here and resolved
//! beneath one root directory, so nothing is ever created, written, renamed or stat'ed outside
//! it, whatever symlinks are planted inside.
//!
//! Resolution uses Linux `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)`
//! from a descriptor of the root; where the kernel lacks `openat2` the path is walked one
//! component at a time with `O_NOFOLLOW`. Every operation then acts on the final name relative
//! to its resolved parent directory, again without following a symlink.

use crate::parts::PartOwners;
use std::ffi::{CStr, CString};
use std::fmt;
use std::fs::File;
use std::io;
use std::mem;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use libc::c_int;

/// Longest accepted path, in bytes.
pub const MAX_PATH_BYTES: usize = 4096;
/// Longest accepted path component, in bytes.
pub const MAX_NAME_BYTES: usize = 255;

/// Flags of every directory descriptor taken while resolving.
const DIR_FLAGS: c_int = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;

/// Why a path was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The path is empty where a name is needed.
    Empty,
    /// The path starts with `/`.
    Absolute,
    /// A `..` component.
    ParentComponent,
    /// A `.` component.
    CurrentComponent,
    /// An empty component (`a//b`), other than one trailing slash.
    EmptyComponent,
    /// A NUL byte.
    Nul,
    /// A backslash, which some peers treat as a separator.
    Backslash,
    /// A component longer than [`MAX_NAME_BYTES`].
    NameTooLong,
    /// A path longer than [`MAX_PATH_BYTES`].
    PathTooLong,
    /// A new name for a rename that is not a single component.
    NotAName,
    /// A symlink lies on the path.
    Symlink,
    /// Resolution would leave the root.
    Escapes,
    /// A component that must be a directory is not one.
    NotADirectory,
    /// A file to open is not a regular file.
    NotARegularFile,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::Empty => "empty path",
            Refusal::Absolute => "absolute path",
            Refusal::ParentComponent => "`..` component",
            Refusal::CurrentComponent => "`.` component",
            Refusal::EmptyComponent => "empty component",
            Refusal::Nul => "NUL byte",
            Refusal::Backslash => "backslash",
            Refusal::NameTooLong => "component longer than 255 bytes",
            Refusal::PathTooLong => "path longer than 4096 bytes",
            Refusal::NotAName => "new name is not a single component",
            Refusal::Symlink => "symlink on the path",
            Refusal::Escapes => "resolves outside the root",
            Refusal::NotADirectory => "a component is not a directory",
            Refusal::NotARegularFile => "not a regular file",
        })
    }
}

/// Error of a sandbox operation; always names the path concerned.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The path is malformed or resolving it would be unsafe.
    #[error("path {path:?} refused: {reason}")]
    Refused {
        /// The path as given.
        path: String,
        /// Why.
        reason: Refusal,
    },
    /// The operation failed in the file system.
    #[error("{op} {path:?}: {source}")]
    Io {
        /// What was being done (`"open"`, `"mkdir"`, ...).
        op: &'static str,
        /// The path as given, relative to the root.
        path: String,
        /// The OS error.
        source: io::Error,
    },
    /// The root itself cannot be opened.
    #[error("sandbox root {path}: {source}")]
    Root {
        /// The root path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

impl SandboxError {
    /// Whether the error is "no such file or directory".
    pub fn is_not_found(&self) -> bool {
        matches!(self, SandboxError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }

    fn refused(path: &str, reason: Refusal) -> Self {
        SandboxError::Refused {
            path: path.to_owned(),
            reason,
        }
    }

    /// Maps an OS error; resolution refusals (symlink, escape, non-directory) become typed.
    pub(crate) fn os(op: &'static str, path: &str, source: io::Error) -> Self {
        let reason = match source.raw_os_error() {
            Some(libc::ELOOP) => Refusal::Symlink,
            Some(libc::EXDEV) => Refusal::Escapes,
            Some(libc::ENOTDIR) => Refusal::NotADirectory,
            _ => {
                return SandboxError::Io {
                    op,
                    path: path.to_owned(),
                    source,
                }
            }
        };
        SandboxError::refused(path, reason)
    }
}

/// Checks a relative, `/`-separated path from the network and returns it without its trailing
/// slash (`""` stands for the root itself).
///
/// Refused: absolute paths, `..` and `.` components, empty components except one trailing
/// slash, NUL bytes, backslashes, components over 255 bytes and paths over 4096 bytes.
pub fn check_path(path: &str) -> Result<&str, SandboxError> {
    let refuse = |reason| Err(SandboxError::refused(path, reason));
    if path.len() > MAX_PATH_BYTES {
        return refuse(Refusal::PathTooLong);
    }
    if path.starts_with('/') {
        return refuse(Refusal::Absolute);
    }
    if path.contains('\0') {
        return refuse(Refusal::Nul);
    }
    if path.contains('\\') {
        return refuse(Refusal::Backslash);
    }
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    if trimmed.is_empty() {
        return Ok(trimmed);
    }
    for component in trimmed.split('/') {
        match component {
            "" => return refuse(Refusal::EmptyComponent),
            "." => return refuse(Refusal::CurrentComponent),
            ".." => return refuse(Refusal::ParentComponent),
            c if c.len() > MAX_NAME_BYTES => return refuse(Refusal::NameTooLong),
            _ => {}
        }
    }
    Ok(trimmed)
}

/// Checks a path that must name something (not the root) and splits it into parent and name.
fn split_named(path: &str) -> Result<(&str, &str), SandboxError> {
    let rel = check_path(path)?;
    if rel.is_empty() {
        return Err(SandboxError::refused(path, Refusal::Empty));
    }
    Ok(rel.rsplit_once('/').unwrap_or(("", rel)))
}

/// A checked component as a C string. `check_path` refused NUL bytes already, so the
/// conversion cannot fail; the error arm keeps that invariant local.
fn c_name(path: &str, name: &str) -> Result<CString, SandboxError> {
    CString::new(name).map_err(|_| SandboxError::refused(path, Refusal::Nul))
}

/// Turns a C return value into a `Result`.
fn cvt(ret: c_int) -> io::Result<c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn openat(
    dir: BorrowedFd<'_>,
    name: &CStr,
    flags: c_int,
    mode: libc::mode_t,
) -> io::Result<OwnedFd> {
    // SAFETY: `name` is NUL-terminated and outlives the call; `dir` is an open descriptor.
    let fd = cvt(unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags, mode) })?;
    // SAFETY: `fd` was just returned by openat and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn openat2_beneath(dir: BorrowedFd<'_>, path: &CStr, flags: c_int) -> io::Result<OwnedFd> {
    // SAFETY: `open_how` is three integers; all-zero is its documented default value.
    let mut how: libc::open_how = unsafe { mem::zeroed() };
    how.flags = flags as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: `path` is NUL-terminated, `how` lives across the call and its exact size is passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            path.as_ptr(),
            &how as *const libc::open_how,
            mem::size_of::<libc::open_how>(),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a non-negative return of openat2 is a new descriptor that fits in a c_int.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as c_int) })
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`.
fn fstatat_nofollow(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<libc::stat> {
    let mut st = mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `name` is NUL-terminated, `st` is a valid out-pointer for one `stat`.
    let ret = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    cvt(ret)?;
    // SAFETY: fstatat succeeded, so it filled `st`.
    Ok(unsafe { st.assume_init() })
}

/// Either the root descriptor (borrowed) or a directory opened beneath it.
enum Dir<'a> {
    Root(BorrowedFd<'a>),
    Beneath(OwnedFd),
}

impl Dir<'_> {
    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Dir::Root(fd) => *fd,
            Dir::Beneath(fd) => fd.as_fd(),
        }
    }
}

/// What [`Sandbox::stat`] found at a path (the last component is never followed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link (not followed).
    Symlink,
    /// Anything else (FIFO, socket, device).
    Other,
}

/// The part of `stat` the receiver needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// The kind of entry.
    pub kind: StatKind,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, Unix microseconds.
    pub mtime_us: i64,
    /// Hard links to it (names in the file system).
    pub links: u64,
}

/// How [`Sandbox::open_file`] opens a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read only; the file must exist.
    Read,
    /// Read and write; created with mode 0o644 (less the umask) when missing, never truncated.
    ReadWriteCreate,
    /// Read and write a new file (mode 0o644 less the umask); an existing one is an error.
    CreateNew,
}

/// A receiver root and the operations allowed beneath it.
#[derive(Debug)]
pub struct Sandbox {
    root: OwnedFd,
    root_path: PathBuf,
    /// Cleared the first time the kernel reports `openat2` missing.
    openat2: AtomicBool,
    /// Which session writes each part file.
    parts: PartOwners,
}

impl Sandbox {
    /// Opens `root` (which must be an existing directory) as the sandbox root.
    pub fn open(root: &Path) -> Result<Sandbox, SandboxError> {
        let root_err = |source| SandboxError::Root {
            path: root.to_owned(),
            source,
        };
        let c_root = CString::new(root.as_os_str().as_encoded_bytes())
            .map_err(|_| root_err(io::Error::from(io::ErrorKind::InvalidInput)))?;
        // SAFETY: `c_root` is NUL-terminated and outlives the call.
        let fd = cvt(unsafe {
            libc::open(
                c_root.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        })
        .map_err(root_err)?;
        Ok(Sandbox {
            // SAFETY: `fd` was just returned by open and is owned by nobody else.
            root: unsafe { OwnedFd::from_raw_fd(fd) },
            root_path: root.to_owned(),
            openat2: AtomicBool::new(true),
            parts: PartOwners::default(),
        })
    }

    /// Which session writes each part file below the root.
    pub fn part_owners(&self) -> &PartOwners {
        &self.parts
    }

    /// The root path as given to [`Sandbox::open`].
    pub fn root(&self) -> &Path {
        &self.root_path
    }

    /// Opens the directory `rel` (checked, `""` = root) beneath the root without following any
    /// symlink.
    fn dir(&self, rel: &str, path: &str) -> Result<Dir<'_>, SandboxError> {
        if rel.is_empty() {
            return Ok(Dir::Root(self.root.as_fd()));
        }
        let c_rel = c_name(path, rel)?;
        if self.openat2.load(Ordering::Relaxed) {
            match openat2_beneath(self.root.as_fd(), &c_rel, DIR_FLAGS) {
                Ok(fd) => return Ok(Dir::Beneath(fd)),
                // ENOSYS: kernel before 5.6; EPERM: a seccomp filter that does not know it.
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
                    self.openat2.store(false, Ordering::Relaxed);
                }
                Err(e) => return Err(SandboxError::os("open", path, e)),
            }
        }
        let mut dir = Dir::Root(self.root.as_fd());
        for component in rel.split('/') {
            let c = c_name(path, component)?;
            let fd = openat(dir.fd(), &c, DIR_FLAGS, 0)
                .map_err(|e| SandboxError::os("open", path, e))?;
            dir = Dir::Beneath(fd);
        }
        Ok(dir)
    }

    /// Resolves the parent of `path` and returns it with the last component.
    fn parent(&self, path: &str) -> Result<(Dir<'_>, CString), SandboxError> {
        let (parent, name) = split_named(path)?;
        Ok((self.dir(parent, path)?, c_name(path, name)?))
    }

    /// Creates every missing directory of `path` (`""` = root: nothing to do), checking that
    /// each existing component is a real directory, not a symlink or a file.
    pub fn create_dirs(&self, path: &str) -> Result<(), SandboxError> {
        let rel = check_path(path)?;
        if rel.is_empty() {
            return Ok(());
        }
        let mut dir = Dir::Root(self.root.as_fd());
        for component in rel.split('/') {
            let c = c_name(path, component)?;
            let fd = match openat(dir.fd(), &c, DIR_FLAGS, 0) {
                Ok(fd) => fd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    // SAFETY: `c` is NUL-terminated and outlives the call.
                    match cvt(unsafe { libc::mkdirat(dir.fd().as_raw_fd(), c.as_ptr(), 0o755) }) {
                        Ok(_) => {}
                        // Created concurrently: the open below checks what it is.
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(SandboxError::os("mkdir", path, e)),
                    }
                    openat(dir.fd(), &c, DIR_FLAGS, 0)
                        .map_err(|e| SandboxError::os("open", path, e))?
                }
                Err(e) => return Err(SandboxError::os("open", path, e)),
            };
            dir = Dir::Beneath(fd);
        }
        Ok(())
    }

    /// Opens the regular file `path` beneath the root; a symlink or a non-regular file at any
    /// point of the path is refused.
    pub fn open_file(&self, path: &str, access: Access) -> Result<File, SandboxError> {
        let (dir, name) = self.parent(path)?;
        let flags = match access {
            Access::Read => libc::O_RDONLY,
            Access::ReadWriteCreate => libc::O_RDWR | libc::O_CREAT,
            Access::CreateNew => libc::O_RDWR | libc::O_CREAT | libc::O_EXCL,
        };
        // O_NONBLOCK: opening a planted FIFO must not hang; it is then refused below.
        let flags = flags | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK;
        let fd =
            openat(dir.fd(), &name, flags, 0o644).map_err(|e| SandboxError::os("open", path, e))?;
        let file = File::from(fd);
        let meta = file
            .metadata()
            .map_err(|e| SandboxError::os("stat", path, e))?;
        if !meta.is_file() {
            return Err(SandboxError::refused(path, Refusal::NotARegularFile));
        }
        Ok(file)
    }

    /// Stats `path` without following a final symlink; `None` when nothing is there.
    pub fn stat(&self, path: &str) -> Result<Option<Stat>, SandboxError> {
        let (dir, name) = match self.parent(path) {
            Ok(found) => found,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let st = match fstatat_nofollow(dir.fd(), &name) {
            Ok(st) => st,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(SandboxError::os("stat", path, e)),
        };
        let kind = match st.st_mode & libc::S_IFMT {
            libc::S_IFREG => StatKind::File,
            libc::S_IFDIR => StatKind::Directory,
            libc::S_IFLNK => StatKind::Symlink,
            _ => StatKind::Other,
        };
        Ok(Some(Stat {
            kind,
            size: st.st_size as u64,
            mtime_us: unix_us(st.st_mtime, st.st_mtime_nsec),
            links: st.st_nlink,
        }))
    }

    /// Renames `from` to `to_name` in the same directory. With `replace` false an existing
    /// `to_name` is never replaced (`renameat2(RENAME_NOREPLACE)`; on file systems without it,
    /// a check followed by `renameat`).
    pub fn rename(&self, from: &str, to_name: &str, replace: bool) -> Result<(), SandboxError> {
        if to_name.is_empty() || to_name.contains('/') {
            return Err(SandboxError::refused(to_name, Refusal::NotAName));
        }
        check_path(to_name)?;
        let (dir, from_c) = self.parent(from)?;
        let to_c = c_name(to_name, to_name)?;
        rename_at((dir.fd(), &from_c), (dir.fd(), &to_c), replace)
            .map_err(|e| SandboxError::os("rename", from, e))
    }

    /// Moves `from` to `to`, anywhere beneath the root; an existing `to` is never replaced.
    /// Neither path may cross a symlink (a final symlink is moved itself, not followed).
    pub fn move_to(&self, from: &str, to: &str) -> Result<(), SandboxError> {
        let (from_dir, from_c) = self.parent(from)?;
        let (to_dir, to_c) = self.parent(to)?;
        rename_at((from_dir.fd(), &from_c), (to_dir.fd(), &to_c), false)
            .map_err(|e| SandboxError::os("move", from, e))
    }

    /// The names in the directory `path` (`""` = the root), in no particular order; `.` and
    /// `..` left out. No symlink is followed on the way.
    pub fn list_dir(&self, path: &str) -> Result<Vec<String>, SandboxError> {
        let rel = check_path(path)?;
        let dir = self.dir(rel, path)?;
        // Read through the descriptor already resolved beneath the root: the name in /proc
        // stands for that very directory, whatever is renamed meanwhile.
        let proc_path = format!("/proc/self/fd/{}", dir.fd().as_raw_fd());
        let entries =
            std::fs::read_dir(&proc_path).map_err(|e| SandboxError::os("list", path, e))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| SandboxError::os("list", path, e))?;
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_owned());
            }
        }
        Ok(names)
    }

    /// Makes the entries of the directory `path` (`""` = the root) durable: `fsync` of the
    /// directory, after a file was created or renamed in it.
    pub fn sync_dir(&self, path: &str) -> Result<(), SandboxError> {
        let rel = check_path(path)?;
        let dir = self.dir(rel, path)?;
        // A directory opened with O_PATH cannot be synced: open it again for reading.
        let fd = openat(
            dir.fd(),
            c".",
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            0,
        )
        .map_err(|e| SandboxError::os("open", path, e))?;
        File::from(fd)
            .sync_all()
            .map_err(|e| SandboxError::os("sync", path, e))
    }

    /// Removes the file (or symlink) `path`; a missing one is not an error.
    pub fn remove_file(&self, path: &str) -> Result<(), SandboxError> {
        let (dir, name) = self.parent(path)?;
        // SAFETY: `name` is NUL-terminated and outlives the call; `dir` is open.
        match cvt(unsafe { libc::unlinkat(dir.fd().as_raw_fd(), name.as_ptr(), 0) }) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(SandboxError::os("remove", path, e)),
        }
    }

    /// Creates the symbolic link `path` pointing at `to` (stored as given, never resolved
    /// here); an existing `path` is an error.
    pub fn symlink(&self, to: &str, path: &str) -> Result<(), SandboxError> {
        let (dir, name) = self.parent(path)?;
        let to_c = c_name(path, to)?;
        // SAFETY: both strings are NUL-terminated and outlive the call; `dir` is open.
        let ret = unsafe { libc::symlinkat(to_c.as_ptr(), dir.fd().as_raw_fd(), name.as_ptr()) };
        cvt(ret)
            .map(drop)
            .map_err(|e| SandboxError::os("create the link", path, e))
    }

    /// The target of the symbolic link `path`; `None` when `path` is not a link.
    pub fn read_link(&self, path: &str) -> Result<Option<String>, SandboxError> {
        let (dir, name) = self.parent(path)?;
        let mut buf = vec![0u8; libc::PATH_MAX as usize];
        // SAFETY: `name` is NUL-terminated; `buf` is writable for its whole length.
        let ret = unsafe {
            libc::readlinkat(
                dir.fd().as_raw_fd(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if ret < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EINVAL | libc::ENOENT) => Ok(None),
                _ => Err(SandboxError::os("read the link", path, e)),
            };
        }
        buf.truncate(ret as usize);
        Ok(String::from_utf8(buf).ok())
    }

    /// Sets the modification time of `path` (a final symlink is not followed).
    pub fn set_mtime(&self, path: &str, mtime_us: i64) -> Result<(), SandboxError> {
        let (dir, name) = self.parent(path)?;
        let times = mtime_times(mtime_us);
        // SAFETY: `name` is NUL-terminated, `times` points at two timespecs.
        let ret = unsafe {
            libc::utimensat(
                dir.fd().as_raw_fd(),
                name.as_ptr(),
                times.as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        cvt(ret)
            .map(drop)
            .map_err(|e| SandboxError::os("set times of", path, e))
    }
}

/// `renameat` from `(dir, name)` to `(dir, name)`; with `replace` false an existing target is
/// never replaced (`renameat2(RENAME_NOREPLACE)`; on file systems without it, a check followed
/// by `renameat`).
fn rename_at(
    (from_dir, from): (BorrowedFd<'_>, &CStr),
    (to_dir, to): (BorrowedFd<'_>, &CStr),
    replace: bool,
) -> io::Result<()> {
    let renameat = || {
        // SAFETY: both names are NUL-terminated and outlive the call; the descriptors are open.
        let ret = unsafe {
            libc::renameat(
                from_dir.as_raw_fd(),
                from.as_ptr(),
                to_dir.as_raw_fd(),
                to.as_ptr(),
            )
        };
        cvt(ret)
    };
    if replace {
        return renameat().map(drop);
    }
    // SAFETY: as above.
    let ret = unsafe {
        libc::renameat2(
            from_dir.as_raw_fd(),
            from.as_ptr(),
            to_dir.as_raw_fd(),
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    match cvt(ret) {
        // The file system does not support RENAME_NOREPLACE.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => match fstatat_nofollow(to_dir, to) {
            Ok(_) => Err(io::Error::from_raw_os_error(libc::EEXIST)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => renameat().map(drop),
            Err(e) => Err(e),
        },
        other => other.map(drop),
    }
}

/// Unix microseconds of a `stat` time (seconds and nanoseconds).
pub(crate) fn unix_us(secs: i64, nsec: i64) -> i64 {
    secs.saturating_mul(1_000_000).saturating_add(nsec / 1_000)
}

/// `[atime, mtime]` for `utimensat`/`futimens`: the access time is left alone.
fn mtime_times(mtime_us: i64) -> [libc::timespec; 2] {
    [
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        libc::timespec {
            tv_sec: mtime_us.div_euclid(1_000_000) as _,
            tv_nsec: (mtime_us.rem_euclid(1_000_000) * 1_000) as _,
        },
    ]
}

/// Sets the modification time of an open file (`futimens`).
pub fn set_file_mtime(file: &File, mtime_us: i64) -> io::Result<()> {
    let times = mtime_times(mtime_us);
    // SAFETY: `file` is open and `times` points at two timespecs.
    cvt(unsafe { libc::futimens(file.as_raw_fd(), times.as_ptr()) }).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    /// One sandbox per resolver: `openat2` and the component-by-component fallback.
    fn sandboxes(root: &Path) -> [Sandbox; 2] {
        let with = Sandbox::open(root).unwrap();
        let without = Sandbox::open(root).unwrap();
        without.openat2.store(false, Ordering::Relaxed);
        [with, without]
    }

    fn refusal(err: SandboxError) -> Refusal {
        match err {
            SandboxError::Refused { reason, .. } => reason,
            other => panic!("expected a refusal, got {other}"),
        }
    }

    #[test]
    fn malformed_paths_are_refused_with_their_reason() {
        let long_name = "n".repeat(256);
        let long_path = "d/".repeat(2049);
        let cases = [
            ("/etc/passwd", Refusal::Absolute),
            ("a/../../b", Refusal::ParentComponent),
            ("..", Refusal::ParentComponent),
            ("./a", Refusal::CurrentComponent),
            ("a/./b", Refusal::CurrentComponent),
            ("a//b", Refusal::EmptyComponent),
            ("a//", Refusal::EmptyComponent),
            ("a\0b", Refusal::Nul),
            ("a\\..\\b", Refusal::Backslash),
            (long_name.as_str(), Refusal::NameTooLong),
            (long_path.as_str(), Refusal::PathTooLong),
        ];
        for (path, reason) in cases {
            let err = check_path(path).unwrap_err();
            assert!(err.to_string().contains(&format!("{path:?}")), "{err}");
            assert_eq!(refusal(err), reason, "{path:?}");
        }
        assert_eq!(check_path("a/b/").unwrap(), "a/b");
        assert_eq!(check_path("").unwrap(), "");
        assert_eq!(check_path(&"n".repeat(255)).unwrap().len(), 255);
    }

    #[test]
    fn every_operation_refuses_malformed_paths_and_creates_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        fs::create_dir(&root).unwrap();
        for sb in sandboxes(&root) {
            for path in ["../x", "/tmp/x", "a/../../x", "a\\b"] {
                assert!(sb.create_dirs(path).is_err());
                assert!(sb.open_file(path, Access::ReadWriteCreate).is_err());
                assert!(sb.stat(path).is_err());
                assert!(sb.set_mtime(path, 0).is_err());
            }
            assert_eq!(
                refusal(sb.open_file("", Access::Read).unwrap_err()),
                Refusal::Empty
            );
            sb.open_file("f", Access::ReadWriteCreate).unwrap();
            assert_eq!(
                refusal(sb.rename("f", "../g", true).unwrap_err()),
                Refusal::NotAName
            );
            assert_eq!(
                refusal(sb.rename("f", "..", true).unwrap_err()),
                Refusal::ParentComponent
            );
            fs::remove_file(root.join("f")).unwrap();
        }
        assert_eq!(
            fs::read_dir(tmp.path()).unwrap().count(),
            1,
            "only the root exists"
        );
        assert_eq!(fs::read_dir(&root).unwrap().count(), 0);
    }

    #[test]
    fn nested_creation_open_stat_rename_and_times() {
        let tmp = tempfile::tempdir().unwrap();
        for (i, sb) in sandboxes(tmp.path()).into_iter().enumerate() {
            let dir = format!("r{i}/a/b/c/");
            sb.create_dirs(&dir).unwrap();
            sb.create_dirs(&dir).unwrap();
            assert!(tmp.path().join(format!("r{i}/a/b/c")).is_dir());
            let path = format!("r{i}/a/b/c/file");
            assert_eq!(sb.stat(&path).unwrap(), None);
            assert_eq!(sb.stat(&format!("r{i}/missing/file")).unwrap(), None);
            let file = sb.open_file(&path, Access::ReadWriteCreate).unwrap();
            file.set_len(5).unwrap();
            set_file_mtime(&file, 1_500_000_000_123_456).unwrap();
            let st = sb.stat(&path).unwrap().unwrap();
            assert_eq!(
                (st.kind, st.size, st.mtime_us),
                (StatKind::File, 5, 1_500_000_000_123_456)
            );
            sb.set_mtime(&path, -1_000_001).unwrap();
            assert_eq!(sb.stat(&path).unwrap().unwrap().mtime_us, -1_000_001);
            assert_eq!(sb.stat(&dir).unwrap().unwrap().kind, StatKind::Directory);

            let other = format!("r{i}/a/b/c/other");
            sb.open_file(&other, Access::ReadWriteCreate).unwrap();
            assert!(
                sb.rename(&other, "file", false).is_err(),
                "no-replace keeps the target"
            );
            sb.rename(&other, "file", true).unwrap();
            assert_eq!(sb.stat(&path).unwrap().unwrap().size, 0);
            assert_eq!(sb.stat(&other).unwrap(), None);
            sb.rename(&path, "moved", false).unwrap();
            assert!(tmp.path().join(format!("r{i}/a/b/c/moved")).is_file());
        }
    }

    #[test]
    fn components_that_are_files_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("file"), b"x").unwrap();
        for sb in sandboxes(tmp.path()) {
            let err = sb.create_dirs("file/sub").unwrap_err();
            assert_eq!(refusal(err), Refusal::NotADirectory);
            let err = sb
                .open_file("file/sub", Access::ReadWriteCreate)
                .unwrap_err();
            assert_eq!(refusal(err), Refusal::NotADirectory);
            sb.create_dirs("d").unwrap();
            let err = sb.open_file("d", Access::Read).unwrap_err();
            assert!(matches!(
                err,
                SandboxError::Io { .. } | SandboxError::Refused { .. }
            ));
        }
    }

    #[test]
    fn planted_symlinks_are_never_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let outside = tmp.path().join("outside");
        fs::create_dir(&root).unwrap();
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("secret"), b"keep").unwrap();
        symlink(&outside, root.join("to_dir")).unwrap();
        symlink(outside.join("secret"), root.join("to_file")).unwrap();
        symlink(outside.join("absent"), root.join("dangling")).unwrap();
        symlink("../outside", root.join("relative")).unwrap();
        fs::create_dir(root.join("real")).unwrap();
        symlink("..", root.join("real/up")).unwrap();

        for sb in sandboxes(&root) {
            for dir in ["to_dir", "relative", "real/up"] {
                assert!(sb.create_dirs(&format!("{dir}/new")).is_err(), "{dir}");
                for name in ["secret", "new"] {
                    let path = format!("{dir}/{name}");
                    assert!(
                        sb.open_file(&path, Access::ReadWriteCreate).is_err(),
                        "{path}"
                    );
                    assert!(sb.open_file(&path, Access::Read).is_err(), "{path}");
                    assert!(sb.set_mtime(&path, 0).is_err(), "{path}");
                    assert!(sb.stat(&path).is_err(), "{path}");
                }
            }
            for link in ["to_file", "dangling"] {
                let err = sb.open_file(link, Access::ReadWriteCreate).unwrap_err();
                assert_eq!(refusal(err), Refusal::Symlink, "{link}");
                assert_eq!(sb.stat(link).unwrap().unwrap().kind, StatKind::Symlink);
            }
            // A symlink as the last component of a directory path is not a directory.
            assert!(sb.create_dirs("to_dir").is_err());
        }
        let mut names: Vec<_> = fs::read_dir(&outside)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["secret"]);
        assert_eq!(fs::read(outside.join("secret")).unwrap(), b"keep");
        assert!(!tmp.path().join("new").exists());
    }

    #[test]
    fn fifos_are_refused_without_blocking() {
        let tmp = tempfile::tempdir().unwrap();
        let fifo = CString::new(
            tmp.path()
                .join("fifo")
                .into_os_string()
                .into_encoded_bytes(),
        )
        .unwrap();
        // SAFETY: `fifo` is NUL-terminated.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        let sb = Sandbox::open(tmp.path()).unwrap();
        for access in [Access::Read, Access::ReadWriteCreate] {
            let err = sb.open_file("fifo", access).unwrap_err();
            assert_eq!(refusal(err), Refusal::NotARegularFile);
        }
    }

    #[test]
    fn missing_root_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("missing");
        let err = Sandbox::open(&missing).unwrap_err();
        assert!(
            err.to_string().contains(&missing.display().to_string()),
            "{err}"
        );
    }
}
