//! A protocol's life over real loopback TCP and Unix sockets (SEMANTICS G1, G2, F9, H):
//! the callbacks' order on every way a connection ends (our close, the peer's EOF, a
//! reset, our abort, the server's shutdown, the runtime's drop), `eof_received`'s two
//! answers, writes after the end, callbacks that act on their own or another connection's
//! transport, panicking callbacks under `serve_protocol`, a protocol beside a stream on one
//! runtime, and `serve_protocol`'s lifecycle.

mod support;

use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use ringstream::net::{FailureCause, ListenOptions, Listener, ServerBuilder, StreamServer};
use ringstream::protocol::{
    connect_accepted_socket, create_connection, create_unix_connection, Buffered, ProtocolKind,
    Transport,
};
use ringstream::stream::Addr;
use ringstream::{spawn, Runtime, Stream, StreamError};

use support::echo::echo_counted;
use support::protocol::{echo, is_data, is_lost, Event, Log, Recorder};
use support::{listeners_on, loopback, port_of, run_bounded, std_tcp_pair, tcp_client};

/// Every test's bound.
const LIMIT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Tcp,
    Unix,
}

/// How a test connects its protocol: the socket family, and whether the protocol is a
/// `Protocol` or a `BufferedProtocol` (the kernel receiving into its buffers).
#[derive(Debug, Clone, Copy)]
struct Net {
    family: Family,
    buffered: bool,
}

const TCP: Net = Net {
    family: Family::Tcp,
    buffered: false,
};

/// Every way to connect.
const ALL: [Net; 4] = [
    TCP,
    Net {
        family: Family::Unix,
        buffered: false,
    },
    Net {
        family: Family::Tcp,
        buffered: true,
    },
    Net {
        family: Family::Unix,
        buffered: true,
    },
];

/// A fresh abstract Unix socket name.
fn unix_name() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "@ringstream-protocol-lifecycle-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// `recorder` (wrapped in `Buffered` if `net` says so) on a connection made with
/// `create_connection` (TCP) or `create_unix_connection` (Unix) to a listener on this
/// runtime: its transport, and the accepted peer.
async fn connect(net: Net, recorder: Recorder) -> io::Result<(Transport, Stream)> {
    if net.buffered {
        connect_kind(net.family, Buffered(recorder)).await
    } else {
        connect_kind(net.family, recorder).await
    }
}

async fn connect_kind<K: ProtocolKind>(
    family: Family,
    protocol: K,
) -> io::Result<(Transport, Stream)> {
    let (listener, target) = match family {
        Family::Tcp => {
            let listener = Listener::bind(loopback())?;
            let addr = listener.local_addr()?.to_string();
            (listener, addr)
        }
        Family::Unix => {
            let name = unix_name();
            (Listener::bind_unix(&name, ListenOptions::default())?, name)
        }
    };
    let connecting = spawn(async move {
        match family {
            Family::Tcp => create_connection(move || protocol, &target).await,
            Family::Unix => create_unix_connection(move || protocol, &target).await,
        }
    });
    let peer = listener.accept().await?;
    let transport = connecting
        .await
        .map_err(|e| io::Error::other(e.to_string()))??;
    Ok((transport, peer))
}

/// Everything the peer reads until EOF.
async fn read_to_end(peer: &mut Stream) -> io::Result<Bytes> {
    peer.reader.read_to_end().await.map_err(io::Error::from)
}

/// What the peer's read gives after we aborted: a reset over TCP; over Unix (no RST) EOF.
async fn assert_peer_sees_abort(net: Net, peer: &mut Stream) {
    let end = peer.reader.read_to_end().await;
    match (net.family, end) {
        (Family::Tcp, Err(StreamError::Io(e))) => {
            assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}")
        }
        (Family::Unix, Ok(rest)) => assert!(rest.is_empty(), "{rest:?}"),
        (_, other) => panic!("{net:?}: the peer read {other:?} after our abort"),
    }
}

/// The kind of the error `connection_lost` got, if it got one.
fn lost_kind(log: &Log) -> Option<io::ErrorKind> {
    log.lost().flatten().map(|(kind, _)| kind)
}

// ---- G1: the order, on every way a connection ends ------------------------------------

/// G1 and F7 through a protocol: `close()` with a megabyte queued sends all of it before
/// the FIN, and only then `connection_lost(None)`: made, lost, nothing else.
#[test]
fn g1_close_by_us_sends_what_is_queued_then_lost_none() {
    for net in ALL {
        run_bounded(LIMIT, async move {
            let log = Log::default();
            let (transport, mut peer) = connect(net, Recorder::new(log.clone())).await?;
            let payload: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
            transport.write(&payload)?;
            transport.close();
            assert!(transport.is_closing());
            assert!(!log.is_lost(), "{net:?}: lost before anything was sent");
            let got = read_to_end(&mut peer).await?;
            assert!(
                got[..] == payload[..],
                "{net:?}: the peer got {} of {} bytes before EOF",
                got.len(),
                payload.len()
            );
            log.wait_lost().await?;
            log.assert_g1();
            // A megabyte queued crosses the high watermark (G3, checked by assert_g1).
            let events: Vec<Event> = log
                .events()
                .into_iter()
                .filter(|e| !matches!(e, Event::PauseWriting | Event::ResumeWriting))
                .collect();
            assert_eq!(events, [Event::Made, Event::Lost(None)], "{net:?}");
            Ok(())
        });
    }
}

