//! Reaching a server's control port from the command line: the flags that say how to trust it
//! and whom to log in as, and the one connect-and-log-in `jetstream api` and
//! `jetstream send --server` share (`jetstream download` trusts the same way and logs in with a
//! shared token).

use clap::Args;
use jetstream_control::{Client, ClientOptions};
use jetstream_engine::error::Error;
use std::path::PathBuf;

/// The environment variable the password of `--user` comes from (else it is asked for).
const PASSWORD_VAR: &str = "JETSTREAM_API_PASSWORD";
/// The environment variable an API token may come from instead of `--token`.
const TOKEN_VAR: &str = "JETSTREAM_API_TOKEN";

/// How to trust a control port.
#[derive(Args)]
pub struct TrustArgs {
    /// Trust the server whose certificate has this fingerprint (what it prints as
    /// api-fingerprint).
    #[arg(long, conflicts_with = "ca")]
    fingerprint: Option<String>,
    /// Trust the server certificates this CA (PEM file) issued.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Plain HTTP instead of TLS (a server started with --api-plain).
    #[arg(long, conflicts_with_all = ["fingerprint", "ca"])]
    plain: bool,
}

impl TrustArgs {
    /// A client of the control port at `host`:`port`, trusted as these flags say, sending the
    /// bearer `token` if any.
    pub async fn connect(
        &self,
        host: &str,
        port: u16,
        token: Option<String>,
    ) -> Result<Client, Error> {
        let options = ClientOptions {
            plain: self.plain,
            fingerprint: self.fingerprint.clone(),
            ca: self.ca.clone(),
            token,
        };
        Client::connect(host, port, options).await
    }
}

/// How to trust a control port and log in to it.
#[derive(Args)]
pub struct ControlArgs {
    /// Log in as this user; the password comes from JETSTREAM_API_PASSWORD, or is asked for.
    #[arg(long, conflicts_with = "token")]
    user: Option<String>,
    /// An API token to send instead of logging in [default: JETSTREAM_API_TOKEN].
    #[arg(long)]
    token: Option<String>,
    #[command(flatten)]
    trust: TrustArgs,
}

/// A client of the control port at `host`:`port`, trusted and logged in as `args` say: with
/// `--user` it logs in, else it sends the API token given, if any.
pub async fn connect(host: &str, port: u16, args: &ControlArgs) -> Result<Client, Error> {
    let token = args
        .token
        .clone()
        .or_else(|| std::env::var(TOKEN_VAR).ok().filter(|t| !t.is_empty()));
    let token = if args.user.is_some() { None } else { token };
    let client = args.trust.connect(host, port, token).await?;
    if let Some(user) = &args.user {
        client.auth(user, &password(user)?).await?;
    }
    Ok(client)
}

/// The password of `user`: from the environment, else typed without echo.
fn password(user: &str) -> Result<String, Error> {
    if let Ok(password) = std::env::var(PASSWORD_VAR) {
        return Ok(password);
    }
    rpassword::prompt_password(format!("password for {user}: ")).map_err(|e| {
        Error::from(e).context(format!(
            "reading the password (set {PASSWORD_VAR} when there is no terminal)"
        ))
    })
}
