//! The process's file-mode creation mask (`umask`), read once: the receiver gives each file it
//! makes final the source's permission bits less this mask, as other programs' new files get.

use std::sync::OnceLock;

static MASK: OnceLock<u32> = OnceLock::new();

/// The process's umask, as read at the first call. Call it at startup, before other threads
/// create files: where `/proc` is missing, reading it sets the mask for a moment.
pub fn umask() -> u32 {
    *MASK.get_or_init(|| from_proc().unwrap_or_else(swap))
}

/// The mask as `/proc/self/status` reports it (Linux 4.7 and later), without changing it.
fn from_proc() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
    u32::from_str_radix(line.trim(), 8).ok()
}

/// The mask read by setting it and putting it back.
fn swap() -> u32 {
    // SAFETY: umask only swaps the process's mask and cannot fail. In the moment before the
    // old mask is put back, a file another thread creates gets 0o077: owner-only, never more
    // open than it would have been.
    let old = unsafe { libc::umask(0o077) };
    // SAFETY: as above; this restores the mask read.
    unsafe { libc::umask(old) };
    old
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mask_from_proc_is_the_one_umask_swaps() {
        if let Some(found) = from_proc() {
            assert_eq!(found, swap());
        }
        assert_eq!(umask(), swap());
    }
}
