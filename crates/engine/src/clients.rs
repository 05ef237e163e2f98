//! The receiver's list of authorized sender keys and whether only those are accepted, shared
//! between the receiver and whoever manages it, so it can change while transfers arrive.
//! Accepting any sender is a choice made by name ([`Clients::any`]); there is no default.

use jetstream_wire::crypto::handshake::PublicKey;
use std::collections::BTreeSet;
use std::sync::{Arc, PoisonError, RwLock};

/// The authorized keys and the switch that makes them the only ones accepted.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ClientList {
    /// Refuse every sender whose key is not in `keys`.
    #[serde(rename = "onlyAuthorizedClientsAllowed")]
    pub only_authorized: bool,
    /// The authorized sender keys, as hex.
    #[serde(rename = "authorizedClients")]
    pub keys: BTreeSet<String>,
}

/// A shared [`ClientList`]; clones see the same list.
#[derive(Clone, Debug)]
pub struct Clients(Arc<RwLock<ClientList>>);

impl Clients {
    /// A list that accepts any sender.
    pub fn any() -> Self {
        Self::from(ClientList {
            only_authorized: false,
            keys: BTreeSet::new(),
        })
    }

    /// A list that accepts only `keys`.
    pub fn only(keys: &[PublicKey]) -> Self {
        Self::from(ClientList {
            only_authorized: true,
            keys: keys.iter().map(ToString::to_string).collect(),
        })
    }

    /// Whether a sender with `key` is accepted.
    pub fn allows(&self, key: &PublicKey) -> bool {
        let list = self.0.read().unwrap_or_else(PoisonError::into_inner);
        !list.only_authorized || list.keys.contains(&key.to_string())
    }

    /// The list as it is now.
    pub fn get(&self) -> ClientList {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the list.
    pub fn set(&self, list: ClientList) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = list;
    }
}

impl From<ClientList> for Clients {
    fn from(list: ClientList) -> Self {
        Clients(Arc::new(RwLock::new(list)))
    }
}
