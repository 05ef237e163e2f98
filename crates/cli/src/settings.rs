//! The settings of `jetstream server`: its flags and the TOML file of `--config`, whose keys
//! are the flags' names without the dashes in front (`api-port = 8886`). A flag given on the
//! command line wins over the file; a switch (`--api-plain`) can only turn a setting on.

use crate::choices::{Cipher, MaxOverwrite};
use clap::{Args, ValueEnum};
use jetstream_engine::error::{Code, Error};
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

/// The flags of `jetstream server`.
#[derive(Args)]
pub struct ServerArgs {
    /// A TOML file of settings named like these flags (state-dir = "/var/lib/jetstream");
    /// flags given here win. SIGHUP reads it again (see `log-level`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory of the server's store, identity key, certificate and transfer logs (created
    /// if missing). Required, here or in the config file.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Directory that receives everything; nothing is written outside it [default:
    /// STATE_DIR/received].
    #[arg(long)]
    sandbox: Option<PathBuf>,
    /// Address the control port listens on [default: 127.0.0.1].
    #[arg(long)]
    api_host: Option<IpAddr>,
    /// TCP port of the control port, 0 picks a free one [default: 8886].
    #[arg(long)]
    api_port: Option<u16>,
    /// Serve the control port without TLS (allowed on a loopback address only).
    #[arg(long)]
    api_plain: bool,
    /// The control port's certificate chain (PEM) [default: a self-signed certificate made at
    /// the first start in STATE_DIR/api-tls]. Read again on SIGHUP.
    #[arg(long, value_name = "FILE")]
    api_tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --api-tls-cert.
    #[arg(long, value_name = "FILE")]
    api_tls_key: Option<PathBuf>,
    /// Serve the API to clients on other hosts too (otherwise only loopback clients).
    #[arg(long)]
    api_allow_remote_control: bool,
    /// Run every request without a login, with every right (allowed on a loopback address
    /// only). Otherwise clients log in with a user (`jetstream user add`) or an API token.
    #[arg(long)]
    api_no_auth: bool,
    /// Address transfers arrive at [default: 0.0.0.0].
    #[arg(long)]
    recv_host: Option<IpAddr>,
    /// UDP port transfers arrive at, 0 picks a free one [default: 8886].
    #[arg(long)]
    recv_port: Option<u16>,
    /// Be reached through the relay at this host too (`jetstream relay`), for a server behind
    /// a firewall: it opens a public port for this server, printed as `recv-relay ADDR`.
    #[arg(long)]
    recv_relay_host: Option<String>,
    /// The relay's control port [default: 8887].
    #[arg(long, requires = "recv_relay_host")]
    recv_relay_port: Option<u16>,
    /// The relay's identity key, which it must prove [default: any].
    #[arg(long, requires = "recv_relay_host")]
    recv_relay_key: Option<String>,
    /// Accept, besides the authorized clients kept in the store (addAuthorizedClientAsync),
    /// the senders whose keys this file lists: one key a line, then an optional comment; `#`
    /// lines and blank lines are ignored. Read again when it changes.
    #[arg(long = "authorized-keys", value_name = "FILE")]
    authorized_keys: Option<PathBuf>,
    /// Lowest cipher level accepted from senders [default: aes128].
    #[arg(long, value_enum)]
    min_cipher: Option<Cipher>,
    /// The most existing data a sender's overwrite mode may destroy [default: never].
    #[arg(long, value_enum)]
    max_overwrite: Option<MaxOverwrite>,
    /// Seconds a part file no session writes keeps its durable data for its sender to resume,
    /// from its last durable write; 0 keeps it until its transfer ends it [default: 86400].
    #[arg(long, value_name = "SECONDS")]
    keep_partial: Option<u64>,
    /// How log lines are written on stderr [default: text].
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
    /// Which log lines are written: a level (error, warn, info, debug, trace) or
    /// tracing-subscriber directives (info,jetstream_engine=debug) [default: JETSTREAM_LOG,
    /// else info]. Read again from the config file on SIGHUP.
    #[arg(long)]
    log_level: Option<String>,
    /// Most kilobits per second the receiver accepts from all senders together [default: what
    /// updateBandwidthLimits last set, else no cap].
    #[arg(long, value_name = "KBPS")]
    incoming_rate_limit: Option<f64>,
    /// Most kilobits per second all transfers send together [default: what
    /// updateBandwidthLimits last set, else no cap].
    #[arg(long, value_name = "KBPS")]
    outgoing_rate_limit: Option<f64>,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One line of text per event.
    Text,
    /// One JSON object per event.
    Json,
}

