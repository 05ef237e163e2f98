//! Sets of half-open integer ranges.
