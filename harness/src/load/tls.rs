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
        Ok(ClientTls {
            connector: ringstream::tls::TlsConnector::with_ca_file(ca_pem)?,
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
