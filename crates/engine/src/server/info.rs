//! `getServerInfo`: who this server is and how it receives.

use crate::store::BandwidthLimits;
use serde::Serialize;

/// The Server Info structure.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerInfo {
    /// New at each start.
    pub server_id: String,
    /// Stable across restarts: derived from the identity key.
    pub server_uid: String,
    /// The host's name.
    pub server_name: String,
    /// The host's name.
    pub host_name: String,
    /// The engine's version.
    pub version: String,
    /// The API's version.
    pub api_version: String,
    /// The identity key senders may check (hex).
    pub public_key: String,
    /// The address transfers arrive at.
    pub recv_address: String,
    /// The UDP port transfers arrive at.
    pub recv_port: u16,
    /// The TCP control port; `None` for an embedded engine.
    pub api_control_port: Option<u16>,
    /// The receiver's root.
    pub sandbox_dir: String,
    /// Lowest cipher level accepted (`MIN_CIPHER_*`).
    pub min_cipher: u32,
    /// AES-GCM is available.
    pub encryption_available: bool,
    /// Several transfers share one session.
    pub multiplex_available: bool,
    /// Senders must log in with an account.
    pub auth_required: bool,
    /// Only authorized sender keys are accepted.
    pub only_authorized_clients_allowed: bool,
    /// The most destructive `OVERWRITE_*` mode a sender may ask of this receiver; every mode
    /// that destroys no more is allowed too (never < backup < always < in place).
    pub max_overwrite_mode: u32,
    /// The server-wide caps on what all transfers send and receive together.
    pub bandwidth_limits: BandwidthLimits,
}

/// The API version this engine implements.
pub const API_VERSION: &str = "2.2.0";

/// The host's name, or "localhost" when it cannot be read.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// A new random server id (32 hex digits).
pub fn new_server_id() -> crate::error::Result<String> {
    let bytes: [u8; 16] = ring::rand::generate(&ring::rand::SystemRandom::new())
        .map_err(|_| {
            crate::error::Error::new(
                crate::error::Code::Internal,
                "the system random generator failed",
            )
        })?
        .expose();
    Ok(hex::encode(bytes))
}
