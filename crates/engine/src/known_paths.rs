//! A sender's known-paths file: what the last transfer to each receiver measured about the path
//! (the rate it carried, its smallest RTT, the fraction lost), so that a sender without a
//! lasting store (the CLI) starts the next transfer to that receiver from it, as a server does
//! from its connections.
//!
//! One receiver a line: `HOST:PORT RATE MIN_RTT_US LOSS`, the rate in bytes per second, the RTT
//! in microseconds and the loss a fraction; blank lines and lines starting with `#` are
//! ignored. Receivers are named as in the known-receivers file. A line that does not parse is
//! skipped (the figures are a hint, checked in the first round trips of every transfer) and
//! dropped when the file is next written.

use jetstream_wire::rate::PathMemory;
use std::fs;
use std::io;
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Serializes the rewriting of every known-paths file of this process.
static FILES: Mutex<()> = Mutex::new(());

/// The figures of `line` if it is a valid line for `receiver`.
fn parse(line: &str, receiver: &str) -> Option<PathMemory> {
    let mut words = line.split_whitespace();
    if words.next()? != receiver {
        return None;
    }
    let rate = words.next()?.parse().ok()?;
    let rtt = Duration::from_micros(words.next()?.parse().ok()?);
    let loss = words.next()?.parse().ok()?;
    PathMemory::new(rate, rtt, loss)
}

/// The figures kept in `file` for `receiver` (`HOST:PORT`); `None` when the file or the line is
/// missing or does not parse.
pub fn get(file: &Path, receiver: &str) -> Option<PathMemory> {
    let _guard = FILES.lock().unwrap_or_else(PoisonError::into_inner);
    let text = fs::read_to_string(file).ok()?;
    text.lines().find_map(|line| parse(line, receiver))
}

/// Keeps `memory` in `file` for `receiver`, in place of what was there; the file (and its
/// directory) is made if missing and replaced whole, so a crash leaves the old one or the new.
pub fn record(file: &Path, receiver: &str, memory: &PathMemory) -> io::Result<()> {
    let _guard = FILES.lock().unwrap_or_else(PoisonError::into_inner);
    let old = match fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let mut text: String = old
        .lines()
        .filter(|line| {
            let trimmed = line.trim_start();
            trimmed.is_empty()
                || trimmed.starts_with('#')
                || (line.split_whitespace().next() != Some(receiver) && line_parses(line))
        })
        .map(|line| format!("{line}\n"))
        .collect();
    text.push_str(&format!(
        "{receiver} {} {} {}\n",
        memory.bandwidth,
        memory.min_rtt.as_micros(),
        memory.loss
    ));
    if let Some(dir) = file.parent() {
        fs::create_dir_all(dir)?;
    }
    let temp = file.with_extension("tmp");
    fs::write(&temp, text)?;
    fs::rename(&temp, file)
}

/// Whether `line` is a valid line for the receiver it names.
fn line_parses(line: &str) -> bool {
    line.split_whitespace()
        .next()
        .is_some_and(|name| parse(line, name).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory(rate: u64) -> PathMemory {
        PathMemory::new(rate, Duration::from_millis(300), 0.05).unwrap()
    }

    #[test]
    fn figures_are_kept_per_receiver_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("conf/known_paths");
        assert_eq!(get(&file, "a:1"), None);
        record(&file, "a:1", &memory(1_000)).unwrap();
        record(&file, "b:2", &memory(2_000)).unwrap();
        record(&file, "a:1", &memory(3_000)).unwrap();
        assert_eq!(get(&file, "a:1"), Some(memory(3_000)));
        assert_eq!(get(&file, "b:2"), Some(memory(2_000)));
        assert_eq!(get(&file, "c:3"), None);
        let text = fs::read_to_string(&file).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.contains("a:1 3000 300000 0.05"), "{text}");
    }

    #[test]
    fn damaged_lines_are_skipped_and_dropped_comments_kept() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("known_paths");
        fs::write(&file, "# mine\na:1 fast 1 0\nb:2 0 1 0\nc:3 10 1000 0.5\n").unwrap();
        assert_eq!(get(&file, "a:1"), None);
        assert_eq!(get(&file, "b:2"), None);
        assert_eq!(
            get(&file, "c:3"),
            PathMemory::new(10, Duration::from_millis(1), 0.5)
        );
        record(&file, "d:4", &memory(7)).unwrap();
        let text = fs::read_to_string(&file).unwrap();
        assert_eq!(text, "# mine\nc:3 10 1000 0.5\nd:4 7 300000 0.05\n");
    }
}
