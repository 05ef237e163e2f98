//! The per-file results of a sent transfer: one row per manifest entry, added as pending when
//! the transfer first starts and updated in batches as the receiver reports files complete,
//! kept or failed, with the digest each file was verified against.

use super::transfers::Transfer;
use super::{require, sql_id, sql_limit, Record, Result, Store};
use jetstream_wire::files::Digest;
use rusqlite::params;
use serde::Serialize;

text_enum! {
    /// Where one file of a transfer stands.
    TransferFileStatus {
        /// Not confirmed by the receiver yet.
        Pending => "pending",
        /// In place at the receiver, written by this transfer.
        Complete => "complete",
        /// Left alone by the receiver, which already held it (the same file, or one as new
        /// when only newer files are written): nothing was written.
        Skipped => "skipped",
        /// The file could not be sent or placed; see the error message.
        Error => "error",
    }
}

/// One file of a transfer as `getTransferFiles` returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferFile {
    /// The transfer.
    pub transfer_id: u64,
    /// Its position in the transfer (manifest order, from 0): the key `after` pages by.
    pub file_index: u64,
    /// Path at the sender, as sent.
    pub src_path: String,
    /// Path at the receiver, below the transfer's destination path.
    pub dest_path: String,
    /// Size in bytes (0 for a directory).
    pub file_size: u64,
    /// The entry is an empty directory.
    pub is_empty_dir: bool,
    /// Where it stands.
    pub status: TransferFileStatus,
    /// The BLAKE3 digest (64 hex digits) of the source bytes, which the receiver verified the
    /// file it placed (or, skipped, the file it held) against; `None` before it did, and for
    /// directories, empty files, transfers without verification and files skipped for being
    /// as new at the receiver.
    pub digest: Option<String>,
    /// Why it failed, if it did.
    pub error_message: Option<String>,
    /// When it was confirmed complete or skipped, or failed (Unix µs).
    pub end_time: Option<i64>,
}

/// What became of one file of a running transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileOutcome {
    /// Its position in the transfer.
    pub index: u64,
    /// `Complete`, `Skipped` or `Error`.
    pub status: TransferFileStatus,
    /// The digest it was verified against.
    pub digest: Option<Digest>,
    /// Why it failed.
    pub error_message: Option<String>,
    /// When (Unix µs).
    pub time: i64,
}

impl Store {
    /// Adds every entry of transfer `id`'s manifest as a pending file of the transfer, unless
    /// its files are there already (a transfer started again keeps its results). None are
    /// added when the manifest was deleted.
    pub fn insert_transfer_files(&mut self, id: u64) -> Result<()> {
        require(&self.db, &Transfer::TABLE, id)?;
        self.db
            .prepare_cached(
                "INSERT INTO transfer_files (transfer_id, idx, src_path, dest_path, file_size,
                     is_empty_dir)
                 SELECT t.id, f.idx, f.src_path, f.dest_path, f.file_size, f.is_empty_dir
                 FROM transfers t
                 JOIN manifests m ON m.id = t.manifest_id
                 JOIN manifest_files f ON f.manifest = m.seq
                 WHERE t.id = ?1
                     AND NOT EXISTS (SELECT 1 FROM transfer_files WHERE transfer_id = ?1)",
            )?
            .execute([sql_id(id)])?;
        Ok(())
    }

    /// Records what became of some files of transfer `id`, all in one transaction. A file
    /// that is not listed is left alone.
    pub fn save_transfer_files(&mut self, id: u64, outcomes: &[FileOutcome]) -> Result<()> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let tx = self.db.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE transfer_files SET status = ?3, digest = ?4, error_message = ?5,
                     end_time = ?6
                 WHERE transfer_id = ?1 AND idx = ?2",
            )?;
            for o in outcomes {
                stmt.execute(params![
                    sql_id(id),
                    sql_id(o.index),
                    o.status,
                    o.digest.map(hex::encode),
                    o.error_message,
                    o.time,
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The files of transfer `id` in transfer order: those after index `after` (excluded), at
    /// most `limit` of them (all with `None` or 0). `NotFound` if there is no such transfer;
    /// empty before it first starts.
    pub fn transfer_files(
        &self,
        id: u64,
        after: Option<u64>,
        limit: Option<usize>,
    ) -> Result<Vec<TransferFile>> {
        require(&self.db, &Transfer::TABLE, id)?;
        let mut stmt = self.db.prepare_cached(
            "SELECT idx, src_path, dest_path, file_size, is_empty_dir, status, digest,
                 error_message, end_time
             FROM transfer_files WHERE transfer_id = ?1 AND idx > ?2 ORDER BY idx LIMIT ?3",
        )?;
        let after = after.map_or(-1, sql_id);
        let files = stmt
            .query_map(params![sql_id(id), after, sql_limit(limit)], |row| {
                Ok(TransferFile {
                    transfer_id: id,
                    file_index: row.get(0)?,
                    src_path: row.get(1)?,
                    dest_path: row.get(2)?,
                    file_size: row.get(3)?,
                    is_empty_dir: row.get(4)?,
                    status: row.get(5)?,
                    digest: row.get(6)?,
                    error_message: row.get(7)?,
                    end_time: row.get(8)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(files)
    }
}
