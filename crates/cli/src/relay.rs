//! `jetstream relay`: a relay for servers behind firewalls. A server (`jetstream server
//! --recv-relay-host`) registers on the control port with its identity key, which must be one
//! the relay authorizes; the relay opens a public UDP port for it and forwards datagrams
//! between that port and the server, sealed as the sender and the receiver sealed them.

use crate::choices;
use crate::config;
use clap::Args;
use jetstream_engine::authorized_keys::{AuthorizedKeys, Refresh};
use jetstream_engine::error::{Code, Error};
use jetstream_engine::relay::{Authorizer, Relay, RelayOptions};
use jetstream_relay::PublicKey;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

#[derive(Args)]
pub struct RelayArgs {
    /// Address the control, data and public ports listen on.
    #[arg(long, default_value = "0.0.0.0")]
    host: IpAddr,
    /// TCP port servers register on (0 picks a free one).
    #[arg(long, default_value_t = jetstream_engine::server::RELAY_PORT)]
    control_port: u16,
    /// UDP port servers exchange datagrams with [default: the control port's number].
    #[arg(long)]
    data_port: Option<u16>,
    /// Servers whose keys this file lists may register: one key a line, then an optional
    /// comment. Read again when it changes.
    #[arg(long = "authorized-keys", value_name = "FILE")]
    authorized_keys_file: Option<PathBuf>,
    /// A server key that may register (repeatable).
    #[arg(long = "authorized-key", value_name = "KEY", value_parser = choices::public_key)]
    authorized_keys: Vec<String>,
    /// Allocations (public ports) one server key may hold at once.
    #[arg(long, default_value_t = 4)]
    max_allocations: usize,
    /// Most kilobits per second one allocation forwards, both ways together [default: no
    /// cap].
    #[arg(long, value_name = "KBPS")]
    max_rate: Option<u64>,
    /// Seconds a peer may still be sent a server's datagrams after it last sent to that
    /// server.
    #[arg(long, default_value_t = 300)]
    peer_idle: u64,
    /// Seconds a registered server may stay silent before its allocation is closed.
    #[arg(long, default_value_t = 60)]
    control_idle: u64,
    /// Identity key file, created if missing [default: $XDG_CONFIG_HOME/jetstream/key, or
    /// ~/.config/jetstream/key].
    #[arg(long)]
    key_file: Option<PathBuf>,
}

/// The server keys given on the command line and in the authorized-keys file.
struct Servers {
    keys: Vec<PublicKey>,
    file: Option<Mutex<AuthorizedKeys>>,
}

impl Authorizer for Servers {
    fn allows(&self, key: &PublicKey) -> bool {
        if self.keys.contains(key) {
            return true;
        }
        let Some(file) = &self.file else {
            return false;
        };
        let mut file = file.lock().unwrap_or_else(PoisonError::into_inner);
        match file.refresh() {
            Ok(Refresh::Reloaded(n)) => tracing::info!("authorized keys read again: {n}"),
            Ok(Refresh::Unchanged) => {}
            Err(e) => tracing::error!("{e}; none of its keys is trusted until it is fixed"),
        }
        file.contains(key)
    }
}

pub async fn run(args: RelayArgs) -> Result<(), Error> {
    if args.authorized_keys.is_empty() && args.authorized_keys_file.is_none() {
        return Err(Error::new(
            Code::InvalidArgument,
            "no server could register: list their keys with --authorized-keys FILE or \
             --authorized-key KEY (what `jetstream server` prints as public-key)",
        ));
    }
    let keys = args
        .authorized_keys
        .iter()
        .map(|key| key.parse())
        .collect::<Result<Vec<PublicKey>, _>>()
        .map_err(|e| Error::new(Code::InvalidArgument, format!("--authorized-key: {e}")))?;
    let file = args
        .authorized_keys_file
        .as_deref()
        .map(AuthorizedKeys::load)
        .transpose()?
        .map(Mutex::new);
    let identity = jetstream_engine::identity::load_or_create(&config::key_file(args.key_file)?)?;
    let public_key = identity.public_key();
    let control = SocketAddr::new(args.host, args.control_port);
    let relay = Relay::bind(
        identity,
        RelayOptions {
            control,
            data: SocketAddr::new(args.host, args.data_port.unwrap_or(args.control_port)),
            public_ip: args.host,
            authorizer: Arc::new(Servers { keys, file }),
            max_allocations_per_key: args.max_allocations,
            max_rate: args.max_rate.map(|kbps| kbps.saturating_mul(1000) / 8),
            peer_idle: Duration::from_secs(args.peer_idle),
            control_idle: Duration::from_secs(args.control_idle),
        },
    )
    .await
    .map_err(|e| Error::from(e).context(format!("relay ports on {}", args.host)))?;
    let mut out = std::io::stdout();
    writeln!(out, "relay-control {}", relay.control_addr()?)?;
    writeln!(out, "relay-data {}", relay.data_addr())?;
    writeln!(out, "public-key {public_key}")?;
    out.flush()?;
    relay
        .run()
        .await
        .map_err(|e| Error::from(e).context("the relay's data port"))
}
