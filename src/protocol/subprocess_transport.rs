//! [`SubprocessTransport`]: a child process run by a [`SubprocessProtocol`]: each pipe a
//! protocol connection of its own (`Link`), whose callbacks, and the process's exit seen
//! by a task waiting on its pidfd, come to the one protocol through a queue, so they never
//! nest whichever pipe or task causes them.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::process::ExitStatus;
use std::rc::Rc;

use bytes::Bytes;

use crate::process::{returncode, Orphan, Watched};

use super::link::{Ends, Link};
use super::subprocess::SubprocessProtocol;
use super::{BaseProtocol, Protocol, Transport};

/// The handle a [`SubprocessProtocol`] gets (asyncio's `SubprocessTransport`): the
/// process's pid and returncode, its pipes' transports, signals, `close`. Clones share
/// the process.
///
/// The process is reaped when it exits whether or not a handle is kept; it is not killed
/// when the handles are dropped (only by [`close`](Self::close)).
///
/// ```
/// use ringstream::process::{Command, Stdio};
/// use ringstream::protocol::{subprocess_exec, SubprocessProtocol};
///
/// struct Quiet;
/// impl SubprocessProtocol for Quiet {}
///
/// ringstream::run(async {
///     let transport = subprocess_exec(
///         || Quiet,
///         Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()),
///     )?;
///     let stdin = transport.get_pipe_transport(0).expect("stdin is piped");
///     stdin.write(b"to cat\n")?;
///     assert!(transport.get_pipe_transport(2).is_none(), "stderr is inherited");
///     assert!(transport.get_pid() > 0);
///     transport.terminate()?;
///     Ok::<(), std::io::Error>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
#[doc(alias = "asyncio.SubprocessTransport")]
#[derive(Clone)]
pub struct SubprocessTransport {
    shared: Rc<Shared>,
}

/// What happened, waiting to be told to the protocol.
enum Event {
    Made,
    Data(i32, Bytes),
    PipeLost(i32, Option<io::Error>),
    Exited,
    Lost(Option<io::Error>),
    PauseWriting,
    ResumeWriting,
}

struct Shared {
    /// `None` once told `connection_lost` (which drops it, breaking any cycle through a
    /// transport it kept).
    protocol: RefCell<Option<Box<dyn SubprocessProtocol>>>,
    events: RefCell<VecDeque<Event>>,
    pid: u32,
    signals: crate::process::Pidfd,
    status: Cell<Option<ExitStatus>>,
    /// The watch on the process ended without a status (it was reaped elsewhere).
    watch_error: RefCell<Option<io::Error>>,
    pipes: RefCell<[Option<Transport>; 3]>,
    pipes_open: Cell<usize>,
    closing: Cell<bool>,
    lost: Cell<bool>,
}

impl SubprocessTransport {
    /// Runs `protocol` on `process`: `connection_made`, the pipes as protocol connections,
    /// and a task that waits for the exit.
    pub(crate) fn start(
        process: Watched,
        protocol: Box<dyn SubprocessProtocol>,
    ) -> io::Result<SubprocessTransport> {
        let Watched {
            stdin,
            stdout,
            stderr,
            reaper,
            signals,
        } = process;
        let shared = Rc::new(Shared {
            protocol: RefCell::new(Some(protocol)),
            events: RefCell::new(VecDeque::from([Event::Made])),
            pid: reaper.pid().unwrap_or(0),
            signals,
            status: Cell::new(None),
            watch_error: RefCell::new(None),
            pipes: RefCell::new([None, None, None]),
            pipes_open: Cell::new(0),
            closing: Cell::new(false),
            lost: Cell::new(false),
        });
        let ends = [
            stdin.map(Ends::Writer),
            stdout.map(Ends::Reader),
            stderr.map(Ends::Reader),
        ];
        for (fd, end) in (0..).zip(ends) {
            let Some(end) = end else { continue };
            shared.pipes_open.set(shared.pipes_open.get() + 1);
            let pipe = Pipe {
                fd,
                shared: shared.clone(),
            };
            // A failure here drops the reaper guard, which reaps the child from a thread.
            let link = Link::attach(end, pipe, false)?;
            shared.pipes.borrow_mut()[fd as usize] = Some(Transport::new(link));
        }
        let mut watch = Watch {
            shared: shared.clone(),
            reaper,
        };
        // Detached: it holds the process (and this transport's state) until the exit.
        drop(crate::spawn(async move { watch.run().await }));
        let transport = SubprocessTransport {
            shared: shared.clone(),
        };
        shared.deliver();
        Ok(transport)
    }

    /// The process id.
    #[doc(alias = "SubprocessTransport.get_pid")]
    pub fn get_pid(&self) -> u32 {
        self.shared.pid
    }

    /// The exit code, or `-N` for a process ended by signal `N`; `None` until the exit is
    /// seen (it is by the time `process_exited` runs).
    #[doc(alias = "SubprocessTransport.get_returncode")]
    pub fn get_returncode(&self) -> Option<i32> {
        self.shared.status.get().map(returncode)
    }

    /// The transport of the pipe for `fd` (0 stdin: write to it; 1 stdout, 2 stderr:
    /// pause or resume reading), or `None` if that stream is not piped or the
    /// connection is lost.
    #[doc(alias = "SubprocessTransport.get_pipe_transport")]
    pub fn get_pipe_transport(&self, fd: i32) -> Option<Transport> {
        let index = usize::try_from(fd).ok()?;
        self.shared.pipes.borrow().get(index)?.clone()
    }

