//! Transfers: the `createTransfer` parameters (never the password), status and timestamps,
//! progress counters, and the checkpoint a restarted sender resumes from (acknowledged byte
//! ranges and completed files).

use super::codec::{self, RangeBlob};
use super::user_data::{self, UserData};
use super::{
    delete, get, query, require, sql_id, update, Columns, Destination, Manifest, Page, Record,
    Result, Store, StoreError, Table, Window,
};
use jetstream_wire::ranges::RangeSet;
use rusqlite::types::ToSql;
use rusqlite::{params, Connection as Db, OptionalExtension, Row};
use serde::Serialize;

text_enum! {
    /// Where a transfer is in its life.
    TransferStatus {
        /// Queued, not sending yet.
        Pending => "pending",
        /// Sending data.
        Sending => "sending",
        /// Every file arrived.
        Complete => "complete",
        /// Stopped by `suspendTransferAsync`.
        Suspended => "suspended",
        /// Resumed, until data flows again.
        Resuming => "resuming",
        /// Failed (error, timeout or `failTransfer`).
        Error => "error",
    }
}

impl TransferStatus {
    /// Whether the transfer is still queued or moving data (`processing` in the API).
    pub fn is_processing(self) -> bool {
        matches!(
            self,
            TransferStatus::Pending | TransferStatus::Sending | TransferStatus::Resuming
        )
    }
}

/// The `createTransfer` parameters, defaults already applied. There is no password here: the
/// store never holds one.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferParams {
    /// Directory below the receiver's root that receives the files.
    pub destination_path: Option<String>,
    /// Lower goes first.
    pub priority: u32,
    /// Priority lane name.
    pub priority_lane: String,
    /// Rate cap in kbit/s; `None` for none.
    pub send_rate_max: Option<f64>,
    /// `OVERWRITE_*` mode.
    pub overwrite_mode: u32,
    /// `TRANSFER_FLAG_*` bits.
    pub transfer_flags: u32,
    /// `MIN_CIPHER_*` level.
    pub min_cipher: u32,
    /// Seconds between checkpoints; 0 disables them.
    pub checkpoint_frequency_seconds: u32,
    /// Modification times this close are equal.
    pub file_time_resolution_microseconds: u64,
    /// Fail after this long disconnected; 0 never.
    pub timeout_seconds: f64,
    /// User the receiver authenticates.
    pub user_name: Option<String>,
    /// Authenticated with a shared token, or a download by one of this engine's shared tokens.
    pub uses_token: bool,
    /// Write a per-transfer log.
    pub transfer_log: bool,
    /// `SKIP_*` rule: which files the receiver keeps as they are.
    pub skip_mode: u32,
}

/// Progress counters of a transfer, written by the sender as it goes.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferProgress {
    /// Files in the transfer.
    pub total_files: u64,
    /// Files fully acknowledged.
    pub files_complete: u64,
    /// Files the receiver kept as they were (counted in `files_complete`): none of their
    /// data was sent.
    pub files_skipped: u64,
    /// Sum of the sizes of those files.
    pub bytes_skipped: u64,
    /// Bytes in the transfer.
    pub total_bytes: u64,
    /// Blocks in the transfer.
    pub total_blocks: u64,
    /// Bytes sent, repairs included.
    pub bytes_sent: u64,
    /// Bytes acknowledged.
    pub bytes_acked: u64,
    /// Blocks sent.
    pub blocks_sent: u64,
    /// Blocks acknowledged.
    pub blocks_acked: u64,
    /// Blocks sent again to repair losses.
    pub blocks_retransmitted: u64,
    /// Packets sent.
    pub packets_sent: u64,
    /// Packets received.
    pub packets_recv: u64,
    /// Current rate in kbit/s.
    pub send_rate: f64,
    /// Sessions started again after one died (the receiver restarted, the path went away).
    pub reconnects: u64,
    /// Why the last session died, when one did.
    pub last_error: Option<String>,
}

