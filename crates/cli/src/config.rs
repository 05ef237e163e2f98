//! Where the command-line tool keeps what it remembers for its user: the identity key and the
//! known receivers, in `$XDG_CONFIG_HOME/jetstream`, else `~/.config/jetstream`.

use jetstream_engine::error::{Code, Error};
use jetstream_engine::identity;
use jetstream_wire::crypto::handshake::Identity;
use std::path::PathBuf;

/// The file `name` in this user's jetstream configuration directory; `flag` names the option
/// that does without it, for the error when neither `XDG_CONFIG_HOME` nor `HOME` is set.
pub fn file(name: &str, flag: &str) -> Result<PathBuf, Error> {
    let absolute = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|path| path.is_absolute())
    };
    let dir = absolute("XDG_CONFIG_HOME")
        .or_else(|| absolute("HOME").map(|home| home.join(".config")))
        .ok_or_else(|| {
            Error::new(
                Code::InvalidArgument,
                format!("neither XDG_CONFIG_HOME nor HOME is set: pass {flag} FILE"),
            )
        })?;
    Ok(dir.join("jetstream").join(name))
}

/// The identity in the key file at `path`, or else in the configuration directory's `key`;
/// made there at first use.
pub fn identity(path: Option<PathBuf>) -> Result<Identity, Error> {
    let path = match path {
        Some(path) => path,
        None => file("key", "--key-file")?,
    };
    identity::load_or_create(&path)
}
