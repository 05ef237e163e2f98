//! The typed parameters of every method but the transfer ones: one struct per parameter list,
//! fields in documented order with their documented (camelCase) names, optional ones as
//! `Option`, and how each is read and checked from JSON; and the kinds of value they share.

use super::args::{Args, Bits, Bool, Int, Kind, NonBlank, Number, Ref, StringMap, Text};
use super::error::CommandError;
use super::lanes::read_lanes;
use super::mappings::{read_mappings, FileMappings, Mappings};
use crate::flags;
use crate::store::PriorityLanes;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::Value;

/// Reading a parameter list from a method's arguments.
pub(super) trait FromArgs: Sized {
    /// Reads and checks every parameter this list holds.
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError>;
}

/// A positive integer id (transfers, connections, requests).
pub(super) const POSITIVE: Int<u64> = Int::new(1, u64::MAX as i128);
/// A destination id or a Destination structure.
pub(super) const DESTINATION_ID: Ref<NonBlank> = Ref {
    id: NonBlank,
    what: "a destination id",
    field: "destinationId",
};
/// A manifest id or a Manifest structure.
pub(super) const MANIFEST_ID: Ref<NonBlank> = Ref {
    id: NonBlank,
    what: "a manifest id",
    field: "manifestId",
};
/// A shared token or a Token structure.
pub(super) const TOKEN: Ref<NonBlank> = Ref {
    id: NonBlank,
    what: "a shared token",
    field: "token",
};
/// A transfer id or a Transfer structure.
pub(super) const TRANSFER_ID: Ref<Int<u64>> = Ref {
    id: POSITIVE,
    what: "a transfer id",
    field: "transferId",
};
/// A connection id or a Connection structure.
pub(super) const CONNECTION_ID: Ref<Int<u64>> = Ref {
    id: POSITIVE,
    what: "a connection id",
    field: "connectionId",
};
/// A received transfer's id or its record (RecvInterface `getTransfersAsync`).
pub(super) const RECEIVED_ID: Ref<Int<u64>> = Ref {
    id: POSITIVE,
    what: "a received transfer id",
    field: "receivedId",
};
/// A request id or a Request structure.
pub(super) const REQUEST_ID: Ref<Int<u64>> = Ref {
    id: POSITIVE,
    what: "a request id",
    field: "requestId",
};
/// A transfer priority (lower goes first).
pub(super) const PRIORITY: Int<u32> = Int::new(0, u32::MAX as i128);
/// A UDP port.
pub(super) const PORT: Int<u16> = Int::new(0, u16::MAX as i128);
/// The sender's UDP port: 0 picks one, -1 multiplexes the receive port.
pub(super) const SENDER_PORT: Int<i32> = Int::new(-1, u16::MAX as i128);
/// An `OVERWRITE_*` mode.
pub(super) const OVERWRITE_MODE: Int<u32> = Int::new(0, flags::OVERWRITE_BACKUP as i128);
/// A `SKIP_*` rule.
pub(super) const SKIP_MODE: Int<u32> = Int::new(0, flags::SKIP_EXISTING as i128);
/// A `MIN_CIPHER_*` level.
pub(super) const MIN_CIPHER: Int<u32> = Int::new(0, 3);
/// `TRANSFER_FLAG_*` bits.
pub(super) const TRANSFER_FLAGS: Bits = Bits { known: flags::ALL };
/// A count of seconds, microseconds or results.
pub(super) const COUNT_U32: Int<u32> = Int::new(0, u32::MAX as i128);
/// A count of seconds or microseconds.
pub(super) const COUNT_U64: Int<u64> = Int::new(0, u64::MAX as i128);
/// The most results a list returns.
pub(super) const LIMIT: Int<usize> = Int::new(0, usize::MAX as i128);
/// A rate in kbit/s.
pub(super) const RATE: Number = Number { minus_one: false };
/// A rate in kbit/s, or -1 for no throttling.
pub(super) const RATE_OR_UNLIMITED: Number = Number { minus_one: true };
/// A duration in seconds.
pub(super) const SECONDS: Number = Number { minus_one: false };

