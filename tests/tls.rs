//! TLS streams (feature `tls`) over loopback: the session's facts, clean close and
//! truncation, `start_tls`, the handshake and shutdown timeouts, and bad peers that fail
//! only their own connection while others keep echoing. Certificates are made per run
//! (`support::tls`).
#![cfg(feature = "tls")]

mod support;

use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use ringstream::net::StreamServer;
use ringstream::tls::rustls::{self, ProtocolVersion};
use ringstream::tls::{self, TlsAcceptor, TlsConnector, TlsInfo};
use ringstream::{spawn, StreamError};

use support::tls::Pki;
use support::{loopback, port_of, run_bounded, tcp_pair};

/// Echoes lines until EOF; an overlong line is answered with `overrun` and the connection
/// goes on.
async fn line_echo(mut stream: ringstream::Stream) -> io::Result<()> {
    loop {
        match stream.reader.read_line().await {
            Ok(line) if line.is_empty() => break,
            Ok(line) => stream.writer.write_bytes(line)?,
            Err(StreamError::LimitOverrun { .. }) => stream.writer.write(b"overrun\n")?,
            Err(e) => return Err(e.into()),
        }
        stream.writer.drain().await?;
    }
    stream.writer.close();
    stream.writer.wait_closed().await
}

fn tls_server(acceptor: TlsAcceptor) -> StreamServer {
    StreamServer::bind(&loopback().to_string())
        .cores(1)
        .tls(acceptor)
        .serve(line_echo)
        .expect("serve")
}

/// Lines and a megabyte through TLS; both sides see the session's facts (version, ALPN,
/// the SNI the client sent, the server's certificate); `close()` is the peer's clean EOF
/// (its `close_notify`), and `write_eof` is refused.
#[test]
fn echo_through_tls_with_the_session_facts_and_a_clean_close() {
    let pki = Pki::new();
    let leaf = pki.leaf(&["localhost"], false);
    let config = pki.server_config(leaf, &[b"h2", b"http/1.1"]);
    let (facts_tx, facts_rx) = mpsc::channel::<Option<TlsInfo>>();
    let (end_tx, end_rx) = mpsc::channel::<String>();
    let server = StreamServer::bind(&loopback().to_string())
        .cores(1)
        .tls(TlsAcceptor::new(Arc::new(config)))
        .serve(move |stream| {
            let _ = facts_tx.send(stream.tls_info());
            let end_tx = end_tx.clone();
            async move {
                let (mut reader, writer) = stream.split();
                loop {
                    let data = match reader.read(64 * 1024).await {
                        Ok(data) => data,
                        Err(e) => {
                            let _ = end_tx.send(e.to_string());
                            return Err(e.into());
                        }
                    };
                    if data.is_empty() {
                        let _ = end_tx.send("clean EOF".into());
                        break;
                    }
                    writer.write_bytes(data)?;
                    writer.drain().await?;
                }
                writer.close();
                writer.wait_closed().await
            }
        })
        .expect("serve");
    let port = port_of(&server);
    let connector = TlsConnector::new(Arc::new(pki.client_config(&[b"http/1.1"])));
    run_bounded(Duration::from_secs(30), async move {
        let mut stream = tls::connect(&format!("localhost:{port}"), &connector).await?;
        let info = stream.tls_info().expect("facts after the handshake");
        assert_eq!(info.version, ProtocolVersion::TLSv1_3);
        assert_eq!(info.alpn_protocol.as_deref(), Some(&b"http/1.1"[..]));
        assert_eq!(info.server_name.as_deref(), Some("localhost"));
        assert_eq!(info.peer_certificates.len(), 1);

        stream.writer.write(b"hello over tls\n")?;
        assert_eq!(&stream.reader.read_line().await?[..], b"hello over tls\n");
        let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
        stream.writer.write(&big)?;
        let back = stream.reader.read_exact(big.len()).await?;
        assert!(back[..] == big[..], "1 MB came back intact");

        assert!(!stream.writer.can_write_eof());
        let refused = stream.writer.write_eof().expect_err("no half-close on TLS");
        assert_eq!(refused.kind(), io::ErrorKind::Unsupported);

        stream.writer.close();
        let rest = stream.reader.read_to_end().await?;
        assert!(rest.is_empty(), "a clean EOF after close_notify both ways");
        stream.writer.wait_closed().await
    });
    let facts = facts_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the handler ran")
        .expect("the handler got the facts at once");
    assert_eq!(facts.server_name.as_deref(), Some("localhost"), "the SNI");
    assert_eq!(facts.alpn_protocol.as_deref(), Some(&b"http/1.1"[..]));
    assert!(facts.peer_certificates.is_empty(), "no client certificate");
    let end = end_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the handler ended");
    assert_eq!(end, "clean EOF", "the client's close() sent close_notify");
    server.shutdown(Duration::from_secs(5)).expect("shutdown");
}

