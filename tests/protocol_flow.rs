//! Protocols' flow over real loopback sockets and pipes: the write side's watermarks and
//! their exact crossings (G3), pausing reading while a peer floods (G4), a
//! BufferedProtocol's handed-over buffers, and protocols on pipes.

mod support;

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::rc::Rc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ringstream::protocol::{
    connect_accepted_socket, connect_read_pipe, connect_write_pipe, BaseProtocol, Buffered,
    BufferedProtocol, Protocol, Transport,
};
use ringstream::time::sleep;
use socket2::SockRef;

use support::{run_bounded, std_tcp_pair};

const BOUND: Duration = Duration::from_secs(30);

/// The byte at `offset` of the test stream: every 4-byte word is a different value (an
/// odd multiple of its index), so a lost, repeated or shifted piece shows.
fn byte_at(offset: usize) -> u8 {
    ((offset / 4) as u32)
        .wrapping_mul(2_654_435_761)
        .to_be_bytes()[offset % 4]
}

/// `len` bytes of the test stream from `offset`.
fn pattern_at(offset: usize, len: usize) -> Vec<u8> {
    (offset..offset + len).map(byte_at).collect()
}

/// Whether `data` is the test stream from `offset`.
fn pattern_matches(offset: usize, data: &[u8]) -> bool {
    data.iter()
        .enumerate()
        .all(|(i, &b)| b == byte_at(offset + i))
}

/// Waits, yielding to the runtime every 10 ms, until `done` holds; fails naming `what`
/// after 10 s.
async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out after 10 s waiting for {what}");
}

/// Lets the runtime run for `turns` x 10 ms (sends and receives complete meanwhile).
async fn settle(turns: usize) {
    for _ in 0..turns {
        sleep(Duration::from_millis(10)).await;
    }
}

/// The result of a std thread, without blocking the runtime while it runs.
async fn join<T>(handle: JoinHandle<T>) -> T {
    wait_for("the peer thread", || handle.is_finished()).await;
    handle.join().expect("peer thread")
}

/// A std peer thread that reads `len` bytes (or until EOF) and returns them.
fn read_in_thread(mut peer: impl Read + Send + 'static, len: usize) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut got = Vec::with_capacity(len.min(16 << 20));
        let mut buf = vec![0; 64 * 1024];
        while got.len() < len {
            let n = peer.read(&mut buf).expect("peer read");
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        got
    })
}

/// A loopback pair whose peer (first) does not read yet, with small kernel buffers on the
/// way (its SO_RCVBUF, our SO_SNDBUF): about 64 KB fill them, and what we write beyond
/// stays in our write buffer. The peer's reads time out after 10 s.
fn stalled_pair() -> (TcpStream, TcpStream) {
    let (peer, ours) = std_tcp_pair();
    SockRef::from(&peer)
        .set_recv_buffer_size(16 * 1024)
        .expect("SO_RCVBUF");
    SockRef::from(&ours)
        .set_send_buffer_size(16 * 1024)
        .expect("SO_SNDBUF");
    peer.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    (peer, ours)
}

// ---- a recording protocol -------------------------------------------------------------

/// One callback, as [`FlowRecorder`] saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Made,
    /// `data_received` with this many bytes (`buffer_updated` with this `nbytes`).
    Data(usize),
    Eof,
    /// `pause_writing`, with the write buffer's size when it ran.
    Pause(usize),
    /// `resume_writing`, with the write buffer's size when it ran.
    Resume(usize),
    Lost(Option<io::ErrorKind>),
    /// A test's own note from inside a callback: whether `pause_writing` had run, and the
    /// write buffer's size.
    Wrote {
        paused: bool,
        size: usize,
    },
}

/// What the recorder saw, shared with the test.
#[derive(Default)]
struct FlowLog {
    seen: Vec<Seen>,
    received: Vec<u8>,
}

impl FlowLog {
    fn count(&self, wanted: fn(&Seen) -> bool) -> usize {
        self.seen.iter().filter(|s| wanted(s)).count()
    }

    fn pauses(&self) -> usize {
        self.count(|s| matches!(s, Seen::Pause(_)))
    }

    fn resumes(&self) -> usize {
        self.count(|s| matches!(s, Seen::Resume(_)))
    }

    fn data_calls(&self) -> usize {
        self.count(|s| matches!(s, Seen::Data(_)))
    }

