//! Symbolic links sent as themselves (`SYMLINKS_PRESERVE`): the rule deciding whether the
//! receiver recreates a link, and the recreation beneath the sandbox.
//!
//! A link is recreated only when its target, resolved from the link's place, stays inside the
//! transfer's destination directory. That is decided from the target's text alone, so that no
//! link created before or after can change the answer: the target is relative, climbs only with
//! leading `..` components and no higher than the link's directory lies below the destination
//! directory, and never climbs again once it has named another component. The directories
//! holding a link are real directories (the sandbox creates nothing through a link), so the
//! leading climb ends inside the destination directory, and every later step goes down; a link
//! met on the way down was admitted by this same rule.

use crate::overwrite::OverwriteMode;
use crate::sandbox::{Sandbox, SandboxError, StatKind};
use crate::sink::{BACKUP_SUFFIX, PART_SUFFIX};

/// Why the link at `path` (relative to the destination directory) pointing at `target` is
/// not recreated; `Ok` when its target stays inside the destination directory.
pub fn check_target(path: &str, target: &str) -> Result<(), &'static str> {
    if target.starts_with('/') {
        return Err("its target is absolute");
    }
    let depth = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .count()
        .saturating_sub(1);
    let mut climbed = 0;
    let mut descended = false;
    for component in target.split('/') {
        match component {
            "" | "." => {}
            ".." if descended => {
                return Err("its target climbs with `..` after naming a directory")
            }
            ".." => {
                climbed += 1;
                if climbed > depth {
                    return Err("its target leads out of the destination directory");
                }
            }
            _ => descended = true,
        }
    }
    Ok(())
}

/// What is at a link's place when it is announced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    /// Nothing.
    Nothing,
    /// The same link: kept as it is.
    Same,
    /// Another file or link, which the overwrite mode lets the new link replace.
    Other,
}

/// What is at `path` (beneath the sandbox) before the link to `target` is made there, or why
/// the link cannot be made: a directory is never replaced, and another entry only when
/// `overwrite` replaces existing files.
pub fn existing(
    sandbox: &Sandbox,
    path: &str,
    target: &str,
    overwrite: OverwriteMode,
) -> Result<Existing, String> {
    let Some(found) = sandbox.stat(path).map_err(|e| e.to_string())? else {
        return Ok(Existing::Nothing);
    };
    if found.kind == StatKind::Symlink
        && sandbox
            .read_link(path)
            .map_err(|e| e.to_string())?
            .as_deref()
            == Some(target)
    {
        return Ok(Existing::Same);
    }
    if found.kind == StatKind::Directory {
        return Err(format!("{path:?} exists and is a directory"));
    }
    if overwrite.keeps_existing() {
        return Err(format!(
            "{path:?} exists and the overwrite mode is {overwrite}"
        ));
    }
    Ok(Existing::Other)
}

/// Makes the link `path` pointing at `target` beneath the sandbox, over what [`existing`]
/// found there: made beside it and renamed over it, the old entry kept as `NAME.jetbak` under
/// [`OverwriteMode::Backup`].
pub fn place(
    sandbox: &Sandbox,
    path: &str,
    target: &str,
    found: Existing,
    overwrite: OverwriteMode,
) -> Result<(), SandboxError> {
    match found {
        Existing::Same => Ok(()),
        Existing::Nothing => sandbox.symlink(target, path),
        Existing::Other => {
            let beside = format!("{path}{PART_SUFFIX}");
            sandbox.remove_file(&beside)?;
            sandbox.symlink(target, &beside)?;
            let name = path.rsplit_once('/').map_or(path, |(_, name)| name);
            if overwrite == OverwriteMode::Backup {
                sandbox.rename(path, &format!("{name}{BACKUP_SUFFIX}"), true)?;
            }
            sandbox.rename(&beside, name, true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_stays_inside_only_by_leading_climbs_within_the_links_depth() {
        for (path, target) in [
            ("l", "a/b"),
            ("l", "."),
            ("d/l", ".."),
            ("d/l", "../x/./y/"),
            ("d/e/l", "../../x"),
            ("d/e/l", "../f//g"),
        ] {
            assert_eq!(check_target(path, target), Ok(()), "{path} -> {target}");
        }
        for (path, target) in [
            ("l", "/etc/passwd"),
            ("l", ".."),
            ("l", "../l"),
            ("d/l", "../../x"),
            ("d/l", "x/../.."),
            ("d/l", "x/../y"),
            ("d/e/l", "../../../x"),
        ] {
            assert!(check_target(path, target).is_err(), "{path} -> {target}");
        }
    }
}
