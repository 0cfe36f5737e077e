//! The `tracing` feature (`cargo test --features tracing --test tracing`): a span per
//! server connection naming its peer, and events for handler failures, an exhausted
//! receive-buffer ring and accept back-off, seen by a small subscriber that records them.

mod support;

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use ringstream::{Builder, Stream, StreamServer};
use ringstream_harness::child::{this_test, tool, wait_for, Guard};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Set in the child of the accept back-off test.
const BACKOFF_CHILD: &str = "RINGSTREAM_TRACING_BACKOFF_CHILD";

/// One event as the subscriber saw it: its fields, and the span it happened in.
#[derive(Debug, Clone)]
struct Seen {
    text: String,
    span: Option<String>,
}

/// Records every span's name and fields and every event; the child of the back-off test
/// also prints each event on stdout.
struct Recorder {
    next_id: AtomicU64,
    spans: Mutex<HashMap<u64, String>>,
    events: Mutex<Vec<Seen>>,
    print: bool,
}

thread_local! {
    /// The spans entered on this thread, innermost last.
    static ENTERED: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// `name=value ` for every field.
#[derive(Default)]
struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
}

impl Subscriber for &'static Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let mut fields = Fields::default();
        span.record(&mut fields);
        let text = format!("{} {}", span.metadata().name(), fields.0);
        self.spans.lock().unwrap().insert(id, text);
        Id::from_u64(id)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let inner = ENTERED.with(|entered| entered.borrow().last().copied());
        let span = inner.and_then(|id| self.spans.lock().unwrap().get(&id).cloned());
        let seen = Seen {
            text: format!("{} {}", event.metadata().level(), fields.0),
            span,
        };
        if self.print {
            println!("EVENT {}", seen.text);
        }
        self.events.lock().unwrap().push(seen);
    }

    fn enter(&self, span: &Id) {
        ENTERED.with(|entered| entered.borrow_mut().push(span.into_u64()));
    }

    fn exit(&self, _: &Id) {
        ENTERED.with(|entered| entered.borrow_mut().pop());
    }
}

/// The process-wide recorder (server cores run on threads of their own, so a thread's
/// default subscriber would not see them).
fn recorder() -> &'static Recorder {
    static RECORDER: OnceLock<&'static Recorder> = OnceLock::new();
    RECORDER.get_or_init(|| {
        let recorder: &'static Recorder = Box::leak(Box::new(Recorder {
            next_id: AtomicU64::new(0),
            spans: Mutex::new(HashMap::new()),
            events: Mutex::new(Vec::new()),
            print: std::env::var_os(BACKOFF_CHILD).is_some(),
        }));
        tracing::subscriber::set_global_default(recorder).expect("first subscriber");
        recorder
    })
}

/// The events recorded so far whose text contains `needle`.
fn events_with(needle: &str) -> Vec<Seen> {
    let events = recorder().events.lock().unwrap();
    events
        .iter()
        .filter(|e| e.text.contains(needle))
        .cloned()
        .collect()
}

/// H4 with tracing: what the handler traces happens inside its connection's span, which
/// names the peer; the handler's failure is an event naming the peer too.
#[test]
fn h4_tracing_connection_span_names_the_peer_and_a_failure_is_an_event() {
    recorder();
    let server = StreamServer::bind("127.0.0.1:0")
        .cores(1)
        .serve(|stream| async move {
            let (mut reader, _writer) = stream.split();
            let line = reader.read_line().await?;
            tracing::info!(line = line.len(), "marker: the handler read a line");
            Err(io::Error::other("marker: the handler gives up"))
        })
        .expect("serve");
    let mut client =
        TcpStream::connect(server.local_addr().to_string()).expect("connect to the server");
    let peer = client.local_addr().expect("client address").to_string();
    client.write_all(b"hello\n").expect("write");
    support::wait_until("the handler failure event", Duration::from_secs(10), || {
        !events_with("the handler gives up").is_empty()
    });
    server.shutdown(Duration::from_secs(5)).expect("shutdown");

    let inside = events_with("marker: the handler read a line");
    assert_eq!(inside.len(), 1, "{inside:?}");
    let span = inside[0].span.as_deref().unwrap_or("no span");
    assert!(
        span.starts_with("connection ") && span.contains(&format!("peer={peer} ")),
        "the handler's event is not in its connection's span: {span}"
    );
    let failed = events_with("the handler gives up");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].text.starts_with("WARN ")
            && failed[0].text.contains("connection handler failed")
            && failed[0].text.contains(&format!("peer={peer} ")),
        "{failed:?}"
    );
}