    fn eof(&self) -> bool {
        self.seen.contains(&Seen::Eof)
    }

    fn lost(&self) -> Option<Option<io::ErrorKind>> {
        self.seen.iter().find_map(|s| match s {
            Seen::Lost(kind) => Some(*kind),
            _ => None,
        })
    }
}

type Shared = Rc<RefCell<FlowLog>>;

/// Runs inside `data_received`, after the data is recorded.
type DataHook = Box<dyn FnMut(&Transport, &Shared)>;

/// The protocol of these tests: records every callback (and the bytes) in a shared log.
struct FlowRecorder {
    log: Shared,
    transport: Option<Transport>,
    on_data: Option<DataHook>,
    keep_open_at_eof: bool,
}

impl FlowRecorder {
    fn new(log: Shared) -> FlowRecorder {
        FlowRecorder {
            log,
            transport: None,
            on_data: None,
            keep_open_at_eof: false,
        }
    }

    fn write_buffer_size(&self) -> usize {
        self.transport
            .as_ref()
            .map_or(usize::MAX, Transport::get_write_buffer_size)
    }
}

impl BaseProtocol for FlowRecorder {
    fn connection_made(&mut self, transport: Transport) {
        self.transport = Some(transport);
        self.log.borrow_mut().seen.push(Seen::Made);
    }

    fn connection_lost(&mut self, err: Option<io::Error>) {
        let kind = err.map(|e| e.kind());
        self.log.borrow_mut().seen.push(Seen::Lost(kind));
    }

    fn pause_writing(&mut self) {
        let size = self.write_buffer_size();
        self.log.borrow_mut().seen.push(Seen::Pause(size));
    }

    fn resume_writing(&mut self) {
        let size = self.write_buffer_size();
        self.log.borrow_mut().seen.push(Seen::Resume(size));
    }
}

impl Protocol for FlowRecorder {
    fn data_received(&mut self, data: Bytes) {
        {
            let mut log = self.log.borrow_mut();
            log.seen.push(Seen::Data(data.len()));
            log.received.extend_from_slice(&data);
        }
        if let (Some(hook), Some(transport)) = (&mut self.on_data, &self.transport) {
            hook(transport, &self.log);
        }
    }

    fn eof_received(&mut self) -> bool {
        self.log.borrow_mut().seen.push(Seen::Eof);
        self.keep_open_at_eof
    }
}

/// Runs a [`FlowRecorder`] (as `setup` leaves it) on `ours`, recording into `log`.
fn adopt_into(
    log: &Shared,
    ours: TcpStream,
    setup: impl FnOnce(&mut FlowRecorder),
) -> io::Result<Transport> {
    let mut recorder = FlowRecorder::new(log.clone());
    setup(&mut recorder);
    connect_accepted_socket(move || recorder, ours)
}

/// Runs a [`FlowRecorder`] on `ours`; its own log.
fn adopt(ours: TcpStream) -> io::Result<(Transport, Shared)> {
    let log = Shared::default();
    Ok((adopt_into(&log, ours, |_| {})?, log))
}

// ---- G3: the write side's watermarks --------------------------------------------------

/// F3 through the transport: the defaults, and each limit derived from the other.
#[test]
fn g3_write_buffer_limits_defaults_and_derivation() {
    let (_peer, ours) = std_tcp_pair();
    run_bounded(BOUND, async move {
        let (transport, log) = adopt(ours)?;
        assert_eq!(transport.get_write_buffer_limits(), (16384, 65536));
        transport.set_write_buffer_limits(Some(1000), None)?;
        assert_eq!(transport.get_write_buffer_limits(), (250, 1000));
        transport.set_write_buffer_limits(None, Some(1000))?;
        assert_eq!(transport.get_write_buffer_limits(), (1000, 4000));
        transport.set_write_buffer_limits(Some(3000), Some(3000))?;
        assert_eq!(transport.get_write_buffer_limits(), (3000, 3000));
        let err = transport
            .set_write_buffer_limits(Some(10), Some(20))
            .expect_err("high < low");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(
            transport.get_write_buffer_limits(),
            (3000, 3000),
            "unchanged"
        );
        transport.set_write_buffer_limits(None, None)?;
        assert_eq!(transport.get_write_buffer_limits(), (16384, 65536));
        assert_eq!(log.borrow().seen, [Seen::Made]);
        transport.close();
        Ok(())
    });
}