/// G1 and G2 (false): the peer sends bytes and EOF; the protocol gets them, then
/// `eof_received`, which returns false, so the transport closes (the peer reads EOF) and
/// `connection_lost(None)` comes last.
#[test]
fn g1_g2_peer_eof_then_eof_received_false_closes_lost_none() {
    for net in ALL {
        run_bounded(LIMIT, async move {
            let log = Log::default();
            let (transport, mut peer) = connect(net, Recorder::new(log.clone())).await?;
            peer.writer.write(b"hello")?;
            peer.writer.write_eof().expect("write_eof");
            assert!(read_to_end(&mut peer).await?.is_empty(), "{net:?}: EOF");
            log.wait_lost().await?;
            log.assert_g1();
            assert_eq!(log.received(), b"hello", "{net:?}");
            assert_eq!(log.count(|e| *e == Event::Eof), 1, "{net:?}: {log:?}");
            assert_eq!(log.lost(), Some(None), "{net:?}");
            assert!(transport.is_closing());
            Ok(())
        });
    }
}

/// G2 (true): after the peer's EOF the transport stays open for writing: a later write
/// reaches the peer, and only our `close()` ends it, with `connection_lost(None)`.
#[test]
fn g2_eof_received_true_keeps_the_write_side_open() {
    for net in ALL {
        run_bounded(LIMIT, async move {
            let log = Log::default();
            let recorder = Recorder::new(log.clone()).keep_open_on_eof();
            let (transport, mut peer) = connect(net, recorder).await?;
            peer.writer.write_eof().expect("write_eof");
            log.wait("eof_received", |e| e.contains(&Event::Eof))
                .await?;
            // A trip through the ring: a close that should not happen would have by now.
            ringstream::nop().await?;
            assert!(!transport.is_closing(), "{net:?}: closed at the peer's EOF");
            assert!(!log.is_lost(), "{net:?}");
            transport.write(b"after your EOF")?;
            let got = peer.reader.read_exact(14).await.map_err(io::Error::from)?;
            assert_eq!(&got[..], b"after your EOF", "{net:?}");
            transport.close();
            assert!(
                read_to_end(&mut peer).await?.is_empty(),
                "{net:?}: then EOF"
            );
            log.wait_lost().await?;
            log.assert_g1();
            assert_eq!(
                log.events(),
                [Event::Made, Event::Eof, Event::Lost(None)],
                "{net:?}"
            );
            Ok(())
        });
    }
}

/// `recorder` (wrapped in `Buffered` if `buffered`) on a socket connected elsewhere.
fn adopt(buffered: bool, recorder: Recorder, socket: TcpStream) -> io::Result<Transport> {
    if buffered {
        connect_accepted_socket(move || Buffered(recorder), socket)
    } else {
        connect_accepted_socket(move || recorder, socket)
    }
}

/// G1 after a reset, and F9 after a failure: the peer closes with `SO_LINGER` 0 (RST);
/// `connection_lost` gets `ConnectionReset`, once, last; later writes fail with that error.
#[test]
fn g1_f9_peer_reset_lost_with_the_reset_and_writes_fail_with_it() {
    for buffered in [false, true] {
        run_bounded(LIMIT, async move {
            let log = Log::default();
            let (ours, mut theirs) = std_tcp_pair();
            let transport = adopt(buffered, Recorder::new(log.clone()), ours)?;
            // A byte through first: the connection is in use, its receive armed.
            theirs.write_all(b"x")?;
            log.wait("data_received", |e| e.iter().any(is_data)).await?;
            socket2::SockRef::from(&theirs).set_linger(Some(Duration::ZERO))?;
            drop(theirs);
            log.wait_lost().await?;
            log.assert_g1();
            assert_eq!(
                lost_kind(&log),
                Some(io::ErrorKind::ConnectionReset),
                "buffered {buffered}: {log:?}"
            );
            assert!(transport.is_closing());
            let writes = [
                ("write", transport.write(b"late")),
                (
                    "write_bytes",
                    transport.write_bytes(Bytes::from_static(b"late")),
                ),
                ("writelines", transport.writelines([&b"la"[..], b"te"])),
            ];
            for (what, result) in writes {
                let err = result.expect_err("F9: a write after the failure fails");
                assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{what}: {err}");
            }
            assert_eq!(log.lost_count(), 1);
            Ok(())
        });
    }
}

/// G1 and F8 through a protocol: `abort()` drops what is queued and closes at once (the
/// TCP peer reads a reset, the Unix peer EOF with none of the queued bytes);
/// `connection_lost(None)`, once.
#[test]
fn g1_abort_peer_sees_reset_lost_none() {
    for net in ALL {
        run_bounded(LIMIT, async move {
            let log = Log::default();
            let (transport, mut peer) = connect(net, Recorder::new(log.clone())).await?;
            transport.write(&[7u8; 64 * 1024])?;
            transport.abort();
            assert!(transport.is_closing());
            assert_peer_sees_abort(net, &mut peer).await;
            log.wait_lost().await?;
            log.assert_g1();
            assert_eq!(log.events(), [Event::Made, Event::Lost(None)], "{net:?}");
            Ok(())
        });
    }
}

/// What the peer reads once our side of the connection is gone: EOF or a reset.
fn assert_std_peer_sees_the_end(peer: &mut TcpStream) {
    let mut buf = [0u8; 16];
    match peer.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        other => panic!("the peer should see the connection end: {other:?}"),
    }
}

