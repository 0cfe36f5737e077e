//! One load connection: ping-pong (with an optional pipeline) or streaming, every echoed
//! byte checked. A connection ends at the deadline, once everything it sent has come
//! back; any failure ends it with a message naming the connection.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ringstream::stream::StreamError;
use ringstream::time::timeout;
use ringstream::{Stream, StreamReader, StreamWriter};

use super::pattern::{MessagePattern, StreamPattern};
use super::stats::Recorder;
use super::Mode;

/// Longest wait for an echo (or for room in the write buffer) before the connection is
/// declared stuck.
pub const ECHO_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest wait for a connection to close at the end.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Most bytes read at once in stream mode.
pub const STREAM_READ: usize = 64 * 1024;

/// What a connection does.
#[derive(Debug, Clone, Copy)]
pub struct Job {
    /// Ping-pong or stream.
    pub mode: Mode,
    /// Message or chunk size.
    pub size: usize,
    /// Messages in flight (ping-pong).
    pub pipeline: usize,
    /// When to stop sending.
    pub deadline: Instant,
}

/// The [`pattern_table`](super::pattern::pattern_table) window a job needs.
pub fn table_window(job: &Job) -> usize {
    match job.mode {
        Mode::PingPong => job.size,
        Mode::Stream => job.size.max(STREAM_READ),
    }
}

/// Runs connection `id` until the deadline and closes it; `table` is the thread's
/// pattern table (window: [`table_window`]).
///
/// # Errors
/// `connection <id>: <what went wrong>`.
pub async fn run(
    id: u32,
    stream: Stream,
    job: Job,
    table: Bytes,
    recorder: Rc<Recorder>,
) -> Result<(), String> {
    let result = match job.mode {
        Mode::PingPong => ping_pong(id, stream, job, table, &recorder).await,
        Mode::Stream => streaming(id, stream, job, table, recorder).await,
    };
    result.map_err(|e| format!("connection {id}: {e}"))
}

/// Keeps `job.pipeline` messages in flight: sends them, then sends one more for every
/// echo that comes back, until the deadline.
async fn ping_pong(
    id: u32,
    stream: Stream,
    job: Job,
    table: Bytes,
    recorder: &Recorder,
) -> Result<(), String> {
    let (mut reader, writer) = stream.split();
    let size = job.size;
    let mut pattern = MessagePattern::new(id, size, table);
    let mut sent_at = VecDeque::with_capacity(job.pipeline);
    let mut next = 0u64;
    for _ in 0..job.pipeline {
        send(&writer, pattern.message(next), next)?;
        sent_at.push_back(Instant::now());
        next += 1;
    }
    let mut received = 0u64;
    while received < next {
        let echo = match timeout(ECHO_TIMEOUT, reader.read_exact(size)).await {
            Ok(Ok(echo)) => echo,
            Ok(Err(StreamError::IncompleteRead { partial, .. })) => {
                return Err(format!(
                    "the server closed the connection after {} of the {size} bytes of \
                     message {received}'s echo",
                    partial.len()
                ))
            }
            Ok(Err(e)) => return Err(format!("reading the echo of message {received}: {e}")),
            Err(_) => {
                return Err(format!(
                    "no echo of message {received} within {ECHO_TIMEOUT:?}"
                ))
            }
        };
        let now = Instant::now();
        pattern.check(received, &echo)?;
        let sent = sent_at
            .pop_front()
            .expect("one send time per message in flight");
        recorder.message(now - sent);
        recorder.bytes(size);
        received += 1;
        if now < job.deadline {
            send(&writer, pattern.message(next), next)?;
            sent_at.push_back(now);
            next += 1;
            with_timeout("waiting for the write buffer to drain", writer.drain()).await?;
        }
    }
    finish(reader, writer).await
}

/// Queues message `seq`.
fn send(writer: &StreamWriter, message: &[u8], seq: u64) -> Result<(), String> {
    writer
        .write(message)
        .map_err(|e| format!("sending message {seq}: {e}"))
}

/// What the writing and the reading half of a streaming connection share.
#[derive(Default)]
struct StreamState {
    /// Bytes queued so far.
    sent: Cell<u64>,
    /// The writer has stopped (deadline or error); `sent` is final.
    done: Cell<bool>,
    /// Why the writer stopped early.
    error: RefCell<Option<String>>,
    /// (stream offset just past a chunk, when it was queued), oldest first.
    chunks: RefCell<VecDeque<(u64, Instant)>>,
    /// The reader, waiting for data or for the writer to finish.
    reader: RefCell<Option<Waker>>,
}

impl StreamState {
    /// The writer stops (with `error` if it failed) and wakes the reader.
    fn stop(&self, error: Option<String>) {
        self.done.set(true);
        if error.is_some() {
            *self.error.borrow_mut() = error;
        }
        if let Some(w) = self.reader.borrow_mut().take() {
            w.wake();
        }
    }
}

