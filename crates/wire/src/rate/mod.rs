//! How fast to send: the [`RateController`] trait and its algorithms, the delivery-rate sampler
//! that feeds them, the caps that clamp them and the pacer that spreads sends over time.
//!
//! A sender drives these pieces in a fixed order. On each send: [`DeliverySampler::on_sent`]
//! (the returned [`PacketState`] is kept with the packet) and [`RateController::on_sent`]. On
//! each ACK: [`DeliverySampler::on_acked`] for every newly acknowledged packet, then
//! [`DeliverySampler::take_sample`] and [`RateController::on_ack`]; declared losses go to
//! [`RateController::on_loss`]. Before sending, the rate is
//! `limits.clamp(controller.pacing_rate())`, and both `in_flight < controller.window()` and
//! [`Pacer::delay`] must allow the datagram.

use std::time::{Duration, Instant};

pub mod delivery;
mod filter;
pub mod fixed;
pub mod memory;
pub mod model;
pub mod pacer;
pub mod policy;

pub use delivery::{DeliverySampler, PacketState};
pub use fixed::FixedController;
pub use memory::PathMemory;
pub use model::ModelController;
pub use pacer::Pacer;
pub use policy::RatePolicy;

/// One delivery-rate sample (draft-cheng-iccrg-delivery-rate-estimation), made from one ACK.
#[derive(Clone, Copy, Debug)]
pub struct RateSample {
    /// Bytes per second delivered over `interval`; 0 when the interval is zero.
    pub delivery_rate: u64,
    /// RTT of the newest packet acknowledged by this ACK.
    pub rtt: Duration,
    /// The longer of the send and the ACK intervals the rate was measured over.
    pub interval: Duration,
    /// Bytes delivered over `interval`.
    pub delivered: u64,
    /// Bytes delivered in total when the newest acknowledged packet was sent.
    pub prior_delivered: u64,
    /// Whether the newest acknowledged packet was sent while the sender was app-limited, so the
    /// rate may be below what the path can carry.
    pub is_app_limited: bool,
    /// Bytes newly acknowledged by this ACK.
    pub acked_bytes: u64,
    /// Bytes newly declared lost with this ACK; the sampler leaves it 0, the caller fills it.
    /// Controllers count losses from [`RateController::on_loss`], so this is informational.
    pub lost_bytes: u64,
}

/// A rate-control algorithm: decides the pacing rate and the most bytes in flight.
///
/// Every loss is reported exactly once through [`on_loss`](Self::on_loss), whether it was
/// declared on an ACK or on a timer.
pub trait RateController: Send + std::fmt::Debug {
    /// A datagram of `bytes` was sent; `in_flight` includes it.
    fn on_sent(&mut self, now: Instant, bytes: u64, in_flight: u64);
    /// An ACK produced `sample`; `in_flight` no longer counts the acknowledged packets.
    fn on_ack(&mut self, now: Instant, sample: &RateSample, in_flight: u64);
    /// `lost_bytes` were declared lost; `in_flight` no longer counts them.
    fn on_loss(&mut self, now: Instant, lost_bytes: u64, in_flight: u64);
    /// Bytes per second the controller wants to send at, before any cap.
    fn pacing_rate(&self) -> u64;
    /// The most bytes allowed in flight.
    fn window(&self) -> u64;
    /// The smallest recent RTT, once one was measured.
    fn min_rtt(&self) -> Option<Duration>;
    /// Datagrams are now up to `size` bytes (the path MTU grew): floors counted in datagrams
    /// follow.
    fn set_max_datagram(&mut self, size: usize) {
        let _ = size;
    }
    /// What the controller measured about the path, to seed the next transfer to the same
    /// destination; `None` until it measured anything worth keeping.
    fn path_memory(&self) -> Option<PathMemory> {
        None
    }
    /// A short stable name for statistics (`rateControlMethod`).
    fn name(&self) -> &'static str;
}

/// Caps that clamp any controller (per-connection, per-destination, per-transfer limits), in
/// bytes per second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// The rate never goes below this, whatever the controller says.
    pub min: u64,
    /// The rate never goes above this; it wins over `min` if the two conflict.
    pub max: Option<u64>,
}

impl RateLimits {
    /// The floor used by [`Default`]: 100 kbit/s, so a sender never stalls completely.
    pub const DEFAULT_MIN: u64 = 12_500;

    /// `rate` raised to `min` and then lowered to `max`: a cap is never exceeded.
    pub fn clamp(&self, rate: u64) -> u64 {
        let raised = rate.max(self.min);
        match self.max {
            Some(max) => raised.min(max),
            None => raised,
        }
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            min: Self::DEFAULT_MIN,
            max: None,
        }
    }
}

/// `bytes` over `span` in bytes per second, saturating; 0 when `span` is zero.
pub(crate) fn per_second(bytes: u64, span: Duration) -> u64 {
    match span.as_nanos() {
        0 => 0,
        nanos => u64::try_from(u128::from(bytes) * 1_000_000_000 / nanos).unwrap_or(u64::MAX),
    }
}

/// The bytes `rate` bytes per second carries in `span`, saturating.
pub(crate) fn bytes_in(rate: u64, span: Duration) -> u64 {
    u64::try_from(u128::from(rate) * span.as_nanos() / 1_000_000_000).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn clamp_raises_to_min_and_lowers_to_max() {
        let limits = RateLimits {
            min: 1_000,
            max: Some(10_000),
        };
        assert_eq!(limits.clamp(0), 1_000);
        assert_eq!(limits.clamp(999), 1_000);
        assert_eq!(limits.clamp(5_000), 5_000);
        assert_eq!(limits.clamp(10_000), 10_000);
        assert_eq!(limits.clamp(u64::MAX), 10_000);
    }

    #[test]
    fn max_wins_over_a_conflicting_min() {
        let limits = RateLimits {
            min: 10_000,
            max: Some(1_000),
        };
        assert_eq!(limits.clamp(0), 1_000);
        assert_eq!(limits.clamp(50_000), 1_000);
    }

    #[test]
    fn default_has_a_floor_and_no_ceiling() {
        let limits = RateLimits::default();
        assert_eq!(limits.clamp(0), RateLimits::DEFAULT_MIN);
        assert_eq!(limits.clamp(u64::MAX), u64::MAX);
    }

    proptest! {
        #[test]
        fn clamp_respects_both_bounds(rate: u64, min: u64, max: Option<u64>) {
            let limits = RateLimits { min, max };
            let out = limits.clamp(rate);
            if let Some(max) = max {
                prop_assert!(out <= max);
            }
            if max.is_none_or(|max| min <= max) {
                prop_assert!(out >= min);
                prop_assert!(out == rate || out == min || Some(out) == max);
            }
        }
    }
}
