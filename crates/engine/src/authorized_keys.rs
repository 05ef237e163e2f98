//! A receiver's authorized-keys file: the sender keys it accepts, in the shape of OpenSSH's
//! `authorized_keys`, read again whenever it changes.
//!
//! One key a line (64 hex digits), optionally followed by whitespace and a comment; blank lines
//! and lines starting with `#` are ignored. A change is noticed by the file's identity, size
//! and times, checked by [`AuthorizedKeys::refresh`] (one `stat`). A file that can no longer be
//! read or parsed trusts no key until it is fixed: a mistake while editing it never leaves a
//! withdrawn key in force.

use jetstream_wire::crypto::handshake::PublicKey;
use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Why an authorized-keys file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizedKeysError {
    /// The file cannot be read.
    #[error("authorized keys {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What reading it gave.
        source: io::Error,
    },
    /// A line is not a key with an optional comment.
    #[error("authorized keys {} line {line}: {reason}", path.display())]
    BadLine {
        /// The file.
        path: PathBuf,
        /// The line's number, from 1.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
}

impl From<AuthorizedKeysError> for crate::error::Error {
    fn from(e: AuthorizedKeysError) -> Self {
        use crate::error::{Code, Error};
        let code = match &e {
            AuthorizedKeysError::Read { source, .. }
                if source.kind() == io::ErrorKind::NotFound =>
            {
                Code::NotFound
            }
            AuthorizedKeysError::Read { .. } => Code::Io,
            AuthorizedKeysError::BadLine { .. } => Code::InvalidArgument,
        };
        Error::new(code, e.to_string()).with_source(e)
    }
}

/// What [`AuthorizedKeys::refresh`] found.
#[derive(Debug)]
pub enum Refresh {
    /// The file is as it was read last.
    Unchanged,
    /// The file changed and was read again: it holds this many keys.
    Reloaded(usize),
}

/// What identifies one version of the file: replaced (a new inode), rewritten or touched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Stamp {
    fn of(meta: &fs::Metadata) -> Stamp {
        let ns = |secs: i64, nanos: i64| i128::from(secs) * 1_000_000_000 + i128::from(nanos);
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// The keys of an authorized-keys file, as of its last reading.
#[derive(Debug)]
pub struct AuthorizedKeys {
    path: PathBuf,
    keys: HashSet<PublicKey>,
    /// The version read last; `None` when it could not be stat'ed.
    stamp: Option<Stamp>,
}

impl AuthorizedKeys {
    /// Reads the file at `path`; an unreadable file or a bad line is an error.
    pub fn load(path: &Path) -> Result<AuthorizedKeys, AuthorizedKeysError> {
        let mut file = AuthorizedKeys {
            path: path.to_path_buf(),
            keys: HashSet::new(),
            stamp: None,
        };
        file.read()?;
        Ok(file)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many distinct keys it holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether it holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether `key` is authorized.
    pub fn contains(&self, key: &PublicKey) -> bool {
        self.keys.contains(key)
    }

    /// Reads the file again if it changed since it was read. On an error it trusts no key
    /// (until the file changes again and reads well); the error is returned once per change.
    pub fn refresh(&mut self) -> Result<Refresh, AuthorizedKeysError> {
        // A file still missing compares equal too: that was reported when it went.
        let now = fs::metadata(&self.path).ok().map(|meta| Stamp::of(&meta));
        if now == self.stamp {
            return Ok(Refresh::Unchanged);
        }
        match self.read() {
            Ok(()) => Ok(Refresh::Reloaded(self.keys.len())),
            Err(e) => {
                self.keys.clear();
                Err(e)
            }
        }
    }

    /// Reads and parses the file, replacing the keys only if every line is good.
    fn read(&mut self) -> Result<(), AuthorizedKeysError> {
        let read_error = |source| AuthorizedKeysError::Read {
            path: self.path.clone(),
            source,
        };
        // The stamp before the contents: a change made while reading is seen next time.
        let meta = fs::metadata(&self.path);
        self.stamp = meta.as_ref().ok().map(Stamp::of);
        meta.map_err(read_error)?;
        let text = fs::read_to_string(&self.path).map_err(read_error)?;
        self.keys = parse(&text).map_err(|(line, reason)| AuthorizedKeysError::BadLine {
            path: self.path.clone(),
            line,
            reason,
        })?;
        Ok(())
    }
}

/// The keys of an authorized-keys text, or the first bad line's number and what is wrong.
fn parse(text: &str) -> Result<HashSet<PublicKey>, (usize, String)> {
    let mut keys = HashSet::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let word = line.split_whitespace().next().unwrap_or(line);
        let key = word.parse::<PublicKey>().map_err(|_| {
            (
                index + 1,
                format!("{word:?} is not a public key (64 hex digits, then an optional comment)"),
            )
        })?;
        keys.insert(key);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222222222222222222222222222";

    fn key(hex: &str) -> PublicKey {
        hex.parse().unwrap()
    }

    #[test]
    fn keys_comments_and_blank_lines_are_read_as_openssh_does() {
        let text = format!("# build hosts\n\n{A} ci-runner 3\n  {B}\t# laptop\n{A}\n");
        let keys = parse(&text).unwrap();
        assert_eq!(keys, HashSet::from([key(A), key(B)]));
    }

    #[test]
    fn a_bad_line_is_named_by_its_number() {
        let text = format!("# ok\n{A}\nssh-ed25519 AAAAC3Nz laptop\n");
        let (line, reason) = parse(&text).unwrap_err();
        assert_eq!(line, 3);
        assert!(reason.contains("\"ssh-ed25519\""), "{reason}");
    }

    #[test]
    fn a_changed_file_is_read_again_and_a_broken_one_trusts_no_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authorized_keys");
        fs::write(&path, format!("{A}\n")).unwrap();
        let mut file = AuthorizedKeys::load(&path).unwrap();
        assert!(file.contains(&key(A)) && !file.contains(&key(B)));
        assert!(matches!(file.refresh().unwrap(), Refresh::Unchanged));

        fs::write(&path, format!("{A}\n{B} added\n")).unwrap();
        assert!(matches!(file.refresh().unwrap(), Refresh::Reloaded(2)));
        assert!(file.contains(&key(B)));

        fs::write(&path, format!("{A}\nnot-a-key\n")).unwrap();
        let err = file.refresh().unwrap_err();
        assert!(
            matches!(err, AuthorizedKeysError::BadLine { line: 2, .. }),
            "{err}"
        );
        assert!(file.is_empty());
        // Reported once; still trusting nothing until it changes.
        assert!(matches!(file.refresh().unwrap(), Refresh::Unchanged));
        assert!(!file.contains(&key(A)));

        fs::remove_file(&path).unwrap();
        assert!(matches!(
            file.refresh(),
            Err(AuthorizedKeysError::Read { .. })
        ));
        assert!(matches!(file.refresh().unwrap(), Refresh::Unchanged));
        fs::write(&path, format!("{B}\n")).unwrap();
        assert!(matches!(file.refresh().unwrap(), Refresh::Reloaded(1)));
        assert!(file.contains(&key(B)) && !file.contains(&key(A)));
    }
}
