//! Load and bad-input tests over real loopback TCP connections, every byte checked:
//! 1 GiB through one connection, 1,000 concurrent connections, cancel safety over 10 MB
//! (A7), a slow reader under a 100 MB flood (E4, F4), and a 100 MB line (B3, B4).
//!
//! The tests in this file take one lock each ([`heavy`]): they would only slow each other
//! down on a small machine, and the 100 MB-line test measures the process's RSS, which a
//! concurrent load test would disturb.

mod support;

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ringstream::net::{ListenOptions, Listener};
use ringstream::time::{sleep, timeout};
use ringstream::{spawn, StreamError, StreamOptions};

use support::echo::echo_counted;
use support::{loopback, run_bounded};

/// Serialises the tests of this file (see the module comment).
fn heavy() -> MutexGuard<'static, ()> {
    static HEAVY: Mutex<()> = Mutex::new(());
    HEAVY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

/// Length of the pattern's random table: not a power of two, so write, recv and read
/// boundaries drift across it.
const PERIOD: u64 = (1 << 20) + 13;
/// Each pass ("lap") over the table starts this much further into it, so the stream does
/// not repeat itself within 1 GiB: losing, duplicating or swapping a whole period of data
/// is caught, not only a few bytes.
const LAP_SHIFT: u64 = 4099;

/// A deterministic pseudo-random byte stream of any length, addressed by offset, whose
/// pieces are slices of one table: producing and checking it is `memcpy`/`memcmp` work, so
/// the checks cost little even in a debug build.
struct Pattern {
    table: Bytes,
}

impl Pattern {
    fn new(seed: u64) -> Pattern {
        Pattern {
            table: Bytes::from(Rng(seed).bytes(PERIOD as usize)),
        }
    }

    /// The longest run of the stream starting at `offset` that is one slice of the table,
    /// at most `max` bytes (no copy).
    fn piece(&self, offset: u64, max: usize) -> Bytes {
        let lap = offset / PERIOD;
        let within = offset % PERIOD;
        let start = (within + (lap % PERIOD) * LAP_SHIFT % PERIOD) % PERIOD;
        let len = (max as u64).min(PERIOD - start).min(PERIOD - within) as usize;
        let start = start as usize;
        self.table.slice(start..start + len)
    }

    /// `len` bytes of the stream from `offset`.
    fn chunk(&self, offset: u64, len: usize) -> Bytes {
        let first = self.piece(offset, len);
        if first.len() == len {
            return first;
        }
        let mut out = BytesMut::with_capacity(len);
        out.extend_from_slice(&first);
        while out.len() < len {
            out.extend_from_slice(&self.piece(offset + out.len() as u64, len - out.len()));
        }
        out.freeze()
    }

    /// Checks that `data` is the stream's bytes at `offset`.
    fn verify(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut done = 0;
        while done < data.len() {
            let want = self.piece(offset + done as u64, data.len() - done);
            let got = &data[done..done + want.len()];
            if got != &want[..] {
                let at = got.iter().zip(want.iter()).position(|(a, b)| a != b);
                let at = offset + done as u64 + at.unwrap_or(0) as u64;
                return Err(io::Error::other(format!(
                    "stream corrupted at byte {at} (chunk of {} at {offset})",
                    data.len()
                )));
            }
            done += want.len();
        }
        Ok(())
    }
}

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the new soft limit.
fn raise_nofile_limit() -> libc::rlim_t {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
    }
    limit.rlim_cur
}

/// Resident set size of this process, from /proc/self/statm.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("statm resident field");
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * page as u64
}

/// The largest a kernel socket buffer may grow to (`tcp_rmem` / `tcp_wmem` maximum).
fn tcp_mem_max(which: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/sys/net/ipv4/{which}"))
        .ok()
        .and_then(|s| s.split_whitespace().nth(2).and_then(|v| v.parse().ok()))
        .unwrap_or(32 << 20)
}

