//! `jetstream server`: a long-running server driven through its control port. It opens the
//! engine's [`Server`] on a state directory, serves its API over HTTP, prints where it listens,
//! and on SIGTERM or SIGINT stops cleanly: running transfers are checkpointed and start again
//! at the next start on the same state directory.

use crate::{Cipher, MaxOverwrite};
use clap::Args;
use jetstream_control::{Control, ControlOptions, TlsIdentity};
use jetstream_engine::error::{Code, Error};
use jetstream_engine::server::{host_name, Server, ServerOptions};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

/// The self-signed certificate's directory in the state directory.
const TLS_DIR: &str = "api-tls";

/// How long requests in progress may take to end once the server stops.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

#[derive(Args)]
pub struct ServerArgs {
    /// Directory of the server's store, identity key, transfer logs (created if missing).
    #[arg(long)]
    state_dir: PathBuf,
    /// Directory that receives everything; nothing is written outside it [default:
    /// STATE_DIR/received].
    #[arg(long)]
    sandbox: Option<PathBuf>,
    /// Address the control port listens on.
    #[arg(long, default_value = "127.0.0.1")]
    api_host: IpAddr,
    /// TCP port of the control port (0 picks a free one).
    #[arg(long, default_value_t = 8886)]
    api_port: u16,
    /// Serve the control port without TLS (allowed on a loopback address only).
    #[arg(long, conflicts_with_all = ["api_tls_cert", "api_tls_key"])]
    api_plain: bool,
    /// The control port's certificate chain (PEM) [default: a self-signed certificate made at
    /// the first start in STATE_DIR/api-tls].
    #[arg(long, requires = "api_tls_key")]
    api_tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --api-tls-cert.
    #[arg(long, requires = "api_tls_cert")]
    api_tls_key: Option<PathBuf>,
    /// Serve the API to clients on other hosts too (otherwise only loopback clients).
    #[arg(long)]
    api_allow_remote_control: bool,
    /// Run every request without a login, with every right (allowed on a loopback address
    /// only). Otherwise clients log in with a user (`jetstream user add`) or an API token.
    #[arg(long)]
    api_no_auth: bool,
    /// Address transfers arrive at.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
    recv_host: IpAddr,
    /// UDP port transfers arrive at (0 picks a free one).
    #[arg(long, default_value_t = 8886)]
    recv_port: u16,
    /// Lowest cipher level accepted from senders.
    #[arg(long, value_enum, default_value = "aes128")]
    min_cipher: Cipher,
    /// The most existing data a sender's overwrite mode may destroy.
    #[arg(long, value_enum, default_value = "never")]
    max_overwrite: MaxOverwrite,
}

/// Runs the server until SIGTERM or SIGINT.
pub async fn run(args: ServerArgs) -> Result<(), Error> {
    if args.api_plain && !args.api_host.is_loopback() {
        return Err(Error::new(
            Code::InvalidArgument,
            format!(
                "--api-plain serves the API unencrypted: it is allowed on a loopback address \
                 only, not on {}",
                args.api_host
            ),
        ));
    }
    if args.api_no_auth && (!args.api_host.is_loopback() || args.api_allow_remote_control) {
        return Err(Error::new(
            Code::InvalidArgument,
            "--api-no-auth lets anyone who reaches the API do anything: it is allowed only on a \
             loopback address, without --api-allow-remote-control",
        ));
    }
    let api_addr = SocketAddr::new(args.api_host, args.api_port);
    let listener = TcpListener::bind(api_addr)
        .await
        .map_err(|e| Error::from(e).context(format!("control port {api_addr}")))?;
    let api_addr = listener.local_addr()?;
    let tls = tls_identity(&args)?;
    let mut opts = ServerOptions::new(args.state_dir.clone());
    if let Some(sandbox) = args.sandbox {
        opts.sandbox_dir = sandbox;
    }
    opts.recv_listen = SocketAddr::new(args.recv_host, args.recv_port);
    opts.min_cipher = args.min_cipher.into();
    opts.max_overwrite = args.max_overwrite.into();
    opts.api_control_port = Some(api_addr.port());
    opts.auth_required = !args.api_no_auth;
    let server = Arc::new(Server::open(opts).await?);
    let control = Control::start(
        listener,
        Arc::clone(&server),
        ControlOptions {
            allow_remote: args.api_allow_remote_control,
            tls: tls.clone(),
            auth_required: !args.api_no_auth,
            ..ControlOptions::default()
        },
    );
    let control = match control {
        Ok(control) => control,
        Err(e) => {
            server.close().await;
            return Err(e);
        }
    };
    let info = server.info();
    let recv_addr = SocketAddr::new(
        info.recv_address.parse().unwrap_or(args.recv_host),
        info.recv_port,
    );
    let mut out = std::io::stdout();
    match &tls {
        Some(tls) => {
            writeln!(out, "api-listening https://{api_addr}")?;
            writeln!(out, "api-fingerprint {}", tls.fingerprint())?;
        }
        None => writeln!(out, "api-listening http://{api_addr}")?,
    }
    writeln!(out, "recv-listening {recv_addr}")?;
    writeln!(out, "public-key {}", info.public_key)?;
    out.flush()?;
    tracing::info!("serving the API on {api_addr}, receiving on {recv_addr}");
    let stopped_by = stop_signal().await?;
    tracing::info!("{stopped_by}: stopping");
    server.close().await;
    control.shutdown(SHUTDOWN_GRACE).await;
    Ok(())
}

/// The control port's certificate: none with `--api-plain`, the one given, or the self-signed
/// one kept in the state directory.
fn tls_identity(args: &ServerArgs) -> Result<Option<TlsIdentity>, Error> {
    if args.api_plain {
        return Ok(None);
    }
    if let (Some(cert), Some(key)) = (&args.api_tls_cert, &args.api_tls_key) {
        return TlsIdentity::load(cert, key).map(Some);
    }
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
        host_name(),
    ];
    if !args.api_host.is_unspecified() {
        names.push(args.api_host.to_string());
    }
    names.sort();
    names.dedup();
    TlsIdentity::load_or_create(&args.state_dir.join(TLS_DIR), &names).map(Some)
}

/// Waits for SIGTERM or SIGINT; names the one that came.
async fn stop_signal() -> Result<&'static str, Error> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}
