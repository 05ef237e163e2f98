//! The `jetstream` command-line tool: `receive` serves a root directory to the senders it
//! trusts, `send` moves files and directories to a receiver it knows, `key` prints the public
//! key a receiver authorizes. `send` and `receive` run an engine in this process and give it
//! their work as commands, as every other client of the engine does.
//!
//! Both sides keep their identity key, and the sender its known receivers, in the user's
//! configuration directory (`$XDG_CONFIG_HOME/jetstream`, else `~/.config/jetstream`) unless
//! told another file.

mod choices;
mod config;
mod engine;
mod progress;
mod receive;
mod send;
mod size;

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
}

#[derive(Args)]
struct KeyArgs {
    /// Identity key file, created if missing [default: $XDG_CONFIG_HOME/jetstream/key, or
    /// ~/.config/jetstream/key].
    #[arg(long)]
    key_file: Option<PathBuf>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("JETSTREAM_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    // Read before any thread creates a file: received files get their mode bits less it.
    jetstream_engine::umask::umask();
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
        let work = async {
            match cli.command {
                Command::Receive(args) => receive::receive(args).await,
                Command::Send(args) => send::send(args).await,
                Command::Key(args) => print_key(&args),
            }
        };
        tokio::select! {
            result = work => Ok(result),
            // The engine and its state directory are dropped with `work`.
            signal = engine::terminated() => Err(signal),
        }
    });
    match result {
        Ok(Ok(())) => ExitCode::SUCCESS,
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
