//! Commands: the one typed form of every API method, parsed and checked from the JSON the
//! clients send (`{ "method": "<name>", "params": { <parameter>: value, ... } }`). The napi
//! binding, the control port and the CLI all go through [`parse`], so every client sees the same
//! checks and the same `INVALID_ARGUMENT` errors. Pure: no I/O and no store access.

mod accounts;
mod args;
mod error;
mod lanes;
mod mappings;
mod params;
mod permissions;
mod server;
mod strict;
mod transfers;

pub use accounts::{ApiTokenRef, Auth, AuthToken, CreateApiToken, CreateDownload};
pub use error::CommandError;
pub use mappings::{
    Entry, FileMappings, Mappings, Source, FILETYPE_DIRECTORY, FILETYPE_REGULAR_FILE,
};
pub use params::{
    AllowOnlyAuthorizedClients, ClientKey, ConnectionRef, CreateDestination, CreateManifest,
    CreateSharedToken, DeleteObjectUserData, DestinationRef, GetManifestFiles, GetManifests,
    GetReceivedTransfers, GetRequestResult, Limit, ManifestRef, NoParams, ObjectId, RequestRef,
    SchedulePing, SetPriorityLanes, SetSendRateMax, TokenRef, TransferRef, UpdateConnectionParams,
    UpdateObjectUserData, UpdateSharedToken,
};
pub use permissions::{Permission, Permissions};
pub use server::{
    CreateSandboxMapping, Echo, GetEventLog, MkFile, Mv, PathRef, Paths, SandboxMappingRef,
    UpdateBandwidthLimits,
};
pub use transfers::{
    CreateTransfer, FailTransfer, GetTransfer, GetTransferFiles, GetTransfers, SetTransferPriority,
    SetTransferSendRateMax, UpdateTransferDefaults,
};

use args::{shorten, show, Args};
use params::FromArgs;
use serde::Serialize;
use serde_json::{Map, Value};
use strict::Strict;

