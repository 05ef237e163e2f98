//! How a server starts: [`ServerOptions`], and [`EngineOptions`], their JSON form, which every
//! client (the napi binding, the command-line tool) parses here and nowhere else.

use crate::error::{Code, Error, Result};
use crate::overwrite::{OverwriteLimit, OverwriteMode};
use crate::receive::PART_FILE_MAX_AGE;
use jetstream_wire::crypto::aead::CipherLevel;
use jetstream_wire::crypto::handshake::PublicKey;
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// The identity key's file in the state directory.
const IDENTITY_FILE: &str = "identity.pk8";
/// The receivers this server has sent to and the keys they proved, in the state directory
/// (see [`crate::known_receivers`]).
const KNOWN_RECEIVERS_FILE: &str = "known_receivers";
/// How long a sender may stay silent, by default, before its session at this receiver fails.
const RECV_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How a server starts.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Where the object store and the transfer logs live (created if missing).
    pub state_dir: PathBuf,
    /// The identity key file, created if missing: the key this server's sessions prove, as a
    /// sender and as a receiver.
    pub identity_file: PathBuf,
    /// The receivers this server sent to and the keys they proved: the first contact with a
    /// receiver records its key, and a receiver presenting another is refused. `None`: a
    /// receiver's key is checked only when its destination pins one.
    pub known_receivers_file: Option<PathBuf>,
    /// What the last transfer to each receiver measured about the path, kept besides the
    /// connections of the store for senders whose store does not last: a transfer over a
    /// connection that measured nothing yet starts from the receiver's line, and a completed
    /// transfer writes its figures there too. `None`: the store's connections only.
    pub known_paths_file: Option<PathBuf>,
    /// The UDP address transfers to this server arrive at (port 0 picks one); `None`: this
    /// server only sends.
    pub recv_listen: Option<SocketAddr>,
    /// The receiver's root: nothing received is written outside it (created if missing).
    pub sandbox_dir: PathBuf,
    /// Lowest cipher level the receiver accepts.
    pub min_cipher: CipherLevel,
    /// The most existing data a sender's overwrite mode may destroy at this receiver.
    pub max_overwrite: OverwriteLimit,
    /// Whether the receiver refuses senders whose keys are not authorized, set in the store at
    /// open; `None` keeps what the store says (a new store: only authorized senders).
    pub only_authorized_clients: Option<bool>,
    /// Sender keys added to the store's authorized clients at open, before the receiver
    /// starts.
    pub authorized_clients: Vec<PublicKey>,
    /// An authorized-keys file whose sender keys the receiver accepts besides the authorized
    /// clients of the store; read again whenever it changes.
    pub authorized_keys_file: Option<PathBuf>,
    /// A session whose sender is silent this long fails at the receiver.
    pub recv_idle_timeout: Duration,
    /// The receiver writes nothing: data is received, verified and dropped, as a transfer
    /// without the `WRITE` flag is (for measuring the network alone).
    pub recv_discard: bool,
    /// How long a part file no session writes keeps its durable data for its sender's next
    /// session ([`crate::receive::ReceiveOptions::part_file_max_age`]); `None`: until the
    /// transfer ends it.
    pub part_file_max_age: Option<Duration>,
    /// Files sent are checked against their digests at the receiver (off only for raw-rate
    /// measurements).
    pub verify: bool,
    /// The largest IP packet sessions send; `None` probes up to what the route allows.
    pub mtu: Option<u16>,
    /// Where transfers created with `transferLog` keep their log files (created if missing).
    pub transfer_log_dir: PathBuf,
    /// The TCP port of the control port serving this server, which `getServerInfo` reports;
    /// `None` for an engine only its embedding process drives.
    pub api_control_port: Option<u16>,
    /// Whether the control port serving this server requires its clients to log in, which
    /// `getServerInfo` reports.
    pub auth_required: bool,
    /// The relay the receiver is also reached through, for a receiver behind a firewall;
    /// `None`: reached directly only.
    pub recv_relay: Option<RelayAddress>,
}

/// A relay's control port (`jetstream relay`), and the key it must prove when one is given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayAddress {
    /// Its host name or IP.
    pub host: String,
    /// Its control port (TCP).
    pub port: u16,
    /// The relay's identity key, when it is pinned.
    pub key: Option<PublicKey>,
}

