//! What a TLS client and a TLS server are configured with: a rustls config and asyncio's
//! two timeouts.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

use crate::transport::conn::TlsSetup;

/// asyncio's default `ssl_handshake_timeout`.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);
/// asyncio's default `ssl_shutdown_timeout`.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// The client side of TLS: a rustls [`ClientConfig`] and the handshake and shutdown
/// timeouts (asyncio's `ssl=` context with `ssl_handshake_timeout` and
/// `ssl_shutdown_timeout`). Cheap to clone; make one and share it.
///
/// ```
/// use std::time::Duration;
///
/// let connector = ringstream::tls::TlsConnector::with_webpki_roots()?
///     .handshake_timeout(Duration::from_secs(10));
/// # drop(connector);
/// # Ok::<(), std::io::Error>(())
/// ```
#[doc(alias = "SSLContext")]
#[doc(alias = "ssl")]
#[derive(Debug, Clone)]
pub struct TlsConnector {
    config: Arc<ClientConfig>,
    handshake_timeout: Duration,
    shutdown_timeout: Duration,
}

impl TlsConnector {
    /// A connector with `config` and the default timeouts (60 s handshake, 30 s shutdown).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use ringstream::tls::{rustls, TlsConnector};
    ///
    /// let provider = Arc::new(rustls::crypto::ring::default_provider());
    /// let config = rustls::ClientConfig::builder_with_provider(provider)
    ///     .with_safe_default_protocol_versions()
    ///     .unwrap()
    ///     .with_root_certificates(rustls::RootCertStore::empty())
    ///     .with_no_client_auth();
    /// let connector = TlsConnector::new(Arc::new(config));
    /// # drop(connector);
    /// ```
    pub fn new(config: Arc<ClientConfig>) -> TlsConnector {
        TlsConnector {
            config,
            handshake_timeout: HANDSHAKE_TIMEOUT,
            shutdown_timeout: SHUTDOWN_TIMEOUT,
        }
    }

    /// A connector that trusts the public web's certificate authorities (Mozilla's list,
    /// compiled in through `webpki-roots`, so it works without a CA bundle on the machine),
    /// TLS 1.2 and 1.3, no client certificate.
    ///
    /// ```
    /// let connector = ringstream::tls::TlsConnector::with_webpki_roots()?;
    /// # drop(connector);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// Only if the crypto provider refused the protocol versions (it supports both).
    pub fn with_webpki_roots() -> io::Result<TlsConnector> {
        trusting(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        })
    }

    /// A connector that trusts the CA certificates in the PEM file `ca_pem` (a private
    /// CA, or a self-signed server certificate, which is its own CA), TLS 1.2 and 1.3, no
    /// client certificate: Python's `ssl.create_default_context(cafile=...)`.
    ///
    /// ```no_run
    /// let connector = ringstream::tls::TlsConnector::with_ca_file("ca.pem")?;
    /// # drop(connector);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// A file that cannot be read or holds no usable certificate (`InvalidData`, naming the
    /// file).
    #[doc(alias = "cafile")]
    pub fn with_ca_file(ca_pem: impl AsRef<Path>) -> io::Result<TlsConnector> {
        let ca_pem = ca_pem.as_ref();
        let mut roots = RootCertStore::empty();
        let (added, _) = roots.add_parsable_certificates(certificates(ca_pem, "CA certificates")?);
        if added == 0 {
            return Err(unreadable(
                ca_pem,
                "CA certificates",
                &"no usable CERTIFICATE block in the file",
            ));
        }
        trusting(roots)
    }

    /// How long the handshake may take (asyncio's `ssl_handshake_timeout`; default 60 s).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let connector = ringstream::tls::TlsConnector::with_webpki_roots()?
    ///     .handshake_timeout(Duration::from_secs(5));
    /// # drop(connector);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[doc(alias = "ssl_handshake_timeout")]
    pub fn handshake_timeout(mut self, timeout: Duration) -> TlsConnector {
        self.handshake_timeout = timeout;
        self
    }

    /// How long `close()` may take to send what is queued and `close_notify` before the
    /// connection is aborted (asyncio's `ssl_shutdown_timeout`; default 30 s).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let connector = ringstream::tls::TlsConnector::with_webpki_roots()?
    ///     .shutdown_timeout(Duration::from_secs(5));
    /// # drop(connector);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[doc(alias = "ssl_shutdown_timeout")]
    pub fn shutdown_timeout(mut self, timeout: Duration) -> TlsConnector {
        self.shutdown_timeout = timeout;
        self
    }

    /// The rustls config.
    ///
    /// ```
    /// let connector = ringstream::tls::TlsConnector::with_webpki_roots()?;
    /// assert!(connector.config().alpn_protocols.is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// A client session for `server_name`, and what the connection is given with it.
    pub(crate) fn session(&self, server_name: &str) -> io::Result<(rustls::Connection, TlsSetup)> {
        let name = ServerName::try_from(server_name.to_string()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{server_name:?} is not a DNS name or IP address a TLS certificate can \
                     name; pass the server's host name"
                ),
            )
        })?;
        let session = ClientConnection::new(self.config.clone(), name).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the TLS client config cannot start a session: {e}"),
            )
        })?;
        let setup = TlsSetup {
            handshake_timeout: self.handshake_timeout,
            shutdown_timeout: self.shutdown_timeout,
            server_name: Some(server_name.to_string()),
        };
        Ok((session.into(), setup))
    }
}

