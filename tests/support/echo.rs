//! The echo handler the server tests serve: whatever arrives goes back. Included by
//! `#[path]` from tests/server.rs and tests/server_limits.rs.

use std::io;

use ringstream::Stream;

/// Echoes until EOF, waiting for the write buffer to drain after each read.
pub async fn echo(stream: Stream) -> io::Result<()> {
    let (mut reader, writer) = stream.split();
    loop {
        let data = reader.read(64 * 1024).await?;
        if data.is_empty() {
            return Ok(());
        }
        writer.write_bytes(data)?;
        writer.drain().await?;
    }
}
