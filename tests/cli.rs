//! The `ringstream` command, run as a user would: `--help` everywhere, `echo` with `load`
//! against it (TCP and Unix, ping-pong and stream), SIGTERM shutdown, clear failures
//! (nothing listening, a server that corrupts the echo, bad arguments), and a short
//! `bench`. Every wait is bounded and every child is killed if a test fails.

// The command exists only with the `cli` feature (on by default).
#![cfg(feature = "cli")]

#[path = "support/child.rs"]
mod child;

use child::{collect, wait_for, Echo, Guard, BIN};

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::Receiver;
use std::thread;
use std::time::Duration;

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
        let last = self.stdout.lines().last().unwrap_or_default();
        let fields = last
            .strip_prefix("RESULT ")
            .unwrap_or_else(|| panic!("the last line is not a RESULT line:\n{}", self.dump()));
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

#[test]
fn every_command_has_help_naming_its_options() {
    let cases: [(&[&str], &[&str]); 4] = [
        (&[], &["echo", "load", "bench"]),
        (&["echo"], &["--addr", "--unix", "--cores", "SIGTERM"]),
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
                "RESULT mode=",
            ],
        ),
        (
            &["bench"],
            &["--duration", "--scenario", "--runtime", "pp64x4k"],
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
}

/// An echo server on std threads that flips the bits of the byte at stream offset
/// `at` of every connection; serves `conns` connections, then stops accepting.
fn corrupting_echo(conns: usize, at: u64) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    thread::spawn(move || {
        for _ in 0..conns {
            let Ok((mut socket, _)) = listener.accept() else {
                return;
            };
            thread::spawn(move || {
                let _ = socket.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = socket.set_nodelay(true);
                let mut offset = 0u64;
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = socket.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if (offset..offset + n as u64).contains(&at) {
                        buf[(at - offset) as usize] ^= 0xff;
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
        let addr = corrupting_echo(2, 100);
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
    let cases: [(&[&str], &str); 5] = [
        (&["load", "--duration", "ten"], "invalid duration"),
        (&["load", "--size", "0"], "at least 1 byte"),
        (&["load", "--size", "12 parsecs"], "invalid size"),
        (&["load", "--conns", "0"], "--conns"),
        (&["bench", "--scenario", "nope"], "pp64x4k"),
    ];
    for (args, message) in cases {
        let out = ringstream(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}\n{}", out.dump());
        assert!(out.stderr.contains(message), "{args:?}\n{}", out.dump());
    }
    let out = ringstream(&["load", "--mode", "stream", "--pipeline", "4"]);
    assert_eq!(out.status.code(), Some(1), "{}", out.dump());
    assert!(
        out.stderr.contains("--pipeline applies to"),
        "{}",
        out.dump()
    );
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
    let out = ringstream(&["bench", "--scenario", "pp1", "--duration", "300ms"]);
    assert!(out.status.success(), "{}", out.dump());
    let row = out
        .stdout
        .lines()
        .find(|l| l.starts_with("pp1 "))
        .unwrap_or_else(|| panic!("no pp1 row\n{}", out.dump()));
    assert!(row.trim_end().ends_with(" 0"), "errors column: {row}");
    assert!(out.stdout.contains("srv cpu µs/msg"), "{}", out.dump());
}

#[test]
fn the_corrupting_server_really_corrupts() {
    // Guards the test above: the helper flips exactly the byte it says.
    let addr = corrupting_echo(1, 3);
    let mut socket = TcpStream::connect(&addr).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    socket.write_all(b"abcdef").expect("write");
    let mut back = [0u8; 6];
    socket.read_exact(&mut back).expect("read");
    assert_eq!(&back, b"abc\x9bef");
}
