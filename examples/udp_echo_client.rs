//! UDP echo client using a datagram protocol: sends one message, prints the reply, closes.
//!
//! Mirrors asyncio's "UDP echo client" example (`loop.create_datagram_endpoint(
//! EchoClientProtocol, remote_addr=...)`), with a 5 s limit on the reply since UDP may
//! lose it.
//!
//! ```sh
//! cargo run --example udp_echo_server &
//! cargo run --example udp_echo_client                        # 127.0.0.1:9999, "Hello World!"
//! cargo run --example udp_echo_client -- 127.0.0.1:9000 "hi there"
//! ```
//!
//! Exits with 0 when the reply came, 1 when it did not (or the endpoint failed), 2 for
//! invalid arguments.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use ringstream::protocol::{create_datagram_endpoint, DatagramProtocol, DatagramTransport};

const DEFAULT_ADDR: &str = "127.0.0.1:9999";
const DEFAULT_MESSAGE: &str = "Hello World!";

const USAGE: &str = "usage: udp_echo_client [HOST:PORT] [MESSAGE]
  HOST:PORT  the echo server (default 127.0.0.1:9999)
  MESSAGE    what to send (default \"Hello World!\")";

/// asyncio's `EchoClientProtocol`: sends on `connection_made`, closes on the reply.
struct EchoClient {
    message: Bytes,
    /// The reply, or the error reported instead.
    outcome: Rc<RefCell<Option<io::Result<Bytes>>>>,
    transport: Option<DatagramTransport>,
}

impl DatagramProtocol for EchoClient {
    fn connection_made(&mut self, transport: DatagramTransport) {
        println!("Send: {:?}", String::from_utf8_lossy(&self.message));
        if let Err(e) = transport.sendto(self.message.clone(), None) {
            *self.outcome.borrow_mut() = Some(Err(e));
        }
        self.transport = Some(transport);
    }

    fn datagram_received(&mut self, data: Bytes, _addr: SocketAddr) {
        println!("Received: {:?}", String::from_utf8_lossy(&data));
        *self.outcome.borrow_mut() = Some(Ok(data));
        println!("Close the socket");
        if let Some(transport) = &self.transport {
            transport.close();
        }
    }

    fn error_received(&mut self, err: io::Error) {
        println!("Error received: {err}");
        *self.outcome.borrow_mut() = Some(Err(err));
        if let Some(transport) = &self.transport {
            transport.close();
        }
    }

    fn connection_lost(&mut self, _err: Option<io::Error>) {
        println!("Connection closed");
        self.transport = None;
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (addr, message) = match args.as_slice() {
        [] => (DEFAULT_ADDR, DEFAULT_MESSAGE),
        [addr] => (addr.as_str(), DEFAULT_MESSAGE),
        [addr, message] => (addr.as_str(), message.as_str()),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let remote: SocketAddr = match addr.parse() {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("invalid HOST:PORT {addr:?}: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let message = Bytes::copy_from_slice(message.as_bytes());
    let outcome = ringstream::run(async move {
        let outcome = Rc::new(RefCell::new(None));
        let client = EchoClient {
            message,
            outcome: outcome.clone(),
            transport: None,
        };
        let transport = create_datagram_endpoint(|| client, None, Some(remote))?;
        if ringstream::time::timeout(Duration::from_secs(5), transport.wait_closed())
            .await
            .is_err()
        {
            transport.abort();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no reply within 5 s",
            ));
        }
        let reply = outcome.borrow_mut().take();
        reply.unwrap_or_else(|| Err(io::Error::other("the endpoint closed without a reply")))
    });
    match outcome {
        Ok(Ok(_)) => ExitCode::SUCCESS,
        Ok(Err(e)) | Err(e) => {
            eprintln!("udp_echo_client: {e}");
            ExitCode::from(1)
        }
    }
}