/// A peer that closes TCP without `close_notify` after some data: the reader gets the
/// data, then `UnexpectedEof` naming the truncation, not a clean EOF.
#[test]
fn a_stream_cut_without_close_notify_is_reported_after_its_data() {
    let pki = Pki::new();
    let config = Arc::new(pki.server_config(pki.leaf(&["localhost"], false), &[]));
    let listener = TcpListener::bind(loopback()).expect("bind");
    let addr = listener.local_addr().expect("addr");
    let peer = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().expect("accept");
        let mut session = rustls::ServerConnection::new(config).expect("session");
        while session.is_handshaking() {
            session.complete_io(&mut socket).expect("handshake");
        }
        session.writer().write_all(b"partial data").expect("write");
        while session.wants_write() {
            session.write_tls(&mut socket).expect("send");
        }
        // TCP's FIN, no close_notify.
        socket
            .shutdown(std::net::Shutdown::Write)
            .expect("shutdown");
        let mut rest = Vec::new();
        let _ = socket.read_to_end(&mut rest);
    });
    let connector = pki.connector();
    run_bounded(Duration::from_secs(20), async move {
        let mut stream = tls::connect_with(
            &addr.to_string(),
            "localhost",
            Default::default(),
            &connector,
        )
        .await?;
        let mut got = Vec::new();
        let error = loop {
            match stream.reader.read(100).await {
                Ok(data) if data.is_empty() => panic!("a truncated stream read as clean EOF"),
                Ok(data) => got.extend_from_slice(&data),
                Err(e) => break e,
            }
        };
        assert_eq!(
            got, b"partial data",
            "the data before the cut is read first"
        );
        let error = io::Error::from(error);
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        assert!(error.to_string().contains("close_notify"), "{error}");
        stream.writer.abort();
        Ok(())
    });
    peer.join().expect("peer");
}

/// STARTTLS: a plaintext exchange, then `start_tls` on the client and `accept_tls` on the
/// server. Plaintext the client had buffered before the upgrade is read first, as in
/// asyncio; a second upgrade is refused.
#[test]
fn start_tls_upgrades_a_plaintext_connection_on_both_sides() {
    let pki = Pki::new();
    let (connector, acceptor) = (pki.connector(), pki.acceptor());
    run_bounded(Duration::from_secs(20), async move {
        let (client, server) = tcp_pair().await?;
        let serving = spawn(async move {
            let (mut reader, writer) = server.split();
            assert_eq!(&reader.read_line().await?[..], b"STARTTLS\n");
            writer.write(b"GO\nstill plaintext\n")?;
            writer.accept_tls(&acceptor).await?;
            let secret = reader.read_line().await?;
            writer.write(&[&b"echo: "[..], &secret].concat())?;
            writer.drain().await
        });
        let (mut reader, writer) = client.split();
        writer.write(b"STARTTLS\n")?;
        assert_eq!(&reader.read_line().await?[..], b"GO\n");
        assert!(writer.tls_info().is_none());
        writer.start_tls(&connector, "localhost").await?;
        assert!(writer.tls_info().is_some());
        assert_eq!(&reader.read_line().await?[..], b"still plaintext\n");
        writer.write(b"secret\n")?;
        assert_eq!(&reader.read_line().await?[..], b"echo: secret\n");
        let again = writer
            .start_tls(&connector, "localhost")
            .await
            .expect_err("already TLS");
        assert_eq!(again.kind(), io::ErrorKind::InvalidInput);
        serving.await.expect("server task")
    });
}

