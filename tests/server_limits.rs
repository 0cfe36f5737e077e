//! StreamServer protections (ServerBuilder::idle_timeout, read_timeout, max_connections):
//! idle and slow clients are closed, active ones are not, and a full server makes new
//! clients wait in the backlog.

mod support;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use ringstream::net::StreamServer;
use ringstream::Stream;

use support::echo::echo;
use support::{listeners_on, port_of, tcp_client, wait_until};

/// Echoes whole lines.
async fn echo_lines(stream: Stream) -> io::Result<()> {
    let (mut reader, writer) = stream.split();
    loop {
        let line = reader.read_line().await?;
        if line.is_empty() {
            return Ok(());
        }
        writer.write(&line)?;
    }
}

/// A std client of `server` (reads time out, see [`tcp_client`]).
fn connect(server: &StreamServer) -> TcpStream {
    tcp_client(server.local_addr().to_string())
}

/// True once the server has closed `s` (EOF or reset), false if it is still open after
/// `wait`. Whatever the server echoes before closing is skipped.
fn closed_within(s: &mut TcpStream, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 256];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        s.set_read_timeout(Some(left)).expect("timeout");
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return false
            }
            Err(_) => return true, // reset
        }
    }
}

fn round_trip(s: &mut TcpStream, msg: &[u8]) {
    s.write_all(msg).expect("write");
    let mut back = vec![0u8; msg.len()];
    s.read_exact(&mut back).expect("echo");
    assert_eq!(back, msg);
}

/// An idle connection is closed after idle_timeout, not before; one that keeps talking
/// (more slowly than the timeout in total, faster than it between messages) is not.
#[test]
fn idle_timeout_closes_idle_connections_only() {
    let timeout = Duration::from_millis(300);
    let server = StreamServer::bind("127.0.0.1:0")
        .cores(1)
        .idle_timeout(timeout)
        .serve(echo)
        .expect("serve");
    let started = Instant::now();
    let mut idle = connect(&server);
    let mut active = connect(&server);
    for i in 0..8u8 {
        round_trip(&mut active, &[b'a' + i]);
        std::thread::sleep(Duration::from_millis(80));
    }
    // 640 ms on: the active one still echoes, the idle one was closed.
    round_trip(&mut active, b"still here");
    assert!(
        closed_within(&mut idle, Duration::from_millis(50)),
        "the idle connection was not closed after {:?}",
        started.elapsed()
    );
    // Not too early either.
    let mut fresh = connect(&server);
    let opened = Instant::now();
    assert!(
        closed_within(&mut fresh, Duration::from_secs(5)),
        "never closed"
    );
    assert!(
        opened.elapsed() >= timeout,
        "closed after {:?}",
        opened.elapsed()
    );
    drop(active);
    wait_until("handlers to end", Duration::from_secs(5), || {
        server.stats()[0].active == 0
    });
    server.shutdown(Duration::from_secs(5)).expect("shutdown");
}

/// A timed-out connection whose peer reads nothing cannot finish a graceful close (its
/// queue never drains): it is aborted a moment later (RST), even though its handler ended.
#[test]
fn idle_timeout_aborts_a_connection_that_cannot_close() {
    let server = StreamServer::bind("127.0.0.1:0")
        .cores(1)
        .idle_timeout(Duration::from_millis(300))
        .serve(|stream: Stream| async move {
            let (mut reader, writer) = stream.split();
            // More than the socket buffers of both ends hold: the send stalls.
            writer.write(&vec![7u8; 32 << 20])?;
            let _ = reader.read(1).await; // EOF once closed for idling
            Ok(())
        })
        .expect("serve");
    let mut s = connect(&server);
    std::thread::sleep(Duration::from_millis(2500));
    // Aborted: what had arrived can still be read, then the reset shows (a graceful close
    // would deliver all 32 MB, then EOF).
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0;
    let end = loop {
        match s.read(&mut buf) {
            Ok(n) if n > 0 && total < 32 << 20 => total += n,
            other => break other,
        }
    };
    assert!(
        matches!(&end, Err(e) if e.kind() == io::ErrorKind::ConnectionReset),
        "the connection was not aborted: {end:?} after {total} bytes"
    );
    assert!(total < 32 << 20, "{total}");
    server.shutdown(Duration::from_secs(5)).expect("shutdown");
}

/// read_timeout (between two receives while a read waits): a client that sends one byte
/// more slowly than the timeout is closed; one that sends faster is not, although its
/// line takes longer than the timeout in all; a handler busy elsewhere is not timed.
#[test]
fn read_timeout_closes_slowloris_not_slow_handlers() {
    let timeout = Duration::from_millis(300);
    let server = StreamServer::bind("127.0.0.1:0")
        .cores(1)
        .read_timeout(timeout)
        .serve(|stream: Stream| async move {
            // Busy for twice the timeout before the first read: not a slow client.
            ringstream::time::sleep(Duration::from_millis(600)).await;
            echo_lines(stream).await
        })
        .expect("serve");
    let mut slowloris = connect(&server);
    let mut steady = connect(&server);
    std::thread::sleep(Duration::from_millis(650)); // the handlers start reading
    let sent_at = Instant::now();
    slowloris.write_all(b"G").expect("write");
    for &b in b"a steady line\n".iter() {
        steady.write_all(&[b]).expect("write");
        std::thread::sleep(Duration::from_millis(40));
    }
    let mut line = vec![0u8; 14];
    steady
        .read_exact(&mut line)
        .expect("the steady client is served");
    assert_eq!(&line, b"a steady line\n");
    // The slowloris sent one byte and then nothing for longer than the timeout.
    assert!(
        closed_within(&mut slowloris, Duration::from_secs(5)),
        "slowloris kept open"
    );
    assert!(sent_at.elapsed() >= timeout);
    round_trip(&mut steady, b"and another\n");
    drop(steady);
    server.shutdown(Duration::from_secs(5)).expect("shutdown");
}

