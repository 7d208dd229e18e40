//! STARTTLS (RFC 3207) with rustls, from sendmail's options:
//! ServerCertFile (the certificate chain, PEM), ServerKeyFile (its key)
//! and CACertFile (the CAs whose client certificates are trusted).
//!
//! Client certificates work as in sendmail: with a CACertFile, the server
//! asks for one and records the verdict in `${verify}` (OK, FAIL, or NO
//! when none was sent) without refusing anyone. rustls' own verifier would
//! end the handshake on a certificate it cannot verify, so the handshake
//! accepts any certificate whose key the client proves it holds, and the
//! chain is checked against CACertFile right after, for `${verify}`.

use cfparser::Config;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::UnixTime;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// What STARTTLS needs: the acceptor, and the CACertFile verifier that
/// decides `${verify}`.
#[derive(Clone)]
pub struct Tls {
    pub acceptor: TlsAcceptor,
    trusted: Option<Arc<dyn ClientCertVerifier>>,
}

impl Tls {
    /// sendmail's `${verify}` for an established connection.
    pub fn verify(&self, conn: &rustls::ServerConnection) -> &'static str {
        let (Some(trusted), Some(chain)) = (&self.trusted, conn.peer_certificates()) else {
            return "NO";
        };
        let Some((leaf, intermediates)) = chain.split_first() else {
            return "NO";
        };
        match trusted.verify_client_cert(leaf, intermediates, UnixTime::now()) {
            Ok(_) => "OK",
            Err(_) => "FAIL",
        }
    }
}

/// The acceptor, when a certificate is configured; `None` when not (and
/// then STARTTLS is not offered).
pub fn acceptor(config: &Config) -> Result<Option<Tls>, String> {
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
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let trusted = match config.text("CACertFile").filter(|s| !s.is_empty()) {
        None => None,
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in
                CertificateDer::pem_file_iter(&ca).map_err(|e| format!("CACertFile {ca}: {e}"))?
            {
                let cert = cert.map_err(|e| format!("CACertFile {ca}: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("CACertFile {ca}: {e}"))?;
            }
            if roots.is_empty() {
                return Err(format!("CACertFile {ca}: no certificate in it"));
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .allow_unauthenticated()
                    .build()
                    .map_err(|e| format!("CACertFile {ca}: {e}"))?;
            Some(verifier)
        }
    };
    let builder = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = match &trusted {
        Some(v) => builder.with_client_cert_verifier(Arc::new(AskOnly(v.clone()))),
        None => builder.with_no_client_auth(),
    };
    let server = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("ServerCertFile/ServerKeyFile: {e}"))?;
    Ok(Some(Tls {
        acceptor: TlsAcceptor::from(Arc::new(server)),
        trusted,
    }))
}

/// Asks for a client certificate and checks that the client holds its
/// key, but lets every certificate through the handshake: the verdict
/// against CACertFile is [`Tls::verify`]'s, after it.
#[derive(Debug)]
struct AskOnly(Arc<dyn ClientCertVerifier>);

impl ClientCertVerifier for AskOnly {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
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
