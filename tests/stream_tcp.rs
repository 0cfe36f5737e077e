//! Streams over real sockets (loopback TCP and socketpairs): SEMANTICS A7, E4, E5, F1,
//! F4, F6, F7, F9, F10.

mod support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use ringstream::time::{sleep, timeout};
use ringstream::{spawn, Runtime, Stream, StreamError, StreamOptions};

use support::echo::std_echo_server;

fn checksum(data: &[u8]) -> u64 {
    data.iter().enumerate().fold(0u64, |acc, (i, &b)| {
        acc.wrapping_mul(31).wrapping_add(b as u64 ^ i as u64)
    })
}

#[test]
fn tcp_echo_round_trip_through_connect_and_open_connection() {
    let addr = std_echo_server(2);
    let rt = Runtime::new().expect("runtime");
    rt.block_on(async move {
        let stream = ringstream::connect(&addr.to_string())
            .await
            .expect("connect");
        let (mut reader, writer) = stream.split();
        writer.write(b"hello\n").expect("write");
        assert_eq!(&reader.read_line().await.expect("echo")[..], b"hello\n");
        let payload: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        writer.write_all(&payload).await.expect("write_all");
        let back = reader.read_exact(payload.len()).await.expect("read_exact");
        assert_eq!(checksum(&back), checksum(&payload));
        writer.close();
        writer.wait_closed().await.expect("closed cleanly");

        let (mut r2, w2) = ringstream::open_connection("127.0.0.1", addr.port())
            .await
            .expect("open_connection");
        w2.write(b"x").expect("write");
        assert_eq!(&r2.read(10).await.expect("read")[..], b"x");
    });
}

#[test]
fn connect_errors_name_the_address() {
    let rt = Runtime::new().expect("runtime");
    rt.block_on(async {
        // A port nobody listens on (bound then dropped).
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = ringstream::connect(&format!("127.0.0.1:{port}"))
            .await
            .expect_err("refused");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
        assert!(err.to_string().contains(&port.to_string()), "{err}");
        let err = ringstream::connect("no-such-host.invalid:80")
            .await
            .expect_err("unresolvable");
        assert!(err.to_string().contains("no-such-host.invalid"), "{err}");
    });
}

#[test]
fn f1_thousand_small_writes_cost_a_handful_of_sends() {
    let rt = Runtime::new().expect("runtime");
    rt.block_on(async {
        let (a, b) = Stream::pair().expect("pair");
        let (_ra, wa) = a.split();
        let (mut rb, _wb) = b.split();
        let before = ringstream::runtime::stats().expect("stats").submitted;
        for i in 0..1000u32 {
            wa.write(&[(i % 256) as u8; 16]).expect("write");
        }
        wa.drain().await.expect("drain");
        let got = rb.read_exact(16_000).await.expect("all bytes");
        let sqes = ringstream::runtime::stats().expect("stats").submitted - before;
        assert!(sqes <= 10, "1000 writes of 16 B took {sqes} SQEs");
        for (i, chunk) in got.chunks(16).enumerate() {
            assert!(
                chunk.iter().all(|&b| b == (i % 256) as u8),
                "chunk {i} out of order"
            );
        }
    });
}

/// F1 across writes too large to copy: 16 responses of 1 KiB written in one turn (a
/// pipelined batch) leave in a single send, not the first alone and the rest after it.
#[test]
fn f1_writes_of_one_turn_leave_in_one_send() {
    let rt = Runtime::new().expect("runtime");
    rt.block_on(async {
        let (a, b) = Stream::pair().expect("pair");
        let (_ra, wa) = a.split();
        let (mut rb, _wb) = b.split();
        ringstream::nop().await.expect("settle"); // the recvs are armed
        let before = ringstream::runtime::stats().expect("stats").submitted;
        for i in 0..16u8 {
            wa.write(&[i; 1024]).expect("write");
        }
        let got = rb.read_exact(16 * 1024).await.expect("all bytes");
        let sqes = ringstream::runtime::stats().expect("stats").submitted - before;
        // One sendmsg, plus at most two recv re-arms on the reading side (16 KiB fits one
        // 64 KiB receive buffer; the data may arrive in two pieces).
        assert!(sqes <= 3, "16 writes in one turn took {sqes} SQEs");
        for (i, chunk) in got.chunks(1024).enumerate() {
            assert!(
                chunk.iter().all(|&b| b == i as u8),
                "chunk {i} out of order"
            );
        }
    });
}

