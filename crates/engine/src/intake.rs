//! The receiver's intake cap: the most bytes per second all its sessions together accept,
//! shared with whoever manages the receiver so it can change while transfers arrive. The wire
//! protocol has no frame through which a receiver tells a sender how fast to go, so datagrams
//! beyond the cap are dropped unread, as a congested link would drop them: the senders see
//! them lost and resend them, their rate control backs off, and what is accepted stays under
//! the cap.

use jetstream_wire::rate::Pacer;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// The cap in force, shared; clones see the same cap.
#[derive(Clone, Debug, Default)]
pub struct IntakeLimit(Arc<AtomicU64>);

impl IntakeLimit {
    /// Sets the cap in bytes per second; `None` (or 0) for none.
    pub fn set(&self, bytes_per_second: Option<u64>) {
        self.0
            .store(bytes_per_second.unwrap_or(0), Ordering::Relaxed);
    }

    /// The cap in bytes per second, if there is one.
    pub fn get(&self) -> Option<u64> {
        Some(self.0.load(Ordering::Relaxed)).filter(|rate| *rate > 0)
    }
}

/// The receiver's side of the cap: a token bucket (the sender's pacer) the datagrams of every
/// session draw from.
#[derive(Debug)]
pub(crate) struct Intake {
    limit: IntakeLimit,
    bucket: Pacer,
}

impl Intake {
    /// An intake under `limit` for datagrams of at most `max_datagram` bytes.
    pub(crate) fn new(limit: IntakeLimit, max_datagram: usize) -> Intake {
        Intake {
            limit,
            bucket: Pacer::new(max_datagram),
        }
    }

    /// Whether a datagram of `bytes` arriving at `now` is accepted (and counted).
    pub(crate) fn admit(&mut self, now: Instant, bytes: usize) -> bool {
        let Some(rate) = self.limit.get() else {
            return true;
        };
        if self.bucket.delay(now, rate, bytes).is_some() {
            return false;
        }
        self.bucket.on_sent(bytes);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn what_is_accepted_over_a_second_stays_within_the_cap_and_a_burst() {
        let limit = IntakeLimit::default();
        let mut intake = Intake::new(limit.clone(), 1000);
        let start = Instant::now();
        // No cap: everything.
        assert!((0..1000).all(|_| intake.admit(start, 1000)));
        limit.set(Some(100_000));
        let mut accepted = 0;
        // 10,000 datagrams offered over one second: 10 MB/s against a cap of 100 kB/s.
        for i in 0..10_000u64 {
            let at = start + Duration::from_micros(i * 100);
            if intake.admit(at, 1000) {
                accepted += 1000;
            }
        }
        // The cap, plus at most the bucket it starts with.
        assert!(
            (90_000..=100_000 + 64_000).contains(&accepted),
            "{accepted}"
        );
        limit.set(None);
        assert!(intake.admit(start + Duration::from_secs(1), 1000));
    }
}
