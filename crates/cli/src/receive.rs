//! `jetstream receive`: an engine that only receives, into a root directory, from the senders
//! it is told to trust; it tells what arrives as the engine reports it.

use crate::choices::{self, arg_name, Cipher, MaxOverwrite};
use crate::config;
use crate::engine::Engine;
use clap::Args;
use jetstream_engine::admission::AdmissionCounters;
use jetstream_engine::error::{Code, Error};
use jetstream_engine::server::{EngineOptions, ServerEvent};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::broadcast::error::RecvError;

#[derive(Args)]
pub struct ReceiveArgs {
    /// Directory that receives everything; nothing is written outside it.
    #[arg(long)]
    root: PathBuf,
    /// UDP address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "0.0.0.0:8886")]
    listen: SocketAddr,
    /// Exit after the first transfer completes (a failed session waits for the sender to
    /// start another).
    #[arg(long)]
    once: bool,
    /// Identity key file, created if missing [default: $XDG_CONFIG_HOME/jetstream/key, or
    /// ~/.config/jetstream/key].
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Lowest cipher level accepted (the sender's offer is raised to it).
    #[arg(long, value_enum, default_value = "aes128")]
    min_cipher: Cipher,
    /// Accept the senders whose keys this file lists: one key a line, then an optional
    /// comment; `#` lines and blank lines are ignored. Read again when it changes.
    #[arg(long = "authorized-keys", value_name = "FILE")]
    authorized_keys_file: Option<PathBuf>,
    /// Accept the sender with this key (repeatable).
    #[arg(long = "authorized-key", value_name = "KEY", value_parser = choices::public_key)]
    authorized_keys: Vec<String>,
    /// Accept any sender: anyone who reaches the port may write below the root.
    #[arg(long, conflicts_with_all = ["authorized_keys_file", "authorized_keys"])]
    allow_any_sender: bool,
    /// The most existing data a sender's overwrite mode may destroy; a transfer asking for
    /// more is refused.
    #[arg(long, value_enum, default_value = "never")]
    max_overwrite: MaxOverwrite,
    /// Fail a session whose sender is silent this many seconds.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Write nothing: receive, verify and drop every transfer (for testing a network and its
    /// interfaces without the disks).
    #[arg(long)]
    discard: bool,
    /// Keep a part file no session writes this many seconds after its last durable write,
    /// for its sender to resume; 0 keeps it until its transfer ends it.
    #[arg(long, value_name = "SECONDS", default_value_t = 86_400)]
    keep_partial: u64,
}

pub async fn receive(args: ReceiveArgs) -> Result<(), Error> {
    if !args.allow_any_sender
        && args.authorized_keys.is_empty()
        && args.authorized_keys_file.is_none()
    {
        return Err(Error::new(
            Code::InvalidArgument,
            "no sender would be accepted: list their keys with --authorized-keys FILE or \
             --authorized-key KEY (a sender's key is what `jetstream key` prints there), or \
             accept anyone with --allow-any-sender",
        ));
    }
    // The engine makes a missing root; a root given on the command line must exist.
    match std::fs::metadata(&args.root) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(root_error(&args.root, "not a directory")),
        Err(e) => return Err(root_error(&args.root, &e.to_string())),
    }
    let engine = Engine::open(EngineOptions {
        identity_file: Some(config::key_file(args.key_file.clone())?),
        known_receivers: Some(false),
        sandbox_dir: Some(args.root.clone()),
        recv_address: Some(args.listen.ip()),
        recv_port: Some(args.listen.port()),
        min_cipher: Some(args.min_cipher.code()),
        max_overwrite_mode: Some(args.max_overwrite.code()),
        only_authorized_clients: Some(!args.allow_any_sender),
        authorized_clients: Some(args.authorized_keys.clone()),
        authorized_keys_file: args.authorized_keys_file.clone(),
        recv_idle_timeout_seconds: Some(args.timeout),
        recv_discard: Some(args.discard),
        part_file_max_age_seconds: Some(args.keep_partial),
        ..EngineOptions::default()
    })
    .await?;
    let receiving = engine.receiving()?;
    let mut events = engine.subscribe();
    describe_policy(&args, receiving.local_addr, receiving.authorized_keys);
    println!("listening {}", receiving.local_addr);
    println!("public-key {}", engine.info().public_key);
    std::io::stdout().flush()?;
    let served = loop {
        match events.recv().await {
            Ok(event) => match tell(&event) {
                Told::Completed if args.once => break Ok(()),
                Told::Stopped(e) => break Err(e),
                Told::Completed | Told::Nothing => {}
            },
            Err(RecvError::Lagged(missed)) => {
                eprintln!("{missed} receiver events were missed (too many at once)");
            }
            Err(RecvError::Closed) => {
                break Err(Error::new(Code::Unavailable, "the engine stopped"));
            }
        }
    };
    engine.close().await;
    eprintln!("{}", describe_admission(&receiving.admission));
    served
}

