//! The `ringstream` command, run as a user would: `--help` everywhere, `echo` with `load`
//! against it (TCP and Unix, ping-pong and stream), SIGTERM shutdown (the grace period, a
//! second signal), Ctrl-C on `load`, a closed stdout, the library's warnings on stderr,
//! clear failures (nothing listening, a server that corrupts, stalls or never echoes, bad
//! arguments), a short `bench` and a short `soak`. Every wait is bounded and every child
//! is killed if a test fails.

#[path = "support/child.rs"]
mod child;

use child::{collect, signal, wait_for, Echo, Guard, BIN};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// How long any one command may take before the test fails.
const COMMAND_LIMIT: Duration = Duration::from_secs(20);

/// What a finished command produced.
struct Output {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Output {
    /// Everything printed, for assertion messages.
    fn dump(&self) -> String {
        format!(
            "status: {}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }

    /// The fields of the `RESULT` line, which must be the last line of stdout.
    fn result(&self) -> Vec<(String, String)> {
        self.last_line_fields("RESULT")
    }

    /// The `key=value` fields of the last line of stdout, which must start with `word`.
    fn last_line_fields(&self, word: &str) -> Vec<(String, String)> {
        let last = self.stdout.lines().last().unwrap_or_default();
        let fields = last
            .strip_prefix(word)
            .and_then(|rest| rest.strip_prefix(' '))
            .unwrap_or_else(|| panic!("the last line is not a {word} line:\n{}", self.dump()));
        fields
            .split(' ')
            .map(|kv| {
                let (k, v) = kv.split_once('=').expect("key=value");
                (k.to_owned(), v.to_owned())
            })
            .collect()
    }

    /// One field of the `RESULT` line.
    fn field(&self, key: &str) -> String {
        self.result()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no {key} in the RESULT line:\n{}", self.dump()))
    }
}

/// Runs `ringstream args...` to completion (at most [`COMMAND_LIMIT`]).
fn ringstream(args: &[&str]) -> Output {
    let child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ringstream");
    let mut guard = Guard(child);
    let stdout = collect(guard.0.stdout.take().expect("stdout"));
    let stderr = collect(guard.0.stderr.take().expect("stderr"));
    let status = wait_for(&mut guard.0, COMMAND_LIMIT)
        .unwrap_or_else(|| panic!("`ringstream {}` ran over {COMMAND_LIMIT:?}", args.join(" ")));
    let text = |rx: Receiver<String>| rx.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
    Output {
        status,
        stdout: text(stdout),
        stderr: text(stderr),
    }
}

/// Sends every line of a pipe as it is printed.
fn lines(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// A running command whose stdout and stderr lines are read as they come.
struct Live {
    guard: Guard,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    /// Lines read so far.
    seen_out: Vec<String>,
    seen_err: Vec<String>,
}

impl Live {
    /// Starts `command` with both outputs piped.
    fn start(mut command: Command) -> Live {
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the command");
        let mut guard = Guard(child);
        let stdout = lines(guard.0.stdout.take().expect("stdout"));
        let stderr = lines(guard.0.stderr.take().expect("stderr"));
        Live {
            guard,
            stdout,
            stderr,
            seen_out: Vec::new(),
            seen_err: Vec::new(),
        }
    }

    /// Waits (at most `limit`) for a line of stdout (`err`: stderr) containing `needle`.
    fn line(&mut self, err: bool, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        let (rx, seen) = if err {
            (&self.stderr, &mut self.seen_err)
        } else {
            (&self.stdout, &mut self.seen_out)
        };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(e) => panic!("no line with {needle:?} ({e:?}); seen: {seen:#?}"),
            }
        }
    }

    /// The `listening on` address `echo` prints first.
    fn listening(&mut self) -> String {
        let line = self.line(false, "listening on ", Duration::from_secs(10));
        line.trim_start_matches("listening on ").to_owned()
    }

    /// Waits (at most `limit`) for the exit and every remaining line.
    fn finish(mut self, limit: Duration) -> Output {
        let status = wait_for(&mut self.guard.0, limit)
            .unwrap_or_else(|| panic!("still running after {limit:?}"));
        let drain = |rx: &Receiver<String>, seen: &mut Vec<String>| loop {
            match rx.recv_timeout(Duration::from_secs(5)) {
                Ok(line) => seen.push(line),
                Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => panic!("output not closed: {seen:#?}"),
            }
        };
        drain(&self.stdout, &mut self.seen_out);
        drain(&self.stderr, &mut self.seen_err);
        let text = |lines: &[String]| lines.iter().map(|l| format!("{l}\n")).collect();
        Output {
            status,
            stdout: text(&self.seen_out),
            stderr: text(&self.seen_err),
        }
    }
}

/// `ringstream args...` as a command to start.
fn command(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args);
    command
}

#[test]
fn every_command_has_help_naming_its_options() {
    let cases: [(&[&str], &[&str]); 5] = [
        (&[], &["echo", "load", "bench", "soak"]),
        (
            &["echo"],
            &[
                "--addr", "--unix", "--cores", "--grace", "--api", "buffered", "SIGTERM",
                "RUST_LOG",
            ],
        ),
        (
            &["load"],
            &[
                "--addr",
                "--unix",
                "--conns",
                "--size",
                "--duration",
                "--mode",
                "--pipeline",
                "--cores",
                "--stall-timeout",
                "RESULT mode=",
                "stalls=",
                "max_gap_ms=",
            ],
        ),
        (
            &["soak"],
            &[
                "--cores",
                "--phase",
                "--phase-duration",
                "--stall-timeout",
                "SOAK result=",
            ],
        ),
        (
            &["bench"],
            &["--duration", "--scenario", "--runtime", "--api", "pp64x4k"],
        ),
    ];
    for (command, options) in cases {
        let mut args = command.to_vec();
        args.push("--help");
        let out = ringstream(&args);
        assert!(out.status.success(), "{args:?}\n{}", out.dump());
        for option in options {
            assert!(
                out.stdout.contains(option),
                "{args:?} does not mention {option}\n{}",
                out.dump()
            );
        }
    }
}

#[test]
fn load_against_echo_in_both_modes_then_sigterm_stops_echo() {
    let echo = Echo::start(&["--addr", "127.0.0.1:0", "--cores", "1"]);
    assert!(
        echo.addr.starts_with("127.0.0.1:") && !echo.addr.ends_with(":0"),
        "{}",
        echo.addr
    );
    let runs: [&[&str]; 2] = [
        &["--conns", "4", "--size", "100", "--pipeline", "3"],
        &[
            "--mode", "stream", "--conns", "2", "--size", "16KiB", "--cores", "2",
        ],
    ];
    for (run, mode) in runs.into_iter().zip(["pingpong", "stream"]) {
        let mut args = vec!["load", "--addr", &echo.addr, "--duration", "1s"];
        args.extend_from_slice(run);
        let out = ringstream(&args);
        assert!(out.status.success(), "{args:?}\n{}", out.dump());
        assert_eq!(out.field("mode"), mode, "{}", out.dump());
        assert_eq!(out.field("errors"), "0", "{}", out.dump());
        let rate: f64 = out.field("msgs_per_s").parse().expect("a number");
        assert!(rate > 0.0, "{}", out.dump());
        for key in ["conns", "size", "mb_per_s", "p50_us", "p99_us", "p999_us"] {
            out.field(key);
        }
    }
    // A client that resets mid-echo ended its own connection: not a server failure.
    let mut rude = TcpStream::connect(&echo.addr).expect("connect");
    rude.write_all(&[7u8; 100_000]).expect("send");
    socket2::SockRef::from(&rude)
        .set_linger(Some(Duration::ZERO))
        .expect("linger 0");
    drop(rude);
    std::thread::sleep(Duration::from_millis(200));
    let summary = echo.terminate();
    assert!(summary.contains("served 7 connections"), "{summary}");
    assert!(summary.contains(" 0 failed"), "{summary}");
}

#[test]
fn load_over_a_unix_socket() {
    let dir = std::env::temp_dir().join(format!("ringstream-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("echo.sock");
    let path = path.to_str().expect("utf-8 path");
    let echo = Echo::start(&["--unix", path, "--cores", "1"]);
    assert_eq!(echo.addr, path);
    let out = ringstream(&[
        "load",
        "--unix",
        path,
        "--conns",
        "2",
        "--duration",
        "300ms",
    ]);
    assert!(out.status.success(), "{}", out.dump());
    assert_eq!(out.field("errors"), "0");
    echo.terminate();
    assert!(
        !std::path::Path::new(path).exists(),
        "the socket file is removed"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn load_with_nothing_listening_fails_clearly() {
    // Bind and drop: a port that was just free, so nothing listens there now.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let out = ringstream(&["load", "--addr", &addr, "--conns", "3", "--duration", "1s"]);
    assert_eq!(out.status.code(), Some(1), "{}", out.dump());
    assert!(
        out.stderr.contains("could not open 3 of 3 connections")
            && out.stderr.contains(&addr)
            && out.stderr.to_lowercase().contains("refused"),
        "{}",
        out.dump()
    );
    // No result line that a script could read as a clean run.
    assert!(!out.stdout.contains("errors=0"), "{}", out.dump());
}

/// What a test's echo server (on std threads) does to each connection's stream.
#[derive(Debug, Clone, Copy)]
enum Script {
    /// Flips the bits of the byte at this stream offset.
    Corrupt(u64),
    /// Stops echoing for `pause` once `after` bytes were echoed, then goes on.
    Pause { after: u64, pause: Duration },
    /// Accepts and holds the connection (for 15 s at most) without reading or echoing.
    Silent,
}

/// An echo server on std threads that follows `script`; serves `conns` connections, then
/// stops accepting.
fn scripted_echo(conns: usize, script: Script) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    thread::spawn(move || {
        for _ in 0..conns {
            let Ok((mut socket, _)) = listener.accept() else {
                return;
            };
            thread::spawn(move || {
                if let Script::Silent = script {
                    thread::sleep(Duration::from_secs(15));
                    return;
                }
                let _ = socket.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = socket.set_nodelay(true);
                let mut offset = 0u64;
                let mut paused = false;
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = socket.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    match script {
                        Script::Corrupt(at) if (offset..offset + n as u64).contains(&at) => {
                            buf[(at - offset) as usize] ^= 0xff;
                        }
                        Script::Pause { after, pause } if !paused && offset >= after => {
                            paused = true;
                            thread::sleep(pause);
                        }
                        _ => {}
                    }
                    offset += n as u64;
                    if socket.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = socket.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    addr
}

#[test]
fn load_against_a_corrupting_server_reports_errors() {
    for (mode, size) in [("pingpong", "64"), ("stream", "4KiB")] {
        let addr = scripted_echo(2, Script::Corrupt(100));
        let out = ringstream(&[
            "load",
            "--addr",
            &addr,
            "--mode",
            mode,
            "--size",
            size,
            "--conns",
            "2",
            "--duration",
            "1s",
        ]);
        assert_eq!(out.status.code(), Some(1), "{mode}\n{}", out.dump());
        assert_eq!(out.field("errors"), "2", "{mode}\n{}", out.dump());
        let expected = match mode {
            "pingpong" => "echo of message 1 differs at byte 36 of 64",
            _ => "echoed stream byte 100 differs",
        };
        assert!(out.stdout.contains(expected), "{mode}\n{}", out.dump());
    }
}

#[test]
fn bad_arguments_are_usage_errors() {
    let cases: [(&[&str], &str); 14] = [
        (&["load", "--duration", "ten"], "invalid duration"),
        (&["load", "--addr", "127.0.0.1"], "expected HOST:PORT"),
        (&["echo", "--addr", "localhost"], "expected HOST:PORT"),
        (&["load", "--size", "0"], "at least 1 byte"),
        (&["load", "--size", "12 parsecs"], "invalid size"),
        (&["load", "--conns", "0"], "--conns"),
        (&["bench", "--scenario", "nope"], "pp64x4k"),
        (&["echo", "--api", "callbacks"], "buffered"),
        (&["bench", "--api", "callbacks"], "protocol"),
        (&["bench", "--runtime", "--api", "protocol"], "--api"),
        // Combinations checked after parsing are usage errors too, as the help says.
        (
            &["load", "--mode", "stream", "--pipeline", "4"],
            "--pipeline applies to",
        ),
        (&["load", "--mode", "reset", "--pipeline", "2"], "Usage:"),
        // Every subcommand takes the same number of cores.
        (&["echo", "--cores", "1025"], "1..=1024"),
        (&["load", "--cores", "1025"], "1..=1024"),
    ];
    for (args, message) in cases {
        let out = ringstream(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}\n{}", out.dump());
        assert!(out.stderr.contains(message), "{args:?}\n{}", out.dump());
    }
    let out = ringstream(&["echo", "--addr", "256.1.2.3:1"]);
    assert_eq!(out.status.code(), Some(1), "{}", out.dump());
    assert!(
        out.stderr.contains("ringstream echo: error:"),
        "{}",
        out.dump()
    );
}

#[test]
fn a_short_bench_prints_its_table() {
    for (api, named) in [(None, "stream"), (Some("protocol"), "protocol")] {
        let mut args = vec!["bench", "--scenario", "pp1", "--duration", "300ms"];
        args.extend(api.map(|a| ["--api", a]).iter().flatten());
        let out = ringstream(&args);
        assert!(out.status.success(), "{args:?}\n{}", out.dump());
        assert!(
            out.stdout.contains(&format!("(echo API: {named})")),
            "{args:?}\n{}",
            out.dump()
        );
        let row = out
            .stdout
            .lines()
            .find(|l| l.starts_with("pp1 "))
            .unwrap_or_else(|| panic!("no pp1 row\n{}", out.dump()));
        assert!(row.trim_end().ends_with(" 0"), "errors column: {row}");
        assert!(out.stdout.contains("srv cpu µs/msg"), "{}", out.dump());
    }
}

/// `echo --api protocol` and `--api buffered` echo every byte of a message larger than one
/// receive, close after the client's EOF, carry `load` in both modes with no error, and
/// stop reading a client that does not read its echo.
#[test]
fn echo_api_protocol_and_buffered_echo_every_byte() {
    for api in ["protocol", "buffered"] {
        let echo = Echo::start(&["--addr", "127.0.0.1:0", "--cores", "1", "--api", api]);
        let message: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut client = TcpStream::connect(&echo.addr).expect("connect");
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut reader = client.try_clone().expect("clone");
        // Read while writing: the echo pauses reading while the client does not read.
        let receiving = thread::spawn(move || {
            let mut back = Vec::new();
            reader.read_to_end(&mut back).map(|_| back)
        });
        client.write_all(&message).expect("send");
        client
            .shutdown(std::net::Shutdown::Write)
            .expect("send EOF");
        let back = receiving
            .join()
            .expect("reader thread")
            .expect("the echo, then EOF from the server");
        assert_eq!(back.len(), message.len(), "--api {api}: echoed length");
        assert!(back == message, "--api {api}: echoed bytes differ");
        for mode in ["pingpong", "stream"] {
            let args = [
                "load",
                "--addr",
                &echo.addr,
                "--mode",
                mode,
                "--conns",
                "2",
                "--size",
                "16KiB",
                "--duration",
                "300ms",
            ];
            let out = ringstream(&args);
            assert!(out.status.success(), "--api {api} {args:?}\n{}", out.dump());
            assert_eq!(out.field("errors"), "0", "--api {api}\n{}", out.dump());
        }
        let sent = send_without_reading(&echo.addr);
        assert!(
            sent < SEND_CAP,
            "--api {api}: the server read all {sent} bytes of a client that reads nothing"
        );
        let summary = echo.terminate();
        assert!(
            summary.contains("served 6 connections") && summary.contains(" 0 failed"),
            "--api {api}: {summary}"
        );
    }
}

/// Where [`send_without_reading`] gives up: far more than the socket buffers of both ends
/// on loopback hold (a few MB each way), so reaching it means the server read on while it
/// could not send.
const SEND_CAP: usize = 64 << 20;

/// Sends to an echo server without ever reading, until the sends have been refused for
/// 300 ms in a row or [`SEND_CAP`] bytes went out (10 s at most); how many bytes went.
fn send_without_reading(addr: &str) -> usize {
    let mut client = TcpStream::connect(addr).expect("connect");
    client.set_nonblocking(true).expect("nonblocking");
    let chunk = vec![5u8; 64 * 1024];
    let (mut sent, mut refused_since) = (0usize, None);
    let deadline = Instant::now() + Duration::from_secs(10);
    while sent < SEND_CAP && Instant::now() < deadline {
        match client.write(&chunk) {
            Ok(n) => {
                sent += n;
                refused_since = None;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let since = *refused_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= Duration::from_millis(300) {
                    break;
                }
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("send to the echo failed: {e}"),
        }
    }
    sent
}

#[test]
fn the_corrupting_server_really_corrupts() {
    // Guards the test above: the helper flips exactly the byte it says.
    let addr = scripted_echo(1, Script::Corrupt(3));
    let mut socket = TcpStream::connect(&addr).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    socket.write_all(b"abcdef").expect("write");
    let mut back = [0u8; 6];
    socket.read_exact(&mut back).expect("read");
    assert_eq!(&back, b"abc\x9bef");
}

/// Runs `ringstream load` against `addr` with `args` to completion.
fn load(addr: &str, args: &[&str]) -> Output {
    let mut all = vec!["load", "--addr", addr];
    all.extend_from_slice(args);
    ringstream(&all)
}

#[test]
fn h_load_counts_connections_that_never_get_an_echo_as_stalled() {
    for mode in ["pingpong", "stream"] {
        let addr = scripted_echo(2, Script::Silent);
        let out = load(
            &addr,
            &[
                "--mode",
                mode,
                "--conns",
                "2",
                "--duration",
                "3s",
                "--stall-timeout",
                "1s",
            ],
        );
        assert_eq!(out.status.code(), Some(1), "{mode}\n{}", out.dump());
        assert_eq!(out.field("stalls"), "2", "{mode}\n{}", out.dump());
        assert_eq!(out.field("errors"), "2", "{mode}\n{}", out.dump());
        // A stalled connection waits until the end of the run: the gap is the whole run.
        let gap: u64 = out.field("max_gap_ms").parse().expect("a number");
        assert!((2_900..6_000).contains(&gap), "{mode}\n{}", out.dump());
        assert!(
            out.stdout
                .contains("error: connection 0: stalled: no echo for")
                && out.stdout.contains("max gap ms"),
            "{mode}\n{}",
            out.dump()
        );
    }
}

/// `--window` bounds what a stream connection sends ahead of its echo: against a server
/// that reads everything and echoes nothing, a 64 KiB window lets exactly four 16 KiB
/// chunks out (unbounded, the kernel would take megabytes).
#[test]
fn load_stream_sends_at_most_its_window_ahead_of_the_echo() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let Ok((mut socket, _)) = listener.accept() else {
            return;
        };
        let _ = socket.set_read_timeout(Some(Duration::from_secs(10)));
        let mut total = 0usize;
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = socket.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n;
        }
        let _ = tx.send(total);
    });
    let out = load(
        &addr,
        &[
            "--mode",
            "stream",
            "--size",
            "16KiB",
            "--window",
            "64KiB",
            "--duration",
            "1s",
            "--stall-timeout",
            "500ms",
        ],
    );
    assert_eq!(out.field("stalls"), "1", "{}", out.dump());
    let received = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the server saw the connection end");
    assert_eq!(received, 64 * 1024, "{}", out.dump());
}

#[test]
fn h_load_counts_a_stall_the_echo_recovers_from() {
    let addr = scripted_echo(
        1,
        Script::Pause {
            after: 1000,
            pause: Duration::from_millis(1500),
        },
    );
    let out = load(
        &addr,
        &["--duration", "3s", "--stall-timeout", "1s", "--size", "100"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", out.dump());
    assert_eq!(
        (out.field("stalls"), out.field("errors")),
        ("1".to_owned(), "1".to_owned()),
        "{}",
        out.dump()
    );
    let gap: u64 = out.field("max_gap_ms").parse().expect("a number");
    assert!((1_400..3_000).contains(&gap), "{}", out.dump());
    assert!(out.stdout.contains("(then it resumed)"), "{}", out.dump());
    // The echo went on after the pause: more than the 10 messages before it.
    let rate: f64 = out.field("msgs_per_s").parse().expect("a number");
    assert!(rate > 10.0, "{}", out.dump());
}

#[test]
fn sigint_stops_load_with_the_results_so_far() {
    let echo = Echo::start(&["--addr", "127.0.0.1:0", "--cores", "1"]);
    let mut run = Live::start(command(&[
        "load",
        "--addr",
        &echo.addr,
        "--mode",
        "stream",
        "--size",
        "4KiB",
        "--conns",
        "2",
        "--duration",
        "60s",
    ]));
    // Long enough to be past connecting and measuring.
    thread::sleep(Duration::from_secs(1));
    let asked = Instant::now();
    signal(&run.guard.0, "INT");
    run.line(true, "stopping", Duration::from_secs(5));
    let out = run.finish(Duration::from_secs(10));
    assert!(asked.elapsed() < Duration::from_secs(10));
    assert!(out.status.success(), "{}", out.dump());
    assert!(
        out.stdout.contains("stopped early by a signal") && out.stdout.contains("MB/s"),
        "{}",
        out.dump()
    );
    assert_eq!(out.field("errors"), "0", "{}", out.dump());
    let rate: f64 = out.field("msgs_per_s").parse().expect("a number");
    assert!(rate > 0.0, "{}", out.dump());
    echo.terminate();
}

#[test]
fn a_closed_stdout_is_not_a_crash() {
    // `ringstream echo | head -1`: the reader leaves after the first line.
    let child = command(&["echo", "--addr", "127.0.0.1:0", "--cores", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start echo");
    let mut guard = Guard(child);
    let stderr = collect(guard.0.stderr.take().expect("stderr"));
    let stdout = guard.0.stdout.take().expect("stdout");
    let (first_tx, first_rx) = mpsc::channel();
    thread::spawn(move || {
        let mut first = String::new();
        let _ = BufReader::new(stdout).read_line(&mut first);
        let _ = first_tx.send(first);
        // The pipe's read end closes here.
    });
    let first = first_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("echo prints its address");
    let addr = first.trim().trim_start_matches("listening on ").to_owned();
    let out = load(&addr, &["--conns", "2", "--duration", "200ms"]);
    assert!(out.status.success(), "{}", out.dump());
    // Its summary now goes to a pipe nobody reads.
    signal(&guard.0, "TERM");
    let status = wait_for(&mut guard.0, Duration::from_secs(10)).expect("echo ends");
    let stderr = stderr
        .recv_timeout(Duration::from_secs(5))
        .unwrap_or_default();
    assert!(status.success(), "{status}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // `ringstream load ... | true`: stdout closed before the first line.
    let server = Echo::start(&["--addr", "127.0.0.1:0", "--cores", "1"]);
    let mut child = Command::new(BIN)
        .args(["load", "--addr", &server.addr, "--duration", "200ms"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start load");
    drop(child.stdout.take());
    let mut guard = Guard(child);
    let stderr = collect(guard.0.stderr.take().expect("stderr"));
    let status = wait_for(&mut guard.0, COMMAND_LIMIT).expect("load ends");
    let stderr = stderr
        .recv_timeout(Duration::from_secs(5))
        .unwrap_or_default();
    assert!(status.success(), "{status}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    server.terminate();
}

/// Opens a connection to `addr` and waits for one echo: the server has accepted it and
/// its handler is running (waiting for more, or for EOF).
fn open_idle(addr: &str) -> TcpStream {
    let mut socket = TcpStream::connect(addr).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    socket.write_all(b"x").expect("write");
    let mut back = [0u8; 1];
    socket.read_exact(&mut back).expect("the echo");
    socket
}

#[test]
fn h3_echo_grace_bounds_the_shutdown() {
    let mut echo = Live::start(command(&[
        "echo",
        "--addr",
        "127.0.0.1:0",
        "--cores",
        "1",
        "--grace",
        "300ms",
    ]));
    let addr = echo.listening();
    let _idle = open_idle(&addr);
    let asked = Instant::now();
    signal(&echo.guard.0, "TERM");
    let out = echo.finish(Duration::from_secs(10));
    // The default grace is 5 s.
    assert!(asked.elapsed() < Duration::from_secs(3), "{}", out.dump());
    assert!(out.status.success(), "{}", out.dump());
    assert!(
        out.stdout.contains("1 aborted at shutdown") && out.stderr.contains("get 300ms"),
        "{}",
        out.dump()
    );
}

#[test]
fn h3_a_second_signal_ends_the_grace_period_at_once() {
    let mut echo = Live::start(command(&[
        "echo",
        "--addr",
        "127.0.0.1:0",
        "--cores",
        "1",
        "--grace",
        "60s",
    ]));
    let addr = echo.listening();
    let mut idle = open_idle(&addr);
    signal(&echo.guard.0, "TERM");
    echo.line(true, "shutting down", Duration::from_secs(5));
    let asked = Instant::now();
    signal(&echo.guard.0, "INT");
    let out = echo.finish(Duration::from_secs(10));
    assert!(asked.elapsed() < Duration::from_secs(5), "{}", out.dump());
    // 128 + SIGINT.
    assert_eq!(out.status.code(), Some(130), "{}", out.dump());
    assert!(
        out.stdout.contains("1 aborted at shutdown")
            && out
                .stderr
                .contains("SIGINT: aborting 1 open connection now"),
        "{}",
        out.dump()
    );
    // The connection was aborted, not closed gracefully.
    let mut rest = Vec::new();
    assert!(idle.read_to_end(&mut rest).is_err(), "{rest:?}");
}

/// prlimit (util-linux), if installed.
fn prlimit() -> Option<&'static str> {
    ["/usr/bin/prlimit", "/bin/prlimit"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
}

#[test]
fn h5_the_servers_warnings_reach_stderr_unless_rust_log_is_off() {
    let Some(prlimit) = prlimit() else {
        println!("skipped: prlimit (util-linux) is not installed; ci/install-deps.sh installs it");
        return;
    };
    // More connections than the server has descriptors for.
    const CONNS: usize = 48;
    for rust_log in [None, Some("off")] {
        let mut command = Command::new(prlimit);
        command.args(["--nofile=32:32", "--", BIN, "echo"]).args([
            "--addr",
            "127.0.0.1:0",
            "--cores",
            "1",
        ]);
        match rust_log {
            Some(level) => command.env("RUST_LOG", level),
            None => command.env_remove("RUST_LOG"),
        };
        let mut echo = Live::start(command);
        let addr = echo.listening();
        let mut conns: Vec<TcpStream> = (0..CONNS)
            .map(|_| TcpStream::connect(&addr).expect("connect (backlog)"))
            .collect();
        for c in &mut conns {
            c.write_all(b"x").expect("write");
        }
        // The last one is not served: the server is out of descriptors (and backing off).
        let last = conns.last_mut().expect("connections");
        last.set_read_timeout(Some(Duration::from_millis(500)))
            .expect("timeout");
        assert!(last.read(&mut [0u8; 1]).is_err(), "{rust_log:?}: served");
        if rust_log.is_none() {
            let line = echo.line(true, "pausing accepts", Duration::from_secs(5));
            assert!(line.starts_with("WARN ringstream"), "{line}");
        }
        drop(conns);
        signal(&echo.guard.0, "TERM");
        let out = echo.finish(Duration::from_secs(10));
        assert!(out.status.success(), "{rust_log:?}\n{}", out.dump());
        let warned = out.stderr.contains("out of file descriptors");
        assert_eq!(warned, rust_log.is_none(), "{rust_log:?}\n{}", out.dump());
    }
}

#[test]
fn a_short_soak_passes_against_the_real_server() {
    let out = ringstream(&[
        "soak",
        "--phase-duration",
        "1s",
        "--phase",
        "stream:8:16KiB",
        "--phase",
        "pingpong:8:64",
    ]);
    assert!(out.status.success(), "{}", out.dump());
    let last = out.stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("SOAK result=pass phases=2 errors=0 stalls=0 "),
        "{}",
        out.dump()
    );
    for row in ["stream ", "pingpong "] {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.starts_with(row) && l.contains(" MiB")),
            "no {row}row\n{}",
            out.dump()
        );
    }
    // The server was read: its descriptors grew with the 8 connections and came back.
    let fields = out.last_line_fields("SOAK");
    let field = |key: &str| -> u64 {
        fields
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {last}"))
    };
    assert!(field("fds_peak") >= field("fds_before") + 8, "{last}");
    assert_eq!(field("fds_after"), field("fds_before"), "{last}");
    assert!(field("rss_before_kib") > 0, "{last}");
    assert!(
        out.stdout.contains("served 16 connections"),
        "{}",
        out.dump()
    );
}

/// `echo --idle-timeout` closes a client that sends nothing; `--reuse-port` is needed to
/// start a second server on a port one already listens on (2 cores each, so the shards
/// themselves share with SO_REUSEPORT).
#[test]
fn echo_protections_idle_timeout_and_a_busy_port() {
    let echo = Echo::start(&[
        "--addr",
        "127.0.0.1:0",
        "--cores",
        "2",
        "--idle-timeout",
        "300ms",
    ]);
    let mut idle = TcpStream::connect(&echo.addr).expect("connect");
    idle.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let started = Instant::now();
    let mut byte = [0u8; 1];
    let n = idle
        .read(&mut byte)
        .expect("the server closes, not the read timeout");
    assert_eq!(n, 0, "EOF from the server");
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "closed after {:?}, before the idle timeout",
        started.elapsed()
    );

    let second = ringstream(&["echo", "--addr", &echo.addr, "--cores", "2"]);
    assert!(!second.status.success(), "{}", second.dump());
    assert!(
        second.stderr.contains("in use") && second.stderr.contains("--reuse-port"),
        "the error names the way to share the port:\n{}",
        second.dump()
    );
    echo.terminate();
}

/// `load --mode reset` ends every connection with a reset while its echo is still on the
/// way (a server's fault path at scale); `--mode stream` ends with a graceful close.
#[test]
fn load_reset_mode_ends_connections_with_a_reset() {
    for (mode, want_reset) in [("reset", true), ("stream", false)] {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let Ok((mut socket, _)) = listener.accept() else {
                return;
            };
            let _ = socket.set_read_timeout(Some(Duration::from_secs(10)));
            let mut buf = vec![0u8; 64 * 1024];
            let ended = loop {
                match socket.read(&mut buf) {
                    Ok(0) => break "eof",
                    Ok(n) => {
                        if let Err(e) = socket.write_all(&buf[..n]) {
                            break if e.kind() == std::io::ErrorKind::ConnectionReset
                                || e.kind() == std::io::ErrorKind::BrokenPipe
                            {
                                "reset"
                            } else {
                                "other"
                            };
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break "reset",
                    Err(_) => break "other",
                }
            };
            let _ = tx.send(ended);
        });
        let out = load(
            &addr,
            &["--mode", mode, "--size", "16KiB", "--duration", "1s"],
        );
        assert!(out.status.success(), "{mode}\n{}", out.dump());
        let ended = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the server saw the connection end");
        assert_eq!(
            ended == "reset",
            want_reset,
            "{mode}: {ended}\n{}",
            out.dump()
        );
    }
}

/// `echo --tls-cert/--tls-key` and `load --tls-ca` (feature `tls`): both modes through TLS
/// with a certificate openssl made, and a TLS load against a plain echo fails clearly.
#[cfg(feature = "tls")]
#[test]
fn load_over_tls_against_echo_over_tls() {
    let dir = std::env::temp_dir().join(format!("ringstream-cli-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl (ci/install-deps.sh installs it)");
    assert!(made.status.success(), "{made:?}");
    let (cert, key) = (cert.to_str().expect("utf-8"), key.to_str().expect("utf-8"));
    let echo = Echo::start(&[
        "--addr",
        "127.0.0.1:0",
        "--cores",
        "1",
        "--tls-cert",
        cert,
        "--tls-key",
        key,
    ]);
    for mode in ["pingpong", "stream"] {
        let args = [
            "load",
            "--addr",
            &echo.addr,
            "--mode",
            mode,
            "--conns",
            "4",
            "--size",
            "16KiB",
            "--duration",
            "1s",
            "--tls-ca",
            cert,
        ];
        let out = ringstream(&args);
        assert!(out.status.success(), "{args:?}\n{}", out.dump());
        assert_eq!(out.field("errors"), "0", "{}", out.dump());
        let rate: f64 = out.field("msgs_per_s").parse().expect("a number");
        assert!(rate > 0.0, "{}", out.dump());
    }
    echo.terminate();

    let plain = Echo::start(&["--addr", "127.0.0.1:0", "--cores", "1"]);
    let out = ringstream(&[
        "load",
        "--addr",
        &plain.addr,
        "--conns",
        "1",
        "--duration",
        "1s",
        "--tls-ca",
        cert,
    ]);
    assert!(!out.status.success(), "{}", out.dump());
    assert!(out.stderr.contains("TLS"), "{}", out.dump());
    plain.terminate();
    let _ = std::fs::remove_dir_all(&dir);
}