/// From outside a callback, `pause_writing` runs inside the `write` that takes the buffer
/// strictly over high (not at exactly high), once; while the peer does not read nothing
/// resumes; when it reads, `resume_writing` runs once, with the buffer at or under low.
#[test]
fn g3_pause_writing_strictly_over_high_inside_write_resume_at_low() {
    const HIGH: usize = 128 * 1024;
    const LOW: usize = 32 * 1024;
    const TOTAL: usize = 2 << 20;
    let (peer, ours) = stalled_pair();
    run_bounded(BOUND, async move {
        let (transport, log) = adopt(ours)?;
        transport.set_write_buffer_limits(Some(HIGH), Some(LOW))?;
        let data = pattern_at(0, TOTAL);

        transport.write(&data[..HIGH])?;
        assert_eq!(transport.get_write_buffer_size(), HIGH);
        assert_eq!(log.borrow().pauses(), 0, "pause_writing at exactly high");
        transport.write(&data[HIGH..HIGH + 1])?;
        assert_eq!(
            log.borrow().seen,
            [Seen::Made, Seen::Pause(HIGH + 1)],
            "pause_writing runs inside the write that goes strictly over high"
        );
        for chunk in data[HIGH + 1..].chunks(64 * 1024) {
            transport.write(chunk)?;
        }
        assert_eq!(log.borrow().pauses(), 1, "one pause per crossing");

        // The peer does not read: its small buffers fill and the rest stays with us.
        settle(20).await;
        assert!(transport.get_write_buffer_size() > LOW);
        assert_eq!(log.borrow().seen, [Seen::Made, Seen::Pause(HIGH + 1)]);

        let reader = read_in_thread(peer, TOTAL);
        wait_for("everything sent", || transport.get_write_buffer_size() == 0).await;
        let got = join(reader).await;
        assert_eq!(got.len(), TOTAL);
        assert!(got == data, "the peer got other bytes");
        // (The peer's reader closes once it has everything: EOF and connection_lost
        // may follow.)
        let seen = log.borrow().seen.clone();
        assert!(
            matches!(seen[..3], [Seen::Made, Seen::Pause(_), Seen::Resume(size)] if size <= LOW),
            "resume_writing at or under low: {seen:?}"
        );
        assert_eq!((log.borrow().pauses(), log.borrow().resumes()), (1, 1));
        transport.close();
        wait_for("connection_lost", || log.borrow().lost().is_some()).await;
        assert_eq!(log.borrow().lost(), Some(None));
        Ok(())
    });
}

/// A writer that honours flow control (writes until paused, waits for the resume) sees
/// pause and resume strictly alternate, each at its watermark, and the peer gets every
/// byte in order.
#[test]
fn g3_pause_and_resume_alternate_in_pairs() {
    const HIGH: usize = 256 * 1024;
    const LOW: usize = 64 * 1024;
    const CHUNK: usize = 32 * 1024;
    const ROUNDS: usize = 4;
    let (peer, ours) = stalled_pair();
    run_bounded(BOUND, async move {
        let (transport, log) = adopt(ours)?;
        transport.set_write_buffer_limits(Some(HIGH), Some(LOW))?;
        let mut sent = 0;
        // No await inside: the crossing happens inside a write, so a round ends just past
        // high.
        let mut write_until_paused = |round: usize| -> io::Result<()> {
            for _ in 0..64 {
                if log.borrow().pauses() == round {
                    return Ok(());
                }
                transport.write(&pattern_at(sent, CHUNK))?;
                sent += CHUNK;
            }
            panic!("round {round} never paused");
        };
        write_until_paused(1)?;
        settle(10).await;
        assert_eq!(log.borrow().resumes(), 0, "no resume while nobody reads");
        let reader = read_in_thread(peer, usize::MAX);
        wait_for("resume_writing", || log.borrow().resumes() == 1).await;
        for round in 2..=ROUNDS {
            write_until_paused(round)?;
            wait_for("resume_writing", || log.borrow().resumes() == round).await;
        }
        transport.close();
        wait_for("connection_lost", || log.borrow().lost().is_some()).await;
        let got = join(reader).await;
        assert_eq!(got.len(), sent);
        assert!(pattern_matches(0, &got), "the peer got other bytes");

        let seen = log.borrow().seen.clone();
        let flow: Vec<&Seen> = seen
            .iter()
            .filter(|s| matches!(s, Seen::Pause(_) | Seen::Resume(_)))
            .collect();
        assert_eq!(flow.len(), 2 * ROUNDS, "{seen:?}");
        for pair in flow.chunks(2) {
            assert!(
                matches!(pair, [Seen::Pause(p), Seen::Resume(r)] if *p > HIGH && *r <= LOW),
                "pause over high, then resume at or under low: {seen:?}"
            );
        }
        assert_eq!(seen.first(), Some(&Seen::Made));
        assert_eq!(seen.last(), Some(&Seen::Lost(None)));
        Ok(())
    });
}

