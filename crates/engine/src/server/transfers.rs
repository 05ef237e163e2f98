//! Transfers: creating them with their settings, starting their sessions when the manifest is
//! ready, recording progress and ends, steering them (suspend, resume, fail, priority, rate),
//! and sharing each destination's rate among its transfers by lane.

use super::actor::{now_us, stored, to_json, Actor, Responder};
use super::destinations::{kbps_to_bytes, receiver_name, resolve};
use super::events::{EventError, ServerEvent, TransferReport};
use super::runner::{Launch, Listed, Outcome, Running};
use crate::command::{CreateTransfer, FailTransfer, SetTransferPriority, SetTransferSendRateMax};
use crate::error::{Code, Error, Result};
use crate::flags;
use crate::known_receivers::Recognized;
use crate::schedule::{self, Flow};
use crate::send::{Controls, Progress, SendOptions, SendReport};
use crate::store::{
    self, ConnectionState, ConnectionUpdate, Destination, DestinationUpdate, EventKind,
    ManifestStatus, NewEvent, NewTransfer, Page, PriorityLanes, Transfer, TransferParams,
    TransferProgress, TransferStatus, TransferUpdate,
};
use jetstream_wire::codec::Auth;
use jetstream_wire::crypto::aead::CipherLevel;
use jetstream_wire::rate::RateLimits;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

/// Bytes per block, as transfers count their data.
pub const BLOCK_SIZE: u32 = 256;
/// The priority of a transfer created without one (lower goes first).
const DEFAULT_PRIORITY: u32 = 100;
/// The lane of a transfer created without one (when the destination has it).
const DEFAULT_LANE: &str = "Normal";
/// The idle timeout of a transfer created without `timeoutSeconds`.
const DEFAULT_TIMEOUT_SECONDS: f64 = 30.0;