/// The config file: the flags' names and values.
#[derive(Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct File {
    state_dir: Option<PathBuf>,
    sandbox: Option<PathBuf>,
    api_host: Option<IpAddr>,
    api_port: Option<u16>,
    api_plain: Option<bool>,
    api_tls_cert: Option<PathBuf>,
    api_tls_key: Option<PathBuf>,
    api_allow_remote_control: Option<bool>,
    api_no_auth: Option<bool>,
    recv_host: Option<IpAddr>,
    recv_port: Option<u16>,
    recv_relay_host: Option<String>,
    recv_relay_port: Option<u16>,
    recv_relay_key: Option<String>,
    authorized_keys: Option<PathBuf>,
    min_cipher: Option<String>,
    max_overwrite: Option<String>,
    keep_partial: Option<u64>,
    log_format: Option<String>,
    log_level: Option<String>,
    incoming_rate_limit: Option<f64>,
    outgoing_rate_limit: Option<f64>,
}

/// Everything the server runs with, flags and file merged and checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub state_dir: PathBuf,
    pub sandbox: Option<PathBuf>,
    pub api_host: IpAddr,
    pub api_port: u16,
    pub api_plain: bool,
    /// The certificate chain and key files given, if any.
    pub api_tls: Option<(PathBuf, PathBuf)>,
    pub api_allow_remote_control: bool,
    pub api_no_auth: bool,
    pub recv_host: IpAddr,
    pub recv_port: u16,
    /// The relay's host, control port and key, when the server is reached through one.
    pub recv_relay_host: Option<String>,
    pub recv_relay_port: Option<u16>,
    pub recv_relay_key: Option<String>,
    /// The authorized-keys file of the senders accepted besides the store's.
    pub authorized_keys: Option<PathBuf>,
    pub min_cipher: Cipher,
    pub max_overwrite: MaxOverwrite,
    /// Seconds part files are kept for resumption (0: until their transfer ends them).
    pub keep_partial: u64,
    pub log_format: LogFormat,
    /// `None`: JETSTREAM_LOG, else info.
    pub log_level: Option<String>,
    /// Server-wide caps in kilobits per second set at start; `None` keeps the stored one.
    pub incoming_rate_limit: Option<f64>,
    pub outgoing_rate_limit: Option<f64>,
}

impl ServerArgs {
    /// The settings: these flags over the config file's, checked.
    pub fn settings(&self) -> Result<Settings, Error> {
        let file = match &self.config {
            Some(path) => read(path)?,
            None => File::default(),
        };
        let config = |key: &str| match &self.config {
            Some(path) => format!("{key} in {}", path.display()),
            None => key.to_owned(),
        };
        let state_dir = self.state_dir.clone().or(file.state_dir).ok_or_else(|| {
            Error::new(
                Code::InvalidArgument,
                "no state directory: pass --state-dir DIR, or state-dir in the --config file",
            )
        })?;
        let api_tls = match (
            self.api_tls_cert.clone().or(file.api_tls_cert),
            self.api_tls_key.clone().or(file.api_tls_key),
        ) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                return Err(Error::new(
                    Code::InvalidArgument,
                    "--api-tls-cert and --api-tls-key go together",
                ))
            }
        };
        let settings = Settings {
            state_dir,
            sandbox: self.sandbox.clone().or(file.sandbox),
            api_host: self
                .api_host
                .or(file.api_host)
                .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            api_port: self.api_port.or(file.api_port).unwrap_or(8886),
            api_plain: self.api_plain || file.api_plain.unwrap_or(false),
            api_tls,
            api_allow_remote_control: self.api_allow_remote_control
                || file.api_allow_remote_control.unwrap_or(false),
            api_no_auth: self.api_no_auth || file.api_no_auth.unwrap_or(false),
            recv_host: self
                .recv_host
                .or(file.recv_host)
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            recv_port: self.recv_port.or(file.recv_port).unwrap_or(8886),
            recv_relay_host: self.recv_relay_host.clone().or(file.recv_relay_host),
            recv_relay_port: self.recv_relay_port.or(file.recv_relay_port),
            recv_relay_key: self.recv_relay_key.clone().or(file.recv_relay_key),
            authorized_keys: self.authorized_keys.clone().or(file.authorized_keys),
            min_cipher: choice(self.min_cipher, file.min_cipher, &config("min-cipher"))?
                .unwrap_or(Cipher::Aes128),
            max_overwrite: choice(
                self.max_overwrite,
                file.max_overwrite,
                &config("max-overwrite"),
            )?
            .unwrap_or(MaxOverwrite::Never),
            keep_partial: self.keep_partial.or(file.keep_partial).unwrap_or(86_400),
            log_format: choice(self.log_format, file.log_format, &config("log-format"))?
                .unwrap_or(LogFormat::Text),
            log_level: self.log_level.clone().or(file.log_level),
            incoming_rate_limit: self.incoming_rate_limit.or(file.incoming_rate_limit),
            outgoing_rate_limit: self.outgoing_rate_limit.or(file.outgoing_rate_limit),
        };
        settings.check()?;
        Ok(settings)
    }
}