/// Many slow clients at once (one byte, then nothing): every one is closed in time and
/// its handler ends.
#[test]
fn read_timeout_closes_500_slowloris_connections() {
    const CONNS: usize = 500;
    let server = StreamServer::bind("127.0.0.1:0")
        .cores(2)
        .backlog(CONNS as i32)
        .read_timeout(Duration::from_millis(400))
        .serve(echo_lines)
        .expect("serve");
    let mut conns: Vec<TcpStream> = (0..CONNS).map(|_| connect(&server)).collect();
    for s in &mut conns {
        s.write_all(b"x").expect("write");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for (i, s) in conns.iter_mut().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(closed_within(s, left), "connection {i} was never closed");
    }
    wait_until("every handler to end", Duration::from_secs(10), || {
        server.stats().iter().all(|c| c.active == 0)
    });
    let accepted: u64 = server.stats().iter().map(|c| c.accepted).sum();
    assert_eq!(accepted, CONNS as u64);
    server.shutdown(Duration::from_secs(5)).expect("shutdown");
}

/// Log lines of this test binary, for the max_connections warning.
fn captured() -> &'static Mutex<Vec<String>> {
    static LINES: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    static LOGGER: Capture = Capture;
    struct Capture;
    impl log::Log for Capture {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            true
        }
        fn log(&self, record: &log::Record<'_>) {
            captured()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(format!("{} {}", record.level(), record.args()));
        }
        fn flush(&self) {}
    }
    LINES.get_or_init(|| {
        let _ = log::set_logger(&LOGGER);
        log::set_max_level(log::LevelFilter::Info);
        Mutex::new(Vec::new())
    })
}

/// max_connections(2): the third client waits (connected in the backlog, not served)
/// until one of the first two leaves; a warning says so once, a line when accepting again.
#[test]
fn max_connections_makes_the_next_client_wait_until_one_closes() {
    let lines = captured();
    let server = StreamServer::bind("127.0.0.1:0")
        .cores(1)
        .max_connections(2)
        .serve(echo)
        .expect("serve");
    let mut first = connect(&server);
    let mut second = connect(&server);
    round_trip(&mut first, b"one");
    round_trip(&mut second, b"two");
    let mut third = connect(&server); // the handshake completes in the backlog
    third.write_all(b"three").expect("write");
    let mut fourth = connect(&server);
    fourth.write_all(b"four").expect("write");
    third
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let mut b = [0u8; 5];
    let early = third.read(&mut b);
    assert!(
        matches!(&early, Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)),
        "the third client must wait: {early:?}"
    );
    assert_eq!(server.stats()[0].accepted, 2);
    assert_eq!(server.stats()[0].active, 2);
    assert_eq!(
        listeners_on(port_of(&server)).iter().sum::<usize>(),
        2,
        "the waiting clients stay in the kernel's backlog, not accepted and held"
    );
    drop(first);
    third
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    third
        .read_exact(&mut b)
        .expect("served once the first left");
    assert_eq!(&b, b"three");
    round_trip(&mut second, b"still");
    drop(second);
    let mut b = [0u8; 4];
    fourth
        .read_exact(&mut b)
        .expect("served once the second left");
    assert_eq!(&b, b"four");
    let log = lines.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let warned = log
        .iter()
        .filter(|l| l.starts_with("WARN") && l.contains("max_connections"))
        .count();
    assert!(warned >= 1, "no warning: {log:?}");
    assert!(
        log.iter()
            .any(|l| l.starts_with("INFO") && l.contains("accepting")),
        "no line when accepting again: {log:?}"
    );
    drop((third, fourth));
    server.shutdown(Duration::from_secs(5)).expect("shutdown");
}

/// Zero is not a limit or a timeout: an error, not a server that refuses everything.
#[test]
fn zero_limits_are_an_error() {
    let zero = |b: ringstream::net::ServerBuilder| b.cores(1).serve(echo).expect_err("zero").kind();
    let bind = || StreamServer::bind("127.0.0.1:0");
    assert_eq!(zero(bind().max_connections(0)), io::ErrorKind::InvalidInput);
    assert_eq!(
        zero(bind().idle_timeout(Duration::ZERO)),
        io::ErrorKind::InvalidInput
    );
    assert_eq!(
        zero(bind().read_timeout(Duration::ZERO)),
        io::ErrorKind::InvalidInput
    );
}

/// read_timeout on a protocol server: a protocol waits for data whenever it is reading, so
/// a client that goes silent for longer than the timeout is closed, and one that keeps
/// talking (faster than the timeout between messages) is not.
#[test]
fn read_timeout_closes_a_silent_protocol_client() {
    use ringstream_harness::protocol_echo::EchoProtocol;

    let timeout = Duration::from_millis(300);
    let server = StreamServer::bind("127.0.0.1:0")
        .cores(1)
        .read_timeout(timeout)
        .serve_protocol(EchoProtocol::default)
        .expect("serve");
    let mut silent = connect(&server);
    let mut talking = connect(&server);
    round_trip(&mut silent, b"hello\n");
    let started = Instant::now();
    for _ in 0..8 {
        std::thread::sleep(Duration::from_millis(100));
        round_trip(&mut talking, b"still here\n");
    }
    assert!(
        closed_within(&mut silent, Duration::from_secs(5)),
        "the silent client was kept open"
    );
    assert!(started.elapsed() >= timeout);
    round_trip(&mut talking, b"and more\n");
    drop(talking);
    server.shutdown(Duration::from_secs(5)).expect("shutdown");
}
