//! Logins, limited per network address. At most [`AT_ONCE`] password checks from one address
//! run at once, and each takes a token from the address's bucket of [`AT_ONCE`]: a success
//! gives it back, a failure keeps it until time refills it at one per [`REFILL`]. So an address
//! may fail [`AT_ONCE`] times at once and then once per [`REFILL`], while its correct logins
//! cost nothing. A login that finds no check free or no token waits its turn in its address's
//! queue ([`QUEUE`] deep at most) for at most [`MAX_WAIT`]; a login that finds the queue full,
//! or could not get a token within [`MAX_WAIT`], is refused without its password being checked.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Password checks under way at once from one address, and failures allowed at once.
const AT_ONCE: usize = 5;
/// The time one failed attempt takes to be forgiven.
const REFILL: Duration = Duration::from_secs(1);
/// Logins of one address waiting their turn.
const QUEUE: usize = 128;
/// The longest a login waits for its turn.
pub(super) const MAX_WAIT: Duration = Duration::from_secs(5);
/// Addresses tracked before those with nothing to remember are dropped.
const PRUNE_ABOVE: usize = 4096;

/// Why a login was refused unchecked.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Refusal {
    /// The address failed too often: a token comes back in this long.
    Failures { retry_in: Duration },
    /// The address has too many logins under way or waiting.
    Busy,
}

/// What becomes of a login.
#[derive(Debug, PartialEq)]
pub(super) enum Admission<T> {
    /// Its password is to be checked now; [`Logins::ended`] says how the check went.
    Check(T),
    /// It waits its turn: [`Logins::due`] hands it back.
    Queued,
    /// Refused unchecked.
    Refused(T, Refusal),
}

/// A login waiting its turn, and until when it may.
struct Waiting<T> {
    login: T,
    until: Instant,
}

/// One address's state.
struct Address<T> {
    /// Tokens left (a check under way holds one).
    tokens: f64,
    /// When `tokens` was last refilled.
    at: Instant,
    /// Checks under way.
    checking: usize,
    /// Logins waiting their turn, oldest first.
    queue: VecDeque<Waiting<T>>,
}

impl<T> Address<T> {
    /// The tokens at `now`.
    fn refill(&mut self, now: Instant) {
        let earned = now.saturating_duration_since(self.at).as_secs_f64() / REFILL.as_secs_f64();
        self.tokens = (self.tokens + earned).min(AT_ONCE as f64);
        self.at = now;
    }

    fn can_check(&self) -> bool {
        self.checking < AT_ONCE && self.tokens >= 1.0
    }

    /// Starts a check: it holds a token.
    fn take(&mut self) {
        self.tokens -= 1.0;
        self.checking += 1;
    }

    /// Why a login that cannot start now would be refused: the bucket when it is what holds
    /// the login back, else the checks under way.
    fn refusal(&self) -> Refusal {
        if self.tokens < 1.0 && self.checking < AT_ONCE {
            Refusal::Failures {
                retry_in: REFILL.mul_f64(1.0 - self.tokens),
            }
        } else {
            Refusal::Busy
        }
    }

    /// Whether the next login queued would surely wait longer than [`MAX_WAIT`]: no check
    /// under way can give a token back, and time does not bring enough before then.
    fn hopeless(&self) -> bool {
        let needed = (self.queue.len() + 1) as f64 - self.tokens;
        self.checking == 0 && REFILL.mul_f64(needed.max(0.0)) > MAX_WAIT
    }

    /// When the first login waiting may go on or must give up; `None` when nothing waits.
    fn wakes_at(&self) -> Option<Instant> {
        let first = self.queue.front()?;
        let token = (self.checking < AT_ONCE && self.tokens < 1.0)
            .then(|| self.at + REFILL.mul_f64(1.0 - self.tokens));
        Some(token.map_or(first.until, |t| t.min(first.until)))
    }

    /// Nothing to remember: no token missing, nothing under way or waiting.
    fn idle(&self) -> bool {
        self.tokens >= AT_ONCE as f64 && self.checking == 0 && self.queue.is_empty()
    }
}

/// The addresses (`None`: the embedding process) and the logins they have under way or
/// waiting.
pub(super) struct Logins<T> {
    addresses: HashMap<Option<IpAddr>, Address<T>>,
    /// The addresses whose queue is not empty.
    waiting: HashSet<Option<IpAddr>>,
}

impl<T> Default for Logins<T> {
    fn default() -> Self {
        Logins {
            addresses: HashMap::new(),
            waiting: HashSet::new(),
        }
    }
}

impl<T> Logins<T> {
    /// A login from `address` at `now`.
    pub(super) fn attempt(
        &mut self,
        address: Option<IpAddr>,
        login: T,
        now: Instant,
    ) -> Admission<T> {
        if self.addresses.len() > PRUNE_ABOVE {
            self.addresses.retain(|_, a| {
                a.refill(now);
                !a.idle()
            });
        }
        let a = self.addresses.entry(address).or_insert(Address {
            tokens: AT_ONCE as f64,
            at: now,
            checking: 0,
            queue: VecDeque::new(),
        });
        a.refill(now);
        if a.queue.is_empty() && a.can_check() {
            a.take();
            return Admission::Check(login);
        }
        if a.queue.len() >= QUEUE || a.hopeless() {
            return Admission::Refused(login, a.refusal());
        }
        a.queue.push_back(Waiting {
            login,
            until: now + MAX_WAIT,
        });
        self.waiting.insert(address);
        Admission::Queued
    }

