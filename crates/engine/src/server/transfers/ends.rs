//! The ends of transfers: a session that ended, or a transfer failed by the API, recorded in
//! the store and the event log and answered to whoever waits for it.

use crate::error::{Code, Error};
use crate::known_paths;
use crate::send::SendReport;
use crate::server::actor::{now_us, stored, to_json, Actor};
use crate::server::destinations::receiver_name;
use crate::server::events::{EventError, ServerEvent, TransferReport};
use crate::server::runner::Outcome;
use crate::store::{
    self, ConnectionState, ConnectionUpdate, DestinationUpdate, EventKind, NewEvent, TransferStatus,
};
use jetstream_wire::rate::PathMemory;

impl Actor {
    /// A session ended: records how, answers the waiters, and starts what was waiting.
    pub(in crate::server) fn on_ended(&mut self, id: u64, outcome: Outcome) {
        let Some(run) = self.running.remove(&id) else {
            return;
        };
        self.on_carrier_ended(id);
        // A transfer failed by the API had its end recorded then.
        // A completed session reported its final figures just before it ended.
        let result = match outcome {
            _ if run.failed => None,
            Ok(report) => {
                self.remember_path(&run.destination_id, report.path_memory.as_ref());
                Some(End::Complete(Box::new(report)))
            }
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
        // Resumed while its session was still stopping, it starts again now.
        self.start_queue.push(id);
        self.start_ready();
    }

    /// Keeps what a completed transfer measured about its path in its destination's
    /// connection (and the known-paths file, if any): the next transfer to the receiver starts
    /// from it.
    fn remember_path(&mut self, destination_id: &str, memory: Option<&PathMemory>) {
        let (Some(memory), Ok(destination)) = (memory, self.store.get_destination(destination_id))
        else {
            return;
        };
        if let Some(file) = &self.opts.known_paths_file {
            if let Err(e) = known_paths::record(file, &receiver_name(&destination), memory) {
                tracing::warn!("known paths {}: {e}", file.display());
            }
        }
        if let Some(connection_id) = destination.connection_id {
            stored(
                format_args!("connection {connection_id}: path figures"),
                self.store
                    .update_connection(connection_id, &ConnectionUpdate::measured(memory)),
            );
        }
    }

    /// Records the end of a transfer and answers its waiters. When the store cannot record it
    /// the waiters get that failure instead, and it is kept in `unsaved_ends`.
    pub(super) fn end_transfer(&mut self, id: u64, end: End) {
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
    pub(super) fn save_status(
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
}

/// How a transfer ended.
pub(super) enum End {
    /// Every entry is in place: what the last run did.
    Complete(Box<SendReport>),
    /// It failed: the engine's code (none when `failTransfer` ended it) and the reason. The
    /// transfer's `errorMessage` starts with the code.
    Failed(Option<Code>, String),
}
