//! Failed logins, limited per network address with a token bucket: each attempt takes a
//! token and a successful one gives it back, so a client may fail [`BURST`] times at once and
//! then once per [`REFILL`]; beyond that its attempts are refused without checking the
//! password.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Failed attempts allowed at once from one address.
const BURST: f64 = 5.0;
/// The time one failed attempt takes to be forgiven.
const REFILL: Duration = Duration::from_secs(1);
/// Addresses tracked before those that are fully forgiven are dropped.
const PRUNE_ABOVE: usize = 4096;

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// The bucket's tokens at `now`.
    fn refill(&mut self, now: Instant) {
        let earned = now.saturating_duration_since(self.at).as_secs_f64() / REFILL.as_secs_f64();
        self.tokens = (self.tokens + earned).min(BURST);
        self.at = now;
    }
}

/// The buckets, by address (`None`: the embedding process).
#[derive(Default)]
pub(super) struct Logins {
    buckets: HashMap<Option<IpAddr>, Bucket>,
}

impl Logins {
    /// Takes a token for a login attempt from `address` at `now`, or says how long until one
    /// is available.
    pub(super) fn attempt(
        &mut self,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Result<(), Duration> {
        if self.buckets.len() > PRUNE_ABOVE {
            self.buckets.retain(|_, bucket| {
                bucket.refill(now);
                bucket.tokens < BURST
            });
        }
        let bucket = self.buckets.entry(address).or_insert(Bucket {
            tokens: BURST,
            at: now,
        });
        bucket.refill(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(REFILL.mul_f64(1.0 - bucket.tokens))
        }
    }

    /// Gives back the token of a login from `address` that succeeded.
    pub(super) fn succeeded(&mut self, address: Option<IpAddr>) {
        if let Some(bucket) = self.buckets.get_mut(&address) {
            bucket.tokens = (bucket.tokens + 1.0).min(BURST);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_may_fail_a_burst_then_once_per_refill_and_others_are_not_held_back() {
        let mut logins = Logins::default();
        let start = Instant::now();
        let a = Some(IpAddr::from([127, 0, 0, 1]));
        let b = Some(IpAddr::from([127, 0, 0, 2]));
        for _ in 0..5 {
            assert_eq!(logins.attempt(a, start), Ok(()));
        }
        let wait = logins.attempt(a, start).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= REFILL, "{wait:?}");
        assert_eq!(logins.attempt(b, start), Ok(()));
        assert!(logins.attempt(a, start + REFILL / 2).is_err());
        assert_eq!(logins.attempt(a, start + REFILL), Ok(()));
        assert!(logins.attempt(a, start + REFILL).is_err());
        // A success costs nothing.
        logins.succeeded(a);
        assert_eq!(logins.attempt(a, start + REFILL), Ok(()));
    }
}