impl TransferProgress {
    fn assignments(&self) -> Vec<(&'static str, &dyn ToSql)> {
        vec![
            ("total_files", &self.total_files),
            ("files_complete", &self.files_complete),
            ("files_skipped", &self.files_skipped),
            ("bytes_skipped", &self.bytes_skipped),
            ("total_bytes", &self.total_bytes),
            ("total_blocks", &self.total_blocks),
            ("bytes_sent", &self.bytes_sent),
            ("bytes_acked", &self.bytes_acked),
            ("blocks_sent", &self.blocks_sent),
            ("blocks_acked", &self.blocks_acked),
            ("blocks_retransmitted", &self.blocks_retransmitted),
            ("packets_sent", &self.packets_sent),
            ("packets_recv", &self.packets_recv),
            ("send_rate", &self.send_rate),
            ("reconnects", &self.reconnects),
            ("last_error", &self.last_error),
        ]
    }
}

/// What a restarted sender resumes from: what the receiver reported on its stable storage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// Ranges of the transfer's byte space the receiver reported durable.
    pub acked: RangeSet,
    /// Indices (in manifest order) of the files known complete.
    pub complete_files: RangeSet,
}

/// A transfer to add.
#[derive(Clone, Debug, PartialEq)]
pub struct NewTransfer {
    /// The destination it goes to.
    pub destination_id: String,
    /// The manifest it sends.
    pub manifest_id: String,
    /// `createTransfer` parameters.
    pub params: TransferParams,
    /// Bytes per block.
    pub block_size: u32,
    /// Initial user data.
    pub user_data: UserData,
    /// When `createTransfer` was called (Unix µs); also the first queue time.
    pub request_time: i64,
}

/// A transfer as the API returns it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Transfer {
    /// Positive, never reused.
    pub transfer_id: u64,
    /// The destination it goes to.
    pub destination_id: String,
    /// The manifest it sends (which may have been deleted since).
    pub manifest_id: String,
    /// `createTransfer` parameters, as current (priority, lane and rate may change).
    #[serde(flatten)]
    pub params: TransferParams,
    /// Where it is in its life.
    pub status: TransferStatus,
    /// Whether it is queued or moving data.
    pub processing: bool,
    /// Why it failed, if it did.
    pub error_message: Option<String>,
    /// Cipher level in use, once negotiated.
    pub cipher: Option<u32>,
    /// Bytes per block.
    pub block_size: u32,
    /// Progress counters.
    #[serde(flatten)]
    pub progress: TransferProgress,
    /// When it was requested (Unix µs).
    pub request_time: i64,
    /// When it was last queued (Unix µs).
    pub queue_time: Option<i64>,
    /// When it first sent data (Unix µs).
    pub start_time: Option<i64>,
    /// When it completed or failed (Unix µs).
    pub end_time: Option<i64>,
    /// User data.
    pub user_data: UserData,
    /// Per-file completion, in manifest order, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complete_flags: Option<Vec<bool>>,
}

/// Changes to a transfer: every `Some` field is written, `None` fields are left alone;
/// `Some(None)` clears a nullable one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TransferUpdate {
    /// Lower goes first.
    pub priority: Option<u32>,
    /// Priority lane name.
    pub priority_lane: Option<String>,
    /// Rate cap in kbit/s.
    pub send_rate_max: Option<Option<f64>>,
    /// Cipher level in use.
    pub cipher: Option<Option<u32>>,
}

impl Record for Transfer {
    const TABLE: Table = Table {
        name: "transfers",
        key: "id",
        what: "transfer",
        param: "transferId",
    };
    const SELECT: &'static str = "SELECT * FROM transfers";

    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        let c = Columns::of(row);
        let status: TransferStatus = c.get("status")?;
        Ok(Transfer {
            transfer_id: c.get("id")?,
            destination_id: c.get("destination_id")?,
            manifest_id: c.get("manifest_id")?,
            params: TransferParams {
                destination_path: c.get("destination_path")?,
                priority: c.get("priority")?,
                priority_lane: c.get("priority_lane")?,
                send_rate_max: c.get("send_rate_max")?,
                overwrite_mode: c.get("overwrite_mode")?,
                transfer_flags: c.get("transfer_flags")?,
                min_cipher: c.get("min_cipher")?,
                checkpoint_frequency_seconds: c.get("checkpoint_frequency_seconds")?,
                file_time_resolution_microseconds: c.get("file_time_resolution_us")?,
                timeout_seconds: c.get("timeout_seconds")?,
                user_name: c.get("user_name")?,
                uses_token: c.get("uses_token")?,
                transfer_log: c.get("transfer_log")?,
                skip_mode: c.get("skip_mode")?,
            },
            status,
            processing: status.is_processing(),
            error_message: c.get("error_message")?,
            cipher: c.get("cipher")?,
            block_size: c.get("block_size")?,
            progress: TransferProgress {
                total_files: c.get("total_files")?,
                files_complete: c.get("files_complete")?,
                files_skipped: c.get("files_skipped")?,
                bytes_skipped: c.get("bytes_skipped")?,
                total_bytes: c.get("total_bytes")?,
                total_blocks: c.get("total_blocks")?,
                bytes_sent: c.get("bytes_sent")?,
                bytes_acked: c.get("bytes_acked")?,
                blocks_sent: c.get("blocks_sent")?,
                blocks_acked: c.get("blocks_acked")?,
                blocks_retransmitted: c.get("blocks_retransmitted")?,
                packets_sent: c.get("packets_sent")?,
                packets_recv: c.get("packets_recv")?,
                send_rate: c.get("send_rate")?,
                reconnects: c.get("reconnects")?,
                last_error: c.get("last_error")?,
            },
            request_time: c.get("request_time")?,
            queue_time: c.get("queue_time")?,
            start_time: c.get("start_time")?,
            end_time: c.get("end_time")?,
            user_data: UserData::new(),
            complete_flags: None,
        })
    }

    fn attach(&mut self, db: &Db) -> Result<()> {
        let id = self.transfer_id.to_string();
        self.user_data = user_data::load(db, user_data::TRANSFER, &id)?;
        Ok(())
    }
}

