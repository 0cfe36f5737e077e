//! Subprocesses (asyncio's `asyncio.subprocess`): the asyncio documentation's examples,
//! `communicate` without deadlock, signals and status, and no zombies left behind.

mod support;

use std::time::{Duration, Instant};

use ringstream::process::{Child, Command, Stdio};
use ringstream::protocol::{subprocess_exec, SubprocessProtocol, SubprocessTransport};
use ringstream::time::{sleep, timeout};

use support::{run_bounded, wait_until};

const BOUND: Duration = Duration::from_secs(30);

fn have_python() -> bool {
    std::process::Command::new("python3")
        .arg("-c")
        .arg("pass")
        .status()
        .is_ok_and(|s| s.success())
}

/// The children of this process the kernel holds as zombies (state Z in /proc).
fn zombie_children() -> Vec<u32> {
    let me = std::process::id().to_string();
    let mut zombies = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return zombies;
    };
    for entry in dir.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.first() == Some(&"Z") && fields.get(1) == Some(&me.as_str()) {
            if let Ok(pid) = entry.file_name().to_string_lossy().parse() {
                zombies.push(pid);
            }
        }
    }
    zombies
}

/// Whether `pid` still exists at all (running or zombie): a reaped child does not.
fn exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn docs_date_example_reads_the_childs_output() {
    let (line, code) = run_bounded(BOUND, async {
        let mut child = Command::new("date").stdout(Stdio::piped()).spawn()?;
        let stdout = child.stdout.as_mut().expect("piped");
        let line = stdout.read_line().await?;
        let status = child.wait().await?;
        Ok((line, status.code()))
    });
    assert!(line.ends_with(b"\n") && line.len() > 10, "a date: {line:?}");
    assert_eq!(code, Some(0));
}

#[test]
fn docs_python_example_prints_and_exits() {
    if !have_python() {
        eprintln!("python3 not found: skipped");
        return;
    }
    let output = run_bounded(BOUND, async {
        Command::new("python3")
            .args([
                "-c",
                "import sys; print('hello from', 'python'); sys.exit(4)",
            ])
            .output()
            .await
    });
    assert_eq!(output.stdout, b"hello from python\n");
    assert_eq!(output.status.code(), Some(4));
}

#[test]
fn docs_shell_example_reports_exit_code_and_stderr() {
    let (output, returncode) = run_bounded(BOUND, async {
        let mut child = Command::shell("ls /zzz-ringstream-missing")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let output = child.communicate(&[]).await?;
        Ok((output, child.returncode()))
    });
    assert!(output.stdout.is_empty());
    assert!(!output.stderr.is_empty(), "ls complained on stderr");
    assert!(
        matches!(returncode, Some(code) if code > 0),
        "{returncode:?}"
    );
}