/// A3 with receive buffers lent to the reader: `Bytes` returned by `read(n)` may share the
/// runtime's receive buffers, so they must stay intact while held, however many are held
/// (200 x 64 KiB, three times the ring's 64 buffers: lending stops at half the ring and
/// the rest is copied, so receiving never starves), over TCP.
#[test]
fn a3_read_bytes_stay_intact_while_held_and_receiving_goes_on() {
    const CHUNK: usize = 64 * 1024;
    const CHUNKS: usize = 200;
    let addr = std_echo_server(1);
    let rt = Runtime::new().expect("runtime");
    rt.block_on(async move {
        let stream = ringstream::connect(&addr.to_string())
            .await
            .expect("connect");
        let (mut reader, writer) = stream.split();
        let pattern =
            |i: usize| -> Vec<u8> { (0..CHUNK).map(|j| ((i * 7 + j) % 251) as u8).collect() };
        let producer = spawn(async move {
            for i in 0..CHUNKS {
                writer.write_all(&pattern(i)).await.expect("write");
            }
            writer
        });
        let mut held = Vec::new();
        let mut total = 0;
        let deadline = Instant::now() + Duration::from_secs(30);
        while total < CHUNK * CHUNKS && Instant::now() < deadline {
            let piece = timeout(Duration::from_secs(10), reader.read(CHUNK))
                .await
                .expect("data in time")
                .expect("read");
            assert!(!piece.is_empty(), "early EOF");
            total += piece.len();
            held.push(piece);
        }
        let _writer = producer.await.expect("producer");
        let got: Vec<u8> = held.iter().flat_map(|b| b.iter().copied()).collect();
        assert_eq!(got.len(), CHUNK * CHUNKS);
        for i in 0..CHUNKS {
            assert!(
                got[i * CHUNK..(i + 1) * CHUNK] == pattern(i)[..],
                "chunk {i} changed while held"
            );
        }
    });
}

/// The most one receive brings: the runtime's receive buffer size (Builder::recv_buffers).
const RECV_BUFFER: usize = 64 * 1024;

/// E4 with a tiny limit: a reader that is not read holds at most 2 x limit plus one
/// receive (pause above 2 x limit; the recv in flight brings at most one receive buffer),
/// and the bytes held back arrive complete once it reads.
#[test]
fn e4_unread_reader_stays_under_the_pause_threshold_plus_one_recv_with_small_limit() {
    const LIMIT: usize = 1000;
    let rt = Runtime::new().expect("runtime");
    rt.block_on(async {
        let (x, y) = std::os::unix::net::UnixStream::pair().expect("socketpair");
        let a = Stream::from_std(x).expect("a");
        let options = StreamOptions {
            limit: LIMIT,
            ..StreamOptions::default()
        };
        let b = Stream::from_std_with(y, options).expect("b");
        let (_ra, wa) = a.split();
        let (mut rb, _wb) = b.split();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
        wa.write(&data).expect("write");
        let mut max_buffered = 0;
        for _ in 0..50 {
            sleep(Duration::from_millis(2)).await;
            max_buffered = max_buffered.max(rb.buffered_len());
        }
        assert!(
            max_buffered > 2 * LIMIT,
            "the reader never filled up ({max_buffered} B)"
        );
        assert!(
            max_buffered <= 2 * LIMIT + RECV_BUFFER,
            "{max_buffered} B buffered, limit {LIMIT}"
        );
        let got = timeout(Duration::from_secs(10), rb.read_exact(data.len()))
            .await
            .expect("in time")
            .expect("all bytes");
        assert!(got[..] == data[..], "bytes differ");
    });
}