impl Actor {
    pub(super) fn create_transfer(&mut self, p: &CreateTransfer) -> Result<Value> {
        let destination = self.store.get_destination(&p.destination_id)?;
        let manifest = self.store.get_manifest(&p.manifest_id)?;
        if manifest.status == ManifestStatus::Error {
            return Err(Error::new(
                Code::InvalidState,
                format!(
                    "createTransfer: manifest {} failed: {}",
                    manifest.manifest_id,
                    manifest.error_message.unwrap_or_default()
                ),
            ));
        }
        let mut settings = destination.transfer_defaults.clone();
        settings.merge(&p.settings);
        let lane = match settings.priority_lane {
            Some(lane) => {
                if !has_lane(&destination, &lane) {
                    return Err(Error::new(
                        Code::InvalidArgument,
                        format!(
                            "createTransfer: priorityLane: destination {} has no lane {lane:?}",
                            destination.destination_id
                        ),
                    ));
                }
                lane
            }
            None => default_lane(&destination),
        };
        let params = TransferParams {
            destination_path: p.destination_path.clone(),
            priority: settings.priority.unwrap_or(DEFAULT_PRIORITY),
            priority_lane: lane,
            send_rate_max: settings.send_rate_max,
            overwrite_mode: settings
                .overwrite_mode
                .unwrap_or(u32::from(flags::OVERWRITE_NEVER)),
            transfer_flags: settings
                .transfer_flags
                .unwrap_or(flags::DEFAULT | flags::WRITE_MTIME),
            min_cipher: settings.min_cipher.unwrap_or(CipherLevel::Aes128Gcm as u32),
            checkpoint_frequency_seconds: settings.checkpoint_frequency_seconds.unwrap_or(0),
            file_time_resolution_microseconds: settings
                .file_time_resolution_microseconds
                .unwrap_or(0),
            timeout_seconds: p.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS),
            user_name: p.user_name.clone(),
            uses_token: p.token.is_some(),
            transfer_log: p.transfer_log.unwrap_or(false),
        };
        let transfer = self.store.insert_transfer(&NewTransfer {
            destination_id: destination.destination_id.clone(),
            manifest_id: manifest.manifest_id.clone(),
            params,
            block_size: BLOCK_SIZE,
            user_data: p.user_data.clone().unwrap_or_default(),
            request_time: now_us(),
        })?;
        let auth = Auth {
            user: p.user_name.clone().unwrap_or_default(),
            password: p.password.clone().unwrap_or_default(),
            token: p.token.clone().unwrap_or_default(),
        };
        // Credentials live in memory only: the store never holds a password.
        self.credentials.insert(transfer.transfer_id, auth);
        self.log(&transfer, "created");
        self.record(NewEvent {
            transfer_id: Some(transfer.transfer_id),
            ..NewEvent::new(
                EventKind::TransferCreated,
                format!(
                    "transfer {} created: manifest {} to destination {}",
                    transfer.transfer_id, transfer.manifest_id, transfer.destination_id
                ),
            )
        });
        self.start_ready();
        to_json(&self.store.get_transfer(transfer.transfer_id, false)?)
    }

    pub(super) fn delete_transfer(&mut self, id: u64) -> Result<Value> {
        let transfer = self.store.get_transfer(id, false)?;
        if transfer.processing {
            return Err(Error::new(
                Code::InvalidState,
                format!(
                    "deleteTransfer: transfer {id} is {}; suspend or fail it first",
                    transfer.status.as_str()
                ),
            ));
        }
        if let Some(run) = self.running.remove(&id) {
            run.cancel("the transfer was deleted");
        }
        self.store.delete_transfer(id)?;
        self.credentials.remove(&id);
        let gone = Error::new(Code::NotFound, format!("transfer {id} was deleted"));
        for responder in self.transfer_waiters.remove(&id).unwrap_or_default() {
            self.respond(responder, Err(gone.clone()));
        }
        self.collect_destination(&transfer.destination_id)?;
        Ok(Value::Null)
    }

    /// Deletes a destination that is not permanent once its last transfer is deleted.
    fn collect_destination(&mut self, id: &str) -> Result<()> {
        let destination = self.store.get_destination(id)?;
        let left = self.store.list_transfers(
            Some(id),
            &Page {
                limit: Some(1),
                ..Page::default()
            },
        )?;
        if !destination.params.permanent && left.is_empty() {
            self.store.delete_destination(id)?;
        }
        Ok(())
    }

    pub(super) fn fail_transfer(&mut self, p: &FailTransfer) -> Result<Value> {
        let transfer = self.store.get_transfer(p.transfer_id, false)?;
        if matches!(
            transfer.status,
            TransferStatus::Complete | TransferStatus::Error
        ) {
            return Err(Error::new(
                Code::InvalidState,
                format!(
                    "failTransfer: transfer {} already ended ({})",
                    p.transfer_id,
                    transfer.status.as_str()
                ),
            ));
        }
        let message = p
            .error_message
            .clone()
            .unwrap_or_else(|| "failed by failTransfer".to_owned());
        self.abort(p.transfer_id, None, message);
        // Its session is stopped either way; the caller learns when the store missed its end.
        match self.unsaved_ends.get(&p.transfer_id) {
            Some(e) => Err(e.clone()),
            None => Ok(Value::Null),
        }
    }

    /// Fails transfer `id` now, with the engine's `code` (none when the API fails it) and
    /// `message`, stopping its session if one runs (whose end then records nothing more).
    fn abort(&mut self, id: u64, code: Option<Code>, message: String) {
        if let Some(run) = self.running.get_mut(&id) {
            run.failed = true;
            run.cancel(&message);
        }
        self.end_transfer(id, End::Failed(code, message));
    }

    pub(super) fn suspend_transfer(&mut self, id: u64) -> Result<Value> {
        let transfer = self.store.get_transfer(id, false)?;
        if !transfer.processing {
            return Err(Error::new(
                Code::InvalidState,
                format!(
                    "suspendTransferAsync: transfer {id} is {}",
                    transfer.status.as_str()
                ),
            ));
        }
        self.store
            .set_transfer_status(id, TransferStatus::Suspended, None, now_us())?;
        if let Some(run) = self.running.get_mut(&id) {
            run.suspended = true;
            run.apply_pause();
        }
        self.log(&transfer, "suspended");
        self.rebalance(&transfer.destination_id);
        Ok(json!({ "transferId": id }))
    }

    pub(super) fn resume_transfer(&mut self, id: u64) -> Result<Value> {
        let transfer = self.store.get_transfer(id, false)?;
        // A failed transfer is tried again from its last checkpoint.
        if !matches!(
            transfer.status,
            TransferStatus::Suspended | TransferStatus::Error
        ) {
            return Err(Error::new(
                Code::InvalidState,
                format!(
                    "resumeTransferAsync: transfer {id} is {}, not suspended or failed",
                    transfer.status.as_str()
                ),
            ));
        }
        self.store
            .set_transfer_status(id, TransferStatus::Resuming, None, now_us())?;
        if let Some(run) = self.running.get_mut(&id) {
            run.suspended = false;
            run.resumed_at = Some((
                transfer.progress.bytes_sent,
                transfer.progress.files_complete,
            ));
            run.apply_pause();
        }
        self.log(&transfer, "resuming");
        self.rebalance(&transfer.destination_id);
        self.start_ready();
        Ok(json!({ "transferId": id }))
    }

    pub(super) fn set_transfer_priority(&mut self, p: &SetTransferPriority) -> Result<Value> {
        let transfer = self.store.get_transfer(p.transfer_id, false)?;
        if let Some(lane) = &p.priority_lane {
            let destination = self.store.get_destination(&transfer.destination_id)?;
            if !has_lane(&destination, lane) {
                return Err(Error::new(
                    Code::InvalidArgument,
                    format!(
                        "setTransferPriorityAsync: priorityLane: destination {} has no lane \
                         {lane:?}",
                        destination.destination_id
                    ),
                ));
            }
        }
        self.store.update_transfer(
            p.transfer_id,
            &TransferUpdate {
                priority: p.priority,
                priority_lane: p.priority_lane.clone(),
                ..TransferUpdate::default()
            },
        )?;
        self.rebalance(&transfer.destination_id);
        Ok(json!({ "transferId": p.transfer_id }))
    }

    pub(super) fn set_transfer_send_rate_max(
        &mut self,
        p: &SetTransferSendRateMax,
    ) -> Result<Value> {
        let transfer = self.store.get_transfer(p.transfer_id, false)?;
        let cap = (p.send_rate_max >= 0.0).then_some(p.send_rate_max);
        self.store.update_transfer(
            p.transfer_id,
            &TransferUpdate {
                send_rate_max: Some(cap),
                ..TransferUpdate::default()
            },
        )?;
        self.rebalance(&transfer.destination_id);
        Ok(json!({ "sendRateMax": p.send_rate_max }))
    }

    pub(super) fn wait_for_transfer(&mut self, id: u64, responder: Responder) {
        if let Some(e) = self.unsaved_ends.get(&id) {
            return self.respond(responder, Err(e.clone()));
        }
        match self.store.get_transfer(id, false) {
            Ok(t) if !matches!(t.status, TransferStatus::Complete | TransferStatus::Error) => {
                self.wait_transfer(id, responder);
            }
            found => self.respond(
                responder,
                found.map_err(Error::from).and_then(|t| to_json(&t)),
            ),
        }
    }

    /// Transfers of a destination whose sessions run.
    pub(super) fn running_for<'a>(
        &'a self,
        destination_id: &'a str,
    ) -> impl Iterator<Item = u64> + 'a {
        self.running
            .iter()
            .filter(move |(_, run)| run.destination_id == destination_id)
            .map(|(id, _)| *id)
    }

    /// The lanes of a destination that have a transfer in progress.
    pub(super) fn busy_lanes(&self, destination_id: &str) -> Result<Vec<String>> {
        Ok(self
            .store
            .unfinished_transfers(Some(destination_id))?
            .into_iter()
            .map(|t| t.params.priority_lane)
            .collect())
    }

    /// Transfers left queued or sending by a previous run are queued again.
    pub(super) fn recover(&mut self) {
        let transfers = match self.store.unfinished_transfers(None) {
            Ok(transfers) => transfers,
            Err(e) => return tracing::error!("reading transfers: {e}"),
        };
        for t in transfers.into_iter().filter(|t| t.processing) {
            let id = t.transfer_id;
            if t.params.user_name.is_some() || t.params.uses_token {
                // Its password or token was never stored.
                let message = "the engine restarted and the transfer's credentials are not kept";
                self.end_transfer(id, End::Failed(None, message.to_owned()));
            } else if t.status == TransferStatus::Sending {
                if let Err(e) = self.save_status(id, TransferStatus::Resuming, None) {
                    tracing::error!("transfer {id}: not marked resuming, restarts as sending: {e}");
                }
            }
        }
        self.start_ready();
    }

    /// Starts the session of every queued transfer whose manifest is ready.
    pub(super) fn start_ready(&mut self) {
        let queued = match self.store.unfinished_transfers(None) {
            Ok(transfers) => transfers,
            Err(e) => return tracing::error!("reading transfers: {e}"),
        };
        let mut touched = Vec::new();
        for transfer in queued {
            let id = transfer.transfer_id;
            if !transfer.processing
                || self.running.contains_key(&id)
                || self.unsaved_ends.contains_key(&id)
            {
                continue;
            }
            match self.store.get_manifest(&transfer.manifest_id) {
                Ok(m) if m.status == ManifestStatus::Pending => continue,
                Ok(m) if m.status == ManifestStatus::Complete => {}
                Ok(m) => {
                    let reason = m.error_message.unwrap_or_default();
                    let message = format!("manifest {} failed: {reason}", m.manifest_id);
                    self.end_transfer(transfer.transfer_id, End::Failed(Some(Code::Io), message));
                    continue;
                }
                Err(_) => {
                    let message = format!("manifest {} was deleted", transfer.manifest_id);
                    self.end_transfer(
                        transfer.transfer_id,
                        End::Failed(Some(Code::NotFound), message),
                    );
                    continue;
                }
            }
            if let Err(e) = self.start(&transfer) {
                self.end_transfer(transfer.transfer_id, End::Failed(Some(e.code), e.message));
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
        opts.overwrite = u8::try_from(params.overwrite_mode).unwrap_or(flags::OVERWRITE_NEVER);
        opts.time_resolution_us = params.file_time_resolution_microseconds;
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

    /// Records a running transfer's figures, and those of its connection.
    pub(super) fn on_progress(&mut self, id: u64, p: &Progress) {
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
                for (index, digest) in &p.placed {
                    let path = usize::try_from(*index)
                        .ok()
                        .and_then(|i| run.paths.get(i))
                        .map_or("?", String::as_str);
                    let digest =
                        digest.map_or_else(String::new, |d| format!(" blake3={}", hex::encode(d)));
                    self.log(&transfer, &format!("file {path:?} complete{digest}"));
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

    /// A session ended: records how, answers the waiters, and starts what was waiting.
    pub(super) fn on_ended(&mut self, id: u64, outcome: Outcome) {
        let Some(run) = self.running.remove(&id) else {
            return;
        };
        self.on_carrier_ended(id);
        // A transfer failed by the API had its end recorded then.
        // A completed session reported its final figures just before it ended.
        let result = match outcome {
            _ if run.failed => None,
            Ok(report) => Some(End::Complete(Box::new(report))),
            Err(e) => Some(End::Failed(Some(e.code), e.message)),
        };
        if let Some(result) = result {
            self.end_transfer(id, result);
        }
        if let Ok(destination) = self.store.get_destination(&run.destination_id) {
            if self.running_for(&run.destination_id).next().is_none() {
                self.set_connection_state(&destination, ConnectionState::Disconnected);
            }
            self.rebalance(&run.destination_id);
        }
        self.start_ready();
    }

    /// Records the end of a transfer and answers its waiters. When the store cannot record it
    /// the waiters get that failure instead, and it is kept in `unsaved_ends`.
    fn end_transfer(&mut self, id: u64, end: End) {
        self.events.emit(ServerEvent::TransferEnded {
            transfer_id: id,
            report: match &end {
                End::Complete(report) => Some(TransferReport::from(report.as_ref())),
                End::Failed(..) => None,
            },
            error: match &end {
                End::Complete(_) => None,
                End::Failed(code, message) => Some(EventError {
                    code: code.unwrap_or(Code::InvalidState).as_str().to_owned(),
                    message: message.clone(),
                }),
            },
        });
        let (status, message) = match &end {
            End::Complete(_) => (TransferStatus::Complete, None),
            End::Failed(None, message) => (TransferStatus::Error, Some(message.clone())),
            End::Failed(Some(code), message) => (
                TransferStatus::Error,
                Some(format!("{}: {message}", code.as_str())),
            ),
        };
        if let Err(e) = self.save_status(id, status, message.as_deref()) {
            let status = status.as_str();
            tracing::error!("transfer {id}: its end ({status}) not saved: {e}");
            let e = Error::from(e).context(format_args!("transfer {id} ended ({status})"));
            for responder in self.transfer_waiters.remove(&id).unwrap_or_default() {
                self.respond(responder, Err(e.clone()));
            }
            self.unsaved_ends.insert(id, e);
            return;
        }
        self.unsaved_ends.remove(&id);
        self.credentials.remove(&id);
        let Ok(transfer) = self.store.get_transfer(id, false) else {
            return;
        };
        if let End::Failed(Some(code), message) = &end {
            stored(
                format_args!("destination {}: last error", transfer.destination_id),
                self.store.update_destination(
                    &transfer.destination_id,
                    &DestinationUpdate {
                        last_error: Some(Some(code.as_str().to_owned())),
                        last_error_message: Some(Some(message.clone())),
                        ..DestinationUpdate::default()
                    },
                ),
            );
        }
        self.log(
            &transfer,
            &format!("{} {}", status.as_str(), message.as_deref().unwrap_or("")),
        );
        let ended = match &message {
            Some(error) => format!("transfer {id} ended: {}: {error}", status.as_str()),
            None => format!("transfer {id} ended: {}", status.as_str()),
        };
        self.record(NewEvent {
            transfer_id: Some(id),
            ..NewEvent::new(EventKind::TransferEnded, ended)
        });
        let answer = to_json(&transfer);
        for responder in self.transfer_waiters.remove(&id).unwrap_or_default() {
            self.respond(responder, answer.clone());
        }
    }

    /// Saves transfer `id`'s status, stamped now, trying twice: a status the store misses leaves
    /// the transfer in a state it is not in (an ended one starts again at the next open, its
    /// waiters wait on), so one passing failure (a lock held past the busy timeout) is not
    /// final. The first failure is logged here; a second one is the caller's to report.
    fn save_status(
        &mut self,
        id: u64,
        status: TransferStatus,
        message: Option<&str>,
    ) -> store::Result<()> {
        self.store
            .set_transfer_status(id, status, message, now_us())
            .or_else(|e| {
                if e.is_not_found() {
                    return Err(e);
                }
                tracing::warn!(
                    "transfer {id}: status {} not saved, retrying: {e}",
                    status.as_str()
                );
                self.store
                    .set_transfer_status(id, status, message, now_us())
            })
    }

    /// Shares the destination's rate among its running transfers by lane and priority, and
    /// applies each one's cap. Without a cap on the destination nothing is split, but lanes and
    /// priorities still hold back the transfers that must wait (the idle lane while another
    /// lane has a transfer, a higher priority number behind an uncapped lower one). A held
    /// transfer sends no data; its session stays up. Under a server-wide outgoing cap every
    /// destination's share depends on the others: all of them are shared out again.
    pub(super) fn rebalance(&mut self, destination_id: &str) {
        if self.bandwidth.outgoing_kbps.is_some() {
            return self.rebalance_all();
        }
        if let Some(plan) = self.rate_plan(destination_id) {
            self.apply_rates(&plan, plan.total);
        }
    }

    /// The running transfers of a destination and the rate settings their shares come from;
    /// `None` for a destination deleted meanwhile.
    pub(super) fn rate_plan(&self, destination_id: &str) -> Option<RatePlan> {
        let destination = self.store.get_destination(destination_id).ok()?;
        let connection = destination
            .connection_id
            .and_then(|id| self.store.get_connection(id).ok());
        let mut flows = Vec::new();
        let mut params: HashMap<u64, TransferParams> = HashMap::new();
        for id in self.running_for(destination_id) {
            let Ok(transfer) = self.store.get_transfer(id, false) else {
                continue;
            };
            if transfer.status != TransferStatus::Suspended {
                flows.push(Flow {
                    id,
                    lane: transfer.params.priority_lane.clone(),
                    priority: transfer.params.priority,
                    cap: transfer.params.send_rate_max.filter(|r| *r >= 0.0),
                });
            }
            params.insert(id, transfer.params);
        }
        let total = [
            destination.params.send_rate_max,
            connection.as_ref().and_then(|c| c.send_rate_max),
        ]
        .into_iter()
        .flatten()
        .filter(|r| *r >= 0.0)
        .fold(f64::INFINITY, f64::min);
        let min = connection
            .as_ref()
            .map_or(RateLimits::DEFAULT_MIN, |c| kbps_to_bytes(c.send_rate_min))
            .max(RateLimits::DEFAULT_MIN);
        // Rate control off: the connection's send rate, fixed (the caps still hold).
        let fixed_rate = connection
            .as_ref()
            .filter(|c| !c.rate_controller_active)
            .map(|c| kbps_to_bytes(c.send_rate).max(min));
        Some(RatePlan {
            lanes: destination.priority_lanes,
            flows,
            params,
            total,
            min,
            fixed_rate,
        })
    }

    /// Shares `total` (kbit/s, infinite for no cap) among the transfers of `plan` and steers
    /// their sessions to their shares.
    pub(super) fn apply_rates(&mut self, plan: &RatePlan, total: f64) {
        let shares: HashMap<u64, f64> = schedule::allocate(&plan.lanes, &plan.flows, total)
            .into_iter()
            .collect();
        for (id, run) in self.running.iter_mut() {
            let Some(transfer) = plan.params.get(id) else {
                continue;
            };
            let share = shares.get(id).copied().unwrap_or(f64::INFINITY);
            let cap = [Some(share), transfer.send_rate_max.filter(|r| *r >= 0.0)]
                .into_iter()
                .flatten()
                .reduce(f64::min)
                .filter(|c| c.is_finite());
            run.held = shares.get(id).is_some_and(|s| *s <= 0.0);
            let min = plan.min;
            let limits = RateLimits {
                min: cap.map_or(min, |c| min.min(kbps_to_bytes(c).max(1))),
                max: cap.map(|c| kbps_to_bytes(c).max(1)),
            };
            let fixed_rate = plan.fixed_rate;
            run.steer(|c| {
                c.limits = limits;
                c.fixed_rate = fixed_rate;
            });
            run.apply_pause();
        }
    }

    /// Appends a line to the transfer's log, when it keeps one.
    pub(super) fn log(&self, transfer: &Transfer, event: &str) {
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

/// A destination's running transfers and the rate settings their shares come from.
pub(super) struct RatePlan {
    /// The destination's lanes.
    lanes: PriorityLanes,
    /// The transfers that may send (not suspended).
    flows: Vec<Flow>,
    /// The settings of every running transfer, suspended ones included.
    params: HashMap<u64, TransferParams>,
    /// The destination's own cap (its and its connection's) in kbit/s; infinite without one.
    pub(super) total: f64,
    /// The floor of every transfer's rate, in bytes per second.
    min: u64,
    /// The fixed rate when rate control is off, in bytes per second.
    fixed_rate: Option<u64>,
}

impl RatePlan {
    /// The most the destination's transfers can send together, in kbit/s (infinite when one
    /// of them may send without a cap).
    pub(super) fn demand(&self) -> f64 {
        let wanted: f64 = schedule::allocate(&self.lanes, &self.flows, f64::INFINITY)
            .into_iter()
            .map(|(_, rate)| rate)
            .sum();
        wanted.min(self.total)
    }
}

/// How a transfer ended.
enum End {
    /// Every entry is in place: what the last run did.
    Complete(Box<SendReport>),
    /// It failed: the engine's code (none when `failTransfer` ended it) and the reason. The
    /// transfer's `errorMessage` starts with the code.
    Failed(Option<Code>, String),
}

/// Whether the destination has a lane of that name.
/// How long a transfer may go without progress before it fails, from its `timeoutSeconds`:
/// the seed's "0 seconds indicates no timeout" is `None`, a transfer that never gives up.
fn idle_limit(timeout_seconds: f64) -> Option<Duration> {
    (timeout_seconds > 0.0).then(|| Duration::from_secs_f64(timeout_seconds))
}

fn has_lane(destination: &Destination, lane: &str) -> bool {
    destination
        .priority_lanes
        .0
        .iter()
        .any(|(name, _)| name == lane)
}

/// The lane of a transfer created without one: "Normal" if the destination has it, else its
/// first lane.
fn default_lane(destination: &Destination) -> String {
    if has_lane(destination, DEFAULT_LANE) {
        DEFAULT_LANE.to_owned()
    } else {
        destination
            .priority_lanes
            .0
            .first()
            .map_or_else(|| DEFAULT_LANE.to_owned(), |(name, _)| name.clone())
    }
}

/// The stored progress counters of a sender's figures.
fn progress_of(p: &Progress) -> TransferProgress {
    let blocks = |bytes: u64| bytes.div_ceil(u64::from(BLOCK_SIZE));
    let stats = &p.stats;
    TransferProgress {
        total_files: u64::from(p.total_files),
        files_complete: u64::from(stats.files_complete),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_of_zero_seconds_is_no_timeout() {
        assert_eq!(idle_limit(0.0), None);
        assert_eq!(idle_limit(2.5), Some(Duration::from_millis(2_500)));
        assert_eq!(
            idle_limit(DEFAULT_TIMEOUT_SECONDS),
            Some(Duration::from_secs(30))
        );
    }
}
