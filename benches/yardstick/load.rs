//! The load generator every server faces: ringstream on one pinned thread, N connections,
//! ping-pong (latency of every round trip) or streaming (bytes per second). Every echo is
//! checked.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringstream::time::sleep;

/// What one measured run produced.
#[derive(Debug, Default, Clone)]
pub struct LoadResult {
    pub messages: u64,
    pub bytes: u64,
    pub elapsed: Duration,
    /// Round-trip times of the measured phase, in nanoseconds (ping-pong only).
    pub rtts: Vec<u32>,
}

/// Ping-pong: every connection sends `size` bytes and waits for all of them back, in a loop,
/// for `warmup` and then `measure`. `mark` runs at the start and end of the measured
/// phase (to read the server's CPU time).
pub fn ping_pong(
    addr: SocketAddr,
    conns: usize,
    size: usize,
    warmup: Duration,
    measure: Duration,
    mark: &mut dyn FnMut(),
) -> io::Result<LoadResult> {
    ringstream::run(async move {
        let streams = connect_all(addr, conns).await?;
        let phase = Rc::new(RefCell::new(Phase::Warmup));
        let result = Rc::new(RefCell::new(LoadResult::default()));
        let mut tasks = Vec::with_capacity(conns);
        for (id, stream) in streams.into_iter().enumerate() {
            let phase = phase.clone();
            let result = result.clone();
            tasks.push(ringstream::spawn(async move {
                let (mut reader, writer) = stream.split();
                let mut msg = vec![0u8; size];
                let mut seq: u64 = 0;
                loop {
                    let now = *phase.borrow();
                    if now == Phase::Done {
                        break;
                    }
                    seq += 1;
                    let tag = (id as u64) << 40 | seq;
                    msg[..8.min(size)].copy_from_slice(&tag.to_le_bytes()[..8.min(size)]);
                    let started = Instant::now();
                    writer.write(&msg)?;
                    let back = reader.read_exact(size).await.map_err(io::Error::from)?;
                    let rtt = started.elapsed();
                    if back[..8.min(size)] != msg[..8.min(size)] {
                        return Err(io::Error::other("echo mismatch"));
                    }
                    if now == Phase::Measure {
                        let mut r = result.borrow_mut();
                        r.messages += 1;
                        r.bytes += size as u64;
                        r.rtts.push(rtt.as_nanos().min(u32::MAX as u128) as u32);
                    }
                }
                writer.close();
                Ok::<(), io::Error>(())
            }));
        }
        drive(&phase, &result, tasks, warmup, measure, mark).await
    })?
}

/// Streaming: every connection writes `chunk`-byte pieces back to back (held back by the
/// write buffer's watermark) while reading the echo; bytes counted on the way back.
pub fn stream(
    addr: SocketAddr,
    conns: usize,
    chunk: usize,
    warmup: Duration,
    measure: Duration,
    mark: &mut dyn FnMut(),
) -> io::Result<LoadResult> {
    ringstream::run(async move {
        let streams = connect_all(addr, conns).await?;
        let phase = Rc::new(RefCell::new(Phase::Warmup));
        let result = Rc::new(RefCell::new(LoadResult::default()));
        let pattern: Rc<Vec<u8>> = Rc::new((0..chunk + 251).map(|i| (i % 251) as u8).collect());
        let mut tasks = Vec::new();
        for stream in streams {
            let (mut reader, writer) = stream.split();
            let phase_w = phase.clone();
            let pattern_w = pattern.clone();
            tasks.push(ringstream::spawn(async move {
                let mut offset = 0usize;
                while *phase_w.borrow() != Phase::Done {
                    let start = offset % 251;
                    writer.write(&pattern_w[start..start + chunk])?;
                    offset += chunk;
                    writer.drain().await?;
                }
                writer.write_eof()?;
                Ok::<(), io::Error>(())
            }));
            let phase_r = phase.clone();
            let result = result.clone();
            tasks.push(ringstream::spawn(async move {
                let mut offset = 0usize;
                loop {
                    let data = reader.read(256 * 1024).await.map_err(io::Error::from)?;
                    if data.is_empty() {
                        return Ok(());
                    }
                    if data[0] != (offset % 251) as u8
                        || data[data.len() - 1] != ((offset + data.len() - 1) % 251) as u8
                    {
                        return Err(io::Error::other("stream echo mismatch"));
                    }
                    offset += data.len();
                    if *phase_r.borrow() == Phase::Measure {
                        result.borrow_mut().bytes += data.len() as u64;
                    }
                }
            }));
        }
        let mut r = drive(&phase, &result, tasks, warmup, measure, mark).await?;
        r.messages = r.bytes / chunk as u64;
        Ok(r)
    })?
}

/// `conns` connections to `addr`.
async fn connect_all(addr: SocketAddr, conns: usize) -> io::Result<Vec<ringstream::Stream>> {
    let addr = addr.to_string();
    let mut streams = Vec::with_capacity(conns);
    for _ in 0..conns {
        streams.push(ringstream::connect(&addr).await?);
    }
    Ok(streams)
}

/// Warm-up, then the measured phase between two `mark`s, then the end: waits for every
/// connection task and returns what they counted with the measured time.
async fn drive(
    phase: &RefCell<Phase>,
    result: &RefCell<LoadResult>,
    tasks: Vec<ringstream::JoinHandle<io::Result<()>>>,
    warmup: Duration,
    measure: Duration,
    mark: &mut dyn FnMut(),
) -> io::Result<LoadResult> {
    sleep(warmup).await;
    mark();
    let started = Instant::now();
    *phase.borrow_mut() = Phase::Measure;
    sleep(measure).await;
    *phase.borrow_mut() = Phase::Done;
    let elapsed = started.elapsed();
    mark();
    for t in tasks {
        t.await.map_err(|e| io::Error::other(e.to_string()))??;
    }
    let mut r = result.borrow().clone();
    r.elapsed = elapsed;
    Ok(r)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Warmup,
    Measure,
    Done,
}