/// What an event meant for the command.
pub(crate) enum Told {
    /// A transfer completed.
    Completed,
    /// The receiver stopped.
    Stopped(Error),
    /// Nothing that ends the command.
    Nothing,
}

/// The error of a root that cannot be one.
fn root_error(root: &std::path::Path, why: &str) -> Error {
    Error::new(
        Code::InvalidArgument,
        format!("receiver root {}: {why}", root.display()),
    )
}

/// Tells the user what the receiver reported.
pub(crate) fn tell(event: &ServerEvent) -> Told {
    match event {
        ServerEvent::ReceiveStarted {
            peer,
            total_files,
            total_bytes,
            ..
        } => eprintln!("receiving {total_files} files, {total_bytes} bytes from {peer}"),
        ServerEvent::ReceiveEnded {
            peer,
            files_complete,
            bytes_received,
            error: None,
        } => {
            // Whoever started us may have stopped reading: that is no reason to fail.
            let mut out = std::io::stdout();
            let _ = writeln!(
                out,
                "received files={files_complete} bytes={bytes_received} from={peer}"
            );
            let _ = out.flush();
            return Told::Completed;
        }
        // The sender starts another session unless it gave up.
        ServerEvent::ReceiveEnded {
            peer,
            bytes_received,
            error: Some(e),
            ..
        } => eprintln!(
            "session from {peer} ended after receiving {bytes_received} bytes: {}",
            e.message
        ),
        ServerEvent::AuthorizedKeysReloaded {
            keys: Some(n),
            error: None,
        } => eprintln!("authorized keys read again: {}", keys(*n)),
        ServerEvent::AuthorizedKeysReloaded { error: Some(e), .. } => {
            eprintln!(
                "{}; none of its keys is trusted until it is fixed",
                e.message
            );
        }
        ServerEvent::ReceiverStopped { error } => {
            let code = Code::parse(&error.code).unwrap_or(Code::Internal);
            return Told::Stopped(Error::new(code, error.message.clone()));
        }
        _ => {}
    }
    Told::Nothing
}

/// The receiver's first lines on stderr: whom it accepts and what it lets them do.
fn describe_policy(args: &ReceiveArgs, local: SocketAddr, file_keys: Option<usize>) {
    if args.allow_any_sender {
        eprintln!(
            "accepting ANY sender (--allow-any-sender): whoever reaches {local} may write below {}",
            args.root.display()
        );
    } else {
        let mut sources = Vec::new();
        if let (Some(file), Some(n)) = (&args.authorized_keys_file, file_keys) {
            sources.push(format!(
                "{} from {} (read again when it changes)",
                keys(n),
                file.display()
            ));
        }
        if !args.authorized_keys.is_empty() {
            sources.push(format!(
                "{} given with --authorized-key",
                keys(args.authorized_keys.len())
            ));
        }
        eprintln!("accepting only known senders: {}", sources.join(" and "));
    }
    eprintln!(
        "lowest cipher {}; overwrite at most {}{}",
        arg_name(args.min_cipher),
        arg_name(args.max_overwrite),
        if args.discard {
            "; writing nothing (--discard)"
        } else {
            ""
        }
    );
}

/// "1 key", "2 keys".
fn keys(n: usize) -> String {
    format!("{n} key{}", if n == 1 { "" } else { "s" })
}

/// What the receiver did with datagrams that had no session.
fn describe_admission(counters: &AdmissionCounters) -> String {
    let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
    format!(
        "sessions admitted: {} ({} at once, without a Retry); ClientHellos answered with a \
         Retry: {} without a token, {} with a bad one, {} left unanswered (too many from their \
         address); refused over the handshake limits: {}; other datagrams dropped: {}",
        n(&counters.admitted),
        n(&counters.admitted_unproven),
        n(&counters.retries),
        n(&counters.bad_tokens),
        n(&counters.retries_withheld),
        n(&counters.over_limit),
        n(&counters.dropped)
    )
}