    /// Sends `signal` through the process's pidfd; nothing once it has exited.
    ///
    /// # Errors
    /// `InvalidInput` for a number that is not a signal; `PermissionDenied` if the child
    /// changed its user.
    #[doc(alias = "SubprocessTransport.send_signal")]
    pub fn send_signal(&self, signal: i32) -> io::Result<()> {
        if self.shared.status.get().is_some() {
            return Ok(());
        }
        self.shared.signals.send_signal(signal)
    }

    /// Sends `SIGTERM`. See [`send_signal`](Self::send_signal).
    ///
    /// # Errors
    /// As [`send_signal`](Self::send_signal).
    #[doc(alias = "SubprocessTransport.terminate")]
    pub fn terminate(&self) -> io::Result<()> {
        self.send_signal(libc::SIGTERM)
    }

    /// Sends `SIGKILL`. See [`send_signal`](Self::send_signal).
    ///
    /// # Errors
    /// As [`send_signal`](Self::send_signal).
    #[doc(alias = "SubprocessTransport.kill")]
    pub fn kill(&self) -> io::Result<()> {
        self.send_signal(libc::SIGKILL)
    }

    /// Closes every pipe (stdin once what is queued is written) and kills the process if
    /// it still runs, as asyncio does; `connection_lost` follows once it has exited.
    #[doc(alias = "BaseTransport.close")]
    pub fn close(&self) {
        if self.shared.closing.replace(true) {
            return;
        }
        let pipes: Vec<Transport> = self
            .shared
            .pipes
            .borrow()
            .iter()
            .flatten()
            .cloned()
            .collect();
        for pipe in pipes {
            pipe.close();
        }
        if let Err(err) = self.kill() {
            log::warn!(
                "ringstream: killing process {} on close: {err}",
                self.shared.pid
            );
        }
    }

    /// Whether [`close`](Self::close) was called.
    #[doc(alias = "BaseTransport.is_closing")]
    pub fn is_closing(&self) -> bool {
        self.shared.closing.get()
    }
}

impl fmt::Debug for SubprocessTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubprocessTransport")
            .field("pid", &self.get_pid())
            .field("returncode", &self.get_returncode())
            .field("pipes_open", &self.shared.pipes_open.get())
            .finish()
    }
}

impl Shared {
    fn push(&self, event: Event) {
        self.events.borrow_mut().push_back(event);
    }

    /// Queues `connection_lost` once the process has exited (or its watch failed) and
    /// every pipe is closed.
    fn finish_if_done(&self) {
        let exited = self.status.get().is_some() || self.watch_error.borrow().is_some();
        if exited && self.pipes_open.get() == 0 && !self.lost.replace(true) {
            let err = self.watch_error.borrow_mut().take();
            self.push(Event::Lost(err));
        }
    }

    /// Tells the protocol every queued event, in order. If the protocol is busy (this was
    /// reached from inside one of its callbacks), the delivery already running tells them
    /// after that callback returns.
    fn deliver(self: &Rc<Self>) {
        loop {
            let Ok(mut slot) = self.protocol.try_borrow_mut() else {
                return;
            };
            let Some(event) = self.events.borrow_mut().pop_front() else {
                return;
            };
            let Some(protocol) = slot.as_mut() else {
                continue;
            };
            match event {
                Event::Made => protocol.connection_made(SubprocessTransport {
                    shared: self.clone(),
                }),
                Event::Data(fd, data) => protocol.pipe_data_received(fd, data),
                Event::PipeLost(fd, err) => protocol.pipe_connection_lost(fd, err),
                Event::Exited => protocol.process_exited(),
                Event::PauseWriting => protocol.pause_writing(),
                Event::ResumeWriting => protocol.resume_writing(),
                Event::Lost(err) => {
                    protocol.connection_lost(err);
                    *slot = None;
                    drop(slot);
                    *self.pipes.borrow_mut() = [None, None, None];
                }
            }
        }
    }
}

/// Waits for the process to exit and tells the protocol.
struct Watch {
    shared: Rc<Shared>,
    reaper: Orphan,
}

impl Watch {
    async fn run(&mut self) {
        match self.reaper.wait().await {
            Ok(status) => {
                self.shared.status.set(Some(status));
                self.shared.push(Event::Exited);
            }
            Err(err) => *self.shared.watch_error.borrow_mut() = Some(err),
        }
        self.shared.finish_if_done();
        self.shared.deliver();
    }
}

impl Drop for Watch {
    /// The runtime shut down with the process running: the reaper's thread reaps it, and
    /// the protocol, whose pipes the shutdown aborted, is told `connection_lost` now.
    fn drop(&mut self) {
        let shared = &self.shared;
        if shared.status.get().is_some() || shared.watch_error.borrow().is_some() {
            return;
        }
        *shared.watch_error.borrow_mut() = Some(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            format!(
                "the runtime shut down while process {} ran; it is reaped when it exits",
                shared.pid
            ),
        ));
        shared.finish_if_done();
        shared.deliver();
    }
}

/// The protocol of one pipe: passes what happens on it to the process's protocol.
struct Pipe {
    fd: i32,
    shared: Rc<Shared>,
}

impl Pipe {
    fn tell(&self, event: Event) {
        self.shared.push(event);
        self.shared.deliver();
    }
}

impl BaseProtocol for Pipe {
    fn connection_lost(&mut self, err: Option<io::Error>) {
        self.shared.push(Event::PipeLost(self.fd, err));
        self.shared
            .pipes_open
            .set(self.shared.pipes_open.get().saturating_sub(1));
        self.shared.finish_if_done();
        self.shared.deliver();
    }

    fn pause_writing(&mut self) {
        self.tell(Event::PauseWriting);
    }

    fn resume_writing(&mut self) {
        self.tell(Event::ResumeWriting);
    }
}

impl Protocol for Pipe {
    fn data_received(&mut self, data: Bytes) {
        self.tell(Event::Data(self.fd, data));
    }
}
