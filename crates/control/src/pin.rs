//! Trusting a control port by the fingerprint of its certificate: the SHA-256 of the
//! certificate's DER that the server prints at its start (`api-fingerprint sha256:HEX`),
//! compared with the certificate the server presents, whatever names it carries.

use crate::tls::fingerprint;
use jetstream_engine::error::{Code, Error, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};
use std::sync::Arc;

/// Accepts only the certificate with one fingerprint.
#[derive(Debug)]
pub(crate) struct Pinned {
    /// `sha256:` and lower-case hex.
    fingerprint: String,
    algorithms: WebPkiSupportedAlgorithms,
}

impl Pinned {
    /// Pins the certificate whose fingerprint is `fingerprint` (as [`parse`] reads it).
    pub(crate) fn new(fingerprint: &str) -> Result<Pinned> {
        Ok(Pinned {
            fingerprint: parse(fingerprint)?,
            algorithms: crate::tls::provider().signature_verification_algorithms,
        })
    }
}

/// The server presented another certificate than the pinned one.
#[derive(Debug, thiserror::Error)]
#[error("the control port's certificate is {presented}, not the pinned {pinned}")]
struct Mismatch {
    presented: String,
    pinned: String,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let presented = fingerprint(end_entity);
        if presented == self.fingerprint {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(Mismatch {
                    presented,
                    pinned: self.fingerprint.clone(),
                })),
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A fingerprint as `sha256:` and lower-case hex, from `sha256:HEX` or bare `HEX`, in either
/// case, with or without `:` between the bytes.
pub fn parse(text: &str) -> Result<String> {
    let hex_part = text
        .get(..7)
        .filter(|prefix| prefix.eq_ignore_ascii_case("sha256:"))
        .map_or(text, |_| &text[7..]);
    let digits: String = hex_part
        .chars()
        .filter(|&c| c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if digits.len() != 64 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Error::new(
            Code::InvalidArgument,
            format!("fingerprint {text:?}: expected sha256: and 64 hex digits"),
        ));
    }
    Ok(format!("sha256:{digits}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_is_read_in_any_of_its_spellings() {
        let hex = "ab".repeat(32);
        let expected = format!("sha256:{hex}");
        assert_eq!(parse(&expected).unwrap(), expected);
        assert_eq!(parse(&hex.to_uppercase()).unwrap(), expected);
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(parse(&format!("SHA256:{colons}")).unwrap(), expected);
        for bad in [
            "",
            "sha256:",
            "sha256:abc",
            &format!("md5:{hex}"),
            &"zz".repeat(32),
        ] {
            assert_eq!(parse(bad).unwrap_err().code, Code::InvalidArgument, "{bad}");
        }
    }
}
