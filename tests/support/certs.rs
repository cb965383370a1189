//! A throw-away PKI made per test with rcgen: a CA, a server certificate for `localhost` and
//! `127.0.0.1`, and a client certificate, written as PEM files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub struct Pki {
    pub ca_file: PathBuf,
    pub server_cert_file: PathBuf,
    pub server_key_file: PathBuf,
    pub client_cert_file: PathBuf,
    pub client_key_file: PathBuf,
    pub ca_der: CertificateDer<'static>,
    pub server_der: CertificateDer<'static>,
    server_key_der: Vec<u8>,
}

fn ca(name: &str) -> (rcgen::Certificate, KeyPair) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("self-signed");
    (cert, key)
}

impl Pki {
    /// Makes a CA and certificates signed by it; `server_names` become the server's SANs.
    pub fn new(dir: &Path, server_names: &[&str]) -> Pki {
        let (ca_cert, ca_key) = ca("siem-relay test CA");
        let mut server =
            CertificateParams::new(server_names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("params");
        server.distinguished_name.push(DnType::CommonName, "test receiver");
        let server_key = KeyPair::generate().expect("key");
        let server_cert = server.signed_by(&server_key, &ca_cert, &ca_key).expect("sign");
        let mut client = CertificateParams::new(vec!["siem-relay-client".to_owned()]).expect("params");
        client.distinguished_name.push(DnType::CommonName, "siem-relay client");
        client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_key = KeyPair::generate().expect("key");
        let client_cert = client.signed_by(&client_key, &ca_cert, &ca_key).expect("sign");

        let write = |name: &str, pem: String| {
            let path = dir.join(name);
            std::fs::write(&path, pem).expect("write pem");
            path
        };
        Pki {
            ca_file: write("ca.pem", ca_cert.pem()),
            server_cert_file: write("server.pem", server_cert.pem()),
            server_key_file: write("server.key", server_key.serialize_pem()),
            client_cert_file: write("client.pem", client_cert.pem()),
            client_key_file: write("client.key", client_key.serialize_pem()),
            ca_der: ca_cert.der().clone(),
            server_der: server_cert.der().clone(),
            server_key_der: server_key.serialize_der(),
        }
    }

    /// A second, unrelated CA file (for "wrong CA" tests).
    pub fn other_ca_file(dir: &Path) -> PathBuf {
        let (cert, _) = ca("some other CA");
        let path = dir.join("other-ca.pem");
        std::fs::write(&path, cert.pem()).expect("write pem");
        path
    }

    /// SHA-256 of the server certificate, as hex with colons.
    pub fn server_pin(&self) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(self.server_der.as_ref());
        digest.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
    }

    /// A rustls server config for the test receiver; with `require_client_cert`, clients must
    /// present a certificate signed by the CA.
    pub fn server_config(&self, require_client_cert: bool) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("versions");
        let builder = if require_client_cert {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(self.ca_der.clone()).expect("ca");
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("verifier");
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key_der.clone()));
        Arc::new(builder.with_single_cert(vec![self.server_der.clone()], key).expect("server cert"))
    }
}
