//! The `http_hello` server written on tokio, for comparison with the ringstream one
//! (`examples/http_hello.rs`): the same request rules (`ringstream_harness::http::head`) and
//! responses, and the same sharding as ringstream's `StreamServer` — one thread per core,
//! pinned, each with its own `current_thread` runtime and its own `SO_REUSEPORT` listener
//! on the shared port (`ringstream_harness::http::tokio_server`).
//!
//! ```sh
//! cargo run --release --example http_hello_tokio                    # 127.0.0.1:8080, every core
//! cargo run --release --example http_hello_tokio -- --addr 127.0.0.1:9000 --cores 1
//! curl -i http://127.0.0.1:8080/
//! ```
//!
//! Stopping: press Enter to stop (the listeners close and open connections are dropped at
//! once). There is no Ctrl-C handler (the example's tokio has no `signal` feature), so
//! Ctrl-C simply kills the process; with stdin closed or not a terminal the server runs
//! until it is killed.
//!
//! Framing: bytes are read into one buffer, every complete request in it is answered into
//! an output buffer, and the output goes out in one `write_all` once no complete request is
//! left — pipelined requests are answered in order and their responses leave together.

use ringstream_harness::report::Report;

use std::io::BufRead;
use std::net::{SocketAddr, ToSocketAddrs};

use ringstream_harness::http::args::parse_args;
use ringstream_harness::http::tokio_server::TokioServer;
use ringstream_harness::pin::allowed_cpus;

const USAGE: &str = "usage: http_hello_tokio [--addr HOST:PORT] [--cores N]
  --addr HOST:PORT  where to listen (default 127.0.0.1:8080; port 0 picks a free one)
  --cores N         how many cores serve, one pinned thread and runtime each (default: all)";

fn resolve(addr: &str) -> Result<SocketAddr, String> {
    addr.to_socket_addrs()
        .map_err(|e| format!("{addr:?} is not a HOST:PORT address: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr:?} resolved to no address"))
}

fn main() -> Result<(), Report> {
    let Some(args) = parse_args(USAGE)? else {
        return Ok(());
    };
    let cpus = allowed_cpus(args.cores)?;
    let server = TokioServer::start(resolve(&args.addr)?, &cpus, |e| {
        // A client that resets its connection (wrk does, at the end of a run) is not news.
        if !matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
        ) {
            eprintln!("http_hello_tokio: a connection failed: {e}");
        }
    })?;
    println!(
        "http_hello_tokio: serving http://{} on {} core(s), CPUs {cpus:?}; Enter stops it, Ctrl-C kills it",
        server.local_addr(),
        cpus.len()
    );
    let mut line = String::new();
    if let Ok(0) | Err(_) = std::io::stdin().lock().read_line(&mut line) {
        // No terminal (stdin closed or /dev/null): serve until killed.
        loop {
            std::thread::park();
        }
    }
    let accepted = server.accepted();
    let open = server.active();
    server.shutdown();
    println!("http_hello_tokio: stopped after {accepted} connection(s); {open} were still open");
    Ok(())
}

/// The shared end-to-end checks (`ringstream_harness::http::conformance`) against a
/// one-core tokio server.
#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use ringstream_harness::http::tokio_server::TokioServer;
    use ringstream_harness::pin::allowed_cpus;

    /// Runs `check` against a fresh server, then stops it: every connection must have
    /// ended by itself and none may have failed.
    fn with_server(check: fn(SocketAddr)) {
        let cpus = allowed_cpus(Some(1)).expect("one CPU");
        let server = TokioServer::start("127.0.0.1:0".parse().unwrap(), &cpus, |e| {
            panic!("a connection failed: {e}")
        })
        .expect("the server starts");
        check(server.local_addr());
        assert!(
            server.wait_idle(Duration::from_secs(5)),
            "connections left open"
        );
        assert_eq!(server.failures(), 0, "connection failures");
        server.shutdown();
    }

    // One #[test] per shared check, each against a fresh server.
    ringstream_harness::conformance_tests!(with_server);
}
