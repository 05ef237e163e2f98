//! The pacer.
