//! The three halves of `communicate`, run together: feeding stdin while stdout and stderr
//! are read, so neither side can stall the other on a full pipe.

use std::future::{poll_fn, Future};
use std::io;
use std::pin::pin;
use std::task::Poll;

use crate::{StreamReader, StreamWriter};

/// Writes `input` to `stdin` and closes it, while reading `stdout` and `stderr` to EOF.
/// Returns each half's outcome (an absent stream: nothing to do, empty output).
pub(crate) async fn exchange(
    stdin: Option<StreamWriter>,
    input: &[u8],
    stdout: Option<StreamReader>,
    stderr: Option<StreamReader>,
) -> (io::Result<()>, io::Result<Vec<u8>>, io::Result<Vec<u8>>) {
    let mut fed = pin!(feed(stdin, input));
    let mut out = pin!(read_all(stdout));
    let mut err = pin!(read_all(stderr));
    let (mut fed_done, mut out_done, mut err_done) = (None, None, None);
    poll_fn(|cx| {
        // Each half is polled until it finishes, never after.
        if fed_done.is_none() {
            fed_done = ready(fed.as_mut().poll(cx));
        }
        if out_done.is_none() {
            out_done = ready(out.as_mut().poll(cx));
        }
        if err_done.is_none() {
            err_done = ready(err.as_mut().poll(cx));
        }
        match (fed_done.take(), out_done.take(), err_done.take()) {
            (Some(f), Some(o), Some(e)) => Poll::Ready((f, o, e)),
            (f, o, e) => {
                (fed_done, out_done, err_done) = (f, o, e);
                Poll::Pending
            }
        }
    })
    .await
}

fn ready<T>(poll: Poll<T>) -> Option<T> {
    match poll {
        Poll::Ready(t) => Some(t),
        Poll::Pending => None,
    }
}

async fn feed(stdin: Option<StreamWriter>, input: &[u8]) -> io::Result<()> {
    let Some(stdin) = stdin else {
        return Ok(());
    };
    let written = match stdin.write(input) {
        Ok(()) => stdin.drain().await,
        Err(err) => Err(err),
    };
    stdin.close();
    match written {
        // The child exited or closed its stdin without reading everything: as asyncio,
        // not an error; its status tells what happened.
        Err(err)
            if matches!(
                err.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ) =>
        {
            Ok(())
        }
        other => other,
    }
}

async fn read_all(reader: Option<StreamReader>) -> io::Result<Vec<u8>> {
    let Some(mut reader) = reader else {
        return Ok(Vec::new());
    };
    let data = reader.read_to_end().await.map_err(io::Error::from)?;
    Ok(Vec::from(data))
}
