//! The `jetstream` command-line tool: `receive` serves a root directory, `send` moves files and
//! directories to a receiver.

use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use jetstream_engine::clients::Clients;
use jetstream_engine::error::Error;
use jetstream_engine::identity;
use jetstream_engine::receive::{ReceiveEvent, ReceiveOptions, Receiver};
use jetstream_engine::send::{self, SendOptions};
use jetstream_engine::walk::{walk, SymlinkPolicy, WalkOptions};
use jetstream_wire::codec::Auth;
use jetstream_wire::crypto::aead::CipherLevel;
use jetstream_wire::crypto::handshake::PublicKey;
use jetstream_wire::rate::RateLimits;
use std::io::{IsTerminal, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "jetstream",
    version,
    about = "Fast, encrypted file transfer over UDP"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Receive transfers into a root directory.
    Receive(ReceiveArgs),
    /// Send files and directories to a receiver.
    Send(SendArgs),
}

#[derive(Args)]
struct ReceiveArgs {
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
    /// Identity key file, created if missing (default: a new key for this run).
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Lowest cipher level accepted.
    #[arg(long, value_enum, default_value = "none")]
    min_cipher: Cipher,
    /// Accept only senders with this key (repeatable).
    #[arg(long = "authorized-key")]
    authorized_keys: Vec<PublicKey>,
    /// Fail a session whose sender is silent this many seconds.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
}

