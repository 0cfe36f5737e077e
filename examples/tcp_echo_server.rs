//! TCP echo server using streams: accepts connections on one core, and for each one reads a
//! message, prints it, sends it back and closes.
//!
//! Mirrors asyncio's "TCP echo server using streams" example (`asyncio.start_server` with a
//! `handle_echo(reader, writer)` callback running as a task per connection). ringstream has
//! no `StreamServer` yet, so the accept loop is written out: `Listener::accept` and one
//! `ringstream::spawn` per connection, all on this thread's runtime.
//!
//! ```sh
//! cargo run --example tcp_echo_server                   # serves 127.0.0.1:8888 until Ctrl-C
//! cargo run --example tcp_echo_server -- 0.0.0.0:9000   # another address
//! cargo run --example tcp_echo_server -- --once         # serve one connection, then exit
//! ```
//!
//! Then, in another terminal: `cargo run --example tcp_echo_client`.

use ringstream_harness::report::Report;

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

use ringstream::net::Listener;
use ringstream::{StreamReader, StreamWriter};

const DEFAULT_ADDR: &str = "127.0.0.1:8888";

/// One connection: asyncio's `handle_echo`.
async fn handle_echo(mut reader: StreamReader, writer: StreamWriter) -> io::Result<()> {
    let data = reader.read(100).await?;
    let message = String::from_utf8_lossy(&data);
    let addr = writer.peer_addr()?;
    println!("Received {message:?} from {addr}");

    println!("Send: {message:?}");
    writer.write(&data)?;
    writer.drain().await?;

    println!("Close the connection");
    writer.close();
    writer.wait_closed().await
}

async fn serve(addr: SocketAddr, once: bool) -> io::Result<()> {
    let listener = Listener::bind(addr)?;
    println!("Serving on {}", listener.local_addr()?);
    loop {
        let stream = match listener.accept().await {
            Ok(stream) => stream,
            Err(e) => {
                // E.g. out of descriptors: the connection waits in the backlog; go on.
                eprintln!("accept: {e}");
                ringstream::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let (reader, writer) = stream.split();
        let task = ringstream::spawn(async move {
            if let Err(e) = handle_echo(reader, writer).await {
                eprintln!("connection failed: {e}");
            }
        });
        if once {
            // Let the connection finish, then stop serving.
            return Ok(task.await?);
        }
        // Otherwise the task runs detached, like asyncio's per-client task.
    }
}

fn main() -> Result<(), Report> {
    let mut once = false;
    let mut addr = DEFAULT_ADDR.to_string();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--once" => once = true,
            "-h" | "--help" => {
                println!("usage: tcp_echo_server [HOST:PORT] [--once]   (default {DEFAULT_ADDR})");
                return Ok(());
            }
            _ => addr = arg,
        }
    }
    let addr = addr
        .to_socket_addrs()
        .map_err(|e| format!("{addr:?} is not a HOST:PORT address: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr:?} resolved to no address"))?;
    ringstream::run(serve(addr, once))??;
    Ok(())
}
