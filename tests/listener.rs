//! `net::Listener` and the connect options on loopback TCP and Unix sockets: cancel-safe
//! accept, more waiting clients than the accept queue holds, Unix paths (stale socket
//! replaced, regular file refused, file removed on drop) and abstract names, a chosen
//! local address, `TCP_NODELAY`, and what dropping a listener does.

mod support;

use std::cell::Cell;
use std::collections::BTreeSet;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringstream::net::{ListenOptions, Listener, MAX_QUEUED};
use ringstream::stream::Addr;
use ringstream::time::{sleep, timeout};
use ringstream::{spawn, StreamOptions};

use support::{loopback, run_bounded};

/// A socket path in the temp directory, unique to this process and `name`, not existing.
fn temp_socket_path(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "ringstream-test-{}-{name}.sock",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    path
}

/// The client id a test client sends as its first line.
async fn read_id(stream: &mut ringstream::Stream) -> io::Result<usize> {
    let line = stream.reader.read_line().await?;
    Ok(std::str::from_utf8(&line)
        .ok()
        .and_then(|s| s.trim_end().parse().ok())
        .expect("an id line"))
}

/// An integer socket option, as `getsockopt(2)` reports it.
fn sockopt(fd: RawFd, level: libc::c_int, name: libc::c_int) -> libc::c_int {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: value and len are valid for writes of the sizes given.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "getsockopt: {}", io::Error::last_os_error());
    value
}

fn tcp_nodelay(fd: RawFd) -> bool {
    sockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY) != 0
}

/// A dropped accept future (a timeout that fires while a client is connecting) loses no
/// connection: the next accept returns it. First the exact case (the accept is dropped,
/// then the connection completes while nobody waits), then 20 clients racing accepts
/// whose timeouts fire at random points.
#[test]
fn accept_is_cancel_safe_a_dropped_accept_loses_no_connection() {
    const CLIENTS: usize = 20;
    let (dropped, ids) = run_bounded(Duration::from_secs(60), async {
        let listener = Listener::bind(loopback())?;
        let addr = listener.local_addr()?.to_string();

        // The accept is armed, then dropped before any client shows up.
        assert!(timeout(Duration::ZERO, listener.accept()).await.is_err());
        let early = addr.clone();
        let client = spawn(async move {
            let (mut reader, writer) = ringstream::connect(&early).await?.split();
            writer.write(b"first\n")?;
            reader.read_to_end().await.map_err(io::Error::from)
        });
        sleep(Duration::from_millis(50)).await; // the connection completes, unawaited
        let (mut reader, writer) = timeout(Duration::from_secs(5), listener.accept())
            .await
            .expect("the connection made while no accept waited is returned")?
            .split();
        assert_eq!(&reader.read_line().await?[..], b"first\n");
        writer.write(b"bye")?;
        drop(writer);
        assert_eq!(&client.await.expect("client task")?[..], b"bye");

        // Many clients, accepts dropped at random points.
        let mut clients = Vec::new();
        for i in 0..CLIENTS {
            let addr = addr.clone();
            clients.push(spawn(async move {
                sleep(Duration::from_millis(i as u64)).await;
                let (mut reader, writer) = ringstream::connect(&addr).await?.split();
                writer.write(format!("{i}\n").as_bytes())?;
                reader.read_to_end().await.map_err(io::Error::from)
            }));
        }
        let mut ids = BTreeSet::new();
        let mut streams = Vec::new();
        let mut dropped = 0;
        let mut seed = 99u64;
        let deadline = Instant::now() + Duration::from_secs(30);
        while streams.len() < CLIENTS {
            assert!(Instant::now() < deadline, "only {} accepted", streams.len());
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let patience = Duration::from_micros(seed >> 54); // 0-1023 µs
            match timeout(patience, listener.accept()).await {
                Err(_elapsed) => dropped += 1,
                Ok(stream) => streams.push(stream?),
            }
        }
        for stream in &mut streams {
            let id = read_id(stream).await?;
            assert!(ids.insert(id), "connection {id} accepted twice");
        }
        // No connection was invented either.
        assert!(timeout(Duration::from_millis(50), listener.accept())
            .await
            .is_err());
        drop(streams);
        for client in clients {
            assert!(client.await.expect("client task")?.is_empty());
        }
        Ok((dropped, ids))
    });
    assert_eq!(ids, (0..CLIENTS).collect::<BTreeSet<_>>());
    assert!(
        dropped > 0,
        "no accept was dropped: the test proved nothing"
    );
}

