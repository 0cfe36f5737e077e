//! StreamServer (SEMANTICS H): a shard per core on one port, graceful shutdown, abort,
//! descriptor exhaustion, handler failures, Unix sockets, start_serving, busy ports.

mod support;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ringstream::net::{FailureCause, StreamServer};
use ringstream::Stream;

use ringstream_harness::child::{this_test, tool, wait_for, Guard};
use support::echo::echo;
use support::{listeners_on, open_fds, port_of, tcp_client, wait_until};

/// H: two cores are two listening sockets on one port, and both serve connections.
#[test]
fn h1_two_cores_two_listeners_one_port_both_serve() {
    let server = StreamServer::bind("127.0.0.1:0")
        .cores(2)
        .serve(echo)
        .expect("serve");
    let port = port_of(&server);
    assert_eq!(
        listeners_on(port).len(),
        2,
        "one SO_REUSEPORT listener per core"
    );
    assert!(server
        .local_addrs()
        .iter()
        .all(|a| a.to_string() == server.local_addr().to_string()));
    for i in 0..200u32 {
        let mut s = tcp_client(("127.0.0.1", port));
        let msg = format!("hello {i}\n");
        s.write_all(msg.as_bytes()).expect("write");
        let mut back = vec![0u8; msg.len()];
        s.read_exact(&mut back).expect("echo");
        assert_eq!(back, msg.as_bytes());
    }
    wait_until("handlers to finish", Duration::from_secs(10), || {
        server.stats().iter().all(|c| c.active == 0)
    });
    let stats = server.stats();
    assert_eq!(stats.iter().map(|c| c.accepted).sum::<u64>(), 200);
    assert!(
        stats.iter().all(|c| c.accepted > 0),
        "every core served some connections: {stats:?}"
    );
    assert_ne!(stats[0].cpu, stats[1].cpu);
    let report = server.shutdown(Duration::from_secs(5)).expect("shutdown");
    assert_eq!(report.aborted, 0);
    assert_eq!(listeners_on(port).len(), 0, "close() closes every listener");
}

/// Graceful shutdown: 100 connections mid-way through 1 MB of echo each; shutdown waits
/// and every byte arrives.
#[test]
fn h3_shutdown_waits_and_delivers_every_byte() {
    const CONNS: usize = 100;
    const TOTAL: usize = 1 << 20;
    const CHUNK: usize = 16 * 1024;
    let server = StreamServer::bind("127.0.0.1:0")
        .cores(2)
        .serve(echo)
        .expect("serve");
    let addr = server.local_addr().to_string();
    let progress = Arc::new(AtomicUsize::new(0));
    let seen = progress.clone();
    let clients = std::thread::spawn(move || {
        ringstream::run(async move {
            let mut tasks = Vec::new();
            for c in 0..CONNS {
                let addr = addr.clone();
                let progress = progress.clone();
                tasks.push(ringstream::spawn(async move {
                    let (mut reader, writer) = ringstream::connect(&addr).await?.split();
                    let payload: Vec<u8> = (0..TOTAL).map(|i| (i * 7 + c) as u8).collect();
                    let expected = payload.clone();
                    let sender = ringstream::spawn(async move {
                        for chunk in payload.chunks(CHUNK) {
                            writer.write(chunk)?;
                            writer.drain().await?;
                            ringstream::time::sleep(Duration::from_millis(2)).await;
                        }
                        Ok::<_, io::Error>(writer)
                    });
                    let got = reader.read_exact(TOTAL).await?;
                    progress.fetch_add(1, Ordering::Relaxed);
                    let writer = sender.await.expect("sender")?;
                    writer.close();
                    Ok::<bool, io::Error>(got[..] == expected[..])
                }));
            }
            let mut intact = 0;
            for t in tasks {
                if t.await.expect("client task").expect("client io") {
                    intact += 1;
                }
            }
            intact
        })
        .expect("client runtime")
    });
    wait_until(
        "every connection to be accepted",
        Duration::from_secs(20),
        || server.stats().iter().map(|c| c.accepted).sum::<u64>() == CONNS as u64,
    );
    assert!(
        seen.load(Ordering::Relaxed) < CONNS,
        "the shutdown must start while echoes are in flight"
    );
    let report = server.shutdown(Duration::from_secs(60)).expect("shutdown");
    assert_eq!(report.aborted, 0, "{report:?}");
    assert!(report.complete);
    assert!(!server.is_serving());
    let intact = clients.join().expect("client thread");
    assert_eq!(intact, CONNS, "every connection got its 1 MB back intact");
}

