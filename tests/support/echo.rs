//! Echo peers for the tests: whatever arrives goes back. A ringstream handler (`echo`,
//! `echo_counted`) and a blocking one on a std thread (`std_echo`, `std_echo_server`).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::thread::{self, JoinHandle};

use ringstream::Stream;

/// Echoes until EOF, waiting for the write buffer to drain after each read, then closes
/// and waits until the peer has the FIN; returns how many bytes it echoed.
pub async fn echo_counted(stream: Stream) -> io::Result<u64> {
    let (mut reader, writer) = stream.split();
    let mut total = 0;
    loop {
        let data = reader.read(256 * 1024).await?;
        if data.is_empty() {
            break;
        }
        total += data.len() as u64;
        writer.write_bytes(data)?;
        writer.drain().await?;
    }
    writer.close();
    writer.wait_closed().await?;
    Ok(total)
}

/// [`echo_counted`] as a `StreamServer` handler.
pub async fn echo(stream: Stream) -> io::Result<()> {
    echo_counted(stream).await.map(drop)
}

/// A blocking echo of `peer` on a std thread, until EOF or an error.
pub fn std_echo<S: Read + Write + Send + 'static>(mut peer: S) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = [0u8; 64 * 1024];
        loop {
            match peer.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if peer.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            }
        }
    })
}

/// A blocking std echo server on the loopback that serves its first `connections`
/// clients, each with [`std_echo`]; returns its address.
pub fn std_echo_server(connections: usize) -> SocketAddr {
    let listener = TcpListener::bind(super::loopback()).expect("bind");
    let addr = listener.local_addr().expect("addr");
    thread::spawn(move || {
        for _ in 0..connections {
            let Ok((s, _)) = listener.accept() else {
                return;
            };
            std_echo(s);
        }
    });
    addr
}