/// From inside `data_received`, a write over high does not call `pause_writing` inside
/// the write (the protocol is busy): it runs right after `data_received` returns, before
/// any other callback (here, another connection's `data_received` from the same batch of
/// completions), with nothing sent in between (the buffer is the size the write left).
#[test]
fn g3_pause_writing_from_data_received_runs_right_after_it_returns() {
    const BIG: usize = 200_000;
    fn write_big() -> DataHook {
        Box::new(|transport, log| {
            transport
                .write(&[7; BIG])
                .expect("write inside data_received");
            let paused = matches!(log.borrow().seen.last(), Some(Seen::Pause(_)));
            let size = transport.get_write_buffer_size();
            log.borrow_mut().seen.push(Seen::Wrote { paused, size });
        })
    }
    let (mut peer_a, ours_a) = std_tcp_pair();
    let (mut peer_b, ours_b) = std_tcp_pair();
    // Both are there before the first receives: they complete in one batch.
    peer_a.write_all(b"go").expect("peer write");
    peer_b.write_all(b"go").expect("peer write");
    run_bounded(BOUND, async move {
        let log = Shared::default();
        let a = adopt_into(&log, ours_a, |r| r.on_data = Some(write_big()))?;
        let b = adopt_into(&log, ours_b, |r| r.on_data = Some(write_big()))?;
        wait_for("pause_writing", || log.borrow().pauses() == 2).await;
        let seen = log.borrow().seen.clone();
        let wrote = Seen::Wrote {
            paused: false,
            size: BIG,
        };
        let one = [Seen::Data(2), wrote, Seen::Pause(BIG)];
        assert_eq!(seen[..2], [Seen::Made, Seen::Made], "{seen:?}");
        assert_eq!(seen[2..5], one, "{seen:?}");
        assert_eq!(seen[5..8], one, "{seen:?}");
        a.abort();
        b.abort();
        wait_for("connection_lost", || {
            log.borrow().count(|s| matches!(s, Seen::Lost(_))) == 2
        })
        .await;
        Ok(())
    });
}

/// `set_write_buffer_limits` lowering high under the buffered size pauses at once (inside
/// the call); raising it again never resumes there: the resume comes from a send
/// completion, as in asyncio.
#[test]
fn g3_lowering_high_pauses_at_once_raising_it_never_resumes() {
    let (_peer, ours) = stalled_pair();
    run_bounded(BOUND, async move {
        let (transport, log) = adopt(ours)?;
        transport.write(&[1; 50_000])?;
        assert_eq!(
            log.borrow().pauses(),
            0,
            "50 000 is under the default 64 KiB"
        );
        transport.set_write_buffer_limits(Some(40_000), None)?;
        assert_eq!(log.borrow().seen, [Seen::Made, Seen::Pause(50_000)]);
        assert_eq!(transport.get_write_buffer_limits(), (10_000, 40_000));

        transport.set_write_buffer_limits(Some(1 << 20), None)?;
        assert_eq!(transport.get_write_buffer_size(), 50_000);
        assert_eq!(
            log.borrow().seen,
            [Seen::Made, Seen::Pause(50_000)],
            "raising high never resumes"
        );
        // The next send completion finds the buffer under the new low and resumes.
        wait_for("resume_writing", || log.borrow().resumes() == 1).await;
        assert_eq!(log.borrow().pauses(), 1);
        transport.abort();
        Ok(())
    });
}

// ---- G4: pausing reading ----------------------------------------------------------------

