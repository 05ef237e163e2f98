//! What a server tells its subscribers as it happens: senders arriving at its receiver and
//! their sessions ending, its authorized-keys file read again, a receiver's key recorded at
//! first contact, and each transfer's end with its final figures. Events go to every
//! [`super::Server::subscribe`]r; none is stored, and a subscriber that falls more than
//! [`CAPACITY`] events behind loses the oldest.

use crate::error::Error;
use serde::Serialize;
use tokio::sync::broadcast;

/// Events kept for a subscriber that has not read them yet.
pub const CAPACITY: usize = 1024;

/// One event.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum ServerEvent {
    /// A sender was accepted by this server's receiver and announced its transfer.
    #[serde(rename_all = "camelCase")]
    ReceiveStarted {
        /// The sender's address.
        peer: String,
        /// The sender's identity key (hex).
        sender_key: String,
        /// The sender's id of the transfer.
        transfer_id: u64,
        /// Entries announced.
        total_files: u64,
        /// Bytes announced.
        total_bytes: u64,
    },
    /// A session at this server's receiver ended.
    #[serde(rename_all = "camelCase")]
    ReceiveEnded {
        /// The sender's address.
        peer: String,
        /// Entries complete.
        files_complete: u64,
        /// Bytes received, whether it completed or not.
        bytes_received: u64,
        /// Why it failed; `None` when the transfer completed.
        error: Option<EventError>,
    },
    /// The receiver's authorized-keys file changed and was read again.
    #[serde(rename_all = "camelCase")]
    AuthorizedKeysReloaded {
        /// How many keys it holds now; `None` when it cannot be used (no key of it is trusted
        /// until it is fixed).
        keys: Option<usize>,
        /// Why it cannot be used.
        error: Option<EventError>,
    },
    /// The receiver stopped serving: nothing arrives any more.
    #[serde(rename_all = "camelCase")]
    ReceiverStopped {
        /// Why.
        error: EventError,
    },
    /// A transfer met its receiver for the first time: the receiver's key is now recorded in
    /// the known receivers.
    #[serde(rename_all = "camelCase")]
    ReceiverRecorded {
        /// The transfer.
        transfer_id: u64,
        /// The receiver, `HOST:PORT` as its destination names it.
        receiver: String,
        /// The key recorded (hex).
        public_key: String,
        /// The known receivers file.
        file: String,
        /// The line it is recorded on.
        line: usize,
    },
    /// A transfer ended (its status is recorded, and `waitForTransfer` answers, right after).
    #[serde(rename_all = "camelCase")]
    TransferEnded {
        /// The transfer.
        transfer_id: u64,
        /// What its last run did, when it completed; `None` when it failed.
        report: Option<TransferReport>,
        /// Why it failed (`INVALID_STATE` for a transfer `failTransfer` ended).
        error: Option<EventError>,
    },
}

/// A failure in an event: the engine's code and message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventError {
    /// The stable code (`NOT_FOUND`, ...).
    pub code: String,
    /// The message.
    pub message: String,
}

impl From<&Error> for EventError {
    fn from(e: &Error) -> Self {
        EventError {
            code: e.code.as_str().to_owned(),
            message: e.message.clone(),
        }
    }
}

/// The final figures of a completed transfer's last run.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferReport {
    /// Entries delivered.
    pub files: u64,
    /// Bytes delivered.
    pub bytes: u64,
    /// Bytes sent, repairs included.
    pub bytes_sent: u64,
    /// Bytes sent again to repair losses.
    pub bytes_retransmitted: u64,
    /// Bytes the receiver already held and were not sent.
    pub bytes_skipped: u64,
    /// Entries the receiver kept as they were (none of their data sent).
    pub files_skipped: u64,
    /// Seconds from the first datagram to the receiver's confirmation.
    pub seconds: f64,
    /// Sessions started again after one died.
    pub reconnects: u64,
}

impl From<&crate::send::SendReport> for TransferReport {
    fn from(report: &crate::send::SendReport) -> Self {
        TransferReport {
            files: u64::from(report.files),
            bytes: report.bytes,
            bytes_sent: report.stats.bytes_sent,
            bytes_retransmitted: report.stats.bytes_retransmitted,
            bytes_skipped: report.bytes_skipped,
            files_skipped: u64::from(report.stats.files_skipped),
            seconds: report.elapsed.as_secs_f64(),
            reconnects: u64::from(report.reconnects),
        }
    }
}

/// The sending side of a server's events.
#[derive(Clone, Debug)]
pub(super) struct Events(broadcast::Sender<ServerEvent>);

impl Events {
    pub(super) fn new() -> Events {
        Events(broadcast::channel(CAPACITY).0)
    }

    /// Tells every subscriber (none listening is no failure).
    pub(super) fn emit(&self, event: ServerEvent) {
        let _ = self.0.send(event);
    }

    /// A new subscriber, seeing the events from now on.
    pub(super) fn subscribe(&self) -> broadcast::Receiver<ServerEvent> {
        self.0.subscribe()
    }
}
