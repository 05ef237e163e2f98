//! The figures of running transfers: each progress report of a session saved to its transfer
//! (a checkpoint when one is due), and to its destination and connection.

use super::BLOCK_SIZE;
use crate::error::Error;
use crate::known_receivers::Recognized;
use crate::send::{PlacedEntry, Progress};
use crate::server::actor::{now_us, stored, Actor};
use crate::server::destinations::receiver_name;
use crate::server::events::ServerEvent;
use crate::store::{
    ConnectionState, ConnectionUpdate, DestinationUpdate, FileOutcome, TransferFileStatus,
    TransferProgress, TransferStatus, TransferUpdate,
};
use std::time::Instant;

impl Actor {
    /// Records a running transfer's figures, and those of its connection.
    pub(in crate::server) fn on_progress(&mut self, id: u64, p: &Progress) {
        let Some(run) = self.running.get_mut(&id) else {
            return;
        };
        if run.failed {
            return;
        }
        run.connected = p.connected;
        let p = &run.totals(p);
        self.on_pongs(id, p);
        let Some(run) = self.running.get_mut(&id) else {
            return;
        };
        let stats = &p.stats;
        let bytes_delta = stats.bytes_sent.saturating_sub(run.last_bytes_sent);
        let packets_delta = stats.packets_sent.saturating_sub(run.last_packets_sent);
        run.last_bytes_sent = stats.bytes_sent;
        run.last_packets_sent = stats.packets_sent;
        let flowing = p.cipher.is_some()
            && run.resumed_at.is_none_or(|(bytes, files)| {
                stats.bytes_sent > bytes || u64::from(stats.files_complete) > files
            });
        if flowing {
            run.resumed_at = None;
        }
        let destination_id = run.destination_id.clone();
        // Told once the report names the key too (it may come a report later).
        let recorded = match (p.recognized, p.receiver_key) {
            (Some(Recognized::Recorded { line }), Some(key)) if !run.told_recorded => {
                run.told_recorded = true;
                Some((line, key))
            }
            _ => None,
        };
        let progress = progress_of(p);
        // Before the checkpoint that counts them complete, in one transaction per report.
        stored(
            format_args!("transfer {id}: file results"),
            self.store.save_transfer_files(id, &outcomes(p)),
        );
        let Some(run) = self.running.get_mut(&id) else {
            return;
        };
        if run.checkpoint_due(p, Instant::now()) {
            // A restart resumes from the last checkpoint: a session that goes on without saving
            // it sends data no restart would know of, so it stops here and says why.
            if let Err(e) = self
                .store
                .save_transfer_checkpoint(id, &progress, &p.checkpoint)
            {
                tracing::error!("transfer {id}: checkpoint not saved, failing the transfer: {e}");
                let e = Error::from(e).context("the checkpoint was not saved");
                return self.abort(id, Some(e.code), e.message);
            }
        } else {
            stored(
                format_args!("transfer {id}: progress"),
                self.store.update_transfer_progress(id, &progress),
            );
        }
        let Ok(transfer) = self.store.get_transfer(id, false) else {
            return;
        };
        if transfer.params.transfer_log {
            if let Some(run) = self.running.get(&id) {
                for placed in &p.placed {
                    let path = run.path(placed.index);
                    let digest = placed
                        .digest
                        .map_or_else(String::new, |d| format!(" blake3={}", hex::encode(d)));
                    let status = file_status(placed).as_str();
                    self.log(&transfer, &format!("file {path:?} {status}{digest}"));
                }
                if let Some(failed) = &p.failed {
                    let path = run.path(failed.index);
                    self.log(
                        &transfer,
                        &format!("file {path:?} error: {}", failed.message),
                    );
                }
            }
        }
        if transfer.cipher.is_none() {
            stored(
                format_args!("transfer {id}: cipher"),
                self.store.update_transfer(
                    id,
                    &TransferUpdate {
                        cipher: Some(p.cipher.map(|c| c as u32)),
                        ..TransferUpdate::default()
                    },
                ),
            );
        }
        let now = now_us();
        if flowing
            && matches!(
                transfer.status,
                TransferStatus::Pending | TransferStatus::Resuming
            )
        {
            // Not saved, the status is tried again at the next report.
            match self.save_status(id, TransferStatus::Sending, None) {
                Ok(()) => self.log(&transfer, "sending"),
                Err(e) => tracing::error!("transfer {id}: not marked sending: {e}"),
            }
        }
        let Ok(destination) = self.store.get_destination(&destination_id) else {
            return;
        };
        if let (Some((line, key)), Some(file)) = (recorded, &self.opts.known_receivers_file) {
            self.events.emit(ServerEvent::ReceiverRecorded {
                transfer_id: id,
                receiver: receiver_name(&destination),
                public_key: key.to_string(),
                file: file.display().to_string(),
                line,
            });
        }
        if p.cipher.is_some() {
            stored(
                format_args!("destination {destination_id}: connection figures"),
                self.store.update_destination(
                    &destination_id,
                    &DestinationUpdate {
                        encrypted_connection_state: Some(ConnectionState::Connected),
                        last_recv_time: Some(now),
                        last_send_time: Some(now),
                        last_destination_server_id: p.receiver_key.map(|k| k.to_string()),
                        round_trip_time_ms: Some(stats.rtt.as_secs_f64() * 1000.0),
                        ..DestinationUpdate::default()
                    },
                ),
            );
        }
        if let Some(connection) = destination
            .connection_id
            .and_then(|c| self.store.get_connection(c).ok())
        {
            let sent = stats.packets_sent.max(1) as f64;
            stored(
                format_args!("connection {}: figures", connection.connection_id),
                self.store.update_connection(
                    connection.connection_id,
                    &ConnectionUpdate {
                        send_rate: Some(stats.send_rate as f64 * 8.0 / 1000.0),
                        round_trip_time_ms: Some(stats.rtt.as_secs_f64() * 1000.0),
                        loss_rate: Some(stats.packets_lost as f64 / sent),
                        bytes_sent: Some(connection.bytes_sent + bytes_delta),
                        packets_sent: Some(connection.packets_sent + packets_delta),
                        encrypted_connection_state: p.cipher.map(|_| ConnectionState::Connected),
                        last_recv_time: Some(now),
                        last_send_time: Some(now),
                        ..ConnectionUpdate::default()
                    },
                ),
            );
        }
    }
}

