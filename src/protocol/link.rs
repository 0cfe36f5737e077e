//! One protocol connection's dispatcher: it turns what the connection core reports into the
//! protocol's callbacks, in order, straight from the completion that caused them.
//!
//! The connection says only that something may have changed (`ConnEvents::changed`, after
//! every completion and flush); the dispatcher then pulls, one at a time, the next thing
//! the protocol has not been told, in this order: `connection_made`; a watermark crossing
//! (G3); a filled receive buffer or the bytes buffered (unless reading is paused, G4); the
//! peer's EOF; and, once the endpoint is closed, `connection_lost`. Since every fact is
//! pulled from the connection's state, not queued, a callback that changes that state (a
//! `write` that goes over the high watermark) is told about it after it returns, in the
//! same loop, and nothing is told twice.
//!
//! Re-entrancy: the protocol is borrowed for one callback at a time. A transport call made
//! inside a callback that would dispatch (its own `write`) finds the dispatcher running and
//! leaves the news to the running loop; another connection's dispatcher runs on its own.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};

use crate::runtime::executor::OnShutdown;
use crate::stream::{Stream, StreamReader, StreamWriter};
use crate::transport::conn::{Conn, ConnEvents, Direction, WriteSide};
use crate::transport::inbound::{Inbound, Pulled};
use crate::transport::read_side::ReadSide;

use super::traits::kind::Kind;
use super::Transport;

/// What a buffered protocol is asked room for: one receive buffer of the runtime's ring
/// (the size the other front-ends receive at once).
const SIZE_HINT: usize = 64 * 1024;

/// The error when a buffered protocol's `get_buffer` gave no room to receive into.
pub(crate) fn no_room() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "BufferedProtocol::get_buffer returned a buffer with no spare capacity; reserve room \
         in it (BytesMut::reserve) before returning it",
    )
}

/// What owns the connection's descriptor: the link keeps it, so the connection closes
/// when the link is dropped (after `connection_lost`, or with the runtime).
pub(crate) enum Ends {
    Stream(Stream),
    Reader(StreamReader),
    Writer(StreamWriter),
}

impl Ends {
    fn conn(&self) -> Option<&Rc<Conn>> {
        match self {
            Ends::Stream(stream) => Some(stream.writer.conn()),
            Ends::Reader(reader) => reader.connection(),
            Ends::Writer(writer) => Some(writer.conn()),
        }
    }

    fn direction(&self) -> Direction {
        match self {
            Ends::Stream(_) => Direction::Both,
            Ends::Reader(_) => Direction::Read,
            Ends::Writer(_) => Direction::Write,
        }
    }
}

/// What the protocol has been told, and what the dispatcher is doing.
#[derive(Debug, Default, Clone, Copy)]
struct Told {
    made: bool,
    writing_paused: bool,
    eof: bool,
    lost: bool,
    /// The dispatch loop is running (a nested call leaves the news to it).
    dispatching: bool,
    /// The runtime is shutting down with the connection open.
    runtime_gone: bool,
    /// A server reports this connection's panics (see `poll_finished`).
    served: bool,
}

/// The next callback.
enum Event {
    Made,
    PauseWriting,
    ResumeWriting,
    Data(Bytes),
    Filled(BytesMut, usize),
    Eof,
    Lost(Option<io::Error>),
}

/// What the dispatcher does after a callback returned.
enum After {
    Nothing,
    Close,
    Fail(io::Error),
    Lost,
}

/// One protocol connection.
pub(crate) struct Link<K: Kind> {
    conn: Rc<Conn>,
    reader: ReadSide,
    direction: Direction,
    protocol: RefCell<Option<K>>,
    told: Cell<Told>,
    /// A buffer the kernel filled (or gave back empty), waiting for the protocol.
    filled: RefCell<Option<(BytesMut, usize)>>,
    /// The first panic of a callback.
    panic: RefCell<Option<String>>,
    /// Waits for `connection_lost` (a server's task per connection).
    finished: RefCell<Option<Waker>>,
    shutdown_key: Cell<Option<usize>>,
    weak_self: Weak<Link<K>>,
    /// Declared last: dropped after everything above.
    _ends: Ends,
}

/// What a [`Transport`] holds: the link, whatever its protocol's type.
pub(crate) trait Handle {
    fn conn(&self) -> &Rc<Conn>;
    fn direction(&self) -> Direction;
    /// Tells the protocol what changed, now if it is not busy.
    fn changed(&self);
    /// Runs `f` on the user's protocol unless it is busy or gone; whether it ran.
    fn with_user(&self, f: &mut dyn FnMut(&mut dyn Any)) -> bool;
}

