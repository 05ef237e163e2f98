//! The transfer commands: creating a transfer with its settings (the destination's defaults
//! under the caller's), deleting, failing, suspending and resuming it, changing its priority,
//! lane and rate cap, and waiting for its end.

use super::ends::End;
use super::BLOCK_SIZE;
use crate::command::{CreateTransfer, FailTransfer, SetTransferPriority, SetTransferSendRateMax};
use crate::error::{Code, Error, Result};
use crate::flags;
use crate::server::actor::{now_us, to_json, Actor, Responder};
use crate::store::{
    Destination, EventKind, ManifestStatus, NewEvent, NewTransfer, Page, TransferParams,
    TransferStatus, TransferUpdate,
};
use jetstream_wire::codec::Auth;
use jetstream_wire::crypto::aead::CipherLevel;
use serde_json::{json, Value};

/// The priority of a transfer created without one (lower goes first).
const DEFAULT_PRIORITY: u32 = 100;
/// The lane of a transfer created without one (when the destination has it).
const DEFAULT_LANE: &str = "Normal";
/// The idle timeout of a transfer created without `timeoutSeconds`.
pub(super) const DEFAULT_TIMEOUT_SECONDS: f64 = 30.0;

impl Actor {
    pub(in crate::server) fn create_transfer(&mut self, p: &CreateTransfer) -> Result<Value> {
        self.create_transfer_by(p, p.token.is_some())
    }

    /// Creates a transfer; `uses_token`: it carries a shared token or is a download by one.
    pub(in crate::server) fn create_transfer_by(
        &mut self,
        p: &CreateTransfer,
        uses_token: bool,
    ) -> Result<Value> {
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
            uses_token,
            transfer_log: p.transfer_log.unwrap_or(false),
            skip_mode: p
                .skip_mode
                .unwrap_or(u32::from(flags::SKIP_SAME_SIZE_AND_TIME)),
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
        self.start_queue.push(transfer.transfer_id);
        self.start_ready();
        to_json(&self.store.get_transfer(transfer.transfer_id, false)?)
    }

    pub(in crate::server) fn delete_transfer(&mut self, id: u64) -> Result<Value> {
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

    pub(in crate::server) fn fail_transfer(&mut self, p: &FailTransfer) -> Result<Value> {
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
    pub(super) fn abort(&mut self, id: u64, code: Option<Code>, message: String) {
        if let Some(run) = self.running.get_mut(&id) {
            run.failed = true;
            run.cancel(&message);
        }
        self.end_transfer(id, End::Failed(code, message));
    }

    pub(in crate::server) fn suspend_transfer(&mut self, id: u64) -> Result<Value> {
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

    pub(in crate::server) fn resume_transfer(&mut self, id: u64) -> Result<Value> {
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
        self.start_queue.push(id);
        self.start_ready();
        Ok(json!({ "transferId": id }))
    }

    pub(in crate::server) fn set_transfer_priority(
        &mut self,
        p: &SetTransferPriority,
    ) -> Result<Value> {
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

    pub(in crate::server) fn set_transfer_send_rate_max(
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

    pub(in crate::server) fn wait_for_transfer(&mut self, id: u64, responder: Responder) {
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
}

/// Whether the destination has a lane of that name.
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
