//! A sender's known-receivers file: the identity key each receiver proved at first contact, in
//! the shape of SSH's `known_hosts`, so that a receiver whose key changes — or someone standing
//! in for it — is refused.
//!
//! One receiver a line: `HOST:PORT KEY`, then optionally whitespace and a comment; blank lines
//! and lines starting with `#` are ignored. A receiver is named as the user names it (the host
//! in lower case), so `localhost:8886` and `127.0.0.1:8886` are two entries, as in SSH. The
//! first contact with a receiver appends its line; a later contact whose key matches no line of
//! that receiver is refused with both keys and the line, until the line is deleted or the new
//! key is pinned explicitly. A line that does not parse fails every check: the file is the
//! sender's memory of whom it trusts, and a damaged one is not guessed around.

use jetstream_wire::crypto::handshake::PublicKey;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// Serializes the reading and appending of every known-receivers file of this process, so
/// transfers that meet a new receiver together record it once.
static FILES: Mutex<()> = Mutex::new(());

/// Why a receiver's key was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum KnownReceiversError {
    /// The file cannot be read.
    #[error("known receivers {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What reading it gave.
        source: io::Error,
    },
    /// A new receiver's line cannot be added.
    #[error("cannot record a new receiver in {}: {source}", path.display())]
    Record {
        /// The file.
        path: PathBuf,
        /// What writing it gave.
        source: io::Error,
    },
    /// A line is not `HOST:PORT KEY` with an optional comment.
    #[error("known receivers {} line {line}: {reason}", path.display())]
    BadLine {
        /// The file.
        path: PathBuf,
        /// The line's number, from 1.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The receiver proved a key other than the one its line records.
    #[error(
        "receiver {receiver} presented key {presented}, but line {line} of {} records its key \
         as {known}: refused, as someone may be standing in for it. If its key did change, \
         delete line {line} of {} (the next transfer records the new key) or pin the new key \
         explicitly (--destination-key, or destinationPublicKey with authenticateDestination)",
        path.display(),
        path.display()
    )]
    Changed {
        /// The receiver, as named in the file.
        receiver: String,
        /// The key it proved now.
        presented: PublicKey,
        /// The key its line records.
        known: PublicKey,
        /// The file.
        path: PathBuf,
        /// The line's number, from 1.
        line: usize,
    },
}

impl From<KnownReceiversError> for crate::error::Error {
    fn from(e: KnownReceiversError) -> Self {
        use crate::error::{Code, Error};
        let code = match &e {
            KnownReceiversError::Read { .. } | KnownReceiversError::Record { .. } => Code::Io,
            KnownReceiversError::BadLine { .. } => Code::InvalidArgument,
            KnownReceiversError::Changed { .. } => Code::AuthFailed,
        };
        Error::new(code, e.to_string()).with_source(e)
    }
}

/// How a receiver's key was accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recognized {
    /// This line of the file records it.
    Known {
        /// The line's number, from 1.
        line: usize,
    },
    /// First contact: it was added as this line.
    Recorded {
        /// The line's number, from 1.
        line: usize,
    },
}

/// A known-receivers file (created at the first contact with a receiver).
#[derive(Clone, Debug)]
pub struct KnownReceivers {
    path: PathBuf,
}

