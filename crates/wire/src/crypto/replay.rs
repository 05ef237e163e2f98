//! Replay window over received packet numbers.
//!
//! A sliding bitmap remembers which of the last 4,096 packet numbers up to the highest one
//! received have been seen. A packet number is accepted once; anything older than the window is
//! refused, since it can no longer be told apart from a replay.
//!
//! The window also refuses to be dragged forward: a number more than [`MAX_ADVANCE`] past the
//! highest one received (past 0 before the first) is refused, so a forged packet number — at
//! level `none` nothing authenticates one — cannot move the window beyond every number the real
//! sender will use. The last number, `u64::MAX`, is never accepted, so `pn + 1` exists for every
//! number accepted.

/// How many packet numbers, ending at the highest one received, the window remembers.
const WINDOW: u64 = 4096;
/// How far past the highest packet number received (or past 0 before the first) a new one may
/// be. Packet numbers count up from 0 one by one: a real sender gets this far ahead only with a
/// million datagrams in a row lost.
pub const MAX_ADVANCE: u64 = 1 << 20;
/// Bits per bitmap word.
const WORD_BITS: u64 = u64::BITS as u64;
/// Words in the bitmap.
const WORDS: usize = (WINDOW / WORD_BITS) as usize;

/// Which packet numbers were already received, over the last 4,096 up to the highest seen.
///
/// Packet number `pn` lives at bit `pn % 4096` of a circular bitmap; moving the highest number
/// forward clears the bits of the numbers skipped over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayWindow {
    /// Highest packet number committed, `None` before the first.
    highest: Option<u64>,
    bits: [u64; WORDS],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplayWindow {
    /// A window that has seen no packet.
    pub fn new() -> Self {
        ReplayWindow {
            highest: None,
            bits: [0; WORDS],
        }
    }

    /// Would `pn` be accepted (not seen before, not older than the window, not more than
    /// [`MAX_ADVANCE`] ahead of it, not `u64::MAX`)? Does not change state.
    pub fn check(&self, pn: u64) -> bool {
        if pn == u64::MAX {
            return false;
        }
        match self.highest {
            None => pn <= MAX_ADVANCE,
            Some(highest) if pn > highest => pn - highest <= MAX_ADVANCE,
            Some(highest) if highest - pn >= WINDOW => false,
            Some(_) => !self.is_set(pn),
        }
    }

    /// Records `pn` as received. Call it only after the packet authenticated and
    /// [`check`](Self::check) accepted it; a number older than the window is ignored.
    pub fn commit(&mut self, pn: u64) {
        match self.highest {
            Some(highest) if pn <= highest => {
                if highest - pn < WINDOW {
                    self.set(pn);
                }
            }
            Some(highest) if pn - highest >= WINDOW => {
                self.bits = [0; WORDS];
                self.advance(pn);
            }
            Some(highest) => {
                for skipped in highest + 1..pn {
                    self.clear(skipped);
                }
                self.advance(pn);
            }
            None => self.advance(pn),
        }
    }

    /// Makes `pn` the highest number received and marks it.
    fn advance(&mut self, pn: u64) {
        self.highest = Some(pn);
        self.set(pn);
    }

    fn is_set(&self, pn: u64) -> bool {
        let (word, mask) = slot(pn);
        self.bits[word] & mask != 0
    }

    fn set(&mut self, pn: u64) {
        let (word, mask) = slot(pn);
        self.bits[word] |= mask;
    }

    fn clear(&mut self, pn: u64) {
        let (word, mask) = slot(pn);
        self.bits[word] &= !mask;
    }
}

