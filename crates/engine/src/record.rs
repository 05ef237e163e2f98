//! The receiver's durable record of a file it is writing: an extended attribute on the file
//! being written (`user.jetstream.resume`) saying which file it is (size and modification time
//! of the source) and how many bytes from its start were on stable storage when the record was
//! written. The data is synced before the record is set, so the record never claims more than
//! the disk holds; a later session that finds a matching record keeps those bytes, and any
//! other file (no record, another size or time) starts from nothing. File systems without
//! user extended attributes keep no record: their files start again from nothing.

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// The attribute's name.
const NAME: &CStr = c"user.jetstream.resume";
/// Longest record text.
const MAX_LEN: usize = 64;

/// What a record says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// The source file's size.
    pub size: u64,
    /// The source file's modification time, Unix microseconds.
    pub mtime_us: i64,
    /// Bytes `0..durable` are on stable storage.
    pub durable: u64,
}

impl Record {
    /// How many bytes from the start of `file` hold the source of this `size` and `mtime_us`
    /// durably, according to its record (0 without one, or with another file's).
    pub fn held(file: &File, size: u64, mtime_us: i64) -> u64 {
        match read(file) {
            Some(r) if r.size == size && r.mtime_us == mtime_us => {
                let len = file.metadata().map_or(0, |m| m.len());
                r.durable.min(size).min(len)
            }
            _ => 0,
        }
    }

    /// Sets the record of `file`: call only once its bytes `0..durable` are synced.
    /// File systems without user extended attributes are left without one.
    pub fn write(&self, file: &File) -> io::Result<()> {
        let text = format!("1 {} {} {}", self.size, self.mtime_us, self.durable);
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
        if ret == 0 || unsupported(&io::Error::last_os_error()) {
            return Ok(());
        }
        Err(io::Error::last_os_error())
    }

    /// Removes the record of `file`, if it has one (a finished file keeps none).
    pub fn clear(file: &File) -> io::Result<()> {
        // SAFETY: `file` is open and `NAME` is NUL-terminated.
        if unsafe { libc::fremovexattr(file.as_raw_fd(), NAME.as_ptr()) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENODATA) || unsupported(&e) {
            return Ok(());
        }
        Err(e)
    }
}

/// The record of `file`, if it has a well-formed one.
pub fn read(file: &File) -> Option<Record> {
    let mut buf = [0u8; MAX_LEN];
    // SAFETY: `file` is open, `NAME` is NUL-terminated and `buf` is writable for its length.
    let n = unsafe {
        libc::fgetxattr(
            file.as_raw_fd(),
            NAME.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    let text = std::str::from_utf8(buf.get(..usize::try_from(n).ok()?)?).ok()?;
    let mut fields = text.split(' ');
    if fields.next()? != "1" {
        return None;
    }
    let record = Record {
        size: fields.next()?.parse().ok()?,
        mtime_us: fields.next()?.parse().ok()?,
        durable: fields.next()?.parse().ok()?,
    };
    fields.next().is_none().then_some(record)
}

/// Whether `e` says the file system keeps no user extended attributes.
fn unsupported(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOTSUP | libc::EPERM))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_holds_only_for_the_same_source() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![1u8; 1000]).unwrap();
        let file = File::open(&path).unwrap();
        assert_eq!(Record::held(&file, 1000, 5), 0, "no record yet");
        let record = Record {
            size: 1000,
            mtime_us: 5,
            durable: 600,
        };
        record.write(&file).unwrap();
        if read(&file).is_none() {
            // This file system keeps no user attributes: nothing more to check here.
            return;
        }
        assert_eq!(Record::held(&file, 1000, 5), 600);
        assert_eq!(Record::held(&file, 1000, 6), 0, "another modification time");
        assert_eq!(Record::held(&file, 2000, 5), 0, "another size");
        Record::clear(&file).unwrap();
        assert_eq!(Record::held(&file, 1000, 5), 0);
        Record::clear(&file).unwrap();
    }
}