/// The parameters of a method that takes none.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NoParams {}

impl FromArgs for NoParams {
    fn from_args(_: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(NoParams {})
    }
}

/// Defines a parameter list holding one required id.
macro_rules! id_params {
    ($(#[$meta:meta])* $name:ident { $field:ident: $ty:ty = $key:literal, $kind:expr }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Serialize)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            #[doc = concat!("`", $key, "`, from the id or the structure holding it.")]
            pub $field: $ty,
        }

        impl FromArgs for $name {
            fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
                Ok($name {
                    $field: args.req($key, &$kind)?,
                })
            }
        }
    };
}

id_params! {
    /// `(destinationId)`: getDestination, deleteDestination.
    DestinationRef { destination_id: String = "destinationId", DESTINATION_ID }
}
id_params! {
    /// `(manifestId)`: getManifest, deleteManifest, waitForManifest.
    ManifestRef { manifest_id: String = "manifestId", MANIFEST_ID }
}
id_params! {
    /// `(token)`: getSharedToken, deleteSharedToken.
    TokenRef { token: String = "token", TOKEN }
}
id_params! {
    /// `(transferId)`: deleteTransfer, resumeTransferAsync, suspendTransferAsync, waitForTransfer.
    TransferRef { transfer_id: u64 = "transferId", TRANSFER_ID }
}
id_params! {
    /// `(connectionId)`: getConnection.
    ConnectionRef { connection_id: u64 = "connectionId", CONNECTION_ID }
}
id_params! {
    /// `(requestId)`: getRequestStatus.
    RequestRef { request_id: u64 = "requestId", REQUEST_ID }
}
/// `(clientPublicKey)`: addAuthorizedClientAsync, removeAuthorizedClientAsync. `publicKey` is
/// accepted as another name of the parameter.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientKey {
    /// The sender's public key, in hex.
    pub client_public_key: String,
}

impl FromArgs for ClientKey {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(ClientKey {
            client_public_key: args.req_aliased("clientPublicKey", "publicKey", &NonBlank)?,
        })
    }
}

/// `(limit=None)`: getConnections, getDestinations, getSharedTokens, getSourcesAsync.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Limit {
    /// At most this many results; all when `None` or 0.
    pub limit: Option<usize>,
}

impl FromArgs for Limit {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(Limit {
            limit: args.opt("limit", &LIMIT)?,
        })
    }
}

/// `getTransfersAsync(before, after, limit)` of RecvInterface: a page of the transfers this
/// receiver has received, by their `receivedId`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetReceivedTransfers {
    /// Only transfers received before this one.
    pub before: Option<u64>,
    /// Only transfers received after this one.
    pub after: Option<u64>,
    /// At most this many; all when `None` or 0.
    pub limit: Option<usize>,
}

impl FromArgs for GetReceivedTransfers {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(GetReceivedTransfers {
            before: args.opt("before", &RECEIVED_ID)?,
            after: args.opt("after", &RECEIVED_ID)?,
            limit: args.opt("limit", &LIMIT)?,
        })
    }
}

/// `createDestination(destinationAddress, sendRateMax, destinationPort, authenticateDestination,
/// destinationPublicKey, relayAddress, relayPort, senderPort, exclusive, permanent)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateDestination {
    /// Host name or IP of the receiver.
    pub destination_address: String,
    /// Rate cap in kbit/s (ignored when the destination exists).
    pub send_rate_max: Option<f64>,
    /// The receiver's UDP port.
    pub destination_port: Option<u16>,
    /// Only connect to a receiver proving `destination_public_key`.
    pub authenticate_destination: Option<bool>,
    /// The receiver's expected public key.
    pub destination_public_key: Option<String>,
    /// Relay host, when the receiver is reached through one.
    pub relay_address: Option<String>,
    /// Relay port.
    pub relay_port: Option<u16>,
    /// Local UDP port: 0 or `None` picks one, -1 multiplexes the receive port.
    pub sender_port: Option<i32>,
    /// Always create a new destination.
    pub exclusive: Option<bool>,
    /// Keep the destination when its last transfer is deleted.
    pub permanent: Option<bool>,
}