/// G1 when the runtime goes away with the connection open: `connection_lost` runs once,
/// during the drop, with `ConnectionAborted`; the transport kept outside then refuses
/// writes, and once it is dropped too the peer sees the connection end.
#[test]
fn g1_runtime_drop_with_a_live_connection_lost_aborted_once() {
    for buffered in [false, true] {
        let log = Log::default();
        let (ours, mut theirs) = std_tcp_pair();
        theirs
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let runtime = Runtime::new().expect("runtime");
        let recorder = Recorder::new(log.clone()).on_event(echo);
        let transport = runtime
            .block_on(async {
                let transport = adopt(buffered, recorder, ours)?;
                ringstream::nop().await?;
                Ok::<_, io::Error>(transport)
            })
            .expect("connected");
        assert_eq!(log.events(), [Event::Made]);
        drop(runtime);
        log.assert_g1();
        assert_eq!(
            lost_kind(&log),
            Some(io::ErrorKind::ConnectionAborted),
            "buffered {buffered}: {log:?}"
        );
        assert!(transport.is_closing());
        assert!(transport.write(b"late").is_err(), "F9 after the runtime");
        drop(transport);
        assert_eq!(log.lost_count(), 1, "{log:?}");
        assert_std_peer_sees_the_end(&mut theirs);
    }
}

/// G1 at the runtime's drop with callbacks that reach across: two live connections whose
/// `connection_lost` writes into and closes the other's transport (which may already be
/// gone). Each is told `connection_lost` exactly once, and both peers see the end.
#[test]
fn g1_runtime_drop_with_connections_that_touch_each_other_lost_once_each() {
    let logs = [Log::default(), Log::default()];
    let slots: [Rc<RefCell<Option<Transport>>>; 2] = Default::default();
    let (ours_a, mut theirs_a) = std_tcp_pair();
    let (ours_b, mut theirs_b) = std_tcp_pair();
    for peer in [&theirs_a, &theirs_b] {
        peer.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
    }
    let runtime = Runtime::new().expect("runtime");
    let recorder = |i: usize| {
        let other = slots[1 - i].clone();
        Recorder::new(logs[i].clone()).on_event(move |_, e| {
            if is_lost(e) {
                if let Some(t) = other.borrow().as_ref() {
                    let _ = t.write(b"the other one is gone");
                    t.close();
                }
            }
        })
    };
    let (a, b) = (recorder(0), recorder(1));
    runtime
        .block_on(async {
            *slots[0].borrow_mut() = Some(connect_accepted_socket(move || a, ours_a)?);
            *slots[1].borrow_mut() = Some(connect_accepted_socket(move || b, ours_b)?);
            ringstream::nop().await?;
            Ok::<_, io::Error>(())
        })
        .expect("connected");
    drop(runtime);
    for log in &logs {
        log.assert_g1();
        assert_eq!(
            lost_kind(log),
            Some(io::ErrorKind::ConnectionAborted),
            "{log:?}"
        );
    }
    for slot in &slots {
        slot.borrow_mut().take();
    }
    for log in &logs {
        assert_eq!(log.lost_count(), 1, "{log:?}");
    }
    assert_std_peer_sees_the_end(&mut theirs_a);
    assert_std_peer_sees_the_end(&mut theirs_b);
}

// ---- F9: writes after the end ----------------------------------------------------------

/// F9: after `close()`, `abort()` or `write_eof()`, `write`, `write_bytes` and `writelines`
/// fail with `BrokenPipe` and send nothing; what was queued before still goes (not after
/// abort). After `write_eof()` the protocol still receives (F6), and the peer's EOF then
/// closes it.
#[test]
fn f9_writes_after_close_abort_or_write_eof_are_broken_pipe() {
    for net in ALL {
        for end in ["close", "abort", "write_eof"] {
            run_bounded(LIMIT, async move {
                let log = Log::default();
                let (transport, mut peer) = connect(net, Recorder::new(log.clone())).await?;
                transport.write(b"before")?;
                match end {
                    "close" => transport.close(),
                    "abort" => transport.abort(),
                    _ => transport.write_eof()?,
                }
                let writes = [
                    ("write", transport.write(b"late")),
                    (
                        "write_bytes",
                        transport.write_bytes(Bytes::from_static(b"late")),
                    ),
                    ("writelines", transport.writelines([&b"la"[..], b"te"])),
                ];
                for (what, result) in writes {
                    let err = result.expect_err("F9");
                    assert_eq!(
                        err.kind(),
                        io::ErrorKind::BrokenPipe,
                        "{net:?} {what} after {end}: {err}"
                    );
                }
                if end == "abort" {
                    assert_peer_sees_abort(net, &mut peer).await;
                } else {
                    assert_eq!(
                        &read_to_end(&mut peer).await?[..],
                        b"before",
                        "{net:?} {end}"
                    );
                }
                if end == "write_eof" {
                    peer.writer.write(b"still reading")?;
                    peer.writer.write_eof().expect("write_eof");
                }
                log.wait_lost().await?;
                log.assert_g1();
                assert_eq!(log.lost(), Some(None), "{net:?} {end}");
                if end == "write_eof" {
                    assert_eq!(log.received(), b"still reading", "{net:?}");
                    assert!(log.events().contains(&Event::Eof));
                }
                Ok(())
            });
        }
    }
}

// ---- Re-entrancy: callbacks that act on transports --------------------------------------