/// More than `MAX_QUEUED` clients connect while nobody accepts (the multishot accept is
/// armed, fills its queue and pauses; the rest wait in the kernel's backlog): later accepts
/// return every one of them, each exactly once.
#[test]
fn more_than_max_queued_waiting_clients_are_all_accepted_later() {
    let clients = 3 * MAX_QUEUED + 8;
    let ids = run_bounded(Duration::from_secs(60), async {
        let listener = Listener::bind(loopback())?;
        let addr = listener.local_addr()?.to_string();
        // Arm the multishot accept, then stop accepting.
        assert!(timeout(Duration::ZERO, listener.accept()).await.is_err());
        let connected = Rc::new(Cell::new(0));
        let mut tasks = Vec::new();
        for i in 0..clients {
            let addr = addr.clone();
            let connected = connected.clone();
            tasks.push(spawn(async move {
                let (mut reader, writer) = ringstream::connect(&addr).await?.split();
                connected.set(connected.get() + 1);
                writer.write(format!("{i}\n").as_bytes())?;
                reader.read_to_end().await.map_err(io::Error::from)
            }));
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while connected.get() < clients {
            assert!(
                Instant::now() < deadline,
                "{} of {clients} connected",
                connected.get()
            );
            sleep(Duration::from_millis(5)).await;
        }
        // Give the accept completions time to arrive (and the queue to fill and pause).
        sleep(Duration::from_millis(100)).await;
        let mut ids = BTreeSet::new();
        let mut streams = Vec::new();
        for _ in 0..clients {
            let mut stream = timeout(Duration::from_secs(5), listener.accept())
                .await
                .map_err(io::Error::from)??;
            let id = read_id(&mut stream).await?;
            assert!(ids.insert(id), "connection {id} accepted twice");
            streams.push(stream);
        }
        assert!(
            timeout(Duration::from_millis(50), listener.accept())
                .await
                .is_err(),
            "an extra connection appeared"
        );
        drop(streams);
        for task in tasks {
            assert!(task.await.expect("client task")?.is_empty());
        }
        Ok(ids)
    });
    assert_eq!(ids, (0..clients).collect::<BTreeSet<_>>());
}

/// A Unix listener on a filesystem path: a stale socket file left there is replaced, the
/// listener reports its path, clients connect with `connect_unix`, and dropping the
/// listener removes the file (existing connections keep working; new ones fail).
#[test]
fn unix_listener_on_a_path_replaces_a_stale_socket_and_removes_it_on_drop() {
    let path = temp_socket_path("path");
    // A stale socket file: std's listener leaves its file behind when dropped.
    drop(std::os::unix::net::UnixListener::bind(&path).expect("std bind"));
    assert!(path.exists(), "the stale socket file is there");
    let shown = path.display().to_string();
    let connect_path = path.clone();
    run_bounded(Duration::from_secs(30), async move {
        let listener = Listener::bind_unix(&connect_path, ListenOptions::default())?;
        assert_eq!(listener.local_addr()?.to_string(), shown);
        let target = connect_path.clone();
        let client = spawn(async move { ringstream::connect_unix(&target).await });
        let (mut server_reader, server_writer) = listener.accept().await?.split();
        let (mut client_reader, client_writer) = client.await.expect("client task")?.split();
        assert_eq!(client_writer.peer_addr()?.to_string(), shown);
        assert!(matches!(client_writer.peer_addr()?, Addr::Unix(_)));

        drop(listener);
        assert!(!connect_path.exists(), "the socket file is removed on drop");
        // The accepted connection outlives its listener.
        client_writer.write(b"ping\n")?;
        assert_eq!(&server_reader.read_line().await?[..], b"ping\n");
        server_writer.write(b"pong\n")?;
        assert_eq!(&client_reader.read_line().await?[..], b"pong\n");
        let err = ringstream::connect_unix(&connect_path)
            .await
            .expect_err("nothing listens any more");
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        Ok(())
    });
    assert!(!path.exists());
}

/// A regular file at the path is not a stale socket: binding there is an `AlreadyExists`
/// error naming the path, and the file is left alone.
#[test]
fn unix_listener_refuses_to_replace_a_regular_file() {
    let path = temp_socket_path("regular-file");
    std::fs::write(&path, b"precious").expect("write the file");
    let err = Listener::bind_unix(&path, ListenOptions::default()).expect_err("refused");
    assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).expect("still there"), b"precious");
    std::fs::remove_file(&path).expect("clean up");
}

