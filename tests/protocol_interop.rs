//! The protocol examples against CPython's asyncio (standard library only), both ways:
//! asyncio `Protocol` clients against `examples/protocol_echo_server` (in both of its
//! modes), and `examples/protocol_echo_client` against asyncio `loop.create_server`
//! servers. The examples run as the programs they are, built by cargo for this test (see
//! [`example`]), and their output and exit status are checked.
//!
//! The tests with Python are skipped (with a note) when `python3` is not installed;
//! `ci/install-deps.sh` installs it. Each program runs under a time limit.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use ringstream_harness::child::{build_examples, collect, collected, output_within, Guard};

/// How long any one program of these tests may run.
const LIMIT: Duration = Duration::from_secs(20);

/// The asyncio client: `python3 -c CLIENT PORT MODE`. `echo` runs 4 connections at once,
/// each 50 lines one at a time, then 1 MB, then `write_eof`: everything must come back,
/// then the server's EOF and a clean close. `once` runs 2 connections one after the other:
/// the first message comes back, then EOF without ours (the server closed after it).
const CLIENT: &str = r#"
import asyncio
import random
import sys


class Client(asyncio.Protocol):
    """Collects what the server sends; `receive` and `eof` wait for it."""

    def __init__(self):
        self.received = bytearray()
        self.eof = False
        self.lost = asyncio.get_running_loop().create_future()
        self.changed = asyncio.Event()

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.received += data
        self.changed.set()

    def eof_received(self):
        self.eof = True
        self.changed.set()
        return True  # keep our side open: `finish` closes it

    def connection_lost(self, exc):
        self.lost.set_result(exc)
        self.changed.set()

    async def wait(self, done, what):
        while not done():
            assert not self.eof, "EOF while waiting for %s (%d bytes buffered)" % (
                what, len(self.received))
            assert not self.lost.done(), "lost (%r) while waiting for %s" % (
                self.lost.result(), what)
            self.changed.clear()
            await self.changed.wait()

    async def receive(self, n):
        await self.wait(lambda: len(self.received) >= n, "%d bytes" % n)
        data = bytes(self.received[:n])
        del self.received[:n]
        return data

    async def finish(self):
        """The server's EOF with nothing more, then our close and a clean loss."""
        while not self.eof:
            assert not self.lost.done(), "lost (%r) before EOF" % self.lost.result()
            self.changed.clear()
            await self.changed.wait()
        assert not self.received, "after the echo: %r" % bytes(self.received[:100])
        self.transport.close()
        exc = await self.lost
        assert exc is None, exc


async def connect(port):
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(Client, "127.0.0.1", port)
    return client


async def echo(port, n):
    client = await connect(port)
    for i in range(50):
        line = ("conn %d line %d %s\n" % (n, i, "x" * (i % 17))).encode()
        client.transport.write(line)
        echoed = await client.receive(len(line))
        assert echoed == line, (n, i, echoed, line)
    data = random.Random(n).randbytes(1_000_000)
    client.transport.write(data)
    echoed = await client.receive(len(data))
    assert echoed == data, "conn %d: the 1 MB echo differs" % n
    assert client.transport.can_write_eof()
    client.transport.write_eof()
    await client.finish()


async def once(port, n):
    client = await connect(port)
    message = ("message %d: it will be echoed, then the server closes\n" % n).encode()
    client.transport.write(message)
    echoed = await client.receive(len(message))
    assert echoed == message, (n, echoed, message)
    await client.finish()


async def main(port, mode):
    if mode == "echo":
        await asyncio.gather(*(echo(port, n) for n in range(4)))
    else:
        for n in range(2):
            await once(port, n)
    print("OK")


asyncio.run(asyncio.wait_for(main(int(sys.argv[1]), sys.argv[2]), 15))
"#;

/// The asyncio server: `python3 -c SERVER MODE`. Prints `listening on PORT`, then one
/// line per connection when it is lost: what it received, whether EOF came, and the
/// error. `echo` echoes until EOF (then asyncio closes); `seed` is asyncio's example
/// (echo the first data, close); `mute` closes at the first data without answering.
/// Exits after 20 s at the latest.
const SERVER: &str = r#"
import asyncio
import sys

MODE = sys.argv[1]


class Server(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.received = bytearray()
        self.eof = False

    def data_received(self, data):
        self.received += data
        if MODE != "mute":
            self.transport.write(data)
        if MODE != "echo":
            self.transport.close()

    def eof_received(self):
        self.eof = True  # and asyncio closes the transport

    def connection_lost(self, exc):
        print("connection: received=%r eof=%s lost=%r" % (
            bytes(self.received), self.eof, exc), flush=True)


async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Server, "127.0.0.1", 0)
    print("listening on %d" % server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(20)


asyncio.run(main())
"#;

/// Whether `python3` runs; says why the test is skipped when not.
fn have_python() -> bool {
    let found = Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        eprintln!("skipped: python3 is not installed (ci/install-deps.sh installs it)");
    }
    found
}