/// Re-entrancy: `data_received` writes a reply and closes its own transport; the peer gets
/// the reply then EOF; inside the callback a write after its own `close()` already fails.
#[test]
fn reentrant_write_then_close_inside_data_received() {
    for net in ALL {
        run_bounded(LIMIT, async move {
            let log = Log::default();
            let late = Rc::new(Cell::new(None));
            let seen = late.clone();
            let recorder = Recorder::new(log.clone()).on_event(move |t, e| {
                if let Event::Data(data) = e {
                    t.write(b"reply:").expect("write inside data_received");
                    t.write_bytes(data.clone()).expect("write_bytes");
                    t.close();
                    seen.set(t.write(b"late").err().map(|e| e.kind()));
                }
            });
            let (_transport, mut peer) = connect(net, recorder).await?;
            peer.writer.write(b"ping")?;
            assert_eq!(&read_to_end(&mut peer).await?[..], b"reply:ping", "{net:?}");
            log.wait_lost().await?;
            log.assert_g1();
            assert_eq!(
                log.events(),
                [
                    Event::Made,
                    Event::Data(Bytes::from_static(b"ping")),
                    Event::Lost(None)
                ],
                "{net:?}"
            );
            assert_eq!(late.get(), Some(io::ErrorKind::BrokenPipe));
            Ok(())
        });
    }
}

/// Re-entrancy: `data_received` aborts its own transport (after queueing a reply that is
/// dropped): the peer sees the abort, `connection_lost(None)` runs once.
#[test]
fn reentrant_abort_inside_data_received() {
    for net in ALL {
        run_bounded(LIMIT, async move {
            let log = Log::default();
            let recorder = Recorder::new(log.clone()).on_event(|t, e| {
                if is_data(e) {
                    t.write(b"dropped").expect("write");
                    t.abort();
                }
            });
            let (_transport, mut peer) = connect(net, recorder).await?;
            peer.writer.write(b"ping")?;
            assert_peer_sees_abort(net, &mut peer).await;
            log.wait_lost().await?;
            log.assert_g1();
            assert_eq!(log.count(is_data), 1, "{net:?}");
            assert_eq!(log.lost(), Some(None), "{net:?}");
            Ok(())
        });
    }
}

/// Re-entrancy and G4: the first `data_received` pauses reading on its own transport;
/// what the peer sends next is not delivered until `resume_reading`. Then, paused again
/// from outside with a receive armed, the bytes that receive gets wait too.
#[test]
fn reentrant_pause_reading_inside_data_received() {
    for net in ALL {
        run_bounded(LIMIT, async move {
            let log = Log::default();
            let first = Cell::new(true);
            let recorder = Recorder::new(log.clone()).on_event(move |t, e| {
                if is_data(e) && first.replace(false) {
                    t.pause_reading();
                    assert!(!t.is_reading());
                }
            });
            let (transport, peer) = connect(net, recorder).await?;
            let paused_for = |what: &'static str, received: &'static [u8]| {
                let log = log.clone();
                async move {
                    ringstream::time::sleep(Duration::from_millis(50)).await;
                    assert_eq!(
                        log.received(),
                        received,
                        "{net:?}: data while paused ({what})"
                    );
                }
            };
            peer.writer.write(b"one")?;
            log.wait("the first data", |e| e.iter().any(is_data))
                .await?;
            assert!(!transport.is_reading(), "{net:?}");
            peer.writer.write(b"two")?;
            paused_for("inside the callback", b"one").await;
            transport.resume_reading();
            assert!(transport.is_reading());
            log.wait("the data sent while paused", |_| {
                log.received() == b"onetwo"
            })
            .await?;
            // A receive is armed again now; pausing does not cancel it.
            transport.pause_reading();
            transport.pause_reading();
            peer.writer.write(b"three")?;
            paused_for("from outside", b"onetwo").await;
            transport.resume_reading();
            log.wait("the data sent while paused", |_| {
                log.received() == b"onetwothree"
            })
            .await?;
            transport.close();
            log.wait_lost().await?;
            log.assert_g1();
            assert_eq!(log.lost(), Some(None));
            Ok(())
        });
    }
}

/// Re-entrancy across connections: A's `data_received` writes into B, lowers B's high
/// watermark (so B's `pause_writing` runs inside A's callback), looks at B's protocol
/// (not busy: `Some`), and closes B. B's `pause_writing` and `connection_lost` write into A.
/// B gets its `connection_lost(None)` once, its peer gets the bytes then EOF, and A's peer
/// reads what B's callbacks wrote; A goes on until it is closed.
#[test]
fn reentrant_close_another_connection_from_a_callback() {
    for net in ALL {
        run_bounded(LIMIT, async move {
            let a_log = Log::default();
            let b_log = Log::default();
            let a_slot: Rc<RefCell<Option<Transport>>> = Rc::default();
            let b_slot: Rc<RefCell<Option<Transport>>> = Rc::default();
            let b_visible = Rc::new(Cell::new(None));

            let (to_a, to_b, visible) = (a_slot.clone(), b_slot.clone(), b_visible.clone());
            let a = Recorder::new(a_log.clone()).on_event(move |_, e| {
                if !is_data(e) {
                    return;
                }
                // Once: B's transport is taken (and dropped at the end of this callback).
                let b = to_b.borrow_mut().take();
                if let Some(b) = b {
                    b.write(&[1u8; 100]).expect("write into B");
                    b.set_write_buffer_limits(Some(10), None).expect("limits");
                    visible.set(Some(b.with_protocol(|r: &mut Recorder| r.log().clone())));
                    b.close();
                }
            });
            let b = Recorder::new(b_log.clone()).on_event(move |_, e| {
                let note: &[u8] = match e {
                    Event::PauseWriting => b"B paused;",
                    Event::Lost(_) => b"B lost;",
                    _ => return,
                };
                if let Some(a) = to_a.borrow().as_ref() {
                    a.write(note).expect("write into A");
                }
            });
            let (a_transport, mut a_peer) = connect(net, a).await?;
            let (b_transport, mut b_peer) = connect(net, b).await?;
            *a_slot.borrow_mut() = Some(a_transport.clone());
            *b_slot.borrow_mut() = Some(b_transport);

            a_peer.writer.write(b"go")?;
            let b_got = read_to_end(&mut b_peer).await?;
            assert_eq!(&b_got[..], &[1u8; 100][..], "{net:?}: B's bytes, then EOF");
            b_log.wait_lost().await?;
            b_log.assert_g1();
            assert_eq!(b_log.lost(), Some(None), "{net:?}");
            assert_eq!(b_log.count(|e| *e == Event::PauseWriting), 1, "{b_log:?}");
            let notes = a_peer
                .reader
                .read_exact(b"B paused;B lost;".len())
                .await
                .map_err(io::Error::from)?;
            assert_eq!(&notes[..], b"B paused;B lost;", "{net:?}");
            let visible = b_visible.take().expect("A's callback ran");
            assert!(
                visible.is_some(),
                "B's protocol is not busy in A's callback"
            );
            // A is untouched: still open and receiving.
            assert!(!a_log.is_lost() && !a_transport.is_closing(), "{a_log:?}");
            a_peer.writer.write(b"more")?;
            a_log
                .wait("A's next data", |_| a_log.received() == b"gomore")
                .await?;
            a_slot.borrow_mut().take();
            a_transport.close();
            assert!(read_to_end(&mut a_peer).await?.is_empty());
            a_log.wait_lost().await?;
            a_log.assert_g1();
            assert_eq!(b_log.lost_count(), 1, "{b_log:?}");
            Ok(())
        });
    }
}

