//! The async I/O trait features on real connections: tokio's traits (feature `tokio-io`)
//! under tokio-util's `LinesCodec` / `Framed` and tokio's own helpers, the `futures-io`
//! traits (feature `futures-io`) under `futures::io::copy` and `read_line`, and `Lines` as
//! a `futures_core::Stream`. Backpressure, flush and shutdown through the traits.

mod support;

use std::future::poll_fn;
use std::io;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use ringstream::spawn;
use support::{run_bounded, tcp_pair};

const LIMIT: Duration = Duration::from_secs(10);

/// A tokio-util `Framed` with `LinesCodec` on each end of a TCP connection: lines sent
/// one way come back upper-cased, through `AsyncRead` and `AsyncWrite`.
#[test]
fn tokio_util_lines_codec_round_trip() {
    use tokio_util::codec::{Framed, LinesCodec};

    run_bounded(LIMIT, async {
        let (client, server) = tcp_pair().await?;
        let serving = spawn(async move {
            let mut framed = Framed::new(server, LinesCodec::new());
            while let Some(line) = framed.next().await {
                let line = line.map_err(io::Error::other)?;
                framed
                    .send(line.to_uppercase())
                    .await
                    .map_err(io::Error::other)?;
            }
            io::Result::Ok(())
        });
        let mut framed = Framed::new(client, LinesCodec::new());
        for i in 0..100 {
            framed
                .send(format!("line {i}"))
                .await
                .map_err(io::Error::other)?;
            let back = framed.next().await.expect("a reply");
            assert_eq!(back.map_err(io::Error::other)?, format!("LINE {i}"));
        }
        // Closing the sink shuts down the write side: the server sees the end and stops.
        SinkExt::<String>::close(&mut framed)
            .await
            .map_err(io::Error::other)?;
        serving.await.expect("server task")?;
        assert!(framed.next().await.is_none(), "the server closed");
        Ok(())
    });
}

/// tokio's `AsyncBufReadExt::read_line` and `AsyncReadExt::read_to_end` over a reader fed
/// through `AsyncWriteExt`: bytes in order, and `shutdown` ends the stream after them.
#[test]
fn tokio_traits_read_line_write_all_shutdown() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

    run_bounded(LIMIT, async {
        let (mut client, server) = tcp_pair().await?;
        let (mut reader, mut writer) = server.split();
        AsyncWriteExt::write_all(&mut client, b"first line\nsecond").await?;
        client.shutdown().await?;
        let mut line = String::new();
        AsyncBufReadExt::read_line(&mut reader, &mut line).await?;
        assert_eq!(line, "first line\n");
        let mut rest = Vec::new();
        AsyncReadExt::read_to_end(&mut reader, &mut rest).await?;
        assert_eq!(rest, b"second");
        // The other direction still works after the client's half-close.
        AsyncWriteExt::write_all(&mut writer, b"reply").await?;
        AsyncWriteExt::flush(&mut writer).await?;
        let mut reply = [0u8; 5];
        AsyncReadExt::read_exact(&mut client, &mut reply).await?;
        assert_eq!(&reply, b"reply");
        Ok(())
    });
}

/// Backpressure and flush through `AsyncWrite`: a write over the high watermark is taken
/// whole, the next one waits until the peer reads; `flush` returns only once everything
/// is handed to the kernel (the writer's buffer is empty), not at the low watermark.
#[test]
fn f4_poll_write_waits_over_the_high_watermark_and_flush_empties_the_buffer() {
    use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

    const BIG: usize = 4 << 20;
    run_bounded(LIMIT, async {
        let (client, server) = tcp_pair().await?;
        let (_client_reader, mut writer) = client.split();
        let (mut reader, _server_writer) = server.split();
        writer.set_write_buffer_limits(Some(64 * 1024), None)?;
        let big = vec![7u8; BIG];
        let n = AsyncWriteExt::write(&mut writer, &big).await?;
        assert_eq!(n, BIG, "a write under the high watermark is taken whole");
        // Nothing was sent yet (no submission since): the buffer is over the watermark.
        let second = poll_fn(|cx| {
            let poll = std::pin::Pin::new(&mut writer).poll_write(cx, b"more");
            std::task::Poll::Ready(poll)
        })
        .await;
        assert!(second.is_pending(), "a write over the high watermark waits");
        let reading = spawn(async move {
            let mut all = Vec::new();
            AsyncReadExt::read_to_end(&mut reader, &mut all).await?;
            io::Result::Ok(all.len())
        });
        AsyncWriteExt::write_all(&mut writer, b"more").await?;
        AsyncWriteExt::flush(&mut writer).await?;
        assert_eq!(writer.get_write_buffer_size(), 0, "flush left bytes queued");
        AsyncWriteExt::shutdown(&mut writer).await?;
        assert_eq!(reading.await.expect("reader task")?, BIG + 4);
        Ok(())
    });
}