/// A Linux abstract name (`@name`): no file is made, clients reach it with
/// `connect_unix("@name")`, `local_addr` shows `@name`, and once the listener is dropped
/// (and the runtime has had a turn to retire its accept) the name can be bound again.
/// That the name is not free at once is a bug:
/// see `dropping_a_listener_releases_its_address_at_once`.
#[test]
fn unix_listener_on_an_abstract_name() {
    let name = format!("@ringstream-test-{}-abstract", std::process::id());
    assert!(!PathBuf::from(&name).exists());
    run_bounded(Duration::from_secs(30), async {
        for round in 0..2 {
            let listener = Listener::bind_unix(&name, ListenOptions::default())?;
            assert_eq!(listener.local_addr()?.to_string(), name);
            let target = name.clone();
            let client = spawn(async move {
                let (mut reader, writer) = ringstream::connect_unix(&target).await?.split();
                writer.write(format!("round {round}\n").as_bytes())?;
                reader.read_line().await.map_err(io::Error::from)
            });
            let (mut reader, writer) = listener.accept().await?.split();
            let line = reader.read_line().await?;
            assert_eq!(line, format!("round {round}\n").as_bytes());
            writer.write(b"ack\n")?;
            assert_eq!(&client.await.expect("client task")?[..], b"ack\n");
            drop(listener);
            sleep(Duration::from_millis(10)).await; // the accept op retires
        }
        Ok(())
    });
    assert!(
        !PathBuf::from(&name).exists(),
        "no file for an abstract name"
    );
}

/// Dropping a `Listener` stops listening at once, as asyncio's `Server.close()` closes its
/// sockets: new connections are refused and the TCP address is free to bind again. An
/// abstract Unix name is released when the kernel lets go of the socket: after the next
/// ring turn.
#[test]
fn dropping_a_listener_releases_its_address_at_once() {
    run_bounded(Duration::from_secs(30), async {
        let listener = Listener::bind(loopback())?;
        let Addr::Tcp(addr) = listener.local_addr()? else {
            panic!("a TCP address")
        };
        assert!(timeout(Duration::ZERO, listener.accept()).await.is_err());
        sleep(Duration::from_millis(5)).await; // the multishot accept is in the kernel
        drop(listener);
        let refused = std::net::TcpStream::connect(addr);
        assert!(refused.is_err(), "a connection was accepted after the drop");
        drop(Listener::bind(addr)?);

        let name = format!("@ringstream-test-{}-rebind", std::process::id());
        let listener = Listener::bind_unix(&name, ListenOptions::default())?;
        assert!(timeout(Duration::ZERO, listener.accept()).await.is_err());
        sleep(Duration::from_millis(5)).await;
        drop(listener);
        ringstream::nop().await?; // one ring turn: the cancelled accept ends
        drop(Listener::bind_unix(&name, ListenOptions::default())?);
        Ok(())
    });
}

/// A listener dropped in the same turn as its accept was armed leaves that accept SQE in
/// the submission queue, naming the listener's descriptor by number. Were the descriptor
/// closed at once, a new socket could take that number before the ring submits, and the
/// stale accept would run on the new socket and take its connection. The listener keeps
/// the descriptor until the op ends, so the new listener always keeps its connection.
#[test]
fn dropping_a_listener_before_its_accept_is_submitted_does_not_steal_connections() {
    run_bounded(Duration::from_secs(30), async {
        for _ in 0..20 {
            let listener = Listener::bind(loopback())?;
            // Armed (SQE queued, not yet submitted), then dropped in the same turn.
            assert!(timeout(Duration::ZERO, listener.accept()).await.is_err());
            drop(listener);
            let other = std::net::TcpListener::bind("127.0.0.1:0")?;
            other.set_nonblocking(true)?;
            let client = std::net::TcpStream::connect(other.local_addr()?)?;
            sleep(Duration::from_millis(20)).await; // the ring submits
            match other.accept() {
                Ok(_) => {}
                Err(e) => panic!("the new listener lost its connection to a stale accept: {e}"),
            }
            drop(client);
        }
        Ok(())
    });
}

/// `connect_with` binds `local_addr` before connecting: the server sees the client at
/// exactly that address, and the client's `local_addr()` agrees.
#[test]
fn connect_with_local_addr_is_the_address_the_server_sees() {
    // A free port: bind port 0, note the port, let it go.
    let chosen = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let (seen_by_server, client_local) = run_bounded(Duration::from_secs(30), async move {
        let listener = Listener::bind(loopback())?;
        let addr = listener.local_addr()?.to_string();
        let options = StreamOptions {
            local_addr: Some(chosen),
            ..Default::default()
        };
        let client = spawn(async move { ringstream::connect_with(&addr, options).await });
        let server_side = listener.accept().await?;
        let client_side = client.await.expect("client task")?;
        Ok((
            server_side.writer.peer_addr()?.to_string(),
            client_side.writer.local_addr()?.to_string(),
        ))
    });
    assert_eq!(seen_by_server, chosen.to_string());
    assert_eq!(client_local, chosen.to_string());
}

