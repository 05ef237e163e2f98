//! The pacer: a token bucket that spreads sends over time at the current rate.
//!
//! The bucket refills at the rate passed to each [`Pacer::delay`] call and holds at most one
//! millisecond of it, but never less than 2 and never more than 64 datagrams: at high rates the
//! engine can hand up to 64 datagrams to one segmentation-offload call, at low rates sends stay
//! spread out. The pacer answers "send now" or "not before t"; it never sleeps.

use std::time::{Duration, Instant};

/// Token units per byte: tokens are kept in byte-nanoseconds so refills are exact integers.
const UNITS_PER_BYTE: i128 = 1_000_000_000;
/// The bucket holds this much time's worth of the rate...
const BURST_TIME_DIVISOR: u64 = 1_000;
/// ...but at least this many datagrams...
const MIN_BURST_DATAGRAMS: u64 = 2;
/// ...and at most this many.
const MAX_BURST_DATAGRAMS: u64 = 64;

/// A token-bucket pacer.
#[derive(Clone, Debug)]
pub struct Pacer {
    max_datagram: u64,
    /// Available tokens in byte-nanoseconds; negative after sending more than allowed.
    tokens: i128,
    /// When the bucket was last refilled; `None` before the first call (the bucket starts full).
    refilled_at: Option<Instant>,
}

impl Pacer {
    /// A pacer for datagrams of at most `max_datagram` bytes, with a full bucket.
    pub fn new(max_datagram: usize) -> Self {
        Self {
            max_datagram: max_datagram.max(1) as u64,
            tokens: 0,
            refilled_at: None,
        }
    }

    /// The bucket size in bytes at `rate` bytes per second.
    pub fn burst_capacity(&self, rate: u64) -> u64 {
        (rate / BURST_TIME_DIVISOR).clamp(
            MIN_BURST_DATAGRAMS * self.max_datagram,
            MAX_BURST_DATAGRAMS * self.max_datagram,
        )
    }

