//! `ringstream echo`: a sharded echo server (one pinned thread and ring per core) that
//! runs until Ctrl-C or SIGTERM, then shuts down gracefully; `--api` picks the echo's
//! ringstream API (streams, a protocol, a buffered protocol).

use std::io;
use std::path::PathBuf;
use std::thread;
use std::time::Duration;

use clap::Args;
use ringstream::net::{CoreStats, StreamServer};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use ringstream_harness::servers::{serve_echo, Api};
use ringstream_harness::units::parse_duration;

use crate::output::{errln, outln};

/// How long open connections get to finish after a shutdown signal, unless `--grace`
/// says otherwise.
const DEFAULT_GRACE: &str = "5s";

/// The text after the options in `--help`.
const AFTER_HELP: &str = "\
Every connection is echoed until the client sends EOF; then the server closes it. --api
picks how: `stream` (a task per connection reading and writing through StreamReader /
StreamWriter), `protocol` (a Protocol whose data_received writes the bytes back, run
straight from the receive completion) or `buffered` (a BufferedProtocol: the kernel
receives into the protocol's own buffer). All three stop reading a client that does not
read its echo once the write buffer is over its high watermark. The first line printed is `listening on <address>` (with the real port when --addr asks for
port 0). Ctrl-C or SIGTERM stops accepting, gives open connections the --grace period to
finish, aborts the rest, prints a one-line summary and exits 0. A second Ctrl-C or SIGTERM
during the grace period aborts the open connections at once, prints the summary and exits
with 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM). If every core stops on
its own (its io_uring failed, e.g. refused by a seccomp filter), echo prints why and exits 1.

Warnings of the server (accepts paused for lack of file descriptors, failed connection
handlers) go to stderr; RUST_LOG=off|error|warn|info|debug|trace sets the level (warn).

Examples:
  ringstream echo                               # 127.0.0.1:7878 on every core
  ringstream echo --addr 0.0.0.0:9000 --cores 2
  ringstream echo --unix /tmp/echo.sock --grace 500ms
  ringstream echo --api protocol --cores 1
  ringstream echo --idle-timeout 60s --read-timeout 10s --max-conns 10000";

/// `ringstream echo` options.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct EchoArgs {
    /// TCP address to listen on (HOST:PORT; port 0 picks a free port).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:7878", value_parser = ringstream_harness::units::parse_host_port)]
    pub addr: String,

    /// Listen on this Unix socket path instead of TCP (`@name` for an abstract name); a
    /// stale socket file is replaced, and the file is removed on exit.
    #[arg(long, value_name = "PATH", conflicts_with = "addr")]
    pub unix: Option<PathBuf>,

    /// Number of cores (pinned threads, one ring each) that accept and serve connections
    /// [default: every CPU this process may run on].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=crate::MAX_CORES))]
    pub cores: Option<u16>,

    /// How long open connections get to finish after Ctrl-C or SIGTERM before they are
    /// aborted: 5s, 500ms, 1m.
    #[arg(long, value_name = "DURATION", default_value = DEFAULT_GRACE, value_parser = parse_duration)]
    pub grace: Duration,

    /// Close a connection that has received and sent nothing for this long (nginx's
    /// keepalive_timeout): 30s, 2m [default: never].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub idle_timeout: Option<Duration>,

    /// Close a connection whose handler has waited this long for its next bytes (nginx's
    /// client_body_timeout: slow or stalled senders); `--api stream` only [default: never].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub read_timeout: Option<Duration>,

    /// Most connections open at once (shared evenly between the cores); beyond it new
    /// clients wait in the kernel's backlog and a warning is logged [default: no cap].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_conns: Option<u64>,

    /// Share the address with other servers that also ask for it (SO_REUSEPORT); without
    /// it, an address another socket listens on is an error.
    #[arg(long)]
    pub reuse_port: bool,

    /// The ringstream API that echoes.
    #[arg(long, value_enum, value_name = "API", default_value_t = Api::Stream)]
    pub api: Api,

    /// Serve TLS with the certificate chain in this PEM file (with --tls-key). Built with
    /// `--features tls` only.
    #[cfg(feature = "tls")]
    #[arg(long, value_name = "CERT.pem", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM).
    #[cfg(feature = "tls")]
    #[arg(long, value_name = "KEY.pem", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// How the server stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Every connection finished within the grace period or was aborted at its end.
    Gracefully,
    /// A second signal (this one) cut the grace period short.
    Forced(i32),
}

impl Stopped {
    /// The exit status: 0, or 128 + the signal's number after a forced stop (the shell's
    /// convention for "ended by this signal").
    pub fn exit_code(self) -> u8 {
        match self {
            Stopped::Gracefully => 0,
            Stopped::Forced(signal) => u8::try_from(128 + signal).unwrap_or(1),
        }
    }
}

