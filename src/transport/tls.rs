//! A connection's TLS record layer, sans-IO: ciphertext in, plaintext out, and the other
//! way round, over a `rustls::Connection`. The connection core (`conn/tls.rs`) feeds it the
//! bytes each receive brought and queues what it produces; nothing here touches a socket.
//!
//! rustls's buffered API is used (`read_tls` / `process_new_packets` / `reader`, and
//! `writer` / `write_tls`): it handles every TLS 1.2 and 1.3 corner (key updates, session
//! tickets, alerts) in one place. What it costs over the kernel copy: received ciphertext is
//! copied from the ring buffer into rustls's record buffer (decrypted in place there) and the
//! plaintext copied out into the reader's buffer; written plaintext is encrypted into rustls's
//! buffer and copied into the send queue.

use std::io::{self, BufRead, Write};

use rustls::Connection;

/// What one [`TlsSession::receive`] saw besides plaintext.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Received {
    /// The handshake finished with these bytes.
    pub(crate) handshake_done: bool,
    /// The peer's `close_notify` arrived: a clean end of its data.
    pub(crate) peer_closed: bool,
}

/// One connection's TLS state.
pub(crate) struct TlsSession {
    conn: Connection,
}

impl TlsSession {
    pub(crate) fn new(mut conn: Connection) -> Self {
        // The connection's send queue holds the ciphertext and applies the write buffer's
        // watermarks to it; rustls only passes it through (before the handshake ends it
        // keeps the plaintext written so far, which the watermarks do not see).
        conn.set_buffer_limit(None);
        TlsSession { conn }
    }

    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }

    #[cfg(test)]
    fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Takes the ciphertext `data` brought; hands every byte of plaintext it decrypts to
    /// `plaintext`, in order. Afterwards [`take_ciphertext`](Self::take_ciphertext) has
    /// whatever the session must send in reply (handshake messages, an alert).
    ///
    /// # Errors
    /// A peer that breaks the protocol or fails verification: the error names the cause (and,
    /// for the usual certificate problems, the fix). An alert for the peer is queued.
    pub(crate) fn receive(
        &mut self,
        mut data: &[u8],
        mut plaintext: impl FnMut(&[u8]),
    ) -> io::Result<Received> {
        let was_handshaking = self.conn.is_handshaking();
        let mut seen = Received::default();
        while !data.is_empty() {
            // rustls takes at most one buffer's worth per call; what it has taken is
            // processed before the next call, so its buffer never fills.
            if self.conn.read_tls(&mut data)? == 0 {
                break;
            }
            let state = self.conn.process_new_packets().map_err(protocol_error)?;
            self.drain_plaintext(&mut plaintext)?;
            seen.peer_closed |= state.peer_has_closed();
        }
        seen.handshake_done = was_handshaking && !self.conn.is_handshaking();
        Ok(seen)
    }

    fn drain_plaintext(&mut self, plaintext: &mut impl FnMut(&[u8])) -> io::Result<()> {
        let mut reader = self.conn.reader();
        loop {
            let n = match reader.fill_buf() {
                Ok([]) => return Ok(()),
                Ok(chunk) => {
                    plaintext(chunk);
                    chunk.len()
                }
                // Nothing decrypted yet (more of a record to come).
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                // The transport reports a missing `close_notify` itself, at EOF.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e),
            };
            reader.consume(n);
        }
    }

    /// Encrypts `plain` (kept as plaintext until the handshake ends); the records come out
    /// of [`take_ciphertext`](Self::take_ciphertext).
    pub(crate) fn encrypt(&mut self, plain: &[u8]) -> io::Result<()> {
        self.conn.writer().write_all(plain)
    }

    /// Queues a `close_notify` alert: the end of our data.
    pub(crate) fn close_notify(&mut self) {
        self.conn.send_close_notify();
    }

    /// Hands every byte of ciphertext waiting to be sent to `out`.
    pub(crate) fn take_ciphertext(&mut self, out: &mut impl Write) -> io::Result<()> {
        while self.conn.wants_write() {
            self.conn.write_tls(out)?;
        }
        Ok(())
    }

    /// Plaintext still in rustls (none while the reader takes everything at once).
    #[cfg(test)]
    fn pending_plaintext(&mut self) -> usize {
        use std::io::Read;
        let mut buf = [0u8; 1];
        self.conn.reader().read(&mut buf).unwrap_or_default()
    }
}

impl std::fmt::Debug for TlsSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSession")
            .field("handshaking", &self.conn.is_handshaking())
            .field("version", &self.conn.protocol_version())
            .finish_non_exhaustive()
    }
}

