//! The `futures-io` feature: the `futures-io` traits (`AsyncRead`, `AsyncBufRead`,
//! `AsyncWrite`) for [`StreamReader`], [`StreamWriter`] and [`Stream`], and
//! `futures_core::Stream` for [`Lines`].
//!
//! The same poll-level API as the `tokio-io` feature's (see `StreamReader::poll_read`):
//! a read copies once into the caller's slice, `poll_fill_buf` copies nothing;
//! `poll_write` queues while the write buffer is not over its high watermark, else waits
//! for it to drain; `poll_flush` waits until everything written is handed to the kernel;
//! `poll_close` half-closes (FIN after everything queued) and waits until it is sent —
//! dropping the writer closes the socket.
//!
//! ```
//! use futures::io::{AsyncBufReadExt, AsyncWriteExt};
//!
//! ringstream::run(async {
//!     let (mut a, mut b) = ringstream::Stream::pair()?;
//!     a.write_all(b"hello\n").await?;
//!     a.close().await?;
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
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_io::{AsyncBufRead, AsyncRead, AsyncWrite};

use super::{Lines, Stream, StreamError, StreamReader, StreamWriter};

impl AsyncRead for StreamReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        StreamReader::poll_read(self.get_mut(), cx, buf).map_err(io::Error::from)
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

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        StreamWriter::poll_flush(self.get_mut(), cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        StreamWriter::poll_write_eof(self.get_mut(), cx)
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        AsyncRead::poll_read(Pin::new(&mut self.get_mut().reader), cx, buf)
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

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().writer.poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().writer.poll_write_eof(cx)
    }
}

impl futures_core::Stream for Lines<'_> {
    type Item = Result<Bytes, StreamError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_line(cx)
    }
}