impl ServerOptions {
    /// Options with everything under `state_dir`: identity key `state_dir/identity.pk8`, known
    /// receivers `state_dir/known_receivers`, receive on 127.0.0.1 at a free port into
    /// `state_dir/received`, transfer logs in `state_dir/transfer-logs`, AES-128-GCM at least,
    /// no existing file replaced, a silent sender dropped after 30 s, part files kept 24 h
    /// after their last durable write, files verified, and no control port.
    pub fn new(state_dir: PathBuf) -> Self {
        ServerOptions {
            identity_file: state_dir.join(IDENTITY_FILE),
            known_receivers_file: Some(state_dir.join(KNOWN_RECEIVERS_FILE)),
            known_paths_file: None,
            sandbox_dir: state_dir.join("received"),
            transfer_log_dir: state_dir.join("transfer-logs"),
            state_dir,
            recv_listen: Some((Ipv4Addr::LOCALHOST, 0).into()),
            min_cipher: CipherLevel::Aes128Gcm,
            max_overwrite: OverwriteLimit::Never,
            only_authorized_clients: None,
            authorized_clients: Vec::new(),
            authorized_keys_file: None,
            recv_idle_timeout: RECV_IDLE_TIMEOUT,
            recv_discard: false,
            part_file_max_age: Some(PART_FILE_MAX_AGE),
            verify: true,
            mtu: None,
            api_control_port: None,
            auth_required: false,
            recv_relay: None,
        }
    }

    /// The options [`EngineOptions`] describe in JSON.
    pub fn from_json(json: &str) -> Result<ServerOptions> {
        let options: EngineOptions = serde_json::from_str(json).map_err(|e| {
            Error::new(Code::InvalidArgument, format!("engine options: {e}")).with_source(e)
        })?;
        ServerOptions::try_from(options)
    }
}

/// The engine's options as clients give them (camelCase JSON); every field but `stateDir` is
/// optional and defaults as in [`ServerOptions::new`].
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EngineOptions {
    /// [`ServerOptions::state_dir`].
    pub state_dir: PathBuf,
    /// [`ServerOptions::identity_file`].
    pub identity_file: Option<PathBuf>,
    /// [`ServerOptions::known_receivers_file`]; `knownReceivers: false` keeps none.
    pub known_receivers_file: Option<PathBuf>,
    /// `false`: no known receivers file (see [`ServerOptions::known_receivers_file`]).
    pub known_receivers: Option<bool>,
    /// [`ServerOptions::known_paths_file`].
    pub known_paths_file: Option<PathBuf>,
    /// `false`: this server only sends (no receiver, no UDP port).
    pub receive: Option<bool>,
    /// [`ServerOptions::sandbox_dir`].
    pub sandbox_dir: Option<PathBuf>,
    /// The receiver's address (default 127.0.0.1).
    pub recv_address: Option<IpAddr>,
    /// The receiver's UDP port (default 0: a free one).
    pub recv_port: Option<u16>,
    /// A `MIN_CIPHER_*` level.
    pub min_cipher: Option<u8>,
    /// The most destructive `OVERWRITE_*` mode senders may ask for.
    pub max_overwrite_mode: Option<u8>,
    /// [`ServerOptions::only_authorized_clients`].
    pub only_authorized_clients: Option<bool>,
    /// [`ServerOptions::authorized_clients`], as hex.
    pub authorized_clients: Option<Vec<String>>,
    /// [`ServerOptions::authorized_keys_file`].
    pub authorized_keys_file: Option<PathBuf>,
    /// [`ServerOptions::recv_idle_timeout`], in seconds.
    pub recv_idle_timeout_seconds: Option<u64>,
    /// [`ServerOptions::recv_discard`].
    pub recv_discard: Option<bool>,
    /// [`ServerOptions::part_file_max_age`], in seconds; 0 keeps part files until their
    /// transfer ends them.
    pub part_file_max_age_seconds: Option<u64>,
    /// [`ServerOptions::verify`].
    pub verify: Option<bool>,
    /// [`ServerOptions::mtu`] (at least 1228).
    pub mtu: Option<u16>,
    /// [`ServerOptions::transfer_log_dir`].
    pub transfer_log_dir: Option<PathBuf>,
    /// [`RelayAddress::host`] of [`ServerOptions::recv_relay`].
    pub recv_relay_host: Option<String>,
    /// [`RelayAddress::port`] (default 8887).
    pub recv_relay_port: Option<u16>,
    /// [`RelayAddress::key`], as hex.
    pub recv_relay_key: Option<String>,
}

/// The control port of a relay, when none is given.
pub const RELAY_PORT: u16 = 8887;

