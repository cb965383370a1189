//! TLS client side (RFC 5425) with rustls: trust store, client certificates, hostname
//! verification and certificate pinning, all resolved when the config is built so a bad file is
//! a config error, not a runtime surprise.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

/// TLS settings as configured, before any file is read.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub server_name: Option<String>,
    pub verify_hostname: bool,
    /// SHA-256 digests of acceptable leaf certificates (empty: no pinning).
    pub pins: Vec<[u8; 32]>,
    pub handshake_timeout: Duration,
}

/// A ready TLS client for one sink.
#[derive(Clone)]
pub struct TlsClient {
    pub config: Arc<ClientConfig>,
    pub server_name: ServerName<'static>,
    pub handshake_timeout: Duration,
}

impl std::fmt::Debug for TlsClient {
    // The config holds the client's private key: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClient").field("server_name", &self.server_name).finish_non_exhaustive()
    }
}

/// A TLS setting that could not be used; `key` is the config key (under `tls.`) at fault.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct TlsConfigError {
    pub key: &'static str,
    pub message: String,
}

fn error(key: &'static str, message: impl Into<String>) -> TlsConfigError {
    TlsConfigError { key, message: message.into() }
}

/// Parses a pin: 64 hex digits, colons allowed (as `openssl x509 -fingerprint -sha256` prints).
pub fn parse_pin(text: &str) -> Option<[u8; 32]> {
    let hex: Vec<u8> = text.bytes().filter(|&b| b != b':').collect();
    if hex.len() != 64 {
        return None;
    }
    let mut pin = [0u8; 32];
    for (byte, pair) in pin.iter_mut().zip(hex.chunks(2)) {
        let text = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(text, 16).ok()?;
    }
    Some(pin)
}

impl TlsSettings {
    /// Reads the files and builds the client. `url_host` is the host from the sink URL, used for
    /// verification and SNI unless `server_name` overrides it.
    pub fn build(&self, url_host: &str) -> Result<TlsClient, TlsConfigError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = Arc::new(self.root_store()?);
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| error("ca_file", format!("cannot build a verifier from the trust store: {e}")))?;
        let verifier = Arc::new(Verifier { webpki, verify_hostname: self.verify_hostname, pins: self.pins.clone() });
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| error("ca_file", format!("TLS provider: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match (&self.cert_file, &self.key_file) {
            (None, None) => builder.with_no_client_auth(),
            (Some(cert_file), Some(key_file)) => {
                let chain = read_certificates(cert_file).map_err(|m| error("cert_file", m))?;
                let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| {
                    error(
                        "key_file",
                        format!("cannot read a PEM private key from {}: {}", key_file.display(), pem_reason(&e)),
                    )
                })?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| error("key_file", format!("client certificate and key do not fit together: {e}")))?
            }
            (Some(_), None) => return Err(error("key_file", "expected a key_file to go with cert_file")),
            (None, Some(_)) => return Err(error("cert_file", "expected a cert_file to go with key_file")),
        };
        let name = self.server_name.as_deref().unwrap_or(url_host);
        let key = if self.server_name.is_some() { "server_name" } else { "url" };
        let server_name = ServerName::try_from(name.to_owned())
            .map_err(|_| error(key, format!("expected a DNS name or IP address, found {name:?}")))?;
        Ok(TlsClient { config: Arc::new(config), server_name, handshake_timeout: self.handshake_timeout })
    }

    fn root_store(&self) -> Result<RootCertStore, TlsConfigError> {
        let mut roots = RootCertStore::empty();
        match &self.ca_file {
            Some(path) => {
                for cert in read_certificates(path).map_err(|m| error("ca_file", m))? {
                    roots
                        .add(cert)
                        .map_err(|e| error("ca_file", format!("{}: unusable CA certificate: {e}", path.display())))?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                let (added, _ignored) = roots.add_parsable_certificates(found.certs);
                if added == 0 {
                    return Err(error(
                        "ca_file",
                        "the system trust store has no usable certificates: expected tls.ca_file",
                    ));
                }
            }
        }
        Ok(roots)
    }
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read PEM certificates from {}: {}", path.display(), pem_reason(&e)))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

/// Describes a PEM error without echoing file content (a key file must never reach a log).
fn pem_reason(error: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match error {
        Error::Io(io) => io.to_string(),
        Error::NoItemsFound => "no PEM section of the expected kind".to_owned(),
        _ => "malformed PEM".to_owned(),
    }
}

/// WebPKI verification, with hostname checking optional and leaf pinning on top.
#[derive(Debug)]
struct Verifier {
    webpki: Arc<WebPkiServerVerifier>,
    verify_hostname: bool,
    pins: Vec<[u8; 32]>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Ok(_) => {}
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.verify_hostname => {}
            Err(other) => return Err(other),
        }
        if !self.pins.is_empty() {
            let digest: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
            if !self.pins.contains(&digest) {
                return Err(rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(
                    PinMismatch,
                )))));
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("server certificate does not match tls.pin_sha256")]
struct PinMismatch;

#[cfg(test)]
mod tests {
    use super::parse_pin;

    #[test]
    fn pins_parse_with_or_without_colons() {
        let hex = "AB".repeat(32);
        let colons = vec!["ab"; 32].join(":");
        assert_eq!(parse_pin(&hex), Some([0xAB; 32]));
        assert_eq!(parse_pin(&colons), Some([0xAB; 32]));
        assert_eq!(parse_pin("abcd"), None);
        assert_eq!(parse_pin(&"zz".repeat(32)), None);
    }
}