impl FromArgs for CreateDestination {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        let params = CreateDestination {
            destination_address: args.req("destinationAddress", &NonBlank)?,
            send_rate_max: args.opt("sendRateMax", &RATE)?,
            destination_port: args.opt("destinationPort", &PORT)?,
            authenticate_destination: args.opt("authenticateDestination", &Bool)?,
            destination_public_key: args.opt("destinationPublicKey", &NonBlank)?,
            relay_address: args.opt("relayAddress", &NonBlank)?,
            relay_port: args.opt("relayPort", &PORT)?,
            sender_port: args.opt("senderPort", &SENDER_PORT)?,
            exclusive: args.opt("exclusive", &Bool)?,
            permanent: args.opt("permanent", &Bool)?,
        };
        if params.authenticate_destination == Some(true) && params.destination_public_key.is_none()
        {
            return Err(args.conflict(
                "authenticateDestination needs the key to check: destinationPublicKey is missing"
                    .into(),
            ));
        }
        Ok(params)
    }
}

/// `createManifest(fileMappings, mappings, symlinkOptions)`; exactly one of the mappings.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateManifest {
    /// Deprecated: source path → destination path.
    pub file_mappings: Option<FileMappings>,
    /// Destination path → source path or I/O-free entry.
    pub mappings: Option<Mappings>,
    /// A `SYMLINKS_*` policy.
    pub symlink_options: Option<u32>,
}

impl FromArgs for CreateManifest {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        let params = CreateManifest {
            file_mappings: args.opt("fileMappings", &StringMap)?,
            mappings: args.opt_with("mappings", read_mappings)?,
            symlink_options: args.opt("symlinkOptions", &Int::new(0, 4))?,
        };
        if params.file_mappings.is_some() == params.mappings.is_some() {
            return Err(
                args.conflict("give exactly one of mappings and fileMappings (deprecated)".into())
            );
        }
        Ok(params)
    }
}

/// `createSharedToken(manifestId, password, downloadLimit, timeLimitSeconds, description)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateSharedToken {
    /// The manifest the token grants.
    pub manifest_id: String,
    /// A password required with the token.
    pub password: Option<String>,
    /// How many transfers the token may start.
    pub download_limit: Option<u32>,
    /// Seconds from now until the token expires.
    pub time_limit_seconds: Option<u64>,
    /// What the token represents.
    pub description: Option<String>,
}

impl FromArgs for CreateSharedToken {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(CreateSharedToken {
            manifest_id: args.req("manifestId", &MANIFEST_ID)?,
            password: args.opt("password", &Text)?,
            download_limit: args.opt("downloadLimit", &COUNT_U32)?,
            time_limit_seconds: args.opt("timeLimitSeconds", &COUNT_U64)?,
            description: args.opt("description", &Text)?,
        })
    }
}

/// The object a piece of user data belongs to, as the caller named it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObjectId {
    /// A string id given alone: a destination, manifest or token id, told apart by lookup.
    Text(String),
    /// A transfer id given alone, or any Transfer structure.
    Transfer(u64),
    /// A Destination structure.
    Destination(String),
    /// A Manifest structure.
    Manifest(String),
    /// A Token structure.
    Token(String),
}

impl Serialize for ObjectId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (field, id) = match self {
            ObjectId::Text(id) => return serializer.serialize_str(id),
            ObjectId::Transfer(id) => return serializer.serialize_u64(*id),
            ObjectId::Destination(id) => ("destinationId", id),
            ObjectId::Manifest(id) => ("manifestId", id),
            ObjectId::Token(id) => ("token", id),
        };
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(field, id)?;
        map.end()
    }
}

