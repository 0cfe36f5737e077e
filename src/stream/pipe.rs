//! [`read_pipe`] and [`write_pipe`]: streams over pipes and FIFOs (asyncio's
//! `connect_read_pipe` / `connect_write_pipe`).

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileTypeExt;

use crate::transport::conn::{Conn, Direction};
use crate::transport::endpoint::Endpoint;

use super::{StreamOptions, StreamReader, StreamWriter};

/// A [`StreamReader`] over the read end of a pipe, a FIFO or a character device (stdin,
/// for one). The reader owns the descriptor and closes it when dropped.
///
/// ```
/// ringstream::run(async {
///     let (read_end, write_end) = std::io::pipe()?;
///     let mut reader = ringstream::read_pipe(read_end)?;
///     let writer = ringstream::write_pipe(write_end)?;
///     writer.write(b"through the pipe\n")?;
///     writer.close();
///     assert_eq!(&reader.read_line().await?[..], b"through the pipe\n");
///     assert!(reader.read_line().await?.is_empty()); // EOF once the writer closed
///     Ok::<(), std::io::Error>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
///
/// # Errors
/// `InvalidInput` for a regular file or directory (read those with `std::fs`), or bad
/// options; `Unsupported` outside a runtime.
#[doc(alias = "connect_read_pipe")]
pub fn read_pipe(fd: impl Into<OwnedFd>) -> io::Result<StreamReader> {
    read_pipe_with(fd, StreamOptions::default())
}

/// [`read_pipe`] with options (the reader's `limit`; the rest is ignored).
///
/// # Errors
/// As [`read_pipe`].
pub fn read_pipe_with(fd: impl Into<OwnedFd>, options: StreamOptions) -> io::Result<StreamReader> {
    let conn = pipe_conn(fd.into(), options, Direction::Read, "read_pipe")?;
    Ok(StreamReader::owning(conn))
}

/// A [`StreamWriter`] over the write end of a pipe, a FIFO or a character device.
/// `write_eof` and `close` close the descriptor once everything queued is written
/// (a pipe has no half-close).
///
/// When the reading end is gone, sends fail with `BrokenPipe`. The kernel also raises
/// `SIGPIPE`, which Rust programs ignore by default; a host program that installed its own
/// handler sees it.
///
/// # Errors
/// `InvalidInput` for a regular file or directory, or bad options; `Unsupported` outside
/// a runtime.
#[doc(alias = "connect_write_pipe")]
pub fn write_pipe(fd: impl Into<OwnedFd>) -> io::Result<StreamWriter> {
    write_pipe_with(fd, StreamOptions::default())
}

/// [`write_pipe`] with options (write-buffer `high` / `low`; the rest is ignored).
///
/// # Errors
/// As [`write_pipe`].
pub fn write_pipe_with(fd: impl Into<OwnedFd>, options: StreamOptions) -> io::Result<StreamWriter> {
    Ok(StreamWriter::new(pipe_conn(
        fd.into(),
        options,
        Direction::Write,
        "write_pipe",
    )?))
}

fn pipe_conn(
    fd: OwnedFd,
    options: StreamOptions,
    direction: Direction,
    what: &str,
) -> io::Result<std::rc::Rc<Conn>> {
    options.check()?;
    let file = File::from(fd);
    let kind = file.metadata()?.file_type();
    if !(kind.is_fifo() || kind.is_char_device() || kind.is_socket()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{what} takes a pipe, FIFO, socket or character device, not a regular file or \
                 directory; read files with std::fs"
            ),
        ));
    }
    Conn::open(
        Endpoint::Pipe(file.into()),
        options.limits(),
        direction,
        what,
    )
}
