//! Starting transfers: the transfers that may have to start (created, resumed, recovered at
//! open, or whose manifest's traversal ended) and starting their sessions once their manifest
//! is ready.

use super::ends::End;
use crate::error::{Code, Result};
use crate::flags;
use crate::known_paths;
use crate::send::{Controls, SendOptions};
use crate::server::actor::Actor;
use crate::server::destinations::{receiver_name, resolve};
use crate::server::runner::{Launch, Listed, Running};
use crate::store::{
    ConnectionState, EventKind, ManifestStatus, NewEvent, Transfer, TransferStatus,
};
use jetstream_wire::crypto::aead::CipherLevel;
use jetstream_wire::files::SkipRule;
use jetstream_wire::rate::RatePolicy;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

/// The transfers that may have to start, kept in memory so that starting them costs what
/// changed, not every unfinished transfer: filled from the store once at open, then by the
/// events that can make a transfer startable. A transfer listed here that is no longer
/// queued (deleted, suspended, ended) is dropped when its turn comes.
#[derive(Default)]
pub(in crate::server) struct StartQueue {
    /// Transfers to look at the next time [`Actor::start_ready`] runs.
    next: BTreeSet<u64>,
    /// Transfers whose manifest was still being traversed, by manifest id.
    by_manifest: HashMap<String, BTreeSet<u64>>,
}

impl StartQueue {
    /// Transfer `id` may have to start: created, resumed, or its last session ended.
    pub(in crate::server) fn push(&mut self, id: u64) {
        self.next.insert(id);
    }

    /// Manifest `id`'s traversal ended or the manifest is gone: its transfers are looked at
    /// again.
    pub(in crate::server) fn manifest_done(&mut self, id: &str) {
        if let Some(ids) = self.by_manifest.remove(id) {
            self.next.extend(ids);
        }
    }
}

impl Actor {
    /// Transfers left queued or sending by a previous run are queued again.
    pub(in crate::server) fn recover(&mut self) {
        let transfers = match self.store.unfinished_transfers(None) {
            Ok(transfers) => transfers,
            Err(e) => return tracing::error!("reading transfers: {e}"),
        };
        for t in transfers.into_iter().filter(|t| t.processing) {
            let id = t.transfer_id;
            if t.params.user_name.is_some() || t.params.uses_token {
                // Its password or token was never stored, nor the session that let a token's
                // holder download.
                let message = "the engine restarted and the transfer's credentials (a \
                               password, or the session of a shared token's holder) are not kept";
                self.end_transfer(id, End::Failed(None, message.to_owned()));
                continue;
            }
            if t.status == TransferStatus::Sending {
                if let Err(e) = self.save_status(id, TransferStatus::Resuming, None) {
                    tracing::error!("transfer {id}: not marked resuming, restarts as sending: {e}");
                }
            }
            self.start_queue.push(id);
        }
        self.start_ready();
    }

    /// Starts the session of every transfer of the start queue that is queued and whose
    /// manifest is ready, in the order they were created; those whose manifest is still being
    /// traversed wait for it.
    pub(in crate::server) fn start_ready(&mut self) {
        let mut touched = Vec::new();
        for id in std::mem::take(&mut self.start_queue.next) {
            if self.running.contains_key(&id) || self.unsaved_ends.contains_key(&id) {
                continue;
            }
            let transfer = match self.store.get_transfer(id, false) {
                Ok(transfer) if transfer.processing => transfer,
                Ok(_) => continue,
                Err(e) if e.is_not_found() => continue,
                Err(e) => {
                    // Looked at again the next time anything may start.
                    tracing::error!("transfer {id}: not read to start it: {e}");
                    self.start_queue.push(id);
                    continue;
                }
            };
            match self.store.get_manifest(&transfer.manifest_id) {
                Ok(m) if m.status == ManifestStatus::Pending => {
                    self.start_queue
                        .by_manifest
                        .entry(m.manifest_id)
                        .or_default()
                        .insert(id);
                    continue;
                }
                Ok(m) if m.status == ManifestStatus::Complete => {}
                Ok(m) => {
                    let reason = m.error_message.unwrap_or_default();
                    let message = format!("manifest {} failed: {reason}", m.manifest_id);
                    self.end_transfer(id, End::Failed(Some(Code::Io), message));
                    continue;
                }
                Err(_) => {
                    let message = format!("manifest {} was deleted", transfer.manifest_id);
                    self.end_transfer(id, End::Failed(Some(Code::NotFound), message));
                    continue;
                }
            }
            if let Err(e) = self.start(&transfer) {
                self.end_transfer(id, End::Failed(Some(e.code), e.message));
                continue;
            }
            if !touched.contains(&transfer.destination_id) {
                touched.push(transfer.destination_id.clone());
            }
        }
        for id in touched {
            self.rebalance(&id);
        }
    }

