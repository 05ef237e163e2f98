//! The typed parameters of the transfer methods: creating, listing, steering and failing
//! transfers, and the transfer settings shared with `updateTransferDefaults`.

use super::args::{Args, Bool, Int, NonBlank, Ref, StringMap, Text};
use super::error::CommandError;
use super::params::{
    FromArgs, COUNT_U32, COUNT_U64, DESTINATION_ID, LIMIT, MANIFEST_ID, MIN_CIPHER, OVERWRITE_MODE,
    PRIORITY, RATE, RATE_OR_UNLIMITED, SECONDS, SKIP_MODE, TRANSFER_FLAGS, TRANSFER_ID,
};
use crate::store::TransferDefaults;
use serde::Serialize;
use std::collections::BTreeMap;

/// The transfer settings shared by `createTransfer` and `updateTransferDefaults`, in their
/// documented order (priority … fileTimeResolutionMicroseconds).
impl FromArgs for TransferDefaults {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(TransferDefaults {
            priority: args.opt("priority", &PRIORITY)?,
            transfer_flags: args.opt("transferFlags", &TRANSFER_FLAGS)?,
            checkpoint_frequency_seconds: args.opt("checkpointFrequencySeconds", &COUNT_U32)?,
            send_rate_max: args.opt("sendRateMax", &RATE)?,
            priority_lane: args.opt("priorityLane", &NonBlank)?,
            overwrite_mode: args.opt("overwriteMode", &OVERWRITE_MODE)?,
            min_cipher: args.opt("minCipher", &MIN_CIPHER)?,
            file_time_resolution_microseconds: args
                .opt("fileTimeResolutionMicroseconds", &COUNT_U64)?,
        })
    }
}

/// `createTransfer(destinationId, manifestId, destinationPath, userName, password, priority,
/// transferFlags, checkpointFrequencySeconds, sendRateMax, priorityLane, overwriteMode,
/// minCipher, fileTimeResolutionMicroseconds, timeoutSeconds, userData, token, transferLog,
/// skipMode)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateTransfer {
    /// The destination.
    pub destination_id: String,
    /// The manifest to send.
    pub manifest_id: String,
    /// Directory below the receiver's root that receives the files.
    pub destination_path: Option<String>,
    /// User the receiver authenticates (not with `token`).
    pub user_name: Option<String>,
    /// Password of `user_name` or `token`.
    pub password: Option<String>,
    /// priority, transferFlags, checkpointFrequencySeconds, sendRateMax, priorityLane,
    /// overwriteMode, minCipher, fileTimeResolutionMicroseconds.
    #[serde(flatten)]
    pub settings: TransferDefaults,
    /// Fail after this many seconds disconnected; 0 never.
    pub timeout_seconds: Option<f64>,
    /// Initial user data of the transfer.
    pub user_data: Option<BTreeMap<String, String>>,
    /// Shared token the receiver authenticates (not with `user_name`).
    pub token: Option<String>,
    /// Write a per-transfer log.
    pub transfer_log: Option<bool>,
    /// `SKIP_*`: which files the receiver keeps as they are instead of receiving them.
    pub skip_mode: Option<u32>,
}

impl FromArgs for CreateTransfer {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        let params = CreateTransfer {
            destination_id: args.req("destinationId", &DESTINATION_ID)?,
            manifest_id: args.req("manifestId", &MANIFEST_ID)?,
            destination_path: args.opt("destinationPath", &Text)?,
            user_name: args.opt("userName", &NonBlank)?,
            password: args.opt("password", &Text)?,
            settings: TransferDefaults::from_args(args)?,
            timeout_seconds: args.opt("timeoutSeconds", &SECONDS)?,
            user_data: args.opt("userData", &StringMap)?,
            token: args.opt("token", &NonBlank)?,
            transfer_log: args.opt("transferLog", &Bool)?,
            skip_mode: args.opt("skipMode", &SKIP_MODE)?,
        };
        if params.user_name.is_some() && params.token.is_some() {
            return Err(args.conflict("give only one of userName and token".into()));
        }
        Ok(params)
    }
}