/// `TCP_NODELAY` is on by default on connected and accepted streams, and off when the
/// options say so; the listener's stream options (here also the limit) reach every
/// accepted stream.
#[test]
fn nodelay_is_on_by_default_and_options_reach_accepted_streams() {
    run_bounded(Duration::from_secs(30), async {
        let listener = Listener::bind(loopback())?;
        let addr = listener.local_addr()?.to_string();
        let connecting = addr.clone();
        let client = spawn(async move { ringstream::connect(&connecting).await });
        let accepted = listener.accept().await?;
        let connected = client.await.expect("client task")?;
        assert!(tcp_nodelay(connected.writer.as_raw_fd()), "connect: on");
        assert!(tcp_nodelay(accepted.writer.as_raw_fd()), "accept: on");

        let options = ListenOptions {
            stream: StreamOptions {
                nodelay: false,
                limit: 1234,
                ..Default::default()
            },
            ..Default::default()
        };
        let listener = Listener::bind_with(loopback(), options)?;
        let addr = listener.local_addr()?.to_string();
        let client_options = StreamOptions {
            nodelay: false,
            ..Default::default()
        };
        let client = spawn(async move { ringstream::connect_with(&addr, client_options).await });
        let accepted = listener.accept().await?;
        let connected = client.await.expect("client task")?;
        assert!(!tcp_nodelay(connected.writer.as_raw_fd()), "connect: off");
        assert!(!tcp_nodelay(accepted.writer.as_raw_fd()), "accept: off");
        assert_eq!(accepted.reader.limit(), 1234);
        Ok(())
    });
}

/// A connection the multishot accept took while nobody was awaiting `accept()` is closed
/// when the listener drops (the client sees EOF, not a hang), and the port then refuses
/// new connections.
#[test]
fn dropping_a_listener_closes_the_connections_it_queued() {
    run_bounded(Duration::from_secs(30), async {
        let listener = Listener::bind(loopback())?;
        let addr = listener.local_addr()?.to_string();
        assert!(timeout(Duration::ZERO, listener.accept()).await.is_err());
        let (mut reader, _writer) = ringstream::connect(&addr).await?.split();
        sleep(Duration::from_millis(50)).await; // accepted into the listener's queue
        drop(listener);
        let end = timeout(Duration::from_secs(5), reader.read(100))
            .await
            .expect("the queued connection is closed, not left hanging")?;
        assert!(end.is_empty(), "EOF");
        sleep(Duration::from_millis(20)).await;
        let err = ringstream::connect(&addr).await.expect_err("refused");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
        Ok(())
    });
}

/// Binding a TCP address that is taken is `AddrInUse` with the address in the message;
/// with `reuse_port` on both, two listeners share one port and each can accept.
#[test]
fn address_in_use_names_the_address_and_reuse_port_shares_it() {
    run_bounded(Duration::from_secs(30), async {
        let first = Listener::bind(loopback())?;
        let Addr::Tcp(taken) = first.local_addr()? else {
            panic!("a TCP address")
        };
        let err = Listener::bind(taken).expect_err("taken");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        assert!(err.to_string().contains(&taken.to_string()), "{err}");

        let shared = ListenOptions {
            reuse_port: true,
            ..Default::default()
        };
        let a = Listener::bind_with(loopback(), shared)?;
        let Addr::Tcp(port) = a.local_addr()? else {
            panic!("a TCP address")
        };
        let b = Listener::bind_with(port, shared)?;
        // Connections spread over the two; take them from whichever has them.
        let target = port.to_string();
        let mut clients = Vec::new();
        for _ in 0..16 {
            let target = target.clone();
            clients.push(spawn(async move { ringstream::connect(&target).await }));
        }
        let mut accepted = 0;
        let deadline = Instant::now() + Duration::from_secs(10);
        while accepted < 16 {
            assert!(Instant::now() < deadline, "only {accepted} accepted");
            for listener in [&a, &b] {
                if let Ok(stream) = timeout(Duration::from_millis(5), listener.accept()).await {
                    stream?;
                    accepted += 1;
                }
            }
        }
        for client in clients {
            client.await.expect("client task")?;
        }
        Ok(())
    });
}

/// `accept` outside a runtime is an `Unsupported` error that says where to call it, not
/// a panic.
#[test]
fn accept_outside_a_runtime_is_an_error() {
    let listener = Listener::bind(loopback()).expect("bind works anywhere");
    let mut accept = std::pin::pin!(listener.accept());
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match accept.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(Err(err)) => {
            assert_eq!(err.kind(), io::ErrorKind::Unsupported, "{err}");
            assert!(err.to_string().contains("runtime"), "{err}");
        }
        other => panic!("expected an Unsupported error, got {other:?}"),
    }
}