/// `futures::io::copy` relays a reader into a writer through the `futures-io` traits (the
/// reader side through `AsyncBufRead`), and `AsyncBufReadExt::read_line` reads the relayed
/// lines.
#[test]
fn futures_io_copy_and_read_line() {
    use futures::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

    run_bounded(LIMIT, async {
        let (mut source, relay_in) = tcp_pair().await?;
        let (relay_out, sink) = tcp_pair().await?;
        let relaying = spawn(async move {
            let (reader, _writer) = relay_in.split();
            let (_reader, mut writer) = relay_out.split();
            let copied = futures::io::copy_buf(reader, &mut writer).await?;
            AsyncWriteExt::close(&mut writer).await?;
            io::Result::Ok(copied)
        });
        let payload: Vec<u8> = (0..1000)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        AsyncWriteExt::write_all(&mut source, &payload).await?;
        AsyncWriteExt::close(&mut source).await?;
        let (mut reader, _writer) = sink.split();
        let mut line = String::new();
        AsyncBufReadExt::read_line(&mut reader, &mut line).await?;
        assert_eq!(line, "line 0\n");
        let mut rest = Vec::new();
        AsyncReadExt::read_to_end(&mut reader, &mut rest).await?;
        assert_eq!(rest, payload[line.len()..]);
        assert_eq!(relaying.await.expect("relay task")?, payload.len() as u64);
        Ok(())
    });
}

/// `Lines` is a `futures_core::Stream`: `StreamExt` collects the lines, the last one
/// unterminated, and the stream ends at EOF.
#[test]
fn b1_lines_as_a_futures_stream() {
    run_bounded(LIMIT, async {
        let (client, server) = tcp_pair().await?;
        client.writer.write(b"a\nbb\nccc")?;
        client.writer.write_eof().expect("write_eof");
        let (mut reader, _writer) = server.split();
        let lines: Vec<_> = reader.lines().collect().await;
        let lines: Vec<_> = lines.into_iter().collect::<Result<_, _>>()?;
        assert_eq!(lines, [&b"a\n"[..], b"bb\n", b"ccc"]);
        Ok(())
    });
}

/// E4 through `AsyncRead`: with a 16-byte limit the reader's buffer pauses receiving
/// almost at once; each read through the trait must re-arm the receive once it brought
/// the buffer back down, or the transfer stalls.
#[test]
fn e4_reads_through_the_trait_resume_a_paused_connection() {
    use tokio::io::AsyncReadExt;

    const TOTAL: usize = 1 << 20;
    run_bounded(LIMIT, async {
        let small = ringstream::StreamOptions {
            limit: 16,
            ..Default::default()
        };
        let (client, server) =
            support::tcp_pair_with(ringstream::StreamOptions::default(), small).await?;
        let (_client_reader, writer) = client.split();
        let (mut reader, _server_writer) = server.split();
        let sending = spawn(async move {
            writer.write(&vec![1u8; TOTAL])?;
            writer.write_eof().expect("write_eof");
            writer.drain().await?;
            io::Result::Ok(writer)
        });
        let mut all = Vec::new();
        AsyncReadExt::read_to_end(&mut reader, &mut all).await?;
        assert_eq!(all.len(), TOTAL);
        drop(sending.await.expect("sender task")?);
        Ok(())
    });
}

/// The writer's poll-level API by hand: `poll_write_vectored` queues every slice in
/// order, `poll_write_eof` returns once the FIN is sent (the peer reads everything, then
/// EOF), and `poll_close` returns once the socket is closed.
#[test]
fn f7_poll_write_vectored_write_eof_and_close() {
    use std::io::IoSlice;

    run_bounded(LIMIT, async {
        let (client, server) = tcp_pair().await?;
        let (_client_reader, mut writer) = client.split();
        let (mut reader, _server_writer) = server.split();
        let parts = [
            IoSlice::new(b"head "),
            IoSlice::new(b""),
            IoSlice::new(b"body"),
        ];
        let n = poll_fn(|cx| writer.poll_write_vectored(cx, &parts)).await?;
        assert_eq!(n, 9);
        poll_fn(|cx| writer.poll_write_eof(cx)).await?;
        assert_eq!(writer.get_write_buffer_size(), 0);
        assert!(!writer.is_closing(), "a half-close is not a close");
        assert_eq!(&reader.read_to_end().await?[..], b"head body");
        poll_fn(|cx| writer.poll_close(cx)).await?;
        let closed = poll_fn(|cx| {
            let wait = std::pin::pin!(writer.wait_closed());
            std::task::Poll::Ready(std::future::Future::poll(wait, cx))
        })
        .await;
        assert!(
            closed.is_ready(),
            "poll_close returned before the socket closed"
        );
        let error = writer
            .write(b"late")
            .expect_err("a write after close fails");
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
        Ok(())
    });
}
