//! Streams over pipes and FIFOs: `read_pipe` / `write_pipe` (asyncio's connect_read_pipe /
//! connect_write_pipe), including O_NONBLOCK descriptors, EOF, broken pipes and bad input.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::Duration;

use ringstream::time::timeout;
use ringstream::{read_pipe, spawn, write_pipe, StreamError};

const BOUND: Duration = Duration::from_secs(30);

fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A FIFO in a fresh temp directory (made with mkfifo(1); no unsafe in tests).
fn fifo(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringstream-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo failed");
    path
}

/// Both ends on the ring: 8 MB (far more than a pipe's 64 KiB buffer) arrive intact and in
/// order, then EOF once the writer closes.
#[test]
fn pipe_round_trip_of_8_mb_then_eof() {
    let data = pattern(8 << 20, 7);
    let expected = data.clone();
    ringstream::run(async move {
        let (r, w) = std::io::pipe().expect("pipe");
        let mut reader = read_pipe(r).expect("read_pipe");
        let writer = write_pipe(w).expect("write_pipe");
        let producer = spawn(async move {
            for chunk in data.chunks(100_000) {
                writer.write(chunk).expect("write");
                writer.drain().await.expect("drain");
            }
            writer.close();
            writer.wait_closed().await.expect("closed cleanly");
        });
        let got = timeout(BOUND, reader.read_to_end())
            .await
            .expect("in time")
            .expect("read_to_end");
        assert_eq!(got.len(), expected.len());
        assert!(got[..] == expected[..], "bytes differ");
        assert!(reader.at_eof());
        producer.await.expect("producer");
    })
    .expect("runtime");
}

/// O_NONBLOCK descriptors (a FIFO opened non-blocking on both sides): the transfer still
/// completes whether the kernel polls for us or hands back EAGAIN.
#[test]
fn nonblocking_fifo_round_trip() {
    let path = fifo("nonblocking");
    let data = pattern(2 << 20, 11);
    let expected = data.clone();
    let read_end = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .expect("open read end");
    let write_end = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .expect("open write end");
    ringstream::run(async move {
        let mut reader = read_pipe(read_end).expect("read_pipe");
        let writer = write_pipe(write_end).expect("write_pipe");
        let producer = spawn(async move {
            writer.write(&data).expect("write");
            writer.write_eof().expect("write_eof");
            writer.wait_closed().await.expect("closed");
        });
        let got = timeout(BOUND, reader.read_to_end())
            .await
            .expect("in time")
            .expect("read_to_end");
        assert!(
            got[..] == expected[..],
            "bytes differ ({} bytes)",
            got.len()
        );
        producer.await.expect("producer");
    })
    .expect("runtime");
    let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
}

/// A reader whose pipe comes from a plain thread, line by line (the stdin case).
#[test]
fn read_pipe_lines_from_a_blocking_writer_thread() {
    let (r, mut w) = std::io::pipe().expect("pipe");
    let writer = std::thread::spawn(move || {
        for i in 0..1000 {
            writeln!(w, "line {i}").expect("write");
        }
    });
    ringstream::run(async move {
        let mut reader = read_pipe(r).expect("read_pipe");
        for i in 0..1000 {
            let line = reader.read_line().await.expect("line");
            assert_eq!(line, format!("line {i}\n").as_bytes());
        }
        assert!(reader.read_line().await.expect("eof").is_empty());
    })
    .expect("runtime");
    writer.join().expect("writer thread");
}

/// Writing into a pipe whose reader is gone fails with BrokenPipe (and, as in Rust
/// programs generally, SIGPIPE is ignored rather than killing the process).
#[test]
fn write_pipe_reports_broken_pipe_when_the_reader_is_gone() {
    ringstream::run(async {
        let (r, w) = std::io::pipe().expect("pipe");
        drop(r);
        let writer = write_pipe(w).expect("write_pipe");
        writer.write(b"nobody reads this").expect("queued");
        let err = timeout(BOUND, async {
            loop {
                // The failure lands on a later write or drain.
                if let Err(e) = writer.drain().await {
                    return e;
                }
                if let Err(e) = writer.write(b"more") {
                    return e;
                }
                ringstream::yield_now().await;
            }
        })
        .await
        .expect("error in time");
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "{err}");
    })
    .expect("runtime");
}

