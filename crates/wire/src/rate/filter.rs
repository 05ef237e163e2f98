//! The windowed maximum filter behind the model controller's bandwidth estimate: the largest
//! delivery rate over the last rounds.

use std::collections::VecDeque;

/// The maximum of values tagged with round numbers, over the last `window` rounds.
#[derive(Clone, Debug)]
pub(crate) struct MaxFilter {
    window: u64,
    /// The best value of each recent round, oldest first, rounds strictly increasing.
    rounds: VecDeque<(u64, u64)>,
}

impl MaxFilter {
    /// A filter over `window` rounds (the current one included).
    pub(crate) fn new(window: u64) -> Self {
        Self {
            window: window.max(1),
            rounds: VecDeque::new(),
        }
    }

    /// Records `value` measured in `round`, forgetting rounds that left the window.
    pub(crate) fn update(&mut self, round: u64, value: u64) {
        match self.rounds.back_mut() {
            Some((r, best)) if *r == round => *best = (*best).max(value),
            _ => self.rounds.push_back((round, value)),
        }
        self.expire(round);
    }

    /// Forgets everything and starts over from `value` in `round`.
    pub(crate) fn reset(&mut self, round: u64, value: u64) {
        self.rounds.clear();
        self.rounds.push_back((round, value));
    }

    /// The largest value in the window, 0 when empty.
    pub(crate) fn get(&self) -> u64 {
        self.rounds.iter().map(|&(_, v)| v).max().unwrap_or(0)
    }

    fn expire(&mut self, round: u64) {
        while let Some(&(r, _)) = self.rounds.front() {
            if r + self.window <= round {
                self.rounds.pop_front();
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_filter_forgets_old_rounds() {
        let mut f = MaxFilter::new(3);
        assert_eq!(f.get(), 0);
        f.update(1, 100);
        f.update(1, 50);
        f.update(2, 80);
        f.update(3, 70);
        assert_eq!(f.get(), 100);
        f.update(4, 60);
        assert_eq!(f.get(), 80);
        // Round 6 still sees round 4...
        f.update(6, 10);
        assert_eq!(f.get(), 60);
        // ...round 7 no longer does.
        f.update(7, 10);
        assert_eq!(f.get(), 10);
        f.reset(8, 5);
        assert_eq!(f.get(), 5);
    }
}