/// abort_clients drops every connection at once; the handlers end.
#[test]
fn h3_abort_clients_drops_connections_at_once() {
    let server = StreamServer::bind("127.0.0.1:0")
        .cores(2)
        .serve(echo)
        .expect("serve");
    let port = port_of(&server);
    let mut clients: Vec<TcpStream> = (0..20).map(|_| tcp_client(("127.0.0.1", port))).collect();
    for s in &mut clients {
        s.write_all(b"x").expect("write");
        let mut b = [0u8; 1];
        s.read_exact(&mut b).expect("echo");
    }
    server.abort_clients();
    let started = Instant::now();
    for s in &mut clients {
        let mut b = [0u8; 1];
        match s.read(&mut b) {
            Ok(0) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            other => panic!("expected the connection to be dropped, got {other:?}"),
        }
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    wait_until("handlers to end", Duration::from_secs(5), || {
        server.stats().iter().all(|c| c.active == 0)
    });
    assert!(
        server.is_serving(),
        "aborting clients does not close the server"
    );
    server.shutdown(Duration::from_secs(5)).expect("shutdown");
}

/// H3: close() stops accepting, open connections go on; wait_closed waits for their
/// handlers; close_clients flushes and closes them.
#[test]
fn h3_close_keeps_connections_and_wait_closed_waits_for_them() {
    let server = StreamServer::bind("127.0.0.1:0")
        .cores(2)
        .serve(echo)
        .expect("serve");
    let port = port_of(&server);
    let mut open = tcp_client(("127.0.0.1", port));
    open.write_all(b"before").expect("write");
    let mut b = [0u8; 6];
    open.read_exact(&mut b).expect("echo");
    server.close();
    assert!(!server.is_serving());
    wait_until("the listeners to close", Duration::from_secs(5), || {
        listeners_on(port).is_empty()
    });
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "no new connections after close"
    );
    // The open connection still echoes.
    open.write_all(b"after!").expect("write");
    open.read_exact(&mut b).expect("echo after close");
    assert_eq!(&b, b"after!");
    let waiter = server.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        ringstream::run(waiter.wait_closed()).expect("runtime");
        let _ = tx.send(());
    });
    assert!(
        rx.recv_timeout(Duration::from_millis(200)).is_err(),
        "wait_closed must wait for the open connection"
    );
    // close_clients: queued bytes still arrive, then EOF.
    server.close_clients();
    let mut rest = Vec::new();
    open.read_to_end(&mut rest).expect("EOF");
    rx.recv_timeout(Duration::from_secs(5))
        .expect("wait_closed resolves once the last handler ended");
    server
        .serve_forever()
        .expect("already closed: returns at once");
}

/// A handler that panics closes its own connection only; 100 others complete, and the
/// failure is reported through the hook.
#[test]
fn h4_handler_panic_or_error_closes_one_connection_and_is_reported() {
    let failures = Arc::new(Mutex::new(Vec::new()));
    let hook_failures = failures.clone();
    let server = StreamServer::bind("127.0.0.1:0")
        .cores(2)
        .on_handler_failure(move |f| {
            let cause = match &f.cause {
                FailureCause::Panic(m) => format!("panic: {m}"),
                FailureCause::Error(e) => format!("error: {e}"),
            };
            hook_failures.lock().expect("lock").push(cause);
        })
        .serve(|stream: Stream| async move {
            let (mut reader, writer) = stream.split();
            let line = reader.read_line().await?;
            match &line[..] {
                b"panic\n" => panic!("handler asked to panic"),
                b"fail\n" => Err(io::Error::other("handler asked to fail")),
                _ => {
                    writer.write(&line)?;
                    writer.drain().await
                }
            }
        })
        .expect("serve");
    let port = port_of(&server);
    let mut bad = tcp_client(("127.0.0.1", port));
    bad.write_all(b"panic\n").expect("write");
    let mut failing = tcp_client(("127.0.0.1", port));
    failing.write_all(b"fail\n").expect("write");
    let mut rest = Vec::new();
    assert_eq!(bad.read(&mut rest).expect("EOF after the panic"), 0);
    assert_eq!(failing.read(&mut rest).expect("EOF after the error"), 0);
    for i in 0..100 {
        let mut s = tcp_client(("127.0.0.1", port));
        let msg = format!("line {i}\n");
        s.write_all(msg.as_bytes()).expect("write");
        let mut back = String::new();
        BufReader::new(&mut s).read_line(&mut back).expect("echo");
        assert_eq!(back, msg);
    }
    wait_until("the reports", Duration::from_secs(5), || {
        failures.lock().expect("lock").len() == 2
    });
    let mut got = failures.lock().expect("lock").clone();
    got.sort();
    assert_eq!(got[0], "error: handler asked to fail");
    assert_eq!(got[1], "panic: handler asked to panic");
    assert_eq!(server.stats().iter().map(|c| c.failures).sum::<u64>(), 2);
    server.shutdown(Duration::from_secs(5)).expect("shutdown");
}

