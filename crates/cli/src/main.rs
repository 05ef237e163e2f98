//! The `jetstream` command-line tool: `receive` serves a root directory to the senders it
//! trusts, `send` moves files and directories to a receiver it knows, `key` prints the public
//! key a receiver authorizes, `server` runs a server driven through its control port, `user`
//! manages the accounts that may log in to it, `api` runs one of its API methods. `send` and
//! `receive` run an engine in this process and give it their work as commands, as every other
//! client of the engine does; `send --server` gives the same commands to a running server.
//!
//! Both sides keep their identity key, and the sender its known receivers, in the user's
//! configuration directory (`$XDG_CONFIG_HOME/jetstream`, else `~/.config/jetstream`) unless
//! told another file.

mod api;
mod choices;
mod config;
mod control_port;
mod download;
mod engine;
mod logging;
mod progress;
mod receive;
mod relay;
mod send;
mod server;
mod settings;
mod size;
mod users;

use clap::{Args, Parser, Subcommand};
use jetstream_engine::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

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
    Receive(receive::ReceiveArgs),
    /// Send files and directories to a receiver.
    Send(send::SendArgs),
    /// Print the public key of the identity key file (created if missing), for a receiver's
    /// authorized keys.
    Key(KeyArgs),
    /// Run a server: receives transfers and runs the API's commands sent to its control port.
    Server(settings::ServerArgs),
    /// Manage the users who may log in to a server's control port.
    User(users::UserArgs),
    /// Run one API method on a server through its control port and print its JSON result.
    Api(api::ApiArgs),
    /// Download what a shared token grants from the token's server into a directory.
    Download(download::DownloadArgs),
    /// Relay datagrams to servers behind firewalls that register with it.
    Relay(relay::RelayArgs),
}

#[derive(Args)]
struct KeyArgs {
    /// Identity key file, created if missing [default: $XDG_CONFIG_HOME/jetstream/key, or
    /// ~/.config/jetstream/key].
    #[arg(long)]
    key_file: Option<PathBuf>,
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
        // Many clients at once, on every core; a relay's two directions each on their own.
        Command::Server(_) | Command::Relay(_) => tokio::runtime::Builder::new_multi_thread(),
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
    // A server answers SIGTERM itself, stopping its transfers cleanly.
    let stops_itself = matches!(cli.command, Command::Server(_));
    let result = runtime.block_on(async {
        let work = async {
            match cli.command {
                Command::Receive(args) => receive::receive(args).await,
                Command::Send(args) => send::send(args).await,
                Command::Key(args) => print_key(&args),
                Command::Server(args) => server::run(args).await,
                Command::User(args) => users::run(args),
                Command::Api(args) => api::run(args).await,
                Command::Download(args) => download::download(args).await,
                Command::Relay(args) => relay::run(args).await,
            }
        };
        if stops_itself {
            return Ok(work.await);
        }
        tokio::select! {
            result = work => Ok(result),
            // The engine and its state directory are dropped with `work`.
            signal = engine::terminated() => Err(signal),
        }
    });
    match result {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) if by_code => {
            eprintln!("{}: {}", e.code.as_str(), e.message);
            ExitCode::FAILURE
        }
        Ok(Err(e)) => {
            eprintln!("jetstream: {}", e.message);
            ExitCode::FAILURE
        }
        // The status a shell gives a process the signal ended.
        Err(signal) => ExitCode::from(u8::try_from(128 + signal).unwrap_or(u8::MAX)),
    }
}

fn print_key(args: &KeyArgs) -> Result<(), Error> {
    let path = config::key_file(args.key_file.clone())?;
    println!(
        "{}",
        jetstream_engine::identity::load_or_create(&path)?.public_key()
    );
    Ok(())
}
