//! A protocol that records its callbacks: [`Recorder`] logs every callback with its
//! argument into a [`Log`] (shared, `Send`, so a server's cores can fill it while the test
//! thread reads it), and runs an optional hook after each one, with its transport, to act
//! as a test needs (echo, close, panic, ...). [`Log::assert_g1`] checks SEMANTICS G1's order.

use std::fmt;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ringstream::protocol::{BaseProtocol, BufferedProtocol, Protocol, Transport};

/// How long [`Log::wait`] and [`Log::wait_blocking`] wait before they fail.
const WAIT_LIMIT: Duration = Duration::from_secs(10);
/// How often [`Log::wait`] looks.
const WAIT_STEP: Duration = Duration::from_millis(2);
/// More callbacks than any test causes: a dispatcher that tells the same thing over and
/// over, synchronously, never returns to the runtime (so no timeout can end the test);
/// the recorder panics here instead, which aborts the connection and ends the loop.
const MAX_EVENTS: usize = 1_000_000;

/// One callback, with its argument.
#[derive(Clone, PartialEq, Eq)]
pub enum Event {
    Made,
    /// `data_received`, or a `buffer_updated` with bytes (its new bytes).
    Data(Bytes),
    Eof,
    /// `connection_lost`, with the error's kind and message.
    Lost(Option<(io::ErrorKind, String)>),
    PauseWriting,
    ResumeWriting,
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Made => write!(f, "Made"),
            // A large payload would drown the message: its length and first bytes.
            Event::Data(data) => {
                let head = Bytes::copy_from_slice(&data[..data.len().min(24)]);
                write!(f, "Data({} bytes: {head:?})", data.len())
            }
            Event::Eof => write!(f, "Eof"),
            Event::Lost(err) => write!(f, "Lost({err:?})"),
            Event::PauseWriting => write!(f, "PauseWriting"),
            Event::ResumeWriting => write!(f, "ResumeWriting"),
        }
    }
}

/// The callbacks one protocol received, in order. A cheap `Clone` (shared).
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<Event>>>);

impl Log {
    fn push(&self, event: Event) {
        let len = {
            let mut events = self.0.lock().unwrap_or_else(|e| e.into_inner());
            events.push(event);
            events.len()
        };
        assert!(len <= MAX_EVENTS, "runaway callbacks: {len} recorded");
    }

    /// A copy of the events so far.
    pub fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Every byte `data_received` got, in order.
    pub fn received(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for event in self.events() {
            if let Event::Data(data) = event {
                all.extend_from_slice(&data);
            }
        }
        all
    }

    /// How many times `connection_lost` ran.
    pub fn lost_count(&self) -> usize {
        self.count(|e| matches!(e, Event::Lost(_)))
    }

    /// How many events match.
    pub fn count(&self, which: impl Fn(&Event) -> bool) -> usize {
        self.events().iter().filter(|e| which(e)).count()
    }

    /// `connection_lost`'s argument, once it ran.
    pub fn lost(&self) -> Option<Option<(io::ErrorKind, String)>> {
        self.events().into_iter().find_map(|e| match e {
            Event::Lost(err) => Some(err),
            _ => None,
        })
    }

    /// Whether `connection_lost` ran.
    pub fn is_lost(&self) -> bool {
        self.lost().is_some()
    }

    /// Checks G1 (and G3's pairing): `Made` first; `Data`*; at most one `Eof`, with no data
    /// after it; `Lost` exactly once and last; `PauseWriting` and `ResumeWriting`
    /// alternating, starting with a pause. Panics with the events otherwise.
    pub fn assert_g1(&self) {
        let events = self.events();
        if let Err(why) = g1_violation(&events) {
            panic!("G1: {why}: {events:?}");
        }
    }

    /// Waits (on a runtime) until `done` holds for the events; fails naming `what` after
    /// 10 s.
    pub async fn wait(&self, what: &str, done: impl Fn(&[Event]) -> bool) -> io::Result<()> {
        let steps = WAIT_LIMIT.as_millis() / WAIT_STEP.as_millis();
        for _ in 0..steps {
            if done(&self.events()) {
                return Ok(());
            }
            ringstream::time::sleep(WAIT_STEP).await;
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("timed out waiting for {what}: {:?}", self.events()),
        ))
    }

    /// Waits until `connection_lost` ran.
    pub async fn wait_lost(&self) -> io::Result<()> {
        self.wait("connection_lost", |e| e.iter().any(is_lost))
            .await
    }

    /// [`wait`](Self::wait) on a blocking thread (a server's protocols run on its cores).
    pub fn wait_blocking(&self, what: &str, done: impl Fn(&[Event]) -> bool) {
        super::wait_until(what, WAIT_LIMIT, || done(&self.events()));
    }
}