/// `pause_reading` / `resume_reading` are idempotent and `is_reading` follows them; no
/// `data_received` while paused (the receive in flight when it paused still lands, and
/// waits); on resume the bytes come once, intact, without waiting for more.
#[test]
fn g4_pause_and_resume_reading_are_idempotent() {
    let (mut peer, ours) = std_tcp_pair();
    run_bounded(BOUND, async move {
        let (transport, log) = adopt(ours)?;
        assert!(transport.is_reading());
        // A receive is in flight now: what it gets while paused waits with us.
        settle(2).await;
        transport.pause_reading();
        transport.pause_reading();
        assert!(!transport.is_reading());
        peer.write_all(b"while paused")?;
        settle(20).await;
        assert_eq!(log.borrow().data_calls(), 0, "data_received while paused");

        transport.resume_reading();
        transport.resume_reading();
        assert!(transport.is_reading());
        wait_for("the data", || log.borrow().received.len() >= 12).await;
        peer.write_all(b", then more")?;
        wait_for("more data", || log.borrow().received.len() >= 23).await;
        settle(5).await;
        assert_eq!(log.borrow().received, b"while paused, then more");

        transport.pause_reading();
        transport.close();
        transport.resume_reading();
        assert!(!transport.is_reading(), "a closing transport reads nothing");
        wait_for("connection_lost", || log.borrow().lost().is_some()).await;
        Ok(())
    });
}

/// A peer floods (64 MB attempted) while reading is paused: nothing reaches the protocol,
/// and the peer's writes stall once the kernel's socket buffers are full (well under the
/// 64 MB; nothing more is taken off the socket into our memory). After `resume_reading`
/// every byte it managed to send arrives once, in order, then EOF.
#[test]
fn g4_flood_while_paused_is_held_by_the_kernel_then_delivered_in_order() {
    const ATTEMPT: usize = 64 << 20;
    const CHUNK: usize = 64 * 1024;
    let (mut peer, ours) = std_tcp_pair();
    SockRef::from(&ours)
        .set_recv_buffer_size(128 * 1024)
        .expect("SO_RCVBUF");
    SockRef::from(&peer)
        .set_send_buffer_size(128 * 1024)
        .expect("SO_SNDBUF");
    // A write that cannot go on for 300 ms gives up: the flood has stalled.
    peer.set_write_timeout(Some(Duration::from_millis(300)))
        .expect("write timeout");
    run_bounded(BOUND, async move {
        let (transport, log) = adopt(ours)?;
        transport.pause_reading();
        let flood = thread::spawn(move || {
            let mut sent = 0;
            while sent < ATTEMPT {
                match peer.write(&pattern_at(sent, CHUNK)) {
                    Ok(n) => sent += n,
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) =>
                    {
                        break
                    }
                    Err(e) => panic!("flood write: {e}"),
                }
            }
            peer.shutdown(Shutdown::Write).expect("shutdown");
            (peer, sent)
        });
        let (_peer, sent) = join(flood).await;
        assert!(sent > 0, "the peer sent nothing");
        assert!(
            sent < 4 << 20,
            "the peer got {sent} bytes out while we were paused: more than the kernel's buffers"
        );
        settle(10).await;
        assert_eq!(log.borrow().data_calls(), 0, "data_received while paused");

        transport.resume_reading();
        wait_for("eof_received", || log.borrow().eof()).await;
        let log = log.borrow();
        assert_eq!(log.received.len(), sent);
        assert!(
            pattern_matches(0, &log.received),
            "bytes lost, repeated or reordered"
        );
        Ok(())
    });
}

// ---- BufferedProtocol -------------------------------------------------------------------

/// The records a [`Records`] protocol parses off the stream.
const RECORD: usize = 1000;

/// A BufferedProtocol that keeps one `BytesMut`: it parses whole records off its front,
/// keeps a partial one, and checks that every buffer comes back as the same allocation
/// with its kept bytes intact and `nbytes` appended.
struct Records {
    log: Shared,
    buffer: BytesMut,
    /// The stream offset of `buffer[0]`.
    offset: usize,
    /// Where the lent buffer's memory starts, and its length when lent.
    lent: Option<(usize, usize)>,
    keep_open_at_eof: bool,
    /// Everything wrong with the buffers it got back (a callback must not panic here: the
    /// panic would end the connection, not the test).
    wrong: Rc<RefCell<Vec<String>>>,
    max_capacity: Rc<RefCell<usize>>,
}

