//! Datagram protocols: asyncio's `DatagramProtocol` and its transport, run straight from
//! the completions of a UDP socket (no task per endpoint), as stream protocols are.
//!
//! The socket's core tells the [`Link`] that something changed; the link then pulls, one
//! callback at a time, what the protocol has not been told: `connection_made`, a watermark
//! crossing (`pause_writing` / `resume_writing`), each queued datagram or error, and,
//! once the socket is closed, `connection_lost`. A callback that changes the state (a
//! `sendto` over the high watermark, `close`) is told right after it returns.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};

use bytes::Bytes;

use crate::net::UdpSocket;
use crate::runtime::executor::OnShutdown;
use crate::transport::datagram::{DatagramCore, DatagramEvents};

/// asyncio's `DatagramProtocol`: callbacks run from the socket's completions, in order
/// `connection_made`, then `datagram_received` / `error_received` / `pause_writing` /
/// `resume_writing`, then `connection_lost` exactly once.
///
/// ```no_run
/// use std::net::SocketAddr;
/// use bytes::Bytes;
/// use ringstream::protocol::{create_datagram_endpoint, DatagramProtocol, DatagramTransport};
///
/// struct Echo(Option<DatagramTransport>);
///
/// impl DatagramProtocol for Echo {
///     fn connection_made(&mut self, transport: DatagramTransport) {
///         self.0 = Some(transport);
///     }
///     fn datagram_received(&mut self, data: Bytes, addr: SocketAddr) {
///         if let Some(t) = &self.0 {
///             let _ = t.sendto(data, Some(addr));
///         }
///     }
/// }
///
/// ringstream::run(async {
///     let t = create_datagram_endpoint(|| Echo(None), Some("127.0.0.1:9999".parse().unwrap()), None)?;
///     t.wait_closed().await;
///     Ok::<(), std::io::Error>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
#[doc(alias = "asyncio.DatagramProtocol")]
pub trait DatagramProtocol: 'static {
    /// The endpoint is ready; keep the transport to send.
    fn connection_made(&mut self, transport: DatagramTransport) {
        let _ = transport;
    }

    /// One datagram from `addr`.
    #[doc(alias = "DatagramProtocol.datagram_received")]
    fn datagram_received(&mut self, data: Bytes, addr: SocketAddr) {
        let _ = (data, addr);
    }

    /// An error concerning one datagram: an ICMP error such as `ECONNREFUSED` on a
    /// connected endpoint, a send the kernel refused, a datagram too long for the receive
    /// buffers (`InvalidData`). The endpoint stays open.
    #[doc(alias = "DatagramProtocol.error_received")]
    fn error_received(&mut self, err: io::Error) {
        let _ = err;
    }

    /// The endpoint is closed; `err` if it failed.
    fn connection_lost(&mut self, err: Option<io::Error>) {
        let _ = err;
    }

    /// The send queue went over the high watermark.
    fn pause_writing(&mut self) {}

    /// The send queue fell to the low watermark.
    fn resume_writing(&mut self) {}
}

/// asyncio's `DatagramTransport`: sends datagrams, closes the endpoint. Cheap to clone.
///
/// ```no_run
/// use ringstream::protocol::{create_datagram_endpoint, DatagramProtocol};
/// struct Quiet;
/// impl DatagramProtocol for Quiet {}
/// ringstream::run(async {
///     let remote = "127.0.0.1:9999".parse().unwrap();
///     let t = create_datagram_endpoint(|| Quiet, None, Some(remote))?;
///     t.sendto(bytes::Bytes::from_static(b"ping"), None)?;
///     t.close();
///     Ok::<(), std::io::Error>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
#[derive(Clone)]
#[doc(alias = "asyncio.DatagramTransport")]
pub struct DatagramTransport {
    socket: Rc<UdpSocket>,
    link: Weak<Link>,
}

impl DatagramTransport {
    /// Queues `data` as one datagram to `addr`, or to the connected remote address when
    /// `None` (asyncio's `sendto`). Never waits; the protocol hears `pause_writing` when
    /// the queue goes over the high watermark.
    ///
    /// ```no_run
    /// # fn f(t: ringstream::protocol::DatagramTransport) -> std::io::Result<()> {
    /// t.sendto(bytes::Bytes::from_static(b"hi"), Some("127.0.0.1:9".parse().unwrap()))?;
    /// # Ok(()) }
    /// ```
    #[doc(alias = "DatagramTransport.sendto")]
    pub fn sendto(&self, data: Bytes, addr: Option<SocketAddr>) -> io::Result<()> {
        self.socket.queue(data, addr)?;
        self.tell();
        Ok(())
    }