    /// Whether a datagram of `bytes` may be sent at `now` at `rate` bytes per second.
    /// None: send now. Some(t): not before t. Never sleeps. A rate of 0 is taken as 1 byte per
    /// second.
    pub fn delay(&mut self, now: Instant, rate: u64, bytes: usize) -> Option<Instant> {
        let rate = rate.max(1);
        let capacity = self.burst_capacity(rate);
        self.refill(now, rate, capacity);
        // A datagram larger than the bucket waits for a full bucket, not forever.
        let needed = i128::from(capacity.min(bytes as u64)) * UNITS_PER_BYTE;
        if self.tokens >= needed {
            return None;
        }
        let missing = needed - self.tokens;
        let rate = i128::from(rate);
        let nanos = (missing + rate - 1) / rate;
        Some(now + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX)))
    }

    /// A datagram of `bytes` was sent; the bucket may go into debt if the caller sent it
    /// without asking [`delay`](Self::delay).
    pub fn on_sent(&mut self, bytes: usize) {
        self.tokens -= bytes as i128 * UNITS_PER_BYTE;
    }

    /// Adds the tokens earned since the last refill, up to `capacity` bytes.
    fn refill(&mut self, now: Instant, rate: u64, capacity: u64) {
        let full = i128::from(capacity) * UNITS_PER_BYTE;
        self.tokens = match self.refilled_at {
            None => full,
            Some(then) => {
                let elapsed = now.saturating_duration_since(then).as_nanos();
                // Saturating: after a long idle period the sum only has to exceed `full`.
                let earned = i128::try_from(elapsed)
                    .unwrap_or(i128::MAX)
                    .saturating_mul(i128::from(rate));
                self.tokens.saturating_add(earned).min(full)
            }
        };
        self.refilled_at = Some(self.refilled_at.map_or(now, |then| then.max(now)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MTU: usize = 1_400;

    /// Sends `len`-byte datagrams as fast as the pacer allows for `span`; returns the send times.
    fn run(
        pacer: &mut Pacer,
        base: Instant,
        rate: u64,
        len: usize,
        span: Duration,
    ) -> Vec<Instant> {
        let mut now = base;
        let mut sent = Vec::new();
        while now < base + span {
            match pacer.delay(now, rate, len) {
                None => {
                    pacer.on_sent(len);
                    sent.push(now);
                }
                Some(t) => {
                    assert!(t > now, "a wait must lie in the future");
                    now = t;
                }
            }
        }
        sent
    }

    #[test]
    fn burst_capacity_is_a_millisecond_within_2_and_64_datagrams() {
        let pacer = Pacer::new(MTU);
        assert_eq!(pacer.burst_capacity(1_000), 2 * 1_400);
        assert_eq!(pacer.burst_capacity(10_000_000), 10_000);
        assert_eq!(pacer.burst_capacity(125_000_000), 64 * 1_400);
        assert_eq!(pacer.burst_capacity(u64::MAX), 64 * 1_400);
    }

    #[test]
    fn long_run_rate_equals_the_configured_rate() {
        for rate in [50_000, 1_250_000, 12_500_000, 125_000_000, 1_250_000_000] {
            let base = Instant::now();
            let mut pacer = Pacer::new(MTU);
            let span = Duration::from_millis(200);
            let sent = run(&mut pacer, base, rate, MTU, span);
            let bytes = sent.len() as u64 * MTU as u64;
            let allowed = rate / 5; // rate × 200 ms
            let burst = pacer.burst_capacity(rate);
            assert!(
                bytes <= allowed + burst,
                "rate {rate}: {bytes} > {allowed} + {burst}"
            );
            assert!(
                bytes + MTU as u64 >= allowed,
                "rate {rate}: {bytes} well under {allowed}"
            );
        }
    }

    #[test]
    fn an_idle_pacer_releases_one_bounded_burst() {
        let base = Instant::now();
        let mut pacer = Pacer::new(MTU);
        // 1 Gbit/s: the burst is capped at 64 datagrams however long the pacer was idle.
        let rate = 125_000_000;
        assert!(pacer.delay(base, rate, MTU).is_none());
        let later = base + Duration::from_secs(10);
        let mut burst = 0;
        while pacer.delay(later, rate, MTU).is_none() {
            pacer.on_sent(MTU);
            burst += 1;
        }
        assert_eq!(burst, 64);
        // 1 Mbit/s: 2 datagrams.
        let rate = 125_000;
        let mut pacer = Pacer::new(MTU);
        let mut burst = 0;
        while pacer.delay(later, rate, MTU).is_none() {
            pacer.on_sent(MTU);
            burst += 1;
        }
        assert_eq!(burst, 2);
        // The next one waits exactly one datagram's time at the rate: 1,400 B at 125 kB/s.
        assert_eq!(
            pacer.delay(later, rate, MTU),
            Some(later + Duration::from_micros(11_200))
        );
    }

    #[test]
    fn a_datagram_larger_than_the_bucket_still_goes_out() {
        let base = Instant::now();
        let mut pacer = Pacer::new(100);
        // Capacity is 200 bytes at this rate; a 1,000-byte datagram waits for a full bucket.
        assert!(pacer.delay(base, 1_000, 1_000).is_none());
        pacer.on_sent(1_000);
        let wait = pacer.delay(base, 1_000, 1_000).expect("in debt");
        assert_eq!(wait, base + Duration::from_secs(1));
        assert!(pacer.delay(wait, 1_000, 1_000).is_none());
    }

    #[test]
    fn a_zero_rate_is_slow_but_not_stuck() {
        let base = Instant::now();
        let mut pacer = Pacer::new(MTU);
        assert!(pacer.delay(base, 0, MTU).is_none());
        pacer.on_sent(MTU);
        pacer.on_sent(MTU);
        let wait = pacer.delay(base, 0, MTU).expect("empty bucket");
        assert_eq!(wait, base + Duration::from_secs(1_400));
    }

    proptest! {
        /// Whatever the rate and the datagram sizes, the bytes sent by any time t never exceed
        /// one bucket plus the rate × t, and the pacer keeps sending.
        #[test]
        fn sends_never_exceed_bucket_plus_rate(
            rate in 1_000u64..2_000_000_000,
            sizes in proptest::collection::vec(1usize..=MTU, 1..200),
        ) {
            let base = Instant::now();
            let mut pacer = Pacer::new(MTU);
            let capacity = u128::from(pacer.burst_capacity(rate));
            let mut now = base;
            let mut total = 0u128;
            for &len in &sizes {
                if let Some(t) = pacer.delay(now, rate, len) {
                    prop_assert!(t > now);
                    now = t;
                    prop_assert!(pacer.delay(now, rate, len).is_none());
                }
                pacer.on_sent(len);
                total += len as u128;
                let elapsed = (now - base).as_nanos();
                prop_assert!(total * 1_000_000_000 <= (capacity * 1_000_000_000) + u128::from(rate) * elapsed);
            }
        }
    }
}
