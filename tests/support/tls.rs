//! Certificates made per test run (rcgen): a test CA, server certificates it signs (for
//! `localhost` and 127.0.0.1, or expired, or for another name), a connector that trusts
//! the CA and one that trusts nothing, and PEM files for the real peers (Python's ssl,
//! openssl) in a directory removed on drop. No key here protects anything.

use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use ringstream::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use ringstream::tls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use ringstream::tls::{TlsAcceptor, TlsConnector};

/// A test CA and what it issued.
pub struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
    /// Where `ca.pem`, `cert.pem` and `key.pem` (the `localhost` server's) are.
    pub dir: PathBuf,
}

/// A server certificate and its key.
pub struct Leaf {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub cert_pem: String,
    pub key_pem: String,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl Pki {
    pub fn new() -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        // A name of its own: a client that trusts another test CA must not find this one
        // by name.
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            format!("ringstream test CA {} {n}", std::process::id()),
        );
        let ca =
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("ca key")).expect("ca");
        let dir = std::env::temp_dir().join(format!("ringstream-tls-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let pki = Pki { ca, dir };
        let leaf = pki.leaf(&["localhost", "127.0.0.1"], false);
        std::fs::write(pki.dir.join("ca.pem"), pki.ca.pem()).expect("ca.pem");
        std::fs::write(pki.dir.join("cert.pem"), &leaf.cert_pem).expect("cert.pem");
        std::fs::write(pki.dir.join("key.pem"), &leaf.key_pem).expect("key.pem");
        pki
    }

    /// A server certificate for `names`, signed by the CA; `expired` ended in 2020.
    pub fn leaf(&self, names: &[&str], expired: bool) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("leaf params");
        if expired {
            params.not_before = rcgen::date_time_ymd(2019, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 1, 1);
        }
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.ca).expect("signed");
        let key_der = PrivateKeyDer::try_from(key.serialize_der()).expect("key der");
        Leaf {
            chain: vec![cert.der().clone()],
            key: key_der,
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A server config serving `leaf`, offering `alpn`.
    pub fn server_config(&self, leaf: Leaf, alpn: &[&[u8]]) -> ServerConfig {
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(leaf.chain, leaf.key)
            .expect("server config");
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        config
    }

    /// An acceptor serving the `localhost` certificate.
    pub fn acceptor(&self) -> TlsAcceptor {
        let leaf = self.leaf(&["localhost", "127.0.0.1"], false);
        TlsAcceptor::new(Arc::new(self.server_config(leaf, &[])))
    }

    /// A client config that trusts this CA, offering `alpn`.
    pub fn client_config(&self, alpn: &[&[u8]]) -> ClientConfig {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.der().clone()).expect("root");
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        config
    }

    /// A connector that trusts this CA.
    pub fn connector(&self) -> TlsConnector {
        TlsConnector::new(Arc::new(self.client_config(&[])))
    }

    pub fn ca_pem(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    pub fn cert_pem(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }

    pub fn key_pem(&self) -> PathBuf {
        self.dir.join("key.pem")
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
