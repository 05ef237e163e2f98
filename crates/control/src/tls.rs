//! The control port's TLS identity: a certificate and key given by the operator, or a
//! self-signed pair made at the first start and kept in the state directory, and the
//! fingerprint clients pin it by.

use jetstream_engine::error::{Code, Error, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;

/// The self-signed certificate's file in its directory.
pub const CERT_FILE: &str = "cert.pem";
/// The self-signed certificate's private key in its directory (mode 0600).
pub const KEY_FILE: &str = "key.pem";

/// The certificate the control port presents and the TLS settings it serves with.
#[derive(Clone)]
pub struct TlsIdentity {
    pub(crate) config: Arc<ServerConfig>,
    fingerprint: String,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// The certificate chain in the PEM file `cert` (the server's own certificate first) and
    /// its private key in the PEM file `key`.
    pub fn load(cert: &Path, key: &Path) -> Result<TlsIdentity> {
        let invalid = |path: &Path, why: String| {
            Error::new(
                Code::InvalidArgument,
                format!("TLS {}: {why}", path.display()),
            )
        };
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<std::result::Result<Vec<_>, _>>())
            .map_err(|e| invalid(cert, e.to_string()))?;
        if chain.is_empty() {
            return Err(invalid(cert, "no certificate in the file".into()));
        }
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| invalid(key, e.to_string()))?;
        let fingerprint = fingerprint(&chain[0]);
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .and_then(|builder| builder.with_no_client_auth().with_single_cert(chain, key))
            .map_err(|e| invalid(cert, e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsIdentity {
            config: Arc::new(config),
            fingerprint,
        })
    }

    /// The self-signed identity kept in `dir` (`cert.pem`, `key.pem`), made there first if
    /// missing, for the names `names` (host names and addresses).
    pub fn load_or_create(dir: &Path, names: &[String]) -> Result<TlsIdentity> {
        let cert = dir.join(CERT_FILE);
        let key = dir.join(KEY_FILE);
        if !cert.exists() || !key.exists() {
            create(dir, names)?;
        }
        TlsIdentity::load(&cert, &key)
    }

    /// `sha256:` and the lower-case hex SHA-256 of the certificate's DER.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

/// The cryptography TLS runs on, for the port and its clients: *ring*, as everywhere in the
/// engine (rustls deprecates it for its lack of post-quantum key exchange, which the other
/// provider has at the cost of a C and assembly build).
#[allow(deprecated)]
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// `sha256:` and the lower-case hex SHA-256 of `cert`.
pub fn fingerprint(cert: &[u8]) -> String {
    format!(
        "sha256:{}",
        hex::encode(ring::digest::digest(&ring::digest::SHA256, cert))
    )
}

/// Makes a self-signed certificate for `names` and its key in `dir`.
fn create(dir: &Path, names: &[String]) -> Result<()> {
    let io = |what: &Path, e: std::io::Error| Error::from(e).context(what.display());
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| io(dir, e))?;
    let made = rcgen::generate_simple_self_signed(names.to_vec()).map_err(|e| {
        Error::new(
            Code::Internal,
            format!("making the control port's certificate: {e}"),
        )
    })?;
    // The key first: a certificate without its key is made again at the next start.
    write(
        &dir.join(KEY_FILE),
        made.signing_key.serialize_pem().as_bytes(),
        0o600,
    )?;
    write(&dir.join(CERT_FILE), made.cert.pem().as_bytes(), 0o644)
}

/// Writes `contents` to a new file `path` with `mode`, through a temporary file so that a
/// crash leaves no half-written file.
fn write(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let io = |e: std::io::Error| Error::from(e).context(path.display());
    let partial = path.with_extension("partial");
    // A leftover from a crash may have another mode, which opening would keep.
    let _ = fs::remove_file(&partial);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&partial)
        .map_err(io)?;
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)?;
    fs::rename(&partial, path).map_err(io)
}
