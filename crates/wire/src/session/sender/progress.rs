//! What the receiver holds, file by file: the transfer's byte space (files laid end to end),
//! the answers to FILE frames, the entries delivered (bytes, FILE frame and digest all
//! acknowledged) and placed, and the bytes a MISSING frame takes back.

use super::{SenderConfig, SenderEvent, SenderSession};
use crate::codec::Answer;
use crate::files::{EntryKind, FileMeta};
use std::time::Instant;

/// How the receiver reported a file complete.
#[derive(Clone, Copy, Debug)]
pub(super) enum Placed {
    /// Written by this transfer (PLACED, or every file at the final RESULT).
    Written,
    /// Already held (KEPT); `verified` when its bytes were checked to be the sender's.
    Kept { verified: bool },
}

/// The bytes of `file` already at the receiver when the session starts (see
/// [`SenderConfig::resume`]).
pub(super) fn resumed(config: &SenderConfig, files: &[FileMeta], file: u32) -> u64 {
    let size = files.get(file as usize).map_or(0, |f| f.size);
    config.resume.get(file as usize).map_or(0, |&n| n.min(size))
}

impl SenderSession {
    /// The file holding byte `pos` of the transfer's byte space.
    pub(super) fn file_at(&self, pos: u64) -> u32 {
        (self.bases.partition_point(|&b| b <= pos) - 1) as u32
    }

    pub(super) fn file_size(&self, file: u32) -> u64 {
        self.files.get(file as usize).map_or(0, |f| f.size)
    }

    /// `range` of `file` in the transfer's byte space; `None` when it is not inside the file.
    pub(super) fn file_range(
        &self,
        file: u32,
        range: std::ops::Range<u64>,
    ) -> Option<std::ops::Range<u64>> {
        let meta = self.files.get(file as usize)?;
        let base = self.bases[file as usize];
        (range.start <= range.end && range.end <= meta.size)
            .then(|| base + range.start..base + range.end)
    }

    /// Whether the receiver checks `file` against its digest.
    pub(super) fn needs_digest(&self, file: u32) -> bool {
        let meta = &self.files[file as usize];
        self.header.verify && meta.kind == EntryKind::File && meta.size > 0
    }

    pub(super) fn check_delivered(&mut self, file: u32) {
        let f = u64::from(file);
        if self.delivered.contains(f) || !self.meta_acked.contains(f) {
            return;
        }
        if self.needs_digest(file) && !self.digest_acked.contains(f) {
            return;
        }
        let base = self.bases[file as usize];
        if self
            .acked
            .covers(base..base + self.files[file as usize].size)
        {
            self.delivered.insert(f..f + 1);
        }
    }

    /// The receiver answered `file`'s FILE frame.
    pub(super) fn on_answer(&mut self, file: u32, answer: Answer) {
        let f = u64::from(file);
        self.answered.insert(f..f + 1);
        if answer == Answer::Send {
            return;
        }
        // Kept, or held whole to be checked: none of it is sent (unless a MISSING asks).
        let size = self.file_size(file);
        if let Some(range) = self.file_range(file, 0..size) {
            self.durable.insert(range.clone());
            self.acked.insert(range);
        }
        match answer {
            Answer::Kept => self.mark_placed(file, Placed::Kept { verified: false }),
            Answer::Check => {
                self.checking.insert(f..f + 1);
            }
            Answer::Send => {}
        }
        self.check_delivered(file);
    }

    /// Up to `max` entries whose FILE frame was acknowledged and is still unanswered.
    pub(super) fn unanswered(&self, max: usize) -> Vec<u32> {
        let mut files = Vec::new();
        for announced in self.meta_acked.iter() {
            for gap in self.answered.gaps(announced) {
                files.extend(
                    gap.take(max - files.len())
                        .filter(|&f| !self.placed.contains(f))
                        .map(|f| f as u32),
                );
                if files.len() == max {
                    return files;
                }
            }
        }
        files
    }

    /// Announces again, after twice the probe timeout without their answers, the entries
    /// acknowledged and unanswered, if any.
    pub(super) fn arm_reannounce(&mut self, now: Instant) {
        self.reannounce_at = (!self.unanswered(1).is_empty())
            .then(|| now + self.recovery.rtt().pto(self.config.max_ack_delay) * 2);
    }

    /// Records `file` complete at the receiver, as `placed` says.
    pub(super) fn mark_placed(&mut self, file: u32, placed: Placed) {
        let f = u64::from(file);
        if !self.placed.contains(f) {
            self.placed.insert(f..f + 1);
            // Complete implies answered and delivered: a kept file has no data to send.
            self.answered.insert(f..f + 1);
            self.delivered.insert(f..f + 1);
            // In place at the receiver: every byte of it is there, and durably, whatever ACKs
            // are still on their way (a receiver that discards what it gets places at once).
            if let Some(range) = self.file_range(file, 0..self.file_size(file)) {
                self.acked.insert(range.clone());
                self.durable.insert(range);
            }
            let digest = self.digests.remove(&file);
            let (digest, kept) = match placed {
                Placed::Written => (digest, false),
                Placed::Kept { verified } => {
                    self.stats.files_skipped += 1;
                    self.stats.bytes_skipped += self.file_size(file);
                    (digest.filter(|_| verified), true)
                }
            };
            self.events
                .push_back(SenderEvent::FileComplete { file, digest, kept });
        }
    }

    /// The receiver lacks `range` (transfer byte space) of `file`: it goes out again.
    pub(super) fn on_missing(&mut self, file: u32, range: std::ops::Range<u64>) {
        let f = u64::from(file);
        if self.placed.contains(f) {
            return;
        }
        self.acked.remove(range.clone());
        self.durable.remove(range.clone());
        self.delivered.remove(f..f + 1);
        if self.checking.contains(f) {
            self.checking.remove(f..f + 1);
            self.unsent.insert(range.clone());
        }
        // One entry, however long: `data_datagram` takes a datagram's worth at a time.
        self.repair.push_back(range);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{file, session};

    #[test]
    fn a_missing_range_of_any_length_is_queued_as_one_repair() {
        let size = 1 << 62;
        let mut sender = session(vec![file(size)]).expect("session");
        sender.on_missing(0, 1..size);
        assert_eq!(sender.repair.len(), 1);
        assert_eq!(sender.repair.front(), Some(&(1..size)));
    }
}