    /// Starts the session of one queued transfer.
    fn start(&mut self, transfer: &Transfer) -> Result<()> {
        let destination = self.store.get_destination(&transfer.destination_id)?;
        let to = resolve(&destination)?;
        let files = self
            .store
            .manifest_files(&transfer.manifest_id, None)?
            .file_mappings;
        self.store.insert_transfer_files(transfer.transfer_id)?;
        let symlinks = self
            .store
            .get_manifest(&transfer.manifest_id)?
            .symlink_options;
        let preserve_links = symlinks == u32::from(flags::SYMLINKS_PRESERVE);
        let params = &transfer.params;
        let mut opts = SendOptions::new(to);
        opts.dest_dir = params.destination_path.clone().unwrap_or_default();
        opts.cipher = u8::try_from(params.min_cipher)
            .ok()
            .and_then(CipherLevel::from_u8)
            .unwrap_or(CipherLevel::Aes128Gcm);
        self.destination_session(&destination, &mut opts);
        opts.auth = self
            .credentials
            .get(&transfer.transfer_id)
            .cloned()
            .unwrap_or_default();
        opts.flags = params.transfer_flags;
        opts.verify = self.opts.verify;
        opts.shared_token = params.uses_token;
        opts.overwrite = u8::try_from(params.overwrite_mode).unwrap_or(flags::OVERWRITE_NEVER);
        opts.time_resolution_us = params.file_time_resolution_microseconds;
        opts.skip = u8::try_from(params.skip_mode)
            .ok()
            .and_then(SkipRule::from_u8)
            .unwrap_or(SkipRule::QuickCheck);
        opts.timeout = idle_limit(params.timeout_seconds);
        opts.sync_interval = (params.checkpoint_frequency_seconds > 0)
            .then(|| Duration::from_secs(params.checkpoint_frequency_seconds.into()));
        opts.transfer_id = transfer.transfer_id;
        // From the last checkpoint: what the receiver reported durable is not sent again.
        opts.resume = self.store.transfer_checkpoint(transfer.transfer_id)?;
        if let Some(connection) = destination
            .connection_id
            .and_then(|id| self.store.get_connection(id).ok())
        {
            opts.rate_control = connection.rate_controller_active;
            // Checked when it was set; a value from elsewhere falls back to the default.
            opts.rate_policy =
                RatePolicy::from_number(connection.rate_control_method).unwrap_or_default();
            opts.path_memory = connection.path_memory();
        }
        if opts.path_memory.is_none() {
            opts.path_memory = self
                .opts
                .known_paths_file
                .as_deref()
                .and_then(|file| known_paths::get(file, &receiver_name(&destination)));
        }
        // Paused until the rebalance that follows every start says whether its lane and
        // priority let it send: a session let go at once could send a burst first.
        let controls = Controls {
            suspended: true,
            limits: opts.limits,
            fixed_rate: None,
            fail: None,
            stop: None,
            pings: 0,
        };
        let resumed_at = (
            transfer.progress.bytes_sent,
            opts.resume.complete_files.len(),
        );
        let mut run = Running::start(
            transfer.transfer_id,
            destination.destination_id.clone(),
            Launch {
                identity: self.identity.clone(),
                tx: self.tx.clone(),
            },
            opts,
            Listed {
                files,
                preserve_links,
            },
            transfer.progress.clone(),
            controls,
        );
        if transfer.status == TransferStatus::Resuming {
            run.resumed_at = Some(resumed_at);
        }
        run.checkpoint_every = Duration::from_secs(params.checkpoint_frequency_seconds.into());
        self.running.insert(transfer.transfer_id, run);
        self.set_connection_state(&destination, ConnectionState::Negotiating);
        self.log(transfer, "started");
        self.record(NewEvent {
            transfer_id: Some(transfer.transfer_id),
            ..NewEvent::new(
                EventKind::TransferStarted,
                format!(
                    "transfer {} started to destination {}",
                    transfer.transfer_id, destination.destination_id
                ),
            )
        });
        Ok(())
    }
}

/// How long a transfer may go without progress before it fails, from its `timeoutSeconds`:
/// the seed's "0 seconds indicates no timeout" is `None`, a transfer that never gives up.
fn idle_limit(timeout_seconds: f64) -> Option<Duration> {
    (timeout_seconds > 0.0).then(|| Duration::from_secs_f64(timeout_seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_of_zero_seconds_is_no_timeout() {
        assert_eq!(idle_limit(0.0), None);
        assert_eq!(idle_limit(2.5), Some(Duration::from_millis(2_500)));
        assert_eq!(
            idle_limit(super::super::commands::DEFAULT_TIMEOUT_SECONDS),
            Some(Duration::from_secs(30))
        );
    }
}