/// A TLS protocol or verification failure as an `io::Error` whose message says what went
/// wrong and, where there is a usual cause, what to change.
pub(crate) fn protocol_error(error: rustls::Error) -> io::Error {
    use rustls::{CertificateError, Error};
    let hint = match &error {
        Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            ": the peer's certificate is not signed by a trusted root; add its CA to the \
             config's root store"
        }
        Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => {
            ": the peer's certificate does not name the host connected to; check the server \
             name passed in, or the certificate's subject alternative names"
        }
        Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => ": the peer's certificate has expired; renew it (or check this machine's clock)",
        Error::InvalidMessage(_) | Error::InappropriateMessage { .. } => {
            ": the peer does not speak TLS here (a plaintext client on a TLS port, or the \
             other way round?)"
        }
        Error::NoApplicationProtocol => {
            ": no ALPN protocol in common; check both sides' alpn_protocols"
        }
        _ => "",
    };
    let kind = match error {
        Error::InvalidCertificate(_) | Error::NoCertificatesPresented => {
            io::ErrorKind::PermissionDenied
        }
        _ => io::ErrorKind::InvalidData,
    };
    io::Error::new(kind, format!("TLS error: {error}{hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Arc;

    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

    fn configs() -> (Arc<ClientConfig>, Arc<ServerConfig>) {
        let key = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("rcgen");
        let cert = CertificateDer::from(key.cert.der().to_vec());
        let private = PrivateKeyDer::try_from(key.signing_key.serialize_der()).expect("key");
        let mut roots = RootCertStore::empty();
        roots.add(cert.clone()).expect("root");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let server = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert], private)
            .expect("cert");
        (Arc::new(client), Arc::new(server))
    }

    fn pair(name: &str) -> (TlsSession, TlsSession) {
        let (client, server) = configs();
        let name = ServerName::try_from(name.to_string()).expect("name");
        let c = ClientConnection::new(client, name).expect("client");
        let s = ServerConnection::new(server).expect("server");
        (TlsSession::new(c.into()), TlsSession::new(s.into()))
    }

    /// Moves `from`'s ciphertext into `to`; returns what `to` decrypted.
    fn pass(from: &mut TlsSession, to: &mut TlsSession) -> io::Result<(Vec<u8>, Received)> {
        let mut wire = Vec::new();
        from.take_ciphertext(&mut wire).expect("ciphertext");
        let mut plain = Vec::new();
        let seen = to.receive(&wire, |p| plain.extend_from_slice(p))?;
        Ok((plain, seen))
    }

    /// The handshake runs through `receive` / `take_ciphertext` alone, plaintext written
    /// before it ends is sent after it, a 1 MB write arrives whole through a receive of any
    /// size, and `close_notify` is seen as the peer's clean end.
    #[test]
    fn handshake_data_and_close_notify_through_the_record_layer() {
        let (mut c, mut s) = pair("localhost");
        c.encrypt(b"early").expect("write");
        let mut server_got = Vec::new();
        let mut done = (false, false);
        for _ in 0..10 {
            let (p, seen) = pass(&mut c, &mut s).expect("to server");
            server_got.extend(p);
            done.1 |= seen.handshake_done;
            let (_, seen) = pass(&mut s, &mut c).expect("to client");
            done.0 |= seen.handshake_done;
            if !c.is_handshaking() && !s.is_handshaking() && !server_got.is_empty() {
                break;
            }
        }
        assert_eq!(done, (true, true), "both saw the handshake finish");
        assert_eq!(server_got, b"early");

        let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        c.encrypt(&big).expect("write");
        let mut wire = Vec::new();
        c.take_ciphertext(&mut wire).expect("ciphertext");
        let mut got = Vec::new();
        for piece in wire.chunks(7_001) {
            s.receive(piece, |p| got.extend_from_slice(p))
                .expect("receive");
        }
        assert!(got == big, "1 MB arrived whole and in order");
        assert_eq!(s.pending_plaintext(), 0);

        c.close_notify();
        let (_, seen) = pass(&mut c, &mut s).expect("close_notify");
        assert!(seen.peer_closed);
    }

    /// A client that expects another name fails verification with the fix in the message,
    /// and queues an alert for the server.
    #[test]
    fn wrong_name_is_a_verification_error_with_an_alert() {
        let (mut c, mut s) = pair("example.com");
        pass(&mut c, &mut s).expect("hello");
        let err = pass(&mut s, &mut c).expect_err("the name does not match");
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        assert!(err.to_string().contains("does not name the host"), "{err}");
        let mut alert = Vec::new();
        c.take_ciphertext(&mut alert).expect("alert");
        assert!(!alert.is_empty(), "an alert is queued");
    }

    /// Bytes that are not TLS fail the server at once, saying so.
    #[test]
    fn plaintext_on_a_tls_port_is_an_error_naming_the_mistake() {
        let (_, mut s) = pair("localhost");
        let err = s
            .receive(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", |_| {})
            .expect_err("not TLS");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("does not speak TLS"), "{err}");
    }
}
