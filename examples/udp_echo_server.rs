//! UDP echo server using a datagram protocol: echoes every datagram to its sender until
//! stopped (Ctrl-C).
//!
//! Mirrors asyncio's "UDP echo server" example (`loop.create_datagram_endpoint(
//! EchoServerProtocol, local_addr=...)`). Its first line names the address it listens on, so
//! port 0 (the kernel picks one) works too.
//!
//! ```sh
//! cargo run --example udp_echo_server                    # 127.0.0.1:9999
//! cargo run --example udp_echo_server -- 127.0.0.1:0
//! ```
//!
//! Exits with 1 when the endpoint cannot be created or fails, 2 for invalid arguments.

use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;

use bytes::Bytes;
use ringstream::protocol::{create_datagram_endpoint, DatagramProtocol, DatagramTransport};

const DEFAULT_ADDR: &str = "127.0.0.1:9999";

const USAGE: &str = "usage: udp_echo_server [HOST:PORT]
  HOST:PORT  where to listen (default 127.0.0.1:9999; port 0: any free port)";

/// asyncio's `EchoServerProtocol`.
#[derive(Default)]
struct EchoServer {
    transport: Option<DatagramTransport>,
}

impl DatagramProtocol for EchoServer {
    fn connection_made(&mut self, transport: DatagramTransport) {
        self.transport = Some(transport);
    }

    fn datagram_received(&mut self, data: Bytes, addr: SocketAddr) {
        println!("Received {:?} from {addr}", String::from_utf8_lossy(&data));
        println!("Send {:?} to {addr}", String::from_utf8_lossy(&data));
        if let Some(transport) = &self.transport {
            if let Err(e) = transport.sendto(data, Some(addr)) {
                println!("Not sent: {e}");
            }
        }
    }

    fn error_received(&mut self, err: io::Error) {
        println!("Error received: {err}");
    }

    fn connection_lost(&mut self, err: Option<io::Error>) {
        if let Some(e) = err {
            println!("Endpoint lost: {e}");
        }
        self.transport = None;
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr: SocketAddr = match args.as_slice() {
        [] => DEFAULT_ADDR.parse().expect("the default address parses"),
        [addr] => match addr.parse() {
            Ok(addr) => addr,
            Err(e) => {
                eprintln!("invalid HOST:PORT {addr:?}: {e}\n{USAGE}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let outcome = ringstream::run(async move {
        let transport = create_datagram_endpoint(EchoServer::default, Some(addr), None)?;
        println!(
            "Starting UDP server on {}",
            transport.socket().local_addr()?
        );
        transport.wait_closed().await;
        Ok::<(), io::Error>(())
    });
    match outcome {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) | Err(e) => {
            eprintln!("udp_echo_server: {e}");
            ExitCode::from(1)
        }
    }
}