#[test]
fn e4_slow_reader_pauses_recv_and_f4_writer_drain_holds_the_high_watermark() {
    let rt = Runtime::new().expect("runtime");
    rt.block_on(async {
        let limit = 16 * 1024;
        let options = ringstream::StreamOptions {
            limit,
            ..Default::default()
        };
        let (a, b) = std::os::unix::net::UnixStream::pair().expect("pair");
        let a = Stream::from_std_with(a, options).expect("a");
        let b = Stream::from_std_with(b, options).expect("b");
        let (_ra, wa) = a.split();
        let (mut rb, _wb) = b.split();
        let total = 8 * 1024 * 1024;
        let writer = spawn(async move {
            let chunk = vec![7u8; 32 * 1024];
            let mut max_buffer = 0;
            let mut sent = 0;
            while sent < total {
                wa.write(&chunk).expect("write");
                sent += chunk.len();
                max_buffer = max_buffer.max(wa.get_write_buffer_size());
                wa.drain().await.expect("drain");
            }
            max_buffer
        });
        let mut max_buffered = 0;
        let mut received = 0;
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut i = 0u32;
        while received < total && Instant::now() < deadline {
            max_buffered = max_buffered.max(rb.buffered_len());
            let got = rb.read(64 * 1024).await.expect("read");
            assert!(got.iter().all(|&b| b == 7));
            received += got.len();
            i += 1;
            if i.is_multiple_of(64) {
                sleep(Duration::from_millis(1)).await; // a slow reader
            }
        }
        assert_eq!(received, total);
        let max_write_buffer = writer.await.expect("writer");
        assert!(
            max_buffered <= 2 * limit + RECV_BUFFER,
            "reader buffered {max_buffered} > 2 x limit + one recv"
        );
        // drain() holds the buffer near the high watermark: high (64 KiB) + one write.
        assert!(
            max_write_buffer <= 64 * 1024 + 32 * 1024,
            "writer buffered {max_write_buffer}"
        );
    });
}

#[test]
fn a7_dropping_read_futures_at_random_points_loses_no_bytes() {
    let rt = Runtime::new().expect("runtime");
    rt.block_on(async {
        let (a, b) = Stream::pair().expect("pair");
        let (_ra, wa) = a.split();
        let (mut rb, _wb) = b.split();
        let total = 4 * 1024 * 1024;
        let data: Vec<u8> = (0..total)
            .map(|i| (i * 7 % 253) as u8 ^ if i % 97 == 0 { b'\n' } else { 0 })
            .collect();
        let expected = checksum(&data);
        let writer = spawn(async move {
            for chunk in data.chunks(3000) {
                wa.write(chunk).expect("write");
                wa.drain().await.expect("drain");
                if chunk[0] % 5 == 0 {
                    ringstream::yield_now().await;
                }
            }
            wa.close();
        });
        let mut out = Vec::with_capacity(total);
        let mut seed = 12345u64;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            assert!(Instant::now() < deadline, "took too long");
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let patience = Duration::from_micros(seed >> 60);
            let res = match (seed >> 32) % 4 {
                0 => timeout(patience, rb.read(1000)).await,
                1 => timeout(patience, rb.read_line()).await,
                2 => timeout(patience, rb.read_exact(777)).await,
                _ => timeout(patience, rb.read_until(b"\x10\x11")).await,
            };
            match res {
                Err(_elapsed) => continue, // the read future was dropped mid-way
                Ok(Ok(bytes)) if bytes.is_empty() => break,
                Ok(Ok(bytes)) => out.extend_from_slice(&bytes),
                Ok(Err(StreamError::IncompleteRead { partial, .. })) => {
                    out.extend_from_slice(&partial);
                }
                Ok(Err(StreamError::LimitOverrun { .. })) => {
                    let bytes = rb.read(65536).await.expect("read after overrun");
                    out.extend_from_slice(&bytes);
                }
                Ok(Err(e)) => panic!("unexpected error {e}"),
            }
        }
        writer.await.expect("writer");
        assert_eq!(out.len(), total);
        assert_eq!(checksum(&out), expected);
    });
}