/// Runs the server until a signal, then shuts it down (a second signal aborts what is
/// still open at once) and prints the summary.
///
/// # Errors
/// Binding (the address is in the message), starting the cores, installing the signal
/// handlers, or a core that failed while running.
pub fn run(args: &EchoArgs) -> io::Result<Stopped> {
    // Installed before the server starts, so a signal from here on always means "shut down".
    let mut signals = Signals::new([SIGINT, SIGTERM])
        .map_err(|e| io::Error::new(e.kind(), format!("installing signal handlers: {e}")))?;
    let mut builder = match &args.unix {
        Some(path) => StreamServer::bind_unix(path.clone()),
        None => StreamServer::bind(&args.addr),
    };
    if let Some(n) = args.cores {
        builder = builder.cores(usize::from(n));
    }
    if let Some(timeout) = args.idle_timeout {
        builder = builder.idle_timeout(timeout);
    }
    if let Some(timeout) = args.read_timeout {
        builder = builder.read_timeout(timeout);
    }
    if let Some(max) = args.max_conns {
        builder = builder.max_connections(usize::try_from(max).unwrap_or(usize::MAX));
    }
    builder = builder.reuse_port(args.reuse_port);
    #[cfg(feature = "tls")]
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        builder = builder.tls(ringstream::tls::TlsAcceptor::from_pem_files(cert, key)?);
    }
    let server = serve_echo(builder, args.api, || {}).map_err(|e| {
        if e.kind() == io::ErrorKind::AddrInUse {
            io::Error::new(e.kind(), format!("{e} (for this command: --reuse-port)"))
        } else {
            e
        }
    })?;
    let cpus: Vec<String> = server.stats().iter().map(|c| c.cpu.to_string()).collect();
    outln!("listening on {}", server.local_addr());
    outln!(
        "{} core{} (CPU {}), echo API: {}; Ctrl-C or SIGTERM stops",
        cpus.len(),
        if cpus.len() == 1 { "" } else { "s" },
        cpus.join(", "),
        args.api.name()
    );

    let closer = signals.handle();
    // Every core stopping on its own (its ring failed) ends the wait for a signal too: the
    // command then reports why and exits, instead of listening on with no core to serve.
    let watcher = {
        let server = server.clone();
        let closer = closer.clone();
        thread::spawn(move || {
            let ended = server.serve_forever();
            closer.close();
            ended
        })
    };
    let Some(signal) = signals.forever().next() else {
        let ended = watcher
            .join()
            .map_err(|_| io::Error::other("the server watch thread panicked"))?;
        outln!("{}", summary(&server.stats(), 0));
        return Err(ended.err().unwrap_or_else(|| {
            io::Error::other("every server core stopped without a shutdown signal")
        }));
    };
    let signal = Some(signal);
    errln!(
        "{}: shutting down (open connections get {:?}; a second Ctrl-C or SIGTERM aborts \
         them now)",
        signal_name(signal),
        args.grace
    );
    let (report, forced) = thread::scope(|scope| {
        let second = scope.spawn(|| {
            let signal = signals.forever().next()?;
            let open: usize = server.stats().iter().map(|c| c.active).sum();
            errln!(
                "{}: aborting {open} open connection{} now",
                signal_name(Some(signal)),
                if open == 1 { "" } else { "s" }
            );
            server.abort_clients();
            Some((signal, open))
        });
        let report = server.shutdown(args.grace);
        // Ends the wait for a second signal (it returns None) if none came.
        closer.close();
        (report, second.join())
    });
    let report = report?;
    let forced = forced.map_err(|_| io::Error::other("the signal thread panicked"))?;
    let aborted = report.aborted + forced.map_or(0, |(_, open)| open);
    outln!("{}", summary(&server.stats(), aborted));
    if !report.complete {
        return Err(io::Error::other(
            "some connection handlers did not end after being aborted",
        ));
    }
    // Every core has ended: the watch ends too, and may be the one that saw a core fail.
    watcher
        .join()
        .map_err(|_| io::Error::other("the server watch thread panicked"))??;
    Ok(match forced {
        Some((signal, _)) => Stopped::Forced(signal),
        None => Stopped::Gracefully,
    })
}

/// `SIGINT` / `SIGTERM` for the log lines.
fn signal_name(signal: Option<i32>) -> &'static str {
    match signal {
        Some(SIGINT) => "SIGINT",
        Some(SIGTERM) => "SIGTERM",
        _ => "a signal",
    }
}

/// `served 12 connections (CPU 0: 7, CPU 1: 5), 0 failed, 0 aborted at shutdown`.
fn summary(stats: &[CoreStats], aborted: usize) -> String {
    let total: u64 = stats.iter().map(|c| c.accepted).sum();
    let failed: u64 = stats.iter().map(|c| c.failures).sum();
    let per_core: Vec<String> = stats
        .iter()
        .map(|c| format!("CPU {}: {}", c.cpu, c.accepted))
        .collect();
    format!(
        "served {total} connection{} ({}), {failed} failed, {aborted} aborted at shutdown",
        if total == 1 { "" } else { "s" },
        per_core.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_counts_connections_per_core() {
        let stats = [
            CoreStats {
                cpu: 0,
                accepted: 7,
                active: 0,
                failures: 1,
            },
            CoreStats {
                cpu: 1,
                accepted: 5,
                active: 0,
                failures: 0,
            },
        ];
        assert_eq!(
            summary(&stats, 2),
            "served 12 connections (CPU 0: 7, CPU 1: 5), 1 failed, 2 aborted at shutdown"
        );
    }
}