/// 1 GiB of a pseudo-random pattern, written in 64 KiB - 1 MiB pieces with `drain`, goes
/// through a `Listener` echo server and back; the client reads concurrently and compares
/// every byte with the regenerated pattern.
#[test]
fn one_gib_through_one_tcp_connection_every_byte_checked() {
    const TOTAL: u64 = 1 << 30;
    let _heavy = heavy();
    let (sent, echoed, received) = run_bounded(Duration::from_secs(240), async {
        let listener = Listener::bind(loopback())?;
        let addr = listener.local_addr()?.to_string();
        let server = spawn(async move { echo_counted(listener.accept().await?).await });
        let (mut reader, writer) = ringstream::connect(&addr).await?.split();
        let pattern = Rc::new(Pattern::new(1));
        let source = pattern.clone();
        let sender = spawn(async move {
            let mut rng = Rng(2);
            let mut sent = 0u64;
            let mut zero_copy = false;
            while sent < TOTAL {
                let len = rng.range(64 * 1024, 1 << 20).min((TOTAL - sent) as usize);
                let chunk = source.chunk(sent, len);
                // Both write paths: a copied slice and a zero-copy `Bytes`.
                zero_copy = !zero_copy;
                if zero_copy {
                    writer.write_bytes(chunk)?;
                } else {
                    writer.write(&chunk)?;
                }
                sent += len as u64;
                writer.drain().await?;
            }
            writer.write_eof().expect("write_eof");
            Ok::<_, io::Error>((sent, writer))
        });
        let mut received = 0u64;
        loop {
            let data = reader.read(1 << 20).await?;
            if data.is_empty() {
                break;
            }
            pattern.verify(received, &data)?;
            received += data.len() as u64;
        }
        let (sent, _writer) = sender.await.expect("sender task")?;
        let echoed = server.await.expect("server task")?;
        Ok::<_, io::Error>((sent, echoed, received))
    });
    assert_eq!(sent, TOTAL);
    assert_eq!(echoed, TOTAL, "the server saw every byte");
    assert_eq!(received, TOTAL, "every byte came back");
}

/// 1,000 clients on one runtime each send 1 MiB (their own part of the pattern) through
/// one `Listener` echo server that runs a task per connection, and check every byte that
/// comes back.
#[test]
fn thousand_concurrent_connections_one_mib_each_every_byte_checked() {
    const CONNECTIONS: usize = 1000;
    const EACH: u64 = 1 << 20;
    let _heavy = heavy();
    let nofile = raise_nofile_limit();
    assert!(
        nofile >= (2 * CONNECTIONS + 100) as libc::rlim_t,
        "RLIMIT_NOFILE hard limit {nofile} is too low for {CONNECTIONS} loopback connections"
    );
    let (per_client, echoed, most_open) = run_bounded(Duration::from_secs(240), async {
        let options = ListenOptions {
            backlog: 4096,
            ..Default::default()
        };
        let listener = Listener::bind_with(loopback(), options)?;
        let addr = listener.local_addr()?.to_string();
        let server = spawn(async move {
            let mut handlers = Vec::with_capacity(CONNECTIONS);
            for _ in 0..CONNECTIONS {
                handlers.push(spawn(echo_counted(listener.accept().await?)));
            }
            let mut total = 0;
            for handler in handlers {
                total += handler.await.expect("echo task")?;
            }
            Ok::<_, io::Error>(total)
        });
        let pattern = Rc::new(Pattern::new(3));
        let peak = Rc::new(Cell::new((0usize, 0usize)));
        let mut clients = Vec::with_capacity(CONNECTIONS);
        for i in 0..CONNECTIONS {
            let addr = addr.clone();
            let pattern = pattern.clone();
            let peak = peak.clone();
            clients.push(spawn(async move {
                let (mut reader, writer) = ringstream::connect(&addr).await?.split();
                // Each connection sends a different stretch of the pattern.
                let base = i as u64 * 7919 * 131;
                let source = pattern.clone();
                let sender = spawn(async move {
                    let mut rng = Rng(i as u64);
                    let mut sent = 0;
                    while sent < EACH {
                        let len = rng.range(16 * 1024, 64 * 1024).min((EACH - sent) as usize);
                        writer.write_bytes(source.chunk(base + sent, len))?;
                        sent += len as u64;
                        writer.drain().await?;
                    }
                    writer.write_eof().expect("write_eof");
                    Ok::<_, io::Error>(writer)
                });
                let (open, most) = peak.get();
                peak.set((open + 1, most.max(open + 1)));
                let mut received = 0;
                loop {
                    let data = reader.read(256 * 1024).await?;
                    if data.is_empty() {
                        break;
                    }
                    pattern.verify(base + received, &data)?;
                    received += data.len() as u64;
                }
                let (open, most) = peak.get();
                peak.set((open - 1, most));
                let _writer = sender.await.expect("sender task")?;
                Ok::<_, io::Error>(received)
            }));
        }
        let mut per_client = Vec::with_capacity(CONNECTIONS);
        for client in clients {
            per_client.push(client.await.expect("client task")?);
        }
        let echoed = server.await.expect("server task")?;
        Ok::<_, io::Error>((per_client, echoed, peak.get().1))
    });
    assert!(
        per_client.iter().all(|&n| n == EACH),
        "every client got its whole MiB back"
    );
    assert_eq!(echoed, CONNECTIONS as u64 * EACH);
    // The clients really overlapped (they were not served one after another).
    assert!(
        most_open >= CONNECTIONS / 2,
        "at most {most_open} connections were open at once"
    );
}