/// What a file the receiver confirmed came to.
fn file_status(placed: &PlacedEntry) -> TransferFileStatus {
    if placed.kept {
        TransferFileStatus::Skipped
    } else {
        TransferFileStatus::Complete
    }
}

/// The results to record of the files a report says the receiver confirmed, or a session
/// failed on.
fn outcomes(p: &Progress) -> Vec<FileOutcome> {
    let now = now_us();
    let placed = p.placed.iter().map(|placed| FileOutcome {
        index: placed.index,
        status: file_status(placed),
        digest: placed.digest,
        error_message: None,
        time: now,
    });
    let failed = p.failed.iter().map(|failed| FileOutcome {
        index: failed.index,
        status: TransferFileStatus::Error,
        digest: None,
        error_message: Some(failed.message.clone()),
        time: now,
    });
    placed.chain(failed).collect()
}

/// The stored progress counters of a sender's figures.
fn progress_of(p: &Progress) -> TransferProgress {
    let blocks = |bytes: u64| bytes.div_ceil(u64::from(BLOCK_SIZE));
    let stats = &p.stats;
    TransferProgress {
        total_files: u64::from(p.total_files),
        files_complete: u64::from(stats.files_complete),
        files_skipped: u64::from(stats.files_skipped),
        bytes_skipped: stats.bytes_skipped,
        total_bytes: p.total_bytes,
        total_blocks: blocks(p.total_bytes),
        bytes_sent: stats.bytes_sent,
        bytes_acked: stats.bytes_acked,
        blocks_sent: blocks(stats.bytes_sent),
        blocks_acked: blocks(stats.bytes_acked),
        blocks_retransmitted: blocks(stats.bytes_retransmitted),
        packets_sent: stats.packets_sent,
        packets_recv: stats.packets_received,
        send_rate: stats.send_rate as f64 * 8.0 / 1000.0,
        reconnects: u64::from(p.reconnects),
        last_error: p.last_error.clone(),
    }
}
