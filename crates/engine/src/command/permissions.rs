//! What a caller may run: the permissions an API token grants, and the one table saying which
//! permission each method needs.
//!
//! | permission | methods |
//! |---|---|
//! | `send` | SendInterface: destinations, connections, manifests, transfers, shared tokens, user data |
//! | `receive` | RecvInterface: sources, received transfers, authorized sender keys |
//! | `files` | the sandbox's file operations: `lsAsync`, `lsListAsync`, `lsRootsAsync`, `duAsync`, `mkdirAsync`, `mkFileAsync`, `mvAsync` |
//! | `admin` | API tokens (`createAPIToken`, `deleteAPIToken`, `getAPIToken`, `getAPITokens`), the event log, bandwidth limits, garbage collection, sandbox mappings |
//! | none | `auth`, `authAsync`, `authToken`, `echo`, `getServerInfo`, `getRequestStatus`, `getRequestResult`; `createDownload` (only in a session of `authToken`) |
//!
//! A user logged in with a password holds every permission; an API token holds the ones it was
//! created with.

use super::Command;
use serde::{Serialize, Serializer};

/// One permission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// Send: destinations, manifests, transfers and what belongs to them.
    Send,
    /// Receive: senders, their keys and what they sent.
    Receive,
    /// Read and change files in the caller's root of the sandbox.
    Files,
    /// Administer the server: API tokens, event log, bandwidth limits, garbage collection,
    /// users' sandbox roots.
    Admin,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Permission; 4] = [
        Permission::Send,
        Permission::Receive,
        Permission::Files,
        Permission::Admin,
    ];

    /// The permission's name as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Send => "send",
            Permission::Receive => "receive",
            Permission::Files => "files",
            Permission::Admin => "admin",
        }
    }

    /// The permission named `name`.
    pub fn parse(name: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.as_str() == name)
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permissions(u8);

impl Permissions {
    /// Every permission.
    pub fn all() -> Permissions {
        Permissions::from_iter(Permission::ALL)
    }

    /// Whether the set holds `permission`.
    pub fn contains(self, permission: Permission) -> bool {
        self.0 & permission.bit() != 0
    }

    /// Whether every permission of `other` is in this set.
    pub fn includes(self, other: Permissions) -> bool {
        self.0 & other.0 == other.0
    }

    /// The permissions, in [`Permission::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .into_iter()
            .filter(move |p| self.contains(*p))
    }

    /// The names, comma-separated (how the store keeps them).
    pub fn to_text(self) -> String {
        self.iter()
            .map(Permission::as_str)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The set written by [`Permissions::to_text`]; `None` if a name is unknown.
    pub fn from_text(text: &str) -> Option<Permissions> {
        text.split(',')
            .filter(|name| !name.is_empty())
            .map(Permission::parse)
            .collect()
    }
}

impl FromIterator<Permission> for Permissions {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        Permissions(iter.into_iter().fold(0, |bits, p| bits | p.bit()))
    }
}

impl Serialize for Permissions {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter().map(Permission::as_str))
    }
}

impl Command {
    /// The permission a caller needs to run this command; `None` for the methods every caller
    /// may run.
    pub fn permission(&self) -> Option<Permission> {
        use Command as C;
        match self {
            C::Auth(_)
            | C::AuthAsync(_)
            | C::AuthToken(_)
            // Only a shared token's session may download, which the server checks.
            | C::CreateDownload(_)
            | C::Echo(_)
            | C::GetServerInfo(_)
            | C::GetRequestStatus(_)
            | C::GetRequestResult(_) => None,
            C::CreateDestination(_)
            | C::CreateManifest(_)
            | C::CreateSharedToken(_)
            | C::CreateTransfer(_)
            | C::DeleteDestination(_)
            | C::DeleteManifest(_)
            | C::DeleteObjectUserData(_)
            | C::DeleteSharedToken(_)
            | C::DeleteTransfer(_)
            | C::FailTransfer(_)
            | C::GetConnection(_)
            | C::GetConnections(_)
            | C::GetDestination(_)
            | C::GetDestinations(_)
            | C::GetManifest(_)
            | C::GetManifestFiles(_)
            | C::GetManifests(_)
            | C::GetSharedToken(_)
            | C::GetSharedTokens(_)
            | C::GetTransfer(_)
            | C::GetTransferFiles(_)
            | C::GetTransfers(_)
            | C::ResumeTransferAsync(_)
            | C::SchedulePingAsync(_)
            | C::SetPriorityLanesAsync(_)
            | C::SetSendRateMaxAsync(_)
            | C::SetTransferPriorityAsync(_)
            | C::SetTransferSendRateMaxAsync(_)
            | C::SuspendTransferAsync(_)
            | C::UpdateConnectionParamsAsync(_)
            | C::UpdateObjectUserData(_)
            | C::UpdateSharedToken(_)
            | C::UpdateTransferDefaults(_)
            | C::WaitForManifest(_)
            | C::WaitForTransfer(_) => Some(Permission::Send),
            C::GetSourcesAsync(_)
            | C::GetTransfersAsync(_)
            | C::AddAuthorizedClientAsync(_)
            | C::RemoveAuthorizedClientAsync(_)
            | C::AllowOnlyAuthorizedClientsAsync(_) => Some(Permission::Receive),
            C::LsAsync(_)
            | C::LsListAsync(_)
            | C::LsRootsAsync(_)
            | C::DuAsync(_)
            | C::MkdirAsync(_)
            | C::MkFileAsync(_)
            | C::MvAsync(_) => Some(Permission::Files),
            C::CreateApiToken(_)
            | C::DeleteApiToken(_)
            | C::GetApiToken(_)
            | C::GetApiTokens(_)
            | C::GetEventLog(_)
            | C::UpdateBandwidthLimits(_)
            | C::GarbageCollect(_)
            | C::GetSandboxMappings(_)
            | C::CreateSandboxMapping(_)
            | C::DeleteSandboxMapping(_) => Some(Permission::Admin),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_reads_back_what_it_writes_and_refuses_unknown_names() {
        let set: Permissions = [Permission::Admin, Permission::Send].into_iter().collect();
        assert_eq!(set.to_text(), "send,admin");
        assert_eq!(Permissions::from_text("send,admin"), Some(set));
        assert_eq!(Permissions::from_text(""), Some(Permissions::from_iter([])));
        assert_eq!(Permissions::from_text("send,root"), None);
        assert!(Permissions::all().includes(set));
        assert!(!set.includes(Permissions::all()));
        assert_eq!(
            serde_json::to_value(set).unwrap(),
            serde_json::json!(["send", "admin"])
        );
    }
}