/// `failTransfer(transferId, errorMessage)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailTransfer {
    /// The transfer.
    pub transfer_id: u64,
    /// Why it failed.
    pub error_message: Option<String>,
}

impl FromArgs for FailTransfer {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(FailTransfer {
            transfer_id: args.req("transferId", &TRANSFER_ID)?,
            error_message: args.opt("errorMessage", &Text)?,
        })
    }
}

/// `getTransfer(transferId, getCompleteFlags)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetTransfer {
    /// The transfer.
    pub transfer_id: u64,
    /// Include the per-file completion flags.
    pub get_complete_flags: Option<bool>,
}

impl FromArgs for GetTransfer {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(GetTransfer {
            transfer_id: args.req("transferId", &TRANSFER_ID)?,
            get_complete_flags: args.opt("getCompleteFlags", &Bool)?,
        })
    }
}

/// A file's index in its transfer, or a TransferFile structure.
const FILE_INDEX: Ref<Int<u64>> = Ref {
    id: Int::new(0, u64::MAX as i128),
    what: "a file index",
    field: "fileIndex",
};

/// `getTransferFiles(transferId, after, limit)` (ours): the per-file results of a transfer.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetTransferFiles {
    /// The transfer.
    pub transfer_id: u64,
    /// Only files after this index (excluded).
    pub after: Option<u64>,
    /// At most this many.
    pub limit: Option<usize>,
}

impl FromArgs for GetTransferFiles {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(GetTransferFiles {
            transfer_id: args.req("transferId", &TRANSFER_ID)?,
            after: args.opt("after", &FILE_INDEX)?,
            limit: args.opt("limit", &LIMIT)?,
        })
    }
}

/// `getTransfers(destinationId, before, after, limit)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetTransfers {
    /// Only this destination's transfers.
    pub destination_id: Option<String>,
    /// Only transfers created before this one.
    pub before: Option<u64>,
    /// Only transfers created after this one.
    pub after: Option<u64>,
    /// At most this many.
    pub limit: Option<usize>,
}

impl FromArgs for GetTransfers {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(GetTransfers {
            destination_id: args.opt("destinationId", &DESTINATION_ID)?,
            before: args.opt("before", &TRANSFER_ID)?,
            after: args.opt("after", &TRANSFER_ID)?,
            limit: args.opt("limit", &LIMIT)?,
        })
    }
}

/// `setTransferPriorityAsync(transferId, priority, priorityLane)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetTransferPriority {
    /// The transfer.
    pub transfer_id: u64,
    /// New priority (lower goes first).
    pub priority: Option<u32>,
    /// New priority lane.
    pub priority_lane: Option<String>,
}

impl FromArgs for SetTransferPriority {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(SetTransferPriority {
            transfer_id: args.req("transferId", &TRANSFER_ID)?,
            priority: args.opt("priority", &PRIORITY)?,
            priority_lane: args.opt("priorityLane", &NonBlank)?,
        })
    }
}

/// `setTransferSendRateMaxAsync(transferId, sendRateMax)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetTransferSendRateMax {
    /// The transfer.
    pub transfer_id: u64,
    /// Rate cap in kbit/s; -1 turns throttling off.
    pub send_rate_max: f64,
}

impl FromArgs for SetTransferSendRateMax {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(SetTransferSendRateMax {
            transfer_id: args.req("transferId", &TRANSFER_ID)?,
            send_rate_max: args.req("sendRateMax", &RATE_OR_UNLIMITED)?,
        })
    }
}

/// `updateTransferDefaults(destinationId, priority, transferFlags, checkpointFrequencySeconds,
/// sendRateMax, priorityLane, overwriteMode, minCipher, fileTimeResolutionMicroseconds)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateTransferDefaults {
    /// The destination.
    pub destination_id: String,
    /// The values to change; `None` fields stay as they are.
    #[serde(flatten)]
    pub defaults: TransferDefaults,
}

impl FromArgs for UpdateTransferDefaults {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(UpdateTransferDefaults {
            destination_id: args.req("destinationId", &DESTINATION_ID)?,
            defaults: TransferDefaults::from_args(args)?,
        })
    }
}
