//! Opening TLS connections: connect as [`crate::net`] does, then the handshake.

use std::io;
use std::path::Path;

use crate::stream::{Stream, StreamOptions, StreamReader, StreamWriter};

use super::TlsConnector;

/// Connects to `addr` (`"host:port"`) and completes a TLS handshake, verifying the
/// server's certificate for `host` (asyncio's `open_connection(..., ssl=ctx)`; the host is
/// the `server_hostname`).
///
/// ```no_run
/// # async fn example() -> std::io::Result<()> {
/// let connector = ringstream::tls::TlsConnector::with_webpki_roots()?;
/// let stream = ringstream::tls::connect("example.com:443", &connector).await?;
/// let info = stream.writer.tls_info().expect("after the handshake");
/// println!("{:?} {:?}", info.version, info.cipher_suite);
/// # Ok(()) }
/// ```
///
/// # Errors
/// As [`crate::connect`]; `InvalidInput` when `addr` has no port or its host is no name a
/// certificate can carry; the handshake's failure (an untrusted or expired certificate, a
/// wrong name, a peer that does not speak TLS: the message names which), or `TimedOut`
/// after the connector's handshake timeout.
#[doc(alias = "asyncio.open_connection")]
pub async fn connect(addr: &str, connector: &TlsConnector) -> io::Result<Stream> {
    connect_with(addr, host_of(addr)?, StreamOptions::default(), connector).await
}

/// [`connect`] with a `server_name` other than the address's host (asyncio's
/// `server_hostname=`: connecting to an IP address while verifying a name) and stream
/// options.
///
/// ```no_run
/// # async fn example() -> std::io::Result<()> {
/// let connector = ringstream::tls::TlsConnector::with_webpki_roots()?;
/// let options = ringstream::StreamOptions { limit: 1 << 20, ..Default::default() };
/// let stream =
///     ringstream::tls::connect_with("93.184.215.14:443", "example.com", options, &connector)
///         .await?;
/// # drop(stream); Ok(()) }
/// ```
///
/// # Errors
/// As [`connect`].
#[doc(alias = "server_hostname")]
pub async fn connect_with(
    addr: &str,
    server_name: &str,
    options: StreamOptions,
    connector: &TlsConnector,
) -> io::Result<Stream> {
    let session = connector.session(server_name)?;
    let stream = crate::net::connect_with(addr, options).await?;
    stream.writer.upgrade(session).await?;
    Ok(stream)
}

/// Connects to `host:port` over TLS and returns the two halves (asyncio's
/// `open_connection(host, port, ssl=ctx)`).
///
/// ```no_run
/// # async fn example() -> std::io::Result<()> {
/// let connector = ringstream::tls::TlsConnector::with_webpki_roots()?;
/// let (mut reader, writer) =
///     ringstream::tls::open_connection("example.com", 443, &connector).await?;
/// writer.write(b"HEAD / HTTP/1.0\r\n\r\n")?;
/// let status = reader.read_line().await?;
/// # drop(status); Ok(()) }
/// ```
///
/// # Errors
/// As [`connect`].
#[doc(alias = "asyncio.open_connection")]
pub async fn open_connection(
    host: &str,
    port: u16,
    connector: &TlsConnector,
) -> io::Result<(StreamReader, StreamWriter)> {
    let addr = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let name = host.trim_start_matches('[').trim_end_matches(']');
    Ok(
        connect_with(&addr, name, StreamOptions::default(), connector)
            .await?
            .split(),
    )
}

/// Connects to a Unix stream socket and completes a TLS handshake for `server_name`
/// (asyncio's `open_unix_connection(path, ssl=ctx, server_hostname=...)`).
///
/// ```no_run
/// # async fn example() -> std::io::Result<()> {
/// let connector = ringstream::tls::TlsConnector::with_webpki_roots()?;
/// let stream = ringstream::tls::connect_unix("/run/app.sock", "app.internal", &connector).await?;
/// # drop(stream); Ok(()) }
/// ```
///
/// # Errors
/// As [`crate::connect_unix`] and [`connect`].
#[doc(alias = "asyncio.open_unix_connection")]
pub async fn connect_unix(
    path: impl AsRef<Path>,
    server_name: &str,
    connector: &TlsConnector,
) -> io::Result<Stream> {
    let session = connector.session(server_name)?;
    let stream = crate::net::connect_unix(path).await?;
    stream.writer.upgrade(session).await?;
    Ok(stream)
}

/// The host part of `"host:port"` / `"[v6]:port"`.
fn host_of(addr: &str) -> io::Result<&str> {
    let missing = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{addr:?} has no port: write HOST:PORT, e.g. example.com:443"),
        )
    };
    let (host, port) = addr.rsplit_once(':').ok_or_else(missing)?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(missing());
    }
    Ok(host.trim_start_matches('[').trim_end_matches(']'))
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn the_server_name_is_the_address_host() {
        assert_eq!(host_of("example.com:443").unwrap(), "example.com");
        assert_eq!(host_of("[::1]:8443").unwrap(), "::1");
        assert_eq!(host_of("127.0.0.1:1").unwrap(), "127.0.0.1");
        assert!(host_of("example.com").is_err());
        assert!(host_of("[::1]").is_err());
    }
}