impl Records {
    fn new(log: Shared) -> Records {
        Records {
            log,
            buffer: BytesMut::new(),
            offset: 0,
            lent: None,
            keep_open_at_eof: false,
            wrong: Rc::default(),
            max_capacity: Rc::default(),
        }
    }
}

impl BaseProtocol for Records {
    fn connection_made(&mut self, _transport: Transport) {
        self.log.borrow_mut().seen.push(Seen::Made);
    }

    fn connection_lost(&mut self, err: Option<io::Error>) {
        let kind = err.map(|e| e.kind());
        self.log.borrow_mut().seen.push(Seen::Lost(kind));
    }
}

impl BufferedProtocol for Records {
    fn get_buffer(&mut self, size_hint: usize) -> BytesMut {
        let mut buffer = std::mem::take(&mut self.buffer);
        buffer.reserve(size_hint);
        let mut max = self.max_capacity.borrow_mut();
        *max = (*max).max(buffer.capacity());
        self.lent = Some((buffer.as_ptr() as usize, buffer.len()));
        buffer
    }

    fn buffer_updated(&mut self, mut buffer: BytesMut, nbytes: usize) {
        let mut wrong = self.wrong.borrow_mut();
        match self.lent.take() {
            Some((at, len)) if at == buffer.as_ptr() as usize && len + nbytes == buffer.len() => {}
            lent => wrong.push(format!(
                "lent {lent:?}, back at {:#x} with {} bytes, nbytes {nbytes}",
                buffer.as_ptr() as usize,
                buffer.len()
            )),
        }
        if !pattern_matches(self.offset, &buffer) {
            wrong.push(format!("other bytes at stream offset {}", self.offset));
        }
        while buffer.len() >= RECORD {
            let _record = buffer.split_to(RECORD);
            self.offset += RECORD;
        }
        let mut log = self.log.borrow_mut();
        log.seen.push(Seen::Data(nbytes));
        log.received.clear();
        log.received.extend_from_slice(&buffer);
        self.buffer = buffer;
    }

    fn eof_received(&mut self) -> bool {
        self.log.borrow_mut().seen.push(Seen::Eof);
        self.keep_open_at_eof
    }
}

/// 4 MB and a partial record through a BufferedProtocol: intact and in order, every
/// receive into the protocol's own buffer (the same allocation comes back), whose capacity
/// stays bounded; at EOF the buffer comes back once more with `nbytes` 0 and the partial
/// record kept.
#[test]
fn buffered_4_mb_arrive_intact_in_one_reused_buffer() {
    const TOTAL: usize = 4 << 20;
    const KEPT: usize = TOTAL % RECORD;
    let (mut peer, ours) = std_tcp_pair();
    let writer = thread::spawn(move || {
        peer.write_all(&pattern_at(0, TOTAL)).expect("peer write");
        peer.shutdown(Shutdown::Write).expect("shutdown");
        peer
    });
    run_bounded(BOUND, async move {
        let log = Shared::default();
        let records = Records::new(log.clone());
        let (wrong, max_capacity) = (records.wrong.clone(), records.max_capacity.clone());
        let transport = connect_accepted_socket(|| Buffered(records), ours)?;
        wait_for("connection_lost", || log.borrow().lost().is_some()).await;
        let _peer = join(writer).await;

        assert_eq!(*wrong.borrow(), Vec::<String>::new());
        let log = log.borrow();
        let received: usize = log
            .seen
            .iter()
            .map(|s| if let Seen::Data(n) = s { *n } else { 0 })
            .sum();
        assert_eq!(received, TOTAL);
        assert_eq!(
            log.received,
            pattern_at(TOTAL - KEPT, KEPT),
            "the kept partial record"
        );
        let n = log.seen.len();
        assert_eq!(
            log.seen[n - 3..],
            [Seen::Data(0), Seen::Eof, Seen::Lost(None)],
            "the buffer comes back empty-handed at EOF"
        );
        assert!(
            *max_capacity.borrow() <= 256 * 1024,
            "the buffer grew to {} bytes",
            max_capacity.borrow()
        );
        assert!(transport.is_closing());
        Ok(())
    });
}

