//! TLS against real peers: CPython's `ssl` + asyncio (clients and servers, `start_tls`
//! both ways), `openssl s_client` / `s_server`, and the examples `tls_echo_server` and
//! `http_headers` (an https URL against Python's TLS HTTP server) run as the programs they
//! are. Certificates come from `support::tls`; the peers get them as PEM files.
#![cfg(feature = "tls")]

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use ringstream::tls;
use ringstream_harness::child::{build_examples, output_within, Guard};

use support::tls::Pki;
use support::{loopback, run_bounded};

const LIMIT: Duration = Duration::from_secs(30);

/// Python's side: TLS contexts from the test's PEM files, and the roles the tests use.
/// `python3 -c PY ROLE DIR [PORT]`; a server prints `port N` first; a client prints `OK`.
const PY: &str = r#"
import asyncio, ssl, sys

role, pem = sys.argv[1], sys.argv[2]
port = int(sys.argv[3]) if len(sys.argv) > 3 else 0

def client_ctx():
    ctx = ssl.create_default_context(cafile=pem + "/ca.pem")
    return ctx

def server_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pem + "/cert.pem", pem + "/key.pem")
    return ctx

async def echo(reader, writer):
    while True:
        data = await reader.read(65536)
        if not data:
            break
        writer.write(data)
        await writer.drain()
    writer.close()
    await writer.wait_closed()

async def client_echo():
    async def one(n):
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_ctx(), server_hostname="localhost")
        line = ("line %d\n" % n).encode()
        writer.write(line)
        assert await reader.readline() == line
        data = bytes(i % 251 for i in range(1 << 20))
        writer.write(data)
        assert await reader.readexactly(len(data)) == data
        writer.close()
        await writer.wait_closed()
    await asyncio.gather(*(one(n) for n in range(4)))

async def server_echo():
    server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=server_ctx())
    print("port %d" % server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(60)

async def server_starttls():
    async def handle(reader, writer):
        assert await reader.readline() == b"STARTTLS\n"
        writer.write(b"GO\n")
        await writer.drain()
        await writer.start_tls(server_ctx())
        await echo(reader, writer)
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print("port %d" % server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(60)

async def client_starttls():
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"STARTTLS\n")
    assert await reader.readline() == b"GO\n"
    await writer.start_tls(client_ctx(), server_hostname="localhost")
    writer.write(b"secret\n")
    assert await reader.readline() == b"echo: secret\n"
    writer.close()
    await writer.wait_closed()

def https_server():
    import http.server, threading
    httpd = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    httpd.socket = server_ctx().wrap_socket(httpd.socket, server_side=True)
    print("port %d" % httpd.server_address[1], flush=True)
    threading.Timer(60, httpd.shutdown).start()
    httpd.serve_forever()

if role == "https_server":
    https_server()
else:
    asyncio.run(asyncio.wait_for(globals()[role](), 65))
    if role.startswith("client"):
        print("OK")
"#;

/// A child that is killed when the test ends, its stdout read line by line.
struct Peer {
    _guard: Guard,
    lines: Receiver<String>,
}

impl Peer {
    fn start(command: &mut Command) -> Peer {
        let mut child: Child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the peer");
        let stdout: ChildStdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Peer {
            _guard: Guard(child),
            lines,
        }
    }

    /// The next line that contains `wanted`, within [`LIMIT`].
    fn line_with(&self, wanted: &str) -> String {
        let deadline = std::time::Instant::now() + LIMIT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(wanted) => return line,
                Ok(_) => {}
                Err(e) => panic!("the peer never printed {wanted:?}: {e}"),
            }
        }
    }

    /// The port from its `port N` / `... on HOST:PORT` line.
    fn port(&self, wanted: &str) -> u16 {
        let line = self.line_with(wanted);
        line.rsplit([' ', ':'])
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"))
    }
}

fn python(role: &str, pki: &Pki, port: Option<u16>) -> Command {
    let mut command = Command::new("python3");
    command.args(["-c", PY, role]).arg(&pki.dir);
    if let Some(port) = port {
        command.arg(port.to_string());
    }
    command
}