/// `with_protocol`: `Some` from outside a callback (for the right type), `None` from inside
/// the protocol's own callback (it is borrowed there), for another type, and after
/// `connection_lost`.
#[test]
fn with_protocol_is_none_inside_its_own_callback_some_outside() {
    run_bounded(LIMIT, async {
        let log = Log::default();
        let inside = Rc::new(Cell::new(None));
        let seen = inside.clone();
        let recorder = Recorder::new(log.clone()).on_event(move |t, e| {
            if is_data(e) {
                seen.set(Some(t.with_protocol(|_: &mut Recorder| ()).is_some()));
            }
        });
        let (transport, peer) = connect(TCP, recorder).await?;
        assert_eq!(
            transport.with_protocol(|r: &mut Recorder| r.log().events().len()),
            Some(1),
            "outside: the protocol, which has seen connection_made"
        );
        assert_eq!(
            transport.with_protocol(|_: &mut String| ()),
            None,
            "wrong type"
        );
        peer.writer.write(b"x")?;
        log.wait("data_received", |e| e.iter().any(is_data)).await?;
        assert_eq!(inside.get(), Some(false), "inside its own callback: None");
        transport.close();
        log.wait_lost().await?;
        log.assert_g1();
        assert_eq!(
            transport.with_protocol(|_: &mut Recorder| ()),
            None,
            "after lost"
        );
        Ok(())
    });
}

/// Re-entrancy at both ends of the life: `connection_made` writes a greeting and closes;
/// `connection_lost` calls `close`, `abort` and `write` on its transport again. The peer
/// gets the greeting then EOF; there is exactly one `connection_lost`.
#[test]
fn reentrant_close_inside_connection_made_and_again_inside_connection_lost() {
    for net in ALL {
        run_bounded(LIMIT, async move {
            let log = Log::default();
            let late = Rc::new(Cell::new(None));
            let seen = late.clone();
            let recorder = Recorder::new(log.clone()).on_event(move |t, e| match e {
                Event::Made => {
                    t.write(b"hello, bye")
                        .expect("write inside connection_made");
                    t.close();
                }
                Event::Lost(_) => {
                    t.close();
                    t.abort();
                    seen.set(t.write(b"late").err().map(|e| e.kind()));
                }
                _ => {}
            });
            let (_transport, mut peer) = connect(net, recorder).await?;
            assert_eq!(&read_to_end(&mut peer).await?[..], b"hello, bye", "{net:?}");
            log.wait_lost().await?;
            // A loop turn for a second connection_lost the calls inside it might cause.
            ringstream::nop().await?;
            log.assert_g1();
            assert_eq!(log.events(), [Event::Made, Event::Lost(None)], "{net:?}");
            assert_eq!(late.get(), Some(io::ErrorKind::BrokenPipe), "{net:?}");
            Ok(())
        });
    }
}

// ---- A protocol beside a stream ---------------------------------------------------------

