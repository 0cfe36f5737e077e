//! TCP echo client using streams: connects, sends one message, prints the reply, closes.
//!
//! Mirrors asyncio's "TCP echo client using streams" example (`asyncio.open_connection`,
//! `writer.write` + `drain`, `reader.read(100)`, `close` + `wait_closed`).
//!
//! Start the server first (see `examples/tcp_echo_server.rs`), then:
//!
//! ```sh
//! cargo run --example tcp_echo_server &
//! cargo run --example tcp_echo_client                          # 127.0.0.1:8888, "Hello World!\n"
//! cargo run --example tcp_echo_client -- 127.0.0.1:9000 "hi there"
//! ```
//!
//! The first argument is the server's `host:port`, the second the message.

use ringstream_harness::report::Report;

use std::io;

const DEFAULT_ADDR: &str = "127.0.0.1:8888";

/// Splits `host:port` (or `[v6]:port`) into the host and the port.
fn parse_addr(addr: &str) -> io::Result<(String, u16)> {
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("expected host:port (e.g. {DEFAULT_ADDR}), got {addr:?}"),
        )
    };
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

async fn tcp_echo_client(host: &str, port: u16, message: &str) -> io::Result<()> {
    let (mut reader, writer) = ringstream::open_connection(host, port).await.map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("{e} (is the server running? cargo run --example tcp_echo_server)"),
        )
    })?;

    println!("Send: {message:?}");
    writer.write(message.as_bytes())?;
    writer.drain().await?;

    let data = reader.read(100).await?;
    println!("Received: {:?}", String::from_utf8_lossy(&data));

    println!("Close the connection");
    writer.close();
    writer.wait_closed().await
}

fn main() -> Result<(), Report> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| DEFAULT_ADDR.to_string());
    let message = args.next().unwrap_or_else(|| "Hello World!\n".to_string());
    let (host, port) = parse_addr(&addr)?;
    ringstream::run(tcp_echo_client(&host, port, &message))??;
    Ok(())
}
