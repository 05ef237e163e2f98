//! The event log: what happened on this server (transfers created, started and ended, transfers
//! received, logins and failed ones, downloads by shared token, changes to its settings and API tokens, file operations,
//! garbage collections), newest entries
//! kept up to [`EVENT_KEEP_COUNT`].

use super::{sql_id, sql_limit, Result, Store};
use rusqlite::{params, Row};
use serde::Serialize;

text_enum! {
    /// What an event is about. A new kind is one more line here.
    EventKind {
        /// A transfer was created.
        TransferCreated => "transferCreated",
        /// A transfer's session started.
        TransferStarted => "transferStarted",
        /// A transfer ended (complete or error).
        TransferEnded => "transferEnded",
        /// A sender started a transfer to this server.
        ReceivedStarted => "receivedStarted",
        /// A transfer to this server ended.
        ReceivedEnded => "receivedEnded",
        /// A sender key was authorized.
        AuthorizedClientAdded => "authorizedClientAdded",
        /// A sender key's authorization was withdrawn.
        AuthorizedClientRemoved => "authorizedClientRemoved",
        /// The only-authorized-clients switch was set.
        OnlyAuthorizedClientsChanged => "onlyAuthorizedClientsChanged",
        /// The server-wide bandwidth limits changed.
        BandwidthLimitsChanged => "bandwidthLimitsChanged",
        /// A garbage collection ran.
        GarbageCollected => "garbageCollected",
        /// A file operation changed the sandbox.
        FileChanged => "fileChanged",
        /// A sandbox mapping was created or deleted.
        SandboxMappingChanged => "sandboxMappingChanged",
        /// A user logged in.
        LoggedIn => "loggedIn",
        /// A login was refused: wrong user name or password.
        LoginFailed => "loginFailed",
        /// An API token was created or deleted.
        ApiTokenChanged => "apiTokenChanged",
        /// The holder of a shared token started a download of its manifest.
        DownloadStarted => "downloadStarted",
    }
}

/// The newest events kept; older ones are pruned.
pub const EVENT_KEEP_COUNT: u64 = 10_000;

/// The log is pruned each time this many events were recorded, so it never holds more than
/// [`EVENT_KEEP_COUNT`] + this many, however fast events come.
const PRUNE_EVERY: u64 = 100;

/// An event to record.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    /// What it is about.
    pub kind: EventKind,
    /// What happened, for people.
    pub message: String,
    /// The transfer concerned (sent from here).
    pub transfer_id: Option<u64>,
    /// The received transfer concerned.
    pub received_id: Option<u64>,
    /// The sandbox path concerned.
    pub path: Option<String>,
    /// On whose behalf it happened, when a logged-in user caused it.
    pub user_name: Option<String>,
}

impl NewEvent {
    /// An event of `kind` with `message` and nothing else.
    pub fn new(kind: EventKind, message: impl Into<String>) -> NewEvent {
        NewEvent {
            kind,
            message: message.into(),
            transfer_id: None,
            received_id: None,
            path: None,
            user_name: None,
        }
    }
}

/// An event as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Positive, increasing, never reused.
    pub event_id: u64,
    /// When it happened (Unix µs).
    pub time: i64,
    /// What it is about.
    pub kind: EventKind,
    /// What happened.
    pub message: String,
    /// The transfer concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_id: Option<u64>,
    /// The received transfer concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_id: Option<u64>,
    /// The sandbox path concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Who caused it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
}

fn event(row: &Row<'_>) -> rusqlite::Result<Event> {
    Ok(Event {
        event_id: row.get(0)?,
        time: row.get(1)?,
        kind: row.get(2)?,
        message: row.get(3)?,
        transfer_id: row.get(4)?,
        received_id: row.get(5)?,
        path: row.get(6)?,
        user_name: row.get(7)?,
    })
}

const COLUMNS: &str = "id, time, kind, message, transfer_id, received_id, path, user_name";

impl Store {
    /// Records `event` at `now`; returns its id.
    pub fn insert_event(&mut self, event: &NewEvent, now: i64) -> Result<u64> {
        let id: u64 = self
            .db
            .prepare_cached(
                "INSERT INTO events (time, kind, message, transfer_id, received_id, path,
                     user_name)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
            )?
            .query_row(
                params![
                    now,
                    event.kind,
                    event.message,
                    event.transfer_id.map(sql_id),
                    event.received_id.map(sql_id),
                    event.path,
                    event.user_name,
                ],
                |row| row.get(0),
            )?;
        if id.is_multiple_of(PRUNE_EVERY) {
            self.prune_events()?;
        }
        Ok(id)
    }

    /// Events oldest first: with `after`, the `limit` oldest of those after it (for polling);
    /// without, the `limit` newest. `limit` `None` or 0: all of them.
    pub fn list_events(&self, after: Option<u64>, limit: Option<usize>) -> Result<Vec<Event>> {
        let limit = sql_limit(limit);
        let events = match after {
            Some(after) => self
                .db
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM events WHERE id > ?1 ORDER BY id LIMIT ?2"
                ))?
                .query_map(params![sql_id(after), limit], event)?
                .collect::<rusqlite::Result<Vec<_>>>()?,
            None => {
                let mut newest = self
                    .db
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM events ORDER BY id DESC LIMIT ?1"
                    ))?
                    .query_map([limit], event)?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                newest.reverse();
                newest
            }
        };
        Ok(events)
    }

    /// Deletes every event but the [`EVENT_KEEP_COUNT`] newest; returns how many.
    pub fn prune_events(&mut self) -> Result<usize> {
        Ok(self
            .db
            .prepare_cached("DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?1")?
            .execute([sql_id(EVENT_KEEP_COUNT)])?)
    }
}