/// An `objId`: an id of any kind, or a Destination, Manifest, Transfer or Token structure.
struct ObjectIdKind;

impl Kind for ObjectIdKind {
    type Out = ObjectId;
    fn expected(&self) -> String {
        "an object id (a non-blank string or a positive integer) or a Destination, Manifest, \
         Transfer or Token structure"
            .into()
    }
    fn read(&self, value: &Value) -> Option<ObjectId> {
        let Value::Object(structure) = value else {
            return match value {
                Value::String(_) => NonBlank.read(value).map(ObjectId::Text),
                _ => POSITIVE.read(value).map(ObjectId::Transfer),
            };
        };
        // A Transfer structure also holds destinationId and manifestId, and a Token structure
        // manifestId: look for the most specific id first.
        if let Some(id) = structure.get("transferId") {
            POSITIVE.read(id).map(ObjectId::Transfer)
        } else if let Some(id) = structure.get("token") {
            NonBlank.read(id).map(ObjectId::Token)
        } else if let Some(id) = structure.get("destinationId") {
            NonBlank.read(id).map(ObjectId::Destination)
        } else {
            NonBlank
                .read(structure.get("manifestId")?)
                .map(ObjectId::Manifest)
        }
    }
}

/// `deleteObjectUserData(objId, key)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteObjectUserData {
    /// The object.
    pub obj_id: ObjectId,
    /// The user data key to remove.
    pub key: String,
}

impl FromArgs for DeleteObjectUserData {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(DeleteObjectUserData {
            obj_id: args.req("objId", &ObjectIdKind)?,
            key: args.req("key", &Text)?,
        })
    }
}

/// `updateObjectUserData(objId, key, value)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateObjectUserData {
    /// The object.
    pub obj_id: ObjectId,
    /// The user data key to set.
    pub key: String,
    /// The value to associate with the key.
    pub value: Option<String>,
}

impl FromArgs for UpdateObjectUserData {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(UpdateObjectUserData {
            obj_id: args.req("objId", &ObjectIdKind)?,
            key: args.req("key", &Text)?,
            value: args.opt("value", &Text)?,
        })
    }
}

/// `getManifestFiles(manifestId, limit)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetManifestFiles {
    /// The manifest.
    pub manifest_id: String,
    /// At most this many file mappings.
    pub limit: Option<usize>,
}

impl FromArgs for GetManifestFiles {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(GetManifestFiles {
            manifest_id: args.req("manifestId", &MANIFEST_ID)?,
            limit: args.opt("limit", &LIMIT)?,
        })
    }
}

/// `getManifests(before, after, limit)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetManifests {
    /// Only manifests created before this one.
    pub before: Option<String>,
    /// Only manifests created after this one.
    pub after: Option<String>,
    /// At most this many.
    pub limit: Option<usize>,
}

impl FromArgs for GetManifests {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(GetManifests {
            before: args.opt("before", &MANIFEST_ID)?,
            after: args.opt("after", &MANIFEST_ID)?,
            limit: args.opt("limit", &LIMIT)?,
        })
    }
}

/// `schedulePingAsync(destinationId, pingCount)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SchedulePing {
    /// The destination to ping.
    pub destination_id: String,
    /// How many pings (at least 1).
    pub ping_count: u32,
}

impl FromArgs for SchedulePing {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(SchedulePing {
            destination_id: args.req("destinationId", &DESTINATION_ID)?,
            ping_count: args.req("pingCount", &Int::new(1, u32::MAX as i128))?,
        })
    }
}

/// `setPriorityLanesAsync(destinationId, priorityLanes)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetPriorityLanes {
    /// The destination.
    pub destination_id: String,
    /// Every lane, with its share of the rate.
    pub priority_lanes: PriorityLanes,
}

