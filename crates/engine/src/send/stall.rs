//! How long a session has gone without progress while its receiver answers: what starts a new
//! session when the receiver takes nothing more.

use jetstream_wire::session::SenderStats;
use std::time::{Duration, Instant};

/// How long a session has gone without progress: no byte newly acknowledged and no file newly
/// complete, while not suspended on purpose.
pub(super) struct Stall {
    since: Instant,
    mark: (u64, u32),
    /// Suspended on purpose: no progress is due.
    pub(super) suspended: bool,
}

impl Stall {
    pub(super) fn new(now: Instant) -> Stall {
        Stall {
            since: now,
            mark: (0, 0),
            suspended: false,
        }
    }

    /// Counts from `now` again (the handshake took its time, and was no stall).
    pub(super) fn restart(&mut self, now: Instant) {
        self.since = now;
    }

    /// The time since the last progress `stats` show.
    pub(super) fn check(&mut self, now: Instant, stats: &SenderStats) -> Duration {
        let mark = (stats.bytes_acked, stats.files_complete);
        if mark != self.mark || self.suspended {
            self.mark = mark;
            self.since = now;
        }
        now.saturating_duration_since(self.since)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stall_counts_from_the_last_progress_and_not_while_suspended() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut stall = Stall::new(t0);
        let mut stats = SenderStats::default();
        assert_eq!(stall.check(at(5), &stats), Duration::from_secs(5));
        stats.bytes_acked = 1000;
        assert_eq!(stall.check(at(6), &stats), Duration::ZERO);
        assert_eq!(stall.check(at(9), &stats), Duration::from_secs(3));
        stats.files_complete = 1;
        assert_eq!(stall.check(at(10), &stats), Duration::ZERO);
        stall.suspended = true;
        assert_eq!(stall.check(at(30), &stats), Duration::ZERO);
        stall.suspended = false;
        assert_eq!(stall.check(at(32), &stats), Duration::from_secs(2));
        // A session held from before it connected stays held after.
        stall.suspended = true;
        stall.restart(at(33));
        assert_eq!(stall.check(at(60), &stats), Duration::ZERO);
    }
}