/// A protocol client of a stream echo handler, and a stream client of a protocol echo, on
/// one runtime at once, their messages interleaved: every byte comes back on each, in
/// order, and both end with their `connection_lost(None)`.
#[test]
fn protocol_and_stream_on_one_runtime_echo_interleaved() {
    const ROUNDS: usize = 50;
    run_bounded(LIMIT, async {
        // The protocol is the client; a stream echoes.
        let client_log = Log::default();
        let listener = Listener::bind(loopback())?;
        let addr = listener.local_addr()?.to_string();
        let recorder = Recorder::new(client_log.clone());
        let connecting = spawn(async move { create_connection(move || recorder, &addr).await });
        let stream_echo = spawn(echo_counted(listener.accept().await?));
        let client = connecting
            .await
            .map_err(|e| io::Error::other(e.to_string()))??;
        // The stream is the client; a protocol echoes.
        let (ours, theirs) = std_tcp_pair();
        let server_log = Log::default();
        let recorder = Recorder::new(server_log.clone()).on_event(echo);
        let _server = connect_accepted_socket(move || recorder, theirs)?;
        let mut stream = Stream::from_std(ours)?;

        let mut sent = Vec::new();
        for round in 0..ROUNDS {
            let to_protocol = format!("stream {round}\n");
            let from_protocol = format!("protocol {round}\n");
            client.write(from_protocol.as_bytes())?;
            stream.writer.write(to_protocol.as_bytes())?;
            sent.extend_from_slice(from_protocol.as_bytes());
            let line = stream.reader.read_line().await.map_err(io::Error::from)?;
            assert_eq!(&line[..], to_protocol.as_bytes());
            client_log
                .wait("the stream's echo", |_| {
                    client_log.received().len() == sent.len()
                })
                .await?;
            assert_eq!(client_log.received(), sent, "round {round}");
        }
        client.close();
        client_log.wait_lost().await?;
        let echoed = stream_echo
            .await
            .map_err(|e| io::Error::other(e.to_string()))??;
        assert_eq!(echoed, sent.len() as u64);
        stream.writer.write_eof().expect("write_eof");
        assert!(stream
            .reader
            .read_to_end()
            .await
            .map_err(io::Error::from)?
            .is_empty());
        server_log.wait_lost().await?;
        for log in [&client_log, &server_log] {
            log.assert_g1();
            assert_eq!(log.lost(), Some(None));
        }
        Ok(())
    });
}

// ---- serve_protocol: shutdown paths, failures, lifecycle --------------------------------

/// A blocking client of either family.
trait Duplex: Read + Write + Send {}
impl<T: Read + Write + Send> Duplex for T {}

/// A blocking client of `server`, whose reads give up after 10 s.
fn client_of(server: &StreamServer) -> Box<dyn Duplex> {
    match server.local_addr() {
        Addr::Tcp(addr) => Box::new(tcp_client(addr)),
        Addr::Unix(addr) => {
            let path = addr.as_pathname().expect("a path");
            let s = UnixStream::connect(path).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            Box::new(s)
        }
    }
}

/// Sends `msg` and checks it comes back.
fn roundtrip(peer: &mut dyn Duplex, msg: &[u8]) {
    peer.write_all(msg).expect("write");
    let mut back = vec![0u8; msg.len()];
    peer.read_exact(&mut back).expect("echo");
    assert_eq!(back, msg);
}

/// What a peer reads once the server ended its connection: EOF (`Ok(0)`) or an error.
fn read_end(peer: &mut dyn Duplex) -> io::Result<usize> {
    let mut buf = [0u8; 64];
    peer.read(&mut buf)
}

/// Every connection's log, in the order the server made their protocols.
type Logs = Arc<Mutex<Vec<Log>>>;

/// `builder` serving a recording echo protocol.
fn recording_server(builder: ServerBuilder) -> (StreamServer, Logs) {
    let logs = Logs::default();
    let made = logs.clone();
    let server = builder
        .serve_protocol(move || {
            let log = Log::default();
            made.lock().expect("lock").push(log.clone());
            Recorder::new(log).on_event(echo)
        })
        .expect("serve_protocol");
    (server, logs)
}

fn logs_of(logs: &Logs) -> Vec<Log> {
    logs.lock().expect("lock").clone()
}

/// `n` clients, each through one echo (so its protocol is made).
fn echoing_clients(server: &StreamServer, n: usize) -> Vec<Box<dyn Duplex>> {
    (0..n)
        .map(|i| {
            let mut c = client_of(server);
            roundtrip(c.as_mut(), format!("client {i}\n").as_bytes());
            c
        })
        .collect()
}

/// Waits until all `n` protocols were told `connection_lost`, checks G1 on each, and
/// returns their `connection_lost` arguments.
fn all_lost_once(logs: &Logs, n: usize) -> Vec<Option<(io::ErrorKind, String)>> {
    let logs = logs_of(logs);
    assert_eq!(logs.len(), n, "one protocol per connection");
    logs.iter()
        .map(|log| {
            log.wait_blocking("connection_lost", |e| e.iter().any(is_lost));
            log.assert_g1();
            log.lost().expect("lost")
        })
        .collect()
}

const CLIENTS: usize = 6;

/// H3 and G1: `close_clients()` closes every served protocol's connection gracefully: each
/// client reads EOF, each protocol gets `connection_lost(None)` once, and the server has
/// no connection left. Over TCP (two cores) and a Unix socket.
#[test]
fn h3_g1_close_clients_every_protocol_lost_none_once() {
    let path = std::env::temp_dir().join(format!(
        "ringstream-protocol-lifecycle-{}-close-clients.sock",
        std::process::id()
    ));
    for builder in [
        StreamServer::bind("127.0.0.1:0").cores(2),
        StreamServer::bind_unix(&path).cores(2),
    ] {
        let (server, logs) = recording_server(builder);
        let mut clients = echoing_clients(&server, CLIENTS);
        server.close_clients();
        for c in &mut clients {
            assert_eq!(read_end(c.as_mut()).expect("EOF"), 0);
        }
        for lost in all_lost_once(&logs, CLIENTS) {
            assert_eq!(lost, None);
        }
        support::wait_until("no connection open", LIMIT, || {
            server.stats().iter().all(|c| c.active == 0)
        });
        let report = server.shutdown(Duration::from_secs(5)).expect("shutdown");
        assert_eq!(report.aborted, 0);
        assert_eq!(
            all_lost_once(&logs, CLIENTS).len(),
            CLIENTS,
            "still once each"
        );
    }
}

