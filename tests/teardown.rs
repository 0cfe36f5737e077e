//! Closing and tearing down release everything at once: the peer sees FIN (or RST) when
//! `wait_closed` returns, and dropping a runtime closes its connections and its ring.

mod support;

use std::io::Read;
use std::sync::Mutex;
use std::time::Duration;

use ringstream::{Runtime, Stream, StreamError};

use support::{open_fds, std_tcp_pair};

/// The tests count this process's descriptors: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// F7: once `wait_closed` returns the socket is really closed: the peer reads EOF at once,
/// even though the ring is not entered again (the peer reads while blocking the ring's
/// thread) — with a recv armed when close() was called.
#[test]
fn f7_wait_closed_means_the_peer_has_its_fin() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (ours, mut peer) = std_tcp_pair();
    ringstream::run(async move {
        let stream = Stream::from_std(ours).expect("adopt");
        let (reader, writer) = stream.split();
        // One trip through the ring: the recv is now armed in the kernel.
        ringstream::nop().await.expect("nop");
        writer.write(b"last words").expect("write");
        // Let the send finish, so close() has nothing to flush and closes at once.
        for _ in 0..100 {
            if writer.get_write_buffer_size() == 0 {
                break;
            }
            ringstream::nop().await.expect("nop");
        }
        assert_eq!(writer.get_write_buffer_size(), 0);
        writer.close();
        writer.wait_closed().await.expect("closed");
        drop(reader);
        // Blocking read on the ring's thread: nothing more happens on the ring meanwhile.
        peer.set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let mut got = Vec::new();
        peer.read_to_end(&mut got).expect("EOF, not a timeout");
        assert_eq!(got, b"last words");
    })
    .expect("runtime");
}

/// F8: after abort() and wait_closed the peer sees the reset without further ring work.
#[test]
fn f8_abort_resets_the_peer_by_the_time_wait_closed_returns() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (ours, mut peer) = std_tcp_pair();
    ringstream::run(async move {
        let stream = Stream::from_std(ours).expect("adopt");
        ringstream::nop().await.expect("nop");
        stream.writer.abort();
        let _ = stream.writer.wait_closed().await;
        peer.set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let mut b = [0u8; 1];
        let err = peer.read(&mut b).expect_err("reset");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
    })
    .expect("runtime");
}

/// Dropping a runtime with live connections (reads armed, writers queued) closes them
/// and the ring: the descriptor count goes back to where it was, and peers see EOF.
#[test]
fn dropping_a_runtime_closes_its_connections_and_its_ring() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = open_fds();
    let mut peers = Vec::new();
    {
        let runtime = Runtime::new().expect("runtime");
        let mut ours = Vec::new();
        for _ in 0..8 {
            let (a, b) = std_tcp_pair();
            ours.push(a);
            peers.push(b);
        }
        runtime.block_on(async move {
            for socket in ours {
                let stream = Stream::from_std(socket).expect("adopt");
                // A task parked in a read, holding the stream: only runtime teardown ends it.
                drop(ringstream::spawn(async move {
                    let (mut reader, _writer) = stream.split();
                    let _ = reader.read(10).await;
                }));
            }
            ringstream::yield_now().await;
        });
        drop(runtime);
    }
    for peer in &mut peers {
        peer.set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let mut b = [0u8; 1];
        assert_eq!(peer.read(&mut b).expect("EOF"), 0);
    }
    drop(peers);
    assert_eq!(open_fds(), before, "a descriptor outlived the runtime");
}

/// F7: a close with no op left in flight (the peer already closed, the reader saw EOF)
/// finishes at once: the loop must not block in the ring while that close woke the task.
#[test]
fn f7_close_after_eof_completes_without_further_io() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    ringstream::run(async {
        let (a, b) = Stream::pair().expect("pair");
        drop(b);
        let (mut reader, writer) = a.split();
        assert!(reader.read(10).await.expect("EOF").is_empty());
        let started = std::time::Instant::now();
        writer.close();
        ringstream::time::timeout(Duration::from_secs(5), writer.wait_closed())
            .await
            .expect("closed")
            .expect("no error");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "wait_closed took {:?}: the loop blocked in the ring after the close woke it",
            started.elapsed()
        );
    })
    .expect("runtime");
}

/// F7 after a receive failure: the peer resets the connection while a read waits. The
/// read gets `ConnectionReset`; `wait_closed()` then finishes with that error without
/// `close()` being called, and by then the descriptor is released (the process has as
/// many open descriptors as before the connection), though both halves are still alive.
#[test]
fn f7_wait_closed_after_recv_failure() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    ringstream::run(async {
        let before = open_fds();
        let (ours, peer) = std_tcp_pair();
        let (mut reader, writer) = Stream::from_std(ours).expect("adopt").split();
        // One trip through the ring: the recv is now armed in the kernel.
        ringstream::nop().await.expect("nop");
        // Linger 0: closing the peer sends RST.
        socket2::SockRef::from(&peer)
            .set_linger(Some(Duration::ZERO))
            .expect("SO_LINGER");
        drop(peer);
        match reader.read(10).await {
            Err(StreamError::Io(e)) => {
                assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}")
            }
            other => panic!("expected ConnectionReset, got {other:?}"),
        }
        let closed = ringstream::time::timeout(Duration::from_secs(5), writer.wait_closed())
            .await
            .expect("wait_closed finishes without close()");
        let err = closed.expect_err("with the connection's error");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
        assert_eq!(open_fds(), before, "the socket is still open");
        drop((reader, writer));
    })
    .expect("runtime");
}
