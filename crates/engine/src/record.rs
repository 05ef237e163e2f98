//! The receiver's durable record of a file it is writing: which file it is (size and
//! modification time of the source), how many bytes from its start were on stable storage when
//! the record was written, and when that was. The data is synced before the record is set, so
//! the record never claims more than the disk holds; a later session that finds a matching
//! record keeps those bytes, and any other file (no record, another size or time) starts from
//! nothing.
//!
//! A record lives in one of two stores behind [`Store`]: an extended attribute on the file
//! (`user.jetstream.resume`), or, on a file system without user extended attributes, a sidecar
//! file beside it (`NAME` + [`RECORD_SUFFIX`]). The store is found per file by asking its file
//! system for the attribute: the answer "not supported" selects the sidecar.

use crate::sandbox::{Access, Sandbox, SandboxError};
use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::time::{SystemTime, UNIX_EPOCH};

/// The attribute's name.
const NAME: &CStr = c"user.jetstream.resume";
/// Longest record text.
const MAX_LEN: usize = 96;
/// Suffix of the sidecar file holding the record of `NAME` where extended attributes are
/// missing. Names ending in it are the receiver's own: never received, never listed.
pub const RECORD_SUFFIX: &str = ".jetrecord";
/// Length of a sidecar: the record text and its checksum, padded with spaces, so that each
/// write replaces the whole of the previous one.
const SIDECAR_LEN: usize = MAX_LEN + 1 + CHECKSUM_LEN;
/// Hex digits of the sidecar's checksum.
const CHECKSUM_LEN: usize = 16;

/// What a record says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// The source file's size.
    pub size: u64,
    /// The source file's modification time, Unix microseconds.
    pub mtime_us: i64,
    /// Bytes `0..durable` are on stable storage.
    pub durable: u64,
    /// When the record was written, Unix microseconds: how old the durable data is.
    pub written_us: i64,
}

/// Where the record of one file is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Store {
    /// An extended attribute on the file itself.
    Xattr,
    /// A sidecar file beside it, for file systems without user extended attributes.
    Sidecar,
}

impl Record {
    /// A record of bytes `0..durable` of the source of this `size` and `mtime_us`, written now.
    pub fn now(size: u64, mtime_us: i64, durable: u64) -> Record {
        Record {
            size,
            mtime_us,
            durable,
            written_us: unix_now_us(),
        }
    }

    /// How many bytes from the start of `file` (at `path` beneath `sandbox`) hold the source
    /// of this `size` and `mtime_us` durably, according to its record (0 without one, or with
    /// another file's).
    pub fn held(sandbox: &Sandbox, path: &str, file: &File, size: u64, mtime_us: i64) -> u64 {
        match read(sandbox, path, file) {
            Some(r) if r.size == size && r.mtime_us == mtime_us => {
                let len = file.metadata().map_or(0, |m| m.len());
                r.durable.min(size).min(len)
            }
            _ => 0,
        }
    }

    /// Sets the record of `file` (at `path` beneath `sandbox`): call only once its bytes
    /// `0..durable` are synced.
    pub fn write(&self, sandbox: &Sandbox, path: &str, file: &File) -> io::Result<()> {
        let text = self.text();
        match Store::of(file)? {
            Store::Xattr => set_xattr(file, &text),
            Store::Sidecar => write_sidecar(sandbox, path, &text),
        }
    }

    /// Removes the record of `file` (at `path` beneath `sandbox`), if it has one: a finished
    /// file keeps none.
    pub fn clear(sandbox: &Sandbox, path: &str, file: &File) -> io::Result<()> {
        match Store::of(file)? {
            Store::Xattr => remove_xattr(file),
            Store::Sidecar => forget(sandbox, path).map_err(io::Error::other),
        }
    }

    fn text(&self) -> String {
        format!(
            "1 {} {} {} {}",
            self.size, self.mtime_us, self.durable, self.written_us
        )
    }

    /// The record a text holds; one written before records had a time is dated `written_us`.
    fn parse(text: &str, written_us: i64) -> Option<Record> {
        let mut fields = text.split(' ');
        if fields.next()? != "1" {
            return None;
        }
        let record = Record {
            size: fields.next()?.parse().ok()?,
            mtime_us: fields.next()?.parse().ok()?,
            durable: fields.next()?.parse().ok()?,
            written_us: match fields.next() {
                Some(at) => at.parse().ok()?,
                None => written_us,
            },
        };
        fields.next().is_none().then_some(record)
    }
}

impl Store {
    /// The store of `file`'s record: the attribute, unless its file system keeps none.
    fn of(file: &File) -> io::Result<Store> {
        // SAFETY: `file` is open and `NAME` is NUL-terminated; a null buffer of length 0 only
        // asks for the attribute's size.
        let n =
            unsafe { libc::fgetxattr(file.as_raw_fd(), NAME.as_ptr(), std::ptr::null_mut(), 0) };
        if n >= 0 {
            return Ok(Store::Xattr);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ENODATA) => Ok(Store::Xattr),
            _ if unsupported(&e) => Ok(Store::Sidecar),
            _ => Err(e),
        }
    }
}