    fn tell(&self) {
        if let Some(link) = self.link.upgrade() {
            link.run();
        }
    }

    /// Stops receiving, sends what is queued, then closes; `connection_lost(None)` follows.
    ///
    /// ```no_run
    /// # fn f(t: ringstream::protocol::DatagramTransport) {
    /// t.close();
    /// # }
    /// ```
    pub fn close(&self) {
        self.socket.close();
        self.tell();
    }

    /// Drops the send queue and closes now.
    ///
    /// ```no_run
    /// # fn f(t: ringstream::protocol::DatagramTransport) {
    /// t.abort();
    /// # }
    /// ```
    #[doc(alias = "DatagramTransport.abort")]
    pub fn abort(&self) {
        self.socket.abort();
        self.tell();
    }

    /// Whether the endpoint is closing or closed.
    ///
    /// ```no_run
    /// # fn f(t: ringstream::protocol::DatagramTransport) {
    /// assert!(!t.is_closing());
    /// # }
    /// ```
    pub fn is_closing(&self) -> bool {
        self.socket.is_closing()
    }

    /// Queued plus in-flight bytes.
    ///
    /// ```no_run
    /// # fn f(t: ringstream::protocol::DatagramTransport) {
    /// let queued = t.get_write_buffer_size();
    /// # }
    /// ```
    #[doc(alias = "WriteTransport.get_write_buffer_size")]
    pub fn get_write_buffer_size(&self) -> usize {
        self.socket.get_write_buffer_size()
    }

    /// Sets the send queue's watermarks (F3).
    ///
    /// ```no_run
    /// # fn f(t: ringstream::protocol::DatagramTransport) -> std::io::Result<()> {
    /// t.set_write_buffer_limits(Some(1 << 20), None)?;
    /// # Ok(()) }
    /// ```
    pub fn set_write_buffer_limits(
        &self,
        high: Option<usize>,
        low: Option<usize>,
    ) -> io::Result<()> {
        self.socket.set_write_buffer_limits(high, low)?;
        self.tell();
        Ok(())
    }

    /// The endpoint's socket, for its addresses, options and counters (`local_addr`,
    /// `drops`, ...: asyncio's `get_extra_info('socket')`).
    ///
    /// ```no_run
    /// # fn f(t: ringstream::protocol::DatagramTransport) -> std::io::Result<()> {
    /// println!("{}", t.socket().local_addr()?);
    /// # Ok(()) }
    /// ```
    pub fn socket(&self) -> &UdpSocket {
        &self.socket
    }

    /// Waits until the endpoint is closed.
    ///
    /// ```no_run
    /// # async fn f(t: ringstream::protocol::DatagramTransport) {
    /// t.close();
    /// t.wait_closed().await;
    /// # }
    /// ```
    pub async fn wait_closed(&self) {
        self.socket.wait_closed().await
    }
}

/// Creates a UDP endpoint run by the protocol `factory` makes (asyncio's
/// `loop.create_datagram_endpoint`):
/// bound to `local` (or to an ephemeral port of `remote`'s family) and, with `remote`,
/// connected to it. The protocol's `connection_made` runs before this returns.
///
/// ```no_run
/// use ringstream::protocol::{create_datagram_endpoint, DatagramProtocol};
/// struct Quiet;
/// impl DatagramProtocol for Quiet {}
/// ringstream::run(async {
///     let t = create_datagram_endpoint(|| Quiet, Some("127.0.0.1:0".parse().unwrap()), None)?;
///     println!("{}", t.socket().local_addr()?);
///     Ok::<(), std::io::Error>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
#[doc(alias = "loop.create_datagram_endpoint")]
pub fn create_datagram_endpoint<P: DatagramProtocol>(
    factory: impl FnOnce() -> P,
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
) -> io::Result<DatagramTransport> {
    let local = match (local, remote) {
        (Some(local), _) => local,
        (None, Some(SocketAddr::V4(_))) => "0.0.0.0:0".parse().map_err(io::Error::other)?,
        (None, Some(SocketAddr::V6(_))) => "[::]:0".parse().map_err(io::Error::other)?,
        (None, None) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "create_datagram_endpoint needs a local address, a remote address, or both",
            ))
        }
    };
    let socket = UdpSocket::bind(local)?;
    if let Some(remote) = remote {
        socket.connect(remote)?;
    }
    let socket = Rc::new(socket);
    let link = Rc::new_cyclic(|this: &Weak<Link>| Link {
        transport: DatagramTransport {
            socket: socket.clone(),
            link: this.clone(),
        },
        protocol: RefCell::new(Box::new(factory())),
        running: Cell::new(false),
        made: Cell::new(false),
        paused: Cell::new(false),
        lost: Cell::new(false),
        shutdown_key: Cell::new(None),
    });
    socket.core().set_events(Some(link.clone()));
    if let Some(core) = crate::runtime::current_core() {
        let hook: Weak<dyn OnShutdown> = Rc::downgrade(&link) as Weak<dyn OnShutdown>;
        link.shutdown_key.set(Some(core.on_shutdown(hook)));
    }
    link.run();
    Ok(link.transport.clone())
}