/// H3 and G1: `abort_clients()` resets every served connection; each protocol gets
/// `connection_lost(None)` once.
#[test]
fn h3_g1_abort_clients_every_protocol_lost_once() {
    let (server, logs) = recording_server(StreamServer::bind("127.0.0.1:0").cores(2));
    let mut clients = echoing_clients(&server, CLIENTS);
    server.abort_clients();
    for c in &mut clients {
        let err = read_end(c.as_mut()).expect_err("a reset");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
    }
    for lost in all_lost_once(&logs, CLIENTS) {
        assert_eq!(lost, None);
    }
    server.shutdown(Duration::from_secs(5)).expect("shutdown");
}

/// H3 and G1: `shutdown(timeout)` with idle clients waits the timeout, then aborts them:
/// the report counts them, and each protocol gets `connection_lost` exactly once (the
/// count stays once after the cores have ended).
#[test]
fn h3_g1_shutdown_aborts_the_rest_every_protocol_lost_once() {
    let (server, logs) = recording_server(StreamServer::bind("127.0.0.1:0").cores(2));
    let mut clients = echoing_clients(&server, CLIENTS);
    let report = server
        .shutdown(Duration::from_millis(100))
        .expect("shutdown");
    assert_eq!(report.aborted, CLIENTS);
    assert!(report.complete);
    for lost in all_lost_once(&logs, CLIENTS) {
        assert_eq!(lost, None);
    }
    for c in &mut clients {
        let err = read_end(c.as_mut()).expect_err("a reset");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
    }
}

/// H3: `close()` stops accepting but the open protocol goes on echoing; `wait_closed`
/// resolves only once it ended (the client's EOF, then `eof_received` false closes it).
#[test]
fn h3_close_keeps_protocols_running_and_wait_closed_waits_for_them() {
    let (server, logs) = recording_server(StreamServer::bind("127.0.0.1:0").cores(2));
    let port = port_of(&server);
    let mut clients = echoing_clients(&server, 1);
    server.close();
    assert!(!server.is_serving());
    support::wait_until("the listeners to close", LIMIT, || {
        listeners_on(port).is_empty()
    });
    roundtrip(clients[0].as_mut(), b"still served\n");
    let (done_tx, done) = mpsc::channel();
    let closing = server.wait_closed();
    std::thread::spawn(move || {
        let finished = ringstream::run(ringstream::time::timeout(LIMIT, closing));
        let _ = done_tx.send(finished.map(|t| t.is_ok()));
    });
    assert!(
        done.recv_timeout(Duration::from_millis(100)).is_err(),
        "wait_closed resolved with a protocol still open"
    );
    drop(clients);
    let finished = done.recv_timeout(LIMIT).expect("wait_closed resolves");
    assert!(matches!(finished, Ok(true)), "{finished:?}");
    let lost = all_lost_once(&logs, 1);
    assert_eq!(lost, [None]);
    let log = &logs_of(&logs)[0];
    assert!(log.events().contains(&Event::Eof), "{log:?}");
    assert_eq!(
        server.shutdown(Duration::from_secs(5)).expect("shutdown"),
        ringstream::net::ShutdownReport {
            aborted: 0,
            complete: true
        }
    );
}

/// H2: a protocol server built with `start_serving(false)` refuses clients until
/// `start_serving()`, then serves them.
#[test]
fn h2_serve_protocol_start_serving_false_then_start_serving() {
    let (server, logs) = recording_server(
        StreamServer::bind("127.0.0.1:0")
            .cores(1)
            .start_serving(false),
    );
    let addr = server.local_addr().to_string();
    assert!(!server.is_serving());
    assert!(TcpStream::connect(&addr).is_err(), "refused before start");
    assert!(logs_of(&logs).is_empty());
    server.start_serving().expect("start_serving");
    assert!(server.is_serving());
    let mut clients = echoing_clients(&server, 1);
    roundtrip(clients[0].as_mut(), b"served\n");
    drop(clients);
    assert_eq!(all_lost_once(&logs, 1), [None]);
    server.shutdown(Duration::from_secs(5)).expect("shutdown");
}

/// H (`max_connections`): with room for one connection, a second client's protocol is not
/// made (no echo) until the first connection ends; then it is served.
#[test]
fn h_serve_protocol_max_connections_holds_the_next_until_one_ends() {
    let (server, logs) = recording_server(
        StreamServer::bind("127.0.0.1:0")
            .cores(1)
            .max_connections(1),
    );
    let first = echoing_clients(&server, 1);
    let mut second = client_of(&server);
    second.write_all(b"waiting\n").expect("write");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        logs_of(&logs).len(),
        1,
        "a second protocol made over the limit"
    );
    drop(first);
    let mut back = [0u8; 8];
    second
        .read_exact(&mut back)
        .expect("served once the first ended");
    assert_eq!(&back, b"waiting\n");
    assert_eq!(logs_of(&logs).len(), 2);
    drop(second);
    assert_eq!(all_lost_once(&logs, 2), [None, None]);
    server.shutdown(Duration::from_secs(5)).expect("shutdown");
}

/// What the failure hook was told.
type Failures = Arc<Mutex<Vec<String>>>;

/// `builder` reporting handler failures into the returned list.
fn reporting(builder: ServerBuilder) -> (ServerBuilder, Failures) {
    let failures = Failures::default();
    let hook = failures.clone();
    let builder = builder.on_handler_failure(move |f| {
        let cause = match &f.cause {
            FailureCause::Panic(m) => format!("panic: {m}"),
            FailureCause::Error(e) => format!("error: {e}"),
        };
        hook.lock().expect("lock").push(cause);
    });
    (builder, failures)
}