/// Runs a Python client role to the end; fails the test unless it printed OK.
fn python_client(role: &str, pki: &Pki, port: u16) {
    let output = output_within(&mut python(role, pki, Some(port)), LIMIT).expect("python3");
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && out.trim() == "OK",
        "python3 {role}: {}\n{out}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The example `name`, built with the features this test was built with (so cargo reuses
/// the library it already built).
fn example(name: &str) -> PathBuf {
    let features: Vec<&str> = [
        ("tls", true),
        ("tokio-io", cfg!(feature = "tokio-io")),
        ("futures-io", cfg!(feature = "futures-io")),
        ("tracing", cfg!(feature = "tracing")),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect();
    build_examples(env!("CARGO_MANIFEST_DIR"), &[name], &features)
        .pop()
        .map(|(_, path)| path)
        .expect("built")
}

fn tls_echo_server(pki: &Pki) -> (Peer, u16) {
    let mut command = Command::new(example("tls_echo_server"));
    command
        .arg("127.0.0.1:0")
        .arg(pki.cert_pem())
        .arg(pki.key_pem());
    let server = Peer::start(&mut command);
    let port = server.port("Serving TLS on ");
    (server, port)
}

/// Python's ssl client (4 connections: a line, 1 MB, close) against `tls_echo_server`,
/// then `openssl s_client` against it.
#[test]
fn python_and_openssl_clients_against_tls_echo_server() {
    let pki = Pki::new();
    let (_server, port) = tls_echo_server(&pki);
    python_client("client_echo", &pki, port);

    let mut s_client = Command::new("openssl");
    s_client
        .args([
            "s_client",
            "-quiet",
            "-verify_return_error",
            "-servername",
            "localhost",
        ])
        .arg("-connect")
        .arg(format!("127.0.0.1:{port}"))
        .arg("-CAfile")
        .arg(pki.ca_pem())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = s_client
        .spawn()
        .expect("openssl s_client (ci/install-deps.sh installs it)");
    let mut stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let guard = Guard(child);
    stdin.write_all(b"hello from openssl\n").expect("write");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let echoed = rx.recv_timeout(LIMIT).expect("s_client printed the echo");
    assert_eq!(echoed, "hello from openssl\n");
    drop(stdin);
    drop(guard);
}

/// Our client against Python's asyncio TLS echo server, and against `openssl s_server`.
#[test]
fn our_client_against_python_and_openssl_servers() {
    let pki = Pki::new();
    let server = Peer::start(&mut python("server_echo", &pki, None));
    let port = server.port("port ");
    let connector = pki.connector();
    run_bounded(LIMIT, async move {
        let (mut reader, writer) = tls::open_connection("localhost", port, &connector).await?;
        writer.write(b"hello python\n")?;
        assert_eq!(&reader.read_line().await?[..], b"hello python\n");
        let big = vec![9u8; 1 << 20];
        writer.write(&big)?;
        assert_eq!(reader.read_exact(big.len()).await?.len(), big.len());
        writer.close();
        assert!(
            reader.read_to_end().await?.is_empty(),
            "python's close_notify"
        );
        writer.wait_closed().await
    });

    let port = std::net::TcpListener::bind(loopback())
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut s_server = Command::new("openssl");
    s_server
        .args(["s_server", "-quiet", "-naccept", "1"])
        .arg("-accept")
        .arg(port.to_string())
        .arg("-cert")
        .arg(pki.cert_pem())
        .arg("-key")
        .arg(pki.key_pem())
        .stdin(Stdio::piped());
    let mut child = s_server
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server (ci/install-deps.sh installs it)");
    let mut stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let guard = Guard(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let connector = pki.connector();
    run_bounded(LIMIT, async move {
        // s_server listens a moment after it starts.
        let mut stream = None;
        for _ in 0..100 {
            match tls::connect_with(
                &format!("127.0.0.1:{port}"),
                "localhost",
                Default::default(),
                &connector,
            )
            .await
            {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    ringstream::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e),
            }
        }
        let mut stream = stream.expect("s_server listened within 5 s");
        stream.writer.write(b"hello s_server\n")?;
        stdin.write_all(b"hello ringstream\n")?;
        stdin.flush()?;
        assert_eq!(&stream.reader.read_line().await?[..], b"hello ringstream\n");
        stream.writer.close();
        stream.writer.wait_closed().await
    });
    let line = rx
        .recv_timeout(LIMIT)
        .expect("s_server printed what it got");
    assert_eq!(line, "hello s_server");
    drop(guard);
}

/// STARTTLS both ways with asyncio: our client upgrading against an asyncio server that
/// calls `StreamWriter.start_tls`, and an asyncio client upgrading against our server
/// that calls `accept_tls`.
#[test]
fn start_tls_both_ways_with_asyncio() {
    let pki = Pki::new();
    let server = Peer::start(&mut python("server_starttls", &pki, None));
    let port = server.port("port ");
    let connector = pki.connector();
    run_bounded(LIMIT, async move {
        let (mut reader, writer) = ringstream::open_connection("127.0.0.1", port).await?;
        writer.write(b"STARTTLS\n")?;
        assert_eq!(&reader.read_line().await?[..], b"GO\n");
        writer.start_tls(&connector, "localhost").await?;
        writer.write(b"over tls\n")?;
        assert_eq!(&reader.read_line().await?[..], b"over tls\n");
        writer.close();
        writer.wait_closed().await
    });

    let acceptor = pki.acceptor();
    let listener = std::net::TcpListener::bind(loopback()).expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let client = std::thread::spawn({
        let dir = pki.dir.clone();
        move || {
            let mut command = Command::new("python3");
            command
                .args(["-c", PY, "client_starttls"])
                .arg(dir)
                .arg(port.to_string());
            output_within(&mut command, LIMIT).expect("python3")
        }
    });
    run_bounded(LIMIT, async move {
        let (socket, _) = listener.accept()?;
        let stream = ringstream::Stream::from_std(socket)?;
        let (mut reader, writer) = stream.split();
        assert_eq!(&reader.read_line().await?[..], b"STARTTLS\n");
        writer.write(b"GO\n")?;
        writer.accept_tls(&acceptor).await?;
        let secret = reader.read_line().await?;
        writer.write(&[&b"echo: "[..], &secret].concat())?;
        writer.drain().await?;
        assert!(
            reader.read_to_end().await?.is_empty(),
            "asyncio's close_notify"
        );
        writer.close();
        writer.wait_closed().await
    });
    let output = client.join().expect("client thread");
    assert!(
        output.status.success() && String::from_utf8_lossy(&output.stdout).trim() == "OK",
        "{output:?}"
    );
}

/// `http_headers https://localhost:PORT/` against Python's TLS HTTP server, trusting the
/// test CA through `SSL_CERT_FILE`.
#[test]
fn http_headers_example_fetches_over_https() {
    let pki = Pki::new();
    // Built before the server starts: a fresh build can take longer than the server lives.
    let mut command = Command::new(example("http_headers"));
    let server = Peer::start(&mut python("https_server", &pki, None));
    let port = server.port("port ");
    command
        .arg(format!("https://localhost:{port}/"))
        .env("SSL_CERT_FILE", pki.ca_pem());
    let output = output_within(&mut command, LIMIT).expect("http_headers");
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(out.contains("HTTP header> HTTP/1.0 200"), "{out}");
    assert!(out.contains("HTTP header> Server: SimpleHTTP"), "{out}");
}