/// The dispatcher of one endpoint (see the module docs).
struct Link {
    transport: DatagramTransport,
    protocol: RefCell<Box<dyn DatagramProtocol>>,
    running: Cell<bool>,
    made: Cell<bool>,
    /// What the protocol was last told about writing.
    paused: Cell<bool>,
    lost: Cell<bool>,
    /// Its place among the runtime's shutdown hooks (see `OnShutdown`).
    shutdown_key: Cell<Option<usize>>,
}

impl Link {
    fn core(&self) -> &DatagramCore {
        self.transport.socket.core()
    }

    /// Tells the protocol everything it has not been told, one callback at a time.
    /// Inside a callback it does nothing: the running loop looks again after it.
    fn run(&self) {
        if self.running.replace(true) {
            return;
        }
        // Bounded per call by what is queued: every turn consumes one piece of news.
        while let Some(call) = self.next_call() {
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                call.make(&mut **self.protocol.borrow_mut())
            }));
            if outcome.is_err() {
                log::error!("a DatagramProtocol callback panicked: the endpoint is aborted");
                self.lost.set(true);
                self.core().abort();
                self.finish();
                break;
            }
        }
        self.running.set(false);
    }

    /// The next callback to make, if any.
    fn next_call(&self) -> Option<Call> {
        if self.lost.get() {
            return None;
        }
        if !self.made.replace(true) {
            return Some(Call::Made(self.transport.clone()));
        }
        let paused = self.core().is_paused();
        if paused != self.paused.replace(paused) {
            return Some(Call::Writing { paused });
        }
        if let Some(entry) = self.core().try_recv() {
            return Some(Call::Received(entry));
        }
        if self.core().is_closed() {
            self.lost.set(true);
            self.finish();
            return Some(Call::Lost(self.core().error()));
        }
        None
    }
}

impl Link {
    /// No more callbacks: the core stops telling this link (it held the link until now,
    /// so the link, its protocol and the transports that protocol holds are dropped once
    /// the last callback returns), and the runtime's shutdown forgets it.
    fn finish(&self) {
        self.core().set_events(None);
        if let (Some(key), Some(core)) = (self.shutdown_key.take(), crate::runtime::current_core())
        {
            core.forget_on_shutdown(key);
        }
    }
}

/// The runtime is shutting down: the endpoint is aborted, so its protocol hears
/// `connection_lost` and the socket is closed rather than kept alive by the protocol.
impl OnShutdown for Link {
    fn shutdown(&self) {
        self.core().abort();
        self.run();
    }
}

/// One callback and what it is given.
enum Call {
    Made(DatagramTransport),
    Writing { paused: bool },
    Received(io::Result<(Bytes, SocketAddr)>),
    Lost(Option<io::Error>),
}

impl Call {
    fn make(self, protocol: &mut dyn DatagramProtocol) {
        match self {
            Call::Made(transport) => protocol.connection_made(transport),
            Call::Writing { paused: true } => protocol.pause_writing(),
            Call::Writing { paused: false } => protocol.resume_writing(),
            Call::Received(Ok((data, addr))) => protocol.datagram_received(data, addr),
            Call::Received(Err(err)) => protocol.error_received(err),
            Call::Lost(err) => protocol.connection_lost(err),
        }
    }
}

impl DatagramEvents for Link {
    fn changed(&self) {
        self.run();
    }
}
