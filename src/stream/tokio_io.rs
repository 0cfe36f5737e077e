//! The `tokio-io` feature: tokio's `AsyncRead`, `AsyncBufRead` and `AsyncWrite` for
//! [`StreamReader`], [`StreamWriter`] and [`Stream`], so that hyper (through hyper-util's
//! `TokioIo`), tokio-util's codecs and tokio-rustls run on a ringstream connection.
//!
//! Each method is the type's poll-level API (`StreamReader::poll_read_chunk`, ...): a read
//! copies once, from the connection's buffer into the caller's `ReadBuf` (no zeroing, no
//! allocation); `poll_fill_buf` copies nothing. `poll_write` queues the slice whole while the
//! write buffer is not over its high watermark, else waits for it to drain to the low one;
//! `poll_flush` waits until everything written is handed to the kernel; `poll_shutdown`
//! half-closes (FIN after everything queued) and waits until it is sent, as tokio's
//! `TcpStream` does. Dropping the writer closes the socket.
//!
//! ```
//! use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
//!
//! ringstream::run(async {
//!     let (mut a, mut b) = ringstream::Stream::pair()?;
//!     a.write_all(b"hello\n").await?;
//!     a.shutdown().await?;
//!     let mut line = String::new();
//!     b.read_line(&mut line).await?;
//!     assert_eq!(line, "hello\n");
//!     Ok::<(), std::io::Error>(())
//! })
//! .unwrap()
//! .unwrap();
//! ```

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, ReadBuf};

use super::{Stream, StreamReader, StreamWriter};

impl AsyncRead for StreamReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let chunk = ready!(StreamReader::poll_read_chunk(
            self.get_mut(),
            cx,
            buf.remaining()
        ))?;
        buf.put_slice(&chunk);
        Poll::Ready(Ok(()))
    }
}

impl AsyncBufRead for StreamReader {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        StreamReader::poll_fill_buf(self.get_mut(), cx).map_err(io::Error::from)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        StreamReader::consume(self.get_mut(), amt);
    }
}

impl AsyncWrite for StreamWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        StreamWriter::poll_write(self.get_mut(), cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        StreamWriter::poll_write_vectored(self.get_mut(), cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        StreamWriter::poll_flush(self.get_mut(), cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        StreamWriter::poll_write_eof(self.get_mut(), cx)
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().reader).poll_read(cx, buf)
    }
}

impl AsyncBufRead for Stream {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        AsyncBufRead::poll_fill_buf(Pin::new(&mut self.get_mut().reader), cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        AsyncBufRead::consume(Pin::new(&mut self.get_mut().reader), amt);
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().writer.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().writer.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().writer.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().writer.poll_write_eof(cx)
    }
}