    /// A check of a login from `address` ended, `ok` if the password was right.
    pub(super) fn ended(&mut self, address: Option<IpAddr>, ok: bool) {
        if let Some(a) = self.addresses.get_mut(&address) {
            a.checking = a.checking.saturating_sub(1);
            if ok {
                a.tokens = (a.tokens + 1.0).min(AT_ONCE as f64);
            }
        }
    }

    /// The waiting logins whose turn came at `now` (to be checked now) or whose wait is over
    /// (refused), with their addresses.
    pub(super) fn due(&mut self, now: Instant) -> Vec<(Option<IpAddr>, Admission<T>)> {
        let mut due = Vec::new();
        self.waiting.retain(|address| {
            let Some(a) = self.addresses.get_mut(address) else {
                return false;
            };
            a.refill(now);
            while let Some(first) = a.queue.front() {
                let check = a.can_check();
                if !check && first.until > now {
                    break;
                }
                let refusal = a.refusal();
                let Some(Waiting { login, .. }) = a.queue.pop_front() else {
                    break;
                };
                if check {
                    a.take();
                    due.push((*address, Admission::Check(login)));
                } else {
                    due.push((*address, Admission::Refused(login, refusal)));
                }
            }
            !a.queue.is_empty()
        });
        due
    }

    /// When [`Logins::due`] has something to hand back, at the latest (a check that ends may
    /// make it sooner); `None` while nothing waits.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.waiting
            .iter()
            .filter_map(|address| self.addresses.get(address)?.wakes_at())
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1)));
    const B: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2)));

    fn checked<T>(admission: Admission<T>) -> T {
        match admission {
            Admission::Check(login) => login,
            _ => panic!("not checked now"),
        }
    }

    #[test]
    fn correct_logins_beyond_the_checks_under_way_wait_their_turn_and_all_run() {
        let mut logins = Logins::default();
        let now = Instant::now();
        for n in 0..5 {
            assert_eq!(logins.attempt(A, n, now), Admission::Check(n));
        }
        for n in 5..20 {
            assert_eq!(logins.attempt(A, n, now), Admission::Queued);
        }
        // Another address is not held back.
        assert_eq!(logins.attempt(B, 99, now), Admission::Check(99));
        assert_eq!(logins.next_due(), Some(now + MAX_WAIT));
        let mut checked_in_order = Vec::new();
        while checked_in_order.len() < 15 {
            logins.ended(A, true);
            for (address, admission) in logins.due(now) {
                assert_eq!(address, A);
                checked_in_order.push(checked(admission));
            }
        }
        assert_eq!(checked_in_order, (5..20).collect::<Vec<_>>());
        assert_eq!(logins.next_due(), None);
    }

    #[test]
    fn failures_are_limited_to_a_burst_then_one_per_refill_and_the_rest_refused() {
        let mut logins = Logins::default();
        let start = Instant::now();
        for n in 0..5 {
            checked(logins.attempt(A, n, start));
        }
        // Waiting while the checks run: they might succeed and give their tokens back.
        for n in 5..5 + QUEUE {
            assert_eq!(logins.attempt(A, n, start), Admission::Queued);
        }
        assert_eq!(
            logins.attempt(A, 0, start),
            Admission::Refused(0, Refusal::Busy)
        );
        for _ in 0..5 {
            logins.ended(A, false);
        }
        // No token and no check under way: one waiting login goes on per refill.
        assert!(logins.due(start).is_empty());
        for s in 1..5 {
            assert_eq!(logins.next_due(), Some(start + REFILL * s));
            let due = logins.due(start + REFILL * s);
            assert_eq!(due, vec![(A, Admission::Check(4 + s as usize))]);
            logins.ended(A, false);
        }
        // At MAX_WAIT one more token came; the others gave up, refused for the failures.
        let due = logins.due(start + MAX_WAIT);
        assert_eq!(due[0], (A, Admission::Check(9)));
        assert_eq!(due.len(), QUEUE - 4);
        for (_, admission) in &due[1..] {
            assert!(
                matches!(admission, Admission::Refused(_, Refusal::Failures { .. })),
                "{admission:?}"
            );
        }
        logins.ended(A, false);
        // A flood with no token and nothing under way: what could get a token within MAX_WAIT
        // waits, the rest is refused at once with when a token comes back.
        let later = start + MAX_WAIT;
        let mut queued = 0;
        for n in 0..1000 {
            match logins.attempt(A, n, later) {
                Admission::Refused(_, Refusal::Failures { retry_in }) => {
                    assert!(
                        retry_in > Duration::ZERO && retry_in <= REFILL,
                        "{retry_in:?}"
                    );
                }
                Admission::Queued => queued += 1,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(queued, 5);
    }

    #[test]
    fn waiting_behind_checks_that_do_not_end_is_refused_as_busy() {
        let mut logins = Logins::default();
        let now = Instant::now();
        for n in 0..5 {
            checked(logins.attempt(A, n, now));
        }
        for n in 5..10 {
            assert_eq!(logins.attempt(A, n, now), Admission::Queued);
        }
        assert!(logins.due(now + MAX_WAIT / 2).is_empty());
        let due = logins.due(now + MAX_WAIT);
        assert_eq!(due.len(), 5);
        assert!(due
            .iter()
            .all(|(_, a)| matches!(a, Admission::Refused(_, Refusal::Busy))));
        assert_eq!(logins.next_due(), None);
    }
}