/// Defines [`Command`], its method names and the dispatch from a method name to its parser,
/// from one list of `Variant(Params) = "methodName"`.
macro_rules! commands {
    ($($(#[$meta:meta])* $variant:ident($params:ty) = $name:literal;)+) => {
        /// One API call, its parameters read and checked. Serializes back to the JSON form
        /// [`parse`] reads.
        #[derive(Clone, Debug, PartialEq, Serialize)]
        #[serde(tag = "method", content = "params")]
        pub enum Command {
            $($(#[$meta])* #[serde(rename = $name)] $variant($params),)+
        }

        /// Every method name, in the order of [`Command`].
        pub const METHODS: &[&str] = &[$($name),+];

        impl Command {
            /// The API's name of the method.
            pub fn method(&self) -> &'static str {
                match self {
                    $(Command::$variant(_) => $name,)+
                }
            }
        }

        /// Reads the parameters of method `method`.
        fn parse_params(method: &str, params: &Map<String, Value>) -> Result<Command, CommandError> {
            match method {
                $($name => read::<$params>($name, params).map(Command::$variant),)+
                _ => Err(CommandError::UnknownMethod {
                    method: shorten(method),
                }),
            }
        }
    };
}

commands! {
    /// Add a destination, or find the matching one.
    CreateDestination(CreateDestination) = "createDestination";
    /// Create a manifest from file mappings.
    CreateManifest(CreateManifest) = "createManifest";
    /// Create a shared token for a manifest.
    CreateSharedToken(CreateSharedToken) = "createSharedToken";
    /// Start a transfer of a manifest to a destination.
    CreateTransfer(CreateTransfer) = "createTransfer";
    /// Delete a destination and its transfers.
    DeleteDestination(DestinationRef) = "deleteDestination";
    /// Delete a manifest.
    DeleteManifest(ManifestRef) = "deleteManifest";
    /// Remove a user data key from an object.
    DeleteObjectUserData(DeleteObjectUserData) = "deleteObjectUserData";
    /// Delete a shared token.
    DeleteSharedToken(TokenRef) = "deleteSharedToken";
    /// Delete a transfer that is not active.
    DeleteTransfer(TransferRef) = "deleteTransfer";
    /// Make an active transfer fail.
    FailTransfer(FailTransfer) = "failTransfer";
    /// One connection.
    GetConnection(ConnectionRef) = "getConnection";
    /// All connections.
    GetConnections(Limit) = "getConnections";
    /// One destination.
    GetDestination(DestinationRef) = "getDestination";
    /// All destinations.
    GetDestinations(Limit) = "getDestinations";
    /// One manifest.
    GetManifest(ManifestRef) = "getManifest";
    /// A manifest's file mappings.
    GetManifestFiles(GetManifestFiles) = "getManifestFiles";
    /// A page of manifests.
    GetManifests(GetManifests) = "getManifests";
    /// One shared token.
    GetSharedToken(TokenRef) = "getSharedToken";
    /// All shared tokens.
    GetSharedTokens(Limit) = "getSharedTokens";
    /// One transfer.
    GetTransfer(GetTransfer) = "getTransfer";
    /// A page of transfers.
    GetTransfers(GetTransfers) = "getTransfers";
    /// A page of a transfer's per-file results (ours).
    GetTransferFiles(GetTransferFiles) = "getTransferFiles";
    /// Resume a suspended transfer.
    ResumeTransferAsync(TransferRef) = "resumeTransferAsync";
    /// Ping a destination.
    SchedulePingAsync(SchedulePing) = "schedulePingAsync";
    /// Replace a destination's priority lanes.
    SetPriorityLanesAsync(SetPriorityLanes) = "setPriorityLanesAsync";
    /// Change a destination's rate cap.
    SetSendRateMaxAsync(SetSendRateMax) = "setSendRateMaxAsync";
    /// Change a transfer's priority or lane.
    SetTransferPriorityAsync(SetTransferPriority) = "setTransferPriorityAsync";
    /// Change a transfer's rate cap.
    SetTransferSendRateMaxAsync(SetTransferSendRateMax) = "setTransferSendRateMaxAsync";
    /// Suspend an active transfer.
    SuspendTransferAsync(TransferRef) = "suspendTransferAsync";
    /// Change a connection's rate settings.
    UpdateConnectionParamsAsync(UpdateConnectionParams) = "updateConnectionParamsAsync";
    /// Set a user data key of an object.
    UpdateObjectUserData(UpdateObjectUserData) = "updateObjectUserData";
    /// Change a shared token.
    UpdateSharedToken(UpdateSharedToken) = "updateSharedToken";
    /// Change a destination's transfer defaults.
    UpdateTransferDefaults(UpdateTransferDefaults) = "updateTransferDefaults";
    /// Wait until a manifest is ready.
    WaitForManifest(ManifestRef) = "waitForManifest";
    /// Wait until a transfer ends.
    WaitForTransfer(TransferRef) = "waitForTransfer";
    /// The status of an asynchronous request.
    GetRequestStatus(RequestRef) = "getRequestStatus";
    /// The result of an asynchronous request, waiting for its end.
    GetRequestResult(GetRequestResult) = "getRequestResult";
    /// The senders known to this receiver.
    GetSourcesAsync(Limit) = "getSourcesAsync";
    /// The transfers this receiver has received.
    GetTransfersAsync(GetReceivedTransfers) = "getTransfersAsync";
    /// Authorize a sender's public key.
    AddAuthorizedClientAsync(ClientKey) = "addAuthorizedClientAsync";
    /// Withdraw a sender's authorization.
    RemoveAuthorizedClientAsync(ClientKey) = "removeAuthorizedClientAsync";
    /// Refuse or accept senders whose key is not authorized.
    AllowOnlyAuthorizedClientsAsync(AllowOnlyAuthorizedClients) = "allowOnlyAuthorizedClientsAsync";
    /// This server's identity and settings.
    GetServerInfo(NoParams) = "getServerInfo";
    /// Log in with a user name and password: a session token.
    Auth(Auth) = "auth";
    /// Log in, queued.
    AuthAsync(Auth) = "authAsync";
    /// Log in as the holder of a shared token: a session that may download its manifest.
    AuthToken(AuthToken) = "authToken";
    /// Have the manifest of the session's shared token sent to the holder's receiver.
    CreateDownload(CreateDownload) = "createDownload";
    /// Create an API token.
    CreateApiToken(CreateApiToken) = "createAPIToken";
    /// Delete an API token.
    DeleteApiToken(ApiTokenRef) = "deleteAPIToken";
    /// One API token.
    GetApiToken(ApiTokenRef) = "getAPIToken";
    /// All API tokens.
    GetApiTokens(Limit) = "getAPITokens";
    /// Returns its argument.
    Echo(Echo) = "echo";
    /// The server's event log, newest or after an event.
    GetEventLog(GetEventLog) = "getEventLog";
    /// Change the server-wide bandwidth caps.
    UpdateBandwidthLimits(UpdateBandwidthLimits) = "updateBandwidthLimits";
    /// Remove what the server keeps but no longer needs.
    GarbageCollect(NoParams) = "garbageCollect";
    /// List a directory of the caller's root.
    LsAsync(PathRef) = "lsAsync";
    /// Describe several paths of the caller's root.
    LsListAsync(Paths) = "lsListAsync";
    /// The roots the caller may see.
    LsRootsAsync(NoParams) = "lsRootsAsync";
    /// The size of a tree of the caller's root.
    DuAsync(PathRef) = "duAsync";
    /// Create a directory (and its parents) in the caller's root.
    MkdirAsync(PathRef) = "mkdirAsync";
    /// Create a file in the caller's root.
    MkFileAsync(MkFile) = "mkFileAsync";
    /// Move an entry within the caller's root.
    MvAsync(Mv) = "mvAsync";
    /// Every user's sandbox root.
    GetSandboxMappings(NoParams) = "getSandboxMappings";
    /// Set a user's sandbox root.
    CreateSandboxMapping(CreateSandboxMapping) = "createSandboxMapping";
    /// Remove a user's sandbox root.
    DeleteSandboxMapping(SandboxMappingRef) = "deleteSandboxMapping";
}

impl Command {
    /// Whether the method is asynchronous: queued, answered at once with a Request structure
    /// (the methods whose names end with `Async`).
    pub fn is_async(&self) -> bool {
        self.method().ends_with("Async")
    }
}

/// Reads the parameter list `P` of `method`, refusing parameters it does not have.
fn read<P: FromArgs>(method: &'static str, params: &Map<String, Value>) -> Result<P, CommandError> {
    let mut args = Args::new(method, params);
    let read = P::from_args(&mut args)?;
    args.finish()?;
    Ok(read)
}

/// Parses and checks a command `{ "method": "<name>", "params": { ... } }`; `params` may be
/// left out or null for a method without required parameters. Every refusal is
/// `INVALID_ARGUMENT` and names the method and the parameter.
pub fn parse(json: &Value) -> Result<Command, crate::error::Error> {
    parse_command(json).map_err(Into::into)
}

/// [`parse`] from JSON text. An object naming a key twice is refused (JSON leaves its
/// meaning open).
pub fn parse_str(json: &str) -> Result<Command, crate::error::Error> {
    serde_json::from_str(json)
        .map_err(|e| CommandError::NotJson {
            reason: e.to_string(),
        })
        .and_then(|Strict(value)| parse_command(&value))
        .map_err(Into::into)
}

/// [`parse`] with the typed reason of a refusal.
pub fn parse_command(json: &Value) -> Result<Command, CommandError> {
    let malformed = |reason: String| CommandError::Malformed { reason };
    let Some(command) = json.as_object() else {
        return Err(malformed(format!("got {}", show(json))));
    };
    if let Some(key) = command
        .keys()
        .find(|key| !["method", "params"].contains(&key.as_str()))
    {
        return Err(malformed(format!("unknown key {}", shorten(key))));
    }
    let method = match command.get("method") {
        Some(Value::String(method)) => method,
        Some(other) => return Err(malformed(format!("method is {}", show(other)))),
        None => return Err(malformed("method is missing".into())),
    };
    let empty = Map::new();
    let params = match command.get("params") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(params)) => params,
        Some(other) => return Err(malformed(format!("params is {}", show(other)))),
    };
    parse_params(method, params)
}
