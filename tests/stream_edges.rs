//! Stream semantics over real loopback TCP connections made by `Listener` and `connect`,
//! one test per SEMANTICS.md checklist id (A-F) that the unit tests prove only on a fed
//! reader or a bare outbound state; invalid arguments at the stream level (errors, never
//! panics); and descriptor reuse after an early close.

mod support;

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ringstream::net::{ListenOptions, Listener};
use ringstream::time::{sleep, timeout};
use ringstream::{spawn, Stream, StreamError, StreamOptions, StreamReader};

use support::{loopback, run_bounded, tcp_pair, tcp_pair_with};

/// How long any one test here may take.
const BOUND: Duration = Duration::from_secs(30);

/// A pair whose server side (the reading side in these tests) has reader limit `limit`.
async fn tcp_pair_limit(limit: usize) -> io::Result<(Stream, Stream)> {
    let server = StreamOptions {
        limit,
        ..Default::default()
    };
    tcp_pair_with(StreamOptions::default(), server).await
}

/// Waits (bounded) until `reader` has `n` bytes buffered, so a test sees one fixed state
/// whatever the segmenting.
async fn wait_buffered(reader: &StreamReader, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while reader.buffered_len() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} bytes arrived",
            reader.buffered_len()
        );
        sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(reader.buffered_len(), n, "more arrived than was sent");
}