/// Peers that vanish (RST) are reaped: no descriptor stays behind.
#[test]
fn h4_vanished_peers_leave_no_descriptor_behind() {
    let server = StreamServer::bind("127.0.0.1:0")
        .cores(1)
        .serve(echo)
        .expect("serve");
    let port = port_of(&server);
    // Let the core settle (its ring and eventfd are open by now).
    std::thread::sleep(Duration::from_millis(50));
    let before = open_fds();
    for _ in 0..50 {
        let mut s = tcp_client(("127.0.0.1", port));
        s.write_all(b"ping").expect("write");
        let mut b = [0u8; 4];
        s.read_exact(&mut b).expect("echo");
        // RST instead of FIN: the peer is simply gone.
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .expect("linger");
        drop(s);
    }
    wait_until(
        "every connection to be reaped",
        Duration::from_secs(10),
        || server.stats()[0].active == 0 && open_fds() <= before,
    );
    assert_eq!(server.stats()[0].accepted, 50);
    server.shutdown(Duration::from_secs(5)).expect("shutdown");
}

/// H2 start_serving(false): the address is bound (taken) but does not listen, so a client
/// is refused, not left half-open in a backlog; start_serving() makes it listen and serve.
#[test]
fn h2_bound_but_not_serving_until_start_serving() {
    for cores in [1, 2] {
        let server = StreamServer::bind("127.0.0.1:0")
            .cores(cores)
            .start_serving(false)
            .serve(echo)
            .expect("serve");
        assert!(!server.is_serving());
        let port = port_of(&server);
        assert_eq!(
            listeners_on(port).len(),
            0,
            "nothing listens before start_serving"
        );
        let early = TcpStream::connect(("127.0.0.1", port));
        assert!(
            matches!(&early, Err(e) if e.kind() == io::ErrorKind::ConnectionRefused),
            "refused before start_serving: {early:?}"
        );
        // The address is held all the same (against binds without SO_REUSEADDR; those
        // with it are caught by start_serving, see the busy-port test).
        let probe = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
        let taken = probe.bind(&addr.into());
        assert!(taken.is_err(), "the port is bound from serve() on");
        server.start_serving().expect("start_serving");
        assert!(server.is_serving());
        assert_eq!(listeners_on(port).len(), cores);
        let mut s = tcp_client(("127.0.0.1", port));
        s.write_all(b"later").expect("write");
        let mut b = [0u8; 5];
        s.read_exact(&mut b).expect("served after start_serving");
        assert_eq!(&b, b"later");
        server.start_serving().expect("a second call does nothing");
        drop(s);
        server.shutdown(Duration::from_secs(5)).expect("shutdown");
        assert!(!server.is_serving());
    }
}

/// H2: a server closed before it ever served releases its address.
#[test]
fn h2_closed_before_serving_releases_the_address() {
    let server = StreamServer::bind("127.0.0.1:0")
        .cores(2)
        .start_serving(false)
        .serve(echo)
        .expect("serve");
    let port = port_of(&server);
    server.shutdown(Duration::from_secs(5)).expect("shutdown");
    server.start_serving().expect("no effect after close");
    assert!(!server.is_serving());
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port is free again");
}

