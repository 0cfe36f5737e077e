//! One load connection: ping-pong (with an optional pipeline) or streaming, every echoed
//! byte checked. A connection ends at the deadline, once everything it sent has come
//! back; any failure ends it with a message naming the connection, and so does a stall
//! (no echo for the stall timeout while bytes were outstanding, see `watch`), even one
//! the connection recovered from.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ringstream::stream::StreamError;
use ringstream::time::timeout;
use ringstream::{Stream, StreamReader, StreamWriter};

use super::deadline::Deadline;
use super::pattern::{MessagePattern, StreamPattern};
use super::stats::Recorder;
use super::watch::Watch;
use super::Mode;

/// Longest wait for a connection to close at the end.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Most bytes read at once in stream mode.
pub const STREAM_READ: usize = 64 * 1024;

/// What a connection does.
#[derive(Debug, Clone)]
pub struct Job {
    /// Ping-pong or stream.
    pub mode: Mode,
    /// Message or chunk size.
    pub size: usize,
    /// Messages in flight (ping-pong).
    pub pipeline: usize,
    /// When to stop sending.
    pub deadline: Arc<Deadline>,
    /// No echo for this long while bytes are outstanding is a stall.
    pub stall_timeout: Duration,
    /// Stream mode: most unechoed bytes (0: no bound; never less than one chunk).
    pub window: usize,
}

/// The [`pattern_table`](super::pattern::pattern_table) window a job needs.
pub fn table_window(job: &Job) -> usize {
    match job.mode {
        Mode::PingPong => job.size,
        Mode::Stream | Mode::Reset => job.size.max(STREAM_READ),
    }
}

/// Runs connection `id` until the deadline and closes it; `table` is the thread's
/// pattern table (window: [`table_window`]). Its longest gap and whether it stalled go
/// to `recorder`.
///
/// # Errors
/// `connection <id>: <what went wrong>` (a stall it recovered from included).
pub async fn run(
    id: u32,
    stream: Stream,
    job: Job,
    table: Bytes,
    recorder: Rc<Recorder>,
) -> Result<(), String> {
    let watch = Rc::new(Watch::new(job.stall_timeout, job.deadline.clone()));
    let result = match job.mode {
        Mode::PingPong => ping_pong(id, stream, &job, table, &recorder, &watch).await,
        Mode::Stream | Mode::Reset => {
            streaming(id, stream, job, table, recorder.clone(), watch.clone()).await
        }
    };
    let (max_gap, stall) = watch.outcome();
    recorder.gap(max_gap);
    if stall.is_some() {
        recorder.stall();
    }
    // A failure says more than the stall that may have come before it.
    match (result, stall) {
        (Err(e), _) | (Ok(()), Some(e)) => Err(format!("connection {id}: {e}")),
        (Ok(()), None) => Ok(()),
    }
}

/// Keeps `job.pipeline` messages in flight: sends them, then sends one more for every
/// echo that comes back, until the deadline.
async fn ping_pong(
    id: u32,
    stream: Stream,
    job: &Job,
    table: Bytes,
    recorder: &Recorder,
    watch: &Watch,
) -> Result<(), String> {
    let (mut reader, writer) = stream.split();
    let size = job.size;
    let mut pattern = MessagePattern::new(id, size, table);
    let mut sent_at = VecDeque::with_capacity(job.pipeline);
    let mut next = 0u64;
    for _ in 0..job.pipeline {
        send(&writer, pattern.message(next), next)?;
        sent_at.push_back(Instant::now());
        watch.sent();
        next += 1;
    }
    let mut received = 0u64;
    while received < next {
        let waiting = || format!("waiting for the echo of message {received}");
        let echo = match watch.wait(waiting, reader.read_exact(size)).await? {
            Ok(echo) => echo,
            Err(StreamError::IncompleteRead { partial, .. }) => {
                return Err(format!(
                    "the server closed the connection after {} of the {size} bytes of \
                     message {received}'s echo",
                    partial.len()
                ))
            }
            Err(e) => return Err(format!("reading the echo of message {received}: {e}")),
        };
        let now = Instant::now();
        pattern.check(received, &echo)?;
        let Some(sent) = sent_at.pop_front() else {
            return Err(format!("message {received} came back but was never sent"));
        };
        recorder.message(now - sent);
        recorder.bytes(size);
        received += 1;
        let more = !job.deadline.passed(now);
        watch.echoed(now, more || received < next, || {
            format!("before the echo of message {}", received - 1)
        });
        if more {
            send(&writer, pattern.message(next), next)?;
            sent_at.push_back(now);
            watch.sent();
            next += 1;
            drain(&writer, watch).await?;
        }
    }
    finish(reader, writer).await
}

