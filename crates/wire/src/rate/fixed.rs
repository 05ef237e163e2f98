//! The fixed-rate controller used when rate control is off: always the configured rate, with a
//! window generous enough to keep the longest paths full.

use std::time::{Duration, Instant};

use super::{bytes_in, RateController, RateSample};

/// The window never goes below this many bytes.
const MIN_WINDOW: u64 = 128 * 1024;

/// Sends at a constant rate whatever the feedback says; caps still apply on top.
#[derive(Clone, Debug)]
pub struct FixedController {
    rate: u64,
    min_rtt: Option<Duration>,
}

impl FixedController {
    /// A controller that always asks for `rate_bytes_per_s`.
    pub fn new(rate_bytes_per_s: u64) -> Self {
        Self {
            rate: rate_bytes_per_s,
            min_rtt: None,
        }
    }
}

impl RateController for FixedController {
    fn on_sent(&mut self, _now: Instant, _bytes: u64, _in_flight: u64) {}

    fn on_ack(&mut self, _now: Instant, sample: &RateSample, _in_flight: u64) {
        self.min_rtt = Some(self.min_rtt.map_or(sample.rtt, |m| m.min(sample.rtt)));
    }

    fn on_loss(&mut self, _now: Instant, _lost_bytes: u64, _in_flight: u64) {}

    fn pacing_rate(&self) -> u64 {
        self.rate
    }

    /// One second of the rate, or two RTTs of it on paths longer than half a second.
    fn window(&self) -> u64 {
        let span = self.min_rtt.map_or(Duration::from_secs(1), |rtt| {
            (2 * rtt).max(Duration::from_secs(1))
        });
        bytes_in(self.rate, span).max(MIN_WINDOW)
    }

    fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt
    }

    fn name(&self) -> &'static str {
        "fixed"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(rtt: Duration) -> RateSample {
        RateSample {
            delivery_rate: 1,
            rtt,
            interval: rtt,
            delivered: 1,
            prior_delivered: 0,
            is_app_limited: false,
            acked_bytes: 1,
            lost_bytes: 0,
        }
    }

    #[test]
    fn rate_is_fixed_and_window_covers_long_paths() {
        let now = Instant::now();
        let mut c = FixedController::new(125_000_000);
        assert_eq!(c.pacing_rate(), 125_000_000);
        assert_eq!(c.window(), 125_000_000);
        c.on_loss(now, 1_000_000, 0);
        c.on_ack(now, &sample(Duration::from_millis(800)), 0);
        c.on_ack(now, &sample(Duration::from_millis(900)), 0);
        assert_eq!(c.pacing_rate(), 125_000_000);
        assert_eq!(c.min_rtt(), Some(Duration::from_millis(800)));
        assert_eq!(c.window(), 200_000_000);
        assert_eq!(FixedController::new(1_000).window(), MIN_WINDOW);
        assert_eq!(c.name(), "fixed");
    }
}
