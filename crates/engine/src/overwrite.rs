//! Overwrite modes: what a sender asks the receiver to do with a destination file that exists
//! (API `OVERWRITE_*`), and the receiver's limit on them.
//!
//! The modes are ordered by how much existing data they can destroy ([`OverwriteLimit`]):
//!
//! 1. **never** — `OVERWRITE_NEVER`, `OVERWRITE_IN_PLACE_NEVER`: an existing file is never
//!    touched.
//! 2. **backup** — `OVERWRITE_BACKUP`: an existing file is replaced once the new one is complete
//!    and kept as `NAME.jetbak`; only an older backup is lost.
//! 3. **always** — `OVERWRITE_ALWAYS`: an existing file is replaced once the new one is
//!    complete.
//! 4. **in-place** — `OVERWRITE_IN_PLACE_SAME_SIZE` (only a file of the new size),
//!    `OVERWRITE_IN_PLACE_ALWAYS`: an existing file is overwritten as data arrives, so a
//!    transfer that fails leaves it part old, part new.
//!
//! A receiver allows the modes up to its limit and refuses a transfer asking for more.

use std::fmt;

/// What to do with a destination file that exists (API `OVERWRITE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverwriteMode {
    /// Write the target directly; refuse the file if the target exists (0).
    InPlaceNever,
    /// Write the target directly, cut to the new size (1). A target with other hard links is
    /// not written through: it is replaced as [`OverwriteMode::Always`] replaces it.
    InPlaceAlways,
    /// Replace an existing target only when it has the new size: it is then written directly
    /// (through a part file renamed over it when it has another hard link); a target of
    /// another size is refused and kept. A new target is written to a part file, renamed at
    /// the end (2).
    InPlaceSameSize,
    /// Write `NAME.jetpart`, rename it to `NAME` at the end. If `NAME` exists when the file is
    /// announced, the file is refused. If it appears during the transfer, the finish is
    /// refused, `NAME` is left as it is and the part file stays beside it, holding what was
    /// received (3). The vendor's page documents no part-file behaviour for this mode; keeping
    /// the part file loses nothing that arrived, and whoever put `NAME` there decides.
    Never,
    /// Write `NAME.jetpart`, rename it over `NAME` at the end (4).
    Always,
    /// Like [`OverwriteMode::Always`], but an existing `NAME` is first renamed `NAME.jetbak`
    /// (replacing an older backup) (5).
    Backup,
}

impl OverwriteMode {
    /// The mode of an API `OVERWRITE_*` code.
    pub fn from_u8(code: u8) -> Option<OverwriteMode> {
        Some(match code {
            0 => OverwriteMode::InPlaceNever,
            1 => OverwriteMode::InPlaceAlways,
            2 => OverwriteMode::InPlaceSameSize,
            3 => OverwriteMode::Never,
            4 => OverwriteMode::Always,
            5 => OverwriteMode::Backup,
            _ => return None,
        })
    }

    /// The mode's API `OVERWRITE_*` code.
    pub fn code(self) -> u8 {
        match self {
            OverwriteMode::InPlaceNever => 0,
            OverwriteMode::InPlaceAlways => 1,
            OverwriteMode::InPlaceSameSize => 2,
            OverwriteMode::Never => 3,
            OverwriteMode::Always => 4,
            OverwriteMode::Backup => 5,
        }
    }

    /// The mode's name on the command line (`jetstream send --overwrite`).
    pub fn name(self) -> &'static str {
        match self {
            OverwriteMode::InPlaceNever => "in-place-never",
            OverwriteMode::InPlaceAlways => "in-place-always",
            OverwriteMode::InPlaceSameSize => "in-place-same-size",
            OverwriteMode::Never => "never",
            OverwriteMode::Always => "always",
            OverwriteMode::Backup => "backup",
        }
    }

    /// Whether an existing file is never replaced.
    pub fn keeps_existing(self) -> bool {
        matches!(self, OverwriteMode::InPlaceNever | OverwriteMode::Never)
    }
}

impl fmt::Display for OverwriteMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The most existing data a receiver lets a sender's overwrite mode destroy; see the module
/// documentation for the order. The default allows only modes that never replace a file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum OverwriteLimit {
    /// Existing files are never touched.
    #[default]
    Never,
    /// Existing files may be replaced once the new one is complete, keeping the old one.
    Backup,
    /// Existing files may be replaced once the new one is complete.
    Always,
    /// Existing files may be overwritten as data arrives.
    InPlace,
}

impl OverwriteLimit {
    /// The level of `mode`.
    pub fn of(mode: OverwriteMode) -> OverwriteLimit {
        match mode {
            OverwriteMode::InPlaceNever | OverwriteMode::Never => OverwriteLimit::Never,
            OverwriteMode::Backup => OverwriteLimit::Backup,
            OverwriteMode::Always => OverwriteLimit::Always,
            OverwriteMode::InPlaceSameSize | OverwriteMode::InPlaceAlways => {
                OverwriteLimit::InPlace
            }
        }
    }

    /// Whether a sender may ask for `mode`.
    pub fn allows(self, mode: OverwriteMode) -> bool {
        OverwriteLimit::of(mode) <= self
    }

    /// The mode that destroys the most among those allowed (what `getServerInfo` reports).
    pub fn widest(self) -> OverwriteMode {
        match self {
            OverwriteLimit::Never => OverwriteMode::Never,
            OverwriteLimit::Backup => OverwriteMode::Backup,
            OverwriteLimit::Always => OverwriteMode::Always,
            OverwriteLimit::InPlace => OverwriteMode::InPlaceAlways,
        }
    }

    /// The limit's name on the command line (`jetstream receive --max-overwrite`).
    pub fn name(self) -> &'static str {
        match self {
            OverwriteLimit::Never => "never",
            OverwriteLimit::Backup => "backup",
            OverwriteLimit::Always => "always",
            OverwriteLimit::InPlace => "in-place",
        }
    }
}

impl fmt::Display for OverwriteLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_limit_allows_the_modes_that_destroy_no_more_than_it() {
        let allowed = |limit: OverwriteLimit| -> Vec<u8> {
            (0..=5)
                .filter_map(OverwriteMode::from_u8)
                .filter(|&mode| limit.allows(mode))
                .map(OverwriteMode::code)
                .collect()
        };
        assert_eq!(allowed(OverwriteLimit::Never), [0, 3]);
        assert_eq!(allowed(OverwriteLimit::Backup), [0, 3, 5]);
        assert_eq!(allowed(OverwriteLimit::Always), [0, 3, 4, 5]);
        assert_eq!(allowed(OverwriteLimit::InPlace), [0, 1, 2, 3, 4, 5]);
        for limit in [
            OverwriteLimit::Never,
            OverwriteLimit::Backup,
            OverwriteLimit::Always,
            OverwriteLimit::InPlace,
        ] {
            assert_eq!(OverwriteLimit::of(limit.widest()), limit);
        }
    }
}
