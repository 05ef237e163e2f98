//! What a transfer measured about its path, kept by the caller per destination so that the
//! next transfer to the same destination starts from it rather than from nothing.

use std::time::Duration;

/// A path's figures as a transfer last measured them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PathMemory {
    /// The rate in bytes per second the path can be sent at without a queue building: what it
    /// delivered over one minus the fraction lost at random.
    pub bandwidth: u64,
    /// The smallest RTT measured.
    pub min_rtt: Duration,
    /// The fraction of the bytes sent that were lost, 0 to 1.
    pub loss: f64,
}

impl PathMemory {
    /// The largest loss fraction remembered: above it the figures say more about the losses
    /// than about the path.
    pub const MAX_LOSS: f64 = 0.5;

    /// Figures from untrusted storage, checked: `None` when the bandwidth or the RTT is zero
    /// or the loss is not a fraction.
    pub fn new(bandwidth: u64, min_rtt: Duration, loss: f64) -> Option<PathMemory> {
        (bandwidth > 0 && !min_rtt.is_zero() && (0.0..=1.0).contains(&loss)).then_some(PathMemory {
            bandwidth,
            min_rtt,
            loss: loss.min(Self::MAX_LOSS),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_checked() {
        let rtt = Duration::from_millis(100);
        assert!(PathMemory::new(0, rtt, 0.0).is_none());
        assert!(PathMemory::new(1, Duration::ZERO, 0.0).is_none());
        assert!(PathMemory::new(1, rtt, -0.1).is_none());
        assert!(PathMemory::new(1, rtt, f64::NAN).is_none());
        assert_eq!(
            PathMemory::new(1, rtt, 0.9).unwrap().loss,
            PathMemory::MAX_LOSS
        );
        assert_eq!(PathMemory::new(5, rtt, 0.1).unwrap().bandwidth, 5);
    }
}
