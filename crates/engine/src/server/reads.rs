//! The commands that only read the store, answered from any connection to it: by the actor,
//! and by a [`Reader`] on the caller's own thread, which spares the round trip through the
//! actor for the calls applications make most (`getTransfer` in a progress loop).

use super::actor::now_us;
use super::actor::to_json;
use super::caller::Caller;
use super::sessions::Holder;
use super::Shared;
use crate::command::{self, Command};
use crate::error::{Code, Error, Result};
use crate::store::{Page, RequestStatus, Store};
use serde::Serialize;
use serde_json::Value;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

/// What `getRequestStatus` tells of a request.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestState {
    request_id: u64,
    processing: bool,
    status: RequestStatus,
    error_message: Option<String>,
}

/// The form a read's answer takes: a JSON value for the actor, JSON text for a [`Reader`].
pub(super) trait Answer: Sized {
    /// `record` in this form.
    fn of<T: Serialize>(record: &T) -> Result<Self>;
}

impl Answer for Value {
    fn of<T: Serialize>(record: &T) -> Result<Self> {
        to_json(record)
    }
}

impl Answer for String {
    fn of<T: Serialize>(record: &T) -> Result<Self> {
        serde_json::to_string(record).map_err(|e| Error::new(Code::Internal, e.to_string()))
    }
}

/// Answers `command` from `store` if it only reads; `None` for every other command.
pub(super) fn read<A: Answer>(store: &Store, command: &Command) -> Option<Result<A>> {
    use Command as C;
    Some(match command {
        C::GetDestination(p) => json(store.get_destination(&p.destination_id)),
        C::GetDestinations(p) => json(store.list_destinations(p.limit)),
        C::GetConnection(p) => json(store.get_connection(p.connection_id)),
        C::GetConnections(p) => json(store.list_connections(p.limit)),
        C::GetManifest(p) => json(store.get_manifest(&p.manifest_id)),
        C::GetManifests(p) => json(store.list_manifests(&Page {
            before: p.before.as_deref(),
            after: p.after.as_deref(),
            limit: p.limit,
        })),
        C::GetManifestFiles(p) => json(store.manifest_files(&p.manifest_id, p.limit)),
        C::GetTransfer(p) => {
            json(store.get_transfer(p.transfer_id, p.get_complete_flags.unwrap_or(false)))
        }
        C::GetTransferFiles(p) => json(store.transfer_files(p.transfer_id, p.after, p.limit)),
        C::GetTransfers(p) => {
            let page = Page {
                before: p.before,
                after: p.after,
                limit: p.limit,
            };
            let destination = p.destination_id.as_deref();
            json(
                destination
                    .map_or(Ok(()), |id| store.get_destination(id).map(drop))
                    .and_then(|()| store.list_transfers(destination, &page)),
            )
        }
        C::GetSharedToken(p) => json(store.get_token(&p.token)),
        C::GetSharedTokens(p) => json(store.list_tokens(p.limit)),
        C::GetApiToken(p) => json(store.get_api_token(&p.token)),
        C::GetApiTokens(p) => json(store.list_api_tokens(p.limit)),
        C::GetRequestStatus(p) => json(store.get_request(p.request_id).map(|r| RequestState {
            request_id: r.request_id,
            processing: r.processing,
            status: r.status,
            error_message: r.error_message,
        })),
        C::GetEventLog(p) => json(store.list_events(p.after, p.limit)),
        C::GetSandboxMappings(_) => json(store.sandbox_mappings()),
        _ => return None,
    })
}

/// A record read from the store, as an answer.
fn json<T: Serialize, A: Answer>(record: crate::store::Result<T>) -> Result<A> {
    A::of(&record?)
}

/// A read-only connection to a server's store, answering the reading commands on the
/// caller's thread. It sees everything the server has committed.
pub struct Reader {
    pub(super) store: Mutex<Store>,
    pub(super) shared: Arc<Shared>,
}

impl Reader {
    /// Opens the store `db` of a server that shares `shared` with its readers.
    pub(super) fn open(db: &Path, shared: Arc<Shared>) -> Result<Reader> {
        Ok(Reader {
            store: Mutex::new(Store::open_read_only(db)?),
            shared,
        })
    }

    /// The caller a request from `address` bearing `token` runs as: the user of an open
    /// session (every permission; with a sandbox mapping, confined to it and allowed only to
    /// send and to work with files), or what an API token
    /// grants (its permissions, confined to its directory of the sandbox). `AUTH_FAILED` for
    /// anything else.
    pub fn authenticate(&self, token: &str, address: Option<IpAddr>) -> Result<Caller> {
        let now = now_us();
        let store = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        match self.shared.sessions.holder(token, now) {
            Some(Holder::User(user)) => {
                return Caller::user(&store, &self.shared.sandbox_root, user, address);
            }
            Some(Holder::SharedToken(token)) => return Ok(Caller::downloader(token, address)),
            None => {}
        }
        let found = store.api_token_by_secret(token)?;
        drop(store);
        match found {
            Some(api) if api.expiry_time.is_some_and(|expiry| expiry <= now) => Err(Error::new(
                Code::AuthFailed,
                format!("API token {} has expired", api.token_id),
            )),
            Some(api) => Ok(Caller {
                root: Some(
                    self.shared
                        .sandbox_root
                        .join(api.sandbox_path.trim_start_matches('/')),
                ),
                user: api.user_name,
                permissions: Some(api.permissions),
                address,
                shared_token: None,
            }),
            None => Err(Error::new(
                Code::AuthFailed,
                "the bearer token is neither an open session nor an API token: log in with \
                 auth",
            )),
        }
    }

    /// Answers a JSON command if it only reads (its JSON result as text); `None` for a command
    /// that must go to the server, or for text that does not parse (the server reports why).
    pub fn execute_json(&self, json: &str) -> Option<Result<String>> {
        self.execute(&command::parse_str(json).ok()?)
    }

    /// Answers `command` if it only reads (its JSON result as text); `None` for a command that
    /// must go to the server.
    pub fn execute(&self, command: &Command) -> Option<Result<String>> {
        let store = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        let answer = store.read(|store| read(store, command).transpose());
        answer.transpose()
    }
}
