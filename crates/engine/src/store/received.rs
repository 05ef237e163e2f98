//! The receiver's records: transfers received (and from whom), the authorized sender keys and
//! whether only those are accepted.

use super::{sql_id, sql_limit, Columns, Page, Result, Store, Window};
use crate::clients::ClientList;
use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

/// The setting that makes the authorized keys the only ones accepted.
const ONLY_AUTHORIZED: &str = "only_authorized_clients";

/// A transfer as the receiver saw it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceivedTransfer {
    /// This receiver's id of it.
    pub received_id: u64,
    /// The sender's identity key (hex).
    pub sender_public_key: String,
    /// The sender's address and port.
    pub sender_address: String,
    /// The sender's id of the transfer.
    pub transfer_id: u64,
    /// Directory below the root that received it.
    pub destination_path: String,
    /// `receiving`, `complete` or `error`.
    pub status: String,
    /// Why it failed.
    pub error_message: Option<String>,
    /// Entries announced.
    pub total_files: u64,
    /// Bytes announced.
    pub total_bytes: u64,
    /// Entries in place.
    pub files_complete: u64,
    /// Bytes written (each once).
    pub bytes_received: u64,
    /// When it began (Unix µs).
    pub start_time: i64,
    /// When it ended (Unix µs).
    pub end_time: Option<i64>,
    /// The account the sender logged in as, if it did.
    pub user_name: Option<String>,
    /// A download by one of the sender's shared tokens.
    pub uses_token: bool,
}

/// A sender this receiver has heard from.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// Its identity key (hex).
    pub public_key: String,
    /// The address it last sent from.
    pub last_address: String,
    /// Transfers received from it.
    pub num_transfers: u64,
    /// When its last transfer began (Unix µs).
    pub last_seen_time: i64,
    /// Whether its key is authorized.
    pub authorized: bool,
}

/// A received transfer beginning.
#[derive(Clone, Debug)]
pub struct NewReceived {
    /// The sender's identity key (hex).
    pub sender_key: String,
    /// The sender's address and port.
    pub sender_address: String,
    /// The sender's id of the transfer.
    pub transfer_id: u64,
    /// Directory below the root.
    pub destination_path: String,
    /// Entries announced.
    pub total_files: u64,
    /// Bytes announced.
    pub total_bytes: u64,
    /// Now (Unix µs).
    pub start_time: i64,
    /// The account the sender logged in as, if it did.
    pub user_name: Option<String>,
    /// A download by one of the sender's shared tokens.
    pub uses_token: bool,
}

fn received(row: &Row<'_>) -> rusqlite::Result<ReceivedTransfer> {
    let c = Columns::of(row);
    Ok(ReceivedTransfer {
        received_id: c.get("id")?,
        sender_public_key: c.get("sender_key")?,
        sender_address: c.get("sender_address")?,
        transfer_id: c.get("sender_transfer_id")?,
        destination_path: c.get("destination_path")?,
        status: c.get("status")?,
        error_message: c.get("error_message")?,
        total_files: c.get("total_files")?,
        total_bytes: c.get("total_bytes")?,
        files_complete: c.get("files_complete")?,
        bytes_received: c.get("bytes_received")?,
        start_time: c.get("start_time")?,
        end_time: c.get("end_time")?,
        user_name: c.get("user_name")?,
        uses_token: c.get("uses_token")?,
    })
}