impl<K: Kind> Link<K> {
    /// Hands the connection in `ends` to `protocol` and tells it `connection_made`.
    pub(crate) fn attach(ends: Ends, protocol: K, served: bool) -> io::Result<Rc<Link<K>>> {
        let Some(conn) = ends.conn().cloned() else {
            return Err(io::Error::other("a protocol needs a connection"));
        };
        let link = Rc::new_cyclic(|weak| Link {
            reader: ReadSide::conn(conn.clone()),
            conn,
            direction: ends.direction(),
            protocol: RefCell::new(Some(protocol)),
            told: Cell::new(Told {
                served,
                ..Told::default()
            }),
            filled: RefCell::new(None),
            panic: RefCell::new(None),
            finished: RefCell::new(None),
            shutdown_key: Cell::new(None),
            weak_self: weak.clone(),
            _ends: ends,
        });
        link.conn.set_events(link.clone());
        if let Some(core) = crate::runtime::current_core() {
            let hook: Weak<dyn OnShutdown> = link.weak_self.clone();
            link.shutdown_key.set(Some(core.on_shutdown(hook)));
        }
        link.dispatch();
        Ok(link)
    }

    fn update(&self, change: impl FnOnce(&mut Told)) {
        let mut told = self.told.get();
        change(&mut told);
        self.told.set(told);
    }

    /// Tells the protocol everything it has not been told, one callback at a time; then
    /// arms the next receive into a buffered protocol's buffer.
    fn dispatch(&self) {
        if self.told.get().dispatching {
            return;
        }
        self.update(|t| t.dispatching = true);
        loop {
            let Ok(mut slot) = self.protocol.try_borrow_mut() else {
                // `with_protocol` has it; it dispatches when it is done.
                break;
            };
            let Some(protocol) = slot.as_mut() else {
                break;
            };
            let Some(event) = self.next_event() else {
                if K::OWN_BUFFERS && self.conn.wants_buffer() {
                    let asked = catch_unwind(AssertUnwindSafe(|| {
                        protocol.buffered().map(|p| p.get_buffer(SIZE_HINT))
                    }));
                    drop(slot);
                    match asked {
                        Ok(Some(buffer)) => self.receive_into(buffer),
                        Ok(None) => break,
                        Err(payload) => self.panicked(payload.as_ref()),
                    }
                    continue;
                }
                break;
            };
            let outcome = catch_unwind(AssertUnwindSafe(|| self.run(protocol, event)));
            drop(slot);
            match outcome {
                Ok(After::Nothing) => {}
                Ok(After::Close) => self.conn.close(),
                Ok(After::Fail(e)) => self.conn.fail(e),
                Ok(After::Lost) => self.finish(),
                Err(payload) => self.panicked(payload.as_ref()),
            }
        }
        self.update(|t| t.dispatching = false);
    }

