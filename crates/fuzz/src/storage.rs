//! In-memory file storage for the sessions, checking every call against the contract of
//! [`DataSource`] and [`DataSink`]: reads stay inside the announced files, bytes are placed only
//! inside a file's announced size and only once, a file is finished only when every byte is in,
//! durability is asked only for bytes that arrived. A broken rule panics, which the fuzzer
//! reports like a crash.

use std::collections::{HashMap, VecDeque};

use arbitrary::Arbitrary;
use jetstream_wire::files::{
    DataSink, DataSource, Digest, EntryKind, FileMeta, SinkReport, StorageError, TransferHeader,
};
use jetstream_wire::ranges::RangeSet;
use jetstream_wire::session::{ErrorCode, SessionError};

/// The byte at `offset` of `file` in every file the harness sends.
pub fn pattern(file: u32, offset: u64) -> u8 {
    (offset as u8) ^ (offset >> 8) as u8 ^ (file as u8).rotate_left(3)
}

/// The digest the source gives for `file`.
pub fn digest_of(file: u32) -> Digest {
    let mut digest = [0x5a; 32];
    digest[..4].copy_from_slice(&file.to_be_bytes());
    digest
}

/// How the source behaves, as the fuzzer picks it.
#[derive(Arbitrary, Clone, Debug, Default)]
pub struct SourceSpec {
    /// Polls answered "not known yet" before a digest is given.
    pub digest_delay: u8,
    /// A file whose reads fail.
    pub failing: Option<u8>,
}

/// A [`DataSource`] of patterned files of the given sizes.
#[derive(Debug)]
pub struct PatternSource {
    sizes: Vec<u64>,
    spec: SourceSpec,
    digest_polls: u32,
}

impl PatternSource {
    /// Files of `sizes` bytes.
    pub fn new(sizes: Vec<u64>, spec: SourceSpec) -> Self {
        PatternSource {
            sizes,
            spec,
            digest_polls: 0,
        }
    }
}

impl DataSource for PatternSource {
    fn read_at(&mut self, file: u32, offset: u64, buf: &mut [u8]) -> Result<(), StorageError> {
        let size = self.sizes[file as usize];
        let end = offset.checked_add(buf.len() as u64);
        assert!(
            end.is_some_and(|end| end <= size),
            "read of {} bytes at {offset} of file {file} ({size} bytes)",
            buf.len()
        );
        if self.spec.failing == Some(file as u8) {
            return Err(StorageError {
                file,
                message: "read failed".into(),
            });
        }
        // Counted from the buffer: `offset..` would step past the file's last byte, and
        // overflow at the end of a file of the largest size.
        for (i, byte) in buf.iter_mut().enumerate() {
            *byte = pattern(file, offset + i as u64);
        }
        Ok(())
    }

    fn digest(&mut self, file: u32) -> Result<Option<Digest>, StorageError> {
        assert!((file as usize) < self.sizes.len(), "digest of file {file}");
        self.digest_polls += 1;
        if self.digest_polls <= u32::from(self.spec.digest_delay) {
            return Ok(None);
        }
        Ok(Some(digest_of(file)))
    }
}

/// How the sink behaves, as the fuzzer picks it.
#[derive(Arbitrary, Clone, Debug, Default)]
pub struct SinkSpec {
    /// Per file index, the bytes an earlier session left durable (clamped by the session).
    pub held: Vec<u64>,
    /// Files whose first finish finds their bytes unlike the digest.
    pub mismatched: Vec<u8>,
    /// Every call after this many fails.
    pub fail_after: Option<u16>,
}

/// A [`DataSink`] that records what the receiver does and checks it against the contract.
#[derive(Debug)]
pub struct CheckingSink {
    spec: SinkSpec,
    calls: u32,
    header: Option<TransferHeader>,
    metas: HashMap<u32, FileMeta>,
    written: HashMap<u32, RangeSet>,
    finishing: RangeSet,
    placed: RangeSet,
    reports: VecDeque<SinkReport>,
}

impl CheckingSink {
    /// An empty sink behaving as `spec` says.
    pub fn new(spec: SinkSpec) -> Self {
        CheckingSink {
            spec,
            calls: 0,
            header: None,
            metas: HashMap::new(),
            written: HashMap::new(),
            finishing: RangeSet::new(),
            placed: RangeSet::new(),
            reports: VecDeque::new(),
        }
    }

    /// Sum of the announced sizes of the files opened.
    pub fn announced_bytes(&self) -> u64 {
        self.metas
            .values()
            .fold(0, |sum, m| sum.saturating_add(m.size))
    }

    /// The announced size of `file`, once opened.
    pub fn size_of(&self, file: u32) -> Option<u64> {
        self.metas.get(&file).map(|m| m.size)
    }

