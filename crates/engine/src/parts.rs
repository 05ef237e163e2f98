//! Which session owns each part file under a receiver's root. A sender that reconnects starts
//! a new session on the same part files while the receiver may still hold the old one, which
//! times out later: the newest session takes the files over, and a session that ends gives
//! back or removes only the part files it still owns.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// The owner of each part file being written, by path below the root.
#[derive(Debug, Default)]
pub struct PartOwners {
    owners: Mutex<HashMap<Box<str>, u64>>,
    next: AtomicU64,
}

impl PartOwners {
    /// A new owner's id.
    pub fn new_owner(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// `owner` writes the part file at `path` from now on.
    pub fn claim(&self, path: &str, owner: u64) {
        self.lock().insert(path.into(), owner);
    }

    /// Whether `owner` still writes the part file at `path`.
    pub fn owns(&self, path: &str, owner: u64) -> bool {
        self.lock().get(path) == Some(&owner)
    }

    /// `owner` is done with every part file it owns.
    pub fn release_all(&self, owner: u64) {
        self.lock().retain(|_, o| *o != owner);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, u64>> {
        self.owners.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_claim_wins_and_an_owner_lets_go_of_its_own_alone() {
        let parts = PartOwners::default();
        let (old, new) = (parts.new_owner(), parts.new_owner());
        parts.claim("a.jetpart", old);
        parts.claim("b.jetpart", old);
        parts.claim("a.jetpart", new);
        assert!(!parts.owns("a.jetpart", old));
        assert!(parts.owns("a.jetpart", new));
        parts.release_all(old);
        assert!(parts.owns("a.jetpart", new));
        assert!(!parts.owns("b.jetpart", old));
    }
}
