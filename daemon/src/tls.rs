//! STARTTLS (RFC 3207) with rustls, from sendmail's options:
//! ServerCertFile (the certificate chain, PEM) and ServerKeyFile (its key).
//!
//! mtad does not ask clients for certificates: sendmail asks and records
//! the result (`${verify}`) without refusing anyone, and rustls would end
//! the handshake on a certificate it cannot verify instead. So `${verify}`
//! is always NO; CACertFile is read and checked at start-up so that a
//! broken one is reported, for the day client certificates are verified.

use cfparser::Config;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// The acceptor, when a certificate is configured; `None` when not (and
/// then STARTTLS is not offered).
pub fn acceptor(config: &Config) -> Result<Option<TlsAcceptor>, String> {
    let cert = config.text("ServerCertFile").filter(|s| !s.is_empty());
    let key = config.text("ServerKeyFile").filter(|s| !s.is_empty());
    let (cert, key) = match (cert, key) {
        (None, None) => return Ok(None),
        (Some(c), Some(k)) => (c, k),
        (Some(_), None) => return Err("ServerCertFile is set but ServerKeyFile is not".into()),
        (None, Some(_)) => return Err("ServerKeyFile is set but ServerCertFile is not".into()),
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .map_err(|e| format!("ServerCertFile {cert}: {e}"))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("ServerCertFile {cert}: {e}"))?;
    if chain.is_empty() {
        return Err(format!("ServerCertFile {cert}: no certificate in it"));
    }
    let key =
        PrivateKeyDer::from_pem_file(&key).map_err(|e| format!("ServerKeyFile {key}: {e}"))?;
    if let Some(ca) = config.text("CACertFile").filter(|s| !s.is_empty()) {
        CertificateDer::pem_file_iter(&ca)
            .map_err(|e| format!("CACertFile {ca}: {e}"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("CACertFile {ca}: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("ServerCertFile/ServerKeyFile: {e}"))?;
    Ok(Some(TlsAcceptor::from(Arc::new(server))))
}

/// What sendmail's `${tls_version}`, `${cipher}` and `${cipher_bits}`
/// say about an established connection.
pub fn describe(conn: &rustls::ServerConnection) -> (String, String, String) {
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
        _ => "TLS",
    };
    let (cipher, bits) = match conn.negotiated_cipher_suite() {
        Some(s) => {
            let name = format!("{:?}", s.suite());
            let bits = if name.contains("256") || name.contains("CHACHA20") {
                "256"
            } else {
                "128"
            };
            (name, bits)
        }
        None => ("unknown".to_string(), "0"),
    };
    (version.to_string(), cipher, bits.to_string())
}
