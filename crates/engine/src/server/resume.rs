//! Resuming a transfer from its last checkpoint: the entries the checkpoint holds complete are
//! left out of the new session, and the session's figures are carried back into the
//! transfer's own numbering (entry indices and byte offsets of the whole manifest, counters
//! that go on from the earlier runs). A transfer that starts fresh has an empty checkpoint and
//! goes through the same path.

use crate::send::Progress;
use crate::store::{Checkpoint, ManifestFile, TransferProgress};
use jetstream_wire::ranges::RangeSet;

/// How one session's numbering maps onto its transfer's.
#[derive(Debug)]
pub(super) struct Resume {
    /// The manifest index of each entry the session sends.
    indices: Vec<u64>,
    /// Where each entry the session sends starts, in the session's byte space and in the
    /// transfer's.
    starts: Vec<(u64, u64)>,
    /// Per entry the session sends, the bytes `0..n` of it an earlier session had
    /// acknowledged: the session starts with them acknowledged (the receiver still holds them).
    offsets: Vec<u64>,
    /// Entries complete before this session.
    done: Checkpoint,
    /// Bytes of the entries complete before this session.
    done_bytes: u64,
    /// Counters of the sessions before this one.
    before: TransferProgress,
    /// Entries and bytes of the whole transfer.
    totals: (u32, u64),
}

impl Resume {
    /// Splits a transfer's `files` into what the session still sends (returned) and what
    /// `checkpoint` holds complete. `before` is the transfer's progress so far.
    pub(super) fn new(
        files: Vec<ManifestFile>,
        checkpoint: &Checkpoint,
        before: &TransferProgress,
    ) -> (Resume, Vec<ManifestFile>) {
        let mut resume = Resume {
            indices: Vec::new(),
            starts: Vec::new(),
            offsets: Vec::new(),
            done: Checkpoint::default(),
            done_bytes: 0,
            before: TransferProgress {
                bytes_sent: before.bytes_sent,
                packets_sent: before.packets_sent,
                packets_recv: before.packets_recv,
                ..TransferProgress::default()
            },
            totals: (0, 0),
        };
        let (mut at, mut session_at) = (0u64, 0u64);
        let mut rest = Vec::new();
        for (index, file) in (0u64..).zip(files) {
            let size = file.file_size;
            if checkpoint.complete_files.contains(index) {
                resume.done.complete_files.insert(index..index + 1);
                resume.done.acked.insert(at..at + size);
                resume.done_bytes += size;
            } else {
                resume.indices.push(index);
                resume.starts.push((session_at, at));
                resume
                    .offsets
                    .push(acked_prefix(&checkpoint.acked, at..at + size));
                session_at += size;
                rest.push(file);
            }
            at += size;
            resume.totals.0 += 1;
        }
        resume.totals.1 = at;
        (resume, rest)
    }

    /// Per entry the session sends, how much of its start is already at the receiver.
    pub(super) fn offsets(&self) -> &[u64] {
        &self.offsets
    }

    /// Entries complete before this session.
    pub(super) fn files_done(&self) -> u64 {
        self.done.complete_files.len()
    }

    /// Bytes sent by the sessions before this one.
    pub(super) fn bytes_sent_before(&self) -> u64 {
        self.before.bytes_sent
    }

    /// Packets sent by the sessions before this one.
    pub(super) fn packets_sent_before(&self) -> u64 {
        self.before.packets_sent
    }

    /// The session's progress `p` in the transfer's numbering.
    pub(super) fn progress(&self, p: &Progress) -> Progress {
        let mut out = p.clone();
        out.total_files = self.totals.0;
        out.total_bytes = self.totals.1;
        let stats = &mut out.stats;
        stats.files_complete += u32::try_from(self.files_done()).unwrap_or(u32::MAX);
        stats.bytes_acked += self.done_bytes;
        stats.bytes_sent += self.before.bytes_sent;
        stats.packets_sent += self.before.packets_sent;
        stats.packets_received += self.before.packets_recv;
        out.complete = self.done.complete_files.clone();
        for range in p.complete.iter() {
            for session_index in range {
                if let Some(&index) = usize::try_from(session_index)
                    .ok()
                    .and_then(|i| self.indices.get(i))
                {
                    out.complete.insert(index..index + 1);
                }
            }
        }
        out.acked = self.done.acked.clone();
        for range in p.acked.iter() {
            self.map_bytes(range, &mut out.acked);
        }
        out
    }