/// `close()` with a peer that stopped reading: what is queued cannot go out, and the
/// shutdown timeout aborts the connection instead of waiting forever.
#[test]
fn close_is_bounded_by_the_shutdown_timeout() {
    let pki = Pki::new();
    let server = StreamServer::bind(&loopback().to_string())
        .cores(1)
        .tls(pki.acceptor())
        .serve(|stream| async move {
            // Never reads; ends when the server aborts its clients.
            let closed = stream.writer.wait_closed();
            let _ = ringstream::time::timeout(Duration::from_secs(20), closed).await;
            Ok(())
        })
        .expect("serve");
    let port = port_of(&server);
    let connector = pki.connector().shutdown_timeout(Duration::from_millis(300));
    run_bounded(Duration::from_secs(20), async move {
        let stream = tls::connect(&format!("127.0.0.1:{port}"), &connector).await?;
        stream.writer.write(&vec![7u8; 32 << 20])?;
        let started = Instant::now();
        stream.writer.close();
        let _ = stream.writer.wait_closed().await;
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(250) && took < Duration::from_secs(5),
            "closed after {took:?}, not at the shutdown timeout"
        );
        Ok(())
    });
    server.abort_clients();
    server.shutdown(Duration::from_secs(5)).expect("shutdown");
}

/// A server that accepts and never answers: the client's handshake fails with `TimedOut`
/// at the connector's handshake timeout.
#[test]
fn a_silent_server_times_the_client_handshake_out() {
    let pki = Pki::new();
    let listener = TcpListener::bind(loopback()).expect("bind");
    let addr = listener.local_addr().expect("addr");
    let connector = pki
        .connector()
        .handshake_timeout(Duration::from_millis(300));
    run_bounded(Duration::from_secs(20), async move {
        let started = Instant::now();
        let error = tls::connect_with(
            &addr.to_string(),
            "localhost",
            Default::default(),
            &connector,
        )
        .await
        .expect_err("no handshake");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut, "{error}");
        assert!(error.to_string().contains("handshake timeout"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(5));
        Ok(())
    });
    drop(listener);
}

/// Garbage instead of a ClientHello, a client that never speaks, a wrong host name, an
/// untrusted and an expired certificate, and a 1 MB line through a 64 KiB limit: each fails
/// (or, for the line, is refused) on its own connection, while 50 clients keep echoing
/// through the same server.
#[test]
fn bad_peers_fail_only_their_own_connection_while_50_others_echo() {
    let pki = Pki::new();
    let server = tls_server(pki.acceptor().handshake_timeout(Duration::from_millis(500)));
    let port = port_of(&server);
    let expired = tls_server(TlsAcceptor::new(Arc::new(
        pki.server_config(pki.leaf(&["localhost"], true), &[]),
    )));
    let expired_port = port_of(&expired);
    let connector = pki.connector();
    let stranger = Pki::new().connector();
    let addr = format!("127.0.0.1:{port}");

    // Plain TCP peers on std threads: garbage, and silence.
    let garbage = {
        let addr = addr.clone();
        std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(&addr).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .expect("write");
            let mut answer = Vec::new();
            let ended = s.read_to_end(&mut answer);
            // Closed by the server (an alert may come first), not left hanging.
            assert!(ended.is_ok() || answer.len() < 64, "{ended:?}");
        })
    };
    let silent = {
        let addr = addr.clone();
        std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(&addr).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            let started = Instant::now();
            let mut answer = Vec::new();
            let ended = s.read_to_end(&mut answer);
            assert!(ended.is_ok(), "the silent client was not closed: {ended:?}");
            started.elapsed()
        })
    };

    run_bounded(Duration::from_secs(60), async move {
        let mut echoers = Vec::new();
        for i in 0..50 {
            let (addr, connector) = (addr.clone(), connector.clone());
            echoers.push(spawn(async move {
                let mut stream = tls::connect(&addr, &connector).await?;
                let line = format!("{i:04}{}\n", "x".repeat(1000));
                for _ in 0..20 {
                    stream.writer.write(line.as_bytes())?;
                    let back = stream.reader.read_line().await?;
                    assert_eq!(back, line.as_bytes());
                }
                stream.writer.close();
                stream.writer.wait_closed().await
            }));
        }

        let wrong = tls::connect_with(&addr, "example.com", Default::default(), &connector)
            .await
            .expect_err("wrong name");
        assert!(
            wrong.to_string().contains("does not name the host"),
            "{wrong}"
        );
        let untrusted = tls::connect(&addr, &stranger).await.expect_err("untrusted");
        assert!(
            untrusted
                .to_string()
                .contains("not signed by a trusted root"),
            "{untrusted}"
        );
        let old = tls::connect(&format!("127.0.0.1:{expired_port}"), &connector)
            .await
            .expect_err("expired");
        assert!(old.to_string().contains("expired"), "{old}");

        let mut long = tls::connect(&addr, &connector).await?;
        long.writer.write(&vec![b'a'; 1 << 20])?;
        long.writer.write(b"\nafter\n")?;
        // The line is discarded in pieces over the limit as it arrives (B4), each answered;
        // its last piece, at most the limit and its newline, comes back as a line of its own.
        let (mut overruns, mut after) = (0, false);
        for _ in 0..64 {
            let line = long.reader.read_line().await?;
            match &line[..] {
                b"overrun\n" => overruns += 1,
                b"after\n" => {
                    after = true;
                    break;
                }
                rest if rest.len() <= 64 * 1024 + 1
                    && rest[..rest.len() - 1].iter().all(|&b| b == b'a') => {}
                other => panic!("unexpected {} bytes", other.len()),
            }
        }
        assert!(overruns >= 1, "the 1 MB line was refused");
        assert!(after, "the connection is still usable after it");

        for echoer in echoers {
            echoer.await.expect("echo task")?;
        }
        Ok(())
    });
    garbage.join().expect("garbage peer");
    let silent_for = silent.join().expect("silent peer");
    assert!(
        silent_for < Duration::from_secs(5),
        "closed after {silent_for:?}, not at the 500 ms handshake timeout"
    );
    for server in [server, expired] {
        server.shutdown(Duration::from_secs(5)).expect("shutdown");
    }
}