/// The smallest packet every session needs: one that carries a full handshake message.
pub const MIN_MTU: u16 = 1228;

impl TryFrom<EngineOptions> for ServerOptions {
    type Error = Error;

    fn try_from(options: EngineOptions) -> Result<ServerOptions> {
        let invalid =
            |what: String| Error::new(Code::InvalidArgument, format!("engine options: {what}"));
        let mut opts = ServerOptions::new(options.state_dir);
        if let Some(file) = options.identity_file {
            opts.identity_file = file;
        }
        match (options.known_receivers, options.known_receivers_file) {
            (Some(false), Some(_)) => {
                return Err(invalid(
                    "knownReceiversFile is given and knownReceivers is false".into(),
                ))
            }
            (Some(false), None) => opts.known_receivers_file = None,
            (_, Some(file)) => opts.known_receivers_file = Some(file),
            (_, None) => {}
        }
        opts.known_paths_file = options.known_paths_file;
        if let Some(dir) = options.sandbox_dir {
            opts.sandbox_dir = dir;
        }
        if let Some(dir) = options.transfer_log_dir {
            opts.transfer_log_dir = dir;
        }
        let ip = options
            .recv_address
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        opts.recv_listen = match options.receive {
            Some(false) if options.recv_address.is_some() || options.recv_port.is_some() => {
                return Err(invalid(
                    "recvAddress or recvPort is given and receive is false".into(),
                ))
            }
            Some(false) => None,
            _ => Some(SocketAddr::new(ip, options.recv_port.unwrap_or(0))),
        };
        if let Some(level) = options.min_cipher {
            opts.min_cipher = CipherLevel::from_u8(level)
                .ok_or_else(|| invalid(format!("minCipher {level} is not a MIN_CIPHER_* level")))?;
        }
        if let Some(code) = options.max_overwrite_mode {
            let mode = OverwriteMode::from_u8(code).ok_or_else(|| {
                invalid(format!(
                    "maxOverwriteMode {code} is not an OVERWRITE_* mode"
                ))
            })?;
            opts.max_overwrite = OverwriteLimit::of(mode);
        }
        opts.only_authorized_clients = options.only_authorized_clients;
        for key in options.authorized_clients.unwrap_or_default() {
            let key = key
                .parse()
                .map_err(|e| invalid(format!("authorizedClients: {key:?}: {e}")))?;
            opts.authorized_clients.push(key);
        }
        opts.authorized_keys_file = options.authorized_keys_file;
        if let Some(seconds) = options.recv_idle_timeout_seconds {
            opts.recv_idle_timeout = Duration::from_secs(seconds);
        }
        opts.recv_discard = options.recv_discard.unwrap_or(false);
        if let Some(seconds) = options.part_file_max_age_seconds {
            opts.part_file_max_age = (seconds > 0).then(|| Duration::from_secs(seconds));
        }
        opts.verify = options.verify.unwrap_or(true);
        opts.recv_relay = match (options.recv_relay_host, opts.recv_listen) {
            (Some(_), None) => {
                return Err(invalid(
                    "recvRelayHost is given and the engine does not receive".into(),
                ))
            }
            (Some(host), Some(_)) => Some(RelayAddress {
                host,
                port: options.recv_relay_port.unwrap_or(RELAY_PORT),
                key: options
                    .recv_relay_key
                    .map(|key| {
                        key.parse()
                            .map_err(|e| invalid(format!("recvRelayKey: {key:?}: {e}")))
                    })
                    .transpose()?,
            }),
            (None, _) if options.recv_relay_port.is_some() || options.recv_relay_key.is_some() => {
                return Err(invalid(
                    "recvRelayPort or recvRelayKey is given without recvRelayHost".into(),
                ))
            }
            (None, _) => None,
        };
        if let Some(mtu) = options.mtu {
            if mtu < MIN_MTU {
                return Err(invalid(format!("mtu {mtu} is below {MIN_MTU}")));
            }
            opts.mtu = Some(mtu);
        }
        Ok(opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn refused(json: &str) -> String {
        let e = ServerOptions::from_json(json).unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument, "{}", e.message);
        assert!(e.message.starts_with("engine options: "), "{}", e.message);
        e.message
    }

    #[test]
    fn everything_defaults_under_the_state_directory() {
        let opts = ServerOptions::from_json(r#"{"stateDir": "/s"}"#).unwrap();
        assert_eq!(opts.identity_file, Path::new("/s/identity.pk8"));
        assert_eq!(
            opts.known_receivers_file.as_deref(),
            Some(Path::new("/s/known_receivers"))
        );
        assert_eq!(opts.sandbox_dir, Path::new("/s/received"));
        assert_eq!(opts.transfer_log_dir, Path::new("/s/transfer-logs"));
        assert_eq!(opts.recv_listen, Some((Ipv4Addr::LOCALHOST, 0).into()));
        assert_eq!(opts.min_cipher, CipherLevel::Aes128Gcm);
        assert_eq!(opts.max_overwrite, OverwriteLimit::Never);
        assert_eq!(opts.only_authorized_clients, None);
        assert!(opts.authorized_clients.is_empty());
        assert_eq!(opts.authorized_keys_file, None);
        assert_eq!(opts.recv_idle_timeout, RECV_IDLE_TIMEOUT);
        assert!(!opts.recv_discard);
        assert_eq!(opts.part_file_max_age, Some(Duration::from_secs(86_400)));
        assert!(opts.verify);
        assert_eq!(opts.mtu, None);
    }

    #[test]
    fn every_option_is_read() {
        let key = "ab".repeat(32);
        let opts = ServerOptions::from_json(&format!(
            r#"{{"stateDir": "/s", "identityFile": "/k", "knownReceiversFile": "/kr",
                "sandboxDir": "/r", "recvAddress": "::1", "recvPort": 9000, "minCipher": 3,
                "maxOverwriteMode": 5, "onlyAuthorizedClients": false,
                "authorizedClients": ["{}"], "authorizedKeysFile": "/ak",
                "recvIdleTimeoutSeconds": 3, "recvDiscard": true, "verify": false, "mtu": 1500,
                "transferLogDir": "/l", "partFileMaxAgeSeconds": 90}}"#,
            key.to_uppercase()
        ))
        .unwrap();
        assert_eq!(opts.identity_file, Path::new("/k"));
        assert_eq!(opts.known_receivers_file.as_deref(), Some(Path::new("/kr")));
        assert_eq!(opts.sandbox_dir, Path::new("/r"));
        assert_eq!(opts.recv_listen, Some("[::1]:9000".parse().unwrap()));
        assert_eq!(opts.min_cipher, CipherLevel::Aes256Gcm);
        assert_eq!(opts.max_overwrite, OverwriteLimit::Backup);
        assert_eq!(opts.only_authorized_clients, Some(false));
        let keys: Vec<String> = opts
            .authorized_clients
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(keys, [key]);
        assert_eq!(opts.authorized_keys_file.as_deref(), Some(Path::new("/ak")));
        assert_eq!(opts.recv_idle_timeout, Duration::from_secs(3));
        assert!(opts.recv_discard);
        assert_eq!(opts.part_file_max_age, Some(Duration::from_secs(90)));
        assert!(!opts.verify);
        assert_eq!(opts.mtu, Some(1500));
        assert_eq!(opts.transfer_log_dir, Path::new("/l"));

        let sending = r#"{"stateDir": "/s", "receive": false, "knownReceivers": false}"#;
        let opts = ServerOptions::from_json(sending).unwrap();
        assert_eq!(opts.recv_listen, None);
        assert_eq!(opts.known_receivers_file, None);

        let forever = r#"{"stateDir": "/s", "partFileMaxAgeSeconds": 0}"#;
        assert_eq!(
            ServerOptions::from_json(forever).unwrap().part_file_max_age,
            None
        );
    }

    #[test]
    fn bad_options_are_refused_by_name() {
        assert!(refused(r#"{"stateDir": "/s", "recvPrt": 1}"#).contains("recvPrt"));
        assert!(refused(r#"{}"#).contains("stateDir"));
        assert!(refused(r#"{"stateDir": "/s", "minCipher": 4}"#).contains("minCipher 4"));
        assert!(
            refused(r#"{"stateDir": "/s", "maxOverwriteMode": 6}"#).contains("maxOverwriteMode 6")
        );
        assert!(refused(r#"{"stateDir": "/s", "mtu": 1227}"#).contains("mtu 1227"));
        assert!(refused(r#"{"stateDir": "/s", "authorizedClients": ["x"]}"#)
            .contains("authorizedClients: \"x\""));
        assert!(
            refused(r#"{"stateDir": "/s", "receive": false, "recvPort": 1}"#)
                .contains("receive is false")
        );
        assert!(refused(
            r#"{"stateDir": "/s", "knownReceivers": false, "knownReceiversFile": "/k"}"#
        )
        .contains("knownReceivers is false"));
    }
}
