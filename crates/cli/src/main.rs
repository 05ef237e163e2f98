//! The `jetstream` command-line tool: `receive` serves a root directory to the senders it
//! trusts, `send` moves files and directories to a receiver it knows, `key` prints the public
//! key a receiver authorizes, `server` runs a server driven through its control port, `user`
//! manages the accounts that may log in to it, `api` runs one of its API methods.
//!
//! Both sides keep their identity key, and the sender its known receivers, in the user's
//! configuration directory (`$XDG_CONFIG_HOME/jetstream`, else `~/.config/jetstream`) unless
//! told another file.

mod api;
mod config;
mod logging;
mod server;
mod settings;
mod users;

use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use jetstream_engine::admission::AdmissionCounters;
use jetstream_engine::clients::Clients;
use jetstream_engine::error::{Code, Error};
use jetstream_engine::known_receivers::{KnownReceivers, Recognized};
use jetstream_engine::overwrite::{OverwriteLimit, OverwriteMode};
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
use std::path::PathBuf;
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
    /// Print the public key of the identity key file (created if missing), for a receiver's
    /// authorized keys.
    Key(KeyArgs),
    /// Run a server: receives transfers and runs the API's commands sent to its control port.
    Server(settings::ServerArgs),
    /// Manage the users who may log in to a server's control port.
    User(users::UserArgs),
    /// Run one API method on a server through its control port and print its JSON result.
    Api(api::ApiArgs),
}

#[derive(Args)]
struct KeyArgs {
    /// Identity key file, created if missing [default: $XDG_CONFIG_HOME/jetstream/key, or
    /// ~/.config/jetstream/key].
    #[arg(long)]
    key_file: Option<PathBuf>,
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
    #[arg(long = "authorized-key", value_name = "KEY")]
    authorized_keys: Vec<PublicKey>,
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
    /// What to do with a file that exists at the receiver (which refuses a mode above its
    /// --max-overwrite).
    #[arg(long, value_enum, default_value = "never")]
    overwrite: Overwrite,
    /// Lowest cipher level; the receiver may raise it.
    #[arg(long, value_enum, default_value = "aes128")]
    cipher: Cipher,
    /// Most kilobits per second to send.
    #[arg(long)]
    rate: Option<u64>,
    /// The receiver's public key; the transfer fails if the receiver holds another. Without
    /// it, the receiver's key is checked in the known receivers.
    #[arg(long)]
    destination_key: Option<PublicKey>,
    /// The receivers met before and their keys: the first contact with a receiver records its
    /// key, and a receiver presenting another is refused [default:
    /// $XDG_CONFIG_HOME/jetstream/known_receivers, or ~/.config/jetstream/known_receivers].
    #[arg(long, value_name = "FILE")]
    known_receivers: Option<PathBuf>,
    /// Identity key file, created if missing [default: $XDG_CONFIG_HOME/jetstream/key, or
    /// ~/.config/jetstream/key].
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
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

/// `--max-overwrite`: an [`OverwriteLimit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum MaxOverwrite {
    /// Existing files are never replaced.
    Never,
    /// Existing files may be replaced, the old one kept as NAME.jetbak.
    Backup,
    /// Existing files may be replaced once the new one is complete.
    Always,
    /// Existing files may be overwritten as data arrives.
    InPlace,
}

impl From<MaxOverwrite> for OverwriteLimit {
    fn from(m: MaxOverwrite) -> Self {
        match m {
            MaxOverwrite::Never => OverwriteLimit::Never,
            MaxOverwrite::Backup => OverwriteLimit::Backup,
            MaxOverwrite::Always => OverwriteLimit::Always,
            MaxOverwrite::InPlace => OverwriteLimit::InPlace,
        }
    }
}

/// `--overwrite`: an [`OverwriteMode`].
#[derive(Clone, Copy, ValueEnum)]
enum Overwrite {
    /// Keep an existing file (the file fails).
    Never,
    /// Replace an existing file once the new one is complete.
    Always,
    /// Like always, keeping the old file as NAME.jetbak.
    Backup,
    /// Write the target directly; keep an existing file.
    InPlaceNever,
    /// Write the target directly, over an existing file.
    InPlaceAlways,
    /// Write the target directly if it has the new size; otherwise like always.
    InPlaceSameSize,
}