/// H1: a port another server listens on is an error, also with several cores (whose
/// shards need SO_REUSEPORT), unless both ask to share it; the error says what to do.
#[test]
fn h1_busy_port_is_an_error_unless_both_share_it() {
    let first = StreamServer::bind("127.0.0.1:0")
        .cores(2)
        .serve(echo)
        .expect("serve");
    let addr = first.local_addr().to_string();
    for cores in [1, 2] {
        let err = StreamServer::bind(&addr)
            .cores(cores)
            .serve(echo)
            .expect_err("the port is taken");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        let message = err.to_string();
        assert!(message.contains(&addr), "{message}");
        assert!(
            message.contains("reuse_port") || message.contains("another port"),
            "{message}"
        );
    }
    assert_eq!(
        listeners_on(port_of(&first)).len(),
        2,
        "the refused servers left nothing behind"
    );
    first.shutdown(Duration::from_secs(5)).expect("shutdown");

    // Asking to share from one side only is not enough (against a one-core server: the
    // shards of a multi-core one carry SO_REUSEPORT, which a sharing server can join).
    let single = StreamServer::bind("127.0.0.1:0")
        .cores(1)
        .serve(echo)
        .expect("serve");
    let err = StreamServer::bind(&single.local_addr().to_string())
        .cores(2)
        .reuse_port(true)
        .serve(echo)
        .expect_err("the first server did not ask to share");
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
    single.shutdown(Duration::from_secs(5)).expect("shutdown");

    // Not serving yet, a second server started in between is still caught.
    let waiting = StreamServer::bind("127.0.0.1:0")
        .cores(2)
        .start_serving(false)
        .serve(echo)
        .expect("serve");
    let addr = waiting.local_addr().to_string();
    let intruder = StreamServer::bind(&addr)
        .cores(2)
        .reuse_port(true)
        .serve(echo)
        .expect("the address does not listen yet");
    let err = waiting
        .start_serving()
        .expect_err("someone listens there now");
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
    assert!(!waiting.is_serving());
    intruder.shutdown(Duration::from_secs(5)).expect("shutdown");
    waiting.start_serving().expect("free again");
    assert!(waiting.is_serving());
    waiting.shutdown(Duration::from_secs(5)).expect("shutdown");
}

/// H1: servers that all set reuse_port(true) share the address and the connections.
#[test]
fn h1_reuse_port_on_both_shares_the_address() {
    let first = StreamServer::bind("127.0.0.1:0")
        .cores(2)
        .reuse_port(true)
        .serve(echo)
        .expect("serve");
    let port = port_of(&first);
    let second = StreamServer::bind(&first.local_addr().to_string())
        .cores(2)
        .reuse_port(true)
        .serve(echo)
        .expect("shared on purpose");
    assert_eq!(listeners_on(port).len(), 4);
    let round_trip = |i: u32| {
        let mut s = tcp_client(("127.0.0.1", port));
        let msg = format!("shared {i}\n");
        s.write_all(msg.as_bytes()).expect("write");
        let mut back = vec![0u8; msg.len()];
        s.read_exact(&mut back).expect("echo");
        assert_eq!(back, msg.as_bytes());
    };
    // Bounded: the kernel hashes each connection's ports to one of the four listeners.
    let mut i = 0;
    while second.stats().iter().map(|c| c.accepted).sum::<u64>() == 0
        || first.stats().iter().map(|c| c.accepted).sum::<u64>() == 0
    {
        assert!(i < 400, "connections never reached both servers");
        round_trip(i);
        i += 1;
    }
    first.shutdown(Duration::from_secs(5)).expect("shutdown");
    second.shutdown(Duration::from_secs(5)).expect("shutdown");
}

/// H1: port 0 with two cores: both shards listen on the one port picked, and both accept.
#[test]
fn h1_port_zero_with_two_cores_one_port_both_accept() {
    let server = StreamServer::bind("127.0.0.1:0")
        .cores(2)
        .serve(echo)
        .expect("serve");
    let port = port_of(&server);
    assert_ne!(port, 0);
    assert_eq!(listeners_on(port).len(), 2);
    let mut i = 0;
    while server.stats().iter().any(|c| c.accepted == 0) {
        assert!(i < 400, "a shard never accepted: {:?}", server.stats());
        let mut s = tcp_client(("127.0.0.1", port));
        s.write_all(b"x").expect("write");
        let mut b = [0u8; 1];
        s.read_exact(&mut b).expect("echo");
        i += 1;
    }
    server.shutdown(Duration::from_secs(5)).expect("shutdown");
}