/// A7 over a real TCP connection: the reader wraps every read (`read`, `read_line`,
/// `read_exact`, `read_until`, `read_until_any`) in a timeout of 0-100 µs, so many are
/// dropped while waiting, often with part of what they wait for already buffered. The
/// bytes that come out, in order, are exactly the 10 MB that went in.
#[test]
fn a7_dropping_every_kind_of_read_at_random_points_over_tcp_loses_no_bytes() {
    const TOTAL: usize = 10 * 1000 * 1000;
    let _heavy = heavy();
    // Random bytes with a newline at least every 4,000 bytes, so `read_line` never meets
    // an overlong line (whose discarding would be correct but would lose data here).
    let mut data = Rng(10).bytes(TOTAL);
    for i in (0..TOTAL).step_by(4000) {
        data[i] = b'\n';
    }
    let data = Bytes::from(data);
    let (out, dropped, dropped_mid_way, overruns) = run_bounded(Duration::from_secs(120), async {
        let listener = Listener::bind(loopback())?;
        let addr = listener.local_addr()?.to_string();
        let source = data.clone();
        let server = spawn(async move {
            let (_reader, writer) = listener.accept().await?.split();
            let mut rng = Rng(11);
            let mut sent = 0;
            while sent < source.len() {
                let len = rng.range(1, 20_000).min(source.len() - sent);
                writer.write_bytes(source.slice(sent..sent + len))?;
                sent += len;
                writer.drain().await?;
                match rng.next() % 8 {
                    0 => sleep(Duration::from_micros(rng.range(10, 300) as u64)).await,
                    1 | 2 => ringstream::yield_now().await,
                    _ => {}
                }
            }
            writer.close();
            writer.wait_closed().await
        });
        let (mut reader, _writer) = ringstream::connect(&addr).await?.split();
        let mut out = Vec::with_capacity(TOTAL);
        let mut rng = Rng(12);
        let (mut dropped, mut dropped_mid_way, mut overruns) = (0u32, 0u32, 0u32);
        let deadline = Instant::now() + Duration::from_secs(110);
        while !reader.at_eof() {
            assert!(Instant::now() < deadline, "took too long");
            let patience = Duration::from_micros(rng.range(0, 100) as u64);
            let kind = rng.next() % 5;
            let res = match kind {
                0 => timeout(patience, reader.read(rng.range(1, 70_000))).await,
                1 => timeout(patience, reader.read_line()).await,
                // Up to 200 KB: more than 2 x limit (C2) for some.
                2 => timeout(patience, reader.read_exact(rng.range(1, 200_000))).await,
                3 => timeout(patience, reader.read_until(b"\x00\x01")).await,
                _ => {
                    timeout(
                        patience,
                        reader.read_until_any(&[&b"\xfe"[..], &b"\x10\x11"[..]]),
                    )
                    .await
                }
            };
            match res {
                Err(_elapsed) => {
                    dropped += 1;
                    if reader.buffered_len() > 0 {
                        dropped_mid_way += 1;
                    }
                }
                Ok(Ok(bytes)) => out.extend_from_slice(&bytes),
                Ok(Err(StreamError::IncompleteRead { partial, .. })) => {
                    out.extend_from_slice(&partial);
                }
                // read_until leaves the data buffered: take what precedes the
                // separator, as the error's documentation says.
                Ok(Err(StreamError::LimitOverrun { consumed })) if kind >= 3 => {
                    overruns += 1;
                    let bytes = reader.read_exact(consumed).await?;
                    out.extend_from_slice(&bytes);
                }
                Ok(Err(e)) => panic!("unexpected error from read kind {kind}: {e}"),
            }
        }
        server.await.expect("server task")?;
        Ok::<_, io::Error>((out, dropped, dropped_mid_way, overruns))
    });
    assert_eq!(out.len(), TOTAL, "byte count");
    assert!(out == data, "bytes lost, duplicated or reordered");
    // The test only proves something if reads really were dropped, some with data waiting.
    assert!(dropped >= 50, "only {dropped} reads were dropped");
    assert!(
        dropped_mid_way >= 10,
        "only {dropped_mid_way} reads were dropped with part of their data buffered"
    );
    assert!(overruns >= 1, "the read_until overrun path never ran");
}

