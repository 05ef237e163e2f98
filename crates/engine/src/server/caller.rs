//! Who runs a command: the process that embeds the engine, or a client of the control port
//! that logged in. The dispatcher hands the [`Caller`] to every method that reads or writes
//! paths, so a confined caller never reaches outside its root, and checks its permissions
//! before it runs anything.

use crate::command::{Command, Permission, Permissions};
use crate::error::{Code, Error, Result};
use crate::store::Store;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// The one on whose behalf a command runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Caller {
    /// The account the client logged in as; `None` for the embedding process.
    pub user: Option<String>,
    /// The directory every path the caller names must stay inside (sources it sends from, the
    /// paths of file operations); `None` for a caller that is not confined.
    pub root: Option<PathBuf>,
    /// What the caller may run (see [`Command::permission`]); `None` for everything.
    pub permissions: Option<Permissions>,
    /// The network address the caller's request came from; `None` for the embedding process.
    /// Failed logins are counted per address.
    pub address: Option<IpAddr>,
    /// The shared token the caller logged in with (`authToken`): it may download that token's
    /// manifest and nothing else.
    pub shared_token: Option<String>,
}

impl Caller {
    /// The process that embeds the engine: not confined.
    pub fn local() -> Caller {
        Caller::default()
    }

    /// A client at `address` that has not logged in: it may run what needs no permission and
    /// nothing else.
    pub fn anonymous(address: IpAddr) -> Caller {
        Caller {
            permissions: Some(Permissions::from_iter([])),
            address: Some(address),
            ..Caller::default()
        }
    }

    /// The holder of shared `token`, at `address`: it may download the token's manifest and
    /// run what needs no permission.
    pub(crate) fn downloader(token: String, address: Option<IpAddr>) -> Caller {
        Caller {
            permissions: Some(Permissions::from_iter([])),
            address,
            shared_token: Some(token),
            ..Caller::default()
        }
    }

    /// The logged-in `user`, at `address`: confined to its sandbox mapping below `sandbox`
    /// when it has one, where it sends and works with files (the rest is server-wide);
    /// otherwise not confined.
    pub(crate) fn user(
        store: &Store,
        sandbox: &Path,
        user: String,
        address: Option<IpAddr>,
    ) -> Result<Caller> {
        let root = match store.sandbox_mapping(&user)? {
            None => None,
            Some(mapping) => Some(mapping.root(sandbox).ok_or_else(|| {
                Error::new(
                    Code::PermissionDenied,
                    format!("the sandbox mapping of {user} leads out of the sandbox"),
                )
            })?),
        };
        let permissions = root
            .is_some()
            .then(|| Permissions::from_iter([Permission::Send, Permission::Files]));
        Ok(Caller {
            user: Some(user),
            root,
            permissions,
            address,
            shared_token: None,
        })
    }

    /// Refuses, with `PERMISSION_DENIED`, a command that needs a permission the caller lacks.
    pub fn check(&self, command: &Command) -> Result<()> {
        match (command.permission(), self.permissions) {
            (Some(needed), Some(held)) if !held.contains(needed) => Err(Error::new(
                Code::PermissionDenied,
                format!(
                    "{}: needs the {} permission, which this caller does not hold",
                    command.method(),
                    needed.as_str()
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The permissions the caller holds.
    pub fn held(&self) -> Permissions {
        self.permissions.unwrap_or_else(Permissions::all)
    }
}