/// Writes chunks back to back (held back only by the write buffer's watermark) until the
/// deadline, while reading the echo and checking it, on one connection.
async fn streaming(
    id: u32,
    stream: Stream,
    job: Job,
    table: Bytes,
    recorder: Rc<Recorder>,
) -> Result<(), String> {
    let (mut reader, writer) = stream.split();
    let pattern = Rc::new(StreamPattern::new(id, table));
    let state = Rc::new(StreamState::default());
    let writing = ringstream::spawn(write_chunks(writer, pattern.clone(), state.clone(), job));
    let read = read_echo(&mut reader, &pattern, &state, &recorder).await;
    if read.is_err() {
        writing.abort();
    }
    // An error here means the task was aborted after a read error, the one to report.
    let writer = writing.await.ok();
    read?;
    if let Some(e) = state.error.borrow_mut().take() {
        return Err(e);
    }
    match writer {
        Some(writer) => finish(reader, writer).await,
        None => Err("the writing task ended without its writer".to_owned()),
    }
}

/// The writing half of [`streaming`]; gives the writer back when done.
async fn write_chunks(
    writer: StreamWriter,
    pattern: Rc<StreamPattern>,
    state: Rc<StreamState>,
    job: Job,
) -> StreamWriter {
    let mut offset = 0u64;
    let mut error = None;
    while Instant::now() < job.deadline {
        if let Err(e) = writer.write_bytes(pattern.chunk(offset, job.size)) {
            error = Some(format!("sending the chunk at stream offset {offset}: {e}"));
            break;
        }
        offset += job.size as u64;
        state
            .chunks
            .borrow_mut()
            .push_back((offset, Instant::now()));
        state.sent.set(offset);
        if let Err(e) = with_timeout("waiting for the write buffer to drain", writer.drain()).await
        {
            error = Some(e);
            break;
        }
    }
    state.stop(error);
    writer
}

/// The reading half of [`streaming`]: reads until everything the writer sent has come
/// back, checking every byte and timing every chunk.
async fn read_echo(
    reader: &mut StreamReader,
    pattern: &StreamPattern,
    state: &StreamState,
    recorder: &Recorder,
) -> Result<(), String> {
    let mut received = 0u64;
    loop {
        let finished =
            || state.done.get() && (received == state.sent.get() || state.error.borrow().is_some());
        if finished() {
            return Ok(());
        }
        let mut read = pin!(reader.read(STREAM_READ));
        let next = poll_fn(|cx| {
            if let Poll::Ready(result) = read.as_mut().poll(cx) {
                return Poll::Ready(Some(result));
            }
            if finished() {
                return Poll::Ready(None);
            }
            *state.reader.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        });
        let data = match timeout(ECHO_TIMEOUT, next).await {
            Ok(Some(Ok(data))) => data,
            Ok(None) => return Ok(()),
            Ok(Some(Err(e))) => {
                return Err(format!("reading the echo at stream offset {received}: {e}"))
            }
            Err(_) => {
                return Err(format!(
                    "no echo for {ECHO_TIMEOUT:?} at stream offset {received} (sent {})",
                    state.sent.get()
                ))
            }
        };
        if data.is_empty() {
            return Err(format!(
                "the server closed the connection after echoing {received} of {} bytes",
                state.sent.get()
            ));
        }
        pattern.check(received, &data)?;
        received += data.len() as u64;
        if received > state.sent.get() {
            return Err(format!(
                "the server echoed {received} bytes, more than the {} sent",
                state.sent.get()
            ));
        }
        recorder.bytes(data.len());
        let now = Instant::now();
        let mut chunks = state.chunks.borrow_mut();
        while let Some(&(end, queued)) = chunks.front() {
            if end > received {
                break;
            }
            recorder.message(now - queued);
            chunks.pop_front();
        }
    }
}

/// Ends a connection whose echoes all came back: nothing more may have arrived, then a
/// graceful close (bounded; a slow close is not an error).
async fn finish(reader: StreamReader, writer: StreamWriter) -> Result<(), String> {
    let extra = reader.buffered_len();
    writer.close();
    let _ = timeout(CLOSE_TIMEOUT, writer.wait_closed()).await;
    if extra > 0 {
        return Err(format!(
            "the server sent {extra} bytes more than it was sent"
        ));
    }
    Ok(())
}

/// `future`, bounded by [`ECHO_TIMEOUT`]; errors say what was being waited for.
async fn with_timeout<T>(
    what: &str,
    future: impl Future<Output = std::io::Result<T>>,
) -> Result<T, String> {
    match timeout(ECHO_TIMEOUT, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: no progress for {ECHO_TIMEOUT:?}")),
    }
}