    /// The next thing to tell the protocol, marked as told.
    fn next_event(&self) -> Option<Event> {
        let told = self.told.get();
        if told.lost {
            return None;
        }
        if !told.made {
            self.update(|t| t.made = true);
            return Some(Event::Made);
        }
        if told.runtime_gone {
            self.update(|t| t.lost = true);
            return Some(Event::Lost(Some(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the runtime shut down with the connection open; it was aborted",
            ))));
        }
        let write_side = self.conn.write_side();
        if self.panic.borrow().is_none() {
            if let Some(event) = self.next_news(told, write_side) {
                return Some(event);
            }
        }
        if !write_side.closed {
            return None;
        }
        let result = self.conn.closed_result()?;
        self.update(|t| t.lost = true);
        let err = match &*self.panic.borrow() {
            Some(message) => Some(io::Error::other(format!(
                "a protocol callback panicked ({message}); the connection was aborted"
            ))),
            None => result.err(),
        };
        Some(Event::Lost(err))
    }

    /// A watermark crossing, data, or EOF.
    fn next_news(&self, told: Told, write_side: WriteSide) -> Option<Event> {
        if self.direction != Direction::Read && write_side.paused != told.writing_paused {
            self.update(|t| t.writing_paused = write_side.paused);
            return Some(if write_side.paused {
                Event::PauseWriting
            } else {
                Event::ResumeWriting
            });
        }
        if write_side.closing {
            // No `data_received` or `eof_received` after `close()`, `abort()` or a failure;
            // a buffer given back empty still goes back.
            return self.filled_buffer(|n| n == 0);
        }
        if K::OWN_BUFFERS {
            // Received bytes wait while reading is paused.
            let reading = !self.conn.reading_held();
            if let Some(event) = self.filled_buffer(|n| n == 0 || reading) {
                return Some(event);
            }
        }
        let pulled = self.reader.step(Inbound::pull);
        self.reader.after_step();
        match pulled {
            Pulled::Data(data) => Some(Event::Data(data)),
            Pulled::Eof if self.direction != Direction::Write && !told.eof => {
                self.update(|t| t.eof = true);
                Some(Event::Eof)
            }
            Pulled::Eof | Pulled::Nothing => None,
        }
    }

    /// The buffer the kernel filled (or gave back empty), if `deliver(nbytes)` says so.
    fn filled_buffer(&self, deliver: impl FnOnce(usize) -> bool) -> Option<Event> {
        let mut filled = self.filled.borrow_mut();
        if filled.as_ref().is_some_and(|(_, n)| deliver(*n)) {
            let (buffer, n) = filled.take()?;
            return Some(Event::Filled(buffer, n));
        }
        None
    }

    fn run(&self, protocol: &mut K, event: Event) -> After {
        match event {
            Event::Made => {
                let transport = match self.weak_self.upgrade() {
                    Some(link) => Transport::new(link),
                    None => return After::Nothing,
                };
                protocol.base().connection_made(transport);
            }
            Event::PauseWriting => protocol.base().pause_writing(),
            Event::ResumeWriting => protocol.base().resume_writing(),
            Event::Data(data) => {
                if let Err(e) = protocol.data(data) {
                    return After::Fail(e);
                }
            }
            Event::Filled(buffer, n) => {
                if let Some(buffered) = protocol.buffered() {
                    buffered.buffer_updated(buffer, n);
                }
            }
            Event::Eof => {
                if !protocol.eof() {
                    return After::Close;
                }
            }
            Event::Lost(err) => {
                protocol.base().connection_lost(err);
                return After::Lost;
            }
        }
        After::Nothing
    }

    /// Arms a receive into the buffer a buffered protocol gave.
    fn receive_into(&self, buffer: BytesMut) {
        if let Err(buffer) = self.conn.recv_into(buffer) {
            // The connection wanted a receive, so the buffer had no room: give it back
            // (nothing kept in it is lost) and fail the connection with the reason.
            *self.filled.borrow_mut() = Some((buffer, 0));
            self.conn.fail(no_room());
        }
    }

    /// A callback panicked: the connection is aborted, and `connection_lost` (unless it was
    /// the one that panicked) gets the panic as its error.
    fn panicked(&self, payload: &(dyn Any + Send)) {
        let message = crate::runtime::task::panic_text(payload)
            .unwrap_or("non-string panic payload")
            .to_string();
        let told = self.told.get();
        if !told.served {
            log::error!(
                "ringstream: a protocol callback panicked ({message}); its connection is \
                 aborted"
            );
        }
        self.panic.borrow_mut().get_or_insert(message);
        if told.lost {
            self.finish();
        } else {
            self.conn.abort();
        }
    }

    /// After `connection_lost`: the protocol is dropped (and the transport clones it held),
    /// the connection stops telling this link, and a waiting server task wakes.
    fn finish(&self) {
        let protocol = self.protocol.borrow_mut().take();
        drop(protocol);
        self.filled.borrow_mut().take();
        self.conn.clear_events();
        if let (Some(key), Some(core)) = (self.shutdown_key.take(), crate::runtime::current_core())
        {
            core.forget_on_shutdown(key);
        }
        if let Some(waker) = self.finished.borrow_mut().take() {
            waker.wake();
        }
    }

    /// Ready once `connection_lost` ran: `Err` with the message of a callback's panic.
    pub(crate) fn poll_finished(&self, cx: &mut Context<'_>) -> Poll<Result<(), String>> {
        if !self.told.get().lost || self.protocol.try_borrow().map_or(true, |p| p.is_some()) {
            *self.finished.borrow_mut() = Some(cx.waker().clone());
            return Poll::Pending;
        }
        match self.panic.borrow().clone() {
            Some(message) => Poll::Ready(Err(message)),
            None => Poll::Ready(Ok(())),
        }
    }
}

impl<K: Kind> Handle for Link<K> {
    fn conn(&self) -> &Rc<Conn> {
        &self.conn
    }

    fn direction(&self) -> Direction {
        self.direction
    }

    fn changed(&self) {
        self.dispatch();
    }

    fn with_user(&self, f: &mut dyn FnMut(&mut dyn Any)) -> bool {
        let ran = match self.protocol.try_borrow_mut() {
            Ok(mut slot) => match slot.as_mut() {
                Some(protocol) => {
                    f(protocol.user());
                    true
                }
                None => false,
            },
            Err(_) => false,
        };
        // News that came while `f` had the protocol.
        self.dispatch();
        ran
    }
}

impl<K: Kind> ConnEvents for Link<K> {
    fn changed(&self) {
        self.dispatch();
    }

    fn own_buffers(&self) -> bool {
        K::OWN_BUFFERS
    }

    fn filled(&self, buffer: BytesMut, nbytes: usize) {
        if !self.told.get().lost {
            *self.filled.borrow_mut() = Some((buffer, nbytes));
        }
    }
}

impl<K: Kind> OnShutdown for Link<K> {
    /// The runtime is going away with the connection open: abort it and tell the protocol
    /// now, as no loop turn will close it.
    fn shutdown(&self) {
        self.shutdown_key.set(None);
        if self.told.get().lost {
            return;
        }
        self.update(|t| t.runtime_gone = true);
        self.conn.abort();
        self.dispatch();
    }
}