impl Store {
    /// Adds a transfer with a new id, status pending and its initial user data, in one
    /// transaction; `NotFound` if the destination or the manifest does not exist.
    pub fn insert_transfer(&mut self, new: &NewTransfer) -> Result<Transfer> {
        let tx = self.db.transaction()?;
        require(&tx, &Destination::TABLE, new.destination_id.as_str())?;
        require(&tx, &Manifest::TABLE, new.manifest_id.as_str())?;
        let p = &new.params;
        tx.prepare_cached(
            "INSERT INTO transfers (destination_id, manifest_id, destination_path, priority,
                 priority_lane, send_rate_max, overwrite_mode, transfer_flags, min_cipher,
                 checkpoint_frequency_seconds, file_time_resolution_us, timeout_seconds,
                 user_name, uses_token, transfer_log, block_size, status, request_time,
                 queue_time, skip_mode)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                 ?18, ?18, ?19)",
        )?
        .execute(params![
            new.destination_id,
            new.manifest_id,
            p.destination_path,
            p.priority,
            p.priority_lane,
            p.send_rate_max,
            p.overwrite_mode,
            p.transfer_flags,
            p.min_cipher,
            p.checkpoint_frequency_seconds,
            p.file_time_resolution_microseconds,
            p.timeout_seconds,
            p.user_name,
            p.uses_token,
            p.transfer_log,
            new.block_size,
            TransferStatus::Pending,
            new.request_time,
            p.skip_mode,
        ])?;
        let id = tx.last_insert_rowid();
        let object_id = id.to_string();
        for (key, value) in &new.user_data {
            user_data::set(&tx, user_data::TRANSFER, &object_id, key, value)?;
        }
        let transfer = get(&tx, id)?;
        tx.commit()?;
        Ok(transfer)
    }

    /// The transfer `id`, with its per-file completion flags if `complete_flags`.
    pub fn get_transfer(&self, id: u64, complete_flags: bool) -> Result<Transfer> {
        let mut transfer: Transfer = get(&self.db, id)?;
        if complete_flags {
            let RangeBlob(complete) = self
                .db
                .prepare_cached("SELECT complete_files FROM transfers WHERE id = ?1")?
                .query_row([id], |row| row.get(0))?;
            let flags = (0..transfer.progress.total_files)
                .map(|file| complete.contains(file))
                .collect();
            transfer.complete_flags = Some(flags);
        }
        Ok(transfer)
    }

    /// Transfers in creation order within `page`, only those of `destination` if given
    /// (`NotFound` if it does not exist). `before`/`after` need not name existing transfers.
    pub fn list_transfers(
        &self,
        destination: Option<&str>,
        page: &Page<u64>,
    ) -> Result<Vec<Transfer>> {
        if let Some(destination) = destination {
            require(&self.db, &Destination::TABLE, destination)?;
        }
        let window = Window::new(page.after.map(sql_id), page.before.map(sql_id), page.limit);
        let tail = format!(
            "WHERE (?1 IS NULL OR destination_id = ?1) AND {}",
            window.clause("id", 2)
        );
        let [after, before, limit] = window.params();
        let transfers = query(&self.db, &tail, params![destination, after, before, limit])?;
        Ok(window.finish(transfers))
    }

    /// The transfers not ended yet (queued, sending, resuming or suspended), in creation order,
    /// only those of `destination` if given.
    pub fn unfinished_transfers(&self, destination: Option<&str>) -> Result<Vec<Transfer>> {
        query(
            &self.db,
            "WHERE status NOT IN ('complete', 'error') AND (?1 IS NULL OR destination_id = ?1)
             ORDER BY id",
            [destination],
        )
    }

    /// Writes the `Some` fields of `changes` to transfer `id`.
    pub fn update_transfer(&mut self, id: u64, changes: &TransferUpdate) -> Result<()> {
        let sets = assignments!(changes;
            priority => "priority",
            priority_lane => "priority_lane",
            send_rate_max => "send_rate_max",
            cipher => "cipher",
        );
        update(&self.db, &Transfer::TABLE, id, &sets)
    }

    /// Sets the status and error message of transfer `id` and stamps the time `now`: the queue
    /// time on pending or resuming, the start time on the first sending, the end time on
    /// complete or error.
    pub fn set_transfer_status(
        &mut self,
        id: u64,
        status: TransferStatus,
        error_message: Option<&str>,
        now: i64,
    ) -> Result<()> {
        let changed = self
            .db
            .prepare_cached(
                "UPDATE transfers SET status = ?2, error_message = ?3,
                     queue_time = CASE WHEN ?2 IN ('pending', 'resuming') THEN ?4
                                  ELSE queue_time END,
                     start_time = CASE WHEN ?2 = 'sending' THEN COALESCE(start_time, ?4)
                                  ELSE start_time END,
                     end_time = CASE WHEN ?2 IN ('complete', 'error') THEN ?4 ELSE end_time END
                 WHERE id = ?1",
            )?
            .execute(params![id, status, error_message, now])?;
        match changed {
            0 => Err(StoreError::missing(&Transfer::TABLE, id)),
            _ => Ok(()),
        }
    }

    /// Writes the progress counters of transfer `id`.
    pub fn update_transfer_progress(&mut self, id: u64, progress: &TransferProgress) -> Result<()> {
        update(&self.db, &Transfer::TABLE, id, &progress.assignments())
    }

    /// Writes the progress counters and the checkpoint of transfer `id` in one statement, so
    /// the counters never run ahead of the ranges they describe.
    pub fn save_transfer_checkpoint(
        &mut self,
        id: u64,
        progress: &TransferProgress,
        checkpoint: &Checkpoint,
    ) -> Result<()> {
        let acked = codec::encode(&checkpoint.acked);
        let complete = codec::encode(&checkpoint.complete_files);
        let mut sets = progress.assignments();
        sets.push(("acked_ranges", &acked));
        sets.push(("complete_files", &complete));
        update(&self.db, &Transfer::TABLE, id, &sets)
    }

    /// The last checkpoint saved for transfer `id` (empty sets before the first).
    pub fn transfer_checkpoint(&self, id: u64) -> Result<Checkpoint> {
        self.db
            .prepare_cached("SELECT acked_ranges, complete_files FROM transfers WHERE id = ?1")?
            .query_row([id], |row| {
                let RangeBlob(acked) = row.get(0)?;
                let RangeBlob(complete_files) = row.get(1)?;
                Ok(Checkpoint {
                    acked,
                    complete_files,
                })
            })
            .optional()?
            .ok_or_else(|| StoreError::missing(&Transfer::TABLE, id))
    }

    /// Deletes transfer `id` and its user data.
    pub fn delete_transfer(&mut self, id: u64) -> Result<()> {
        delete(&self.db, &Transfer::TABLE, id)
    }
}

#[cfg(test)]
mod tests {
    use super::TransferStatus::*;

    #[test]
    fn queued_sql_lists_the_processing_statuses() {
        let listed: Vec<_> = [Pending, Sending, Complete, Suspended, Resuming, Error]
            .into_iter()
            .filter(|s| queued_statuses_sql!().contains(&format!("'{}'", s.as_str())))
            .collect();
        let processing: Vec<_> = [Pending, Sending, Complete, Suspended, Resuming, Error]
            .into_iter()
            .filter(|s| s.is_processing())
            .collect();
        assert_eq!(listed, processing);
    }
}
