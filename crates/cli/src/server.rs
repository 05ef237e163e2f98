//! `jetstream server`: a long-running server driven through its control port. It opens the
//! engine's [`Server`] on a state directory, serves its API over HTTP, prints where it listens,
//! and on SIGTERM or SIGINT stops cleanly: running transfers are checkpointed and start again
//! at the next start on the same state directory. SIGHUP reads the settings again: the log
//! level changes at once, a certificate given by file is read again (a renewed one is served
//! to new connections), and any other change is logged as waiting for the next start.

use crate::logging::Logging;
use crate::settings::{ServerArgs, Settings};
use jetstream_control::{Control, ControlOptions, TlsIdentity};
use jetstream_engine::command;
use jetstream_engine::error::Error;
use jetstream_engine::server::{host_name, EngineOptions, Server, ServerOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// The self-signed certificate's directory in the state directory.
const TLS_DIR: &str = "api-tls";

/// How long requests in progress may take to end once the server stops.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Runs the server until SIGTERM or SIGINT.
pub async fn run(args: ServerArgs) -> Result<(), Error> {
    let settings = args.settings()?;
    let logging = Logging::init(settings.log_format, settings.log_level.as_deref())?;
    let mut signals = Signals::catch()?;
    let api_addr = SocketAddr::new(settings.api_host, settings.api_port);
    let listener = TcpListener::bind(api_addr)
        .await
        .map_err(|e| Error::from(e).context(format!("control port {api_addr}")))?;
    let api_addr = listener.local_addr()?;
    let tls = tls_identity(&settings)?;
    let mut opts = ServerOptions::try_from(EngineOptions {
        state_dir: settings.state_dir.clone(),
        sandbox_dir: settings.sandbox.clone(),
        recv_address: Some(settings.recv_host),
        recv_port: Some(settings.recv_port),
        authorized_keys_file: settings.authorized_keys.clone(),
        min_cipher: Some(settings.min_cipher.code()),
        max_overwrite_mode: Some(settings.max_overwrite.code()),
        recv_relay_host: settings.recv_relay_host.clone(),
        recv_relay_port: settings.recv_relay_port,
        recv_relay_key: settings.recv_relay_key.clone(),
        part_file_max_age_seconds: Some(settings.keep_partial),
        ..EngineOptions::default()
    })?;
    opts.api_control_port = Some(api_addr.port());
    opts.auth_required = !settings.api_no_auth;
    let server = Arc::new(Server::open(opts).await?);
    if let Err(e) = set_bandwidth_limits(&server, &settings).await {
        server.close().await;
        return Err(e);
    }
    let control = Control::start(
        listener,
        Arc::clone(&server),
        ControlOptions {
            allow_remote: settings.api_allow_remote_control,
            tls: tls.clone(),
            auth_required: !settings.api_no_auth,
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
        info.recv_address.parse().unwrap_or(settings.recv_host),
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
    if let Some(receiving) = server
        .receiving()
        .filter(|_| settings.recv_relay_host.is_some())
    {
        tokio::spawn(tell_relayed(receiving.relayed.clone()));
    }
    tracing::info!("serving the API on {api_addr}, receiving on {recv_addr}");
    if let (Some(file), Some(keys)) = (
        &settings.authorized_keys,
        server.receiving().and_then(|r| r.authorized_keys),
    ) {
        tracing::info!(
            "accepting the senders of {} ({keys} key(s), read again when it changes) besides \
             the authorized clients",
            file.display()
        );
    }
    let stopped_by = loop {
        match signals.next().await {
            Some(stop) => break stop,
            None => reload(&args, &settings, &logging, &control),
        }
    };
    tracing::info!("{stopped_by}: stopping");
    server.close().await;
    control.shutdown(SHUTDOWN_GRACE).await;
    Ok(())
}

/// Prints `recv-relay ADDR` on stdout each time the relay gives the receiver a public port:
/// where senders send to reach this server.
async fn tell_relayed(mut relayed: tokio::sync::watch::Receiver<Option<SocketAddr>>) {
    while relayed.changed().await.is_ok() {
        let public = *relayed.borrow_and_update();
        if let Some(public) = public {
            let mut out = std::io::stdout();
            let _ = writeln!(out, "recv-relay {public}");
            let _ = out.flush();
        }
    }
}

/// SIGHUP: reads the settings again and applies what a running server can.
fn reload(args: &ServerArgs, running: &Settings, logging: &Logging, control: &Control) {
    let settings = match args.settings() {
        Ok(settings) => settings,
        Err(e) => return tracing::error!("SIGHUP: the settings are kept: {e}"),
    };
    match logging.set_level(settings.log_level.as_deref()) {
        Ok(()) => tracing::info!(
            "SIGHUP: log level {}",
            settings
                .log_level
                .as_deref()
                .unwrap_or("(JETSTREAM_LOG, else info)")
        ),
        Err(e) => tracing::error!("SIGHUP: the log level is kept: {e}"),
    }
    if let Some((cert, key)) = &settings.api_tls {
        match TlsIdentity::load(cert, key).and_then(|tls| {
            control.replace_certificate(&tls)?;
            Ok(tls)
        }) {
            Ok(tls) => tracing::info!(
                "SIGHUP: the control port's certificate read again: api-fingerprint {}",
                tls.fingerprint()
            ),
            Err(e) => tracing::error!("SIGHUP: the certificate is kept: {e}"),
        }
    }
    let later = Settings {
        log_level: running.log_level.clone(),
        api_tls: running.api_tls.clone(),
        ..settings
    };
    if &later != running {
        tracing::warn!(
            "SIGHUP: settings other than the log level and the certificate take effect at the \
             next start"
        );
    }
}

/// The control port's certificate: none with `--api-plain`, the one given, or the self-signed
/// one kept in the state directory.
fn tls_identity(settings: &Settings) -> Result<Option<TlsIdentity>, Error> {
    if settings.api_plain {
        return Ok(None);
    }
    if let Some((cert, key)) = &settings.api_tls {
        return TlsIdentity::load(cert, key).map(Some);
    }
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
        host_name(),
    ];
    if !settings.api_host.is_unspecified() {
        names.push(settings.api_host.to_string());
    }
    names.sort();
    names.dedup();
    TlsIdentity::load_or_create(&settings.state_dir.join(TLS_DIR), &names).map(Some)
}

/// The signals the server answers, caught from before it says it serves (so that none can
/// kill it without its checkpoint).
struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl Signals {
    fn catch() -> Result<Signals, Error> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// Waits for the next signal: the name of one that stops the server, `None` for SIGHUP.
    async fn next(&mut self) -> Option<&'static str> {
        tokio::select! {
            _ = self.term.recv() => Some("SIGTERM"),
            _ = self.int.recv() => Some("SIGINT"),
            _ = self.hup.recv() => None,
        }
    }
}

/// Puts the rate limits of the settings in force, as `updateBandwidthLimits` would (so they are
/// checked, kept and logged the same way); a limit not given keeps the stored one.
async fn set_bandwidth_limits(server: &Server, settings: &Settings) -> Result<(), Error> {
    let mut params = serde_json::Map::new();
    if let Some(kbps) = settings.incoming_rate_limit {
        params.insert("incomingKbps".into(), kbps.into());
    }
    if let Some(kbps) = settings.outgoing_rate_limit {
        params.insert("outgoingKbps".into(), kbps.into());
    }
    if params.is_empty() {
        return Ok(());
    }
    let command = command::parse(&serde_json::json!({
        "method": "updateBandwidthLimits",
        "params": params,
    }))?;
    server.execute(command).await.map(drop)
}