/// `get_buffer` returning a buffer with no spare capacity fails the connection with
/// `InvalidInput` (`connection_lost` gets it), gives the buffer back untouched, and
/// nothing panics.
#[test]
fn buffered_get_buffer_without_room_fails_with_invalid_input() {
    struct NoRoom {
        log: Shared,
    }
    impl BaseProtocol for NoRoom {
        fn connection_made(&mut self, _transport: Transport) {
            self.log.borrow_mut().seen.push(Seen::Made);
        }
        fn connection_lost(&mut self, err: Option<io::Error>) {
            let kind = err.map(|e| e.kind());
            self.log.borrow_mut().seen.push(Seen::Lost(kind));
        }
    }
    impl BufferedProtocol for NoRoom {
        fn get_buffer(&mut self, _size_hint: usize) -> BytesMut {
            let mut full = BytesMut::with_capacity(16);
            full.resize(full.capacity(), b'k');
            full
        }
        fn buffer_updated(&mut self, buffer: BytesMut, nbytes: usize) {
            let mut log = self.log.borrow_mut();
            log.seen.push(Seen::Data(nbytes));
            log.received.extend_from_slice(&buffer);
        }
    }

    let (mut peer, ours) = std_tcp_pair();
    peer.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    run_bounded(BOUND, async move {
        let log = Shared::default();
        let protocol = NoRoom { log: log.clone() };
        let transport = connect_accepted_socket(|| Buffered(protocol), ours)?;
        wait_for("connection_lost", || log.borrow().lost().is_some()).await;
        let log = log.borrow();
        assert_eq!(
            log.seen,
            [
                Seen::Made,
                Seen::Data(0),
                Seen::Lost(Some(io::ErrorKind::InvalidInput))
            ]
        );
        assert!(
            !log.received.is_empty() && log.received.iter().all(|&b| b == b'k'),
            "the full buffer came back as it was"
        );
        assert!(transport.is_closing());
        assert!(transport.write(b"x").is_err(), "the connection failed");
        Ok(())
    });
    // The peer sees the connection end (EOF or a reset), not a hang.
    let mut buf = [0; 16];
    assert!(!matches!(peer.read(&mut buf), Ok(n) if n > 0));
}

/// A buffered protocol's `eof_received`, both answers (G2): `true` keeps the transport
/// open for writing, `false` closes it; the kept partial record comes back with `nbytes`
/// 0 before `eof_received` either way.
#[test]
fn buffered_eof_received_true_keeps_writing_false_closes() {
    for keep_open in [true, false] {
        let (mut peer, ours) = std_tcp_pair();
        peer.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        peer.write_all(&pattern_at(0, 2500)).expect("peer write");
        peer.shutdown(Shutdown::Write).expect("shutdown");
        run_bounded(BOUND, async move {
            let log = Shared::default();
            let mut records = Records::new(log.clone());
            records.keep_open_at_eof = keep_open;
            let wrong = records.wrong.clone();
            let transport = connect_accepted_socket(|| Buffered(records), ours)?;
            wait_for("eof_received", || log.borrow().eof()).await;
            {
                let log = log.borrow();
                let eof = log.seen.iter().position(|s| *s == Seen::Eof);
                let at = eof.expect("eof_received") - 1;
                assert_eq!(log.seen[at..at + 2], [Seen::Data(0), Seen::Eof]);
                assert_eq!(
                    log.received,
                    pattern_at(2000, 500),
                    "the kept partial record"
                );
            }
            if keep_open {
                assert!(!transport.is_closing(), "eof_received -> true closed it");
                transport.write(b"still writing")?;
                transport.close();
            } else {
                assert!(transport.is_closing(), "eof_received -> false left it open");
                let err = transport.write(b"x").expect_err("write after close");
                assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
            }
            wait_for("connection_lost", || log.borrow().lost().is_some()).await;
            assert_eq!(log.borrow().lost(), Some(None));
            assert_eq!(*wrong.borrow(), Vec::<String>::new());
            Ok(())
        });
        let mut reply = Vec::new();
        peer.read_to_end(&mut reply).expect("peer read");
        let expected: &[u8] = if keep_open { b"still writing" } else { b"" };
        assert_eq!(reply, expected, "keep_open {keep_open}");
    }
}

// ---- pipes -----------------------------------------------------------------------------

