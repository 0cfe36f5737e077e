//! TCP echo client using a protocol: connects, sends one message, prints what comes back,
//! and stops when the connection is lost.
//!
//! Mirrors asyncio's "TCP echo client protocol" example (`loop.create_connection(EchoClient,
//! ...)`, whose `connection_lost` stops the loop). That client waits for the server to
//! close; this one also closes by itself once the whole message has come back, so it works
//! with a server that echoes until EOF too. `main` waits for `connection_lost` with a small
//! future the protocol completes.
//!
//! Start the server first (see `examples/protocol_echo_server.rs`), then:
//!
//! ```sh
//! cargo run --example protocol_echo_server &
//! cargo run --example protocol_echo_client                       # 127.0.0.1:8888, the seed's message
//! cargo run --example protocol_echo_client -- 127.0.0.1:9000 "hi there"
//! ```
//!
//! Exits with 0 when the connection ended cleanly, 1 when it failed (the error is printed),
//! 2 for invalid arguments (with the usage).

use ringstream_harness::report::Report;

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::process::ExitCode;
use std::rc::Rc;
use std::task::{Poll, Waker};

use bytes::Bytes;
use ringstream::protocol::{create_connection, BaseProtocol, Protocol, Transport};

const DEFAULT_ADDR: &str = "127.0.0.1:8888";

/// asyncio's example message.
const DEFAULT_MESSAGE: &str = "This is the message. It will be echoed.";

const USAGE: &str = "usage: protocol_echo_client [HOST:PORT] [MESSAGE]
  HOST:PORT  the echo server (default 127.0.0.1:8888)
  MESSAGE    what to send (default \"This is the message. It will be echoed.\")";

/// How the connection ended, once it has: what `connection_lost` was given. `main` waits
/// on it.
#[derive(Default)]
struct Lost {
    outcome: Option<Option<io::Error>>,
    waker: Option<Waker>,
}

/// asyncio's `EchoClient` protocol.
struct EchoClient {
    message: String,
    /// Bytes of the echo still to come.
    expected: usize,
    transport: Option<Transport>,
    lost: Rc<RefCell<Lost>>,
}

impl BaseProtocol for EchoClient {
    fn connection_made(&mut self, transport: Transport) {
        match transport.write(self.message.as_bytes()) {
            Ok(()) => println!("Data sent: {:?}", self.message),
            // Not connected any more: `connection_lost` follows with the cause.
            Err(e) => println!("Data not sent: {e}"),
        }
        if self.expected == 0 {
            // An empty message: no echo to wait for.
            println!("Close the connection");
            transport.close();
        }
        self.transport = Some(transport);
    }

    fn connection_lost(&mut self, err: Option<io::Error>) {
        match &err {
            None => println!("Connection closed"),
            Some(e) => println!("Connection lost: {e}"),
        }
        // The transport refers to this protocol: dropping it here frees both.
        self.transport = None;
        let mut lost = self.lost.borrow_mut();
        lost.outcome = Some(err);
        if let Some(waker) = lost.waker.take() {
            waker.wake();
        }
    }
}

impl Protocol for EchoClient {
    fn data_received(&mut self, data: Bytes) {
        println!("Data received: {:?}", String::from_utf8_lossy(&data));
        self.expected = self.expected.saturating_sub(data.len());
        if self.expected == 0 {
            if let Some(transport) = &self.transport {
                println!("Close the connection");
                transport.close();
            }
        }
    }

    fn eof_received(&mut self) -> bool {
        println!("The server closed the connection");
        // Close our side too; `connection_lost` follows.
        false
    }
}

/// Splits `host:port` (or `[v6]:port`) into `"host:port"` for `create_connection`,
/// checking the form.
fn check_addr(addr: &str) -> Result<String, String> {
    let bad = || format!("{addr:?} is not a HOST:PORT address");
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    port.parse::<u16>().map_err(|_| bad())?;
    if host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .is_empty()
    {
        return Err(bad());
    }
    Ok(addr.to_string())
}

/// The command line: `Ok(None)` for `--help`.
fn parse_args(args: impl Iterator<Item = String>) -> Result<Option<(String, String)>, String> {
    let mut positional = Vec::new();
    for arg in args {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            option if option.starts_with('-') && positional.is_empty() => {
                return Err(format!("unknown option {option:?}"));
            }
            _ if positional.len() == 2 => return Err(format!("unexpected argument {arg:?}")),
            _ => positional.push(arg),
        }
    }
    let mut positional = positional.into_iter();
    let addr = match positional.next() {
        Some(addr) => check_addr(&addr)?,
        None => DEFAULT_ADDR.to_string(),
    };
    let message = positional
        .next()
        .unwrap_or_else(|| DEFAULT_MESSAGE.to_string());
    Ok(Some((addr, message)))
}

/// Runs one `EchoClient` to its `connection_lost`; returns that callback's error.
async fn echo_client(addr: &str, message: String) -> io::Result<Option<io::Error>> {
    let lost = Rc::new(RefCell::new(Lost::default()));
    let client = EchoClient {
        expected: message.len(),
        message,
        transport: None,
        lost: lost.clone(),
    };
    let _transport = create_connection(|| client, addr).await.map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("{e} (is the server running? cargo run --example protocol_echo_server)"),
        )
    })?;
    // asyncio's example runs the loop until `connection_lost` stops it.
    Ok(poll_fn(|cx| {
        let mut lost = lost.borrow_mut();
        match lost.outcome.take() {
            Some(outcome) => Poll::Ready(outcome),
            None => {
                lost.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    })
    .await)
}

fn main() -> Result<ExitCode, Report> {
    let (addr, message) = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => {
            eprintln!("protocol_echo_client: {e}\n{USAGE}");
            return Ok(ExitCode::from(2));
        }
    };
    match ringstream::run(echo_client(&addr, message))?? {
        None => Ok(ExitCode::SUCCESS),
        // Printed by `connection_lost` already.
        Some(_) => Ok(ExitCode::FAILURE),
    }
}