#[derive(Args)]
struct SendArgs {
    /// Files and directories to send; a directory is sent with its name, like `cp -r`.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The receiver, HOST:PORT.
    #[arg(long)]
    to: String,
    /// Directory below the receiver's root to put the files in.
    #[arg(long, default_value = "")]
    dest: String,
    /// Lowest cipher level; the receiver may raise it.
    #[arg(long, value_enum, default_value = "aes128")]
    cipher: Cipher,
    /// Most kilobits per second to send.
    #[arg(long)]
    rate: Option<u64>,
    /// The receiver's public key; the transfer fails if the receiver holds another.
    #[arg(long)]
    destination_key: Option<PublicKey>,
    /// Identity key file, created if missing (default: a new key for this run).
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Give up once this many seconds pass without progress; until then a lost receiver (a
    /// restart, an outage) is reconnected to and the transfer goes on. 0: never give up.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Do not check files against their digests at the receiver (for raw-rate benchmarks).
    #[arg(long)]
    no_verify: bool,
    /// Largest IP packet to send (default: probe up to what the route allows; 1500 keeps
    /// every datagram within an Ethernet frame).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1228..))]
    mtu: Option<u16>,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Cipher {
    /// No protection.
    None,
    /// Authenticated, not secret.
    Auth,
    /// AES-128-GCM.
    Aes128,
    /// AES-256-GCM.
    Aes256,
}

impl From<Cipher> for CipherLevel {
    fn from(c: Cipher) -> Self {
        match c {
            Cipher::None => CipherLevel::None,
            Cipher::Auth => CipherLevel::Authenticated,
            Cipher::Aes128 => CipherLevel::Aes128Gcm,
            Cipher::Aes256 => CipherLevel::Aes256Gcm,
        }
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("JETSTREAM_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("jetstream: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Receive(args) => receive(args).await,
            Command::Send(args) => send_files(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jetstream: {}", e.message);
            ExitCode::FAILURE
        }
    }
}

fn load_identity(
    path: Option<&Path>,
) -> Result<jetstream_wire::crypto::handshake::Identity, Error> {
    match path {
        Some(p) => identity::load_or_create(p),
        None => identity::generate(),
    }
}

async fn receive(args: ReceiveArgs) -> Result<(), Error> {
    let identity = load_identity(args.key_file.as_deref())?;
    let opts = ReceiveOptions {
        listen: args.listen,
        root: args.root,
        min_cipher: args.min_cipher.into(),
        idle_timeout: Duration::from_secs(args.timeout),
        clients: if args.authorized_keys.is_empty() {
            Clients::default()
        } else {
            Clients::only(&args.authorized_keys)
        },
    };
    let mut receiver = Receiver::bind(identity, opts)?;
    println!("listening {}", receiver.local_addr());
    println!("public-key {}", receiver.public_key());
    std::io::stdout().flush()?;
    let once = args.once;
    receiver
        .run(&mut |event| match event {
            ReceiveEvent::Started { peer, header, .. } => {
                eprintln!(
                    "receiving {} files, {} bytes from {peer}",
                    header.total_files, header.total_bytes
                );
                ControlFlow::Continue(())
            }
            ReceiveEvent::Finished {
                peer,
                result,
                stats,
                ..
            } => {
                match &result {
                    // Whoever started us may have stopped reading: that is no reason to fail.
                    Ok(stats) => {
                        let mut out = std::io::stdout();
                        let _ = writeln!(
                            out,
                            "received files={} bytes={} from={peer}",
                            stats.files_complete, stats.bytes_received
                        );
                        let _ = out.flush();
                    }
                    // The sender starts another session unless it gave up.
                    Err(e) => eprintln!(
                        "session from {peer} ended after receiving {} bytes: {}",
                        stats.bytes_received, e.message
                    ),
                }
                if once && result.is_ok() {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            }
        })
        .await
}

async fn send_files(args: SendArgs) -> Result<(), Error> {
    let to = resolve(&args.to)?;
    let identity = load_identity(args.key_file.as_deref())?;
    let mut mappings = Vec::new();
    for path in &args.paths {
        let not_found = |why: String| {
            Error::new(
                jetstream_engine::error::Code::NotFound,
                format!("cannot read {}: {why}", path.display()),
            )
        };
        let name = path
            .canonicalize()
            .map_err(|e| not_found(e.to_string()))?
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| not_found("it has no name to send it under".into()))?;
        mappings.push((name, path.clone()));
    }
    let entries = walk(
        &mappings,
        &WalkOptions {
            symlinks: SymlinkPolicy::CopyContents,
            include: Vec::new(),
            exclude: Vec::new(),
        },
    )
    .map_err(|e| Error::new(jetstream_engine::error::Code::NotFound, e.to_string()))?;
    let mut opts = SendOptions::new(to);
    opts.dest_dir = args.dest;
    opts.cipher = args.cipher.into();
    opts.expected_key = args.destination_key;
    opts.auth = Auth::default();
    opts.timeout = (args.timeout > 0).then(|| Duration::from_secs(args.timeout));
    opts.verify = !args.no_verify;
    opts.mtu = args.mtu.map(usize::from);
    if let Some(kbps) = args.rate {
        opts.limits = RateLimits {
            min: RateLimits::DEFAULT_MIN.min(kbps * 125),
            max: Some(kbps * 125),
        };
    }
    let bar = if args.no_progress || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10));
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:30} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
            )
            .expect("valid template"),
        );
        bar
    };
    let report = send::send(&identity, &opts, entries, &mut |p| {
        bar.set_length(p.total_bytes);
        bar.set_position(p.stats.bytes_acked);
        bar.set_message(format!(
            "{}/{} files",
            p.stats.files_complete, p.total_files
        ));
    })
    .await;
    bar.finish_and_clear();
    let report = report?;
    let secs = report.elapsed.as_secs_f64();
    let stats = &report.stats;
    eprintln!(
        "sent {} new bytes and {} repairs; skipped {} bytes the receiver held; {} reconnections",
        stats.bytes_sent - stats.bytes_retransmitted,
        stats.bytes_retransmitted,
        report.bytes_skipped,
        report.reconnects
    );
    println!(
        "complete files={} bytes={} seconds={:.3} gbps={:.3}",
        report.files,
        report.bytes,
        secs,
        report.bytes as f64 * 8.0 / secs / 1e9
    );
    Ok(())
}

fn resolve(to: &str) -> Result<SocketAddr, Error> {
    let invalid = |why: String| Error::new(jetstream_engine::error::Code::InvalidArgument, why);
    to.to_socket_addrs()
        .map_err(|e| invalid(format!("--to {to}: {e}")))?
        .next()
        .ok_or_else(|| invalid(format!("--to {to}: no address")))
}