#[test]
fn e5_f6_half_close_both_ways() {
    let rt = Runtime::new().expect("runtime");
    rt.block_on(async {
        let (a, b) = Stream::pair().expect("pair");
        let (mut ra, wa) = a.split();
        let (mut rb, wb) = b.split();
        wa.write(b"last words").expect("write");
        wa.write_eof().expect("write_eof");
        assert!(
            wa.write(b"more").is_err(),
            "F6: write after write_eof errors"
        );
        assert_eq!(&rb.read_to_end().await.expect("to EOF")[..], b"last words");
        assert!(rb.at_eof());
        // E5: the side that got FIN can still write, and the half-closed side still reads.
        wb.write_all(b"reply").await.expect("write after peer FIN");
        assert_eq!(
            &ra.read_exact(5).await.expect("read after write_eof")[..],
            b"reply"
        );
    });
}

#[test]
fn peer_reset_mid_read_is_connection_reset_for_that_connection_only() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let rt = Runtime::new().expect("runtime");
    rt.block_on(async move {
        let stream = ringstream::connect(&addr.to_string())
            .await
            .expect("connect");
        let (peer, _) = listener.accept().expect("accept");
        let (other_a, other_b) = Stream::pair().expect("pair");
        let (mut reader, writer) = stream.split();
        // Closing a socket with unread data in its receive queue sends RST.
        writer
            .write_all(b"never read by the peer")
            .await
            .expect("write");
        sleep(Duration::from_millis(50)).await;
        drop(peer);
        let err = reader.read(100).await.expect_err("reset");
        assert_eq!(err_kind(&err), std::io::ErrorKind::ConnectionReset);
        let again = reader.read(100).await.expect_err("still reset");
        assert_eq!(err_kind(&again), std::io::ErrorKind::ConnectionReset);
        // Another connection on the same runtime is unaffected.
        let (_r, w) = other_a.split();
        let (mut r2, _w2) = other_b.split();
        w.write(b"fine").expect("write");
        assert_eq!(&r2.read_exact(4).await.expect("read")[..], b"fine");
    });
}

fn err_kind(e: &StreamError) -> std::io::ErrorKind {
    match e {
        StreamError::Io(e) => e.kind(),
        other => panic!("expected an I/O error, got {other}"),
    }
}

#[test]
fn f9_write_after_close_or_abort_is_an_error_and_f7_close_flushes_first() {
    let rt = Runtime::new().expect("runtime");
    rt.block_on(async {
        let (a, b) = Stream::pair().expect("pair");
        let (_ra, wa) = a.split();
        let (mut rb, _wb) = b.split();
        let payload = vec![1u8; 300_000];
        wa.write(&payload).expect("write");
        wa.close();
        assert!(wa.is_closing());
        assert!(wa.write(b"late").is_err(), "F9");
        wa.close(); // idempotent
        let all = rb.read_to_end().await.expect("to EOF");
        assert_eq!(
            all.len(),
            payload.len(),
            "F7: close flushed everything first"
        );
        wa.wait_closed().await.expect("closed");

        let (c, _d) = Stream::pair().expect("pair");
        let (_rc, wc) = c.split();
        wc.abort();
        assert!(wc.write(b"x").is_err(), "F9 after abort");
    });
}

#[test]
fn f10_dropping_the_writer_flushes_then_closes() {
    let rt = Runtime::new().expect("runtime");
    rt.block_on(async {
        let (a, b) = Stream::pair().expect("pair");
        let (ra, wa) = a.split();
        let (mut rb, _wb) = b.split();
        wa.write(&vec![9u8; 500_000]).expect("write");
        drop(wa);
        drop(ra);
        let all = rb.read_to_end().await.expect("to EOF");
        assert_eq!(all.len(), 500_000);
        assert!(all.iter().all(|&b| b == 9));
    });
}