impl KnownReceivers {
    /// The file at `path`; nothing is read until a receiver is checked.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        KnownReceivers { path: path.into() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts `key` for `receiver` (`HOST:PORT`) if a line records it, or records it if no
    /// line names the receiver; refuses it if the receiver's lines record other keys.
    pub fn check(
        &self,
        receiver: &str,
        key: &PublicKey,
    ) -> Result<Recognized, KnownReceiversError> {
        let _files = FILES.lock().unwrap_or_else(PoisonError::into_inner);
        let receiver = receiver.to_ascii_lowercase();
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(KnownReceiversError::Read {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let (mut matched, mut changed) = (None, None);
        for (index, line) in text.lines().enumerate() {
            let line_number = index + 1;
            let Some((name, known)) =
                parse_line(line).map_err(|reason| KnownReceiversError::BadLine {
                    path: self.path.clone(),
                    line: line_number,
                    reason,
                })?
            else {
                continue;
            };
            if name.to_ascii_lowercase() != receiver {
                continue;
            }
            if known == *key {
                matched.get_or_insert(line_number);
            } else {
                changed.get_or_insert((line_number, known));
            }
        }
        if let Some(line) = matched {
            return Ok(Recognized::Known { line });
        }
        if let Some((line, known)) = changed {
            return Err(KnownReceiversError::Changed {
                receiver,
                presented: *key,
                known,
                path: self.path.clone(),
                line,
            });
        }
        self.append(&text, &format!("{receiver} {key}\n"))
            .map_err(|source| KnownReceiversError::Record {
                path: self.path.clone(),
                source,
            })?;
        Ok(Recognized::Recorded {
            line: text.lines().count() + 1,
        })
    }

    /// Appends `entry` to the file whose text is `text` (creating it and its directory).
    fn append(&self, text: &str, entry: &str) -> io::Result<()> {
        if let Some(dir) = self.path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let mut file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        let separator = if text.is_empty() || text.ends_with('\n') {
            ""
        } else {
            "\n"
        };
        file.write_all(format!("{separator}{entry}").as_bytes())?;
        file.sync_data()
    }
}

/// A line's receiver and key; `None` for a blank or comment line.
fn parse_line(line: &str) -> Result<Option<(&str, PublicKey)>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let mut words = line.split_whitespace();
    let (Some(name), Some(key)) = (words.next(), words.next()) else {
        return Err(format!("{line:?} is not HOST:PORT KEY"));
    };
    if !name.contains(':') {
        return Err(format!("{name:?} is not HOST:PORT"));
    }
    let key = key
        .parse()
        .map_err(|_| format!("{key:?} is not a public key (64 hex digits)"))?;
    Ok(Some((name, key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(digit: char) -> PublicKey {
        digit.to_string().repeat(64).parse().unwrap()
    }

    #[test]
    fn first_contact_is_recorded_and_then_known() {
        let dir = tempfile::tempdir().unwrap();
        let known = KnownReceivers::new(dir.path().join("jetstream/known_receivers"));
        assert_eq!(
            known.check("Relay.example:8886", &key('a')).unwrap(),
            Recognized::Recorded { line: 1 }
        );
        assert_eq!(
            known.check("10.0.0.2:8886", &key('b')).unwrap(),
            Recognized::Recorded { line: 2 }
        );
        assert_eq!(
            known.check("relay.example:8886", &key('a')).unwrap(),
            Recognized::Known { line: 1 }
        );
        let text = fs::read_to_string(known.path()).unwrap();
        assert_eq!(
            text,
            format!(
                "relay.example:8886 {}\n10.0.0.2:8886 {}\n",
                key('a'),
                key('b')
            )
        );
    }

    #[test]
    fn a_changed_key_is_refused_naming_both_keys_and_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_receivers");
        let text = format!("# ours\n\n10.0.0.2:8886 {} old box\n", key('a'));
        fs::write(&path, &text).unwrap();
        let known = KnownReceivers::new(&path);
        let err = known.check("10.0.0.2:8886", &key('b')).unwrap_err();
        assert!(
            matches!(err, KnownReceiversError::Changed { line: 3, .. }),
            "{err}"
        );
        let message = err.to_string();
        for part in [
            key('a').to_string(),
            key('b').to_string(),
            path.display().to_string(),
        ] {
            assert!(message.contains(&part), "{message}");
        }
        assert!(message.contains("delete line 3"), "{message}");
        // Nothing was recorded.
        assert_eq!(fs::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn a_damaged_line_fails_every_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_receivers");
        fs::write(
            &path,
            format!("10.0.0.2:8886 {}\n10.0.0.3:8886 zz\n", key('a')),
        )
        .unwrap();
        let err = KnownReceivers::new(&path)
            .check("10.0.0.2:8886", &key('a'))
            .unwrap_err();
        assert!(
            matches!(err, KnownReceiversError::BadLine { line: 2, .. }),
            "{err}"
        );
    }

    #[test]
    fn a_file_without_a_final_newline_gets_its_new_line_on_a_line_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_receivers");
        fs::write(&path, format!("10.0.0.2:8886 {}", key('a'))).unwrap();
        let known = KnownReceivers::new(&path);
        assert_eq!(
            known.check("10.0.0.3:8886", &key('b')).unwrap(),
            Recognized::Recorded { line: 2 }
        );
        assert_eq!(
            known.check("10.0.0.2:8886", &key('a')).unwrap(),
            Recognized::Known { line: 1 }
        );
    }
}
