//! Sandbox mappings: the root each user's file operations and sources are confined to, as a
//! path below the server's sandbox (`%u` stands for the user's name).

use super::{Result, Store, StoreError};
use crate::sandbox::check_path;
use rusqlite::params;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One user's root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxMapping {
    /// The user.
    pub user_name: String,
    /// Below the server's sandbox; `%u` is replaced by the user's name.
    pub path: String,
}

impl SandboxMapping {
    /// The user's root below `sandbox`, `%u` replaced by the user's name; `None` when the
    /// result is not a path below the sandbox (a user name holding `/` or `..`).
    pub fn root(&self, sandbox: &Path) -> Option<PathBuf> {
        let path = self.path.replace("%u", &self.user_name);
        check_path(&path).ok().map(|rel| sandbox.join(rel))
    }
}

impl Store {
    /// Every mapping, by user name.
    pub fn sandbox_mappings(&self) -> Result<Vec<SandboxMapping>> {
        let mut stmt = self
            .db
            .prepare_cached("SELECT user_name, path FROM sandbox_mappings ORDER BY user_name")?;
        let rows = stmt.query_map([], |row| {
            Ok(SandboxMapping {
                user_name: row.get(0)?,
                path: row.get(1)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The mapping of `user_name`, if it has one.
    pub fn sandbox_mapping(&self, user_name: &str) -> Result<Option<SandboxMapping>> {
        let mut stmt = self
            .db
            .prepare_cached("SELECT path FROM sandbox_mappings WHERE user_name = ?1")?;
        let mut rows = stmt.query([user_name])?;
        Ok(match rows.next()? {
            Some(row) => Some(SandboxMapping {
                user_name: user_name.to_owned(),
                path: row.get(0)?,
            }),
            None => None,
        })
    }

    /// Sets the root of `mapping.user_name` (replacing any it had).
    pub fn set_sandbox_mapping(&mut self, mapping: &SandboxMapping) -> Result<()> {
        self.db
            .prepare_cached(
                "INSERT INTO sandbox_mappings (user_name, path) VALUES (?1, ?2)
                 ON CONFLICT (user_name) DO UPDATE SET path = excluded.path",
            )?
            .execute(params![mapping.user_name, mapping.path])?;
        Ok(())
    }

    /// Deletes the mapping of `user_name`; `NotFound` if it has none.
    pub fn delete_sandbox_mapping(&mut self, user_name: &str) -> Result<()> {
        let deleted = self
            .db
            .prepare_cached("DELETE FROM sandbox_mappings WHERE user_name = ?1")?
            .execute([user_name])?;
        match deleted {
            0 => Err(StoreError::not_found("sandbox mapping", "name", user_name)),
            _ => Ok(()),
        }
    }
}