/// Word index and bit mask of `pn` in the circular bitmap.
fn slot(pn: u64) -> (usize, u64) {
    let index = pn % WINDOW;
    // `index / WORD_BITS` is below `WORDS`, so the cast never truncates.
    ((index / WORD_BITS) as usize, 1 << (index % WORD_BITS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    /// Checks `pn`, and commits it when accepted; returns whether it was accepted.
    fn receive(window: &mut ReplayWindow, pn: u64) -> bool {
        let accepted = window.check(pn);
        if accepted {
            window.commit(pn);
        }
        accepted
    }

    #[test]
    fn edges_of_the_window() {
        let mut window = ReplayWindow::default();
        assert!(receive(&mut window, 0));
        assert!(!window.check(0));
        assert!(receive(&mut window, 10_000));
        assert!(!window.check(10_000 - WINDOW), "just outside the window");
        assert!(
            receive(&mut window, 10_000 - WINDOW + 1),
            "oldest slot inside"
        );
        assert!(!window.check(10_000 - WINDOW + 1));
        assert!(receive(&mut window, 10_000 + MAX_ADVANCE), "farthest step");
        assert!(!window.check(10_000));
    }

    #[test]
    fn a_forged_far_number_does_not_move_the_window() {
        let mut window = ReplayWindow::new();
        assert!(!receive(&mut window, u64::MAX), "last number, first packet");
        assert!(!receive(&mut window, MAX_ADVANCE + 1), "too far past 0");
        for pn in 0..100 {
            assert!(receive(&mut window, pn));
        }
        assert!(!receive(&mut window, u64::MAX));
        assert!(!receive(&mut window, 99 + MAX_ADVANCE + 1));
        assert!(receive(&mut window, 100), "the real sender carries on");
    }

    #[test]
    fn the_last_number_is_never_accepted() {
        let mut window = ReplayWindow::new();
        window.commit(u64::MAX - 1);
        assert!(!window.check(u64::MAX));
        assert!(window.check(u64::MAX - 2));
    }

    #[test]
    fn sliding_forward_forgets_the_reused_slots() {
        let mut window = ReplayWindow::new();
        for pn in 0..WINDOW {
            assert!(receive(&mut window, pn));
        }
        // Jump by less than a window: slots of the skipped numbers must read as unseen.
        assert!(receive(&mut window, WINDOW + 100));
        for pn in WINDOW..WINDOW + 100 {
            assert!(window.check(pn), "{pn} was never received");
        }
        for pn in 101..WINDOW {
            assert!(!window.check(pn), "{pn} was received");
        }
        assert!(!window.check(100), "now outside the window");
    }

    proptest! {
        /// Against a model that remembers every number: the window accepts exactly the numbers
        /// never seen and not older than the window.
        #[test]
        fn matches_a_model(pns in prop::collection::vec(0u64..20_000, 1..400)) {
            let mut window = ReplayWindow::new();
            let mut seen = BTreeSet::new();
            let mut highest: Option<u64> = None;
            for pn in pns {
                let fresh = !seen.contains(&pn)
                    && highest.is_none_or(|h| pn > h || h - pn < WINDOW);
                prop_assert_eq!(receive(&mut window, pn), fresh, "pn {}", pn);
                if fresh {
                    seen.insert(pn);
                    highest = highest.max(Some(pn));
                }
            }
        }

        #[test]
        fn accepted_once_and_never_again(
            pns in prop::collection::vec(any::<u64>(), 1..100),
        ) {
            let mut window = ReplayWindow::new();
            for &pn in &pns {
                if receive(&mut window, pn) {
                    prop_assert!(!window.check(pn));
                    prop_assert!(!receive(&mut window, pn));
                }
            }
            for &pn in &pns {
                prop_assert!(!window.check(pn));
            }
        }

        #[test]
        fn any_number_after_any_history_is_handled_without_panic_or_a_long_jump(
            pns in prop::collection::vec(
                prop_oneof![any::<u64>(), 0..3 * MAX_ADVANCE, Just(u64::MAX)],
                1..200,
            ),
        ) {
            let mut window = ReplayWindow::new();
            let mut highest: Option<u64> = None;
            for pn in pns {
                if receive(&mut window, pn) {
                    prop_assert!(pn < u64::MAX);
                    prop_assert!(pn <= highest.map_or(0, |h| h) + MAX_ADVANCE, "pn {}", pn);
                    highest = highest.max(Some(pn));
                }
            }
        }

        #[test]
        fn older_than_the_window_is_refused(
            (highest, age) in (WINDOW..u64::MAX).prop_flat_map(|h| (Just(h), WINDOW..=h)),
        ) {
            let mut window = ReplayWindow::new();
            window.commit(highest);
            prop_assert!(!window.check(highest - age));
            prop_assert!(window.check(highest - (WINDOW - 1)), "newest edge is still inside");
        }

        #[test]
        fn any_order_within_the_window_is_accepted_exactly_once(
            start in 1..u64::MAX - WINDOW,
            order in Just((0..WINDOW).collect::<Vec<u64>>()).prop_shuffle(),
        ) {
            let mut window = ReplayWindow::new();
            window.commit(start - 1);
            for &offset in &order {
                prop_assert!(receive(&mut window, start + offset), "first {}", offset);
                prop_assert!(!receive(&mut window, start + offset), "again {}", offset);
            }
            for offset in 0..WINDOW {
                prop_assert!(!window.check(start + offset));
            }
        }
    }
}
