//! Starting TLS on an open stream (asyncio's `StreamWriter.start_tls`), and the handshake
//! every TLS connection waits for.

use std::future::poll_fn;
use std::io;

use crate::stream::{Stream, StreamWriter};
use crate::transport::conn::TlsSetup;
use crate::transport::outbound::Waiter;

use super::{TlsAcceptor, TlsConnector};

impl StreamWriter {
    /// Upgrades the connection to TLS as the client, verifying the server's certificate
    /// for `server_name`, and returns once the handshake is done (asyncio's
    /// `StreamWriter.start_tls(ctx, server_hostname=...)`; STARTTLS). The reader of the
    /// same connection reads the decrypted bytes from then on.
    ///
    /// As in asyncio, what the reader had already buffered stays there, ahead of the first
    /// decrypted byte, and what was written before goes out as plaintext ahead of the
    /// handshake. A peer that sends its first TLS bytes before it saw our go-ahead, in the
    /// same segment as the plaintext before, gets them read as plaintext: read the
    /// plaintext exchange to its end before upgrading.
    ///
    /// ```no_run
    /// # async fn example() -> std::io::Result<()> {
    /// let connector = ringstream::tls::TlsConnector::with_webpki_roots()?;
    /// let (mut reader, writer) = ringstream::open_connection("mail.example.com", 25).await?;
    /// reader.read_line().await?; // 220 greeting
    /// writer.write(b"STARTTLS\r\n")?;
    /// reader.read_line().await?; // 220 go ahead
    /// writer.start_tls(&connector, "mail.example.com").await?;
    /// writer.write(b"EHLO me\r\n")?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `InvalidInput` when the connection already speaks TLS, after `write_eof()`, or for a
    /// name no certificate can carry; `NotConnected` once it is closing or the peer ended
    /// it; the handshake's failure, or `TimedOut` after the connector's handshake timeout.
    /// A failed handshake leaves the connection failed (and closed).
    #[doc(alias = "StreamWriter.start_tls")]
    #[doc(alias = "loop.start_tls")]
    pub async fn start_tls(&self, connector: &TlsConnector, server_name: &str) -> io::Result<()> {
        self.upgrade(connector.session(server_name)?).await
    }

    /// Upgrades the connection to TLS as the server and returns once the handshake is done
    /// (asyncio's `start_tls` on a server-side stream). See
    /// [`start_tls`](Self::start_tls) for what was buffered before: a client's hello that
    /// arrived before this call is in the reader as plaintext, so on a connection that
    /// speaks TLS from its first byte, call this right after accepting it, before awaiting
    /// anything else, or let [`ServerBuilder::tls`](crate::net::ServerBuilder::tls) start
    /// TLS as the connection is accepted.
    ///
    /// ```no_run
    /// # async fn example(mut reader: ringstream::StreamReader, writer: ringstream::StreamWriter)
    /// # -> std::io::Result<()> {
    /// let acceptor = ringstream::tls::TlsAcceptor::from_pem_files("cert.pem", "key.pem")?;
    /// let command = reader.read_line().await?;
    /// if &command[..] == b"STARTTLS\r\n" {
    ///     writer.write(b"220 go ahead\r\n")?;
    ///     writer.accept_tls(&acceptor).await?;
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`start_tls`](Self::start_tls), with the acceptor's handshake timeout.
    #[doc(alias = "start_tls")]
    pub async fn accept_tls(&self, acceptor: &TlsAcceptor) -> io::Result<()> {
        self.upgrade(acceptor.session()?).await
    }

    /// Starts `session` on the connection and waits for its handshake.
    pub(crate) async fn upgrade(
        &self,
        (session, setup): (rustls::Connection, TlsSetup),
    ) -> io::Result<()> {
        self.conn().start_tls(session, setup)?;
        self.handshake().await
    }

    /// Ready once the handshake of the TLS started on this connection is done.
    pub(crate) async fn handshake(&self) -> io::Result<()> {
        let conn = self.conn();
        let mut waiter = Waiter::default();
        poll_fn(|cx| conn.poll_handshake(cx, &mut waiter)).await
    }
}

impl Stream {
    /// [`StreamWriter::start_tls`] on this stream's writer.
    ///
    /// ```no_run
    /// # async fn example(stream: ringstream::Stream) -> std::io::Result<()> {
    /// let connector = ringstream::tls::TlsConnector::with_webpki_roots()?;
    /// stream.start_tls(&connector, "example.com").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`StreamWriter::start_tls`].
    pub async fn start_tls(&self, connector: &TlsConnector, server_name: &str) -> io::Result<()> {
        self.writer.start_tls(connector, server_name).await
    }

    /// [`StreamWriter::accept_tls`] on this stream's writer.
    ///
    /// ```no_run
    /// # async fn example(stream: ringstream::Stream) -> std::io::Result<()> {
    /// let acceptor = ringstream::tls::TlsAcceptor::from_pem_files("cert.pem", "key.pem")?;
    /// stream.accept_tls(&acceptor).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`StreamWriter::accept_tls`].
    pub async fn accept_tls(&self, acceptor: &TlsAcceptor) -> io::Result<()> {
        self.writer.accept_tls(acceptor).await
    }
}