/// Every receive that finds the buffer ring empty (ENOBUFS) is one event: as many events
/// as the runtime counts waits.
#[test]
fn tracing_an_exhausted_receive_buffer_ring_is_an_event() {
    const CONNS: usize = 8;
    const PER_CONN: usize = 8 * 1024;
    recorder();
    let before = events_with("receive-buffer ring exhausted").len();
    let mut builder = Builder::new();
    builder.recv_buffers(2, 1024);
    let rt = builder.build().expect("runtime");
    let mut ours = Vec::new();
    let mut peers = Vec::new();
    for _ in 0..CONNS {
        let (a, mut b) = UnixStream::pair().expect("socketpair");
        b.write_all(&[5; PER_CONN]).expect("peer write");
        ours.push(a);
        peers.push(b);
    }
    rt.block_on(async move {
        let tasks: Vec<_> = ours
            .into_iter()
            .map(|socket| {
                ringstream::spawn(async move {
                    let (mut reader, _writer) = Stream::from_std(socket)?.split();
                    reader.read_exact(PER_CONN).await?;
                    io::Result::Ok(())
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("reader task").expect("read");
        }
    });
    let waits = rt.stats().recv_buffer_waits;
    assert!(waits > 0, "the ring never ran dry: the test proves nothing");
    let events = events_with("receive-buffer ring exhausted");
    assert_eq!((events.len() - before) as u64, waits, "{events:?}");
    assert!(events.iter().all(|e| e.text.starts_with("DEBUG ")));
    drop(peers);
}

/// Each line of `pipe`, read on a thread of its own, so a test waits for one with a bound.
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

/// The server side of the back-off test, under a low RLIMIT_NOFILE: serves until its
/// stdin closes, printing every event.
#[test]
fn tracing_backoff_child() {
    if std::env::var_os(BACKOFF_CHILD).is_none() {
        return; // only meaningful when started by the test below
    }
    recorder();
    let server = StreamServer::bind("127.0.0.1:0")
        .cores(1)
        .serve(support::echo::echo)
        .expect("serve");
    println!("PORT={}", support::port_of(&server));
    let _ = io::stdin().read_to_string(&mut String::new());
    server.shutdown(Duration::from_secs(5)).expect("shutdown");
}

/// H5 with tracing: a server out of descriptors pauses accepting, and says so as a
/// warning event naming the error and the pause.
#[test]
fn h5_tracing_accept_backoff_is_an_event() {
    let Some(prlimit) = tool("prlimit") else {
        println!("skipped: prlimit (util-linux) is not installed; ci/install-deps.sh installs it");
        return;
    };
    let (exe, args) = this_test("tracing_backoff_child");
    let child = Command::new(prlimit)
        .args(["--nofile=32:32", "--"])
        .arg(exe)
        .args(args)
        .env(BACKOFF_CHILD, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the child");
    let mut child = Guard(child);
    let out = lines(child.0.stdout.take().expect("stdout"));
    let port: u16 = loop {
        let line = out
            .recv_timeout(Duration::from_secs(10))
            .expect("the child prints its port within 10 s");
        // The harness may print "test tracing_backoff_child ... " on the same line.
        if let Some((_, p)) = line.trim().split_once("PORT=") {
            break p.parse().expect("port");
        }
    };
    // More connections than the child has descriptors for; each sends a byte so its
    // handler waits for more while holding its descriptor.
    let conns: Vec<TcpStream> = (0..48)
        .map(|_| {
            let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect (backlog)");
            c.write_all(b"x").expect("write");
            c
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    let backoff = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match out.recv_timeout(left) {
            Ok(line) if line.contains("accept back-off") => break line,
            Ok(_) => {}
            Err(_) => panic!("no accept back-off event within 10 s"),
        }
    };
    assert!(
        backoff.contains("EVENT WARN ")
            && backoff.contains("core=0 ")
            && backoff.contains("Too many open files")
            && backoff.contains("delay_ms="),
        "{backoff}"
    );
    drop(conns);
    drop(child.0.stdin.take());
    let status = wait_for(&mut child.0, Duration::from_secs(10)).expect("the child exits");
    assert!(status.success(), "the child failed");
}
