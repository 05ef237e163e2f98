//! Sets of half-open `u64` ranges: received packet numbers, acknowledged bytes, file pieces.
//!
//! Ranges are kept sorted, disjoint and non-adjacent, so the common case of data arriving in
//! order stays a single range however much of it there is.

use std::ops::Range;

/// A set of `u64` values stored as sorted, disjoint, non-adjacent half-open ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeSet {
    ranges: Vec<Range<u64>>,
}

impl RangeSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the set holds no value.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// How many disjoint ranges the set holds.
    pub fn range_count(&self) -> usize {
        self.ranges.len()
    }

    /// How many values the set holds.
    pub fn len(&self) -> u64 {
        self.ranges.iter().map(|r| r.end - r.start).sum()
    }

    /// The ranges, lowest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Range<u64>> + '_ {
        self.ranges.iter().cloned()
    }

    /// The smallest value, if any.
    pub fn min(&self) -> Option<u64> {
        self.ranges.first().map(|r| r.start)
    }

    /// The largest value, if any.
    pub fn max(&self) -> Option<u64> {
        self.ranges.last().map(|r| r.end - 1)
    }

    /// Whether `value` is in the set.
    pub fn contains(&self, value: u64) -> bool {
        let i = self.ranges.partition_point(|r| r.end <= value);
        self.ranges.get(i).is_some_and(|r| r.start <= value)
    }

    /// Whether every value of `range` is in the set (an empty range is always covered).
    pub fn covers(&self, range: Range<u64>) -> bool {
        if range.is_empty() {
            return true;
        }
        let i = self.ranges.partition_point(|r| r.end <= range.start);
        self.ranges
            .get(i)
            .is_some_and(|r| r.start <= range.start && range.end <= r.end)
    }

    /// Adds `range`; returns how many values were new.
    pub fn insert(&mut self, range: Range<u64>) -> u64 {
        if range.is_empty() {
            return 0;
        }
        // Fast path: appending at or after the last range (in-order arrival).
        if let Some(last) = self.ranges.last_mut() {
            if range.start >= last.start && range.start <= last.end {
                let added = range.end.saturating_sub(last.end);
                last.end = last.end.max(range.end);
                return added;
            }
        }
        // First range whose end reaches the new start (adjacent ranges merge).
        let first = self.ranges.partition_point(|r| r.end < range.start);
        // One past the last range whose start is within reach of the new end.
        let last = self.ranges.partition_point(|r| r.start <= range.end);
        if first == last {
            self.ranges.insert(first, range.clone());
            return range.end - range.start;
        }
        let overlapped: u64 = self.ranges[first..last]
            .iter()
            .map(|r| r.end.min(range.end) - r.start.max(range.start).min(r.end.min(range.end)))
            .sum();
        let start = self.ranges[first].start.min(range.start);
        let end = self.ranges[last - 1].end.max(range.end);
        self.ranges.splice(first..last, std::iter::once(start..end));
        (range.end - range.start) - overlapped
    }

    /// Removes every value of `range`.
    pub fn remove(&mut self, range: Range<u64>) {
        if range.is_empty() {
            return;
        }
        let first = self.ranges.partition_point(|r| r.end <= range.start);
        let last = self.ranges.partition_point(|r| r.start < range.end);
        if first >= last {
            return;
        }
        let mut kept = Vec::with_capacity(2);
        let (lo, hi) = (&self.ranges[first], &self.ranges[last - 1]);
        if lo.start < range.start {
            kept.push(lo.start..range.start);
        }
        if range.end < hi.end {
            kept.push(range.end..hi.end);
        }
        self.ranges.splice(first..last, kept);
    }

    /// How far the set runs without a gap from `start`: the end of the range holding `start`,
    /// or `start` itself when the set does not hold it.
    pub fn run_from(&self, start: u64) -> u64 {
        let i = self.ranges.partition_point(|r| r.end <= start);
        match self.ranges.get(i) {
            Some(r) if r.start <= start => r.end,
            _ => start,
        }
    }

    /// Removes every value below `bound`.
    pub fn remove_below(&mut self, bound: u64) {
        let i = self.ranges.partition_point(|r| r.end <= bound);
        self.ranges.drain(..i);
        if let Some(first) = self.ranges.first_mut() {
            first.start = first.start.max(bound);
        }
    }

    /// Drops the lowest ranges so that at most `max` remain.
    pub fn truncate_oldest(&mut self, max: usize) {
        if self.ranges.len() > max {
            let excess = self.ranges.len() - max;
            self.ranges.drain(..excess);
        }
    }

    /// The parts of `range` that are not in the set, lowest first.
    pub fn gaps(&self, range: Range<u64>) -> impl Iterator<Item = Range<u64>> + '_ {
        let first = self.ranges.partition_point(|r| r.end <= range.start);
        let mut cursor = range.start;
        let end = range.end;
        let mut iter = self.ranges[first..].iter();
        std::iter::from_fn(move || {
            while cursor < end {
                match iter.next() {
                    Some(r) if r.start < end => {
                        let gap = cursor..r.start;
                        cursor = cursor.max(r.end);
                        if gap.start < gap.end {
                            return Some(gap);
                        }
                    }
                    _ => {
                        let gap = cursor..end;
                        cursor = end;
                        return Some(gap);
                    }
                }
            }
            None
        })
    }
}