impl FromArgs for SetPriorityLanes {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(SetPriorityLanes {
            destination_id: args.req("destinationId", &DESTINATION_ID)?,
            priority_lanes: args.req_with("priorityLanes", read_lanes)?,
        })
    }
}

/// `setSendRateMaxAsync(destinationId, sendRateMax)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetSendRateMax {
    /// The destination.
    pub destination_id: String,
    /// Rate cap in kbit/s.
    pub send_rate_max: f64,
}

impl FromArgs for SetSendRateMax {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(SetSendRateMax {
            destination_id: args.req("destinationId", &DESTINATION_ID)?,
            send_rate_max: args.req("sendRateMax", &RATE)?,
        })
    }
}

/// `updateConnectionParamsAsync(connectionId, sendRateMin, sendRateMax, sendRate,
/// rateControlEnabled, rateControlMethod)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateConnectionParams {
    /// The connection.
    pub connection_id: u64,
    /// Lower rate bound in kbit/s.
    pub send_rate_min: Option<f64>,
    /// Upper rate bound in kbit/s.
    pub send_rate_max: Option<f64>,
    /// Desired rate in kbit/s.
    pub send_rate: Option<f64>,
    /// Whether the rate controller adjusts the rate.
    pub rate_control_enabled: Option<bool>,
    /// Rate control method (internal and debugging use).
    pub rate_control_method: Option<u32>,
}

impl FromArgs for UpdateConnectionParams {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        let params = UpdateConnectionParams {
            connection_id: args.req("connectionId", &CONNECTION_ID)?,
            send_rate_min: args.opt("sendRateMin", &RATE)?,
            send_rate_max: args.opt("sendRateMax", &RATE)?,
            send_rate: args.opt("sendRate", &RATE)?,
            rate_control_enabled: args.opt("rateControlEnabled", &Bool)?,
            rate_control_method: args.opt("rateControlMethod", &COUNT_U32)?,
        };
        if let (Some(min), Some(max)) = (params.send_rate_min, params.send_rate_max) {
            if min > max {
                return Err(args.conflict(format!(
                    "sendRateMin ({min}) must not exceed sendRateMax ({max})"
                )));
            }
        }
        Ok(params)
    }
}

/// `updateSharedToken(token, timeLimitSeconds, description)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateSharedToken {
    /// The token.
    pub token: String,
    /// Seconds from now until the token expires.
    pub time_limit_seconds: Option<u64>,
    /// What the token represents.
    pub description: Option<String>,
}

impl FromArgs for UpdateSharedToken {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(UpdateSharedToken {
            token: args.req("token", &TOKEN)?,
            time_limit_seconds: args.opt("timeLimitSeconds", &COUNT_U64)?,
            description: args.opt("description", &Text)?,
        })
    }
}

/// `getRequestResult(requestId, timeoutSeconds)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GetRequestResult {
    /// The request.
    pub request_id: u64,
    /// How long to wait for the request to end.
    pub timeout_seconds: Option<f64>,
}

impl FromArgs for GetRequestResult {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(GetRequestResult {
            request_id: args.req("requestId", &REQUEST_ID)?,
            timeout_seconds: args.opt("timeoutSeconds", &SECONDS)?,
        })
    }
}

/// `allowOnlyAuthorizedClientsAsync(onlyAuthorizedClientsAllowed)`. `enabled` is accepted as
/// another name of the parameter.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AllowOnlyAuthorizedClients {
    /// Refuse senders whose key is not authorized.
    pub only_authorized_clients_allowed: bool,
}

impl FromArgs for AllowOnlyAuthorizedClients {
    fn from_args(args: &mut Args<'_>) -> Result<Self, CommandError> {
        Ok(AllowOnlyAuthorizedClients {
            only_authorized_clients_allowed: args.req_aliased(
                "onlyAuthorizedClientsAllowed",
                "enabled",
                &Bool,
            )?,
        })
    }
}
