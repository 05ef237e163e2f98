//! Where the command-line tool keeps what it remembers for its user: the identity key and the
//! known receivers, in `$XDG_CONFIG_HOME/jetstream`, else `~/.config/jetstream`.

use jetstream_engine::error::{Code, Error};
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

/// The identity key file: `path`, or else the configuration directory's `key`.
pub fn key_file(path: Option<PathBuf>) -> Result<PathBuf, Error> {
    match path {
        Some(path) => Ok(path),
        None => file("key", "--key-file"),
    }
}