/// The example `name`'s executable (see `ringstream_harness::child::build_examples`).
fn example(name: &str) -> PathBuf {
    static BUILT: OnceLock<Vec<(String, PathBuf)>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let names = [
            "protocol_echo_server",
            "protocol_echo_client",
            "udp_echo_server",
            "udp_echo_client",
        ];
        build_examples(env!("CARGO_MANIFEST_DIR"), &names, &[])
    });
    built
        .iter()
        .find(|(built, _)| built == name)
        .map(|(_, path)| path.clone())
        .unwrap_or_else(|| panic!("{name} is not one of the examples this test builds"))
}

/// Sends each line of `pipe` as it is read, so a test can wait for one with a bound.
fn lines(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The lines of `lines` until `count` of them satisfy `wanted` (all lines read so far are
/// returned); fails the test if that takes longer than `limit`.
fn lines_until(
    lines: &Receiver<String>,
    count: usize,
    limit: Duration,
    wanted: impl Fn(&str) -> bool,
) -> Vec<String> {
    let deadline = Instant::now() + limit;
    let mut seen: Vec<String> = Vec::new();
    while seen.iter().filter(|line| wanted(line.as_str())).count() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!(
                "waited {limit:?} for {count} lines; got:\n{}",
                seen.join("\n")
            ),
        }
    }
    seen
}

/// A running program that prints `prefix ADDRESS` first; its other lines come on `lines`.
struct Running {
    guard: Guard,
    /// What followed the prefix on the first line.
    addr: String,
    lines: Receiver<String>,
    stderr: Receiver<String>,
}

impl Running {
    fn start(command: &mut Command, prefix: &str) -> Running {
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the server");
        let mut guard = Guard(child);
        let stderr = collect(guard.0.stderr.take().expect("piped"));
        let lines = lines(guard.0.stdout.take().expect("piped"));
        let first = lines
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_default();
        let Some(addr) = first.strip_prefix(prefix) else {
            drop(guard); // kills it, so its stderr ends
            panic!(
                "first line {first:?}, not {prefix:?}...; stderr: {}",
                collected(stderr)
            );
        };
        Running {
            addr: addr.to_string(),
            guard,
            lines,
            stderr,
        }
    }

    /// Kills it; its stderr.
    fn kill(mut self) -> String {
        let _ = self.guard.0.kill();
        let _ = self.guard.0.wait();
        collected(self.stderr)
    }
}

/// `protocol_echo_server [--once]` on a free loopback port: (the server, its port).
fn start_echo_server(once: bool) -> (Running, String) {
    let mut command = Command::new(example("protocol_echo_server"));
    command.arg("127.0.0.1:0");
    if once {
        command.arg("--once");
    }
    let server = Running::start(&mut command, "Serving on ");
    let port = server
        .addr
        .rsplit_once(':')
        .map(|(_, port)| port.to_string())
        .expect("the server prints HOST:PORT");
    (server, port)
}