/// A Unix-socket server on two cores: both accept from one socket; the file goes away on
/// close.
#[test]
fn h1_unix_socket_server_on_two_cores() {
    let dir = std::env::temp_dir().join(format!("ringstream-server-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("echo.sock");
    let server = StreamServer::bind_unix(&path)
        .cores(2)
        .serve(echo)
        .expect("serve");
    assert!(path.exists());
    let client_path = path.clone();
    let echoed = ringstream::run(async move {
        let mut ok = 0;
        for i in 0..20 {
            let (mut reader, writer) = ringstream::connect_unix(&client_path).await?.split();
            let msg = format!("unix {i}\n");
            writer.write(msg.as_bytes())?;
            if reader.read_line().await? == msg.as_bytes() {
                ok += 1;
            }
        }
        Ok::<_, io::Error>(ok)
    })
    .expect("runtime")
    .expect("client");
    assert_eq!(echoed, 20);
    server.shutdown(Duration::from_secs(5)).expect("shutdown");
    assert!(!path.exists(), "the socket file is removed on close");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Bad configuration is an error from serve(), never a panic.
#[test]
fn h1_bad_configuration_is_an_error() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = busy.local_addr().expect("addr").to_string();
    let err = StreamServer::bind(&addr)
        .cores(1)
        .serve(echo)
        .expect_err("port in use");
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    assert!(err.to_string().contains(&addr), "{err}");
    let err = StreamServer::bind("127.0.0.1:0")
        .limit(0)
        .serve(echo)
        .expect_err("limit 0");
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    let err = StreamServer::bind("127.0.0.1:0")
        .cores(1000)
        .serve(echo)
        .expect_err("too many cores");
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

const EMFILE_CHILD: &str = "RINGSTREAM_EMFILE_CHILD";

/// Prints the server's log lines so the parent can see the back-off happen.
struct StdoutLogger;

static STDOUT_LOGGER: StdoutLogger = StdoutLogger;

impl log::Log for StdoutLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        println!("LOG {}: {}", record.level(), record.args());
    }

    fn flush(&self) {}
}

/// The server side of the EMFILE test, run in a child under a low RLIMIT_NOFILE: serves
/// until its stdin closes.
#[test]
fn emfile_child() {
    if std::env::var_os(EMFILE_CHILD).is_none() {
        return; // only meaningful when started by the test below
    }
    log::set_logger(&STDOUT_LOGGER).expect("logger");
    log::set_max_level(log::LevelFilter::Warn);
    let server = StreamServer::bind("127.0.0.1:0")
        .cores(1)
        .serve(echo)
        .expect("serve");
    println!("PORT={}", port_of(&server));
    let mut sink = String::new();
    let _ = io::stdin().read_to_string(&mut sink);
    let report = server.shutdown(Duration::from_secs(5)).expect("shutdown");
    println!("SHUTDOWN aborted={}", report.aborted);
}

/// H: out of descriptors, the server keeps serving the connections it has and accepts
/// the rest once descriptors free up.
#[test]
fn h5_emfile_backs_off_and_recovers() {
    let Some(prlimit) = tool("prlimit") else {
        println!("skipped: prlimit (util-linux) is not installed; ci/install-deps.sh installs it");
        return;
    };
    let (exe, args) = this_test("emfile_child");
    let child = Command::new(prlimit)
        .args(["--nofile=64:64", "--"])
        .arg(exe)
        .args(args)
        .env(EMFILE_CHILD, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the child");
    let mut child = Guard(child);
    let mut out = BufReader::new(child.0.stdout.take().expect("stdout"));
    let mut line = String::new();
    let port: u16 = loop {
        line.clear();
        assert!(
            out.read_line(&mut line).expect("child output") > 0,
            "child exited early"
        );
        // The harness may print "test emfile_child ... " on the same line.
        if let Some((_, p)) = line.trim().split_once("PORT=") {
            break p.parse().expect("port");
        }
    };
    // More connections than the child has descriptors for.
    const CONNS: usize = 120;
    let mut conns: Vec<Option<TcpStream>> = (0..CONNS)
        .map(|_| {
            let s = TcpStream::connect(("127.0.0.1", port)).expect("connect (backlog)");
            Some(s)
        })
        .collect();
    for s in conns.iter_mut().flatten() {
        s.write_all(b"ping").expect("write");
    }
    // Let the server take what it can: it runs out of descriptors with every handler
    // still waiting for its peer's EOF.
    std::thread::sleep(Duration::from_millis(300));
    let mut served = vec![false; CONNS];
    let deadline = Instant::now() + Duration::from_secs(60);
    while served.iter().any(|s| !s) {
        assert!(
            Instant::now() < deadline,
            "the server did not recover: {served:?}"
        );
        for (i, slot) in conns.iter_mut().enumerate() {
            let Some(s) = slot else { continue };
            s.set_read_timeout(Some(Duration::from_millis(20)))
                .expect("timeout");
            let mut b = [0u8; 4];
            if s.read_exact(&mut b).is_ok() {
                assert_eq!(&b, b"ping");
                served[i] = true;
                // Done with it: closing frees a descriptor in the server.
                *slot = None;
            }
        }
    }
    drop(child.0.stdin.take());
    let status = wait_for(&mut child.0, Duration::from_secs(10)).expect("the child exits");
    let mut rest = String::new();
    let _ = out.read_to_string(&mut rest);
    assert!(status.success(), "child failed: {rest}");
    assert!(rest.contains("SHUTDOWN"), "{rest}");
    assert!(
        rest.contains("out of file descriptors") && rest.contains("pausing accepts"),
        "the server must have hit EMFILE and backed off: {rest}"
    );
}
