//! One HTTP/1.1 keep-alive connection on ringstream streams: the handler the `http_hello`
//! example and `benches/http.rs` give to `StreamServer::serve`.

use std::io;
use std::time::Duration;

use ringstream::{Stream, StreamError, StreamReader, StreamWriter};

use super::head::{parse_head, CONTINUE, TOO_LARGE};

/// How long a closing connection keeps reading (and discarding) after its last response.
const LINGER: Duration = Duration::from_secs(1);
/// At most this much is read and discarded while lingering.
const LINGER_BYTES: usize = 1 << 20;
/// Bodies are read and discarded in pieces of at most this size.
const BODY_PIECE: u64 = 64 * 1024;

/// Answers every request on the connection until the client closes it, asks to close it,
/// or sends something unparseable.
///
/// Pipelining: the reader buffers whatever arrives, so several requests in one segment are
/// taken one `read_until` at a time and answered in order. Each response is only queued
/// (`write` copies it into the send buffer, and small writes are coalesced), and `drain` is
/// awaited only when the buffer is over its high watermark, so a pipelined batch does not
/// cost one send per response. (Today the writer submits a send as soon as it has data and
/// none is in flight, so the first response of a batch leaves alone and the rest together
/// in the next send: two sends per batch, where writing all responses before any send
/// would take one.)
///
/// # Errors
/// The connection's I/O errors (a reset by the client, say); protocol errors are answered
/// (400, 431, 501) and end the connection without an error.
pub async fn serve_connection(stream: Stream) -> io::Result<()> {
    let (mut reader, writer) = stream.split();
    let high_watermark = writer.write_buffer_limits().1;
    loop {
        let head = match reader.read_until(b"\r\n\r\n").await {
            Ok(head) => head,
            // The client closed between requests: the normal end of a keep-alive connection.
            Err(StreamError::IncompleteRead { partial, .. }) if partial.is_empty() => break,
            // It closed in the middle of a head: nobody is left to answer.
            Err(StreamError::IncompleteRead { .. }) => break,
            Err(StreamError::LimitOverrun { .. }) => {
                return refuse(reader, writer, TOO_LARGE).await;
            }
            Err(StreamError::Io(e)) => return Err(e),
        };
        let request = match parse_head(&head) {
            Ok(request) => request,
            Err(refusal) => return refuse(reader, writer, refusal.response()).await,
        };
        if request.content_length > 0 {
            if request.expect_continue {
                writer.write(CONTINUE)?;
            }
            if !discard_body(&mut reader, request.content_length).await? {
                break; // the client closed in the middle of the body
            }
        }
        writer.write(request.response())?;
        if !request.keep_alive {
            return close_gracefully(reader, writer).await;
        }
        if writer.get_write_buffer_size() > high_watermark {
            writer.drain().await?;
        }
    }
    writer.close();
    writer.wait_closed().await
}

/// Reads and drops `len` bytes of body; false when the stream ends first.
async fn discard_body(reader: &mut StreamReader, mut len: u64) -> io::Result<bool> {
    while len > 0 {
        let piece = len.min(BODY_PIECE) as usize;
        match reader.read_exact(piece).await {
            Ok(_) => len -= piece as u64,
            Err(StreamError::IncompleteRead { .. }) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

/// Sends an error response, then closes as [`close_gracefully`] does.
async fn refuse(
    reader: StreamReader,
    writer: StreamWriter,
    response: &'static [u8],
) -> io::Result<()> {
    writer.write(response)?;
    close_gracefully(reader, writer).await
}

/// Closes without losing what is queued: half-close (FIN after the last response), then
/// read and drop what the client still sends until it closes, for at most [`LINGER`].
/// Closing at once with unread bytes in the socket (a pipelined request after
/// `Connection: close`, the rest of an oversized head) would make the kernel send an RST,
/// which can destroy the response before the client has read it.
async fn close_gracefully(mut reader: StreamReader, writer: StreamWriter) -> io::Result<()> {
    writer.write_eof()?;
    let _ = ringstream::time::timeout(LINGER, async {
        let mut discarded = 0;
        while discarded < LINGER_BYTES {
            match reader.read(64 * 1024).await {
                Ok(data) if !data.is_empty() => discarded += data.len(),
                _ => break,
            }
        }
    })
    .await;
    writer.close();
    // Best effort from here: the client may have reset already.
    let _ = writer.wait_closed().await;
    Ok(())
}