/// Runs the asyncio client in `mode` against the echo server on `port`; fails the test
/// with what it printed unless it says OK.
fn run_python_client(port: &str, mode: &str) {
    let mut client = Command::new("python3");
    client.args(["-c", CLIENT, port, mode]);
    let output = output_within(&mut client, LIMIT).expect("start python3");
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && out.trim() == "OK",
        "python3 client ({mode}): {}\n--- stdout\n{out}--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Whether a line of the echo server says a connection was lost.
fn is_lost(line: &str) -> bool {
    line.starts_with("Connection from ") && (line.ends_with(" closed") || line.contains(" lost: "))
}

/// The server's lines until `connections` connections were lost, checked: each was made
/// and closed cleanly (`connection_lost(None)`), and nothing went to stderr.
fn server_saw(server: Running, connections: usize) -> Vec<String> {
    let lines = lines_until(&server.lines, connections, LIMIT, is_lost);
    let stderr = server.kill();
    let text = lines.join("\n");
    let made = lines
        .iter()
        .filter(|line| line.starts_with("Connection from ") && !is_lost(line))
        .count();
    let closed = lines
        .iter()
        .filter(|line| line.ends_with(" closed"))
        .count();
    assert_eq!(made, connections, "{text}");
    assert_eq!(closed, connections, "every connection_lost(None):\n{text}");
    assert!(stderr.is_empty(), "server stderr: {stderr}\n{text}");
    lines
}

#[test]
fn g1_asyncio_clients_against_protocol_echo_server() {
    if !have_python() {
        return;
    }
    let (server, port) = start_echo_server(false);
    run_python_client(&port, "echo");
    let lines = server_saw(server, 4);
    // The peer's EOF reached eof_received, whose `false` closed the connection (G2).
    let eofs = lines
        .iter()
        .filter(|line| line.starts_with("EOF from "))
        .count();
    assert_eq!(eofs, 4, "{}", lines.join("\n"));
    let first = lines
        .iter()
        .find(|line| line.starts_with("Data received: "))
        .expect("data_received printed");
    assert!(first.starts_with(r#"Data received: "conn "#), "{first}");
}

#[test]
fn g1_asyncio_clients_against_protocol_echo_server_once() {
    if !have_python() {
        return;
    }
    let (server, port) = start_echo_server(true);
    run_python_client(&port, "once");
    let lines = server_saw(server, 2);
    let closes = lines
        .iter()
        .filter(|line| *line == "Close the client socket")
        .count();
    assert_eq!(closes, 2, "{}", lines.join("\n"));
    assert!(
        lines.contains(
            &r#"Data received: "message 1: it will be echoed, then the server closes\n""#
                .to_string()
        ),
        "{}",
        lines.join("\n")
    );
}

/// `protocol_echo_client` (with `message`, or its default) against the asyncio server in
/// `mode`: the client's output, and the server's line about the connection.
fn client_against_asyncio(mode: &str, message: Option<&str>) -> (Output, String) {
    let mut python = Command::new("python3");
    python.args(["-c", SERVER, mode]);
    let server = Running::start(&mut python, "listening on ");
    let mut client = Command::new(example("protocol_echo_client"));
    client.arg(format!("127.0.0.1:{}", server.addr));
    client.args(message);
    let output = output_within(&mut client, LIMIT).expect("start protocol_echo_client");
    let seen = lines_until(&server.lines, 1, LIMIT, |line| {
        line.starts_with("connection: ")
    });
    let stderr = server.kill();
    assert!(stderr.is_empty(), "asyncio server stderr: {stderr}");
    (output, seen.join("\n"))
}

/// The client's stdout, and the text its `Data received` lines printed, joined.
fn client_saw(output: &Output) -> (Vec<String>, String) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<String> = stdout.lines().map(str::to_string).collect();
    let echoed = lines
        .iter()
        .filter_map(|line| line.strip_prefix("Data received: \""))
        .map(|text| text.strip_suffix('"').expect("quoted"))
        .collect();
    (lines, echoed)
}

#[test]
fn g1_protocol_echo_client_against_asyncio_echo_server() {
    if !have_python() {
        return;
    }
    let message = "Hello from a ringstream protocol";
    let (output, server) = client_against_asyncio("echo", Some(message));
    let (lines, echoed) = client_saw(&output);
    let text = lines.join("\n");
    assert!(output.status.success(), "{}: {text}", output.status);
    assert_eq!(
        lines.first(),
        Some(&format!("Data sent: {message:?}")),
        "{text}"
    );
    assert_eq!(echoed, message, "{text}");
    // The whole echo came back, so the client closed, and connection_lost(None) came last.
    assert_eq!(
        lines[lines.len() - 2..],
        ["Close the connection", "Connection closed"],
        "{text}"
    );
    // The asyncio server got the message, then our FIN (a clean close, not a reset).
    assert_eq!(
        server,
        format!("connection: received=b'{message}' eof=True lost=None")
    );
}

#[test]
fn g1_protocol_echo_client_against_asyncio_seed_server() {
    if !have_python() {
        return;
    }
    let message = "This is the message. It will be echoed.";
    let (output, server) = client_against_asyncio("seed", None);
    let (lines, echoed) = client_saw(&output);
    let text = lines.join("\n");
    assert!(output.status.success(), "{}: {text}", output.status);
    assert_eq!(
        lines.first(),
        Some(&format!("Data sent: {message:?}")),
        "{text}"
    );
    assert_eq!(echoed, message, "{text}");
    assert_eq!(
        lines.last().map(String::as_str),
        Some("Connection closed"),
        "{text}"
    );
    assert_eq!(
        server,
        format!("connection: received=b'{message}' eof=False lost=None")
    );
}

#[test]
fn g2_protocol_echo_client_sees_asyncio_server_close() {
    if !have_python() {
        return;
    }
    let (output, server) = client_against_asyncio("mute", Some("anyone there?"));
    let (lines, echoed) = client_saw(&output);
    let text = lines.join("\n");
    assert!(output.status.success(), "{}: {text}", output.status);
    assert!(echoed.is_empty(), "{text}");
    // eof_received returned false: the client closed, then connection_lost(None).
    assert_eq!(
        lines,
        [
            r#"Data sent: "anyone there?""#,
            "The server closed the connection",
            "Connection closed"
        ],
        "{text}"
    );
    assert_eq!(
        server,
        "connection: received=b'anyone there?' eof=False lost=None"
    );
}

#[test]
fn protocol_examples_reject_bad_arguments_with_status_2() {
    let runs: [(&str, &[&str]); 4] = [
        ("protocol_echo_server", &["--bogus"]),
        ("protocol_echo_server", &["not-an-address"]),
        ("protocol_echo_client", &["127.0.0.1"]),
        ("protocol_echo_client", &["127.0.0.1:1", "message", "extra"]),
    ];
    for (name, args) in runs {
        let mut command = Command::new(example(name));
        command.args(args);
        let output = output_within(&mut command, LIMIT).expect("start the example");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name} {args:?}: {stderr}");
        assert!(
            stderr.contains(&format!("usage: {name}")),
            "{name} {args:?}: {stderr}"
        );
    }
}

#[test]
fn protocol_echo_client_reports_a_refused_connection() {
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let mut command = Command::new(example("protocol_echo_client"));
    command.arg(format!("127.0.0.1:{port}"));
    let output = output_within(&mut command, LIMIT).expect("start the example");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is the server running?"), "{stderr}");
}

/// The asyncio datagram client: `python3 -c UDP_CLIENT PORT`. Sends 100 short datagrams and
/// one of 8 KiB through `loop.create_datagram_endpoint(remote_addr=...)`, one at a time,
/// each of which must come back unchanged within 5 s; prints OK.
const UDP_CLIENT: &str = r#"
import asyncio
import sys


class Client(asyncio.DatagramProtocol):
    def __init__(self):
        self.got = asyncio.Queue()

    def datagram_received(self, data, addr):
        self.got.put_nowait(data)

    def error_received(self, exc):
        self.got.put_nowait(exc)


async def main(port):
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(
        Client, remote_addr=("127.0.0.1", port))
    messages = [b"datagram %d" % i for i in range(100)] + [bytes(range(256)) * 32]
    for message in messages:
        transport.sendto(message)
        got = await asyncio.wait_for(client.got.get(), 5)
        assert got == message, (got[:40], message[:40])
    transport.close()
    print("OK")


asyncio.run(main(int(sys.argv[1])))
"#;

#[test]
fn asyncio_datagram_client_against_udp_echo_server() {
    if !have_python() {
        return;
    }
    let mut command = Command::new(example("udp_echo_server"));
    command.arg("127.0.0.1:0");
    let server = Running::start(&mut command, "Starting UDP server on ");
    let port = server
        .addr
        .rsplit_once(':')
        .map(|(_, port)| port.to_string())
        .expect("the server prints HOST:PORT");
    let mut client = Command::new("python3");
    client.args(["-c", UDP_CLIENT, &port]);
    let output = output_within(&mut client, LIMIT).expect("start python3");
    let out = String::from_utf8_lossy(&output.stdout);
    // The client first: if it failed, the server's lines will not all come.
    assert!(
        output.status.success() && out.trim() == "OK",
        "python3 datagram client: {}\n--- stdout\n{out}--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let lines = lines_until(&server.lines, 101, LIMIT, |line| line.starts_with("Send "));
    let stderr = server.kill();
    assert!(stderr.is_empty(), "server stderr: {stderr}");
    assert!(
        lines[0].starts_with(r#"Received "datagram 0" from 127.0.0.1:"#),
        "{}",
        lines[0]
    );
}

/// asyncio's UDP echo server (`loop.create_datagram_endpoint(local_addr=...)`) on a free
/// loopback port: prints `listening on PORT`, then `received DATA` for each datagram it
/// echoes.
const UDP_SERVER: &str = r#"
import asyncio


class Server(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        print("received %r" % data, flush=True)
        self.transport.sendto(data, addr)


async def main():
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        Server, local_addr=("127.0.0.1", 0))
    print("listening on %d" % transport.get_extra_info("sockname")[1], flush=True)
    await asyncio.sleep(3600)


asyncio.run(main())
"#;

#[test]
fn udp_echo_client_against_asyncio_datagram_server() {
    if !have_python() {
        return;
    }
    let mut python = Command::new("python3");
    python.args(["-c", UDP_SERVER]);
    let server = Running::start(&mut python, "listening on ");
    let mut client = Command::new(example("udp_echo_client"));
    client.args([format!("127.0.0.1:{}", server.addr), "hi there".to_string()]);
    let output = output_within(&mut client, LIMIT).expect("start udp_echo_client");
    let seen = lines_until(&server.lines, 1, LIMIT, |line| {
        line.starts_with("received ")
    });
    let stderr = server.kill();
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}\n{out}", output.status);
    assert!(out.contains(r#"Received: "hi there""#), "{out}");
    assert_eq!(
        seen.last().map(String::as_str),
        Some("received b'hi there'")
    );
    assert!(stderr.is_empty(), "asyncio server stderr: {stderr}");
}
