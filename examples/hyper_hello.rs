//! hyper 1.x on ringstream: an HTTP/1.1 keep-alive server on [`StreamServer`] that answers
//! every request with `Hello, World!`, on one pinned thread and ring per core.
//!
//! ```sh
//! cargo run --release --features tokio-io --example hyper_hello -- 127.0.0.1:8080
//! curl -i http://127.0.0.1:8080/
//! wrk -t1 -c64 -d5s --latency http://127.0.0.1:8080/      # see benches/http.rs
//! ```
//!
//! The whole adapter is hyper-util's `TokioIo` around a ringstream [`Stream`], which is
//! tokio's `AsyncRead + AsyncWrite` with the `tokio-io` feature; hyper's connection future
//! runs as the connection's handler on its core. Ctrl-C (or any signal) kills the process.
//!
//! `benches/http.rs` and `tests/hyper.rs` use this file's [`serve_http1`] and [`hello`]
//! (as a module), so the bench measures and the tests check this very server, and the
//! bench runs the same service on tokio next to it.

use std::convert::Infallible;
use std::io;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::rt::{Read, Write};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use ringstream::net::{FailureCause, StreamServer};
use ringstream::Stream;

const USAGE: &str = "usage: hyper_hello HOST:PORT   (port 0 picks a free one)";

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), None) = (args.next(), args.next()) else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };
    let server = StreamServer::bind(&addr)
        .on_handler_failure(|failure| {
            // A client that resets its connection (wrk does, at the end of a run) is not news.
            if !matches!(&failure.cause, FailureCause::Error(e) if is_reset(e)) {
                eprintln!("hyper_hello: {failure}");
            }
        })
        .serve(serve_connection)?;
    println!(
        "hyper_hello: serving http://{} on {} core(s)",
        server.local_addr(),
        server.stats().len()
    );
    server.serve_forever()
}

/// One connection, as `StreamServer`'s handler: hyper's HTTP/1.1 connection over the
/// stream, through `TokioIo`.
pub async fn serve_connection(stream: Stream) -> io::Result<()> {
    serve_http1(TokioIo::new(stream)).await
}

/// hyper's HTTP/1.1 server connection (keep-alive, hyper's defaults) answering with
/// [`hello`], on any hyper I/O: a ringstream stream here, a tokio `TcpStream` in the bench.
///
/// # Errors
/// hyper's connection error (a reset, a malformed request), as an `io::Error`.
pub async fn serve_http1<I>(io: I) -> io::Result<()>
where
    I: Read + Write + Unpin + 'static,
{
    hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service_fn(hello))
        .await
        .map_err(io::Error::other)
}

/// The service: `200 OK` with `Hello, World!` for every request.
pub async fn hello(_request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"Hello, World!",
    ))))
}

/// The client reset the connection or went away while it was being answered.
fn is_reset(e: &io::Error) -> bool {
    let reset = |kind| {
        matches!(
            kind,
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
        )
    };
    reset(e.kind())
        || e.get_ref()
            .and_then(|inner| inner.downcast_ref::<hyper::Error>())
            .and_then(|h| std::error::Error::source(h))
            .and_then(|s| s.downcast_ref::<io::Error>())
            .is_some_and(|io| reset(io.kind()))
}