/// E4 and F4 under a 100 MB flood. Reading 100 MB at 1 KB every few ms would take hours,
/// so the reader is slow for a bounded phase (2 s, ~1 MB taken 1 KB at a time), during
/// which its `buffered_len()` must stay at or below 2 x limit plus one recv (recv pauses
/// above 2 x limit and the one recv in flight brings at most one 64 KiB receive buffer),
/// the writer's `get_write_buffer_size()` must never
/// exceed the high watermark plus one write, and the writer must be held back (its
/// progress bounded by what the kernel's socket buffers can hold). Then it reads the rest
/// fast: all 100 MB arrive intact.
#[test]
fn e4_f4_slow_reader_bounds_both_buffers_under_a_100_mb_flood() {
    const TOTAL: u64 = 100 * 1000 * 1000;
    const LIMIT: usize = 16 * 1024;
    const WRITE: usize = 64 * 1024;
    const READER_BOUND: usize = 2 * LIMIT + 64 * 1024;
    let _heavy = heavy();
    let (max_buffered, max_write_buffer, high, sent_slow, received_slow, received) =
        run_bounded(Duration::from_secs(120), async {
            let options = ListenOptions {
                stream: StreamOptions {
                    limit: LIMIT,
                    ..Default::default()
                },
                ..Default::default()
            };
            let listener = Listener::bind_with(loopback(), options)?;
            let addr = listener.local_addr()?.to_string();
            let pattern = Rc::new(Pattern::new(4));
            let source = pattern.clone();
            let sent = Rc::new(Cell::new(0u64));
            let progress = sent.clone();
            let writer_task = spawn(async move {
                let (_reader, writer) = ringstream::connect(&addr).await?.split();
                let (_low, high) = writer.write_buffer_limits();
                let mut max_size = 0;
                while progress.get() < TOTAL {
                    let len = WRITE.min((TOTAL - progress.get()) as usize);
                    writer.write_bytes(source.chunk(progress.get(), len))?;
                    max_size = max_size.max(writer.get_write_buffer_size());
                    progress.set(progress.get() + len as u64);
                    writer.drain().await?;
                }
                writer.close();
                writer.wait_closed().await?;
                Ok::<_, io::Error>((max_size, high))
            });
            let (mut reader, _writer) = listener.accept().await?.split();
            assert_eq!(reader.limit(), LIMIT);
            let mut received = 0u64;
            let mut max_buffered = 0;
            let slow_until = Instant::now() + Duration::from_secs(2);
            while Instant::now() < slow_until {
                max_buffered = max_buffered.max(reader.buffered_len());
                let data = reader.read(1024).await?;
                assert!(!data.is_empty(), "EOF during the slow phase");
                pattern.verify(received, &data)?;
                received += data.len() as u64;
                sleep(Duration::from_millis(2)).await;
            }
            let sent_after_slow_phase = sent.get();
            let received_in_slow_phase = received;
            while received < TOTAL {
                let data = reader.read(1 << 20).await?;
                assert!(!data.is_empty(), "EOF after {received} bytes");
                pattern.verify(received, &data)?;
                received += data.len() as u64;
            }
            assert!(reader.read(1).await?.is_empty(), "EOF after the 100 MB");
            let (max_write_buffer, high) = writer_task.await.expect("writer task")?;
            Ok::<_, io::Error>((
                max_buffered,
                max_write_buffer,
                high,
                sent_after_slow_phase,
                received_in_slow_phase,
                received,
            ))
        });
    assert_eq!(received, TOTAL);
    assert!(
        max_buffered <= READER_BOUND,
        "E4: the reader buffered {max_buffered} bytes (limit {LIMIT})"
    );
    assert!(
        max_buffered > LIMIT,
        "the slow phase never built up a backlog ({max_buffered} bytes): it proves nothing"
    );
    assert!(
        max_write_buffer <= high + WRITE,
        "F4: the writer buffered {max_write_buffer} bytes (high {high} + one write {WRITE})"
    );
    // Held back: what was sent but not read fits in the kernel's two socket buffers plus
    // the two user-space buffers; without backpressure the writer would have queued all
    // 100 MB within the 2 s.
    let in_transit = sent_slow - received_slow;
    let bound = tcp_mem_max("tcp_rmem")
        + tcp_mem_max("tcp_wmem")
        + READER_BOUND as u64
        + (high + WRITE) as u64;
    assert!(
        in_transit <= bound && sent_slow < TOTAL,
        "the writer was not held back: {sent_slow} sent, {received_slow} read (bound {bound})"
    );
}