/// The record of `file` (at `path` beneath `sandbox`), if it has a well-formed one.
pub fn read(sandbox: &Sandbox, path: &str, file: &File) -> Option<Record> {
    let mut buf = [0u8; SIDECAR_LEN];
    let text = match Store::of(file).ok()? {
        Store::Xattr => {
            // SAFETY: `file` is open, `NAME` is NUL-terminated and `buf` is writable for its
            // length.
            let n = unsafe {
                libc::fgetxattr(
                    file.as_raw_fd(),
                    NAME.as_ptr(),
                    buf.as_mut_ptr().cast(),
                    MAX_LEN,
                )
            };
            std::str::from_utf8(buf.get(..usize::try_from(n).ok()?)?).ok()?
        }
        Store::Sidecar => read_sidecar(sandbox, path, &mut buf)?,
    };
    // A record of the old form, without its time, counts from the file's last change.
    let changed = file
        .metadata()
        .map_or(0, |m| m.mtime().saturating_mul(1_000_000));
    Record::parse(text, changed)
}

/// Removes the sidecar of the file at `path`, if there is one (an attribute goes with its
/// file).
pub fn forget(sandbox: &Sandbox, path: &str) -> Result<(), SandboxError> {
    sandbox.remove_file(&sidecar(path))
}

/// The sidecar's path of the file at `path`.
fn sidecar(path: &str) -> String {
    format!("{path}{RECORD_SUFFIX}")
}

fn set_xattr(file: &File, text: &str) -> io::Result<()> {
    // SAFETY: `file` is open, `NAME` is NUL-terminated and `text` outlives the call.
    let ret = unsafe {
        libc::fsetxattr(
            file.as_raw_fd(),
            NAME.as_ptr(),
            text.as_ptr().cast(),
            text.len(),
            0,
        )
    };
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn remove_xattr(file: &File) -> io::Result<()> {
    // SAFETY: `file` is open and `NAME` is NUL-terminated.
    if unsafe { libc::fremovexattr(file.as_raw_fd(), NAME.as_ptr()) } == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::ENODATA) {
        return Ok(());
    }
    Err(e)
}

/// Writes a sidecar in place, whole, with the checksum of its text, and syncs it. A write that
/// a crash cuts short fails its checksum and the file starts again from nothing; one that is
/// not durable leaves the previous record, which claims less: neither claims more than the
/// disk holds, so neither a temporary file nor a sync of the directory is needed. Writers of
/// one sidecar (an old session and the one that took the file over) each replace all of it.
fn write_sidecar(sandbox: &Sandbox, path: &str, text: &str) -> io::Result<()> {
    let mut content = format!("{text} {}", checksum(text));
    content.extend(std::iter::repeat_n(' ', SIDECAR_LEN - content.len()));
    let file = sandbox
        .open_file(&sidecar(path), Access::ReadWriteCreate)
        .map_err(io::Error::other)?;
    file.write_all_at(content.as_bytes(), 0)?;
    file.sync_data()
}

/// The text of the sidecar of `path`, when it is whole (its checksum holds).
fn read_sidecar<'a>(sandbox: &Sandbox, path: &str, buf: &'a mut [u8]) -> Option<&'a str> {
    let file = sandbox.open_file(&sidecar(path), Access::Read).ok()?;
    let n = file.read_at(buf, 0).ok()?;
    let content = std::str::from_utf8(buf.get(..n)?)
        .ok()?
        .trim_end_matches(' ');
    let (text, sum) = content.rsplit_once(' ')?;
    (sum == checksum(text)).then_some(text)
}

fn checksum(text: &str) -> String {
    blake3::hash(text.as_bytes()).to_hex()[..CHECKSUM_LEN].to_owned()
}

/// Whether `e` says the file system keeps no user extended attributes.
fn unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOTSUP | libc::EPERM))
}

/// The time now, Unix microseconds.
pub fn unix_now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_holds_only_for_the_same_source() {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = Sandbox::open(dir.path()).unwrap();
        std::fs::write(dir.path().join("f"), vec![1u8; 1000]).unwrap();
        let file = sandbox.open_file("f", Access::Read).unwrap();
        assert_eq!(
            Record::held(&sandbox, "f", &file, 1000, 5),
            0,
            "no record yet"
        );
        let record = Record::now(1000, 5, 600);
        record.write(&sandbox, "f", &file).unwrap();
        assert_eq!(read(&sandbox, "f", &file), Some(record));
        assert_eq!(Record::held(&sandbox, "f", &file, 1000, 5), 600);
        assert_eq!(
            Record::held(&sandbox, "f", &file, 1000, 6),
            0,
            "another time"
        );
        assert_eq!(
            Record::held(&sandbox, "f", &file, 2000, 5),
            0,
            "another size"
        );
        Record::clear(&sandbox, "f", &file).unwrap();
        assert_eq!(Record::held(&sandbox, "f", &file, 1000, 5), 0);
        Record::clear(&sandbox, "f", &file).unwrap();
    }

    #[test]
    fn a_record_of_the_old_form_counts_from_the_files_time() {
        assert_eq!(
            Record::parse("1 10 20 5", 77),
            Some(Record {
                size: 10,
                mtime_us: 20,
                durable: 5,
                written_us: 77
            })
        );
        assert_eq!(Record::parse("1 10 20 5 9", 77).unwrap().written_us, 9);
        assert_eq!(Record::parse("2 10 20 5 9", 77), None);
        assert_eq!(Record::parse("1 10 20 5 9 1", 77), None);
        assert_eq!(Record::parse("1 10 x 5", 77), None);
    }
}