/// Dropping a pipe reader closes its descriptor: the writing thread then sees EPIPE.
#[test]
fn dropping_the_pipe_reader_closes_the_pipe() {
    let (r, mut w) = std::io::pipe().expect("pipe");
    ringstream::run(async move {
        let reader = read_pipe(r).expect("read_pipe");
        drop(reader);
        // Let the cancelled read complete and the close happen.
        for _ in 0..10 {
            ringstream::nop().await.expect("nop");
        }
    })
    .expect("runtime");
    let err = w.write_all(b"x").expect_err("the read end is closed");
    assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
}

/// Bad input: regular files are refused with a clear error, never a panic; invalid
/// options too.
#[test]
fn regular_files_and_bad_options_are_refused() {
    ringstream::run(async {
        let file = std::fs::File::open("/proc/self/status").expect("a regular file");
        let err = read_pipe(file).expect_err("not a pipe");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("not a regular file"), "{err}");

        let (r, w) = std::io::pipe().expect("pipe");
        let bad = ringstream::StreamOptions {
            limit: 0,
            ..Default::default()
        };
        let err = ringstream::read_pipe_with(r, bad).expect_err("limit 0");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        let bad = ringstream::StreamOptions {
            high: Some(10),
            low: Some(20),
            ..Default::default()
        };
        let err = ringstream::write_pipe_with(w, bad).expect_err("high < low");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    })
    .expect("runtime");
}

/// E4 over a pipe: a reader that does not read stops the pipe reads; what is buffered
/// stays within 2 x limit plus one read (reads pause above 2 x limit, and the one read in
/// flight brings at most one receive buffer, 64 KiB by default), and everything still
/// arrives once it reads.
#[test]
fn e4_pipe_reader_pauses_when_not_read() {
    let data = pattern(4 << 20, 3);
    let expected = data.clone();
    ringstream::run(async move {
        let limit = 16 * 1024;
        let bound = 2 * limit + 64 * 1024;
        let (r, w) = std::io::pipe().expect("pipe");
        let options = ringstream::StreamOptions {
            limit,
            ..Default::default()
        };
        let mut reader = ringstream::read_pipe_with(r, options).expect("read_pipe");
        let writer = write_pipe(w).expect("write_pipe");
        let producer = spawn(async move {
            writer.write(&data).expect("write");
            writer.close();
            writer.wait_closed().await.expect("closed");
        });
        ringstream::time::sleep(Duration::from_millis(100)).await;
        let buffered = reader.buffered_len();
        assert!(
            buffered > 2 * limit && buffered <= bound,
            "buffered {buffered} with limit {limit}"
        );
        let mut got = Vec::with_capacity(expected.len());
        loop {
            match timeout(BOUND, reader.read(limit)).await.expect("in time") {
                Ok(chunk) if chunk.is_empty() => break,
                Ok(chunk) => got.extend_from_slice(&chunk),
                Err(StreamError::Io(e)) => panic!("read failed: {e}"),
                Err(e) => panic!("read failed: {e}"),
            }
            assert!(reader.buffered_len() <= bound);
        }
        assert!(got == expected, "bytes differ");
        producer.await.expect("producer");
    })
    .expect("runtime");
}

/// A FIFO written by a blocking std writer and read through the ring.
#[test]
fn fifo_from_a_std_writer() {
    let path = fifo("std-writer");
    let writer_path = path.clone();
    let writer = std::thread::spawn(move || {
        // Blocks until the read side opens.
        let mut f = OpenOptions::new()
            .write(true)
            .open(&writer_path)
            .expect("open write end");
        f.write_all(b"hello fifo\n").expect("write");
    });
    let read_end = OpenOptions::new()
        .read(true)
        .open(&path)
        .expect("open read end");
    ringstream::run(async move {
        let mut reader = read_pipe(read_end).expect("read_pipe");
        let line = timeout(BOUND, reader.read_line())
            .await
            .expect("in time")
            .expect("line");
        assert_eq!(&line[..], b"hello fifo\n");
    })
    .expect("runtime");
    writer.join().expect("writer");
    let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
}
