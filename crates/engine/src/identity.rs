//! The node's long-term identity key: loaded from its key file, or created there on first use.

use crate::error::{Code, Error, Result};
use jetstream_wire::crypto::handshake::{Identity, PublicKey};
use ring::rand::SystemRandom;
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// `text` as a public key in its canonical form (lower-case hex), or why it is not one.
pub fn public_key(text: &str) -> Result<String> {
    text.parse::<PublicKey>()
        .map(|key| key.to_string())
        .map_err(|e| Error::new(Code::InvalidArgument, e.to_string()))
}

/// Loads the identity stored at `path` (PKCS#8), or generates one and stores it there
/// (readable by the owner only).
pub fn load_or_create(path: &Path) -> Result<Identity> {
    match fs::read(path) {
        Ok(der) => Identity::from_pkcs8(&der).map_err(|e| {
            Error::new(
                Code::InvalidArgument,
                format!("{} is not a key file: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let identity = generate()?;
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir)?;
            }
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| io_error(path, e))?;
            file.write_all(identity.pkcs8())?;
            Ok(identity)
        }
        Err(e) => Err(io_error(path, e)),
    }
}

/// A failure to read or write the key file at `path`.
fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::new(Code::Io, format!("{}: {e}", path.display())).with_source(e)
}

/// A fresh identity that lives only in memory.
pub fn generate() -> Result<Identity> {
    Identity::generate(&SystemRandom::new())
        .map_err(|e| Error::new(Code::Internal, format!("cannot generate a key: {e}")))
}
