//! A minimal HTTP/1.1 keep-alive server on [`StreamServer`]: answers every request with
//! `Hello, World!`, on one pinned thread and ring per core.
//!
//! ```sh
//! cargo run --release --example http_hello                          # 127.0.0.1:8080, every core
//! cargo run --release --example http_hello -- --addr 0.0.0.0:9000 --cores 2
//! curl -i http://127.0.0.1:8080/
//! wrk -t1 -c64 -d5s --latency http://127.0.0.1:8080/                # see benches/http.rs
//! ```
//!
//! Stopping: press Enter for a graceful shutdown (`StreamServer::shutdown`: stop accepting,
//! let open connections finish for up to 5 s, then abort the rest). There is no Ctrl-C
//! handler — std has no signal API and the example takes no extra dependency for one — so
//! Ctrl-C (or any signal) simply kills the process. With stdin closed or not a terminal
//! (`... </dev/null &`) the server runs until it is killed.
//!
//! What it speaks (`ringstream_harness::http::head` has the rules,
//! `ringstream_harness::http::ringstream_server` the connection loop):
//! - Each request head is framed with `reader.read_until(b"\r\n\r\n")`; a head over 64 KiB
//!   (the reader's limit) gets 431 and the connection closes.
//! - A `Content-Length` body is read and discarded (`Expect: 100-continue` is honoured);
//!   `Transfer-Encoding` gets 501 and a malformed request line or header 400, both closing.
//! - Keep-alive by default on HTTP/1.1, `Connection: close` closes after the response;
//!   HTTP/1.0 closes unless it sent `Connection: keep-alive`.
//! - Pipelining: requests that arrive together are answered in order, and their responses
//!   are coalesced (queued with `write`, `drain` only over the high watermark): the first
//!   leaves at once, the rest of the batch in one more send.
//!
//! The same server on tokio is `examples/http_hello_tokio.rs`; `cargo bench --bench http`
//! puts the two side by side under wrk.

use ringstream_harness::report::Report;

use std::io::BufRead;
use std::time::Duration;

use ringstream::net::{FailureCause, StreamServer};

use ringstream_harness::http::args::parse_args;
use ringstream_harness::http::ringstream_server::serve_connection;

/// How long a graceful shutdown lets open connections finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

const USAGE: &str = "usage: http_hello [--addr HOST:PORT] [--cores N]
  --addr HOST:PORT  where to listen (default 127.0.0.1:8080; port 0 picks a free one)
  --cores N         how many cores serve, one pinned thread and ring each (default: all)";

fn main() -> Result<(), Report> {
    let Some(args) = parse_args(USAGE)? else {
        return Ok(());
    };
    let mut builder = StreamServer::bind(&args.addr).on_handler_failure(|failure| {
        // A client that resets its connection (wrk does, at the end of a run) is not news.
        if let FailureCause::Error(e) = &failure.cause {
            if is_reset(e) {
                return;
            }
        }
        eprintln!("http_hello: {failure}");
    });
    if let Some(n) = args.cores {
        builder = builder.cores(n);
    }
    let server = builder.serve(serve_connection)?;
    let cpus: Vec<usize> = server.stats().iter().map(|c| c.cpu).collect();
    println!(
        "http_hello: serving http://{} on {} core(s), CPUs {cpus:?}; Enter stops it, Ctrl-C kills it",
        server.local_addr(),
        cpus.len()
    );

    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        // No terminal (stdin closed or /dev/null): serve until killed.
        Ok(0) | Err(_) => server.serve_forever()?,
        Ok(_) => {
            let report = server.shutdown(SHUTDOWN_GRACE)?;
            let accepted: u64 = server.stats().iter().map(|c| c.accepted).sum();
            println!(
                "http_hello: stopped after {accepted} connection(s); {} aborted at the deadline",
                report.aborted
            );
        }
    }
    Ok(())
}

/// The client reset the connection or went away while it was being answered.
fn is_reset(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
    )
}

/// The shared end-to-end checks (`ringstream_harness::http::conformance`) against a real one-core server
/// with this example's handler; the head parser's own tests are the harness's.
#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use ringstream::net::StreamServer;
    use ringstream::stream::Addr;

    /// Runs `check` against a fresh server, then shuts it down: every connection must have
    /// ended by itself (none aborted) and no handler may have failed.
    fn with_server(check: fn(SocketAddr)) {
        let server = StreamServer::bind("127.0.0.1:0")
            .cores(1)
            .serve(ringstream_harness::http::ringstream_server::serve_connection)
            .expect("the server starts");
        let Addr::Tcp(addr) = server.local_addr().clone() else {
            unreachable!("a TCP server has a TCP address")
        };
        check(addr);
        let report = server.shutdown(Duration::from_secs(5)).expect("shutdown");
        assert_eq!(report.aborted, 0, "connections left open");
        assert_eq!(server.stats()[0].failures, 0, "handler failures");
    }

    // One #[test] per shared check, each against a fresh server.
    ringstream_harness::conformance_tests!(with_server);
}