impl Store {
    /// Records a transfer that began arriving; its id.
    pub fn insert_received(&mut self, new: &NewReceived) -> Result<u64> {
        self.db
            .prepare_cached(
                "INSERT INTO received_transfers (sender_key, sender_address, sender_transfer_id,
                     destination_path, status, total_files, total_bytes, start_time, user_name,
                     uses_token)
                 VALUES (?1, ?2, ?3, ?4, 'receiving', ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                new.sender_key,
                new.sender_address,
                new.transfer_id,
                new.destination_path,
                new.total_files,
                new.total_bytes,
                new.start_time,
                new.user_name,
                new.uses_token
            ])?;
        Ok(self.db.last_insert_rowid() as u64)
    }

    /// Records how a received transfer ended: `Ok((files, bytes))` or the failure's message.
    pub fn finish_received(
        &mut self,
        id: u64,
        outcome: std::result::Result<(u64, u64), &str>,
        now: i64,
    ) -> Result<()> {
        let (status, message, files, bytes) = match outcome {
            Ok((files, bytes)) => ("complete", None, Some(files), Some(bytes)),
            Err(message) => ("error", Some(message), None, None),
        };
        self.db
            .prepare_cached(
                "UPDATE received_transfers SET status = ?2, error_message = ?3,
                     files_complete = COALESCE(?4, files_complete),
                     bytes_received = COALESCE(?5, bytes_received), end_time = ?6
                 WHERE id = ?1",
            )?
            .execute(params![id, status, message, files, bytes, now])?;
        Ok(())
    }

    /// Transfers received within `page` (bounds by `receivedId`), oldest first.
    pub fn list_received(&self, page: &Page<u64>) -> Result<Vec<ReceivedTransfer>> {
        let window = Window::new(page.after.map(sql_id), page.before.map(sql_id), page.limit);
        let sql = format!(
            "SELECT * FROM received_transfers WHERE {}",
            window.clause("id", 1)
        );
        let mut stmt = self.db.prepare_cached(&sql)?;
        let rows = stmt
            .query_map(window.params(), received)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(window.finish(rows))
    }

    /// The senders heard from, by the time of their first transfer.
    pub fn list_sources(&self, limit: Option<usize>) -> Result<Vec<Source>> {
        let mut stmt = self.db.prepare_cached(
            "SELECT r.sender_key, COUNT(*), MAX(r.start_time), MIN(r.id),
                 (SELECT sender_address FROM received_transfers l WHERE l.sender_key = r.sender_key
                  ORDER BY l.id DESC LIMIT 1),
                 EXISTS(SELECT 1 FROM authorized_clients a WHERE a.public_key = r.sender_key)
             FROM received_transfers r GROUP BY r.sender_key ORDER BY MIN(r.id) LIMIT ?1",
        )?;
        let rows = stmt.query_map([sql_limit(limit)], |row| {
            Ok(Source {
                public_key: row.get(0)?,
                num_transfers: row.get(1)?,
                last_seen_time: row.get(2)?,
                last_address: row.get(4)?,
                authorized: row.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The authorized keys and the only-authorized switch, which is on until it is turned off.
    pub fn client_list(&self) -> Result<ClientList> {
        let mut stmt = self
            .db
            .prepare_cached("SELECT public_key FROM authorized_clients")?;
        let keys = stmt
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let only: Option<String> = self
            .db
            .prepare_cached("SELECT value FROM settings WHERE key = ?1")?
            .query_row([ONLY_AUTHORIZED], |row| row.get(0))
            .optional()?;
        Ok(ClientList {
            only_authorized: only.as_deref() != Some("false"),
            keys,
        })
    }

    /// Authorizes a sender key (again: no change).
    pub fn add_client(&mut self, key: &str, now: i64) -> Result<()> {
        self.db
            .prepare_cached(
                "INSERT INTO authorized_clients (public_key, added_time) VALUES (?1, ?2)
                 ON CONFLICT (public_key) DO NOTHING",
            )?
            .execute(params![key, now])?;
        Ok(())
    }

    /// Withdraws a sender key's authorization; `NotFound` if it was not authorized.
    pub fn remove_client(&mut self, key: &str) -> Result<()> {
        let removed = self
            .db
            .prepare_cached("DELETE FROM authorized_clients WHERE public_key = ?1")?
            .execute([key])?;
        match removed {
            0 => Err(super::StoreError::not_found(
                "authorized client",
                "clientPublicKey",
                key,
            )),
            _ => Ok(()),
        }
    }

    /// Sets whether only authorized keys are accepted.
    pub fn set_only_authorized(&mut self, enabled: bool) -> Result<()> {
        self.db
            .prepare_cached(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute([ONLY_AUTHORIZED, if enabled { "true" } else { "false" }])?;
        Ok(())
    }
}
