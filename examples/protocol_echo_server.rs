//! TCP echo server using a protocol: one `EchoServer` per connection, on every core, sends
//! back everything it receives; when the client sends EOF it closes the connection.
//!
//! Mirrors asyncio's "TCP echo server protocol" example (`loop.create_server(EchoServer,
//! ...)`, whose `data_received` writes the data back and closes at once): here that is
//! `--once`. Without it the server echoes until the client's EOF, so one connection can
//! carry any number of messages. The callbacks run straight from the ring's completions:
//! no task per connection (compare `examples/tcp_echo_server.rs`, the streams version).
//!
//! ```sh
//! cargo run --example protocol_echo_server                   # 127.0.0.1:8888 until Ctrl-C
//! cargo run --example protocol_echo_server -- 0.0.0.0:9000   # another address (port 0: any)
//! cargo run --example protocol_echo_server -- --once         # close after the first message
//! ```
//!
//! Then, in another terminal: `cargo run --example protocol_echo_client`.
//!
//! The first line printed is `Serving on HOST:PORT`, with the real port when port 0 was
//! asked for. Invalid arguments print the usage and exit with status 2.

use ringstream_harness::report::Report;

use std::io;
use std::process::ExitCode;

use bytes::Bytes;
use ringstream::net::StreamServer;
use ringstream::protocol::{BaseProtocol, Protocol, Transport};

const DEFAULT_ADDR: &str = "127.0.0.1:8888";

const USAGE: &str = "usage: protocol_echo_server [HOST:PORT] [--once]
  HOST:PORT  where to listen (default 127.0.0.1:8888; port 0 picks a free one)
  --once     close each connection after echoing its first message (asyncio's example)";

/// At most this much of a message is printed (the rest is counted).
const SHOWN: usize = 100;

/// One connection: asyncio's `EchoServer` protocol.
struct EchoServer {
    /// Close after the first message instead of at the client's EOF.
    once: bool,
    transport: Option<Transport>,
    peer: String,
}

impl EchoServer {
    fn new(once: bool) -> EchoServer {
        EchoServer {
            once,
            transport: None,
            peer: String::new(),
        }
    }
}

impl BaseProtocol for EchoServer {
    fn connection_made(&mut self, transport: Transport) {
        self.peer = match transport.peer_addr() {
            Ok(addr) => addr.to_string(),
            // The client may already have gone; the connection still runs its course.
            Err(e) => format!("an unknown peer ({e})"),
        };
        println!("Connection from {}", self.peer);
        self.transport = Some(transport);
    }

    fn connection_lost(&mut self, err: Option<io::Error>) {
        match err {
            None => println!("Connection from {} closed", self.peer),
            Some(e) => println!("Connection from {} lost: {e}", self.peer),
        }
        // The transport refers to this protocol: dropping it here frees both.
        self.transport = None;
    }
}

impl Protocol for EchoServer {
    fn data_received(&mut self, data: Bytes) {
        println!("Data received: {}", shown(&data));
        let Some(transport) = &self.transport else {
            return;
        };
        // Fails only once the connection is closing or lost, and then `connection_lost`
        // says why.
        let _ = transport.write_bytes(data);
        if self.once {
            println!("Close the client socket");
            // What was just written is still sent, then the socket closes.
            transport.close();
        }
    }

    fn eof_received(&mut self) -> bool {
        println!("EOF from {}: close the connection", self.peer);
        // Closes once the echo queued so far has been sent.
        false
    }
}

/// `data` for printing: the text (lossy UTF-8) if short, else its start and its length.
fn shown(data: &[u8]) -> String {
    if data.len() <= SHOWN {
        format!("{:?}", String::from_utf8_lossy(data))
    } else {
        let start = String::from_utf8_lossy(&data[..SHOWN]);
        format!("{start:?}... ({} bytes)", data.len())
    }
}

/// The command line: the address and `--once`, or `Err` with what is wrong.
struct Args {
    addr: String,
    once: bool,
}

/// `Ok(None)` for `--help`.
fn parse_args(args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut addr = None;
    let mut once = false;
    for arg in args {
        match arg.as_str() {
            "--once" => once = true,
            "-h" | "--help" => return Ok(None),
            option if option.starts_with('-') => {
                return Err(format!("unknown option {option:?}"));
            }
            _ if addr.is_some() => return Err(format!("unexpected argument {arg:?}")),
            _ => {
                // Resolution waits for the bind; the form is checked here.
                let port = arg.rsplit_once(':').map(|(_, port)| port.parse::<u16>());
                if !matches!(port, Some(Ok(_))) {
                    return Err(format!("{arg:?} is not a HOST:PORT address"));
                }
                addr = Some(arg);
            }
        }
    }
    let addr = addr.unwrap_or_else(|| DEFAULT_ADDR.to_string());
    Ok(Some(Args { addr, once }))
}

fn main() -> Result<ExitCode, Report> {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => {
            eprintln!("protocol_echo_server: {e}\n{USAGE}");
            return Ok(ExitCode::from(2));
        }
    };
    let once = args.once;
    let server = StreamServer::bind(&args.addr)
        .on_handler_failure(|failure| eprintln!("protocol_echo_server: {failure}"))
        .serve_protocol(move || EchoServer::new(once))?;
    println!("Serving on {}", server.local_addr());
    server.serve_forever()?;
    Ok(ExitCode::SUCCESS)
}