    /// Inserts the session's byte range `range` into `into`, in the transfer's byte space.
    fn map_bytes(&self, range: std::ops::Range<u64>, into: &mut RangeSet) {
        // The last entry starting at or before `range.start`, then every one it spans.
        let first = self
            .starts
            .partition_point(|&(session, _)| session <= range.start)
            .saturating_sub(1);
        for (i, &(session, transfer)) in self.starts.iter().enumerate().skip(first) {
            if session >= range.end {
                break;
            }
            let end = self.starts.get(i + 1).map_or(u64::MAX, |&(next, _)| next);
            let (lo, hi) = (range.start.max(session), range.end.min(end));
            if lo < hi {
                into.insert(lo - session + transfer..hi - session + transfer);
            }
        }
    }
}

/// How many bytes from the start of `entry` (a range of the transfer's byte space) `acked`
/// holds without a gap.
fn acked_prefix(acked: &RangeSet, entry: std::ops::Range<u64>) -> u64 {
    acked
        .iter()
        .find(|r| r.start <= entry.start && entry.start < r.end)
        .map_or(0, |r| r.end.min(entry.end) - entry.start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(size: u64) -> ManifestFile {
        ManifestFile {
            src_path: "s".into(),
            dest_path: "d".into(),
            file_size: size,
            is_empty_dir: false,
            executable: false,
            modification_time: None,
        }
    }

    /// The set of the `(start, end)` ranges.
    fn set(ranges: &[(u64, u64)]) -> RangeSet {
        ranges.iter().map(|&(start, end)| start..end).collect()
    }

    #[test]
    fn a_fresh_transfer_maps_onto_itself() {
        let (resume, rest) = Resume::new(
            vec![file(10), file(0), file(5)],
            &Checkpoint::default(),
            &TransferProgress::default(),
        );
        assert_eq!(rest.len(), 3);
        let mut p = progress(set(&[(0, 12)]), set(&[(0, 2)]));
        p.stats.bytes_acked = 12;
        let out = resume.progress(&p);
        assert_eq!(out.acked, set(&[(0, 12)]));
        assert_eq!(out.complete, set(&[(0, 2)]));
        assert_eq!((out.total_files, out.total_bytes), (3, 15));
        assert_eq!(out.stats.bytes_acked, 12);
    }

    #[test]
    fn complete_entries_are_left_out_and_counted_back_in() {
        // Entries: 0 (10 bytes, complete), 1 (20, half acknowledged), 2 (30, complete), 3 (40).
        let checkpoint = Checkpoint {
            acked: set(&[(0, 20), (30, 60)]),
            complete_files: set(&[(0, 1), (2, 3)]),
        };
        let before = TransferProgress {
            bytes_sent: 70,
            ..TransferProgress::default()
        };
        let files = vec![file(10), file(20), file(30), file(40)];
        let (resume, rest) = Resume::new(files, &checkpoint, &before);
        assert_eq!(
            rest.iter().map(|f| f.file_size).collect::<Vec<_>>(),
            [20, 40]
        );
        assert_eq!(resume.files_done(), 2);
        // Entry 1 had its first 10 bytes acknowledged; entry 3 nothing.
        assert_eq!(resume.offsets(), [10, 0]);
        // The session (entries 1 and 3, 60 bytes) acknowledged entry 1 and 5 bytes of entry 3.
        let mut p = progress(set(&[(0, 25)]), set(&[(0, 1)]));
        p.stats.bytes_acked = 25;
        p.stats.bytes_sent = 30;
        p.stats.files_complete = 1;
        let out = resume.progress(&p);
        assert_eq!(out.complete, set(&[(0, 3)]));
        assert_eq!(out.acked, set(&[(0, 30), (30, 60), (60, 65)]));
        assert_eq!(out.stats.bytes_acked, 65);
        assert_eq!(out.stats.bytes_sent, 100);
        assert_eq!(out.stats.files_complete, 3);
        assert_eq!((out.total_files, out.total_bytes), (4, 100));
    }

    fn progress(acked: RangeSet, complete: RangeSet) -> Progress {
        Progress {
            stats: Default::default(),
            total_files: 0,
            total_bytes: 0,
            elapsed: Default::default(),
            cipher: None,
            receiver_key: None,
            pong_rtt: None,
            acked,
            complete,
        }
    }
}