impl Settings {
    /// Refuses the combinations that would expose the API.
    fn check(&self) -> Result<(), Error> {
        let refuse = |why: String| Err(Error::new(Code::InvalidArgument, why));
        if self.api_plain && self.api_tls.is_some() {
            return refuse("--api-plain serves no TLS: it takes no --api-tls-cert".into());
        }
        if self.api_plain && !self.api_host.is_loopback() {
            return refuse(format!(
                "--api-plain serves the API unencrypted: it is allowed on a loopback address \
                 only, not on {}",
                self.api_host
            ));
        }
        if self.api_no_auth && (!self.api_host.is_loopback() || self.api_allow_remote_control) {
            return refuse(
                "--api-no-auth lets anyone who reaches the API do anything: it is allowed only \
                 on a loopback address, without --api-allow-remote-control"
                    .into(),
            );
        }
        Ok(())
    }
}

/// The config file at `path`.
fn read(path: &Path) -> Result<File, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::from(e).context(format!("config file {}", path.display())))?;
    toml::from_str(&text).map_err(|e| {
        Error::new(
            Code::InvalidArgument,
            format!("config file {}: {e}", path.display()),
        )
    })
}

/// The flag's value, else the file's (read as the flag reads it, named `key` in errors).
fn choice<T: ValueEnum + Copy>(
    flag: Option<T>,
    file: Option<String>,
    key: &str,
) -> Result<Option<T>, Error> {
    if flag.is_some() {
        return Ok(flag);
    }
    file.map(|value| {
        T::from_str(&value, true).map_err(|_| {
            let names: Vec<String> = T::value_variants()
                .iter()
                .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_owned()))
                .collect();
            Error::new(
                Code::InvalidArgument,
                format!("{key}: {value:?} is not one of {}", names.join(", ")),
            )
        })
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ServerArgs,
    }

    fn settings(flags: &[&str], file: &str) -> Result<Settings, Error> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.toml");
        std::fs::write(&path, file).unwrap();
        let mut argv = vec!["server", "--config", path.to_str().unwrap()];
        argv.extend(flags);
        Cli::parse_from(argv).args.settings()
    }

    #[test]
    fn flags_win_over_the_file_and_defaults_fill_the_rest() {
        let file = r#"
            state-dir = "/srv/state"
            api-port = 9000
            recv-port = 9001
            min-cipher = "aes256"
            log-format = "json"
            api-plain = true
            keep-partial = 600
            authorized-keys = "/etc/jetstream/senders"
        "#;
        let s = settings(&["--api-port", "7000", "--min-cipher", "auth"], file).unwrap();
        assert_eq!(
            s.authorized_keys.as_deref(),
            Some(Path::new("/etc/jetstream/senders"))
        );
        let flag = settings(&["--authorized-keys", "/other"], file).unwrap();
        assert_eq!(flag.authorized_keys.as_deref(), Some(Path::new("/other")));
        assert_eq!(s.state_dir, PathBuf::from("/srv/state"));
        assert_eq!((s.api_port, s.recv_port), (7000, 9001));
        assert_eq!(s.min_cipher, Cipher::Auth);
        assert_eq!(s.log_format, LogFormat::Json);
        assert!(s.api_plain);
        assert_eq!(s.api_host, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(s.recv_host, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(s.max_overwrite, MaxOverwrite::Never);
        assert_eq!(s.keep_partial, 600);
        let s = settings(&["--keep-partial", "0"], file).unwrap();
        assert_eq!(s.keep_partial, 0);
        let s = settings(&[], "state-dir = \"/s\"").unwrap();
        assert_eq!(s.keep_partial, 86_400);
    }

    #[test]
    fn bad_files_and_unsafe_combinations_are_refused_by_name() {
        let message = |flags: &[&str], file: &str| settings(flags, file).unwrap_err().message;
        assert!(message(&[], "api-port = 1").contains("state-dir"));
        assert!(message(&[], "state-dir = \"/s\"\napi-prot = 1").contains("api-prot"));
        assert!(message(&[], "state-dir = \"/s\"\nmin-cipher = \"rot13\"").contains("min-cipher"));
        assert!(message(&[], "state-dir = \"/s\"\napi-port = \"x\"").contains("api-port"));
        assert!(message(
            &["--api-host", "0.0.0.0"],
            "state-dir = \"/s\"\napi-plain = true"
        )
        .contains("loopback"));
        assert!(message(
            &[],
            "state-dir = \"/s\"\napi-no-auth = true\napi-host = \"10.0.0.1\""
        )
        .contains("loopback"));
        assert!(
            message(&[], "state-dir = \"/s\"\napi-tls-cert = \"/c.pem\"").contains("go together")
        );
    }
}