/// Protocols served over TLS, plain and buffered: `data_received` / `buffer_updated` get
/// the decrypted bytes (a buffered protocol's own buffers are not used on TLS: the kernel's
/// bytes are ciphertext), writes are encrypted, the client's `close_notify` is
/// `eof_received`, and `connection_lost(None)` ends it (G1).
#[test]
fn protocols_served_over_tls_get_plaintext() {
    use ringstream::protocol::Buffered;
    use support::protocol::{echo, Log, Recorder};

    let pki = Pki::new();
    for buffered in [false, true] {
        let log = Log::default();
        let made = log.clone();
        let builder = StreamServer::bind(&loopback().to_string())
            .cores(1)
            .tls(pki.acceptor());
        let server = if buffered {
            builder.serve_protocol(move || Buffered(Recorder::new(made.clone()).on_event(echo)))
        } else {
            builder.serve_protocol(move || Recorder::new(made.clone()).on_event(echo))
        }
        .expect("serve_protocol");
        let port = port_of(&server);
        let connector = pki.connector();
        run_bounded(Duration::from_secs(20), async move {
            let mut stream = tls::connect(&format!("127.0.0.1:{port}"), &connector).await?;
            let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
            stream.writer.write(&data)?;
            let back = stream.reader.read_exact(data.len()).await?;
            assert!(
                back[..] == data[..],
                "echoed in order (buffered: {buffered})"
            );
            stream.writer.close();
            stream.writer.wait_closed().await
        });
        log.wait_blocking("connection_lost", |events| {
            events.iter().any(support::protocol::is_lost)
        });
        log.assert_g1();
        assert_eq!(log.received().len(), 200_000);
        assert_eq!(log.lost(), Some(None), "a clean end (buffered: {buffered})");
        server.shutdown(Duration::from_secs(5)).expect("shutdown");
    }
}

/// A protocol client over TLS (`create_connection_tls`): `connection_made` after the
/// handshake, plaintext both ways through a TLS echo server, the server's `close_notify`
/// as `eof_received`, then `connection_lost(None)` (G1).
#[test]
fn a_protocol_client_over_tls() {
    use support::protocol::{Event, Log, Recorder};

    let pki = Pki::new();
    let server = tls_server(pki.acceptor());
    let port = port_of(&server);
    let connector = pki.connector();
    let log = Log::default();
    let (recorder, watched) = (log.clone(), log.clone());
    run_bounded(Duration::from_secs(20), async move {
        let log = watched;
        let transport = ringstream::protocol::create_connection_tls(
            move || Recorder::new(recorder).keep_open_on_eof(),
            &format!("127.0.0.1:{port}"),
            &connector,
        )
        .await?;
        transport.write(b"over tls\n")?;
        let mut echoed = false;
        for _ in 0..2000 {
            echoed = log.received() == b"over tls\n";
            if echoed {
                break;
            }
            ringstream::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(echoed, "the echo arrived as plaintext: {:?}", log.events());
        transport.close();
        for _ in 0..2000 {
            if log.is_lost() {
                break;
            }
            ringstream::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    });
    log.assert_g1();
    assert_eq!(log.events().first(), Some(&Event::Made));
    assert_eq!(log.lost(), Some(None), "a clean end");
    server.shutdown(Duration::from_secs(5)).expect("shutdown");
}
