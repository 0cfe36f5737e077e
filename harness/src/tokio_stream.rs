//! A streaming client that is not ringstream: tokio `current_thread` on the calling thread
//! (the caller pins it), N connections, each with one task writing `chunk`-byte pieces
//! back to back (`write_all`, held back only by the socket) and one reading the echo.
//! Every read is checked against the pattern the writer sends (its first and last byte,
//! which a lost, repeated or shifted piece of the 251-byte cycle changes), as the ringstream
//! load generator does. The yardstick's `st16-tokio-client` uses it, and the greedy bench
//! for its greedy connections.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// Where a run stands: shared by every connection task, across threads (the greedy
/// bench's light connections follow the same phases from their own thread).
#[derive(Debug, Default)]
pub struct Phase(AtomicU8);

/// The phases of a run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Warmup,
    Measure,
    Done,
}

impl Phase {
    pub fn get(&self) -> Stage {
        match self.0.load(Ordering::Acquire) {
            0 => Stage::Warmup,
            1 => Stage::Measure,
            _ => Stage::Done,
        }
    }

    fn set(&self, stage: Stage) {
        self.0.store(stage as u8, Ordering::Release);
    }
}

/// Ends the phase when dropped: on return and on every early error.
struct DoneOnDrop<'a>(&'a Phase);

impl Drop for DoneOnDrop<'_> {
    fn drop(&mut self) {
        self.0.set(Stage::Done);
    }
}

/// What a streaming run measured: bytes echoed back during the measured phase, and its
/// length.
#[derive(Debug, Clone, Copy)]
pub struct Streamed {
    pub bytes: u64,
    pub elapsed: Duration,
}

/// Streams over `conns` connections to `addr` on a new tokio `current_thread` runtime:
/// `warmup`, then the measured phase between two calls of `mark`, then every writer sends
/// its FIN and every reader reads to EOF. `phase` moves through the stages as it goes and
/// is `Done` when this returns, however it ends (so whatever else follows it stops too).
pub fn stream(
    addr: SocketAddr,
    conns: usize,
    chunk: usize,
    phase: &Arc<Phase>,
    warmup: Duration,
    measure: Duration,
    mark: &mut dyn FnMut(),
) -> io::Result<Streamed> {
    let _done = DoneOnDrop(phase);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut streams = Vec::with_capacity(conns);
        for _ in 0..conns {
            let s = TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            streams.push(s);
        }
        let bytes = Arc::new(AtomicU64::new(0));
        let pattern: Arc<[u8]> = (0..chunk + 251).map(|i| (i % 251) as u8).collect();
        let mut tasks = JoinSet::new();
        for s in streams {
            let (r, w) = s.into_split();
            tasks.spawn(write_loop(w, chunk, pattern.clone(), phase.clone()));
            tasks.spawn(read_loop(r, phase.clone(), bytes.clone()));
        }
        tokio::time::sleep(warmup).await;
        mark();
        let started = Instant::now();
        phase.set(Stage::Measure);
        tokio::time::sleep(measure).await;
        phase.set(Stage::Done);
        let elapsed = started.elapsed();
        mark();
        // In the order they end: a reader that found a wrong byte ends early while its
        // writer may wait forever on a full socket, and returning drops the set, which
        // aborts the rest.
        while let Some(t) = tasks.join_next().await {
            t.map_err(io::Error::other)??;
        }
        Ok(Streamed {
            bytes: bytes.load(Ordering::Relaxed),
            elapsed,
        })
    })
}

/// Sends the pattern in `chunk`-byte pieces until the run is done, then the FIN.
async fn write_loop(
    mut w: OwnedWriteHalf,
    chunk: usize,
    pattern: Arc<[u8]>,
    phase: Arc<Phase>,
) -> io::Result<()> {
    let mut offset = 0usize;
    while phase.get() != Stage::Done {
        let start = offset % 251;
        w.write_all(&pattern[start..start + chunk]).await?;
        offset += chunk;
    }
    w.shutdown().await
}

/// Reads the echo to EOF, checking each read against the pattern and counting the bytes
/// that arrive during the measured phase.
async fn read_loop(
    mut r: OwnedReadHalf,
    phase: Arc<Phase>,
    bytes: Arc<AtomicU64>,
) -> io::Result<()> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut offset = 0usize;
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        if buf[0] != (offset % 251) as u8 || buf[n - 1] != ((offset + n - 1) % 251) as u8 {
            return Err(io::Error::other(format!(
                "stream echo mismatch at byte {offset}: the server lost, repeated or reordered data"
            )));
        }
        offset += n;
        if phase.get() == Stage::Measure {
            bytes.fetch_add(n as u64, Ordering::Relaxed);
        }
    }
}
