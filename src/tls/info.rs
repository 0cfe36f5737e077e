//! What a TLS session agreed on, in place of asyncio's `get_extra_info('ssl_object')`,
//! `'peercert'` and `'cipher'`.

use rustls::pki_types::CertificateDer;
use rustls::{CipherSuite, ProtocolVersion};

use crate::stream::{Stream, StreamWriter};

/// The facts of a finished TLS handshake.
///
/// ```no_run
/// # async fn example(stream: ringstream::Stream) {
/// if let Some(info) = stream.writer.tls_info() {
///     println!("{:?} {:?} alpn={:?}", info.version, info.cipher_suite, info.alpn_protocol);
/// }
/// # }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TlsInfo {
    /// The protocol version (`TLSv1_3`, `TLSv1_2`).
    pub version: ProtocolVersion,
    /// The cipher suite (`get_extra_info('cipher')`).
    pub cipher_suite: CipherSuite,
    /// The ALPN protocol agreed on, if any (`ssl_object.selected_alpn_protocol()`).
    pub alpn_protocol: Option<Vec<u8>>,
    /// The server name: on a client, the one it asked for; on a server, the SNI the client
    /// sent (`None` if it sent none, as clients connecting to an IP address do).
    pub server_name: Option<String>,
    /// The peer's certificate chain, its own certificate first (`'peercert'`); empty when
    /// the peer sent none (a client without client authentication).
    pub peer_certificates: Vec<CertificateDer<'static>>,
}

impl StreamWriter {
    /// The facts of the TLS session once its handshake is done; `None` on a plain
    /// connection or while the handshake runs.
    ///
    /// ```no_run
    /// # async fn example(writer: ringstream::StreamWriter) {
    /// let version = writer.tls_info().map(|info| info.version);
    /// # drop(version);
    /// # }
    /// ```
    #[doc(alias = "get_extra_info")]
    #[doc(alias = "ssl_object")]
    #[doc(alias = "peercert")]
    pub fn tls_info(&self) -> Option<TlsInfo> {
        self.conn().with_tls(|session, asked| {
            let server_name = match session {
                rustls::Connection::Server(server) => server.server_name().map(str::to_string),
                rustls::Connection::Client(_) => asked.map(str::to_string),
            };
            Some(TlsInfo {
                version: session.protocol_version()?,
                cipher_suite: session.negotiated_cipher_suite()?.suite(),
                alpn_protocol: session.alpn_protocol().map(<[u8]>::to_vec),
                server_name,
                peer_certificates: session
                    .peer_certificates()
                    .map(|chain| chain.iter().map(|c| c.clone().into_owned()).collect())
                    .unwrap_or_default(),
            })
        })?
    }
}

impl Stream {
    /// [`StreamWriter::tls_info`].
    ///
    /// ```no_run
    /// # async fn example(stream: ringstream::Stream) {
    /// assert!(stream.tls_info().is_some(), "a TLS stream after its handshake");
    /// # }
    /// ```
    pub fn tls_info(&self) -> Option<TlsInfo> {
        self.writer.tls_info()
    }
}
