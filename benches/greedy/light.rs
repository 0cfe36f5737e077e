//! The light connections of the greedy bench: a few connections, each with one small
//! message in flight at a modest, fixed rate, timing every round trip. They run on a
//! tokio `current_thread` runtime of their own, on a thread of their own, so their
//! timings do not wait behind the greedy connections' tasks in the client (the greedy
//! client is another thread on the same CPU; the kernel wakes a thread that slept
//! ahead of one that has run its share).
//!
//! Pacing: each connection sends its next message one `period` after it sent the
//! previous one, or at once if the echo took longer than that (one in flight, never a
//! backlog). tokio's timer rounds up to the next millisecond, so a 1 ms period gives one
//! message per 1–2 ms per connection.

use std::io;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::{timeout, Instant};

use ringstream_harness::tokio_stream::{Phase, Stage};

/// A round trip that takes longer than this fails the run (a server that stopped
/// answering), so the bench cannot hang on it.
const ECHO_TIMEOUT: Duration = Duration::from_secs(10);

/// What the light connections do.
#[derive(Debug, Clone, Copy)]
pub struct Light {
    pub conns: usize,
    /// Message size in bytes.
    pub size: usize,
    /// Time from one send to the next on a connection (at least).
    pub period: Duration,
}

/// Connects the light connections to `addr`, sends on `ready` once all are up, then pings
/// until `phase` is done. Returns the round-trip times that overlapped the measured phase,
/// in nanoseconds (one over 4.29 s counts as 4.29 s), unsorted.
pub fn ping_pong(
    addr: SocketAddr,
    light: Light,
    phase: &Arc<Phase>,
    ready: mpsc::Sender<()>,
) -> io::Result<Vec<u32>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut tasks = JoinSet::new();
        let mut streams = Vec::with_capacity(light.conns);
        for _ in 0..light.conns {
            let s = TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            streams.push(s);
        }
        for (id, s) in streams.into_iter().enumerate() {
            tasks.spawn(one_connection(s, id as u64, light, phase.clone()));
        }
        // The bench waits for this before it starts the greedy connections; if it has
        // given up, the pings below still end with the phase.
        let _ = ready.send(());
        let mut rtts = Vec::new();
        while let Some(t) = tasks.join_next().await {
            rtts.extend(t.map_err(io::Error::other)??);
        }
        Ok(rtts)
    })
}

async fn one_connection(
    mut s: TcpStream,
    id: u64,
    light: Light,
    phase: Arc<Phase>,
) -> io::Result<Vec<u32>> {
    let mut msg = vec![0u8; light.size];
    let mut back = vec![0u8; light.size];
    let tagged = light.size.min(8);
    let mut rtts = Vec::new();
    let mut seq: u64 = 0;
    loop {
        let stage = phase.get();
        if stage == Stage::Done {
            return Ok(rtts);
        }
        seq += 1;
        let tag = (id << 40) | seq;
        msg[..tagged].copy_from_slice(&tag.to_le_bytes()[..tagged]);
        let started = Instant::now();
        let echo = async {
            s.write_all(&msg).await?;
            s.read_exact(&mut back).await
        };
        timeout(ECHO_TIMEOUT, echo).await.map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("a light echo took over {ECHO_TIMEOUT:?}: the server stopped answering"),
            )
        })??;
        let rtt = started.elapsed();
        if back != msg {
            return Err(io::Error::other(format!(
                "light connection {id}: echo {seq} differs from what was sent"
            )));
        }
        // Timed if it overlapped the measured phase: sent in it, or sent in the warm-up and
        // answered only after the warm-up ended (a stall across the whole window counts).
        if stage == Stage::Measure || phase.get() != Stage::Warmup {
            rtts.push(rtt.as_nanos().min(u128::from(u32::MAX)) as u32);
        }
        tokio::time::sleep_until(started + light.period).await;
    }
}