impl From<Overwrite> for OverwriteMode {
    fn from(o: Overwrite) -> Self {
        match o {
            Overwrite::Never => OverwriteMode::Never,
            Overwrite::Always => OverwriteMode::Always,
            Overwrite::Backup => OverwriteMode::Backup,
            Overwrite::InPlaceNever => OverwriteMode::InPlaceNever,
            Overwrite::InPlaceAlways => OverwriteMode::InPlaceAlways,
            Overwrite::InPlaceSameSize => OverwriteMode::InPlaceSameSize,
        }
    }
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
    let cli = Cli::parse();
    // The server installs its own log, whose format and level its settings choose.
    if !matches!(cli.command, Command::Server(_)) {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_env("JETSTREAM_LOG"))
            .with_writer(std::io::stderr)
            .init();
    }
    // Read before any thread creates a file: received files get their mode bits less it.
    jetstream_engine::umask::umask();
    let runtime = match &cli.command {
        // Many clients at once, on every core.
        Command::Server(_) => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    }
    .enable_all()
    .build();
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("jetstream: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    // A client of the API reports failures by their code, as the API does.
    let by_code = matches!(cli.command, Command::Api(_));
    let result = runtime.block_on(async {
        match cli.command {
            Command::Receive(args) => receive(args).await,
            Command::Send(args) => send_files(args).await,
            Command::Key(args) => print_key(&args),
            Command::Server(args) => server::run(args).await,
            Command::User(args) => users::run(args),
            Command::Api(args) => api::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if by_code => {
            eprintln!("{}: {}", e.code.as_str(), e.message);
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("jetstream: {}", e.message);
            ExitCode::FAILURE
        }
    }
}

fn print_key(args: &KeyArgs) -> Result<(), Error> {
    let identity = config::identity(args.key_file.clone())?;
    println!("{}", identity.public_key());
    Ok(())
}

/// The senders a receiver accepts, from its arguments; refused when none would be.
fn senders(args: &ReceiveArgs) -> Result<Clients, Error> {
    if args.allow_any_sender {
        return Ok(Clients::any());
    }
    if args.authorized_keys.is_empty() && args.authorized_keys_file.is_none() {
        return Err(Error::new(
            Code::InvalidArgument,
            "no sender would be accepted: list their keys with --authorized-keys FILE or \
             --authorized-key KEY (a sender's key is what `jetstream key` prints there), or \
             accept anyone with --allow-any-sender",
        ));
    }
    Ok(Clients::only(&args.authorized_keys))
}

/// The receiver's first lines on stderr: whom it accepts and what it lets them do.
fn describe_policy(receiver: &Receiver, args: &ReceiveArgs) {
    if args.allow_any_sender {
        eprintln!(
            "accepting ANY sender (--allow-any-sender): whoever reaches {} may write below {}",
            receiver.local_addr(),
            args.root.display()
        );
    } else {
        let mut sources = Vec::new();
        if let Some(file) = receiver.authorized_keys() {
            sources.push(format!(
                "{} from {} (read again when it changes)",
                keys(file.len()),
                file.path().display()
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
        "lowest cipher {}; overwrite at most {}",
        arg_name(args.min_cipher),
        arg_name(args.max_overwrite)
    );
}

/// A value's name on the command line.
fn arg_name(value: impl ValueEnum) -> String {
    value
        .to_possible_value()
        .expect("no value is skipped")
        .get_name()
        .to_owned()
}

/// "1 key", "2 keys".
fn keys(n: usize) -> String {
    format!("{n} key{}", if n == 1 { "" } else { "s" })
}

async fn receive(args: ReceiveArgs) -> Result<(), Error> {
    let clients = senders(&args)?;
    let identity = config::identity(args.key_file.clone())?;
    let opts = ReceiveOptions {
        listen: args.listen,
        root: args.root.clone(),
        min_cipher: args.min_cipher.into(),
        idle_timeout: Duration::from_secs(args.timeout),
        clients,
        authorized_keys: args.authorized_keys_file.clone(),
        max_overwrite: args.max_overwrite.into(),
    };
    let mut receiver = Receiver::bind(identity, opts)?;
    describe_policy(&receiver, &args);
    println!("listening {}", receiver.local_addr());
    println!("public-key {}", receiver.public_key());
    std::io::stdout().flush()?;
    let once = args.once;
    let admission = receiver.admission_counters();
    let served = receiver
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
            ReceiveEvent::AuthorizedKeysReloaded { result } => {
                match result {
                    Ok(n) => eprintln!("authorized keys read again: {}", keys(n)),
                    Err(e) => eprintln!("{e}; none of its keys is trusted until it is fixed"),
                }
                ControlFlow::Continue(())
            }
        })
        .await;
    eprintln!("{}", describe_admission(&admission));
    served
}

/// What the receiver did with datagrams that had no session.
fn describe_admission(counters: &AdmissionCounters) -> String {
    let n = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    format!(
        "sessions admitted: {}; ClientHellos answered with a Retry: {} without a token, {} with \
         a bad one, {} left unanswered (too many from their address); refused over the \
         handshake limits: {}; other datagrams dropped: {}",
        n(&counters.admitted),
        n(&counters.retries),
        n(&counters.bad_tokens),
        n(&counters.retries_withheld),
        n(&counters.over_limit),
        n(&counters.dropped)
    )
}

async fn send_files(args: SendArgs) -> Result<(), Error> {
    let to = resolve(&args.to)?;
    let identity = config::identity(args.key_file.clone())?;
    let known_receivers = match (&args.destination_key, args.known_receivers) {
        (Some(_), _) => None,
        (None, Some(path)) => Some(KnownReceivers::new(path)),
        (None, None) => Some(KnownReceivers::new(config::file(
            "known_receivers",
            "--known-receivers",
        )?)),
    };
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
    opts.overwrite = OverwriteMode::from(args.overwrite).code();
    opts.expected_key = args.destination_key;
    opts.known_receivers = known_receivers;
    opts.receiver_name = args.to.clone();
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
    let mut told_first_contact = false;
    let report = send::send(&identity, &opts, entries, &mut |p| {
        if let (Some(Recognized::Recorded { line }), Some(key), Some(known), false) = (
            p.recognized,
            p.receiver_key,
            &opts.known_receivers,
            told_first_contact,
        ) {
            told_first_contact = true;
            bar.suspend(|| {
                eprintln!(
                    "first contact with receiver {}: its key {key} is now recorded in {} \
                     line {line}",
                    opts.receiver_name,
                    known.path().display()
                );
            });
        }
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