fn io_kind(result: Result<Bytes, StreamError>) -> io::ErrorKind {
    match result {
        Err(StreamError::Io(e)) => e.kind(),
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

fn overrun(result: Result<Bytes, StreamError>) -> usize {
    match result {
        Err(StreamError::LimitOverrun { consumed }) => consumed,
        other => panic!("expected LimitOverrun, got {other:?}"),
    }
}

fn is_reset_or_broken(kind: io::ErrorKind) -> bool {
    matches!(
        kind,
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    )
}

// ---- invalid arguments ----------------------------------------------------------------

/// Invalid options and arguments are `InvalidInput` errors before anything happens, never
/// panics: a zero limit or high < low for `connect_with`, `connect_unix_with`,
/// `Stream::from_std_with` and `Listener::bind_with` / `bind_unix`; an empty separator;
/// watermarks with high < low (the old ones stay); and the connection still works after.
#[test]
fn a1_d1_f3_invalid_arguments_are_errors_not_panics() {
    let unix_path = std::env::temp_dir().join(format!(
        "ringstream-test-{}-invalid.sock",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&unix_path);
    let unix_path_in = unix_path.clone();
    run_bounded(BOUND, async move {
        let zero = StreamOptions {
            limit: 0,
            ..Default::default()
        };
        let inverted = StreamOptions {
            high: Some(10),
            low: Some(20),
            ..Default::default()
        };
        // A live address, so a missing check would show up as a successful connect.
        let listener = Listener::bind(loopback())?;
        let addr = listener.local_addr()?.to_string();
        for options in [zero, inverted] {
            let err = ringstream::connect_with(&addr, options)
                .await
                .expect_err("connect_with rejects the options");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
            let listen = ListenOptions {
                stream: options,
                ..Default::default()
            };
            let err = Listener::bind_with(loopback(), listen).expect_err("bind_with rejects");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
            let err = Listener::bind_unix(&unix_path_in, listen).expect_err("bind_unix rejects");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
            assert!(!unix_path_in.exists(), "no socket file for a rejected bind");
            let err = ringstream::connect_unix_with("@ringstream-nobody", options)
                .await
                .expect_err("connect_unix_with rejects");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
            let (a, _b) = std::os::unix::net::UnixStream::pair()?;
            let err = Stream::from_std_with(a, options).expect_err("from_std_with rejects");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        }
        // Nothing was connected by the rejected calls.
        assert!(timeout(Duration::from_millis(20), listener.accept())
            .await
            .is_err());

        let (client, server) = tcp_pair().await?;
        let (mut reader, _server_writer) = server.split();
        let (_client_reader, writer) = client.split();
        writer.write(b"abc\n")?;
        wait_buffered(&reader, 4).await;
        let empty: &[u8] = b"";
        assert_eq!(
            io_kind(reader.read_until(empty).await),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(
            io_kind(reader.read_until_any(&[]).await),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(
            io_kind(reader.read_until_any(&[&b"c"[..], empty]).await),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(
            reader.buffered_len(),
            4,
            "the rejected reads consumed nothing"
        );

        let before = writer.write_buffer_limits();
        let err = writer
            .set_write_buffer_limits(Some(1), Some(2))
            .expect_err("high < low");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert_eq!(writer.write_buffer_limits(), before, "the old limits stay");

        assert_eq!(&reader.read_line().await?[..], b"abc\n", "still usable");
        Ok(())
    });
}

// ---- A. read ---------------------------------------------------------------------------

#[test]
fn a1_connections_get_the_default_limit_or_the_configured_one() {
    run_bounded(BOUND, async {
        let (client, server) = tcp_pair().await?;
        assert_eq!(client.reader.limit(), 64 * 1024);
        assert_eq!(server.reader.limit(), 64 * 1024);
        let (client, server) = tcp_pair_with(
            StreamOptions {
                limit: 1000,
                ..Default::default()
            },
            StreamOptions {
                limit: 7,
                ..Default::default()
            },
        )
        .await?;
        assert_eq!(client.reader.limit(), 1000);
        assert_eq!(server.reader.limit(), 7);
        Ok(())
    });
}

/// `read(0)` on a silent connection returns empty at once; once the peer has reset the
/// connection, `read(0)` returns the error.
#[test]
fn a2_read_zero_returns_at_once_and_raises_a_stored_error() {
    run_bounded(BOUND, async {
        let (client, server) = tcp_pair().await?;
        let (mut reader, _w) = server.split();
        let empty = timeout(Duration::from_millis(500), reader.read(0))
            .await
            .expect("read(0) does not wait")?;
        assert!(empty.is_empty());
        client.writer.abort();
        let deadline = Instant::now() + Duration::from_secs(5);
        let kind = loop {
            assert!(Instant::now() < deadline, "the reset never surfaced");
            match reader.read(0).await {
                Ok(bytes) => assert!(bytes.is_empty()),
                Err(e) => break io_kind(Err(e)),
            }
            sleep(Duration::from_millis(2)).await;
        };
        assert_eq!(kind, io::ErrorKind::ConnectionReset);
        Ok(())
    });
}

/// `read(1 MiB)` returns the 10 bytes that came, without waiting for more (the peer stays
/// open and silent).
#[test]
fn a3_read_returns_what_arrived_without_waiting_for_more() {
    run_bounded(BOUND, async {
        let (client, server) = tcp_pair().await?;
        let (mut reader, _w) = server.split();
        client.writer.write(b"0123456789")?;
        let got = timeout(Duration::from_secs(5), reader.read(1 << 20))
            .await
            .expect("read returns with what is there")?;
        assert_eq!(&got[..], b"0123456789");
        Ok(())
    });
}

/// After the peer's FIN: what is left comes back up to n per read, then empty reads.
#[test]
fn a4_read_at_eof_returns_the_rest_up_to_n_then_empty() {
    run_bounded(BOUND, async {
        let (client, server) = tcp_pair().await?;
        let (mut reader, _w) = server.split();
        client.writer.write(&[7u8; 100])?;
        client.writer.write_eof().expect("write_eof");
        wait_buffered(&reader, 100).await;
        sleep(Duration::from_millis(20)).await; // the FIN too
        assert_eq!(reader.read(30).await?.len(), 30);
        assert_eq!(reader.read(1000).await?.len(), 70);
        for _ in 0..3 {
            let end = timeout(Duration::from_secs(1), reader.read(10))
                .await
                .expect("no waiting at EOF")?;
            assert!(end.is_empty());
        }
        Ok(())
    });
}

/// `read_to_end` with a 1 KiB limit returns all 3 MB the peer sent before closing.
#[test]
fn a5_read_to_end_over_tcp_is_not_capped_by_the_limit() {
    run_bounded(BOUND, async {
        let (client, server) = tcp_pair_limit(1024).await?;
        let (mut reader, _w) = server.split();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        client.writer.write(&data)?;
        client.writer.close();
        let all = reader.read_to_end().await?;
        assert_eq!(all.len(), data.len());
        assert!(all[..] == data[..]);
        assert!(reader.at_eof());
        Ok(())
    });
}

/// A6 and F8: the peer aborts (RST) while 100 bytes sit unread in our buffer: every read
/// kind returns `ConnectionReset`, not the buffered bytes, and keeps returning it.
#[test]
fn a6_f8_after_the_peer_aborts_every_read_fails_even_with_data_buffered() {
    run_bounded(BOUND, async {
        let (client, server) = tcp_pair().await?;
        let (mut reader, _w) = server.split();
        client.writer.write(&[1u8; 100])?;
        wait_buffered(&reader, 100).await;
        client.writer.abort();
        assert!(client.writer.is_closing());
        sleep(Duration::from_millis(100)).await; // the RST arrives
        assert_eq!(reader.buffered_len(), 100);
        assert_eq!(
            io_kind(reader.read(100).await),
            io::ErrorKind::ConnectionReset
        );
        assert_eq!(
            io_kind(reader.read_line().await),
            io::ErrorKind::ConnectionReset
        );
        assert_eq!(
            io_kind(reader.read_exact(10).await),
            io::ErrorKind::ConnectionReset
        );
        assert_eq!(
            io_kind(reader.read_until(b"\x01").await),
            io::ErrorKind::ConnectionReset
        );
        assert_eq!(
            io_kind(reader.read_to_end().await),
            io::ErrorKind::ConnectionReset
        );
        assert_eq!(
            io_kind(reader.read(1).await),
            io::ErrorKind::ConnectionReset
        );
        Ok(())
    });
}

// ---- B. read_line ----------------------------------------------------------------------

#[test]
fn b1_read_line_over_tcp_gives_lines_then_the_partial_one_then_empty() {
    run_bounded(BOUND, async {
        let (client, server) = tcp_pair().await?;
        let (mut reader, _w) = server.split();
        client.writer.write(b"one\ntwo\n")?;
        client.writer.write(b"partial")?;
        client.writer.write_eof().expect("write_eof");
        assert_eq!(&reader.read_line().await?[..], b"one\n");
        assert_eq!(&reader.read_line().await?[..], b"two\n");
        assert_eq!(&reader.read_line().await?[..], b"partial");
        assert!(reader.read_line().await?.is_empty());
        assert!(reader.read_line().await?.is_empty());
        Ok(())
    });
}

/// Limit 7: `1234567\n` is fine, `12345678\n` overruns and is discarded through its newline
/// (B3) while the next line stays.
#[test]
fn b2_b3_line_of_limit_bytes_is_ok_one_more_overruns_and_is_skipped() {
    run_bounded(BOUND, async {
        let (client, server) = tcp_pair_limit(7).await?;
        let (mut reader, _w) = server.split();
        let data = b"1234567\n12345678\nok\n";
        client.writer.write(data)?;
        wait_buffered(&reader, data.len()).await;
        assert_eq!(&reader.read_line().await?[..], b"1234567\n");
        assert_eq!(overrun(reader.read_line().await), 8);
        assert_eq!(reader.buffered_len(), 3, "through the newline discarded");
        assert_eq!(&reader.read_line().await?[..], b"ok\n");
        Ok(())
    });
}

/// Limit 7, no newline in sight: overrun, and the whole buffer is discarded (B4); the
/// newline that arrives later ends an empty line. With EOF after an overlong unterminated
/// line, the overrun still wins (B5).
#[test]
fn b4_b5_overrun_without_newline_clears_the_buffer_and_wins_over_eof() {
    run_bounded(BOUND, async {
        let (client, server) = tcp_pair_limit(7).await?;
        let (mut reader, _w) = server.split();
        client.writer.write(b"123456789")?;
        wait_buffered(&reader, 9).await;
        assert_eq!(overrun(reader.read_line().await), 9);
        assert_eq!(reader.buffered_len(), 0, "B4: the whole buffer is gone");
        client.writer.write(b"\nnext\n123456789")?;
        client.writer.write_eof().expect("write_eof");
        assert_eq!(&reader.read_line().await?[..], b"\n");
        assert_eq!(&reader.read_line().await?[..], b"next\n");
        sleep(Duration::from_millis(20)).await; // EOF seen with 9 bytes buffered
        assert_eq!(overrun(reader.read_line().await), 9, "B5");
        assert!(reader.read_line().await?.is_empty());
        assert!(reader.at_eof());
        Ok(())
    });
}

/// Limit 16 and a 39-byte line sent in one piece while `read_line` waits: the line arrives
/// in one receive (a receive is not capped at the limit, as asyncio's 256 KiB `recv` is
/// not), so it is one overrun discarded through its newline (B3), and the next call reads
/// the next line. With receives capped at the limit, the waiting read saw 16 bytes, then
/// 32 without a newline (B4: overrun of 32, all discarded), and the next call returned the
/// line's last 8 bytes as if they were a line of their own.
#[test]
fn b2_b3_overlong_line_under_a_small_limit_is_one_overrun() {
    run_bounded(BOUND, async {
        let (client, server) = tcp_pair_limit(16).await?;
        let (mut reader, _w) = server.split();
        let reading = spawn(async move {
            let first = reader.read_line().await;
            let second = reader.read_line().await;
            (first, second)
        });
        sleep(Duration::from_millis(10)).await; // the read waits before any byte arrives
        let mut data = vec![b'x'; 39];
        data.extend_from_slice(b"\nok\n");
        client.writer.write(&data)?;
        let (first, second) = reading.await.expect("reader task");
        assert_eq!(overrun(first), 39, "one overrun for the whole line");
        assert_eq!(
            &second?[..],
            b"ok\n",
            "the next line, not the overlong line's tail"
        );
        Ok(())
    });
}

// ---- C. read_exact ---------------------------------------------------------------------

/// `read_exact(0)` is empty at once; `read_exact(20)` with 10 bytes there waits and takes
/// nothing (C4); with 25 there it takes exactly 20 and leaves 5 (C2); `read_exact(1 MiB)`
/// with a 1 KiB limit completes (reading resumes while it waits, C2); EOF first is
/// `IncompleteRead` with everything, buffer cleared (C3).
#[test]
fn c1_c2_c3_c4_read_exact_over_tcp() {
    run_bounded(BOUND, async {
        let (client, server) = tcp_pair_limit(1024).await?;
        let (mut reader, _w) = server.split();
        let empty = timeout(Duration::from_millis(500), reader.read_exact(0))
            .await
            .expect("C1: no waiting")?;
        assert!(empty.is_empty());

        client.writer.write(b"0123456789")?;
        wait_buffered(&reader, 10).await;
        assert!(timeout(Duration::from_millis(30), reader.read_exact(20))
            .await
            .is_err());
        assert_eq!(
            reader.buffered_len(),
            10,
            "C4: nothing consumed while waiting"
        );
        client.writer.write(b"abcdefghijklmno")?;
        assert_eq!(&reader.read_exact(20).await?[..], b"0123456789abcdefghij");
        assert_eq!(reader.buffered_len(), 5, "C2: the rest stays");
        assert_eq!(&reader.read_exact(5).await?[..], b"klmno");

        let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 253) as u8).collect();
        client.writer.write(&big)?;
        let got = reader.read_exact(big.len()).await?;
        assert!(got[..] == big[..], "C2: 1 MiB through a 1 KiB limit");

        client.writer.write(b"short")?;
        client.writer.write_eof().expect("write_eof");
        match reader.read_exact(10).await {
            Err(StreamError::IncompleteRead { partial, expected }) => {
                assert_eq!(&partial[..], b"short");
                assert_eq!(expected, Some(10));
            }
            other => panic!("C3: expected IncompleteRead, got {other:?}"),
        }
        assert_eq!(reader.buffered_len(), 0);
        assert!(reader.at_eof());
        Ok(())
    });
}

// ---- D. read_until ---------------------------------------------------------------------

/// D2 data plus separator; D7 a separator split across two TCP segments; D8 the match that
/// ends first wins; D3 EOF without a match is `IncompleteRead` with everything (and a match
/// completed by the last chunk still succeeds).
#[test]
fn d2_d3_d7_d8_read_until_over_tcp() {
    run_bounded(BOUND, async {
        let (client, server) = tcp_pair().await?;
        let (mut reader, _w) = server.split();
        let writer = client.writer;
        writer.write(b"abc\r\ndef")?;
        assert_eq!(&reader.read_until(b"\r\n").await?[..], b"abc\r\n", "D2");

        // D7: "\r" and "\n" in separate segments while the read waits.
        let sender = spawn(async move {
            writer.write_all(b"\r").await?;
            sleep(Duration::from_millis(20)).await;
            writer.write_all(b"\nABCDEFG").await?;
            sleep(Duration::from_millis(20)).await;
            writer.write(b"tail\r")?;
            sleep(Duration::from_millis(20)).await;
            writer.write(b"\n")?;
            writer.write(b"no separator")?;
            writer.write_eof().expect("write_eof");
            Ok::<_, io::Error>(writer)
        });
        assert_eq!(&reader.read_until(b"\r\n").await?[..], b"def\r\n", "D7");
        let seps: [&[u8]; 2] = [b"DEF", b"BCDE"];
        assert_eq!(&reader.read_until_any(&seps).await?[..], b"ABCDE", "D8");
        assert_eq!(
            &reader.read_until(b"\r\n").await?[..],
            b"FGtail\r\n",
            "D3/D7"
        );
        match reader.read_until(b"\r\n").await {
            Err(StreamError::IncompleteRead { partial, expected }) => {
                assert_eq!(&partial[..], b"no separator");
                assert_eq!(expected, None);
            }
            other => panic!("D3: expected IncompleteRead, got {other:?}"),
        }
        assert!(reader.at_eof(), "D3: the buffer is cleared");
        let _writer = sender.await.expect("sender task")?;
        Ok(())
    });
}

/// Limit 4. D4: separator starting at 6 > 4 -> `LimitOverrun { consumed: 6 }`. D6: nothing
/// is consumed (`read_exact(consumed)` then takes the data). D5: no separator and more than
/// limit + len(sep) - 1 buffered -> `consumed = buflen + 1 - len(sep)`. D6: the overrun
/// wins over EOF.
#[test]
fn d4_d5_d6_overruns_over_tcp_consume_nothing_and_win_over_eof() {
    run_bounded(BOUND, async {
        let (client, server) = tcp_pair_limit(4).await?;
        let (mut reader, _w) = server.split();
        client.writer.write(b"123456\n")?;
        wait_buffered(&reader, 7).await;
        assert_eq!(overrun(reader.read_until(b"\n").await), 6, "D4");
        assert_eq!(reader.buffered_len(), 7, "D6: nothing consumed");
        assert_eq!(&reader.read_exact(6).await?[..], b"123456");
        assert_eq!(&reader.read_until(b"\n").await?[..], b"\n");

        client.writer.write(b"abcdefgh")?;
        client.writer.write_eof().expect("write_eof");
        wait_buffered(&reader, 8).await;
        sleep(Duration::from_millis(20)).await; // EOF seen too
        assert_eq!(
            overrun(reader.read_until(b"\r\n").await),
            7,
            "D5, D6 over EOF"
        );
        assert_eq!(reader.buffered_len(), 8, "D6: nothing consumed");
        assert_eq!(&reader.read_to_end().await?[..], b"abcdefgh");
        Ok(())
    });
}

// ---- E. EOF, errors ----------------------------------------------------------------------

#[test]
fn e1_at_eof_needs_the_fin_and_an_empty_buffer() {
    run_bounded(BOUND, async {
        let (client, server) = tcp_pair().await?;
        let (mut reader, _w) = server.split();
        assert!(!reader.at_eof());
        client.writer.write(b"hi")?;
        wait_buffered(&reader, 2).await;
        assert!(!reader.at_eof(), "data, no FIN");
        client.writer.write_eof().expect("write_eof");
        sleep(Duration::from_millis(20)).await;
        assert!(!reader.at_eof(), "FIN, but data left");
        assert_eq!(&reader.read(10).await?[..], b"hi");
        assert!(reader.at_eof());
        Ok(())
    });
}

/// E3: a read waiting for a line is woken by data (a partial line), then by the peer's
/// reset, and returns the error rather than hanging.
#[test]
fn e3_a_waiting_read_is_woken_by_the_connection_error() {
    run_bounded(BOUND, async {
        let (client, server) = tcp_pair().await?;
        let (mut reader, _w) = server.split();
        let peer = spawn(async move {
            sleep(Duration::from_millis(20)).await;
            client.writer.write_all(b"no newline yet").await?;
            sleep(Duration::from_millis(20)).await;
            client.writer.abort();
            Ok::<_, io::Error>(())
        });
        let result = timeout(Duration::from_secs(5), reader.read_line())
            .await
            .expect("E3: the waiting read_line returns");
        assert_eq!(io_kind(result), io::ErrorKind::ConnectionReset);
        peer.await.expect("peer task")?;
        Ok(())
    });
}

// ---- F. writer ---------------------------------------------------------------------------

/// F2: the buffer size is queued + in flight (all of a 10 MB write right after `write`,
/// nothing once the peer has read it all); the defaults are 64 KiB / 16 KiB. F3: high only
/// sets low = high / 4, low only sets high = 4 x low, neither restores the defaults.
#[test]
fn f2_f3_write_buffer_size_and_limits_over_tcp() {
    run_bounded(BOUND, async {
        let (client, server) = tcp_pair().await?;
        let (mut reader, _w) = server.split();
        let writer = client.writer;
        assert_eq!(writer.write_buffer_limits(), (16 * 1024, 64 * 1024), "F2");
        writer.set_write_buffer_limits(Some(1000), None)?;
        assert_eq!(writer.write_buffer_limits(), (250, 1000));
        writer.set_write_buffer_limits(None, Some(100))?;
        assert_eq!(writer.write_buffer_limits(), (100, 400));
        writer.set_write_buffer_limits(None, None)?;
        assert_eq!(writer.write_buffer_limits(), (16 * 1024, 64 * 1024));

        assert_eq!(writer.get_write_buffer_size(), 0);
        let total = 10 * 1000 * 1000;
        writer.write_bytes(Bytes::from(vec![5u8; total]))?;
        assert_eq!(writer.get_write_buffer_size(), total, "queued + in flight");
        let mut received = 0;
        while received < total {
            let got = reader.read(1 << 20).await?;
            assert!(!got.is_empty());
            received += got.len();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while writer.get_write_buffer_size() > 0 {
            assert!(Instant::now() < deadline, "the buffer never emptied");
            sleep(Duration::from_millis(1)).await;
        }
        writer.drain().await?;
        Ok(())
    });
}

/// F5: a drain waiting on a full pipe returns the connection's error when the peer resets;
/// after close, with nothing left to flush, drain is an error too.
#[test]
fn f5_drain_returns_the_error_when_the_peer_resets_and_after_close() {
    run_bounded(BOUND, async {
        let (client, server) = tcp_pair().await?;
        let writer = client.writer;
        // 64 MiB of one shared block: more than the kernel buffers take, so drain waits.
        let block = Bytes::from(vec![3u8; 1 << 20]);
        for _ in 0..64 {
            writer.write_bytes(block.clone())?;
        }
        let waiting = timeout(Duration::from_millis(50), writer.drain()).await;
        assert!(waiting.is_err(), "drain waits while the peer reads nothing");
        // Closing with unread data sends RST.
        server.writer.abort();
        let err = timeout(Duration::from_secs(5), writer.drain())
            .await
            .expect("drain returns after the reset")
            .expect_err("with the connection's error");
        assert!(is_reset_or_broken(err.kind()), "{err}");

        let (client, _server) = tcp_pair().await?;
        client.writer.write_all(b"x").await?;
        client.writer.close();
        client.writer.wait_closed().await?;
        let err = client.writer.drain().await.expect_err("drain after close");
        assert!(is_reset_or_broken(err.kind()), "{err}");
        Ok(())
    });
}

/// F4/F5: a drain that was waiting when `close()` was called, and is released because the
/// close flushed everything, returns `Ok` (asyncio's drain returns once writing resumes);
/// the peer gets every byte and `wait_closed()` is clean. The low watermark is 0, so
/// writing resumes only once nothing is left: the released drain always finds the writer
/// closing with nothing to flush, where a drain *called* then is an error.
#[test]
fn f4_f5_drain_waiting_through_a_close_flush_returns_ok() {
    run_bounded(BOUND, async {
        let (client, server) = tcp_pair().await?;
        let (mut reader, _w) = server.split();
        let writer = client.writer;
        writer.set_write_buffer_limits(Some(64 * 1024), Some(0))?;
        // 64 MiB of one shared block: more than the kernel buffers take, so drain waits.
        let block = Bytes::from(vec![4u8; 1 << 20]);
        for _ in 0..64 {
            writer.write_bytes(block.clone())?;
        }
        let mut drain = std::pin::pin!(writer.drain());
        let waiting = timeout(Duration::from_millis(50), drain.as_mut()).await;
        assert!(waiting.is_err(), "drain waits while the peer reads nothing");
        writer.close();
        let reading = spawn(async move {
            let mut received = 0;
            loop {
                let chunk = reader.read(1 << 20).await?;
                if chunk.is_empty() {
                    return Ok::<_, StreamError>(received);
                }
                received += chunk.len();
            }
        });
        let drained = timeout(Duration::from_secs(10), drain)
            .await
            .expect("the drain is released");
        assert!(drained.is_ok(), "released by the flush: {drained:?}");
        writer.wait_closed().await?;
        let received = reading.await.expect("reader task")?;
        assert_eq!(received, 64 << 20, "close flushed everything");
        Ok(())
    });
}

/// F7 over TCP: `close()` is at once `is_closing()`, everything queued (5 MB) still
/// reaches the peer, `wait_closed()` resolves cleanly after it, and the peer sees EOF.
#[test]
fn f7_close_flushes_then_wait_closed_resolves_over_tcp() {
    run_bounded(BOUND, async {
        let (client, server) = tcp_pair().await?;
        let (mut reader, _w) = server.split();
        let data: Vec<u8> = (0..5_000_000u32).map(|i| (i % 241) as u8).collect();
        client.writer.write(&data)?;
        client.writer.close();
        assert!(client.writer.is_closing());
        let reading = spawn(async move { reader.read_to_end().await });
        client.writer.wait_closed().await?;
        let all = reading.await.expect("reader task")?;
        assert!(
            all[..] == data[..],
            "everything queued was sent before the close"
        );
        Ok(())
    });
}

/// F8: `abort()` drops the queue: of 50 MB queued, the peer gets at most what was already
/// in flight, then `ConnectionReset`; `wait_closed()` resolves.
#[test]
fn f8_abort_drops_the_queue_and_resets_the_peer() {
    run_bounded(BOUND, async {
        let (client, server) = tcp_pair().await?;
        let (mut reader, _w) = server.split();
        let block = Bytes::from(vec![8u8; 1 << 20]);
        for _ in 0..50 {
            client.writer.write_bytes(block.clone())?;
        }
        client.writer.abort();
        assert!(client.writer.is_closing());
        let _ = timeout(Duration::from_secs(5), client.writer.wait_closed())
            .await
            .expect("wait_closed resolves after abort");
        let mut received = 0;
        let kind = loop {
            match reader.read(1 << 20).await {
                Ok(bytes) if bytes.is_empty() => panic!("a clean EOF after abort"),
                Ok(bytes) => received += bytes.len(),
                Err(e) => break io_kind(Err(e)),
            }
        };
        assert_eq!(kind, io::ErrorKind::ConnectionReset);
        assert!(
            received < 50 << 20,
            "the queue was sent anyway ({received})"
        );
        Ok(())
    });
}

/// F8: our own `abort()` with a send in flight (64 MiB to a peer that reads nothing)
/// cancels that send; the cancellation is ours, not a connection error, so reads see what
/// was buffered and then a clean EOF, never "Operation canceled".
#[test]
fn f8_reads_after_our_abort_with_a_send_in_flight_see_a_clean_eof() {
    run_bounded(BOUND, async {
        let (client, server) = tcp_pair().await?;
        let (mut reader, writer) = client.split();
        server.writer.write(b"before")?;
        wait_buffered(&reader, 6).await;
        let block = Bytes::from(vec![8u8; 1 << 20]);
        for _ in 0..64 {
            writer.write_bytes(block.clone())?;
        }
        sleep(Duration::from_millis(20)).await; // the send is in the kernel, blocked
        assert!(writer.get_write_buffer_size() > 0, "the send finished");
        writer.abort();
        timeout(Duration::from_secs(5), writer.wait_closed())
            .await
            .expect("wait_closed resolves after abort")?;
        assert_eq!(&reader.read(100).await?[..], b"before");
        assert!(reader.read(100).await?.is_empty(), "EOF");
        assert!(reader.read_line().await?.is_empty(), "EOF again");
        assert!(reader.at_eof());
        Ok(())
    });
}

// ---- descriptor reuse --------------------------------------------------------------------

/// A stream dropped in the same turn as it was made leaves its first recv SQE in the
/// submission queue, naming the socket's descriptor by number. Were the socket closed at
/// once (F10: idle), a socket made next could take the same number, and the stale recv
/// would read (and throw away) that socket's data. The connection keeps its descriptor
/// until its ops end, so the new socket always gets its data.
#[test]
fn dropping_a_fresh_stream_does_not_steal_data_from_a_socket_that_reuses_its_fd() {
    run_bounded(BOUND, async {
        for _ in 0..20 {
            let (a, _a_peer) = std::os::unix::net::UnixStream::pair()?;
            drop(Stream::from_std(a)?); // recv queued, close requested, same turn
            let (mut c, mut d) = std::os::unix::net::UnixStream::pair()?;
            d.write_all(b"secret")?;
            sleep(Duration::from_millis(20)).await; // the ring submits
            c.set_nonblocking(true)?;
            let mut buf = [0u8; 16];
            match c.read(&mut buf) {
                Ok(n) => assert_eq!(&buf[..n], b"secret"),
                Err(e) => panic!("the data sent to a new socket was stolen: {e}"),
            }
        }
        Ok(())
    });
}