/// A protocol on a pipe's read end: `data_received` with what is written, `eof_received`
/// when the writer closes, then `connection_lost(None)`; the transport cannot write.
#[test]
fn read_pipe_protocol_receives_then_eof_and_cannot_write() {
    run_bounded(BOUND, async {
        let (r, mut w) = io::pipe()?;
        let log = Shared::default();
        let transport = connect_read_pipe(
            {
                let log = log.clone();
                move || FlowRecorder::new(log)
            },
            r,
        )?;
        assert!(transport.is_reading());
        assert!(!transport.can_write_eof());
        let err = transport.write(b"x").expect_err("write on a read pipe");
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
        let err = transport.write_eof().expect_err("write_eof on a read pipe");
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);

        w.write_all(b"through the pipe")?;
        wait_for("the data", || log.borrow().received.len() >= 16).await;
        drop(w);
        wait_for("connection_lost", || log.borrow().lost().is_some()).await;
        let log = log.borrow();
        assert_eq!(log.received, b"through the pipe");
        let n = log.seen.len();
        assert_eq!(log.seen[0], Seen::Made);
        assert!(log.seen[1..n - 2]
            .iter()
            .all(|s| matches!(s, Seen::Data(_))));
        assert_eq!(log.seen[n - 2..], [Seen::Eof, Seen::Lost(None)]);
        Ok(())
    });
}

/// A protocol on a pipe's write end: what it writes arrives intact, `write_eof` closes
/// the pipe once everything is written (the reader gets EOF), then `connection_lost(None)`.
#[test]
fn write_pipe_protocol_writes_then_write_eof_closes() {
    const TOTAL: usize = 300_000;
    run_bounded(BOUND, async {
        let (r, w) = io::pipe()?;
        let reader = read_in_thread(r, usize::MAX);
        let log = Shared::default();
        let transport = connect_write_pipe(
            {
                let log = log.clone();
                move || FlowRecorder::new(log)
            },
            w,
        )?;
        assert!(transport.can_write_eof());
        assert!(!transport.is_reading(), "a write pipe reads nothing");
        transport.write(&pattern_at(0, TOTAL))?;
        transport.write_eof()?;
        let got = join(reader).await;
        assert_eq!(got.len(), TOTAL, "the reader got EOF after everything");
        assert!(pattern_matches(0, &got));
        wait_for("connection_lost", || log.borrow().lost().is_some()).await;
        assert_eq!(log.borrow().lost(), Some(None));
        assert_eq!(log.borrow().data_calls(), 0);
        Ok(())
    });
}

/// A write pipe nobody reads: once the pipe is full the buffer goes over high and
/// `pause_writing` runs; nothing resumes while the pipe stays full; once it is read,
/// `resume_writing` runs at or under low and everything arrives.
#[test]
fn write_pipe_pauses_writing_when_full_and_resumes_when_read() {
    const HIGH: usize = 65536;
    const LOW: usize = 16384;
    const CHUNK: usize = 16 * 1024;
    run_bounded(BOUND, async {
        let (r, w) = io::pipe()?;
        let log = Shared::default();
        let transport = connect_write_pipe(
            {
                let log = log.clone();
                move || FlowRecorder::new(log)
            },
            w,
        )?;
        let mut written = 0;
        for _ in 0..64 {
            if log.borrow().pauses() > 0 {
                break;
            }
            transport.write(&pattern_at(written, CHUNK))?;
            written += CHUNK;
            settle(1).await;
        }
        let size_at_pause = match log.borrow().seen[..] {
            [Seen::Made, Seen::Pause(size)] => size,
            ref seen => panic!("{seen:?}"),
        };
        assert!(size_at_pause > HIGH);
        assert!(
            size_at_pause < written,
            "the pipe took part of it ({size_at_pause} of {written} still buffered)"
        );
        settle(20).await;
        assert_eq!(
            log.borrow().resumes(),
            0,
            "resume_writing while the pipe is full"
        );

        let reader = read_in_thread(r, usize::MAX);
        wait_for("resume_writing", || log.borrow().resumes() == 1).await;
        assert!(matches!(log.borrow().seen[2], Seen::Resume(size) if size <= LOW));
        transport.write_eof()?;
        let got = join(reader).await;
        assert_eq!(got.len(), written);
        assert!(pattern_matches(0, &got));
        wait_for("connection_lost", || log.borrow().lost().is_some()).await;
        assert_eq!(log.borrow().pauses(), 1);
        Ok(())
    });
}
