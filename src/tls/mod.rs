//! TLS for streams and servers, with [rustls](https://docs.rs/rustls) (feature `tls`):
//! asyncio's `ssl=`, `server_hostname=`, `ssl_handshake_timeout=`, `ssl_shutdown_timeout=`
//! and `StreamWriter.start_tls`.
//!
//! | asyncio | ringstream |
//! |---|---|
//! | `open_connection(host, port, ssl=ctx)` | [`open_connection`], [`connect`], [`connect_with`] |
//! | `open_unix_connection(path, ssl=ctx, server_hostname=)` | [`connect_unix`] |
//! | `start_server(cb, host, port, ssl=ctx)` | [`ServerBuilder::tls`](crate::net::ServerBuilder::tls) |
//! | `StreamWriter.start_tls(ctx, server_hostname=)` | [`StreamWriter::start_tls`](crate::StreamWriter::start_tls), [`StreamWriter::accept_tls`](crate::StreamWriter::accept_tls) |
//! | `get_extra_info('ssl_object')`, `'peercert'`, `'cipher'` | [`StreamWriter::tls_info`](crate::StreamWriter::tls_info) |
//! | `ssl.SSLContext` | [`TlsConnector`] / [`TlsAcceptor`] around a rustls config |
//!
//! A TLS stream is an ordinary [`Stream`](crate::Stream): every read, its limit rules,
//! cancel safety and the write buffer's watermarks work the same, on the decrypted bytes
//! (the watermarks count the ciphertext queued). What differs:
//!
//! - The handshake is bounded by [`TlsConnector::handshake_timeout`] /
//!   [`TlsAcceptor::handshake_timeout`] (60 s by default, as asyncio); a connection still
//!   handshaking then fails with `TimedOut`.
//! - `close()` sends `close_notify` and is bounded by the shutdown timeout (30 s by
//!   default): a peer that stops reading is aborted then. `abort()` sends nothing.
//! - `can_write_eof()` is false and `write_eof()` an `Unsupported` error: TLS has no
//!   half-close.
//! - The peer's `close_notify` is the reader's EOF. A TCP EOF without it is an
//!   `UnexpectedEof` error ("without a TLS close_notify: the data may be truncated"),
//!   returned after the data received before it; `read_to_end` returns it at once.
//! - A protocol or certificate failure fails only that connection, with a message that
//!   says what went wrong and, for the usual mistakes, what to change; the alert goes to
//!   the peer first.
//!
//! The crypto provider is rustls's `ring` one (it builds with a C compiler alone).
//! [`rustls`] is re-exported so configs are built with the same version:
//!
//! ```no_run
//! use ringstream::tls::{self, TlsConnector};
//!
//! ringstream::run(async {
//!     let connector = TlsConnector::with_webpki_roots()?;
//!     let (mut reader, writer) = tls::open_connection("example.com", 443, &connector).await?;
//!     writer.write(b"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")?;
//!     let status = reader.read_line().await?;
//!     println!("{}", String::from_utf8_lossy(&status));
//!     std::io::Result::Ok(())
//! })
//! .unwrap()
//! .unwrap();
//! ```

mod config;
mod connect;
mod info;
mod upgrade;

pub use config::{TlsAcceptor, TlsConnector};
pub use connect::{connect, connect_unix, connect_with, open_connection};
pub use info::TlsInfo;
pub use rustls;