/// Waits for the write buffer to drain below its watermark, as long as `watch` allows.
async fn drain(writer: &StreamWriter, watch: &Watch) -> Result<(), String> {
    let what = || "waiting for the write buffer to drain".to_owned();
    watch
        .wait(what, writer.drain())
        .await?
        .map_err(|e| format!("{}: {e}", what()))
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
    /// Bytes echoed back so far.
    received: Cell<u64>,
    /// The writer, waiting for the echo to catch up with the window.
    writer: RefCell<Option<Waker>>,
    /// Reset mode: once the writer stops, stop reading and reset the connection.
    reset: bool,
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
    watch: Rc<Watch>,
) -> Result<(), String> {
    let (mut reader, writer) = stream.split();
    let pattern = Rc::new(StreamPattern::new(id, table));
    let state = Rc::new(StreamState {
        reset: job.mode == Mode::Reset,
        ..StreamState::default()
    });
    let writing = ringstream::spawn(write_chunks(
        writer,
        pattern.clone(),
        state.clone(),
        job,
        watch.clone(),
    ));
    let read = read_echo(&mut reader, &pattern, &state, &recorder, &watch).await;
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
        // The echo still on the way is dropped with the connection (RST).
        Some(writer) if state.reset => {
            writer.abort();
            Ok(())
        }
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
    watch: Rc<Watch>,
) -> StreamWriter {
    let mut offset = 0u64;
    let mut error = None;
    let window = match job.window {
        0 => u64::MAX,
        w => w.max(job.size) as u64,
    };
    while !job.deadline.passed(Instant::now()) {
        // Ends with the run's deadline too: the reader wakes this at every echo.
        poll_fn(|cx| {
            if offset + job.size as u64 - state.received.get() <= window
                || job.deadline.passed(Instant::now())
            {
                return Poll::Ready(());
            }
            *state.writer.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;
        if job.deadline.passed(Instant::now()) {
            break;
        }
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
        watch.sent();
        if let Err(e) = drain(&writer, &watch).await {
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
    watch: &Watch,
) -> Result<(), String> {
    let mut received = 0u64;
    loop {
        let finished = || {
            state.done.get()
                && (state.reset || received == state.sent.get() || state.error.borrow().is_some())
        };
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
        let waiting = || {
            format!(
                "waiting for the echo at stream offset {received} (sent {})",
                state.sent.get()
            )
        };
        let data = match watch.wait(waiting, next).await? {
            Some(Ok(data)) => data,
            None => return Ok(()),
            Some(Err(e)) => {
                return Err(format!("reading the echo at stream offset {received}: {e}"))
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
        state.received.set(received);
        if let Some(w) = state.writer.borrow_mut().take() {
            w.wake();
        }
        if received > state.sent.get() {
            return Err(format!(
                "the server echoed {received} bytes, more than the {} sent",
                state.sent.get()
            ));
        }
        recorder.bytes(data.len());
        let now = Instant::now();
        watch.echoed(now, received < state.sent.get(), || {
            format!("at stream offset {}", received - data.len() as u64)
        });
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