/// The server side of TLS: a rustls [`ServerConfig`] and the handshake and shutdown
/// timeouts. Given to [`ServerBuilder::tls`](crate::net::ServerBuilder::tls) or to
/// [`StreamWriter::accept_tls`](crate::StreamWriter::accept_tls).
///
/// ```no_run
/// let acceptor = ringstream::tls::TlsAcceptor::from_pem_files("cert.pem", "key.pem")?;
/// # drop(acceptor);
/// # Ok::<(), std::io::Error>(())
/// ```
#[doc(alias = "SSLContext")]
#[derive(Debug, Clone)]
pub struct TlsAcceptor {
    config: Arc<ServerConfig>,
    handshake_timeout: Duration,
    shutdown_timeout: Duration,
}

impl TlsAcceptor {
    /// An acceptor with `config` and the default timeouts (60 s handshake, 30 s shutdown).
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use ringstream::tls::{rustls, TlsAcceptor};
    /// use rustls::pki_types::pem::PemObject;
    ///
    /// let certs = rustls::pki_types::CertificateDer::pem_file_iter("cert.pem")
    ///     .unwrap()
    ///     .collect::<Result<Vec<_>, _>>()
    ///     .unwrap();
    /// let key = rustls::pki_types::PrivateKeyDer::from_pem_file("key.pem").unwrap();
    /// let provider = Arc::new(rustls::crypto::ring::default_provider());
    /// let mut config = rustls::ServerConfig::builder_with_provider(provider)
    ///     .with_safe_default_protocol_versions()
    ///     .unwrap()
    ///     .with_no_client_auth()
    ///     .with_single_cert(certs, key)
    ///     .unwrap();
    /// config.alpn_protocols = vec![b"http/1.1".to_vec()];
    /// let acceptor = TlsAcceptor::new(Arc::new(config));
    /// # drop(acceptor);
    /// ```
    pub fn new(config: Arc<ServerConfig>) -> TlsAcceptor {
        TlsAcceptor {
            config,
            handshake_timeout: HANDSHAKE_TIMEOUT,
            shutdown_timeout: SHUTDOWN_TIMEOUT,
        }
    }

    /// An acceptor serving the certificate chain in `cert_pem` with the private key in
    /// `key_pem` (PEM files as `openssl req -x509 -newkey ...` or certbot write them), TLS
    /// 1.2 and 1.3, no client certificates.
    ///
    /// ```no_run
    /// let acceptor = ringstream::tls::TlsAcceptor::from_pem_files("cert.pem", "key.pem")?;
    /// # drop(acceptor);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// A file that cannot be read or holds no certificate / key (`InvalidData`, naming the
    /// file), or a key that does not go with the certificate.
    pub fn from_pem_files(
        cert_pem: impl AsRef<Path>,
        key_pem: impl AsRef<Path>,
    ) -> io::Result<TlsAcceptor> {
        let (cert_pem, key_pem) = (cert_pem.as_ref(), key_pem.as_ref());
        let certs = certificates(cert_pem, "certificates")?;
        if certs.is_empty() {
            return Err(unreadable(
                cert_pem,
                "certificates",
                &"no CERTIFICATE block in the file",
            ));
        }
        let key = PrivateKeyDer::from_pem_file(key_pem)
            .map_err(|e| unreadable(key_pem, "a private key", &e))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
            .map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{} and {} do not make a TLS server config: {e}",
                        cert_pem.display(),
                        key_pem.display()
                    ),
                )
            })?;
        Ok(TlsAcceptor::new(Arc::new(config)))
    }

    /// How long a client may take to finish the handshake (asyncio's
    /// `ssl_handshake_timeout`; default 60 s): one that connects and never speaks is
    /// closed then.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// let acceptor = ringstream::tls::TlsAcceptor::from_pem_files("cert.pem", "key.pem")?
    ///     .handshake_timeout(Duration::from_secs(10));
    /// # drop(acceptor);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[doc(alias = "ssl_handshake_timeout")]
    pub fn handshake_timeout(mut self, timeout: Duration) -> TlsAcceptor {
        self.handshake_timeout = timeout;
        self
    }

    /// How long `close()` may take before the connection is aborted (asyncio's
    /// `ssl_shutdown_timeout`; default 30 s).
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// let acceptor = ringstream::tls::TlsAcceptor::from_pem_files("cert.pem", "key.pem")?
    ///     .shutdown_timeout(Duration::from_secs(5));
    /// # drop(acceptor);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[doc(alias = "ssl_shutdown_timeout")]
    pub fn shutdown_timeout(mut self, timeout: Duration) -> TlsAcceptor {
        self.shutdown_timeout = timeout;
        self
    }

    /// The rustls config.
    ///
    /// ```no_run
    /// let acceptor = ringstream::tls::TlsAcceptor::from_pem_files("cert.pem", "key.pem")?;
    /// assert!(acceptor.config().alpn_protocols.is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// A server session, and what the connection is given with it.
    pub(crate) fn session(&self) -> io::Result<(rustls::Connection, TlsSetup)> {
        let session = ServerConnection::new(self.config.clone()).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the TLS server config cannot start a session: {e}"),
            )
        })?;
        let setup = TlsSetup {
            handshake_timeout: self.handshake_timeout,
            shutdown_timeout: self.shutdown_timeout,
            server_name: None,
        };
        Ok((session.into(), setup))
    }
}

/// A connector trusting `roots`, TLS 1.2 and 1.3, ring, no client certificate.
fn trusting(roots: RootCertStore) -> io::Result<TlsConnector> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| io::Error::other(format!("rustls's ring provider refused TLS 1.2/1.3: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::new(Arc::new(config)))
}

/// The certificates in the PEM file `path` (`what` names them in the error).
fn certificates(path: &Path, what: &str) -> io::Result<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| unreadable(path, what, &e))
}

/// `InvalidData` naming the file and what was read from it.
fn unreadable(path: &Path, what: &str, e: &dyn std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("reading {what} from {}: {e}", path.display()),
    )
}