#[test]
fn communicate_moves_10_mb_in_and_out_without_deadlock() {
    let input: Vec<u8> = (0..10 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let output = run_bounded(BOUND, async {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        child.communicate(&input).await
    });
    assert!(output.status.success());
    assert_eq!(output.stdout.len(), input.len());
    assert!(output.stdout == input, "cat gave back what it got");
    assert!(output.stderr.is_empty());
}

#[test]
fn thousand_short_children_awaited_and_dropped_leave_no_zombie() {
    let pids = run_bounded(BOUND, async {
        let mut pids = Vec::new();
        for i in 0..1_000 {
            let mut child = Command::new("true").spawn()?;
            pids.push(child.pid());
            if i % 2 == 0 {
                assert!(child.wait().await?.success());
            } else {
                drop(child);
            }
        }
        // The dropped ones are reaped by tasks on this runtime: keep it running.
        let deadline = Instant::now() + Duration::from_secs(20);
        while pids.iter().any(|&pid| exists(pid)) && Instant::now() < deadline {
            sleep(Duration::from_millis(10)).await;
        }
        Ok(pids)
    });
    let left: Vec<u32> = pids.iter().copied().filter(|&pid| exists(pid)).collect();
    assert!(left.is_empty(), "not reaped: {left:?}");
    let zombies: Vec<u32> = zombie_children()
        .into_iter()
        .filter(|pid| pids.contains(pid))
        .collect();
    assert!(zombies.is_empty(), "zombies: {zombies:?}");
}

#[test]
fn a_child_dropped_after_its_runtime_is_reaped_by_the_fallback() {
    let (pid_after, pid_during, pid_in_task) = {
        let rt = ringstream::Runtime::new().expect("runtime");
        let (child, pid_during, pid_in_task) = rt.block_on(async {
            // Held by a task the shutdown drops: the child is dropped during shutdown.
            let held = Command::new("sleep").arg("0.2").spawn().expect("spawn");
            let pid_in_task = held.pid();
            drop(ringstream::spawn(async move {
                sleep(Duration::from_secs(60)).await;
                drop(held);
            }));
            let child = Command::new("sleep").arg("0.2").spawn().expect("spawn");
            // Dropped on the runtime: its reaper task is still waiting when the runtime
            // shuts down.
            let other = Command::new("sleep").arg("0.2").spawn().expect("spawn");
            let pid = other.pid();
            drop(other);
            (child, pid, pid_in_task)
        });
        drop(rt);
        let pid = child.pid();
        drop(child); // no runtime at all now
        (pid, pid_during, pid_in_task)
    };
    wait_until("all three children reaped", Duration::from_secs(10), || {
        !exists(pid_after) && !exists(pid_during) && !exists(pid_in_task)
    });
}

#[test]
fn kill_on_drop_kills_and_reaps() {
    let pid = run_bounded(BOUND, async {
        let child = Command::new("sleep").arg("60").kill_on_drop(true).spawn()?;
        let pid = child.pid();
        drop(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while exists(pid) && Instant::now() < deadline {
            sleep(Duration::from_millis(5)).await;
        }
        Ok(pid)
    });
    assert!(!exists(pid), "killed and reaped well before its 60 s");
}

#[test]
fn kill_terminate_send_signal_set_the_returncode() {
    run_bounded(BOUND, async {
        for (signal, send) in [
            (
                libc::SIGKILL,
                Child::kill as fn(&Child) -> std::io::Result<()>,
            ),
            (libc::SIGTERM, Child::terminate),
            (libc::SIGINT, |c: &Child| c.send_signal(libc::SIGINT)),
        ] {
            let mut child = Command::new("sleep").arg("60").spawn()?;
            assert_eq!(child.try_wait()?, None, "sleeping");
            assert_eq!(child.returncode(), None);
            send(&child)?;
            let status = child.wait().await?;
            assert_eq!(
                std::os::unix::process::ExitStatusExt::signal(&status),
                Some(signal)
            );
            assert_eq!(child.returncode(), Some(-signal));
            assert_eq!(child.try_wait()?, Some(status), "reaped once, remembered");
            // After the exit: nothing to signal, and no error.
            child.kill()?;
        }
        Ok(())
    });
}

#[test]
fn try_wait_sees_the_exit_without_waiting() {
    run_bounded(BOUND, async {
        let mut child = Command::shell("exit 7").spawn()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            assert!(Instant::now() < deadline, "exit 7 did not exit");
            sleep(Duration::from_millis(5)).await;
        };
        assert_eq!(status.code(), Some(7));
        assert_eq!(child.returncode(), Some(7));
        Ok(())
    });
}

#[test]
fn a_child_killed_mid_write_ends_its_stdout_with_eof() {
    run_bounded(BOUND, async {
        let mut child = Command::new("yes").stdout(Stdio::piped()).spawn()?;
        let stdout = child.stdout.as_mut().expect("piped");
        let first = stdout.read(4096).await?;
        assert!(first.starts_with(b"y\n"));
        child.kill()?;
        let stdout = child.stdout.as_mut().expect("piped");
        let rest = timeout(Duration::from_secs(10), stdout.read_to_end())
            .await
            .expect("EOF after the kill, not a hang")?;
        assert!(rest.iter().all(|&b| b == b'y' || b == b'\n'));
        assert!(stdout.at_eof());
        assert_eq!(child.wait().await?.code(), None, "killed");
        Ok(())
    });
}

#[test]
fn a_child_killed_while_fed_fails_the_writer_with_broken_pipe() {
    run_bounded(BOUND, async {
        let mut child = Command::new("sleep")
            .arg("60")
            .stdin(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take().expect("piped");
        stdin.write(&vec![b'x'; 1 << 20])?;
        child.kill()?;
        child.wait().await?;
        let err = timeout(Duration::from_secs(10), stdin.drain())
            .await
            .expect("an error, not a hang")
            .expect_err("nobody reads");
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "{err}");
        Ok(())
    });
}

#[test]
fn spawn_errors_name_the_cause() {
    let outside = Command::new("true").spawn().expect_err("no runtime");
    assert_eq!(outside.kind(), std::io::ErrorKind::Unsupported);
    let missing = run_bounded(BOUND, async {
        Ok(Command::new("ringstream-no-such-program")
            .spawn()
            .expect_err("not found"))
    });
    assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    assert!(missing.to_string().contains("ringstream-no-such-program"));
}

/// What a [`SubprocessProtocol`] was told, in order.
#[derive(Debug, Clone, PartialEq)]
enum Told {
    Made,
    Data(i32, Vec<u8>),
    PipeLost(i32, Option<std::io::ErrorKind>),
    Exited(Option<i32>),
    Lost(bool),
    PauseWriting,
}

type Log = std::rc::Rc<std::cell::RefCell<Vec<Told>>>;

/// Records every callback; on `connection_made` writes `input` to stdin (if piped) and
/// closes it.
struct Recorder {
    log: Log,
    input: &'static [u8],
    transport: Option<SubprocessTransport>,
}

impl SubprocessProtocol for Recorder {
    fn connection_made(&mut self, transport: SubprocessTransport) {
        self.log.borrow_mut().push(Told::Made);
        if let Some(stdin) = transport.get_pipe_transport(0) {
            stdin.write(self.input).expect("stdin open");
            stdin.close();
        }
        self.transport = Some(transport);
    }
    fn pipe_data_received(&mut self, fd: i32, data: bytes::Bytes) {
        self.log.borrow_mut().push(Told::Data(fd, data.to_vec()));
    }
    fn pipe_connection_lost(&mut self, fd: i32, err: Option<std::io::Error>) {
        self.log
            .borrow_mut()
            .push(Told::PipeLost(fd, err.map(|e| e.kind())));
    }
    fn process_exited(&mut self) {
        let code = self.transport.as_ref().and_then(|t| t.get_returncode());
        self.log.borrow_mut().push(Told::Exited(code));
    }
    fn connection_lost(&mut self, err: Option<std::io::Error>) {
        self.log.borrow_mut().push(Told::Lost(err.is_none()));
    }
}

/// Runs `command` under a [`Recorder`] until `connection_lost`; returns the log.
async fn record(command: &mut Command, input: &'static [u8]) -> std::io::Result<Vec<Told>> {
    let log = Log::default();
    let shared = log.clone();
    let transport = subprocess_exec(
        move || Recorder {
            log: shared,
            input,
            transport: None,
        },
        command,
    )?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !log.borrow().iter().any(|t| matches!(t, Told::Lost(_))) {
        assert!(
            Instant::now() < deadline,
            "no connection_lost: {:?}",
            log.borrow()
        );
        sleep(Duration::from_millis(2)).await;
    }
    assert!(
        transport.get_pipe_transport(1).is_none(),
        "released after the end"
    );
    let told = log.borrow().clone();
    Ok(told)
}

#[test]
fn subprocess_protocol_is_told_data_pipe_ends_exit_and_loss_in_order() {
    let told = run_bounded(BOUND, async {
        record(
            Command::shell("echo out; echo err >&2; cat")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
            b"in\n",
        )
        .await
    });
    assert_eq!(told.first(), Some(&Told::Made), "{told:?}");
    assert_eq!(told.last(), Some(&Told::Lost(true)), "{told:?}");
    let data = |fd: i32| -> Vec<u8> {
        told.iter()
            .filter_map(|t| match t {
                Told::Data(f, d) if *f == fd => Some(d.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    };
    assert_eq!(data(1), b"out\nin\n");
    assert_eq!(data(2), b"err\n");
    for fd in 0..3 {
        let lost: Vec<usize> = (0..told.len())
            .filter(|&i| matches!(told[i], Told::PipeLost(f, _) if f == fd))
            .collect();
        assert_eq!(lost.len(), 1, "pipe {fd} lost once: {told:?}");
        assert_eq!(told[lost[0]], Told::PipeLost(fd, None), "clean end");
        let last_data = told
            .iter()
            .rposition(|t| matches!(t, Told::Data(f, _) if *f == fd));
        assert!(
            last_data.is_none_or(|i| i < lost[0]),
            "data before the end: {told:?}"
        );
    }
    let exited: Vec<&Told> = told
        .iter()
        .filter(|t| matches!(t, Told::Exited(_)))
        .collect();
    assert_eq!(
        exited,
        [&Told::Exited(Some(0))],
        "once, with its returncode"
    );
}

#[test]
fn subprocess_transport_signals_and_close_end_the_process() {
    run_bounded(BOUND, async {
        for (signal, how) in [
            (libc::SIGKILL, "kill"),
            (libc::SIGTERM, "terminate"),
            (libc::SIGINT, "send_signal"),
            (libc::SIGKILL, "close"),
        ] {
            let log = Log::default();
            let shared = log.clone();
            let transport = subprocess_exec(
                move || Recorder {
                    log: shared,
                    input: b"",
                    transport: None,
                },
                Command::new("sleep").arg("60").stdout(Stdio::piped()),
            )?;
            assert!(transport.get_pid() > 0);
            assert_eq!(transport.get_returncode(), None);
            match how {
                "kill" => transport.kill()?,
                "terminate" => transport.terminate()?,
                "send_signal" => transport.send_signal(libc::SIGINT)?,
                _ => {
                    transport.close();
                    assert!(transport.is_closing());
                }
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while !log.borrow().contains(&Told::Lost(true)) {
                assert!(Instant::now() < deadline, "{how}: {:?}", log.borrow());
                sleep(Duration::from_millis(2)).await;
            }
            assert_eq!(transport.get_returncode(), Some(-signal), "{how}");
            assert!(log.borrow().contains(&Told::Exited(Some(-signal))), "{how}");
            // After the exit: nothing to signal, and no error.
            transport.kill()?;
        }
        Ok(())
    });
}

#[test]
fn subprocess_stdin_to_a_child_that_exited_ends_with_broken_pipe() {
    let told = run_bounded(BOUND, async {
        record(Command::new("true").stdin(Stdio::piped()), &[b'x'; 1 << 20]).await
    });
    assert!(
        told.contains(&Told::PipeLost(0, Some(std::io::ErrorKind::BrokenPipe))),
        "{told:?}"
    );
    assert_eq!(told.last(), Some(&Told::Lost(true)));
}

/// Writes over stdin's high watermark, then closes its transport, from inside
/// `pipe_data_received`.
struct CloseOnData(Log, Option<SubprocessTransport>);

impl SubprocessProtocol for CloseOnData {
    fn connection_made(&mut self, transport: SubprocessTransport) {
        self.1 = Some(transport);
    }
    fn pipe_data_received(&mut self, fd: i32, data: bytes::Bytes) {
        self.0.borrow_mut().push(Told::Data(fd, data.to_vec()));
        if let Some(transport) = &self.1 {
            // Both reach this protocol at once (`pause_writing` inside `write`), and are
            // told after this callback returns.
            if let Some(stdin) = transport.get_pipe_transport(0) {
                stdin.write(&[b'x'; 1 << 20]).expect("stdin open");
            }
            transport.close();
        }
        self.0.borrow_mut().push(Told::Made);
    }
    fn pipe_connection_lost(&mut self, fd: i32, err: Option<std::io::Error>) {
        self.0
            .borrow_mut()
            .push(Told::PipeLost(fd, err.map(|e| e.kind())));
    }
    fn connection_lost(&mut self, err: Option<std::io::Error>) {
        self.0.borrow_mut().push(Told::Lost(err.is_none()));
    }
    fn pause_writing(&mut self) {
        self.0.borrow_mut().push(Told::PauseWriting);
    }
}

#[test]
fn subprocess_callbacks_never_nest_when_one_closes_the_transport() {
    let told = run_bounded(BOUND, async {
        let log = Log::default();
        let shared = log.clone();
        subprocess_exec(
            move || CloseOnData(shared, None),
            Command::shell("echo ready; exec cat")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped()),
        )?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !log.borrow().iter().any(|t| matches!(t, Told::Lost(_))) {
            assert!(
                Instant::now() < deadline,
                "no connection_lost: {:?}",
                log.borrow()
            );
            sleep(Duration::from_millis(2)).await;
        }
        let told = log.borrow().clone();
        Ok(told)
    });
    // `Made` here marks the end of the data callback: nothing ran inside it.
    assert_eq!(
        told[..3],
        [
            Told::Data(1, b"ready\n".to_vec()),
            Told::Made,
            Told::PauseWriting
        ],
        "{told:?}"
    );
    // Ended by the kill while it still had bytes to write, not by a panic.
    assert!(
        told.iter().any(|t| matches!(
            t,
            Told::PipeLost(0, None | Some(std::io::ErrorKind::BrokenPipe))
        )),
        "{told:?}"
    );
    assert_eq!(told.last(), Some(&Told::Lost(true)));
}

#[test]
fn runtime_shutdown_tells_a_running_subprocess_protocol_and_reaps_it_later() {
    let log = Log::default();
    let rt = ringstream::Runtime::new().expect("runtime");
    let pid = rt.block_on(async {
        let shared = log.clone();
        let transport = subprocess_exec(
            move || Recorder {
                log: shared,
                input: b"",
                transport: None,
            },
            Command::new("sleep").arg("0.2").stdout(Stdio::piped()),
        )
        .expect("spawn");
        transport.get_pid()
    });
    drop(rt);
    let told = log.borrow().clone();
    assert_eq!(
        told,
        [
            Told::Made,
            Told::PipeLost(1, Some(std::io::ErrorKind::ConnectionAborted)),
            Told::Lost(false)
        ]
    );
    wait_until("the process reaped", Duration::from_secs(10), || {
        !exists(pid)
    });
}
