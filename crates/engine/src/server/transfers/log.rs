//! The transfer log: a line per event of a transfer created with `transferLog`, in a file of
//! its own in the server's transfer-log directory.

use crate::server::actor::{now_us, Actor};
use crate::store::Transfer;
use std::io::Write;

impl Actor {
    /// Appends a line to the transfer's log, when it keeps one.
    pub(in crate::server) fn log(&self, transfer: &Transfer, event: &str) {
        if !transfer.params.transfer_log {
            return;
        }
        let dir = &self.opts.transfer_log_dir;
        let path = dir.join(format!("transfer-{}.log", transfer.transfer_id));
        let line = format!(
            "{} transfer {} {} destination={} manifest={} files={}/{} bytes_acked={}/{}\n",
            now_us(),
            transfer.transfer_id,
            event.trim(),
            transfer.destination_id,
            transfer.manifest_id,
            transfer.progress.files_complete,
            transfer.progress.total_files,
            transfer.progress.bytes_acked,
            transfer.progress.total_bytes,
        );
        let written = std::fs::create_dir_all(dir).and_then(|()| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?
                .write_all(line.as_bytes())
        });
        if let Err(e) = written {
            tracing::warn!("transfer log {}: {e}", path.display());
        }
    }
}
