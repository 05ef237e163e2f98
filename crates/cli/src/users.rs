//! `jetstream user add|del|list`: the accounts a `jetstream server` lets log in to its control
//! port, kept in its state directory's store (the server need not be stopped).

use clap::{Args, Subcommand};
use jetstream_engine::error::{Code, Error};
use jetstream_engine::server::store_file;
use jetstream_engine::store::Store;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The environment variable a new user's password may come from (else it is asked for).
const PASSWORD_VAR: &str = "JETSTREAM_PASSWORD";

#[derive(Args)]
pub struct UserArgs {
    #[command(subcommand)]
    command: UserCommand,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user; the password comes from JETSTREAM_PASSWORD, or is asked for.
    Add {
        /// The server's state directory.
        #[arg(long)]
        state_dir: PathBuf,
        /// The name the user logs in with.
        name: String,
    },
    /// Delete a user.
    Del {
        /// The server's state directory.
        #[arg(long)]
        state_dir: PathBuf,
        /// The user's name.
        name: String,
    },
    /// List the users: name and creation time (Unix µs), one a line.
    List {
        /// The server's state directory.
        #[arg(long)]
        state_dir: PathBuf,
    },
}

/// Runs a `user` subcommand.
pub fn run(args: UserArgs) -> Result<(), Error> {
    match args.command {
        UserCommand::Add { state_dir, name } => {
            if name.trim().is_empty() {
                return Err(Error::new(Code::InvalidArgument, "the user name is blank"));
            }
            let password = password(&name)?;
            open(&state_dir)?.add_user(&name, &password, now())?;
            eprintln!("user {name} added");
        }
        UserCommand::Del { state_dir, name } => {
            open(&state_dir)?.delete_user(&name)?;
            eprintln!("user {name} deleted");
        }
        UserCommand::List { state_dir } => {
            for user in open(&state_dir)?.list_users()? {
                println!("{} {}", user.user_name, user.creation_time);
            }
        }
    }
    Ok(())
}

/// The store of the server whose state directory is `state_dir`, made if missing.
fn open(state_dir: &Path) -> Result<Store, Error> {
    std::fs::create_dir_all(state_dir)
        .map_err(|e| Error::from(e).context(format!("state directory {}", state_dir.display())))?;
    Ok(Store::open(&store_file(state_dir))?)
}

/// The new user's password: from the environment, else typed twice without echo.
fn password(name: &str) -> Result<String, Error> {
    if let Ok(password) = std::env::var(PASSWORD_VAR) {
        return non_empty(password);
    }
    let read = |prompt: &str| {
        rpassword::prompt_password(prompt).map_err(|e| {
            Error::from(e).context(format!(
                "reading the password (set {PASSWORD_VAR} when there is no terminal)"
            ))
        })
    };
    let password = read(&format!("password for {name}: "))?;
    if read("again: ")? != password {
        return Err(Error::new(Code::InvalidArgument, "the passwords differ"));
    }
    non_empty(password)
}

fn non_empty(password: String) -> Result<String, Error> {
    if password.is_empty() {
        return Err(Error::new(Code::InvalidArgument, "the password is empty"));
    }
    Ok(password)
}

/// The current Unix time in microseconds.
fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}
