//! The authenticated key agreement.