    /// Whether `file` was placed.
    pub fn is_placed(&self, file: u32) -> bool {
        self.placed.contains(file.into())
    }

    /// Counts a call; fails it once the spec says the storage broke.
    fn call(&mut self, file: u32) -> Result<(), StorageError> {
        self.calls += 1;
        match self.spec.fail_after {
            Some(n) if self.calls > u32::from(n) => Err(StorageError {
                file,
                message: "storage failed".into(),
            }),
            _ => Ok(()),
        }
    }

    fn meta(&self, file: u32) -> &FileMeta {
        self.metas
            .get(&file)
            .unwrap_or_else(|| panic!("file {file} used before it was opened"))
    }
}

impl DataSink for CheckingSink {
    fn begin(&mut self, header: &TransferHeader) -> Result<(), SessionError> {
        assert!(self.header.is_none(), "transfer begun twice");
        self.header = Some(header.clone());
        self.call(0).map_err(|e| SessionError {
            code: ErrorCode::Io,
            message: e.message,
            remote: false,
            file: None,
        })
    }

    fn open(&mut self, file: u32, meta: &FileMeta) -> Result<u64, StorageError> {
        assert!(
            self.header.is_some(),
            "file {file} opened before the transfer began"
        );
        assert!(
            self.metas.insert(file, meta.clone()).is_none(),
            "file {file} opened twice"
        );
        self.call(file)?;
        let held = self.spec.held.get(file as usize).copied().unwrap_or(0);
        self.written
            .entry(file)
            .or_default()
            .insert(0..held.min(meta.size));
        Ok(held)
    }

    fn write_at(&mut self, file: u32, offset: u64, data: &[u8]) -> Result<(), StorageError> {
        let size = self.meta(file).size;
        let end = offset + data.len() as u64;
        assert!(
            end <= size,
            "bytes {offset}..{end} of file {file} placed beyond its {size} bytes"
        );
        assert!(
            !self.finishing.contains(file.into()),
            "file {file} written while being finished"
        );
        let new = self.written.entry(file).or_default().insert(offset..end);
        assert_eq!(
            new,
            data.len() as u64,
            "bytes of file {file} at {offset} placed twice"
        );
        self.call(file)
    }

    fn finish(&mut self, file: u32, digest: Option<&Digest>) -> Result<(), StorageError> {
        let meta = self.meta(file).clone();
        let have = self.written.get(&file).map_or(0, RangeSet::len);
        assert_eq!(
            have, meta.size,
            "file {file} finished with {have} of {} bytes",
            meta.size
        );
        let verify = self.header.as_ref().is_some_and(|h| h.verify)
            && meta.kind == EntryKind::File
            && meta.size > 0;
        assert_eq!(
            digest.is_some(),
            verify,
            "file {file} finished with digest {digest:?}"
        );
        assert_eq!(
            self.finishing.insert(u64::from(file)..u64::from(file) + 1),
            1,
            "file {file} finished twice"
        );
        self.call(file)?;
        // Only a file checked against a digest can fail the check.
        let mismatch = digest.and(
            self.spec
                .mismatched
                .iter()
                .position(|&f| u32::from(f) == file),
        );
        if let Some(i) = mismatch {
            self.spec.mismatched.swap_remove(i);
            self.finishing.remove(u64::from(file)..u64::from(file) + 1);
            self.written.remove(&file);
            self.reports.push_back(SinkReport::Mismatch(file));
        } else {
            self.placed.insert(u64::from(file)..u64::from(file) + 1);
            self.reports.push_back(SinkReport::Placed(file));
        }
        Ok(())
    }

    fn sync(&mut self, files: &[(u32, u64)]) -> Result<(), StorageError> {
        for &(file, bytes) in files {
            let have = self.written.get(&file).map_or(0, |w| w.run_from(0));
            assert!(
                bytes <= have,
                "file {file}: sync of {bytes} bytes, {have} placed"
            );
            self.reports.push_back(SinkReport::Durable { file, bytes });
        }
        self.call(files.first().map_or(0, |f| f.0))
    }

    fn poll_report(&mut self) -> Result<Option<SinkReport>, StorageError> {
        Ok(self.reports.pop_front())
    }

    fn abandon(&mut self) -> Result<(), StorageError> {
        self.written.clear();
        self.call(0)
    }

    fn release(&mut self) -> Result<(), StorageError> {
        self.call(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_bytes_of_a_file_of_the_largest_size_are_read() {
        let mut source = PatternSource::new(vec![u64::MAX], SourceSpec::default());
        let mut buf = [0u8; 4];
        source.read_at(0, u64::MAX - 4, &mut buf).unwrap();
        assert_eq!(buf[3], pattern(0, u64::MAX - 1));
    }
}
