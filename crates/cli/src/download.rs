//! `jetstream download`: what a shared token grants, fetched from the token's server into a
//! directory. The token opens a session on the server's control port (`authToken`); an engine
//! here receives, from that server's key only, the transfer the server starts for the token
//! (`createDownload`); the command ends when it is complete.

use crate::config;
use crate::control_port::TrustArgs;
use crate::engine::Engine;
use crate::receive::{tell, Told};
use crate::send::host_port;
use clap::Args;
use jetstream_engine::error::{Code, Error};
use jetstream_engine::server::{EngineOptions, ServerEvent};
use serde_json::json;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// The environment variable the token's password comes from, for a token that has one.
const PASSWORD_VAR: &str = "JETSTREAM_TOKEN_PASSWORD";

#[derive(Args)]
pub struct DownloadArgs {
    /// Directory the download lands in (made if missing).
    dir: PathBuf,
    /// The shared token; its password, if it has one, comes from JETSTREAM_TOKEN_PASSWORD.
    #[arg(long)]
    token: String,
    /// The token's server: HOST:PORT of its control port.
    #[arg(long)]
    from: String,
    #[command(flatten)]
    trust: TrustArgs,
    /// UDP address to receive on (port 0 picks a free port).
    #[arg(long, default_value = "0.0.0.0:0")]
    listen: SocketAddr,
    /// The address the server sends to [default: the one the server sees this command call
    /// from].
    #[arg(long)]
    address: Option<String>,
    /// Identity key file, created if missing [default: $XDG_CONFIG_HOME/jetstream/key, or
    /// ~/.config/jetstream/key].
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Give up when nothing arrives from the server for this many seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

pub async fn download(args: DownloadArgs) -> Result<(), Error> {
    let (host, port) = host_port("--from", &args.from)?;
    std::fs::create_dir_all(&args.dir).map_err(|e| {
        Error::from(e).context(format!("download directory {}", args.dir.display()))
    })?;
    let client = args.trust.connect(&host, port, None).await?;
    let password = std::env::var(PASSWORD_VAR).ok();
    let session = client
        .execute(
            "authToken",
            json!({ "token": args.token, "password": password }),
        )
        .await
        .map_err(|e| match &password {
            None if e.message.contains("password") => {
                e.context(format!("the token has a password: set {PASSWORD_VAR}"))
            }
            _ => e,
        })?;
    client.set_token(session["sessionToken"].as_str().map(str::to_owned));
    let info = client.execute("getServerInfo", json!({})).await?;
    let server_key = info["publicKey"]
        .as_str()
        .ok_or_else(|| Error::new(Code::Protocol, "the server gave no public key"))?
        .to_owned();
    let engine = Engine::open(EngineOptions {
        identity_file: Some(config::key_file(args.key_file.clone())?),
        known_receivers: Some(false),
        sandbox_dir: Some(args.dir.clone()),
        recv_address: Some(args.listen.ip()),
        recv_port: Some(args.listen.port()),
        only_authorized_clients: Some(true),
        authorized_clients: Some(vec![server_key.clone()]),
        recv_idle_timeout_seconds: Some(args.timeout),
        ..EngineOptions::default()
    })
    .await?;
    let receiving = engine.receiving()?;
    let mut events = engine.subscribe();
    let mut params = json!({
        "destinationPort": receiving.local_addr.port(),
        "destinationPublicKey": engine.info().public_key,
    });
    if let Some(address) = &args.address {
        params["destinationAddress"] = json!(address);
    }
    let transfer = client.execute("createDownload", params).await?;
    eprintln!(
        "download started: transfer {} on {}, from key {server_key}",
        transfer["transferId"], args.from
    );
    let quiet = Duration::from_secs(args.timeout);
    let mut sessions = 0usize;
    let received = loop {
        let event = match tokio::time::timeout(quiet, events.recv()).await {
            Ok(event) => event,
            // A session in progress ends by itself when its sender falls silent.
            Err(_) if sessions > 0 => continue,
            Err(_) => {
                break Err(Error::new(
                    Code::TimedOut,
                    format!("nothing arrived from {} in {} s", args.from, args.timeout),
                ))
            }
        };
        match event {
            Ok(event) => {
                match &event {
                    ServerEvent::ReceiveStarted { .. } => sessions += 1,
                    ServerEvent::ReceiveEnded { .. } => sessions = sessions.saturating_sub(1),
                    _ => {}
                }
                match tell(&event) {
                    Told::Completed => break Ok(()),
                    Told::Stopped(e) => break Err(e),
                    Told::Nothing => {}
                }
            }
            Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => {
                break Err(Error::new(Code::Unavailable, "the engine stopped"));
            }
        }
    };
    engine.close().await;
    received
}
