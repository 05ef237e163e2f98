//! What the model controller does with loss: the rate-control policy a transfer or a
//! connection selects (`rateControlMethod`).

use std::fmt;
use std::str::FromStr;

/// How the model controller treats losses and queues it shares with other flows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RatePolicy {
    /// Fill the path: losses without a growing queue are taken as random and never lower the
    /// rate; only a queue above the target (or a loss rate no random loss reaches) does.
    #[default]
    Fill,
    /// Share the path with loss-based TCP: any loss in a measurement period that also saw the
    /// delay rise is congestion, and the estimate drops multiplicatively as CUBIC's window does.
    Fair,
}

impl RatePolicy {
    /// Every policy, in the order of their numbers.
    pub const ALL: [RatePolicy; 2] = [RatePolicy::Fill, RatePolicy::Fair];

    /// The number of the policy in `rateControlMethod`: 0 fills the path, 1 is fair to TCP.
    pub fn number(self) -> u32 {
        match self {
            RatePolicy::Fill => 0,
            RatePolicy::Fair => 1,
        }
    }

    /// The policy numbered `n` in `rateControlMethod`, if there is one.
    pub fn from_number(n: u32) -> Option<RatePolicy> {
        Self::ALL.into_iter().find(|p| p.number() == n)
    }

    /// The short name of the policy: `fill` or `fair`.
    pub fn name(self) -> &'static str {
        match self {
            RatePolicy::Fill => "fill",
            RatePolicy::Fair => "fair",
        }
    }
}

impl fmt::Display for RatePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for RatePolicy {
    type Err = String;

    /// `fill` or `fair`, or the policy's number.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == s || s.parse() == Ok(p.number()))
            .ok_or_else(|| format!("unknown rate-control policy {s:?} (expected fill or fair)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_round_trip() {
        for p in RatePolicy::ALL {
            assert_eq!(RatePolicy::from_number(p.number()), Some(p));
            assert_eq!(p.name().parse::<RatePolicy>(), Ok(p));
            assert_eq!(p.number().to_string().parse::<RatePolicy>(), Ok(p));
        }
        assert_eq!(RatePolicy::from_number(2), None);
        assert!("fast".parse::<RatePolicy>().is_err());
        assert_eq!(RatePolicy::default(), RatePolicy::Fill);
    }
}
