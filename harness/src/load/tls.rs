//! TLS on the load generator's connections (feature `tls`): each connection is upgraded
//! with `start_tls` right after it connects, so `ringstream load` measures a TLS echo
//! server as it measures a plain one.

use std::io;

use ringstream::Stream;

/// How the load's connections speak TLS: the client config and the server name to verify.
/// Without the `tls` feature this type has no values, so a `LoadConfig` can only say
/// `tls: None`.
#[derive(Debug, Clone)]
pub struct ClientTls {
    #[cfg(feature = "tls")]
    connector: ringstream::tls::TlsConnector,
    #[cfg(feature = "tls")]
    server_name: String,
    #[cfg(not(feature = "tls"))]
    never: std::convert::Infallible,
}

impl ClientTls {
    /// Connections verify the server's certificate against the certificates in the PEM
    /// file `ca_pem` (a self-signed server certificate works as its own CA), for
    /// `server_name`.
    ///
    /// # Errors
    /// A file that cannot be read or holds no certificate.
    #[cfg(feature = "tls")]
    pub fn from_ca_file(ca_pem: &std::path::Path, server_name: &str) -> io::Result<ClientTls> {
        use ringstream::tls::rustls::{self, pki_types::pem::PemObject};
        let certs = rustls::pki_types::CertificateDer::pem_file_iter(ca_pem)
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("reading certificates from {}: {e}", ca_pem.display()),
                )
            })?;
        let mut roots = rustls::RootCertStore::empty();
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} holds no usable CA certificate", ca_pem.display()),
            ));
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(ClientTls {
            connector: ringstream::tls::TlsConnector::new(std::sync::Arc::new(config)),
            server_name: server_name.to_string(),
        })
    }

    /// Upgrades a fresh connection.
    pub(crate) async fn start(&self, stream: &Stream) -> io::Result<()> {
        #[cfg(feature = "tls")]
        {
            stream.start_tls(&self.connector, &self.server_name).await
        }
        #[cfg(not(feature = "tls"))]
        {
            let _ = stream;
            match self.never {}
        }
    }
}
