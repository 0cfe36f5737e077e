//! The README's example, kept compiling and passing.

use ringstream::net::StreamServer;

#[test]
fn readme_line_echo_server_and_client() -> std::io::Result<()> {
    // A listener, pinned thread and ring per core.
    let server = StreamServer::bind("127.0.0.1:0")
        .cores(1)
        .serve(|stream| async move {
            let (mut reader, writer) = stream.split();
            while let Ok(line) = reader.read_line().await {
                if line.is_empty() {
                    break; // EOF
                }
                writer.write(&line)?; // queues; small writes are coalesced
                writer.drain().await?; // waits only above the high watermark
            }
            Ok(())
        })?;
    let addr = server.local_addr().to_string();

    let reply = ringstream::run(async move {
        let (mut reader, writer) = ringstream::connect(&addr).await?.split();
        writer.write(b"hello\n")?;
        reader.read_line().await.map_err(std::io::Error::from)
    })??;
    assert_eq!(&reply[..], b"hello\n");
    server.shutdown(std::time::Duration::from_secs(5))?;
    Ok(())
}