impl FromIterator<Range<u64>> for RangeSet {
    /// The union of the ranges, in any order.
    fn from_iter<I: IntoIterator<Item = Range<u64>>>(ranges: I) -> Self {
        let mut set = RangeSet::new();
        for range in ranges {
            set.insert(range);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn model(ops: &[(u64, u64)]) -> BTreeSet<u64> {
        ops.iter().flat_map(|&(s, l)| s..s + l).collect()
    }

    #[test]
    fn in_order_arrival_stays_one_range() {
        let mut set = RangeSet::new();
        for i in 0..1000 {
            assert_eq!(set.insert(i * 10..i * 10 + 10), 10);
        }
        assert_eq!(set.range_count(), 1);
        assert_eq!(set.len(), 10_000);
        assert!(set.covers(0..10_000));
        assert!(!set.covers(0..10_001));
    }

    #[test]
    fn insert_counts_only_new_values() {
        let mut set = RangeSet::new();
        assert_eq!(set.insert(10..20), 10);
        assert_eq!(set.insert(30..40), 10);
        assert_eq!(set.insert(15..35), 10);
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![10..40]);
        assert_eq!(set.insert(0..50), 20);
        assert_eq!(set.insert(0..0), 0);
    }

    #[test]
    fn gaps_of_a_range() {
        let mut set = RangeSet::new();
        set.insert(10..20);
        set.insert(30..40);
        let gaps: Vec<_> = set.gaps(0..50).collect();
        assert_eq!(gaps, vec![0..10, 20..30, 40..50]);
        assert_eq!(set.gaps(12..18).count(), 0);
        assert_eq!(set.gaps(15..35).collect::<Vec<_>>(), vec![20..30]);
    }

    proptest! {
        #[test]
        fn behaves_like_a_set(ops in prop::collection::vec((0u64..500, 0u64..40), 0..60),
                              probe in 0u64..600, bound in 0u64..600) {
            let mut set = RangeSet::new();
            let mut reference = BTreeSet::new();
            for &(s, l) in &ops {
                let before = reference.len() as u64;
                reference.extend(s..s + l);
                prop_assert_eq!(set.insert(s..s + l), reference.len() as u64 - before);
            }
            prop_assert_eq!(&model(&ops), &reference);
            prop_assert_eq!(set.len(), reference.len() as u64);
            prop_assert_eq!(set.contains(probe), reference.contains(&probe));
            // Ranges are sorted, disjoint and non-adjacent.
            let ranges: Vec<_> = set.iter().collect();
            for pair in ranges.windows(2) {
                prop_assert!(pair[0].end < pair[1].start);
            }
            let gaps: u64 = set.gaps(0..600).map(|g| g.end - g.start).sum();
            prop_assert_eq!(gaps, 600 - reference.iter().filter(|&&v| v < 600).count() as u64);
            let run_end = (probe..).find(|v| !reference.contains(v)).unwrap_or(probe);
            prop_assert_eq!(set.run_from(probe), run_end);
            let (cut, width) = (probe.min(bound), probe.abs_diff(bound));
            let mut removed = set.clone();
            removed.remove(cut..cut + width);
            for v in 0..600 {
                let expected = reference.contains(&v) && !(cut..cut + width).contains(&v);
                prop_assert_eq!(removed.contains(v), expected);
            }
            set.remove_below(bound);
            prop_assert_eq!(set.len(), reference.iter().filter(|&&v| v >= bound).count() as u64);
        }
    }
}