/// H4 and G1: a served protocol whose `data_received` panics: its connection is aborted
/// (the client sees the end), the failure hook gets a `Panic` with the message,
/// `connection_lost` gets the panic as its error, and another connection on the same core
/// goes on echoing.
#[test]
fn h4_panic_in_data_received_aborts_only_its_connection() {
    let (builder, failures) = reporting(StreamServer::bind("127.0.0.1:0").cores(1));
    let logs = Logs::default();
    let made = logs.clone();
    let server = builder
        .serve_protocol(move || {
            let log = Log::default();
            made.lock().expect("lock").push(log.clone());
            Recorder::new(log).on_event(|t, e| {
                if matches!(e, Event::Data(d) if d.starts_with(b"panic")) {
                    panic!("boom in data_received");
                }
                echo(t, e);
            })
        })
        .expect("serve_protocol");
    let mut clients = echoing_clients(&server, 2);
    clients[1].write_all(b"panic\n").expect("write");
    match read_end(clients[1].as_mut()) {
        Ok(0) => {}
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        other => panic!("the panicking connection should end: {other:?}"),
    }
    roundtrip(clients[0].as_mut(), b"still echoing\n");
    support::wait_until("the failure report", LIMIT, || {
        !failures.lock().expect("lock").is_empty()
    });
    assert_eq!(
        *failures.lock().expect("lock"),
        ["panic: boom in data_received"]
    );
    let all = logs_of(&logs);
    let panicked = &all[1];
    panicked.wait_blocking("connection_lost", |e| e.iter().any(is_lost));
    panicked.assert_g1();
    let (kind, message) = panicked.lost().flatten().expect("lost with the panic");
    assert_eq!(kind, io::ErrorKind::Other);
    assert!(message.contains("boom in data_received"), "{message}");
    assert!(!all[0].is_lost(), "the other connection is untouched");
    assert_eq!(server.stats()[0].failures, 1);
    drop(clients);
    server.shutdown(Duration::from_secs(5)).expect("shutdown");
}

/// H4 and G1: a panic in `connection_made` (the first connection's only): that connection
/// ends, the hook gets the panic, `connection_lost` gets it once, and the next connection
/// on the core is served.
#[test]
fn h4_panic_in_connection_made_aborts_only_its_connection() {
    let (builder, failures) = reporting(StreamServer::bind("127.0.0.1:0").cores(1));
    let logs = Logs::default();
    let made = logs.clone();
    let server = builder
        .serve_protocol(move || {
            let log = Log::default();
            let first = {
                let mut all = made.lock().expect("lock");
                all.push(log.clone());
                all.len() == 1
            };
            Recorder::new(log).on_event(move |t, e| {
                if first && *e == Event::Made {
                    panic!("boom in connection_made");
                }
                echo(t, e);
            })
        })
        .expect("serve_protocol");
    let mut doomed = client_of(&server);
    match read_end(doomed.as_mut()) {
        Ok(0) => {}
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        other => panic!("the panicking connection should end: {other:?}"),
    }
    let mut next = echoing_clients(&server, 1);
    roundtrip(next[0].as_mut(), b"served\n");
    support::wait_until("the failure report", LIMIT, || {
        !failures.lock().expect("lock").is_empty()
    });
    assert_eq!(
        *failures.lock().expect("lock"),
        ["panic: boom in connection_made"]
    );
    let panicked = &logs_of(&logs)[0];
    panicked.wait_blocking("connection_lost", |e| e.iter().any(is_lost));
    panicked.assert_g1();
    assert_eq!(panicked.events().len(), 2, "made, lost: {panicked:?}");
    let (_, message) = panicked.lost().flatten().expect("lost with the panic");
    assert!(message.contains("boom in connection_made"), "{message}");
    drop((doomed, next));
    server.shutdown(Duration::from_secs(5)).expect("shutdown");
}

/// H4: a panic in `connection_lost` (after the client's EOF closed the connection) is
/// reported once as a panic, and the core goes on serving.
#[test]
fn h4_panic_in_connection_lost_is_reported_and_the_core_goes_on() {
    let (builder, failures) = reporting(StreamServer::bind("127.0.0.1:0").cores(1));
    let logs = Logs::default();
    let made = logs.clone();
    let server = builder
        .serve_protocol(move || {
            let log = Log::default();
            made.lock().expect("lock").push(log.clone());
            Recorder::new(log).on_event(|t, e| {
                if is_lost(e) {
                    panic!("boom in connection_lost");
                }
                echo(t, e);
            })
        })
        .expect("serve_protocol");
    let first = echoing_clients(&server, 1);
    drop(first);
    support::wait_until("the failure report", LIMIT, || {
        !failures.lock().expect("lock").is_empty()
    });
    let mut next = echoing_clients(&server, 1);
    roundtrip(next[0].as_mut(), b"served\n");
    let first_log = &logs_of(&logs)[0];
    first_log.assert_g1();
    assert_eq!(first_log.lost(), Some(None));
    drop(next);
    support::wait_until("the second report", LIMIT, || {
        failures.lock().expect("lock").len() == 2
    });
    assert_eq!(
        *failures.lock().expect("lock"),
        [
            "panic: boom in connection_lost",
            "panic: boom in connection_lost"
        ]
    );
    server.shutdown(Duration::from_secs(5)).expect("shutdown");
    assert_eq!(server.stats()[0].failures, 2);
}
