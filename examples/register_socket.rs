//! Register an open socket to wait for data using streams: adopts an already connected
//! socket as a stream and waits until data arrives on it.
//!
//! Mirrors asyncio's "Register an open socket to wait for data using streams" example
//! (`socket.socketpair()`, `open_connection(sock=rsock)`, `loop.call_soon(wsock.send,
//! b'abc')`, `reader.read(100)`). Here `Stream::from_std` registers the open std socket
//! with the runtime, and a spawned task plays the part of `call_soon`: it runs at the
//! runtime's next turn and sends `abc` through the other, plain std, end of the pair.
//!
//! ```sh
//! cargo run --example register_socket
//! ```

use ringstream_harness::report::Report;

use std::io::{self, Write};
use std::os::unix::net::UnixStream;

async fn wait_for_data() -> io::Result<()> {
    // Create a pair of connected sockets.
    let (rsock, wsock) = UnixStream::pair()?;

    // Register the open socket to wait for data.
    let (mut reader, writer) = ringstream::Stream::from_std(rsock)?.split();

    // Simulate the reception of data from the network: a task that runs once this one
    // waits, sending through the std end (a blocking-mode send of 3 bytes into an empty
    // socket buffer returns at once). It hands the socket back so it can be closed last.
    let sender = ringstream::spawn(async move {
        (&wsock).write_all(b"abc")?;
        Ok::<UnixStream, io::Error>(wsock)
    });

    // Wait for data.
    let data = reader.read(100).await?;

    // Got data, we are done: close the socket.
    println!("Received: {:?}", String::from_utf8_lossy(&data));
    writer.close();
    writer.wait_closed().await?;

    // Close the second socket.
    let wsock = sender.await??;
    drop(wsock);
    Ok(())
}

fn main() -> Result<(), Report> {
    ringstream::run(wait_for_data())??;
    Ok(())
}
