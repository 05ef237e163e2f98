//! Per-packet protection at the four cipher levels.
