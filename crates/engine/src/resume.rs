//! Resuming a transfer from what survives of it (a [`Checkpoint`]: the entries complete at the
//! receiver and the byte ranges on its stable storage): complete entries are left out of the
//! next session, and the session's figures are carried back into the transfer's own numbering
//! (entry indices and byte offsets of the whole transfer). A transfer that starts fresh has an
//! empty checkpoint and goes through the same path; so does every reconnection.

use crate::store::Checkpoint;
use jetstream_wire::ranges::RangeSet;
use jetstream_wire::session::SenderSession;

/// How one session's numbering maps onto its transfer's.
#[derive(Debug)]
pub(crate) struct Resume {
    /// The transfer index of each entry the session sends.
    indices: Vec<u64>,
    /// Where each entry the session sends starts, in the session's byte space and in the
    /// transfer's.
    starts: Vec<(u64, u64)>,
    /// Per entry the session sends, the bytes `0..n` of it the checkpoint holds durable: the
    /// session claims them, and the receiver confirms what it really holds.
    offsets: Vec<u64>,
    /// The entries complete before this session, and their bytes.
    done: Checkpoint,
    /// Bytes of the entries complete before this session.
    done_bytes: u64,
}

/// A session's figures in its transfer's numbering.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Mapped {
    /// Byte ranges acknowledged (received).
    pub(crate) acked: RangeSet,
    /// Byte ranges on the receiver's stable storage, and entries complete there.
    pub(crate) checkpoint: Checkpoint,
}

impl Resume {
    /// Splits a transfer whose entries have `sizes` into what the session still sends (their
    /// transfer indices, returned) and what `checkpoint` holds complete.
    pub(crate) fn new(sizes: &[u64], checkpoint: &Checkpoint) -> (Resume, Vec<usize>) {
        let mut resume = Resume {
            indices: Vec::new(),
            starts: Vec::new(),
            offsets: Vec::new(),
            done: Checkpoint::default(),
            done_bytes: 0,
        };
        let (mut at, mut session_at) = (0u64, 0u64);
        let mut rest = Vec::new();
        for (index, &size) in (0u64..).zip(sizes) {
            if checkpoint.complete_files.contains(index) {
                resume.done.complete_files.insert(index..index + 1);
                resume.done.acked.insert(at..at + size);
                resume.done_bytes += size;
            } else {
                resume.indices.push(index);
                resume.starts.push((session_at, at));
                // Only a claim: it enters the next checkpoint once the receiver confirms it.
                resume
                    .offsets
                    .push(checkpoint.acked.run_from(at).min(at + size) - at);
                session_at += size;
                rest.push(index as usize);
            }
            at += size;
        }
        (resume, rest)
    }

    /// Per entry the session sends, how much of its start the checkpoint holds durable.
    pub(crate) fn offsets(&self) -> &[u64] {
        &self.offsets
    }

    /// The transfer index of the session's entry `file`.
    pub(crate) fn index(&self, file: u32) -> Option<u64> {
        self.indices.get(file as usize).copied()
    }

    /// Bytes of the entries complete before this session.
    pub(crate) fn bytes_done(&self) -> u64 {
        self.done_bytes
    }

    /// The session's acknowledged and durable ranges and complete entries, in the transfer's
    /// numbering, with what was durable and complete before it.
    pub(crate) fn map(&self, session: &SenderSession) -> Mapped {
        let mut out = Mapped {
            acked: RangeSet::new(),
            checkpoint: self.done.clone(),
        };
        for range in session.complete_files().iter() {
            for session_index in range {
                if let Some(&index) = usize::try_from(session_index)
                    .ok()
                    .and_then(|i| self.indices.get(i))
                {
                    out.checkpoint.complete_files.insert(index..index + 1);
                }
            }
        }
        for range in session.durable().iter() {
            self.map_bytes(range, &mut out.checkpoint.acked);
        }
        for range in session.acked().iter() {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The set of the `(start, end)` ranges.
    fn set(ranges: &[(u64, u64)]) -> RangeSet {
        ranges.iter().map(|&(start, end)| start..end).collect()
    }

    #[test]
    fn a_fresh_transfer_sends_everything_from_the_start() {
        let (resume, rest) = Resume::new(&[10, 0, 5], &Checkpoint::default());
        assert_eq!(rest, [0, 1, 2]);
        assert_eq!(resume.offsets(), [0, 0, 0]);
        assert_eq!(resume.bytes_done(), 0);
        let mut into = RangeSet::new();
        resume.map_bytes(0..12, &mut into);
        assert_eq!(into, set(&[(0, 12)]));
    }

    #[test]
    fn complete_entries_are_left_out_and_durable_prefixes_claimed() {
        // Entries: 0 (10 bytes, complete), 1 (20, first 10 durable), 2 (30, complete), 3 (40).
        let checkpoint = Checkpoint {
            acked: set(&[(0, 20), (30, 60)]),
            complete_files: set(&[(0, 1), (2, 3)]),
        };
        let (resume, rest) = Resume::new(&[10, 20, 30, 40], &checkpoint);
        assert_eq!(rest, [1, 3]);
        assert_eq!(resume.bytes_done(), 40);
        assert_eq!(resume.offsets(), [10, 0]);
        // The session's bytes 0..25 are entry 1 (transfer 10..30) and 5 of entry 3 (60..65).
        let mut into = RangeSet::new();
        resume.map_bytes(0..25, &mut into);
        assert_eq!(into, set(&[(10, 30), (60, 65)]));
        // What the session starts from: the complete entries only; the claimed prefix of
        // entry 1 counts once the receiver confirms it.
        assert_eq!(resume.done.acked, set(&[(0, 10), (30, 60)]));
    }
}
