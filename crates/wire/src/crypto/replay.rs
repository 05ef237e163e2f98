//! Replay window over received packet numbers.
