//! A throwaway certificate authority and the server certificate it signs
//! (rcgen), as PEM files a client can be told to trust, and as the rustls
//! configuration the server presents.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Why the certificates could not be made, written or used.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("cannot generate the test certificates")]
    Generate(#[from] rcgen::Error),
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot build the TLS configuration")]
    Tls(#[from] rustls::Error),
}

/// A CA and a server certificate it signed for `localhost`, `127.0.0.1`
/// and `::1`, valid from now on (rcgen's defaults), made fresh each time.
pub struct TestPki {
    ca_pem: String,
    cert_der: CertificateDer<'static>,
    cert_pem: String,
    key_der: Vec<u8>,
    key_pem: String,
}

/// Where [`TestPki::write_to`] put the files.
#[derive(Debug, Clone)]
pub struct PkiFiles {
    /// The CA certificate (PEM): what the client trusts.
    pub ca: PathBuf,
    /// The server certificate (PEM).
    pub cert: PathBuf,
    /// The server's private key (PEM, PKCS#8).
    pub key: PathBuf,
}

impl TestPki {
    pub fn generate() -> Result<Self, PkiError> {
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "knap test-server CA");
        let ca_cert = ca.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate()?;
        let mut leaf = CertificateParams::new(vec!["localhost".to_string()])?;
        leaf.distinguished_name
            .push(DnType::CommonName, "knap test-server");
        leaf.subject_alt_names.extend([
            SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        ]);
        let cert = leaf.signed_by(&key, &issuer)?;
        Ok(Self {
            ca_pem: ca_cert.pem(),
            cert_der: cert.der().clone(),
            cert_pem: cert.pem(),
            key_der: key.serialize_der(),
            key_pem: key.serialize_pem(),
        })
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Writes `ca.pem`, `server.pem` and `server.key` into `dir` (created
    /// if missing).
    pub fn write_to(&self, dir: &Path) -> Result<PkiFiles, PkiError> {
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::create_dir_all(dir)
                .and_then(|()| std::fs::write(&path, text))
                .map_err(|source| PkiError::Write {
                    path: path.clone(),
                    source,
                })?;
            Ok::<_, PkiError>(path)
        };
        Ok(PkiFiles {
            ca: write("ca.pem", &self.ca_pem)?,
            cert: write("server.pem", &self.cert_pem)?,
            key: write("server.key", &self.key_pem)?,
        })
    }

    /// The server side: this certificate, offering `alpn` in order.
    pub(crate) fn server_config(
        &self,
        alpn: &[&[u8]],
    ) -> Result<Arc<rustls::ServerConfig>, PkiError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![self.cert_der.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone())),
            )?;
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(cfg))
    }
}