impl fmt::Debug for Log {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.events().fmt(f)
    }
}

/// Whether `event` is a `connection_lost`.
pub fn is_lost(event: &Event) -> bool {
    matches!(event, Event::Lost(_))
}

/// Whether `event` is `data_received`.
pub fn is_data(event: &Event) -> bool {
    matches!(event, Event::Data(_))
}

fn g1_violation(events: &[Event]) -> Result<(), &'static str> {
    if events.first() != Some(&Event::Made) {
        return Err("connection_made is not first");
    }
    if events.iter().filter(|e| **e == Event::Made).count() != 1 {
        return Err("connection_made ran more than once");
    }
    match events.iter().filter(|e| is_lost(e)).count() {
        0 => return Err("connection_lost never ran"),
        1 => {}
        _ => return Err("connection_lost ran more than once"),
    }
    if !events.last().is_some_and(is_lost) {
        return Err("connection_lost is not last");
    }
    if let Some(eof) = events.iter().position(|e| *e == Event::Eof) {
        if events[eof + 1..].contains(&Event::Eof) {
            return Err("eof_received ran more than once");
        }
        if events[eof..].iter().any(is_data) {
            return Err("data_received after eof_received");
        }
    }
    let mut paused = false;
    for event in events {
        match event {
            Event::PauseWriting if paused => return Err("pause_writing twice in a row"),
            Event::ResumeWriting if !paused => return Err("resume_writing without a pause"),
            Event::PauseWriting | Event::ResumeWriting => paused = !paused,
            _ => {}
        }
    }
    Ok(())
}

/// What a [`Recorder`] runs after recording each callback.
pub type Hook = Box<dyn FnMut(&Transport, &Event)>;

/// A protocol that records every callback in its [`Log`], then runs its hook. As a
/// [`Protocol`] it records `data_received`; wrapped in `Buffered` it is a
/// [`BufferedProtocol`] that hands a fresh buffer for each receive and records the bytes of
/// each `buffer_updated` as `Data` (one that comes back empty records nothing).
/// `eof_received` returns false (close) unless [`keep_open_on_eof`](Self::keep_open_on_eof).
pub struct Recorder {
    log: Log,
    transport: Option<Transport>,
    keep_open_on_eof: bool,
    hook: Option<Hook>,
}

impl Recorder {
    /// Records into `log`, does nothing else.
    pub fn new(log: Log) -> Recorder {
        Recorder {
            log,
            transport: None,
            keep_open_on_eof: false,
            hook: None,
        }
    }

    /// `eof_received` returns true: the write side stays open (G2).
    pub fn keep_open_on_eof(mut self) -> Recorder {
        self.keep_open_on_eof = true;
        self
    }

    /// Runs `hook` after recording each callback, with the transport.
    pub fn on_event(mut self, hook: impl FnMut(&Transport, &Event) + 'static) -> Recorder {
        self.hook = Some(Box::new(hook));
        self
    }

    /// The log it records into.
    pub fn log(&self) -> &Log {
        &self.log
    }

    fn record(&mut self, event: Event) {
        self.log.push(event.clone());
        if let (Some(transport), Some(hook)) = (&self.transport, &mut self.hook) {
            hook(transport, &event);
        }
    }
}

/// A [`Recorder`] hook that writes back whatever arrives.
pub fn echo(transport: &Transport, event: &Event) {
    if let Event::Data(data) = event {
        let _ = transport.write_bytes(data.clone());
    }
}

impl BaseProtocol for Recorder {
    fn connection_made(&mut self, transport: Transport) {
        self.transport = Some(transport);
        self.record(Event::Made);
    }

    fn connection_lost(&mut self, err: Option<io::Error>) {
        self.record(Event::Lost(err.map(|e| (e.kind(), e.to_string()))));
    }

    fn pause_writing(&mut self) {
        self.record(Event::PauseWriting);
    }

    fn resume_writing(&mut self) {
        self.record(Event::ResumeWriting);
    }
}

impl Protocol for Recorder {
    fn data_received(&mut self, data: Bytes) {
        self.record(Event::Data(data));
    }

    fn eof_received(&mut self) -> bool {
        self.record(Event::Eof);
        self.keep_open_on_eof
    }
}

impl BufferedProtocol for Recorder {
    fn get_buffer(&mut self, size_hint: usize) -> BytesMut {
        BytesMut::with_capacity(size_hint.max(1))
    }

    fn buffer_updated(&mut self, buffer: BytesMut, nbytes: usize) {
        if nbytes > 0 {
            let new = buffer.len() - nbytes;
            self.record(Event::Data(buffer.freeze().slice(new..)));
        }
    }

    fn eof_received(&mut self) -> bool {
        self.record(Event::Eof);
        self.keep_open_on_eof
    }
}