/// B3/B4 against a hostile peer: a 100 MB line to a `read_line` caller. Every call gets
/// `LimitOverrun` (the overlong data is discarded as it comes), the reader's buffer stays
/// within 2 x limit plus one 64 KiB recv (3 x the default limit) and the process's RSS does not grow by more than 64 MB while it
/// happens, the discarded bytes add up to exactly the 100 MB line, and the connection stays
/// usable: the line after it reads correctly, and writing back still works.
#[test]
fn b3_b4_a_100_mb_line_is_an_overrun_in_bounded_memory_and_the_next_line_reads() {
    const LINE: u64 = 100 * 1000 * 1000;
    let _heavy = heavy();
    let (discarded, overruns, _dropped, max_buffered, limit, rss_growth, reply) =
        run_bounded(Duration::from_secs(120), async {
            let listener = Listener::bind(loopback())?;
            let addr = listener.local_addr()?.to_string();
            let peer = spawn(async move {
                let (mut reader, writer) = ringstream::connect(&addr).await?.split();
                // One shared 64 KiB block, sent again and again without copying, so the
                // sender itself holds no more than its write buffer.
                let block = Bytes::from(vec![b'x'; 64 * 1024]);
                let mut sent = 0;
                while sent < LINE {
                    let len = (block.len() as u64).min(LINE - sent) as usize;
                    writer.write_bytes(block.slice(..len))?;
                    sent += len as u64;
                    writer.drain().await?;
                }
                writer.write(b"\nafter\n")?;
                writer.write_eof().expect("write_eof");
                let reply = reader.read_line().await?;
                Ok::<_, io::Error>(reply)
            });
            let (mut reader, writer) = listener.accept().await?.split();
            let limit = reader.limit();
            let baseline = rss_bytes();
            let mut max_rss = baseline;
            let mut max_buffered = 0;
            let mut discarded = 0u64;
            let mut overruns = 0u32;
            let mut dropped = 0u32;
            let first_ok = loop {
                max_buffered = max_buffered.max(reader.buffered_len());
                max_rss = max_rss.max(rss_bytes());
                match timeout(Duration::from_millis(1), reader.read_line()).await {
                    // A read dropped mid-way: look at the buffer while data piles up.
                    Err(_elapsed) => dropped += 1,
                    Ok(Err(StreamError::LimitOverrun { consumed })) => {
                        overruns += 1;
                        discarded += consumed as u64;
                        if overruns & 15 == 0 {
                            // Now and then let the buffer fill to where reading pauses.
                            sleep(Duration::from_millis(1)).await;
                        }
                    }
                    Ok(Ok(line)) => break line,
                    Ok(Err(e)) => panic!("unexpected error {e}"),
                }
            };
            let after = if first_ok[..] == b"after\n"[..] {
                // The last overrun had the newline buffered (B3): it took the newline too.
                first_ok
            } else {
                // The line's last piece fitted the limit: it comes back as a short line.
                assert!(
                    first_ok.len() <= limit + 1
                        && first_ok.ends_with(b"\n")
                        && first_ok[..first_ok.len() - 1].iter().all(|&b| b == b'x'),
                    "a line of {} bytes that is not the tail of the long one",
                    first_ok.len()
                );
                discarded += first_ok.len() as u64 - 1;
                reader.read_line().await?
            };
            assert_eq!(&after[..], b"after\n", "the line after the long one");
            assert!(reader.read_line().await?.is_empty(), "then EOF");
            writer.write_all(b"still usable\n").await?;
            let reply = peer.await.expect("peer task")?;
            Ok::<_, io::Error>((
                discarded,
                overruns,
                dropped,
                max_buffered,
                limit,
                max_rss - baseline,
                reply,
            ))
        });
    assert_eq!(
        discarded, LINE,
        "the discarded bytes are exactly the long line"
    );
    assert!(overruns >= 100, "only {overruns} overruns for 100 MB");
    assert!(
        max_buffered <= 3 * limit,
        "the reader buffered {max_buffered} bytes (limit {limit})"
    );
    assert!(
        rss_growth < 64 << 20,
        "RSS grew by {} MiB while a 100 MB line was discarded",
        rss_growth >> 20
    );
    assert_eq!(&reply[..], b"still usable\n");
}
